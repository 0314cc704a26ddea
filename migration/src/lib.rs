//! Lux's schema as an ordered list of reversible migrations, identical on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_projects;
mod m20261126_000002_create_sessions;
mod m20261126_000003_create_model_usage;
mod m20261126_000004_create_synthesis;
mod m20261126_000005_create_findings;
mod m20261126_000006_create_audit_log;
mod m20261126_000007_create_live_events;
mod m20261126_000008_create_search;
mod m20261126_000009_create_analytics_daily;
mod m20261126_000010_create_plugins;
mod m20261127_000011_create_analytics_sessions;
mod m20261127_000012_create_analytics_report_indexes;
mod m20261127_000013_follow_adopted_session_model;
mod m20261127_000014_create_analytics_day_rollups;
mod m20261127_000015_refresh_day_rollups_on_postgres;
mod m20261127_000016_index_calls_of_other_models;
mod m20261127_000017_cover_call_latency_filters;
mod m20261207_000018_create_analysis_jobs;
mod m20261208_000019_index_branched_steps;

pub use m20261126_000008_create_search::SEARCH_PREFIX_CHARS;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_projects::Migration),
            Box::new(m20261126_000002_create_sessions::Migration),
            Box::new(m20261126_000003_create_model_usage::Migration),
            Box::new(m20261126_000004_create_synthesis::Migration),
            Box::new(m20261126_000005_create_findings::Migration),
            Box::new(m20261126_000006_create_audit_log::Migration),
            Box::new(m20261126_000007_create_live_events::Migration),
            Box::new(m20261126_000008_create_search::Migration),
            Box::new(m20261126_000009_create_analytics_daily::Migration),
            Box::new(m20261126_000010_create_plugins::Migration),
            Box::new(m20261127_000011_create_analytics_sessions::Migration),
            Box::new(m20261127_000012_create_analytics_report_indexes::Migration),
            Box::new(m20261127_000013_follow_adopted_session_model::Migration),
            Box::new(m20261127_000014_create_analytics_day_rollups::Migration),
            Box::new(m20261127_000015_refresh_day_rollups_on_postgres::Migration),
            Box::new(m20261127_000016_index_calls_of_other_models::Migration),
            Box::new(m20261127_000017_cover_call_latency_filters::Migration),
            Box::new(m20261207_000018_create_analysis_jobs::Migration),
            Box::new(m20261208_000019_index_branched_steps::Migration),
        ]
    }
}

/// Index on `table(columns…)` named `idx_<table>_<columns>`, so names stay predictable for `down`.
pub(crate) fn index(
    table: impl Iden + Clone + 'static,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut name = format!("idx_{}", table.to_string());
    let mut statement = Index::create();
    statement.table(table);
    for column in columns {
        name.push('_');
        name.push_str(column);
        statement.col(Alias::new(*column));
    }
    statement.name(name).to_owned()
}

/// Runs `statements` one at a time: SQLite runs only the first statement of a multi-statement
/// string.
pub(crate) async fn run_each(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = String>,
) -> Result<(), DbErr> {
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(&statement)
            .await?;
    }
    Ok(())
}

/// [`run_each`] on SQLite; nothing on PostgreSQL, for schema that only SQLite needs.
pub(crate) async fn run_each_on_sqlite(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = String>,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm_migration::sea_orm::DbBackend::Sqlite {
        return Ok(());
    }
    run_each(manager, statements).await
}
