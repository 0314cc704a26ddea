//! Migration 14's cross-session day rollups on PostgreSQL, refreshed in the background instead of
//! by triggers, so that concurrent writers never share a row.
//!
//! On SQLite, triggers add every write into rows shared by all sessions of a day. On PostgreSQL
//! each writer would then hold those rows until commit, and every other writer of the day would
//! queue behind it. Here writers only append a mark to `analytics_stale_days`: the (project, day)
//! of each per-session rollup row they change, keyed with their own transaction id. No two
//! writers ever insert the same key, so none waits for another.
//!
//! `analytics_refresh_stale_days()` deletes the marks its statement sees and recomputes those
//! days from migration 11's per-session rows. Under `READ COMMITTED` the recomputation runs after
//! the deletion, so it sees every write whose mark it removed. A write committing during the
//! refresh keeps its mark, and its day stays stale until the next refresh. An advisory lock keeps
//! to one refresh at a time. Writers are never blocked: the refresh only reads the per-session
//! rows, and only deletes marks of transactions that have committed.
//!
//! Reports read the views `analytics_day_activity_current`, `_signals_current` and
//! `_calls_current`. Each holds the table's rows of days without a mark, plus stale days computed
//! from the per-session rows on the spot, so a report is exact whether or not a refresh has run.
//! `analytics_session_spans` lists a session's days as soon as it is active on more than one. It
//! holds one row per session and day, so it is kept by trigger as on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261127_000014_create_analytics_day_rollups::{
    DAY_TABLES, DayRollup, create_tables, day_rollups, fill_spans, forget_span, record_span,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The advisory lock that keeps to one refresh at a time ("lux" and the migration's number).
const REFRESH_LOCK: i64 = 0x6c75_7800_0015;

/// The per-session tables whose changes make a day stale, and whether a session's days there
/// count towards its span (days with steps, findings or alerts, or with model calls).
const WATCHED: [(&str, bool); 3] = [
    ("analytics_session_days", true),
    ("analytics_session_calls", true),
    ("analytics_session_signals", false),
];

/// ` AND r.source IN (…)` for the tables keyed (project, source, …): naming both sources lets a
/// lookup of one day use the key's index.
fn both_sources(table: &str) -> &'static str {
    match table {
        "analytics_session_signals" | "analytics_day_signals" => {
            " AND r.source IN ('alert', 'finding')"
        }
        _ => "",
    }
}

/// What selects the per-session rows `r` of day `day` of `project`.
fn units_of_day(rollup: &DayRollup, project: &str, day: &str) -> String {
    format!(
        "r.project_id = {project} AND r.day = {day}{}",
        both_sources(rollup.units)
    )
}

/// `DELETE` of `rollup`'s rows of day `day` of `project`.
fn delete_day(rollup: &DayRollup, project: &str, day: &str) -> String {
    let dim = rollup
        .dim
        .map(|dim| format!(" AND r.dim = '{dim}'"))
        .unwrap_or_default();
    format!(
        "DELETE FROM {} r WHERE r.project_id = {project} AND r.day = {day}{}{dim}",
        rollup.table,
        both_sources(rollup.table)
    )
}

/// `CREATE VIEW {table}_current`: the rows of days without a mark, and the stale days computed.
fn current_view(table: &str, rollups: &[&DayRollup]) -> String {
    let columns = &rollups[0].columns;
    let mut view = format!(
        "CREATE VIEW {table}_current AS
SELECT {columns} FROM {table} r
WHERE NOT EXISTS (SELECT 1 FROM analytics_stale_days m WHERE m.project_id = r.project_id AND m.day = r.day)"
    );
    for rollup in rollups {
        view.push_str("\nUNION ALL ");
        view.push_str(&rollup.select(
            "(r.project_id, r.day) IN (SELECT m.project_id, m.day FROM analytics_stale_days m)",
        ));
    }
    view
}

fn refresh_function() -> String {
    let body: String = day_rollups()
        .iter()
        .map(|rollup| {
            format!(
                "        {};
        {};
",
                delete_day(rollup, "projects[i]", "days[i]"),
                rollup.fill(&units_of_day(rollup, "projects[i]", "days[i]"))
            )
        })
        .collect();
    format!(
        "CREATE OR REPLACE FUNCTION analytics_refresh_stale_days() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    projects uuid[];
    days text[];
BEGIN
    IF NOT pg_try_advisory_xact_lock({REFRESH_LOCK}) THEN
        RETURN 0;
    END IF;
    WITH gone AS (DELETE FROM analytics_stale_days RETURNING project_id, day),
        stale AS (SELECT DISTINCT project_id, day FROM gone)
    SELECT array_agg(project_id), array_agg(day) INTO projects, days FROM stale;
    FOR i IN 1 .. coalesce(array_length(days, 1), 0) LOOP
{body}    END LOOP;
    RETURN coalesce(array_length(days, 1), 0);
END $$"
    )
}

/// The trigger function marking `units`' changed days stale (and keeping spans).
fn mark_function(units: &str, spans: bool) -> String {
    let mark = |r: &str| {
        format!(
            "INSERT INTO analytics_stale_days (project_id, day, xact) \
             VALUES ({r}.project_id, {r}.day, txid_current()) ON CONFLICT DO NOTHING;"
        )
    };
    let (on_insert, on_delete) = if spans {
        (
            format!(
                "\n        IF TG_OP = 'INSERT' THEN\n            {};\n        END IF;",
                record_span("NEW")
            ),
            format!("\n        {};", forget_span("OLD")),
        )
    } else {
        (String::new(), String::new())
    };
    // migration 11's triggers change counters and the session's model, never a row's key, so an
    // update marks the day it is on.
    format!(
        "CREATE OR REPLACE FUNCTION {units}_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {}{on_delete}
    ELSE
        {}{on_insert}
    END IF;
    RETURN NULL;
END $$",
        mark("OLD"),
        mark("NEW")
    )
}

fn up_statements() -> Vec<String> {
    let mut statements = create_tables("uuid", "");
    statements.push(
        "CREATE TABLE analytics_stale_days (
    project_id uuid NOT NULL,
    day TEXT NOT NULL,
    xact BIGINT NOT NULL,
    PRIMARY KEY (project_id, day, xact)
)"
        .to_owned(),
    );
    let rollups = day_rollups();
    for table in DAY_TABLES {
        let of_table: Vec<&DayRollup> = rollups.iter().filter(|r| r.table == table).collect();
        statements.push(current_view(table, &of_table));
    }
    statements.extend(rollups.iter().map(|rollup| rollup.fill("true")));
    statements.push(fill_spans());
    statements.push(refresh_function());
    for (units, spans) in WATCHED {
        statements.push(mark_function(units, spans));
        statements.push(format!(
            "CREATE TRIGGER {units}_stale AFTER INSERT OR UPDATE OR DELETE ON {units} \
             FOR EACH ROW EXECUTE FUNCTION {units}_stale()"
        ));
    }
    statements
}

fn down_statements() -> Vec<String> {
    let mut statements = Vec::new();
    for (units, _) in WATCHED {
        statements.push(format!("DROP TRIGGER IF EXISTS {units}_stale ON {units}"));
        statements.push(format!("DROP FUNCTION IF EXISTS {units}_stale()"));
    }
    statements.push("DROP FUNCTION IF EXISTS analytics_refresh_stale_days()".to_owned());
    for table in DAY_TABLES {
        statements.push(format!("DROP VIEW IF EXISTS {table}_current"));
    }
    for table in DAY_TABLES
        .iter()
        .chain(&["analytics_session_spans", "analytics_stale_days"])
    {
        statements.push(format!("DROP TABLE IF EXISTS {table}"));
    }
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        crate::run_each(manager, up_statements()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        crate::run_each(manager, down_statements()).await
    }
}
