//! The cross-session daily rollups (migrations 14 and 15) answer the bias, monitor, cost, model
//! and recommendation reports over whole UTC days when no user or model is asked for: a few rows
//! per day and tool (and main model) instead of one per session. A session active on several
//! days of the range counts once, as in the raw rows: its repeats are read from migration 11's
//! rows of the sessions `analytics_session_spans` lists, a handful, and subtracted.
//!
//! SQLite's triggers keep the tables exact. On PostgreSQL a background refresh keeps them
//! ([`Lux::refresh_day_rollups`]), and reports read views that compute the days it has not
//! caught up with from the per-session rows.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::DbBackend;

use super::units::{Span, Units, push_units, span};
use super::{Activity, Denominators, Sql};
use crate::domain::{AnalyticsFilter, NO_MODEL_KEY, ProjectId};
use crate::error::Result;
use crate::store::Lux;

/// A grouping of activity the day rollup keys by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ActivityKey {
    Day,
    Tool,
    /// The session's main model.
    Model,
}

impl ActivityKey {
    /// The column of migration 11's units.
    pub(super) fn units_column(self) -> &'static str {
        match self {
            ActivityKey::Day => "u.day",
            ActivityKey::Tool => "u.tool",
            ActivityKey::Model => "u.session_model",
        }
    }

    fn day_column(self) -> &'static str {
        match self {
            ActivityKey::Day => "r.day",
            ActivityKey::Tool => "r.tool",
            ActivityKey::Model => "NULLIF(r.model_key, '')",
        }
    }
}

/// A dimension of findings or alerts the signal rollups count sessions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignalKey {
    /// Bias type or alert kind.
    Kind,
    Severity,
    Detector,
}

impl SignalKey {
    pub(super) fn units_column(self) -> &'static str {
        match self {
            SignalKey::Kind => "u.kind",
            SignalKey::Severity => "u.severity",
            SignalKey::Detector => "u.detector",
        }
    }

    fn dim(self) -> &'static str {
        match self {
            SignalKey::Kind => "'kind'",
            SignalKey::Severity => "'severity'",
            SignalKey::Detector => "'detector'",
        }
    }
}

/// Findings or alerts of one group, and the sessions they are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignalGroup {
    pub(super) key: String,
    pub(super) events: i64,
    pub(super) sessions: i64,
}

/// Whether the day rollups answer `filter`: only whole days, and no user or model (the rollups
/// key by tool, and main model at most; "a model" also means any model a session called).
pub(super) fn serves(filter: &AnalyticsFilter) -> bool {
    filter.user_id.is_none() && filter.model.is_none() && span(filter).edges.is_empty()
}

/// A cross-session day rollup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayTable {
    Activity,
    Signals,
    Calls,
}

impl DayTable {
    /// What reports read: the table itself on SQLite; on PostgreSQL its view, which computes the
    /// days not refreshed yet from the per-session rows.
    fn read(self, sql: &Sql) -> &'static str {
        match (sql.backend, self) {
            (DbBackend::Postgres, DayTable::Activity) => "analytics_day_activity_current",
            (DbBackend::Postgres, DayTable::Signals) => "analytics_day_signals_current",
            (DbBackend::Postgres, DayTable::Calls) => "analytics_day_calls_current",
            (_, DayTable::Activity) => "analytics_day_activity",
            (_, DayTable::Signals) => "analytics_day_signals",
            (_, DayTable::Calls) => "analytics_day_calls",
        }
    }
}

/// The whole days `[from, to)` of a filter the rollups serve.
fn days(filter: &AnalyticsFilter) -> (Option<NaiveDate>, Option<NaiveDate>) {
    match span(filter) {
        Span {
            days: Some(days), ..
        } => days,
        // `serves` is false for a span without whole days.
        Span { days: None, .. } => (None, None),
    }
}

/// ` AND {day} …` and ` AND {tool} = …`: the filter's whole days and tool on those columns.
fn push_scope(
    sql: &mut Sql,
    filter: &AnalyticsFilter,
    day_column: &'static str,
    tool_column: &'static str,
) {
    let (from, to) = days(filter);
    if let Some(from) = from {
        sql.push(" AND ")
            .push(day_column)
            .push(" >= ")
            .bind(from.to_string());
    }
    if let Some(to) = to {
        sql.push(" AND ")
            .push(day_column)
            .push(" < ")
            .bind(to.to_string());
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND ")
            .push(tool_column)
            .push(" = ")
            .bind(tool.as_str());
    }
}

/// ` AND x.session_id IN (…)`: the sessions the spans list on more than one day in range.
fn push_spanning(
    sql: &mut Sql,
    project: ProjectId,
    filter: &AnalyticsFilter,
    session: &'static str,
) {
    sql.push(" AND ")
        .push(session)
        .push(" IN (SELECT sp.session_id FROM analytics_session_spans sp WHERE sp.project_id = ")
        .bind(project.0);
    let (from, to) = days(filter);
    if let Some(from) = from {
        sql.push(" AND sp.day >= ").bind(from.to_string());
    }
    if let Some(to) = to {
        sql.push(" AND sp.day < ").bind(to.to_string());
    }
    sql.push(" GROUP BY sp.session_id HAVING COUNT(*) > 1)");
}

/// ` (…) u`: the rows of `analytics_day_activity` in scope, with the per-session units' names for
/// the main model and the step counters.
pub(super) fn push_day_activity(sql: &mut Sql, project: ProjectId, filter: &AnalyticsFilter) {
    let table = DayTable::Activity.read(sql);
    sql.push(
        " (SELECT NULLIF(r.model_key, '') AS session_model, r.steps AS steps, \
         r.confident_steps AS confident_steps, r.confidence_sum AS confidence_sum, \
         r.findings AS findings FROM ",
    )
    .push(table)
    .push(" r WHERE r.project_id = ")
    .bind(project.0);
    push_scope(sql, filter, "r.day", "r.tool");
    sql.push(") u");
}

/// Which rows of `analytics_day_calls` a cost or model report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallsKey {
    /// Per called model.
    Model,
    /// All models together (per day, per tool, in total).
    Any,
    /// Per called model and provider.
    Route,
}

/// ` (…) u`: the call units in scope — from `analytics_day_calls` (`key`'s rows, with the sessions
/// calling as `sessions`) when `from_days`, else migration 11's per-session rows.
pub(super) fn push_calls(
    sql: &mut Sql,
    project: ProjectId,
    filter: &AnalyticsFilter,
    from_days: bool,
    key: CallsKey,
) {
    if from_days {
        push_day_calls(sql, project, filter, key);
    } else {
        push_units(sql, Units::Calls, project, filter, false);
    }
}

/// ` (…) u`: the rows of `analytics_day_calls` of `key` in scope, with the per-session units'
/// column names (`model`, `provider`, `day`, `tool`, the counters) and the sessions calling as
/// `sessions`.
fn push_day_calls(sql: &mut Sql, project: ProjectId, filter: &AnalyticsFilter, key: CallsKey) {
    let table = DayTable::Calls.read(sql);
    sql.push(
        " (SELECT r.value AS model, r.provider AS provider, r.day AS day, r.tool AS tool, \
         r.calls AS calls, \
         r.failed_calls AS failed_calls, r.input_tokens AS input_tokens, \
         r.output_tokens AS output_tokens, r.cached_input_tokens AS cached_input_tokens, \
         r.reasoning_tokens AS reasoning_tokens, r.cost_nusd AS cost_nusd, \
         r.sessions AS sessions FROM ",
    )
    .push(table)
    .push(" r WHERE r.calls > 0 AND r.project_id = ")
    .bind(project.0)
    .push(match key {
        CallsKey::Model => " AND r.dim = 'model'",
        CallsKey::Any => " AND r.dim = 'any'",
        CallsKey::Route => " AND r.dim = 'route'",
    });
    push_scope(sql, filter, "r.day", "r.tool");
    sql.push(") u");
}

fn key_of(text: Option<String>) -> String {
    text.unwrap_or_else(|| NO_MODEL_KEY.to_owned())
}

impl Lux {
    /// Brings PostgreSQL's day rollups up to date with the writes committed so far, returning how
    /// many (project, day) pairs it recomputed; nothing to do on SQLite, where triggers keep them.
    /// Reports are exact either way; they just read fewer rows once the rollups caught up. A
    /// refresh already running elsewhere makes this one return 0 at once.
    pub async fn refresh_day_rollups(&self) -> Result<u64> {
        if self.db().get_database_backend() != DbBackend::Postgres {
            return Ok(0);
        }
        let mut sql = self.sql();
        sql.push("SELECT analytics_refresh_stale_days() AS n");
        let refreshed: i64 = match self.rows(&sql).await?.first() {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };
        Ok(u64::try_from(refreshed).unwrap_or(0))
    }

    /// [`Activity`] in total and per `key` (findings or alerts as `events`) from
    /// `analytics_day_activity`, less the repeats of sessions active on several days.
    pub(super) async fn activity_from_days(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        events: Units,
        key: Option<ActivityKey>,
    ) -> Result<Denominators> {
        let columns = if events == Units::Findings {
            "CAST(COALESCE(SUM(r.steps), 0) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(r.finding_active), 0) AS BIGINT) AS ns, \
             CAST(COALESCE(SUM(r.findings), 0) AS BIGINT) AS ne, \
             CAST(COALESCE(SUM(r.with_findings), 0) AS BIGINT) AS nes"
        } else {
            "CAST(COALESCE(SUM(r.steps), 0) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(r.alert_active), 0) AS BIGINT) AS ns, \
             CAST(COALESCE(SUM(r.alerts), 0) AS BIGINT) AS ne, \
             CAST(COALESCE(SUM(r.with_alerts), 0) AS BIGINT) AS nes"
        };
        let mut sql = self.sql();
        sql.push("SELECT ");
        if let Some(key) = key {
            sql.push(key.day_column()).push(" AS k, ");
        } else {
            sql.push("NULL AS k, ");
        }
        let table = DayTable::Activity.read(&sql);
        sql.push(columns)
            .push(" FROM ")
            .push(table)
            .push(" r WHERE r.project_id = ")
            .bind(project.0);
        push_scope(&mut sql, filter, "r.day", "r.tool");
        if let Some(key) = key {
            sql.push(" GROUP BY ").push(key.day_column());
        }

        let (active, hit) = if events == Units::Findings {
            ("(u.steps > 0 OR u.findings > 0)", "u.findings > 0")
        } else {
            ("(u.steps > 0 OR u.alerts > 0)", "u.alerts > 0")
        };
        // A day's sessions count each session once already.
        let repeat_key = match key {
            Some(ActivityKey::Tool) => Some("u.tool"),
            Some(ActivityKey::Model) => Some("u.session_model"),
            Some(ActivityKey::Day) | None => None,
        };
        let days = "analytics_session_days";
        let (rows, active_repeats, hit_repeats) = tokio::try_join!(
            self.rows(&sql),
            self.repeats(project, filter, days, active, repeat_key),
            self.repeats(project, filter, days, hit, repeat_key)
        )?;
        let mut denominators = Denominators::default();
        for row in rows {
            let activity = Activity::from_row(&row)?;
            denominators.total.add(&activity);
            if key.is_some() {
                let key = key_of(row.try_get("", "k")?);
                denominators.per_key.entry(key).or_default().add(&activity);
            }
        }
        for (group, repeats) in active_repeats {
            denominators.total.sessions -= repeats;
            if let Some(activity) = denominators.per_key.get_mut(&group) {
                activity.sessions -= repeats;
            }
        }
        for (group, repeats) in hit_repeats {
            denominators.total.affected -= repeats;
            if let Some(activity) = denominators.per_key.get_mut(&group) {
                activity.affected -= repeats;
            }
        }
        Ok(denominators)
    }

    /// Findings or alerts and the sessions they are in per `key`, from `analytics_day_signals`,
    /// less the repeats of sessions with the same key on several days.
    pub(super) async fn signals_from_days(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        units: Units,
        key: SignalKey,
    ) -> Result<Vec<SignalGroup>> {
        let source = if units == Units::Findings {
            "'finding'"
        } else {
            "'alert'"
        };
        let mut sql = self.sql();
        let table = DayTable::Signals.read(&sql);
        sql.push(
            "SELECT r.value AS k, CAST(SUM(r.n) AS BIGINT) AS n, \
             CAST(SUM(r.sessions) AS BIGINT) AS ns FROM ",
        )
        .push(table)
        .push(" r WHERE r.project_id = ")
        .bind(project.0)
        .push(" AND r.source = ")
        .push(source)
        .push(" AND r.dim = ")
        .push(key.dim());
        push_scope(&mut sql, filter, "r.day", "r.tool");
        sql.push(" GROUP BY r.value");

        let condition = if units == Units::Findings {
            "u.n > 0 AND u.source = 'finding'"
        } else {
            "u.n > 0 AND u.source = 'alert'"
        };
        let (rows, repeats) = tokio::try_join!(
            self.rows(&sql),
            self.repeats(
                project,
                filter,
                "analytics_session_signals",
                condition,
                Some(key.units_column())
            )
        )?;
        let mut groups = Vec::new();
        for row in rows {
            let key: String = row.try_get("", "k")?;
            let events: i64 = row.try_get("", "n")?;
            if events == 0 {
                // Rows of zeros that deletions leave behind.
                continue;
            }
            let sessions = row.try_get::<i64>("", "ns")? - repeats.get(&key).copied().unwrap_or(0);
            groups.push(SignalGroup {
                key,
                events,
                sessions,
            });
        }
        Ok(groups)
    }

    /// How many more times than once each group counts the sessions active on several days of
    /// the range: per group `key` (a column of migration 11's `units` rows `u`, or all in one
    /// group `""`), the days in range beyond the first on which a session has a row counting
    /// (`present` above zero) in that group. `condition` narrows the rows (e.g. to findings).
    pub(super) async fn repeats(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        units: &'static str,
        condition: &'static str,
        key: Option<&'static str>,
    ) -> Result<HashMap<String, i64>> {
        let mut sql = self.sql();
        sql.push("SELECT ")
            .push(key.unwrap_or("''"))
            .push(" AS k, COUNT(DISTINCT u.day) AS days FROM ")
            .push(units)
            .push(" u WHERE ")
            .push(condition)
            .push(" AND u.project_id = ")
            .bind(project.0);
        push_spanning(&mut sql, project, filter, "u.session_id");
        push_scope(&mut sql, filter, "u.day", "u.tool");
        sql.push(" GROUP BY u.session_id");
        if let Some(key) = key {
            sql.push(", ").push(key);
        }
        let mut repeats: HashMap<String, i64> = HashMap::new();
        for row in self.rows(&sql).await? {
            let days: i64 = row.try_get("", "days")?;
            *repeats.entry(key_of(row.try_get("", "k")?)).or_default() += (days - 1).max(0);
        }
        Ok(repeats)
    }

    /// Monitor alerts per `key` (kind or day) and severity, as rows `k`, `sev`, `n`.
    pub(super) fn alert_severities_from_days(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        by_day: bool,
    ) -> Sql {
        let mut sql = self.sql();
        let table = DayTable::Signals.read(&sql);
        if by_day {
            sql.push("SELECT r.day AS k, r.value AS sev, CAST(SUM(r.n) AS BIGINT) AS n FROM ")
                .push(table)
                .push(" r WHERE r.dim = 'severity'");
        } else {
            sql.push("SELECT r.value AS k, r.severity AS sev, CAST(SUM(r.n) AS BIGINT) AS n FROM ")
                .push(table)
                .push(" r WHERE r.dim = 'class'");
        }
        sql.push(" AND r.source = 'alert' AND r.project_id = ")
            .bind(project.0);
        push_scope(&mut sql, filter, "r.day", "r.tool");
        if by_day {
            sql.push(" GROUP BY r.day, r.value");
        } else {
            sql.push(" GROUP BY r.value, r.severity");
        }
        sql
    }
}
