//! Steps: one thought, reasoning turn or check of a session, numbered 1, 2, 3… per session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{SessionId, StepId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub session_id: SessionId,
    pub step_number: i32,
    /// What the step is: `thought`, `reasoning`, `bias_check`, `plan`, `synthesis`, …
    pub kind: String,
    pub content: String,
    /// The model's full answer, when `content` is an extract of it.
    pub raw_response: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub is_revision: bool,
    pub revises_step: Option<i32>,
    pub branch_from_step: Option<i32>,
    pub branch_id: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewStep {
    /// A client-chosen id makes the append idempotent.
    pub id: Option<StepId>,
    /// Checked when given (must be the next number); assigned when not.
    pub step_number: Option<i32>,
    pub kind: String,
    pub content: String,
    pub raw_response: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    #[serde(default)]
    pub is_revision: bool,
    pub revises_step: Option<i32>,
    pub branch_from_step: Option<i32>,
    pub branch_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Whether a write created something or found it already there (an idempotent replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    Created,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written<T> {
    pub outcome: WriteOutcome,
    pub value: T,
}
