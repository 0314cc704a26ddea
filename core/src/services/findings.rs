//! Bias findings and monitor events: stored with their detector and evidence, listed per session.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use tracing::instrument;

use lux_entity::{bias_finding, monitor_event};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::live::LiveEventKind;
use crate::services::steps::step_of_session;
use crate::store::{Lux, WriteCtx, finding_from_row, monitor_event_from_row};

/// The evidence span must lie inside the step's text, on character boundaries.
fn evidence_text(content: &str, span: Span) -> Result<String> {
    if span.start > span.end || span.end > content.len() {
        return Err(Error::invalid(
            "evidence",
            format!(
                "span {}..{} is outside the step's {} bytes",
                span.start,
                span.end,
                content.len()
            ),
        ));
    }
    content
        .get(span.start..span.end)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::invalid(
                "evidence",
                format!("span {}..{} splits a character", span.start, span.end),
            )
        })
}

pub(crate) async fn record_finding_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    new: &NewFinding,
) -> Result<Written<Finding>> {
    let detector = identifier("detector", &new.detector)?;
    let detector_version =
        required_text("detector_version", &new.detector_version, MAX_LABEL_BYTES)?;
    let bias_type = identifier("bias_type", &new.bias_type)?;
    let confidence = unit_score("confidence", new.confidence)?;
    let explanation = required_text("explanation", &new.explanation, MAX_TEXT_BYTES)?;
    let suggestion = optional_text("suggestion", new.suggestion.as_deref(), MAX_TEXT_BYTES)?;

    let session = ctx.session(conn, reference).await?;
    if let Some(id) = new.id
        && let Some(row) = bias_finding::Entity::find_by_id(id.0).one(conn).await?
    {
        if row.session_id != session.id.0 {
            return Err(Error::conflict(format!(
                "finding id {id} belongs to another session"
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: finding_from_row(row)?,
        });
    }
    let evidence = match (new.step_id, new.evidence) {
        (Some(step_id), Some(span)) => {
            let step = step_of_session(conn, session.id, step_id).await?;
            Some((span, evidence_text(&step.content, span)?))
        }
        (Some(step_id), None) => {
            step_of_session(conn, session.id, step_id).await?;
            None
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "evidence",
                "a span needs the step_id it points into",
            ));
        }
        (None, None) => None,
    };
    let span_bound = |value: usize| {
        i32::try_from(value).map_err(|_| Error::invalid("evidence", "span is too large"))
    };
    let (start, end, text) = match evidence {
        Some((span, text)) => (
            Some(span_bound(span.start)?),
            Some(span_bound(span.end)?),
            Some(text),
        ),
        None => (None, None, None),
    };

    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    let row = bias_finding::ActiveModel {
        id: Set(id),
        session_id: Set(session.id.0),
        step_id: Set(new.step_id.map(|step| step.0)),
        detector: Set(detector),
        detector_version: Set(detector_version),
        bias_type: Set(bias_type),
        severity: Set(new.severity.as_str().to_owned()),
        confidence: Set(confidence),
        explanation: Set(explanation),
        evidence_start: Set(start),
        evidence_end: Set(end),
        evidence_text: Set(text),
        suggestion: Set(suggestion),
        created_at: Set(new.created_at.unwrap_or(ctx.now)),
    };
    let inserted = bias_finding::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    ctx.touched.insert(session.id);
    ctx.event(LiveEventKind::FindingRecorded, session.id, id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: finding_from_row(inserted)?,
    })
}

pub(crate) async fn record_monitor_event_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    new: &NewMonitorEvent,
) -> Result<Written<MonitorEvent>> {
    let kind = identifier("kind", &new.kind)?;
    if !new.score.is_finite() {
        return Err(Error::invalid(
            "score",
            format!("must be a finite number, got {}", new.score),
        ));
    }
    let message = required_text("message", &new.message, MAX_TEXT_BYTES)?;
    let data = metadata("data", new.data.clone())?;

    let session = ctx.session(conn, reference).await?;
    if let Some(id) = new.id
        && let Some(row) = monitor_event::Entity::find_by_id(id.0).one(conn).await?
    {
        if row.session_id != session.id.0 {
            return Err(Error::conflict(format!(
                "monitor event id {id} belongs to another session"
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: monitor_event_from_row(row)?,
        });
    }
    if let Some(step_id) = new.step_id {
        step_of_session(conn, session.id, step_id).await?;
    }
    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    let row = monitor_event::ActiveModel {
        id: Set(id),
        session_id: Set(session.id.0),
        step_id: Set(new.step_id.map(|step| step.0)),
        kind: Set(kind),
        severity: Set(new.severity.as_str().to_owned()),
        score: Set(new.score),
        message: Set(message),
        data: Set(data),
        created_at: Set(new.created_at.unwrap_or(ctx.now)),
    };
    let inserted = monitor_event::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    ctx.touched.insert(session.id);
    ctx.event(LiveEventKind::MonitorEventRecorded, session.id, id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: monitor_event_from_row(inserted)?,
    })
}

impl Lux {
    #[instrument(skip_all, fields(project = %project, session = %session, bias = %new.bias_type))]
    pub async fn record_finding(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewFinding,
    ) -> Result<Written<Finding>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = record_finding_in(self, &tx, &mut ctx, session, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    #[instrument(skip_all, fields(project = %project, session = %session, kind = %new.kind))]
    pub async fn record_monitor_event(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewMonitorEvent,
    ) -> Result<Written<MonitorEvent>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = record_monitor_event_in(self, &tx, &mut ctx, session, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    pub async fn list_findings(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<Vec<Finding>> {
        let session = self.get_session(project, session).await?;
        let rows = bias_finding::Entity::find()
            .filter(bias_finding::Column::SessionId.eq(session.id.0))
            .order_by_asc(bias_finding::Column::CreatedAt)
            .order_by_asc(bias_finding::Column::Id)
            .all(self.db())
            .await?;
        rows.into_iter().map(finding_from_row).collect()
    }

    pub async fn list_monitor_events(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<Vec<MonitorEvent>> {
        let session = self.get_session(project, session).await?;
        let rows = monitor_event::Entity::find()
            .filter(monitor_event::Column::SessionId.eq(session.id.0))
            .order_by_asc(monitor_event::Column::CreatedAt)
            .order_by_asc(monitor_event::Column::Id)
            .all(self.db())
            .await?;
        rows.into_iter().map(monitor_event_from_row).collect()
    }
}
