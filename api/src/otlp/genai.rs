//! OpenTelemetry spans as Lux records: the GenAI semantic conventions (current and earlier names)
//! and OpenInference's attributes read into sessions, steps and model calls, ready for the same
//! batch path as `/api/v1/ingest`. Pure: the one read it needs (where a parent span's step went)
//! is the caller's.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use lux_core::services::ingest::IngestRecord;
use lux_core::{
    CallStatus, MAX_CONTENT_BYTES, MAX_LABEL_BYTES, MAX_LATENCY_MS, ModelCallId, NewModelCall,
    NewSession, NewStep, ProjectId, SessionId, SessionRef, StepId,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use serde_json::{Map, json};
use uuid::Uuid;

/// Span ids become step and model-call ids under this namespace (with the project), so a span
/// sent twice — an exporter's retry, a batch re-sent — is stored once.
const SPAN_NAMESPACE: Uuid = Uuid::from_u128(0x6c75_782d_6f74_6c70_8000_0000_0000_0001);

/// The prompt kept with a step, for reading it beside the answer: the last user message, cut here.
const MAX_INPUT_PREVIEW_BYTES: usize = 4 * 1024;

/// Attributes that name the conversation a span belongs to, strongest first.
const SESSION_KEYS: [&str; 3] = [
    "gen_ai.conversation.id",
    "session.id",
    "langfuse.session.id",
];

/// What a span did, from `gen_ai.operation.name` or `openinference.span.kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operation {
    /// A model produced text: a model call, and its output as a reasoning step.
    Inference,
    /// A model call with no text to keep.
    Embedding,
    Tool,
    Agent,
    Workflow,
    /// Another GenAI operation (retrieval, reranking, guardrails…), kept as a step of that kind.
    Other(String),
}

impl Operation {
    fn of(span: &Attributes) -> Option<Operation> {
        if let Some(name) = span.text("gen_ai.operation.name") {
            return Some(match name.as_str() {
                "chat" | "text_completion" | "generate_content" | "completion" => {
                    Operation::Inference
                }
                "embeddings" => Operation::Embedding,
                "execute_tool" => Operation::Tool,
                "invoke_agent" | "create_agent" => Operation::Agent,
                "invoke_workflow" => Operation::Workflow,
                other => Operation::Other(step_kind(other)),
            });
        }
        let kind = span.text("openinference.span.kind")?;
        Some(match kind.to_ascii_uppercase().as_str() {
            "LLM" => Operation::Inference,
            "EMBEDDING" => Operation::Embedding,
            "TOOL" => Operation::Tool,
            "AGENT" => Operation::Agent,
            "CHAIN" => Operation::Workflow,
            other => Operation::Other(step_kind(other)),
        })
    }

    fn step_kind(&self) -> String {
        match self {
            Operation::Inference | Operation::Embedding => "reasoning".to_owned(),
            Operation::Tool => "tool".to_owned(),
            Operation::Agent => "agent".to_owned(),
            Operation::Workflow => "chain".to_owned(),
            Operation::Other(kind) => kind.clone(),
        }
    }

    fn calls_a_model(&self) -> bool {
        matches!(self, Operation::Inference | Operation::Embedding)
    }
}

/// A request's GenAI spans, each placed in its session, before the records are built.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    project: ProjectId,
    spans: Vec<PlannedSpan<'a>>,
    /// Spans without GenAI or OpenInference attributes (HTTP, database…): not Lux's to keep.
    pub(crate) skipped: usize,
    /// Spans refused before anything was written, with why.
    pub(crate) refused: Vec<String>,
}

#[derive(Debug)]
struct PlannedSpan<'a> {
    span: &'a Span,
    attributes: Attributes<'a>,
    resource: Attributes<'a>,
    scope_name: &'a str,
    operation: Operation,
    trace_hex: String,
    span_hex: String,
    parent_hex: Option<String>,
    /// The conversation it belongs to: its own id, else one named by another span of its trace.
    conversation: Option<String>,
}

/// The records for a request, and for each record the span it came from.
#[derive(Debug, Default)]
pub(crate) struct Translation {
    pub(crate) records: Vec<IngestRecord>,
    /// The index (into [`Translation::span_ids`]) of the span each record came from; `None` for a
    /// session record, which belongs to every span of it.
    pub(crate) origins: Vec<Option<usize>>,
    /// The hex span id of each translated span, for messages about it.
    pub(crate) span_ids: Vec<String>,
    /// Spans refused whole because a record made of them breaks Lux's rules, with why: a span is
    /// kept entire or not at all.
    pub(crate) refused: Vec<String>,
}

impl<'a> Plan<'a> {
    pub(crate) fn of(project: ProjectId, request: &'a ExportTraceServiceRequest) -> Plan<'a> {
        let mut plan = Plan {
            project,
            spans: Vec::new(),
            skipped: 0,
            refused: Vec::new(),
        };
        for resource_spans in &request.resource_spans {
            let resource = Attributes::of(
                resource_spans
                    .resource
                    .as_ref()
                    .map_or(&[][..], |resource| &resource.attributes),
            );
            for scope_spans in &resource_spans.scope_spans {
                let scope_name = scope_spans
                    .scope
                    .as_ref()
                    .map_or("", |scope| scope.name.as_str());
                for span in &scope_spans.spans {
                    let attributes = Attributes::of(&span.attributes);
                    let Some(operation) = Operation::of(&attributes) else {
                        plan.skipped += 1;
                        continue;
                    };
                    if span.trace_id.len() != 16 || span.trace_id.iter().all(|&b| b == 0) {
                        plan.refused.push(format!(
                            "span {:?}: trace_id must be 16 bytes, not all zero",
                            span.name
                        ));
                        continue;
                    }
                    if span.span_id.len() != 8 || span.span_id.iter().all(|&b| b == 0) {
                        plan.refused.push(format!(
                            "span {:?}: span_id must be 8 bytes, not all zero",
                            span.name
                        ));
                        continue;
                    }
                    // Cut as the session's `external_id` is, so every record names it alike.
                    let conversation = SESSION_KEYS
                        .iter()
                        .find_map(|key| attributes.text(key).or_else(|| resource.text(key)))
                        .filter(|key| !key.trim().is_empty())
                        .map(|key| cut(&key, MAX_LABEL_BYTES));
                    plan.spans.push(PlannedSpan {
                        span,
                        attributes,
                        resource: resource.clone(),
                        scope_name,
                        operation,
                        trace_hex: hex(&span.trace_id),
                        span_hex: hex(&span.span_id),
                        parent_hex: (span.parent_span_id.len() == 8)
                            .then(|| hex(&span.parent_span_id)),
                        conversation,
                    });
                }
            }
        }
        // A trace belongs to one conversation: spans that do not name it (a tool call under an
        // agent) join the one another span of the same trace names.
        let mut trace_conversation: HashMap<String, String> = HashMap::new();
        for span in &plan.spans {
            if let Some(conversation) = &span.conversation {
                trace_conversation
                    .entry(span.trace_hex.clone())
                    .or_insert_with(|| conversation.clone());
            }
        }
        for span in &mut plan.spans {
            if span.conversation.is_none() {
                span.conversation = trace_conversation.get(&span.trace_hex).cloned();
            }
        }
        // Parents first, as the work happened; exporters send children as they end.
        plan.spans
            .sort_by_key(|span| (span.span.start_time_unix_nano, span.span.end_time_unix_nano));
        plan
    }

    /// The steps of parent spans stored earlier, for spans whose trace names no conversation
    /// here: a tool span exported alone joins its agent's session.
    pub(crate) fn parents_to_look_up(&self) -> Vec<StepId> {
        self.spans
            .iter()
            .filter(|span| span.conversation.is_none())
            .filter_map(|span| {
                let parent = span.parent_hex.as_ref()?;
                Some(step_id(self.project, &span.trace_hex, parent))
            })
            .collect()
    }

    /// The records: a session per conversation (or per trace without one), then each span's step
    /// and model call. `parents` maps the steps of [`Plan::parents_to_look_up`] that exist to
    /// their sessions.
    pub(crate) fn translate(&self, parents: &HashMap<StepId, SessionId>) -> Translation {
        let mut out = Translation::default();
        let mut sessions_opened: HashSet<String> = HashSet::new();
        // A trace that names no conversation here joins the session a stored parent of any of
        // its spans is in, all of it: the spans of one trace stay together.
        let trace_sessions: HashMap<&str, SessionId> = self
            .spans
            .iter()
            .filter(|span| span.conversation.is_none())
            .filter_map(|span| {
                let parent = span.parent_hex.as_ref()?;
                let session = parents.get(&step_id(self.project, &span.trace_hex, parent))?;
                Some((span.trace_hex.as_str(), *session))
            })
            .collect();
        for span in &self.spans {
            let step = self.new_step(span);
            let answer = step.as_ref().and_then(|step| step.id);
            let call = span
                .operation
                .calls_a_model()
                .then(|| self.new_model_call(span, answer));
            let valid = step
                .as_ref()
                .map_or(Ok(()), NewStep::validate)
                .and_then(|()| call.as_ref().map_or(Ok(()), NewModelCall::validate));
            if let Err(error) = valid {
                out.refused.push(format!("span {}: {error}", span.span_hex));
                continue;
            }
            let origin = out.span_ids.len();
            out.span_ids.push(span.span_hex.clone());
            let stored_parent = trace_sessions.get(span.trace_hex.as_str());
            let session = match (&span.conversation, stored_parent) {
                (Some(conversation), _) => SessionRef::ExternalId(conversation.clone()),
                (None, Some(session)) => SessionRef::Id(*session),
                (None, None) => SessionRef::ExternalId(span.trace_hex.clone()),
            };
            if let SessionRef::ExternalId(key) = &session
                && sessions_opened.insert(key.clone())
            {
                out.records
                    .push(IngestRecord::Session(self.new_session(key, span)));
                out.origins.push(None);
            }
            if let Some(step) = step {
                out.records.push(IngestRecord::Step {
                    session: session.clone(),
                    step,
                });
                out.origins.push(Some(origin));
            }
            if let Some(call) = call {
                out.records.push(IngestRecord::ModelCall {
                    session: session.clone(),
                    call,
                });
                out.origins.push(Some(origin));
            }
        }
        out
    }

    /// The session a conversation (or a lone trace) opens, described by the first span seen of it
    /// and the other spans of this request that name it.
    fn new_session(&self, key: &str, first: &PlannedSpan) -> NewSession {
        let members: Vec<&PlannedSpan> = self
            .spans
            .iter()
            .filter(|span| span.conversation.as_deref().unwrap_or(&span.trace_hex) == key)
            .collect();
        let service = first.resource.text("service.name");
        let agent = members.iter().find_map(|span| {
            span.attributes
                .text("gen_ai.agent.name")
                .or_else(|| span.attributes.text("agent.name"))
        });
        let workflow = members
            .iter()
            .find_map(|span| span.attributes.text("gen_ai.workflow.name"));
        let root = members
            .iter()
            .find(|span| span.parent_hex.is_none())
            .map(|span| span.span.name.clone());
        let model = members
            .iter()
            .filter(|span| span.operation.calls_a_model())
            .find_map(|span| model_of(&span.attributes));
        let user = members.iter().find_map(|span| {
            ["user.id", "enduser.id"].iter().find_map(|key| {
                span.attributes
                    .text(key)
                    .or_else(|| span.resource.text(key))
            })
        });
        let mut metadata = Map::new();
        metadata.insert("source".into(), json!("otlp"));
        metadata.insert("trace_id".into(), json!(first.trace_hex));
        if let Some(service) = &service {
            metadata.insert("service.name".into(), json!(service));
        }
        if let Some(agent) = &agent {
            metadata.insert("agent.name".into(), json!(agent));
        }
        if let Some(project) = first.resource.text("openinference.project.name") {
            metadata.insert("openinference.project.name".into(), json!(project));
        }
        NewSession {
            id: None,
            external_id: Some(cut(key, MAX_LABEL_BYTES)),
            tool: service
                .as_deref()
                .and_then(tool_name)
                .unwrap_or_else(|| "otlp".to_owned()),
            status: None,
            title: agent
                .or(workflow)
                .or(root)
                .map(|title| cut(&title, MAX_LABEL_BYTES)),
            user_id: user.map(|user| cut(&user, MAX_LABEL_BYTES)),
            client: Some(if first.scope_name.is_empty() {
                "opentelemetry".to_owned()
            } else {
                cut(first.scope_name, MAX_LABEL_BYTES)
            }),
            model: model.map(|model| cut(&model, MAX_LABEL_BYTES)),
            tags: Vec::new(),
            metadata: Some(serde_json::Value::Object(metadata)),
            created_at: members
                .iter()
                .map(|span| span.span.start_time_unix_nano)
                .min()
                .and_then(time),
            completed_at: None,
        }
    }

    /// The span's step: the model's answer, the tool's call and result, the agent's output. A
    /// model call that recorded no text (content capture is off by default in most SDKs) has none.
    fn new_step(&self, span: &PlannedSpan) -> Option<NewStep> {
        let attributes = &span.attributes;
        let error = error_of(span);
        let content = match &span.operation {
            Operation::Inference => output_text(span)?,
            Operation::Embedding => return None,
            Operation::Tool => {
                let name = attributes
                    .text("gen_ai.tool.name")
                    .or_else(|| attributes.text("tool.name"))
                    .unwrap_or_else(|| span.span.name.clone());
                let arguments = attributes
                    .json_text("gen_ai.tool.call.arguments")
                    .or_else(|| attributes.text("input.value"))
                    .unwrap_or_default();
                let mut content = format!("{name}({arguments})");
                if let Some(result) = attributes
                    .json_text("gen_ai.tool.call.result")
                    .or_else(|| attributes.text("output.value"))
                {
                    content.push_str(&format!("\n→ {result}"));
                }
                if let Some(error) = &error {
                    content.push_str(&format!("\nerror: {error}"));
                }
                content
            }
            Operation::Agent | Operation::Workflow | Operation::Other(_) => {
                output_text(span).unwrap_or_else(|| span.span.name.clone())
            }
        };
        if content.trim().is_empty() {
            return None;
        }
        let mut otel = Map::new();
        otel.insert("trace_id".into(), json!(span.trace_hex));
        otel.insert("span_id".into(), json!(span.span_hex));
        if let Some(parent) = &span.parent_hex {
            otel.insert("parent_span_id".into(), json!(parent));
        }
        otel.insert("name".into(), json!(span.span.name));
        let mut metadata = Map::new();
        metadata.insert("otel".into(), serde_json::Value::Object(otel));
        if let Some(input) = input_text(span) {
            metadata.insert("input".into(), json!(cut(&input, MAX_INPUT_PREVIEW_BYTES)));
        }
        if let Some(error) = &error {
            metadata.insert("error".into(), json!(cut(error, MAX_INPUT_PREVIEW_BYTES)));
        }
        if let Some(id) = attributes.text("gen_ai.tool.call.id") {
            metadata.insert("tool_call_id".into(), json!(id));
        }
        Some(NewStep {
            id: Some(step_id(self.project, &span.trace_hex, &span.span_hex)),
            kind: span.operation.step_kind(),
            content: cut(&content, MAX_CONTENT_BYTES),
            model: model_of(attributes).map(|model| cut(&model, MAX_LABEL_BYTES)),
            metadata: Some(serde_json::Value::Object(metadata)),
            created_at: time(span.span.start_time_unix_nano),
            ..NewStep::default()
        })
    }

    fn new_model_call(&self, span: &PlannedSpan, step: Option<StepId>) -> NewModelCall {
        let a = &span.attributes;
        let first = |keys: &[&str]| keys.iter().find_map(|key| a.count(key));
        let input = first(&[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
        ])
        .unwrap_or(0);
        let output = first(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ])
        .unwrap_or(0);
        let cached = first(&[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cached_tokens",
            "llm.token_count.prompt_details.cache_read",
        ])
        .unwrap_or(0)
        .min(input);
        // Providers count reasoning tokens inside the output tokens, and the conventions follow
        // them; Lux keeps them apart (priced on their own), so they leave the output here.
        let reasoning = first(&[
            "gen_ai.usage.reasoning.output_tokens",
            "llm.token_count.completion_details.reasoning",
        ])
        .unwrap_or(0)
        .min(output);
        let provider = [
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.provider",
            "llm.system",
        ]
        .iter()
        .find_map(|key| a.text(key))
        .and_then(|provider| tool_name(&provider))
        .unwrap_or_else(|| "unknown".to_owned());
        let error = error_of(span);
        let status = match (&error, a.text("error.type").as_deref()) {
            (None, _) => CallStatus::Ok,
            (Some(_), Some(kind)) if kind.to_ascii_lowercase().contains("timeout") => {
                CallStatus::Timeout
            }
            (Some(_), _) => CallStatus::Error,
        };
        let nanos = span
            .span
            .end_time_unix_nano
            .saturating_sub(span.span.start_time_unix_nano);
        NewModelCall {
            id: Some(ModelCallId(span_uuid(
                self.project,
                &span.trace_hex,
                &span.span_hex,
                "model_call",
            ))),
            step_id: step,
            provider,
            model: model_of(a)
                .map(|model| cut(&model, MAX_LABEL_BYTES))
                .unwrap_or_else(|| "unknown".to_owned()),
            input_tokens: input,
            output_tokens: output - reasoning,
            cached_input_tokens: cached,
            reasoning_tokens: reasoning,
            latency_ms: ((nanos / 1_000_000) as i64).min(MAX_LATENCY_MS),
            status,
            error: error.map(|error| cut(&error, MAX_INPUT_PREVIEW_BYTES)),
            created_at: time(span.span.start_time_unix_nano),
        }
    }
}

/// The step a span becomes (also how a child finds its parent's).
fn step_id(project: ProjectId, trace_hex: &str, span_hex: &str) -> StepId {
    StepId(span_uuid(project, trace_hex, span_hex, "step"))
}

fn span_uuid(project: ProjectId, trace_hex: &str, span_hex: &str, record: &str) -> Uuid {
    Uuid::new_v5(
        &SPAN_NAMESPACE,
        format!("{}/{trace_hex}/{span_hex}/{record}", project.0).as_bytes(),
    )
}

fn model_of(a: &Attributes) -> Option<String> {
    [
        "gen_ai.response.model",
        "gen_ai.request.model",
        "llm.response.model_name",
        "llm.model_name",
        "llm.request.model_name",
    ]
    .iter()
    .find_map(|key| a.text(key))
    .filter(|model| !model.trim().is_empty())
}

/// Why the span failed, when it did: its status message, else its exception, else `error.type`.
fn error_of(span: &PlannedSpan) -> Option<String> {
    let status = span.span.status.as_ref();
    let failed = status.is_some_and(|status| status.code == StatusCode::Error as i32);
    let exception = span
        .span
        .events
        .iter()
        .find(|event| event.name == "exception")
        .and_then(|event| Attributes::of(&event.attributes).text("exception.message"));
    let error_type = span.attributes.text("error.type");
    if !failed && error_type.is_none() {
        return None;
    }
    status
        .map(|status| status.message.clone())
        .filter(|message| !message.is_empty())
        .or(exception)
        .or(error_type)
        .or_else(|| Some("the span ended in error".to_owned()))
}

/// The model's answer, from wherever the instrumentation put it.
fn output_text(span: &PlannedSpan) -> Option<String> {
    let a = &span.attributes;
    let events = || span.span.events.iter();
    a.json("gen_ai.output.messages")
        .and_then(|messages| messages_text(&messages, None))
        .or_else(|| flattened_messages(a, "llm.output_messages.", None))
        .or_else(|| flattened_messages(a, "gen_ai.completion.", None))
        .or_else(|| {
            a.json("gen_ai.completion")
                .and_then(|value| loose_text(&value))
        })
        .or_else(|| {
            events().find_map(|event| {
                let attributes = Attributes::of(&event.attributes);
                match event.name.as_str() {
                    "gen_ai.client.inference.operation.details" => attributes
                        .json("gen_ai.output.messages")
                        .and_then(|messages| messages_text(&messages, None)),
                    "gen_ai.choice" => attributes
                        .json("message")
                        .and_then(|message| message_text(&message))
                        .or_else(|| attributes.text("content")),
                    "gen_ai.content.completion" => attributes
                        .json("gen_ai.completion")
                        .and_then(|value| loose_text(&value)),
                    _ => None,
                }
            })
        })
        .or_else(|| a.text("output.value"))
        .filter(|text| !text.trim().is_empty())
}

/// The newest user message the model was given.
fn input_text(span: &PlannedSpan) -> Option<String> {
    let a = &span.attributes;
    a.json("gen_ai.input.messages")
        .and_then(|messages| messages_text(&messages, Some("user")))
        .or_else(|| flattened_messages(a, "llm.input_messages.", Some("user")))
        .or_else(|| flattened_messages(a, "gen_ai.prompt.", Some("user")))
        .or_else(|| {
            span.span.events.iter().rev().find_map(|event| {
                let attributes = Attributes::of(&event.attributes);
                match event.name.as_str() {
                    "gen_ai.user.message" => attributes.text("content"),
                    "gen_ai.content.prompt" => attributes
                        .json("gen_ai.prompt")
                        .and_then(|value| loose_text(&value)),
                    _ => None,
                }
            })
        })
        .or_else(|| a.text("input.value"))
        .filter(|text| !text.trim().is_empty())
}

/// Messages (`[{role, parts | content}]`): the text of all of them, or of the last with `role`.
fn messages_text(messages: &serde_json::Value, role: Option<&str>) -> Option<String> {
    let list = messages.as_array()?;
    match role {
        Some(role) => list
            .iter()
            .rev()
            .find(|message| message["role"].as_str() == Some(role))
            .and_then(message_text),
        None => {
            let texts: Vec<String> = list.iter().filter_map(message_text).collect();
            (!texts.is_empty()).then(|| texts.join("\n\n"))
        }
    }
}

/// One message's text: its text parts, else its reasoning, else the tools it called.
fn message_text(message: &serde_json::Value) -> Option<String> {
    if let Some(parts) = message["parts"].as_array() {
        let of_type = |wanted: &str| -> Vec<String> {
            parts
                .iter()
                .filter(|part| part["type"].as_str() == Some(wanted))
                .filter_map(|part| match wanted {
                    "tool_call" => Some(format!(
                        "call {}({})",
                        part["name"].as_str().unwrap_or("tool"),
                        compact(&part["arguments"])
                    )),
                    _ => part["content"].as_str().map(str::to_owned),
                })
                .collect()
        };
        return ["text", "reasoning", "tool_call"]
            .iter()
            .map(|wanted| of_type(wanted))
            .find(|texts| !texts.is_empty())
            .map(|texts| texts.join("\n"));
    }
    loose_text(&message["content"])
}

/// Text in the shapes older instrumentations use: a string, `{content}`, `[{text}]`, or JSON of those.
fn loose_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(parsed @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
                loose_text(&parsed).or_else(|| Some(text.clone()))
            }
            _ => Some(text.clone()),
        },
        serde_json::Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .filter_map(|item| {
                    item.get("parts")
                        .map(|_| message_text(item))
                        .unwrap_or_else(|| {
                            item.get("text")
                                .or_else(|| item.get("content"))
                                .and_then(loose_text)
                        })
                })
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        serde_json::Value::Object(object) => object
            .get("content")
            .or_else(|| object.get("text"))
            .and_then(loose_text),
        _ => None,
    }
    .filter(|text| !text.trim().is_empty())
}

/// Messages flattened into attributes (`PREFIX{n}.role`, `PREFIX{n}.content`, and OpenInference's
/// `PREFIX{n}.message.role` / `.message.content`): all their text, or the last with `role`.
fn flattened_messages(a: &Attributes, prefix: &str, role: Option<&str>) -> Option<String> {
    let mut messages: Vec<(usize, Option<String>, String)> = Vec::new();
    for (key, value) in &a.0 {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let field = field.strip_prefix("message.").unwrap_or(field);
        let is_text = field == "content"
            || (field.starts_with("contents.") && field.ends_with(".message_content.text"));
        if !is_text {
            continue;
        }
        let Some(text) = text_of(value) else { continue };
        let role = [
            format!("{prefix}{index}.role"),
            format!("{prefix}{index}.message.role"),
        ]
        .iter()
        .find_map(|key| a.text(key));
        messages.push((index, role, text));
    }
    messages.sort_by_key(|(index, _, _)| *index);
    match role {
        Some(wanted) => messages
            .into_iter()
            .rev()
            .find(|(_, role, _)| role.as_deref() == Some(wanted))
            .map(|(_, _, text)| text),
        None => {
            let texts: Vec<String> = messages.into_iter().map(|(_, _, text)| text).collect();
            (!texts.is_empty()).then(|| texts.join("\n\n"))
        }
    }
}

/// A span's (or resource's, or event's) attributes by key.
#[derive(Debug, Clone)]
struct Attributes<'a>(HashMap<&'a str, &'a AnyValue>);

impl<'a> Attributes<'a> {
    fn of(pairs: &'a [KeyValue]) -> Self {
        Attributes(
            pairs
                .iter()
                .filter_map(|pair| Some((pair.key.as_str(), pair.value.as_ref()?)))
                .collect(),
        )
    }

    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(|value| text_of(value))
    }

    /// A structured value, or JSON held in a string (SDKs without structured attributes).
    fn json(&self, key: &str) -> Option<serde_json::Value> {
        let value = json_of(self.0.get(key)?);
        match &value {
            serde_json::Value::String(text) => serde_json::from_str(text).ok().or(Some(value)),
            serde_json::Value::Null => None,
            _ => Some(value),
        }
    }

    /// A value as text to show: a string as the app wrote it, a structure as compact JSON.
    fn json_text(&self, key: &str) -> Option<String> {
        match json_of(self.0.get(key)?) {
            serde_json::Value::String(text) => Some(text),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A count: an integer, or a whole number sent as a double or a string; never negative.
    fn count(&self, key: &str) -> Option<i64> {
        let count = match self.0.get(key)?.value.as_ref()? {
            Value::IntValue(n) => *n,
            Value::DoubleValue(x) if x.is_finite() => x.round() as i64,
            Value::StringValue(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        Some(count.max(0))
    }
}

fn text_of(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::IntValue(n) => Some(n.to_string()),
        Value::DoubleValue(x) => Some(x.to_string()),
        _ => None,
    }
}

fn json_of(value: &AnyValue) -> serde_json::Value {
    match &value.value {
        None | Some(Value::StringValueStrindex(_)) => serde_json::Value::Null,
        Some(Value::StringValue(s)) => json!(s),
        Some(Value::BoolValue(b)) => json!(b),
        Some(Value::IntValue(n)) => json!(n),
        Some(Value::DoubleValue(x)) => json!(x),
        Some(Value::BytesValue(bytes)) => json!(hex(bytes)),
        Some(Value::ArrayValue(array)) => array.values.iter().map(json_of).collect(),
        Some(Value::KvlistValue(list)) => serde_json::Value::Object(
            list.values
                .iter()
                .map(|pair| {
                    let value = pair.value.as_ref().map_or(serde_json::Value::Null, json_of);
                    (pair.key.clone(), value)
                })
                .collect(),
        ),
    }
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn time(unix_nanos: u64) -> Option<DateTime<Utc>> {
    (unix_nanos > 0).then(|| DateTime::from_timestamp_nanos(unix_nanos.min(i64::MAX as u64) as i64))
}

/// A name Lux keeps as an identifier (a session's tool, a provider): lower case, other characters
/// as `-`, at most 64 bytes.
fn tool_name(name: &str) -> Option<String> {
    let name: String = name
        .trim()
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.:-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let name = name.trim_matches('-').to_owned();
    (!name.is_empty()).then_some(name)
}

fn step_kind(name: &str) -> String {
    tool_name(name).unwrap_or_else(|| "span".to_owned())
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn pair(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn string(key: &str, value: &str) -> KeyValue {
        pair(key, Value::StringValue(value.to_owned()))
    }

    fn int(key: &str, value: i64) -> KeyValue {
        pair(key, Value::IntValue(value))
    }

    fn kvlist(pairs: Vec<KeyValue>) -> AnyValue {
        AnyValue {
            value: Some(Value::KvlistValue(KeyValueList { values: pairs })),
        }
    }

    fn array(values: Vec<AnyValue>) -> Value {
        Value::ArrayValue(ArrayValue { values })
    }

    fn span(trace: u8, id: u8, parent: Option<u8>, start: u64, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: format!("span {id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 250_000_000,
            attributes,
            ..Span::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string("service.name", "Travel Agent")],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.openai_v2".to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    const T0: u64 = 1_780_000_000_000_000_000;

    #[test]
    fn a_chat_span_becomes_a_reasoning_step_and_a_priced_call_in_its_conversation() {
        let chat = span(
            1,
            2,
            Some(1),
            T0 + 1,
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.provider.name", "openai"),
                string("gen_ai.request.model", "gpt-4o"),
                string("gen_ai.response.model", "gpt-4o-2024-08-06"),
                int("gen_ai.usage.input_tokens", 42),
                int("gen_ai.usage.output_tokens", 9),
                int("gen_ai.usage.reasoning.output_tokens", 2),
                string("gen_ai.conversation.id", "conv-1"),
                string(
                    "gen_ai.input.messages",
                    r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]"#,
                ),
                string(
                    "gen_ai.output.messages",
                    r#"[{"role":"assistant","parts":[{"type":"text","content":"Rainy."}],"finish_reason":"stop"}]"#,
                ),
            ],
        );
        let tool = span(
            1,
            3,
            Some(1),
            T0 + 2,
            vec![
                string("gen_ai.operation.name", "execute_tool"),
                string("gen_ai.tool.name", "get_weather"),
                string("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#),
            ],
        );
        let http = span(1, 4, Some(2), T0 + 3, vec![string("http.method", "POST")]);
        let request = request(vec![tool, chat, http]);
        let project = ProjectId(Uuid::nil());
        let plan = Plan::of(project, &request);
        assert_eq!(plan.skipped, 1, "the HTTP span is not Lux's");
        let out = plan.translate(&HashMap::new());
        let kinds: Vec<&str> = out.records.iter().map(IngestRecord::kind).collect();
        assert_eq!(kinds, ["session", "step", "model_call", "step"]);
        let IngestRecord::Session(session) = &out.records[0] else {
            unreachable!()
        };
        assert_eq!(session.external_id.as_deref(), Some("conv-1"));
        assert_eq!(session.tool, "travel-agent");
        assert_eq!(session.model.as_deref(), Some("gpt-4o-2024-08-06"));
        let IngestRecord::Step { session: at, step } = &out.records[1] else {
            unreachable!()
        };
        assert_eq!(at, &SessionRef::ExternalId("conv-1".into()));
        assert_eq!(
            (step.kind.as_str(), step.content.as_str()),
            ("reasoning", "Rainy.")
        );
        assert_eq!(
            step.metadata.as_ref().unwrap()["input"],
            "Weather in Paris?"
        );
        let IngestRecord::ModelCall { call, .. } = &out.records[2] else {
            unreachable!()
        };
        assert_eq!(
            (call.input_tokens, call.output_tokens, call.reasoning_tokens),
            (42, 7, 2)
        );
        assert_eq!((call.provider.as_str(), call.latency_ms), ("openai", 250));
        assert_eq!(call.step_id, step.id);
        let IngestRecord::Step { session: at, step } = &out.records[3] else {
            unreachable!()
        };
        assert_eq!(
            at,
            &SessionRef::ExternalId("conv-1".into()),
            "the trace's conversation"
        );
        assert_eq!(step.content, r#"get_weather({"city":"Paris"})"#);
        // A conversation id longer than an external id may be is cut alike everywhere.
        let long = "c".repeat(MAX_LABEL_BYTES + 10);
        let mut named = request.clone();
        for span in &mut named.resource_spans[0].scope_spans[0].spans {
            span.attributes
                .push(string("gen_ai.conversation.id", &long));
            span.attributes.retain(|pair| {
                pair.key != "gen_ai.conversation.id"
                    || pair.value.as_ref().and_then(text_of) == Some(long.clone())
            });
        }
        let cut_out = Plan::of(project, &named).translate(&HashMap::new());
        let names: HashSet<String> = cut_out
            .records
            .iter()
            .map(|record| match record {
                IngestRecord::Session(session) => session.external_id.clone().unwrap(),
                IngestRecord::Step { session, .. } | IngestRecord::ModelCall { session, .. } => {
                    session
                        .to_string()
                        .trim_start_matches("external:")
                        .to_owned()
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(names.iter().next().unwrap().len(), MAX_LABEL_BYTES);
        // The same span again is the same records: a re-sent export is stored once.
        let again = Plan::of(project, &request).translate(&HashMap::new());
        assert_eq!(again.records, out.records);
    }

    #[test]
    fn older_conventions_and_openinference_are_read_too() {
        let legacy = span(
            7,
            1,
            None,
            T0,
            vec![
                string("gen_ai.operation.name", "text_completion"),
                string("gen_ai.system", "Anthropic"),
                string("gen_ai.request.model", "claude-3-5-sonnet"),
                int("gen_ai.usage.prompt_tokens", 10),
                int("gen_ai.usage.completion_tokens", 5),
                string("gen_ai.prompt.0.role", "user"),
                string("gen_ai.prompt.0.content", "Why is the sky blue?"),
                string("gen_ai.completion.0.role", "assistant"),
                string("gen_ai.completion.0.content", "Rayleigh scattering."),
            ],
        );
        let openinference = span(
            8,
            1,
            None,
            T0 + 1,
            vec![
                string("openinference.span.kind", "LLM"),
                string("llm.model_name", "gpt-4o-mini"),
                string("llm.provider", "openai"),
                int("llm.token_count.prompt", 3),
                int("llm.token_count.completion", 4),
                string("session.id", "oi-session"),
                string("llm.output_messages.0.message.role", "assistant"),
                string("llm.output_messages.0.message.content", "Forty-two."),
            ],
        );
        let mut failed = span(
            9,
            1,
            None,
            T0 + 2,
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.request.model", "gpt-4o"),
                string("error.type", "TimeoutError"),
            ],
        );
        failed.status = Some(Status {
            message: "read timed out".to_owned(),
            code: StatusCode::Error as i32,
        });
        let request = request(vec![legacy, openinference, failed]);
        let out = Plan::of(ProjectId(Uuid::nil()), &request).translate(&HashMap::new());
        let steps: Vec<(&SessionRef, &str)> = out
            .records
            .iter()
            .filter_map(|record| match record {
                IngestRecord::Step { session, step } => Some((session, step.content.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            steps,
            [
                (
                    &SessionRef::ExternalId("07".repeat(16)),
                    "Rayleigh scattering."
                ),
                (&SessionRef::ExternalId("oi-session".into()), "Forty-two."),
            ]
        );
        let calls: Vec<&NewModelCall> = out
            .records
            .iter()
            .filter_map(|record| match record {
                IngestRecord::ModelCall { call, .. } => Some(call),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls.len(),
            3,
            "a call without recorded text is still a call"
        );
        assert_eq!(
            (calls[0].provider.as_str(), calls[0].input_tokens),
            ("anthropic", 10)
        );
        assert_eq!(
            (calls[1].model.as_str(), calls[1].output_tokens),
            ("gpt-4o-mini", 4)
        );
        assert_eq!(calls[2].status, CallStatus::Timeout);
        assert_eq!(calls[2].error.as_deref(), Some("read timed out"));
        assert_eq!(calls[2].step_id, None);
    }

    #[test]
    fn a_lone_child_joins_its_stored_parents_session_and_bad_ids_are_refused() {
        let child = span(
            5,
            6,
            Some(4),
            T0,
            vec![
                string("gen_ai.operation.name", "execute_tool"),
                string("gen_ai.tool.name", "search"),
            ],
        );
        let mut broken = span(
            5,
            7,
            None,
            T0,
            vec![string("gen_ai.operation.name", "chat")],
        );
        broken.span_id = vec![1, 2, 3];
        let structured = span(
            5,
            8,
            None,
            T0 + 5,
            vec![
                string("gen_ai.operation.name", "invoke_agent"),
                // Structured, as SDKs with extended attribute values record it.
                pair(
                    "gen_ai.output.messages",
                    array(vec![kvlist(vec![
                        string("role", "assistant"),
                        pair(
                            "parts",
                            array(vec![kvlist(vec![
                                string("type", "text"),
                                string("content", "Booked."),
                            ])]),
                        ),
                    ])]),
                ),
            ],
        );
        let request = request(vec![child, broken, structured]);
        let project = ProjectId(Uuid::nil());
        let plan = Plan::of(project, &request);
        assert_eq!(plan.refused.len(), 1);
        let parents = plan.parents_to_look_up();
        assert_eq!(parents.len(), 1, "only the child has a parent to look for");
        let stored = SessionId(Uuid::from_u128(99));
        let out = plan.translate(&HashMap::from([(parents[0], stored)]));
        let steps: Vec<(&SessionRef, &str, &str)> = out
            .records
            .iter()
            .filter_map(|record| match record {
                IngestRecord::Step { session, step } => {
                    Some((session, step.kind.as_str(), step.content.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            steps,
            [
                (&SessionRef::Id(stored), "tool", "search()"),
                (&SessionRef::Id(stored), "agent", "Booked."),
            ],
            "the whole trace joins the stored parent's session"
        );
    }
}
