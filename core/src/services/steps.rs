//! Steps: append with numbering assigned or checked, idempotent on a client id; list in order.

use std::collections::HashMap;

use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{session, step};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::live::LiveEventKind;
use crate::store::{Lux, WriteCtx, step_from_row};

/// Validated fields of a new step.
struct StepRow {
    kind: String,
    content: String,
    raw_response: Option<String>,
    model: Option<String>,
    confidence: Option<f64>,
    clarity: Option<f64>,
    branch_id: Option<String>,
    metadata: serde_json::Value,
}

impl NewStep {
    /// The rules a step must meet, checked without storing it (the same check every append
    /// makes): for a door that must refuse a record whole before writing any part of it.
    pub fn validate(&self) -> Result<()> {
        checked_new_step(self).map(|_| ())
    }
}

fn checked_new_step(new: &NewStep) -> Result<StepRow> {
    if let Some(number) = new.step_number {
        positive_number("step_number", number)?;
    }
    for (field, value) in [
        ("revises_step", new.revises_step),
        ("branch_from_step", new.branch_from_step),
    ] {
        if let Some(value) = value {
            positive_number(field, value)?;
        }
    }
    if new.is_revision && new.revises_step.is_none() {
        return Err(Error::invalid(
            "revises_step",
            "a revision must say which step it revises",
        ));
    }
    if new.content.trim().is_empty() {
        return Err(Error::invalid("content", "must not be empty"));
    }
    Ok(StepRow {
        kind: identifier("kind", &new.kind)?,
        content: bounded_text("content", &new.content, MAX_CONTENT_BYTES)?,
        raw_response: new
            .raw_response
            .as_deref()
            .map(|raw| bounded_text("raw_response", raw, MAX_CONTENT_BYTES))
            .transpose()?,
        model: optional_text("model", new.model.as_deref(), MAX_LABEL_BYTES)?,
        confidence: optional_unit_score("confidence", new.confidence)?,
        clarity: optional_unit_score("clarity", new.clarity)?,
        branch_id: optional_text("branch_id", new.branch_id.as_deref(), MAX_LABEL_BYTES)?,
        metadata: metadata("metadata", new.metadata.clone())?,
    })
}

pub(crate) async fn next_step_number<C: ConnectionTrait>(
    conn: &C,
    ctx: &mut WriteCtx,
    session: SessionId,
) -> Result<i32> {
    if let Some(next) = ctx.next_step.get(&session) {
        return Ok(*next);
    }
    ctx.flush_steps(conn).await?;
    let max: Option<i32> = step::Entity::find()
        .select_only()
        .column_as(step::Column::StepNumber.max(), "max")
        .filter(step::Column::SessionId.eq(session.0))
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    let next = max.unwrap_or(0) + 1;
    ctx.next_step.insert(session, next);
    Ok(next)
}

pub(crate) async fn append_step_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    new: &NewStep,
) -> Result<Written<Step>> {
    let checked = checked_new_step(new)?;
    let session = ctx.session(conn, reference).await?;
    // A step id the batch's prefetch found absent needs no lookup; it is taken once inserted.
    let known_absent = new.id.is_some_and(|id| ctx.absent_steps.remove(&id.0));
    if new.id.is_some() && !known_absent {
        ctx.flush_steps(conn).await?;
    }
    if let Some(id) = new.id
        && !known_absent
        && let Some(row) = step::Entity::find_by_id(id.0).one(conn).await?
    {
        if row.session_id != session.id.0 {
            return Err(Error::conflict(format!(
                "step id {id} belongs to another session"
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: step_from_row(row),
        });
    }

    let next = next_step_number(conn, ctx, session.id).await?;
    let number = new.step_number.unwrap_or(next);
    if number < next {
        ctx.flush_steps(conn).await?;
        let existing = step::Entity::find()
            .filter(step::Column::SessionId.eq(session.id.0))
            .filter(step::Column::StepNumber.eq(number))
            .one(conn)
            .await?;
        // Replaying a step without a client id is still idempotent when it is the same step.
        if let Some(row) = existing
            && new.id.is_none()
            && row.content == checked.content
            && row.kind == checked.kind
        {
            return Ok(Written {
                outcome: WriteOutcome::Duplicate,
                value: step_from_row(row),
            });
        }
        return Err(Error::conflict(format!(
            "step {number} already exists in session {}; the next step is {next}",
            session.id
        )));
    }
    if number > next {
        return Err(Error::invalid(
            "step_number",
            format!("{number} would leave a gap; the next step of this session is {next}"),
        ));
    }
    for (field, value) in [
        ("revises_step", new.revises_step),
        ("branch_from_step", new.branch_from_step),
    ] {
        if let Some(value) = value
            && value >= number
        {
            return Err(Error::invalid(
                field,
                format!("must name an earlier step than {number}, got {value}"),
            ));
        }
    }

    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    let row = step::Model {
        id,
        session_id: session.id.0,
        step_number: number,
        kind: checked.kind,
        content: checked.content,
        raw_response: checked.raw_response,
        model: checked.model.clone(),
        confidence: checked.confidence,
        clarity: checked.clarity,
        is_revision: new.is_revision,
        revises_step: new.revises_step,
        branch_from_step: new.branch_from_step,
        branch_id: checked.branch_id,
        metadata: checked.metadata,
        // Microseconds, as PostgreSQL keeps them: the step returned is the step stored.
        created_at: new
            .created_at
            .map_or(ctx.now, crate::clock::truncate_to_micros),
    };
    ctx.insert_step(conn, row.clone()).await?;
    ctx.next_step.insert(session.id, number + 1);
    ctx.touched.insert(session.id);
    if session.model.is_none()
        && let Some(model) = &checked.model
    {
        adopt_session_model(conn, ctx, session.id, model).await?;
    }
    ctx.event(LiveEventKind::StepAppended, session.id, id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: step_from_row(row),
    })
}

/// A session created without a model takes the first one its steps or calls name.
pub(crate) async fn adopt_session_model<C: ConnectionTrait>(
    conn: &C,
    ctx: &mut WriteCtx,
    session_id: SessionId,
    model: &str,
) -> Result<()> {
    session::Entity::update_many()
        .col_expr(session::Column::Model, Expr::value(model))
        .filter(session::Column::Id.eq(session_id.0))
        .filter(session::Column::Model.is_null())
        .exec(conn)
        .await?;
    ctx.set_session_model(session_id, model);
    Ok(())
}

/// Loads a step and checks it belongs to the session a record is written into.
pub(crate) async fn step_of_session<C: ConnectionTrait>(
    conn: &C,
    session: SessionId,
    step_id: StepId,
) -> Result<step::Model> {
    match step::Entity::find_by_id(step_id.0).one(conn).await? {
        Some(row) if row.session_id == session.0 => Ok(row),
        _ => Err(Error::not_found("step", step_id)),
    }
}

/// Appends a step and, when it is new and something analyses steps, queues its analysis in the
/// same transaction (a replay keeps what its first write stored or queued).
pub(crate) async fn append_queued_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    session: &SessionRef,
    new: &NewStep,
) -> Result<Written<Step>> {
    let written = append_step_in(lux, conn, ctx, session, new).await?;
    if written.outcome == WriteOutcome::Created && !lux.analysis_is_off() {
        ctx.queue_analysis(&written.value);
    }
    Ok(written)
}

impl Lux {
    #[instrument(skip_all, fields(project = %project, session = %session, bytes = new.content.len()))]
    pub async fn append_step(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewStep,
    ) -> Result<Written<Step>> {
        // The step and its analysis job are stored together; the analysis runs after the commit.
        self.admit_analysis_jobs(1)?;
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = append_queued_in(self, &tx, &mut ctx, session, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    /// A page of steps in order. The cursor is the last step number of the page before; a page
    /// at the largest limit still says whether more follow.
    pub async fn list_steps(
        &self,
        project: ProjectId,
        session: &SessionRef,
        page: &PageRequest,
    ) -> Result<Page<Step>> {
        let limit = page.checked_limit()?;
        let after_step = match page.cursor.as_deref() {
            None => 0,
            Some(cursor) => cursor
                .parse::<i32>()
                .ok()
                .filter(|after| *after >= 0)
                .ok_or_else(|| Error::invalid("cursor", "is not a cursor this server issued"))?,
        };
        let session = self.get_session(project, session).await?;
        let rows = step::Entity::find()
            .filter(step::Column::SessionId.eq(session.id.0))
            .filter(step::Column::StepNumber.gt(after_step))
            .order_by_asc(step::Column::StepNumber)
            .limit(u64::from(limit) + 1)
            .all(self.db())
            .await?;
        let mut items: Vec<Step> = rows.into_iter().map(step_from_row).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|step| step.step_number.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The sessions of those steps that exist in the project (absent ones are left out): how an
    /// OTLP span finds the session its parent span's step went to.
    pub async fn sessions_of_steps(
        &self,
        project: ProjectId,
        steps: &[StepId],
    ) -> Result<HashMap<StepId, SessionId>> {
        if steps.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Uuid, Uuid)> = step::Entity::find()
            .select_only()
            .column(step::Column::Id)
            .column(step::Column::SessionId)
            .filter(step::Column::Id.is_in(steps.iter().map(|step| step.0)))
            .filter(
                step::Column::SessionId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(session::Column::Id)
                        .from(session::Entity)
                        .and_where(session::Column::ProjectId.eq(project.0))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(step, session)| (StepId(step), SessionId(session)))
            .collect())
    }

    /// Every step of a session, in order.
    pub async fn all_steps(&self, project: ProjectId, session: &SessionRef) -> Result<Vec<Step>> {
        let session = self.get_session(project, session).await?;
        let rows = step::Entity::find()
            .filter(step::Column::SessionId.eq(session.id.0))
            .order_by_asc(step::Column::StepNumber)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(step_from_row).collect())
    }
}
