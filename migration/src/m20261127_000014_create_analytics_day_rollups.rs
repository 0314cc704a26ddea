//! Cross-session daily rollups on SQLite, so bias and monitor reports over many days read a few
//! rows per day instead of one per session.
//!
//! The per-session rollups of migration 11 hold a row per (session, day, …): exact for distinct
//! session counts, but at a million steps a report still reads one row per session. These tables
//! add up all sessions of a (project, UTC day, session tool, session main model), the keys that
//! partition sessions, so sums and distinct-session counts of different tools or models add up:
//!
//! - `analytics_day_activity`: steps, findings, alerts, and the sessions that day with a step or
//!   a finding, with a step or an alert, with a finding, with an alert.
//! - `analytics_day_signals`: per finding or alert class dimension (`dim`: the bias type or alert
//!   `kind`, the `severity`, the `detector`, or the `class` — kind and severity together), how
//!   many, and in how many sessions that day.
//! - `analytics_session_spans`: every day of each session active on more than one day. A session
//!   counted on several days of a range counts once in the range: reports subtract the repeats
//!   of these sessions, read from migration 11's rows of just them.
//!
//! Triggers on migration 11's `analytics_session_days` and `analytics_session_signals` keep them
//! exact in the same transaction: a row's contribution is subtracted in its old state and added
//! in its new one, and a session counts on a day while any of its rows of that dimension's value
//! has a count (the trigger looks at the session's other rows of that day, a primary-key prefix).
//! A session without a main model is keyed `''`: the services store an empty model as none.
//!
//! SQLite only. SQLite has one writer at a time, so these shared rows cost nothing but the
//! trigger's work. On PostgreSQL every writer of the same project, day, tool and model would
//! queue on them until commit, and two batches touching the same classes in different orders
//! could deadlock; there the reports read migration 11's per-session rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const TABLES: [&str; 3] = [
    "CREATE TABLE analytics_day_activity (
    project_id BLOB NOT NULL,
    day TEXT NOT NULL,
    tool TEXT NOT NULL,
    model_key TEXT NOT NULL,
    steps BIGINT NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    finding_active BIGINT NOT NULL DEFAULT 0,
    alert_active BIGINT NOT NULL DEFAULT 0,
    with_findings BIGINT NOT NULL DEFAULT 0,
    with_alerts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, tool, model_key)
) WITHOUT ROWID",
    "CREATE TABLE analytics_day_signals (
    project_id BLOB NOT NULL,
    source TEXT NOT NULL,
    dim TEXT NOT NULL,
    day TEXT NOT NULL,
    value TEXT NOT NULL,
    severity TEXT NOT NULL,
    tool TEXT NOT NULL,
    model_key TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0,
    sessions BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, source, dim, day, value, severity, tool, model_key)
) WITHOUT ROWID",
    "CREATE TABLE analytics_session_spans (
    project_id BLOB NOT NULL,
    day TEXT NOT NULL,
    session_id BLOB NOT NULL,
    PRIMARY KEY (project_id, day, session_id)
) WITHOUT ROWID",
];

/// `analytics_day_activity`'s counters and what a row `r` of `analytics_session_days` adds to
/// each.
fn activity_values(r: &str) -> [(&'static str, String); 7] {
    [
        ("steps", format!("{r}.steps")),
        ("findings", format!("{r}.findings")),
        ("alerts", format!("{r}.alerts")),
        (
            "finding_active",
            format!("CASE WHEN {r}.steps > 0 OR {r}.findings > 0 THEN 1 ELSE 0 END"),
        ),
        (
            "alert_active",
            format!("CASE WHEN {r}.steps > 0 OR {r}.alerts > 0 THEN 1 ELSE 0 END"),
        ),
        (
            "with_findings",
            format!("CASE WHEN {r}.findings > 0 THEN 1 ELSE 0 END"),
        ),
        (
            "with_alerts",
            format!("CASE WHEN {r}.alerts > 0 THEN 1 ELSE 0 END"),
        ),
    ]
}

fn activity_key(r: &str) -> String {
    format!(
        "project_id = {r}.project_id AND day = {r}.day AND tool = {r}.tool \
         AND model_key = coalesce({r}.session_model, '')"
    )
}

fn add_activity(r: &str) -> String {
    let values = activity_values(r);
    let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
    let exprs: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = analytics_day_activity.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO analytics_day_activity (project_id, day, tool, model_key, {})
    SELECT {r}.project_id, {r}.day, {r}.tool, coalesce({r}.session_model, ''), {} WHERE true
    ON CONFLICT (project_id, day, tool, model_key) DO UPDATE SET {}",
        columns.join(", "),
        exprs.join(", "),
        updates.join(", ")
    )
}

fn subtract_activity(r: &str) -> String {
    let sets: Vec<String> = activity_values(r)
        .iter()
        .map(|(c, v)| format!("{c} = {c} - ({v})"))
        .collect();
    format!(
        "UPDATE analytics_day_activity SET {} WHERE {}",
        sets.join(", "),
        activity_key(r)
    )
}

/// One `UPDATE` moving the day's counters from `old`'s values to `new`'s (same key).
fn change_activity() -> String {
    let sets: Vec<String> = activity_values("new")
        .iter()
        .zip(activity_values("old"))
        .map(|((c, new), (_, old))| format!("{c} = {c} + ({new}) - ({old})"))
        .collect();
    format!(
        "UPDATE analytics_day_activity SET {} WHERE {}",
        sets.join(", "),
        activity_key("new")
    )
}

/// Every day of session `r.session_id` when it is active on more than one.
fn record_span(r: &str) -> String {
    format!(
        "INSERT INTO analytics_session_spans (project_id, day, session_id)
    SELECT d.project_id, d.day, d.session_id FROM analytics_session_days d
    WHERE d.session_id = {r}.session_id AND EXISTS (SELECT 1 FROM analytics_session_days o
        WHERE o.session_id = {r}.session_id AND o.day <> {r}.day)
    ON CONFLICT (project_id, day, session_id) DO NOTHING"
    )
}

fn forget_span(r: &str) -> String {
    format!(
        "DELETE FROM analytics_session_spans WHERE project_id = {r}.project_id \
         AND day = {r}.day AND session_id = {r}.session_id"
    )
}

/// A dimension of a signal class: its name, the value and severity it keys by, and what makes
/// another row `o` of the same session and day share that value.
struct Dimension {
    name: &'static str,
    value: &'static str,
    /// The class's severity for `class`, none for the others.
    keeps_severity: bool,
    same: &'static str,
}

const DIMENSIONS: [Dimension; 4] = [
    Dimension {
        name: "kind",
        value: "kind",
        keeps_severity: false,
        same: "o.kind = {r}.kind",
    },
    Dimension {
        name: "severity",
        value: "severity",
        keeps_severity: false,
        same: "o.severity = {r}.severity",
    },
    Dimension {
        name: "detector",
        value: "detector",
        keeps_severity: false,
        same: "o.detector = {r}.detector",
    },
    Dimension {
        name: "class",
        value: "kind",
        keeps_severity: true,
        same: "o.kind = {r}.kind AND o.severity = {r}.severity",
    },
];

impl Dimension {
    fn severity(&self, r: &str) -> String {
        if self.keeps_severity {
            format!("{r}.severity")
        } else {
            "''".to_owned()
        }
    }

    /// Whether another counted row of `r`'s session and day (and main model, which a model
    /// adoption changes row by row) has `r`'s value.
    fn shared(&self, r: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM analytics_session_signals o WHERE o.project_id = {r}.project_id \
             AND o.source = {r}.source AND o.day = {r}.day AND o.session_id = {r}.session_id \
             AND o.session_model IS {r}.session_model AND o.n > 0 AND {} \
             AND NOT (o.kind = {r}.kind AND o.severity = {r}.severity AND o.detector = {r}.detector))",
            self.same.replace("{r}", r)
        )
    }

    /// 1 when row `r` alone puts its session on the day for its value, else 0.
    fn alone(&self, r: &str) -> String {
        format!(
            "CASE WHEN {r}.n > 0 AND NOT {} THEN 1 ELSE 0 END",
            self.shared(r)
        )
    }

    fn key(&self, r: &str) -> String {
        format!(
            "project_id = {r}.project_id AND source = {r}.source AND dim = '{}' AND day = {r}.day \
             AND value = {r}.{} AND severity = {} AND tool = {r}.tool \
             AND model_key = coalesce({r}.session_model, '')",
            self.name,
            self.value,
            self.severity(r)
        )
    }

    fn add(&self, r: &str) -> String {
        format!(
            "INSERT INTO analytics_day_signals (project_id, source, dim, day, value, severity, tool, model_key, n, sessions)
    SELECT {r}.project_id, {r}.source, '{}', {r}.day, {r}.{}, {}, {r}.tool, coalesce({r}.session_model, ''), {r}.n, {} WHERE true
    ON CONFLICT (project_id, source, dim, day, value, severity, tool, model_key) DO UPDATE SET
        n = analytics_day_signals.n + excluded.n, sessions = analytics_day_signals.sessions + excluded.sessions",
            self.name,
            self.value,
            self.severity(r),
            self.alone(r)
        )
    }

    fn subtract(&self, r: &str) -> String {
        format!(
            "UPDATE analytics_day_signals SET n = n - {r}.n, sessions = sessions - {} WHERE {}",
            self.alone(r),
            self.key(r)
        )
    }

    /// One `UPDATE` for a count changing in place: the session joins or leaves the day's value
    /// when the count crosses zero and no other row holds the value.
    fn change(&self) -> String {
        format!(
            "UPDATE analytics_day_signals SET n = n + new.n - old.n, sessions = sessions + \
             CASE WHEN (new.n > 0) = (old.n > 0) OR {} THEN 0 WHEN new.n > 0 THEN 1 ELSE -1 END \
             WHERE {}",
            self.shared("new"),
            self.key("new")
        )
    }
}

fn body(statements: impl IntoIterator<Item = String>) -> String {
    statements
        .into_iter()
        .map(|s| format!("    {s};\n"))
        .collect()
}

/// `(name, when it fires, body)` of each trigger.
fn triggers() -> Vec<(&'static str, String, String)> {
    let days = "analytics_session_days";
    let signals = "analytics_session_signals";
    let each = |f: fn(&Dimension, &str) -> String, r: &'static str| {
        body(DIMENSIONS.iter().map(move |d| f(d, r)))
    };
    let same_model = "WHEN old.session_model IS new.session_model";
    let new_model = "WHEN old.session_model IS NOT new.session_model";
    vec![
        (
            "analytics_session_days_day_ai",
            format!("AFTER INSERT ON {days}"),
            body([add_activity("new"), record_span("new")]),
        ),
        // Counters changing under the same main model: one update in place.
        (
            "analytics_session_days_day_au",
            format!("AFTER UPDATE ON {days} {same_model}"),
            body([change_activity()]),
        ),
        // A session adopting a main model moves its rows to the model's key.
        (
            "analytics_session_days_day_model_au",
            format!("AFTER UPDATE ON {days} {new_model}"),
            body([subtract_activity("old"), add_activity("new")]),
        ),
        (
            "analytics_session_days_day_ad",
            format!("AFTER DELETE ON {days}"),
            body([subtract_activity("old"), forget_span("old")]),
        ),
        (
            "analytics_session_signals_day_ai",
            format!("AFTER INSERT ON {signals}"),
            each(Dimension::add, "new"),
        ),
        (
            "analytics_session_signals_day_au",
            format!("AFTER UPDATE ON {signals} {same_model}"),
            body(DIMENSIONS.iter().map(Dimension::change)),
        ),
        (
            "analytics_session_signals_day_model_au",
            format!("AFTER UPDATE ON {signals} {new_model}"),
            each(Dimension::subtract, "old") + &each(Dimension::add, "new"),
        ),
        (
            "analytics_session_signals_day_ad",
            format!("AFTER DELETE ON {signals}"),
            each(Dimension::subtract, "old"),
        ),
    ]
}

/// Statements counting the per-session rows already stored.
fn fill() -> Vec<String> {
    let values = activity_values("r");
    let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
    let sums: Vec<String> = values.iter().map(|(_, v)| format!("SUM({v})")).collect();
    let mut statements = vec![
        format!(
            "INSERT INTO analytics_day_activity (project_id, day, tool, model_key, {})
SELECT r.project_id, r.day, r.tool, coalesce(r.session_model, ''), {}
FROM analytics_session_days r GROUP BY r.project_id, r.day, r.tool, coalesce(r.session_model, '')",
            columns.join(", "),
            sums.join(", ")
        ),
        "INSERT INTO analytics_session_spans (project_id, day, session_id)
SELECT r.project_id, r.day, r.session_id FROM analytics_session_days r
WHERE r.session_id IN (SELECT m.session_id FROM analytics_session_days m
    GROUP BY m.session_id HAVING COUNT(*) > 1)"
            .to_owned(),
    ];
    for d in &DIMENSIONS {
        let severity = d.severity("r");
        statements.push(format!(
            "INSERT INTO analytics_day_signals (project_id, source, dim, day, value, severity, tool, model_key, n, sessions)
SELECT r.project_id, r.source, '{}', r.day, r.{}, {severity}, r.tool, coalesce(r.session_model, ''),
    SUM(r.n), COUNT(DISTINCT CASE WHEN r.n > 0 THEN r.session_id END)
FROM analytics_session_signals r
GROUP BY r.project_id, r.source, r.day, r.{}, {severity}, r.tool, coalesce(r.session_model, '')",
            d.name, d.value, d.value
        ));
    }
    statements
}

fn up_statements() -> Vec<String> {
    let mut statements: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    statements.extend(
        triggers()
            .into_iter()
            .map(|(name, when, body)| format!("CREATE TRIGGER {name} {when} BEGIN\n{body}END")),
    );
    statements.extend(fill());
    statements
}

fn down_statements() -> Vec<String> {
    let mut statements: Vec<String> = triggers()
        .into_iter()
        .map(|(name, _, _)| format!("DROP TRIGGER IF EXISTS {name}"))
        .collect();
    for table in [
        "analytics_day_activity",
        "analytics_day_signals",
        "analytics_session_spans",
    ] {
        statements.push(format!("DROP TABLE IF EXISTS {table}"));
    }
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each_on_sqlite(manager, up_statements()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each_on_sqlite(manager, down_statements()).await
    }
}
