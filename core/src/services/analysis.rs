//! Analysis as part of writing: reading a step's context, running the monitor and detectors on it
//! before the write transaction opens, storing what they found inside that transaction, and
//! re-running everything over stored history (`lux analyze`).
//!
//! **Invariant:** no detector runs while a write transaction is open (on SQLite that would hold
//! the database write lock for as long as a slow plugin or model takes).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{bias_finding, monitor_event, session, step};

use crate::detect::{
    ContextWindow, DetectorInput, DetectorRegistry, PriorStep, StepAnalysis, StepUnderReview,
    SynthesisContext,
};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::findings::{record_finding_in, record_monitor_event_in};
use crate::services::ingest::IngestRecord;
use crate::store::{Lux, WriteCtx};

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

/// Content the write will refuse anyway is not worth analysing.
fn analysable(new: &NewStep) -> bool {
    !new.content.trim().is_empty() && new.content.len() <= MAX_CONTENT_BYTES
}

/// Per-session state while a batch is analysed: context so far and the monitor following it.
struct BatchSession {
    context: SessionContext,
    monitor: Option<crate::monitor::MonitorState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SessionKey {
    Id(SessionId),
    External(String),
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

    /// Earlier steps (windowed) and the newest synthesis of a session, read outside any transaction.
    async fn session_context(&self, session: SessionId) -> Result<SessionContext> {
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
            .order_by_asc(step::Column::StepNumber)
            .limit(window.head as u64)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut tail: Vec<(i32, String, String)> = step::Entity::find()
            .select_only()
            .columns(columns)
            .filter(step::Column::SessionId.eq(session.0))
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
        let project = self.project_of_session(session).await?;
        if let Some(project) = project
            && let Some(version) = self
                .latest_synthesis(project, &SessionRef::Id(session))
                .await?
        {
            context.synthesis = Some(Arc::new(synthesis_context(&version)));
        }
        Ok(context)
    }

    async fn project_of_session(&self, session: SessionId) -> Result<Option<ProjectId>> {
        let project: Option<Uuid> = session::Entity::find_by_id(session.0)
            .select_only()
            .column(session::Column::ProjectId)
            .into_tuple()
            .one(self.db())
            .await?;
        Ok(project.map(ProjectId))
    }

    /// Runs the monitor and detectors on a step about to be appended. `None` when there is
    /// nothing to analyse or the context cannot be read (the write then reports the problem).
    pub(crate) async fn analyze_new_step(
        &self,
        project: ProjectId,
        reference: &SessionRef,
        new: &NewStep,
    ) -> Option<StepAnalysis> {
        if !analysable(new) || self.analysis_is_off() {
            return None;
        }
        let session = self.get_session(project, reference).await.ok()?;
        let context = match self.session_context(session.id).await {
            Ok(context) => context,
            Err(error) => {
                tracing::warn!(%error, session = %session.id, "cannot read context; step stored unanalysed");
                return None;
            }
        };
        if new
            .step_number
            .is_some_and(|n| n <= context.last_step_number)
        {
            return None; // A replay or a conflict: the write decides, nothing new to analyse.
        }
        let mut monitor = self.analysis.monitor_for(&context.previous);
        let input = Arc::new(DetectorInput {
            step: StepUnderReview {
                step_number: Some(new.step_number.unwrap_or(context.last_step_number + 1)),
                kind: new.kind.clone(),
                content: new.content.clone(),
            },
            previous: context.previous,
            synthesis: context.synthesis,
        });
        Some(self.analysis.analyze(monitor.as_mut(), input).await)
    }

    fn analysis_is_off(&self) -> bool {
        self.analysis.detectors().is_empty()
            && self.analysis.dynamic().is_empty()
            && self.analysis.monitor.is_none()
    }

    /// Analyses the step records of a batch in order, before its transaction opens. A step's
    /// context is its session's stored steps followed by the earlier steps of the same batch.
    pub(crate) async fn analyze_batch(
        &self,
        project: ProjectId,
        records: &[IngestRecord],
    ) -> Vec<Option<StepAnalysis>> {
        let mut out: Vec<Option<StepAnalysis>> = vec![None; records.len()];
        if self.analysis_is_off() {
            return out;
        }
        let client_ids: Vec<Uuid> = records
            .iter()
            .filter_map(|record| match record {
                IngestRecord::Step { step, .. } => step.id.map(|id| id.0),
                _ => None,
            })
            .collect();
        let stored: HashSet<Uuid> = if client_ids.is_empty() {
            HashSet::new()
        } else {
            match step::Entity::find()
                .select_only()
                .column(step::Column::Id)
                .filter(step::Column::Id.is_in(client_ids))
                .into_tuple::<Uuid>()
                .all(self.db())
                .await
            {
                Ok(ids) => ids.into_iter().collect(),
                Err(error) => {
                    tracing::warn!(%error, "cannot read stored step ids; batch stored unanalysed");
                    return out;
                }
            }
        };

        let mut aliases: HashMap<String, SessionId> = HashMap::new();
        let mut sessions: HashMap<SessionKey, BatchSession> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            let (reference, new) = match record {
                IngestRecord::Session(new) => {
                    if let (Some(id), Some(external)) = (new.id, &new.external_id) {
                        aliases.insert(external.trim().to_owned(), id);
                    }
                    continue;
                }
                IngestRecord::Step { session, step } => (session, step),
                _ => continue,
            };
            if !analysable(new) || new.id.is_some_and(|id| stored.contains(&id.0)) {
                continue;
            }
            let key = match reference {
                SessionRef::Id(id) => SessionKey::Id(*id),
                SessionRef::ExternalId(external) => match aliases.get(external.trim()) {
                    Some(id) => SessionKey::Id(*id),
                    None => SessionKey::External(external.trim().to_owned()),
                },
            };
            if !sessions.contains_key(&key) {
                let context = match self.get_session(project, reference).await {
                    Ok(found) => {
                        if let SessionRef::ExternalId(external) = reference {
                            aliases.insert(external.trim().to_owned(), found.id);
                        }
                        match self.session_context(found.id).await {
                            Ok(context) => context,
                            Err(error) => {
                                tracing::warn!(%error, "cannot read context; steps stored unanalysed");
                                continue;
                            }
                        }
                    }
                    // Created earlier in this batch (or not at all: the write will say so).
                    Err(_) => SessionContext::default(),
                };
                let monitor = self.analysis.monitor_for(&context.previous);
                sessions.insert(key.clone(), BatchSession { context, monitor });
            }
            let Some(state) = sessions.get_mut(&key) else {
                continue;
            };
            if new
                .step_number
                .is_some_and(|n| n <= state.context.last_step_number)
            {
                continue;
            }
            let step_number = new
                .step_number
                .unwrap_or(state.context.last_step_number + 1);
            let input = Arc::new(DetectorInput {
                step: StepUnderReview {
                    step_number: Some(step_number),
                    kind: new.kind.clone(),
                    content: new.content.clone(),
                },
                previous: state.context.previous.clone(),
                synthesis: state.context.synthesis.clone(),
            });
            out[index] = Some(self.analysis.analyze(state.monitor.as_mut(), input).await);
            state.context.push(
                PriorStep {
                    step_number,
                    kind: new.kind.clone(),
                    content: new.content.clone(),
                },
                self.analysis.context,
            );
        }
        out
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
