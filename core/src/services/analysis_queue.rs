//! The analysis queue: analysis off the write's critical path, durably. A step write stores an
//! analysis job beside the step in the same transaction, so a step is never stored without its
//! findings or a job that will produce them (a kill -9 between the two loses nothing). Workers
//! claim due jobs under a lease, analyse them (`services::analysis`) and store the findings and
//! the job's removal in one transaction; a failed attempt waits out a backoff, and a job that
//! keeps failing is given up as a `detector_failure` event.
//!
//! A process that runs no workers (library use, one-shot commands) drains the jobs a write made
//! right after committing it, so the call still returns with its analysis stored. `lux serve` and
//! `lux mcp` run workers; their calls that show findings wait for their own job up to a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use lux_entity::analysis_job;

use crate::detect::DetectorFailure;
use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::{Backend, Lux, WriteCtx};

/// How the queue is drained; the defaults suit a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Jobs a worker claims at once (consecutive steps of a session share their context reads).
    pub batch: usize,
    /// How long a claim holds; a job whose worker died is taken again once it lapses.
    pub lease: Duration,
    /// Attempts before a job is given up and recorded as a `detector_failure` event.
    pub max_attempts: i32,
    /// With more jobs waiting than this, writes that would add jobs are refused (503 with
    /// `Retry-After`) until the workers catch up: the queue never grows without bound.
    pub max_depth: u64,
    /// How often an idle worker looks for jobs it was not told of (other processes' writes,
    /// retries whose backoff ended).
    pub poll: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            batch: 64,
            lease: Duration::from_secs(60),
            max_attempts: 5,
            max_depth: 100_000,
            poll: Duration::from_secs(1),
        }
    }
}

/// The queue's in-process side: who to wake, what to count. Shared by every clone of a `Lux`.
#[derive(Debug)]
pub(crate) struct QueueState {
    options: QueueOptions,
    /// Woken when a write stored jobs.
    work: Notify,
    /// Bumped whenever jobs were completed, for callers waiting on their own.
    progress: watch::Sender<u64>,
    /// Set once workers were started (even none): writes leave their jobs to them, or to
    /// another process, instead of draining them in the writing call.
    deferred: std::sync::atomic::AtomicBool,
    /// Workers running in this process.
    workers: AtomicUsize,
    /// Jobs waiting, as last counted plus what this process added and removed since.
    depth: AtomicU64,
    completed: AtomicU64,
    retried: AtomicU64,
    abandoned: AtomicU64,
}

impl Default for QueueState {
    fn default() -> Self {
        QueueState::new(QueueOptions::default())
    }
}

impl QueueState {
    pub(crate) fn new(options: QueueOptions) -> Self {
        QueueState {
            options,
            work: Notify::new(),
            progress: watch::Sender::new(0),
            deferred: std::sync::atomic::AtomicBool::new(false),
            workers: AtomicUsize::new(0),
            depth: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
        }
    }

    fn completed_jobs(&self, count: u64) {
        self.completed.fetch_add(count, Ordering::Relaxed);
        let _ = self
            .depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |depth| {
                Some(depth.saturating_sub(count))
            });
        self.progress.send_modify(|generation| *generation += 1);
    }
}

/// The queue as `/metrics`, `illumination_status` and the bench report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Jobs stored and not yet completed (in any process).
    pub depth: u64,
    /// How long the oldest waiting job has waited, in seconds.
    pub lag_seconds: f64,
    /// Workers draining the queue in this process.
    pub workers: usize,
    /// Jobs this process completed, retried after a failure, and gave up.
    pub completed: u64,
    pub retried: u64,
    pub abandoned: u64,
}

/// Which jobs a claim takes.
enum Claim<'a> {
    /// The oldest due jobs, up to this many.
    Due(usize),
    /// These steps' jobs, whether due or not (a caller waiting on its own write).
    Steps(&'a [Uuid]),
}

/// A job a worker holds: the stored row and the token that proves the claim.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedJob {
    pub(crate) row: analysis_job::Model,
    pub(crate) token: Uuid,
}

/// The job row a step write stores beside a new step.
pub(crate) fn new_job(
    step: &Step,
    project: ProjectId,
    now: DateTime<Utc>,
) -> analysis_job::ActiveModel {
    analysis_job::ActiveModel {
        step_id: Set(step.id.0),
        session_id: Set(step.session_id.0),
        project_id: Set(project.0),
        step_number: Set(step.step_number),
        enqueued_at: Set(now),
        run_after: Set(now),
        attempts: Set(0),
        lease_until: Set(None),
        claim_token: Set(None),
        last_error: Set(None),
    }
}

/// Waits between attempts of a failing job: 1 s, 2 s, 4 s … up to 5 minutes.
fn backoff(attempts: i32) -> Duration {
    let exponent = Ord::min(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0), 9);
    Duration::from_secs(1u64 << exponent).min(Duration::from_secs(300))
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Workers draining the queue in the background; dropping the handle leaves them running,
/// [`AnalysisWorkers::stop`] lets each finish the jobs it holds and waits for them.
#[derive(Debug)]
pub struct AnalysisWorkers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl AnalysisWorkers {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

impl Lux {
    /// The same database with the queue drained as `options` say (before any worker starts).
    pub fn with_queue_options(mut self, options: QueueOptions) -> Lux {
        self.queue = Arc::new(QueueState::new(options));
        self
    }

    /// Refuses a write that would add `jobs` to a queue already deeper than its limit.
    pub(crate) fn admit_analysis_jobs(&self, jobs: usize) -> Result<()> {
        if jobs == 0 || self.analysis_is_off() {
            return Ok(());
        }
        let depth = self.queue.depth.load(Ordering::Relaxed);
        let limit = self.queue.options.max_depth;
        if depth.saturating_add(jobs as u64) > limit {
            return Err(Error::Busy {
                reason: format!(
                    "{depth} steps are waiting for analysis (the limit is {limit}); retry shortly"
                ),
                retry_after_secs: 5,
            });
        }
        Ok(())
    }

    /// After a write committed jobs: wake the workers, or (with none in this process) analyse
    /// them now. A failed analysis leaves its job for a later attempt; the write stands.
    pub(crate) async fn jobs_committed(&self, steps: &[Uuid]) {
        if steps.is_empty() {
            return;
        }
        self.queue
            .depth
            .fetch_add(steps.len() as u64, Ordering::Relaxed);
        if self.queue.deferred.load(Ordering::Relaxed) {
            self.queue.work.notify_waiters();
            self.queue.work.notify_one();
            return;
        }
        if let Err(error) = self.run_jobs(Claim::Steps(steps)).await {
            tracing::warn!(%error, jobs = steps.len(), "analysis deferred to a later attempt");
        }
    }

    /// Waits until the analysis of `steps` is stored or `deadline` passes, analysing their jobs
    /// at once if no worker holds them. `true` when all of them are done; the analysis goes on
    /// after a missed deadline and its findings arrive on the live stream.
    pub async fn await_analysis(&self, steps: &[StepId], deadline: Duration) -> Result<bool> {
        let ids: Vec<Uuid> = steps.iter().map(|id| id.0).collect();
        if ids.is_empty() || self.pending_jobs(&ids).await? == 0 {
            return Ok(true);
        }
        if deadline.is_zero() {
            return Ok(false); // Not waiting: the workers take the job.
        }
        let mut progress = self.queue.progress.subscribe();
        let lux = self.clone();
        let own = ids.clone();
        // Spawned, so a missed deadline does not abandon the analysis half-way.
        let mine = tokio::spawn(async move { lux.run_jobs(Claim::Steps(&own)).await });
        let wait = async {
            if let Ok(Err(error)) = mine.await {
                tracing::warn!(%error, "analysis deferred to a later attempt");
            }
            loop {
                if self.pending_jobs(&ids).await? == 0 {
                    return Ok(());
                }
                // Another worker (maybe in another process) holds them: look again when this
                // process completes jobs, or after a poll interval.
                let _ = tokio::time::timeout(self.queue.options.poll, progress.changed()).await;
            }
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(error)) => Err(error),
            Err(_) => Ok(false),
        }
    }

    async fn pending_jobs(&self, steps: &[Uuid]) -> Result<usize> {
        let pending: Vec<Uuid> = analysis_job::Entity::find()
            .select_only()
            .column(analysis_job::Column::StepId)
            .filter(analysis_job::Column::StepId.is_in(steps.iter().copied()))
            .into_tuple()
            .all(self.db())
            .await?;
        Ok(pending.len())
    }

    /// The queue now: depth and lag read from the database, counters from this process.
    pub async fn analysis_queue_status(&self) -> Result<QueueStatus> {
        let (depth, oldest): (i64, Option<DateTime<Utc>>) = analysis_job::Entity::find()
            .select_only()
            .column_as(analysis_job::Column::StepId.count(), "depth")
            .column_as(analysis_job::Column::EnqueuedAt.min(), "oldest")
            .into_tuple()
            .one(self.db())
            .await?
            .unwrap_or((0, None));
        let depth = u64::try_from(depth).unwrap_or(0);
        self.queue.depth.store(depth, Ordering::Relaxed);
        let lag_seconds = oldest.map_or(0.0, |oldest| {
            Ord::max((self.now() - oldest).num_milliseconds(), 0) as f64 / 1000.0
        });
        Ok(QueueStatus {
            depth,
            lag_seconds,
            workers: self.queue.workers.load(Ordering::Relaxed),
            completed: self.queue.completed.load(Ordering::Relaxed),
            retried: self.queue.retried.load(Ordering::Relaxed),
            abandoned: self.queue.abandoned.load(Ordering::Relaxed),
        })
    }

    /// Claims and analyses due jobs once; how many were completed. What a worker does in a
    /// loop, and what a one-shot command calls to finish the queue.
    pub async fn run_due_analysis(&self) -> Result<usize> {
        self.run_jobs(Claim::Due(self.queue.options.batch)).await
    }

    /// Runs every due job until none is left (jobs in backoff excepted); how many were done.
    pub async fn drain_analysis(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let claimed = self.claim(Claim::Due(self.queue.options.batch)).await?;
            if claimed.is_empty() {
                return Ok(done);
            }
            done += self.complete_claimed(claimed).await?;
        }
    }

    /// Starts `count` workers draining the queue until [`AnalysisWorkers::stop`]. Jobs left by
    /// an earlier process (a crash, a kill -9) are among the first they take. From now on writes
    /// leave their analysis to workers (with `count` 0, to another process's).
    pub fn start_analysis_workers(&self, count: usize) -> AnalysisWorkers {
        self.queue.deferred.store(true, Ordering::Relaxed);
        let (stop, stopped) = watch::channel(false);
        let handles = (0..count)
            .map(|_| {
                self.queue.workers.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(work(self.clone(), stopped.clone()))
            })
            .collect();
        AnalysisWorkers { stop, handles }
    }

    async fn run_jobs(&self, which: Claim<'_>) -> Result<usize> {
        let claimed = self.claim(which).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        self.complete_claimed(claimed).await
    }

    /// Analyses claimed jobs session by session and stores the results; a session whose jobs
    /// fail goes back to the queue with a backoff (or is given up after the last attempt) while
    /// the others complete. The first failure is returned after all were tried.
    async fn complete_claimed(&self, claimed: Vec<ClaimedJob>) -> Result<usize> {
        let mut sessions: Vec<Vec<ClaimedJob>> = Vec::new();
        for job in claimed {
            match sessions
                .iter_mut()
                .find(|group| group[0].row.session_id == job.row.session_id)
            {
                Some(group) => group.push(job),
                None => sessions.push(vec![job]),
            }
        }
        let mut done = 0;
        let mut failure = None;
        for (index, jobs) in sessions.into_iter().enumerate() {
            // The claim's lease covers one session's analysis at a time, not the whole claim's
            // (with an LLM verifier a claim can take minutes).
            if index > 0
                && let Err(error) = self.renew_lease(jobs[0].token).await
            {
                tracing::warn!(%error, "cannot renew an analysis lease");
            }
            match self.analyse_session_jobs(&jobs).await {
                Ok(completed) => done += completed,
                Err(error) => {
                    self.release_failed(&jobs, &error).await?;
                    failure.get_or_insert(error);
                }
            }
        }
        self.queue.completed_jobs(done as u64);
        match failure {
            Some(error) => Err(error),
            None => Ok(done),
        }
    }

    /// Takes jobs under a lease, in one short write transaction. On PostgreSQL rows another
    /// worker is claiming are skipped, not waited for; SQLite's write lock serialises claims.
    async fn claim(&self, which: Claim<'_>) -> Result<Vec<ClaimedJob>> {
        let now = self.now();
        let lease_until = now + chrono_duration(self.queue.options.lease);
        let token = self.new_id();
        let free = Condition::any()
            .add(analysis_job::Column::LeaseUntil.is_null())
            .add(analysis_job::Column::LeaseUntil.lt(now));
        let mut query = analysis_job::Entity::find().filter(free);
        query = match which {
            Claim::Due(limit) => query
                .filter(analysis_job::Column::RunAfter.lte(now))
                .order_by_asc(analysis_job::Column::RunAfter)
                .order_by_asc(analysis_job::Column::SessionId)
                .order_by_asc(analysis_job::Column::StepNumber)
                .limit(limit as u64),
            Claim::Steps(steps) => {
                query.filter(analysis_job::Column::StepId.is_in(steps.iter().copied()))
            }
        };
        if self.backend() == Backend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let tx = self.begin_write().await?;
        let rows = query.all(&tx).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        analysis_job::Entity::update_many()
            .col_expr(analysis_job::Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(analysis_job::Column::ClaimToken, Expr::value(token))
            .col_expr(
                analysis_job::Column::Attempts,
                Expr::col(analysis_job::Column::Attempts).add(1),
            )
            .filter(analysis_job::Column::StepId.is_in(rows.iter().map(|row| row.step_id)))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|mut row| {
                row.attempts += 1;
                row.lease_until = Some(lease_until);
                row.claim_token = Some(token);
                ClaimedJob { row, token }
            })
            .collect())
    }

    /// Extends the lease of every job still held under `token`.
    async fn renew_lease(&self, token: Uuid) -> Result<()> {
        let lease_until = self.now() + chrono_duration(self.queue.options.lease);
        let tx = self.begin_write().await?;
        analysis_job::Entity::update_many()
            .col_expr(analysis_job::Column::LeaseUntil, Expr::value(lease_until))
            .filter(analysis_job::Column::ClaimToken.eq(token))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts one session's failed jobs back with a backoff, or gives up those out of attempts:
    /// their step gets a `detector_failure` event saying why it has no analysis.
    async fn release_failed(&self, claimed: &[ClaimedJob], error: &Error) -> Result<()> {
        let Some(first) = claimed.first() else {
            return Ok(());
        };
        let now = self.now();
        let message = error.to_string();
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, ProjectId(first.row.project_id));
        let session = SessionRef::Id(SessionId(first.row.session_id));
        let mut given_up = 0u64;
        for job in claimed {
            let mine = Condition::all()
                .add(analysis_job::Column::StepId.eq(job.row.step_id))
                .add(analysis_job::Column::ClaimToken.eq(job.token));
            if job.row.attempts >= self.queue.options.max_attempts {
                let deleted = analysis_job::Entity::delete_many()
                    .filter(mine)
                    .exec(&tx)
                    .await?;
                if deleted.rows_affected == 1 {
                    given_up += 1;
                    let mut event = crate::detect::failure_event(&DetectorFailure {
                        detector: "lux.analysis_queue".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        error: format!(
                            "analysis given up after {} attempts: {message}",
                            job.row.attempts
                        ),
                        timed_out: false,
                        elapsed: Duration::ZERO,
                    });
                    event.step_id = Some(StepId(job.row.step_id));
                    crate::services::findings::record_monitor_event_in(
                        self, &tx, &mut ctx, &session, &event,
                    )
                    .await?;
                }
                continue;
            }
            let released = analysis_job::Entity::update_many()
                .col_expr(
                    analysis_job::Column::RunAfter,
                    Expr::value(now + chrono_duration(backoff(job.row.attempts))),
                )
                .col_expr(
                    analysis_job::Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    analysis_job::Column::ClaimToken,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    analysis_job::Column::LastError,
                    Expr::value(message.clone()),
                )
                .filter(mine)
                .exec(&tx)
                .await?;
            if released.rows_affected == 1 {
                self.queue.retried.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.commit_queued(tx, ctx).await?;
        if given_up > 0 {
            self.queue.abandoned.fetch_add(given_up, Ordering::Relaxed);
            self.queue.completed_jobs(0);
            tracing::error!(jobs = given_up, error = %message, "analysis given up");
        }
        Ok(())
    }
}

/// One worker: claim, analyse, store; sleep when there is nothing due.
async fn work(lux: Lux, mut stopped: watch::Receiver<bool>) {
    let poll = lux.queue.options.poll;
    loop {
        if *stopped.borrow() {
            break;
        }
        let idle = match lux.run_due_analysis().await {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => {
                tracing::warn!(%error, "analysis attempt failed; the jobs will be retried");
                true
            }
        };
        if idle {
            let woken = lux.queue.work.notified();
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(poll) => {
                    if let Err(error) = lux.analysis_queue_status().await {
                        tracing::warn!(%error, "cannot count the analysis queue");
                    }
                }
                _ = stopped.changed() => {}
            }
        }
    }
    lux.queue.workers.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_stops_at_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(20), Duration::from_secs(300));
        assert_eq!(backoff(0), Duration::from_secs(1));
    }
}
