//! Time and id sources, injected so tests can pin them.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use uuid::Uuid;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, at microsecond precision: PostgreSQL keeps no more, so both backends round-trip the same value.
    fn now(&self) -> DateTime<Utc>;
}

pub trait IdGen: Send + Sync + std::fmt::Debug {
    fn new_id(&self) -> Uuid;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }
}

/// Time-ordered UUIDv7 ids, so primary-key order follows creation order.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7;

impl IdGen for UuidV7 {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}
