//! An MCP host's turn as one core call and one transaction (`Lux::record_turn`): the session
//! found or created, the step, its model call and synthesis; an id that makes a retried thought a
//! replay rather than a second step; and the session state its reply shows, read by index — the
//! cost of a turn must not grow with the session.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use lux_entity::{bias_finding, monitor_event, session, step};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::sessions::{CheckedPatch, create_session_in, session_in, update_session_in};
use crate::services::steps::append_queued_in;
use crate::services::synthesis::add_synthesis_in;
use crate::services::usage::record_model_call_in;
use crate::store::{Lux, WriteCtx, finding_from_row, monitor_event_from_row};

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

/// Which session a turn writes into.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnSession {
    /// A stored session; one that is not there is `not_found`.
    Stored(SessionRef),
    /// The session a host names: its Lux id, or else its external id, created from the
    /// template under that external id the first time it is named.
    Named { name: String, template: NewSession },
    /// The newest active session of the template's tool, or else a new one from it.
    LatestOrNew(NewSession),
    /// A new session from the template.
    New(NewSession),
}

/// One turn of an MCP host: a step, with the model call that produced it and the synthesis it
/// stated, written in one transaction. A numbered thought gets an id from its coordinates and
/// text, so a host that retries it after a crash finds it stored instead of storing it twice.
#[derive(Debug, Clone)]
pub struct Turn {
    pub session: TurnSession,
    pub step: NewStep,
    /// Set for a host's numbered thought: its step id and the steps it revises or branches
    /// from (`revises_thought`, `branch_from_thought`) are found from it.
    pub thought: Option<ThoughtCoordinates>,
    /// The model call that produced the step; stored linked to it.
    pub model_call: Option<NewModelCall>,
    /// A synthesis update the step stated; one that does not parse is reported in
    /// [`TurnRecord::synthesis_error`] and the rest of the turn is stored.
    pub synthesis: Option<NewSynthesis>,
    /// The host's last turn: the session is completed with it.
    pub complete: bool,
    pub actor: Actor,
    /// How long to wait for the step's analysis before answering; `None` reads nothing of it.
    pub analysis_wait: Option<Duration>,
}

impl Turn {
    pub fn new(session: TurnSession, step: NewStep) -> Self {
        Turn {
            session,
            step,
            thought: None,
            model_call: None,
            synthesis: None,
            complete: false,
            actor: Actor::new("mcp"),
            analysis_wait: None,
        }
    }
}

/// What a turn stored, and what its reply shows.
#[derive(Debug)]
pub struct TurnRecord {
    pub session: Session,
    /// The turn created its session.
    pub session_created: bool,
    /// The step; `Duplicate` for a retried thought, whose call and synthesis were stored with it
    /// the first time.
    pub step: Written<Step>,
    pub model_call: Option<ModelCall>,
    pub synthesis: Option<SynthesisVersion>,
    pub synthesis_error: Option<Error>,
    pub state: ThoughtState,
    /// Whether the step's analysis was stored within the wait.
    pub analysed: bool,
    pub findings: Vec<Finding>,
    pub alerts: Vec<MonitorEvent>,
}

impl Lux {
    /// Records a turn in one transaction — its session found or created, the step with its
    /// analysis job, the model call, the synthesis, the session completed with the last turn:
    /// a crash leaves all of it or none. Then waits for the step's analysis as the turn asks.
    /// Nothing here reads every step of the session: a turn costs the same at 2,000 as at 2.
    pub async fn record_turn(&self, project: ProjectId, turn: &Turn) -> Result<TurnRecord> {
        self.admit_analysis_jobs(1)?;
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let (session_id, session_created) =
            turn_session_in(self, &tx, &mut ctx, &turn.session).await?;
        let reference = SessionRef::Id(session_id);
        let mut new = turn.step.clone();
        if let Some(thought) = &turn.thought {
            new.id = Some(thought.step_id(session_id, &new.content));
            new.revises_step =
                step_of_thought_in(&tx, session_id, "revises_step", thought.revises_thought)
                    .await?;
            new.branch_from_step = step_of_thought_in(
                &tx,
                session_id,
                "branch_from_step",
                thought.branch_from_thought,
            )
            .await?;
        }
        let step = append_queued_in(self, &tx, &mut ctx, &reference, &new).await?;
        let created = step.outcome == WriteOutcome::Created;
        let mut model_call = None;
        let mut synthesis = None;
        let mut synthesis_error = None;
        if created {
            if let Some(call) = &turn.model_call {
                let call = NewModelCall {
                    step_id: Some(step.value.id),
                    ..call.clone()
                };
                let written = record_model_call_in(self, &tx, &mut ctx, &reference, &call).await?;
                model_call = Some(written.value);
            }
            if let Some(update) = &turn.synthesis {
                let update = NewSynthesis {
                    step_id: Some(step.value.id),
                    ..update.clone()
                };
                let written = self
                    .in_savepoint(&tx, &mut ctx, async |conn, ctx| {
                        add_synthesis_in(self, conn, ctx, &reference, &update).await
                    })
                    .await;
                match written {
                    Ok(written) => synthesis = Some(written.value),
                    Err(error @ Error::Storage(_)) => return Err(error),
                    Err(error) => synthesis_error = Some(error),
                }
            }
        }
        let current = session_in(&tx, session_id).await?;
        let session = if turn.complete && current.status == SessionStatus::Active {
            let completed = CheckedPatch::status(SessionStatus::Completed);
            update_session_in(self, &tx, &mut ctx, &reference, &completed, &turn.actor).await?
        } else {
            current
        };
        let steps = if created {
            // Steps are numbered 1..=n without gaps, and this one was appended last.
            u64::try_from(step.value.step_number).unwrap_or(0)
        } else {
            last_step_number(&tx, session_id).await?
        };
        let branches = branches_in(&tx, session_id).await?;
        self.commit(tx, ctx).await?;

        let mut record = TurnRecord {
            session,
            session_created,
            step,
            model_call,
            synthesis,
            synthesis_error,
            state: ThoughtState { steps, branches },
            analysed: false,
            findings: Vec::new(),
            alerts: Vec::new(),
        };
        if let Some(wait) = turn.analysis_wait {
            let id = record.step.value.id;
            record.analysed = self.await_analysis(&[id], wait).await?;
            // Findings come from the analysis (or a later explicit record): none before it.
            if record.analysed || !created {
                record.findings = self.step_findings(session_id, id).await?;
                record.alerts = self.step_monitor_events(session_id, id).await?;
            }
        }
        Ok(record)
    }

    /// The number of the newest step of `session` that holds thought `number` (as its metadata
    /// `thought_number` says; revisions repeat a number, the newest wins).
    pub async fn step_of_thought(&self, session: SessionId, number: u32) -> Result<Option<i32>> {
        newest_step_of_thought(self.db(), session, number).await
    }

    /// Step count and named branches of `session`, read by index.
    pub async fn thought_state(&self, session: SessionId) -> Result<ThoughtState> {
        Ok(ThoughtState {
            steps: last_step_number(self.db(), session).await?,
            branches: branches_in(self.db(), session).await?,
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

/// Finds or creates the session a turn writes into; `true` when it created it.
async fn turn_session_in(
    lux: &Lux,
    tx: &DatabaseTransaction,
    ctx: &mut WriteCtx,
    choice: &TurnSession,
) -> Result<(SessionId, bool)> {
    let template = match choice {
        TurnSession::Stored(reference) => return Ok((ctx.session(tx, reference).await?.id, false)),
        TurnSession::Named { name, template } => {
            let name = name.trim();
            if let Ok(id) = name.parse::<SessionId>() {
                match ctx.session(tx, &SessionRef::Id(id)).await {
                    Ok(found) => return Ok((found.id, false)),
                    Err(Error::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            match ctx
                .session(tx, &SessionRef::ExternalId(name.to_owned()))
                .await
            {
                Ok(found) => return Ok((found.id, false)),
                Err(Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
            NewSession {
                external_id: Some(name.to_owned()),
                ..template.clone()
            }
        }
        TurnSession::LatestOrNew(template) => {
            let latest: Option<Uuid> = session::Entity::find()
                .select_only()
                .column(session::Column::Id)
                .filter(session::Column::ProjectId.eq(ctx.project.0))
                .filter(session::Column::Tool.eq(template.tool.as_str()))
                .filter(session::Column::Status.eq(SessionStatus::Active.as_str()))
                .order_by_desc(session::Column::CreatedAt)
                .order_by_desc(session::Column::Id)
                .limit(1)
                .into_tuple()
                .one(tx)
                .await?;
            if let Some(id) = latest {
                let found = ctx.session(tx, &SessionRef::Id(SessionId(id))).await?;
                return Ok((found.id, false));
            }
            template.clone()
        }
        TurnSession::New(template) => template.clone(),
    };
    let written = create_session_in(lux, tx, ctx, &template).await?;
    Ok((written.value.id, written.outcome == WriteOutcome::Created))
}

/// The step holding thought `number` for a field that refers to it; `None` when not given.
async fn step_of_thought_in<C: ConnectionTrait>(
    conn: &C,
    session: SessionId,
    field: &str,
    number: Option<u32>,
) -> Result<Option<i32>> {
    let Some(number) = number else {
        return Ok(None);
    };
    if number == 0 {
        return Err(Error::invalid(field, "must be at least 1"));
    }
    match newest_step_of_thought(conn, session, number).await? {
        Some(step) => Ok(Some(step)),
        None => Err(Error::invalid(
            field,
            format!("this session has no thought {number}"),
        )),
    }
}

async fn newest_step_of_thought<C: ConnectionTrait>(
    conn: &C,
    session: SessionId,
    number: u32,
) -> Result<Option<i32>> {
    let thought = match conn.get_database_backend() {
        DbBackend::Postgres => "(metadata->>'thought_number')::bigint",
        _ => "CAST(json_extract(metadata, '$.thought_number') AS INTEGER)",
    };
    let found: Option<i32> = step::Entity::find()
        .select_only()
        .column(step::Column::StepNumber)
        .filter(step::Column::SessionId.eq(session.0))
        .filter(Expr::cust(thought).eq(i64::from(number)))
        .order_by_desc(step::Column::StepNumber)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(found)
}

/// How many steps `session` holds: they are numbered 1..=n without gaps.
async fn last_step_number<C: ConnectionTrait>(conn: &C, session: SessionId) -> Result<u64> {
    let last: Option<Option<i32>> = step::Entity::find()
        .select_only()
        .column_as(step::Column::StepNumber.max(), "last")
        .filter(step::Column::SessionId.eq(session.0))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(last.flatten().map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// The session's named branches, sorted; read through the partial index on branched steps.
async fn branches_in<C: ConnectionTrait>(conn: &C, session: SessionId) -> Result<Vec<String>> {
    let branches = step::Entity::find()
        .select_only()
        .column(step::Column::BranchId)
        .distinct()
        .filter(step::Column::SessionId.eq(session.0))
        .filter(step::Column::BranchId.is_not_null())
        .order_by_asc(step::Column::BranchId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(branches)
}
