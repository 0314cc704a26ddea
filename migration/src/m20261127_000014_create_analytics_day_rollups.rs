//! Cross-session daily rollups on SQLite, so bias, monitor, cost and model reports over many days
//! read a few rows per day instead of one per session.
//!
//! The per-session rollups of migration 11 hold a row per (session, day, …): exact for distinct
//! session counts, but at a million steps a report still reads one row per session. These tables
//! add up all sessions of a project, UTC day and session tool (and main model, for activity):
//! keys that partition sessions, so sums and distinct-session counts of different tools or
//! models add up.
//!
//! - `analytics_day_activity`: per main model, steps (those with a confidence and its sum),
//!   findings, alerts, and the sessions that day with a step or a finding, with a step or an
//!   alert, with a finding, with an alert.
//! - `analytics_day_signals`: per finding or alert class dimension (`dim`: the bias type or alert
//!   `kind`, the `severity`, the `detector`, or the `class` — kind and severity together), how
//!   many, and in how many sessions that day.
//! - `analytics_day_calls`: per called model (`dim` `model`), per model and provider (`route`)
//!   and for all models (`any`), calls, failed calls, tokens and cost, and the sessions making
//!   them that day.
//! - `analytics_session_spans`: every day of each session active on more than one day. A session
//!   counted on several days of a range counts once in the range: reports subtract the repeats
//!   of these sessions, read from migration 11's rows of just them.
//!
//! Triggers on migration 11's `analytics_session_days`, `_signals` and `_calls` keep them
//! exact in the same transaction: a row's contribution is subtracted in its old state and added
//! in its new one, and a session counts on a day while any of its rows of that dimension's value
//! has a count (the trigger looks at the session's other rows of that day, a primary-key prefix).
//! A session without a main model is keyed `''` (the services store an empty model as none); one
//! adopting a model moves its activity rows to the model's key.
//!
//! These triggers are SQLite's: it has one writer at a time, so the shared rows cost nothing but
//! the trigger's work. On PostgreSQL every writer of the same project, day and tool would queue
//! on them until commit, and two batches touching the same classes in different orders could
//! deadlock; migration 15 creates the same tables there and refreshes them in the background
//! from the [`day_rollups`] queries.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The cross-session tables reports read.
pub(crate) const DAY_TABLES: [&str; 3] = [
    "analytics_day_activity",
    "analytics_day_signals",
    "analytics_day_calls",
];

/// `CREATE TABLE` statements with `uuid` as the type of ids and `options` after each table; the
/// signal and call tables carry their rollup's counters.
pub(crate) fn create_tables(uuid: &str, options: &str) -> Vec<String> {
    let counters = |rollup: &Rollup| -> String {
        rollup
            .counters
            .iter()
            .chain(&["sessions"])
            .map(|c| format!("    {c} BIGINT NOT NULL DEFAULT 0,\n"))
            .collect()
    };
    vec![
        format!(
            "CREATE TABLE analytics_day_activity (
    project_id {uuid} NOT NULL,
    day TEXT NOT NULL,
    tool TEXT NOT NULL,
    model_key TEXT NOT NULL,
    steps BIGINT NOT NULL DEFAULT 0,
    confident_steps BIGINT NOT NULL DEFAULT 0,
    confidence_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    findings BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    finding_active BIGINT NOT NULL DEFAULT 0,
    alert_active BIGINT NOT NULL DEFAULT 0,
    with_findings BIGINT NOT NULL DEFAULT 0,
    with_alerts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, day, tool, model_key)
){options}"
        ),
        format!(
            "CREATE TABLE analytics_day_signals (
    project_id {uuid} NOT NULL,
    dim TEXT NOT NULL,
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    value TEXT NOT NULL,
    severity TEXT NOT NULL,
    tool TEXT NOT NULL,
{}    PRIMARY KEY (project_id, source, dim, day, value, severity, tool)
){options}",
            counters(&SIGNALS)
        ),
        format!(
            "CREATE TABLE analytics_day_calls (
    project_id {uuid} NOT NULL,
    dim TEXT NOT NULL,
    day TEXT NOT NULL,
    value TEXT NOT NULL,
    provider TEXT NOT NULL,
    tool TEXT NOT NULL,
{}    PRIMARY KEY (project_id, dim, day, value, provider, tool)
){options}",
            counters(&CALLS)
        ),
        format!(
            "CREATE TABLE analytics_session_spans (
    project_id {uuid} NOT NULL,
    day TEXT NOT NULL,
    session_id {uuid} NOT NULL,
    PRIMARY KEY (project_id, day, session_id)
){options}"
        ),
    ]
}

/// `analytics_day_activity`'s counters and what a row `r` of `analytics_session_days` adds to
/// each.
fn activity_values(r: &str) -> [(&'static str, String); 9] {
    [
        ("steps", format!("{r}.steps")),
        ("confident_steps", format!("{r}.confident_steps")),
        ("confidence_sum", format!("{r}.confidence_sum")),
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

/// Every day of session `r.session_id` when it is active on more than one: a day with a step,
/// finding or alert (`analytics_session_days`) or a model call (`analytics_session_calls`).
pub(crate) fn record_span(r: &str) -> String {
    format!(
        "INSERT INTO analytics_session_spans (project_id, day, session_id)
    SELECT a.project_id, a.day, a.session_id FROM (
        SELECT d.project_id, d.day, d.session_id FROM analytics_session_days d WHERE d.session_id = {r}.session_id
        UNION SELECT c.project_id, c.day, c.session_id FROM analytics_session_calls c WHERE c.session_id = {r}.session_id) a
    WHERE EXISTS (SELECT 1 FROM analytics_session_days o WHERE o.session_id = {r}.session_id AND o.day <> {r}.day)
        OR EXISTS (SELECT 1 FROM analytics_session_calls o WHERE o.session_id = {r}.session_id AND o.day <> {r}.day)
    ON CONFLICT (project_id, day, session_id) DO NOTHING"
    )
}

pub(crate) fn forget_span(r: &str) -> String {
    format!(
        "DELETE FROM analytics_session_spans WHERE project_id = {r}.project_id \
         AND day = {r}.day AND session_id = {r}.session_id"
    )
}

/// How one of migration 11's per-session tables adds up into a cross-session one.
struct Rollup {
    /// The per-session table the triggers watch.
    units: &'static str,
    /// The cross-session table they keep.
    table: &'static str,
    /// Columns of `units` that, after project, day and session, identify one of its rows.
    unit_key: &'static [&'static str],
    /// Counters summed, named alike in both tables.
    counters: &'static [&'static str],
    /// The counter that makes a row count (a row whose events were all deleted stays, at zero).
    present: &'static str,
}

const SIGNALS: Rollup = Rollup {
    units: "analytics_session_signals",
    table: "analytics_day_signals",
    unit_key: &["source", "kind", "severity", "detector"],
    counters: &["n"],
    present: "n",
};

const CALLS: Rollup = Rollup {
    units: "analytics_session_calls",
    table: "analytics_day_calls",
    unit_key: &["model", "provider"],
    counters: &[
        "calls",
        "failed_calls",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "cost_nusd",
    ],
    present: "calls",
};

/// A dimension a cross-session table counts sessions by: its name (the `dim` column), the key
/// columns besides project, dim, day and tool with their values over a unit row `{r}`, and what
/// makes another unit row `o` of the same session and day share that value.
struct Dimension {
    rollup: &'static Rollup,
    name: &'static str,
    key: &'static [(&'static str, &'static str)],
    same: &'static str,
}

const DIMENSIONS: [Dimension; 7] = [
    Dimension {
        rollup: &SIGNALS,
        name: "kind",
        key: &[
            ("source", "{r}.source"),
            ("value", "{r}.kind"),
            ("severity", "''"),
        ],
        same: "o.source = {r}.source AND o.kind = {r}.kind",
    },
    Dimension {
        rollup: &SIGNALS,
        name: "severity",
        key: &[
            ("source", "{r}.source"),
            ("value", "{r}.severity"),
            ("severity", "''"),
        ],
        same: "o.source = {r}.source AND o.severity = {r}.severity",
    },
    Dimension {
        rollup: &SIGNALS,
        name: "detector",
        key: &[
            ("source", "{r}.source"),
            ("value", "{r}.detector"),
            ("severity", "''"),
        ],
        same: "o.source = {r}.source AND o.detector = {r}.detector",
    },
    Dimension {
        rollup: &SIGNALS,
        name: "class",
        key: &[
            ("source", "{r}.source"),
            ("value", "{r}.kind"),
            ("severity", "{r}.severity"),
        ],
        same: "o.source = {r}.source AND o.kind = {r}.kind AND o.severity = {r}.severity",
    },
    Dimension {
        rollup: &CALLS,
        name: "model",
        key: &[("value", "{r}.model"), ("provider", "''")],
        same: "o.model = {r}.model",
    },
    Dimension {
        rollup: &CALLS,
        name: "any",
        key: &[("value", "''"), ("provider", "''")],
        same: "true",
    },
    Dimension {
        rollup: &CALLS,
        name: "route",
        key: &[("value", "{r}.model"), ("provider", "{r}.provider")],
        same: "o.model = {r}.model AND o.provider = {r}.provider",
    },
];

impl Dimension {
    fn key_columns(&self) -> String {
        let columns: Vec<&str> = self.key.iter().map(|(c, _)| *c).collect();
        format!("project_id, dim, day, {}, tool", columns.join(", "))
    }

    fn key_values(&self, r: &str) -> String {
        let values: Vec<String> = self.key.iter().map(|(_, v)| v.replace("{r}", r)).collect();
        format!(
            "{r}.project_id, '{}', {r}.day, {}, {r}.tool",
            self.name,
            values.join(", ")
        )
    }

    fn key_matches(&self, r: &str) -> String {
        let columns: Vec<String> = self.key_columns().split(", ").map(str::to_owned).collect();
        let values: Vec<String> = split_values(&self.key_values(r));
        columns
            .iter()
            .zip(values)
            .map(|(c, v)| format!("{c} = {v}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Whether another counted row of `r`'s session and day has `r`'s value.
    fn shared(&self, r: &str) -> String {
        let units = self.rollup;
        let itself: Vec<String> = units
            .unit_key
            .iter()
            .map(|c| format!("o.{c} = {r}.{c}"))
            .collect();
        format!(
            "EXISTS (SELECT 1 FROM {} o WHERE o.project_id = {r}.project_id \
             AND o.day = {r}.day AND o.session_id = {r}.session_id \
             AND o.{} > 0 AND {} AND NOT ({}))",
            units.units,
            units.present,
            self.same.replace("{r}", r),
            itself.join(" AND ")
        )
    }

    /// 1 when row `r` alone puts its session on the day for its value, else 0.
    fn alone(&self, r: &str) -> String {
        format!(
            "CASE WHEN {r}.{} > 0 AND NOT {} THEN 1 ELSE 0 END",
            self.rollup.present,
            self.shared(r)
        )
    }

    fn add(&self, r: &str) -> String {
        let Rollup {
            table, counters, ..
        } = self.rollup;
        let values: Vec<String> = counters.iter().map(|c| format!("{r}.{c}")).collect();
        let updates: Vec<String> = counters
            .iter()
            .chain(&["sessions"])
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO {table} ({}, {}, sessions)
    SELECT {}, {}, {} WHERE true
    ON CONFLICT ({}) DO UPDATE SET {}",
            self.key_columns(),
            counters.join(", "),
            self.key_values(r),
            values.join(", "),
            self.alone(r),
            self.key_columns(),
            updates.join(", ")
        )
    }

    fn subtract(&self, r: &str) -> String {
        let Rollup {
            table, counters, ..
        } = self.rollup;
        let sets: Vec<String> = counters
            .iter()
            .map(|c| format!("{c} = {c} - {r}.{c}"))
            .collect();
        format!(
            "UPDATE {table} SET {}, sessions = sessions - {} WHERE {}",
            sets.join(", "),
            self.alone(r),
            self.key_matches(r)
        )
    }

    /// One `UPDATE` for counters changing in place: the session joins or leaves the day's value
    /// when its row starts or stops counting and no other row holds the value.
    fn change(&self) -> String {
        let Rollup {
            table,
            counters,
            present,
            ..
        } = self.rollup;
        let sets: Vec<String> = counters
            .iter()
            .map(|c| format!("{c} = {c} + new.{c} - old.{c}"))
            .collect();
        format!(
            "UPDATE {table} SET {}, sessions = sessions + \
             CASE WHEN (new.{present} > 0) = (old.{present} > 0) OR {} THEN 0 \
             WHEN new.{present} > 0 THEN 1 ELSE -1 END WHERE {}",
            sets.join(", "),
            self.shared("new"),
            self.key_matches("new")
        )
    }

    /// How this dimension's rows of its cross-session table add up from the unit rows.
    fn day_rollup(&self) -> DayRollup {
        let Rollup {
            units,
            table,
            counters,
            present,
            ..
        } = self.rollup;
        let sums: Vec<String> = counters
            .iter()
            .map(|c| format!("CAST(SUM(r.{c}) AS BIGINT)"))
            .collect();
        let key_values = self.key_values("r");
        // PostgreSQL refuses constants in `GROUP BY`; they group nothing anyway.
        let groups: Vec<String> = split_values(&key_values)
            .into_iter()
            .filter(|v| !v.starts_with('\''))
            .collect();
        DayRollup {
            units,
            table,
            dim: Some(self.name),
            columns: format!("{}, {}, sessions", self.key_columns(), counters.join(", ")),
            query: format!(
                "SELECT {key_values}, {}, COUNT(DISTINCT CASE WHEN r.{present} > 0 THEN r.session_id END)
FROM {units} r WHERE {{scope}} GROUP BY {}",
                sums.join(", "),
                groups.join(", ")
            ),
        }
    }
}

/// Splits a `key_values` list at its top-level commas (values may call `coalesce(…, '')`).
fn split_values(list: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                values.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current.trim().to_owned());
    values
}

fn body(statements: impl IntoIterator<Item = String>) -> String {
    statements
        .into_iter()
        .map(|s| format!("    {s};\n"))
        .collect()
}

/// `(name, when it fires, body)` of each trigger.
fn triggers() -> Vec<(String, String, String)> {
    let days = "analytics_session_days";
    let same_model = "WHEN old.session_model IS new.session_model";
    let new_model = "WHEN old.session_model IS NOT new.session_model";
    let mut triggers = vec![
        (
            format!("{days}_day_ai"),
            format!("AFTER INSERT ON {days}"),
            body([add_activity("new"), record_span("new")]),
        ),
        // Counters changing under the same main model: one update in place.
        (
            format!("{days}_day_au"),
            format!("AFTER UPDATE ON {days} {same_model}"),
            body([change_activity()]),
        ),
        // A session adopting a main model moves its rows to the model's key.
        (
            format!("{days}_day_model_au"),
            format!("AFTER UPDATE ON {days} {new_model}"),
            body([subtract_activity("old"), add_activity("new")]),
        ),
        (
            format!("{days}_day_ad"),
            format!("AFTER DELETE ON {days}"),
            body([subtract_activity("old"), forget_span("old")]),
        ),
    ];
    for rollup in [&SIGNALS, &CALLS] {
        let units = rollup.units;
        let dims = || {
            DIMENSIONS
                .iter()
                .filter(move |d| d.rollup.units == rollup.units)
        };
        let mut on_insert: Vec<String> = dims().map(|d| d.add("new")).collect();
        let mut on_delete: Vec<String> = dims().map(|d| d.subtract("old")).collect();
        if rollup.units == CALLS.units {
            on_insert.push(record_span("new"));
            on_delete.push(forget_span("old"));
        }
        triggers.extend([
            (
                format!("{units}_day_ai"),
                format!("AFTER INSERT ON {units}"),
                body(on_insert),
            ),
            // Only counters change in place: a session adopting a main model moves nothing here.
            (
                format!("{units}_day_au"),
                format!("AFTER UPDATE OF {} ON {units}", rollup.counters.join(", ")),
                body(dims().map(Dimension::change)),
            ),
            (
                format!("{units}_day_ad"),
                format!("AFTER DELETE ON {units}"),
                body(on_delete),
            ),
        ]);
    }
    triggers
}

/// How one cross-session table's rows add up from migration 11's rows `r`: when this migration
/// fills it, and on PostgreSQL when migration 15 refreshes stale days or computes them on the spot.
pub(crate) struct DayRollup {
    /// The per-session table read.
    pub(crate) units: &'static str,
    /// The cross-session table written.
    pub(crate) table: &'static str,
    /// The value of its `dim` column, for the tables with one.
    pub(crate) dim: Option<&'static str>,
    /// The table's columns, in the order the query yields them.
    pub(crate) columns: String,
    /// `SELECT … FROM {units} r WHERE {scope} GROUP BY …`.
    query: String,
}

impl DayRollup {
    /// The rows the per-session rows that `scope` selects add up to.
    pub(crate) fn select(&self, scope: &str) -> String {
        self.query.replace("{scope}", scope)
    }

    /// `INSERT … SELECT` of [`DayRollup::select`].
    pub(crate) fn fill(&self, scope: &str) -> String {
        format!(
            "INSERT INTO {} ({}) {}",
            self.table,
            self.columns,
            self.select(scope)
        )
    }
}

/// Every cross-session table's rows: activity, then each dimension of signals and calls.
pub(crate) fn day_rollups() -> Vec<DayRollup> {
    let values = activity_values("r");
    let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
    let sums: Vec<String> = values
        .iter()
        .map(|(c, v)| match *c {
            "confidence_sum" => format!("SUM({v})"),
            _ => format!("CAST(SUM({v}) AS BIGINT)"),
        })
        .collect();
    let mut rollups = vec![DayRollup {
        units: "analytics_session_days",
        table: "analytics_day_activity",
        dim: None,
        columns: format!("project_id, day, tool, model_key, {}", columns.join(", ")),
        query: format!(
            "SELECT r.project_id, r.day, r.tool, coalesce(r.session_model, ''), {}
FROM analytics_session_days r WHERE {{scope}}
GROUP BY r.project_id, r.day, r.tool, coalesce(r.session_model, '')",
            sums.join(", ")
        ),
    }];
    rollups.extend(DIMENSIONS.iter().map(Dimension::day_rollup));
    rollups
}

/// `INSERT … SELECT` listing every day of the sessions already active on more than one.
pub(crate) fn fill_spans() -> String {
    "INSERT INTO analytics_session_spans (project_id, day, session_id)
SELECT a.project_id, a.day, a.session_id FROM (
    SELECT project_id, day, session_id FROM analytics_session_days
    UNION SELECT project_id, day, session_id FROM analytics_session_calls) a
WHERE a.session_id IN (SELECT m.session_id FROM (
    SELECT session_id, day FROM analytics_session_days
    UNION SELECT session_id, day FROM analytics_session_calls) m
    GROUP BY m.session_id HAVING COUNT(*) > 1)"
        .to_owned()
}

/// Statements counting the per-session rows already stored.
fn fill() -> Vec<String> {
    let mut statements: Vec<String> = day_rollups()
        .iter()
        .map(|rollup| rollup.fill("true"))
        .collect();
    statements.push(fill_spans());
    statements
}

fn up_statements() -> Vec<String> {
    let mut statements = create_tables("BLOB", " WITHOUT ROWID");
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
    for table in DAY_TABLES.iter().chain(&["analytics_session_spans"]) {
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
