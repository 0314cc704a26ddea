//! Covering indexes in the order the analytics reports group and count, so a report reads one
//! index in order instead of its rollup table's rows and then sorting them.
//!
//! Each index starts with the columns a report groups by, then `session_id`: the distinct
//! sessions of a group arrive sorted, which is what makes `COUNT(DISTINCT session_id)` cheap,
//! and the report reads nothing but the index (every column it filters or sums is in it).
//!
//! - `analytics_daily` by day: the overview (migration 9's rollup is a rowid table, so without
//!   this each of its rows is a second lookup).
//! - `analytics_session_days` by session, and by main model: activity totals (steps, active and
//!   affected sessions), and the reasoning and bias rates per main model.
//! - `analytics_session_calls` by model, and by session: costs and model statistics per model,
//!   and the distinct sessions of the cost totals.
//! - `analytics_session_signals` by class: findings and alerts per bias type or alert kind.
//!
//! SQLite only. On PostgreSQL the same indexes measured no faster at a million steps (`lux bench
//! analytics` with and without them: within run-to-run noise), and since they hold the counters,
//! no rollup update can be a HOT update any more: each writes a new entry into every index (none
//! of 1.7M updates of `analytics_daily` was HOT during the benchmark's bulk load with them, 89 %
//! without).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// `(index, table, columns)`.
const INDEXES: [(&str, &str, &str); 6] = [
    (
        "idx_analytics_daily_report",
        "analytics_daily",
        "project_id, day, tool, user_key, sessions, steps, model_calls, input_tokens, \
         output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd, findings, alerts",
    ),
    (
        "idx_analytics_session_days_report",
        "analytics_session_days",
        "project_id, session_id, day, tool, user_id, session_model, sessions, steps, \
         confident_steps, confidence_sum, findings, alerts",
    ),
    (
        "idx_analytics_session_days_model_report",
        "analytics_session_days",
        "project_id, session_model, session_id, day, tool, user_id, steps, confident_steps, \
         confidence_sum, findings, alerts",
    ),
    (
        "idx_analytics_session_calls_model_report",
        "analytics_session_calls",
        "project_id, model, session_id, day, tool, user_id, session_model, provider, calls, \
         failed_calls, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, \
         cost_nusd",
    ),
    (
        "idx_analytics_session_calls_session_report",
        "analytics_session_calls",
        "project_id, session_id, day, tool, user_id, model, calls, input_tokens, \
         output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd",
    ),
    (
        "idx_analytics_session_signals_report",
        "analytics_session_signals",
        "project_id, source, kind, session_id, severity, detector, day, tool, user_id, \
         session_model, n",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let create: Vec<String> = INDEXES
            .iter()
            .map(|(name, table, columns)| format!("CREATE INDEX {name} ON {table} ({columns})"))
            .collect();
        crate::run_each_on_sqlite(manager, create).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop: Vec<String> = INDEXES
            .iter()
            .map(|(name, _, _)| format!("DROP INDEX IF EXISTS {name}"))
            .collect();
        crate::run_each_on_sqlite(manager, drop).await
    }
}
