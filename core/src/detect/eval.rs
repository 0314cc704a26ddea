//! Evaluation of the monitor and detectors on labelled sessions (`core/eval/sessions.json`):
//! precision and recall per signal, at session level, for `lux bench detect` and the test that
//! pins the floors.
//!
//! A session counts as flagged for a signal when any of its steps raised it; its labels list the
//! signals a careful reader finds in it, and every other signal is a negative.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DetectorInput, DetectorRegistry, PriorStep, StepUnderReview};
use crate::error::{Error, Result};

/// The shipped labelled set.
pub const BUILTIN_EVAL_SET: &str = include_str!("../../eval/sessions.json");

/// Signals scored, in report order: the monitor's three, then the heuristics' bias types
/// (`circular_justification` is the `circular_reasoning` bias type, told apart from the monitor's kind).
pub const SIGNALS: [&str; 9] = [
    "circular_reasoning",
    "distractor_fixation",
    "quality_degradation",
    "hasty_conclusion",
    "over_generalization",
    "false_dichotomy",
    "anchoring",
    "confirmation",
    "circular_justification",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledSession {
    pub id: String,
    pub signals: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub steps: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct EvalFile {
    sessions: Vec<LabelledSession>,
}

pub fn parse_eval_set(json: &str) -> Result<Vec<LabelledSession>> {
    let file: EvalFile = serde_json::from_str(json)
        .map_err(|error| Error::invalid("eval set", error.to_string()))?;
    for session in &file.sessions {
        if let Some(unknown) = session
            .signals
            .iter()
            .find(|s| !SIGNALS.contains(&s.as_str()))
        {
            return Err(Error::invalid(
                "eval set",
                format!("session {} names unknown signal {unknown:?}", session.id),
            ));
        }
    }
    Ok(file.sessions)
}

pub fn builtin_eval_set() -> Result<Vec<LabelledSession>> {
    parse_eval_set(BUILTIN_EVAL_SET)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalScore {
    pub signal: String,
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
    pub true_negatives: u32,
}

impl SignalScore {
    /// 1.0 when nothing was flagged (no false alarms to speak of).
    pub fn precision(&self) -> f64 {
        let flagged = self.true_positives + self.false_positives;
        if flagged == 0 {
            1.0
        } else {
            f64::from(self.true_positives) / f64::from(flagged)
        }
    }

    /// 1.0 when there was nothing to find.
    pub fn recall(&self) -> f64 {
        let actual = self.true_positives + self.false_negatives;
        if actual == 0 {
            1.0
        } else {
            f64::from(self.true_positives) / f64::from(actual)
        }
    }
}

/// A session the detectors got wrong for a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMistake {
    pub session: String,
    pub signal: String,
    /// True for a missed signal, false for a false alarm.
    pub missed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub sessions: usize,
    pub scores: Vec<SignalScore>,
    pub mistakes: Vec<EvalMistake>,
}

impl EvalReport {
    pub fn score(&self, signal: &str) -> Option<&SignalScore> {
        self.scores.iter().find(|s| s.signal == signal)
    }
}

/// Signals one session raises, running the registry exactly as a write would, step by step.
pub async fn session_signals(registry: &DetectorRegistry, steps: &[String]) -> BTreeSet<String> {
    let mut raised = BTreeSet::new();
    let mut previous: Vec<Arc<PriorStep>> = Vec::new();
    let mut monitor = registry.monitor_for(&[]);
    for (index, content) in steps.iter().enumerate() {
        let step_number = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let input = Arc::new(DetectorInput {
            step: StepUnderReview {
                step_number: Some(step_number),
                kind: "thought".into(),
                content: content.clone(),
            },
            previous: previous.clone(),
            synthesis: None,
        });
        let analysis = registry.analyze(monitor.as_mut(), input).await;
        for finding in &analysis.findings {
            raised.insert(if finding.bias_type == "circular_reasoning" {
                "circular_justification".to_owned()
            } else {
                finding.bias_type.clone()
            });
        }
        for event in &analysis.events {
            if event.kind != super::DETECTOR_FAILURE {
                raised.insert(event.kind.clone());
            }
        }
        previous.push(Arc::new(PriorStep {
            step_number,
            kind: "thought".into(),
            content: content.clone(),
        }));
    }
    raised
}

/// Precision and recall of `registry` on `sessions`, per signal.
pub async fn evaluate(registry: &DetectorRegistry, sessions: &[LabelledSession]) -> EvalReport {
    let mut scores: Vec<SignalScore> = SIGNALS
        .iter()
        .map(|signal| SignalScore {
            signal: (*signal).to_owned(),
            ..SignalScore::default()
        })
        .collect();
    let mut mistakes = Vec::new();
    for session in sessions {
        let raised = session_signals(registry, &session.steps).await;
        for score in &mut scores {
            let expected = session.signals.contains(&score.signal);
            let flagged = raised.contains(&score.signal);
            match (expected, flagged) {
                (true, true) => score.true_positives += 1,
                (false, true) => score.false_positives += 1,
                (true, false) => score.false_negatives += 1,
                (false, false) => score.true_negatives += 1,
            }
            if expected != flagged {
                mistakes.push(EvalMistake {
                    session: session.id.clone(),
                    signal: score.signal.clone(),
                    missed: expected,
                });
            }
        }
    }
    EvalReport {
        sessions: sessions.len(),
        scores,
        mistakes,
    }
}
