//! The per-session rollups of migration 11 follow a session's main model when the session adopts
//! one.
//!
//! A session created without a model takes the first one its steps or calls name
//! (`adopt_session_model`), after the rows of that first write were already counted under no
//! model. Migration 11 copied the model only when a rollup row was created, so those rows — and
//! every later one of the same day — stayed under no model, and reports by model or for a model
//! disagreed with the raw rows. A trigger now copies the adopted model into every rollup row of
//! the session, and the migration repairs rows stored before it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The tables of migration 11 that copy the session's main model.
const ROLLUPS: [&str; 4] = [
    "analytics_session_days",
    "analytics_session_calls",
    "analytics_session_signals",
    "analytics_call_latencies",
];

/// Statements giving every rollup row of session `new` its model.
fn follow(new: &str) -> Vec<String> {
    ROLLUPS
        .iter()
        .map(|table| {
            format!(
                "UPDATE {table} SET session_model = {new}.model WHERE session_id = {new}.id \
                 AND session_model IS DISTINCT FROM {new}.model"
            )
        })
        .collect()
}

/// Statements repairing the rows counted before this migration.
fn repair() -> Vec<String> {
    ROLLUPS
        .iter()
        .map(|table| {
            format!(
                "UPDATE {table} SET session_model = s.model FROM sessions s \
                 WHERE s.id = {table}.session_id AND {table}.session_model IS DISTINCT FROM s.model"
            )
        })
        .collect()
}

fn up_statements(backend: DbBackend) -> Vec<String> {
    let mut statements = match backend {
        DbBackend::Postgres => {
            let body: String = follow("NEW")
                .iter()
                .map(|statement| format!("    {statement};\n"))
                .collect();
            vec![
                format!(
                    "CREATE OR REPLACE FUNCTION sessions_rollup_model() RETURNS trigger \
                     LANGUAGE plpgsql AS $$\nBEGIN\n{body}    RETURN NULL;\nEND $$"
                ),
                "CREATE TRIGGER sessions_rollup_model AFTER UPDATE OF model ON sessions \
                 FOR EACH ROW WHEN (OLD.model IS DISTINCT FROM NEW.model) \
                 EXECUTE FUNCTION sessions_rollup_model()"
                    .to_owned(),
            ]
        }
        _ => {
            let body: String = follow("new")
                .iter()
                .map(|statement| format!("    {statement};\n"))
                .collect();
            vec![format!(
                "CREATE TRIGGER sessions_rollup_model AFTER UPDATE OF model ON sessions \
                 WHEN old.model IS NOT new.model BEGIN\n{body}END"
            )]
        }
    };
    statements.extend(repair());
    statements
}

fn down_statements(backend: DbBackend) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            "DROP TRIGGER IF EXISTS sessions_rollup_model ON sessions".to_owned(),
            "DROP FUNCTION IF EXISTS sessions_rollup_model()".to_owned(),
        ],
        _ => vec!["DROP TRIGGER IF EXISTS sessions_rollup_model".to_owned()],
    }
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
