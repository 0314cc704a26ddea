//! The tools, with the original Lux server's names and parameters: each converts its arguments,
//! calls `lux_core` services, and renders the reply (Markdown plus `structuredContent`).

use std::collections::BTreeSet;

use lux_core::services::api_keys::Scope;
use lux_core::services::thoughts::{ThoughtCoordinates, Turn, TurnSession};
use lux_core::{
    Finding, NewStep, PageRequest, ProjectId, Session, SessionFilter, SessionRef, SessionStatus,
    Step,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::args::Args;
use super::error::ToolError;
use super::render;
use super::{LuxMcp, McpCaller};

/// Core's step fields, as the thinking tools call them.
pub(super) const THOUGHT_FIELDS: &[(&str, &str)] = &[
    ("content", "thought"),
    ("external_id", "session_id"),
    ("revises_step", "revises_thought"),
    ("branch_from_step", "branch_from_thought"),
];
const MAX_TITLE_CHARS: usize = 200;
const LIST_DEFAULT: u32 = 20;
const LIST_MAX: u32 = 100;

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SequentialThinking {
    /// Your current thinking step.
    thought: String,
    /// Current thought number (starts at 1).
    thought_number: u32,
    /// Estimated total thoughts needed (can be adjusted as you go).
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
    /// Session to continue: a Lux session id or your own id (created on first use). Without it,
    /// thought 1 starts a new session and later thoughts continue the newest active one.
    session_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct HybridBiasedReasoning {
    /// The reasoning step to check (written by you, the host model).
    reasoning_step: String,
    /// The original question or context this reasoning addresses.
    context: Option<String>,
    /// Step number in your reasoning chain (recorded as given).
    step_number: Option<u32>,
    /// Earlier steps, recorded before this one when the session is new.
    #[serde(default)]
    previous_steps: Vec<String>,
    /// Session to continue: a Lux session id or your own id (created on first use). Without it,
    /// each call is a session of its own.
    session_id: Option<String>,
    /// Accepted for compatibility: Lux checks steps with its built-in detectors.
    bias_check_model: Option<String>,
    /// Only report these bias types (e.g. `anchoring`, `confirmation`); all are still stored.
    #[serde(default)]
    bias_types: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListSessions {
    /// `active`, `completed`, `failed` or `abandoned`.
    status: Option<String>,
    /// Only sessions of this tool (e.g. `sequential_thinking`).
    tool: Option<String>,
    /// Only sessions with this tag.
    tag: Option<String>,
    /// At most this many sessions (1..=100, default 20).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SearchReasoning {
    /// Words to look for in stored steps and syntheses (any language; no query syntax needed).
    query: String,
    /// Only this session: a Lux session id or your own session id.
    session_id: Option<String>,
    /// How many hits (1 to 50, default 10).
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SessionAnalytics {
    /// A Lux session id or your own session id.
    session_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct GetSession {
    /// A Lux session id or your own session id.
    session_id: String,
}

pub(super) fn at_least_one(field: &str, value: u32) -> Result<i32, ToolError> {
    match i32::try_from(value) {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(ToolError::invalid(
            field,
            format!("must be between 1 and {}, got {value}", i32::MAX),
        )),
    }
}

pub(super) fn title_of(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut title: String = line.chars().take(MAX_TITLE_CHARS).collect();
    if line.chars().count() > MAX_TITLE_CHARS {
        title.push('…');
    }
    title
}

pub(super) fn new_session(tool: &str, title: &str) -> lux_core::NewSession {
    lux_core::NewSession {
        tool: tool.to_owned(),
        title: Some(title_of(title)).filter(|title| !title.is_empty()),
        client: Some("mcp".to_owned()),
        ..lux_core::NewSession::default()
    }
}

fn bias_key(text: &str) -> String {
    text.trim().to_lowercase().replace([' ', '-'], "_")
}

#[tool_router(router = tool_router, vis = "pub(crate)")]
impl LuxMcp {
    /// Record one step of a sequential thinking process (no LLM call). Each thought is stored in
    /// Lux and checked by its monitor and bias detectors; pass `session_id` to continue a session.
    #[tool(annotations(read_only_hint = false, open_world_hint = false))]
    async fn sequential_thinking(
        &self,
        Parameters(Args(args)): Parameters<Args<SequentialThinking>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        let thought_number = at_least_one("thought_number", args.thought_number)?;
        let total_thoughts = at_least_one("total_thoughts", args.total_thoughts)?;
        if args.thought.trim().is_empty() {
            return Err(ToolError::invalid("thought", "must not be empty"));
        }
        if args.is_revision && args.revises_thought.is_none() {
            return Err(ToolError::invalid(
                "revises_thought",
                "a revision must say which thought it revises",
            ));
        }
        let total_thoughts = total_thoughts.max(thought_number);
        let template = new_session("sequential_thinking", &args.thought);
        let session = match args.session_id.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => TurnSession::Named {
                name: name.to_owned(),
                template,
            },
            // A host that lost the id goes on with its newest open thinking session.
            _ if args.thought_number > 1 => TurnSession::LatestOrNew(template),
            _ => TurnSession::New(template),
        };
        let step = NewStep {
            kind: "thought".to_owned(),
            content: args.thought.clone(),
            is_revision: args.is_revision,
            branch_id: args.branch_id.clone(),
            metadata: Some(json!({
                "tool": "sequential_thinking",
                "thought_number": thought_number,
                "total_thoughts": total_thoughts,
                "next_thought_needed": args.next_thought_needed,
                "needs_more_thoughts": args.needs_more_thoughts,
            })),
            ..NewStep::default()
        };
        let turn = Turn {
            // The step's id comes from these and the text: a retried thought is found stored.
            thought: Some(ThoughtCoordinates {
                tool: "sequential_thinking",
                thought_number: args.thought_number,
                is_revision: args.is_revision,
                revises_thought: args.revises_thought,
                branch_from_thought: args.branch_from_thought,
                branch_id: args.branch_id.clone(),
            }),
            // The last thought completes the session in the same transaction.
            complete: !args.next_thought_needed,
            analysis_wait: Some(self.settings.analysis_wait),
            ..Turn::new(session, step)
        };
        let record = self
            .lux
            .record_turn(caller.project, &turn)
            .await
            .map_err(|error| ToolError::from(error).renamed(THOUGHT_FIELDS))?;
        let session = record.session;
        let step = record.step.value;
        let status = if !args.next_thought_needed {
            "complete"
        } else if args.is_revision {
            "revision"
        } else if args.branch_from_thought.is_some() {
            "branch"
        } else {
            "recorded"
        };
        let reply = render::ThoughtReply {
            thought_number,
            total_thoughts,
            next_thought_needed: args.next_thought_needed,
            branches: record.state.branches,
            thought_history_length: usize::try_from(record.state.steps).unwrap_or(usize::MAX),
            status,
            session_id: args
                .session_id
                .clone()
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| session.id.to_string()),
            step: &step,
            findings: &record.findings,
            analysed: record.analysed,
        };
        Ok(reply.render(&session, &self.settings))
    }

    /// Check one reasoning step you wrote for bias. Lux records the step and runs its built-in
    /// bias detectors and monitor on it; the answer lists the biases found, a 0..1 bias score and
    /// whether to revise.
    #[tool(annotations(read_only_hint = false, open_world_hint = false))]
    async fn hybrid_biased_reasoning(
        &self,
        Parameters(Args(args)): Parameters<Args<HybridBiasedReasoning>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Ingest)?;
        if args.reasoning_step.trim().is_empty() {
            return Err(ToolError::invalid("reasoning_step", "must not be empty"));
        }
        if let Some(number) = args.step_number {
            at_least_one("step_number", number)?;
        }
        let title = args.context.as_deref().unwrap_or(&args.reasoning_step);
        let template = new_session("hybrid_biased_reasoning", title);
        let (session, created) = match self
            .named_session(caller.project, args.session_id.as_deref(), template.clone())
            .await?
        {
            Some(found) => found,
            None => (self.new_session(caller.project, template).await?, true),
        };
        let reference = SessionRef::Id(session.id);
        if created {
            // A new session starts with what the host already said, so detectors see the context.
            let mut earlier: Vec<(&str, String, &String)> = Vec::new();
            if let Some(text) = &args.context {
                earlier.push(("query", "context".to_owned(), text));
            }
            for (index, text) in args.previous_steps.iter().enumerate() {
                earlier.push(("reasoning", format!("previous_steps[{index}]"), text));
            }
            for (kind, field, text) in earlier {
                if text.trim().is_empty() {
                    continue;
                }
                let new = NewStep {
                    kind: kind.to_owned(),
                    content: text.clone(),
                    metadata: Some(json!({"tool": "hybrid_biased_reasoning", "context": true})),
                    ..NewStep::default()
                };
                self.lux
                    .append_step(caller.project, &reference, new)
                    .await
                    .map_err(|error| ToolError::from(error).renamed(&[("content", &field)]))?;
            }
        }
        let new = NewStep {
            kind: "reasoning".to_owned(),
            content: args.reasoning_step.clone(),
            metadata: Some(json!({
                "tool": "hybrid_biased_reasoning",
                "step_number": args.step_number,
                "bias_check_model": args.bias_check_model,
            })),
            ..NewStep::default()
        };
        let step = self
            .lux
            .append_step(caller.project, &reference, new)
            .await
            .map_err(|error| ToolError::from(error).renamed(&[("content", "reasoning_step")]))?
            .value;
        let mut findings = self.findings_of(&session, &step).await?;
        if !args.bias_types.is_empty() {
            let wanted: BTreeSet<String> = args.bias_types.iter().map(|t| bias_key(t)).collect();
            findings.retain(|finding| wanted.contains(&finding.bias_type));
        }
        let detectors = self
            .lux
            .detectors()
            .detectors()
            .iter()
            .map(|d| format!("{} {}", d.detector.name(), d.detector.version()))
            .collect();
        let reply = render::BiasReply {
            step: &step,
            findings: &findings,
            detectors,
            session_id: args
                .session_id
                .clone()
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| session.id.to_string()),
        };
        Ok(reply.render(&session, &self.settings))
    }

    /// Lux's real state: database, sessions stored, LLM configuration, detectors and monitor.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn illumination_status(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let caller = self.caller(&context, Scope::Read)?;
        let all = self
            .count_sessions(caller, SessionFilter::default())
            .await?;
        let active = self
            .count_sessions(
                caller,
                SessionFilter {
                    status: Some(SessionStatus::Active),
                    ..SessionFilter::default()
                },
            )
            .await?;
        let registry = self.lux.detectors();
        let status = render::Status {
            database: self.lux.backend().name(),
            sessions: all,
            active_sessions: active,
            llm: self.settings.llm.clone(),
            detectors: registry
                .detectors()
                .iter()
                .map(|d| format!("{} {}", d.detector.name(), d.detector.version()))
                .collect(),
            monitor: registry.monitor.is_some(),
            detection: registry.detection_mode(),
            queue: self.lux.analysis_queue_status().await?,
            tools: Self::all_tools()
                .list_all()
                .into_iter()
                .map(|tool| tool.name.to_string())
                .collect(),
        };
        Ok(status.render(&self.settings))
    }

    /// List stored reasoning sessions, newest first, with filters and a cursor.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn list_sessions(
        &self,
        Parameters(Args(args)): Parameters<Args<ListSessions>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let status = args
            .status
            .as_deref()
            .map(str::parse::<SessionStatus>)
            .transpose()?;
        let limit = args.limit.unwrap_or(LIST_DEFAULT);
        if !(1..=LIST_MAX).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("must be between 1 and {LIST_MAX}, got {limit}"),
            ));
        }
        let filter = SessionFilter {
            status,
            tool: args.tool,
            tag: args.tag,
            ..SessionFilter::default()
        };
        let page = PageRequest {
            limit: Some(limit),
            cursor: args.cursor,
        };
        let page = self
            .lux
            .list_sessions(caller.project, &filter, &page)
            .await?;
        Ok(render::session_list(&page, &self.settings))
    }

    /// Full-text search over past reasoning: stored steps and synthesis versions, best first.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn search_reasoning(
        &self,
        Parameters(Args(args)): Parameters<Args<SearchReasoning>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let limit = args.limit.unwrap_or(10);
        if !(1..=50).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("must be between 1 and 50, got {limit}"),
            ));
        }
        let session_id = match args.session_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(self.find_session(caller.project, name).await?.id),
        };
        let filter = lux_core::SearchFilter {
            session_id,
            ..lux_core::SearchFilter::default()
        };
        let page = self
            .lux
            .search(
                caller.project,
                &args.query,
                &filter,
                &PageRequest::first(limit),
            )
            .await
            .map_err(|error| match error {
                lux_core::Error::Invalid { reason, .. } => ToolError::invalid("query", reason),
                other => other.into(),
            })?;
        Ok(render::search_hits(
            &args.query,
            &page.items,
            &self.settings,
        ))
    }

    /// Figures of one session: steps, duration, tokens, cost, findings, alerts, final confidence.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn session_analytics(
        &self,
        Parameters(Args(args)): Parameters<Args<SessionAnalytics>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let name = args.session_id.trim();
        if name.is_empty() {
            return Err(ToolError::invalid("session_id", "must not be empty"));
        }
        let session = self.find_session(caller.project, name).await?;
        let summary = self
            .lux
            .session_summary(caller.project, &SessionRef::Id(session.id))
            .await?;
        Ok(render::session_summary(&session, &summary, &self.settings))
    }

    /// One stored session: its steps, latest synthesis, bias findings and monitor alerts.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn get_session(
        &self,
        Parameters(Args(args)): Parameters<Args<GetSession>>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolError> {
        let args = args?;
        let caller = self.caller(&context, Scope::Read)?;
        let name = args.session_id.trim();
        if name.is_empty() {
            return Err(ToolError::invalid("session_id", "must not be empty"));
        }
        let session = self.find_session(caller.project, name).await?;
        let reference = SessionRef::Id(session.id);
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let synthesis = self
            .lux
            .latest_synthesis(caller.project, &reference)
            .await?;
        let findings = self.lux.list_findings(caller.project, &reference).await?;
        let events = self
            .lux
            .list_monitor_events(caller.project, &reference)
            .await?;
        let detail = render::SessionDetail {
            session: &session,
            steps: &steps,
            synthesis: synthesis.as_ref(),
            findings: &findings,
            events: &events,
        };
        Ok(detail.render(&self.settings))
    }
}

impl LuxMcp {
    /// A session by Lux id, or else by the caller's external id.
    pub(super) async fn find_session(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Result<Session, ToolError> {
        if let Ok(id) = name.parse::<lux_core::SessionId>() {
            match self.lux.get_session(project, &SessionRef::Id(id)).await {
                Ok(session) => return Ok(session),
                Err(lux_core::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(self
            .lux
            .get_session(project, &SessionRef::ExternalId(name.to_owned()))
            .await?)
    }

    /// The findings on a step this call wrote, once its analysis is stored (waiting up to
    /// `analysis_wait`; past it, what is stored so far).
    pub(super) async fn findings_of(
        &self,
        session: &Session,
        step: &Step,
    ) -> Result<Vec<Finding>, ToolError> {
        if !self
            .lux
            .await_analysis(&[step.id], self.settings.analysis_wait)
            .await?
        {
            tracing::warn!(step = %step.id, "analysis not finished within the tool's wait");
        }
        Ok(self.lux.step_findings(session.id, step.id).await?)
    }

    /// The steps holding the thoughts a thought revises and branches from (`revises_thought`,
    /// `branch_from_thought`), each `None` when not given.
    pub(super) async fn resolve_references(
        &self,
        session: lux_core::SessionId,
        revises_thought: Option<u32>,
        branch_from_thought: Option<u32>,
    ) -> Result<(Option<i32>, Option<i32>), ToolError> {
        Ok((
            self.resolve_thought(session, "revises_thought", revises_thought)
                .await?,
            self.resolve_thought(session, "branch_from_thought", branch_from_thought)
                .await?,
        ))
    }

    /// The step that holds thought `number` of a session (the newest, after revisions), or a tool
    /// error naming `field` when the session has no such thought; `None` when not given.
    async fn resolve_thought(
        &self,
        session: lux_core::SessionId,
        field: &str,
        number: Option<u32>,
    ) -> Result<Option<i32>, ToolError> {
        let Some(number) = number else {
            return Ok(None);
        };
        at_least_one(field, number)?;
        match self.lux.step_of_thought(session, number).await? {
            Some(step) => Ok(Some(step)),
            None => Err(ToolError::invalid(
                field,
                format!("this session has no thought {number}"),
            )),
        }
    }

    /// Counts by paging (bounded); `None` beyond the bound.
    async fn count_sessions(
        &self,
        caller: McpCaller,
        filter: SessionFilter,
    ) -> Result<Option<usize>, ToolError> {
        const PAGE: u32 = 1000;
        const MAX_PAGES: usize = 100;
        let mut count = 0;
        let mut page = PageRequest::first(PAGE);
        for _ in 0..MAX_PAGES {
            let found = self
                .lux
                .list_sessions(caller.project, &filter, &page)
                .await?;
            count += found.items.len();
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(Some(count)),
            }
        }
        Ok(None)
    }
}
