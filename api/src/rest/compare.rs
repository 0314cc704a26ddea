//! `/compare`, `/sessions/{id}/synthesis/evolution` and `/sessions/{id}/synthesis/diff`: two
//! sessions side by side and a synthesis's history, as `lux_core`'s compare service answers them.

use chrono::{DateTime, Utc};
use lux_core::services::api_keys::Scope;
use lux_core::*;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::analytics::TokensDto;
use super::auth::{Auth, AuthPolicy};
use super::dto::{ActionItemDto, FindingDto, InsightDto, MonitorEventDto, SessionDto};
use super::error::{ApiError, ApiResult};
use super::text::Text;

pub(crate) struct CompareApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

// ---- wire shapes ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum DiffTagDto {
    /// In both texts.
    Equal,
    /// Only in the newer (or `b`) text.
    Insert,
    /// Only in the older (or `a`) text.
    Delete,
}

/// A run of words (with the whitespace between them) sharing one tag.
#[derive(Debug, Clone, Object)]
pub(crate) struct DiffOpDto {
    pub(crate) op: DiffTagDto,
    pub(crate) text: String,
}

/// A word-level diff: `equal` + `delete` runs concatenated give the old text, `equal` + `insert`
/// runs the new one.
#[derive(Debug, Clone, Object)]
pub(crate) struct TextDiffDto {
    pub(crate) ops: Vec<DiffOpDto>,
    /// Share of the words that are equal, 0 to 1 (1 for two empty texts).
    pub(crate) similarity: f64,
}

impl From<TextDiff> for TextDiffDto {
    fn from(diff: TextDiff) -> Self {
        TextDiffDto {
            ops: diff
                .ops
                .into_iter()
                .map(|op| DiffOpDto {
                    op: match op.op {
                        DiffTag::Equal => DiffTagDto::Equal,
                        DiffTag::Insert => DiffTagDto::Insert,
                        DiffTag::Delete => DiffTagDto::Delete,
                    },
                    text: op.text,
                })
                .collect(),
            similarity: diff.similarity,
        }
    }
}

fn insight_dto(insight: Insight) -> InsightDto {
    InsightDto {
        text: Text(insight.text),
        confidence: insight.confidence,
        source_step: insight.source_step,
        supported_by_evidence: insight.supported_by_evidence,
    }
}

fn action_dto(action: ActionItem) -> ActionItemDto {
    ActionItemDto {
        action: Text(action.action),
        priority: Some(action.priority.into()),
        rationale: action.rationale.map(Text),
        dependencies: action.dependencies.into_iter().map(Text).collect(),
    }
}

/// An insight on both sides (same normalised text) whose details differ.
#[derive(Debug, Clone, Object)]
pub(crate) struct InsightChangeDto {
    pub(crate) before: InsightDto,
    pub(crate) after: InsightDto,
    /// The fields that differ: `text` (case, spacing or final punctuation only), `confidence`,
    /// `source_step`, `supported_by_evidence`.
    pub(crate) fields: Vec<String>,
}

/// Insights matched by normalised text (case, runs of whitespace and final punctuation ignored).
#[derive(Debug, Clone, Object)]
pub(crate) struct InsightListDiffDto {
    pub(crate) added: Vec<InsightDto>,
    pub(crate) removed: Vec<InsightDto>,
    pub(crate) changed: Vec<InsightChangeDto>,
    /// Insights identical on both sides.
    pub(crate) unchanged: i64,
}

impl From<ListDiff<Insight>> for InsightListDiffDto {
    fn from(diff: ListDiff<Insight>) -> Self {
        InsightListDiffDto {
            added: diff.added.into_iter().map(insight_dto).collect(),
            removed: diff.removed.into_iter().map(insight_dto).collect(),
            changed: diff
                .changed
                .into_iter()
                .map(|change| InsightChangeDto {
                    before: insight_dto(change.before),
                    after: insight_dto(change.after),
                    fields: change.fields,
                })
                .collect(),
            unchanged: diff.unchanged,
        }
    }
}

/// An action item on both sides (same normalised text) whose details differ.
#[derive(Debug, Clone, Object)]
pub(crate) struct ActionChangeDto {
    pub(crate) before: ActionItemDto,
    pub(crate) after: ActionItemDto,
    /// The fields that differ: `action` (case, spacing or final punctuation only), `priority`,
    /// `rationale`, `dependencies`.
    pub(crate) fields: Vec<String>,
}

/// Action items matched by normalised text.
#[derive(Debug, Clone, Object)]
pub(crate) struct ActionListDiffDto {
    pub(crate) added: Vec<ActionItemDto>,
    pub(crate) removed: Vec<ActionItemDto>,
    pub(crate) changed: Vec<ActionChangeDto>,
    /// Action items identical on both sides.
    pub(crate) unchanged: i64,
}

impl From<ListDiff<ActionItem>> for ActionListDiffDto {
    fn from(diff: ListDiff<ActionItem>) -> Self {
        ActionListDiffDto {
            added: diff.added.into_iter().map(action_dto).collect(),
            removed: diff.removed.into_iter().map(action_dto).collect(),
            changed: diff
                .changed
                .into_iter()
                .map(|change| ActionChangeDto {
                    before: action_dto(change.before),
                    after: action_dto(change.after),
                    fields: change.fields,
                })
                .collect(),
            unchanged: diff.unchanged,
        }
    }
}

/// One side of a synthesis diff.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SynthesisPointDto {
    pub(crate) session_id: Uuid,
    pub(crate) version: i32,
    pub(crate) step_number: Option<i32>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
}

impl From<SynthesisPoint> for SynthesisPointDto {
    fn from(point: SynthesisPoint) -> Self {
        SynthesisPointDto {
            session_id: point.session_id.0,
            version: point.version,
            step_number: point.step_number,
            created_at: point.created_at,
            confidence: point.confidence,
            clarity: point.clarity,
        }
    }
}

/// Two syntheses compared, `from` → `to`. A side without any synthesis is absent and diffs as empty.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SynthesisDiffDto {
    pub(crate) from: Option<SynthesisPointDto>,
    pub(crate) to: Option<SynthesisPointDto>,
    /// The current understanding, word by word.
    pub(crate) understanding: TextDiffDto,
    pub(crate) insights: InsightListDiffDto,
    pub(crate) action_items: ActionListDiffDto,
    /// `to - from`, when both state one.
    pub(crate) confidence_delta: Option<f64>,
    /// `to - from`, when both state one.
    pub(crate) clarity_delta: Option<f64>,
}

impl From<SynthesisDiff> for SynthesisDiffDto {
    fn from(diff: SynthesisDiff) -> Self {
        SynthesisDiffDto {
            from: diff.from.map(Into::into),
            to: diff.to.map(Into::into),
            understanding: diff.understanding.into(),
            insights: diff.insights.into(),
            action_items: diff.action_items.into(),
            confidence_delta: diff.confidence_delta,
            clarity_delta: diff.clarity_delta,
        }
    }
}

/// One synthesis version against the one before it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct EvolutionPointDto {
    pub(crate) version: i32,
    pub(crate) step_number: Option<i32>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
    /// Number of insights in this version.
    pub(crate) insights: i64,
    /// Number of action items in this version.
    pub(crate) action_items: i64,
    /// Insights the previous version did not have (by normalised text); all of them in version 1.
    pub(crate) insights_gained: Vec<InsightDto>,
    /// Insights of the previous version this one no longer has.
    pub(crate) insights_lost: Vec<InsightDto>,
    pub(crate) action_items_gained: Vec<ActionItemDto>,
    pub(crate) action_items_lost: Vec<ActionItemDto>,
}

/// A session's synthesis versions, oldest first.
#[derive(Debug, Clone, Object)]
pub(crate) struct SynthesisEvolutionDto {
    pub(crate) session_id: Uuid,
    pub(crate) versions: Vec<EvolutionPointDto>,
}

impl From<SynthesisEvolution> for SynthesisEvolutionDto {
    fn from(evolution: SynthesisEvolution) -> Self {
        SynthesisEvolutionDto {
            session_id: evolution.session_id.0,
            versions: evolution
                .versions
                .into_iter()
                .map(|point| EvolutionPointDto {
                    version: point.version,
                    step_number: point.step_number,
                    created_at: point.created_at,
                    confidence: point.confidence,
                    clarity: point.clarity,
                    insights: point.insights,
                    action_items: point.action_items,
                    insights_gained: point.insights_gained.into_iter().map(insight_dto).collect(),
                    insights_lost: point.insights_lost.into_iter().map(insight_dto).collect(),
                    action_items_gained: point
                        .action_items_gained
                        .into_iter()
                        .map(action_dto)
                        .collect(),
                    action_items_lost: point
                        .action_items_lost
                        .into_iter()
                        .map(action_dto)
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A step as a comparison shows it; its content is in the pair's `content` diff.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StepBriefDto {
    pub(crate) id: Uuid,
    pub(crate) kind: String,
    pub(crate) model: Option<String>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<StepBrief> for StepBriefDto {
    fn from(step: StepBrief) -> Self {
        StepBriefDto {
            id: step.id.0,
            kind: step.kind,
            model: step.model,
            confidence: step.confidence,
            clarity: step.clarity,
            created_at: step.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum StepAlignmentDto {
    /// Both sessions have the step, with the same kind and content.
    Same,
    /// Both have it; kind or content differ.
    Changed,
    OnlyA,
    OnlyB,
}

/// Findings of each session.
#[derive(Debug, Clone, Object)]
pub(crate) struct FindingSidesDto {
    pub(crate) a: Vec<FindingDto>,
    pub(crate) b: Vec<FindingDto>,
}

impl From<Sides<Vec<Finding>>> for FindingSidesDto {
    fn from(sides: Sides<Vec<Finding>>) -> Self {
        FindingSidesDto {
            a: sides.a.into_iter().map(Into::into).collect(),
            b: sides.b.into_iter().map(Into::into).collect(),
        }
    }
}

/// Monitor alerts of each session.
#[derive(Debug, Clone, Object)]
pub(crate) struct AlertSidesDto {
    pub(crate) a: Vec<MonitorEventDto>,
    pub(crate) b: Vec<MonitorEventDto>,
}

impl From<Sides<Vec<MonitorEvent>>> for AlertSidesDto {
    fn from(sides: Sides<Vec<MonitorEvent>>) -> Self {
        AlertSidesDto {
            a: sides.a.into_iter().map(Into::into).collect(),
            b: sides.b.into_iter().map(Into::into).collect(),
        }
    }
}

/// The steps with one number in the two sessions, and what was found on each.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StepPairDto {
    pub(crate) step_number: i32,
    pub(crate) alignment: StepAlignmentDto,
    pub(crate) a: Option<StepBriefDto>,
    pub(crate) b: Option<StepBriefDto>,
    /// `a`'s content to `b`'s; a missing step is empty text, so a one-sided step is a single
    /// `delete` or `insert` run.
    pub(crate) content: TextDiffDto,
    pub(crate) findings: FindingSidesDto,
    pub(crate) alerts: AlertSidesDto,
}

impl From<StepPair> for StepPairDto {
    fn from(pair: StepPair) -> Self {
        StepPairDto {
            step_number: pair.step_number,
            alignment: match pair.alignment {
                StepAlignment::Same => StepAlignmentDto::Same,
                StepAlignment::Changed => StepAlignmentDto::Changed,
                StepAlignment::OnlyA => StepAlignmentDto::OnlyA,
                StepAlignment::OnlyB => StepAlignmentDto::OnlyB,
            },
            a: pair.a.map(Into::into),
            b: pair.b.map(Into::into),
            content: pair.content.into(),
            findings: pair.findings.into(),
            alerts: pair.alerts.into(),
        }
    }
}

/// Headline figures of a session, or (as `deltas`) their difference `b - a`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FiguresDto {
    pub(crate) steps: i64,
    pub(crate) model_calls: i64,
    pub(crate) tokens: TokensDto,
    /// Cost in nano-USD (1 USD = 1,000,000,000), exact.
    pub(crate) cost_nusd: i64,
    /// Sum of the model calls' latency.
    pub(crate) latency_ms_total: i64,
    /// Nearest-rank median of the model calls' latency; absent without calls (on either side,
    /// for a delta).
    pub(crate) latency_ms_p50: Option<i64>,
    pub(crate) findings: i64,
    /// Monitor events of every kind.
    pub(crate) alerts: i64,
    pub(crate) duration_ms: i64,
    /// The newest synthesis version's confidence, else the last step's that stated one; absent
    /// when there is none (on either side, for a delta).
    pub(crate) final_confidence: Option<f64>,
}

impl From<SessionFigures> for FiguresDto {
    fn from(figures: SessionFigures) -> Self {
        FiguresDto {
            steps: figures.steps,
            model_calls: figures.model_calls,
            tokens: figures.tokens.into(),
            cost_nusd: figures.cost.0,
            latency_ms_total: figures.latency_ms_total,
            latency_ms_p50: figures.latency_ms_p50,
            findings: figures.findings,
            alerts: figures.alerts,
            duration_ms: figures.duration_ms,
            final_confidence: figures.final_confidence,
        }
    }
}

impl From<FigureDeltas> for FiguresDto {
    fn from(deltas: FigureDeltas) -> Self {
        FiguresDto {
            steps: deltas.steps,
            model_calls: deltas.model_calls,
            tokens: deltas.tokens.into(),
            cost_nusd: deltas.cost.0,
            latency_ms_total: deltas.latency_ms_total,
            latency_ms_p50: deltas.latency_ms_p50,
            findings: deltas.findings,
            alerts: deltas.alerts,
            duration_ms: deltas.duration_ms,
            final_confidence: deltas.final_confidence,
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, Object)]
pub(crate) struct ComparedSessionDto {
    pub(crate) session: SessionDto,
    pub(crate) figures: FiguresDto,
}

impl From<ComparedSession> for ComparedSessionDto {
    fn from(side: ComparedSession) -> Self {
        ComparedSessionDto {
            session: side.session.into(),
            figures: side.figures.into(),
        }
    }
}

/// Two sessions side by side.
#[derive(Debug, Clone, Object)]
pub(crate) struct SessionComparisonDto {
    pub(crate) a: ComparedSessionDto,
    pub(crate) b: ComparedSessionDto,
    /// `b - a` for every figure.
    pub(crate) deltas: FiguresDto,
    /// By step number; a number present in one session only appears once, one-sided.
    pub(crate) steps: Vec<StepPairDto>,
    /// `a`'s latest synthesis to `b`'s.
    pub(crate) synthesis: SynthesisDiffDto,
    /// Findings recorded on no step.
    pub(crate) session_findings: FindingSidesDto,
    /// Alerts recorded on no step.
    pub(crate) session_alerts: AlertSidesDto,
}

impl From<SessionComparison> for SessionComparisonDto {
    fn from(comparison: SessionComparison) -> Self {
        SessionComparisonDto {
            a: comparison.a.into(),
            b: comparison.b.into(),
            deltas: comparison.deltas.into(),
            steps: comparison.steps.into_iter().map(Into::into).collect(),
            synthesis: comparison.synthesis.into(),
            session_findings: comparison.session_findings.into(),
            session_alerts: comparison.session_alerts.into(),
        }
    }
}

/// A session id, or the caller's external id when it is not a UUID.
fn session_ref(field: &str, id: &str) -> ApiResult<SessionRef> {
    if id.trim().is_empty() {
        return Err(ApiError::bad_request(field, "names no session"));
    }
    Ok(match id.parse::<SessionId>() {
        Ok(id) => SessionRef::Id(id),
        Err(_) => SessionRef::ExternalId(id.to_owned()),
    })
}

#[OpenApi(prefix_path = "/api/v1")]
impl CompareApi {
    /// Compare two sessions
    ///
    /// Two sessions of the caller's project side by side: steps aligned by number and diffed word
    /// by word, the latest syntheses diffed (understanding, insights, action items), findings and
    /// alerts per step, and `deltas` = `b - a` for steps, tokens, cost, latency, findings, alerts,
    /// duration and final confidence. `a` and `b` are session UUIDs or, when not UUIDs, external
    /// ids; they may name the same session.
    #[oai(
        path = "/compare",
        method = "get",
        operation_id = "compareSessions",
        tag = "ApiTags::Analytics"
    )]
    async fn compare(
        &self,
        auth: Auth,
        /// The first session (UUID or external id).
        a: Query<String>,
        /// The second session (UUID or external id).
        b: Query<String>,
    ) -> ApiResult<Json<SessionComparisonDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let (a, b) = (session_ref("a", &a.0)?, session_ref("b", &b.0)?);
        let comparison = self.lux.compare_sessions(caller.project, &a, &b).await?;
        Ok(Json(comparison.into()))
    }

    /// Synthesis evolution
    ///
    /// Every synthesis version of a session, oldest first: confidence, clarity, how many insights
    /// and action items it holds, and which it gained and lost against the version before.
    /// `id` is the session's UUID or, when not a UUID, its `external_id`.
    #[oai(
        path = "/sessions/:id/synthesis/evolution",
        method = "get",
        operation_id = "getSynthesisEvolution",
        tag = "ApiTags::Sessions"
    )]
    async fn evolution(
        &self,
        auth: Auth,
        id: Path<String>,
    ) -> ApiResult<Json<SynthesisEvolutionDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let session = session_ref("id", &id.0)?;
        let evolution = self
            .lux
            .synthesis_evolution(caller.project, &session)
            .await?;
        Ok(Json(evolution.into()))
    }

    /// Diff two synthesis versions
    ///
    /// What changed from version `from` to version `to` of a session's synthesis (either order):
    /// the understanding word by word, insights and action items added, removed and changed, and
    /// the confidence and clarity deltas. An unknown version is a 404 naming it.
    #[oai(
        path = "/sessions/:id/synthesis/diff",
        method = "get",
        operation_id = "diffSynthesisVersions",
        tag = "ApiTags::Sessions"
    )]
    async fn diff(
        &self,
        auth: Auth,
        id: Path<String>,
        /// The older version number (1, 2, …).
        from: Query<i32>,
        /// The newer version number.
        to: Query<i32>,
    ) -> ApiResult<Json<SynthesisDiffDto>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let session = session_ref("id", &id.0)?;
        let diff = self
            .lux
            .synthesis_diff(caller.project, &session, from.0, to.0)
            .await?;
        Ok(Json(diff.into()))
    }
}
