//! `/`: the sessions list with filters, or full-text search hits when a query is given.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use lux_core::{PageRequest, SearchFilter, Session, SessionFilter, SessionId, SessionStatus};
use maud::{Markup, PreEscaped, html};
use poem::web::{Data, Query};
use poem::{Request, handler};
use serde::Deserialize;

use super::format;
use super::layout::{self, Nav};
use super::{PageError, PageResult, caller, encode, given};
use crate::server::AppState;

/// Sessions per page.
const PAGE_SIZE: u32 = 50;
/// Search hits per page.
const HITS_PER_PAGE: u32 = 20;

/// The filter form's fields, all optional; kept as text so a bad value is an HTML 400 naming it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    status: Option<String>,
    tool: Option<String>,
    model: Option<String>,
    user: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

impl ListParams {
    /// The query string of these filters, without the cursor, for the next-page link.
    fn query_without_cursor(&self) -> String {
        [
            ("status", &self.status),
            ("tool", &self.tool),
            ("model", &self.model),
            ("user", &self.user),
            ("q", &self.q),
        ]
        .into_iter()
        .filter_map(|(name, value)| given(value).map(|value| format!("{name}={}", encode(value))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[handler]
pub(crate) async fn page(
    state: Data<&AppState>,
    Query(params): Query<ListParams>,
    request: &Request,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let status = given(&params.status)
        .map(|status| {
            status.parse::<SessionStatus>().map_err(|_| {
                PageError::bad_request(
                    "status",
                    format!("{status:?} is not one of active, completed, failed, abandoned"),
                )
            })
        })
        .transpose()?;
    let body = match given(&params.q) {
        Some(query) => search_results(&state, caller.project, query, &params).await?,
        None => {
            let filter = SessionFilter {
                status,
                tool: given(&params.tool).map(str::to_owned),
                model: given(&params.model).map(str::to_owned),
                user_id: given(&params.user).map(str::to_owned),
                ..SessionFilter::default()
            };
            let page = state
                .lux
                .list_sessions(
                    caller.project,
                    &filter,
                    &PageRequest {
                        limit: Some(PAGE_SIZE),
                        cursor: given(&params.cursor).map(str::to_owned),
                    },
                )
                .await?;
            let ids: Vec<SessionId> = page.items.iter().map(|session| session.id).collect();
            let tallies = state.lux.session_tallies(caller.project, &ids).await?;
            let filtered = params.query_without_cursor();
            html! {
                @if page.items.is_empty() {
                    @if filtered.is_empty() && given(&params.cursor).is_none() {
                        section.empty {
                            h2 { "No sessions yet" }
                            p {
                                "Sessions appear here as soon as an MCP client, the REST API or "
                                code { "lux import" } " writes one. To look around first, run "
                                code { "lux demo" } " (or start the server with "
                                code { "lux serve --demo" } ")."
                            }
                        }
                    } @else {
                        section.empty { p { "No sessions match these filters." } }
                    }
                } @else {
                    table.sessions {
                        thead { tr {
                            th { "Session" } th { "Tool" } th { "Status" } th { "Model" }
                            th.num { "Steps" } th.num { "Findings" } th.num { "Alerts" }
                            th.num { "Cost" } th { "Created" }
                        } }
                        tbody {
                            @for session in &page.items {
                                @let tally = tallies.get(&session.id).copied().unwrap_or_default();
                                tr data-session=(session.id) {
                                    td { a href=(format!("/sessions/{}", session.id)) { (title_of(session)) } }
                                    td { (session.tool) }
                                    td { (status_badge(session.status)) }
                                    td { (session.model.as_deref().unwrap_or("—")) }
                                    td.num data-figure="steps" { (format::count(tally.steps)) }
                                    td.num data-figure="findings" { (format::count(tally.findings)) }
                                    td.num data-figure="alerts" { (format::count(tally.alerts)) }
                                    td.num data-figure="cost" { (format::cost(tally.cost)) }
                                    td { time datetime=(session.created_at.to_rfc3339()) { (format::time(session.created_at)) } }
                                }
                            }
                        }
                    }
                    @if let Some(next) = &page.next_cursor {
                        p.pager {
                            a rel="next" href=(format!("/?{}{}cursor={}", filtered, if filtered.is_empty() { "" } else { "&" }, encode(next))) { "Older sessions →" }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        "Sessions",
        Nav::Sessions,
        html! {
            h1 { "Sessions" }
            (filter_form(&params))
            (body)
        },
    ))
}

fn filter_form(params: &ListParams) -> Markup {
    let status = given(&params.status).unwrap_or("");
    html! {
        form.filters method="get" action="/" {
            label { "Search " input type="search" name="q" value=[given(&params.q)] placeholder="words in steps or syntheses"; }
            label { "Status "
                select name="status" {
                    option value="" selected[status.is_empty()] { "any" }
                    @for choice in ["active", "completed", "failed", "abandoned"] {
                        option value=(choice) selected[status == choice] { (choice) }
                    }
                }
            }
            label { "Tool " input type="text" name="tool" value=[given(&params.tool)] size="14"; }
            label { "Model " input type="text" name="model" value=[given(&params.model)] size="14"; }
            label { "User " input type="text" name="user" value=[given(&params.user)] size="12"; }
            button type="submit" { "Filter" }
            a href="/" { "Clear" }
        }
    }
}

async fn search_results(
    state: &AppState,
    project: lux_core::ProjectId,
    query: &str,
    params: &ListParams,
) -> Result<Markup, PageError> {
    let filter = SearchFilter {
        tool: given(&params.tool).map(str::to_owned),
        user_id: given(&params.user).map(str::to_owned),
        ..SearchFilter::default()
    };
    let hits = state
        .lux
        .search(
            project,
            query,
            &filter,
            &PageRequest {
                limit: Some(HITS_PER_PAGE),
                cursor: given(&params.cursor).map(str::to_owned),
            },
        )
        .await?;
    let mut sessions: HashMap<SessionId, Session> = HashMap::new();
    for hit in &hits.items {
        if let Entry::Vacant(slot) = sessions.entry(hit.session_id) {
            let reference = lux_core::SessionRef::Id(hit.session_id);
            slot.insert(state.lux.get_session(project, &reference).await?);
        }
    }
    let filtered = params.query_without_cursor();
    Ok(html! {
        @if hits.items.is_empty() {
            section.empty { p { "Nothing matches " q { (query) } "." } }
        } @else {
            ol.hits {
                @for hit in &hits.items {
                    @let anchor = match hit.kind {
                        lux_core::SearchKind::Step => format!("#step-{}", hit.number),
                        lux_core::SearchKind::Synthesis => format!("?version={}#synthesis", hit.number),
                    };
                    li {
                        a href=(format!("/sessions/{}{}", hit.session_id, anchor)) {
                            (sessions.get(&hit.session_id).map(title_of).unwrap_or_default())
                        }
                        " · " span.muted { (hit.kind.as_str()) " " (hit.number) }
                        // The snippet is escaped by the search service; only its <mark>s are markup.
                        p.snippet { (PreEscaped(&hit.snippet)) }
                    }
                }
            }
            @if let Some(next) = &hits.next_cursor {
                p.pager { a rel="next" href=(format!("/?{filtered}&cursor={}", encode(next))) { "More results →" } }
            }
        }
    })
}

/// What a session is called on the pages: its title, else its id.
pub(crate) fn title_of(session: &Session) -> String {
    session
        .title
        .clone()
        .filter(|title| !title.trim().is_empty())
        .unwrap_or_else(|| format!("Session {}", session.id))
}

pub(crate) fn status_badge(status: SessionStatus) -> Markup {
    html! { span class=(format!("badge status-{}", status.as_str())) { (status.as_str()) } }
}
