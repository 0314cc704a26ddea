//! Migrations: up, down and up again leave the same schema, on a database of each backend.

use lux_core::store::{DatabaseOptions, connect, fresh_schema};
use lux_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Tables that exist only on SQLite: full-text search (PostgreSQL indexes the tables
/// themselves).
const SQLITE_ONLY_TABLES: [&str; 2] = ["search_documents", "search_fts"];

/// Tables and views that exist only on PostgreSQL: the marks of days its day rollups have yet
/// to be refreshed for, and the views reading those days from the per-session rollups.
const POSTGRES_ONLY_TABLES: [&str; 4] = [
    "analytics_stale_days",
    "analytics_day_activity_current",
    "analytics_day_calls_current",
    "analytics_day_signals_current",
];

const TABLES: [&str; 27] = [
    "projects",
    "analysis_jobs",
    "analytics_daily",
    "analytics_day_activity",
    "analytics_day_calls",
    "analytics_day_signals",
    "analytics_session_spans",
    "analytics_session_days",
    "analytics_session_calls",
    "analytics_session_signals",
    "analytics_call_latencies",
    "live_events",
    "api_keys",
    "sessions",
    "session_tags",
    "steps",
    "model_calls",
    "model_prices",
    "synthesis_versions",
    "insights",
    "action_items",
    "bias_findings",
    "monitor_events",
    "audit_log",
    "plugins",
    "plugin_runs",
    "patterns",
];

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        }
        // Virtual tables count, their shadow tables (`search_fts_data`, …) are FTS5's business.
        _ => {
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') \
             AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .filter(|name| name != "seaql_migrations")
        .collect()
}

async fn up_down_up(url: &str) {
    let db = connect(&DatabaseOptions::new(url)).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let mut expected: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    let only_here = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => &POSTGRES_ONLY_TABLES[..],
        _ => &SQLITE_ONLY_TABLES[..],
    };
    expected.extend(only_here.iter().map(|t| t.to_string()));
    expected.sort();
    assert_eq!(tables(&db).await, expected);
    Migrator::down(&db, None).await.unwrap();
    assert!(tables(&db).await.is_empty(), "down removes every table");
    assert!(
        Migrator::get_applied_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(tables(&db).await, expected);
    db.execute_unprepared("CREATE TABLE leftover (id INTEGER)")
        .await
        .unwrap();
    db.close().await.unwrap();
    fresh_schema(&DatabaseOptions::new(url)).await.unwrap();
    let db = connect(&DatabaseOptions::new(url)).await.unwrap();
    assert_eq!(
        tables(&db).await,
        expected,
        "fresh drops everything, then migrates"
    );
}

#[tokio::test]
async fn sqlite_migrations_reverse_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    up_down_up(&format!(
        "sqlite://{}/nested/dir/lux.db",
        dir.path().display()
    ))
    .await;
}

#[cfg(lux_postgres_tests)]
#[tokio::test]
async fn postgres_migrations_reverse_cleanly() {
    let (url, _) = lux_core::testing::TestDb::create_postgres_database().await;
    up_down_up(&url).await;
}

#[tokio::test]
async fn opening_without_migrating_refuses_an_old_schema() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/lux.db", dir.path().display());
    let mut options = DatabaseOptions::new(&url);
    options.migrate = false;
    let error = lux_core::Lux::open(options).await.unwrap_err();
    assert!(error.to_string().contains("lux migrate up"), "{error}");
}
