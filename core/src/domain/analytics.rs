//! Analytics figures: what the overview, cost, model, bias-rate, monitor, recommendation and
//! session-summary reports contain.
//!
//! Counts and money are integers summed by the database; rates are computed from those integers
//! in Rust, so both backends give the same figures bit for bit.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::SessionId;
use super::session::SessionStatus;
use crate::error::{Error, Result};
use crate::pricing::NanoUsd;

/// Which records a report covers; all given filters must match.
///
/// `since`/`until` bound the `created_at` of each counted record (a step by its own time, a
/// model call by its own time…), so a report over a day counts what happened that day even in a
/// session that began earlier. `tool` and `user_id` are the session's. `model` matches a model
/// call's own model; for every other record it matches the session like the session list does
/// (the session's main model, or any of its calls).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsFilter {
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
}

impl AnalyticsFilter {
    /// Refuses inverted ranges and keys that can never match stored text.
    pub(crate) fn check(&self) -> Result<()> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && until < since
        {
            return Err(Error::invalid("until", "is before since"));
        }
        for (field, value) in [
            ("tool", &self.tool),
            ("model", &self.model),
            ("user_id", &self.user_id),
        ] {
            if let Some(value) = value
                && (value.contains('\0') || value.len() > super::values::MAX_LABEL_BYTES)
            {
                return Err(Error::invalid(
                    field,
                    "must be at most 256 bytes without NUL characters",
                ));
            }
        }
        Ok(())
    }
}

/// Token sums, each a typed column of `model_calls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotals {
    pub input: i64,
    pub output: i64,
    pub cached_input: i64,
    pub reasoning: i64,
}

/// What happened in one period (or in the whole range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCounts {
    /// Sessions created.
    pub sessions: i64,
    pub steps: i64,
    pub model_calls: i64,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
    pub findings: i64,
    /// Monitor events of every kind.
    pub alerts: i64,
}

impl ActivityCounts {
    /// Adds `other`'s counts: periods that do not overlap add up to their union.
    pub fn add(&mut self, other: &ActivityCounts) {
        self.sessions += other.sessions;
        self.steps += other.steps;
        self.model_calls += other.model_calls;
        self.tokens.input += other.tokens.input;
        self.tokens.output += other.tokens.output;
        self.tokens.cached_input += other.tokens.cached_input;
        self.tokens.reasoning += other.tokens.reasoning;
        self.cost = NanoUsd(self.cost.0.saturating_add(other.cost.0));
        self.findings += other.findings;
        self.alerts += other.alerts;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyActivity {
    /// The UTC day.
    pub day: NaiveDate,
    pub counts: ActivityCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub totals: ActivityCounts,
    /// One entry per UTC day with any activity, oldest first; days without any are left out.
    pub series: Vec<DailyActivity>,
}

/// How cost is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostGroup {
    Model,
    Day,
    Tool,
    User,
    Session,
    /// The project: API keys are scoped to one project, so this is the caller's project as one
    /// row (none without calls), keyed by its id.
    Project,
}

/// The cost of one group. `key` is the model, the `YYYY-MM-DD` day, the tool, the user id, the
/// session id or the project id; `None` for calls of sessions without a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostRow {
    pub key: Option<String>,
    pub model_calls: i64,
    /// Distinct sessions the calls belong to.
    pub sessions: i64,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostReport {
    pub group_by: CostGroup,
    /// By cost, highest first (by day: oldest first), at most `limit` rows.
    pub rows: Vec<CostRow>,
    /// Over every call in scope, including groups beyond the limit.
    pub total: CostRow,
}

/// Nearest-rank percentiles of call latency in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyPercentiles {
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    pub model_calls: i64,
    /// Calls with status `error` or `timeout`.
    pub failed_calls: i64,
    /// `failed_calls / model_calls`.
    pub error_rate: f64,
    /// Over calls of every status.
    pub latency_ms: LatencyPercentiles,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
    /// Steps in scope of the sessions using the model (its main model, or any call to it), whoever
    /// wrote them: the reasoning the model took part in.
    pub steps: i64,
    /// Findings in scope of those sessions.
    pub findings: i64,
    /// Mean confidence of those steps that state one; `None` when none does.
    pub mean_step_confidence: Option<f64>,
    /// `findings * 100 / steps`; 0 without steps.
    pub findings_per_100_steps: f64,
}

/// How bias findings are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasGroup {
    BiasType,
    Severity,
    Detector,
    Day,
    /// The session's main model (`sessions.model`: given by the caller, or else the model of its
    /// first call); sessions without one are keyed [`NO_MODEL_KEY`].
    Model,
    /// The session's tool.
    Tool,
}

/// The key of sessions without a main model when bias rates are grouped by model.
pub const NO_MODEL_KEY: &str = "(none)";

/// Bias findings of one group, against the steps and sessions they could have been found in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasRateRow {
    /// The bias type, severity, detector, `YYYY-MM-DD` day, model or tool.
    pub key: String,
    pub findings: i64,
    /// Distinct sessions with at least one finding of the group.
    pub sessions_affected: i64,
    /// Steps in scope (for `day`, `model` and `tool`: steps of that day, model or tool).
    pub steps: i64,
    /// Sessions with a step or a finding in scope (for `day`, `model` and `tool`: of the group).
    pub sessions: i64,
    /// `findings * 100 / steps`; 0 without steps.
    pub findings_per_100_steps: f64,
    /// `sessions_affected / sessions`; 0 without sessions.
    pub session_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasRateReport {
    pub group_by: BiasGroup,
    /// By findings, most first (by day: oldest first).
    pub rows: Vec<BiasRateRow>,
    /// Every finding in scope, keyed `all`.
    pub total: BiasRateRow,
}

impl BiasRateRow {
    pub(crate) fn new(
        key: String,
        findings: i64,
        sessions_affected: i64,
        steps: i64,
        sessions: i64,
    ) -> Self {
        BiasRateRow {
            key,
            findings,
            sessions_affected,
            steps,
            sessions,
            findings_per_100_steps: ratio(findings * 100, steps),
            session_share: ratio(sessions_affected, sessions),
        }
    }
}

/// How monitor alerts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorGroup {
    /// `circular_reasoning`, `distractor_fixation`, `quality_degradation`, …
    Kind,
    Day,
}

/// Alerts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub none: i64,
    pub low: i64,
    pub medium: i64,
    pub high: i64,
    pub critical: i64,
}

impl SeverityCounts {
    pub(crate) fn add(&mut self, severity: super::finding::Severity, n: i64) {
        use super::finding::Severity;
        let slot = match severity {
            Severity::None => &mut self.none,
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        };
        *slot += n;
    }
}

/// Monitor alerts of one group, against the steps and sessions they could have been raised in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorRow {
    /// The alert kind or `YYYY-MM-DD` day; `all` on the total.
    pub key: String,
    pub alerts: i64,
    /// Distinct sessions with at least one alert of the group.
    pub sessions_affected: i64,
    /// Steps in scope (for `day`: steps of that day).
    pub steps: i64,
    /// Sessions with a step or an alert in scope (for `day`: on that day).
    pub sessions: i64,
    /// `alerts * 100 / steps`; 0 without steps.
    pub alerts_per_100_steps: f64,
    /// `sessions_affected / sessions`; 0 without sessions.
    pub session_share: f64,
    pub by_severity: SeverityCounts,
}

impl MonitorRow {
    pub(crate) fn new(
        key: String,
        alerts: i64,
        sessions_affected: i64,
        steps: i64,
        sessions: i64,
        by_severity: SeverityCounts,
    ) -> Self {
        MonitorRow {
            key,
            alerts,
            sessions_affected,
            steps,
            sessions,
            alerts_per_100_steps: ratio(alerts * 100, steps),
            session_share: ratio(sessions_affected, sessions),
            by_severity,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    pub group_by: MonitorGroup,
    /// By alerts, most first (by day: oldest first).
    pub rows: Vec<MonitorRow>,
    /// Every alert in scope, keyed `all`.
    pub total: MonitorRow,
}

/// What a recommendation advises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    /// A cheaper model reached similar confidence and a similar or lower bias rate.
    SwitchModel,
    /// The model's p95 latency is far above the typical model's.
    SlowModel,
    /// The model's calls fail too often.
    FailingModel,
}

/// The figures a recommendation rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationEvidence {
    /// The model the advice is about, as `/analytics/models` reports it.
    pub model: ModelStats,
    /// The cheaper model to switch to.
    pub alternative: Option<ModelStats>,
    /// Nearest-rank median of the p95 latencies of the models in scope with enough calls to judge.
    pub project_median_p95_ms: i64,
    /// The model's tokens in scope priced at the alternative's price in force now.
    pub repriced_cost: Option<NanoUsd>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    pub model: String,
    /// The model to switch to (`switch_model` only).
    pub alternative: Option<String>,
    pub evidence: RecommendationEvidence,
    /// `model.cost - repriced_cost` over the period (`switch_model` only).
    pub saving: Option<NanoUsd>,
    /// `saving` scaled to 30 days of the period's usage (`switch_model` only).
    pub monthly_saving: Option<NanoUsd>,
    /// One line for a human.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationReport {
    /// `since`, or else the UTC midnight starting the day of the first call in scope.
    pub period_start: Option<DateTime<Utc>>,
    /// `until` or now, whichever is earlier.
    pub period_end: DateTime<Utc>,
    /// Switches by saving (largest first), then failing, then slow models.
    pub items: Vec<Recommendation>,
}

/// `numerator / denominator`, 0 for an empty denominator.
pub(crate) fn ratio(numerator: i64, denominator: i64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Where a session's final confidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceSource {
    /// The newest synthesis version.
    Synthesis,
    /// The last step that stated one.
    Step,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: SessionId,
    pub status: SessionStatus,
    pub steps: i64,
    pub synthesis_versions: i64,
    pub model_calls: i64,
    pub failed_calls: i64,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
    pub findings: i64,
    pub alerts: i64,
    pub created_at: DateTime<Utc>,
    /// `completed_at` when the session has ended, or else its last step's time (or else `created_at`).
    pub ended_at: DateTime<Utc>,
    /// `ended_at - created_at` in milliseconds, never negative.
    pub duration_ms: i64,
    /// The newest synthesis version's confidence, or else the last step's that stated one.
    pub final_confidence: Option<f64>,
    pub confidence_source: Option<ConfidenceSource>,
}
