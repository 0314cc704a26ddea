//! Analytics: overview, cost, model performance, bias rates, monitor alerts, recommendations,
//! session summaries.
//!
//! Every figure is a plain SQL aggregate (`COUNT`, `SUM` of integer columns) run with bound values
//! through [`Sql`], so SQLite and PostgreSQL return the same numbers; rates are derived from those
//! integers in Rust. Reports read the per-session daily rollups of migration 11 for the whole UTC
//! days of their range and the raw rows for the partial days at its edges (see [`units`]), which
//! equals an aggregate over the raw rows; whole-day ranges without a user or model read the
//! cross-session day rollups of migrations 14 and 15 instead (see [`days`]). Latency
//! percentiles walk the calls of one model in latency order (`analytics_call_latencies`). The
//! overview reads the coarser daily rollup `analytics_daily` (migration 9) when its time bounds
//! are UTC midnights and no model is asked for. Session summaries read one session's raw rows.

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
use crate::pricing::{TokenUsage, compute_cost};
use crate::store::{Lux, PriceTable};

mod days;
mod units;

use days::{ActivityKey, CallsKey, SignalGroup, SignalKey};
use units::{Units, midnight, push_latencies, push_units, span};

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

/// Sums of the units' tokens and cost, as `ti`, `to_`, `tc`, `tr`, `cost` (integers on both
/// backends).
const CALL_SUMS: &str = ", CAST(COALESCE(SUM(u.input_tokens), 0) AS BIGINT) AS ti\
    , CAST(COALESCE(SUM(u.output_tokens), 0) AS BIGINT) AS to_\
    , CAST(COALESCE(SUM(u.cached_input_tokens), 0) AS BIGINT) AS tc\
    , CAST(COALESCE(SUM(u.reasoning_tokens), 0) AS BIGINT) AS tr\
    , CAST(COALESCE(SUM(u.cost_nusd), 0) AS BIGINT) AS cost";

/// [`CALL_SUMS`] over raw `model_calls x`.
const RAW_CALL_SUMS: &str = ", CAST(COALESCE(SUM(x.input_tokens), 0) AS BIGINT) AS ti\
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

/// A switch is only weighed between models that each took part in at least this many steps.
pub const MIN_STEPS_TO_COMPARE: i64 = 10;
/// "Similar confidence": the cheaper model's mean step confidence is at most this much lower.
pub const CONFIDENCE_TOLERANCE: f64 = 0.05;
/// "Similar or lower bias rate": at most this many more findings per 100 steps.
pub const BIAS_RATE_TOLERANCE: f64 = 1.0;
/// Slow and failing models are only judged on at least this many calls.
pub const MIN_CALLS_TO_JUDGE: i64 = 10;
/// A model whose calls fail more often than this (one in ten) is failing.
pub const FAILING_ERROR_RATE: f64 = 0.1;
/// A model whose p95 latency is more than this many times the median of the models' p95
/// latencies (models with at least [`MIN_CALLS_TO_JUDGE`] calls) is slow.
pub const SLOW_P95_FACTOR: i64 = 2;
const SECONDS_PER_DAY: i64 = 86_400;

/// Whether `cheaper`'s sessions did as well as `pricier`'s: enough steps on both sides, similar
/// confidence, a similar or lower bias rate, and no worse reliability than either `pricier` or
/// the failing threshold.
fn comparable(pricier: &ModelStats, cheaper: &ModelStats) -> bool {
    let (Some(high), Some(low)) = (pricier.mean_step_confidence, cheaper.mean_step_confidence)
    else {
        return false;
    };
    pricier.steps >= MIN_STEPS_TO_COMPARE
        && cheaper.steps >= MIN_STEPS_TO_COMPARE
        && low >= high - CONFIDENCE_TOLERANCE
        && cheaper.findings_per_100_steps <= pricier.findings_per_100_steps + BIAS_RATE_TOLERANCE
        && cheaper.error_rate <= pricier.error_rate.max(FAILING_ERROR_RATE)
}

fn confidence_text(confidence: Option<f64>) -> String {
    confidence.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
}

/// Whether `analytics_daily` answers the overview's whole UTC days: it keys activity by day, tool
/// and user only, so no model may be asked for (a model matches a session's main model or any of
/// its calls, which no daily row can tell).
fn daily_rollup_serves(filter: &AnalyticsFilter) -> bool {
    // `''` is the rollup's key for sessions without a user.
    filter.model.is_none() && filter.user_id.as_deref() != Some("")
}

/// Nearest-rank position of percentile `p` among `n` sorted values (1-based): `ceil(p * n / 100)`.
pub(crate) fn percentile_rank(p: i64, n: i64) -> i64 {
    (n * p + 99) / 100
}

impl Lux {
    async fn rows(&self, sql: &Sql) -> Result<Vec<QueryResult>> {
        Ok(self.db().query_all_raw(sql.statement()).await?)
    }

    /// [`Lux::rows`] when `wanted`, else none: for a read joined with others that only some
    /// groupings need.
    async fn rows_if(&self, wanted: bool, sql: &Sql) -> Result<Vec<QueryResult>> {
        if wanted {
            self.rows(sql).await
        } else {
            Ok(Vec::new())
        }
    }

    fn sql(&self) -> Sql {
        Sql::new(self.db().get_database_backend())
    }

    /// Sessions, steps, calls with tokens and cost, findings and alerts, in total and per day.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn analytics_overview(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<Overview> {
        filter.check()?;
        let days = if daily_rollup_serves(filter) {
            self.daily_rollup_with_edges(project, filter).await?
        } else {
            self.daily_units(project, filter).await?
        };
        let mut totals = ActivityCounts::default();
        for counts in days.values() {
            totals.add(counts);
        }
        Ok(Overview {
            totals,
            series: days
                .into_iter()
                .map(|(day, counts)| DailyActivity { day, counts })
                .collect(),
        })
    }

    /// The overview's whole UTC days from `analytics_daily` and its partial days at the edges
    /// from raw rows, read concurrently; the parts never share a day.
    async fn daily_rollup_with_edges(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<BTreeMap<NaiveDate, ActivityCounts>> {
        let span = span(filter);
        let part = |since, until| AnalyticsFilter {
            since,
            until,
            ..filter.clone()
        };
        let whole = span
            .days
            .map(|(from, to)| part(from.map(midnight), to.map(midnight)));
        let edges: Vec<AnalyticsFilter> = span
            .edges
            .iter()
            .map(|&(from, to)| part(Some(from), Some(to)))
            .collect();
        let whole = async {
            match &whole {
                Some(whole) => self.daily_rollup(project, whole).await,
                None => Ok(BTreeMap::new()),
            }
        };
        let edges =
            futures::future::try_join_all(edges.iter().map(|edge| self.daily_units(project, edge)));
        let (mut days, edges) = tokio::try_join!(whole, edges)?;
        for edge in edges {
            for (day, counts) in edge {
                days.entry(day).or_default().add(&counts);
            }
        }
        Ok(days)
    }

    /// The overview's days read from `analytics_daily` (migration 9), kept by triggers; the
    /// filter's bounds must be UTC midnights.
    async fn daily_rollup(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<BTreeMap<NaiveDate, ActivityCounts>> {
        let mut sql = self.sql();
        sql.push(
            "SELECT r.day AS day, CAST(SUM(r.sessions) AS BIGINT) AS sessions, \
             CAST(SUM(r.steps) AS BIGINT) AS steps, CAST(SUM(r.model_calls) AS BIGINT) AS n, \
             CAST(SUM(r.input_tokens) AS BIGINT) AS ti, CAST(SUM(r.output_tokens) AS BIGINT) AS to_, \
             CAST(SUM(r.cached_input_tokens) AS BIGINT) AS tc, \
             CAST(SUM(r.reasoning_tokens) AS BIGINT) AS tr, CAST(SUM(r.cost_nusd) AS BIGINT) AS cost, \
             CAST(SUM(r.findings) AS BIGINT) AS findings, CAST(SUM(r.alerts) AS BIGINT) AS alerts \
             FROM analytics_daily r",
        );
        if sql.backend == DbBackend::Sqlite {
            // Migration 12's covering index. With statistics, SQLite's planner prefers the
            // narrower primary key for a tool filter and then reads every matching row from the
            // table: 25–40 ms instead of 6–11 ms at a million steps.
            sql.push(" INDEXED BY idx_analytics_daily_report");
        }
        sql.push(" WHERE r.project_id = ").bind(project.0);
        if let Some(tool) = &filter.tool {
            sql.push(" AND r.tool = ").bind(tool.as_str());
        }
        if let Some(user_id) = &filter.user_id {
            sql.push(" AND r.user_key = ").bind(user_id.as_str());
        }
        if let Some(since) = filter.since {
            sql.push(" AND r.day >= ")
                .bind(since.date_naive().to_string());
        }
        if let Some(until) = filter.until {
            sql.push(" AND r.day < ")
                .bind(until.date_naive().to_string());
        }
        sql.push(" GROUP BY r.day");
        let mut days = BTreeMap::new();
        for row in self.rows(&sql).await? {
            let day: String = row.try_get("", "day")?;
            let counts = ActivityCounts {
                sessions: row.try_get("", "sessions")?,
                steps: row.try_get("", "steps")?,
                model_calls: row.try_get("", "n")?,
                tokens: tokens_of(&row)?,
                cost: NanoUsd(row.try_get("", "cost")?),
                findings: row.try_get("", "findings")?,
                alerts: row.try_get("", "alerts")?,
            };
            // Deletions leave rows of zeros behind; a day without activity is not in the series.
            if counts != ActivityCounts::default() {
                days.insert(parse_day(&day)?, counts);
            }
        }
        Ok(days)
    }

    /// The overview's days from the per-session rollups and the raw rows of partial days.
    async fn daily_units(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<BTreeMap<NaiveDate, ActivityCounts>> {
        let mut days: BTreeMap<NaiveDate, ActivityCounts> = BTreeMap::new();
        let mut sql = self.sql();
        sql.push(
            "SELECT u.day AS day, CAST(SUM(u.sessions) AS BIGINT) AS sessions, \
             CAST(SUM(u.steps) AS BIGINT) AS steps, CAST(SUM(u.findings) AS BIGINT) AS findings, \
             CAST(SUM(u.alerts) AS BIGINT) AS alerts FROM",
        );
        push_units(&mut sql, Units::Days, project, filter, true);
        sql.push(" GROUP BY u.day");
        let mut calls_sql = self.sql();
        calls_sql
            .push("SELECT u.day AS day, CAST(SUM(u.calls) AS BIGINT) AS n")
            .push(CALL_SUMS)
            .push(" FROM");
        push_units(&mut calls_sql, Units::Calls, project, filter, false);
        calls_sql.push(" GROUP BY u.day");
        let (day_rows, call_rows) = tokio::try_join!(self.rows(&sql), self.rows(&calls_sql))?;
        for row in day_rows {
            let day: String = row.try_get("", "day")?;
            let counts = days.entry(parse_day(&day)?).or_default();
            counts.sessions = row.try_get("", "sessions")?;
            counts.steps = row.try_get("", "steps")?;
            counts.findings = row.try_get("", "findings")?;
            counts.alerts = row.try_get("", "alerts")?;
        }
        for row in call_rows {
            let day: String = row.try_get("", "day")?;
            let counts = days.entry(parse_day(&day)?).or_default();
            counts.model_calls = row.try_get("", "n")?;
            counts.tokens = tokens_of(&row)?;
            counts.cost = NanoUsd(row.try_get("", "cost")?);
        }
        // Deletions leave rollup rows of zeros behind; a day without activity is not in the series.
        days.retain(|_, counts| *counts != ActivityCounts::default());
        Ok(days)
    }

    /// Model-call cost grouped by model, day, tool, user, session or project.
    #[instrument(skip_all, fields(project = %project, group_by = ?group_by))]
    pub async fn analytics_costs(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        group_by: CostGroup,
        limit: Option<u32>,
    ) -> Result<CostReport> {
        let limit = report_limit(limit)?;
        self.cost_groups(project, filter, group_by, Some(limit))
            .await
    }

    /// [`Lux::analytics_costs`] with every group when `limit` is `None` (for exports).
    pub(crate) async fn cost_groups(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        group_by: CostGroup,
        limit: Option<u32>,
    ) -> Result<CostReport> {
        filter.check()?;
        // The day rollups answer the total, and every grouping but by user or session.
        let total_from_days = days::serves(filter);
        let groups_from_days =
            total_from_days && !matches!(group_by, CostGroup::User | CostGroup::Session);
        let sessions = |from_days: bool| {
            if from_days {
                ", CAST(COALESCE(SUM(u.sessions), 0) AS BIGINT) AS ns"
            } else {
                ", COUNT(DISTINCT u.session_id) AS ns"
            }
        };
        let mut sql = self.sql();
        let key = match group_by {
            CostGroup::Model => "u.model",
            CostGroup::Day => "u.day",
            CostGroup::Tool => "u.tool",
            CostGroup::User => "u.user_id",
            CostGroup::Session => "u.session_id",
            // Every unit is of the one project: its row is the total, read below.
            CostGroup::Project => "",
        };
        if group_by != CostGroup::Project {
            sql.push("SELECT ")
                .push(key)
                .push(" AS k, CAST(SUM(u.calls) AS BIGINT) AS n")
                .push(sessions(groups_from_days))
                .push(CALL_SUMS)
                .push(" FROM");
            let calls_key = if group_by == CostGroup::Model {
                CallsKey::Model
            } else {
                CallsKey::Any
            };
            days::push_calls(&mut sql, project, filter, groups_from_days, calls_key);
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
            if let Some(limit) = limit {
                sql.push(" LIMIT ").bind(i64::from(limit));
            }
        }
        let mut total_sql = self.sql();
        total_sql
            .push("SELECT CAST(COALESCE(SUM(u.calls), 0) AS BIGINT) AS n")
            .push(sessions(total_from_days))
            .push(CALL_SUMS)
            .push(" FROM");
        days::push_calls(
            &mut total_sql,
            project,
            filter,
            total_from_days,
            CallsKey::Any,
        );
        // A day's sessions count each session once already; model and tool groups and the total
        // take back the repeats of sessions calling on several days.
        let repeat_key = match group_by {
            CostGroup::Model if groups_from_days => Some("u.model"),
            CostGroup::Tool if groups_from_days => Some("u.tool"),
            _ => None,
        };
        let units = "analytics_session_calls";
        let repeats = async {
            match repeat_key {
                Some(key) => {
                    self.repeats(project, filter, units, "u.calls > 0", Some(key))
                        .await
                }
                None => Ok(HashMap::new()),
            }
        };
        let total_repeats = async {
            if total_from_days {
                let repeats = self
                    .repeats(project, filter, units, "u.calls > 0", None)
                    .await?;
                Ok(repeats.values().sum())
            } else {
                Ok(0)
            }
        };
        let (group_rows, total_rows, repeats, total_repeats) = tokio::try_join!(
            self.rows_if(group_by != CostGroup::Project, &sql),
            self.rows(&total_sql),
            repeats,
            total_repeats
        )?;
        let mut rows = Vec::new();
        for row in group_rows {
            let key = if group_by == CostGroup::Session {
                Some(row.try_get::<Uuid>("", "k")?.to_string())
            } else {
                row.try_get::<Option<String>>("", "k")?
            };
            let mut cost = cost_row(key, &row)?;
            if let Some(repeats) = cost.key.as_ref().and_then(|key| repeats.get(key)) {
                cost.sessions -= repeats;
            }
            rows.push(cost);
        }
        if group_by == CostGroup::Day {
            rows.reverse();
        }
        let total = match total_rows.first() {
            Some(row) => {
                let mut total = cost_row(None, row)?;
                total.sessions -= total_repeats;
                total
            }
            None => cost_row_empty(),
        };
        if group_by == CostGroup::Project && total.model_calls > 0 {
            rows.push(CostRow {
                key: Some(project.to_string()),
                ..total.clone()
            });
        }
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
            "SELECT u.model AS k, CAST(SUM(u.calls) AS BIGINT) AS n, \
             CAST(SUM(u.failed_calls) AS BIGINT) AS failed",
        )
        .push(CALL_SUMS)
        .push(" FROM");
        let from_days = days::serves(filter);
        days::push_calls(&mut sql, project, filter, from_days, CallsKey::Model);
        sql.push(" GROUP BY u.model ORDER BY n DESC, u.model");
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
                steps: 0,
                findings: 0,
                mean_step_confidence: None,
                findings_per_100_steps: 0.0,
            });
        }

        // The reasoning each model took part in: steps and findings of the sessions using it —
        // those whose main model it is, plus those that called it under another main model.
        const REASONING: &str = "CAST(COALESCE(SUM(u.steps), 0) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(u.confident_steps), 0) AS BIGINT) AS nc, \
             SUM(u.confidence_sum) AS sc, CAST(COALESCE(SUM(u.findings), 0) AS BIGINT) AS nf";
        let mut reasoning: HashMap<String, (i64, i64, Option<f64>, i64)> = HashMap::new();
        let mut sql = self.sql();
        sql.push("SELECT u.session_model AS k, ")
            .push(REASONING)
            .push(" FROM");
        if days::serves(filter) {
            days::push_day_activity(&mut sql, project, filter);
        } else {
            push_units(&mut sql, Units::Days, project, filter, false);
        }
        sql.push(" WHERE u.session_model IS NOT NULL GROUP BY u.session_model");
        let main_sql = sql;
        let mut sql = self.sql();
        // Both find the rows in migration 16's partial index; PostgreSQL's planner needs the
        // stored column to know how few they are.
        let other_model = match sql.backend {
            DbBackend::Postgres => " AND c.other_model) m JOIN",
            _ => " AND (c.session_model IS NULL OR c.session_model <> c.model)) m JOIN",
        };
        sql.push("SELECT m.m AS k, ")
            .push(REASONING)
            .push(
                " FROM (SELECT DISTINCT c.session_id AS sid, c.model AS m \
                 FROM analytics_session_calls c WHERE c.calls > 0 AND c.project_id = ",
            )
            .bind(project.0)
            .push(other_model);
        push_units(&mut sql, Units::Days, project, filter, false);
        sql.push(" ON u.session_id = m.sid GROUP BY m.m");
        // Independent reads, each on its own pooled connection.
        let latencies = futures::future::try_join_all(models.iter().map(|stats| {
            self.latency_percentiles(project, filter, &stats.model, stats.model_calls)
        }));
        let (latencies, main_rows, other_rows) =
            tokio::try_join!(latencies, self.rows(&main_sql), self.rows(&sql))?;
        for (stats, latency) in models.iter_mut().zip(latencies) {
            stats.latency_ms = latency;
        }
        for row in main_rows.iter().chain(&other_rows) {
            let entry = reasoning
                .entry(row.try_get("", "k")?)
                .or_insert((0, 0, None, 0));
            let sum: Option<f64> = row.try_get("", "sc")?;
            entry.0 += row.try_get::<i64>("", "n")?;
            entry.1 += row.try_get::<i64>("", "nc")?;
            entry.2 = match (entry.2, sum) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            entry.3 += row.try_get::<i64>("", "nf")?;
        }
        for stats in &mut models {
            let (n_steps, n_confident, confidence_sum, findings) = reasoning
                .get(&stats.model)
                .copied()
                .unwrap_or((0, 0, None, 0));
            stats.steps = n_steps;
            stats.findings = findings;
            stats.mean_step_confidence = match (n_confident, confidence_sum) {
                (1.., Some(sum)) => Some(sum / n_confident as f64),
                _ => None,
            };
            stats.findings_per_100_steps = ratio(stats.findings * 100, n_steps);
        }
        Ok(models)
    }

    /// Exact nearest-rank p50/p95/p99 of `model`'s `n` calls in scope: only the calls up to each
    /// rank are read, walking `analytics_call_latencies` in latency order from the nearer end.
    async fn latency_percentiles(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        model: &str,
        n: i64,
    ) -> Result<LatencyPercentiles> {
        if n <= 0 {
            return Ok(LatencyPercentiles::default());
        }
        let mut sql = self.sql();
        for (i, p) in [50, 95, 99].into_iter().enumerate() {
            sql.push(if i == 0 {
                "SELECT (SELECT l.latency_ms"
            } else {
                ", (SELECT l.latency_ms"
            });
            push_latencies(&mut sql, project, filter, model);
            let rank = percentile_rank(p, n);
            if rank <= n / 2 {
                sql.push(" ORDER BY l.latency_ms LIMIT 1 OFFSET ")
                    .bind(rank - 1);
            } else {
                sql.push(" ORDER BY l.latency_ms DESC LIMIT 1 OFFSET ")
                    .bind(n - rank);
            }
            sql.push(match p {
                50 => ") AS p50",
                95 => ") AS p95",
                _ => ") AS p99",
            });
        }
        let rows = self.rows(&sql).await?;
        let Some(row) = rows.first() else {
            return Ok(LatencyPercentiles::default());
        };
        Ok(LatencyPercentiles {
            p50: row.try_get::<Option<i64>>("", "p50")?.unwrap_or(0),
            p95: row.try_get::<Option<i64>>("", "p95")?.unwrap_or(0),
            p99: row.try_get::<Option<i64>>("", "p99")?.unwrap_or(0),
        })
    }

    /// Steps, active sessions (a step or an `events` row in scope), events (findings or alerts)
    /// and the sessions they are in, in total and, when `key` names a grouping of the day units
    /// (day, tool, main model), per group: one pass over the day rollup each.
    async fn activity(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        events: Units,
        key: Option<ActivityKey>,
    ) -> Result<Denominators> {
        if days::serves(filter) {
            return self.activity_from_days(project, filter, events, key).await;
        }
        let key = key.map(ActivityKey::units_column);
        let counts = if events == Units::Findings {
            "CAST(COALESCE(SUM(u.steps), 0) AS BIGINT) AS n, \
             COUNT(DISTINCT CASE WHEN u.steps > 0 OR u.findings > 0 THEN u.session_id END) AS ns, \
             CAST(COALESCE(SUM(u.findings), 0) AS BIGINT) AS ne, \
             COUNT(DISTINCT CASE WHEN u.findings > 0 THEN u.session_id END) AS nes FROM"
        } else {
            "CAST(COALESCE(SUM(u.steps), 0) AS BIGINT) AS n, \
             COUNT(DISTINCT CASE WHEN u.steps > 0 OR u.alerts > 0 THEN u.session_id END) AS ns, \
             CAST(COALESCE(SUM(u.alerts), 0) AS BIGINT) AS ne, \
             COUNT(DISTINCT CASE WHEN u.alerts > 0 THEN u.session_id END) AS nes FROM"
        };
        let mut denominators = Denominators::default();
        let mut per_key_sql = self.sql();
        if let Some(key) = key {
            per_key_sql
                .push("SELECT ")
                .push(key)
                .push(" AS k, ")
                .push(counts);
            push_units(&mut per_key_sql, Units::Days, project, filter, false);
            per_key_sql.push(" GROUP BY ").push(key);
        }
        // A session active on several days counts once in the total. On SQLite the total folds
        // each session's units into one row first and counts sessions by summing 0/1 flags:
        // grouping by session reads the units in an index's order, where each `COUNT(DISTINCT …)`
        // builds a b-tree of every session (measured at a million steps: 25–35 % less time).
        // PostgreSQL's distinct counts are the faster form there (46–50 ms against 67 ms), and
        // per group, with small distinct sets, on both.
        let mut sql = self.sql();
        if sql.backend == DbBackend::Sqlite {
            let per_session = if events == Units::Findings {
                "CAST(SUM(u.steps) AS BIGINT) AS n, \
                 MAX(CASE WHEN u.steps > 0 OR u.findings > 0 THEN 1 ELSE 0 END) AS active, \
                 CAST(SUM(u.findings) AS BIGINT) AS ne, \
                 MAX(CASE WHEN u.findings > 0 THEN 1 ELSE 0 END) AS hit FROM"
            } else {
                "CAST(SUM(u.steps) AS BIGINT) AS n, \
                 MAX(CASE WHEN u.steps > 0 OR u.alerts > 0 THEN 1 ELSE 0 END) AS active, \
                 CAST(SUM(u.alerts) AS BIGINT) AS ne, \
                 MAX(CASE WHEN u.alerts > 0 THEN 1 ELSE 0 END) AS hit FROM"
            };
            sql.push(
                "SELECT CAST(COALESCE(SUM(p.n), 0) AS BIGINT) AS n, \
                 CAST(COALESCE(SUM(p.active), 0) AS BIGINT) AS ns, \
                 CAST(COALESCE(SUM(p.ne), 0) AS BIGINT) AS ne, \
                 CAST(COALESCE(SUM(p.hit), 0) AS BIGINT) AS nes FROM (SELECT ",
            )
            .push(per_session);
            push_units(&mut sql, Units::Days, project, filter, false);
            sql.push(" GROUP BY u.session_id) p");
        } else {
            sql.push("SELECT ").push(counts);
            push_units(&mut sql, Units::Days, project, filter, false);
        }
        let (per_key_rows, total_rows) =
            tokio::try_join!(self.rows_if(key.is_some(), &per_key_sql), self.rows(&sql))?;
        for row in per_key_rows {
            denominators
                .per_key
                .insert(group_key(&row)?, Activity::from_row(&row)?);
        }
        if let Some(row) = total_rows.first() {
            denominators.total = Activity::from_row(row)?;
        }
        Ok(denominators)
    }

    /// Findings or alerts and the sessions they are in, per `key` of the signal units.
    async fn signal_counts(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        units: Units,
        key: SignalKey,
    ) -> Result<Vec<SignalGroup>> {
        if days::serves(filter) {
            return self.signals_from_days(project, filter, units, key).await;
        }
        let mut sql = self.sql();
        sql.push("SELECT ").push(key.units_column()).push(
            " AS k, CAST(COALESCE(SUM(u.n), 0) AS BIGINT) AS n, \
             COUNT(DISTINCT u.session_id) AS ns FROM",
        );
        push_units(&mut sql, units, project, filter, false);
        sql.push(" GROUP BY ").push(key.units_column());
        let mut groups = Vec::new();
        for row in self.rows(&sql).await? {
            groups.push(SignalGroup {
                key: group_key(&row)?,
                events: row.try_get("", "n")?,
                sessions: row.try_get("", "ns")?,
            });
        }
        Ok(groups)
    }

    /// [`Lux::signal_counts`] when `wanted`, else none.
    async fn signal_counts_if(
        &self,
        wanted: bool,
        project: ProjectId,
        filter: &AnalyticsFilter,
        units: Units,
        key: SignalKey,
    ) -> Result<Vec<SignalGroup>> {
        if wanted {
            self.signal_counts(project, filter, units, key).await
        } else {
            Ok(Vec::new())
        }
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
        // The day units count findings per day, tool and main model themselves; other groupings
        // need the signal units, read at the same time.
        let (activity_key, signal_key) = match group_by {
            BiasGroup::BiasType => (None, SignalKey::Kind),
            BiasGroup::Severity => (None, SignalKey::Severity),
            BiasGroup::Detector => (None, SignalKey::Detector),
            BiasGroup::Day => (Some(ActivityKey::Day), SignalKey::Kind),
            BiasGroup::Model => (Some(ActivityKey::Model), SignalKey::Kind),
            BiasGroup::Tool => (Some(ActivityKey::Tool), SignalKey::Kind),
        };
        let per_group = activity_key.is_some();
        let (denominators, signals) = tokio::try_join!(
            self.activity(project, filter, Units::Findings, activity_key),
            self.signal_counts_if(!per_group, project, filter, Units::Findings, signal_key)
        )?;

        let mut rows = Vec::new();
        if per_group {
            for (key, activity) in &denominators.per_key {
                if activity.events > 0 {
                    rows.push(BiasRateRow::new(
                        key.clone(),
                        activity.events,
                        activity.affected,
                        activity.steps,
                        activity.sessions,
                    ));
                }
            }
        } else {
            for group in signals {
                let total = &denominators.total;
                rows.push(BiasRateRow::new(
                    group.key,
                    group.events,
                    group.sessions,
                    total.steps,
                    total.sessions,
                ));
            }
        }
        if group_by == BiasGroup::Day {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| b.findings.cmp(&a.findings).then_with(|| a.key.cmp(&b.key)));
        }
        let total = &denominators.total;
        Ok(BiasRateReport {
            group_by,
            rows,
            total: BiasRateRow::new(
                "all".to_owned(),
                total.events,
                total.affected,
                total.steps,
                total.sessions,
            ),
        })
    }

    /// Monitor alerts per 100 steps, the share of sessions affected and the severities, grouped.
    #[instrument(skip_all, fields(project = %project, group_by = ?group_by))]
    pub async fn analytics_monitor(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        group_by: MonitorGroup,
    ) -> Result<MonitorReport> {
        filter.check()?;
        let per_group = group_by == MonitorGroup::Day;
        let key = if per_group { "u.day" } else { "u.kind" };
        let denominators = self.activity(
            project,
            filter,
            Units::Alerts,
            per_group.then_some(ActivityKey::Day),
        );
        let sql = if days::serves(filter) {
            self.alert_severities_from_days(project, filter, per_group)
        } else {
            let mut sql = self.sql();
            sql.push("SELECT ")
                .push(key)
                .push(" AS k, u.severity AS sev, CAST(SUM(u.n) AS BIGINT) AS n FROM");
            push_units(&mut sql, Units::Alerts, project, filter, false);
            sql.push(" GROUP BY ").push(key).push(", u.severity");
            sql
        };
        let (denominators, severity_rows, signals) = tokio::try_join!(
            denominators,
            self.rows(&sql),
            self.signal_counts_if(!per_group, project, filter, Units::Alerts, SignalKey::Kind)
        )?;

        let mut severities: HashMap<String, SeverityCounts> = HashMap::new();
        for row in severity_rows {
            let severity: String = row.try_get("", "sev")?;
            let severity = severity.parse::<Severity>().map_err(|_| {
                Error::Storage(sea_orm::DbErr::Type(format!(
                    "stored alert severity {severity:?} is not a severity"
                )))
            })?;
            severities
                .entry(group_key(&row)?)
                .or_default()
                .add(severity, row.try_get("", "n")?);
        }

        // `(key, alerts, sessions with one, steps, active sessions)` per group.
        let mut groups = Vec::new();
        let total = &denominators.total;
        if per_group {
            for (key, activity) in &denominators.per_key {
                if activity.events > 0 {
                    groups.push((
                        key.clone(),
                        activity.events,
                        activity.affected,
                        activity.steps,
                        activity.sessions,
                    ));
                }
            }
        } else {
            for group in signals {
                groups.push((
                    group.key,
                    group.events,
                    group.sessions,
                    total.steps,
                    total.sessions,
                ));
            }
        }
        let mut rows = Vec::new();
        let mut all_severities = SeverityCounts::default();
        for (key, alerts, affected, steps, sessions) in groups {
            let by_severity = severities.get(&key).copied().unwrap_or_default();
            for (severity, n) in [
                (Severity::None, by_severity.none),
                (Severity::Low, by_severity.low),
                (Severity::Medium, by_severity.medium),
                (Severity::High, by_severity.high),
                (Severity::Critical, by_severity.critical),
            ] {
                all_severities.add(severity, n);
            }
            rows.push(MonitorRow::new(
                key,
                alerts,
                affected,
                steps,
                sessions,
                by_severity,
            ));
        }
        if group_by == MonitorGroup::Day {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| b.alerts.cmp(&a.alerts).then_with(|| a.key.cmp(&b.key)));
        }
        Ok(MonitorReport {
            group_by,
            rows,
            total: MonitorRow::new(
                "all".to_owned(),
                total.events,
                total.affected,
                total.steps,
                total.sessions,
                all_severities,
            ),
        })
    }

    /// Cost, speed and reliability advice drawn from the project's own usage; see the constants
    /// for the rules.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn analytics_recommendations(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
    ) -> Result<RecommendationReport> {
        filter.check()?;
        self.recommend(project, filter, self.analytics_models(project, filter))
            .await
    }

    /// [`Lux::analytics_recommendations`] from `models`, the [`Lux::analytics_models`] report of
    /// the same project and filter already in hand: a page showing both reads the models, most
    /// of the work, once.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn analytics_recommendations_from(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        models: &[ModelStats],
    ) -> Result<RecommendationReport> {
        filter.check()?;
        self.recommend(project, filter, async { Ok(models.to_vec()) })
            .await
    }

    /// The advice, with the models report read concurrently with the rest.
    async fn recommend(
        &self,
        project: ProjectId,
        filter: &AnalyticsFilter,
        models: impl Future<Output = Result<Vec<ModelStats>>>,
    ) -> Result<RecommendationReport> {
        let now = self.now();
        let period_end = filter.until.map_or(now, |until| until.min(now));
        let from_days = days::serves(filter);
        let mut first_day_sql = self.sql();
        first_day_sql.push("SELECT MIN(u.day) AS day FROM");
        days::push_calls(
            &mut first_day_sql,
            project,
            filter,
            from_days,
            CallsKey::Any,
        );
        // The provider a model is mostly called through decides the price it would be charged.
        let mut providers_sql = self.sql();
        providers_sql
            .push("SELECT u.model AS k, u.provider AS p, CAST(SUM(u.calls) AS BIGINT) AS n FROM");
        days::push_calls(
            &mut providers_sql,
            project,
            filter,
            from_days,
            CallsKey::Route,
        );
        providers_sql.push(" GROUP BY u.model, u.provider ORDER BY n DESC, u.provider");
        let (models, first_day_rows, provider_rows, prices) = tokio::try_join!(
            models,
            self.rows(&first_day_sql),
            self.rows(&providers_sql),
            self.list_prices()
        )?;
        if models.is_empty() {
            return Ok(RecommendationReport {
                period_start: filter.since,
                period_end,
                items: Vec::new(),
            });
        }
        let first_day = match first_day_rows.first() {
            Some(row) => row
                .try_get::<Option<String>>("", "day")?
                .map(|day| parse_day(&day))
                .transpose()?,
            None => None,
        };
        let period_start = filter
            .since
            .or_else(|| first_day.and_then(|day| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc())));

        // Like is compared with like: a model's p95 against the typical model's p95.
        let mut p95s: Vec<i64> = models
            .iter()
            .filter(|stats| stats.model_calls >= MIN_CALLS_TO_JUDGE)
            .map(|stats| stats.latency_ms.p95)
            .collect();
        p95s.sort_unstable();
        let median_p95 = match usize::try_from(percentile_rank(50, p95s.len() as i64)) {
            Ok(rank @ 1..) => p95s[rank - 1],
            _ => 0,
        };

        let mut providers: HashMap<String, String> = HashMap::new();
        for row in provider_rows {
            let model: String = row.try_get("", "k")?;
            providers.entry(model).or_insert(row.try_get("", "p")?);
        }
        let prices = PriceTable::from_stored(prices);
        let price_now = |model: &str| {
            let provider = providers.get(model)?;
            prices
                .price_for(provider, model, now)
                .map(|(_, price)| price)
        };
        let period_seconds = period_start
            .map_or(0, |start| (period_end - start).num_seconds())
            .max(SECONDS_PER_DAY);

        let mut switches = Vec::new();
        for pricier in &models {
            let mut best: Option<(NanoUsd, NanoUsd, &ModelStats)> = None;
            for cheaper in &models {
                if cheaper.model == pricier.model || !comparable(pricier, cheaper) {
                    continue;
                }
                let Some(price) = price_now(&cheaper.model) else {
                    continue;
                };
                let usage = TokenUsage {
                    input_tokens: pricier.tokens.input,
                    output_tokens: pricier.tokens.output,
                    cached_input_tokens: pricier.tokens.cached_input,
                    reasoning_tokens: pricier.tokens.reasoning,
                };
                let Ok(repriced) = compute_cost(price, &usage) else {
                    continue;
                };
                let saving = NanoUsd(pricier.cost.0.saturating_sub(repriced.0));
                if saving.0 > 0 && best.is_none_or(|(best_saving, _, _)| saving > best_saving) {
                    best = Some((saving, repriced, cheaper));
                }
            }
            if let Some((saving, repriced, cheaper)) = best {
                let monthly = i128::from(saving.0) * i128::from(SECONDS_PER_DAY) * 30
                    / i128::from(period_seconds);
                let monthly = NanoUsd(i64::try_from(monthly).unwrap_or(i64::MAX));
                switches.push(Recommendation {
                    kind: RecommendationKind::SwitchModel,
                    model: pricier.model.clone(),
                    alternative: Some(cheaper.model.clone()),
                    reason: format!(
                        "{} reached mean step confidence {} and {:.1} findings per 100 steps \
                         (vs {} and {:.1} for {}) at a lower price: about {} a month saved",
                        cheaper.model,
                        confidence_text(cheaper.mean_step_confidence),
                        cheaper.findings_per_100_steps,
                        confidence_text(pricier.mean_step_confidence),
                        pricier.findings_per_100_steps,
                        pricier.model,
                        monthly,
                    ),
                    evidence: RecommendationEvidence {
                        model: pricier.clone(),
                        alternative: Some(cheaper.clone()),
                        project_median_p95_ms: median_p95,
                        repriced_cost: Some(repriced),
                    },
                    saving: Some(saving),
                    monthly_saving: Some(monthly),
                });
            }
        }
        switches.sort_by(|a, b| b.saving.cmp(&a.saving).then_with(|| a.model.cmp(&b.model)));

        let evidence = |stats: &ModelStats| RecommendationEvidence {
            model: stats.clone(),
            alternative: None,
            project_median_p95_ms: median_p95,
            repriced_cost: None,
        };
        let mut failing = Vec::new();
        let mut slow = Vec::new();
        for stats in &models {
            if stats.model_calls < MIN_CALLS_TO_JUDGE {
                continue;
            }
            if stats.error_rate > FAILING_ERROR_RATE {
                failing.push(Recommendation {
                    kind: RecommendationKind::FailingModel,
                    model: stats.model.clone(),
                    alternative: None,
                    evidence: evidence(stats),
                    saving: None,
                    monthly_saving: None,
                    reason: format!(
                        "{} failed {} of {} calls ({:.1}%): check its provider, limits and timeouts",
                        stats.model,
                        stats.failed_calls,
                        stats.model_calls,
                        stats.error_rate * 100.0
                    ),
                });
            }
            if median_p95 > 0 && stats.latency_ms.p95 > SLOW_P95_FACTOR * median_p95 {
                slow.push(Recommendation {
                    kind: RecommendationKind::SlowModel,
                    model: stats.model.clone(),
                    alternative: None,
                    evidence: evidence(stats),
                    saving: None,
                    monthly_saving: None,
                    reason: format!(
                        "{}'s p95 latency is {} ms, {:.1}× the median model's p95 ({} ms)",
                        stats.model,
                        stats.latency_ms.p95,
                        stats.latency_ms.p95 as f64 / median_p95 as f64,
                        median_p95
                    ),
                });
            }
        }
        let mut items = switches;
        items.extend(failing);
        items.extend(slow);
        Ok(RecommendationReport {
            period_start,
            period_end,
            items,
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
        .push(RAW_CALL_SUMS)
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

/// What a rate divides and is divided by, for one group or in total.
#[derive(Debug, Default, Clone, Copy)]
struct Activity {
    steps: i64,
    /// Sessions with a step or an event in scope.
    sessions: i64,
    /// Findings or alerts.
    events: i64,
    /// Sessions with an event in scope.
    affected: i64,
}

impl Activity {
    /// The columns `n` (steps), `ns` (sessions), `ne` (events) and `nes` (affected) of `row`.
    fn from_row(row: &QueryResult) -> Result<Activity> {
        Ok(Activity {
            steps: row.try_get("", "n")?,
            sessions: row.try_get("", "ns")?,
            events: row.try_get("", "ne")?,
            affected: row.try_get("", "nes")?,
        })
    }

    fn add(&mut self, other: &Activity) {
        self.steps += other.steps;
        self.sessions += other.sessions;
        self.events += other.events;
        self.affected += other.affected;
    }
}

/// [`Activity`] per group key and in total.
#[derive(Debug, Default)]
struct Denominators {
    per_key: HashMap<String, Activity>,
    total: Activity,
}

/// A group's key `k`; a missing one (a session without a main model) is [`NO_MODEL_KEY`].
fn group_key(row: &QueryResult) -> Result<String> {
    Ok(row
        .try_get::<Option<String>>("", "k")?
        .unwrap_or_else(|| NO_MODEL_KEY.to_owned()))
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
