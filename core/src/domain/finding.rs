//! Bias findings and monitor events as callers record and read them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{FindingId, MonitorEventId, SessionId, StepId};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "severity",
                    format!("{text:?} is not one of none, low, medium, high, critical"),
                )
            })
    }
}

/// Byte offsets `[start, end)` into a step's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: FindingId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    pub detector: String,
    pub detector_version: String,
    pub bias_type: String,
    pub severity: Severity,
    pub confidence: f64,
    pub explanation: String,
    pub evidence: Option<Span>,
    /// The text at `evidence`, copied when recorded so it survives edits to how content is shown.
    pub evidence_text: Option<String>,
    pub suggestion: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewFinding {
    pub id: Option<FindingId>,
    pub step_id: Option<StepId>,
    pub detector: String,
    pub detector_version: String,
    pub bias_type: String,
    pub severity: Severity,
    pub confidence: f64,
    pub explanation: String,
    pub evidence: Option<Span>,
    pub suggestion: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorEvent {
    pub id: MonitorEventId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    /// `circular_reasoning`, `distractor_fixation`, `quality_degradation`, …
    pub kind: String,
    pub severity: Severity,
    pub score: f64,
    pub message: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMonitorEvent {
    pub id: Option<MonitorEventId>,
    pub step_id: Option<StepId>,
    pub kind: String,
    pub severity: Severity,
    pub score: f64,
    pub message: String,
    pub data: Option<serde_json::Value>,
    pub created_at: Option<DateTime<Utc>>,
}
