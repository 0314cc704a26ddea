//! `/analytics/*`, `/sessions/{id}/summary` and `/search`: read-only reports over a project's history.

use chrono::{DateTime, NaiveDate, Utc};
use lux_core::services::api_keys::Scope;
use lux_core::*;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::dto::SessionStatusDto;
use super::error::ApiResult;
use super::limit::{Limit, asked};

pub(crate) struct AnalyticsApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

// ---- wire shapes ------------------------------------------------------------------------------

/// Token sums.
#[derive(Debug, Clone, Object)]
pub(crate) struct TokensDto {
    pub(crate) input: i64,
    pub(crate) output: i64,
    /// Part of `input` served from a prompt cache.
    pub(crate) cached_input: i64,
    pub(crate) reasoning: i64,
}

impl From<TokenTotals> for TokensDto {
    fn from(tokens: TokenTotals) -> Self {
        TokensDto {
            input: tokens.input,
            output: tokens.output,
            cached_input: tokens.cached_input,
            reasoning: tokens.reasoning,
        }
    }
}

/// What happened in a period.
#[derive(Debug, Clone, Object)]
pub(crate) struct ActivityDto {
    /// Sessions created.
    pub(crate) sessions: i64,
    pub(crate) steps: i64,
    pub(crate) model_calls: i64,
    pub(crate) tokens: TokensDto,
    /// Cost in nano-USD (1 USD = 1,000,000,000), exact.
    pub(crate) cost_nusd: i64,
    pub(crate) findings: i64,
    /// Monitor events of every kind.
    pub(crate) alerts: i64,
}

impl From<ActivityCounts> for ActivityDto {
    fn from(counts: ActivityCounts) -> Self {
        ActivityDto {
            sessions: counts.sessions,
            steps: counts.steps,
            model_calls: counts.model_calls,
            tokens: counts.tokens.into(),
            cost_nusd: counts.cost.0,
            findings: counts.findings,
            alerts: counts.alerts,
        }
    }
}

/// Activity of one UTC day.
#[derive(Debug, Clone, Object)]
pub(crate) struct DailyActivityDto {
    pub(crate) day: NaiveDate,
    #[oai(flatten)]
    pub(crate) counts: ActivityDto,
}

/// Totals over the range, and one entry per UTC day with activity (oldest first).
#[derive(Debug, Clone, Object)]
pub(crate) struct OverviewDto {
    pub(crate) totals: ActivityDto,
    pub(crate) series: Vec<DailyActivityDto>,
}

impl From<Overview> for OverviewDto {
    fn from(overview: Overview) -> Self {
        OverviewDto {
            totals: overview.totals.into(),
            series: overview
                .series
                .into_iter()
                .map(|day| DailyActivityDto {
                    day: day.day,
                    counts: day.counts.into(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum CostGroupDto {
    Model,
    Day,
    Tool,
    User,
    Session,
    /// The caller's project (keys are scoped to one): one row, the total.
    Project,
}

impl From<CostGroupDto> for CostGroup {
    fn from(group: CostGroupDto) -> Self {
        match group {
            CostGroupDto::Model => CostGroup::Model,
            CostGroupDto::Day => CostGroup::Day,
            CostGroupDto::Tool => CostGroup::Tool,
            CostGroupDto::User => CostGroup::User,
            CostGroupDto::Session => CostGroup::Session,
            CostGroupDto::Project => CostGroup::Project,
        }
    }
}

impl From<CostGroup> for CostGroupDto {
    fn from(group: CostGroup) -> Self {
        match group {
            CostGroup::Model => CostGroupDto::Model,
            CostGroup::Day => CostGroupDto::Day,
            CostGroup::Tool => CostGroupDto::Tool,
            CostGroup::User => CostGroupDto::User,
            CostGroup::Session => CostGroupDto::Session,
            CostGroup::Project => CostGroupDto::Project,
        }
    }
}

/// The model calls of one group.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CostRowDto {
    /// The model, `YYYY-MM-DD` day, tool, user id or session id; absent for sessions without a
    /// user, and on the total.
    pub(crate) key: Option<String>,
    pub(crate) model_calls: i64,
    /// Distinct sessions the calls belong to.
    pub(crate) sessions: i64,
    pub(crate) tokens: TokensDto,
    /// Cost in nano-USD, exact.
    pub(crate) cost_nusd: i64,
}

impl From<CostRow> for CostRowDto {
    fn from(row: CostRow) -> Self {
        CostRowDto {
            key: row.key,
            model_calls: row.model_calls,
            sessions: row.sessions,
            tokens: row.tokens.into(),
            cost_nusd: row.cost.0,
        }
    }
}

/// Cost by group: costliest first (by day: oldest first, the most recent `limit` days).
#[derive(Debug, Clone, Object)]
pub(crate) struct CostReportDto {
    pub(crate) group_by: CostGroupDto,
    pub(crate) rows: Vec<CostRowDto>,
    /// Every call in scope, including groups beyond the limit.
    pub(crate) total: CostRowDto,
}

impl From<CostReport> for CostReportDto {
    fn from(report: CostReport) -> Self {
        CostReportDto {
            group_by: report.group_by.into(),
            rows: report.rows.into_iter().map(Into::into).collect(),
            total: report.total.into(),
        }
    }
}

/// Nearest-rank latency percentiles in milliseconds, over calls of every status.
#[derive(Debug, Clone, Object)]
pub(crate) struct LatencyDto {
    pub(crate) p50: i64,
    pub(crate) p95: i64,
    pub(crate) p99: i64,
}

/// Performance and cost of one model.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ModelStatsDto {
    pub(crate) model: String,
    pub(crate) model_calls: i64,
    /// Calls with status `error` or `timeout`.
    pub(crate) failed_calls: i64,
    /// `failed_calls / model_calls`.
    pub(crate) error_rate: f64,
    pub(crate) latency_ms: LatencyDto,
    pub(crate) tokens: TokensDto,
    /// Cost in nano-USD, exact.
    pub(crate) cost_nusd: i64,
    /// Steps in scope of the sessions using the model (its main model or any call to it),
    /// whoever wrote them.
    pub(crate) steps: i64,
    /// Findings in scope of those sessions.
    pub(crate) findings: i64,
    /// Mean confidence of those steps that state one; absent when none does.
    pub(crate) mean_step_confidence: Option<f64>,
    /// The bias rate of those sessions: `findings * 100 / steps`.
    pub(crate) findings_per_100_steps: f64,
}

impl From<ModelStats> for ModelStatsDto {
    fn from(stats: ModelStats) -> Self {
        ModelStatsDto {
            model: stats.model,
            model_calls: stats.model_calls,
            failed_calls: stats.failed_calls,
            error_rate: stats.error_rate,
            latency_ms: LatencyDto {
                p50: stats.latency_ms.p50,
                p95: stats.latency_ms.p95,
                p99: stats.latency_ms.p99,
            },
            tokens: stats.tokens.into(),
            cost_nusd: stats.cost.0,
            steps: stats.steps,
            findings: stats.findings,
            mean_step_confidence: stats.mean_step_confidence,
            findings_per_100_steps: stats.findings_per_100_steps,
        }
    }
}

/// Models, most used first.
#[derive(Debug, Clone, Object)]
pub(crate) struct ModelStatsList {
    pub(crate) items: Vec<ModelStatsDto>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum BiasGroupDto {
    BiasType,
    Severity,
    Detector,
    Day,
    /// The session's main model; sessions without one are keyed `(none)`.
    Model,
    /// The session's tool.
    Tool,
}

impl From<BiasGroupDto> for BiasGroup {
    fn from(group: BiasGroupDto) -> Self {
        match group {
            BiasGroupDto::BiasType => BiasGroup::BiasType,
            BiasGroupDto::Severity => BiasGroup::Severity,
            BiasGroupDto::Detector => BiasGroup::Detector,
            BiasGroupDto::Day => BiasGroup::Day,
            BiasGroupDto::Model => BiasGroup::Model,
            BiasGroupDto::Tool => BiasGroup::Tool,
        }
    }
}

impl From<BiasGroup> for BiasGroupDto {
    fn from(group: BiasGroup) -> Self {
        match group {
            BiasGroup::BiasType => BiasGroupDto::BiasType,
            BiasGroup::Severity => BiasGroupDto::Severity,
            BiasGroup::Detector => BiasGroupDto::Detector,
            BiasGroup::Day => BiasGroupDto::Day,
            BiasGroup::Model => BiasGroupDto::Model,
            BiasGroup::Tool => BiasGroupDto::Tool,
        }
    }
}

/// Bias findings of one group against the steps and sessions in scope.
#[derive(Debug, Clone, Object)]
pub(crate) struct BiasRateRowDto {
    /// The bias type, severity, detector, `YYYY-MM-DD` day, model or tool; `all` on the total.
    pub(crate) key: String,
    pub(crate) findings: i64,
    /// Distinct sessions with a finding of this group.
    pub(crate) sessions_affected: i64,
    /// Steps in scope (by day, model or tool: of that group).
    pub(crate) steps: i64,
    /// Sessions with a step or finding in scope (by day, model or tool: of that group).
    pub(crate) sessions: i64,
    pub(crate) findings_per_100_steps: f64,
    /// `sessions_affected / sessions`.
    pub(crate) session_share: f64,
}

impl From<BiasRateRow> for BiasRateRowDto {
    fn from(row: BiasRateRow) -> Self {
        BiasRateRowDto {
            key: row.key,
            findings: row.findings,
            sessions_affected: row.sessions_affected,
            steps: row.steps,
            sessions: row.sessions,
            findings_per_100_steps: row.findings_per_100_steps,
            session_share: row.session_share,
        }
    }
}

/// Bias rates by group: most findings first (by day: oldest first).
#[derive(Debug, Clone, Object)]
pub(crate) struct BiasRateReportDto {
    pub(crate) group_by: BiasGroupDto,
    pub(crate) rows: Vec<BiasRateRowDto>,
    pub(crate) total: BiasRateRowDto,
}

impl From<BiasRateReport> for BiasRateReportDto {
    fn from(report: BiasRateReport) -> Self {
        BiasRateReportDto {
            group_by: report.group_by.into(),
            rows: report.rows.into_iter().map(Into::into).collect(),
            total: report.total.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum MonitorGroupDto {
    /// The alert kind (`circular_reasoning`, `distractor_fixation`, …).
    Kind,
    Day,
}

impl From<MonitorGroupDto> for MonitorGroup {
    fn from(group: MonitorGroupDto) -> Self {
        match group {
            MonitorGroupDto::Kind => MonitorGroup::Kind,
            MonitorGroupDto::Day => MonitorGroup::Day,
        }
    }
}

/// Alerts per severity.
#[derive(Debug, Clone, Object)]
pub(crate) struct SeverityCountsDto {
    pub(crate) none: i64,
    pub(crate) low: i64,
    pub(crate) medium: i64,
    pub(crate) high: i64,
    pub(crate) critical: i64,
}

/// Monitor alerts of one group against the steps and sessions in scope.
#[derive(Debug, Clone, Object)]
pub(crate) struct MonitorRowDto {
    /// The alert kind or `YYYY-MM-DD` day; `all` on the total.
    pub(crate) key: String,
    pub(crate) alerts: i64,
    /// Distinct sessions with an alert of this group.
    pub(crate) sessions_affected: i64,
    /// Steps in scope (by day: of that day).
    pub(crate) steps: i64,
    /// Sessions with a step or alert in scope (by day: on that day).
    pub(crate) sessions: i64,
    pub(crate) alerts_per_100_steps: f64,
    /// `sessions_affected / sessions`.
    pub(crate) session_share: f64,
    pub(crate) by_severity: SeverityCountsDto,
}

impl From<MonitorRow> for MonitorRowDto {
    fn from(row: MonitorRow) -> Self {
        let severity = row.by_severity;
        MonitorRowDto {
            key: row.key,
            alerts: row.alerts,
            sessions_affected: row.sessions_affected,
            steps: row.steps,
            sessions: row.sessions,
            alerts_per_100_steps: row.alerts_per_100_steps,
            session_share: row.session_share,
            by_severity: SeverityCountsDto {
                none: severity.none,
                low: severity.low,
                medium: severity.medium,
                high: severity.high,
                critical: severity.critical,
            },
        }
    }
}

/// Monitor alerts by group: most alerts first (by day: oldest first).
#[derive(Debug, Clone, Object)]
pub(crate) struct MonitorReportDto {
    pub(crate) group_by: MonitorGroupDto,
    pub(crate) rows: Vec<MonitorRowDto>,
    pub(crate) total: MonitorRowDto,
}

impl From<MonitorReport> for MonitorReportDto {
    fn from(report: MonitorReport) -> Self {
        MonitorReportDto {
            group_by: match report.group_by {
                MonitorGroup::Kind => MonitorGroupDto::Kind,
                MonitorGroup::Day => MonitorGroupDto::Day,
            },
            rows: report.rows.into_iter().map(Into::into).collect(),
            total: report.total.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
// `switch_model`, `slow_model`, `failing_model` read best whole on the wire.
#[allow(clippy::enum_variant_names)]
pub(crate) enum RecommendationKindDto {
    /// A cheaper model's sessions reached similar confidence and a similar or lower bias rate.
    SwitchModel,
    /// The model's p95 latency is more than 2× the median of the models' p95 latencies.
    SlowModel,
    /// More than 10% of the model's calls failed.
    FailingModel,
}

/// The figures a recommendation rests on.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecommendationEvidenceDto {
    /// The model the advice is about, as `/analytics/models` reports it.
    pub(crate) model: ModelStatsDto,
    /// The cheaper model to switch to.
    pub(crate) alternative: Option<ModelStatsDto>,
    /// Nearest-rank median of the p95 latencies of the models in scope with at least 10 calls.
    pub(crate) project_median_p95_ms: i64,
    /// The model's tokens in scope priced at the alternative's price in force now, in nano-USD.
    pub(crate) repriced_cost_nusd: Option<i64>,
}

/// One piece of advice.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecommendationDto {
    pub(crate) kind: RecommendationKindDto,
    pub(crate) model: String,
    /// The model to switch to (`switch_model` only).
    pub(crate) alternative: Option<String>,
    pub(crate) evidence: RecommendationEvidenceDto,
    /// `model.cost_nusd - repriced_cost_nusd`: what the period would have cost less, in nano-USD.
    pub(crate) saving_nusd: Option<i64>,
    /// The saving scaled to 30 days of the period's usage, in nano-USD.
    pub(crate) monthly_saving_nusd: Option<i64>,
    /// One line for a human.
    pub(crate) reason: String,
}

impl From<Recommendation> for RecommendationDto {
    fn from(item: Recommendation) -> Self {
        RecommendationDto {
            kind: match item.kind {
                RecommendationKind::SwitchModel => RecommendationKindDto::SwitchModel,
                RecommendationKind::SlowModel => RecommendationKindDto::SlowModel,
                RecommendationKind::FailingModel => RecommendationKindDto::FailingModel,
            },
            model: item.model,
            alternative: item.alternative,
            evidence: RecommendationEvidenceDto {
                model: item.evidence.model.into(),
                alternative: item.evidence.alternative.map(Into::into),
                project_median_p95_ms: item.evidence.project_median_p95_ms,
                repriced_cost_nusd: item.evidence.repriced_cost.map(|cost| cost.0),
            },
            saving_nusd: item.saving.map(|cost| cost.0),
            monthly_saving_nusd: item.monthly_saving.map(|cost| cost.0),
            reason: item.reason,
        }
    }
}

/// Recommendations over a period: switches by saving (largest first), then failing, then slow
/// models.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RecommendationReportDto {
    /// `since`, or else the UTC midnight of the first call's day; absent without calls.
    pub(crate) period_start: Option<DateTime<Utc>>,
    /// `until` or now, whichever is earlier.
    pub(crate) period_end: DateTime<Utc>,
    pub(crate) items: Vec<RecommendationDto>,
}

impl From<RecommendationReport> for RecommendationReportDto {
    fn from(report: RecommendationReport) -> Self {
        RecommendationReportDto {
            period_start: report.period_start,
            period_end: report.period_end,
            items: report.items.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ConfidenceSourceDto {
    Synthesis,
    Step,
}

/// The headline figures of one session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionSummaryDto {
    pub(crate) session_id: Uuid,
    pub(crate) status: SessionStatusDto,
    pub(crate) steps: i64,
    pub(crate) synthesis_versions: i64,
    pub(crate) model_calls: i64,
    pub(crate) failed_calls: i64,
    pub(crate) tokens: TokensDto,
    /// Cost in nano-USD, exact.
    pub(crate) cost_nusd: i64,
    pub(crate) findings: i64,
    pub(crate) alerts: i64,
    pub(crate) created_at: DateTime<Utc>,
    /// `completed_at` for an ended session, else the last step's time (else `created_at`).
    pub(crate) ended_at: DateTime<Utc>,
    pub(crate) duration_ms: i64,
    /// The newest synthesis version's confidence, else the last step's that stated one.
    pub(crate) final_confidence: Option<f64>,
    pub(crate) confidence_source: Option<ConfidenceSourceDto>,
}

impl From<SessionSummary> for SessionSummaryDto {
    fn from(summary: SessionSummary) -> Self {
        SessionSummaryDto {
            session_id: summary.session_id.0,
            status: summary.status.into(),
            steps: summary.steps,
            synthesis_versions: summary.synthesis_versions,
            model_calls: summary.model_calls,
            failed_calls: summary.failed_calls,
            tokens: summary.tokens.into(),
            cost_nusd: summary.cost.0,
            findings: summary.findings,
            alerts: summary.alerts,
            created_at: summary.created_at,
            ended_at: summary.ended_at,
            duration_ms: summary.duration_ms,
            final_confidence: summary.final_confidence,
            confidence_source: summary.confidence_source.map(|source| match source {
                ConfidenceSource::Synthesis => ConfidenceSourceDto::Synthesis,
                ConfidenceSource::Step => ConfidenceSourceDto::Step,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum SearchKindDto {
    /// A step's content.
    Step,
    /// A synthesis version's current understanding.
    Synthesis,
}

impl From<SearchKindDto> for SearchKind {
    fn from(kind: SearchKindDto) -> Self {
        match kind {
            SearchKindDto::Step => SearchKind::Step,
            SearchKindDto::Synthesis => SearchKind::Synthesis,
        }
    }
}

/// A step or synthesis version that matches.
#[derive(Debug, Clone, Object)]
pub(crate) struct SearchHitDto {
    pub(crate) session_id: Uuid,
    pub(crate) kind: SearchKindDto,
    /// The step's or synthesis version's id.
    pub(crate) id: Uuid,
    /// The step number or synthesis version.
    pub(crate) number: i32,
    /// An excerpt, HTML-escaped, with each match wrapped in `<mark>…</mark>`.
    pub(crate) snippet: String,
    /// Relevance, higher is better; comparable only within one response.
    pub(crate) rank: f64,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<SearchHit> for SearchHitDto {
    fn from(hit: SearchHit) -> Self {
        SearchHitDto {
            session_id: hit.session_id.0,
            kind: match hit.kind {
                SearchKind::Step => SearchKindDto::Step,
                SearchKind::Synthesis => SearchKindDto::Synthesis,
            },
            id: hit.id,
            number: hit.number,
            snippet: hit.snippet,
            rank: hit.rank,
            created_at: hit.created_at,
        }
    }
}

/// One page of hits, best first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SearchPage {
    pub(crate) items: Vec<SearchHitDto>,
    /// Pass as `cursor` for the next hits; absent when there are no more.
    pub(crate) next_cursor: Option<String>,
}

pub(crate) fn filter_of(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    tool: Option<String>,
    model: Option<String>,
    user_id: Option<String>,
) -> AnalyticsFilter {
    AnalyticsFilter {
        since,
        until,
        tool,
        model,
        user_id,
    }
}

/// A session id, or the caller's external id when it is not a UUID.
fn session_ref(id: &str) -> SessionRef {
    match id.parse::<SessionId>() {
        Ok(id) => SessionRef::Id(id),
        Err(_) => SessionRef::ExternalId(id.to_owned()),
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl AnalyticsApi {
    /// Activity overview
    ///
    /// Sessions, steps, model calls with tokens and cost, findings and alerts: totals over the
    /// range and one entry per UTC day. `since`/`until` bound each record's own time; `tool` and
    /// `user_id` are the session's; `model` is a call's model (for other records: the session's
    /// main model or any of its calls).
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/analytics/overview",
        method = "get",
        operation_id = "analyticsOverview",
        tag = "ApiTags::Analytics"
    )]
    async fn overview(
        &self,
        auth: Auth,
        /// At or after (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Before (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<OverviewDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let overview = self.lux.analytics_overview(caller.project, &filter).await?;
        Ok(Json(overview.into()))
    }

    /// Cost by group
    ///
    /// Model-call cost, tokens and counts grouped by `model` (default), `day`, `tool`, `user` or
    /// `session`, with the total over every call in scope. Filters as for the overview.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/analytics/costs",
        method = "get",
        operation_id = "analyticsCosts",
        tag = "ApiTags::Analytics"
    )]
    async fn costs(
        &self,
        auth: Auth,
        group_by: Query<Option<CostGroupDto>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
        /// Most groups returned, 1 to 1000, default 100.
        limit: Query<Option<Limit<{ lux_core::services::analytics::MAX_REPORT_ROWS }>>>,
    ) -> ApiResult<Json<CostReportDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let group_by = group_by.0.map_or(CostGroup::Model, Into::into);
        let report = self
            .lux
            .analytics_costs(caller.project, &filter, group_by, asked(limit.0))
            .await?;
        Ok(Json(report.into()))
    }

    /// Model performance
    ///
    /// Per model: calls, failures and error rate, latency p50/p95/p99, tokens and cost, and the
    /// mean step confidence and bias rate (findings per 100 steps) of the sessions using it (its
    /// main model, or any call to it). Filters as for the overview.
    #[oai(
        path = "/analytics/models",
        method = "get",
        operation_id = "analyticsModels",
        tag = "ApiTags::Analytics"
    )]
    async fn models(
        &self,
        auth: Auth,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<ModelStatsList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let models = self.lux.analytics_models(caller.project, &filter).await?;
        Ok(Json(ModelStatsList {
            items: models.into_iter().map(Into::into).collect(),
        }))
    }

    /// Bias rates
    ///
    /// Findings per 100 steps and the share of sessions affected, grouped by `bias_type`
    /// (default), `severity`, `detector`, `day`, `model` (the session's main model) or `tool`.
    /// By day, model and tool the steps and sessions counted are those of the group. Filters as
    /// for the overview.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/analytics/bias-rates",
        method = "get",
        operation_id = "analyticsBiasRates",
        tag = "ApiTags::Analytics"
    )]
    async fn bias_rates(
        &self,
        auth: Auth,
        group_by: Query<Option<BiasGroupDto>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<BiasRateReportDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let group_by = group_by.0.map_or(BiasGroup::BiasType, Into::into);
        let report = self
            .lux
            .analytics_bias_rates(caller.project, &filter, group_by)
            .await?;
        Ok(Json(report.into()))
    }

    /// Monitor alerts
    ///
    /// Monitor alerts, alerts per 100 steps, the share of sessions affected and the count per
    /// severity, grouped by `kind` (default) or `day`. Filters as for the overview.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/analytics/monitor",
        method = "get",
        operation_id = "analyticsMonitor",
        tag = "ApiTags::Analytics"
    )]
    async fn monitor(
        &self,
        auth: Auth,
        group_by: Query<Option<MonitorGroupDto>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<MonitorReportDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let group_by = group_by.0.map_or(MonitorGroup::Kind, Into::into);
        let report = self
            .lux
            .analytics_monitor(caller.project, &filter, group_by)
            .await?;
        Ok(Json(report.into()))
    }

    /// Recommendations
    ///
    /// Advice from the project's own usage. `switch_model`: for a model whose sessions' mean step
    /// confidence is at most 0.05 above a cheaper model's and whose bias rate is at most 1
    /// finding per 100 steps below it (each with at least 10 steps, the cheaper model failing no
    /// more often than it or than 10%), the saving is the model's real tokens in scope re-priced at the cheaper
    /// model's price in force now, subtracted from what they cost; only the largest saving per
    /// model is listed. `failing_model`: more than 10% of at least 10 calls failed.
    /// `slow_model`: p95 latency over 2× the median of the p95 latencies of the models with at
    /// least 10 calls. Filters as for the overview.
    #[oai(
        path = "/analytics/recommendations",
        method = "get",
        operation_id = "analyticsRecommendations",
        tag = "ApiTags::Analytics"
    )]
    async fn recommendations(
        &self,
        auth: Auth,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        tool: Query<Option<String>>,
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<RecommendationReportDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = filter_of(since.0, until.0, tool.0, model.0, user_id.0);
        let report = self
            .lux
            .analytics_recommendations(caller.project, &filter)
            .await?;
        Ok(Json(report.into()))
    }

    /// Session summary
    ///
    /// Steps, duration, tokens, cost, findings, alerts and final confidence of one session. `id`
    /// is the session's UUID or, when not a UUID, its `external_id`.
    #[oai(
        path = "/sessions/:id/summary",
        method = "get",
        operation_id = "getSessionSummary",
        tag = "ApiTags::Sessions"
    )]
    async fn session_summary(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<SessionSummaryDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let summary = self
            .lux
            .session_summary(caller.project, &session_ref(&id.0))
            .await?;
        Ok(Json(summary.into()))
    }

    /// Search steps and syntheses
    ///
    /// Full-text search over step content and synthesis understanding, best matches first. `q` is
    /// plain words, all of which must match (case-insensitive); quotes, `*`, `:`, `&|!`,
    /// parentheses and words such as `OR` or `NEAR` carry no special meaning. Words in scripts
    /// without spaces (Chinese, Japanese, Korean, Thai) match anywhere in the text. A query with
    /// no letters or digits is a 400.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/search",
        method = "get",
        operation_id = "search",
        tag = "ApiTags::Search"
    )]
    async fn search(
        &self,
        auth: Auth,
        /// The words to find (at most 1000 bytes, 32 words).
        q: Query<String>,
        kind: Query<Option<SearchKindDto>>,
        session_id: Query<Option<Uuid>>,
        /// The session's tool.
        tool: Query<Option<String>>,
        /// The session's user.
        user_id: Query<Option<String>>,
        /// Written at or after (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Written before (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// 1 to 100, default 20.
        limit: Query<Option<Limit<{ lux_core::services::search::MAX_SEARCH_LIMIT }>>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<SearchPage>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let filter = SearchFilter {
            kind: kind.0.map(Into::into),
            session_id: session_id.0.map(SessionId),
            tool: tool.0,
            user_id: user_id.0,
            since: since.0,
            until: until.0,
        };
        let page = PageRequest {
            limit: asked(limit.0),
            cursor: cursor.0,
        };
        let page = self
            .lux
            .search(caller.project, &q.0, &filter, &page)
            .await?;
        Ok(Json(SearchPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }
}
