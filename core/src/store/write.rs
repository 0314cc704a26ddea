//! What every write shares: the transaction's clock reading, the session it locked, caches that
//! make a batch cheap, and the live events to publish once it commits.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use lux_entity::{analysis_job, audit_log, model_price, session, step};

use crate::domain::{Actor, PriceId, ProjectId, SessionId, SessionRef, StoredPrice};
use crate::error::{Error, Result};
use crate::live::{LiveEventKind, PendingEvent, log_events};
use crate::pricing::{ModelPrice, select_price};
use crate::store::{Backend, Lux};

/// What a write needs to know about the session it writes into.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) model: Option<String>,
}

/// State of one write transaction, shared by the items of a batch.
#[derive(Debug)]
pub(crate) struct WriteCtx {
    pub(crate) project: ProjectId,
    pub(crate) now: DateTime<Utc>,
    pub(crate) backend: Backend,
    pub(crate) events: Vec<PendingEvent>,
    sessions: HashMap<SessionId, SessionHandle>,
    external_ids: HashMap<String, SessionId>,
    /// Next free step number / synthesis version per session; valid because the session is locked.
    pub(crate) next_step: HashMap<SessionId, i32>,
    pub(crate) next_version: HashMap<SessionId, i32>,
    pub(crate) touched: HashSet<SessionId>,
    /// Step ids known not to be stored (a batch's prefetch), so their idempotency lookup is skipped.
    pub(crate) absent_steps: HashSet<Uuid>,
    /// Analysis jobs of the steps this transaction stored, written with them at commit.
    jobs: Vec<analysis_job::ActiveModel>,
    /// Whether new steps wait in `pending_steps` to be written together (a batch without
    /// savepoints, where a failure sends the whole batch back anyway) or are written at once.
    pub(crate) defer_steps: bool,
    /// Validated, numbered steps not yet written; flushed before anything reads the steps
    /// table in this transaction, and at commit.
    pending_steps: Vec<step::ActiveModel>,
    prices: Option<PriceTable>,
}

/// Where an item of a batch started, so what it queued can be dropped if it fails.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checkpoint {
    events: usize,
    jobs: usize,
    pending_steps: usize,
}

/// The price list in the shape `pricing::select_price` wants, with each entry's stored id beside it.
#[derive(Debug, Default)]
pub(crate) struct PriceTable {
    prices: Vec<ModelPrice>,
    ids: Vec<PriceId>,
}

impl PriceTable {
    pub(crate) fn from_stored(stored: Vec<StoredPrice>) -> Self {
        let ids = stored.iter().map(|price| price.id).collect();
        let prices = stored.into_iter().map(|price| price.price).collect();
        PriceTable { prices, ids }
    }

    pub(crate) fn price_for(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Option<(PriceId, &ModelPrice)> {
        let selected = select_price(&self.prices, Some(provider), model, at)?;
        let index = self
            .prices
            .iter()
            .position(|price| std::ptr::eq(price, selected))?;
        Some((self.ids[index], selected))
    }
}

impl WriteCtx {
    pub(crate) fn new(lux: &Lux, project: ProjectId) -> Self {
        WriteCtx {
            project,
            now: lux.now(),
            backend: lux.backend(),
            events: Vec::new(),
            sessions: HashMap::new(),
            external_ids: HashMap::new(),
            next_step: HashMap::new(),
            next_version: HashMap::new(),
            touched: HashSet::new(),
            absent_steps: HashSet::new(),
            jobs: Vec::new(),
            defer_steps: false,
            pending_steps: Vec::new(),
            prices: None,
        }
    }

    /// Writes a new step, or keeps it for the next [`WriteCtx::flush_steps`] when steps are
    /// deferred: a batch's steps then go in as a few multi-row statements, not one each.
    pub(crate) async fn insert_step<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        row: step::Model,
    ) -> Result<()> {
        let row = row.into_active_model().reset_all();
        if self.defer_steps {
            self.pending_steps.push(row);
            return Ok(());
        }
        step::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// Writes the deferred steps. Anything that reads the steps table inside the transaction
    /// calls this first, so it sees what the transaction has written.
    pub(crate) async fn flush_steps<C: ConnectionTrait>(&mut self, conn: &C) -> Result<()> {
        // 15 columns a row: 1,000 rows stay under SQLite's 32,766 bound parameters.
        let mut pending = std::mem::take(&mut self.pending_steps)
            .into_iter()
            .peekable();
        while pending.peek().is_some() {
            let chunk: Vec<_> = pending.by_ref().take(1000).collect();
            step::Entity::insert_many(chunk)
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }

    pub(crate) fn event(&mut self, kind: LiveEventKind, session: SessionId, entity_id: Uuid) {
        self.events.push(PendingEvent {
            kind,
            project_id: self.project,
            session_id: session,
            entity_id,
            at: self.now,
        });
    }

    /// Queues the analysis of a step this transaction stored: its job is written at commit.
    pub(crate) fn queue_analysis(&mut self, step: &crate::domain::Step) {
        self.jobs.push(crate::services::analysis_queue::new_job(
            step,
            self.project,
            self.now,
        ));
    }

    /// Marks where an item of a batch starts, so its traces can be dropped if it fails.
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            events: self.events.len(),
            jobs: self.jobs.len(),
            pending_steps: self.pending_steps.len(),
        }
    }

    /// Forgets what a failed (rolled back) item may have cached, queued or announced.
    pub(crate) fn rollback_to(&mut self, checkpoint: Checkpoint) {
        self.events.truncate(checkpoint.events);
        self.jobs.truncate(checkpoint.jobs);
        self.pending_steps.truncate(checkpoint.pending_steps);
        self.sessions.clear();
        self.external_ids.clear();
        self.next_step.clear();
        self.next_version.clear();
    }

    pub(crate) fn remember_session(&mut self, handle: SessionHandle, external_id: Option<&str>) {
        if let Some(external_id) = external_id {
            self.external_ids.insert(external_id.to_owned(), handle.id);
        }
        self.sessions.insert(handle.id, handle);
    }

    pub(crate) fn set_session_model(&mut self, session: SessionId, model: &str) {
        if let Some(handle) = self.sessions.get_mut(&session) {
            handle.model = Some(model.to_owned());
        }
    }

    /// Finds the session in this project and locks it against concurrent writers (on PostgreSQL;
    /// SQLite's immediate transaction already holds the database write lock).
    pub(crate) async fn session<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        reference: &SessionRef,
    ) -> Result<SessionHandle> {
        let cached = match reference {
            SessionRef::Id(id) => self.sessions.get(id),
            SessionRef::ExternalId(external) => self
                .external_ids
                .get(external)
                .and_then(|id| self.sessions.get(id)),
        };
        if let Some(handle) = cached {
            return Ok(handle.clone());
        }
        if let SessionRef::ExternalId(external) = reference
            && !crate::domain::could_be_stored(external)
        {
            return Err(Error::not_found("session", reference));
        }
        let mut query =
            session::Entity::find().filter(session::Column::ProjectId.eq(self.project.0));
        query = match reference {
            SessionRef::Id(id) => query.filter(session::Column::Id.eq(id.0)),
            SessionRef::ExternalId(external) => {
                query.filter(session::Column::ExternalId.eq(external.as_str()))
            }
        };
        if self.backend == Backend::Postgres {
            query = query.lock(LockType::Update);
        }
        let row = query
            .one(conn)
            .await?
            .ok_or_else(|| Error::not_found("session", reference))?;
        let handle = SessionHandle {
            id: SessionId(row.id),
            model: row.model,
        };
        self.remember_session(handle.clone(), row.external_id.as_deref());
        Ok(handle)
    }

    /// The price list, read once per transaction.
    pub(crate) async fn prices<C: ConnectionTrait>(&mut self, conn: &C) -> Result<&PriceTable> {
        if self.prices.is_none() {
            let rows = model_price::Entity::find().all(conn).await?;
            let stored = rows.into_iter().map(super::price_from_row).collect();
            self.prices = Some(PriceTable::from_stored(stored));
        }
        Ok(self.prices.get_or_insert_default())
    }

    /// Stamps `updated_at` on every session this transaction wrote into, once.
    pub(crate) async fn touch_sessions<C: ConnectionTrait>(&mut self, conn: &C) -> Result<()> {
        if self.touched.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = self.touched.drain().map(|id| id.0).collect();
        session::Entity::update_many()
            .col_expr(session::Column::UpdatedAt, Expr::value(self.now))
            .filter(session::Column::Id.is_in(ids))
            .exec(conn)
            .await?;
        Ok(())
    }
}

impl Lux {
    /// Commits a write with what it queued and announced; then the analysis jobs it stored
    /// are handed to the workers, or run now in a process without any.
    pub(crate) async fn commit(&self, tx: DatabaseTransaction, ctx: WriteCtx) -> Result<()> {
        let jobs = self.commit_queued(tx, ctx).await?;
        self.jobs_committed(&jobs).await;
        Ok(())
    }

    /// Commits a write and says which steps' analysis jobs it stored, leaving them for the
    /// caller to hand on (the analysis of a job commits through here, queuing nothing).
    pub(crate) async fn commit_queued(
        &self,
        tx: DatabaseTransaction,
        mut ctx: WriteCtx,
    ) -> Result<Vec<Uuid>> {
        ctx.flush_steps(&tx).await?;
        ctx.touch_sessions(&tx).await?;
        log_events(&tx, &ctx.events).await?;
        let jobs: Vec<Uuid> = ctx
            .jobs
            .iter()
            .filter_map(|job| job.step_id.clone().take())
            .collect();
        // Chunked: SQLite caps bound parameters per statement (10 columns a row).
        let mut queued = std::mem::take(&mut ctx.jobs).into_iter().peekable();
        while queued.peek().is_some() {
            let chunk: Vec<_> = queued.by_ref().take(3000).collect();
            analysis_job::Entity::insert_many(chunk).exec(&tx).await?;
        }
        tx.commit().await?;
        self.events().nudge();
        Ok(jobs)
    }

    /// Runs one write as a savepoint of `tx`: on error it leaves nothing of itself behind.
    pub(crate) async fn in_savepoint<T, F>(
        &self,
        tx: &DatabaseTransaction,
        ctx: &mut WriteCtx,
        write: F,
    ) -> Result<T>
    where
        F: AsyncFnOnce(&DatabaseTransaction, &mut WriteCtx) -> Result<T>,
    {
        let checkpoint = ctx.checkpoint();
        let savepoint = tx.begin().await?;
        match write(&savepoint, ctx).await {
            Ok(value) => {
                savepoint.commit().await?;
                Ok(value)
            }
            Err(error) => {
                savepoint.rollback().await?;
                ctx.rollback_to(checkpoint);
                Err(error)
            }
        }
    }
}

/// One line of the audit trail.
#[derive(Debug)]
pub(crate) struct AuditEntry<'a> {
    pub(crate) action: &'a str,
    pub(crate) entity_type: &'a str,
    pub(crate) entity_id: String,
    pub(crate) details: serde_json::Value,
}

pub(crate) async fn write_audit<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    ctx: &WriteCtx,
    actor: &Actor,
    entry: AuditEntry<'_>,
) -> Result<()> {
    let row = audit_log::ActiveModel {
        id: sea_orm::Set(id),
        project_id: sea_orm::Set(Some(ctx.project.0)),
        actor: sea_orm::Set(actor.0.clone()),
        action: sea_orm::Set(entry.action.to_owned()),
        entity_type: sea_orm::Set(entry.entity_type.to_owned()),
        entity_id: sea_orm::Set(entry.entity_id),
        details: sea_orm::Set(entry.details),
        created_at: sea_orm::Set(ctx.now),
    };
    audit_log::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
