//! Synthetic history at benchmark scale (a million steps in minutes): rows written with bare
//! `insert_many` in large transactions, skipping the services' validation, analysis and change
//! log, so that analytics, search and export can be measured at the size the design targets.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

use lux_entity::synthesis_version;
use lux_entity::{action_item, bias_finding, insight, model_call, monitor_event, session, step};

use crate::domain::ProjectId;
use crate::error::Result;
use crate::store::Lux;

/// Sessions written per transaction.
const SESSIONS_PER_TX: usize = 250;
/// Rows per `INSERT`, under SQLite's bound-parameter limit for the widest table.
const ROWS_PER_INSERT: usize = 1000;

const TOOLS: &[&str] = &[
    "sequential_thinking",
    "traced_reasoning",
    "biased_reasoning",
    "confer",
    "planner",
    "hybrid_biased_reasoning",
];
/// `(provider, model, nano-USD per input token, per output token)`.
const MODELS: &[(&str, &str, i64, i64)] = &[
    ("openai", "gpt-4o", 2_500, 10_000),
    ("openai", "gpt-4o-mini", 150, 600),
    ("anthropic", "claude-sonnet-4", 3_000, 15_000),
    ("anthropic", "claude-haiku-3.5", 800, 4_000),
    ("google", "gemini-2.0-flash", 100, 400),
    ("openrouter", "deepseek/deepseek-r1", 550, 2_190),
];
const BIASES: &[&str] = &[
    "anchoring",
    "confirmation",
    "overconfidence",
    "false_dichotomy",
    "sunk_cost",
    "availability",
    "hasty_generalization",
];
const ALERTS: &[&str] = &["circular_reasoning", "low_confidence", "drift", "stall"];
const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
const SUBJECTS: &[&str] = &[
    "the cache eviction policy",
    "the tokenizer in the ingest path",
    "the tenant index on sessions",
    "the retry budget of the payment client",
    "the p99 latency after deploys",
    "the flamegraph of the scheduler",
    "the schema migration plan",
    "the cost of the verifier model",
    "la caché de consultas",
    "die Warteschlange der Exporte",
];
const CLAIMS: &[&str] = &[
    "explains the regression only after warm-up",
    "is the likelier cause than the network",
    "needs a measurement before any change",
    "was ruled out by the shard comparison",
    "points at lock contention under load",
    "matches what the incident timeline shows",
];
const NEXT: &[&str] = &[
    "Compare hit ratios per shard next.",
    "Check the slow-query log for the same window.",
    "Write down what result would change this conclusion.",
    "Ask for the load-test numbers before deciding.",
    "Revert the flag on one node and watch the error rate.",
];

/// How much history to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkOptions {
    pub sessions: usize,
    /// Steps in all, spread evenly over the sessions.
    pub steps: usize,
    /// Sessions start over this many days before now.
    pub days: i64,
    pub seed: u64,
}

/// What was written, and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkSummary {
    pub sessions: usize,
    pub steps: usize,
    pub model_calls: usize,
    pub findings: usize,
    pub monitor_events: usize,
    pub synthesis_versions: usize,
    pub elapsed: Duration,
}

impl BulkSummary {
    pub fn rows(&self) -> usize {
        self.sessions
            + self.steps
            + self.model_calls
            + self.findings
            + self.monitor_events
            + self.synthesis_versions
    }
}

#[derive(Default)]
struct Rows {
    sessions: Vec<session::ActiveModel>,
    steps: Vec<step::ActiveModel>,
    calls: Vec<model_call::ActiveModel>,
    findings: Vec<bias_finding::ActiveModel>,
    events: Vec<monitor_event::ActiveModel>,
    versions: Vec<synthesis_version::ActiveModel>,
    insights: Vec<insight::ActiveModel>,
    actions: Vec<action_item::ActiveModel>,
}

impl Lux {
    /// Writes `options.sessions` sessions holding `options.steps` steps with model calls,
    /// findings, monitor alerts and synthesis versions; `progress` hears the steps written so far.
    pub async fn fill_bulk(
        &self,
        project: ProjectId,
        options: &BulkOptions,
        mut progress: impl FnMut(usize),
    ) -> Result<BulkSummary> {
        let started = Instant::now();
        let now = self.now();
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut summary = BulkSummary::default();
        let sessions = options.sessions.max(1);
        let mut index = 0;
        while index < sessions {
            let end = (index + SESSIONS_PER_TX).min(sessions);
            let mut rows = Rows::default();
            for n in index..end {
                // Steps spread evenly: the first `steps % sessions` sessions get one more.
                let steps = options.steps / sessions + usize::from(n < options.steps % sessions);
                generate_session(&mut rng, &mut rows, project, now, options.days, steps);
            }
            summary.sessions += rows.sessions.len();
            summary.steps += rows.steps.len();
            summary.model_calls += rows.calls.len();
            summary.findings += rows.findings.len();
            summary.monitor_events += rows.events.len();
            summary.synthesis_versions += rows.versions.len();
            let tx = self.begin_write().await?;
            insert_all(&tx, rows.sessions).await?;
            insert_all(&tx, rows.steps).await?;
            insert_all(&tx, rows.calls).await?;
            insert_all(&tx, rows.findings).await?;
            insert_all(&tx, rows.events).await?;
            insert_all(&tx, rows.versions).await?;
            insert_all(&tx, rows.insights).await?;
            insert_all(&tx, rows.actions).await?;
            tx.commit().await?;
            progress(summary.steps);
            index = end;
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }
}

async fn insert_all<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<()>
where
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn uuid(rng: &mut StdRng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn generate_session(
    rng: &mut StdRng,
    rows: &mut Rows,
    project: ProjectId,
    now: DateTime<Utc>,
    days: i64,
    steps: usize,
) {
    let id = uuid(rng);
    let tool = pick(rng, TOOLS);
    let (provider, model, per_in, per_out) = MODELS[rng.random_range(0..MODELS.len())];
    let seconds_ago = rng.random_range(0..days.max(1) * 86_400);
    let started = now - chrono::Duration::seconds(seconds_ago);
    let at = |step: usize| started + chrono::Duration::seconds(step as i64 * 30);
    let subject = pick(rng, SUBJECTS);
    let status = if rng.random_bool(0.8) {
        "completed"
    } else {
        "active"
    };
    let ended = at(steps);
    rows.sessions.push(session::ActiveModel {
        id: Set(id),
        project_id: Set(project.0),
        external_id: Set(None),
        tool: Set(tool.to_owned()),
        status: Set(status.to_owned()),
        title: Set(Some(format!("Why {subject} misbehaves"))),
        user_id: Set(Some(format!("user-{}", rng.random_range(0..200)))),
        client: Set(Some("bulk".to_owned())),
        model: Set(Some(model.to_owned())),
        metadata: Set(json!({})),
        created_at: Set(started),
        updated_at: Set(ended),
        completed_at: Set((status == "completed").then_some(ended)),
    });
    let mut version = 0;
    for number in 1..=steps {
        let step_id = uuid(rng);
        let content = format!(
            "Step {number}: {subject} {}. {}",
            pick(rng, CLAIMS),
            pick(rng, NEXT)
        );
        let confidence = (rng.random_range(30..95) as f64) / 100.0;
        let when = at(number);
        if rng.random_bool(0.5) {
            let input = rng.random_range(200..4000);
            let output = rng.random_range(50..1200);
            let failed = rng.random_bool(0.02);
            rows.calls.push(model_call::ActiveModel {
                id: Set(uuid(rng)),
                session_id: Set(id),
                step_id: Set(Some(step_id)),
                provider: Set(provider.to_owned()),
                model: Set(model.to_owned()),
                input_tokens: Set(input),
                output_tokens: Set(if failed { 0 } else { output }),
                cached_input_tokens: Set(0),
                reasoning_tokens: Set(0),
                latency_ms: Set(rng.random_range(300..6000)),
                cost_nusd: Set(if failed {
                    0
                } else {
                    input * per_in + output * per_out
                }),
                price_id: Set(None),
                status: Set(if failed { "error" } else { "ok" }.to_owned()),
                error: Set(failed.then(|| "HTTP 503 from the provider".to_owned())),
                created_at: Set(when),
            });
        }
        if rng.random_bool(0.15) {
            rows.findings.push(bias_finding::ActiveModel {
                id: Set(uuid(rng)),
                session_id: Set(id),
                step_id: Set(Some(step_id)),
                detector: Set("bulk.synthetic".to_owned()),
                detector_version: Set("1.0.0".to_owned()),
                bias_type: Set(pick(rng, BIASES).to_owned()),
                severity: Set(pick(rng, SEVERITIES).to_owned()),
                confidence: Set(0.7),
                explanation: Set("Synthetic finding for benchmarks".to_owned()),
                evidence_start: Set(None),
                evidence_end: Set(None),
                evidence_text: Set(None),
                suggestion: Set(None),
                created_at: Set(when),
            });
        }
        if rng.random_bool(0.05) {
            rows.events.push(monitor_event::ActiveModel {
                id: Set(uuid(rng)),
                session_id: Set(id),
                step_id: Set(Some(step_id)),
                kind: Set(pick(rng, ALERTS).to_owned()),
                severity: Set(pick(rng, SEVERITIES).to_owned()),
                score: Set(0.6),
                message: Set("Synthetic alert for benchmarks".to_owned()),
                data: Set(json!({})),
                created_at: Set(when),
            });
        }
        rows.steps.push(step::ActiveModel {
            id: Set(step_id),
            session_id: Set(id),
            step_number: Set(number as i32),
            kind: Set("thought".to_owned()),
            content: Set(content),
            raw_response: Set(None),
            model: Set(Some(model.to_owned())),
            confidence: Set(Some(confidence)),
            clarity: Set(None),
            is_revision: Set(false),
            revises_step: Set(None),
            branch_from_step: Set(None),
            branch_id: Set(None),
            metadata: Set(json!({})),
            created_at: Set(when),
        });
        if number % 5 == 0 {
            version += 1;
            let version_id = uuid(rng);
            let understanding = format!("{subject} {} (after {number} steps)", pick(rng, CLAIMS));
            rows.versions.push(synthesis_version::ActiveModel {
                id: Set(version_id),
                session_id: Set(id),
                version: Set(version),
                step_id: Set(Some(step_id)),
                step_number: Set(Some(number as i32)),
                raw_update: Set(None),
                current_understanding: Set(Some(understanding)),
                confidence: Set(Some(confidence)),
                clarity: Set(Some(confidence)),
                parsed: Set(json!({})),
                created_at: Set(when),
            });
            rows.insights.push(insight::ActiveModel {
                id: Set(uuid(rng)),
                synthesis_version_id: Set(version_id),
                session_id: Set(id),
                position: Set(0),
                text: Set(format!("{subject} {}", pick(rng, CLAIMS))),
                confidence: Set(Some(confidence)),
                source_step: Set(Some(number as i32)),
                supported_by_evidence: Set(Some(true)),
            });
            rows.actions.push(action_item::ActiveModel {
                id: Set(uuid(rng)),
                synthesis_version_id: Set(version_id),
                session_id: Set(id),
                position: Set(0),
                action: Set(pick(rng, NEXT).to_owned()),
                priority: Set("medium".to_owned()),
                rationale: Set(None),
                dependencies: Set(json!([])),
            });
        }
    }
}
