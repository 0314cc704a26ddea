//! `biased_reasoning`, with the original's parameters: a primary model reasons, a verifier model
//! checks each reasoning step for bias, one step per call, then the primary model synthesises.
//! The state machine is read from the session's stored steps, never kept in this process.

use std::fmt::Write as _;

use lux_core::detect::Detection;
use lux_core::detect::llm_verifier::{
    LLM_VERIFIER_NAME, LLM_VERIFIER_VERSION, VERIFIED_BIAS_TYPES, parse_verdict,
};
use lux_core::llm::{ChatMessage, ChatRequest};
use lux_core::services::api_keys::Scope;
use lux_core::{
    Actor, NewFinding, NewStep, ProjectId, Session, SessionRef, SessionStatus, Severity, Step,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::LuxMcp;
use super::args::Args;
use super::error::ToolError;
use super::llm_tools::{
    Answered, footer, model_name, reply, synthesis_json, synthesis_markdown, usage_json,
};
use super::tools::new_session;

const TOOL: &str = "biased_reasoning";
const DEFAULT_ROUNDS: u32 = 3;
const MAX_ROUNDS: u32 = 20;
/// Earlier steps quoted in a prompt.
const PROMPT_STEPS: usize = 12;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct BiasedReasoning {
    /// The question to reason about.
    query: String,
    /// Session to continue: a Lux session id or your own id (created on first use). Without it,
    /// the session is named after the query (as in the original), so repeating the query continues it.
    session_id: Option<String>,
    /// Start a new session instead of continuing the one of this query (default false).
    #[serde(default)]
    new_session: bool,
    /// Model that reasons and synthesises (default: the configured `LUX_LLM_MODEL`).
    primary_model: Option<String>,
    /// Model that checks each reasoning step for bias (default: the configured model).
    verifier_model: Option<String>,
    /// Reasoning steps (each checked) before the synthesis (1..=20, default 3).
    max_analysis_rounds: Option<u32>,
}

/// What this call does, decided from the stored steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Reasoning { correction: bool },
    BiasCheck,
    Synthesis,
    Complete,
}

/// The session's state machine, from its steps.
struct State<'a> {
    reasoning: Vec<&'a Step>,
    checks: Vec<&'a Step>,
    corrections: usize,
    last: Option<&'a Step>,
}

impl<'a> State<'a> {
    fn of(steps: &'a [Step]) -> Self {
        let of_kind = |kind: &str| -> Vec<&'a Step> {
            steps
                .iter()
                .filter(|s| s.kind == kind && s.metadata["tool"] == TOOL)
                .collect()
        };
        let reasoning = of_kind("reasoning");
        let corrections = reasoning
            .iter()
            .filter(|s| s.metadata["correction"] == true)
            .count();
        State {
            checks: of_kind("bias_check"),
            reasoning,
            corrections,
            last: steps.iter().rev().find(|s| s.metadata["tool"] == TOOL),
        }
    }

    fn next(&self, rounds: u32, session: &Session) -> Action {
        let used = self.reasoning.len() >= rounds as usize;
        match self.last.map(|s| s.kind.as_str()) {
            _ if session.status != SessionStatus::Active => Action::Complete,
            Some("synthesis") => Action::Complete,
            Some("reasoning") => Action::BiasCheck,
            Some("bias_check") if used => Action::Synthesis,
            Some("bias_check") => Action::Reasoning {
                correction: self.last.is_some_and(needs_correction),
            },
            _ => Action::Reasoning { correction: false },
        }
    }

    fn overall_quality(&self) -> Option<f64> {
        let qualities: Vec<f64> = self
            .checks
            .iter()
            .filter_map(|s| s.metadata["quality"].as_f64())
            .collect();
        (!qualities.is_empty()).then(|| qualities.iter().sum::<f64>() / qualities.len() as f64)
    }
}

fn needs_correction(check: &Step) -> bool {
    check.metadata["max_severity"]
        .as_str()
        .and_then(|s| s.parse::<Severity>().ok())
        .is_some_and(|s| s >= Severity::Medium)
}

/// The original's step quality by the worst severity found.
fn quality(severity: Severity) -> f64 {
    match severity {
        Severity::None => 1.0,
        Severity::Low => 0.8,
        Severity::Medium => 0.6,
        Severity::High => 0.4,
        Severity::Critical => 0.2,
    }
}

/// A stable name for the session of a query (FNV-1a), like the original's hash of the query.
fn derived_session_id(query: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in query.trim().to_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("biased-{hash:016x}")
}

fn context_of(query: &str, steps: &[Step]) -> String {
    let mut out = format!("Question:\n{query}\n");
    let ours: Vec<&Step> = steps
        .iter()
        .filter(|s| s.metadata["tool"] == TOOL && s.kind != "query")
        .collect();
    let start = ours.len().saturating_sub(PROMPT_STEPS);
    for step in &ours[start..] {
        let label = match step.kind.as_str() {
            "bias_check" => "Bias check",
            "synthesis" => "Synthesis",
            _ => "Reasoning",
        };
        let _ = write!(
            out,
            "\n{label} (step {}):\n{}\n",
            step.step_number, step.content
        );
    }
    out
}

#[tool_router(router = biased_tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Reasoning with a bias check on every step (needs an LLM configured): a primary model
    /// reasons, a verifier model checks each step for bias, one step per call, then the primary
    /// model synthesises. Call again with the same `query` (or `session_id`) until `next_action`
    /// is `complete`. Every step, model call, finding and synthesis is stored in Lux.
    #[tool(annotations(read_only_hint = false, open_world_hint = true))]
    async fn biased_reasoning(
        &self,
        Parameters(Args(args)): Parameters<Args<BiasedReasoning>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        let query = args.query.trim().to_owned();
        if query.is_empty() {
            return Err(ToolError::invalid("query", "must not be empty"));
        }
        let rounds = args.max_analysis_rounds.unwrap_or(DEFAULT_ROUNDS);
        if !(1..=MAX_ROUNDS).contains(&rounds) {
            return Err(ToolError::invalid(
                "max_analysis_rounds",
                format!("must be between 1 and {MAX_ROUNDS}, got {rounds}"),
            ));
        }
        let client = self.llm_client()?;
        let session = self.biased_session(caller.project, &args, &query).await?;
        let reference = SessionRef::Id(session.id);
        let mut steps = self.lux.all_steps(caller.project, &reference).await?;
        if !steps
            .iter()
            .any(|s| s.kind == "query" && s.metadata["tool"] == TOOL)
        {
            let first = NewStep {
                kind: "query".to_owned(),
                content: query.clone(),
                metadata: Some(json!({"tool": TOOL})),
                ..NewStep::default()
            };
            let step = self
                .lux
                .append_step(caller.project, &reference, first)
                .await
                .map_err(|error| ToolError::from(error).renamed(&[("content", "query")]))?
                .value;
            steps.push(step);
        }
        let problem = steps
            .iter()
            .find(|s| s.kind == "query" && s.metadata["tool"] == TOOL)
            .map_or(query.clone(), |s| s.content.clone());
        let state = State::of(&steps);
        let action = state.next(rounds, &session);
        let asked = steps.last().map(|s| s.id);
        let primary = model_name(args.primary_model.clone());
        let verifier = model_name(args.verifier_model.clone());

        let mut verdict: Option<Result<Vec<Detection>, String>> = None;
        let answered: Option<Answered> = match (action, asked) {
            (Action::Complete, _) | (_, None) => None,
            (Action::Reasoning { correction }, Some(asked)) => {
                let number = state.reasoning.len() + 1;
                let mut system = format!(
                    "You are the primary reasoner. Write reasoning step {number} of {rounds} towards \
                     answering the question: one focused step, at most 200 words, stating your \
                     evidence and assumptions."
                );
                if correction {
                    system.push_str(
                        " The last bias check found problems: correct them explicitly in this step.",
                    );
                }
                let request = ChatRequest {
                    model: primary.clone(),
                    messages: vec![
                        ChatMessage::system(system),
                        ChatMessage::user(context_of(&problem, &steps)),
                    ],
                    temperature: Some(0.7),
                    ..ChatRequest::default()
                };
                Some(
                    self.ask(
                        caller.project,
                        &session,
                        &client,
                        &request,
                        asked,
                        |response| NewStep {
                            kind: "reasoning".to_owned(),
                            content: super::llm_tools::answer_text(&response.text).to_owned(),
                            raw_response: Some(response.text.clone()),
                            model: Some(super::llm_tools::response_model(
                                response, &request, &client,
                            )),
                            metadata: Some(json!({
                                "tool": TOOL,
                                "round": number,
                                "correction": correction,
                            })),
                            ..NewStep::default()
                        },
                    )
                    .await?,
                )
            }
            (Action::BiasCheck, Some(asked)) => {
                let reviewed = state.last.cloned();
                let reviewed_text = reviewed.as_ref().map_or("", |s| s.content.as_str());
                let system = format!(
                    "You check one reasoning step for cognitive biases. Answer with JSON only: \
                     {{\"biases\": [{{\"bias_type\": one of {types}, \"severity\": \
                     \"low\"|\"medium\"|\"high\"|\"critical\", \"confidence\": 0..1, \
                     \"explanation\": \"why\", \"evidence\": \"an exact quote from the step\", \
                     \"suggestion\": \"how to fix it\"}}]}}. Use an empty list when the step is sound.",
                    types = VERIFIED_BIAS_TYPES.join("|")
                );
                let user = format!(
                    "{}\nStep under review:\n{reviewed_text}",
                    context_of(&problem, &[])
                );
                let request = ChatRequest {
                    model: verifier.clone(),
                    messages: vec![ChatMessage::system(system), ChatMessage::user(user)],
                    temperature: Some(0.0),
                    json_mode: true,
                    ..ChatRequest::default()
                };
                let reviewed_number = reviewed.as_ref().map(|s| s.step_number);
                let verdict_slot = &mut verdict;
                let answered = self
                    .ask(
                        caller.project,
                        &session,
                        &client,
                        &request,
                        asked,
                        |response| {
                            let parsed = parse_verdict(&response.text, reviewed_text)
                                .map_err(|error| error.to_string());
                            let (content, worst) = match &parsed {
                                Ok(found) if found.is_empty() => {
                                    ("No bias found.".to_owned(), Severity::None)
                                }
                                Ok(found) => {
                                    let worst = found
                                        .iter()
                                        .map(|d| d.severity)
                                        .max()
                                        .unwrap_or(Severity::None);
                                    let list: Vec<String> = found
                                        .iter()
                                        .map(|d| {
                                            format!(
                                                "{} ({}): {}",
                                                d.bias_type, d.severity, d.explanation
                                            )
                                        })
                                        .collect();
                                    (format!("Biases found: {}", list.join("; ")), worst)
                                }
                                Err(error) => (
                                    format!(
                                        "The verifier's answer held no usable verdict: {error}"
                                    ),
                                    Severity::None,
                                ),
                            };
                            let metadata = json!({
                                "tool": TOOL,
                                "reviewed_step": reviewed_number,
                                "bias_detected": parsed.as_ref().is_ok_and(|f| !f.is_empty()),
                                "max_severity": worst.as_str(),
                                "quality": parsed.as_ref().ok().map(|_| quality(worst)),
                                "verdict_error": parsed.as_ref().err(),
                            });
                            *verdict_slot = Some(parsed);
                            NewStep {
                                kind: "bias_check".to_owned(),
                                content,
                                raw_response: Some(response.text.clone()),
                                model: Some(super::llm_tools::response_model(
                                    response, &request, &client,
                                )),
                                metadata: Some(metadata),
                                ..NewStep::default()
                            }
                        },
                    )
                    .await?;
                if let (Some(Ok(found)), Some(reviewed)) = (&verdict, &reviewed) {
                    for detection in found {
                        let finding = NewFinding {
                            id: None,
                            step_id: Some(reviewed.id),
                            detector: LLM_VERIFIER_NAME.to_owned(),
                            detector_version: LLM_VERIFIER_VERSION.to_owned(),
                            bias_type: detection.bias_type.clone(),
                            severity: detection.severity,
                            confidence: detection.confidence.clamp(0.0, 1.0),
                            explanation: detection.explanation.clone(),
                            evidence: detection.evidence,
                            suggestion: detection.suggestion.clone(),
                            created_at: None,
                        };
                        self.lux
                            .record_finding(caller.project, &reference, finding)
                            .await?;
                    }
                }
                Some(answered)
            }
            (Action::Synthesis, Some(asked)) => {
                let request = ChatRequest {
                    model: primary.clone(),
                    messages: vec![
                        ChatMessage::system(
                            "You are the primary reasoner. Write the final answer to the question, \
                             taking the bias checks' corrections into account, in at most 250 \
                             words. Then end with update_synthesis({\"current_understanding\": \
                             \"<= 3 sentences\", \"key_insights\": [{\"insight\": \"<= 15 words\", \
                             \"confidence\": 0.0-1.0}], \"action_items\": [{\"action\": \"...\", \
                             \"priority\": \"high|medium|low\"}], \"confidence_score\": 0.0-1.0, \
                             \"clarity_score\": 0.0-1.0}).",
                        ),
                        ChatMessage::user(context_of(&problem, &steps)),
                    ],
                    temperature: Some(0.3),
                    ..ChatRequest::default()
                };
                Some(
                    self.ask(
                        caller.project,
                        &session,
                        &client,
                        &request,
                        asked,
                        |response| NewStep {
                            kind: "synthesis".to_owned(),
                            content: super::llm_tools::answer_text(&response.text).to_owned(),
                            raw_response: Some(response.text.clone()),
                            model: Some(super::llm_tools::response_model(
                                response, &request, &client,
                            )),
                            metadata: Some(json!({"tool": TOOL})),
                            ..NewStep::default()
                        },
                    )
                    .await?,
                )
            }
        };

        let mut session = session;
        if action == Action::Synthesis && session.status == SessionStatus::Active {
            session = self
                .lux
                .complete_session(caller.project, &reference, &Actor::new("mcp"))
                .await?;
        }
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let state = State::of(&steps);
        let step = answered
            .as_ref()
            .map(|a| a.step.clone())
            .or_else(|| state.last.cloned());
        let next_action = match state.next(rounds, &session) {
            Action::Complete => "complete",
            Action::BiasCheck => "bias_check",
            Action::Synthesis => "ready_for_synthesis",
            Action::Reasoning { correction: true } => "correction_needed",
            Action::Reasoning { correction: false } => "continue_reasoning",
        };
        let step_type = match action {
            Action::Reasoning { .. } => "reasoning",
            Action::BiasCheck => "bias_analysis",
            Action::Synthesis => "synthesis",
            Action::Complete => "complete",
        };
        let is_complete = session.status != SessionStatus::Active;
        let synthesis = match answered.as_ref().and_then(|a| a.synthesis.clone()) {
            Some(version) => Some(version),
            None => {
                self.lux
                    .latest_synthesis(caller.project, &reference)
                    .await?
            }
        };
        let bias_analysis = verdict.as_ref().map(|parsed| match parsed {
            Ok(found) => json!({
                "bias_detected": !found.is_empty(),
                "biases": found.iter().map(|d| json!({
                    "bias_type": d.bias_type,
                    "severity": d.severity.as_str(),
                    "confidence": d.confidence,
                    "description": d.explanation,
                    "suggestion": d.suggestion,
                })).collect::<Vec<_>>(),
                "step_quality": quality(found.iter().map(|d| d.severity).max().unwrap_or(Severity::None)),
            }),
            Err(error) => json!({"bias_detected": Value::Null, "error": error}),
        });
        let session_id = args
            .session_id
            .clone()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .or_else(|| session.external_id.clone())
            .unwrap_or_else(|| session.id.to_string());
        let model_used = answered.as_ref().map(|a| a.call.model.clone());
        let status = json!({
            "total_steps": steps.iter().filter(|s| s.metadata["tool"] == TOOL).count(),
            "reasoning_steps": state.reasoning.len(),
            "bias_checks": state.checks.len(),
            "corrections_made": state.corrections,
            "overall_quality": state.overall_quality(),
            "is_complete": is_complete,
        });

        let mut out = String::new();
        let number = step.as_ref().map_or(0, |s| s.step_number);
        let _ = writeln!(
            out,
            "## 🔍 Biased Reasoning — Step {number} ({step_type})\n"
        );
        let _ = writeln!(
            out,
            "**Model:** {} · **Next action:** `{next_action}`",
            model_used.as_deref().unwrap_or("none (session complete)")
        );
        if let Some(answered) = &answered {
            let usage = answered.response.usage;
            let _ = writeln!(
                out,
                "**Tokens:** {} in / {} out · **Cost:** ${:.6}",
                usage.input_tokens,
                usage.output_tokens,
                answered.call.cost.0 as f64 / 1e9
            );
        }
        if let Some(step) = &step {
            let _ = writeln!(out, "\n### Content\n{}", step.content);
        }
        if let Some(Ok(found)) = &verdict {
            let _ = writeln!(out, "\n### Bias analysis");
            if found.is_empty() {
                let _ = writeln!(out, "No bias found.");
            }
            for d in found {
                let _ = writeln!(
                    out,
                    "- **{}** ({}) — {}",
                    d.bias_type, d.severity, d.explanation
                );
                if let Some(suggestion) = &d.suggestion {
                    let _ = writeln!(out, "  Suggestion: {suggestion}");
                }
            }
        }
        let _ = writeln!(out, "\n### Session status");
        let _ = writeln!(
            out,
            "- Steps: {} · Reasoning: {} · Bias checks: {} · Corrections: {}",
            status["total_steps"],
            status["reasoning_steps"],
            status["bias_checks"],
            status["corrections_made"]
        );
        if let Some(q) = state.overall_quality() {
            let _ = writeln!(out, "- Overall quality: {q:.2}");
        }
        let _ = writeln!(
            out,
            "- Complete: {}",
            if is_complete { "yes" } else { "no" }
        );
        if let Some(error) = answered.as_ref().and_then(|a| a.synthesis_error.as_ref()) {
            let _ = writeln!(out, "\n**Synthesis not stored:** {error}");
        }
        synthesis_markdown(&mut out, synthesis.as_ref());
        let _ = writeln!(out, "\n**Session ID:** `{session_id}`");
        footer(&mut out, &session, &self.settings);
        let structured = json!({
            "session_id": session_id,
            "step_type": step_type,
            "step_number": number,
            "content": step.as_ref().map(|s| s.content.clone()),
            "model_used": model_used,
            "next_action": next_action,
            "session_status": status,
            "bias_analysis": bias_analysis,
            "usage": answered.as_ref().map(usage_json),
            "synthesis": synthesis_json(synthesis.as_ref()),
            "synthesis_error": answered.as_ref().and_then(|a| a.synthesis_error.clone()),
            "lux_session_id": session.id,
            "dashboard_url": self.settings.session_url(&session),
        });
        Ok(reply(out, structured))
    }
}

impl LuxMcp {
    async fn biased_session(
        &self,
        project: ProjectId,
        args: &BiasedReasoning,
        query: &str,
    ) -> Result<Session, ToolError> {
        let named = args
            .session_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let template = new_session(TOOL, query);
        if args.new_session {
            if let Some(name) = named {
                if self.find_session(project, name).await.is_ok() {
                    return Err(ToolError::invalid(
                        "new_session",
                        format!(
                            "session `{name}` already exists; omit `new_session` to continue it"
                        ),
                    ));
                }
                let new = lux_core::NewSession {
                    external_id: Some(name.to_owned()),
                    ..template
                };
                return self.new_session(project, new).await;
            }
            return self.new_session(project, template).await;
        }
        let name = named.map_or_else(|| derived_session_id(query), str::to_owned);
        match self.named_session(project, Some(&name), template).await? {
            Some((session, _)) => Ok(session),
            None => Err(ToolError::invalid("session_id", "must not be empty")),
        }
    }
}
