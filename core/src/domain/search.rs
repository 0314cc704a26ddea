//! Full-text search: what a caller asks for and the hits it gets back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::SessionId;

/// What kind of text a hit is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    /// A step's content.
    Step,
    /// A synthesis version's current understanding.
    Synthesis,
}

impl SearchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Step => "step",
            SearchKind::Synthesis => "synthesis",
        }
    }
}

/// Narrows a search; all given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub kind: Option<SearchKind>,
    pub session_id: Option<SessionId>,
    /// The session's tool.
    pub tool: Option<String>,
    /// The session's user.
    pub user_id: Option<String>,
    /// The step or synthesis version was written at or after.
    pub since: Option<DateTime<Utc>>,
    /// … and before.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub session_id: SessionId,
    pub kind: SearchKind,
    /// The id of the step or synthesis version.
    pub id: uuid::Uuid,
    /// The step number, or the synthesis version.
    pub number: i32,
    /// An excerpt around the matches, HTML-escaped, with each match wrapped in `<mark>…</mark>`.
    pub snippet: String,
    /// Relevance, higher is better; comparable only within one result list.
    pub rank: f64,
    pub created_at: DateTime<Utc>,
}
