//! Data tools over the history that have no counterpart in the original server: cross-session
//! patterns, session comparison and export — thin wrappers over the services REST uses.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lux_core::patterns::topics::TopicMethod;
use lux_core::services::api_keys::Scope;
use lux_core::services::export::ExportEncoder;
use lux_core::services::patterns::{MAX_PATTERN_SESSIONS, PatternQuery, PatternReport};
use lux_core::{
    ComparedSession, ExportDataset, ExportFormat, SessionComparison, SessionFilter, SessionRef,
    SessionStatus, StepAlignment,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::args::Args;
use super::error::ToolError;
use super::{LuxMcp, McpSettings};

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
    /// Fewest sessions a pattern must appear in (default 5).
    min_support: Option<u32>,
    /// False-discovery rate the patterns are held to (above 0, at most 0.5; default 0.05).
    fdr: Option<f64>,
    /// Length in days of the two windows a trend compares (default 7).
    window_days: Option<u32>,
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

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CompareSessions {
    /// The first session: a Lux session id or your own session id.
    session_a: String,
    /// The second session, compared against the first (deltas are b − a).
    session_b: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ExportSession {
    /// A Lux session id or your own session id.
    session_id: String,
    /// `json` (one array, the default) or `jsonl` (one record per line).
    format: Option<String>,
}

#[tool_router(router = data_tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Every stored record of one session — the session, its steps, synthesis versions with
    /// insights and action items, model calls (with their prices), findings and monitor alerts —
    /// in Lux's export format, which `lux import FILE` or `POST /api/v1/import` takes back.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn export_session(
        &self,
        Parameters(Args(args)): Parameters<Args<ExportSession>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let format = match args.format.as_deref().map(str::trim) {
            None | Some("") | Some("json") => ExportFormat::Json,
            Some("jsonl") => ExportFormat::Jsonl,
            Some(other) => {
                return Err(ToolError::invalid(
                    "format",
                    format!("{other:?} is not one of json, jsonl"),
                ));
            }
        };
        let name = args.session_id.trim();
        if name.is_empty() {
            return Err(ToolError::invalid("session_id", "must not be empty"));
        }
        let session = self.find_session(caller.project, name).await?;
        let records = self
            .lux
            .export_session(caller.project, &SessionRef::Id(session.id))
            .await?;
        let mut encoder = ExportEncoder::new(ExportDataset::All, format)?;
        let mut bytes = encoder.start();
        bytes.extend(encoder.encode(&records)?);
        bytes.extend(encoder.finish());
        let text = String::from_utf8(bytes)
            .map_err(|error| ToolError::failed("internal", error.to_string()))?;
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for record in &records {
            *counts.entry(record.kind().as_str()).or_default() += 1;
        }
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(serde_json::json!({
            "session_id": session.id,
            "format": if format == ExportFormat::Json { "json" } else { "jsonl" },
            "records": counts,
            "dashboard_url": self.settings.session_url(&session),
        }));
        Ok(result)
    }

    /// Two stored sessions side by side: steps aligned by number and diffed, the latest
    /// syntheses diffed (insights and actions added, removed, changed), findings and alerts per
    /// step, and the differences in steps, tokens, cost, latency and confidence.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn compare_sessions(
        &self,
        Parameters(Args(args)): Parameters<Args<CompareSessions>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let mut sides = Vec::with_capacity(2);
        for (field, name) in [
            ("session_a", &args.session_a),
            ("session_b", &args.session_b),
        ] {
            let name = name.trim();
            if name.is_empty() {
                return Err(ToolError::invalid(field, "must not be empty"));
            }
            let session = match self.find_session(caller.project, name).await {
                Err(error) if error.is_not_found() => {
                    return Err(ToolError::invalid(
                        field,
                        format!("no session {name:?} in this project"),
                    ));
                }
                found => found?,
            };
            sides.push(SessionRef::Id(session.id));
        }
        let comparison = self
            .lux
            .compare_sessions(caller.project, &sides[0], &sides[1])
            .await?;
        Ok(render_comparison(&comparison, &self.settings))
    }

    /// Patterns across stored sessions: a bias or monitor alert that is more frequent in one topic,
    /// tool, model or user's sessions than in the rest, or rising in the latest window. Each is
    /// tested (Fisher's exact test, Benjamini–Hochberg at the false-discovery rate); strongest first.
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
            fdr: args.fdr,
            window_days: args.window_days,
        };
        let mut report = self.lux.find_patterns(caller.project, &query).await?;
        report.patterns.truncate(limit as usize);
        Ok(render_patterns(&report))
    }
}

fn render_comparison(comparison: &SessionComparison, settings: &McpSettings) -> CallToolResult {
    let (a, b, deltas) = (&comparison.a, &comparison.b, &comparison.deltas);
    let title = |side: &ComparedSession| {
        side.session
            .title
            .clone()
            .unwrap_or_else(|| side.session.id.to_string())
    };
    let mut out = String::new();
    let _ = writeln!(out, "## Compare: {} ↔ {}\n", title(a), title(b));
    let _ = writeln!(out, "| | A | B | B − A |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut row = |name: &str, a: String, b: String, delta: String| {
        let _ = writeln!(out, "| {name} | {a} | {b} | {delta} |");
    };
    let (fa, fb) = (&a.figures, &b.figures);
    row(
        "steps",
        fa.steps.to_string(),
        fb.steps.to_string(),
        signed(deltas.steps),
    );
    row(
        "model calls",
        fa.model_calls.to_string(),
        fb.model_calls.to_string(),
        signed(deltas.model_calls),
    );
    row(
        "tokens in / out",
        format!("{} / {}", fa.tokens.input, fa.tokens.output),
        format!("{} / {}", fb.tokens.input, fb.tokens.output),
        format!(
            "{} / {}",
            signed(deltas.tokens.input),
            signed(deltas.tokens.output)
        ),
    );
    row(
        "cost",
        fa.cost.to_string(),
        fb.cost.to_string(),
        deltas.cost.to_string(),
    );
    row(
        "latency total (ms)",
        fa.latency_ms_total.to_string(),
        fb.latency_ms_total.to_string(),
        signed(deltas.latency_ms_total),
    );
    row(
        "findings",
        fa.findings.to_string(),
        fb.findings.to_string(),
        signed(deltas.findings),
    );
    row(
        "alerts",
        fa.alerts.to_string(),
        fb.alerts.to_string(),
        signed(deltas.alerts),
    );
    let score = |value: Option<f64>| value.map_or("–".to_owned(), |v| format!("{v:.2}"));
    row(
        "final confidence",
        score(fa.final_confidence),
        score(fb.final_confidence),
        deltas
            .final_confidence
            .map_or("–".to_owned(), |v| format!("{v:+.2}")),
    );

    let count = |wanted: StepAlignment| {
        comparison
            .steps
            .iter()
            .filter(|pair| pair.alignment == wanted)
            .count()
    };
    let _ = writeln!(
        out,
        "\n**Steps:** {} same, {} changed, {} only in A, {} only in B.",
        count(StepAlignment::Same),
        count(StepAlignment::Changed),
        count(StepAlignment::OnlyA),
        count(StepAlignment::OnlyB)
    );
    for pair in comparison
        .steps
        .iter()
        .filter(|pair| pair.alignment == StepAlignment::Changed)
        .take(10)
    {
        let _ = writeln!(
            out,
            "- step {}: changed (similarity {:.2})",
            pair.step_number, pair.content.similarity
        );
    }
    let synthesis = &comparison.synthesis;
    let _ = writeln!(
        out,
        "\n**Synthesis (A's latest → B's latest):** understanding similarity {:.2}; insights +{} −{} ~{}; actions +{} −{} ~{}.",
        synthesis.understanding.similarity,
        synthesis.insights.added.len(),
        synthesis.insights.removed.len(),
        synthesis.insights.changed.len(),
        synthesis.action_items.added.len(),
        synthesis.action_items.removed.len(),
        synthesis.action_items.changed.len()
    );
    for insight in synthesis.insights.added.iter().take(5) {
        let _ = writeln!(out, "- ➕ {}", insight.text);
    }
    for insight in synthesis.insights.removed.iter().take(5) {
        let _ = writeln!(out, "- ➖ {}", insight.text);
    }
    let _ = write!(
        out,
        "\n---\n**A:** `{}` · {}\n**B:** `{}` · {}\n",
        a.session.id,
        settings.session_url(&a.session),
        b.session.id,
        settings.session_url(&b.session)
    );
    let mut result = CallToolResult::success(vec![ContentBlock::text(out)]);
    result.structured_content = serde_json::to_value(comparison).ok();
    result
}

fn signed(value: i64) -> String {
    format!("{value:+}")
}

fn render_patterns(report: &PatternReport) -> CallToolResult {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Patterns across {} sessions\n\n{} hypotheses tested, false-discovery rate {}, at least {} sessions each; topics by {}.\n",
        report.sessions_examined,
        report.tested,
        report.fdr,
        report.min_support,
        match report.topic_method {
            TopicMethod::Semantic => "the sentence model",
            TopicMethod::Lexical => "words (lexical fallback)",
        }
    );
    if report.patterns.is_empty() {
        let _ = writeln!(
            out,
            "No pattern passes the test. Examine more sessions, or lower `min_support`."
        );
    }
    for (rank, pattern) in report.patterns.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{}** — difference {:+.0} points [{:+.0}, {:+.0}]",
            rank + 1,
            pattern.title,
            (pattern.rate - pattern.baseline_rate) * 100.0,
            pattern.difference_interval[0] * 100.0,
            pattern.difference_interval[1] * 100.0,
        );
        if !pattern.also.is_empty() {
            let _ = writeln!(out, "   also: {}", pattern.also.join("; "));
        }
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(out)]);
    result.structured_content = serde_json::to_value(report).ok();
    result
}
