//! `/sessions/{id}`: one session as it unfolds — steps on a timeline with their findings and
//! alerts (evidence highlighted), the synthesis with a version slider and the diff between
//! versions, confidence and clarity over versions, and every model call. The live script swaps
//! in the `#live` part of this page again whenever the session changes.

use std::collections::HashMap;

use lux_core::{
    DiffTag, Finding, ModelCall, MonitorEvent, PageRequest, SessionRef, Step, StepId,
    SynthesisVersion, TextDiff,
};
use maud::{Markup, html};
use poem::web::{Data, Path, Query};
use poem::{Request, handler};
use serde::Deserialize;

use super::charts::{self, Series};
use super::format;
use super::layout::{self, Nav};
use super::sessions::{status_badge, title_of};
use super::{PageError, PageResult, caller, given, session_ref, wants_fragment};
use crate::server::AppState;

/// Most steps drawn on one page; a longer session says so and links its export.
const MAX_STEPS_SHOWN: u32 = 1000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ViewParams {
    /// The synthesis version shown (default: the latest).
    version: Option<String>,
    /// The version the shown one is diffed against (default: the one before it).
    from: Option<String>,
}

fn version_param(field: &str, value: &Option<String>) -> Result<Option<i32>, PageError> {
    given(value)
        .map(|text| {
            text.parse::<i32>()
                .ok()
                .filter(|version| *version >= 1)
                .ok_or_else(|| PageError::bad_request(field, "must be a version number from 1"))
        })
        .transpose()
}

#[handler]
pub(crate) async fn page(
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(params): Query<ViewParams>,
    request: &Request,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let lux = &state.lux;
    let session = lux.get_session(caller.project, &session_ref(&id)).await?;
    let reference = SessionRef::Id(session.id);
    // Independent reads, each on its own pooled connection.
    let first_steps = PageRequest::first(MAX_STEPS_SHOWN);
    let (summary, steps, findings, alerts, calls, versions) = tokio::try_join!(
        lux.session_summary(caller.project, &reference),
        lux.list_steps(caller.project, &reference, &first_steps),
        lux.list_findings(caller.project, &reference),
        lux.list_monitor_events(caller.project, &reference),
        lux.list_model_calls(caller.project, &reference),
        lux.list_synthesis_versions(caller.project, &reference),
    )?;

    let latest = versions.last().map_or(0, |version| version.version);
    let shown = version_param("version", &params.version)?.unwrap_or(latest);
    if latest > 0 && shown > latest {
        return Err(PageError::bad_request(
            "version",
            format!("this session has {latest} synthesis versions"),
        ));
    }
    let from = version_param("from", &params.from)?.unwrap_or(shown - 1);
    let diff = if from >= 1 && shown >= 1 && from != shown {
        Some(
            lux.synthesis_diff(caller.project, &reference, from, shown)
                .await?,
        )
    } else {
        None
    };

    let live = html! {
        (summary_cards(&summary))
        div.columns {
            section.timeline aria-label="Steps" {
                h2 { "Steps" }
                (timeline(&steps.items, &findings, &alerts))
                @if summary.steps > i64::from(MAX_STEPS_SHOWN) {
                    p.muted { "Showing the first " (MAX_STEPS_SHOWN) " of " (format::count(summary.steps))
                        " steps; " code { "lux export steps" } " has them all." }
                }
            }
            section.synthesis #synthesis aria-label="Synthesis" {
                h2 { "Synthesis" }
                (synthesis_panel(&session.id.to_string(), &versions, shown, diff.as_ref()))
            }
        }
        section aria-label="Model calls" {
            h2 { "Model calls" }
            (model_calls(&calls))
        }
    };
    if wants_fragment(request) {
        return Ok(layout::html_response(live));
    }
    Ok(layout::page(
        &title_of(&session),
        Nav::Sessions,
        html! {
            header.session-head {
                h1 { (title_of(&session)) }
                p.meta {
                    (status_badge(session.status)) " "
                    span { "tool " b { (session.tool) } }
                    @if let Some(model) = &session.model { " · model " b { (model) } }
                    @if let Some(user) = &session.user_id { " · user " b { (user) } }
                    " · started " time datetime=(session.created_at.to_rfc3339()) { (format::time(session.created_at)) }
                    @if let Some(external) = &session.external_id { " · client id " code { (external) } }
                }
                p.meta {
                    span.live-status data-live-status { "" }
                    a href=(format!("/compare?a={}", session.id)) { "Compare with…" }
                }
            }
            div #live data-live=(format!("/sessions/{}/live", session.id)) { (live) }
        },
    ))
}

fn summary_cards(summary: &lux_core::SessionSummary) -> Markup {
    let tokens = summary.tokens.input + summary.tokens.output;
    html! {
        dl.cards {
            div { dt { "Steps" } dd data-figure="steps" { (format::count(summary.steps)) } }
            div { dt { "Duration" } dd data-figure="duration" { (format::duration_ms(summary.duration_ms)) } }
            div { dt { "Tokens" } dd data-figure="tokens" { (format::count(tokens)) } }
            div { dt { "Cost" } dd data-figure="cost" { (format::cost(summary.cost)) } }
            div { dt { "Findings" } dd data-figure="findings" { (format::count(summary.findings)) } }
            div { dt { "Alerts" } dd data-figure="alerts" { (format::count(summary.alerts)) } }
            div { dt { "Final confidence" } dd data-figure="confidence" { (format::score(summary.final_confidence)) } }
        }
    }
}

fn timeline(steps: &[Step], findings: &[Finding], alerts: &[MonitorEvent]) -> Markup {
    let mut findings_by_step: HashMap<StepId, Vec<&Finding>> = HashMap::new();
    let mut session_findings = Vec::new();
    for finding in findings {
        match finding.step_id {
            Some(step) => findings_by_step.entry(step).or_default().push(finding),
            None => session_findings.push(finding),
        }
    }
    let mut alerts_by_step: HashMap<StepId, Vec<&MonitorEvent>> = HashMap::new();
    let mut session_alerts = Vec::new();
    for alert in alerts {
        match alert.step_id {
            Some(step) => alerts_by_step.entry(step).or_default().push(alert),
            None => session_alerts.push(alert),
        }
    }
    html! {
        @if steps.is_empty() {
            p.empty { "No steps yet. They appear here as they are written." }
        }
        ol.steps {
            @for step in steps {
                @let step_findings = findings_by_step.get(&step.id).map(Vec::as_slice).unwrap_or_default();
                @let step_alerts = alerts_by_step.get(&step.id).map(Vec::as_slice).unwrap_or_default();
                li.step #(format!("step-{}", step.step_number)) data-step=(step.step_number) {
                    header {
                        b { "Step " (step.step_number) }
                        " · " (step.kind)
                        @if let Some(model) = &step.model { " · " (model) }
                        @if step.is_revision { " · " span.badge { "revises " (step.revises_step.map(|n| n.to_string()).unwrap_or_default()) } }
                        @if let Some(branch) = &step.branch_id { " · " span.badge { "branch " (branch) } }
                        " · confidence " (format::score(step.confidence))
                        " · clarity " (format::score(step.clarity))
                        " · " time datetime=(step.created_at.to_rfc3339()) { (format::time(step.created_at)) }
                    }
                    div.content { (highlighted(&step.content, step_findings)) }
                    @if !step_findings.is_empty() || !step_alerts.is_empty() {
                        ul.notes {
                            @for finding in step_findings { (finding_item(finding)) }
                            @for alert in step_alerts { (alert_item(alert)) }
                        }
                    }
                }
            }
        }
        @if !session_findings.is_empty() || !session_alerts.is_empty() {
            h3 { "On the whole session" }
            ul.notes {
                @for finding in session_findings { (finding_item(finding)) }
                @for alert in session_alerts { (alert_item(alert)) }
            }
        }
    }
}

/// The step's text with each finding's evidence span marked; overlapping spans merge into the
/// first, and spans that do not fall on character boundaries are ignored rather than cut a letter.
fn highlighted(content: &str, findings: &[&Finding]) -> Markup {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter_map(|finding| {
            let span = finding.evidence?;
            (span.start < span.end
                && span.end <= content.len()
                && content.is_char_boundary(span.start)
                && content.is_char_boundary(span.end))
            .then_some((span.start, span.end, finding.bias_type.as_str()))
        })
        .collect();
    spans.sort_by_key(|(start, end, _)| (*start, std::cmp::Reverse(*end)));
    // (plain text before the mark, marked text, bias type), in order; overlaps dropped.
    let mut pieces = Vec::new();
    let mut at = 0;
    for (start, end, bias) in spans {
        if start >= at {
            pieces.push((&content[at..start], &content[start..end], bias));
            at = end;
        }
    }
    html! {
        @for (plain, marked, bias) in pieces {
            (plain)
            mark title=(bias) data-bias=(bias) { (marked) }
        }
        (&content[at..])
    }
}

fn finding_item(finding: &Finding) -> Markup {
    html! {
        li.finding data-finding=(finding.id) {
            span class=(format!("badge severity-{}", finding.severity.as_str())) { (finding.severity.as_str()) }
            " " b { (finding.bias_type) } " "
            span.muted { "(" (finding.detector) ", confidence " (format::score(Some(finding.confidence))) ")" }
            " " (finding.explanation)
            @if let Some(text) = &finding.evidence_text { " — " q { (text) } }
            @if let Some(suggestion) = &finding.suggestion { br; span.suggestion { "Suggestion: " (suggestion) } }
        }
    }
}

fn alert_item(alert: &MonitorEvent) -> Markup {
    html! {
        li.alert data-alert=(alert.id) {
            span class=(format!("badge severity-{}", alert.severity.as_str())) { (alert.severity.as_str()) }
            " " b { (alert.kind.replace('_', " ")) } " "
            span.muted { "(monitor, score " (format::score(Some(alert.score))) ")" }
            " " (alert.message)
        }
    }
}

fn synthesis_panel(
    session: &str,
    versions: &[SynthesisVersion],
    shown: i32,
    diff: Option<&lux_core::SynthesisDiff>,
) -> Markup {
    let Some(current) = versions.iter().find(|version| version.version == shown) else {
        return html! { p.empty { "No synthesis yet: it appears with the first update." } };
    };
    let latest = versions.last().map_or(1, |version| version.version);
    let labels: Vec<String> = versions.iter().map(|v| format!("v{}", v.version)).collect();
    html! {
        form.slider method="get" action=(format!("/sessions/{session}")) data-fragment {
            label for="version" { "Version" }
            input #version type="range" name="version" min="1" max=(latest) value=(shown) step="1";
            output for="version" data-version-output { (shown) " of " (latest) }
            button type="submit" { "Show" }
        }
        p.meta {
            "Version " b data-figure="version" { (current.version) }
            @if let Some(step) = current.step_number { " · after step " (step) }
            " · confidence " b { (format::score(current.confidence)) }
            " · clarity " b { (format::score(current.clarity)) }
            " · " (format::time(current.created_at))
        }
        h3 { "Current understanding" }
        div.understanding { (current.current_understanding.as_deref().unwrap_or("—")) }
        @if !current.insights.is_empty() {
            h3 { "Insights" }
            ul { @for insight in &current.insights {
                li { (insight.text) @if let Some(c) = insight.confidence { span.muted { " (" (format::score(Some(c))) ")" } } }
            } }
        }
        @if !current.action_items.is_empty() {
            h3 { "Action items" }
            ul { @for item in &current.action_items {
                li { span class=(format!("badge priority-{}", item.priority.as_str())) { (item.priority.as_str()) } " " (item.action) }
            } }
        }
        @if let Some(diff) = diff {
            h3 { "Changes from version " (diff.from.as_ref().map_or(0, |point| point.version)) }
            div.diff { (text_diff(&diff.understanding)) }
            (list_changes("Insights", diff.insights.added.iter().map(|i| i.text.as_str()), diff.insights.removed.iter().map(|i| i.text.as_str())))
            (list_changes("Action items", diff.action_items.added.iter().map(|i| i.action.as_str()), diff.action_items.removed.iter().map(|i| i.action.as_str())))
        }
        @if versions.len() > 1 {
            (charts::line_chart(
                "Confidence and clarity per version",
                &labels,
                &[
                    Series { name: "confidence", points: versions.iter().map(|v| v.confidence).collect() },
                    Series { name: "clarity", points: versions.iter().map(|v| v.clarity).collect() },
                ],
                1.0,
                |value| format!("{value:.2}"),
            ))
        }
    }
}

fn list_changes<'a>(
    what: &str,
    added: impl Iterator<Item = &'a str>,
    removed: impl Iterator<Item = &'a str>,
) -> Markup {
    let added: Vec<&str> = added.collect();
    let removed: Vec<&str> = removed.collect();
    html! {
        @if !added.is_empty() || !removed.is_empty() {
            h4 { (what) }
            ul.changes {
                @for text in added { li { ins { "+ " (text) } } }
                @for text in removed { li { del { "− " (text) } } }
            }
        }
    }
}

/// A word diff: removed words struck out, added ones underlined.
pub(crate) fn text_diff(diff: &TextDiff) -> Markup {
    html! {
        @for op in &diff.ops {
            @match op.op {
                DiffTag::Equal => span { (op.text) },
                DiffTag::Insert => ins { (op.text) },
                DiffTag::Delete => del { (op.text) },
            }
        }
    }
}

fn model_calls(calls: &[ModelCall]) -> Markup {
    html! {
        @if calls.is_empty() {
            p.empty { "No model calls recorded." }
        } @else {
            table.calls {
                thead { tr {
                    th { "Time" } th { "Provider" } th { "Model" } th { "Status" }
                    th.num { "Input" } th.num { "Output" } th.num { "Latency" } th.num { "Cost" }
                } }
                tbody {
                    @for call in calls {
                        tr data-call=(call.id) {
                            td { (format::time(call.created_at)) }
                            td { (call.provider) }
                            td { (call.model) }
                            td { (call.status.as_str()) @if let Some(error) = &call.error { br; span.muted { (error) } } }
                            td.num { (format::count(call.input_tokens)) }
                            td.num { (format::count(call.output_tokens)) }
                            td.num { (format::count(call.latency_ms)) " ms" }
                            td.num { (format::cost(call.cost)) }
                        }
                    }
                }
            }
        }
    }
}
