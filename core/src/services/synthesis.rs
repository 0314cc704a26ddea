//! Synthesis: each update, structured or parsed from LLM text, becomes one new version with its
//! insights and action items; nothing is overwritten.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{action_item, insight, synthesis_version};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::live::LiveEventKind;
use crate::services::steps::step_of_session;
use crate::store::{Lux, WriteCtx, synthesis_from_rows};
use crate::synthesis::{SynthesisUpdate, parse_update};

async fn next_version<C: ConnectionTrait>(
    conn: &C,
    ctx: &mut WriteCtx,
    session: SessionId,
) -> Result<i32> {
    if let Some(next) = ctx.next_version.get(&session) {
        return Ok(*next);
    }
    let max: Option<i32> = synthesis_version::Entity::find()
        .select_only()
        .column_as(synthesis_version::Column::Version.max(), "max")
        .filter(synthesis_version::Column::SessionId.eq(session.0))
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    let next = max.unwrap_or(0) + 1;
    ctx.next_version.insert(session, next);
    Ok(next)
}

pub(crate) async fn load_version<C: ConnectionTrait>(
    conn: &C,
    row: synthesis_version::Model,
) -> Result<SynthesisVersion> {
    let insights = insight::Entity::find()
        .filter(insight::Column::SynthesisVersionId.eq(row.id))
        .order_by_asc(insight::Column::Position)
        .all(conn)
        .await?;
    let actions = action_item::Entity::find()
        .filter(action_item::Column::SynthesisVersionId.eq(row.id))
        .order_by_asc(action_item::Column::Position)
        .all(conn)
        .await?;
    synthesis_from_rows(row, insights, actions)
}

pub(crate) async fn add_synthesis_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    new: &NewSynthesis,
) -> Result<Written<SynthesisVersion>> {
    let (update, raw_update): (SynthesisUpdate, Option<String>) = match &new.input {
        SynthesisInput::Structured(update) => {
            update.validate()?;
            (update.clone(), None)
        }
        SynthesisInput::Raw(text) => {
            let text = bounded_text("raw_update", text, MAX_CONTENT_BYTES)?;
            (parse_update(&text)?, Some(text))
        }
    };
    let session = ctx.session(conn, reference).await?;
    if let Some(id) = new.id
        && let Some(row) = synthesis_version::Entity::find_by_id(id.0)
            .one(conn)
            .await?
    {
        if row.session_id != session.id.0 {
            return Err(Error::conflict(format!(
                "synthesis version id {id} belongs to another session"
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: load_version(conn, row).await?,
        });
    }
    let step_number = match (new.step_id, new.step_number) {
        (Some(step_id), given) => {
            let step = step_of_session(conn, session.id, step_id).await?;
            if given.is_some_and(|number| number != step.step_number) {
                return Err(Error::invalid(
                    "step_number",
                    format!(
                        "step {step_id} is step {}, not {}",
                        step.step_number,
                        given.unwrap_or_default()
                    ),
                ));
            }
            Some(step.step_number)
        }
        (None, Some(number)) => Some(positive_number("step_number", number)?),
        (None, None) => None,
    };

    let version = next_version(conn, ctx, session.id).await?;
    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    let row = synthesis_version::ActiveModel {
        id: Set(id),
        session_id: Set(session.id.0),
        version: Set(version),
        step_id: Set(new.step_id.map(|step| step.0)),
        step_number: Set(step_number),
        raw_update: Set(raw_update),
        current_understanding: Set(update.current_understanding.clone()),
        confidence: Set(update.confidence),
        clarity: Set(update.clarity),
        parsed: Set(update.to_json()),
        created_at: Set(new.created_at.unwrap_or(ctx.now)),
    };
    let inserted = synthesis_version::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    let insight_rows: Vec<insight::ActiveModel> = update
        .insights
        .iter()
        .enumerate()
        .map(|(position, item)| insight::ActiveModel {
            id: Set(lux.new_id()),
            synthesis_version_id: Set(id),
            session_id: Set(session.id.0),
            position: Set(position as i32),
            text: Set(item.text.clone()),
            confidence: Set(item.confidence),
            source_step: Set(item.source_step),
            supported_by_evidence: Set(item.supported_by_evidence),
        })
        .collect();
    let insight_models: Vec<insight::Model> = if insight_rows.is_empty() {
        Vec::new()
    } else {
        insight::Entity::insert_many(insight_rows)
            .exec_with_returning(conn)
            .await?
    };
    let action_rows: Vec<action_item::ActiveModel> = update
        .action_items
        .iter()
        .enumerate()
        .map(|(position, item)| action_item::ActiveModel {
            id: Set(lux.new_id()),
            synthesis_version_id: Set(id),
            session_id: Set(session.id.0),
            position: Set(position as i32),
            action: Set(item.action.clone()),
            priority: Set(item.priority.as_str().to_owned()),
            rationale: Set(item.rationale.clone()),
            dependencies: Set(serde_json::json!(item.dependencies)),
        })
        .collect();
    let action_models: Vec<action_item::Model> = if action_rows.is_empty() {
        Vec::new()
    } else {
        action_item::Entity::insert_many(action_rows)
            .exec_with_returning(conn)
            .await?
    };
    ctx.next_version.insert(session.id, version + 1);
    ctx.touched.insert(session.id);
    ctx.event(LiveEventKind::SynthesisUpdated, session.id, id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: synthesis_from_rows(inserted, insight_models, action_models)?,
    })
}

impl Lux {
    #[instrument(skip_all, fields(project = %project, session = %session))]
    pub async fn add_synthesis(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewSynthesis,
    ) -> Result<Written<SynthesisVersion>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = add_synthesis_in(self, &tx, &mut ctx, session, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    /// The newest version, or `None` for a session with no synthesis yet.
    pub async fn latest_synthesis(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<Option<SynthesisVersion>> {
        let session = self.get_session(project, session).await?;
        let row = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(session.id.0))
            .order_by_desc(synthesis_version::Column::Version)
            .one(self.db())
            .await?;
        match row {
            Some(row) => Ok(Some(load_version(self.db(), row).await?)),
            None => Ok(None),
        }
    }

    /// Every version, oldest first.
    pub async fn list_synthesis_versions(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<Vec<SynthesisVersion>> {
        let session = self.get_session(project, session).await?;
        let rows = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(session.id.0))
            .order_by_asc(synthesis_version::Column::Version)
            .all(self.db())
            .await?;
        let insights = insight::Entity::find()
            .filter(insight::Column::SessionId.eq(session.id.0))
            .order_by_asc(insight::Column::Position)
            .all(self.db())
            .await?;
        let actions = action_item::Entity::find()
            .filter(action_item::Column::SessionId.eq(session.id.0))
            .order_by_asc(action_item::Column::Position)
            .all(self.db())
            .await?;
        let mut insights_by_version: HashMap<Uuid, Vec<insight::Model>> = HashMap::new();
        for row in insights {
            insights_by_version
                .entry(row.synthesis_version_id)
                .or_default()
                .push(row);
        }
        let mut actions_by_version: HashMap<Uuid, Vec<action_item::Model>> = HashMap::new();
        for row in actions {
            actions_by_version
                .entry(row.synthesis_version_id)
                .or_default()
                .push(row);
        }
        rows.into_iter()
            .map(|row| {
                let version_insights = insights_by_version.remove(&row.id).unwrap_or_default();
                let version_actions = actions_by_version.remove(&row.id).unwrap_or_default();
                synthesis_from_rows(row, version_insights, version_actions)
            })
            .collect()
    }
}
