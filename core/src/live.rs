//! In-process broadcast of committed changes, for SSE streams and dashboards.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::{ProjectId, SessionId};

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
}

/// One committed change. Carries ids, not payloads: a subscriber reads what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub kind: LiveEventKind,
    pub project_id: ProjectId,
    pub session_id: SessionId,
    /// The id of the step, call, version, finding or event; the session id for session events.
    pub entity_id: Uuid,
    pub at: DateTime<Utc>,
}

/// A lossy broadcast: a subscriber that falls behind by more than the capacity is told how many it missed.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<LiveEvent>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus { sender }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }

    /// Publishing with no subscriber is normal (nobody is watching), not an error.
    pub(crate) fn publish_all(&self, events: Vec<LiveEvent>) {
        for event in events {
            let _ = self.sender.send(event);
        }
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}
