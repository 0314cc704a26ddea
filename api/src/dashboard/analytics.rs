//! `/analytics`: the project's trends, bias rates, model latency and cost, and the cost
//! recommendations — charts with their numbers beside them, from the same services as
//! `/api/v1/analytics/*` with the same filter.

use chrono::{Duration, NaiveTime, Utc};
use lux_core::{AnalyticsFilter, BiasGroup, MonitorGroup, RecommendationKind};
use maud::{Markup, html};
use poem::web::{Data, Query};
use poem::{Request, handler};
use serde::Deserialize;

use super::charts::{self, Bar, Series};
use super::format;
use super::layout::{self, Nav};
use super::{PageError, PageResult, caller, given};
use crate::server::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AnalyticsParams {
    /// `all` (default), `7d`, `30d` or `90d`: whole UTC days up to today.
    range: Option<String>,
    tool: Option<String>,
    model: Option<String>,
}

const RANGES: [(&str, &str, Option<i64>); 4] = [
    ("all", "all time", None),
    ("7d", "last 7 days", Some(7)),
    ("30d", "last 30 days", Some(30)),
    ("90d", "last 90 days", Some(90)),
];

#[handler]
pub(crate) async fn page(
    state: Data<&AppState>,
    Query(params): Query<AnalyticsParams>,
    request: &Request,
) -> PageResult {
    let caller = caller(&state, request).await?;
    let range = given(&params.range).unwrap_or("all");
    let Some((_, range_label, days)) = RANGES.iter().find(|(key, _, _)| *key == range) else {
        return Err(PageError::bad_request(
            "range",
            "must be one of all, 7d, 30d, 90d",
        ));
    };
    // Whole days from midnight, the ranges the daily rollup answers without touching raw rows.
    let since = days.map(|days| {
        (Utc::now().date_naive() - Duration::days(days - 1))
            .and_time(NaiveTime::MIN)
            .and_utc()
    });
    let filter = AnalyticsFilter {
        since,
        until: None,
        tool: given(&params.tool).map(str::to_owned),
        model: given(&params.model).map(str::to_owned),
        user_id: None,
    };
    let lux = &state.lux;
    // One round of concurrent reads; on an empty range the reports beyond the overview are
    // cheap and unused.
    let (overview, bias, models, monitor) = tokio::try_join!(
        lux.analytics_overview(caller.project, &filter),
        lux.analytics_bias_rates(caller.project, &filter, BiasGroup::BiasType),
        lux.analytics_models(caller.project, &filter),
        lux.analytics_monitor(caller.project, &filter, MonitorGroup::Kind),
    )?;
    let body = if overview.totals.steps == 0 && overview.totals.model_calls == 0 {
        html! {
            section.empty {
                h2 { "Nothing to chart yet" }
                p { "No steps or model calls in " (range_label) " for these filters. Charts fill in as sessions are recorded." }
            }
        }
    } else {
        let recommendations = lux
            .analytics_recommendations_from(caller.project, &filter, &models)
            .await?;
        let totals = &overview.totals;
        let days: Vec<String> = overview
            .series
            .iter()
            .map(|day| day.day.format("%m-%d").to_string())
            .collect();
        let max_daily = |pick: fn(&lux_core::ActivityCounts) -> i64| {
            overview
                .series
                .iter()
                .map(|day| pick(&day.counts))
                .max()
                .unwrap_or(0) as f64
        };
        html! {
            dl.cards {
                div { dt { "Sessions" } dd data-figure="sessions" { (format::count(totals.sessions)) } }
                div { dt { "Steps" } dd data-figure="steps" { (format::count(totals.steps)) } }
                div { dt { "Model calls" } dd data-figure="model_calls" { (format::count(totals.model_calls)) } }
                div { dt { "Tokens" } dd data-figure="tokens" { (format::count(totals.tokens.input + totals.tokens.output)) } }
                div { dt { "Cost" } dd data-figure="cost" { (format::cost(totals.cost)) } }
                div { dt { "Findings" } dd data-figure="findings" { (format::count(totals.findings)) } }
                div { dt { "Alerts" } dd data-figure="alerts" { (format::count(totals.alerts)) } }
            }
            section aria-label="Trends" {
                h2 { "Trends" }
                div.grid2 {
                    (charts::line_chart(
                        "Steps and findings per day",
                        &days,
                        &[
                            Series { name: "steps", points: overview.series.iter().map(|d| Some(d.counts.steps as f64)).collect() },
                            Series { name: "findings", points: overview.series.iter().map(|d| Some(d.counts.findings as f64)).collect() },
                        ],
                        max_daily(|c| c.steps.max(c.findings)),
                        |value| format::count(value.round() as i64),
                    ))
                    (charts::line_chart(
                        "Cost per day (USD)",
                        &days,
                        &[Series { name: "cost", points: overview.series.iter().map(|d| Some(d.counts.cost.as_usd_f64())).collect() }],
                        overview.series.iter().map(|d| d.counts.cost.as_usd_f64()).fold(0.0, f64::max),
                        |value| format!("${value:.2}"),
                    ))
                }
            }
            section aria-label="Bias rates" {
                h2 { "Bias rates" }
                @if bias.rows.is_empty() {
                    p.empty { "No bias findings in this range." }
                } @else {
                    div.grid2 {
                    (charts::bar_chart(
                        "Findings per 100 steps, by bias type",
                        &bias.rows.iter().map(|row| Bar {
                            label: row.key.clone(),
                            value: row.findings_per_100_steps,
                            text: format!("{:.2}", row.findings_per_100_steps),
                        }).collect::<Vec<_>>(),
                    ))
                    table.bias {
                        thead { tr { th { "Bias type" } th.num { "Findings" } th.num { "Per 100 steps" } th.num { "Sessions affected" } } }
                        tbody {
                            @for row in &bias.rows {
                                tr data-bias=(row.key) {
                                    td { (row.key) }
                                    td.num data-figure="findings" { (format::count(row.findings)) }
                                    td.num { (format!("{:.2}", row.findings_per_100_steps)) }
                                    td.num { (format::count(row.sessions_affected)) " (" (format::percent(row.session_share)) ")" }
                                }
                            }
                        }
                    }
                    }
                }
            }
            section aria-label="Models" {
                h2 { "Models" }
                @if models.is_empty() {
                    p.empty { "No model calls in this range." }
                } @else {
                    div.grid2 {
                        (charts::bar_chart(
                            "p95 latency (ms)",
                            &models.iter().map(|m| Bar { label: m.model.clone(), value: m.latency_ms.p95 as f64, text: format!("{} ms", format::count(m.latency_ms.p95)) }).collect::<Vec<_>>(),
                        ))
                        (charts::bar_chart(
                            "Cost (USD)",
                            &models.iter().map(|m| Bar { label: m.model.clone(), value: m.cost.as_usd_f64(), text: format::cost(m.cost) }).collect::<Vec<_>>(),
                        ))
                    }
                    table.models {
                        thead { tr {
                            th { "Model" } th.num { "Calls" } th.num { "Errors" } th.num { "p50" } th.num { "p95" } th.num { "p99" }
                            th.num { "Tokens in" } th.num { "Tokens out" } th.num { "Cost" } th.num { "Mean confidence" } th.num { "Findings / 100 steps" }
                        } }
                        tbody {
                            @for m in &models {
                                tr data-model=(m.model) {
                                    td { (m.model) }
                                    td.num data-figure="calls" { (format::count(m.model_calls)) }
                                    td.num { (format::percent(m.error_rate)) }
                                    td.num { (format::count(m.latency_ms.p50)) " ms" }
                                    td.num { (format::count(m.latency_ms.p95)) " ms" }
                                    td.num { (format::count(m.latency_ms.p99)) " ms" }
                                    td.num { (format::count(m.tokens.input)) }
                                    td.num { (format::count(m.tokens.output)) }
                                    td.num data-figure="cost" { (format::cost(m.cost)) }
                                    td.num { (format::score(m.mean_step_confidence)) }
                                    td.num { (format!("{:.2}", m.findings_per_100_steps)) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-label="Monitor alerts" {
                h2 { "Monitor alerts" }
                @if monitor.rows.is_empty() {
                    p.empty { "No monitor alerts in this range." }
                } @else {
                    (charts::bar_chart(
                        "Alerts by kind",
                        &monitor.rows.iter().map(|row| Bar { label: row.key.replace('_', " "), value: row.alerts as f64, text: format::count(row.alerts) }).collect::<Vec<_>>(),
                    ))
                }
            }
            section aria-label="Recommendations" {
                h2 { "Recommendations" }
                (recommendation_list(&recommendations))
            }
        }
    };
    Ok(layout::page(
        "Analytics",
        Nav::Analytics,
        html! {
            h1 { "Analytics" }
            form.filters method="get" action="/analytics" {
                label { "Range "
                    select name="range" {
                        @for (key, label, _) in RANGES {
                            option value=(key) selected[key == range] { (label) }
                        }
                    }
                }
                label { "Tool " input type="text" name="tool" value=[given(&params.tool)] size="14"; }
                label { "Model " input type="text" name="model" value=[given(&params.model)] size="14"; }
                button type="submit" { "Apply" }
            }
            (body)
        },
    ))
}

fn recommendation_list(report: &lux_core::RecommendationReport) -> Markup {
    html! {
        @if report.items.is_empty() {
            p.empty { "No recommendations: no cheaper equivalent, failing or unusually slow model in this range." }
        } @else {
            ul.recommendations {
                @for item in &report.items {
                    li data-kind=(kind_name(item.kind)) {
                        span.badge { (kind_name(item.kind).replace('_', " ")) } " "
                        (item.reason)
                        @if let Some(saving) = item.monthly_saving { " " b { "≈ " (format::cost(saving)) " per 30 days" } }
                    }
                }
            }
        }
    }
}

fn kind_name(kind: RecommendationKind) -> &'static str {
    match kind {
        RecommendationKind::SwitchModel => "switch_model",
        RecommendationKind::SlowModel => "slow_model",
        RecommendationKind::FailingModel => "failing_model",
    }
}
