//! The LLM-backed tools (`confer`, `traced_reasoning`), with the original server's names and
//! parameters. Each call finds its session in the database, stores what the caller said before
//! asking the model (so a failed call loses nothing), then stores the answer, the model call
//! (tokens, latency, cost; failed calls too) and any `update_synthesis(...)` as a new version.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lux_core::llm::LlmClient as _;
use lux_core::llm::{ChatMessage, ChatRequest, ChatResponse, ChatRole, LlmError, OpenAiClient};
use lux_core::monitor::{MonitorState, StepMetrics};
use lux_core::services::api_keys::Scope;
use lux_core::services::thoughts::{Turn, TurnSession};
use lux_core::{
    Actor, CallStatus, MonitorEvent, NewModelCall, NewStep, NewSynthesis, PageRequest, ProjectId,
    Session, SessionFilter, SessionRef, SessionStatus, Step, StepId, SynthesisVersion,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::args::Args;
use super::error::ToolError;
use super::tools::{THOUGHT_FIELDS, at_least_one, new_session};
use super::{LuxMcp, McpSettings};

/// What to set when no LLM is configured.
pub(crate) const LLM_ENV_HELP: &str = "set `LUX_LLM_BASE_URL` (any OpenAI-compatible endpoint, \
     e.g. `http://localhost:11434/v1`) and/or `LUX_LLM_API_KEY` (or `OPENAI_API_KEY`, with \
     `OPENAI_BASE_URL`); optionally `LUX_LLM_MODEL`, then restart the MCP server";
/// The original cut each file at this many characters.
const MAX_FILE_CHARS: usize = 10_000;
/// Earlier turns sent back to the model with each `confer` call.
const CONFER_HISTORY_STEPS: usize = 40;
/// Earlier thoughts quoted in a `traced_reasoning` prompt.
const TRACE_HISTORY_THOUGHTS: usize = 20;
const SYNTHESIS_CALL: &str = "update_synthesis";

const CONFER_SYSTEM: &str = "You are a knowledgeable, precise assistant in an ongoing \
conversation. Answer the latest message directly. When your answer establishes something worth \
keeping, end it with update_synthesis({\"current_understanding\": \"<= 3 sentences\", \
\"key_insights\": [{\"insight\": \"<= 15 words\", \"confidence\": 0.0-1.0}], \"action_items\": \
[{\"action\": \"...\", \"priority\": \"high|medium|low\"}], \"confidence_score\": 0.0-1.0, \
\"clarity_score\": 0.0-1.0}).";

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Confer {
    /// Your message to the model.
    message: String,
    /// Model to use (default: the configured `LUX_LLM_MODEL`).
    model: Option<String>,
    /// Sampling temperature (0..=2).
    temperature: Option<f32>,
    /// Continue a conversation: the `Continuation ID` of an earlier reply (a Lux session id), or
    /// your own id (created on first use).
    continuation_id: Option<String>,
    /// Files to include in the message (read on this machine, each cut at 10,000 characters;
    /// stdio only).
    #[serde(default)]
    file_paths: Vec<String>,
    /// Include the files' contents (default true); otherwise only their paths are mentioned.
    include_file_contents: Option<bool>,
}

/// Stored with each thought as given.
#[derive(Debug, Default, Deserialize, serde::Serialize, JsonSchema)]
pub(crate) struct Guardrails {
    /// Watch for drift away from the question (default true).
    semantic_drift_check: Option<bool>,
    /// Accepted for compatibility; Lux's monitor uses its own calibrated thresholds.
    semantic_drift_threshold: Option<f64>,
    /// Accepted for compatibility: perplexity needs token probabilities, which Lux does not have.
    perplexity_monitoring: Option<bool>,
    /// Accepted for compatibility.
    perplexity_threshold: Option<f64>,
    /// Watch for circular reasoning (default true).
    circular_reasoning_detection: Option<bool>,
    /// Watch for declining quality and inconsistency (default true).
    consistency_validation: Option<bool>,
    /// Accepted for compatibility: attention entropy is not measurable without the model's internals.
    attention_entropy_analysis: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct TracedReasoning {
    /// Thought 1: the problem to reason about. Later thoughts: your guidance for the next step
    /// (the model writes the thought).
    thought: String,
    /// Current thought number (starts at 1).
    thought_number: u32,
    /// Estimated total thoughts needed.
    total_thoughts: u32,
    /// Whether another thought is needed after this one.
    next_thought_needed: bool,
    /// Whether this thought revises an earlier one.
    #[serde(default)]
    is_revision: bool,
    /// Which thought number is being revised (with `is_revision`).
    revises_thought: Option<u32>,
    /// Which thought number this branch starts from.
    branch_from_thought: Option<u32>,
    /// Identifier of the current branch.
    branch_id: Option<String>,
    /// Whether more thoughts are needed beyond the estimate.
    #[serde(default)]
    needs_more_thoughts: bool,
    /// Model to use (default: the configured `LUX_LLM_MODEL`).
    model: Option<String>,
    /// Sampling temperature (0..=2, default 0.7).
    temperature: Option<f32>,
    /// Which monitor checks to report.
    guardrails: Option<Guardrails>,
    /// Session to continue: a Lux session id or your own id (created on first use). Without it,
    /// thought 1 starts a new session and later thoughts continue the newest active one.
    session_id: Option<String>,
}

/// The model's answer, as stored.
pub(super) struct Answered {
    pub(super) response: ChatResponse,
    pub(super) step: Step,
    pub(super) call: lux_core::ModelCall,
    pub(super) synthesis: Option<SynthesisVersion>,
    pub(super) synthesis_error: Option<String>,
}

fn provider_of(base_url: &str) -> &'static str {
    let url = base_url.to_ascii_lowercase();
    if url.contains("openrouter.ai") {
        "openrouter"
    } else if url.contains("api.openai.com") {
        "openai"
    } else {
        "openai_compatible"
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .min(lux_core::MAX_LATENCY_MS)
}

pub(super) fn temperature(value: Option<f32>) -> Result<Option<f32>, ToolError> {
    match value {
        Some(t) if !(0.0..=2.0).contains(&t) => Err(ToolError::invalid(
            "temperature",
            format!("must be between 0 and 2, got {t}"),
        )),
        other => Ok(other),
    }
}

pub(super) fn model_name(value: Option<String>) -> Option<String> {
    value
        .map(|model| model.trim().to_owned())
        .filter(|model| !model.is_empty())
}

/// The answer without its trailing `update_synthesis(...)`, for the step text the monitor reads.
pub(super) fn answer_text(text: &str) -> &str {
    let body = text.find(SYNTHESIS_CALL).map_or(text, |at| &text[..at]);
    let body = body.trim();
    if body.is_empty() { text.trim() } else { body }
}

pub(super) fn usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

fn cut(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push_str("\n[… cut at 10,000 characters]");
    }
    out
}

pub(super) fn footer(out: &mut String, session: &Session, settings: &McpSettings) {
    let _ = write!(
        out,
        "\n---\n**Session:** `{}` · **Dashboard:** {}\n",
        session.id,
        settings.session_url(session)
    );
}

pub(super) fn synthesis_json(synthesis: Option<&SynthesisVersion>) -> Value {
    synthesis.map_or(Value::Null, |s| {
        json!({
            "version": s.version,
            "current_understanding": s.current_understanding,
            "key_insights": s.insights.iter().map(|i| json!({
                "insight": i.text, "confidence": i.confidence,
            })).collect::<Vec<_>>(),
            "action_items": s.action_items.iter().map(|a| json!({
                "action": a.action, "priority": a.priority,
            })).collect::<Vec<_>>(),
            "confidence_score": s.confidence,
            "clarity_score": s.clarity,
        })
    })
}

pub(super) fn synthesis_markdown(out: &mut String, synthesis: Option<&SynthesisVersion>) {
    let Some(s) = synthesis else { return };
    let _ = writeln!(out, "\n### 📋 Synthesis (version {})", s.version);
    if let Some(understanding) = &s.current_understanding {
        let _ = writeln!(out, "{understanding}");
    }
    for insight in &s.insights {
        match insight.confidence {
            Some(c) => {
                let _ = writeln!(out, "- 💡 {} ({c:.2})", insight.text);
            }
            None => {
                let _ = writeln!(out, "- 💡 {}", insight.text);
            }
        }
    }
    for action in &s.action_items {
        let _ = writeln!(out, "- ☐ {} ({:?})", action.action, action.priority);
    }
}

fn thought_type(args: &TracedReasoning) -> &'static str {
    let (n, total) = (args.thought_number, args.total_thoughts.max(1));
    if n == 1 {
        "initial"
    } else if !args.next_thought_needed {
        "conclusion"
    } else if args.is_revision {
        "validation"
    } else if n * 3 <= total {
        "exploration"
    } else if n * 3 > total * 2 {
        "synthesis"
    } else {
        "analysis"
    }
}

/// The monitor kinds a guardrail switches off.
fn reported(kind: &str, guardrails: &Guardrails) -> bool {
    use lux_core::monitor::{CIRCULAR_REASONING, DISTRACTOR_FIXATION, QUALITY_DEGRADATION};
    match kind {
        CIRCULAR_REASONING => guardrails.circular_reasoning_detection.unwrap_or(true),
        DISTRACTOR_FIXATION => guardrails.semantic_drift_check.unwrap_or(true),
        QUALITY_DEGRADATION => guardrails.consistency_validation.unwrap_or(true),
        _ => true,
    }
}

/// The original's intervention types, where one of Lux's monitor kinds means the same.
fn intervention_type(kind: &str) -> &str {
    match kind {
        "distractor_fixation" => "semantic_drift",
        other => other,
    }
}

fn metrics_json(metrics: Option<&StepMetrics>) -> Value {
    let Some(m) = metrics else {
        return Value::Null;
    };
    json!({
        "semantic_similarity": m.coherence,
        "relevance": m.relevance,
        "novelty": m.novelty,
        "vocabulary_diversity": m.vocabulary_diversity,
        "reasoning_depth": m.reasoning_depth,
        "detail_density": m.detail_density,
        "max_similarity": m.max_similarity,
        "most_similar_thought_step": m.most_similar_step,
        "trend": m.trend.as_str(),
        // Not measurable without the model's token probabilities: left out, never invented.
        "perplexity": Value::Null,
        "attention_entropy": Value::Null,
    })
}

#[tool_router(router = llm_tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Chat with a model (needs an OpenAI-compatible LLM configured). Pass the reply's
    /// `continuation_id` to continue the conversation; every turn, its token usage and cost, and
    /// any synthesis the model states are stored in Lux.
    #[tool(annotations(read_only_hint = false, open_world_hint = true))]
    async fn confer(
        &self,
        Parameters(Args(args)): Parameters<Args<Confer>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        if args.message.trim().is_empty() {
            return Err(ToolError::invalid("message", "must not be empty"));
        }
        let temperature = temperature(args.temperature)?;
        let model = model_name(args.model);
        let files = self
            .read_files(&args.file_paths, args.include_file_contents)
            .await?;
        let client = self.llm_client()?;

        let template = new_session("confer", &args.message);
        let session = match self
            .named_session(
                caller.project,
                args.continuation_id.as_deref(),
                template.clone(),
            )
            .await
            .map_err(|error| error.renamed(&[("session_id", "continuation_id")]))?
        {
            Some((session, _)) => session,
            None => self.new_session(caller.project, template).await?,
        };
        let reference = SessionRef::Id(session.id);
        let earlier = self.lux.all_steps(caller.project, &reference).await?;

        let question = NewStep {
            kind: "message".to_owned(),
            content: args.message.clone(),
            metadata: Some(json!({
                "tool": "confer",
                "role": "user",
                "file_paths": args.file_paths,
            })),
            ..NewStep::default()
        };
        let question = self
            .lux
            .append_step(caller.project, &reference, question)
            .await
            .map_err(|error| ToolError::from(error).renamed(&[("content", "message")]))?
            .value;

        let mut messages = vec![ChatMessage::system(CONFER_SYSTEM)];
        let start = earlier.len().saturating_sub(CONFER_HISTORY_STEPS);
        for step in &earlier[start..] {
            let role = match step.kind.as_str() {
                "message" => ChatRole::User,
                "response" => ChatRole::Assistant,
                _ => continue,
            };
            let content = step
                .raw_response
                .clone()
                .unwrap_or_else(|| step.content.clone());
            messages.push(ChatMessage { role, content });
        }
        messages.push(ChatMessage::user(format!("{}{files}", args.message)));
        let request = ChatRequest {
            model,
            messages,
            temperature,
            ..ChatRequest::default()
        };
        let answered = self
            .ask(
                caller.project,
                &session,
                &client,
                &request,
                question.id,
                |response| NewStep {
                    kind: "response".to_owned(),
                    content: answer_text(&response.text).to_owned(),
                    raw_response: Some(response.text.clone()),
                    model: Some(response_model(response, &request, &client)),
                    metadata: Some(json!({"tool": "confer", "role": "assistant"})),
                    ..NewStep::default()
                },
            )
            .await?;

        let continuation = args
            .continuation_id
            .clone()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| session.id.to_string());
        let usage = answered.response.usage;
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", answered.response.text.trim());
        let _ = writeln!(out, "---");
        let _ = writeln!(out, "**Model:** {}", answered.call.model);
        let _ = writeln!(
            out,
            "**Tokens:** {} input ({} cached), {} output, {} reasoning · **Cost:** ${:.6} · **Latency:** {} ms",
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.reasoning_tokens,
            usd(answered.call.cost.0),
            answered.call.latency_ms
        );
        if let Some(error) = &answered.synthesis_error {
            let _ = writeln!(out, "**Synthesis not stored:** {error}");
        }
        synthesis_markdown(&mut out, answered.synthesis.as_ref());
        let _ = writeln!(out, "\nContinuation ID: {continuation}");
        footer(&mut out, &session, &self.settings);
        let structured = json!({
            "response": answered.response.text,
            "model_used": answered.call.model,
            "usage": usage_json(&answered),
            "continuation_id": continuation,
            "session_id": continuation,
            "lux_session_id": session.id,
            "step_number": answered.step.step_number,
            "synthesis": synthesis_json(answered.synthesis.as_ref()),
            "synthesis_error": answered.synthesis_error,
            "dashboard_url": self.settings.session_url(&session),
        });
        Ok(reply(out, structured))
    }

    /// Step-by-step reasoning with metacognitive monitoring (needs an LLM configured). Thought 1
    /// states the problem (no model call); each later call asks the model for the next thought.
    /// Every thought is stored and checked by Lux's monitor and detectors; the reply reports the
    /// monitor's measurements and any intervention.
    #[tool(annotations(read_only_hint = false, open_world_hint = true))]
    async fn traced_reasoning(
        &self,
        Parameters(Args(args)): Parameters<Args<TracedReasoning>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        let thought_number = at_least_one("thought_number", args.thought_number)?;
        let total_thoughts =
            at_least_one("total_thoughts", args.total_thoughts)?.max(thought_number);
        if args.thought.trim().is_empty() {
            return Err(ToolError::invalid("thought", "must not be empty"));
        }
        if args.is_revision && args.revises_thought.is_none() {
            return Err(ToolError::invalid(
                "revises_thought",
                "a revision must say which thought it revises",
            ));
        }
        let temperature = temperature(args.temperature)?.or(Some(0.7));
        let model = model_name(args.model.clone());
        let client = self.llm_client()?;
        let guardrails = args.guardrails.as_ref();
        let session = self
            .numbered_session(
                caller.project,
                "traced_reasoning",
                args.session_id.as_deref(),
                args.thought_number,
                &args.thought,
            )
            .await?;
        let reference = SessionRef::Id(session.id);
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let (revises_step, branch_from_step) = self
            .resolve_references(session.id, args.revises_thought, args.branch_from_thought)
            .await?;
        let kind = thought_type(&args);
        let metadata = |extra: Value| {
            let mut base = json!({
                "tool": "traced_reasoning",
                "thought_number": thought_number,
                "total_thoughts": total_thoughts,
                "next_thought_needed": args.next_thought_needed,
                "needs_more_thoughts": args.needs_more_thoughts,
                "thought_type": kind,
                "guardrails": args.guardrails,
            });
            if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
                base.extend(extra);
            }
            Some(base)
        };

        let mut new_steps: Vec<StepId> = Vec::new();
        let (thought_step, answered) = if thought_number == 1 {
            // As in the original: thought 1 is the problem itself, no model call.
            let first = NewStep {
                kind: "thought".to_owned(),
                content: args.thought.clone(),
                metadata: metadata(json!({"role": "query"})),
                ..NewStep::default()
            };
            let step = self
                .lux
                .append_step(caller.project, &reference, first)
                .await
                .map_err(|error| ToolError::from(error).renamed(THOUGHT_FIELDS))?
                .value;
            new_steps.push(step.id);
            (step, None)
        } else {
            let guidance = NewStep {
                kind: "guidance".to_owned(),
                content: args.thought.clone(),
                metadata: Some(json!({
                    "tool": "traced_reasoning",
                    "role": "caller",
                    "guidance_for_thought": thought_number,
                })),
                ..NewStep::default()
            };
            let guidance = self
                .lux
                .append_step(caller.project, &reference, guidance)
                .await
                .map_err(|error| ToolError::from(error).renamed(THOUGHT_FIELDS))?
                .value;
            new_steps.push(guidance.id);
            let request = ChatRequest {
                model,
                messages: trace_prompt(&steps, &args, thought_number, total_thoughts),
                temperature,
                ..ChatRequest::default()
            };
            let answered = self
                .ask(
                    caller.project,
                    &session,
                    &client,
                    &request,
                    guidance.id,
                    |response| NewStep {
                        kind: "thought".to_owned(),
                        content: answer_text(&response.text).to_owned(),
                        raw_response: Some(response.text.clone()),
                        model: Some(response_model(response, &request, &client)),
                        is_revision: args.is_revision,
                        revises_step,
                        branch_from_step,
                        branch_id: args.branch_id.clone(),
                        metadata: metadata(json!({"role": "model"})),
                        ..NewStep::default()
                    },
                )
                .await?;
            new_steps.push(answered.step.id);
            (answered.step.clone(), Some(answered))
        };

        let mut session = session;
        if !args.next_thought_needed && session.status == SessionStatus::Active {
            session = self
                .lux
                .complete_session(caller.project, &reference, &Actor::new("mcp"))
                .await?;
        }
        // The monitor's events on this turn's steps are what the reply reports.
        self.lux
            .await_analysis(&new_steps, self.settings.analysis_wait)
            .await?;
        let all_steps = self.lux.all_steps(caller.project, &reference).await?;
        let metrics = self.metrics_of(&all_steps, thought_step.step_number);
        let events: Vec<MonitorEvent> = self
            .lux
            .list_monitor_events(caller.project, &reference)
            .await?
            .into_iter()
            .filter(|e| e.step_id.is_some_and(|id| new_steps.contains(&id)))
            .filter(|e| guardrails.is_none_or(|g| reported(&e.kind, g)))
            .collect();
        let findings = self.findings_of(&session, &thought_step).await?;
        let intervention = events
            .iter()
            .filter(|e| e.kind != "detector_failure")
            .max_by(|a, b| {
                a.severity
                    .cmp(&b.severity)
                    .then(a.score.total_cmp(&b.score))
            });
        let status = if intervention.is_some() {
            "intervention_needed"
        } else if !args.next_thought_needed {
            "conclusion_reached"
        } else {
            "thinking"
        };
        let calls = self
            .lux
            .list_model_calls(caller.project, &reference)
            .await?;
        let session_events = self
            .lux
            .list_monitor_events(caller.project, &reference)
            .await?;
        let synthesis = match &answered {
            Some(Answered {
                synthesis: Some(version),
                ..
            }) => Some(version.clone()),
            _ => {
                self.lux
                    .latest_synthesis(caller.project, &reference)
                    .await?
            }
        };
        let thoughts = all_steps
            .iter()
            .filter(|s| s.kind == "thought" && s.metadata["tool"] == "traced_reasoning")
            .count();
        let overall = json!({
            "thoughts": thoughts,
            "steps": all_steps.len(),
            "model_calls": calls.len(),
            "failed_model_calls": calls.iter().filter(|c| c.status != CallStatus::Ok).count(),
            "input_tokens": calls.iter().map(|c| c.input_tokens).sum::<i64>(),
            "output_tokens": calls.iter().map(|c| c.output_tokens).sum::<i64>(),
            "cost_usd": usd(calls.iter().map(|c| c.cost.0).sum::<i64>()),
            "monitor_events": session_events.len(),
        });
        let session_id = args
            .session_id
            .clone()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| session.id.to_string());

        let mut out = String::new();
        let _ = writeln!(
            out,
            "## 🧠 Traced Reasoning — Thought {thought_number}/{total_thoughts}\n"
        );
        let _ = writeln!(out, "**Status:** `{status}` · **Thought type:** {kind}");
        if let Some(answered) = &answered {
            let usage = answered.response.usage;
            let _ = writeln!(
                out,
                "**Model:** {} · **Tokens:** {} in / {} out · **Cost:** ${:.6}",
                answered.call.model,
                usage.input_tokens,
                usage.output_tokens,
                usd(answered.call.cost.0)
            );
        } else {
            let _ = writeln!(out, "**Model:** none (thought 1 states the problem)");
        }
        let _ = writeln!(out, "\n### Thought\n{}", thought_step.content);
        if let Some(m) = &metrics {
            let _ = writeln!(out, "\n### 📊 Metrics");
            match m.coherence {
                Some(c) => {
                    let _ = writeln!(out, "- Semantic similarity to previous step: {c:.2}");
                }
                None => {
                    let _ = writeln!(out, "- Semantic similarity to previous step: n/a");
                }
            }
            let _ = writeln!(
                out,
                "- Relevance to the problem: {:.2} · Novelty: {:.2} · Reasoning depth: {:.2}",
                m.relevance, m.novelty, m.reasoning_depth
            );
            let _ = writeln!(
                out,
                "- Vocabulary diversity: {:.2} · Quality trend: {}",
                m.vocabulary_diversity,
                m.trend.as_str()
            );
            let _ = writeln!(
                out,
                "- Perplexity, attention entropy: not measured (they need the model's token probabilities)"
            );
        }
        if let Some(event) = intervention {
            let _ = writeln!(
                out,
                "\n### ⚠️ Intervention: {} ({})\n{}",
                intervention_type(&event.kind),
                event.severity,
                event.message
            );
        }
        if !findings.is_empty() {
            let _ = writeln!(out, "\n**Lux noticed:**");
            for finding in &findings {
                let _ = writeln!(
                    out,
                    "- ⚠️ {} ({}): {}",
                    finding.bias_type, finding.severity, finding.explanation
                );
            }
        }
        if let Some(error) = answered.as_ref().and_then(|a| a.synthesis_error.as_ref()) {
            let _ = writeln!(out, "\n**Synthesis not stored:** {error}");
        }
        synthesis_markdown(&mut out, synthesis.as_ref());
        let _ = writeln!(
            out,
            "\n**Overall:** {thoughts} thoughts, {} model calls, {} monitor events",
            calls.len(),
            session_events.len()
        );
        let _ = writeln!(
            out,
            "**Next thought needed:** {} · **Session ID:** `{session_id}`",
            if args.next_thought_needed {
                "yes"
            } else {
                "no"
            }
        );
        footer(&mut out, &session, &self.settings);
        let structured = json!({
            "status": status,
            "thought_number": thought_number,
            "total_thoughts": total_thoughts,
            "next_thought_needed": args.next_thought_needed,
            "thought_type": kind,
            "thought": thought_step.content,
            "model_used": answered.as_ref().map(|a| a.call.model.clone()),
            "usage": answered.as_ref().map(usage_json),
            "metrics": metrics_json(metrics.as_ref()),
            "intervention": intervention.map(|e| json!({
                "type": intervention_type(&e.kind),
                "monitor_kind": e.kind,
                "description": e.message,
                "severity": e.severity.as_str(),
                "score": e.score,
            })),
            "monitor_events": events.iter().map(|e| json!({
                "kind": e.kind, "severity": e.severity.as_str(), "score": e.score,
                "message": e.message, "data": e.data,
            })).collect::<Vec<_>>(),
            "findings": findings.iter().map(|f| json!({
                "bias_type": f.bias_type, "severity": f.severity.as_str(),
                "confidence": f.confidence, "description": f.explanation,
            })).collect::<Vec<_>>(),
            "overall_metrics": overall,
            "synthesis": synthesis_json(synthesis.as_ref()),
            "synthesis_error": answered.as_ref().and_then(|a| a.synthesis_error.clone()),
            "session_id": session_id,
            "lux_session_id": session.id,
            "step_number": thought_step.step_number,
            "dashboard_url": self.settings.session_url(&session),
        });
        Ok(reply(out, structured))
    }
}

pub(super) fn reply(markdown: String, structured: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(markdown)]);
    result.structured_content = Some(structured);
    result
}

pub(super) fn usage_json(answered: &Answered) -> Value {
    let usage = answered.response.usage;
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "cost_usd": usd(answered.call.cost.0),
        "latency_ms": answered.call.latency_ms,
        "attempts": answered.response.attempts,
    })
}

pub(super) fn response_model(
    response: &ChatResponse,
    request: &ChatRequest,
    client: &OpenAiClient,
) -> String {
    let named = response.model.trim();
    if named.is_empty() {
        requested_model(request, client)
    } else {
        named.to_owned()
    }
}

fn requested_model(request: &ChatRequest, client: &OpenAiClient) -> String {
    request
        .model
        .clone()
        .unwrap_or_else(|| client.default_model().to_owned())
}

fn trace_prompt(
    steps: &[Step],
    args: &TracedReasoning,
    thought_number: i32,
    total_thoughts: i32,
) -> Vec<ChatMessage> {
    let thoughts: Vec<&Step> = steps
        .iter()
        .filter(|s| s.kind == "thought" && s.metadata["thought_number"].is_number())
        .collect();
    let problem = thoughts
        .first()
        .map_or(args.thought.as_str(), |s| s.content.as_str());
    let mut user = format!("Problem:\n{problem}\n\nThoughts so far:\n");
    let start = thoughts.len().saturating_sub(TRACE_HISTORY_THOUGHTS);
    for step in &thoughts[start..] {
        let _ = writeln!(
            user,
            "Thought {}: {}",
            step.metadata["thought_number"], step.content
        );
    }
    if let (true, Some(revised)) = (args.is_revision, args.revises_thought) {
        let _ = writeln!(user, "\nThis thought revises thought {revised}.");
    }
    if let Some(from) = args.branch_from_thought {
        let _ = writeln!(user, "\nThis thought branches from thought {from}.");
    }
    let _ = write!(
        user,
        "\nGuidance for thought {thought_number}: {}",
        args.thought
    );
    let system = format!(
        "You reason step by step. Write thought {thought_number} of about {total_thoughts}: one \
         focused step that moves the reasoning forward, in at most 200 words.{} Then end with \
         update_synthesis({{\"current_understanding\": \"<= 3 sentences\", \"key_insights\": \
         [{{\"insight\": \"<= 15 words\", \"confidence\": 0.0-1.0}}], \"confidence_score\": \
         0.0-1.0, \"clarity_score\": 0.0-1.0}}).",
        if args.next_thought_needed {
            ""
        } else {
            " This is the final thought: state the conclusion."
        }
    );
    vec![ChatMessage::system(system), ChatMessage::user(user)]
}

impl LuxMcp {
    pub(super) fn llm_client(&self) -> Result<OpenAiClient, ToolError> {
        let Some(config) = self.settings.llm_config.clone() else {
            return Err(ToolError::failed(
                "llm_not_configured",
                format!("this tool needs an LLM and none is configured: {LLM_ENV_HELP}"),
            ));
        };
        OpenAiClient::new(config).map_err(|error| {
            ToolError::failed("llm_not_configured", format!("{error}; {LLM_ENV_HELP}"))
        })
    }

    /// Calls the model and stores the outcome. On failure the failed call is stored against
    /// `asked` (the step that prompted it) and the error returned; on success the answer step
    /// built by `answer`, the call linked to it, and the synthesis it states.
    pub(super) async fn ask(
        &self,
        project: ProjectId,
        session: &Session,
        client: &OpenAiClient,
        request: &ChatRequest,
        asked: StepId,
        answer: impl FnOnce(&ChatResponse) -> NewStep,
    ) -> Result<Answered, ToolError> {
        let reference = SessionRef::Id(session.id);
        let provider = provider_of(&client.config().base_url);
        let started = Instant::now();
        let response = match client.chat(request).await {
            Ok(response) => response,
            Err(error) => {
                let status = match error {
                    LlmError::Timeout(_) => CallStatus::Timeout,
                    _ => CallStatus::Error,
                };
                let failed = NewModelCall {
                    step_id: Some(asked),
                    latency_ms: millis(started.elapsed()),
                    status,
                    error: Some(error.to_string()),
                    ..NewModelCall::ok(provider, &requested_model(request, client), 0, 0)
                };
                if let Err(stored) = self
                    .lux
                    .record_model_call(project, &reference, failed)
                    .await
                {
                    tracing::error!(error = %stored, "could not store a failed model call");
                }
                return Err(ToolError::failed(
                    "llm_failed",
                    format!(
                        "the model call failed: {error}. Nothing stored was lost (session `{}`); \
                         call again to retry",
                        session.id
                    ),
                ));
            }
        };
        let usage = response.usage;
        let call = NewModelCall {
            latency_ms: millis(response.latency),
            cached_input_tokens: usage.cached_input_tokens.min(usage.input_tokens),
            reasoning_tokens: usage.reasoning_tokens,
            ..NewModelCall::ok(
                provider,
                &response_model(&response, request, client),
                usage.input_tokens,
                usage.output_tokens,
            )
        };
        let synthesis = response
            .text
            .contains(SYNTHESIS_CALL)
            .then(|| NewSynthesis::raw(response.text.clone()));
        // The answer, its call and the synthesis it states: one transaction.
        let turn = Turn {
            model_call: Some(call.clone()),
            synthesis,
            ..Turn::new(TurnSession::Stored(reference.clone()), answer(&response))
        };
        let record = match self.lux.record_turn(project, &turn).await {
            Ok(record) => record,
            Err(error) => {
                // Keep the call (and its cost) even when its answer cannot be stored.
                if let Err(stored) = self.lux.record_model_call(project, &reference, call).await {
                    tracing::error!(error = %stored, "could not store a model call");
                }
                return Err(error.into());
            }
        };
        let step = record.step.value;
        let call = record
            .model_call
            .ok_or_else(|| ToolError::failed("llm_failed", "the model call was not stored"))?;
        let synthesis = record.synthesis;
        let synthesis_error = record.synthesis_error.map(|error| match error {
            lux_core::Error::Synthesis(parse) => parse.to_string(),
            other => other.to_string(),
        });
        Ok(Answered {
            response,
            step,
            call,
            synthesis,
            synthesis_error,
        })
    }

    /// The monitor's measurements of step `step_number`, recomputed from the stored steps exactly
    /// as the write computed them. `None` when the monitor is off.
    fn metrics_of(&self, steps: &[Step], step_number: i32) -> Option<StepMetrics> {
        let config = self.lux.detectors().monitor.clone()?;
        let mut state = MonitorState::new(config);
        let mut found = None;
        for step in steps.iter().filter(|s| s.step_number <= step_number) {
            let observed = state.observe(Some(step.step_number), &step.content);
            if step.step_number == step_number {
                found = Some(observed.metrics);
            }
        }
        found
    }

    /// The session of a numbered tool call (`traced_reasoning`, `planner`): the one named, else
    /// (after the first step) the newest active session of the tool, else a new one.
    pub(super) async fn numbered_session(
        &self,
        project: ProjectId,
        tool: &str,
        session_id: Option<&str>,
        number: u32,
        title: &str,
    ) -> Result<Session, ToolError> {
        let template = new_session(tool, title);
        if let Some((session, _)) = self
            .named_session(project, session_id, template.clone())
            .await?
        {
            return Ok(session);
        }
        if number > 1 {
            let filter = SessionFilter {
                tool: Some(tool.to_owned()),
                status: Some(SessionStatus::Active),
                ..SessionFilter::default()
            };
            let page = self
                .lux
                .list_sessions(project, &filter, &PageRequest::first(1))
                .await?;
            if let Some(session) = page.items.into_iter().next() {
                return Ok(session);
            }
        }
        self.new_session(project, template).await
    }

    /// The files named by a `confer` call, as text to append to the message.
    pub(super) async fn read_files(
        &self,
        paths: &[String],
        include_contents: Option<bool>,
    ) -> Result<String, ToolError> {
        if paths.is_empty() {
            return Ok(String::new());
        }
        if !self.is_local() {
            return Err(ToolError::invalid(
                "file_paths",
                "files can only be read by a local (stdio) server; paste the text into `message`",
            ));
        }
        let mut out = String::new();
        for (index, path) in paths.iter().enumerate() {
            if include_contents.unwrap_or(true) {
                let text = tokio::fs::read_to_string(path).await.map_err(|error| {
                    ToolError::invalid(format!("file_paths[{index}]"), format!("{path}: {error}"))
                })?;
                let _ = write!(
                    out,
                    "\n\n--- File: {path} ---\n{}",
                    cut(&text, MAX_FILE_CHARS)
                );
            } else {
                let _ = write!(out, "\n\n(Referenced file: {path})");
            }
        }
        Ok(out)
    }
}
