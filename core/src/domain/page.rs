//! Cursor pagination shared by every list: `{items, next_cursor}` with a bounded `limit`.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: Some(limit),
            cursor: None,
        }
    }

    pub(crate) fn checked_limit(&self) -> Result<u32> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_LIMIT),
            Some(limit @ 1..=MAX_PAGE_LIMIT) => Ok(limit),
            Some(limit) => Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Position after the last item of a page ordered by `(created_at DESC, id DESC)`.
/// Opaque to clients; this encoding is an implementation detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeCursor {
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) id: Uuid,
}

impl TimeCursor {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }

    pub(crate) fn decode(text: &str) -> Result<Self> {
        let invalid = || Error::invalid("cursor", "is not a cursor this server issued");
        let (micros, id) = text.split_once('_').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let created_at = Utc.timestamp_micros(micros).single().ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(TimeCursor { created_at, id })
    }
}
