//! Per-session daily rollups, so every analytics report at a million steps reads tens of thousands
//! of small rows instead of joining every step, call, finding and alert to its session.
//!
//! Each row belongs to one (project, UTC day, session): keeping the session in the key is what
//! lets reports count distinct sessions ("sessions affected", "active sessions") exactly across
//! days and groups, and it means two writers only ever upsert the same rollup row when they
//! write to the same session — which the services already serialise — so PostgreSQL writers of
//! different sessions never wait on each other here. The session's tool, user and main model
//! (which never change) are copied into each row so reports filter and group without a join.
//!
//! - `analytics_session_days`: sessions created (1 on the creation day), steps, steps with a
//!   confidence and their sum, findings and alerts.
//! - `analytics_session_calls`: per model and provider, calls, failed calls, tokens and cost.
//! - `analytics_session_signals`: per finding (bias type, severity, detector) or alert (kind,
//!   severity) class, how many.
//! - `analytics_call_latencies`: one row per model call, ordered by (project, model, latency),
//!   so exact nearest-rank latency percentiles walk an index from either end instead of sorting
//!   every call; it carries the call's exact time, so any time range is answered exactly.
//!
//! Triggers keep all four exact in the transaction of every write path: an insert adds, a delete
//! subtracts, an update of a counted column moves the row. A session's deletion removes its
//! rollup rows in a `BEFORE DELETE` trigger; the cascaded deletions of its rows then find nothing
//! to subtract. The tables are filled from existing rows when the migration runs. Functions are
//! `CREATE OR REPLACE`d because `lux migrate fresh` drops tables, not functions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// What differs between the backends' SQL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The UTC day of `row.created_at` as `YYYY-MM-DD` (SQLite stores RFC 3339 text in UTC).
    fn day(self, row: &str) -> String {
        match self {
            Dialect::Sqlite => format!("substr({row}.created_at, 1, 10)"),
            Dialect::Postgres => {
                format!("to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
            }
        }
    }

    fn uuid(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BLOB",
            Dialect::Postgres => "uuid",
        }
    }

    fn timestamp(self) -> &'static str {
        match self {
            Dialect::Sqlite => "TEXT",
            Dialect::Postgres => "timestamptz",
        }
    }

    /// Clustered by primary key on SQLite, where these tables are read by key range.
    fn table_options(self) -> &'static str {
        match self {
            Dialect::Sqlite => " WITHOUT ROWID",
            Dialect::Postgres => "",
        }
    }
}

fn create_tables(d: Dialect) -> Vec<String> {
    let (uuid, ts, opts) = (d.uuid(), d.timestamp(), d.table_options());
    vec![
        format!(
            "CREATE TABLE analytics_session_days (
    project_id {uuid} NOT NULL,
    day TEXT NOT NULL,
    session_id {uuid} NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT,
    session_model TEXT,
    sessions BIGINT NOT NULL DEFAULT 0,
    steps BIGINT NOT NULL DEFAULT 0,
    confident_steps BIGINT NOT NULL DEFAULT 0,
    confidence_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, session_id)
){opts}"
        ),
        "CREATE INDEX idx_analytics_session_days_session_id ON analytics_session_days (session_id)"
            .to_owned(),
        format!(
            "CREATE TABLE analytics_session_calls (
    project_id {uuid} NOT NULL,
    day TEXT NOT NULL,
    session_id {uuid} NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT,
    session_model TEXT,
    calls BIGINT NOT NULL DEFAULT 0,
    failed_calls BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    cost_nusd BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, session_id, model, provider)
){opts}"
        ),
        "CREATE INDEX idx_analytics_session_calls_session_id ON analytics_session_calls (session_id)"
            .to_owned(),
        format!(
            "CREATE TABLE analytics_session_signals (
    project_id {uuid} NOT NULL,
    day TEXT NOT NULL,
    session_id {uuid} NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    detector TEXT NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT,
    session_model TEXT,
    n BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, source, day, session_id, kind, severity, detector)
){opts}"
        ),
        "CREATE INDEX idx_analytics_session_signals_session_id ON analytics_session_signals (session_id)"
            .to_owned(),
        format!(
            "CREATE TABLE analytics_call_latencies (
    project_id {uuid} NOT NULL,
    model TEXT NOT NULL,
    latency_ms BIGINT NOT NULL,
    call_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    session_id {uuid} NOT NULL,
    tool TEXT NOT NULL,
    user_id TEXT,
    session_model TEXT,
    PRIMARY KEY (project_id, model, latency_ms, call_id)
){opts}"
        ),
        "CREATE UNIQUE INDEX idx_analytics_call_latencies_call_id ON analytics_call_latencies (call_id)"
            .to_owned(),
    ]
}

/// The session columns every rollup row copies, read from `sessions s`.
const SESSION_COLUMNS: &str = "s.project_id, s.tool, s.user_id, s.model";

/// `INSERT … SELECT` adding `row`'s contribution to `analytics_session_days` (`counters` are
/// `(column, value)` pairs; the values may use `row`).
fn add_day(d: Dialect, row: &str, counters: &[(&str, String)]) -> String {
    let columns: Vec<&str> = counters.iter().map(|(c, _)| *c).collect();
    let values: Vec<&str> = counters.iter().map(|(_, v)| v.as_str()).collect();
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = analytics_session_days.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO analytics_session_days (project_id, tool, user_id, session_model, day, session_id, {})
    SELECT {SESSION_COLUMNS}, {}, {row}.session_id, {}
    FROM sessions s WHERE s.id = {row}.session_id
    ON CONFLICT (project_id, day, session_id) DO UPDATE SET {}",
        columns.join(", "),
        d.day(row),
        values.join(", "),
        updates.join(", ")
    )
}

/// `UPDATE` subtracting `row`'s contribution from `analytics_session_days`.
fn subtract_day(d: Dialect, row: &str, counters: &[(&str, String)]) -> String {
    let sets: Vec<String> = counters
        .iter()
        .map(|(c, v)| format!("{c} = {c} - {v}"))
        .collect();
    format!(
        "UPDATE analytics_session_days SET {} WHERE session_id = {row}.session_id AND day = {}",
        sets.join(", "),
        d.day(row)
    )
}

fn step_counters(row: &str) -> Vec<(&'static str, String)> {
    vec![
        ("steps", "1".to_owned()),
        (
            "confident_steps",
            format!("CASE WHEN {row}.confidence IS NULL THEN 0 ELSE 1 END"),
        ),
        ("confidence_sum", format!("coalesce({row}.confidence, 0)")),
    ]
}

const CALL_COUNTERS: [&str; 7] = [
    "calls",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_nusd",
];

fn call_values(row: &str) -> [String; 7] {
    [
        "1".to_owned(),
        format!("CASE WHEN {row}.status <> 'ok' THEN 1 ELSE 0 END"),
        format!("{row}.input_tokens"),
        format!("{row}.output_tokens"),
        format!("{row}.cached_input_tokens"),
        format!("{row}.reasoning_tokens"),
        format!("{row}.cost_nusd"),
    ]
}

fn add_call(d: Dialect, row: &str) -> String {
    let updates: Vec<String> = CALL_COUNTERS
        .iter()
        .map(|c| format!("{c} = analytics_session_calls.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO analytics_session_calls (project_id, tool, user_id, session_model, day, session_id, model, provider, {})
    SELECT {SESSION_COLUMNS}, {}, {row}.session_id, {row}.model, {row}.provider, {}
    FROM sessions s WHERE s.id = {row}.session_id
    ON CONFLICT (project_id, day, session_id, model, provider) DO UPDATE SET {}",
        CALL_COUNTERS.join(", "),
        d.day(row),
        call_values(row).join(", "),
        updates.join(", ")
    )
}

fn subtract_call(d: Dialect, row: &str) -> String {
    let sets: Vec<String> = CALL_COUNTERS
        .iter()
        .zip(call_values(row))
        .map(|(c, v)| format!("{c} = {c} - {v}"))
        .collect();
    format!(
        "UPDATE analytics_session_calls SET {} WHERE session_id = {row}.session_id AND day = {} \
         AND model = {row}.model AND provider = {row}.provider",
        sets.join(", "),
        d.day(row)
    )
}

fn add_latency(row: &str) -> String {
    format!(
        "INSERT INTO analytics_call_latencies (project_id, tool, user_id, session_model, model, latency_ms, call_id, created_at, session_id)
    SELECT {SESSION_COLUMNS}, {row}.model, {row}.latency_ms, {row}.id, {row}.created_at, {row}.session_id
    FROM sessions s WHERE s.id = {row}.session_id"
    )
}

fn subtract_latency(row: &str) -> String {
    format!("DELETE FROM analytics_call_latencies WHERE call_id = {row}.id")
}

/// A finding's or an alert's class: `(source, kind, severity, detector)` expressions.
fn signal_class(table: &str, row: &str) -> [String; 4] {
    match table {
        "bias_findings" => [
            "'finding'".to_owned(),
            format!("{row}.bias_type"),
            format!("{row}.severity"),
            format!("{row}.detector"),
        ],
        _ => [
            "'alert'".to_owned(),
            format!("{row}.kind"),
            format!("{row}.severity"),
            "''".to_owned(),
        ],
    }
}

fn add_signal(d: Dialect, table: &str, row: &str) -> String {
    let [source, kind, severity, detector] = signal_class(table, row);
    format!(
        "INSERT INTO analytics_session_signals (project_id, tool, user_id, session_model, day, session_id, source, kind, severity, detector, n)
    SELECT {SESSION_COLUMNS}, {}, {row}.session_id, {source}, {kind}, {severity}, {detector}, 1
    FROM sessions s WHERE s.id = {row}.session_id
    ON CONFLICT (project_id, source, day, session_id, kind, severity, detector) DO UPDATE SET n = analytics_session_signals.n + excluded.n",
        d.day(row)
    )
}

fn subtract_signal(d: Dialect, table: &str, row: &str) -> String {
    let [source, kind, severity, detector] = signal_class(table, row);
    format!(
        "UPDATE analytics_session_signals SET n = n - 1 WHERE session_id = {row}.session_id AND day = {} \
         AND source = {source} AND kind = {kind} AND severity = {severity} AND detector = {detector}",
        d.day(row)
    )
}

/// What a row of each counted table adds, as statements over `row` (`new` or `old`).
struct Counted {
    table: &'static str,
    /// Columns whose update moves the row's contribution.
    watched: &'static str,
    add: fn(Dialect, &str) -> Vec<String>,
    subtract: fn(Dialect, &str) -> Vec<String>,
}

const COUNTED: [Counted; 4] = [
    Counted {
        table: "steps",
        watched: "session_id, created_at, confidence",
        add: |d, row| vec![add_day(d, row, &step_counters(row))],
        subtract: |d, row| vec![subtract_day(d, row, &step_counters(row))],
    },
    Counted {
        table: "model_calls",
        watched: "session_id, created_at, model, provider, status, latency_ms, input_tokens, \
                  output_tokens, cached_input_tokens, reasoning_tokens, cost_nusd",
        add: |d, row| vec![add_call(d, row), add_latency(row)],
        subtract: |d, row| vec![subtract_call(d, row), subtract_latency(row)],
    },
    Counted {
        table: "bias_findings",
        watched: "session_id, created_at, bias_type, severity, detector",
        add: |d, row| {
            vec![
                add_day(d, row, &[("findings", "1".to_owned())]),
                add_signal(d, "bias_findings", row),
            ]
        },
        subtract: |d, row| {
            vec![
                subtract_day(d, row, &[("findings", "1".to_owned())]),
                subtract_signal(d, "bias_findings", row),
            ]
        },
    },
    Counted {
        table: "monitor_events",
        watched: "session_id, created_at, kind, severity",
        add: |d, row| {
            vec![
                add_day(d, row, &[("alerts", "1".to_owned())]),
                add_signal(d, "monitor_events", row),
            ]
        },
        subtract: |d, row| {
            vec![
                subtract_day(d, row, &[("alerts", "1".to_owned())]),
                subtract_signal(d, "monitor_events", row),
            ]
        },
    },
];

const ROLLUPS: [&str; 4] = [
    "analytics_session_days",
    "analytics_session_calls",
    "analytics_session_signals",
    "analytics_call_latencies",
];

/// Statements removing a deleted session's rollup rows (`old` is the session).
fn forget_session() -> Vec<String> {
    let mut statements: Vec<String> = ROLLUPS[..3]
        .iter()
        .map(|table| format!("DELETE FROM {table} WHERE session_id = old.id"))
        .collect();
    statements.push(
        "DELETE FROM analytics_call_latencies WHERE call_id IN \
         (SELECT x.id FROM model_calls x WHERE x.session_id = old.id)"
            .to_owned(),
    );
    statements
}

fn session_created(d: Dialect) -> String {
    format!(
        "INSERT INTO analytics_session_days (project_id, tool, user_id, session_model, day, session_id, sessions)
    SELECT new.project_id, new.tool, new.user_id, new.model, {}, new.id, 1 WHERE true
    ON CONFLICT (project_id, day, session_id) DO UPDATE SET sessions = analytics_session_days.sessions + 1",
        d.day("new")
    )
}

fn body(statements: &[String]) -> String {
    statements
        .iter()
        .map(|s| format!("    {s};\n"))
        .collect::<String>()
}

fn sqlite_triggers() -> Vec<String> {
    let d = Dialect::Sqlite;
    let mut out = Vec::new();
    for counted in &COUNTED {
        let table = counted.table;
        let add = body(&(counted.add)(d, "new"));
        let subtract = body(&(counted.subtract)(d, "old"));
        out.push(format!(
            "CREATE TRIGGER {table}_rollup_ai AFTER INSERT ON {table} BEGIN\n{add}END"
        ));
        out.push(format!(
            "CREATE TRIGGER {table}_rollup_ad AFTER DELETE ON {table} BEGIN\n{subtract}END"
        ));
        out.push(format!(
            "CREATE TRIGGER {table}_rollup_au AFTER UPDATE OF {} ON {table} BEGIN\n{subtract}{add}END",
            counted.watched
        ));
    }
    out.push(format!(
        "CREATE TRIGGER sessions_rollup_ai AFTER INSERT ON sessions BEGIN\n    {};\nEND",
        session_created(d)
    ));
    out.push(format!(
        "CREATE TRIGGER sessions_rollup_bd BEFORE DELETE ON sessions BEGIN\n{}END",
        body(&forget_session())
    ));
    out
}

fn postgres_triggers() -> Vec<String> {
    let d = Dialect::Postgres;
    let mut out = Vec::new();
    for counted in &COUNTED {
        let table = counted.table;
        let add = body(&(counted.add)(d, "NEW"));
        let subtract = body(&(counted.subtract)(d, "OLD"));
        out.push(format!(
            "CREATE OR REPLACE FUNCTION {table}_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
{subtract}    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
{add}    END IF;
    RETURN NULL;
END $$"
        ));
        out.push(format!(
            "CREATE TRIGGER {table}_rollup AFTER INSERT OR DELETE OR UPDATE OF {} ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_rollup()",
            counted.watched
        ));
    }
    let forget = body(&forget_session());
    out.push(format!(
        "CREATE OR REPLACE FUNCTION sessions_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
{forget}        RETURN OLD;
    END IF;
    {};
    RETURN NULL;
END $$",
        session_created(d)
    ));
    out.push(
        "CREATE TRIGGER sessions_rollup_ai AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_rollup()"
            .to_owned(),
    );
    out.push(
        "CREATE TRIGGER sessions_rollup_bd BEFORE DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_rollup()"
            .to_owned(),
    );
    out
}

/// Statements counting the rows already stored.
fn fill(d: Dialect) -> Vec<String> {
    let x_day = d.day("x");
    let group = format!("s.project_id, s.tool, s.user_id, s.model, {x_day}, x.session_id");
    let day_upsert = |columns: &[&str], values: &str| {
        let updates: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = analytics_session_days.{c} + excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO analytics_session_days (project_id, tool, user_id, session_model, day, session_id, {})
SELECT {group}, {values}
FROM {{table}} x JOIN sessions s ON s.id = x.session_id WHERE true GROUP BY {group}
ON CONFLICT (project_id, day, session_id) DO UPDATE SET {}",
            columns.join(", "),
            updates.join(", ")
        )
    };
    let call_sums = "COUNT(*), SUM(CASE WHEN x.status <> 'ok' THEN 1 ELSE 0 END), \
        SUM(x.input_tokens), SUM(x.output_tokens), SUM(x.cached_input_tokens), \
        SUM(x.reasoning_tokens), SUM(x.cost_nusd)";
    vec![
        format!(
            "INSERT INTO analytics_session_days (project_id, tool, user_id, session_model, day, session_id, sessions)
SELECT s.project_id, s.tool, s.user_id, s.model, {}, s.id, 1 FROM sessions s",
            d.day("s")
        ),
        day_upsert(
            &["steps", "confident_steps", "confidence_sum"],
            "COUNT(*), COUNT(x.confidence), coalesce(SUM(x.confidence), 0)",
        )
        .replace("{table}", "steps"),
        day_upsert(&["findings"], "COUNT(*)").replace("{table}", "bias_findings"),
        day_upsert(&["alerts"], "COUNT(*)").replace("{table}", "monitor_events"),
        format!(
            "INSERT INTO analytics_session_calls (project_id, tool, user_id, session_model, day, session_id, model, provider, {})
SELECT {group}, x.model, x.provider, {call_sums}
FROM model_calls x JOIN sessions s ON s.id = x.session_id GROUP BY {group}, x.model, x.provider",
            CALL_COUNTERS.join(", ")
        ),
        format!(
            "INSERT INTO analytics_session_signals (project_id, tool, user_id, session_model, day, session_id, source, kind, severity, detector, n)
SELECT {group}, 'finding', x.bias_type, x.severity, x.detector, COUNT(*)
FROM bias_findings x JOIN sessions s ON s.id = x.session_id GROUP BY {group}, x.bias_type, x.severity, x.detector"
        ),
        format!(
            "INSERT INTO analytics_session_signals (project_id, tool, user_id, session_model, day, session_id, source, kind, severity, detector, n)
SELECT {group}, 'alert', x.kind, x.severity, '', COUNT(*)
FROM monitor_events x JOIN sessions s ON s.id = x.session_id GROUP BY {group}, x.kind, x.severity"
        ),
        "INSERT INTO analytics_call_latencies (project_id, tool, user_id, session_model, model, latency_ms, call_id, created_at, session_id)
SELECT s.project_id, s.tool, s.user_id, s.model, x.model, x.latency_ms, x.id, x.created_at, x.session_id
FROM model_calls x JOIN sessions s ON s.id = x.session_id"
            .to_owned(),
    ]
}

fn up_statements(d: Dialect) -> Vec<String> {
    let mut statements = create_tables(d);
    statements.extend(match d {
        Dialect::Sqlite => sqlite_triggers(),
        Dialect::Postgres => postgres_triggers(),
    });
    statements.extend(fill(d));
    statements
}

fn down_statements(d: Dialect) -> Vec<String> {
    let mut statements = Vec::new();
    let tables = COUNTED.iter().map(|c| c.table).chain(["sessions"]);
    match d {
        Dialect::Sqlite => {
            for table in tables {
                for suffix in ["ai", "ad", "au", "bd"] {
                    statements.push(format!("DROP TRIGGER IF EXISTS {table}_rollup_{suffix}"));
                }
            }
        }
        Dialect::Postgres => {
            for table in COUNTED.iter().map(|c| c.table) {
                statements.push(format!("DROP TRIGGER IF EXISTS {table}_rollup ON {table}"));
                statements.push(format!("DROP FUNCTION IF EXISTS {table}_rollup()"));
            }
            statements.push("DROP TRIGGER IF EXISTS sessions_rollup_ai ON sessions".to_owned());
            statements.push("DROP TRIGGER IF EXISTS sessions_rollup_bd ON sessions".to_owned());
            statements.push("DROP FUNCTION IF EXISTS sessions_rollup()".to_owned());
        }
    }
    for table in ROLLUPS {
        statements.push(format!("DROP TABLE IF EXISTS {table}"));
    }
    statements
}

fn dialect(manager: &SchemaManager<'_>) -> Dialect {
    match manager.get_database_backend() {
        DbBackend::Postgres => Dialect::Postgres,
        _ => Dialect::Sqlite,
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(manager, up_statements(dialect(manager))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(manager, down_statements(dialect(manager))).await
    }
}
