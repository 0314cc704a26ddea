//! The session-level side of analysis: digests of whole sessions in, cross-session patterns out.
//! The trait is what WASM pattern-miner plugins implement; [`RecurringBiasMiner`] is the one
//! built-in miner that needs nothing but digests.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DetectorError;
use crate::domain::SessionId;

/// What a miner knows about one session: counts and labels, never the full text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDigest {
    pub session_id: SessionId,
    pub tool: String,
    pub status: String,
    pub model: Option<String>,
    pub n_steps: u32,
    /// Findings per bias type.
    pub bias_counts: BTreeMap<String, u32>,
    /// Monitor events per kind.
    pub monitor_counts: BTreeMap<String, u32>,
    /// The session's most frequent concepts, most frequent first.
    pub top_concepts: Vec<String>,
    pub total_tokens: i64,
    pub cost_nusd: i64,
    pub created_at: DateTime<Utc>,
}

/// A pattern found across sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinedPattern {
    pub kind: String,
    pub title: String,
    /// How many sessions show it.
    pub support: u32,
    /// Miner-defined strength, 0..=1.
    pub score: f64,
    pub session_ids: Vec<SessionId>,
    pub data: serde_json::Value,
}

#[async_trait]
pub trait PatternMiner: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &str;
    fn version(&self) -> &str;
    async fn mine(&self, digests: &[SessionDigest]) -> Result<Vec<MinedPattern>, DetectorError>;
}

/// Bias types or monitor signals that recur in at least `min_support` sessions of a tool.
#[derive(Debug, Clone)]
pub struct RecurringBiasMiner {
    pub min_support: u32,
}

impl Default for RecurringBiasMiner {
    fn default() -> Self {
        RecurringBiasMiner { min_support: 3 }
    }
}

#[async_trait]
impl PatternMiner for RecurringBiasMiner {
    fn name(&self) -> &str {
        "lux.recurring_bias"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    async fn mine(&self, digests: &[SessionDigest]) -> Result<Vec<MinedPattern>, DetectorError> {
        let mut groups: BTreeMap<(String, String), Vec<SessionId>> = BTreeMap::new();
        let mut per_tool: BTreeMap<&str, u32> = BTreeMap::new();
        for digest in digests {
            *per_tool.entry(&digest.tool).or_default() += 1;
            let signals = digest.bias_counts.iter().chain(&digest.monitor_counts);
            for (signal, count) in signals {
                if *count > 0 {
                    groups
                        .entry((digest.tool.clone(), signal.clone()))
                        .or_default()
                        .push(digest.session_id);
                }
            }
        }
        let patterns = groups
            .into_iter()
            .filter(|(_, sessions)| sessions.len() as u32 >= self.min_support.max(1))
            .map(|((tool, signal), sessions)| {
                let support = sessions.len() as u32;
                let total = per_tool
                    .get(tool.as_str())
                    .copied()
                    .unwrap_or(support)
                    .max(1);
                MinedPattern {
                    kind: "recurring_signal".into(),
                    title: format!("{signal} recurs in {support} of {total} {tool} sessions"),
                    support,
                    score: f64::from(support) / f64::from(total),
                    session_ids: sessions,
                    data: serde_json::json!({ "tool": tool, "signal": signal }),
                }
            })
            .collect();
        Ok(patterns)
    }
}

/// Concepts whose sessions show a bias or monitor signal more often than the project's sessions
/// do overall: "sessions about `cache` show `anchoring`" is a lead a reviewer can act on.
#[derive(Debug, Clone)]
pub struct ConceptSignalMiner {
    /// Fewest sessions that must share the concept and the signal.
    pub min_support: u32,
    /// Least lift: P(signal | concept) / P(signal).
    pub min_lift: f64,
}

impl Default for ConceptSignalMiner {
    fn default() -> Self {
        ConceptSignalMiner {
            min_support: 3,
            min_lift: 1.5,
        }
    }
}

#[async_trait]
impl PatternMiner for ConceptSignalMiner {
    fn name(&self) -> &str {
        "lux.concept_signal"
    }

    fn version(&self) -> &str {
        "1.0.0"
    }

    async fn mine(&self, digests: &[SessionDigest]) -> Result<Vec<MinedPattern>, DetectorError> {
        let total = digests.len();
        if total == 0 {
            return Ok(Vec::new());
        }
        let mut with_signal: BTreeMap<&str, u32> = BTreeMap::new();
        let mut with_concept: BTreeMap<&str, u32> = BTreeMap::new();
        let mut both: BTreeMap<(&str, &str), Vec<SessionId>> = BTreeMap::new();
        for digest in digests {
            let signals: Vec<&str> = digest
                .bias_counts
                .iter()
                .chain(&digest.monitor_counts)
                .filter(|(_, count)| **count > 0)
                .map(|(signal, _)| signal.as_str())
                .collect();
            for signal in &signals {
                *with_signal.entry(signal).or_default() += 1;
            }
            for concept in &digest.top_concepts {
                *with_concept.entry(concept).or_default() += 1;
                for signal in &signals {
                    both.entry((concept, signal))
                        .or_default()
                        .push(digest.session_id);
                }
            }
        }
        let mut patterns: Vec<MinedPattern> = both
            .into_iter()
            .filter(|(_, sessions)| sessions.len() as u32 >= self.min_support.max(1))
            .filter_map(|((concept, signal), sessions)| {
                let support = sessions.len() as u32;
                let concept_sessions = f64::from(with_concept[concept]);
                let signal_sessions = f64::from(with_signal[signal]);
                let given_concept = f64::from(support) / concept_sessions;
                let overall = signal_sessions / total as f64;
                let lift = given_concept / overall;
                (lift >= self.min_lift).then(|| MinedPattern {
                    kind: "concept_signal".into(),
                    title: format!(
                        "{signal} in {support} of {} sessions about `{concept}` ({:.0}% vs {:.0}% overall)",
                        with_concept[concept],
                        given_concept * 100.0,
                        overall * 100.0
                    ),
                    support,
                    score: given_concept,
                    session_ids: sessions,
                    data: serde_json::json!({
                        "concept": concept,
                        "signal": signal,
                        "concept_sessions": with_concept[concept],
                        "signal_sessions": with_signal[signal],
                        "lift": lift,
                    }),
                })
            })
            .collect();
        patterns.sort_by(|a, b| {
            b.support
                .cmp(&a.support)
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| a.title.cmp(&b.title))
        });
        Ok(patterns)
    }
}
