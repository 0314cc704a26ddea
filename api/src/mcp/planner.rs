//! `planner`, with the original's parameters: step 1 states the goal (no model call); each later
//! call gives guidance and the model writes the next planning step. The plan is read back from
//! the session's stored steps (revisions replace the step they revise), never kept in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use lux_core::llm::{ChatMessage, ChatRequest};
use lux_core::services::api_keys::Scope;
use lux_core::{Actor, NewStep, SessionRef, SessionStatus, Step};
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
    Answered, answer_text, footer, model_name, reply, response_model, synthesis_json,
    synthesis_markdown, temperature, usage_json, usd,
};
use super::tools::at_least_one;

const TOOL: &str = "planner";
/// Earlier plan steps quoted in a prompt.
const PROMPT_STEPS: usize = 20;
const SUMMARY_CHARS: usize = 160;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Planner {
    /// Step 1: the goal to plan for. Later steps: your guidance for the next planning step (the
    /// model writes it).
    step: String,
    /// Current step number (starts at 1).
    step_number: u32,
    /// Estimated total steps.
    total_steps: u32,
    /// Whether another planning step is needed after this one.
    next_step_required: bool,
    /// Whether this step revises an earlier one.
    #[serde(default)]
    is_step_revision: bool,
    /// Which step number is being revised (with `is_step_revision`).
    revises_step_number: Option<u32>,
    /// Whether this step starts an alternative branch.
    #[serde(default)]
    is_branch_point: bool,
    /// Which step number the branch starts from.
    branch_from_step: Option<u32>,
    /// Identifier of the branch.
    branch_id: Option<String>,
    /// Whether more steps are needed beyond the estimate.
    #[serde(default)]
    more_steps_needed: bool,
    /// Files to include in the guidance (read on this machine, each cut at 10,000 characters;
    /// stdio only).
    #[serde(default)]
    file_paths: Vec<String>,
    /// Not supported by Lux (accepted for compatibility): name the files in `file_paths`.
    #[serde(default)]
    auto_discover_files: bool,
    /// Session to continue: a Lux session id or your own id (created on first use). Without it,
    /// step 1 starts a new plan and later steps continue the newest active one.
    session_id: Option<String>,
    /// Model to use (default: the configured `LUX_LLM_MODEL`).
    model: Option<String>,
    /// Sampling temperature (0..=2, default 0.7).
    temperature: Option<f32>,
}

fn is_plan_step(step: &Step) -> bool {
    step.kind == "plan" && step.metadata["tool"] == TOOL
}

/// The plan as it stands: the newest stored step per plan step number.
fn plan_of(steps: &[Step]) -> BTreeMap<u64, &Step> {
    let mut plan = BTreeMap::new();
    for step in steps.iter().filter(|s| is_plan_step(s)) {
        if let Some(number) = step.metadata["plan_step"].as_u64() {
            plan.insert(number, step);
        }
    }
    plan
}

fn short(text: &str) -> String {
    let line = text.trim().replace('\n', " ");
    let mut out: String = line.chars().take(SUMMARY_CHARS).collect();
    if line.chars().count() > SUMMARY_CHARS {
        out.push('…');
    }
    out
}

/// What to think about before the next call of a complex plan (five steps or more), as the
/// original asked in its first three steps.
fn deep_thinking(step_number: i32) -> Vec<&'static str> {
    match step_number {
        1 => vec![
            "The full scope: what exactly must be accomplished",
            "Two or three different approaches and their trade-offs",
            "Constraints, dependencies and likely obstacles",
            "Success criteria and who must be satisfied",
        ],
        2 => vec![
            "Whether the direction of step 1 is still the best one",
            "The main phases and the decisions between them",
            "Resources needed and likely bottlenecks",
            "How the parts depend on each other",
        ],
        _ => vec![
            "Whether the plan meets every original requirement",
            "Gaps and assumptions still to check",
            "How progress will be measured and the plan adjusted",
            "The first concrete actions",
        ],
    }
}

#[tool_router(router = planner_tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Step-by-step planning (needs an LLM configured). Step 1 states the goal (no model call);
    /// each later call gives your guidance and the model writes the next planning step. Supports
    /// revisions and branches; every step and model call is stored in Lux.
    #[tool(annotations(read_only_hint = false, open_world_hint = true))]
    async fn planner(
        &self,
        Parameters(Args(args)): Parameters<Args<Planner>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        let step_number = at_least_one("step_number", args.step_number)?;
        let total_steps = at_least_one("total_steps", args.total_steps)?.max(step_number);
        if args.step.trim().is_empty() {
            return Err(ToolError::invalid("step", "must not be empty"));
        }
        if args.is_step_revision && args.revises_step_number.is_none() {
            return Err(ToolError::invalid(
                "revises_step_number",
                "a revision must say which step it revises",
            ));
        }
        if args.is_branch_point && args.branch_from_step.is_none() {
            return Err(ToolError::invalid(
                "branch_from_step",
                "a branch must say which step it starts from",
            ));
        }
        let temperature = temperature(args.temperature)?.or(Some(0.7));
        let model = model_name(args.model.clone());
        let files = self.read_files(&args.file_paths, None).await?;
        let client = self.llm_client()?;
        let session = self
            .numbered_session(
                caller.project,
                TOOL,
                args.session_id.as_deref(),
                args.step_number,
                &args.step,
            )
            .await?;
        let reference = SessionRef::Id(session.id);
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let plan_steps: Vec<Step> = steps.iter().filter(|s| is_plan_step(s)).cloned().collect();
        let resolve = |field: &str, number: Option<u32>| -> Result<Option<i32>, ToolError> {
            let Some(number) = number else {
                return Ok(None);
            };
            at_least_one(field, number)?;
            plan_steps
                .iter()
                .rev()
                .find(|s| s.metadata["plan_step"].as_u64() == Some(u64::from(number)))
                .map(|s| Some(s.step_number))
                .ok_or_else(|| ToolError::invalid(field, format!("this plan has no step {number}")))
        };
        let revises_step = resolve("revises_step_number", args.revises_step_number)?;
        let branch_from_step = resolve("branch_from_step", args.branch_from_step)?;
        let metadata = |role: &str| {
            json!({
                "tool": TOOL,
                "role": role,
                // A revision takes the place of the step it revises, as in the original.
                "plan_step": args.revises_step_number.filter(|_| args.is_step_revision).unwrap_or(args.step_number),
                "total_steps": total_steps,
                "next_step_required": args.next_step_required,
                "more_steps_needed": args.more_steps_needed,
                "is_branch_point": args.is_branch_point,
                "file_paths": args.file_paths,
            })
        };

        let (plan_step, answered): (Step, Option<Answered>) = if step_number == 1 {
            // As in the original: step 1 is the goal itself, no model call.
            let goal = NewStep {
                kind: "plan".to_owned(),
                content: args.step.clone(),
                metadata: Some(metadata("goal")),
                ..NewStep::default()
            };
            let step = self
                .lux
                .append_step(caller.project, &reference, goal)
                .await
                .map_err(|error| ToolError::from(error).renamed(&[("content", "step")]))?
                .value;
            (step, None)
        } else {
            let guidance = NewStep {
                kind: "guidance".to_owned(),
                content: args.step.clone(),
                metadata: Some(json!({
                    "tool": TOOL,
                    "role": "caller",
                    "guidance_for_step": step_number,
                    "file_paths": args.file_paths,
                })),
                ..NewStep::default()
            };
            let guidance = self
                .lux
                .append_step(caller.project, &reference, guidance)
                .await
                .map_err(|error| ToolError::from(error).renamed(&[("content", "step")]))?
                .value;
            let mut system = "You are an expert planner building a step-by-step plan. Write ONE \
                planning step that builds on the previous ones: specific, actionable and \
                consistent with the plan so far, in at most 250 words."
                .to_owned();
            if args.is_branch_point {
                system.push_str(" This step explores an ALTERNATIVE approach: think differently from the main path.");
            } else if args.is_step_revision {
                system.push_str(" This step REVISES an earlier one: improve on it.");
            }
            if !args.next_step_required {
                system.push_str(" This is the last step: complete the plan.");
            }
            system.push_str(
                " You may end with update_synthesis({\"current_understanding\": \"...\", \
                 \"key_insights\": [{\"insight\": \"...\", \"confidence\": 0.0-1.0}], \
                 \"action_items\": [{\"action\": \"...\", \"priority\": \"high|medium|low\"}], \
                 \"confidence_score\": 0.0-1.0}).",
            );
            let plan = plan_of(&steps);
            let mut user = String::from("Previous planning steps:\n");
            let skip = plan.len().saturating_sub(PROMPT_STEPS);
            for (number, step) in plan.iter().skip(skip) {
                let _ = writeln!(user, "Step {number}: {}", step.content);
            }
            if let Some(revised) = args.revises_step_number.filter(|_| args.is_step_revision) {
                let _ = writeln!(user, "\nThis step revises step {revised}.");
            }
            let _ = write!(
                user,
                "\nCurrent step number: {step_number} of {total_steps}.\nUser guidance: {}{files}",
                args.step
            );
            let request = ChatRequest {
                model,
                messages: vec![ChatMessage::system(system), ChatMessage::user(user)],
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
                        kind: "plan".to_owned(),
                        content: answer_text(&response.text).to_owned(),
                        raw_response: Some(response.text.clone()),
                        model: Some(response_model(response, &request, &client)),
                        is_revision: args.is_step_revision,
                        revises_step,
                        branch_from_step,
                        branch_id: args.branch_id.clone(),
                        metadata: Some(metadata("model")),
                        ..NewStep::default()
                    },
                )
                .await?;
            (answered.step.clone(), Some(answered))
        };

        let mut session = session;
        if !args.next_step_required && session.status == SessionStatus::Active {
            session = self
                .lux
                .complete_session(caller.project, &reference, &Actor::new("mcp"))
                .await?;
        }
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let plan = plan_of(&steps);
        let branches: BTreeSet<String> = steps
            .iter()
            .filter(|s| is_plan_step(s))
            .filter_map(|s| s.branch_id.clone())
            .collect();
        let deep = total_steps >= 5 && step_number <= 3 && args.next_step_required;
        let status = if !args.next_step_required {
            "planning_complete"
        } else if deep {
            "pause_for_deep_thinking"
        } else {
            "pause_for_planner"
        };
        let required_thinking = deep.then(|| deep_thinking(step_number));
        let next_steps = if !args.next_step_required {
            "Planning complete. Present the whole plan to the user, clearly structured (phases, \
             numbered steps, dependencies), then offer to help implement parts of it."
                .to_owned()
        } else if deep {
            format!(
                "This is a complex plan: reflect on the points under required thinking before \
                 calling planner with step_number {}.",
                step_number + 1
            )
        } else {
            format!(
                "Continue with step {}; about {} steps remain.",
                step_number + 1,
                (total_steps - step_number).max(1)
            )
        };
        let plan_summary = (!args.next_step_required).then(|| {
            let mut summary = format!("COMPLETE PLAN ({} steps)\n", plan.len());
            for (number, step) in &plan {
                let _ = writeln!(summary, "Step {number}: {}", short(&step.content));
            }
            summary
        });
        let synthesis = match answered.as_ref().and_then(|a| a.synthesis.clone()) {
            Some(version) => Some(version),
            None => {
                self.lux
                    .latest_synthesis(caller.project, &reference)
                    .await?
            }
        };
        let session_id = args
            .session_id
            .clone()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| session.id.to_string());
        let model_used = answered.as_ref().map(|a| a.call.model.clone());

        let mut out = String::new();
        let _ = writeln!(
            out,
            "## 📋 Planner — Step {step_number}/{total_steps} (status: `{status}`)\n"
        );
        match &answered {
            Some(answered) => {
                let usage = answered.response.usage;
                let _ = writeln!(
                    out,
                    "**Model:** {} · **Tokens:** {} in / {} out · **Cost:** ${:.6}",
                    answered.call.model,
                    usage.input_tokens,
                    usage.output_tokens,
                    usd(answered.call.cost.0)
                );
            }
            None => {
                let _ = writeln!(out, "**Model:** none (step 1 states the goal)");
            }
        }
        let _ = writeln!(out, "\n### Step {step_number}\n{}", plan_step.content);
        if let Some(thinking) = &required_thinking {
            let _ = writeln!(out, "\n### Required thinking");
            for point in thinking {
                let _ = writeln!(out, "- {point}");
            }
        }
        if let Some(summary) = &plan_summary {
            let _ = writeln!(out, "\n### Plan summary\n{summary}");
        }
        let _ = writeln!(out, "\n**Next steps:** {next_steps}");
        if let Some(error) = answered.as_ref().and_then(|a| a.synthesis_error.as_ref()) {
            let _ = writeln!(out, "\n**Synthesis not stored:** {error}");
        }
        synthesis_markdown(&mut out, synthesis.as_ref());
        if args.auto_discover_files {
            let _ = writeln!(
                out,
                "\n_Lux does not discover files: name them in `file_paths`._"
            );
        }
        let _ = writeln!(out, "\nContinuation ID: {session_id}");
        footer(&mut out, &session, &self.settings);
        let structured = json!({
            "status": status,
            "step_number": step_number,
            "total_steps": total_steps,
            "next_step_required": args.next_step_required,
            "step_content": plan_step.content,
            "metadata": {
                "branches": branches,
                "step_history_length": plan.len(),
                "is_step_revision": args.is_step_revision,
                "revises_step_number": args.revises_step_number,
                "is_branch_point": args.is_branch_point,
                "branch_from_step": args.branch_from_step,
                "branch_id": args.branch_id,
                "more_steps_needed": args.more_steps_needed,
            },
            "continuation_id": session_id,
            "session_id": session_id,
            "planning_complete": !args.next_step_required,
            "plan_summary": plan_summary,
            "next_steps": next_steps,
            "thinking_required": deep,
            "required_thinking": required_thinking,
            "planner_required": args.next_step_required,
            "model_used": model_used,
            "usage": answered.as_ref().map(usage_json),
            "plan": plan.iter().map(|(number, step)| json!({
                "step_number": number,
                "content": step.content,
                "is_revision": step.is_revision,
                "branch_id": step.branch_id,
            })).collect::<Vec<Value>>(),
            "synthesis": synthesis_json(synthesis.as_ref()),
            "synthesis_error": answered.as_ref().and_then(|a| a.synthesis_error.clone()),
            "lux_session_id": session.id,
            "dashboard_url": self.settings.session_url(&session),
        });
        Ok(reply(out, structured))
    }
}
