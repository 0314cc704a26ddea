//! The rows every analytics report aggregates: the per-session daily rollups of migration 11 for
//! the whole UTC days of a range, and the raw rows, shaped like rollup rows, for the partial days
//! at its edges. Reports sum counters and count distinct `session_id`s over these units, so the
//! figures equal an aggregate over the raw rows whatever the range.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sea_orm::DbBackend;

use super::Sql;
use crate::domain::{AnalyticsFilter, ProjectId};

/// Which rollup the units come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Units {
    /// `analytics_session_days`: `sessions` (created), `steps`, `confident_steps`,
    /// `confidence_sum`, `findings`, `alerts`.
    Days,
    /// `analytics_session_calls`: `model`, `provider`, `calls`, `failed_calls`, the four token
    /// columns and `cost_nusd`.
    Calls,
    /// `analytics_session_signals` of findings: `kind` (bias type), `severity`, `detector`, `n`.
    Findings,
    /// `analytics_session_signals` of alerts: `kind`, `severity`, `detector` (`''`), `n`.
    Alerts,
}

/// A filter's range cut into whole UTC days (read from the rollup) and partial edges (raw rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    /// Days `[from, to)` of the rollup, either end open; `None` when no whole day is in range.
    pub(super) days: Option<(Option<NaiveDate>, Option<NaiveDate>)>,
    /// Instants `[from, to)` read from raw rows.
    pub(super) edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

pub(super) fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

pub(super) fn span(filter: &AnalyticsFilter) -> Span {
    let first_day = filter.since.map(|since| {
        let day = since.date_naive();
        if since == midnight(day) {
            day
        } else {
            day + Days::new(1)
        }
    });
    let end_day = filter.until.map(|until| until.date_naive());
    if let (Some(since), Some(until), Some(first), Some(end)) =
        (filter.since, filter.until, first_day, end_day)
        && first >= end
    {
        return Span {
            days: None,
            edges: vec![(since, until)],
        };
    }
    let mut edges = Vec::new();
    if let (Some(since), Some(first)) = (filter.since, first_day)
        && since != midnight(first)
    {
        edges.push((since, midnight(first)));
    }
    if let (Some(until), Some(end)) = (filter.until, end_day)
        && until != midnight(end)
    {
        edges.push((midnight(end), until));
    }
    Span {
        days: Some((first_day, end_day)),
        edges,
    }
}

/// The UTC day of `x.created_at` (or of the session `s`) as `YYYY-MM-DD` text.
fn raw_day(backend: DbBackend, session: bool) -> &'static str {
    match (backend, session) {
        (DbBackend::Postgres, true) => "to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        (DbBackend::Postgres, false) => "to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        (_, true) => "substr(s.created_at, 1, 10)",
        (_, false) => "substr(x.created_at, 1, 10)",
    }
}

/// ` AND (…)`: the session uses `model` — its main model, or the model of any of its calls.
fn push_uses_model(
    sql: &mut Sql,
    project: ProjectId,
    model: &str,
    session_model: &'static str,
    session_id: &'static str,
) {
    sql.push(" AND (")
        .push(session_model)
        .push(" = ")
        .bind(model)
        .push(" OR ")
        .push(session_id)
        .push(
            " IN (SELECT c.session_id FROM analytics_session_calls c \
             WHERE c.calls > 0 AND c.project_id = ",
        )
        .bind(project.0)
        .push(" AND c.model = ")
        .bind(model)
        .push("))");
}

/// ` (…) u`: the units of `units` in the project, the filter's scope, and its range. `sessions`
/// adds the sessions created in range (to `Units::Days`; only the overview counts them).
pub(super) fn push_units(
    sql: &mut Sql,
    units: Units,
    project: ProjectId,
    filter: &AnalyticsFilter,
    sessions: bool,
) {
    let span = span(filter);
    sql.push(" (");
    let mut first = true;
    let mut union = |sql: &mut Sql| {
        if !first {
            sql.push(" UNION ALL ");
        }
        first = false;
    };
    if let Some((from, to)) = span.days {
        union(sql);
        push_rollup(sql, units, project, filter, from, to);
    }
    for (from, to) in span.edges {
        let raw: &[Raw] = match units {
            Units::Days if sessions => &[Raw::Sessions, Raw::Steps, Raw::Findings, Raw::Alerts],
            Units::Days => &[Raw::Steps, Raw::Findings, Raw::Alerts],
            Units::Calls => &[Raw::Calls],
            Units::Findings => &[Raw::FindingSignals],
            Units::Alerts => &[Raw::AlertSignals],
        };
        for raw in raw {
            union(sql);
            push_raw(sql, *raw, project, filter, from, to);
        }
    }
    sql.push(") u");
}

const DAY_COLUMNS: &str = "r.session_id, r.day, r.tool, r.user_id, r.session_model, r.sessions, \
    r.steps, r.confident_steps, r.confidence_sum, r.findings, r.alerts";
const CALL_COLUMNS: &str = "r.session_id, r.day, r.tool, r.user_id, r.session_model, r.model, \
    r.provider, r.calls, r.failed_calls, r.input_tokens, r.output_tokens, r.cached_input_tokens, \
    r.reasoning_tokens, r.cost_nusd";
const SIGNAL_COLUMNS: &str =
    "r.session_id, r.day, r.tool, r.user_id, r.session_model, r.kind, r.severity, r.detector, r.n";

fn push_rollup(
    sql: &mut Sql,
    units: Units,
    project: ProjectId,
    filter: &AnalyticsFilter,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) {
    match units {
        Units::Days => sql
            .push("SELECT ")
            .push(DAY_COLUMNS)
            .push(" FROM analytics_session_days r WHERE r.project_id = ")
            .bind(project.0),
        Units::Calls => sql
            .push("SELECT ")
            .push(CALL_COLUMNS)
            .push(" FROM analytics_session_calls r WHERE r.calls > 0 AND r.project_id = ")
            .bind(project.0),
        Units::Findings | Units::Alerts => sql
            .push("SELECT ")
            .push(SIGNAL_COLUMNS)
            .push(" FROM analytics_session_signals r WHERE r.n > 0 AND r.project_id = ")
            .bind(project.0)
            .push(if units == Units::Findings {
                " AND r.source = 'finding'"
            } else {
                " AND r.source = 'alert'"
            }),
    };
    if let Some(from) = from {
        sql.push(" AND r.day >= ").bind(from.to_string());
    }
    if let Some(to) = to {
        sql.push(" AND r.day < ").bind(to.to_string());
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND r.tool = ").bind(tool.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND r.user_id = ").bind(user_id.as_str());
    }
    if let Some(model) = &filter.model {
        if units == Units::Calls {
            sql.push(" AND r.model = ").bind(model.as_str());
        } else {
            push_uses_model(sql, project, model, "r.session_model", "r.session_id");
        }
    }
}

/// Raw rows shaped like one rollup's units, each counting one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    Sessions,
    Steps,
    Findings,
    Alerts,
    Calls,
    FindingSignals,
    AlertSignals,
}

fn push_raw(
    sql: &mut Sql,
    raw: Raw,
    project: ProjectId,
    filter: &AnalyticsFilter,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let backend = sql.backend;
    let session = raw == Raw::Sessions;
    if session {
        sql.push("SELECT s.id AS session_id, ");
    } else {
        sql.push("SELECT x.session_id AS session_id, ");
    }
    sql.push(raw_day(backend, session))
        .push(" AS day, s.tool AS tool, s.user_id AS user_id, s.model AS session_model, ");
    // Counters in the rollup's column order and names (a UNION takes its column names from its
    // first branch, which may be this one), cast to the rollup's types for PostgreSQL.
    let (values, from_table) = match raw {
        Raw::Sessions => (
            "CAST(1 AS BIGINT) AS sessions, CAST(0 AS BIGINT) AS steps, \
             CAST(0 AS BIGINT) AS confident_steps, CAST(0 AS DOUBLE PRECISION) AS confidence_sum, \
             CAST(0 AS BIGINT) AS findings, CAST(0 AS BIGINT) AS alerts",
            " FROM sessions s",
        ),
        Raw::Steps => (
            "CAST(0 AS BIGINT) AS sessions, CAST(1 AS BIGINT) AS steps, \
             CAST(CASE WHEN x.confidence IS NULL THEN 0 ELSE 1 END AS BIGINT) AS confident_steps, \
             CAST(coalesce(x.confidence, 0) AS DOUBLE PRECISION) AS confidence_sum, \
             CAST(0 AS BIGINT) AS findings, CAST(0 AS BIGINT) AS alerts",
            " FROM steps x JOIN sessions s ON s.id = x.session_id",
        ),
        Raw::Findings => (
            "CAST(0 AS BIGINT) AS sessions, CAST(0 AS BIGINT) AS steps, \
             CAST(0 AS BIGINT) AS confident_steps, CAST(0 AS DOUBLE PRECISION) AS confidence_sum, \
             CAST(1 AS BIGINT) AS findings, CAST(0 AS BIGINT) AS alerts",
            " FROM bias_findings x JOIN sessions s ON s.id = x.session_id",
        ),
        Raw::Alerts => (
            "CAST(0 AS BIGINT) AS sessions, CAST(0 AS BIGINT) AS steps, \
             CAST(0 AS BIGINT) AS confident_steps, CAST(0 AS DOUBLE PRECISION) AS confidence_sum, \
             CAST(0 AS BIGINT) AS findings, CAST(1 AS BIGINT) AS alerts",
            " FROM monitor_events x JOIN sessions s ON s.id = x.session_id",
        ),
        Raw::Calls => (
            "x.model AS model, x.provider AS provider, CAST(1 AS BIGINT) AS calls, \
             CAST(CASE WHEN x.status <> 'ok' THEN 1 ELSE 0 END AS BIGINT) AS failed_calls, \
             x.input_tokens AS input_tokens, x.output_tokens AS output_tokens, \
             x.cached_input_tokens AS cached_input_tokens, \
             x.reasoning_tokens AS reasoning_tokens, x.cost_nusd AS cost_nusd",
            " FROM model_calls x JOIN sessions s ON s.id = x.session_id",
        ),
        Raw::FindingSignals => (
            "x.bias_type AS kind, x.severity AS severity, x.detector AS detector, \
             CAST(1 AS BIGINT) AS n",
            " FROM bias_findings x JOIN sessions s ON s.id = x.session_id",
        ),
        Raw::AlertSignals => (
            "x.kind AS kind, x.severity AS severity, '' AS detector, CAST(1 AS BIGINT) AS n",
            " FROM monitor_events x JOIN sessions s ON s.id = x.session_id",
        ),
    };
    sql.push(values)
        .push(from_table)
        .push(" WHERE s.project_id = ")
        .bind(project.0);
    let time = if session {
        "s.created_at"
    } else {
        "x.created_at"
    };
    sql.push(" AND ").push(time).push(" >= ").bind(from);
    sql.push(" AND ").push(time).push(" < ").bind(to);
    // Only the sessions the rollup lists as active on the edge's days can have rows in it: this
    // narrows the scan to them (`steps` has no index on time) instead of every session's rows.
    let active = match raw {
        Raw::Sessions => None,
        Raw::Calls => {
            Some(" AND x.session_id IN (SELECT e.session_id FROM analytics_session_calls e")
        }
        _ => Some(" AND x.session_id IN (SELECT e.session_id FROM analytics_session_days e"),
    };
    if let Some(active) = active {
        sql.push(active)
            .push(" WHERE e.project_id = ")
            .bind(project.0)
            .push(" AND e.day >= ")
            .bind(from.date_naive().to_string())
            .push(" AND e.day <= ")
            .bind(to.date_naive().to_string())
            .push(")");
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND s.tool = ").bind(tool.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND s.user_id = ").bind(user_id.as_str());
    }
    if let Some(model) = &filter.model {
        if raw == Raw::Calls {
            sql.push(" AND x.model = ").bind(model.as_str());
        } else {
            push_uses_model(sql, project, model, "s.model", "s.id");
        }
    }
}

/// ` FROM analytics_call_latencies l WHERE …`: the calls of `model` in the filter's scope, for
/// walking them in latency order.
pub(super) fn push_latencies(
    sql: &mut Sql,
    project: ProjectId,
    filter: &AnalyticsFilter,
    model: &str,
) {
    sql.push(" FROM analytics_call_latencies l WHERE l.project_id = ")
        .bind(project.0)
        .push(" AND l.model = ")
        .bind(model);
    if let Some(since) = filter.since {
        sql.push(" AND l.created_at >= ").bind(since);
    }
    if let Some(until) = filter.until {
        sql.push(" AND l.created_at < ").bind(until);
    }
    if let Some(tool) = &filter.tool {
        sql.push(" AND l.tool = ").bind(tool.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND l.user_id = ").bind(user_id.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_split_into_whole_days_and_edges() {
        let open = span(&AnalyticsFilter::default());
        assert_eq!(open.days, Some((None, None)));
        assert!(open.edges.is_empty());

        let aligned = span(&AnalyticsFilter {
            since: Some(at("2026-01-02T00:00:00Z")),
            until: Some(at("2026-01-05T00:00:00Z")),
            ..AnalyticsFilter::default()
        });
        assert_eq!(
            aligned.days,
            Some((Some(day("2026-01-02")), Some(day("2026-01-05"))))
        );
        assert!(aligned.edges.is_empty());

        let ragged = span(&AnalyticsFilter {
            since: Some(at("2026-01-02T10:00:00Z")),
            until: Some(at("2026-01-05T06:30:00Z")),
            ..AnalyticsFilter::default()
        });
        assert_eq!(
            ragged.days,
            Some((Some(day("2026-01-03")), Some(day("2026-01-05"))))
        );
        assert_eq!(
            ragged.edges,
            [
                (at("2026-01-02T10:00:00Z"), at("2026-01-03T00:00:00Z")),
                (at("2026-01-05T00:00:00Z"), at("2026-01-05T06:30:00Z")),
            ]
        );

        // Within one day, or across one midnight only: no whole day, all raw.
        for (since, until) in [
            ("2026-01-02T10:00:00Z", "2026-01-02T11:00:00Z"),
            ("2026-01-02T10:00:00Z", "2026-01-03T11:00:00Z"),
        ] {
            let inside = span(&AnalyticsFilter {
                since: Some(at(since)),
                until: Some(at(until)),
                ..AnalyticsFilter::default()
            });
            assert_eq!(inside.days, None);
            assert_eq!(inside.edges, [(at(since), at(until))]);
        }

        let from_noon = span(&AnalyticsFilter {
            since: Some(at("2026-01-02T12:00:00Z")),
            ..AnalyticsFilter::default()
        });
        assert_eq!(from_noon.days, Some((Some(day("2026-01-03")), None)));
        assert_eq!(
            from_noon.edges,
            [(at("2026-01-02T12:00:00Z"), at("2026-01-03T00:00:00Z"))]
        );
    }
}
