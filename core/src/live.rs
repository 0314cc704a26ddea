//! Live events: every committed change is written to the `live_events` change log in the same
//! transaction, and one tailer task per process reads that log and broadcasts it. So subscribers
//! see writes of *every* process on the database — within a poll interval on SQLite, at once on
//! PostgreSQL (`LISTEN/NOTIFY` wakes the tailer) — and a client that reconnects can catch up by
//! sequence number.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use lux_entity::live_event;

use crate::domain::{ProjectId, SessionId};
use crate::error::Result;
use crate::store::Lux;

/// How often the tailer looks for other processes' writes when nothing wakes it earlier.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a missing sequence number (a PostgreSQL transaction still in flight) is waited for.
const GAP_PATIENCE: Duration = Duration::from_secs(5);
/// How long the change log keeps events for reconnecting clients.
const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const BATCH: u64 = 1000;
const NOTIFY_CHANNEL: &str = "lux_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveEventKind {
    SessionCreated,
    SessionUpdated,
    SessionDeleted,
    StepAppended,
    ModelCallRecorded,
    SynthesisUpdated,
    FindingRecorded,
    MonitorEventRecorded,
}

impl LiveEventKind {
    pub const ALL: [LiveEventKind; 8] = [
        LiveEventKind::SessionCreated,
        LiveEventKind::SessionUpdated,
        LiveEventKind::SessionDeleted,
        LiveEventKind::StepAppended,
        LiveEventKind::ModelCallRecorded,
        LiveEventKind::SynthesisUpdated,
        LiveEventKind::FindingRecorded,
        LiveEventKind::MonitorEventRecorded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LiveEventKind::SessionCreated => "session_created",
            LiveEventKind::SessionUpdated => "session_updated",
            LiveEventKind::SessionDeleted => "session_deleted",
            LiveEventKind::StepAppended => "step_appended",
            LiveEventKind::ModelCallRecorded => "model_call_recorded",
            LiveEventKind::SynthesisUpdated => "synthesis_updated",
            LiveEventKind::FindingRecorded => "finding_recorded",
            LiveEventKind::MonitorEventRecorded => "monitor_event_recorded",
        }
    }

    pub fn parse(text: &str) -> Option<LiveEventKind> {
        LiveEventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A change to be logged: what the write path collects before commit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingEvent {
    pub(crate) kind: LiveEventKind,
    pub(crate) project_id: ProjectId,
    pub(crate) session_id: SessionId,
    pub(crate) entity_id: Uuid,
    pub(crate) at: DateTime<Utc>,
}

/// One committed change. Carries ids, not payloads: a subscriber reads what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Position in the change log; increases with every change (use it as `Last-Event-ID`).
    pub seq: i64,
    pub kind: LiveEventKind,
    pub project_id: ProjectId,
    pub session_id: SessionId,
    /// The id of the step, call, version, finding or event; the session id for session events.
    pub entity_id: Uuid,
    pub at: DateTime<Utc>,
}

fn event_from_row(row: live_event::Model) -> Option<LiveEvent> {
    Some(LiveEvent {
        seq: row.seq,
        kind: LiveEventKind::parse(&row.kind)?,
        project_id: ProjectId(row.project_id),
        session_id: SessionId(row.session_id),
        entity_id: row.entity_id,
        at: row.created_at,
    })
}

/// The per-process broadcast of the change log, and the switch for its tailer task.
#[derive(Debug, Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

#[derive(Debug)]
struct BusInner {
    sender: broadcast::Sender<LiveEvent>,
    nudge: Notify,
    tailing: AtomicBool,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus {
            inner: Arc::new(BusInner {
                sender,
                nudge: Notify::new(),
                tailing: AtomicBool::new(false),
            }),
        }
    }

    /// Tells this process's tailer that something was just committed, so it need not wait.
    pub(crate) fn nudge(&self) {
        self.inner.nudge.notify_one();
    }

    /// Starts the tailer unless it runs. `start` (the newest logged seq, read before this call)
    /// is where a new tailer begins, so nothing committed after the caller subscribed is missed.
    fn ensure_tailing(&self, db: &DatabaseConnection, start: i64) {
        if self
            .inner
            .tailing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tokio::spawn(tail(self.inner.clone(), db.clone(), start));
        }
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

/// Writes the pending events into the change log inside the caller's transaction.
pub(crate) async fn log_events<C: ConnectionTrait>(
    conn: &C,
    events: &[PendingEvent],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events.iter().map(|event| live_event::ActiveModel {
        seq: sea_orm::NotSet,
        project_id: Set(event.project_id.0),
        session_id: Set(event.session_id.0),
        kind: Set(event.kind.as_str().to_owned()),
        entity_id: Set(event.entity_id),
        created_at: Set(event.at),
    });
    live_event::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        // Delivered at commit, and only if it commits.
        conn.execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    Ok(())
}

async fn latest_seq(db: &DatabaseConnection) -> Result<i64> {
    let max: Option<i64> = live_event::Entity::find()
        .select_only()
        .column_as(live_event::Column::Seq.max(), "max")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(max.unwrap_or(0))
}

/// The tailer: reads new change-log rows and broadcasts them, while anyone is subscribed.
async fn tail(inner: Arc<BusInner>, db: DatabaseConnection, start: i64) {
    let mut last = start;
    let mut gaps: BTreeMap<i64, Instant> = BTreeMap::new();
    let mut listener = postgres_listener(&db).await;
    let mut last_prune = Instant::now() - Duration::from_secs(3600);
    loop {
        if inner.sender.receiver_count() == 0 {
            inner.tailing.store(false, Ordering::Release);
            // A subscriber that arrived just now saw `tailing` still true; keep going for it.
            if inner.sender.receiver_count() == 0
                || inner
                    .tailing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                return;
            }
        }
        match poll_once(&inner, &db, &mut last, &mut gaps).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "live event tailer could not read the change log");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if last_prune.elapsed() > Duration::from_secs(600) {
            last_prune = Instant::now();
            let cutoff = Utc::now() - RETENTION;
            if let Err(error) = live_event::Entity::delete_many()
                .filter(live_event::Column::CreatedAt.lt(cutoff))
                .exec(&db)
                .await
            {
                tracing::warn!(%error, "could not prune the change log");
            }
        }
        let wait = if gaps.is_empty() {
            POLL_INTERVAL
        } else {
            POLL_INTERVAL / 5
        };
        match listener.as_mut() {
            Some(listener) => tokio::select! {
                _ = inner.nudge.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = listener.recv() => {}
            },
            None => tokio::select! {
                _ = inner.nudge.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            },
        }
    }
}

/// Reads and broadcasts what is new; `true` when there may be more right away.
async fn poll_once(
    inner: &BusInner,
    db: &DatabaseConnection,
    last: &mut i64,
    gaps: &mut BTreeMap<i64, Instant>,
) -> Result<bool> {
    let mut condition = Condition::any().add(live_event::Column::Seq.gt(*last));
    if !gaps.is_empty() {
        condition =
            condition.add(live_event::Column::Seq.is_in(gaps.keys().copied().collect::<Vec<_>>()));
    }
    let rows = live_event::Entity::find()
        .filter(condition)
        .order_by_asc(live_event::Column::Seq)
        .limit(BATCH)
        .all(db)
        .await?;
    let full = rows.len() as u64 == BATCH;
    for row in rows {
        let seq = row.seq;
        if gaps.remove(&seq).is_none() {
            // On PostgreSQL a later number can commit before an earlier one: remember the hole.
            let now = Instant::now();
            for missing in (*last + 1)..seq.min(*last + 1 + BATCH as i64) {
                gaps.insert(missing, now);
            }
            *last = (*last).max(seq);
        }
        if let Some(event) = event_from_row(row) {
            let _ = inner.sender.send(event);
        }
    }
    gaps.retain(|_, since| since.elapsed() < GAP_PATIENCE);
    Ok(full)
}

async fn postgres_listener(db: &DatabaseConnection) -> Option<sea_orm::sqlx::postgres::PgListener> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let pool = db.get_postgres_connection_pool();
    match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
            Ok(()) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "LISTEN failed; live events fall back to polling");
                None
            }
        },
        Err(error) => {
            tracing::warn!(%error, "no LISTEN connection; live events fall back to polling");
            None
        }
    }
}

impl Lux {
    /// Receives every change committed from now on, by any process on this database.
    pub async fn subscribe_events(&self) -> Result<broadcast::Receiver<LiveEvent>> {
        let receiver = self.events().inner.sender.subscribe();
        let start = latest_seq(self.db()).await?;
        self.events().ensure_tailing(self.db(), start);
        Ok(receiver)
    }

    /// Logged changes of `project` after `after_seq`, oldest first: the catch-up for a client
    /// that reconnects with `Last-Event-ID`. The log keeps 24 hours.
    pub async fn events_since(
        &self,
        project: ProjectId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<LiveEvent>> {
        let rows = live_event::Entity::find()
            .filter(live_event::Column::ProjectId.eq(project.0))
            .filter(live_event::Column::Seq.gt(after_seq))
            .order_by_asc(live_event::Column::Seq)
            .limit(limit)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().filter_map(event_from_row).collect())
    }
}
