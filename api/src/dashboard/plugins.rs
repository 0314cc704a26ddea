//! `/plugins`: installed WASM detectors and miners (every version, which is active, enabled) and
//! the cross-session patterns stored by miner runs.

use lux_core::PatternListQuery;
use maud::html;
use poem::web::Data;
use poem::{Request, handler};

use super::format;
use super::layout::{self, Nav};
use super::{PageResult, caller};
use crate::server::AppState;

/// Newest patterns shown.
const PATTERNS_SHOWN: u32 = 100;

#[handler]
pub(crate) async fn page(state: Data<&AppState>, request: &Request) -> PageResult {
    let caller = caller(&state, request).await?;
    let plugins = state.lux.list_plugins().await?;
    let mode = state.lux.detectors().detection_mode();
    let patterns = state
        .lux
        .list_patterns(
            caller.project,
            &PatternListQuery {
                limit: Some(PATTERNS_SHOWN),
                ..PatternListQuery::default()
            },
        )
        .await?;
    Ok(layout::page(
        "Plugins",
        Nav::Plugins,
        html! {
            h1 { "Plugins" }
            p.analysis data-analysis-features=(mode.features()) {
                "Built-in analysis: " (mode.summary()) ". Plugins run after it."
            }
            @if plugins.is_empty() {
                section.empty {
                    p { "No plugins installed. A plugin is a WASM component: a bias detector or a pattern miner. Install one with "
                        code { "lux plugin install FILE.wasm" } " or " code { "POST /api/v1/plugins" } "; see " code { "docs/plugins.md" } "." }
                }
            } @else {
                table.plugins {
                    thead { tr { th { "Name" } th { "Version" } th { "Kind" } th { "State" } th.num { "Size" } th { "Installed" } th { "Description" } } }
                    tbody {
                        @for plugin in &plugins {
                            tr data-plugin=(plugin.name) {
                                td { b { (plugin.name) } }
                                td { (plugin.version) }
                                td { (plugin.kind.as_str()) }
                                td {
                                    @if plugin.active { span.badge.status-active { "active" } " " }
                                    @if plugin.enabled { span.badge { "enabled" } } @else { span.badge.muted { "disabled" } }
                                }
                                td.num { (format::count(i64::try_from(plugin.size_bytes / 1024).unwrap_or(i64::MAX))) " KiB" }
                                td { (format::time(plugin.created_at)) }
                                td { (plugin.description) }
                            }
                        }
                    }
                }
            }
            h2 { "Stored patterns" }
            p.muted { "What plugin miners stored. Lux's own patterns are on the " a href="/patterns" { "patterns page" } "." }
            @if patterns.is_empty() {
                p.empty { "No patterns stored yet. Run a miner with " code { "lux plugin run NAME --all" } "." }
            } @else {
                table.patterns {
                    thead { tr { th { "Pattern" } th { "Miner" } th { "Kind" } th.num { "Sessions" } th.num { "Score" } th { "Found" } } }
                    tbody {
                        @for pattern in &patterns {
                            tr {
                                td { (pattern.title)
                                    @if !pattern.session_ids.is_empty() {
                                        br;
                                        span.muted { @for (index, id) in pattern.session_ids.iter().take(5).enumerate() {
                                            @if index > 0 { ", " }
                                            a href=(format!("/sessions/{id}")) { (id.to_string().get(..8).unwrap_or_default()) }
                                        } }
                                    }
                                }
                                td { (pattern.miner) " " span.muted { (pattern.miner_version) } }
                                td { (pattern.kind) }
                                td.num { (pattern.support) }
                                td.num { (format!("{:.2}", pattern.score)) }
                                td { (format::time(pattern.created_at)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}
