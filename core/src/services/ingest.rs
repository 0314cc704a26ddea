//! Batch ingest: mixed records in one transaction, each in its own savepoint, idempotent on
//! client ids, with a result per item. A bad item leaves nothing behind; good ones are kept.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::findings::{record_finding_in, record_monitor_event_in};
use crate::services::sessions::create_session_in;
use crate::services::steps::{append_queued_in, append_step_in};
use crate::services::synthesis::add_synthesis_in;
use crate::services::usage::record_model_call_in;
use crate::store::{Lux, WriteCtx};

pub const MAX_BATCH_ITEMS: usize = 1000;

/// How a batch is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Queue the batch's new steps for the monitor and detectors, as for any write (the
    /// default). Off for data that already carries its analysis — the demo's
    /// planned findings, a re-import of an export — where running them again would double-count;
    /// `lux analyze` can always catch up later.
    pub analyze: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { analyze: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IngestRecord {
    Session(NewSession),
    Step {
        session: SessionRef,
        step: NewStep,
    },
    ModelCall {
        session: SessionRef,
        call: NewModelCall,
    },
    Synthesis {
        session: SessionRef,
        synthesis: NewSynthesis,
    },
    Finding {
        session: SessionRef,
        finding: NewFinding,
    },
    MonitorEvent {
        session: SessionRef,
        event: NewMonitorEvent,
    },
}

impl IngestRecord {
    pub fn kind(&self) -> &'static str {
        match self {
            IngestRecord::Session(_) => "session",
            IngestRecord::Step { .. } => "step",
            IngestRecord::ModelCall { .. } => "model_call",
            IngestRecord::Synthesis { .. } => "synthesis",
            IngestRecord::Finding { .. } => "finding",
            IngestRecord::MonitorEvent { .. } => "monitor_event",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ItemResult {
    Created {
        id: Uuid,
    },
    Duplicate {
        id: Uuid,
    },
    Error {
        code: String,
        field: Option<String>,
        message: String,
    },
}

impl ItemResult {
    fn of<T>(written: Written<T>, id: impl Fn(&T) -> Uuid) -> Self {
        let id = id(&written.value);
        match written.outcome {
            WriteOutcome::Created => ItemResult::Created { id },
            WriteOutcome::Duplicate => ItemResult::Duplicate { id },
        }
    }

    fn error(error: &Error) -> Self {
        ItemResult::Error {
            code: error.code().to_owned(),
            field: error.field().map(str::to_owned),
            message: error.to_string(),
        }
    }
}

impl Lux {
    /// Writes a batch. Only a storage failure fails the whole call (and then nothing is written);
    /// every other problem is reported in that item's result.
    pub async fn ingest(
        &self,
        project: ProjectId,
        records: &[IngestRecord],
    ) -> Result<Vec<ItemResult>> {
        self.ingest_with(project, records, &IngestOptions::default())
            .await
    }

    /// [`Lux::ingest`] with options: whether to analyse the batch's steps.
    #[instrument(skip_all, fields(project = %project, items = records.len(), analyze = options.analyze))]
    pub async fn ingest_with(
        &self,
        project: ProjectId,
        records: &[IngestRecord],
        options: &IngestOptions,
    ) -> Result<Vec<ItemResult>> {
        if records.len() > MAX_BATCH_ITEMS {
            return Err(Error::invalid(
                "items",
                format!(
                    "a batch holds at most {MAX_BATCH_ITEMS} items, got {}",
                    records.len()
                ),
            ));
        }
        let steps = records
            .iter()
            .filter(|record| matches!(record, IngestRecord::Step { .. }))
            .count();
        if options.analyze {
            self.admit_analysis_jobs(steps)?;
        }
        // Most batches are clean: write them without a savepoint per item. The first item that
        // fails sends the batch back to the start, written item by item in savepoints, so a
        // failed item still leaves nothing of itself behind.
        if let Some(results) = self
            .write_batch(project, records, options, BatchMode::Optimistic)
            .await?
        {
            return Ok(results);
        }
        let results = self
            .write_batch(project, records, options, BatchMode::Savepoints)
            .await?;
        Ok(results.unwrap_or_default())
    }

    /// One attempt at writing a batch; `None` when an optimistic attempt met a failing item
    /// (its transaction is then rolled back, having committed nothing).
    async fn write_batch(
        &self,
        project: ProjectId,
        records: &[IngestRecord],
        options: &IngestOptions,
        mode: BatchMode,
    ) -> Result<Option<Vec<ItemResult>>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        ctx.absent_steps = absent_step_ids(&tx, records).await?;
        // Without savepoints a failing item sends the batch back whole, so the steps can wait
        // and go in together; with them each step is written inside its own savepoint.
        ctx.defer_steps = mode == BatchMode::Optimistic;
        let mut results = Vec::with_capacity(records.len());
        for record in records {
            // Other records may name a step of this batch: it must be written before them.
            if !matches!(record, IngestRecord::Step { .. })
                && let Err(error) = ctx.flush_steps(&tx).await
            {
                tracing::debug!(%error, "the batch's steps failed; writing it item by item");
                tx.rollback().await?;
                return Ok(None);
            }
            let outcome = match mode {
                BatchMode::Optimistic => self.ingest_one(&tx, &mut ctx, record, options).await,
                BatchMode::Savepoints => {
                    self.in_savepoint(&tx, &mut ctx, async |conn, ctx| {
                        self.ingest_one(conn, ctx, record, options).await
                    })
                    .await
                }
            };
            match outcome {
                Ok(result) => results.push(result),
                Err(error) if mode == BatchMode::Optimistic => {
                    tracing::debug!(%error, "an item failed; writing the batch item by item");
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(error @ Error::Storage(_)) if !is_constraint_violation(&error) => {
                    return Err(error);
                }
                Err(error) => results.push(ItemResult::error(&error)),
            }
        }
        if let Err(error) = ctx.flush_steps(&tx).await {
            // A step the database refused (a raced duplicate id): find out which, item by item.
            tracing::debug!(%error, "the batch's steps failed; writing it item by item");
            tx.rollback().await?;
            return Ok(None);
        }
        self.commit(tx, ctx).await?;
        Ok(Some(results))
    }

    async fn ingest_one(
        &self,
        conn: &sea_orm::DatabaseTransaction,
        ctx: &mut WriteCtx,
        record: &IngestRecord,
        options: &IngestOptions,
    ) -> Result<ItemResult> {
        Ok(match record {
            IngestRecord::Session(new) => {
                ItemResult::of(create_session_in(self, conn, ctx, new).await?, |s| s.id.0)
            }
            IngestRecord::Step { session, step } => {
                let written = if options.analyze {
                    append_queued_in(self, conn, ctx, session, step).await?
                } else {
                    append_step_in(self, conn, ctx, session, step).await?
                };
                ItemResult::of(written, |s| s.id.0)
            }
            IngestRecord::ModelCall { session, call } => ItemResult::of(
                record_model_call_in(self, conn, ctx, session, call).await?,
                |c| c.id.0,
            ),
            IngestRecord::Synthesis { session, synthesis } => ItemResult::of(
                add_synthesis_in(self, conn, ctx, session, synthesis).await?,
                |v| v.id.0,
            ),
            IngestRecord::Finding { session, finding } => ItemResult::of(
                record_finding_in(self, conn, ctx, session, finding).await?,
                |f| f.id.0,
            ),
            IngestRecord::MonitorEvent { session, event } => ItemResult::of(
                record_monitor_event_in(self, conn, ctx, session, event).await?,
                |e| e.id.0,
            ),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchMode {
    /// No savepoints; give up at the first failing item.
    Optimistic,
    /// Each item in its own savepoint, failures reported per item.
    Savepoints,
}

/// The client-chosen step ids of a batch that are not stored yet, found in one query per chunk
/// so each step need not look itself up.
async fn absent_step_ids(
    conn: &sea_orm::DatabaseTransaction,
    records: &[IngestRecord],
) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = records
        .iter()
        .filter_map(|record| match record {
            IngestRecord::Step { step, .. } => step.id.map(|id| id.0),
            _ => None,
        })
        .collect();
    let mut absent: HashSet<Uuid> = ids.iter().copied().collect();
    for chunk in ids.chunks(500) {
        let stored: Vec<Uuid> = lux_entity::step::Entity::find()
            .select_only()
            .column(lux_entity::step::Column::Id)
            .filter(lux_entity::step::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        for id in stored {
            absent.remove(&id);
        }
    }
    Ok(absent)
}

/// A unique or foreign-key violation is the item's fault (a raced duplicate), not the database's.
fn is_constraint_violation(error: &Error) -> bool {
    matches!(error, Error::Storage(db) if db.sql_err().is_some())
}
