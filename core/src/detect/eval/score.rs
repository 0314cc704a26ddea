//! Scores of an evaluation run: counts, precision, recall and F1 per signal and for the biases and
//! the monitor taken together (micro), overall and per language group, each with a 95 % interval
//! from a bootstrap over sessions (a fixed seed, so a run is repeatable).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{BIAS_SIGNALS, MONITOR_SIGNALS, SIGNALS, SessionOutcome};

/// Resamples drawn for each interval.
pub const DEFAULT_RESAMPLES: usize = 1000;

/// Languages grouped so that each group holds enough sessions to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguageGroup {
    All,
    English,
    /// German, French, Spanish, Portuguese, Italian, Russian.
    European,
    /// Chinese, Japanese, Korean.
    Cjk,
    Other,
}

impl LanguageGroup {
    pub const REPORTED: [LanguageGroup; 4] = [
        LanguageGroup::All,
        LanguageGroup::English,
        LanguageGroup::European,
        LanguageGroup::Cjk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LanguageGroup::All => "all",
            LanguageGroup::English => "en",
            LanguageGroup::European => "european",
            LanguageGroup::Cjk => "cjk",
            LanguageGroup::Other => "other",
        }
    }

    fn holds(self, language: &str) -> bool {
        self == LanguageGroup::All || language_group(language) == self
    }
}

/// The group a language code belongs to.
pub fn language_group(language: &str) -> LanguageGroup {
    match language {
        "en" => LanguageGroup::English,
        "de" | "fr" | "es" | "pt" | "it" | "ru" => LanguageGroup::European,
        "zh" | "ja" | "ko" => LanguageGroup::Cjk,
        _ => LanguageGroup::Other,
    }
}

/// A 95 % interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// Counts and rates of one signal (or one micro-averaged family) in one language group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalScore {
    /// A signal, or `biases (micro)`, `monitor (micro)`.
    pub signal: String,
    pub group: String,
    pub sessions: usize,
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
    pub true_negatives: u32,
    pub f1_interval: Interval,
    pub precision_interval: Interval,
    pub recall_interval: Interval,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
    tn: u32,
}

impl Counts {
    fn add(&mut self, expected: bool, flagged: bool) {
        match (expected, flagged) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    fn precision(self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    fn recall(self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn f1(self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// 1.0 when there is nothing to count: nothing flagged is perfectly precise, nothing to find is
/// perfectly recalled.
fn ratio(numerator: u32, denominator: u32) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        f64::from(numerator) / f64::from(denominator)
    }
}

impl SignalScore {
    fn counts(&self) -> Counts {
        Counts {
            tp: self.true_positives,
            fp: self.false_positives,
            fn_: self.false_negatives,
            tn: self.true_negatives,
        }
    }

    pub fn precision(&self) -> f64 {
        self.counts().precision()
    }

    pub fn recall(&self) -> f64 {
        self.counts().recall()
    }

    pub fn f1(&self) -> f64 {
        self.counts().f1()
    }

    /// Sessions that carry the signal.
    pub fn positives(&self) -> u32 {
        self.true_positives + self.false_negatives
    }
}

/// Every score of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreTable {
    pub sessions: usize,
    pub scores: Vec<SignalScore>,
}

impl ScoreTable {
    /// The score of `signal` over all languages.
    pub fn score(&self, signal: &str) -> Option<&SignalScore> {
        self.scored(signal, LanguageGroup::All)
    }

    pub fn scored(&self, signal: &str, group: LanguageGroup) -> Option<&SignalScore> {
        self.scores
            .iter()
            .find(|s| s.signal == signal && s.group == group.as_str())
    }
}

/// The rows of a report: each signal, then the two families.
pub const BIASES_MICRO: &str = "biases (micro)";
pub const MONITOR_MICRO: &str = "monitor (micro)";

fn families() -> Vec<(String, Vec<&'static str>)> {
    let mut rows: Vec<(String, Vec<&'static str>)> = SIGNALS
        .iter()
        .map(|s| ((*s).to_owned(), vec![*s]))
        .collect();
    rows.push((MONITOR_MICRO.to_owned(), MONITOR_SIGNALS.to_vec()));
    rows.push((BIASES_MICRO.to_owned(), BIAS_SIGNALS.to_vec()));
    rows
}

fn count(outcomes: &[&SessionOutcome], indexes: &[usize], signals: &[&str]) -> Counts {
    let mut counts = Counts::default();
    for &index in indexes {
        let outcome = outcomes[index];
        for signal in signals {
            counts.add(
                outcome.session.signals.iter().any(|s| s == signal),
                outcome.raised.contains(*signal),
            );
        }
    }
    counts
}

fn percentile_interval(mut values: Vec<f64>) -> Interval {
    if values.is_empty() {
        return Interval::default();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Interval {
        low: at(0.025),
        high: at(0.975),
    }
}

/// Scores per signal and family, for all languages and each reported group, with intervals from
/// `resamples` bootstrap draws of the group's sessions.
pub fn bootstrap_scores(outcomes: &[SessionOutcome], resamples: usize) -> ScoreTable {
    let mut scores = Vec::new();
    for group in LanguageGroup::REPORTED {
        let members: Vec<&SessionOutcome> = outcomes
            .iter()
            .filter(|o| group.holds(&o.session.language))
            .collect();
        if members.is_empty() {
            continue;
        }
        let all: Vec<usize> = (0..members.len()).collect();
        let mut rng = StdRng::seed_from_u64(0x1u64 << 32 | group as u64);
        let draws: Vec<Vec<usize>> = (0..resamples)
            .map(|_| {
                (0..members.len())
                    .map(|_| rng.random_range(0..members.len()))
                    .collect()
            })
            .collect();
        for (name, signals) in families() {
            let counts = count(&members, &all, &signals);
            let resampled: Vec<Counts> = draws
                .iter()
                .map(|draw| count(&members, draw, &signals))
                .collect();
            scores.push(SignalScore {
                signal: name,
                group: group.as_str().to_owned(),
                sessions: members.len(),
                true_positives: counts.tp,
                false_positives: counts.fp,
                false_negatives: counts.fn_,
                true_negatives: counts.tn,
                f1_interval: percentile_interval(resampled.iter().map(|c| c.f1()).collect()),
                precision_interval: percentile_interval(
                    resampled.iter().map(|c| c.precision()).collect(),
                ),
                recall_interval: percentile_interval(
                    resampled.iter().map(|c| c.recall()).collect(),
                ),
            });
        }
    }
    ScoreTable {
        sessions: outcomes.len(),
        scores,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::detect::eval::LabelledSession;

    fn outcome(language: &str, labels: &[&str], raised: &[&str]) -> SessionOutcome {
        SessionOutcome {
            session: LabelledSession {
                id: format!("{language}-{labels:?}-{raised:?}"),
                signals: labels.iter().map(|s| (*s).to_owned()).collect(),
                note: None,
                steps: vec!["q".into()],
                language: language.into(),
                style: None,
                evidence: Default::default(),
                near_miss: None,
                batch: String::new(),
            },
            raised: raised
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn counts_micro_families_and_language_groups() {
        let outcomes = vec![
            outcome("en", &["anchoring"], &["anchoring"]),
            outcome("en", &["anchoring"], &[]),
            outcome("ja", &["sunk_cost"], &["sunk_cost", "availability"]),
            outcome("de", &[], &["circular_reasoning"]),
        ];
        let table = bootstrap_scores(&outcomes, 200);
        let anchoring = table.score("anchoring").unwrap();
        assert_eq!(
            (anchoring.true_positives, anchoring.false_negatives),
            (1, 1)
        );
        assert!((anchoring.recall() - 0.5).abs() < 1e-9);
        let biases = table.score(BIASES_MICRO).unwrap();
        // tp: anchoring, sunk_cost; fp: availability; fn: anchoring.
        assert_eq!(
            (
                biases.true_positives,
                biases.false_positives,
                biases.false_negatives
            ),
            (2, 1, 1)
        );
        assert!((biases.f1() - 4.0 / 6.0).abs() < 1e-9);
        let cjk = table.scored(BIASES_MICRO, LanguageGroup::Cjk).unwrap();
        assert_eq!(
            (cjk.sessions, cjk.true_positives, cjk.false_positives),
            (1, 1, 1)
        );
        let monitor = table
            .scored(MONITOR_MICRO, LanguageGroup::European)
            .unwrap();
        assert_eq!((monitor.false_positives, monitor.true_negatives), (1, 2));
        assert!(biases.f1_interval.low <= biases.f1() && biases.f1() <= biases.f1_interval.high);
        assert!(biases.f1_interval.low < biases.f1_interval.high);
    }
}
