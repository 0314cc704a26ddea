//! `/compare?a=&b=`: two sessions side by side — headline figures and their deltas, the latest
//! syntheses diffed, and the steps aligned by number with their findings and alerts.

use lux_core::{PageRequest, SessionComparison, SessionFilter, StepAlignment};
use maud::{Markup, html};
use poem::web::{Data, Query};
use poem::{Request, handler};
use serde::Deserialize;

use super::format;
use super::layout::{self, Nav};
use super::session::text_diff;
use super::sessions::{status_badge, title_of};
use super::{PageResult, caller, given, session_ref};
use crate::server::AppState;

/// Recent sessions offered in the pickers.
const PICKER_SESSIONS: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompareParams {
    a: Option<String>,
    b: Option<String>,
}

#[handler]
pub(crate) async fn page(
    state: Data<&AppState>,
    Query(params): Query<CompareParams>,
    request: &Request,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let recent = state
        .lux
        .list_sessions(
            caller.project,
            &SessionFilter::default(),
            &PageRequest::first(PICKER_SESSIONS),
        )
        .await?;
    let comparison = match (given(&params.a), given(&params.b)) {
        (Some(a), Some(b)) => Some(
            state
                .lux
                .compare_sessions(caller.project, &session_ref(a), &session_ref(b))
                .await?,
        ),
        _ => None,
    };
    Ok(layout::page(
        "Compare",
        Nav::Compare,
        html! {
            h1 { "Compare two sessions" }
            @if recent.items.len() < 2 && comparison.is_none() {
                section.empty { p { "Comparing needs two sessions; this project has "
                    (recent.items.len()) "." } }
            } @else {
                form.filters method="get" action="/compare" {
                    @for (name, value) in [("a", given(&params.a)), ("b", given(&params.b))] {
                        label { (name.to_uppercase()) " "
                            select name=(name) {
                                option value="" { "choose a session" }
                                @for session in &recent.items {
                                    @let id = session.id.to_string();
                                    option value=(id) selected[value == Some(id.as_str())] {
                                        (title_of(session)) " · " (format::time(session.created_at))
                                    }
                                }
                            }
                        }
                    }
                    button type="submit" { "Compare" }
                }
            }
            @if let Some(comparison) = &comparison { (comparison_view(comparison)) }
        },
    ))
}

fn comparison_view(comparison: &SessionComparison) -> Markup {
    let (a, b, deltas) = (&comparison.a, &comparison.b, &comparison.deltas);
    let (fa, fb) = (&a.figures, &b.figures);
    let tokens = |figures: &lux_core::SessionFigures| figures.tokens.input + figures.tokens.output;
    let counted = |name, a, b, delta| {
        (
            name,
            format::count(a),
            format::count(b),
            format::signed(delta),
        )
    };
    let rows: [(&str, String, String, String); 7] = [
        counted("Steps", fa.steps, fb.steps, deltas.steps),
        counted(
            "Model calls",
            fa.model_calls,
            fb.model_calls,
            deltas.model_calls,
        ),
        counted(
            "Tokens",
            tokens(fa),
            tokens(fb),
            deltas.tokens.input + deltas.tokens.output,
        ),
        (
            "Cost",
            format::cost(fa.cost),
            format::cost(fb.cost),
            format::cost(deltas.cost),
        ),
        counted("Findings", fa.findings, fb.findings, deltas.findings),
        counted("Alerts", fa.alerts, fb.alerts, deltas.alerts),
        (
            "Final confidence",
            format::score(fa.final_confidence),
            format::score(fb.final_confidence),
            deltas
                .final_confidence
                .map_or("—".to_owned(), |d| format!("{d:+.2}")),
        ),
    ];
    html! {
        table.compare-figures {
            thead { tr {
                th {}
                th { "A: " a href=(format!("/sessions/{}", a.session.id)) { (title_of(&a.session)) } " " (status_badge(a.session.status)) }
                th { "B: " a href=(format!("/sessions/{}", b.session.id)) { (title_of(&b.session)) } " " (status_badge(b.session.status)) }
                th.num { "B − A" }
            } }
            tbody {
                @for (name, left, right, delta) in rows {
                    tr data-figure=(name) { th { (name) } td.num { (left) } td.num { (right) } td.num { (delta) } }
                }
            }
        }
        section aria-label="Synthesis" {
            h2 { "Latest synthesis, A → B" }
            div.diff { (text_diff(&comparison.synthesis.understanding)) }
            p.muted { "Similarity " (format!("{:.3}", comparison.synthesis.understanding.similarity))
                " · insights +" (comparison.synthesis.insights.added.len()) " −" (comparison.synthesis.insights.removed.len())
                " · action items +" (comparison.synthesis.action_items.added.len()) " −" (comparison.synthesis.action_items.removed.len()) }
        }
        section aria-label="Steps" {
            h2 { "Steps" }
            table.compare-steps {
                thead { tr { th { "#" } th { "Alignment" } th { "Content, A → B" } th.num { "Findings A" } th.num { "Findings B" } th.num { "Alerts A" } th.num { "Alerts B" } } }
                tbody {
                    @for pair in &comparison.steps {
                        tr class=(format!("align-{}", alignment_name(pair.alignment))) {
                            td { (pair.step_number) }
                            td { (alignment_name(pair.alignment).replace('_', " ")) }
                            td.diff { (text_diff(&pair.content)) }
                            td.num { (pair.findings.a.len()) }
                            td.num { (pair.findings.b.len()) }
                            td.num { (pair.alerts.a.len()) }
                            td.num { (pair.alerts.b.len()) }
                        }
                    }
                }
            }
        }
    }
}

fn alignment_name(alignment: StepAlignment) -> &'static str {
    match alignment {
        StepAlignment::Same => "same",
        StepAlignment::Changed => "changed",
        StepAlignment::OnlyA => "only_a",
        StepAlignment::OnlyB => "only_b",
    }
}
