//! Evaluation of the monitor and detectors on labelled sessions: the independently written corpus
//! (`core/eval/corpus/`, split train / dev / sealed test by author batch) and the older regression
//! set (`core/eval/sessions.json`), scored per signal at session level with bootstrap intervals,
//! for `lux bench detect`, `lux train detectors` and the tests that pin the floors.
//!
//! A session counts as flagged for a signal when any of its steps raised it; its labels list the
//! signals a careful reader finds in it (`docs/detection.md`), and every other signal is a negative.

mod corpus;
mod score;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DetectorInput, DetectorRegistry, PriorStep, StepUnderReview};
use crate::error::{Error, Result};

pub use corpus::{Batch, CORPUS_BATCHES, Split, corpus_sessions, regression_set};
pub use score::{
    BIASES_MICRO, DEFAULT_RESAMPLES, Interval, LanguageGroup, MONITOR_MICRO, ScoreTable,
    SignalScore, bootstrap_scores, language_group,
};

/// The shipped regression set: the 84 sessions written by the people who tuned the first rules.
/// It measures memory, not skill, and is kept only so that nothing it covers breaks silently.
pub const REGRESSION_SET: &str = include_str!("../../../eval/sessions.json");

/// The monitor's session-level signals.
pub const MONITOR_SIGNALS: [&str; 3] = [
    "circular_reasoning",
    "distractor_fixation",
    "quality_degradation",
];

/// The bias signals (`circular_justification` is the `circular_reasoning` bias type, told apart
/// from the monitor's kind).
pub const BIAS_SIGNALS: [&str; 8] = [
    "confirmation",
    "anchoring",
    "availability",
    "over_generalization",
    "false_dichotomy",
    "hasty_conclusion",
    "circular_justification",
    "sunk_cost",
];

/// Every signal scored, in report order: the monitor's three, then the biases.
pub const SIGNALS: [&str; 11] = {
    let mut all = [""; 11];
    let mut i = 0;
    while i < MONITOR_SIGNALS.len() {
        all[i] = MONITOR_SIGNALS[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = BIAS_SIGNALS[i - MONITOR_SIGNALS.len()];
        i += 1;
    }
    all
};

/// The signal a finding of `bias_type` counts as.
pub fn signal_of_bias_type(bias_type: &str) -> &str {
    if bias_type == "circular_reasoning" {
        "circular_justification"
    } else {
        bias_type
    }
}

/// One labelled session: its steps (step 0 is the question) and the signals it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledSession {
    pub id: String,
    #[serde(alias = "labels")]
    pub signals: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub steps: Vec<String>,
    /// ISO 639-1 code of the session's language.
    #[serde(default = "english")]
    pub language: String,
    #[serde(default)]
    pub style: Option<String>,
    /// Per signal, the steps (indexes into `steps`, never 0) where it shows.
    #[serde(default)]
    pub evidence: BTreeMap<String, Vec<usize>>,
    /// A hard negative: no signal, but written to resemble this one.
    #[serde(default)]
    pub near_miss: Option<String>,
    /// The author batch the session comes from (empty for the regression set).
    #[serde(default)]
    pub batch: String,
}

fn english() -> String {
    "en".into()
}

#[derive(Debug, Deserialize)]
struct EvalFile {
    #[serde(default)]
    batch: String,
    sessions: Vec<LabelledSession>,
}

/// Reads a labelled set (the regression set's format or a corpus batch) and checks every label
/// and evidence index, so a typo cannot silently turn a positive into a negative.
pub fn parse_eval_set(json: &str) -> Result<Vec<LabelledSession>> {
    let file: EvalFile = serde_json::from_str(json)
        .map_err(|error| Error::invalid("eval set", error.to_string()))?;
    let mut sessions = file.sessions;
    for session in &mut sessions {
        if session.batch.is_empty() {
            session.batch = file.batch.clone();
        }
        let known = |signal: &str| SIGNALS.contains(&signal);
        if let Some(unknown) = session
            .signals
            .iter()
            .chain(session.evidence.keys())
            .chain(session.near_miss.iter())
            .find(|s| !known(s))
        {
            return Err(Error::invalid(
                "eval set",
                format!("session {} names unknown signal {unknown:?}", session.id),
            ));
        }
        if session.steps.is_empty() {
            return Err(Error::invalid(
                "eval set",
                format!("session {} has no steps", session.id),
            ));
        }
        if let Some((signal, _)) = session
            .evidence
            .iter()
            .find(|(_, steps)| steps.iter().any(|&i| i == 0 || i >= session.steps.len()))
        {
            return Err(Error::invalid(
                "eval set",
                format!(
                    "session {}: evidence for {signal} names a step it does not have",
                    session.id
                ),
            ));
        }
    }
    Ok(sessions)
}

/// What the detectors raised on one labelled session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    pub session: LabelledSession,
    pub raised: BTreeSet<String>,
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
            raised.insert(signal_of_bias_type(&finding.bias_type).to_owned());
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

/// Runs `registry` over every session, as writes would.
pub async fn run_sessions(
    registry: &DetectorRegistry,
    sessions: &[LabelledSession],
) -> Vec<SessionOutcome> {
    let mut outcomes = Vec::with_capacity(sessions.len());
    for session in sessions {
        let raised = session_signals(registry, &session.steps).await;
        outcomes.push(SessionOutcome {
            session: session.clone(),
            raised,
        });
    }
    outcomes
}

/// A session the detectors got wrong for a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMistake {
    pub session: String,
    pub signal: String,
    /// True for a missed signal, false for a false alarm.
    pub missed: bool,
}

/// Every mistake in `outcomes`, session by session.
pub fn mistakes(outcomes: &[SessionOutcome]) -> Vec<EvalMistake> {
    let mut out = Vec::new();
    for outcome in outcomes {
        for signal in SIGNALS {
            let expected = outcome.session.signals.iter().any(|s| s == signal);
            let flagged = outcome.raised.contains(signal);
            if expected != flagged {
                out.push(EvalMistake {
                    session: outcome.session.id.clone(),
                    signal: signal.to_owned(),
                    missed: expected,
                });
            }
        }
    }
    out
}

/// Precision and recall of `registry` on `sessions`, per signal, with bootstrap intervals.
pub async fn evaluate(registry: &DetectorRegistry, sessions: &[LabelledSession]) -> ScoreTable {
    let outcomes = run_sessions(registry, sessions).await;
    bootstrap_scores(&outcomes, score::DEFAULT_RESAMPLES)
}
