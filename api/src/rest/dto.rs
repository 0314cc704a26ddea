//! Wire shapes of the REST API and their conversions to and from `lux-core`'s domain types, so a
//! column or domain rename never leaks into the API contract.

use chrono::{DateTime, Utc};
use lux_core::services::api_keys::{ApiKey, CreatedApiKey, Scope};
use lux_core::services::ingest::{IngestRecord, ItemResult};
use lux_core::services::projects::Project;
use lux_core::services::usage::NewPrice;
use lux_core::synthesis::{ActionItemInput, ActionPriority, InsightInput, SynthesisUpdate};
use lux_core::*;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object, Union};
use uuid::Uuid;

use super::error::ApiError;
use super::text::{self, Text};

// ---- sessions ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum SessionStatusDto {
    Active,
    Completed,
    Failed,
    Abandoned,
}

impl From<SessionStatus> for SessionStatusDto {
    fn from(status: SessionStatus) -> Self {
        match status {
            SessionStatus::Active => SessionStatusDto::Active,
            SessionStatus::Completed => SessionStatusDto::Completed,
            SessionStatus::Failed => SessionStatusDto::Failed,
            SessionStatus::Abandoned => SessionStatusDto::Abandoned,
        }
    }
}

impl From<SessionStatusDto> for SessionStatus {
    fn from(status: SessionStatusDto) -> Self {
        match status {
            SessionStatusDto::Active => SessionStatus::Active,
            SessionStatusDto::Completed => SessionStatus::Completed,
            SessionStatusDto::Failed => SessionStatus::Failed,
            SessionStatusDto::Abandoned => SessionStatus::Abandoned,
        }
    }
}

/// A reasoning session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionDto {
    pub(crate) id: Uuid,
    pub(crate) project_id: Uuid,
    /// The caller's own id for the session, unique per project.
    pub(crate) external_id: Option<String>,
    /// The tool or application that ran the session (`traced_reasoning`, `agent_run`, …).
    pub(crate) tool: String,
    pub(crate) status: SessionStatusDto,
    pub(crate) title: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) client: Option<String>,
    /// The session's main model.
    pub(crate) model: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
}

impl From<Session> for SessionDto {
    fn from(session: Session) -> Self {
        SessionDto {
            id: session.id.0,
            project_id: session.project_id.0,
            external_id: session.external_id,
            tool: session.tool,
            status: session.status.into(),
            title: session.title,
            user_id: session.user_id,
            client: session.client,
            model: session.model,
            tags: session.tags,
            metadata: session.metadata,
            created_at: session.created_at,
            updated_at: session.updated_at,
            completed_at: session.completed_at,
        }
    }
}

/// A session to create. Sending the same `id` or `external_id` again returns the stored session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewSessionBody {
    /// Client-chosen id (UUID); makes creation idempotent.
    pub(crate) id: Option<Uuid>,
    pub(crate) external_id: Option<Text>,
    /// Lowercase identifier: a-z, 0-9, `_ . : -`, at most 64 characters.
    pub(crate) tool: Text,
    /// Defaults to `active`.
    pub(crate) status: Option<SessionStatusDto>,
    pub(crate) title: Option<Text>,
    pub(crate) user_id: Option<Text>,
    pub(crate) client: Option<Text>,
    pub(crate) model: Option<Text>,
    #[oai(default)]
    pub(crate) tags: Vec<Text>,
    /// A JSON object, at most 256 KiB.
    pub(crate) metadata: Option<serde_json::Value>,
    /// For imports of history; defaults to now.
    pub(crate) created_at: Option<DateTime<Utc>>,
    /// For imports of sessions that already ended.
    pub(crate) completed_at: Option<DateTime<Utc>>,
}

impl From<NewSessionBody> for NewSession {
    fn from(body: NewSessionBody) -> Self {
        NewSession {
            id: body.id.map(SessionId),
            external_id: text::optional(body.external_id),
            tool: body.tool.into(),
            status: body.status.map(Into::into),
            title: text::optional(body.title),
            user_id: text::optional(body.user_id),
            client: text::optional(body.client),
            model: text::optional(body.model),
            tags: text::all(body.tags),
            metadata: body.metadata,
            created_at: body.created_at,
            completed_at: body.completed_at,
        }
    }
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionPatchBody {
    pub(crate) status: Option<SessionStatusDto>,
    /// `null` clears the title.
    pub(crate) title: MaybeUndefined<Text>,
    /// Replaces all tags.
    pub(crate) tags: Option<Vec<Text>>,
    /// Replaces the metadata object.
    pub(crate) metadata: Option<serde_json::Value>,
}

impl From<SessionPatchBody> for SessionPatch {
    fn from(body: SessionPatchBody) -> Self {
        SessionPatch {
            status: body.status.map(Into::into),
            title: match body.title {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(title) => Some(Some(title.0)),
            },
            tags: body.tags.map(text::all),
            metadata: body.metadata,
        }
    }
}

/// One page of sessions, newest first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionPage {
    pub(crate) items: Vec<SessionDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

// ---- steps ------------------------------------------------------------------------------------

/// One step of a session.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StepDto {
    pub(crate) id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) step_number: i32,
    pub(crate) kind: String,
    pub(crate) content: String,
    pub(crate) raw_response: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
    pub(crate) is_revision: bool,
    pub(crate) revises_step: Option<i32>,
    pub(crate) branch_from_step: Option<i32>,
    pub(crate) branch_id: Option<String>,
    pub(crate) metadata: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<Step> for StepDto {
    fn from(step: Step) -> Self {
        StepDto {
            id: step.id.0,
            session_id: step.session_id.0,
            step_number: step.step_number,
            kind: step.kind,
            content: step.content,
            raw_response: step.raw_response,
            model: step.model,
            confidence: step.confidence,
            clarity: step.clarity,
            is_revision: step.is_revision,
            revises_step: step.revises_step,
            branch_from_step: step.branch_from_step,
            branch_id: step.branch_id,
            metadata: step.metadata,
            created_at: step.created_at,
        }
    }
}

/// A step to append.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewStepBody {
    /// Client-chosen id (UUID); makes the append idempotent.
    pub(crate) id: Option<Uuid>,
    /// Checked when given (must be the next number); assigned when absent.
    pub(crate) step_number: Option<i32>,
    /// `thought`, `reasoning`, `bias_check`, `plan`, … (lowercase identifier).
    pub(crate) kind: Text,
    /// At most 1 MiB.
    pub(crate) content: Text,
    pub(crate) raw_response: Option<Text>,
    pub(crate) model: Option<Text>,
    /// 0 to 1.
    pub(crate) confidence: Option<f64>,
    /// 0 to 1.
    pub(crate) clarity: Option<f64>,
    #[oai(default)]
    pub(crate) is_revision: bool,
    pub(crate) revises_step: Option<i32>,
    pub(crate) branch_from_step: Option<i32>,
    pub(crate) branch_id: Option<Text>,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl From<NewStepBody> for NewStep {
    fn from(body: NewStepBody) -> Self {
        NewStep {
            id: body.id.map(StepId),
            step_number: body.step_number,
            kind: body.kind.into(),
            content: body.content.into(),
            raw_response: text::optional(body.raw_response),
            model: text::optional(body.model),
            confidence: body.confidence,
            clarity: body.clarity,
            is_revision: body.is_revision,
            revises_step: body.revises_step,
            branch_from_step: body.branch_from_step,
            branch_id: text::optional(body.branch_id),
            metadata: body.metadata,
            created_at: body.created_at,
        }
    }
}

// ---- model calls ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum CallStatusDto {
    Ok,
    Error,
    Timeout,
}

/// One model call with its usage and exact cost.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ModelCallDto {
    pub(crate) id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cached_input_tokens: i64,
    pub(crate) reasoning_tokens: i64,
    pub(crate) latency_ms: i64,
    /// Cost in nano-USD (1 USD = 1,000,000,000), exact.
    pub(crate) cost_nusd: i64,
    /// The price the cost came from; absent when no price matched (cost is then 0).
    pub(crate) price_id: Option<Uuid>,
    pub(crate) status: CallStatusDto,
    pub(crate) error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<ModelCall> for ModelCallDto {
    fn from(call: ModelCall) -> Self {
        ModelCallDto {
            id: call.id.0,
            session_id: call.session_id.0,
            step_id: call.step_id.map(|id| id.0),
            provider: call.provider,
            model: call.model,
            input_tokens: call.input_tokens,
            output_tokens: call.output_tokens,
            cached_input_tokens: call.cached_input_tokens,
            reasoning_tokens: call.reasoning_tokens,
            latency_ms: call.latency_ms,
            cost_nusd: call.cost.0,
            price_id: call.price_id.map(|id| id.0),
            status: match call.status {
                CallStatus::Ok => CallStatusDto::Ok,
                CallStatus::Error => CallStatusDto::Error,
                CallStatus::Timeout => CallStatusDto::Timeout,
            },
            error: call.error,
            created_at: call.created_at,
        }
    }
}

/// A model call to record; its cost is computed by Lux from the price list.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewModelCallBody {
    pub(crate) id: Option<Uuid>,
    pub(crate) step_id: Option<Uuid>,
    /// `openai`, `anthropic`, `openrouter`, … (lowercase identifier).
    pub(crate) provider: Text,
    pub(crate) model: Text,
    /// All prompt tokens, cached ones included.
    #[oai(default)]
    pub(crate) input_tokens: i64,
    /// Completion tokens, reasoning tokens excluded.
    #[oai(default)]
    pub(crate) output_tokens: i64,
    /// The part of `input_tokens` served from a prompt cache.
    #[oai(default)]
    pub(crate) cached_input_tokens: i64,
    #[oai(default)]
    pub(crate) reasoning_tokens: i64,
    #[oai(default)]
    pub(crate) latency_ms: i64,
    /// Defaults to `ok`.
    pub(crate) status: Option<CallStatusDto>,
    pub(crate) error: Option<Text>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl From<NewModelCallBody> for NewModelCall {
    fn from(body: NewModelCallBody) -> Self {
        NewModelCall {
            id: body.id.map(ModelCallId),
            step_id: body.step_id.map(StepId),
            provider: body.provider.into(),
            model: body.model.into(),
            input_tokens: body.input_tokens,
            output_tokens: body.output_tokens,
            cached_input_tokens: body.cached_input_tokens,
            reasoning_tokens: body.reasoning_tokens,
            latency_ms: body.latency_ms,
            status: match body.status.unwrap_or(CallStatusDto::Ok) {
                CallStatusDto::Ok => CallStatus::Ok,
                CallStatusDto::Error => CallStatus::Error,
                CallStatusDto::Timeout => CallStatus::Timeout,
            },
            error: text::optional(body.error),
            created_at: body.created_at,
        }
    }
}

// ---- synthesis --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum PriorityDto {
    High,
    Medium,
    Low,
}

impl From<ActionPriority> for PriorityDto {
    fn from(priority: ActionPriority) -> Self {
        match priority {
            ActionPriority::High => PriorityDto::High,
            ActionPriority::Medium => PriorityDto::Medium,
            ActionPriority::Low => PriorityDto::Low,
        }
    }
}

impl From<PriorityDto> for ActionPriority {
    fn from(priority: PriorityDto) -> Self {
        match priority {
            PriorityDto::High => ActionPriority::High,
            PriorityDto::Medium => ActionPriority::Medium,
            PriorityDto::Low => ActionPriority::Low,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct InsightDto {
    pub(crate) text: Text,
    pub(crate) confidence: Option<f64>,
    pub(crate) source_step: Option<i32>,
    pub(crate) supported_by_evidence: Option<bool>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ActionItemDto {
    pub(crate) action: Text,
    /// Defaults to `medium`.
    pub(crate) priority: Option<PriorityDto>,
    pub(crate) rationale: Option<Text>,
    #[oai(default)]
    pub(crate) dependencies: Vec<Text>,
}

/// A structured synthesis update.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SynthesisUpdateDto {
    pub(crate) current_understanding: Option<Text>,
    #[oai(default)]
    pub(crate) insights: Vec<InsightDto>,
    #[oai(default)]
    pub(crate) action_items: Vec<ActionItemDto>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
    #[oai(default)]
    pub(crate) recommendations: Vec<Text>,
    #[oai(default)]
    pub(crate) context_factors: Vec<Text>,
    #[oai(default)]
    pub(crate) constraints: Vec<Text>,
}

impl From<SynthesisUpdateDto> for SynthesisUpdate {
    fn from(body: SynthesisUpdateDto) -> Self {
        SynthesisUpdate {
            current_understanding: text::optional(body.current_understanding),
            insights: body
                .insights
                .into_iter()
                .map(|insight| InsightInput {
                    text: insight.text.into(),
                    confidence: insight.confidence,
                    source_step: insight.source_step,
                    supported_by_evidence: insight.supported_by_evidence,
                })
                .collect(),
            action_items: body
                .action_items
                .into_iter()
                .map(|action| ActionItemInput {
                    action: action.action.into(),
                    priority: action.priority.map_or(ActionPriority::Medium, Into::into),
                    rationale: text::optional(action.rationale),
                    dependencies: text::all(action.dependencies),
                })
                .collect(),
            confidence: body.confidence,
            clarity: body.clarity,
            recommendations: text::all(body.recommendations),
            context_factors: text::all(body.context_factors),
            constraints: text::all(body.constraints),
        }
    }
}

/// A synthesis update: either `update` (structured) or `raw` (LLM text containing
/// `update_synthesis(...)` as JSON, Python keyword arguments, or a bare JSON object).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewSynthesisBody {
    pub(crate) id: Option<Uuid>,
    /// The step this update came from.
    pub(crate) step_id: Option<Uuid>,
    pub(crate) step_number: Option<i32>,
    pub(crate) raw: Option<Text>,
    pub(crate) update: Option<SynthesisUpdateDto>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl TryFrom<NewSynthesisBody> for NewSynthesis {
    type Error = ApiError;

    fn try_from(body: NewSynthesisBody) -> Result<Self, ApiError> {
        let input = match (body.raw, body.update) {
            (Some(raw), None) => SynthesisInput::Raw(raw.into()),
            (None, Some(update)) => SynthesisInput::Structured(update.into()),
            _ => {
                return Err(ApiError::bad_request(
                    "raw",
                    "give exactly one of `raw` and `update`",
                ));
            }
        };
        Ok(NewSynthesis {
            id: body.id.map(SynthesisVersionId),
            step_id: body.step_id.map(StepId),
            step_number: body.step_number,
            input,
            created_at: body.created_at,
        })
    }
}

/// One version of a session's synthesis.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SynthesisVersionDto {
    pub(crate) id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) version: i32,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) step_number: Option<i32>,
    /// The text the update was parsed from, verbatim.
    pub(crate) raw_update: Option<String>,
    pub(crate) current_understanding: Option<String>,
    pub(crate) confidence: Option<f64>,
    pub(crate) clarity: Option<f64>,
    pub(crate) insights: Vec<InsightDto>,
    pub(crate) action_items: Vec<ActionItemDto>,
    /// The whole parsed update, canonical JSON.
    pub(crate) parsed: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<SynthesisVersion> for SynthesisVersionDto {
    fn from(version: SynthesisVersion) -> Self {
        SynthesisVersionDto {
            id: version.id.0,
            session_id: version.session_id.0,
            version: version.version,
            step_id: version.step_id.map(|id| id.0),
            step_number: version.step_number,
            raw_update: version.raw_update,
            current_understanding: version.current_understanding,
            confidence: version.confidence,
            clarity: version.clarity,
            insights: version
                .insights
                .into_iter()
                .map(|insight| InsightDto {
                    text: Text(insight.text),
                    confidence: insight.confidence,
                    source_step: insight.source_step,
                    supported_by_evidence: insight.supported_by_evidence,
                })
                .collect(),
            action_items: version
                .action_items
                .into_iter()
                .map(|action| ActionItemDto {
                    action: Text(action.action),
                    priority: Some(action.priority.into()),
                    rationale: action.rationale.map(Text),
                    dependencies: action.dependencies.into_iter().map(Text).collect(),
                })
                .collect(),
            parsed: version.parsed,
            created_at: version.created_at,
        }
    }
}

// ---- findings and monitor events --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum SeverityDto {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl From<Severity> for SeverityDto {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::None => SeverityDto::None,
            Severity::Low => SeverityDto::Low,
            Severity::Medium => SeverityDto::Medium,
            Severity::High => SeverityDto::High,
            Severity::Critical => SeverityDto::Critical,
        }
    }
}

impl From<SeverityDto> for Severity {
    fn from(severity: SeverityDto) -> Self {
        match severity {
            SeverityDto::None => Severity::None,
            SeverityDto::Low => Severity::Low,
            SeverityDto::Medium => Severity::Medium,
            SeverityDto::High => Severity::High,
            SeverityDto::Critical => Severity::Critical,
        }
    }
}

/// A bias found in a step.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FindingDto {
    pub(crate) id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) detector: String,
    pub(crate) detector_version: String,
    pub(crate) bias_type: String,
    pub(crate) severity: SeverityDto,
    pub(crate) confidence: f64,
    pub(crate) explanation: String,
    /// Byte offset where the evidence starts in the step's content.
    pub(crate) evidence_start: Option<i64>,
    /// Byte offset where the evidence ends (exclusive).
    pub(crate) evidence_end: Option<i64>,
    pub(crate) evidence_text: Option<String>,
    pub(crate) suggestion: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<Finding> for FindingDto {
    fn from(finding: Finding) -> Self {
        FindingDto {
            id: finding.id.0,
            session_id: finding.session_id.0,
            step_id: finding.step_id.map(|id| id.0),
            detector: finding.detector,
            detector_version: finding.detector_version,
            bias_type: finding.bias_type,
            severity: finding.severity.into(),
            confidence: finding.confidence,
            explanation: finding.explanation,
            evidence_start: finding.evidence.map(|span| span.start as i64),
            evidence_end: finding.evidence.map(|span| span.end as i64),
            evidence_text: finding.evidence_text,
            suggestion: finding.suggestion,
            created_at: finding.created_at,
        }
    }
}

/// A finding to record (e.g. from an external detector).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewFindingBody {
    pub(crate) id: Option<Uuid>,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) detector: Text,
    pub(crate) detector_version: Text,
    pub(crate) bias_type: Text,
    pub(crate) severity: SeverityDto,
    /// 0 to 1.
    pub(crate) confidence: f64,
    pub(crate) explanation: Text,
    /// Byte offsets into the step's content; both or neither, and only with `step_id`.
    pub(crate) evidence_start: Option<i64>,
    pub(crate) evidence_end: Option<i64>,
    pub(crate) suggestion: Option<Text>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl TryFrom<NewFindingBody> for NewFinding {
    type Error = ApiError;

    fn try_from(body: NewFindingBody) -> Result<Self, ApiError> {
        let offset = |value: i64| {
            usize::try_from(value)
                .map_err(|_| ApiError::bad_request("evidence", "offsets must not be negative"))
        };
        let evidence = match (body.evidence_start, body.evidence_end) {
            (Some(start), Some(end)) => Some(Span {
                start: offset(start)?,
                end: offset(end)?,
            }),
            (None, None) => None,
            _ => {
                return Err(ApiError::bad_request(
                    "evidence",
                    "give both evidence_start and evidence_end",
                ));
            }
        };
        Ok(NewFinding {
            id: body.id.map(FindingId),
            step_id: body.step_id.map(StepId),
            detector: body.detector.into(),
            detector_version: body.detector_version.into(),
            bias_type: body.bias_type.into(),
            severity: body.severity.into(),
            confidence: body.confidence,
            explanation: body.explanation.into(),
            evidence,
            suggestion: text::optional(body.suggestion),
            created_at: body.created_at,
        })
    }
}

/// An alert of the metacognitive monitor.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct MonitorEventDto {
    pub(crate) id: Uuid,
    pub(crate) session_id: Uuid,
    pub(crate) step_id: Option<Uuid>,
    /// `circular_reasoning`, `distractor_fixation`, `quality_degradation`, …
    pub(crate) kind: String,
    pub(crate) severity: SeverityDto,
    pub(crate) score: f64,
    pub(crate) message: String,
    pub(crate) data: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<MonitorEvent> for MonitorEventDto {
    fn from(event: MonitorEvent) -> Self {
        MonitorEventDto {
            id: event.id.0,
            session_id: event.session_id.0,
            step_id: event.step_id.map(|id| id.0),
            kind: event.kind,
            severity: event.severity.into(),
            score: event.score,
            message: event.message,
            data: event.data,
            created_at: event.created_at,
        }
    }
}

/// A monitor event to record.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewMonitorEventBody {
    pub(crate) id: Option<Uuid>,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) kind: Text,
    pub(crate) severity: SeverityDto,
    pub(crate) score: f64,
    pub(crate) message: Text,
    pub(crate) data: Option<serde_json::Value>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl From<NewMonitorEventBody> for NewMonitorEvent {
    fn from(body: NewMonitorEventBody) -> Self {
        NewMonitorEvent {
            id: body.id.map(MonitorEventId),
            step_id: body.step_id.map(StepId),
            kind: body.kind.into(),
            severity: body.severity.into(),
            score: body.score,
            message: body.message.into(),
            data: body.data,
            created_at: body.created_at,
        }
    }
}

// ---- batch ingest -----------------------------------------------------------------------------

/// Names the session an ingest item belongs to: by `session_id` or by `session_external_id`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SessionRefFields {
    pub(crate) session_id: Option<Uuid>,
    pub(crate) session_external_id: Option<Text>,
}

impl SessionRefFields {
    fn into_ref(self) -> Result<SessionRef, String> {
        match (self.session_id, self.session_external_id) {
            (Some(id), None) => Ok(SessionRef::Id(SessionId(id))),
            (None, Some(external)) => Ok(SessionRef::ExternalId(external.into())),
            _ => Err("give exactly one of session_id and session_external_id".to_owned()),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestSession {
    #[oai(flatten)]
    pub(crate) session: NewSessionBody,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestStep {
    #[oai(flatten)]
    pub(crate) target: SessionRefFields,
    #[oai(flatten)]
    pub(crate) step: NewStepBody,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestModelCall {
    #[oai(flatten)]
    pub(crate) target: SessionRefFields,
    #[oai(flatten)]
    pub(crate) call: NewModelCallBody,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestSynthesis {
    #[oai(flatten)]
    pub(crate) target: SessionRefFields,
    #[oai(flatten)]
    pub(crate) synthesis: NewSynthesisBody,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestFinding {
    #[oai(flatten)]
    pub(crate) target: SessionRefFields,
    #[oai(flatten)]
    pub(crate) finding: NewFindingBody,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestMonitorEvent {
    #[oai(flatten)]
    pub(crate) target: SessionRefFields,
    #[oai(flatten)]
    pub(crate) event: NewMonitorEventBody,
}

/// One record of a batch, tagged by `type`.
#[derive(Debug, Clone, Union)]
#[oai(discriminator_name = "type")]
pub(crate) enum IngestItem {
    #[oai(mapping = "session")]
    Session(IngestSession),
    #[oai(mapping = "step")]
    Step(IngestStep),
    #[oai(mapping = "model_call")]
    ModelCall(IngestModelCall),
    #[oai(mapping = "synthesis")]
    Synthesis(IngestSynthesis),
    #[oai(mapping = "finding")]
    Finding(IngestFinding),
    #[oai(mapping = "monitor_event")]
    MonitorEvent(IngestMonitorEvent),
}

impl IngestItem {
    /// The core record, or why this item cannot be one (reported as that item's error).
    pub(crate) fn into_record(self) -> Result<IngestRecord, (String, String)> {
        let target = |fields: SessionRefFields| {
            fields
                .into_ref()
                .map_err(|reason| ("session_id".to_owned(), reason))
        };
        let api = |error: ApiError| match error {
            ApiError::BadRequest(body) => (
                body.0
                    .details
                    .and_then(|details| details["field"].as_str().map(str::to_owned))
                    .unwrap_or_default(),
                body.0.message,
            ),
            other => (String::new(), format!("{other:?}")),
        };
        Ok(match self {
            IngestItem::Session(item) => IngestRecord::Session(item.session.into()),
            IngestItem::Step(item) => IngestRecord::Step {
                session: target(item.target)?,
                step: item.step.into(),
            },
            IngestItem::ModelCall(item) => IngestRecord::ModelCall {
                session: target(item.target)?,
                call: item.call.into(),
            },
            IngestItem::Synthesis(item) => IngestRecord::Synthesis {
                session: target(item.target)?,
                synthesis: item.synthesis.try_into().map_err(api)?,
            },
            IngestItem::Finding(item) => IngestRecord::Finding {
                session: target(item.target)?,
                finding: item.finding.try_into().map_err(api)?,
            },
            IngestItem::MonitorEvent(item) => IngestRecord::MonitorEvent {
                session: target(item.target)?,
                event: item.event.into(),
            },
        })
    }
}

/// A batch of at most 1000 records, written in one transaction; each item succeeds or fails alone.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestBody {
    #[oai(validator(max_items = 1000))]
    pub(crate) items: Vec<IngestItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum OutcomeDto {
    Created,
    Duplicate,
    Error,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ItemOutcomeDto {
    /// Position of the item in the batch, from 0.
    pub(crate) index: i64,
    pub(crate) outcome: OutcomeDto,
    /// The id of the created or already stored record.
    pub(crate) id: Option<Uuid>,
    /// For errors: a stable code (`invalid`, `not_found`, `conflict`, `invalid_synthesis`).
    pub(crate) code: Option<String>,
    /// For errors: the field to fix, when there is one.
    pub(crate) field: Option<String>,
    pub(crate) message: Option<String>,
}

impl ItemOutcomeDto {
    pub(crate) fn from_result(index: usize, result: ItemResult) -> Self {
        let (outcome, id, code, field, message) = match result {
            ItemResult::Created { id } => (OutcomeDto::Created, Some(id), None, None, None),
            ItemResult::Duplicate { id } => (OutcomeDto::Duplicate, Some(id), None, None, None),
            ItemResult::Error {
                code,
                field,
                message,
            } => (OutcomeDto::Error, None, Some(code), field, Some(message)),
        };
        ItemOutcomeDto {
            index: index as i64,
            outcome,
            id,
            code,
            field,
            message,
        }
    }

    pub(crate) fn refused(index: usize, field: String, message: String) -> Self {
        ItemOutcomeDto {
            index: index as i64,
            outcome: OutcomeDto::Error,
            id: None,
            code: Some("invalid".to_owned()),
            field: (!field.is_empty()).then_some(field),
            message: Some(message),
        }
    }
}

/// The outcome of every item, in order, and totals.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct IngestResponseDto {
    pub(crate) created: i64,
    pub(crate) duplicates: i64,
    pub(crate) errors: i64,
    pub(crate) items: Vec<ItemOutcomeDto>,
}

// ---- prices, projects, keys -------------------------------------------------------------------

/// A model price; amounts are nano-USD per million tokens.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PriceDto {
    pub(crate) id: Uuid,
    /// Exact model name, or a prefix ending in `*`.
    pub(crate) model_pattern: String,
    pub(crate) provider: Option<String>,
    pub(crate) input_nusd_per_mtok: i64,
    pub(crate) output_nusd_per_mtok: i64,
    /// Absent: cached input costs the input price.
    pub(crate) cached_input_nusd_per_mtok: Option<i64>,
    /// Absent: reasoning tokens cost the output price.
    pub(crate) reasoning_nusd_per_mtok: Option<i64>,
    pub(crate) effective_from: DateTime<Utc>,
    /// Exclusive; absent while the price is in force.
    pub(crate) effective_to: Option<DateTime<Utc>>,
    /// `shipped` (built-in list) or `user`.
    pub(crate) source: String,
}

impl From<StoredPrice> for PriceDto {
    fn from(stored: StoredPrice) -> Self {
        PriceDto {
            id: stored.id.0,
            model_pattern: stored.price.model_pattern,
            provider: stored.price.provider,
            input_nusd_per_mtok: stored.price.input_nusd_per_mtok,
            output_nusd_per_mtok: stored.price.output_nusd_per_mtok,
            cached_input_nusd_per_mtok: stored.price.cached_input_nusd_per_mtok,
            reasoning_nusd_per_mtok: stored.price.reasoning_nusd_per_mtok,
            effective_from: stored.price.effective_from,
            effective_to: stored.price.effective_to,
            source: stored.source,
        }
    }
}

/// A price to set; it takes over from the price in force for the same pattern and provider.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewPriceBody {
    pub(crate) model_pattern: Text,
    pub(crate) provider: Option<Text>,
    pub(crate) input_nusd_per_mtok: i64,
    pub(crate) output_nusd_per_mtok: i64,
    pub(crate) cached_input_nusd_per_mtok: Option<i64>,
    pub(crate) reasoning_nusd_per_mtok: Option<i64>,
    /// Defaults to now.
    pub(crate) effective_from: Option<DateTime<Utc>>,
}

impl From<NewPriceBody> for NewPrice {
    fn from(body: NewPriceBody) -> Self {
        NewPrice {
            model_pattern: body.model_pattern.into(),
            provider: text::optional(body.provider),
            input_nusd_per_mtok: body.input_nusd_per_mtok,
            output_nusd_per_mtok: body.output_nusd_per_mtok,
            cached_input_nusd_per_mtok: body.cached_input_nusd_per_mtok,
            reasoning_nusd_per_mtok: body.reasoning_nusd_per_mtok,
            effective_from: body.effective_from,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PutPricesBody {
    #[oai(validator(max_items = 1000))]
    pub(crate) prices: Vec<NewPriceBody>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProjectDto {
    pub(crate) id: Uuid,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<Project> for ProjectDto {
    fn from(project: Project) -> Self {
        ProjectDto {
            id: project.id.0,
            slug: project.slug,
            name: project.name,
            created_at: project.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewProjectBody {
    /// Lowercase identifier, unique.
    pub(crate) slug: Text,
    pub(crate) name: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ScopeDto {
    /// Read everything in the project.
    Read,
    /// Read, and write sessions and their records.
    Ingest,
    /// Everything, including deletion, prices and keys.
    Admin,
}

impl From<Scope> for ScopeDto {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Read => ScopeDto::Read,
            Scope::Ingest => ScopeDto::Ingest,
            Scope::Admin => ScopeDto::Admin,
        }
    }
}

impl From<ScopeDto> for Scope {
    fn from(scope: ScopeDto) -> Self {
        match scope {
            ScopeDto::Read => Scope::Read,
            ScopeDto::Ingest => Scope::Ingest,
            ScopeDto::Admin => Scope::Admin,
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ApiKeyDto {
    pub(crate) id: Uuid,
    pub(crate) project_id: Uuid,
    pub(crate) name: String,
    /// The public start of the key, to recognise it.
    pub(crate) prefix: String,
    pub(crate) scope: ScopeDto,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyDto {
    fn from(key: ApiKey) -> Self {
        ApiKeyDto {
            id: key.id,
            project_id: key.project_id.0,
            name: key.name,
            prefix: key.prefix,
            scope: key.scope.into(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct NewApiKeyBody {
    pub(crate) name: Text,
    pub(crate) scope: ScopeDto,
    /// Slug of the project the key is for; defaults to the caller's project.
    pub(crate) project: Option<Text>,
}

/// A new key. `secret` is shown only here, once; Lux keeps only its hash.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreatedApiKeyDto {
    pub(crate) key: ApiKeyDto,
    /// Send as `Authorization: Bearer <secret>`.
    pub(crate) secret: String,
}

impl From<CreatedApiKey> for CreatedApiKeyDto {
    fn from(created: CreatedApiKey) -> Self {
        CreatedApiKeyDto {
            key: created.key.into(),
            secret: created.secret,
        }
    }
}
