//! The ingest benchmark behind `lux bench ingest`: the same rows written through the batch-ingest
//! service and through bare `insert_many`, so the service's overhead is a ratio, not a guess.

use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

use lux_entity::{session, step};

use crate::domain::{NewSession, NewStep, SessionId, SessionRef, StepId};
use crate::error::{Error, Result};
use crate::services::analysis_queue::QueueOptions;
use crate::services::ingest::{IngestOptions, IngestRecord, ItemResult, MAX_BATCH_ITEMS};
use crate::store::Lux;

/// Steps per generated session.
const STEPS_PER_SESSION: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngestBenchReport {
    pub steps: usize,
    /// Through `Lux::ingest` as any client's write goes in a server: validated, numbered, and
    /// each step's analysis queued in its transaction (no worker running meanwhile).
    pub queued: Duration,
    /// How long `drain_workers` workers then took to analyse the queued steps.
    pub drained: Duration,
    pub drain_workers: usize,
    /// Through `Lux::ingest_with` with analysis off (data that carries its own analysis).
    pub unanalysed: Duration,
    /// Bare `insert_many` of the same rows.
    pub baseline: Duration,
}

impl IngestBenchReport {
    pub fn per_sec(&self, elapsed: Duration) -> f64 {
        self.steps as f64 / elapsed.as_secs_f64()
    }

    /// Throughput of a path as a fraction of the bare-insert baseline (1.0 = no overhead).
    pub fn ratio(&self, elapsed: Duration) -> f64 {
        self.baseline.as_secs_f64() / elapsed.as_secs_f64()
    }
}

fn content(n: usize) -> String {
    format!(
        "Step {n}: the latency regression appears after the cache warm-up, so the eviction policy \
         is a likelier cause than the deploy itself. Checking the hit ratio per shard before and \
         after the change should separate the two explanations; if only shard {} degrades, the \
         key distribution is skewed rather than the policy wrong.",
        n % 16
    )
}

/// Writes `steps` steps (in sessions of 100) through [`Lux::ingest`] in batches of `batch`
/// records with their analysis queued, times `workers` workers draining that queue, then writes
/// the same number with analysis off and through bare inserts.
pub async fn bench_ingest(
    lux: &Lux,
    steps: usize,
    batch: usize,
    workers: usize,
) -> Result<IngestBenchReport> {
    if batch == 0 || batch > MAX_BATCH_ITEMS {
        return Err(Error::invalid(
            "batch",
            format!("must be between 1 and {MAX_BATCH_ITEMS}"),
        ));
    }
    let server = lux.clone().with_queue_options(QueueOptions {
        max_depth: u64::MAX,
        ..QueueOptions::default()
    });
    let paused = server.start_analysis_workers(0);
    let queued = ingest_steps(&server, steps, batch, IngestOptions { analyze: true }).await?;
    paused.stop().await;
    let started = Instant::now();
    let pool = server.start_analysis_workers(workers.max(1));
    while server.analysis_queue_status().await?.depth > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.stop().await;
    let drained = started.elapsed();
    let unanalysed = ingest_steps(lux, steps, batch, IngestOptions { analyze: false }).await?;
    let baseline = bare_insert_steps(lux, steps, batch).await?;
    Ok(IngestBenchReport {
        steps,
        queued,
        drained,
        drain_workers: workers.max(1),
        unanalysed,
        baseline,
    })
}

/// `steps` generated steps in sessions of 100, as ingest batches of at most `batch` records.
fn generated_batches(steps: usize, batch: usize) -> Vec<Vec<IngestRecord>> {
    let mut batches = Vec::new();
    let mut records = Vec::with_capacity(batch);
    let mut current_session = SessionId(Uuid::nil());
    for n in 0..steps {
        if records.len() + 2 > batch {
            batches.push(std::mem::replace(&mut records, Vec::with_capacity(batch)));
        }
        if n % STEPS_PER_SESSION == 0 {
            current_session = SessionId(Uuid::now_v7());
            records.push(IngestRecord::Session(NewSession {
                id: Some(current_session),
                tool: "bench".into(),
                ..NewSession::default()
            }));
        }
        records.push(IngestRecord::Step {
            session: SessionRef::Id(current_session),
            step: NewStep {
                id: Some(StepId(Uuid::now_v7())),
                kind: "reasoning".into(),
                content: content(n),
                model: Some("gpt-4o-mini".into()),
                confidence: Some(0.7),
                ..NewStep::default()
            },
        });
    }
    if !records.is_empty() {
        batches.push(records);
    }
    batches
}

async fn ingest_steps(
    lux: &Lux,
    steps: usize,
    batch: usize,
    options: IngestOptions,
) -> Result<Duration> {
    let project = lux.default_project();
    let batches = generated_batches(steps, batch);
    let started = Instant::now();
    for records in &batches {
        let results = lux.ingest_with(project, records, &options).await?;
        if let Some(ItemResult::Error { message, .. }) = results
            .iter()
            .find(|r| matches!(r, ItemResult::Error { .. }))
        {
            return Err(Error::invalid(
                "bench",
                format!("ingest refused a generated record: {message}"),
            ));
        }
    }
    Ok(started.elapsed())
}

/// Writes the sessions and steps of an ingest batch with bare `insert_many` in one transaction:
/// what the database takes with no service in the way (no validation, no analysis job, no
/// change log; the steps table's full-text index and rollup triggers included), the baseline
/// a write path is measured against batch by batch. `numbers` carries each session's next step
/// number from one batch to the next.
pub async fn bare_insert(
    lux: &Lux,
    records: &[IngestRecord],
    numbers: &mut std::collections::HashMap<SessionId, i32>,
) -> Result<()> {
    let project = lux.default_project();
    let now = lux.now();
    let mut sessions = Vec::new();
    let mut steps = Vec::new();
    for record in records {
        match record {
            IngestRecord::Session(new) => {
                let id = new.id.map_or_else(Uuid::now_v7, |id| id.0);
                numbers.insert(SessionId(id), 1);
                sessions.push(session::ActiveModel {
                    id: Set(id),
                    project_id: Set(project.0),
                    external_id: Set(new.external_id.clone()),
                    tool: Set(new.tool.clone()),
                    status: Set("active".into()),
                    title: Set(new.title.clone()),
                    user_id: Set(new.user_id.clone()),
                    client: Set(new.client.clone()),
                    model: Set(new.model.clone()),
                    metadata: Set(serde_json::json!({})),
                    created_at: Set(now),
                    updated_at: Set(now),
                    completed_at: Set(None),
                });
            }
            IngestRecord::Step {
                session: SessionRef::Id(session),
                step,
            } => {
                let number = numbers.entry(*session).or_insert(1);
                steps.push(step::ActiveModel {
                    id: Set(step.id.map_or_else(Uuid::now_v7, |id| id.0)),
                    session_id: Set(session.0),
                    step_number: Set(*number),
                    kind: Set(step.kind.clone()),
                    content: Set(step.content.clone()),
                    raw_response: Set(None),
                    model: Set(step.model.clone()),
                    confidence: Set(step.confidence),
                    clarity: Set(None),
                    is_revision: Set(false),
                    revises_step: Set(None),
                    branch_from_step: Set(None),
                    branch_id: Set(None),
                    metadata: Set(serde_json::json!({})),
                    created_at: Set(now),
                });
                *number += 1;
            }
            other => {
                return Err(Error::invalid(
                    "bench",
                    format!(
                        "the bare baseline writes sessions and steps, not {}",
                        other.kind()
                    ),
                ));
            }
        }
    }
    let tx = lux.begin_write().await?;
    if !sessions.is_empty() {
        session::Entity::insert_many(sessions)
            .exec_without_returning(&tx)
            .await?;
    }
    // A batch holds at most 1,000 records: one statement, under SQLite's bound-parameter cap.
    if !steps.is_empty() {
        step::Entity::insert_many(steps)
            .exec_without_returning(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes the steps [`ingest_steps`] would, with [`bare_insert`] per batch: the baseline of
/// [`bench_ingest`].
async fn bare_insert_steps(lux: &Lux, steps: usize, batch: usize) -> Result<Duration> {
    let batches = generated_batches(steps, batch);
    let mut numbers = std::collections::HashMap::new();
    let started = Instant::now();
    for records in &batches {
        bare_insert(lux, records, &mut numbers).await?;
    }
    Ok(started.elapsed())
}
