//! An index of the per-session call rollups whose model is not the session's main model, so the
//! models report finds the sessions that called a model besides their own without reading every
//! call row.
//!
//! The models report credits a model with the reasoning of every session using it: those whose
//! main model it is (read by main model), and those that called it under another main model.
//! The second set is usually small, but finding it meant reading every row of
//! `analytics_session_calls` (50k at a million steps). Worse, PostgreSQL's planner cannot
//! estimate `session_model <> model` across two columns. It assumed nearly every row matches,
//! so it built a hash of every session's activity rows to join the empty set with: 30–50 ms of
//! the report's 60. There a stored `other_model` column gives the planner statistics of its
//! own, and a partial index on it finds the rows. On SQLite the partial index alone does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const INDEX: &str = "idx_analytics_session_calls_other_model";

/// Whether a call row's model is other than its session's main model.
const OTHER_MODEL: &str = "session_model IS NULL OR session_model <> model";

fn up_statements(backend: DbBackend) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            format!(
                "ALTER TABLE analytics_session_calls ADD COLUMN other_model boolean \
                 GENERATED ALWAYS AS ({OTHER_MODEL}) STORED"
            ),
            format!(
                "CREATE INDEX {INDEX} ON analytics_session_calls (project_id, model, session_id) \
                 WHERE other_model"
            ),
            // The column's statistics are the point; don't wait for autovacuum to take them.
            "ANALYZE analytics_session_calls".to_owned(),
        ],
        _ => vec![format!(
            "CREATE INDEX {INDEX} ON analytics_session_calls (project_id, model, session_id) \
             WHERE {OTHER_MODEL}"
        )],
    }
}

fn down_statements(backend: DbBackend) -> Vec<String> {
    let mut statements = vec![format!("DROP INDEX IF EXISTS {INDEX}")];
    if backend == DbBackend::Postgres {
        statements.push(
            "ALTER TABLE analytics_session_calls DROP COLUMN IF EXISTS other_model".to_owned(),
        );
    }
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(manager, up_statements(manager.get_database_backend())).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(manager, down_statements(manager.get_database_backend())).await
    }
}
