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
