//! Sessions: what a caller creates, patches, filters and reads back.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{ProjectId, SessionId};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Completed,
    Failed,
    Abandoned,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 4] = [
        SessionStatus::Active,
        SessionStatus::Completed,
        SessionStatus::Failed,
        SessionStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Abandoned => "abandoned",
        }
    }

    /// Whether the session has ended, so `completed_at` is set.
    pub fn is_final(self) -> bool {
        self != SessionStatus::Active
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        SessionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!("{text:?} is not one of active, completed, failed, abandoned"),
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub project_id: ProjectId,
    pub external_id: Option<String>,
    pub tool: String,
    pub status: SessionStatus,
    pub title: Option<String>,
    pub user_id: Option<String>,
    pub client: Option<String>,
    /// The session's main model: given at creation or taken from its first step or call that names one.
    pub model: Option<String>,
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewSession {
    /// A client-chosen id makes creation idempotent: creating it again returns the stored session.
    pub id: Option<SessionId>,
    /// The caller's own id for the session (an MCP session id, a trace id), unique per project.
    pub external_id: Option<String>,
    pub tool: String,
    pub status: Option<SessionStatus>,
    pub title: Option<String>,
    pub user_id: Option<String>,
    pub client: Option<String>,
    pub model: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub metadata: Option<serde_json::Value>,
    /// When the session started, for imports of history; defaults to now.
    pub created_at: Option<DateTime<Utc>>,
    /// When an imported session that has already ended did end; defaults to now for a final status.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionPatch {
    pub status: Option<SessionStatus>,
    /// `Some(None)` clears the title.
    pub title: Option<Option<String>>,
    /// Replaces the whole tag set.
    pub tags: Option<Vec<String>>,
    /// Replaces the whole metadata object.
    pub metadata: Option<serde_json::Value>,
}

/// Filters for listing sessions; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
    pub tag: Option<String>,
    pub external_id: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

/// A session named either by Lux's id or by the caller's external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionRef {
    Id(SessionId),
    ExternalId(String),
}

impl From<SessionId> for SessionRef {
    fn from(id: SessionId) -> Self {
        SessionRef::Id(id)
    }
}

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRef::Id(id) => id.fmt(f),
            SessionRef::ExternalId(external) => write!(f, "external:{external}"),
        }
    }
}

/// Who did something, for the audit log ("cli", "api-key:lux_ab12", "mcp").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Actor(name.into())
    }
}
