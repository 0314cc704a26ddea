//! Data tools over the history that have no counterpart in the original server: cross-session
//! patterns, session comparison and export — thin wrappers over the services REST uses.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lux_core::services::api_keys::Scope;
use lux_core::services::patterns::{MAX_PATTERN_SESSIONS, PatternQuery, PatternReport};
use lux_core::{SessionFilter, SessionStatus};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::LuxMcp;
use super::args::Args;
use super::error::ToolError;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct FindPatterns {
    /// Only sessions of this tool (e.g. `biased_reasoning`).
    tool: Option<String>,
    /// Only sessions with this status: `active`, `completed`, `failed` or `abandoned`.
    status: Option<String>,
    /// Only sessions created at or after this time (RFC 3339, e.g. `2026-11-01T00:00:00Z`).
    since: Option<String>,
    /// How many of the newest matching sessions to examine (1 to 5000, default 500).
    sessions: Option<u32>,
    /// Fewest sessions a pattern must appear in (default 3).
    min_support: Option<u32>,
    /// At most this many patterns in the reply (1 to 100, default 20).
    limit: Option<u32>,
}

fn parse_time(field: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ToolError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|error| {
            ToolError::invalid(
                field,
                format!("expected an RFC 3339 time such as 2026-11-01T00:00:00Z: {error}"),
            )
        })
}

#[tool_router(router = data_tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Patterns that recur across stored sessions: bias types and monitor alerts that keep
    /// coming back, and topics whose sessions show a bias more often than the rest.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn find_patterns(
        &self,
        Parameters(Args(args)): Parameters<Args<FindPatterns>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let limit = args.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("must be between 1 and 100, got {limit}"),
            ));
        }
        if let Some(sessions) = args.sessions
            && !(1..=MAX_PATTERN_SESSIONS).contains(&sessions)
        {
            return Err(ToolError::invalid(
                "sessions",
                format!("must be between 1 and {MAX_PATTERN_SESSIONS}, got {sessions}"),
            ));
        }
        let status = args
            .status
            .as_deref()
            .map(str::parse::<SessionStatus>)
            .transpose()
            .map_err(|error| ToolError::from(error).renamed(&[("status", "status")]))?;
        let query = PatternQuery {
            filter: SessionFilter {
                tool: args.tool,
                status,
                since: parse_time("since", args.since.as_deref())?,
                ..SessionFilter::default()
            },
            sessions: args.sessions,
            min_support: args.min_support,
        };
        let mut report = self.lux.find_patterns(caller.project, &query).await?;
        report.patterns.truncate(limit as usize);
        Ok(render_patterns(&report))
    }
}

fn render_patterns(report: &PatternReport) -> CallToolResult {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Patterns across {} sessions\n",
        report.sessions_examined
    );
    if report.patterns.is_empty() {
        let _ = writeln!(
            out,
            "No pattern reaches the support asked for. Examine more sessions or lower `min_support`."
        );
    }
    for (rank, found) in report.patterns.iter().enumerate() {
        let pattern = &found.pattern;
        let _ = writeln!(
            out,
            "{}. **{}** — {} sessions, score {:.2} (_{}_)",
            rank + 1,
            pattern.title,
            pattern.support,
            pattern.score,
            found.miner
        );
    }
    for failure in &report.failed_miners {
        let _ = writeln!(
            out,
            "\n⚠️ miner {} failed: {}",
            failure.miner, failure.message
        );
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(out)]);
    result.structured_content = serde_json::to_value(report).ok();
    result
}
