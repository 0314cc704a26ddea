//! Stored synthesis versions; the update a caller sends is [`crate::synthesis::SynthesisUpdate`] or raw LLM text.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{SessionId, StepId, SynthesisVersionId};
use crate::synthesis::{ActionPriority, SynthesisUpdate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub text: String,
    pub confidence: Option<f64>,
    pub source_step: Option<i32>,
    pub supported_by_evidence: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub action: String,
    pub priority: ActionPriority,
    pub rationale: Option<String>,
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesisVersion {
    pub id: SynthesisVersionId,
    pub session_id: SessionId,
    /// 1, 2, 3… per session, one per accepted update.
    pub version: i32,
    pub step_id: Option<StepId>,
    pub step_number: Option<i32>,
    /// The text the update was parsed from, kept verbatim; `None` for structured updates.
    pub raw_update: Option<String>,
    pub current_understanding: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub insights: Vec<Insight>,
    pub action_items: Vec<ActionItem>,
    /// The canonical parsed update, as JSON.
    pub parsed: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// How a caller states a synthesis update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SynthesisInput {
    Structured(SynthesisUpdate),
    /// LLM output containing `update_synthesis(...)` in any accepted format.
    Raw(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSynthesis {
    pub id: Option<SynthesisVersionId>,
    pub step_id: Option<StepId>,
    pub step_number: Option<i32>,
    pub input: SynthesisInput,
    pub created_at: Option<DateTime<Utc>>,
}

impl NewSynthesis {
    pub fn raw(text: impl Into<String>) -> Self {
        NewSynthesis {
            id: None,
            step_id: None,
            step_number: None,
            input: SynthesisInput::Raw(text.into()),
            created_at: None,
        }
    }

    pub fn structured(update: SynthesisUpdate) -> Self {
        NewSynthesis {
            id: None,
            step_id: None,
            step_number: None,
            input: SynthesisInput::Structured(update),
            created_at: None,
        }
    }
}
