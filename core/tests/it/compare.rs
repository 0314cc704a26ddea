//! Session compare, synthesis evolution and synthesis diff: alignment, insight movement and every
//! delta checked against figures recomputed from the rows read through the ordinary services.

use lux_core::synthesis::{ActionItemInput, ActionPriority, InsightInput, SynthesisUpdate};
use lux_core::*;

use crate::support::{new_session, thought};

fn insight(text: &str, confidence: f64) -> InsightInput {
    InsightInput {
        text: text.to_owned(),
        confidence: Some(confidence),
        source_step: None,
        supported_by_evidence: None,
    }
}

fn action(text: &str, priority: ActionPriority) -> ActionItemInput {
    ActionItemInput {
        action: text.to_owned(),
        priority,
        rationale: None,
        dependencies: Vec::new(),
    }
}

fn update(
    understanding: &str,
    insights: Vec<InsightInput>,
    actions: Vec<ActionItemInput>,
    confidence: f64,
    clarity: f64,
) -> NewSynthesis {
    NewSynthesis::structured(SynthesisUpdate {
        current_understanding: Some(understanding.to_owned()),
        insights,
        action_items: actions,
        confidence: Some(confidence),
        clarity: Some(clarity),
        ..SynthesisUpdate::default()
    })
}

fn call(model: &str, input: i64, output: i64, latency_ms: i64) -> NewModelCall {
    NewModelCall {
        latency_ms,
        ..NewModelCall::ok("openai", model, input, output)
    }
}

fn finding(step: Option<StepId>, bias: &str) -> NewFinding {
    NewFinding {
        id: None,
        step_id: step,
        detector: "test.detector".into(),
        detector_version: "1".into(),
        bias_type: bias.into(),
        severity: Severity::Medium,
        confidence: 0.7,
        explanation: format!("{bias} in the test"),
        evidence: None,
        suggestion: None,
        created_at: None,
    }
}

fn alert(step: Option<StepId>, kind: &str) -> NewMonitorEvent {
    NewMonitorEvent {
        id: None,
        step_id: step,
        kind: kind.into(),
        severity: Severity::Low,
        score: 0.4,
        message: format!("{kind} in the test"),
        data: None,
        created_at: None,
    }
}

/// A score delta equals `b - a` up to the 9 decimals it is rounded to.
fn assert_delta(actual: Option<f64>, a: Option<f64>, b: Option<f64>) {
    let (actual, a, b) = (actual.unwrap(), a.unwrap(), b.unwrap());
    assert!((actual - (b - a)).abs() < 1e-9, "{actual} is not {b} - {a}");
}

/// Writes a session through the ordinary services and returns its reference.
async fn write_session(
    lux: &Lux,
    external_id: &str,
    steps: &[&str],
    calls: &[NewModelCall],
    syntheses: Vec<NewSynthesis>,
) -> (SessionRef, Vec<Step>) {
    let project = lux.default_project();
    let session = lux
        .create_session(
            project,
            NewSession {
                external_id: Some(external_id.into()),
                ..new_session("traced_reasoning")
            },
        )
        .await
        .unwrap()
        .value;
    let reference = SessionRef::Id(session.id);
    let mut written = Vec::new();
    for content in steps {
        written.push(
            lux.append_step(project, &reference, thought(content))
                .await
                .unwrap()
                .value,
        );
    }
    for (index, new) in calls.iter().enumerate() {
        let step = written.get(index).map(|s| s.id);
        lux.record_model_call(
            project,
            &reference,
            NewModelCall {
                step_id: step,
                ..new.clone()
            },
        )
        .await
        .unwrap();
    }
    for new in syntheses {
        lux.add_synthesis(project, &reference, new).await.unwrap();
    }
    (reference, written)
}

/// The headline figures of one session, computed from its raw rows.
struct Expected {
    steps: i64,
    calls: i64,
    input: i64,
    output: i64,
    cost: i64,
    latency_total: i64,
    latency_p50: Option<i64>,
    findings: i64,
    alerts: i64,
}

async fn expected(lux: &Lux, reference: &SessionRef) -> Expected {
    let project = lux.default_project();
    let calls = lux.list_model_calls(project, reference).await.unwrap();
    let mut latencies: Vec<i64> = calls.iter().map(|c| c.latency_ms).collect();
    latencies.sort_unstable();
    // Nearest rank: the ceil(n / 2)-th smallest.
    let latency_p50 = (!latencies.is_empty()).then(|| latencies[latencies.len().div_ceil(2) - 1]);
    Expected {
        steps: lux.all_steps(project, reference).await.unwrap().len() as i64,
        calls: calls.len() as i64,
        input: calls.iter().map(|c| c.input_tokens).sum(),
        output: calls.iter().map(|c| c.output_tokens).sum(),
        cost: calls.iter().map(|c| c.cost.0).sum(),
        latency_total: latencies.iter().sum(),
        latency_p50,
        findings: lux.list_findings(project, reference).await.unwrap().len() as i64,
        alerts: lux
            .list_monitor_events(project, reference)
            .await
            .unwrap()
            .len() as i64,
    }
}

async fn compare_aligns_steps_and_recomputes_every_delta(lux: &Lux) {
    let project = lux.default_project();
    let (a, steps_a) = write_session(
        lux,
        "run-a",
        &[
            "The cache misses spike at noon.",
            "Evictions are the likely cause of the misses.",
            "We should raise the cache size.",
        ],
        &[
            call("gpt-4o", 1_200, 300, 900),
            call("gpt-4o", 800, 200, 300),
            call("gpt-4o-mini", 500, 100, 500),
        ],
        vec![
            update(
                "Misses come from eviction.",
                vec![insight("Evictions spike at noon", 0.6)],
                vec![action("Raise the cache size", ActionPriority::High)],
                0.6,
                0.5,
            ),
            update(
                "Misses come from eviction at noon.",
                vec![
                    insight("Evictions spike at noon", 0.6),
                    insight("Noon is peak traffic", 0.5),
                    insight("Memory is tight", 0.4),
                ],
                vec![
                    action("Raise the cache size", ActionPriority::High),
                    action("Add a dashboard", ActionPriority::Low),
                ],
                0.7,
                0.6,
            ),
        ],
    )
    .await;
    let (b, steps_b) = write_session(
        lux,
        "run-b",
        &[
            "The cache misses spike at noon.",
            "A deploy at noon flushes the cache.",
            "We should raise the cache size.",
            "Warm the cache after each deploy.",
        ],
        &[
            call("gpt-4o", 2_000, 700, 1_100),
            call("gpt-4o", 1_000, 300, 200),
        ],
        vec![update(
            "Misses come from a deploy that flushes the cache.",
            vec![
                insight("evictions spike at NOON.", 0.9),
                insight("Deploys flush the cache", 0.8),
                insight("Memory is tight", 0.4),
            ],
            vec![
                action("raise the cache size", ActionPriority::Low),
                action("Warm the cache after deploys", ActionPriority::High),
            ],
            0.85,
            0.9,
        )],
    )
    .await;
    lux.record_finding(project, &a, finding(Some(steps_a[1].id), "anchoring"))
        .await
        .unwrap();
    lux.record_finding(project, &b, finding(None, "confirmation"))
        .await
        .unwrap();
    lux.record_monitor_event(
        project,
        &b,
        alert(Some(steps_b[3].id), "distractor_fixation"),
    )
    .await
    .unwrap();
    lux.record_monitor_event(project, &a, alert(None, "quality_degradation"))
        .await
        .unwrap();

    let by_external = SessionRef::ExternalId("run-a".into());
    let compared = lux
        .compare_sessions(project, &by_external, &b)
        .await
        .unwrap();
    assert_eq!(compared.a.session.external_id.as_deref(), Some("run-a"));
    assert_eq!(compared.b.session.external_id.as_deref(), Some("run-b"));

    // Steps: aligned by number, the extra one one-sided, each diff rebuilding both contents.
    let alignment: Vec<(i32, StepAlignment)> = compared
        .steps
        .iter()
        .map(|pair| (pair.step_number, pair.alignment))
        .collect();
    assert_eq!(
        alignment,
        [
            (1, StepAlignment::Same),
            (2, StepAlignment::Changed),
            (3, StepAlignment::Same),
            (4, StepAlignment::OnlyB),
        ]
    );
    for pair in &compared.steps {
        let index = (pair.step_number - 1) as usize;
        let content = |steps: &[Step]| {
            steps
                .get(index)
                .map_or(String::new(), |s| s.content.clone())
        };
        assert_eq!(pair.content.old_text(), content(&steps_a));
        assert_eq!(pair.content.new_text(), content(&steps_b));
        assert_eq!(
            pair.a.as_ref().map(|s| s.id),
            steps_a.get(index).map(|s| s.id)
        );
        assert_eq!(
            pair.b.as_ref().map(|s| s.id),
            steps_b.get(index).map(|s| s.id)
        );
    }
    let changed = &compared.steps[1].content;
    assert!(changed.changed() && !compared.steps[0].content.changed());
    let deleted: String = changed
        .ops
        .iter()
        .filter(|op| op.op == DiffTag::Delete)
        .map(|op| op.text.as_str())
        .collect();
    let inserted: String = changed
        .ops
        .iter()
        .filter(|op| op.op == DiffTag::Insert)
        .map(|op| op.text.as_str())
        .collect();
    assert!(deleted.contains("Evictions"), "{changed:?}");
    assert!(inserted.contains("deploy"), "{changed:?}");
    assert_eq!(
        compared.steps[3].content.ops,
        [DiffOp {
            op: DiffTag::Insert,
            text: steps_b[3].content.clone()
        }]
    );

    // Findings and alerts side by side, on the step they were recorded on.
    let findings_a = lux.list_findings(project, &a).await.unwrap();
    let findings_b = lux.list_findings(project, &b).await.unwrap();
    let alerts_a = lux.list_monitor_events(project, &a).await.unwrap();
    let alerts_b = lux.list_monitor_events(project, &b).await.unwrap();
    for pair in &compared.steps {
        let index = (pair.step_number - 1) as usize;
        let on = |steps: &[Step], step_id: Option<StepId>| {
            steps.get(index).is_some_and(|s| Some(s.id) == step_id)
        };
        let expect_findings = |all: &[Finding], steps: &[Step]| -> Vec<FindingId> {
            all.iter()
                .filter(|f| on(steps, f.step_id))
                .map(|f| f.id)
                .collect()
        };
        let expect_alerts = |all: &[MonitorEvent], steps: &[Step]| -> Vec<MonitorEventId> {
            all.iter()
                .filter(|e| on(steps, e.step_id))
                .map(|e| e.id)
                .collect()
        };
        let ids = |found: &[Finding]| found.iter().map(|f| f.id).collect::<Vec<_>>();
        let alert_ids = |found: &[MonitorEvent]| found.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(
            ids(&pair.findings.a),
            expect_findings(&findings_a, &steps_a)
        );
        assert_eq!(
            ids(&pair.findings.b),
            expect_findings(&findings_b, &steps_b)
        );
        assert_eq!(
            alert_ids(&pair.alerts.a),
            expect_alerts(&alerts_a, &steps_a)
        );
        assert_eq!(
            alert_ids(&pair.alerts.b),
            expect_alerts(&alerts_b, &steps_b)
        );
    }
    assert!(
        compared.steps[1]
            .findings
            .a
            .iter()
            .any(|f| f.bias_type == "anchoring")
    );
    assert!(
        compared.steps[3]
            .alerts
            .b
            .iter()
            .any(|e| e.kind == "distractor_fixation")
    );
    assert!(
        compared
            .session_findings
            .b
            .iter()
            .any(|f| f.bias_type == "confirmation")
    );
    assert!(
        compared
            .session_alerts
            .a
            .iter()
            .any(|e| e.kind == "quality_degradation")
    );

    // Figures and deltas from the raw rows.
    let (ea, eb) = (expected(lux, &a).await, expected(lux, &b).await);
    for (figures, e) in [(&compared.a.figures, &ea), (&compared.b.figures, &eb)] {
        assert_eq!(figures.steps, e.steps);
        assert_eq!(figures.model_calls, e.calls);
        assert_eq!(figures.tokens.input, e.input);
        assert_eq!(figures.tokens.output, e.output);
        assert_eq!(figures.cost.0, e.cost);
        assert_eq!(figures.latency_ms_total, e.latency_total);
        assert_eq!(figures.latency_ms_p50, e.latency_p50);
        assert_eq!(figures.findings, e.findings);
        assert_eq!(figures.alerts, e.alerts);
    }
    assert!(ea.cost > 0 && eb.cost > 0, "gpt-4o is priced");
    let deltas = &compared.deltas;
    assert_eq!(deltas.steps, 1);
    assert_eq!(deltas.model_calls, -1);
    assert_eq!(deltas.tokens.input, eb.input - ea.input);
    assert_eq!(deltas.tokens.output, eb.output - ea.output);
    assert_eq!(deltas.cost.0, eb.cost - ea.cost);
    assert_eq!(deltas.latency_ms_total, eb.latency_total - ea.latency_total);
    assert_eq!(
        deltas.latency_ms_p50,
        Some(eb.latency_p50.unwrap() - ea.latency_p50.unwrap())
    );
    assert_eq!(deltas.findings, eb.findings - ea.findings);
    assert_eq!(deltas.alerts, eb.alerts - ea.alerts);
    let summary_a = lux.session_summary(project, &a).await.unwrap();
    let summary_b = lux.session_summary(project, &b).await.unwrap();
    assert_eq!(
        deltas.duration_ms,
        summary_b.duration_ms - summary_a.duration_ms
    );
    let latest_a = lux.latest_synthesis(project, &a).await.unwrap().unwrap();
    let latest_b = lux.latest_synthesis(project, &b).await.unwrap().unwrap();
    assert_delta(
        deltas.final_confidence,
        latest_a.confidence,
        latest_b.confidence,
    );

    // The latest syntheses: matched by normalised text, changes named.
    let synthesis = &compared.synthesis;
    assert_eq!(synthesis.from.as_ref().unwrap().version, 2);
    assert_eq!(synthesis.to.as_ref().unwrap().version, 1);
    assert_eq!(
        synthesis.understanding.old_text(),
        latest_a.current_understanding.clone().unwrap()
    );
    assert_eq!(
        synthesis.understanding.new_text(),
        latest_b.current_understanding.clone().unwrap()
    );
    let texts = |items: &[Insight]| items.iter().map(|i| i.text.clone()).collect::<Vec<_>>();
    assert_eq!(
        texts(&synthesis.insights.added),
        ["Deploys flush the cache"]
    );
    assert_eq!(texts(&synthesis.insights.removed), ["Noon is peak traffic"]);
    assert_eq!(synthesis.insights.changed.len(), 1);
    assert_eq!(synthesis.insights.changed[0].fields, ["text", "confidence"]);
    assert_eq!(synthesis.insights.changed[0].after.confidence, Some(0.9));
    assert_eq!(synthesis.insights.unchanged, 1);
    let actions = &synthesis.action_items;
    assert_eq!(actions.added.len(), 1);
    assert_eq!(actions.added[0].action, "Warm the cache after deploys");
    assert_eq!(actions.removed[0].action, "Add a dashboard");
    assert_eq!(actions.changed[0].fields, ["action", "priority"]);
    assert_eq!(actions.changed[0].before.priority, ActionPriority::High);
    assert_eq!(actions.changed[0].after.priority, ActionPriority::Low);
    assert_delta(
        synthesis.confidence_delta,
        latest_a.confidence,
        latest_b.confidence,
    );
    assert_delta(synthesis.clarity_delta, latest_a.clarity, latest_b.clarity);

    // The other way round, the extra step is only in `a`, and what was added is removed.
    let reversed = lux.compare_sessions(project, &b, &a).await.unwrap();
    assert_eq!(reversed.steps[3].alignment, StepAlignment::OnlyA);
    assert_eq!(
        texts(&reversed.synthesis.insights.removed),
        ["Deploys flush the cache"]
    );
    assert_eq!(reversed.deltas.cost.0, ea.cost - eb.cost);

    // A session compared with itself: everything the same, every delta zero.
    let itself = lux
        .compare_sessions(project, &a, &by_external)
        .await
        .unwrap();
    assert!(
        itself
            .steps
            .iter()
            .all(|pair| pair.alignment == StepAlignment::Same)
    );
    assert_eq!(itself.deltas.cost.0, 0);
    assert_eq!(itself.deltas.final_confidence, Some(0.0));
    // 0.85 - 0.7 is 0.15000000000000002 in floating point; the delta reads as written.
    assert_eq!(compared.deltas.final_confidence, Some(0.15));
    assert_eq!(itself.synthesis.insights.unchanged, 3);
    assert!(itself.synthesis.insights.added.is_empty());
}

async fn compare_refuses_unknown_and_foreign_sessions(lux: &Lux) {
    let project = lux.default_project();
    let (a, _) = write_session(lux, "known", &["A thought."], &[], Vec::new()).await;
    let missing = SessionRef::ExternalId("missing".into());
    for (x, y) in [(&a, &missing), (&missing, &a)] {
        let error = lux.compare_sessions(project, x, y).await.unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error}");
        assert!(error.to_string().contains("missing"), "{error}");
    }
    let other = lux.create_project("other", "Other").await.unwrap();
    let foreign = lux
        .create_session(other.id, new_session("planner"))
        .await
        .unwrap()
        .value;
    let error = lux
        .compare_sessions(project, &a, &SessionRef::Id(foreign.id))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");

    // Without any synthesis or model call, the comparison is still whole.
    let compared = lux.compare_sessions(project, &a, &a).await.unwrap();
    assert!(compared.synthesis.from.is_none() && compared.synthesis.to.is_none());
    assert!(compared.synthesis.understanding.ops.is_empty());
    assert_eq!(compared.a.figures.latency_ms_p50, None);
    assert_eq!(compared.deltas.latency_ms_p50, None);
    assert_eq!(compared.deltas.final_confidence, None);
}

async fn evolution_tracks_insights_gained_and_lost(lux: &Lux) {
    let project = lux.default_project();
    let (reference, _) = write_session(
        lux,
        "evolving",
        &["First look.", "Second look."],
        &[],
        vec![
            update(
                "Start.",
                vec![insight("Alpha", 0.5), insight("Beta", 0.5)],
                vec![action("Do one", ActionPriority::Medium)],
                0.4,
                0.3,
            ),
            update(
                "Middle.",
                vec![insight("alpha.", 0.7), insight("Gamma", 0.5)],
                vec![
                    action("Do one", ActionPriority::High),
                    action("Do two", ActionPriority::Low),
                ],
                0.6,
                0.5,
            ),
            update(
                "End, with the middle understood.",
                vec![insight("Gamma", 0.9)],
                Vec::new(),
                0.9,
                0.8,
            ),
        ],
    )
    .await;
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    let evolution = lux
        .synthesis_evolution(project, &SessionRef::ExternalId("evolving".into()))
        .await
        .unwrap();
    assert_eq!(evolution.versions.len(), versions.len());
    let texts = |items: &[Insight]| items.iter().map(|i| i.text.clone()).collect::<Vec<_>>();
    for (point, version) in evolution.versions.iter().zip(&versions) {
        assert_eq!(point.version, version.version);
        assert_eq!(point.created_at, version.created_at);
        assert_eq!(point.confidence, version.confidence);
        assert_eq!(point.clarity, version.clarity);
        assert_eq!(point.insights, version.insights.len() as i64);
        assert_eq!(point.action_items, version.action_items.len() as i64);
    }
    assert_eq!(
        texts(&evolution.versions[0].insights_gained),
        ["Alpha", "Beta"]
    );
    assert!(evolution.versions[0].insights_lost.is_empty());
    assert_eq!(texts(&evolution.versions[1].insights_gained), ["Gamma"]);
    assert_eq!(texts(&evolution.versions[1].insights_lost), ["Beta"]);
    assert_eq!(
        evolution.versions[1].action_items_gained[0].action,
        "Do two"
    );
    assert!(evolution.versions[2].insights_gained.is_empty());
    assert_eq!(texts(&evolution.versions[2].insights_lost), ["alpha."]);
    assert_eq!(evolution.versions[2].action_items_lost.len(), 2);

    let diff = lux.synthesis_diff(project, &reference, 1, 3).await.unwrap();
    assert_eq!(diff.from.as_ref().unwrap().version, 1);
    assert_eq!(diff.to.as_ref().unwrap().version, 3);
    assert_eq!(diff.understanding.old_text(), "Start.");
    assert_eq!(
        diff.understanding.new_text(),
        "End, with the middle understood."
    );
    assert_eq!(texts(&diff.insights.removed), ["Alpha", "Beta"]);
    assert_eq!(texts(&diff.insights.added), ["Gamma"]);
    assert_eq!(diff.action_items.removed.len(), 1);
    assert_delta(
        diff.confidence_delta,
        versions[0].confidence,
        versions[2].confidence,
    );
    assert_delta(diff.clarity_delta, versions[0].clarity, versions[2].clarity);
    let diff = lux.synthesis_diff(project, &reference, 1, 2).await.unwrap();
    assert_eq!(diff.insights.changed.len(), 1);
    assert_eq!(diff.insights.changed[0].fields, ["text", "confidence"]);
    assert_eq!(diff.action_items.changed[0].fields, ["priority"]);
    let same = lux.synthesis_diff(project, &reference, 2, 2).await.unwrap();
    assert!(!same.understanding.changed());
    assert_eq!(same.insights.unchanged, 2);
    assert_eq!(same.confidence_delta, Some(0.0));

    let error = lux
        .synthesis_diff(project, &reference, 2, 9)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("synthesis version 9"), "{error}");
    let error = lux
        .synthesis_diff(project, &reference, 0, 1)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("from"));

    // A session without synthesis has an empty history, not an error.
    let (bare, _) = write_session(lux, "bare", &["Only a thought."], &[], Vec::new()).await;
    let empty = lux.synthesis_evolution(project, &bare).await.unwrap();
    assert!(empty.versions.is_empty());
    let error = lux
        .synthesis_evolution(project, &SessionRef::ExternalId("nope".into()))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }));
}

lux_core::storage_tests!(
    compare_aligns_steps_and_recomputes_every_delta,
    compare_refuses_unknown_and_foreign_sessions,
    evolution_tracks_insights_gained_and_lost,
);
