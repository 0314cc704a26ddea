//! Analysis of stored steps: the jobs a write queued (`services::analysis_queue`) and re-running
//! everything over stored history (`lux analyze`). Both read a step's context the same way: the
//! steps stored before it and the synthesis as it stood when it was written.
//!
//! **Invariant:** no detector runs while a write transaction is open (on SQLite that would hold
//! the database write lock for as long as a slow plugin or model takes).

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{analysis_job, bias_finding, monitor_event, session, step, synthesis_version};

use crate::detect::{
    ContextWindow, DetectorInput, DetectorRegistry, PriorStep, StepAnalysis, StepUnderReview,
    SynthesisContext,
};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::analysis_queue::ClaimedJob;
use crate::services::findings::{record_finding_in, record_monitor_event_in};
use crate::services::synthesis::load_version;
use crate::store::{Lux, WriteCtx, step_from_row};

/// What a session looked like before a write: the windowed earlier steps, the newest synthesis.
#[derive(Debug, Clone, Default)]
struct SessionContext {
    previous: Vec<Arc<PriorStep>>,
    synthesis: Option<Arc<SynthesisContext>>,
    last_step_number: i32,
}

impl SessionContext {
    /// Appends a step, keeping the window's shape (first `head`, last `tail`).
    fn push(&mut self, step: PriorStep, window: ContextWindow) {
        self.last_step_number = self.last_step_number.max(step.step_number);
        self.previous.push(Arc::new(step));
        if self.previous.len() > window.head + window.tail {
            self.previous
                .remove(window.head.min(self.previous.len() - 1));
        }
    }
}

fn synthesis_context(version: &SynthesisVersion) -> SynthesisContext {
    SynthesisContext {
        current_understanding: version.current_understanding.clone(),
        insights: version.insights.iter().map(|i| i.text.clone()).collect(),
        confidence: version.confidence,
    }
}

impl Lux {
    /// The detectors and monitor run on every write.
    pub fn detectors(&self) -> &Arc<DetectorRegistry> {
        &self.analysis
    }

    /// The same database with another set of detectors (clones share the pool and the event bus).
    pub fn with_detectors(mut self, registry: DetectorRegistry) -> Lux {
        self.analysis = Arc::new(registry);
        self
    }

    /// The steps before `before` in a session, windowed as the detectors want them (the first
    /// `head` and the last `tail`), read outside any transaction.
    async fn context_before(&self, session: SessionId, before: i32) -> Result<SessionContext> {
        let window = self.analysis.context;
        let columns = [
            step::Column::StepNumber,
            step::Column::Kind,
            step::Column::Content,
        ];
        let head: Vec<(i32, String, String)> = step::Entity::find()
            .select_only()
            .columns(columns)
            .filter(step::Column::SessionId.eq(session.0))
            .filter(step::Column::StepNumber.lt(before))
            .order_by_asc(step::Column::StepNumber)
            .limit(window.head as u64)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut tail: Vec<(i32, String, String)> = step::Entity::find()
            .select_only()
            .columns(columns)
            .filter(step::Column::SessionId.eq(session.0))
            .filter(step::Column::StepNumber.lt(before))
            .order_by_desc(step::Column::StepNumber)
            .limit(window.tail as u64)
            .into_tuple()
            .all(self.db())
            .await?;
        tail.reverse();
        let head_end = head.last().map_or(0, |(n, _, _)| *n);
        let mut context = SessionContext::default();
        for (step_number, kind, content) in head
            .into_iter()
            .chain(tail.into_iter().filter(|(n, _, _)| *n > head_end))
        {
            context.push(
                PriorStep {
                    step_number,
                    kind,
                    content,
                },
                window,
            );
        }
        Ok(context)
    }

    /// The synthesis of `session` as it stood at `at` (the newest version written by then),
    /// reusing `cache` while it is still that version.
    async fn synthesis_at(
        &self,
        session: SessionId,
        at: chrono::DateTime<chrono::Utc>,
        cache: &mut Option<(Uuid, Arc<SynthesisContext>)>,
    ) -> Result<Option<Arc<SynthesisContext>>> {
        let row = synthesis_version::Entity::find()
            .filter(synthesis_version::Column::SessionId.eq(session.0))
            .filter(synthesis_version::Column::CreatedAt.lte(at))
            .order_by_desc(synthesis_version::Column::CreatedAt)
            .order_by_desc(synthesis_version::Column::Version)
            .one(self.db())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if let Some((id, context)) = cache.as_ref()
            && *id == row.id
        {
            return Ok(Some(context.clone()));
        }
        let id = row.id;
        let version = load_version(self.db(), row).await?;
        let context = Arc::new(synthesis_context(&version));
        *cache = Some((id, context.clone()));
        Ok(Some(context))
    }

    /// Whether anything would analyse a step: no detectors, no plugins and no monitor means
    /// steps are stored as sent.
    pub(crate) fn analysis_is_off(&self) -> bool {
        self.analysis.detectors().is_empty()
            && self.analysis.dynamic().is_empty()
            && self.analysis.monitor.is_none()
    }

    /// Analyses the claimed jobs of one session in step order (consecutive steps share their
    /// context reads, as the detectors see a session written step by step) and stores each
    /// analysis with its job's removal, in one transaction. A step's context is what was stored
    /// before it, and the synthesis as it stood when it was written, so a late job finds what a
    /// prompt one would and `lux analyze` agrees with both. Returns the jobs completed; a job
    /// whose lease lapsed and was taken by another worker is left to that worker.
    pub(crate) async fn analyse_session_jobs(&self, jobs: &[ClaimedJob]) -> Result<usize> {
        let Some(first) = jobs.first() else {
            return Ok(0);
        };
        let session = SessionId(first.row.session_id);
        let tokens: HashMap<Uuid, Uuid> = jobs
            .iter()
            .map(|job| (job.row.step_id, job.token))
            .collect();
        let rows = step::Entity::find()
            .filter(step::Column::Id.is_in(tokens.keys().copied()))
            .order_by_asc(step::Column::StepNumber)
            .all(self.db())
            .await?;
        let registry = self.analysis.clone();
        let mut context: Option<SessionContext> = None;
        let mut monitor = None;
        let mut synthesis_cache = None;
        let mut analysed = Vec::with_capacity(rows.len());
        for row in rows {
            let follows = context
                .as_ref()
                .is_some_and(|c| c.last_step_number + 1 == row.step_number);
            let context = match (follows, context.as_mut()) {
                (true, Some(context)) => context,
                _ => {
                    let fresh = self.context_before(session, row.step_number).await?;
                    monitor = registry.monitor_for(&fresh.previous);
                    context.insert(fresh)
                }
            };
            context.synthesis = self
                .synthesis_at(session, row.created_at, &mut synthesis_cache)
                .await?;
            let input = Arc::new(DetectorInput {
                step: StepUnderReview {
                    step_number: Some(row.step_number),
                    kind: row.kind.clone(),
                    content: row.content.clone(),
                },
                previous: context.previous.clone(),
                synthesis: context.synthesis.clone(),
            });
            let analysis = registry.analyze(monitor.as_mut(), input).await;
            context.push(
                PriorStep {
                    step_number: row.step_number,
                    kind: row.kind.clone(),
                    content: row.content.clone(),
                },
                registry.context,
            );
            analysed.push((step_from_row(row), analysis));
        }

        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, ProjectId(first.row.project_id));
        let mut done = 0;
        for (step, analysis) in analysed {
            let Some(token) = tokens.get(&step.id.0) else {
                continue;
            };
            let mine = analysis_job::Entity::delete_many()
                .filter(analysis_job::Column::StepId.eq(step.id.0))
                .filter(analysis_job::Column::ClaimToken.eq(*token))
                .exec(&tx)
                .await?;
            if mine.rows_affected == 0 {
                continue;
            }
            store_analysis_in(self, &tx, &mut ctx, &step, analysis).await?;
            done += 1;
        }
        self.commit_queued(tx, ctx).await?;
        Ok(done)
    }

    /// Which sessions `lux analyze` works on: one (by id in any project, or by external id in
    /// the default project), or every stored session, oldest first.
    pub async fn analysis_targets(
        &self,
        scope: &AnalyzeScope,
    ) -> Result<Vec<(ProjectId, SessionId)>> {
        let mut query = session::Entity::find()
            .select_only()
            .column(session::Column::ProjectId)
            .column(session::Column::Id);
        query = match scope {
            AnalyzeScope::All => query,
            AnalyzeScope::Session(SessionRef::Id(id)) => query.filter(session::Column::Id.eq(id.0)),
            AnalyzeScope::Session(SessionRef::ExternalId(external)) => query
                .filter(session::Column::ProjectId.eq(self.default_project().0))
                .filter(session::Column::ExternalId.eq(external.as_str())),
        };
        let rows: Vec<(Uuid, Uuid)> = query
            .order_by_asc(session::Column::CreatedAt)
            .order_by_asc(session::Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        if rows.is_empty()
            && let AnalyzeScope::Session(reference) = scope
        {
            return Err(Error::not_found("session", reference));
        }
        Ok(rows
            .into_iter()
            .map(|(project, session)| (ProjectId(project), SessionId(session)))
            .collect())
    }

    /// Re-runs the current detectors and the monitor over a stored session, step by step in order,
    /// and replaces what the same detector versions and the monitor recorded before. Running it
    /// twice leaves the same findings and events.
    #[instrument(skip_all, fields(project = %project, session = %reference))]
    pub async fn analyze_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
    ) -> Result<AnalyzeReport> {
        let session = self.get_session(project, reference).await?;
        let reference = SessionRef::Id(session.id);
        let steps = self.all_steps(project, &reference).await?;
        let versions = self.list_synthesis_versions(project, &reference).await?;

        let registry = self.analysis.clone();
        let mut context = SessionContext::default();
        let mut monitor = registry.monitor_for(&[]);
        let mut analysed = Vec::with_capacity(steps.len());
        for step in &steps {
            // The synthesis as it stood when the step was written.
            context.synthesis = versions
                .iter()
                .rev()
                .find(|v| v.created_at <= step.created_at)
                .map(|v| Arc::new(synthesis_context(v)));
            let input = Arc::new(DetectorInput {
                step: StepUnderReview {
                    step_number: Some(step.step_number),
                    kind: step.kind.clone(),
                    content: step.content.clone(),
                },
                previous: context.previous.clone(),
                synthesis: context.synthesis.clone(),
            });
            analysed.push(registry.analyze(monitor.as_mut(), input).await);
            context.push(
                PriorStep {
                    step_number: step.step_number,
                    kind: step.kind.clone(),
                    content: step.content.clone(),
                },
                registry.context,
            );
        }

        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        ctx.session(&tx, &reference).await?;
        let mut versions_cond = Condition::any();
        let detectors = registry.all_detectors();
        for registered in &detectors {
            versions_cond = versions_cond.add(
                Condition::all()
                    .add(bias_finding::Column::Detector.eq(registered.detector.name()))
                    .add(bias_finding::Column::DetectorVersion.eq(registered.detector.version())),
            );
        }
        let replaced_findings = if detectors.is_empty() {
            0
        } else {
            bias_finding::Entity::delete_many()
                .filter(bias_finding::Column::SessionId.eq(session.id.0))
                .filter(versions_cond)
                .exec(&tx)
                .await?
                .rows_affected
        };
        let replaced_events =
            delete_analysis_events(&tx, session.id, registry.monitor.is_some()).await?;
        // Queued jobs of this session would add a second copy of what this run stores.
        analysis_job::Entity::delete_many()
            .filter(analysis_job::Column::SessionId.eq(session.id.0))
            .exec(&tx)
            .await?;

        let mut report = AnalyzeReport {
            session_id: session.id,
            steps: steps.len(),
            replaced_findings,
            replaced_events,
            findings: 0,
            events: 0,
            failures: 0,
        };
        for (step, analysis) in steps.iter().zip(analysed) {
            report.failures += analysis.failures.len();
            let (findings, events) = store_analysis_in(self, &tx, &mut ctx, step, analysis).await?;
            report.findings += findings;
            report.events += events;
        }
        self.commit(tx, ctx).await?;
        Ok(report)
    }
}

/// Removes the events an earlier analysis wrote: the monitor's (when it is on, so it will write
/// them again) and detector-failure records. Events recorded by clients are kept.
async fn delete_analysis_events<C: ConnectionTrait>(
    conn: &C,
    session: SessionId,
    monitor_on: bool,
) -> Result<u64> {
    let rows: Vec<(Uuid, serde_json::Value)> = monitor_event::Entity::find()
        .select_only()
        .column(monitor_event::Column::Id)
        .column(monitor_event::Column::Data)
        .filter(monitor_event::Column::SessionId.eq(session.0))
        .into_tuple()
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = rows
        .into_iter()
        .filter(|(_, data)| {
            let source = data.get("source").and_then(|s| s.as_str());
            source == Some(crate::detect::FAILURE_SOURCE)
                || (monitor_on && source == Some(crate::monitor::MONITOR_NAME))
        })
        .map(|(id, _)| id)
        .collect();
    let mut deleted = 0;
    // Chunked: SQLite caps bound parameters per statement.
    for chunk in ids.chunks(500) {
        deleted += monitor_event::Entity::delete_many()
            .filter(monitor_event::Column::Id.is_in(chunk.to_vec()))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(deleted)
}

/// Stores a step's analysis in the write transaction of the step. A finding or event that does
/// not validate is logged and counted, never allowed to fail the write; only storage errors
/// propagate. Returns how many findings and events were stored.
pub(crate) async fn store_analysis_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    step: &Step,
    analysis: StepAnalysis,
) -> Result<(usize, usize)> {
    let reference = SessionRef::Id(step.session_id);
    let (mut findings, mut events) = (0, 0);
    for mut finding in analysis.findings {
        finding.step_id = Some(step.id);
        match record_finding_in(lux, conn, ctx, &reference, &finding).await {
            Ok(_) => findings += 1,
            Err(error @ Error::Storage(_)) => return Err(error),
            Err(error) => {
                lux.analysis.count_failure();
                tracing::warn!(%error, detector = %finding.detector, "finding dropped");
            }
        }
    }
    for mut event in analysis.events {
        event.step_id = Some(step.id);
        match record_monitor_event_in(lux, conn, ctx, &reference, &event).await {
            Ok(_) => events += 1,
            Err(error @ Error::Storage(_)) => return Err(error),
            Err(error) => {
                lux.analysis.count_failure();
                tracing::warn!(%error, kind = %event.kind, "monitor event dropped");
            }
        }
    }
    Ok((findings, events))
}

/// What `lux analyze` works on.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalyzeScope {
    Session(SessionRef),
    All,
}

/// What re-analysing one session did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeReport {
    pub session_id: SessionId,
    pub steps: usize,
    pub findings: usize,
    pub events: usize,
    pub failures: usize,
    pub replaced_findings: u64,
    pub replaced_events: u64,
}
