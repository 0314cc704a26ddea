//! What a host's numbered thought (MCP `sequential_thinking` and its kin) needs besides the step
//! write: an id that makes a retried thought a replay rather than a second step, and the session
//! state its reply shows, read by index — the cost of a thought must not grow with the session.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use lux_entity::{bias_finding, monitor_event, step};

use crate::domain::*;
use crate::error::Result;

use crate::services::sessions::{CheckedPatch, session_in, update_session_in};
use crate::services::steps::append_queued_in;
use crate::store::{Backend, Lux, WriteCtx, finding_from_row, monitor_event_from_row};

/// Where a thought sits in its host's numbering: what, with its text, identifies a retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThoughtCoordinates {
    /// The tool that numbers the thoughts (`sequential_thinking`, …).
    pub tool: &'static str,
    pub thought_number: u32,
    pub is_revision: bool,
    pub revises_thought: Option<u32>,
    pub branch_from_thought: Option<u32>,
    pub branch_id: Option<String>,
}

impl ThoughtCoordinates {
    /// The id the thought's step gets: the same session, coordinates and text give the same id,
    /// so a host that retries a thought after a crash (not knowing whether it was stored) finds
    /// it already there (`WriteOutcome::Duplicate`) instead of storing it twice.
    pub fn step_id(&self, session: SessionId, content: &str) -> StepId {
        let mut name = Sha256::new();
        for part in [
            self.tool.to_owned(),
            self.thought_number.to_string(),
            self.is_revision.to_string(),
            optional(self.revises_thought),
            optional(self.branch_from_thought),
            optional(self.branch_id.as_deref()),
            content.to_owned(),
        ] {
            name.update((part.len() as u64).to_le_bytes());
            name.update(part.as_bytes());
        }
        StepId(Uuid::new_v5(&session.0, &name.finalize()))
    }
}

/// An optional coordinate as the id hashes it: absent and present never spell the same.
fn optional(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("={value}"))
}

/// A session's state as a thought's reply shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThoughtState {
    /// Steps stored in the session (they are numbered 1..=n without gaps).
    pub steps: u64,
    /// Named branches, sorted.
    pub branches: Vec<String>,
}

impl Lux {
    /// A host's thought in one transaction: the step with its analysis job and, when `complete` says it was the host's last thought, the session
    /// completed with it — a crash leaves both or neither. Returns the step and the session as
    /// the write left it.
    pub async fn record_thought(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewStep,
        complete: bool,
        actor: &Actor,
    ) -> Result<(Written<Step>, Session)> {
        self.admit_analysis_jobs(1)?;
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = append_queued_in(self, &tx, &mut ctx, session, &new).await?;
        let reference = SessionRef::Id(written.value.session_id);
        let current = session_in(&tx, written.value.session_id).await?;
        let session = if complete && current.status == SessionStatus::Active {
            let completed = CheckedPatch::status(SessionStatus::Completed);
            update_session_in(self, &tx, &mut ctx, &reference, &completed, actor).await?
        } else {
            current
        };
        self.commit(tx, ctx).await?;
        Ok((written, session))
    }

    /// The number of the newest step of `session` that holds thought `number` (as its metadata
    /// `thought_number` says; revisions repeat a number, the newest wins).
    pub async fn step_of_thought(&self, session: SessionId, number: u32) -> Result<Option<i32>> {
        let thought = match self.backend() {
            Backend::Sqlite => "CAST(json_extract(metadata, '$.thought_number') AS INTEGER)",
            Backend::Postgres => "(metadata->>'thought_number')::bigint",
        };
        let found: Option<i32> = step::Entity::find()
            .select_only()
            .column(step::Column::StepNumber)
            .filter(step::Column::SessionId.eq(session.0))
            .filter(Expr::cust(thought).eq(i64::from(number)))
            .order_by_desc(step::Column::StepNumber)
            .limit(1)
            .into_tuple()
            .one(self.db())
            .await?;
        Ok(found)
    }

    /// Step count and named branches of `session`, read by index.
    pub async fn thought_state(&self, session: SessionId) -> Result<ThoughtState> {
        let last: Option<Option<i32>> = step::Entity::find()
            .select_only()
            .column_as(step::Column::StepNumber.max(), "last")
            .filter(step::Column::SessionId.eq(session.0))
            .into_tuple()
            .one(self.db())
            .await?;
        let branches: Vec<String> = step::Entity::find()
            .select_only()
            .column(step::Column::BranchId)
            .distinct()
            .filter(step::Column::SessionId.eq(session.0))
            .filter(step::Column::BranchId.is_not_null())
            .order_by_asc(step::Column::BranchId)
            .into_tuple()
            .all(self.db())
            .await?;
        Ok(ThoughtState {
            steps: last.flatten().map_or(0, |n| u64::try_from(n).unwrap_or(0)),
            branches,
        })
    }

    /// The findings stored on one step of `session`, oldest first.
    pub async fn step_findings(&self, session: SessionId, step: StepId) -> Result<Vec<Finding>> {
        let rows = bias_finding::Entity::find()
            .filter(bias_finding::Column::SessionId.eq(session.0))
            .filter(bias_finding::Column::StepId.eq(step.0))
            .order_by_asc(bias_finding::Column::CreatedAt)
            .order_by_asc(bias_finding::Column::Id)
            .all(self.db())
            .await?;
        rows.into_iter().map(finding_from_row).collect()
    }

    /// The monitor events stored on one step of `session`, oldest first.
    pub async fn step_monitor_events(
        &self,
        session: SessionId,
        step: StepId,
    ) -> Result<Vec<MonitorEvent>> {
        let rows = monitor_event::Entity::find()
            .filter(monitor_event::Column::SessionId.eq(session.0))
            .filter(monitor_event::Column::StepId.eq(step.0))
            .order_by_asc(monitor_event::Column::CreatedAt)
            .order_by_asc(monitor_event::Column::Id)
            .all(self.db())
            .await?;
        rows.into_iter().map(monitor_event_from_row).collect()
    }
}
