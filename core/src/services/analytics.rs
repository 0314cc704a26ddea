//! Analytics over the raw rows: overview, cost, model performance, bias rates, session summaries.
//!
//! Every figure is a plain SQL aggregate (`COUNT`, `SUM` of integer columns) over the project's
//! rows, run with bound values through [`Sql`], so SQLite and PostgreSQL return the same numbers.
//! Rates and percentiles are derived from those integers in Rust. No rollups yet: at dashboard
//! scale the indexes on `(…, created_at)` carry these queries; materialized views are a later step.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, Statement, Value,
};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{bias_finding, monitor_event, step, synthesis_version};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::Lux;

/// Most groups a cost report returns.
pub const MAX_REPORT_ROWS: u32 = 1000;
/// Groups a cost report returns when the caller names no limit.
pub const DEFAULT_REPORT_ROWS: u32 = 100;

/// A statement assembled from `'static` SQL fragments and bound values. User input can only ever
/// enter as a bound value: [`Sql::push`] takes nothing but string literals.
pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub(crate) fn statement(&self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text.clone(), self.values.clone())
    }
}

/// The table a report counts, joined to its session (alias `s`; the counted row is `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sessions,
    Steps,
    ModelCalls,
    Findings,
    Alerts,
}

impl Source {
    fn from(self) -> &'static str {
        match self {
            Source::Sessions => " FROM sessions s",
            Source::Steps => " FROM steps x JOIN sessions s ON s.id = x.session_id",
            Source::ModelCalls => " FROM model_calls x JOIN sessions s ON s.id = x.session_id",
            Source::Findings => " FROM bias_findings x JOIN sessions s ON s.id = x.session_id",
            Source::Alerts => " FROM monitor_events x JOIN sessions s ON s.id = x.session_id",
        }
    }

    /// The UTC day of the counted row, as `YYYY-MM-DD` text. SQLite stores RFC 3339 text in UTC.
    fn day(self, backend: DbBackend) -> &'static str {
        match (self, backend) {
            (Source::Sessions, DbBackend::Postgres) => {
                "to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            }
            (_, DbBackend::Postgres) => "to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            (Source::Sessions, _) => "substr(s.created_at, 1, 10)",
            (_, _) => "substr(x.created_at, 1, 10)",
        }
    }
}

/// ` FROM … WHERE …` restricting `source` to the project and the filter.
fn push_scope(sql: &mut Sql, source: Source, project: ProjectId, filter: &AnalyticsFilter) {
    sql.push(source.from())
        .push(" WHERE s.project_id = ")
        .bind(project.0);
    if let Some(tool) = &filter.tool {
        sql.push(" AND s.tool = ").bind(tool.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND s.user_id = ").bind(user_id.as_str());
    }
    if let Some(model) = &filter.model {
        if source == Source::ModelCalls {
            sql.push(" AND x.model = ").bind(model.as_str());
        } else {
            sql.push(" AND (s.model = ")
                .bind(model.as_str())
                .push(" OR s.id IN (SELECT mc.session_id FROM model_calls mc WHERE mc.model = ")
                .bind(model.as_str())
                .push("))");
        }
    }
    let time = if source == Source::Sessions {
        "s.created_at"
    } else {
        "x.created_at"
    };
    if let Some(since) = filter.since {
        sql.push(" AND ").push(time).push(" >= ").bind(since);
    }
    if let Some(until) = filter.until {
        sql.push(" AND ").push(time).push(" < ").bind(until);
    }
}

/// Sums of a call's tokens and cost, as `ti`, `to_`, `tc`, `tr`, `cost` (integers on both backends).
const CALL_SUMS: &str = ", CAST(COALESCE(SUM(x.input_tokens), 0) AS BIGINT) AS ti\
    , CAST(COALESCE(SUM(x.output_tokens), 0) AS BIGINT) AS to_\
    , CAST(COALESCE(SUM(x.cached_input_tokens), 0) AS BIGINT) AS tc\
    , CAST(COALESCE(SUM(x.reasoning_tokens), 0) AS BIGINT) AS tr\
    , CAST(COALESCE(SUM(x.cost_nusd), 0) AS BIGINT) AS cost";

fn tokens_of(row: &QueryResult) -> Result<TokenTotals> {
    Ok(TokenTotals {
        input: row.try_get("", "ti")?,
        output: row.try_get("", "to_")?,
        cached_input: row.try_get("", "tc")?,
        reasoning: row.try_get("", "tr")?,
    })
}

fn parse_day(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|error| {
        Error::Storage(sea_orm::DbErr::Type(format!(
            "stored time {text:?} has no readable day: {error}"
        )))
    })
}

fn report_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_REPORT_ROWS),
        Some(limit @ 1..=MAX_REPORT_ROWS) => Ok(limit),
        Some(limit) => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_REPORT_ROWS}, got {limit}"),
        )),
    }
}

/// Nearest-rank position of percentile `p` among `n` sorted values (1-based): `ceil(p * n / 100)`.
pub(crate) fn percentile_rank(p: i64, n: i64) -> i64 {
    (n * p + 99) / 100
}

impl Lux {
    async fn rows(&self, sql: &Sql) -> Result<Vec<QueryResult>> {
        Ok(self.db().query_all_raw(sql.statement()).await?)
    }

    fn sql(&self) -> Sql {
        Sql::new(self.db().get_database_backend())
    }

    /// Counts per UTC day of one source: `day → (count, row)`.
    async fn daily(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        source: Source,
        sums: &'static str,
    ) -> Result<Vec<(NaiveDate, QueryResult)>> {
        let mut sql = self.sql();
        let day = source.day(sql.backend);
        sql.push("SELECT ")
            .push(day)
            .push(" AS day, COUNT(*) AS n")
            .push(sums);
        push_scope(&mut sql, source, project, filter);
        sql.push(" GROUP BY ").push(day);
        self.rows(&sql)
            .await?
            .into_iter()
            .map(|row| {
                let day: String = row.try_get("", "day")?;
                Ok((parse_day(&day)?, row))
            })
            .collect()
    }

    /// Sessions, steps, calls with tokens and cost, findings and alerts, in total and per day.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn analytics_overview(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<Overview> {
        filter.check()?;
        let mut days: BTreeMap<NaiveDate, ActivityCounts> = BTreeMap::new();
        for source in [
            Source::Sessions,
            Source::Steps,
            Source::Findings,
            Source::Alerts,
        ] {
            for (day, row) in self.daily(project, filter, source, "").await? {
                let n: i64 = row.try_get("", "n")?;
                let counts = days.entry(day).or_default();
                match source {
                    Source::Sessions => counts.sessions = n,
                    Source::Steps => counts.steps = n,
                    Source::Findings => counts.findings = n,
                    _ => counts.alerts = n,
                }
            }
        }
        for (day, row) in self
            .daily(project, filter, Source::ModelCalls, CALL_SUMS)
            .await?
        {
            let counts = days.entry(day).or_default();
            counts.model_calls = row.try_get("", "n")?;
            counts.tokens = tokens_of(&row)?;
            counts.cost = NanoUsd(row.try_get("", "cost")?);
        }
        let mut totals = ActivityCounts::default();
        for counts in days.values() {
            totals.sessions += counts.sessions;
            totals.steps += counts.steps;
            totals.model_calls += counts.model_calls;
            totals.tokens.input += counts.tokens.input;
            totals.tokens.output += counts.tokens.output;
            totals.tokens.cached_input += counts.tokens.cached_input;
            totals.tokens.reasoning += counts.tokens.reasoning;
            totals.cost = NanoUsd(totals.cost.0.saturating_add(counts.cost.0));
            totals.findings += counts.findings;
            totals.alerts += counts.alerts;
        }
        Ok(Overview {
            totals,
            series: days
                .into_iter()
                .map(|(day, counts)| DailyActivity { day, counts })
                .collect(),
        })
    }

    /// Model-call cost grouped by model, day, tool, user or session.
    #[instrument(skip_all, fields(project = %project, group_by = ?group_by))]
    pub async fn analytics_costs(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        group_by: CostGroup,
        limit: Option<u32>,
    ) -> Result<CostReport> {
        filter.check()?;
        let limit = report_limit(limit)?;
        let mut sql = self.sql();
        let key = match group_by {
            CostGroup::Model => "x.model",
            CostGroup::Day => Source::ModelCalls.day(sql.backend),
            CostGroup::Tool => "s.tool",
            CostGroup::User => "s.user_id",
            CostGroup::Session => "x.session_id",
        };
        sql.push("SELECT ")
            .push(key)
            .push(" AS k, COUNT(*) AS n, COUNT(DISTINCT x.session_id) AS ns")
            .push(CALL_SUMS);
        push_scope(&mut sql, Source::ModelCalls, project, filter);
        sql.push(" GROUP BY ").push(key);
        if group_by == CostGroup::Day {
            // The most recent days within the limit; turned oldest first below.
            sql.push(" ORDER BY ").push(key).push(" DESC");
        } else {
            // Groups without a key (sessions without a user) last, on both backends.
            sql.push(" ORDER BY cost DESC, n DESC, (")
                .push(key)
                .push(" IS NULL), ")
                .push(key);
        }
        sql.push(" LIMIT ").bind(i64::from(limit));
        let mut rows = Vec::new();
        for row in self.rows(&sql).await? {
            let key = if group_by == CostGroup::Session {
                Some(row.try_get::<Uuid>("", "k")?.to_string())
            } else {
                row.try_get::<Option<String>>("", "k")?
            };
            rows.push(cost_row(key, &row)?);
        }
        if group_by == CostGroup::Day {
            rows.reverse();
        }

        let mut sql = self.sql();
        sql.push("SELECT COUNT(*) AS n, COUNT(DISTINCT x.session_id) AS ns")
            .push(CALL_SUMS);
        push_scope(&mut sql, Source::ModelCalls, project, filter);
        let total = match self.rows(&sql).await?.first() {
            Some(row) => cost_row(None, row)?,
            None => cost_row_empty(),
        };
        Ok(CostReport {
            group_by,
            rows,
            total,
        })
    }

    /// Per model: calls, failures, latency percentiles, tokens and cost; most used first.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn analytics_models(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<Vec<ModelStats>> {
        filter.check()?;
        let mut sql = self.sql();
        sql.push(
            "SELECT x.model AS k, COUNT(*) AS n, \
             CAST(COALESCE(SUM(CASE WHEN x.status <> 'ok' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed",
        )
        .push(CALL_SUMS);
        push_scope(&mut sql, Source::ModelCalls, project, filter);
        sql.push(" GROUP BY x.model ORDER BY n DESC, x.model");
        let mut models = Vec::new();
        for row in self.rows(&sql).await? {
            let model_calls: i64 = row.try_get("", "n")?;
            let failed_calls: i64 = row.try_get("", "failed")?;
            models.push(ModelStats {
                model: row.try_get("", "k")?,
                model_calls,
                failed_calls,
                error_rate: ratio(failed_calls, model_calls),
                latency_ms: LatencyPercentiles::default(),
                tokens: tokens_of(&row)?,
                cost: NanoUsd(row.try_get("", "cost")?),
            });
        }

        // Only the rows at the three ranks come back, not every latency.
        let mut sql = self.sql();
        sql.push(
            "SELECT r.k, r.latency_ms, r.rn, r.cnt FROM (SELECT x.model AS k, x.latency_ms, \
             ROW_NUMBER() OVER (PARTITION BY x.model ORDER BY x.latency_ms) AS rn, \
             COUNT(*) OVER (PARTITION BY x.model) AS cnt",
        );
        push_scope(&mut sql, Source::ModelCalls, project, filter);
        sql.push(
            ") r WHERE r.rn = (r.cnt * 50 + 99) / 100 OR r.rn = (r.cnt * 95 + 99) / 100 \
             OR r.rn = (r.cnt * 99 + 99) / 100",
        );
        let mut at_rank: HashMap<(String, i64), i64> = HashMap::new();
        let mut counts: HashMap<String, i64> = HashMap::new();
        for row in self.rows(&sql).await? {
            let model: String = row.try_get("", "k")?;
            counts.insert(model.clone(), row.try_get("", "cnt")?);
            at_rank.insert(
                (model, row.try_get("", "rn")?),
                row.try_get("", "latency_ms")?,
            );
        }
        for stats in &mut models {
            let n = counts.get(&stats.model).copied().unwrap_or(0);
            let at = |p: i64| {
                at_rank
                    .get(&(stats.model.clone(), percentile_rank(p, n)))
                    .copied()
                    .unwrap_or(0)
            };
            stats.latency_ms = LatencyPercentiles {
                p50: at(50),
                p95: at(95),
                p99: at(99),
            };
        }
        Ok(models)
    }

    /// Findings per 100 steps and the share of sessions affected, grouped.
    #[instrument(skip_all, fields(project = %project, group_by = ?group_by))]
    pub async fn analytics_bias_rates(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        group_by: BiasGroup,
    ) -> Result<BiasRateReport> {
        filter.check()?;
        let backend = self.db().get_database_backend();
        // Denominators, per day (for `day`) and in total.
        let mut steps_per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        for (day, row) in self.daily(project, filter, Source::Steps, "").await? {
            steps_per_day.insert(day, row.try_get("", "n")?);
        }
        let total_steps: i64 = steps_per_day.values().sum();

        let mut sql = Sql::new(backend);
        sql.push("SELECT u.day AS day, COUNT(*) AS n FROM (SELECT ")
            .push(Source::Steps.day(backend))
            .push(" AS day, x.session_id");
        push_scope(&mut sql, Source::Steps, project, filter);
        sql.push(" UNION SELECT ")
            .push(Source::Findings.day(backend))
            .push(" AS day, x.session_id");
        push_scope(&mut sql, Source::Findings, project, filter);
        sql.push(") u GROUP BY u.day");
        let mut sessions_per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        for row in self.rows(&sql).await? {
            let day: String = row.try_get("", "day")?;
            sessions_per_day.insert(parse_day(&day)?, row.try_get("", "n")?);
        }

        let mut sql = Sql::new(backend);
        sql.push("SELECT COUNT(*) AS n FROM (SELECT x.session_id");
        push_scope(&mut sql, Source::Steps, project, filter);
        sql.push(" UNION SELECT x.session_id");
        push_scope(&mut sql, Source::Findings, project, filter);
        sql.push(") u");
        let total_sessions: i64 = match self.rows(&sql).await?.first() {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        };

        let key = match group_by {
            BiasGroup::BiasType => "x.bias_type",
            BiasGroup::Severity => "x.severity",
            BiasGroup::Detector => "x.detector",
            BiasGroup::Day => Source::Findings.day(backend),
        };
        let mut sql = Sql::new(backend);
        sql.push("SELECT ")
            .push(key)
            .push(" AS k, COUNT(*) AS n, COUNT(DISTINCT x.session_id) AS ns");
        push_scope(&mut sql, Source::Findings, project, filter);
        sql.push(" GROUP BY ").push(key);
        let mut rows = Vec::new();
        for row in self.rows(&sql).await? {
            let key: String = row.try_get("", "k")?;
            let (steps, sessions) = if group_by == BiasGroup::Day {
                let day = parse_day(&key)?;
                (
                    steps_per_day.get(&day).copied().unwrap_or(0),
                    sessions_per_day.get(&day).copied().unwrap_or(0),
                )
            } else {
                (total_steps, total_sessions)
            };
            rows.push(BiasRateRow::new(
                key,
                row.try_get("", "n")?,
                row.try_get("", "ns")?,
                steps,
                sessions,
            ));
        }
        if group_by == BiasGroup::Day {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| b.findings.cmp(&a.findings).then_with(|| a.key.cmp(&b.key)));
        }

        let mut sql = Sql::new(backend);
        sql.push("SELECT COUNT(*) AS n, COUNT(DISTINCT x.session_id) AS ns");
        push_scope(&mut sql, Source::Findings, project, filter);
        let (findings, affected) = match self.rows(&sql).await?.first() {
            Some(row) => (row.try_get("", "n")?, row.try_get("", "ns")?),
            None => (0, 0),
        };
        Ok(BiasRateReport {
            group_by,
            rows,
            total: BiasRateRow::new(
                "all".to_owned(),
                findings,
                affected,
                total_steps,
                total_sessions,
            ),
        })
    }

    /// Steps, duration, tokens, cost, findings, alerts and final confidence of one session.
    #[instrument(skip_all, fields(project = %project, session = %reference))]
    pub async fn session_summary(
        &self,
        project: ProjectId,
        reference: &SessionRef,
    ) -> Result<SessionSummary> {
        let session = self.get_session(project, reference).await?;
        let id = session.id.0;
        let db = self.db();
        let steps = step::Entity::find()
            .filter(step::Column::SessionId.eq(id))
            .count(db)
            .await?;
        let last_step = step::Entity::find()
            .filter(step::Column::SessionId.eq(id))
            .order_by_desc(step::Column::StepNumber)
            .one(db)
            .await?;
        let last_confident_step = step::Entity::find()
            .filter(step::Column::SessionId.eq(id))
            .filter(step::Column::Confidence.is_not_null())
            .order_by_desc(step::Column::StepNumber)
            .one(db)
            .await?;
        let synthesis_versions = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(id))
            .count(db)
            .await?;
        let latest_synthesis = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(id))
            .order_by_desc(synthesis_version::Column::Version)
            .one(db)
            .await?;
        let findings = bias_finding::Entity::find()
            .filter(bias_finding::Column::SessionId.eq(id))
            .count(db)
            .await?;
        let alerts = monitor_event::Entity::find()
            .filter(monitor_event::Column::SessionId.eq(id))
            .count(db)
            .await?;

        let mut sql = self.sql();
        sql.push(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(CASE WHEN x.status <> 'ok' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed",
        )
        .push(CALL_SUMS)
        .push(" FROM model_calls x WHERE x.session_id = ")
        .bind(id);
        let calls = self.rows(&sql).await?;
        let (model_calls, failed_calls, tokens, cost) = match calls.first() {
            Some(row) => (
                row.try_get("", "n")?,
                row.try_get("", "failed")?,
                tokens_of(row)?,
                NanoUsd(row.try_get("", "cost")?),
            ),
            None => (0, 0, TokenTotals::default(), NanoUsd(0)),
        };

        let ended_at = session
            .completed_at
            .or(last_step.as_ref().map(|step| step.created_at))
            .unwrap_or(session.created_at)
            .max(session.created_at);
        let (final_confidence, confidence_source) = match (
            latest_synthesis.and_then(|v| v.confidence),
            last_confident_step,
        ) {
            (Some(confidence), _) => (Some(confidence), Some(ConfidenceSource::Synthesis)),
            (None, Some(step)) => (step.confidence, Some(ConfidenceSource::Step)),
            (None, None) => (None, None),
        };
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(SessionSummary {
            session_id: session.id,
            status: session.status,
            steps: count(steps),
            synthesis_versions: count(synthesis_versions),
            model_calls,
            failed_calls,
            tokens,
            cost,
            findings: count(findings),
            alerts: count(alerts),
            created_at: session.created_at,
            ended_at,
            duration_ms: (ended_at - session.created_at).num_milliseconds(),
            final_confidence,
            confidence_source,
        })
    }
}

fn cost_row(key: Option<String>, row: &QueryResult) -> Result<CostRow> {
    Ok(CostRow {
        key,
        model_calls: row.try_get("", "n")?,
        sessions: row.try_get("", "ns")?,
        tokens: tokens_of(row)?,
        cost: NanoUsd(row.try_get("", "cost")?),
    })
}

fn cost_row_empty() -> CostRow {
    CostRow {
        key: None,
        model_calls: 0,
        sessions: 0,
        tokens: TokenTotals::default(),
        cost: NanoUsd(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile_rank(50, 1), 1);
        assert_eq!(percentile_rank(99, 1), 1);
        assert_eq!(percentile_rank(50, 10), 5);
        assert_eq!(percentile_rank(95, 10), 10);
        assert_eq!(percentile_rank(95, 100), 95);
        assert_eq!(percentile_rank(99, 101), 100);
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("a = ").bind(1).push(" AND b = ").bind("x");
        assert_eq!(sql.text, "a = $1 AND b = $2");
        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("a = ").bind(1).push(" AND b = ").bind("x");
        assert_eq!(sql.text, "a = ? AND b = ?");
    }
}
