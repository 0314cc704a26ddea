//! Rows to domain values. Stored strings are re-parsed, so a row edited by hand into nonsense
//! surfaces as a clear error instead of a wrong value.

use lux_entity::{
    action_item, bias_finding, insight, model_call, model_price, monitor_event, session, step,
    synthesis_version,
};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::pricing::{ModelPrice, NanoUsd};

fn corrupt(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Storage(sea_orm::DbErr::Type(format!(
        "stored {what} is unreadable: {error}"
    )))
}

pub(crate) fn session_from_row(row: session::Model, tags: Vec<String>) -> Result<Session> {
    Ok(Session {
        id: SessionId(row.id),
        project_id: ProjectId(row.project_id),
        external_id: row.external_id,
        tool: row.tool,
        status: row
            .status
            .parse()
            .map_err(|e| corrupt("session status", e))?,
        title: row.title,
        user_id: row.user_id,
        client: row.client,
        model: row.model,
        tags,
        metadata: row.metadata,
        created_at: row.created_at,
        updated_at: row.updated_at,
        completed_at: row.completed_at,
    })
}

pub(crate) fn step_from_row(row: step::Model) -> Step {
    Step {
        id: StepId(row.id),
        session_id: SessionId(row.session_id),
        step_number: row.step_number,
        kind: row.kind,
        content: row.content,
        raw_response: row.raw_response,
        model: row.model,
        confidence: row.confidence,
        clarity: row.clarity,
        is_revision: row.is_revision,
        revises_step: row.revises_step,
        branch_from_step: row.branch_from_step,
        branch_id: row.branch_id,
        metadata: row.metadata,
        created_at: row.created_at,
    }
}

pub(crate) fn model_call_from_row(row: model_call::Model) -> Result<ModelCall> {
    Ok(ModelCall {
        id: ModelCallId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        provider: row.provider,
        model: row.model,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cached_input_tokens: row.cached_input_tokens,
        reasoning_tokens: row.reasoning_tokens,
        latency_ms: row.latency_ms,
        cost: NanoUsd(row.cost_nusd),
        price_id: row.price_id.map(PriceId),
        status: row.status.parse().map_err(|e| corrupt("call status", e))?,
        error: row.error,
        created_at: row.created_at,
    })
}

pub(crate) fn price_from_row(row: model_price::Model) -> StoredPrice {
    StoredPrice {
        id: PriceId(row.id),
        price: ModelPrice {
            model_pattern: row.model_pattern,
            provider: row.provider,
            input_nusd_per_mtok: row.input_nusd_per_mtok,
            output_nusd_per_mtok: row.output_nusd_per_mtok,
            cached_input_nusd_per_mtok: row.cached_input_nusd_per_mtok,
            reasoning_nusd_per_mtok: row.reasoning_nusd_per_mtok,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
        },
        source: row.source,
    }
}

pub(crate) fn synthesis_from_rows(
    row: synthesis_version::Model,
    insights: Vec<insight::Model>,
    actions: Vec<action_item::Model>,
) -> Result<SynthesisVersion> {
    let action_items = actions
        .into_iter()
        .map(|action| {
            Ok(ActionItem {
                action: action.action,
                priority: action
                    .priority
                    .parse()
                    .map_err(|e| corrupt("action priority", e))?,
                rationale: action.rationale,
                dependencies: serde_json::from_value(action.dependencies)
                    .map_err(|e| corrupt("action dependencies", e))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SynthesisVersion {
        id: SynthesisVersionId(row.id),
        session_id: SessionId(row.session_id),
        version: row.version,
        step_id: row.step_id.map(StepId),
        step_number: row.step_number,
        raw_update: row.raw_update,
        current_understanding: row.current_understanding,
        confidence: row.confidence,
        clarity: row.clarity,
        insights: insights
            .into_iter()
            .map(|insight| Insight {
                text: insight.text,
                confidence: insight.confidence,
                source_step: insight.source_step,
                supported_by_evidence: insight.supported_by_evidence,
            })
            .collect(),
        action_items,
        parsed: row.parsed,
        created_at: row.created_at,
    })
}

pub(crate) fn finding_from_row(row: bias_finding::Model) -> Result<Finding> {
    let evidence = match (row.evidence_start, row.evidence_end) {
        (Some(start), Some(end)) => Some(Span {
            start: usize::try_from(start).map_err(|e| corrupt("evidence start", e))?,
            end: usize::try_from(end).map_err(|e| corrupt("evidence end", e))?,
        }),
        _ => None,
    };
    Ok(Finding {
        id: FindingId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        detector: row.detector,
        detector_version: row.detector_version,
        bias_type: row.bias_type,
        severity: row.severity.parse().map_err(|e| corrupt("severity", e))?,
        confidence: row.confidence,
        explanation: row.explanation,
        evidence,
        evidence_text: row.evidence_text,
        suggestion: row.suggestion,
        created_at: row.created_at,
    })
}

pub(crate) fn monitor_event_from_row(row: monitor_event::Model) -> Result<MonitorEvent> {
    Ok(MonitorEvent {
        id: MonitorEventId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        kind: row.kind,
        severity: row.severity.parse().map_err(|e| corrupt("severity", e))?,
        score: row.score,
        message: row.message,
        data: row.data,
        created_at: row.created_at,
    })
}
