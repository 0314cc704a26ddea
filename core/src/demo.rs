//! Realistic sample sessions for `lux demo`, written through [`Lux::ingest`] like any client's data.
//!
//! Each session is generated from its own random stream, seeded by `(seed, index)`, so the same
//! seed always yields the same sessions with the same ids: filling twice writes nothing twice, and
//! a larger fill with the same seed only adds the sessions past the earlier count. Only timestamps
//! follow the clock: sessions spread over the last 30 days before the moment of the fill.
//!
//! What a session looks like depends on its tool, the way the original Lux tools behave:
//! `biased_reasoning` alternates reasoning and verifier checks, `traced_reasoning` makes no model
//! call for its first thought, `sequential_thinking` and the host steps of
//! `hybrid_biased_reasoning` make none at all, `agent_run` routes through a small model first.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::ingest::{IngestOptions, IngestRecord, ItemResult, MAX_BATCH_ITEMS};
use crate::store::Lux;

/// What to generate: how many sessions, from which seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    pub sessions: usize,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            sessions: 40,
            seed: 1,
        }
    }
}

/// What a fill created; records that were already stored (a replay of the same seed) are not counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoSummary {
    pub sessions: usize,
    pub steps: usize,
    pub synthesis_versions: usize,
    pub model_calls: usize,
    pub findings: usize,
    pub monitor_events: usize,
    /// The summed cost of the created model calls, as the service priced them.
    pub cost: NanoUsd,
}

/// The detector named on every demo finding, so they are easy to tell from real ones.
const DETECTOR: &str = "demo.heuristics";
const DETECTOR_VERSION: &str = "1.0.0";
/// Every demo session carries this tag.
const DEMO_TAG: &str = "demo";

impl Lux {
    /// Writes `options.sessions` generated sessions into `project` and reports what was created.
    pub async fn fill_demo(
        &self,
        project: ProjectId,
        options: &DemoOptions,
    ) -> Result<DemoSummary> {
        let now = self.now();
        let mut summary = DemoSummary::default();
        let mut batch: Vec<IngestRecord> = Vec::new();
        for index in 0..options.sessions {
            let records = SessionGen::new(options.seed, index, now).generate();
            if !batch.is_empty() && batch.len() + records.len() > MAX_BATCH_ITEMS {
                self.write_demo_batch(project, &batch, &mut summary).await?;
                batch.clear();
            }
            batch.extend(records);
        }
        if !batch.is_empty() {
            self.write_demo_batch(project, &batch, &mut summary).await?;
        }
        Ok(summary)
    }

    async fn write_demo_batch(
        &self,
        project: ProjectId,
        records: &[IngestRecord],
        summary: &mut DemoSummary,
    ) -> Result<()> {
        // Demo sessions carry planned findings and events; live detectors would double them
        // (`lux analyze --all` adds real ones on demand).
        let options = IngestOptions { analyze: false };
        let results = self.ingest_with(project, records, &options).await?;
        let mut new_calls: HashMap<SessionId, HashSet<Uuid>> = HashMap::new();
        for (record, result) in records.iter().zip(&results) {
            match result {
                ItemResult::Created { id } => match record {
                    IngestRecord::Session(_) => summary.sessions += 1,
                    IngestRecord::Step { .. } => summary.steps += 1,
                    IngestRecord::Synthesis { .. } => summary.synthesis_versions += 1,
                    IngestRecord::Finding { .. } => summary.findings += 1,
                    IngestRecord::MonitorEvent { .. } => summary.monitor_events += 1,
                    IngestRecord::ModelCall { session, .. } => {
                        summary.model_calls += 1;
                        if let SessionRef::Id(session) = session {
                            new_calls.entry(*session).or_default().insert(*id);
                        }
                    }
                },
                ItemResult::Duplicate { .. } => {}
                ItemResult::Error { code, message, .. } => {
                    return Err(Error::conflict(format!(
                        "demo {} record was refused ({code}): {message}",
                        record.kind()
                    )));
                }
            }
        }
        // The service prices each call; read the costs back rather than pricing twice.
        for (session, ids) in new_calls {
            for call in self
                .list_model_calls(project, &SessionRef::Id(session))
                .await?
            {
                if ids.contains(&call.id.0) {
                    summary.cost = NanoUsd(summary.cost.0.saturating_add(call.cost.0));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Confer,
    Traced,
    Biased,
    Planner,
    Sequential,
    Hybrid,
    Agent,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Confer => "confer",
            Tool::Traced => "traced_reasoning",
            Tool::Biased => "biased_reasoning",
            Tool::Planner => "planner",
            Tool::Sequential => "sequential_thinking",
            Tool::Hybrid => "hybrid_biased_reasoning",
            Tool::Agent => "agent_run",
        }
    }
}

/// Who produced a step, which decides the model calls made for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The MCP host's own model: Lux makes no call.
    Host,
    Primary,
    Verifier,
    /// An agent loop: sometimes a routing call on the small model, then one or two on the primary.
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    De,
    Ja,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Ja => "ja",
        }
    }

    fn texts(self) -> &'static LangTexts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Ja => &JA,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bias {
    Confirmation,
    Anchoring,
    Availability,
    ReasoningError,
    OverGeneralization,
    FalseEquivalence,
    CircularReasoning,
    HastyConclusion,
    FalseDichotomy,
}

impl Bias {
    const ALL: [Bias; 9] = [
        Bias::Confirmation,
        Bias::Anchoring,
        Bias::Availability,
        Bias::ReasoningError,
        Bias::OverGeneralization,
        Bias::FalseEquivalence,
        Bias::CircularReasoning,
        Bias::HastyConclusion,
        Bias::FalseDichotomy,
    ];

    /// [`BIASES`] lists the types in the order of this enum.
    fn info(self) -> &'static BiasInfo {
        &BIASES[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thinking {
    Never,
    Sometimes,
    Always,
}

/// A finding a step will carry: about step `step` (the step itself, or the one a check examined).
#[derive(Debug, Clone)]
struct PlannedFinding {
    step: i32,
    bias: Bias,
    evidence: Span,
    severity: Severity,
    confidence: f64,
}

#[derive(Debug, Clone)]
struct PlannedStep {
    kind: &'static str,
    content: String,
    caller: Caller,
    revises_step: Option<i32>,
    branch_from_step: Option<i32>,
    branch_id: Option<&'static str>,
    /// For a bias check: the step it examined.
    checks: Option<i32>,
    finding: Option<PlannedFinding>,
}

impl PlannedStep {
    fn new(kind: &'static str, content: impl Into<String>, caller: Caller) -> Self {
        PlannedStep {
            kind,
            content: content.into(),
            caller,
            revises_step: None,
            branch_from_step: None,
            branch_id: None,
            checks: None,
            finding: None,
        }
    }
}

/// The choices that shape one session.
struct Shape {
    session: SessionRef,
    tool: Tool,
    topic: &'static Topic,
    status: SessionStatus,
    primary: &'static ModelSpec,
    verifier: &'static ModelSpec,
}

/// Generates the records of one session from its own random stream.
struct SessionGen {
    rng: StdRng,
    seed: u64,
    index: usize,
    now: DateTime<Utc>,
}

impl SessionGen {
    fn new(seed: u64, index: usize, now: DateTime<Utc>) -> Self {
        SessionGen {
            rng: StdRng::seed_from_u64(session_seed(seed, index as u64)),
            seed,
            index,
            now,
        }
    }

    fn generate(mut self) -> Vec<IngestRecord> {
        let session_id = SessionId(self.uuid());
        let topic = self.pick(TOPICS);
        let tool = self.weighted(TOOLS);
        let status = self.weighted(STATUSES);
        let primary = self.model(None);
        let verifier = self.model(Some(primary));
        let user = *self.pick(topic.lang.texts().users);
        let client = if tool == Tool::Agent && self.chance(0.7) {
            "api"
        } else {
            self.weighted(CLIENTS)
        };
        let start = self.start_time(status);
        let shape = Shape {
            session: SessionRef::Id(session_id),
            tool,
            topic,
            status,
            primary,
            verifier,
        };

        let mut plan = self.plan(&shape);
        let keep = match status {
            SessionStatus::Completed => plan.len(),
            SessionStatus::Abandoned => self.rng.random_range(3..=plan.len().clamp(3, 5)),
            SessionStatus::Active | SessionStatus::Failed => {
                self.rng.random_range(3..=plan.len().max(3))
            }
        };
        plan.truncate(keep);

        let mut tags: Vec<String> = topic.tags.iter().map(|tag| (*tag).to_owned()).collect();
        tags.push(DEMO_TAG.to_owned());
        let mut metadata = json!({
            "demo": {"seed": self.seed, "index": self.index},
            "topic": topic.slug,
            "language": topic.lang.code(),
        });
        if tool == Tool::Biased {
            metadata["primary_model"] = json!(primary.model);
            metadata["verifier_model"] = json!(verifier.model);
            metadata["max_analysis_rounds"] = json!(3);
        }
        let mut records = vec![IngestRecord::Session(NewSession {
            id: Some(session_id),
            external_id: Some(format!("demo-{}-{}", self.seed, self.index)),
            tool: tool.name().to_owned(),
            status: Some(status),
            title: Some(topic.title.to_owned()),
            user_id: Some(user.to_owned()),
            client: Some(client.to_owned()),
            model: Some(primary.model.to_owned()),
            tags,
            metadata: Some(metadata),
            created_at: Some(start),
            completed_at: None,
        })];
        self.emit(&shape, &plan, start, &mut records);
        if status.is_final() {
            let ended = records
                .iter()
                .filter_map(record_time)
                .max()
                .unwrap_or(start);
            if let Some(IngestRecord::Session(session)) = records.first_mut() {
                session.completed_at = Some(ended);
            }
        }
        records
    }

    // ---- the steps a tool produces ------------------------------------------------------------

    fn plan(&mut self, shape: &Shape) -> Vec<PlannedStep> {
        let topic = shape.topic;
        let texts = topic.lang.texts();
        let beats = topic.beats;
        let mut plan: Vec<PlannedStep> = Vec::new();
        match shape.tool {
            Tool::Biased => {
                let min_rounds = if shape.status == SessionStatus::Completed {
                    1
                } else {
                    2
                };
                let rounds = self.rng.random_range(min_rounds..=beats.len().min(4));
                for beat in &beats[..rounds] {
                    plan.push(PlannedStep::new("reasoning", *beat, Caller::Primary));
                    self.push_bias_check(&mut plan, topic);
                    let serious = plan
                        .last()
                        .and_then(|check| check.finding.as_ref())
                        .map(|finding| (finding.step, finding.severity >= Severity::Medium));
                    if let Some((checked, true)) = serious
                        && self.chance(0.6)
                    {
                        let text = fill_in(
                            self.text(texts.correction),
                            &[("{n}", &checked.to_string()), ("{subject}", topic.subject)],
                        );
                        let mut correction = PlannedStep::new("correction", text, Caller::Primary);
                        correction.revises_step = Some(checked);
                        plan.push(correction);
                    }
                }
            }
            Tool::Hybrid => {
                let count = self.rng.random_range(2..=beats.len().min(6));
                for (i, beat) in beats[..count].iter().enumerate() {
                    plan.push(PlannedStep::new("reasoning", *beat, Caller::Host));
                    if i == 0 || self.chance(0.75) {
                        self.push_bias_check(&mut plan, topic);
                    }
                }
            }
            Tool::Traced | Tool::Sequential => {
                let sequential = shape.tool == Tool::Sequential;
                let count = self.rng.random_range(3..=beats.len().min(8));
                let (mut revised, mut branched) = (false, false);
                for (i, beat) in beats[..count].iter().enumerate() {
                    let caller = if sequential || i == 0 {
                        Caller::Host
                    } else {
                        Caller::Primary
                    };
                    self.push_with_heuristics(&mut plan, "thought", beat, caller);
                    if !revised
                        && plan.len() >= 3
                        && self.chance(if sequential { 0.4 } else { 0.25 })
                    {
                        revised = true;
                        self.push_revision(&mut plan, topic, "thought", caller);
                    } else if !branched
                        && plan.len() >= 2
                        && self.chance(if sequential { 0.35 } else { 0.2 })
                    {
                        branched = true;
                        self.push_branch(&mut plan, topic, "thought", caller);
                    }
                }
            }
            Tool::Planner => {
                let count = self.rng.random_range(3..=beats.len());
                let mut revised = false;
                for beat in &beats[..count] {
                    self.push_with_heuristics(&mut plan, "plan", beat, Caller::Primary);
                    if !revised && plan.len() >= 3 && self.chance(0.2) {
                        revised = true;
                        self.push_revision(&mut plan, topic, "plan", Caller::Primary);
                    }
                }
            }
            Tool::Confer => {
                let count = self.rng.random_range(3..=beats.len().min(5));
                for beat in &beats[..count] {
                    self.push_with_heuristics(&mut plan, "reasoning", beat, Caller::Primary);
                }
            }
            Tool::Agent => {
                let count = self.rng.random_range(3..=beats.len());
                plan.push(PlannedStep::new("plan", beats[0], Caller::Primary));
                for beat in &beats[1..count] {
                    self.push_with_heuristics(&mut plan, "reasoning", beat, Caller::Agent);
                }
            }
        }
        if shape.status == SessionStatus::Completed {
            let caller = match shape.tool {
                Tool::Sequential | Tool::Hybrid => Caller::Host,
                Tool::Agent => Caller::Agent,
                _ => Caller::Primary,
            };
            plan.push(PlannedStep::new("synthesis", topic.conclusion, caller));
        }
        plan
    }

    /// A step the demo heuristics may flag (more often when it holds a tell-tale phrase).
    fn push_with_heuristics(
        &mut self,
        plan: &mut Vec<PlannedStep>,
        kind: &'static str,
        content: &str,
        caller: Caller,
    ) {
        let number = next_number(plan);
        let mut step = PlannedStep::new(kind, content, caller);
        step.finding = self.finding_for(content, number, 0.06, 0.45);
        plan.push(step);
    }

    /// A verifier's check of the last step: it usually flags a tell-tale phrase, sometimes finds more.
    fn push_bias_check(&mut self, plan: &mut Vec<PlannedStep>, topic: &Topic) {
        let Some(checked) = plan.last().map(|step| step.content.clone()) else {
            return;
        };
        let number = next_number(plan) - 1;
        let texts = topic.lang.texts();
        let finding = self.finding_for(&checked, number, 0.4, 0.9);
        let content = match &finding {
            Some(found) => {
                let info = found.bias.info();
                fill_in(
                    self.text(texts.check_found),
                    &[
                        ("{n}", &number.to_string()),
                        ("{bias}", info.labels[topic.lang as usize]),
                        ("{severity}", texts.severity[found.severity as usize]),
                        ("{explanation}", info.explanation),
                        ("{suggestion}", info.suggestion),
                    ],
                )
            }
            None => fill_in(
                self.text(texts.check_clean),
                &[("{n}", &number.to_string())],
            ),
        };
        let mut check = PlannedStep::new("bias_check", content, Caller::Verifier);
        check.checks = Some(number);
        check.finding = finding;
        plan.push(check);
    }

    fn push_revision(
        &mut self,
        plan: &mut Vec<PlannedStep>,
        topic: &Topic,
        kind: &'static str,
        caller: Caller,
    ) {
        let last = next_number(plan) - 1;
        let revises = self.rng.random_range((last - 2).max(1)..=last);
        let text = fill_in(
            self.text(topic.lang.texts().revision),
            &[("{n}", &revises.to_string()), ("{subject}", topic.subject)],
        );
        let mut step = PlannedStep::new(kind, text, caller);
        step.revises_step = Some(revises);
        plan.push(step);
    }

    fn push_branch(
        &mut self,
        plan: &mut Vec<PlannedStep>,
        topic: &Topic,
        kind: &'static str,
        caller: Caller,
    ) {
        let last = next_number(plan) - 1;
        let from = self.rng.random_range(1..=last);
        let text = fill_in(
            self.text(topic.lang.texts().branch),
            &[("{n}", &from.to_string()), ("{subject}", topic.subject)],
        );
        let mut step = PlannedStep::new(kind, text, caller);
        step.branch_from_step = Some(from);
        step.branch_id = Some(*self.pick(BRANCH_IDS));
        plan.push(step);
    }

    /// Maybe a finding about `content` (step `step`): a tell-tale phrase decides the bias type and
    /// the evidence; otherwise a random type with one clause of the text as evidence.
    fn finding_for(
        &mut self,
        content: &str,
        step: i32,
        plain: f64,
        triggered: f64,
    ) -> Option<PlannedFinding> {
        let hits: Vec<(usize, &Trigger)> = TRIGGERS
            .iter()
            .filter_map(|trigger| content.find(trigger.phrase).map(|at| (at, trigger)))
            .collect();
        if !self.chance(if hits.is_empty() { plain } else { triggered }) {
            return None;
        }
        let (bias, evidence) = if hits.is_empty() {
            let clauses = clauses(content);
            let evidence = if clauses.is_empty() {
                Span {
                    start: 0,
                    end: content.len(),
                }
            } else {
                *self.pick(&clauses)
            };
            (*self.pick(&Bias::ALL), evidence)
        } else {
            let (at, trigger) = *self.pick(&hits);
            let end = clause_end(content, at + trigger.phrase.len());
            (trigger.bias, Span { start: at, end })
        };
        Some(PlannedFinding {
            step,
            bias,
            evidence,
            severity: self.weighted(SEVERITIES),
            confidence: self.score(0.55, 0.95),
        })
    }

    // ---- records with times, calls and everything attached -----------------------------------

    fn emit(
        &mut self,
        shape: &Shape,
        plan: &[PlannedStep],
        start: DateTime<Utc>,
        records: &mut Vec<IngestRecord>,
    ) {
        let versions = self.synthesis_points(plan.len());
        let alerts = self.monitor_points(shape.tool, plan.len());
        let total = plan.len() as i32;
        let mut step_ids: Vec<StepId> = Vec::with_capacity(plan.len());
        let mut at = start;
        for (i, planned) in plan.iter().enumerate() {
            let number = i as i32 + 1;
            at += Duration::seconds(self.rng.random_range(15..=150));
            let step_id = StepId(self.uuid());
            step_ids.push(step_id);

            // The calls happen first; the step is stored once the answer is in.
            let mut calls = Vec::new();
            for model in self.models_for(shape, planned.caller) {
                if self.chance(0.05) {
                    let (call, took) = self.failed_call(model, at);
                    calls.push(call);
                    at += took;
                }
                let (call, took) = self.ok_call(model, number, at);
                calls.push(call);
                at += took;
            }
            at += Duration::milliseconds(self.rng.random_range(40..=400));

            let synthesis = versions
                .iter()
                .position(|&point| point == i)
                .map(|k| self.synthesis_text(shape.topic, k + 1, versions.len(), number));
            let (confidence, clarity) = self.step_scores(planned, i, plan.len());
            let model = match planned.caller {
                Caller::Host => None,
                Caller::Verifier => Some(shape.verifier.model.to_owned()),
                Caller::Primary | Caller::Agent => Some(shape.primary.model.to_owned()),
            };
            records.push(IngestRecord::Step {
                session: shape.session.clone(),
                step: NewStep {
                    id: Some(step_id),
                    step_number: Some(number),
                    kind: planned.kind.to_owned(),
                    content: planned.content.clone(),
                    raw_response: synthesis
                        .as_ref()
                        .map(|text| format!("{}\n\n{text}", planned.content)),
                    model,
                    confidence: Some(confidence),
                    clarity: Some(clarity),
                    is_revision: planned.revises_step.is_some(),
                    revises_step: planned.revises_step,
                    branch_from_step: planned.branch_from_step,
                    branch_id: planned.branch_id.map(str::to_owned),
                    metadata: step_metadata(shape.tool, planned, number, total),
                    created_at: Some(at),
                },
            });
            for mut call in calls {
                call.step_id = Some(step_id);
                records.push(IngestRecord::ModelCall {
                    session: shape.session.clone(),
                    call,
                });
            }
            if let Some(found) = &planned.finding
                && let Some(target) = usize::try_from(found.step - 1)
                    .ok()
                    .and_then(|index| step_ids.get(index))
            {
                at += Duration::milliseconds(self.rng.random_range(300..=1500));
                let info = found.bias.info();
                records.push(IngestRecord::Finding {
                    session: shape.session.clone(),
                    finding: NewFinding {
                        id: Some(FindingId(self.uuid())),
                        step_id: Some(*target),
                        detector: DETECTOR.to_owned(),
                        detector_version: DETECTOR_VERSION.to_owned(),
                        bias_type: info.name.to_owned(),
                        severity: found.severity,
                        confidence: found.confidence,
                        explanation: info.explanation.to_owned(),
                        evidence: Some(found.evidence),
                        suggestion: Some(info.suggestion.to_owned()),
                        created_at: Some(at),
                    },
                });
            }
            if let Some(text) = synthesis {
                at += Duration::milliseconds(self.rng.random_range(300..=1500));
                records.push(IngestRecord::Synthesis {
                    session: shape.session.clone(),
                    synthesis: NewSynthesis {
                        id: Some(SynthesisVersionId(self.uuid())),
                        step_id: Some(step_id),
                        step_number: None,
                        input: SynthesisInput::Raw(text),
                        created_at: Some(at),
                    },
                });
            }
            if alerts.contains(&i) {
                at += Duration::milliseconds(self.rng.random_range(300..=1500));
                let event = self.monitor_event(number, step_id, at);
                records.push(IngestRecord::MonitorEvent {
                    session: shape.session.clone(),
                    event,
                });
            }
        }
        if shape.status == SessionStatus::Failed {
            // The last call never came back, retries included, and the session was given up.
            for _ in 0..self.rng.random_range(1..=3) {
                at += Duration::seconds(self.rng.random_range(5..=40));
                let (call, took) = self.failed_call(shape.primary, at);
                records.push(IngestRecord::ModelCall {
                    session: shape.session.clone(),
                    call,
                });
                at += took;
            }
        }
    }

    fn models_for(&mut self, shape: &Shape, caller: Caller) -> Vec<&'static ModelSpec> {
        match caller {
            Caller::Host => Vec::new(),
            Caller::Primary => vec![shape.primary],
            Caller::Verifier => vec![shape.verifier],
            Caller::Agent => {
                let mut models = Vec::new();
                if self.chance(0.5) {
                    models.push(shape.verifier);
                }
                models.push(shape.primary);
                if self.chance(0.3) {
                    models.push(shape.primary);
                }
                models
            }
        }
    }

    /// A successful call and how long it took; the context grows with the step number.
    fn ok_call(
        &mut self,
        model: &ModelSpec,
        step_number: i32,
        at: DateTime<Utc>,
    ) -> (NewModelCall, Duration) {
        let context = i64::from(step_number - 1) * self.rng.random_range(300..=1400);
        let input_tokens = (self.rng.random_range(500..=2200) + context).min(20_000);
        let output_tokens = if self.chance(0.12) {
            self.rng.random_range(1500..=3000)
        } else {
            self.rng.random_range(100..=1200)
        };
        let cached_input_tokens = if model.caches && step_number > 1 && self.chance(0.45) {
            input_tokens * self.rng.random_range(30..=85) / 100
        } else {
            0
        };
        let reasoning_tokens = match model.thinking {
            Thinking::Always => self.rng.random_range(300..=6000),
            Thinking::Sometimes if self.chance(0.4) => self.rng.random_range(200..=2500),
            Thinking::Sometimes | Thinking::Never => 0,
        };
        let latency_ms = (model.first_token_ms
            + (output_tokens + reasoning_tokens) * model.ms_per_token)
            * self.rng.random_range(80..=125)
            / 100;
        let call = NewModelCall {
            id: Some(ModelCallId(self.uuid())),
            cached_input_tokens,
            reasoning_tokens,
            latency_ms,
            created_at: Some(at),
            ..NewModelCall::ok(model.provider, model.model, input_tokens, output_tokens)
        };
        (call, Duration::milliseconds(latency_ms))
    }

    /// A call that failed or timed out, and the time until the caller tried again.
    fn failed_call(&mut self, model: &ModelSpec, at: DateTime<Utc>) -> (NewModelCall, Duration) {
        let (status, error, latency_ms) = if self.chance(0.35) {
            (
                CallStatus::Timeout,
                TIMEOUT_MESSAGE,
                30_000 + self.rng.random_range(0..=40),
            )
        } else {
            (
                CallStatus::Error,
                *self.pick(CALL_ERRORS),
                self.rng.random_range(150..=2500),
            )
        };
        let call = NewModelCall {
            id: Some(ModelCallId(self.uuid())),
            latency_ms,
            status,
            error: Some(error.to_owned()),
            created_at: Some(at),
            ..NewModelCall::ok(model.provider, model.model, 0, 0)
        };
        let backoff = self.rng.random_range(500..=4000);
        (call, Duration::milliseconds(latency_ms + backoff))
    }

    /// Step indices that record a synthesis version: always the last step, up to three before it.
    fn synthesis_points(&mut self, steps: usize) -> Vec<usize> {
        if steps == 0 {
            return Vec::new();
        }
        let wanted = self.rng.random_range(1..=4).min(steps);
        let mut candidates: Vec<usize> = (1..steps - 1).collect();
        let mut points = vec![steps - 1];
        while points.len() < wanted && !candidates.is_empty() {
            let k = self.rng.random_range(0..candidates.len());
            points.push(candidates.swap_remove(k));
        }
        points.sort_unstable();
        points
    }

    /// Step indices after which the monitor raised an alert (never before the third step).
    fn monitor_points(&mut self, tool: Tool, steps: usize) -> Vec<usize> {
        let likelihood = match tool {
            Tool::Traced => 0.7,
            Tool::Agent => 0.35,
            Tool::Sequential => 0.3,
            Tool::Biased => 0.2,
            _ => 0.1,
        };
        if steps < 3 || !self.chance(likelihood) {
            return Vec::new();
        }
        let mut points: Vec<usize> = (0..self.rng.random_range(1..=2))
            .map(|_| self.rng.random_range(2..steps))
            .collect();
        points.sort_unstable();
        points.dedup();
        points
    }

    fn monitor_event(
        &mut self,
        number: i32,
        step_id: StepId,
        at: DateTime<Utc>,
    ) -> NewMonitorEvent {
        let (kind, score, message, data) = match self.rng.random_range(0..3) {
            0 => {
                let earlier = self.rng.random_range(1..number.max(2));
                let similarity = self.score(0.62, 0.91);
                let pattern = if earlier == 1 && self.chance(0.5) {
                    "cycle"
                } else {
                    "direct_repeat"
                };
                (
                    "circular_reasoning",
                    similarity,
                    format!(
                        "Thought {number} restates thought {earlier} (concept similarity {similarity:.2}); the argument is going in circles."
                    ),
                    json!({
                        "pattern": pattern,
                        "similar_to_step": earlier,
                        "similarity": similarity,
                        "threshold": 0.6,
                    }),
                )
            }
            1 => {
                let window = number.min(5);
                let relevance: Vec<f64> = (0..window)
                    .map(|k| {
                        if k + 3 >= window {
                            self.score(0.06, 0.3)
                        } else {
                            self.score(0.45, 0.85)
                        }
                    })
                    .collect();
                let recent = &relevance[relevance.len().saturating_sub(3)..];
                let average = round2(recent.iter().sum::<f64>() / recent.len().max(1) as f64);
                let pattern = *self.pick(&["tangential_drift", "detail_spiral", "topic_hopping"]);
                (
                    "distractor_fixation",
                    round2(1.0 - average),
                    format!(
                        "Thoughts {}–{number} drift away from the original question (average relevance {average:.2}).",
                        (number - 2).max(1)
                    ),
                    json!({
                        "pattern": pattern,
                        "window": 5,
                        "relevance": relevance,
                        "average_relevance": average,
                    }),
                )
            }
            _ => {
                let vocabulary = -self.score(0.2, 0.45);
                let coherence = -self.score(0.1, 0.35);
                let depth = -self.score(0.25, 0.5);
                let trend = *self.pick(&["declining", "degrading"]);
                let window = number.min(5);
                (
                    "quality_degradation",
                    round2(0.45 + (vocabulary.abs() + coherence.abs() + depth.abs()) / 3.0),
                    format!(
                        "Reasoning quality is {trend} over the last {window} thoughts: vocabulary diversity, coherence and depth are falling."
                    ),
                    json!({
                        "trend": trend,
                        "window": window,
                        "vocabulary_diversity_slope": vocabulary,
                        "coherence_slope": coherence,
                        "reasoning_depth_slope": depth,
                    }),
                )
            }
        };
        NewMonitorEvent {
            id: Some(MonitorEventId(self.uuid())),
            step_id: Some(step_id),
            kind: kind.to_owned(),
            severity: severity_of(score),
            score,
            message,
            data: Some(data),
            created_at: Some(at),
        }
    }

    /// Version `version` of `versions` of the session's synthesis, as raw `update_synthesis` text
    /// in one of the three formats models write.
    fn synthesis_text(
        &mut self,
        topic: &Topic,
        version: usize,
        versions: usize,
        step_number: i32,
    ) -> String {
        let versions = versions.max(1);
        let progress = version as f64 / versions as f64;
        let understanding =
            topic.understanding[(version * topic.understanding.len() / versions).saturating_sub(1)];
        let insight_count = (1 + version * topic.insights.len().saturating_sub(1) / versions)
            .min(topic.insights.len());
        let insights: Vec<DraftInsight> = topic.insights[..insight_count]
            .iter()
            .copied()
            .map(|text| DraftInsight {
                text,
                confidence: self.score(
                    (0.5 + 0.3 * progress - 0.08).max(0.3),
                    (0.5 + 0.3 * progress + 0.08).min(0.97),
                ),
                source_step: self.rng.random_range(1..=step_number.max(1)),
                supported: self.chance(0.75),
            })
            .collect();
        let action_count = (version * topic.actions.len() / versions)
            .max(1)
            .min(topic.actions.len());
        let actions: Vec<String> = topic.actions[..action_count]
            .iter()
            .enumerate()
            .map(|(k, &(action, priority, rationale))| {
                let dependencies: Vec<&str> = match k.checked_sub(1) {
                    Some(previous) if self.chance(0.4) => vec![topic.actions[previous].0],
                    _ => Vec::new(),
                };
                let dependencies: Vec<String> = dependencies.into_iter().map(quoted).collect();
                inline_object(&[
                    ("action", quoted(action)),
                    ("priority", quoted(priority)),
                    ("rationale", quoted(rationale)),
                    ("dependencies", format!("[{}]", dependencies.join(", "))),
                ])
            })
            .collect();
        let confidence = self.score(0.35 + 0.45 * progress, 0.45 + 0.45 * progress);
        let clarity = self.score(0.4 + 0.4 * progress, 0.5 + 0.4 * progress);
        let intro = self.text(topic.lang.texts().synthesis_intro);
        let insight_objects = || -> Vec<String> {
            insights
                .iter()
                .map(|insight| insight.render(false))
                .collect()
        };

        match self.rng.random_range(0..3) {
            0 => {
                let body = block_object(&[
                    ("current_understanding", Entry::Value(quoted(understanding))),
                    ("key_insights", Entry::List(insight_objects())),
                    ("action_items", Entry::List(actions)),
                    ("confidence_score", Entry::Value(confidence.to_string())),
                    ("clarity_score", Entry::Value(clarity.to_string())),
                ]);
                format!("{intro}\n\nupdate_synthesis({body})")
            }
            1 => {
                // The original tool's keyword style: insights as plain strings or Python dicts.
                let insight_list: Vec<String> = if self.chance(0.5) {
                    insights
                        .iter()
                        .map(|insight| quoted(insight.text))
                        .collect()
                } else {
                    insights
                        .iter()
                        .map(|insight| insight.render(true))
                        .collect()
                };
                format!(
                    "{intro}\n\nupdate_synthesis(\n    Understanding={},\n    Insights=[\n        {}\n    ],\n    Actions=[\n        {}\n    ],\n    Confidence={confidence},\n    Clarity={clarity}\n)",
                    quoted(understanding),
                    insight_list.join(",\n        "),
                    actions.join(",\n        "),
                )
            }
            _ => {
                let body = block_object(&[
                    ("understanding", Entry::Value(quoted(understanding))),
                    ("insights", Entry::List(insight_objects())),
                    ("action_items", Entry::List(actions)),
                    ("confidence", Entry::Value(confidence.to_string())),
                    ("clarity", Entry::Value(clarity.to_string())),
                ]);
                format!("{intro}\n\n```json\n{body}\n```")
            }
        }
    }

    fn step_scores(&mut self, step: &PlannedStep, index: usize, steps: usize) -> (f64, f64) {
        if step.kind == "bias_check" {
            return (self.score(0.6, 0.95), self.score(0.65, 0.95));
        }
        let progress = index as f64 / steps.max(1) as f64;
        let confidence = self.score(0.35 + 0.4 * progress, 0.55 + 0.4 * progress);
        let clarity = self.score(0.4 + 0.35 * progress, 0.6 + 0.35 * progress);
        (confidence, clarity)
    }

    // ---- small random helpers -----------------------------------------------------------------

    /// When the session started: within the last few hours for active ones, otherwise during the
    /// working day (UTC) of one of the last 30 days, recent days being more likely.
    fn start_time(&mut self, status: SessionStatus) -> DateTime<Utc> {
        if status == SessionStatus::Active {
            return self.now - Duration::seconds(self.rng.random_range(120 * 60..=300 * 60));
        }
        let days_ago = (30.0 * self.rng.random::<f64>().powf(1.3)) as i64;
        let second_of_day = self.rng.random_range(7 * 3600..22 * 3600);
        let day = (self.now - Duration::days(days_ago))
            .date_naive()
            .and_time(NaiveTime::MIN)
            .and_utc();
        let mut start = day + Duration::seconds(second_of_day);
        while start > self.now - Duration::hours(6) {
            start -= Duration::days(1);
        }
        start
    }

    /// A model for the session, never `other` (the verifier differs from the primary model).
    fn model(&mut self, other: Option<&'static ModelSpec>) -> &'static ModelSpec {
        let choices: Vec<(usize, u32)> = MODELS
            .iter()
            .enumerate()
            .filter(|(_, model)| other.is_none_or(|other| other.model != model.model))
            .map(|(index, model)| {
                let weight = if other.is_some() {
                    model.as_verifier
                } else {
                    model.as_primary
                };
                (index, weight)
            })
            .collect();
        &MODELS[self.weighted(&choices)]
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.rng.random_bool(probability.clamp(0.0, 1.0))
    }

    /// Uniform in `low..=high`, rounded to two decimals as a model or detector would report it.
    fn score(&mut self, low: f64, high: f64) -> f64 {
        let low = low.clamp(0.0, 1.0);
        let high = high.clamp(low, 1.0);
        round2(self.rng.random_range(low..=high))
    }

    /// One text of a non-empty table.
    fn text(&mut self, texts: &[&'static str]) -> &'static str {
        texts[self.rng.random_range(0..texts.len())]
    }

    /// One item of a non-empty table.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    /// One item of a non-empty table, by weight.
    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        for &(item, weight) in items {
            if roll < weight {
                return item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }
}

/// An insight of a synthesis draft.
struct DraftInsight {
    text: &'static str,
    confidence: f64,
    source_step: i32,
    supported: bool,
}

impl DraftInsight {
    /// The insight as a one-line object; `python` writes the boolean the Python way.
    fn render(&self, python: bool) -> String {
        let supported = match (python, self.supported) {
            (true, true) => "True",
            (true, false) => "False",
            (false, true) => "true",
            (false, false) => "false",
        };
        inline_object(&[
            ("insight", quoted(self.text)),
            ("confidence", self.confidence.to_string()),
            ("source_step", self.source_step.to_string()),
            ("supported_by_evidence", supported.to_owned()),
        ])
    }
}

/// A value of [`block_object`], already rendered as JSON text.
enum Entry {
    Value(String),
    List(Vec<String>),
}

/// `{"key": value, ...}` on one line, keys in the given order; values are JSON text.
fn inline_object(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}: {value}", quoted(key)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// An object laid out the way models write one: a key per line, list items one per line, keys in
/// the given order (serde_json would sort them).
fn block_object(fields: &[(&str, Entry)]) -> String {
    let lines: Vec<String> = fields
        .iter()
        .map(|(key, entry)| match entry {
            Entry::Value(value) => format!("  {}: {value}", quoted(key)),
            Entry::List(items) if items.is_empty() => format!("  {}: []", quoted(key)),
            Entry::List(items) => {
                format!("  {}: [\n    {}\n  ]", quoted(key), items.join(",\n    "))
            }
        })
        .collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}

/// The number the next step of `plan` will get.
fn next_number(plan: &[PlannedStep]) -> i32 {
    plan.len() as i32 + 1
}

fn step_metadata(tool: Tool, step: &PlannedStep, number: i32, total: i32) -> Option<Value> {
    match step.kind {
        "bias_check" => Some(json!({
            "checked_step": step.checks,
            "bias_detected": step.finding.is_some(),
        })),
        "thought" => Some(json!({
            "thought_number": number,
            "total_thoughts": total,
            "next_thought_needed": number < total,
        })),
        "plan" if tool == Tool::Planner => Some(json!({
            "step_number": number,
            "total_steps": total,
            "next_step_required": number < total,
        })),
        _ => None,
    }
}

fn severity_of(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::Critical
    } else if score >= 0.8 {
        Severity::High
    } else if score >= 0.7 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A JSON string literal, which Python reads the same way.
fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

/// Replaces each `{placeholder}` of a template.
fn fill_in(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(key, value)
        })
}

/// splitmix64, to turn `(seed, index)` into well-spread seeds for the per-session streams.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn session_seed(seed: u64, index: u64) -> u64 {
    splitmix(seed ^ splitmix(index))
}

/// Whether `c` (followed by `next`) ends a clause: CJK punctuation always, ASCII punctuation only
/// before a space or the end, so "1.3 s" and "1,800" stay whole.
fn is_clause_break(c: char, next: Option<char>) -> bool {
    match c {
        '。' | '、' | '？' | '！' | '；' => true,
        ',' | '.' | ';' | ':' | '?' | '!' => next.is_none_or(char::is_whitespace),
        _ => false,
    }
}

/// Where the clause containing byte `from` ends (a char boundary); at most ~200 bytes on.
/// When a generated record happened, so a finished session ends with its last record.
fn record_time(record: &IngestRecord) -> Option<DateTime<Utc>> {
    match record {
        IngestRecord::Session(session) => session.created_at,
        IngestRecord::Step { step, .. } => step.created_at,
        IngestRecord::ModelCall { call, .. } => call.created_at,
        IngestRecord::Synthesis { synthesis, .. } => synthesis.created_at,
        IngestRecord::Finding { finding, .. } => finding.created_at,
        IngestRecord::MonitorEvent { event, .. } => event.created_at,
    }
}

fn clause_end(content: &str, from: usize) -> usize {
    let Some(rest) = content.get(from..) else {
        return from.min(content.len());
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        if is_clause_break(c, chars.peek().map(|&(_, next)| next)) {
            return if offset > 200 { from } else { from + offset };
        }
    }
    if rest.len() > 200 {
        from
    } else {
        content.len()
    }
}

/// The clauses of `content` as byte spans (trimmed, on char boundaries), skipping tiny ones.
fn clauses(content: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut chars = content.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if is_clause_break(c, chars.peek().map(|&(_, next)| next)) {
            push_clause(content, start, at, &mut spans);
            start = at + c.len_utf8();
        }
    }
    push_clause(content, start, content.len(), &mut spans);
    spans
}

fn push_clause(content: &str, start: usize, end: usize, spans: &mut Vec<Span>) {
    let Some(piece) = content.get(start..end) else {
        return;
    };
    let trimmed = piece.trim();
    if trimmed.chars().count() >= 6 {
        let lead = piece.len() - piece.trim_start().len();
        spans.push(Span {
            start: start + lead,
            end: start + lead + trimmed.len(),
        });
    }
}

// ---- data tables ------------------------------------------------------------------------------

const TOOLS: &[(Tool, u32)] = &[
    (Tool::Traced, 22),
    (Tool::Biased, 18),
    (Tool::Confer, 14),
    (Tool::Planner, 12),
    (Tool::Sequential, 12),
    (Tool::Hybrid, 10),
    (Tool::Agent, 12),
];

const STATUSES: &[(SessionStatus, u32)] = &[
    (SessionStatus::Completed, 70),
    (SessionStatus::Active, 12),
    (SessionStatus::Failed, 9),
    (SessionStatus::Abandoned, 9),
];

const CLIENTS: &[(&str, u32)] = &[("claude-desktop", 45), ("cursor", 35), ("api", 20)];

const SEVERITIES: &[(Severity, u32)] = &[
    (Severity::Low, 40),
    (Severity::Medium, 35),
    (Severity::High, 20),
    (Severity::Critical, 5),
];

const BRANCH_IDS: &[&str] = &["alt-1", "alternative", "option-b"];

struct ModelSpec {
    provider: &'static str,
    model: &'static str,
    first_token_ms: i64,
    ms_per_token: i64,
    thinking: Thinking,
    /// Whether the provider reports prompt-cache hits.
    caches: bool,
    as_primary: u32,
    as_verifier: u32,
}

/// Every model here has a price in the shipped list, so its calls cost something.
const MODELS: &[ModelSpec] = &[
    ModelSpec {
        provider: "openai",
        model: "gpt-4o",
        first_token_ms: 450,
        ms_per_token: 11,
        thinking: Thinking::Never,
        caches: true,
        as_primary: 22,
        as_verifier: 4,
    },
    ModelSpec {
        provider: "openai",
        model: "gpt-4o-mini",
        first_token_ms: 300,
        ms_per_token: 7,
        thinking: Thinking::Never,
        caches: true,
        as_primary: 6,
        as_verifier: 30,
    },
    ModelSpec {
        provider: "openai",
        model: "o3-mini",
        first_token_ms: 1800,
        ms_per_token: 5,
        thinking: Thinking::Always,
        caches: true,
        as_primary: 10,
        as_verifier: 6,
    },
    ModelSpec {
        provider: "openai",
        model: "gpt-5-mini",
        first_token_ms: 1400,
        ms_per_token: 5,
        thinking: Thinking::Always,
        caches: true,
        as_primary: 12,
        as_verifier: 18,
    },
    ModelSpec {
        provider: "anthropic",
        model: "claude-sonnet-4-20250514",
        first_token_ms: 800,
        ms_per_token: 16,
        thinking: Thinking::Never,
        caches: true,
        as_primary: 24,
        as_verifier: 2,
    },
    ModelSpec {
        provider: "anthropic",
        model: "claude-haiku-4-5",
        first_token_ms: 350,
        ms_per_token: 6,
        thinking: Thinking::Never,
        caches: true,
        as_primary: 4,
        as_verifier: 24,
    },
    ModelSpec {
        provider: "google",
        model: "gemini-2.5-flash",
        first_token_ms: 500,
        ms_per_token: 4,
        thinking: Thinking::Sometimes,
        caches: true,
        as_primary: 12,
        as_verifier: 16,
    },
    ModelSpec {
        provider: "openrouter",
        model: "anthropic/claude-sonnet-4",
        first_token_ms: 1100,
        ms_per_token: 17,
        thinking: Thinking::Never,
        caches: false,
        as_primary: 10,
        as_verifier: 1,
    },
];

const TIMEOUT_MESSAGE: &str = "no response within 30 s (LUX_REQUEST_TIMEOUT_SECS)";

const CALL_ERRORS: &[&str] = &[
    "429 Too Many Requests: rate limit reached for requests per minute",
    "503 Service Unavailable: the model is overloaded, please retry",
    "502 Bad Gateway from upstream provider",
    "connection reset by peer while reading the response",
];

struct BiasInfo {
    name: &'static str,
    /// Indexed by [`Lang`].
    labels: [&'static str; 3],
    explanation: &'static str,
    suggestion: &'static str,
}

/// In the order of [`Bias`].
const BIASES: [BiasInfo; 9] = [
    BiasInfo {
        name: "confirmation",
        labels: ["confirmation bias", "Bestätigungsfehler", "確証バイアス"],
        explanation: "The step cites only evidence that supports the working hypothesis and skips observations that contradict it.",
        suggestion: "Name one observation that would falsify the hypothesis and check it before moving on.",
    },
    BiasInfo {
        name: "anchoring",
        labels: ["anchoring", "Ankereffekt", "アンカリング"],
        explanation: "The estimate stays close to the first number mentioned even though later data points elsewhere.",
        suggestion: "Re-derive the estimate from the latest data without looking at the initial figure.",
    },
    BiasInfo {
        name: "availability",
        labels: [
            "availability bias",
            "Verfügbarkeitsheuristik",
            "利用可能性ヒューリスティック",
        ],
        explanation: "A recent, memorable case is treated as representative without checking how often it actually happens.",
        suggestion: "Compare with the base rate over a longer period.",
    },
    BiasInfo {
        name: "reasoning_error",
        labels: ["a reasoning error", "Denkfehler", "推論の誤り"],
        explanation: "The conclusion does not follow from the premises: a step of the argument is missing or assumed.",
        suggestion: "Write out the missing premise and check whether it holds.",
    },
    BiasInfo {
        name: "over_generalization",
        labels: ["overgeneralisation", "Übergeneralisierung", "過度な一般化"],
        explanation: "A claim about a few observed cases is stated as a rule for all cases.",
        suggestion: "Scope the claim to the cases measured, or gather data from the others.",
    },
    BiasInfo {
        name: "false_equivalence",
        labels: ["false equivalence", "Falsche Gleichsetzung", "誤った同等視"],
        explanation: "Two situations are treated as equivalent although they differ in the aspect that matters here.",
        suggestion: "List the relevant differences before transferring the conclusion.",
    },
    BiasInfo {
        name: "circular_reasoning",
        labels: ["circular reasoning", "Zirkelschluss", "循環論法"],
        explanation: "The conclusion is used as one of its own premises.",
        suggestion: "Support the claim with evidence that does not presuppose it.",
    },
    BiasInfo {
        name: "hasty_conclusion",
        labels: ["a hasty conclusion", "Voreiliger Schluss", "早まった結論"],
        explanation: "The step commits to an answer before the alternatives have been examined.",
        suggestion: "Keep at least two hypotheses open until a test separates them.",
    },
    BiasInfo {
        name: "false_dichotomy",
        labels: ["a false dichotomy", "Falsches Dilemma", "誤った二分法"],
        explanation: "Only two options are considered although others exist, such as a hybrid or a staged approach.",
        suggestion: "Add a third option, even a partial one, and compare all three.",
    },
];

/// A phrase that gives a bias away; the evidence runs from it to the end of its clause.
struct Trigger {
    phrase: &'static str,
    bias: Bias,
}

const TRIGGERS: &[Trigger] = &[
    Trigger {
        phrase: "clearly",
        bias: Bias::HastyConclusion,
    },
    Trigger {
        phrase: "obviously",
        bias: Bias::HastyConclusion,
    },
    Trigger {
        phrase: "must be ",
        bias: Bias::HastyConclusion,
    },
    Trigger {
        phrase: "always ",
        bias: Bias::OverGeneralization,
    },
    Trigger {
        phrase: "Every team",
        bias: Bias::OverGeneralization,
    },
    Trigger {
        phrase: "first estimate",
        bias: Bias::Anchoring,
    },
    Trigger {
        phrase: "confirms what we expected",
        bias: Bias::Confirmation,
    },
    Trigger {
        phrase: "Either ",
        bias: Bias::FalseDichotomy,
    },
    Trigger {
        phrase: "the only ",
        bias: Bias::FalseDichotomy,
    },
    Trigger {
        phrase: "just like",
        bias: Bias::FalseEquivalence,
    },
    Trigger {
        phrase: "looked exactly like",
        bias: Bias::FalseEquivalence,
    },
    Trigger {
        phrase: "recent incident",
        bias: Bias::Availability,
    },
    Trigger {
        phrase: "loudest customers",
        bias: Bias::Availability,
    },
    Trigger {
        phrase: "Therefore ",
        bias: Bias::ReasoningError,
    },
    Trigger {
        phrase: "because they are flaky",
        bias: Bias::CircularReasoning,
    },
    Trigger {
        phrase: "offensichtlich",
        bias: Bias::HastyConclusion,
    },
    Trigger {
        phrase: "Entweder ",
        bias: Bias::FalseDichotomy,
    },
    Trigger {
        phrase: "明らかに",
        bias: Bias::HastyConclusion,
    },
    Trigger {
        phrase: "必ず",
        bias: Bias::OverGeneralization,
    },
    Trigger {
        phrase: "最初の見積もり",
        bias: Bias::Anchoring,
    },
    Trigger {
        phrase: "先週の障害",
        bias: Bias::Availability,
    },
];

/// The generic texts of one language; `{n}` is a step number, `{subject}` the topic's subject.
struct LangTexts {
    users: &'static [&'static str],
    revision: &'static [&'static str],
    branch: &'static [&'static str],
    correction: &'static [&'static str],
    check_clean: &'static [&'static str],
    /// Also `{bias}`, `{severity}`, `{explanation}` and `{suggestion}`.
    check_found: &'static [&'static str],
    synthesis_intro: &'static [&'static str],
    /// Indexed by [`Severity`].
    severity: [&'static str; 5],
}

const EN: LangTexts = LangTexts {
    users: &[
        "alex.chen",
        "priya.raman",
        "sam.okafor",
        "jordan.blake",
        "li.wei",
        "maria.garcia",
    ],
    revision: &[
        "Revising thought {n}: I stated that too strongly. The evidence so far is consistent with it, but it does not rule out the alternatives for {subject}, so I will treat it as a hypothesis and test it.",
        "Going back to thought {n}: I mixed up correlation and cause there. The timing matches, but I need a check that would come out differently if I were wrong about {subject}.",
        "Correction to thought {n}: the number I relied on came from a single sample. Re-reading the data, the effect is real but about half as large as I assumed, which changes how much weight it deserves.",
    ],
    branch: &[
        "Branching from thought {n} to explore the opposite assumption: suppose the first explanation for {subject} is wrong. What would we expect to see, and do we see it?",
        "Alternative path from thought {n}: instead of fixing the symptom, ask what constraint made this outcome likely in the first place, and whether {subject} is one instance of a wider pattern.",
        "Exploring a second option from thought {n}: a smaller, reversible change first, measured for a week, before committing to the larger plan for {subject}.",
    ],
    correction: &[
        "Correction after the bias check of step {n}: I only looked at evidence that supported my first idea. With the counter-evidence added, the conclusion about {subject} holds only under narrower conditions, which I now state explicitly.",
        "Revised step {n}: the argument jumped from one observation to a general rule. Restating it as a claim about the cases we actually measured, and listing what would have to be true for it to generalise.",
        "Reworking step {n} with the verifier's point in mind: the two options are not the only ones. A hybrid option exists and is cheaper to try, so it goes on the list for {subject}.",
    ],
    check_clean: &[
        "Bias check of step {n}: the reasoning cites the measurements it relies on and names an alternative explanation. No significant bias detected.",
        "Step {n} reviewed for confirmation, anchoring and overgeneralisation. The claims are scoped to the data shown; nothing to flag.",
        "Verifier pass on step {n}: the conclusions follow from the stated premises and the uncertainty is acknowledged. Quality looks good.",
    ],
    check_found: &[
        "Bias check of step {n}: the reasoning shows signs of {bias} (severity: {severity}). {explanation}",
        "Verifier review of step {n} found signs of {bias}, severity {severity}. {explanation} {suggestion}",
    ],
    synthesis_intro: &[
        "Updating the synthesis with what the last steps established.",
        "Here is where the analysis stands now.",
        "Recording the current state of understanding before continuing.",
    ],
    severity: ["none", "low", "medium", "high", "critical"],
};

const DE: LangTexts = LangTexts {
    users: &["jonas.becker", "anna.schmidt", "priya.raman"],
    revision: &[
        "Überarbeitung von Gedanke {n}: Das war zu stark formuliert. Die Daten passen dazu, schließen aber andere Erklärungen für {subject} nicht aus; ich behandle es daher als Hypothese und prüfe sie.",
        "Zurück zu Gedanke {n}: Dort habe ich Korrelation und Ursache vermischt. Ich brauche einen Test, der anders ausfiele, wenn ich bei {subject} falsch läge.",
    ],
    branch: &[
        "Abzweigung von Gedanke {n}: Angenommen, die naheliegende Erklärung für {subject} ist falsch. Was müssten wir dann beobachten, und sehen wir das?",
        "Alternative ab Gedanke {n}: zuerst eine kleine, umkehrbare Änderung, eine Woche lang gemessen, bevor wir uns bei {subject} auf den großen Plan festlegen.",
    ],
    correction: &[
        "Korrektur nach der Bias-Prüfung von Schritt {n}: Ich habe nur Belege betrachtet, die meine erste Idee stützen. Mit den Gegenbelegen gilt die Schlussfolgerung zu {subject} nur unter engeren Bedingungen.",
        "Schritt {n} überarbeitet: Die Argumentation sprang von einer Beobachtung zu einer allgemeinen Regel. Ich formuliere sie jetzt nur für die Fälle, die wir tatsächlich gemessen haben.",
    ],
    check_clean: &[
        "Bias-Prüfung von Schritt {n}: Die Argumentation nennt ihre Messwerte und eine alternative Erklärung. Keine nennenswerte Verzerrung gefunden.",
        "Schritt {n} auf Bestätigungsfehler, Ankereffekt und Übergeneralisierung geprüft: Die Aussagen bleiben im Rahmen der Daten.",
    ],
    check_found: &[
        "Bias-Prüfung von Schritt {n}: mögliche Verzerrung „{bias}“ (Schweregrad: {severity}). Die Aussage sollte mit Gegenbelegen geprüft werden.",
        "Prüfung von Schritt {n}: „{bias}“ erkannt, Schweregrad {severity}. Eine Überarbeitung wird empfohlen.",
    ],
    synthesis_intro: &[
        "Ich aktualisiere die Synthese mit den Ergebnissen der letzten Schritte.",
        "Zwischenstand der Analyse:",
    ],
    severity: ["keiner", "niedrig", "mittel", "hoch", "kritisch"],
};

const JA: LangTexts = LangTexts {
    users: &["kenji.tanaka", "yuki.sato"],
    revision: &[
        "思考{n}の見直し：表現が強すぎた。データはこの仮説と矛盾しないが、{subject}について他の説明を排除できていない。仮説として扱い、検証する。",
        "思考{n}に戻る：相関と因果を混同していた。{subject}について自分が間違っていれば結果が変わるような確認が必要だ。",
    ],
    branch: &[
        "思考{n}から分岐：{subject}についての一番わかりやすい説明が間違っていると仮定する。その場合に何が観測されるはずか、実際に観測されているかを確認する。",
        "思考{n}からの別案：大きな計画に踏み切る前に、{subject}について小さく元に戻せる変更を一週間試して測定する。",
    ],
    correction: &[
        "ステップ{n}のバイアス検査を受けた修正：最初の考えを支持する証拠だけを見ていた。反証も含めると、{subject}に関する結論はより限定された条件でのみ成り立つ。",
        "ステップ{n}の修正：一つの観測から一般的な規則を導いていた。実際に測定したケースに限定して主張を述べ直す。",
    ],
    check_clean: &[
        "ステップ{n}のバイアス検査：根拠となる測定値と代替の説明が示されている。目立ったバイアスは検出されなかった。",
        "ステップ{n}を確証バイアス、アンカリング、過度な一般化の観点から確認した。主張はデータの範囲内に収まっている。",
    ],
    check_found: &[
        "ステップ{n}のバイアス検査：{bias}の可能性あり（深刻度：{severity}）。反証となるデータと照らし合わせて確認すべき。",
        "ステップ{n}の検証結果：{bias}を検出（深刻度：{severity}）。修正を推奨する。",
    ],
    synthesis_intro: &[
        "直近のステップで分かったことを統合に反映する。",
        "現時点での理解をまとめる。",
    ],
    severity: ["なし", "低", "中", "高", "重大"],
};

/// A reasoning question with the prose a session about it is made of.
struct Topic {
    slug: &'static str,
    lang: Lang,
    title: &'static str,
    /// A noun phrase for the generic texts ("the checkout latency regression").
    subject: &'static str,
    tags: &'static [&'static str],
    /// The reasoning steps in order; at least six.
    beats: &'static [&'static str],
    /// The final answer, the content of the closing synthesis step.
    conclusion: &'static str,
    /// The current understanding as it evolves over the synthesis versions.
    understanding: &'static [&'static str],
    insights: &'static [&'static str],
    /// `(action, priority, rationale)`.
    actions: &'static [(&'static str, &'static str, &'static str)],
}

const TOPICS: &[Topic] = &[
    Topic {
        slug: "checkout-latency",
        lang: Lang::En,
        title: "Why did p99 checkout latency triple after Tuesday's deploy?",
        subject: "the checkout latency regression",
        tags: &["debugging", "performance", "backend"],
        beats: &[
            "The p99 for POST /checkout went from 420 ms to 1.3 s right after Tuesday's 14:05 deploy, while p50 barely moved. A tail-only regression points at something that affects a minority of requests: lock contention, a cold cache path, or a retry loop.",
            "The deploy touched three things: the ORM upgrade, a new fraud-score call, and the connection pool settings. The fraud-score call is clearly the culprit, since it is the only new network hop on the request path.",
            "Checking the traces instead of assuming: the fraud-score span is 60–90 ms at p99, which explains at most a tenth of the added latency. The slow traces spend most of their time waiting to acquire a database connection.",
            "The pool size was lowered from 50 to 20 per instance in the same deploy, to stay under the new PgBouncer limit. The checkout path holds its connection across the fraud-score call, so effective concurrency dropped much more than the numbers suggest.",
            "Holding a connection while waiting on an external HTTP call means every slow fraud-score response keeps a pool slot busy. At 300 requests per second and 80 ms of extra hold time, that is 24 connections occupied on average, more than the pool allows during bursts.",
            "Prediction to test: if pool exhaustion is the cause, p99 should track pool wait time and drop when the fraud-score call moves before the transaction opens. The staging load test at 300 rps reproduces a 1.2 s p99 with the current code.",
            "Moving the fraud-score call out of the transaction in staging brings p99 back to 450 ms at the same load. Raising the pool back to 50 also fixes it, but only hides the coupling.",
            "One loose end: the ORM upgrade changed the default isolation level for one query, but its timing is unchanged in the traces, so it does not contribute here.",
        ],
        conclusion: "The regression comes from pool exhaustion: the smaller pool combined with a connection held across the new fraud-score call. Fix: call the fraud-score service before opening the transaction, keep the pool at 20, and alert on pool wait time.",
        understanding: &[
            "Tail latency rose after the deploy; the new fraud-score call is the first suspect.",
            "The added latency is spent waiting for database connections, not in the fraud-score call itself.",
            "Pool exhaustion from holding connections across the fraud-score call explains the p99; moving the call out of the transaction fixes it in staging.",
        ],
        insights: &[
            "Regression is tail-only, so look for contention rather than slow code",
            "Slow traces wait on pool acquisition, not on the fraud-score span",
            "Connections held across an HTTP call multiply pool demand",
            "Staging reproduces the regression at 300 rps",
            "The ORM isolation change does not affect timing",
        ],
        actions: &[
            (
                "Move the fraud-score call before the transaction opens",
                "high",
                "Removes the coupling between external latency and pool usage",
            ),
            (
                "Alert on connection pool wait time above 50 ms",
                "medium",
                "Would have caught this within minutes",
            ),
            (
                "Document the pool budget per service in the runbook",
                "low",
                "The pool change was made without knowing the hold times",
            ),
        ],
    },
    Topic {
        slug: "billing-extraction",
        lang: Lang::En,
        title: "Should we split billing out of the monolith into its own service?",
        subject: "the billing extraction",
        tags: &["architecture", "billing", "microservices"],
        beats: &[
            "Billing changes ship with every monolith release, and last quarter two unrelated deploys broke invoice generation. The question is whether extraction fixes that or just moves the coupling into network calls.",
            "Billing reads from seven tables owned by other modules: accounts, plans, usage, discounts, tax regions, invoices and payments. Only the last two are billing's own, so a service would need replicated data or synchronous calls for the rest.",
            "Every team that extracted a service here has regretted it, so extraction is obviously the wrong call. That rests on one data point, the search service, which had very different data ownership.",
            "A cheaper first step is a module boundary inside the monolith: billing gets its own schema, a narrow interface, and an architecture test that fails the build on any direct table access from outside.",
            "Release coupling can be addressed separately: a feature flag around the invoice pipeline plus contract tests for the usage export would have caught both incidents last quarter.",
            "Extraction becomes worth it if billing needs a different scaling or compliance profile. PCI scope reduction is a real driver: keeping card data handling out of the monolith shrinks the audit surface.",
            "Decision criteria: extract only after the module boundary has held for two quarters with no cross-module table reads, and only if the compliance team confirms the audit savings.",
        ],
        conclusion: "Do not extract billing now. Enforce a module boundary inside the monolith first, add contract tests and a flag around invoicing to stop release breakage, and revisit extraction once the boundary holds and the PCI scope savings are confirmed.",
        understanding: &[
            "Billing breaks because it shares releases and tables with the rest of the monolith.",
            "Most of billing's data belongs to other modules, so extraction would add network coupling; a module boundary addresses the same pain more cheaply.",
            "Enforce the boundary and contract tests now; extraction is justified later only by compliance scope, not by release pain.",
        ],
        insights: &[
            "Billing owns only two of the seven tables it reads",
            "Both incidents would have been caught by contract tests",
            "Past extraction regrets came from a service with different data ownership",
            "PCI scope reduction is the strongest argument for extraction",
        ],
        actions: &[
            (
                "Create a billing schema and an architecture test forbidding cross-module table access",
                "high",
                "Makes the boundary enforceable before any extraction",
            ),
            (
                "Add contract tests for the usage export consumed by billing",
                "high",
                "Both incidents last quarter broke this interface",
            ),
            (
                "Ask compliance to estimate the PCI audit savings of a separate billing service",
                "medium",
                "The only driver that would justify extraction",
            ),
        ],
    },
    Topic {
        slug: "wau-drop",
        lang: Lang::En,
        title: "Is the 12% drop in weekly active users real or a tracking artifact?",
        subject: "the WAU drop",
        tags: &["analytics", "data-quality", "growth"],
        beats: &[
            "Weekly active users fell 12% in the week of the 14th. Before explaining it with product changes, check whether the measurement changed: the analytics SDK was upgraded in the 3.8 release the same week.",
            "The drop is concentrated on iOS (−27%) while web and Android are flat. A real behaviour change would rarely hit one platform that hard, which makes a tracking cause more likely.",
            "The 3.8 iOS release switched session events to batch upload. Users who open the app briefly and leave may never flush the batch, so their activity is not counted.",
            "Cross-checking with server logs: authenticated API requests from iOS are down only 2% week over week. Server-side activity did not collapse, so the users are still there.",
            "Therefore the 12% drop is entirely the SDK change. That overstates it: the 2% decline in API traffic is within normal seasonality, but it could also hide a small real decline.",
            "To separate the two, recompute WAU from server logs for the last eight weeks and compare the trend with the SDK-based metric before and after the release.",
        ],
        conclusion: "The WAU drop is mostly a tracking artifact from batched event upload in iOS 3.8; server-side activity fell only about 2%, within normal variation. Fix the flush on backgrounding and backfill WAU from server logs for the affected weeks.",
        understanding: &[
            "WAU fell 12% in one week; an SDK upgrade shipped the same week.",
            "The drop is almost entirely on iOS while server-side activity is nearly flat, pointing to lost events.",
            "Batched uploads in iOS 3.8 lose events from short sessions; the real decline is at most about 2%.",
        ],
        insights: &[
            "The drop is concentrated on iOS after the SDK change",
            "Server-side iOS activity fell only 2%",
            "Batched uploads drop events from short sessions",
            "A small real decline cannot be ruled out yet",
        ],
        actions: &[
            (
                "Flush the event batch when the app moves to the background",
                "high",
                "Stops the data loss at its source",
            ),
            (
                "Backfill WAU from server logs for the affected weeks",
                "medium",
                "Dashboards and board reporting use this metric",
            ),
            (
                "Alert when client and server activity diverge per platform",
                "medium",
                "Would flag the next tracking regression within a day",
            ),
        ],
    },
    Topic {
        slug: "onboarding-redesign",
        lang: Lang::En,
        title: "Which of three onboarding redesigns should we build first?",
        subject: "the onboarding redesign",
        tags: &["product", "onboarding", "prioritisation"],
        beats: &[
            "Three candidates: (A) a guided checklist, (B) importing data from the user's previous tool, (C) a template gallery. Activation, defined as creating a second project within seven days, is 31% today.",
            "Interview notes show the most common reason for leaving in week one is an empty workspace: users do not want to rebuild their data by hand. That favours B and C over A.",
            "B is the winner because the two loudest customers in last week's calls asked for importers. Two enterprise prospects are not a representative sample of self-serve signups, though.",
            "Looking at the funnel instead: 58% of new users never create a first project at all. Of those who do, 54% reach activation. The biggest loss is before the first project, which templates address most directly.",
            "Effort estimates: A two weeks, B six weeks for the two most common source tools, C three weeks including ten templates. C has the best expected gain per week of work.",
            "Risk check on C: templates might create shallow projects that inflate the metric without real usage. Measure the second project created from scratch as a guard metric.",
            "Plan: ship C first, run it as an experiment against the current flow for three weeks, and start B's importer for the most requested tool in parallel with one engineer.",
        ],
        conclusion: "Build the template gallery first: the largest drop-off is before the first project and C is the cheapest way to address it. Run it as a three-week experiment with a guard metric, and start one importer in parallel.",
        understanding: &[
            "Activation is 31%; three redesigns compete for the next cycle.",
            "Most users are lost before creating a first project; templates target that step directly, importers serve a smaller group.",
            "Template gallery first as an experiment with a guard metric, one importer in parallel.",
        ],
        insights: &[
            "58% of signups never create a first project",
            "Importer demand comes mostly from enterprise prospects",
            "Templates offer the best expected gain per week",
            "A guard metric is needed against shallow template projects",
        ],
        actions: &[
            (
                "Build the template gallery with ten templates",
                "high",
                "Targets the largest funnel drop",
            ),
            (
                "Set up a three-week experiment with a second-project guard metric",
                "high",
                "Prevents inflated activation from counting as success",
            ),
            (
                "Start the importer for the most requested source tool",
                "medium",
                "Serves enterprise demand without blocking the main bet",
            ),
        ],
    },
    Topic {
        slug: "etl-month-start",
        lang: Lang::En,
        title: "Why does the nightly ETL job fail only on the first of the month?",
        subject: "the month-start ETL failure",
        tags: &["debugging", "data-pipeline", "etl"],
        beats: &[
            "The nightly ETL has failed on the 1st of each of the last four months and succeeded every other night. The error is an out-of-memory kill in the aggregation stage after about 40 minutes.",
            "On the 1st the job also runs the monthly rollup, which aggregates the whole previous month in one pass. The daily run only touches one day of data.",
            "The month-start failure must be caused by data growth, since volume grew 35% this quarter. But the failures started four months ago, before most of that growth.",
            "The rollup query plan groups by customer and product with a hash aggregate. The number of distinct product SKUs tripled after the catalogue import in the spring, which inflates the hash table.",
            "The executor memory is still 8 GB, set two years ago. With three times the groups the hash aggregate spills badly, and then the container limit kills it.",
            "Options: raise memory to 16 GB, pre-aggregate daily and roll up the daily aggregates, or partition the monthly rollup by product category. Rolling up daily aggregates keeps memory flat as the month grows.",
        ],
        conclusion: "The month-start failures come from the monthly rollup's hash aggregate outgrowing 8 GB after the SKU count tripled. Compute the monthly rollup from daily aggregates; as a stopgap, raise executor memory for the run on the 1st.",
        understanding: &[
            "Only the run on the 1st fails, with an out-of-memory kill in aggregation.",
            "The monthly rollup aggregates a whole month at once; the tripled SKU count inflates its hash table.",
            "Rolling up from daily aggregates fixes memory growth; more memory is only a stopgap.",
        ],
        insights: &[
            "Only the monthly rollup runs on the 1st",
            "SKU count tripled after the catalogue import",
            "Executor memory has not changed in two years",
            "Daily pre-aggregation keeps memory flat",
        ],
        actions: &[
            (
                "Raise executor memory to 16 GB for the run on the 1st",
                "high",
                "Prevents next month's failure while the fix lands",
            ),
            (
                "Rewrite the monthly rollup to aggregate daily aggregates",
                "high",
                "Removes the dependency on month size",
            ),
            (
                "Alert on aggregation memory above 80% of the limit",
                "low",
                "Early warning before the next growth step",
            ),
        ],
    },
    Topic {
        slug: "event-store",
        lang: Lang::En,
        title: "PostgreSQL or DynamoDB for the new event store?",
        subject: "the event store choice",
        tags: &["architecture", "database", "decision"],
        beats: &[
            "The event store must take about 2,000 writes per second at peak, keep events for 13 months, and serve two read patterns: all events of one aggregate in order, and a global feed for projections.",
            "DynamoDB handles the per-aggregate pattern well with the aggregate id as partition key and the sequence number as sort key. The global ordered feed is the hard part: streams give per-shard order only.",
            "PostgreSQL gives both patterns with one table and two indexes, plus transactions for optimistic concurrency on the aggregate version. 2,000 writes per second is well within a single well-sized instance.",
            "The team has run PostgreSQL for six years and has no DynamoDB experience. Operational familiarity matters: the last outage was prolonged by unfamiliar tooling.",
            "DynamoDB is the only option that will scale, just like it did for the ordering team. That comparison is weak: ordering had 50 times our write volume and no global ordering requirement.",
            "Storage: 13 months at about 300 events per second on average is roughly 10 billion events. Time partitioning in PostgreSQL keeps indexes manageable and makes expiry a partition drop.",
            "Decision: PostgreSQL with monthly partitions, a global sequence for the feed, and an aggregate version check. Revisit if sustained writes exceed 10,000 per second.",
        ],
        conclusion: "Use PostgreSQL: it serves both read patterns with transactions, the volume fits one instance with monthly partitions, and the team knows how to run it. DynamoDB's strength is scale we do not need, at the cost of the global feed.",
        understanding: &[
            "Two read patterns and about 2,000 writes per second decide the choice.",
            "DynamoDB fits per-aggregate reads but not the global ordered feed; PostgreSQL fits both at this volume.",
            "PostgreSQL with monthly partitions, revisited above 10,000 writes per second.",
        ],
        insights: &[
            "The global ordered feed is hard on DynamoDB",
            "Peak volume fits a single PostgreSQL instance",
            "The team has six years of PostgreSQL operations",
            "Partition drops make retention cheap",
        ],
        actions: &[
            (
                "Prototype the events table with monthly partitions and a global sequence",
                "high",
                "Validates write throughput and feed ordering",
            ),
            (
                "Load test at three times the peak write rate",
                "medium",
                "Confirms headroom before committing",
            ),
            (
                "Write the decision record with the revisit trigger",
                "low",
                "Makes the conditions for revisiting explicit",
            ),
        ],
    },
    Topic {
        slug: "team-plan-pricing",
        lang: Lang::En,
        title: "How should we price the new team plan?",
        subject: "team plan pricing",
        tags: &["pricing", "product", "strategy"],
        beats: &[
            "The team plan adds shared workspaces, roles and SSO. Individuals pay $12 per user per month today. Competitors charge between $15 and $25 per seat for comparable team features.",
            "Our first estimate was $20 per seat, and every scenario since has landed near $20. That suggests the first number is steering the analysis rather than the data.",
            "Starting from value instead: teams in the beta reported saving about two hours a month per member on coordination. At a loaded cost of $60 per hour, the value ceiling is far above any seat price we are discussing.",
            "Willingness to pay from the beta survey: median $18 per seat, with a long tail of larger teams happy to pay more for SSO. SSO is the feature that most separates team needs from individual ones.",
            "Option: $16 per seat for the team plan and SSO in an enterprise tier at $28. This keeps the team plan an easy upgrade and prices SSO where its value is concentrated.",
            "Risk: a two-tier structure adds complexity to the pricing page. Test the page with five prospects before launch.",
        ],
        conclusion: "Price the team plan at $16 per seat and move SSO into a $28 enterprise tier. The survey median and the concentration of SSO value support the split; validate the pricing page with prospects before launch.",
        understanding: &[
            "The team plan needs a per-seat price between our $12 individual plan and competitors' $15–25.",
            "Anchoring on $20 distorted early scenarios; survey data puts the median at $18 with SSO driving the high end.",
            "$16 per seat for teams, SSO in a $28 enterprise tier.",
        ],
        insights: &[
            "Early scenarios were anchored on the first $20 estimate",
            "Survey median willingness to pay is $18 per seat",
            "SSO concentrates value for larger teams",
            "Two tiers add pricing page complexity",
        ],
        actions: &[
            (
                "Test the two-tier pricing page with five prospects",
                "high",
                "Checks that the split is understood",
            ),
            (
                "Model revenue for $16 and $18 team prices against the beta cohort",
                "medium",
                "Quantifies the trade-off before launch",
            ),
            (
                "Prepare an SSO add-on for existing large customers",
                "low",
                "Avoids surprising current customers who need SSO",
            ),
        ],
    },
    Topic {
        slug: "samsung-crashes",
        lang: Lang::En,
        title: "Why is the Android app's crash rate higher on Samsung devices?",
        subject: "the Samsung crash spike",
        tags: &["debugging", "android", "mobile"],
        beats: &[
            "Crash-free sessions are 99.4% overall but 98.1% on Samsung devices since version 5.2. The top crash is an IllegalStateException in the camera preview fragment.",
            "Samsung is 41% of our Android users, so part of the gap could be volume. But the rate per session is what differs, so volume does not explain it.",
            "The stack trace shows the fragment accessing the camera after onPause. One UI 6 releases the camera aggressively when the app goes to the background, earlier than other vendors do.",
            "Version 5.2 moved the camera setup into a coroutine that can finish after the fragment is paused. On devices that release the camera early, the coroutine touches a released camera.",
            "This always happens on Samsung devices, so we should special-case the vendor. That overgeneralises: only One UI 6 devices show the crash, and vendor checks rot quickly.",
            "The lifecycle-correct fix is to tie the coroutine to the view lifecycle and check the camera state before use, which is correct for every vendor.",
        ],
        conclusion: "The crash comes from a camera-setup coroutine outliving the fragment's pause on One UI 6, which releases the camera early. Scope the coroutine to the view lifecycle instead of adding a vendor check, and add a lifecycle test.",
        understanding: &[
            "Samsung devices crash more since 5.2, in the camera preview fragment.",
            "A coroutine introduced in 5.2 can use the camera after onPause; One UI 6 releases the camera earlier than other vendors.",
            "Scope the coroutine to the view lifecycle; no vendor special case.",
        ],
        insights: &[
            "The crash rate per session differs, not only volume",
            "One UI 6 releases the camera early in the background",
            "The 5.2 coroutine outlives the paused fragment",
            "Vendor-specific checks would hide the real bug",
        ],
        actions: &[
            (
                "Scope camera setup to the view lifecycle and check camera state",
                "high",
                "Fixes the race for every vendor",
            ),
            (
                "Add an instrumentation test that pauses during camera setup",
                "medium",
                "Prevents regressions",
            ),
            (
                "Watch crash-free sessions on One UI 6 after release",
                "low",
                "Confirms the fix in the field",
            ),
        ],
    },
    Topic {
        slug: "search-ab-test",
        lang: Lang::En,
        title: "Does the A/B test show the new search ranking increases conversion?",
        subject: "the search ranking experiment",
        tags: &["experimentation", "statistics", "search"],
        beats: &[
            "The experiment ran two weeks with 48,000 users per arm. Conversion is 4.12% in control and 4.31% in treatment, a relative lift of 4.6%, with p = 0.04 on a two-sided test.",
            "The result confirms what we expected from the offline metrics, so we can ship. But the test was checked daily and would have been stopped on the first significant day, which inflates false positives.",
            "Looking at the daily results: the p-value crossed 0.05 three times and came back above it twice. With repeated peeking, a nominal 0.04 corresponds to a much higher real false-positive rate.",
            "Sample ratio check: 48,212 against 47,790 users, within expectations for a 50/50 split. No sign of assignment bugs.",
            "Segment view: the lift is concentrated in queries with more than three words (+9%) and absent for short queries. That matches the ranking change, which mostly affects long-tail queries.",
            "A sequential test or a pre-registered fixed horizon would give a trustworthy answer. Running another two weeks with a fixed end date and a single analysis is cheap.",
        ],
        conclusion: "The evidence is suggestive but not conclusive: p = 0.04 comes from a test that was peeked at daily. The long-query segment shows a plausible mechanism. Extend the test two weeks with a fixed horizon before shipping.",
        understanding: &[
            "Treatment shows a 4.6% relative lift with p = 0.04.",
            "Daily peeking inflates the false-positive rate; the lift is concentrated in long queries, consistent with the change.",
            "Run a fixed-horizon extension before deciding.",
        ],
        insights: &[
            "Repeated peeking undermines the nominal p-value",
            "The sample ratio is healthy",
            "Lift concentrates in queries over three words",
            "A fixed-horizon extension is cheap",
        ],
        actions: &[
            (
                "Extend the experiment two weeks with a fixed analysis date",
                "high",
                "Gives a trustworthy significance test",
            ),
            (
                "Pre-register the long-query segment hypothesis",
                "medium",
                "Avoids another post-hoc finding",
            ),
            (
                "Add sequential testing to the experiment platform",
                "low",
                "Makes peeking safe in future tests",
            ),
        ],
    },
    Topic {
        slug: "websocket-migration",
        lang: Lang::En,
        title: "Plan the migration from REST polling to WebSockets for live dashboards",
        subject: "the WebSocket migration",
        tags: &["planning", "realtime", "frontend"],
        beats: &[
            "Dashboards poll /metrics every 5 seconds; with 3,000 open dashboards that is 600 requests per second, most returning unchanged data. Goal: push updates and cut load without breaking customers behind restrictive proxies.",
            "Step 1: a WebSocket gateway that subscribes to the metrics bus and fans out per dashboard. It needs sticky sessions at the load balancer and a heartbeat to detect dead connections.",
            "Step 2: the client library gets a transport abstraction, WebSocket first with a fallback to polling when the upgrade fails, so corporate proxies keep working.",
            "Step 3: roll out behind a flag to internal users, then to 10% of customers, measuring message latency, reconnect rate and server memory per connection.",
            "Either we migrate everyone at once or we keep polling forever; in practice a long tail of old clients means supporting both for months, which the fallback already gives us.",
            "Step 4: once 90% of sessions use WebSockets, lengthen the polling interval for the remaining clients to 15 seconds to reduce load further.",
        ],
        conclusion: "Migrate in four steps: a WebSocket gateway with heartbeats, a client transport with polling fallback, a flagged rollout measured on latency, reconnects and memory, and a longer polling interval for the remaining clients.",
        understanding: &[
            "Polling costs 600 requests per second for mostly unchanged data.",
            "A gateway plus a client transport with fallback allows a gradual migration that keeps proxy users working.",
            "A four-step plan with a flagged rollout and clear metrics.",
        ],
        insights: &[
            "Most polling responses carry unchanged data",
            "Fallback to polling keeps proxy users working",
            "Sticky sessions and heartbeats are prerequisites",
            "Rollout metrics: latency, reconnects, memory per connection",
        ],
        actions: &[
            (
                "Build the WebSocket gateway with heartbeats and sticky sessions",
                "high",
                "Foundation for everything else",
            ),
            (
                "Add a transport abstraction with polling fallback to the client",
                "high",
                "Keeps customers behind proxies working",
            ),
            (
                "Define rollout dashboards for latency, reconnect rate and memory",
                "medium",
                "Needed to judge each rollout stage",
            ),
        ],
    },
    Topic {
        slug: "gateway-502s",
        lang: Lang::En,
        title: "Root cause of intermittent 502s from the API gateway",
        subject: "the intermittent 502s",
        tags: &["debugging", "infrastructure", "networking"],
        beats: &[
            "About 0.3% of requests through the gateway return 502, in bursts of a few seconds, roughly every ten minutes. Upstream services log no errors for these requests.",
            "No upstream log line means the request either never reached the service or the connection failed before the response. The gateway log shows 'upstream prematurely closed connection'.",
            "The recent incident with the DNS resolver looked exactly like this, so it must be DNS again. But DNS failures produce 503s with a resolver error in our gateway, not premature closes.",
            "Premature closes on reused connections usually mean the upstream closed an idle keep-alive connection just as the gateway sent a new request on it: a race between two idle timeouts.",
            "The upstream keep-alive timeout is 60 s, the gateway's idle timeout is 75 s. The gateway keeps connections longer than the upstream does, which is the wrong way round.",
            "The ten-minute rhythm matches a batch job that causes a traffic dip: connections go idle long enough for the upstream to close them, then the next burst reuses them.",
        ],
        conclusion: "The 502s are a keep-alive race: the gateway keeps idle upstream connections for 75 s while upstreams close them after 60 s. Set the gateway idle timeout below the upstream keep-alive (50 s) and retry idempotent requests once on a premature close.",
        understanding: &[
            "Short 502 bursts with no upstream errors point to connection-level failures.",
            "Premature closes come from upstreams closing idle keep-alive connections the gateway still reuses.",
            "The gateway idle timeout must be below the upstream keep-alive; add a retry for idempotent requests.",
        ],
        insights: &[
            "No upstream logs for the failed requests",
            "Gateway idle timeout exceeds upstream keep-alive",
            "Bursts follow the traffic dip of a batch job",
            "The DNS explanation does not match the error signature",
        ],
        actions: &[
            (
                "Set the gateway upstream idle timeout to 50 s",
                "high",
                "Removes the race",
            ),
            (
                "Retry idempotent requests once on a premature close",
                "medium",
                "Covers the remaining edge cases",
            ),
            (
                "Document timeout ordering rules in the platform guide",
                "low",
                "Prevents the same mistake in other services",
            ),
        ],
    },
    Topic {
        slug: "frontend-monorepo",
        lang: Lang::En,
        title: "Should we adopt a monorepo for our five frontend apps?",
        subject: "the monorepo decision",
        tags: &["architecture", "frontend", "tooling"],
        beats: &[
            "Five frontend apps share a design system and an API client, published as npm packages. A design system change takes three to five days to reach all apps because each bumps versions separately.",
            "A monorepo would make shared changes atomic: one pull request updates the component and every usage. The cost is CI time and tooling: builds must be incremental or every commit rebuilds everything.",
            "Two of the five apps are maintained by an agency with its own release cadence. A monorepo would force them onto our CI and review process.",
            "Monorepos always slow teams down at our size. That generalises from one painful migration story; with remote caching, incremental builds are standard now.",
            "Middle path: move the three in-house apps plus the shared packages into a monorepo with remote caching, and keep publishing the packages for the agency apps.",
            "Success measure: time from a design system change to all in-house apps updated under one day, and CI time per pull request no higher than today's 12 minutes.",
        ],
        conclusion: "Adopt a monorepo for the three in-house apps and the shared packages, with remote build caching, while keeping published packages for the two agency apps. Measure propagation time and CI time.",
        understanding: &[
            "Shared changes take days to propagate across five apps.",
            "A monorepo makes them atomic but the agency-run apps do not fit our process.",
            "A monorepo for the in-house apps and shared code, published packages for the agency apps.",
        ],
        insights: &[
            "Version bumps delay shared changes by days",
            "Agency apps have a separate cadence and process",
            "Remote caching makes incremental builds practical",
            "A hybrid setup gets most of the benefit",
        ],
        actions: &[
            (
                "Set up the monorepo with remote caching for the three in-house apps",
                "high",
                "Main benefit with limited disruption",
            ),
            (
                "Keep publishing shared packages for the agency apps",
                "medium",
                "Avoids forcing them into our CI",
            ),
            (
                "Track propagation time and CI duration for two months",
                "medium",
                "Confirms the move pays off",
            ),
        ],
    },
    Topic {
        slug: "cloud-spend-q3",
        lang: Lang::En,
        title: "Forecast Q3 cloud spend and find the biggest savings",
        subject: "the Q3 cloud spend",
        tags: &["finops", "forecasting", "cost"],
        beats: &[
            "Cloud spend was $182k in April, $191k in May and $204k in June. A linear fit projects about $650k for Q3, but growth has been accelerating, so a linear fit probably underestimates.",
            "Breaking it down: compute 52%, storage 21%, data transfer 14%, managed databases 13%. The growth is almost entirely in compute and transfer.",
            "Compute growth comes from the new ML feature pipelines, which run on on-demand GPU instances around the clock although jobs run only six hours a day.",
            "Transfer cost rose after the CDN origin moved to another region last month; cross-region traffic is billed in both directions. This one is a configuration mistake, not growth.",
            "Savings options: scale GPU nodes to zero outside job windows (about $18k per month), move the origin back or add a regional cache ($9k per month), and commit to a one-year savings plan for the stable baseline (about 20% on $90k).",
            "Forecast with the savings applied: roughly $560k for Q3 instead of $680k on the current trend.",
        ],
        conclusion: "Q3 is on track for about $680k. Scaling GPU nodes to zero outside job windows, fixing the cross-region CDN origin and a savings plan for the baseline bring it to about $560k.",
        understanding: &[
            "Spend rose from $182k to $204k a month over Q2.",
            "Growth is in GPU compute running idle and in cross-region transfer after a CDN change.",
            "Three measures cut the Q3 forecast from about $680k to about $560k.",
        ],
        insights: &[
            "GPU nodes run around the clock for six hours of jobs",
            "Cross-region transfer comes from a CDN origin move",
            "Baseline compute is stable enough for a savings plan",
            "Linear extrapolation underestimates accelerating growth",
        ],
        actions: &[
            (
                "Scale GPU node pools to zero outside job windows",
                "high",
                "Largest single saving",
            ),
            (
                "Move the CDN origin back to the primary region",
                "high",
                "Removes a configuration mistake",
            ),
            (
                "Buy a one-year savings plan for baseline compute",
                "medium",
                "About 20% off stable spend",
            ),
        ],
    },
    Topic {
        slug: "q3-roadmap",
        lang: Lang::En,
        title: "Prioritise the Q3 roadmap with only two backend engineers",
        subject: "the Q3 roadmap",
        tags: &["planning", "roadmap", "product"],
        beats: &[
            "Candidates for Q3: audit log export (requested by four enterprise customers), usage-based billing (finance), a public API v2 (partners), and the queue migration (engineering).",
            "Capacity is two backend engineers for twelve weeks, minus on-call and holidays: about 18 engineer-weeks. The estimates add up to 34, so half of the list has to wait.",
            "Audit log export blocks two renewals worth $240k ARR in September. That makes it the item with the hardest deadline and the most measurable revenue at risk.",
            "The queue migration looks optional, but the old queue reaches end-of-life in November; if it slips into Q4 it collides with the holiday freeze.",
            "Usage-based billing and API v2 have softer deadlines. API v2 can be reduced to the two endpoints partners actually asked for, about 3 engineer-weeks instead of 10.",
            "Proposed plan: audit log export (5 weeks), queue migration (7), reduced API v2 (3), and 3 weeks of buffer. Usage-based billing moves to Q4 with finance's agreement.",
        ],
        conclusion: "Q3: audit log export first (renewals at risk), then the queue migration (end-of-life in November), then a reduced API v2; usage-based billing moves to Q4. This fits 18 engineer-weeks with buffer.",
        understanding: &[
            "34 engineer-weeks of requests compete for 18.",
            "Audit log export and the queue migration have hard deadlines; API v2 can be cut down.",
            "Audit export, queue migration, reduced API v2; billing in Q4.",
        ],
        insights: &[
            "Capacity is about 18 engineer-weeks",
            "Audit log export protects $240k of renewals",
            "The old queue reaches end-of-life in November",
            "Partners need only two API v2 endpoints",
        ],
        actions: &[
            (
                "Confirm with finance that usage-based billing moves to Q4",
                "high",
                "Removes the largest item from Q3",
            ),
            (
                "Scope API v2 to the two requested endpoints",
                "medium",
                "Cuts the estimate from 10 to 3 weeks",
            ),
            (
                "Schedule the queue migration before the November end-of-life",
                "high",
                "Avoids the holiday freeze",
            ),
        ],
    },
    Topic {
        slug: "recsys-online-gap",
        lang: Lang::En,
        title: "Why did the recommendation model's offline gains not show up online?",
        subject: "the offline–online gap",
        tags: &["machine-learning", "recommendations", "experimentation"],
        beats: &[
            "The new model improved offline NDCG@10 by 8% but the online test showed no change in click-through or purchases after two weeks.",
            "Offline evaluation uses logged interactions from the old model's recommendations. Items the old model never showed have no clicks, so the offline metric rewards imitating the old model.",
            "The offline gain must be real because the evaluation set is large. Size does not fix selection bias: a million biased samples are still biased.",
            "Checking feature parity: the online service computes the 'recent views' feature from a cache refreshed hourly, while training used exact timestamps. The model relies heavily on that feature.",
            "Replaying one day of online requests through the offline pipeline shows a different recent-views feature in 23% of requests. That skew alone could erase the gain.",
            "Next: fix the feature skew by logging served features and training on them, and add a counterfactual evaluation with inverse propensity weighting.",
        ],
        conclusion: "Two causes explain the gap: offline NDCG rewards imitating the old model, and the online recent-views feature differs from training in 23% of requests. Train on logged served features and add propensity-weighted offline evaluation.",
        understanding: &[
            "An 8% offline gain produced no online change.",
            "Offline metrics are biased toward the old model and a key feature is skewed between training and serving.",
            "Fix feature logging and use counterfactual evaluation before the next test.",
        ],
        insights: &[
            "Logged data only covers items the old model showed",
            "Evaluation set size does not remove selection bias",
            "The recent-views feature differs in 23% of online requests",
            "Served-feature logging removes training–serving skew",
        ],
        actions: &[
            (
                "Log served features and train on them",
                "high",
                "Removes training–serving skew",
            ),
            (
                "Add inverse propensity weighting to offline evaluation",
                "medium",
                "Reduces bias toward the old model",
            ),
            (
                "Replay a day of traffic before every online test",
                "low",
                "Catches skew before spending a test slot",
            ),
        ],
    },
    Topic {
        slug: "node-worker-leak",
        lang: Lang::En,
        title: "Memory leak in the Node.js worker after upgrading to v20",
        subject: "the worker memory leak",
        tags: &["debugging", "nodejs", "memory"],
        beats: &[
            "After the upgrade from Node 18 to 20, worker memory grows about 150 MB per hour until the container is OOM-killed after roughly ten hours. Throughput and code are unchanged.",
            "Heap snapshots an hour apart show growth in retained closures from the HTTP client's socket 'close' listeners. The number of listeners grows with every job.",
            "Node 20 is obviously leaking, so we should roll back. Before that, check whether our code adds listeners: the retry wrapper attaches a 'close' listener on each attempt and never removes it.",
            "Node 18 used a different keep-alive default: sockets were destroyed after each request, so listeners were collected with them. Node 20 keeps sockets alive, so listeners accumulate on long-lived sockets.",
            "So the bug has been in the retry wrapper since it was written; Node 20's keep-alive default only made it visible. Rolling back would hide it again.",
            "Fix: register the listener with once() and remove it when the request completes, and add a test that runs 10,000 jobs and asserts that the listener count stays flat.",
        ],
        conclusion: "The leak is our retry wrapper adding a 'close' listener per attempt; Node 20 keeps sockets alive by default, so listeners pile up. Remove the listener on completion instead of rolling Node back.",
        understanding: &[
            "Memory grows steadily after the Node 20 upgrade.",
            "Listeners accumulate on long-lived keep-alive sockets; the retry wrapper adds one per attempt.",
            "Fix the wrapper and test listener counts; no rollback.",
        ],
        insights: &[
            "Retained closures come from socket close listeners",
            "Node 20 keeps sockets alive by default",
            "The bug predates the upgrade",
            "A listener-count test prevents recurrence",
        ],
        actions: &[
            (
                "Remove the close listener when the request completes",
                "high",
                "Fixes the leak",
            ),
            (
                "Add a 10,000-job test asserting a flat listener count",
                "medium",
                "Catches regressions",
            ),
            (
                "Alert on heap growth in workers",
                "low",
                "Faster detection next time",
            ),
        ],
    },
    Topic {
        slug: "sso-rollout",
        lang: Lang::En,
        title: "How do we roll out SSO without locking out existing customers?",
        subject: "the SSO rollout",
        tags: &["security", "planning", "identity"],
        beats: &[
            "Enterprise customers want SSO enforcement: once enabled, password login is disabled for their domain. The risk is that an admin who misconfigures the identity provider locks the whole company out.",
            "Every misconfiguration we saw in the beta was a wrong certificate or entity ID. A test-login step before enforcement would have caught all of them.",
            "Rollout design: SSO can be enabled in an optional mode first, where both login methods work. Enforcement requires at least one successful SSO login by an admin within the last 24 hours.",
            "Break-glass access: one owner account per organisation keeps password plus hardware key login even under enforcement, audited and alerted on use.",
            "Existing sessions: on enforcement, active password sessions stay valid until they expire rather than being cut, to avoid interrupting work in the middle of the day.",
            "Communication: an in-app banner for admins two weeks before general availability, and docs with provider-specific guides for Okta, Entra ID and Google.",
        ],
        conclusion: "Roll out SSO with an optional mode, enforcement gated on a recent successful admin SSO login, a break-glass owner account, existing sessions left to expire, and provider-specific docs.",
        understanding: &[
            "SSO enforcement risks locking out whole organisations on a misconfiguration.",
            "Beta failures were all configuration errors that a test login would catch.",
            "Optional mode, gated enforcement, a break-glass account and gradual session expiry.",
        ],
        insights: &[
            "All beta lockouts were certificate or entity ID mistakes",
            "A test-login gate prevents most lockouts",
            "Break-glass access must be audited",
            "Cutting live sessions would interrupt work",
        ],
        actions: &[
            (
                "Implement the optional mode and the enforcement gate",
                "high",
                "Core protection against lockouts",
            ),
            (
                "Add a break-glass owner account with a hardware key",
                "high",
                "Recovery path after a misconfiguration",
            ),
            (
                "Write provider guides for Okta, Entra ID and Google",
                "medium",
                "Reduces configuration errors",
            ),
        ],
    },
    Topic {
        slug: "churn-drivers",
        lang: Lang::En,
        title: "Is churn driven by price or by missing integrations?",
        subject: "the churn drivers",
        tags: &["analytics", "churn", "research"],
        beats: &[
            "Monthly logo churn in the SMB segment rose from 3.1% to 4.4% over two quarters. Sales believes it is the January price increase; product believes it is missing integrations.",
            "Exit survey: 38% cite price, 27% missing integrations, 20% a switch to a competitor. But the survey's first option is 'too expensive', and first options are chosen more often.",
            "Cohort view: churn rose equally for customers on grandfathered prices and those on new prices. If price were the main driver, grandfathered customers should churn less.",
            "Customers who connected at least one integration churn at 1.9% against 5.6% for those who connected none. That is correlation: engaged customers also connect more integrations.",
            "The competitor most named in exits launched native integrations with two accounting tools in December, the same tools our customers request most.",
            "Test: offer the two most requested integrations in beta to a random half of at-risk accounts and compare churn over the next quarter.",
        ],
        conclusion: "The evidence points to integrations more than price: churn rose equally for grandfathered customers, and the main competitor added the integrations our users request. Run a randomised integration beta on at-risk accounts to confirm.",
        understanding: &[
            "SMB churn rose from 3.1% to 4.4%; price and integrations are competing explanations.",
            "Grandfathered customers churn just as much, weakening the price explanation; integration use correlates with retention.",
            "Integrations are the likelier driver; a randomised beta will confirm it.",
        ],
        insights: &[
            "Survey option order inflates price answers",
            "Grandfathered customers churn at the same rate",
            "Integration use correlates with retention",
            "The top competitor launched the requested integrations",
        ],
        actions: &[
            (
                "Run a randomised beta of the two requested integrations",
                "high",
                "Separates cause from correlation",
            ),
            (
                "Randomise the exit survey option order",
                "medium",
                "Removes the order bias",
            ),
            (
                "Share the cohort analysis with sales leadership",
                "low",
                "Aligns teams on the evidence",
            ),
        ],
    },
    Topic {
        slug: "api-rate-limits",
        lang: Lang::En,
        title: "How should we design rate limiting for the public API?",
        subject: "the API rate limits",
        tags: &["architecture", "api", "reliability"],
        beats: &[
            "The public API has no limits today; one customer's import script caused a 20-minute degradation last week. Limits should protect the service without breaking legitimate bulk use.",
            "Algorithm: a token bucket per API key allows bursts while bounding the average rate. Fixed windows cause thundering herds at window boundaries.",
            "Storage: counters in Redis with a Lua script for an atomic check-and-decrement; a local in-process cache with a short TTL keeps latency low for hot keys.",
            "Limits per plan: 10 requests per second for free, 50 for team, 200 for enterprise, with a separate bucket for expensive endpoints like search and export.",
            "Clients need to adapt: every response carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers, and 429 responses include Retry-After.",
            "Rollout: a log-only mode for two weeks to see who would be limited, then contact those customers, then enforce.",
        ],
        conclusion: "A token bucket per API key in Redis with a local cache, plan-based limits plus a separate bucket for expensive endpoints, standard rate-limit headers with Retry-After, and a two-week log-only phase before enforcement.",
        understanding: &[
            "One customer's script degraded the API; limits are needed without breaking bulk use.",
            "Token buckets per key with plan limits and a separate budget for expensive endpoints.",
            "Roll out in log-only mode first, with headers so clients can adapt.",
        ],
        insights: &[
            "Fixed windows cause bursts at boundaries",
            "Expensive endpoints need their own budget",
            "Headers let clients back off gracefully",
            "Log-only mode shows who would be affected",
        ],
        actions: &[
            (
                "Implement token buckets in Redis with a local cache",
                "high",
                "The core mechanism",
            ),
            (
                "Run log-only mode for two weeks",
                "high",
                "Avoids surprising customers",
            ),
            (
                "Document limits and headers in the API reference",
                "medium",
                "Clients need to adapt before enforcement",
            ),
        ],
    },
    Topic {
        slug: "support-assistant",
        lang: Lang::En,
        title: "Should we fine-tune or use retrieval for the support assistant?",
        subject: "the support assistant approach",
        tags: &["llm", "architecture", "support"],
        beats: &[
            "The support assistant must answer questions about our product from 1,800 help articles that change weekly, and cite its sources.",
            "Fine-tuning teaches style and format well but bakes facts in at training time; with weekly changes the model would be out of date between retrains, and it cannot cite.",
            "Retrieval keeps facts current and gives citations for free. Its weak point is retrieval quality: if the right article is not in the top results, the answer is wrong.",
            "Fine-tuning is the only way to get good answers, since the base model hallucinated in our first test. That test had no retrieval at all, so it says nothing about retrieval.",
            "An evaluation set of 200 real tickets with reference answers allows a comparison: retrieval with a reranker answered 81% correctly, against 64% for the fine-tuned model without retrieval.",
            "A small fine-tune for tone and refusal behaviour on top of retrieval could still help; it is an optimisation, not the foundation.",
        ],
        conclusion: "Use retrieval with a reranker as the foundation: it answered 81% of real tickets correctly, stays current with weekly article changes and cites sources. Consider a light fine-tune for tone later.",
        understanding: &[
            "The assistant needs current answers with citations from changing help articles.",
            "Retrieval fits changing content and citations; fine-tuning alone goes stale.",
            "Retrieval with reranking wins on the ticket evaluation; fine-tuning is an optional later step.",
        ],
        insights: &[
            "Help articles change weekly",
            "Fine-tuned facts go stale between retrains",
            "Reranked retrieval answered 81% of tickets correctly",
            "The first hallucination test had no retrieval",
        ],
        actions: &[
            (
                "Build retrieval with a reranker over the help articles",
                "high",
                "Best measured accuracy",
            ),
            (
                "Run the 200-ticket evaluation set in CI",
                "medium",
                "Guards against regressions",
            ),
            (
                "Try a light fine-tune for tone after launch",
                "low",
                "Possible polish",
            ),
        ],
    },
    Topic {
        slug: "flaky-tests",
        lang: Lang::En,
        title: "Flaky integration tests: fix, quarantine, or delete?",
        subject: "the flaky test suite",
        tags: &["testing", "engineering", "ci"],
        beats: &[
            "Of 1,400 integration tests, 46 failed intermittently in the last month and caused 31% of CI reruns. Developers now rerun red builds by reflex, which hides real failures.",
            "Categorising the 46: 19 depend on wall-clock time or sleeps, 12 share database state with other tests, 9 call a third-party sandbox, 6 are unexplained.",
            "One argument in the thread was that these tests fail because they are flaky, and they are flaky because they fail. That explains nothing; the categories above are the actual causes.",
            "Time-dependent tests can be fixed with an injectable clock; shared-state tests need per-test schemas or transactions rolled back after each test.",
            "The sandbox tests cannot be made reliable from our side. They belong in a nightly suite with retries, not in the merge gate.",
            "Deleting the 6 unexplained tests is tempting, but two of them cover the payment refund path, which has no other coverage.",
            "Policy: a test that fails intermittently twice in a week is quarantined automatically with a ticket to its owner, and quarantined tests older than 30 days are reviewed.",
        ],
        conclusion: "Fix the 31 time- and state-dependent tests, move the 9 sandbox tests to a nightly suite, investigate the 6 unexplained ones (two guard refunds), and adopt automatic quarantine with owners and a 30-day review.",
        understanding: &[
            "46 flaky tests cause a third of CI reruns and train people to ignore red builds.",
            "Most flakiness comes from time, shared state and a third-party sandbox, each with a different fix.",
            "Fix, move to nightly, investigate, and quarantine automatically with owners.",
        ],
        insights: &[
            "Reflexive reruns hide real failures",
            "Most flaky tests depend on time or shared state",
            "Sandbox tests do not belong in the merge gate",
            "Two unexplained tests guard the refund path",
        ],
        actions: &[
            (
                "Introduce an injectable clock and per-test schemas",
                "high",
                "Fixes 31 of the 46 tests",
            ),
            (
                "Move sandbox tests to a nightly suite with retries",
                "medium",
                "Removes external flakiness from merges",
            ),
            (
                "Automate quarantine with owner tickets and a 30-day review",
                "medium",
                "Keeps flakiness from building up again",
            ),
        ],
    },
    Topic {
        slug: "retouren-anstieg",
        lang: Lang::De,
        title: "Warum steigen die Retouren im Onlineshop seit März?",
        subject: "die steigende Retourenquote",
        tags: &["analyse", "e-commerce", "retouren"],
        beats: &[
            "Die Retourenquote ist von 18 % im Februar auf 24 % im April gestiegen. Bevor wir Ursachen suchen, prüfe ich, ob sich die Zählweise geändert hat: Seit März werden Teilretouren separat erfasst.",
            "Rechnet man Teilretouren wie früher zusammen, liegt die Quote bei 22 %. Ein Teil des Anstiegs ist also eine Messänderung, aber nicht alles.",
            "Der Anstieg konzentriert sich auf Schuhe und Jacken. Als Grund wird am häufigsten „fällt kleiner aus“ angegeben, offensichtlich ist also die neue Größentabelle schuld.",
            "Die neue Größentabelle wurde am 4. März eingeführt, aber nur für zwei Marken. Bei den anderen Marken ist die Quote ebenfalls gestiegen, die Tabelle erklärt also höchstens einen Teil.",
            "Seit März läuft außerdem die Kampagne „kostenloser Rückversand“. Kunden bestellen häufiger zwei Größen und schicken eine zurück; Bestellungen mit zwei Größen desselben Artikels haben sich verdoppelt.",
            "Nächster Schritt: Retouren nach Kampagnenteilnahme und Marke aufschlüsseln und für die zwei Marken die Größentabelle mit den Herstellerangaben abgleichen.",
        ],
        conclusion: "Der Anstieg hat drei Ursachen: die geänderte Erfassung von Teilretouren, Auswahlbestellungen durch den kostenlosen Rückversand und bei zwei Marken eine fehlerhafte Größentabelle. Tabelle korrigieren und den Kampagneneffekt messen.",
        understanding: &[
            "Die Retourenquote stieg von 18 % auf 24 %; ein Teil ist eine Änderung der Erfassung.",
            "Auswahlbestellungen seit der Rückversand-Kampagne und die Größentabelle zweier Marken treiben den Rest.",
            "Größentabelle korrigieren und den Effekt der Kampagne getrennt messen.",
        ],
        insights: &[
            "Teilretouren werden seit März separat gezählt",
            "Bestellungen mit zwei Größen haben sich verdoppelt",
            "Die Größentabelle betrifft nur zwei Marken",
            "„Fällt kleiner aus“ ist der häufigste Grund",
        ],
        actions: &[
            (
                "Größentabelle der zwei Marken mit Herstellerangaben abgleichen",
                "high",
                "Direkte Ursache für Größenretouren",
            ),
            (
                "Retourenquote nach Kampagnenteilnahme aufschlüsseln",
                "medium",
                "Trennt den Kampagneneffekt von anderen Ursachen",
            ),
            (
                "Dashboard auf die alte Zählweise umschaltbar machen",
                "low",
                "Vergleichbarkeit mit dem Vorjahr",
            ),
        ],
    },
    Topic {
        slug: "lager-kubernetes",
        lang: Lang::De,
        title: "Sollen wir die Lagerverwaltung auf Kubernetes migrieren?",
        subject: "die Migration der Lagerverwaltung",
        tags: &["architektur", "kubernetes", "entscheidung"],
        beats: &[
            "Die Lagerverwaltung läuft auf drei virtuellen Maschinen mit manuellen Deployments, etwa einmal pro Monat. Alle anderen Dienste laufen bereits auf Kubernetes.",
            "Das Hauptargument ist Einheitlichkeit: gleiche Pipelines, gleiches Monitoring, gleiche Rufbereitschaft. Zwei Kollegen kennen die VMs, alle kennen den Cluster.",
            "Die Anwendung hält Sitzungszustand im Speicher und schreibt Etiketten-PDFs ins lokale Dateisystem. Beides verträgt sich nicht mit Pods, die jederzeit neu gestartet werden.",
            "Entweder migrieren wir jetzt komplett oder wir lassen alles, wie es ist. Das ist ein falsches Dilemma: Zuerst können wir Zustand und Dateien auslagern, das verbessert auch den Betrieb auf den VMs.",
            "Aufwand: Sitzungen nach Redis und PDFs in den Objektspeicher etwa drei Wochen, danach die eigentliche Migration etwa eine Woche.",
            "Risiko: Die Etikettendrucker im Lager sprechen über ein altes Protokoll direkt mit der Anwendung; das muss vor dem Umzug getestet werden.",
        ],
        conclusion: "Migrieren, aber in zwei Schritten: erst Sitzungszustand und Dateien auslagern (auch auf den VMs nützlich), dann nach einem Test der Etikettendrucker auf Kubernetes umziehen.",
        understanding: &[
            "Die Lagerverwaltung ist der letzte Dienst außerhalb des Clusters.",
            "Zustand im Speicher und lokale Dateien verhindern einen direkten Umzug.",
            "Zuerst den Zustand auslagern, dann nach einem Druckertest migrieren.",
        ],
        insights: &[
            "Nur zwei Kollegen kennen den VM-Betrieb",
            "Sitzungszustand und PDFs liegen lokal",
            "Die Auslagerung hilft auch ohne Migration",
            "Die Etikettendrucker nutzen ein altes Protokoll",
        ],
        actions: &[
            (
                "Sitzungen nach Redis und PDFs in den Objektspeicher verlagern",
                "high",
                "Voraussetzung für den Umzug",
            ),
            (
                "Etikettendrucker gegen eine Testumgebung im Cluster prüfen",
                "high",
                "Größtes technisches Risiko",
            ),
            (
                "Runbook für den Umzug schreiben",
                "medium",
                "Den Rückweg klar definieren",
            ),
        ],
    },
    Topic {
        slug: "payment-timeouts",
        lang: Lang::Ja,
        title: "決済APIのタイムアウトが夕方に集中する原因は？",
        subject: "夕方の決済タイムアウト",
        tags: &["障害調査", "決済", "性能"],
        beats: &[
            "決済APIのタイムアウトは一日全体では0.2%だが、17時から19時の間だけ1.5%まで上がる。まず、この時間帯に何が変わるのかを洗い出す。",
            "夕方はアクセスが一日で最も多い時間帯なので、明らかに負荷が原因だ。しかし昼のピークも同程度のリクエスト数なのに、タイムアウトは増えていない。",
            "夕方だけ動いているものを調べると、17時に開始する売上集計バッチがある。このバッチは決済と同じデータベースに対して重いクエリを実行している。",
            "バッチ実行中はデータベースのCPU使用率が85%を超え、決済のクエリの待ち時間が約4倍になっている。時間帯もタイムアウトの増加と一致する。",
            "先週の障害と同じくネットワークの問題だと考えていたが、ネットワークの指標には異常がなく、この仮説は否定された。",
            "対策として、バッチを読み取り専用レプリカで実行するか、実行時間を深夜に移す。レプリカに移せば時間帯を変えずに済む。",
        ],
        conclusion: "夕方のタイムアウトは、17時に始まる売上集計バッチが決済と同じデータベースに負荷をかけていることが原因。バッチを読み取り専用レプリカに移し、データベースの待ち時間を監視する。",
        understanding: &[
            "タイムアウトは夕方の時間帯にだけ増えている。",
            "同じ時間帯に動く売上集計バッチがデータベースを圧迫している。",
            "バッチをレプリカに移せば決済への影響を取り除ける。",
        ],
        insights: &[
            "昼のピークではタイムアウトが増えない",
            "17時開始のバッチが同じデータベースを使う",
            "バッチ中はクエリ待ち時間が約4倍",
            "ネットワーク仮説は指標で否定された",
        ],
        actions: &[
            (
                "売上集計バッチを読み取り専用レプリカで実行する",
                "high",
                "決済への負荷を直接取り除く",
            ),
            (
                "データベースのクエリ待ち時間にアラートを設定する",
                "medium",
                "再発を早期に検知する",
            ),
            (
                "バッチ処理の実行ルールを文書化する",
                "low",
                "他のバッチでも同じ問題を防ぐ",
            ),
        ],
    },
    Topic {
        slug: "release-order",
        lang: Lang::Ja,
        title: "新機能のリリース順序をどう決めるか",
        subject: "新機能のリリース順序",
        tags: &["企画", "ロードマップ", "優先順位"],
        beats: &[
            "次の四半期に出せる新機能は、共有カレンダー、モバイルのオフライン対応、CSVエクスポート、通知設定の細分化の四つ。全部を同時に出す余力はない。",
            "最初の見積もりでは共有カレンダーが最優先だったが、それは営業の要望が最も多かったという理由だけで、利用データは見ていなかった。",
            "サポートへの問い合わせを集計すると、CSVエクスポートの要望が最も多く、しかも実装は約一週間で済む。効果に対する工数が最も小さい。",
            "オフライン対応は必ず全ユーザーに必要だと考えていたが、実際にモバイルを使うユーザーは全体の18%で、そのうち電波の悪い環境での利用はさらに少ない。",
            "通知設定は解約理由の上位に入っており、小さな変更で解約率に効く可能性がある。",
            "順序案：CSVエクスポート、通知設定、共有カレンダー、オフライン対応。各リリース後に利用率と問い合わせ件数を確認して次を見直す。",
        ],
        conclusion: "CSVエクスポート、通知設定、共有カレンダー、オフライン対応の順でリリースする。工数対効果と解約理由のデータに基づき、各リリース後に利用状況を見て順序を見直す。",
        understanding: &[
            "四つの新機能のうち、どれから出すかを決める必要がある。",
            "問い合わせデータでは、CSVエクスポートが最も需要が高く工数も小さい。",
            "工数対効果の順にリリースし、結果を見て順序を見直す。",
        ],
        insights: &[
            "最初の優先順位は営業の声だけに基づいていた",
            "CSVエクスポートは要望が最多で一週間で作れる",
            "モバイル利用者は全体の18%",
            "通知設定は解約理由の上位",
        ],
        actions: &[
            (
                "CSVエクスポートを最初にリリースする",
                "high",
                "最小の工数で最大の要望に応える",
            ),
            (
                "通知設定の細分化を設計する",
                "medium",
                "解約率の改善が期待できる",
            ),
            (
                "リリースごとに利用率を確認する仕組みを作る",
                "low",
                "順序の見直しに必要",
            ),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthesis::parse_update;

    #[test]
    fn topics_have_what_sessions_need() {
        assert!(TOPICS.len() >= 25);
        for topic in TOPICS {
            assert!(topic.beats.len() >= 6, "{}", topic.slug);
            assert_eq!(topic.understanding.len(), 3, "{}", topic.slug);
            assert!(topic.insights.len() >= 3, "{}", topic.slug);
            assert!(!topic.actions.is_empty(), "{}", topic.slug);
        }
        for (bias, info) in Bias::ALL.iter().zip(&BIASES) {
            assert_eq!(bias.info().name, info.name);
        }
        let model_weights: u32 = MODELS.iter().map(|m| m.as_primary + m.as_verifier).sum();
        assert!(model_weights > 0);
    }

    #[test]
    fn every_synthesis_draft_parses() {
        let mut generator = SessionGen::new(3, 0, Utc::now());
        for topic in TOPICS {
            for versions in 1..=4 {
                for version in 1..=versions {
                    // Enough draws that each of the three formats comes up for every shape.
                    for _ in 0..6 {
                        let text = generator.synthesis_text(topic, version, versions, 4);
                        let update = parse_update(&text)
                            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", topic.slug));
                        assert!(update.current_understanding.is_some(), "{text}");
                        assert!(!update.insights.is_empty(), "{text}");
                        assert!(!update.action_items.is_empty(), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn evidence_spans_are_clauses_of_the_text() {
        let mut generator = SessionGen::new(5, 0, Utc::now());
        for topic in TOPICS {
            for beat in topic.beats {
                for _ in 0..4 {
                    let Some(found) = generator.finding_for(beat, 1, 1.0, 1.0) else {
                        panic!("a certain finding was not made");
                    };
                    let text = beat
                        .get(found.evidence.start..found.evidence.end)
                        .expect("span on char boundaries");
                    assert!(!text.trim().is_empty(), "{beat}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_and_index_generate_the_same_records() {
        let now = Utc::now();
        let first = SessionGen::new(11, 4, now).generate();
        let again = SessionGen::new(11, 4, now).generate();
        assert_eq!(first, again);
        let other = SessionGen::new(12, 4, now).generate();
        assert_ne!(first, other);
    }
}
