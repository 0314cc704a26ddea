//! Model calls and prices: tokens as typed integers, money as integer nano-USD.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{ModelCallId, PriceId, SessionId, StepId};
use crate::error::Error;
pub use crate::pricing::NanoUsd;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Ok,
    Error,
    Timeout,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ok => "ok",
            CallStatus::Error => "error",
            CallStatus::Timeout => "timeout",
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "ok" => Ok(CallStatus::Ok),
            "error" => Ok(CallStatus::Error),
            "timeout" => Ok(CallStatus::Timeout),
            _ => Err(Error::invalid(
                "status",
                format!("{text:?} is not one of ok, error, timeout"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    pub id: ModelCallId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub latency_ms: i64,
    pub cost: NanoUsd,
    /// The price the cost was computed from; `None` when no price matched (cost is then 0).
    pub price_id: Option<PriceId>,
    pub status: CallStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModelCall {
    pub id: Option<ModelCallId>,
    pub step_id: Option<StepId>,
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    /// Part of `input_tokens` served from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: i64,
    /// Reasoning tokens, counted apart from `output_tokens`.
    #[serde(default)]
    pub reasoning_tokens: i64,
    #[serde(default)]
    pub latency_ms: i64,
    pub status: CallStatus,
    pub error: Option<String>,
    /// When the call was made, for imports; prices are looked up at this time.
    pub created_at: Option<DateTime<Utc>>,
}

impl NewModelCall {
    pub fn ok(provider: &str, model: &str, input_tokens: i64, output_tokens: i64) -> Self {
        NewModelCall {
            id: None,
            step_id: None,
            provider: provider.to_owned(),
            model: model.to_owned(),
            input_tokens,
            output_tokens,
            cached_input_tokens: 0,
            reasoning_tokens: 0,
            latency_ms: 0,
            status: CallStatus::Ok,
            error: None,
            created_at: None,
        }
    }
}

/// A stored price row: the same shape as [`crate::pricing::ModelPrice`] plus identity and origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPrice {
    pub id: PriceId,
    #[serde(flatten)]
    pub price: crate::pricing::ModelPrice,
    /// `shipped` for the built-in list, `user` for operator edits.
    pub source: String,
}
