//! `/patterns`: Lux's own cross-session patterns — the same mining run as `GET /api/v1/patterns`
//! and MCP's `find_patterns` — with the evidence behind each (rates, interval, q-value) and the
//! topics the sessions fell into. Query parameters `tool`, `sessions` and `fdr` narrow the run.

use lux_core::SessionFilter;
use lux_core::patterns::topics::TopicMethod;
use lux_core::patterns::{PatternKind, describe};
use lux_core::services::patterns::PatternQuery;
use maud::html;
use poem::web::{Data, Query};
use poem::{Request, handler};
use serde::Deserialize;

use super::format;
use super::layout::{self, Nav};
use super::{PageResult, caller};
use crate::server::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PatternParams {
    tool: Option<String>,
    sessions: Option<u32>,
    fdr: Option<f64>,
}

#[handler]
pub(crate) async fn page(
    state: Data<&AppState>,
    request: &Request,
    Query(params): Query<PatternParams>,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let query = PatternQuery {
        filter: SessionFilter {
            tool: params.tool.clone().filter(|tool| !tool.is_empty()),
            ..SessionFilter::default()
        },
        sessions: params.sessions,
        fdr: params.fdr,
        ..PatternQuery::default()
    };
    let report = state.lux.find_patterns(caller.project, &query).await?;
    let method = match report.topic_method {
        TopicMethod::Semantic => "semantic",
        TopicMethod::Lexical => "lexical fallback",
    };
    Ok(layout::page(
        "Patterns",
        Nav::Patterns,
        html! {
            h1 { "Patterns" }
            p.muted data-topic-method=(method) {
                (format::count(i64::from(report.sessions_examined))) " sessions examined; "
                (report.tested) " hypotheses tested at a false-discovery rate of " (report.fdr)
                " (Benjamini–Hochberg), at least " (report.min_support) " sessions each; topics by "
                (method) ". See " code { "docs/patterns.md" } "."
            }
            @if report.patterns.is_empty() {
                p.empty { "No pattern passes the test. With more sessions, weaker patterns become visible." }
            } @else {
                table.patterns {
                    thead { tr { th { "Pattern" } th { "Signal" } th { "Group" } th.num { "Sessions" } th.num { "Difference (95 %)" } th.num { "q" } } }
                    tbody {
                        @for pattern in &report.patterns {
                            tr data-signal=(pattern.signal) {
                                td {
                                    (pattern.title)
                                    @if !pattern.also.is_empty() {
                                        br; span.muted { "also: " (pattern.also.join("; ")) }
                                    }
                                    br;
                                    span.muted { @for (index, id) in pattern.session_ids.iter().take(5).enumerate() {
                                        @if index > 0 { ", " }
                                        a href=(format!("/sessions/{id}")) { (id.to_string().get(..8).unwrap_or_default()) }
                                    } }
                                }
                                td { (pattern.signal) @if pattern.kind == PatternKind::Trend { " " span.badge { "rising" } } }
                                td { (describe(&pattern.group)) }
                                td.num { (pattern.support) " / " (pattern.group_sessions) }
                                td.num { (format!("{:+.0} [{:+.0}, {:+.0}]",
                                    (pattern.rate - pattern.baseline_rate) * 100.0,
                                    pattern.difference_interval[0] * 100.0,
                                    pattern.difference_interval[1] * 100.0)) }
                                td.num { (format!("{:.3}", pattern.q_value)) }
                            }
                        }
                    }
                }
            }
            h2 { "Topics" }
            @if report.topics.is_empty() {
                p.empty { "No topic has enough sessions yet." }
            } @else {
                table.topics {
                    thead { tr { th { "Topic" } th.num { "Sessions" } } }
                    tbody {
                        @for topic in &report.topics {
                            tr { td { (topic.label) } td.num { (topic.sessions) } }
                        }
                    }
                }
            }
            p.muted { "Patterns plugin miners stored are on the " a href="/plugins" { "plugins page" } "." }
        },
    ))
}
