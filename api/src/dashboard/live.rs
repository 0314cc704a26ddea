//! `/sessions/{id}/live`: the session view's own event stream. Same change feed as
//! `/api/v1/stream`, but authorised like the pages (the login cookie travels with an
//! `EventSource`; a header cannot) and narrowed to one session.

use std::time::Duration;

use futures::StreamExt;
use lux_core::live::LiveEvent;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Path};
use poem::{IntoResponse, Request, Response, handler};

use super::{PageResult, caller, session_ref};
use crate::rest::stream::{Filter, live_events};
use crate::server::AppState;

#[handler]
pub(crate) async fn events(
    state: Data<&AppState>,
    Path(id): Path<String>,
    request: &Request,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let session = state
        .lux
        .get_session(caller.project, &session_ref(&id))
        .await?;
    let filter = Filter {
        project: caller.project,
        session: Some(session.id),
        kinds: None,
    };
    let events = live_events(&state.lux, filter, None)
        .await?
        .map(|event: LiveEvent| {
            let data = serde_json::json!({
                "seq": event.seq,
                "kind": event.kind.as_str(),
                "entity_id": event.entity_id,
            });
            Event::message(data.to_string()).id(event.seq.to_string())
        });
    let response: Response = SSE::new(events)
        .keep_alive(Duration::from_secs(15))
        .into_response();
    Ok(response)
}
