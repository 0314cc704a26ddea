//! The one error type of `lux-core`; each protocol (REST, MCP, CLI) maps it in exactly one place.

use sea_orm::DbErr;

use crate::pricing::PricingError;
use crate::synthesis::SynthesisParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing asked for does not exist (or belongs to another project, which looks the same).
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// Input that can never succeed as sent; `field` names what to fix.
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Input that clashes with what is stored (a duplicate step number, an id used elsewhere).
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// A synthesis update that could not be parsed.
    #[error("invalid synthesis update: {0}")]
    Synthesis(#[from] SynthesisParseError),
    /// Lux is too far behind to take this now (the analysis queue is full); retry after the
    /// given number of seconds.
    #[error("busy: {reason}")]
    Busy {
        reason: String,
        retry_after_secs: u32,
    },
    /// The database failed or is unreachable; callers may retry.
    #[error("storage error: {0}")]
    Storage(#[from] DbErr),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict {
            reason: reason.into(),
        }
    }

    /// The field a caller should fix, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Synthesis(_) => Some("synthesis"),
            _ => None,
        }
    }

    /// The database could not be reached or answered with a transient failure (connection lost,
    /// refused or timed out, pool exhausted, SQLite busy): the caller should retry later, and a
    /// protocol says "unavailable" (503), not "internal error".
    pub fn is_unavailable(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr, SqlxError};
        let Error::Storage(error) = self else {
            return false;
        };
        match error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(sqlx))
            | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
                matches!(
                    sqlx.as_ref(),
                    SqlxError::Io(_)
                        | SqlxError::Tls(_)
                        | SqlxError::PoolTimedOut
                        | SqlxError::PoolClosed
                        | SqlxError::WorkerCrashed
                ) || sqlx.to_string().contains("database is locked")
            }
            other => other.to_string().contains("database is locked"),
        }
    }

    /// A stable machine-readable code for protocol mappings.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Invalid { .. } => "invalid",
            Error::Conflict { .. } => "conflict",
            Error::Busy { .. } => "busy",
            Error::Synthesis(_) => "invalid_synthesis",
            Error::Storage(_) => "storage",
        }
    }
}

impl From<PricingError> for Error {
    fn from(error: PricingError) -> Self {
        Error::invalid("usage", error.to_string())
    }
}
