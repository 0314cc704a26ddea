//! The session-level side of analysis: digests of whole sessions in, cross-session patterns out.
//! The trait is what WASM pattern-miner plugins implement; Lux's own patterns are tested for
//! significance in `crate::patterns`.

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
    /// The session's most frequent words (whole words, never stems), most frequent first.
    pub top_concepts: Vec<String>,
    /// The name of the session's topic in this mining run, if it has one.
    pub topic: Option<String>,
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
