//! Sessions: create (idempotently), read, list with filters and cursors, patch, end, delete with audit.

use std::collections::HashMap;

use sea_orm::sea_query::{Condition, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{model_call, session, session_tag};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::live::LiveEventKind;
use crate::store::{
    AuditEntry, Lux, SessionHandle, WriteCtx, newest_first, session_from_row, write_audit,
};

const MAX_TAGS: usize = 32;
const MAX_TAG_BYTES: usize = 64;

fn checked_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut checked: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = required_text("tags", tag, MAX_TAG_BYTES)?;
        if !checked.contains(&tag) {
            checked.push(tag);
        }
    }
    if checked.len() > MAX_TAGS {
        return Err(Error::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags allowed"),
        ));
    }
    Ok(checked)
}

/// Validated fields of a new session, ready to insert.
struct SessionRow {
    external_id: Option<String>,
    tool: String,
    status: SessionStatus,
    title: Option<String>,
    user_id: Option<String>,
    client: Option<String>,
    model: Option<String>,
    tags: Vec<String>,
    metadata: serde_json::Value,
}

fn checked_new_session(new: &NewSession) -> Result<SessionRow> {
    Ok(SessionRow {
        external_id: optional_text("external_id", new.external_id.as_deref(), MAX_LABEL_BYTES)?,
        tool: identifier("tool", &new.tool)?,
        status: new.status.unwrap_or(SessionStatus::Active),
        title: optional_text("title", new.title.as_deref(), MAX_TEXT_BYTES)?,
        user_id: optional_text("user_id", new.user_id.as_deref(), MAX_LABEL_BYTES)?,
        client: optional_text("client", new.client.as_deref(), MAX_LABEL_BYTES)?,
        model: optional_text("model", new.model.as_deref(), MAX_LABEL_BYTES)?,
        tags: checked_tags(&new.tags)?,
        metadata: metadata("metadata", new.metadata.clone())?,
    })
}

async fn tags_of<C: ConnectionTrait>(
    conn: &C,
    sessions: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>> {
    let mut tags: HashMap<Uuid, Vec<String>> = HashMap::new();
    if sessions.is_empty() {
        return Ok(tags);
    }
    let rows = session_tag::Entity::find()
        .filter(session_tag::Column::SessionId.is_in(sessions.iter().copied()))
        .order_by_asc(session_tag::Column::Tag)
        .all(conn)
        .await?;
    for row in rows {
        tags.entry(row.session_id).or_default().push(row.tag);
    }
    Ok(tags)
}

async fn load_session<C: ConnectionTrait>(conn: &C, row: session::Model) -> Result<Session> {
    let mut tags = tags_of(conn, &[row.id]).await?;
    let tags = tags.remove(&row.id).unwrap_or_default();
    session_from_row(row, tags)
}

/// A session as the caller's connection (or transaction) sees it now.
pub(crate) async fn session_in<C: ConnectionTrait>(conn: &C, id: SessionId) -> Result<Session> {
    let row = session::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .ok_or_else(|| Error::not_found("session", SessionRef::Id(id)))?;
    load_session(conn, row).await
}

async fn replace_tags<C: ConnectionTrait>(conn: &C, session: Uuid, tags: &[String]) -> Result<()> {
    session_tag::Entity::delete_many()
        .filter(session_tag::Column::SessionId.eq(session))
        .exec(conn)
        .await?;
    if !tags.is_empty() {
        let rows = tags.iter().map(|tag| session_tag::ActiveModel {
            session_id: Set(session),
            tag: Set(tag.clone()),
        });
        session_tag::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// A session patch whose fields passed validation.
pub(crate) struct CheckedPatch {
    patch: SessionPatch,
    title: Option<Option<String>>,
    tags: Option<Vec<String>>,
    metadata: Option<serde_json::Value>,
}

impl CheckedPatch {
    pub(crate) fn of(patch: SessionPatch) -> Result<Self> {
        let title = match &patch.title {
            Some(title) => Some(optional_text("title", title.as_deref(), MAX_TEXT_BYTES)?),
            None => None,
        };
        let tags = patch.tags.as_deref().map(checked_tags).transpose()?;
        let metadata = patch
            .metadata
            .clone()
            .map(|value| metadata("metadata", Some(value)))
            .transpose()?;
        Ok(CheckedPatch {
            patch,
            title,
            tags,
            metadata,
        })
    }

    /// Only a new status (what completing or failing a session is).
    pub(crate) fn status(status: SessionStatus) -> Self {
        CheckedPatch {
            patch: SessionPatch {
                status: Some(status),
                ..SessionPatch::default()
            },
            title: None,
            tags: None,
            metadata: None,
        }
    }
}

/// Applies a checked patch in the caller's transaction, with its audit record and live event.
pub(crate) async fn update_session_in(
    lux: &Lux,
    tx: &DatabaseTransaction,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    checked: &CheckedPatch,
    actor: &Actor,
) -> Result<Session> {
    let patch = &checked.patch;
    let handle = ctx.session(tx, reference).await?;
    let current = session::Entity::find_by_id(handle.id.0)
        .one(tx)
        .await?
        .ok_or_else(|| Error::not_found("session", reference))?;
    let mut row: session::ActiveModel = current.clone().into();
    if let Some(status) = patch.status {
        row.status = Set(status.as_str().to_owned());
        row.completed_at = Set(match (status.is_final(), current.completed_at) {
            (false, _) => None,
            (true, Some(at)) => Some(at),
            (true, None) => Some(ctx.now),
        });
    }
    if let Some(title) = &checked.title {
        row.title = Set(title.clone());
    }
    if let Some(metadata) = &checked.metadata {
        row.metadata = Set(metadata.clone());
    }
    row.updated_at = Set(ctx.now);
    let updated = session::Entity::update(row).exec(tx).await?;
    if let Some(tags) = &checked.tags {
        replace_tags(tx, handle.id.0, tags).await?;
    }
    let details = serde_json::json!({
        "status": patch.status.map(SessionStatus::as_str),
        "title": patch.title.is_some(),
        "tags": checked.tags,
        "metadata": patch.metadata.is_some(),
    });
    write_audit(
        tx,
        lux.new_id(),
        ctx,
        actor,
        AuditEntry {
            action: "session.update",
            entity_type: "session",
            entity_id: handle.id.to_string(),
            details,
        },
    )
    .await?;
    ctx.event(LiveEventKind::SessionUpdated, handle.id, handle.id.0);
    load_session(tx, updated).await
}

/// Creates a session inside a write, or finds the one a replay refers to.
pub(crate) async fn create_session_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    new: &NewSession,
) -> Result<Written<Session>> {
    let checked = checked_new_session(new)?;
    if let Some(id) = new.id
        && let Some(row) = session::Entity::find_by_id(id.0).one(conn).await?
    {
        if row.project_id != ctx.project.0 {
            return Err(Error::conflict(format!("session id {id} is already taken")));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: load_session(conn, row).await?,
        });
    }
    if let Some(external_id) = &checked.external_id
        && let Some(row) = session::Entity::find()
            .filter(session::Column::ProjectId.eq(ctx.project.0))
            .filter(session::Column::ExternalId.eq(external_id.as_str()))
            .one(conn)
            .await?
    {
        if new.id.is_some_and(|id| id.0 != row.id) {
            return Err(Error::conflict(format!(
                "external_id {external_id:?} already names session {}",
                row.id
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: load_session(conn, row).await?,
        });
    }

    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    // Microseconds, as PostgreSQL keeps them and the paging cursor encodes them.
    let created_at = new
        .created_at
        .map_or(ctx.now, crate::clock::truncate_to_micros);
    let completed_at = match (checked.status.is_final(), new.completed_at) {
        (false, Some(_)) => {
            return Err(Error::invalid(
                "completed_at",
                "an active session has not completed",
            ));
        }
        (false, None) => None,
        (true, Some(at)) if at < created_at => {
            return Err(Error::invalid("completed_at", "is before created_at"));
        }
        (true, at) => Some(at.unwrap_or(ctx.now)),
    };
    let row = session::ActiveModel {
        id: Set(id),
        project_id: Set(ctx.project.0),
        external_id: Set(checked.external_id.clone()),
        tool: Set(checked.tool),
        status: Set(checked.status.as_str().to_owned()),
        title: Set(checked.title),
        user_id: Set(checked.user_id),
        client: Set(checked.client),
        model: Set(checked.model.clone()),
        metadata: Set(checked.metadata),
        created_at: Set(created_at),
        updated_at: Set(created_at.max(ctx.now)),
        completed_at: Set(completed_at),
    };
    let inserted = session::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    replace_tags(conn, id, &checked.tags).await?;
    ctx.remember_session(
        SessionHandle {
            id: SessionId(id),
            model: checked.model,
        },
        checked.external_id.as_deref(),
    );
    ctx.event(LiveEventKind::SessionCreated, SessionId(id), id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: session_from_row(inserted, checked.tags)?,
    })
}

impl Lux {
    #[instrument(skip_all, fields(project = %project, tool = %new.tool))]
    pub async fn create_session(
        &self,
        project: ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = create_session_in(self, &tx, &mut ctx, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    pub async fn get_session(&self, project: ProjectId, reference: &SessionRef) -> Result<Session> {
        if let SessionRef::ExternalId(external) = reference
            && !could_be_stored(external)
        {
            return Err(Error::not_found("session", reference));
        }
        let query = session::Entity::find().filter(session::Column::ProjectId.eq(project.0));
        let query = match reference {
            SessionRef::Id(id) => query.filter(session::Column::Id.eq(id.0)),
            SessionRef::ExternalId(external) => {
                query.filter(session::Column::ExternalId.eq(external.as_str()))
            }
        };
        let row = query
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("session", reference))?;
        load_session(self.db(), row).await
    }

    /// Newest first, `(created_at, id)` keyset pagination so pages stay stable while sessions are added.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn list_sessions(
        &self,
        project: ProjectId,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>> {
        // A bad limit is refused even when nothing could match.
        page.checked_limit()?;
        let keys = [
            &filter.tool,
            &filter.model,
            &filter.user_id,
            &filter.tag,
            &filter.external_id,
        ];
        if keys
            .iter()
            .any(|key| key.as_deref().is_some_and(|key| !could_be_stored(key)))
        {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut query = session::Entity::find().filter(session::Column::ProjectId.eq(project.0));
        if let Some(status) = filter.status {
            query = query.filter(session::Column::Status.eq(status.as_str()));
        }
        if let Some(tool) = &filter.tool {
            query = query.filter(session::Column::Tool.eq(tool.as_str()));
        }
        if let Some(user_id) = &filter.user_id {
            query = query.filter(session::Column::UserId.eq(user_id.as_str()));
        }
        if let Some(external_id) = &filter.external_id {
            query = query.filter(session::Column::ExternalId.eq(external_id.as_str()));
        }
        if let Some(model) = &filter.model {
            let calls_with_model = Query::select()
                .column(model_call::Column::SessionId)
                .from(model_call::Entity)
                .and_where(model_call::Column::Model.eq(model.as_str()))
                .to_owned();
            query = query.filter(
                Condition::any()
                    .add(session::Column::Model.eq(model.as_str()))
                    .add(session::Column::Id.in_subquery(calls_with_model)),
            );
        }
        if let Some(tag) = &filter.tag {
            let tagged = Query::select()
                .column(session_tag::Column::SessionId)
                .from(session_tag::Entity)
                .and_where(session_tag::Column::Tag.eq(tag.as_str()))
                .to_owned();
            query = query.filter(session::Column::Id.in_subquery(tagged));
        }
        if let Some(since) = filter.since {
            query = query.filter(session::Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(session::Column::CreatedAt.lt(until));
        }
        let (rows, next_cursor) = newest_first(
            self.db(),
            query,
            (session::Column::CreatedAt, session::Column::Id),
            page,
            |row| (row.created_at, row.id),
        )
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut tags = tags_of(self.db(), &ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let row_tags = tags.remove(&row.id).unwrap_or_default();
                session_from_row(row, row_tags)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }

    #[instrument(skip_all, fields(project = %project, session = %reference))]
    pub async fn update_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
        patch: SessionPatch,
        actor: &Actor,
    ) -> Result<Session> {
        let checked = CheckedPatch::of(patch)?;
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let session = update_session_in(self, &tx, &mut ctx, reference, &checked, actor).await?;
        self.commit(tx, ctx).await?;
        Ok(session)
    }

    pub async fn complete_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
        actor: &Actor,
    ) -> Result<Session> {
        let patch = SessionPatch {
            status: Some(SessionStatus::Completed),
            ..SessionPatch::default()
        };
        self.update_session(project, reference, patch, actor).await
    }

    pub async fn fail_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
        actor: &Actor,
    ) -> Result<Session> {
        let patch = SessionPatch {
            status: Some(SessionStatus::Failed),
            ..SessionPatch::default()
        };
        self.update_session(project, reference, patch, actor).await
    }

    /// Deletes the session and everything under it (by cascade), leaving an audit record of what went.
    #[instrument(skip_all, fields(project = %project, session = %reference))]
    pub async fn delete_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
        actor: &Actor,
    ) -> Result<()> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let handle = ctx.session(&tx, reference).await?;
        let row = session::Entity::find_by_id(handle.id.0)
            .one(&tx)
            .await?
            .ok_or_else(|| Error::not_found("session", reference))?;
        let n_steps = lux_entity::step::Entity::find()
            .filter(lux_entity::step::Column::SessionId.eq(row.id))
            .count(&tx)
            .await?;
        let details = serde_json::json!({
            "external_id": row.external_id,
            "tool": row.tool,
            "title": row.title,
            "status": row.status,
            "created_at": row.created_at,
            "steps": n_steps,
        });
        session::Entity::delete_by_id(row.id).exec(&tx).await?;
        write_audit(
            &tx,
            self.new_id(),
            &ctx,
            actor,
            AuditEntry {
                action: "session.delete",
                entity_type: "session",
                entity_id: row.id.to_string(),
                details,
            },
        )
        .await?;
        ctx.event(LiveEventKind::SessionDeleted, handle.id, handle.id.0);
        self.commit(tx, ctx).await
    }
}
