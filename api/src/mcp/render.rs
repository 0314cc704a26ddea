//! Replies: the original Lux server's Markdown shapes, plus the session id and dashboard link, and
//! the same facts as `structuredContent` for programs.

use std::fmt::Write as _;

use lux_core::{Finding, MonitorEvent, Page, Session, Severity, Step, SynthesisVersion};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use super::McpSettings;

/// Longest step text quoted in a session view; the full text is in `structuredContent`.
const QUOTE_CHARS: usize = 2000;

fn reply(markdown: String, structured: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(markdown)]);
    result.structured_content = Some(structured);
    result
}

fn footer(out: &mut String, session: &Session, settings: &McpSettings) {
    let _ = write!(
        out,
        "\n---\n**Session:** `{}` · **Dashboard:** {}\n",
        session.id,
        settings.session_url(session)
    );
}

fn quote(text: &str, max_chars: usize) -> String {
    let mut quoted: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        quoted.push('…');
    }
    quoted
}

/// How much a finding weighs in the bias score: severity scaled by the detector's confidence.
fn weight(finding: &Finding) -> f64 {
    let severity = match finding.severity {
        Severity::None => 0.0,
        Severity::Low => 0.25,
        Severity::Medium => 0.5,
        Severity::High => 0.75,
        Severity::Critical => 1.0,
    };
    severity * finding.confidence.clamp(0.0, 1.0)
}

/// 0 = no bias, 1 = severe: the chance that at least one finding holds, taking each as independent.
pub(super) fn bias_score(findings: &[Finding]) -> f64 {
    let clean: f64 = findings.iter().map(|f| 1.0 - weight(f)).product();
    ((1.0 - clean) * 1000.0).round() / 1000.0
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "bias_type": finding.bias_type,
        "description": finding.explanation,
        "severity": finding.severity.as_str(),
        "location": finding.evidence_text,
        "confidence": finding.confidence,
        "detector": finding.detector,
        "suggestion": finding.suggestion,
    })
}

pub(super) struct ThoughtReply<'a> {
    pub(super) thought_number: i32,
    pub(super) total_thoughts: i32,
    pub(super) next_thought_needed: bool,
    pub(super) branches: Vec<String>,
    pub(super) thought_history_length: usize,
    pub(super) status: &'static str,
    pub(super) session_id: String,
    pub(super) step: &'a Step,
    pub(super) findings: &'a [Finding],
    /// Whether the thought's analysis was stored before the reply (or is still running).
    pub(super) analysed: bool,
}

impl ThoughtReply<'_> {
    pub(super) fn render(&self, session: &Session, settings: &McpSettings) -> CallToolResult {
        let mut out = String::new();
        let label = match self.status {
            "revision" => "🔄 Revision",
            "branch" => "🌿 Branch",
            "complete" => "✅ Final thought",
            _ => "💭 Thought",
        };
        let _ = writeln!(
            out,
            "{label} {}/{} recorded (status: `{}`)\n",
            self.thought_number, self.total_thoughts, self.status
        );
        let _ = writeln!(
            out,
            "- **Thought history length:** {}",
            self.thought_history_length
        );
        let branches = if self.branches.is_empty() {
            "none".to_owned()
        } else {
            self.branches.join(", ")
        };
        let _ = writeln!(out, "- **Branches:** {branches}");
        let _ = writeln!(
            out,
            "- **Next thought needed:** {}",
            if self.next_thought_needed {
                "yes"
            } else {
                "no"
            }
        );
        let _ = writeln!(out, "- **Session ID:** `{}`", self.session_id);
        if !self.findings.is_empty() {
            let _ = writeln!(out, "\n**Lux noticed:**");
            for finding in self.findings {
                let _ = writeln!(
                    out,
                    "- ⚠️ {} ({}): {}",
                    finding.bias_type, finding.severity, finding.explanation
                );
            }
        }
        if !self.analysed {
            let _ = writeln!(
                out,
                "\n_Lux is still analysing this thought; what it finds will appear in the session._"
            );
        }
        footer(&mut out, session, settings);
        let structured = json!({
            "analysis": if self.analysed { "done" } else { "pending" },
            "thought_number": self.thought_number,
            "total_thoughts": self.total_thoughts,
            "next_thought_needed": self.next_thought_needed,
            "branches": self.branches,
            "thought_history_length": self.thought_history_length,
            "session_id": self.session_id,
            "status": self.status,
            "lux_session_id": session.id,
            "step_number": self.step.step_number,
            "findings": self.findings.iter().map(finding_json).collect::<Vec<_>>(),
            "dashboard_url": settings.session_url(session),
        });
        reply(out, structured)
    }
}

pub(super) struct BiasReply<'a> {
    pub(super) step: &'a Step,
    pub(super) findings: &'a [Finding],
    pub(super) detectors: Vec<String>,
    pub(super) session_id: String,
}

impl BiasReply<'_> {
    pub(super) fn render(&self, session: &Session, settings: &McpSettings) -> CallToolResult {
        let score = bias_score(self.findings);
        let detected = !self.findings.is_empty();
        // With findings: the most confident one. Without: heuristics cannot prove an absence.
        let confidence = self
            .findings
            .iter()
            .map(|f| f.confidence)
            .fold(None, |best: Option<f64>, c| {
                Some(best.map_or(c, |b| b.max(c)))
            })
            .unwrap_or(0.5);
        let revision = score > 0.5;
        let mut suggestions: Vec<String> = Vec::new();
        for finding in self.findings {
            if let Some(suggestion) = &finding.suggestion
                && !suggestions.contains(suggestion)
            {
                suggestions.push(suggestion.clone());
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "## 🔍 Bias Check — step {}\n", self.step.step_number);
        let _ = writeln!(
            out,
            "**Bias detected:** {} · **Bias score:** {score:.2} · **Confidence:** {confidence:.2}",
            if detected { "yes" } else { "no" }
        );
        let _ = writeln!(
            out,
            "**Revision recommended:** {}\n",
            if revision { "yes" } else { "no" }
        );
        if detected {
            let _ = writeln!(out, "### Biases found");
            for (index, finding) in self.findings.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}. **{}** ({}) — {}",
                    index + 1,
                    finding.bias_type,
                    finding.severity,
                    finding.explanation
                );
                if let Some(evidence) = &finding.evidence_text {
                    let _ = writeln!(out, "   Location: “{evidence}”");
                }
            }
            out.push('\n');
        } else {
            let _ = writeln!(out, "No bias found by the built-in detectors.\n");
        }
        if !suggestions.is_empty() {
            let _ = writeln!(out, "### Suggestions");
            for suggestion in &suggestions {
                let _ = writeln!(out, "- {suggestion}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "**Checked by:** {}", self.detectors.join(", "));
        let _ = writeln!(out, "**Session ID:** `{}`", self.session_id);
        footer(&mut out, session, settings);
        let structured = json!({
            "bias_detected": detected,
            "confidence": confidence,
            "biases_found": self.findings.iter().map(finding_json).collect::<Vec<_>>(),
            "suggestions": suggestions,
            "bias_score": score,
            "revision_recommended": revision,
            "alternative_phrasing": Value::Null,
            "model_used": "lux built-in detectors",
            "session_id": self.session_id,
            "lux_session_id": session.id,
            "step_number": self.step.step_number,
            "dashboard_url": settings.session_url(session),
        });
        reply(out, structured)
    }
}

pub(super) struct Status {
    pub(super) database: &'static str,
    pub(super) sessions: Option<usize>,
    pub(super) active_sessions: Option<usize>,
    pub(super) llm: Option<(String, String)>,
    pub(super) detectors: Vec<String>,
    pub(super) monitor: bool,
    pub(super) detection: lux_core::detect::DetectionMode,
    pub(super) queue: lux_core::services::analysis_queue::QueueStatus,
    pub(super) tools: Vec<String>,
}

impl Status {
    pub(super) fn render(&self, settings: &McpSettings) -> CallToolResult {
        let count = |n: Option<usize>| n.map_or_else(|| "100000+".to_owned(), |n| n.to_string());
        let mut out = String::new();
        let _ = writeln!(out, "## ✨ Lux Illumination Status\n");
        let _ = writeln!(out, "- **Database:** {}", self.database);
        let _ = writeln!(
            out,
            "- **Sessions:** {} stored, {} active",
            count(self.sessions),
            count(self.active_sessions)
        );
        match &self.llm {
            Some((base_url, model)) => {
                let _ = writeln!(out, "- **LLM:** `{model}` at {base_url}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "- **LLM:** not configured (set `LUX_LLM_BASE_URL` and `LUX_LLM_API_KEY` or \
                     `OPENAI_API_KEY`); the host-reasons tools work without one"
                );
            }
        }
        let _ = writeln!(
            out,
            "- **Bias detectors:** {} ({})",
            self.detectors.len(),
            self.detectors.join(", ")
        );
        let _ = writeln!(
            out,
            "- **Metacognitive monitor:** {}",
            if self.monitor { "on" } else { "off" }
        );
        let _ = writeln!(out, "- **Analysis:** {}", self.detection.summary());
        let _ = writeln!(
            out,
            "- **Analysis queue:** {} step(s) waiting, the oldest for {:.1} s; {} worker(s) here",
            self.queue.depth, self.queue.lag_seconds, self.queue.workers
        );
        let _ = writeln!(out, "- **Tools:** {}", self.tools.join(", "));
        let _ = writeln!(out, "- **Dashboard:** {}", settings.public_url);
        let structured = json!({
            "database": self.database,
            "sessions": self.sessions,
            "active_sessions": self.active_sessions,
            "llm_configured": self.llm.is_some(),
            "llm_model": self.llm.as_ref().map(|(_, model)| model),
            "detectors": self.detectors,
            "monitor": self.monitor,
            "analysis": self.detection.summary(),
            "analysis_queue": self.queue,
            "analysis_features": self.detection.features(),
            "learned_detectors": self.detection.learned,
            "semantic_model": self.detection.semantic_model,
            "tools": self.tools,
            "dashboard_url": settings.public_url,
        });
        reply(out, structured)
    }
}

fn session_json(session: &Session, settings: &McpSettings) -> Value {
    json!({
        "id": session.id,
        "external_id": session.external_id,
        "tool": session.tool,
        "status": session.status.as_str(),
        "title": session.title,
        "model": session.model,
        "created_at": session.created_at,
        "dashboard_url": settings.session_url(session),
    })
}

fn cell(text: &str) -> String {
    quote(text, 60).replace('|', "\\|").replace('\n', " ")
}

pub(super) fn session_list(page: &Page<Session>, settings: &McpSettings) -> CallToolResult {
    let mut out = String::new();
    let _ = writeln!(out, "## Sessions ({})\n", page.items.len());
    if page.items.is_empty() {
        let _ = writeln!(out, "No sessions match.");
    } else {
        let _ = writeln!(out, "| id | tool | status | title | created |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for session in &page.items {
            let _ = writeln!(
                out,
                "| [`{}`]({}) | {} | {} | {} | {} |",
                session.id,
                settings.session_url(session),
                session.tool,
                session.status,
                cell(session.title.as_deref().unwrap_or("")),
                session.created_at.format("%Y-%m-%d %H:%M")
            );
        }
    }
    if let Some(cursor) = &page.next_cursor {
        let _ = writeln!(out, "\nMore: call again with `cursor` = `{cursor}`.");
    }
    let structured = json!({
        "items": page.items.iter().map(|s| session_json(s, settings)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    });
    reply(out, structured)
}

pub(super) fn search_hits(
    query: &str,
    hits: &[lux_core::SearchHit],
    settings: &McpSettings,
) -> CallToolResult {
    let mut out = String::new();
    let _ = writeln!(out, "## Search: {}\n", cell(query));
    if hits.is_empty() {
        let _ = writeln!(out, "No stored reasoning matches.");
    }
    for hit in hits {
        // Snippets mark matches with <mark>; Markdown shows them bold.
        let snippet = hit.snippet.replace("<mark>", "**").replace("</mark>", "**");
        let _ = writeln!(
            out,
            "- [`{}`]({}) {} {}: {}",
            hit.session_id,
            settings.session_id_url(hit.session_id),
            hit.kind.as_str(),
            hit.number,
            snippet.replace('\n', " ")
        );
    }
    let structured = json!({
        "query": query,
        "hits": hits.iter().map(|hit| json!({
            "session_id": hit.session_id,
            "kind": hit.kind.as_str(),
            "number": hit.number,
            "id": hit.id,
            "snippet": hit.snippet,
            "rank": hit.rank,
            "created_at": hit.created_at,
            "dashboard_url": settings.session_id_url(hit.session_id),
        })).collect::<Vec<_>>(),
    });
    reply(out, structured)
}

pub(super) fn session_summary(
    session: &Session,
    summary: &lux_core::SessionSummary,
    settings: &McpSettings,
) -> CallToolResult {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Session analytics: {}\n",
        cell(session.title.as_deref().unwrap_or(&session.tool))
    );
    let _ = writeln!(out, "- Status: {}", summary.status);
    let _ = writeln!(
        out,
        "- Steps: {} · synthesis versions: {}",
        summary.steps, summary.synthesis_versions
    );
    let _ = writeln!(
        out,
        "- Model calls: {} ({} failed) · cost: {}",
        summary.model_calls, summary.failed_calls, summary.cost
    );
    let _ = writeln!(
        out,
        "- Findings: {} · alerts: {}",
        summary.findings, summary.alerts
    );
    let _ = writeln!(
        out,
        "- Duration: {:.1} s",
        summary.duration_ms as f64 / 1000.0
    );
    if let Some(confidence) = summary.final_confidence {
        let _ = writeln!(out, "- Final confidence: {confidence:.2}");
    }
    let _ = writeln!(
        out,
        "\nSession: `{}` · {}",
        session.id,
        settings.session_url(session)
    );
    let mut structured = serde_json::to_value(summary).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut structured {
        map.insert("dashboard_url".into(), json!(settings.session_url(session)));
    }
    reply(out, structured)
}

pub(super) struct SessionDetail<'a> {
    pub(super) session: &'a Session,
    pub(super) steps: &'a [Step],
    pub(super) synthesis: Option<&'a SynthesisVersion>,
    pub(super) findings: &'a [Finding],
    pub(super) events: &'a [MonitorEvent],
}

impl SessionDetail<'_> {
    pub(super) fn render(&self, settings: &McpSettings) -> CallToolResult {
        reply(self.markdown(settings), self.structured(settings))
    }

    /// The session as the original server's Markdown, with its link.
    pub(super) fn markdown(&self, settings: &McpSettings) -> String {
        let session = self.session;
        let mut out = String::new();
        let title = session.title.as_deref().unwrap_or("(untitled)");
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(
            out,
            "- **Tool:** {} · **Status:** {} · **Steps:** {}",
            session.tool,
            session.status,
            self.steps.len()
        );
        if let Some(external) = &session.external_id {
            let _ = writeln!(out, "- **Session ID:** `{external}`");
        }
        let _ = writeln!(out, "\n### Steps");
        for step in self.steps {
            let marker = if step.is_revision { " (revision)" } else { "" };
            let _ = writeln!(
                out,
                "{}. _{}{marker}_ — {}",
                step.step_number,
                step.kind,
                quote(&step.content, QUOTE_CHARS)
            );
        }
        if let Some(synthesis) = self.synthesis {
            let _ = writeln!(out, "\n### Synthesis (version {})", synthesis.version);
            if let Some(understanding) = &synthesis.current_understanding {
                let _ = writeln!(out, "{understanding}");
            }
            for insight in &synthesis.insights {
                let _ = writeln!(out, "- 💡 {}", insight.text);
            }
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out, "\n### Bias findings");
            for finding in self.findings {
                let _ = writeln!(
                    out,
                    "- {} ({}) — {}",
                    finding.bias_type, finding.severity, finding.explanation
                );
            }
        }
        if !self.events.is_empty() {
            let _ = writeln!(out, "\n### Monitor alerts");
            for event in self.events {
                let _ = writeln!(
                    out,
                    "- {} ({}) — {}",
                    event.kind, event.severity, event.message
                );
            }
        }
        footer(&mut out, session, settings);
        out
    }

    /// The same facts for programs, with every step's full text.
    pub(super) fn structured(&self, settings: &McpSettings) -> Value {
        json!({
            "session": session_json(self.session, settings),
            "steps": self.steps.iter().map(|step| json!({
                "step_number": step.step_number,
                "kind": step.kind,
                "content": step.content,
                "is_revision": step.is_revision,
                "revises_step": step.revises_step,
                "branch_id": step.branch_id,
                "created_at": step.created_at,
            })).collect::<Vec<_>>(),
            "synthesis": self.synthesis.map(|s| json!({
                "version": s.version,
                "current_understanding": s.current_understanding,
                "insights": s.insights.iter().map(|i| &i.text).collect::<Vec<_>>(),
                "confidence": s.confidence,
            })),
            "findings": self.findings.iter().map(finding_json).collect::<Vec<_>>(),
            "monitor_events": self.events.iter().map(|e| json!({
                "kind": e.kind, "severity": e.severity.as_str(), "message": e.message,
            })).collect::<Vec<_>>(),
        })
    }
}
