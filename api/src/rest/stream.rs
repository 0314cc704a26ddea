//! `GET /api/v1/stream`: Server-Sent Events of every committed change in the caller's project,
//! including writes by other processes, with `id:` so a reconnecting client misses nothing.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use lux_core::live::{LiveEvent, LiveEventKind};
use lux_core::services::api_keys::Scope;
use lux_core::{Lux, ProjectId, SessionId};
use poem::web::sse::Event;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::EventStream;
use poem_openapi::{Object, OpenApi};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::error::{ApiError, ApiResult};

pub(crate) struct StreamApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

/// One change. Fetch the entity it names for the details.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct LiveEventDto {
    /// Position in the change log; also the SSE `id`.
    pub(crate) seq: i64,
    /// `session_created`, `session_updated`, `session_deleted`, `step_appended`,
    /// `model_call_recorded`, `synthesis_updated`, `finding_recorded`, `monitor_event_recorded`.
    pub(crate) kind: String,
    pub(crate) session_id: Uuid,
    /// The step, call, synthesis version, finding or monitor event; the session for session events.
    pub(crate) entity_id: Uuid,
    pub(crate) at: DateTime<Utc>,
}

impl From<LiveEvent> for LiveEventDto {
    fn from(event: LiveEvent) -> Self {
        LiveEventDto {
            seq: event.seq,
            kind: event.kind.as_str().to_owned(),
            session_id: event.session_id.0,
            entity_id: event.entity_id,
            at: event.at,
        }
    }
}

/// What a subscriber asked to see.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(crate) project: ProjectId,
    pub(crate) session: Option<SessionId>,
    pub(crate) kinds: Option<Vec<LiveEventKind>>,
}

impl Filter {
    fn wants(&self, event: &LiveEvent) -> bool {
        event.project_id == self.project
            && self
                .session
                .is_none_or(|session| session == event.session_id)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&event.kind))
    }
}

struct Subscription {
    lux: Lux,
    filter: Filter,
    receiver: broadcast::Receiver<LiveEvent>,
    backlog: VecDeque<LiveEvent>,
    last_seq: i64,
}

/// The project's committed changes the filter wants, from now on (or after `after`, first
/// replaying the change log), in order and without gaps; shared by the REST stream and the
/// dashboard's live view.
pub(crate) async fn live_events(
    lux: &Lux,
    filter: Filter,
    after: Option<i64>,
) -> ApiResult<BoxStream<'static, LiveEvent>> {
    // Subscribe before reading the backlog, so nothing falls between the two.
    let receiver = lux.subscribe_events().await?;
    let backlog = match after {
        Some(after) => lux.events_since(filter.project, after, 1000).await?.into(),
        None => VecDeque::new(),
    };
    let subscription = Subscription {
        lux: lux.clone(),
        filter,
        receiver,
        backlog,
        last_seq: after.unwrap_or(0),
    };
    Ok(stream::unfold(subscription, Subscription::next).boxed())
}

impl Subscription {
    async fn next(mut self) -> Option<(LiveEvent, Self)> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.seq > self.last_seq && self.filter.wants(&event) {
                    self.last_seq = event.seq;
                    return Some((event, self));
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) => {
                    if event.seq > self.last_seq && self.filter.wants(&event) {
                        self.last_seq = event.seq;
                        return Some((event, self));
                    }
                }
                // Fell behind the broadcast: catch up from the change log instead of dropping.
                Err(RecvError::Lagged(_)) => {
                    match self
                        .lux
                        .events_since(self.filter.project, self.last_seq, 1000)
                        .await
                    {
                        Ok(events) => self.backlog.extend(events),
                        Err(error) => {
                            tracing::warn!(%error, "stream could not catch up; closing it");
                            return None;
                        }
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Live")]
impl StreamApi {
    /// Live changes (Server-Sent Events)
    ///
    /// Streams every change committed in the caller's project from now on — by this server or
    /// any other process on the same database — as `text/event-stream`, one JSON event per
    /// change, with the event type as SSE `event` and its sequence number as SSE `id`. Send
    /// `Last-Event-ID` to first receive what happened after that id (the log keeps 24 hours).
    #[oai(path = "/stream", method = "get", operation_id = "streamEvents")]
    async fn stream(
        &self,
        auth: Auth,
        /// Only this session (UUID or external id).
        session_id: Query<Option<String>>,
        /// Comma-separated event types to keep, e.g. `step_appended,finding_recorded`.
        types: Query<Option<String>>,
        /// Resume after this event id.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> ApiResult<EventStream<BoxStream<'static, LiveEventDto>>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let session = match session_id.0.as_deref() {
            None => None,
            Some(id) => {
                let reference = match id.parse::<SessionId>() {
                    Ok(id) => lux_core::SessionRef::Id(id),
                    Err(_) => lux_core::SessionRef::ExternalId(id.to_owned()),
                };
                Some(self.lux.get_session(caller.project, &reference).await?.id)
            }
        };
        let kinds = match types.0.as_deref() {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(|name| {
                        LiveEventKind::parse(name).ok_or_else(|| {
                            ApiError::bad_request("types", format!("{name:?} is not an event type"))
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
        };
        let after = match last_event_id.0.as_deref() {
            None => None,
            Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request("Last-Event-ID", "must be an event id this server sent")
            })?),
        };
        let filter = Filter {
            project: caller.project,
            session,
            kinds,
        };
        let events = live_events(&self.lux, filter, after)
            .await?
            .map(LiveEventDto::from)
            .boxed();
        Ok(EventStream::new(events)
            .keep_alive(Duration::from_secs(15))
            .to_event(|event| {
                let data = serde_json::json!({
                    "seq": event.seq,
                    "kind": event.kind,
                    "session_id": event.session_id,
                    "entity_id": event.entity_id,
                    "at": event.at,
                });
                Event::message(data.to_string())
                    .event_type(event.kind.clone())
                    .id(event.seq.to_string())
            }))
    }
}
