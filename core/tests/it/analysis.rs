//! Analysis on write: the monitor and detectors run when a step is appended or ingested, their
//! output is stored with the step, failures are recorded without failing the write, and
//! `analyze_session` replays history idempotently.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lux_core::detect::{
    BiasDetector, DETECTOR_FAILURE, Detection, DetectorError, DetectorInput, DetectorRegistry,
};
use lux_core::services::analysis::AnalyzeScope;
use lux_core::services::ingest::{IngestOptions, IngestRecord, ItemResult};
use lux_core::{
    Lux, NewMonitorEvent, NewSession, NewStep, SessionId, SessionRef, Severity, Span, storage_tests,
};

use crate::support::{session, thought};

const LOOPING: [&str; 5] = [
    "Why did the nightly export job start failing after Tuesday's release?",
    "The export job fails because the database connection pool is exhausted during the nightly batch window.",
    "The release also changed the retry policy for the export worker, which now retries immediately.",
    "The export job fails because the database connection pool gets exhausted during the nightly batch window.",
    "So the database connection pool is exhausted by the export job in the nightly batch window.",
];

const RECAP: [&str; 5] = [
    "Why are customer support tickets about login failures rising this month?",
    "The identity provider rotated its signing keys on the 3rd, and cached keys in the mobile app expired.",
    "Ticket tags show most login failures come from app version 4.2, which pins the old key set.",
    "The web client fetches keys dynamically and shows no increase in login errors.",
    "To summarize so far: the key rotation on the 3rd broke login for app version 4.2 because it pins keys, while the web client fetching keys dynamically is fine. Next we should force an app update and add dynamic key fetching.",
];

async fn write_all(lux: &Lux, tool: &str, steps: &[&str]) -> SessionRef {
    let (project, _, reference) = session(lux, tool).await;
    for content in steps {
        lux.append_step(project, &reference, thought(content))
            .await
            .unwrap();
    }
    reference
}

async fn writing_a_step_stores_findings_and_events(lux: &Lux) {
    let project = lux.default_project();
    let reference = write_all(lux, "sequential_thinking", &LOOPING).await;
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let events = lux.list_monitor_events(project, &reference).await.unwrap();
    let circular: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "circular_reasoning")
        .collect();
    assert!(!circular.is_empty(), "{events:?}");
    assert_eq!(circular[0].step_id, Some(steps[3].id), "{circular:?}");
    assert_eq!(circular[0].data["pattern"], "learned");
    assert_eq!(circular[0].data["similar_to"], 2);
    assert_eq!(circular[0].data["source"], "lux.monitor");

    let content = "It is definitely the cache, no need to check the other services. We rewrite the cache layer tonight.";
    let step = lux
        .append_step(project, &reference, thought(content))
        .await
        .unwrap()
        .value;
    let findings = lux.list_findings(project, &reference).await.unwrap();
    let hasty = findings
        .iter()
        .find(|f| f.bias_type == "hasty_conclusion")
        .expect("a hasty conclusion finding");
    assert_eq!(hasty.step_id, Some(step.id));
    assert_eq!(hasty.detector, "lux.learned");
    assert_eq!(
        hasty.detector_version,
        lux_core::detect::learned::shipped_model().unwrap().version
    );
    // The evidence is the sentence that weighs most: the one with the certainty and the refusal.
    assert_eq!(
        hasty.evidence_text.as_deref(),
        Some("It is definitely the cache, no need to check the other services.")
    );
    assert!(
        hasty.explanation.contains("hasty conclusion scored"),
        "{}",
        hasty.explanation
    );
    assert!(hasty.suggestion.is_some());
}

async fn a_session_that_loops_is_flagged_and_a_recap_is_not(lux: &Lux) {
    let project = lux.default_project();
    let looping = write_all(lux, "traced_reasoning", &LOOPING).await;
    let recap = write_all(lux, "traced_reasoning", &RECAP).await;
    let kinds = |events: Vec<lux_core::MonitorEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.kind).collect()
    };
    let looping_kinds = kinds(lux.list_monitor_events(project, &looping).await.unwrap());
    assert!(
        looping_kinds.iter().any(|k| k == "circular_reasoning"),
        "{looping_kinds:?}"
    );
    let recap_kinds = kinds(lux.list_monitor_events(project, &recap).await.unwrap());
    assert!(
        !recap_kinds.iter().any(|k| k == "circular_reasoning"),
        "a recap is not a loop: {recap_kinds:?}"
    );
    // Each thought is analysed once: a thought is never compared with itself, so a fresh
    // session's first thoughts raise nothing.
    let single = write_all(lux, "traced_reasoning", &LOOPING[..2]).await;
    assert!(
        lux.list_monitor_events(project, &single)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A batch with client ids throughout, so a replay is recognised item by item.
fn batch(session_id: SessionId, steps: &[&str]) -> Vec<IngestRecord> {
    let mut records = vec![IngestRecord::Session(NewSession {
        id: Some(session_id),
        external_id: Some(format!("batch-{session_id}")),
        tool: "agent_run".into(),
        ..NewSession::default()
    })];
    for (index, content) in steps.iter().enumerate() {
        // Mix references by id and by external id: both resolve to the batch's session.
        let session = if index % 2 == 0 {
            SessionRef::Id(session_id)
        } else {
            SessionRef::ExternalId(format!("batch-{session_id}"))
        };
        // Deterministic per (session, position): the same batch sent twice carries the same ids.
        let mut bytes = *session_id.0.as_bytes();
        bytes[15] ^= index as u8 + 1;
        let id = uuid::Uuid::from_bytes(bytes);
        records.push(IngestRecord::Step {
            session,
            step: NewStep {
                id: Some(lux_core::StepId(id)),
                ..thought(content)
            },
        });
    }
    records
}

async fn ingest_analyses_steps_in_the_context_of_the_batch(lux: &Lux) {
    let project = lux.default_project();
    let analysed = SessionId(uuid::Uuid::now_v7());
    let results = lux
        .ingest(project, &batch(analysed, &LOOPING))
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, ItemResult::Created { .. }))
    );
    let events = lux
        .list_monitor_events(project, &SessionRef::Id(analysed))
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.kind == "circular_reasoning"),
        "the repeat of a step of the same batch is seen: {events:?}"
    );
    // A replay creates nothing, findings and events included.
    lux.ingest(project, &batch(analysed, &LOOPING))
        .await
        .unwrap();
    let again = lux
        .list_monitor_events(project, &SessionRef::Id(analysed))
        .await
        .unwrap();
    assert_eq!(again.len(), events.len());

    let unanalysed = SessionId(uuid::Uuid::now_v7());
    lux.ingest_with(
        project,
        &batch(unanalysed, &LOOPING),
        &IngestOptions { analyze: false },
    )
    .await
    .unwrap();
    let reference = SessionRef::Id(unanalysed);
    assert!(
        lux.list_monitor_events(project, &reference)
            .await
            .unwrap()
            .is_empty()
    );
    // A batch continuing a stored session sees its stored steps.
    let follow_up = vec![IngestRecord::Step {
        session: reference.clone(),
        step: thought(LOOPING[1]),
    }];
    lux.ingest(project, &follow_up).await.unwrap();
    let events = lux.list_monitor_events(project, &reference).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "circular_reasoning"),
        "{events:?}"
    );
}

#[derive(Debug)]
enum Misbehaviour {
    Panic,
    Error,
    Sleep,
    BadSpans,
}

#[derive(Debug)]
struct Faulty(Misbehaviour);

#[async_trait]
impl BiasDetector for Faulty {
    fn name(&self) -> &str {
        match self.0 {
            Misbehaviour::Panic => "test.panics",
            Misbehaviour::Error => "test.errors",
            Misbehaviour::Sleep => "test.sleeps",
            Misbehaviour::BadSpans => "test.bad_spans",
        }
    }

    fn version(&self) -> &str {
        "0.1.0"
    }

    fn bias_types(&self) -> Vec<String> {
        vec!["anchoring".into()]
    }

    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        match self.0 {
            Misbehaviour::Panic => panic!("detector bug"),
            Misbehaviour::Error => Err(DetectorError::new("model unavailable")),
            Misbehaviour::Sleep => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Vec::new())
            }
            Misbehaviour::BadSpans => {
                let len = input.step.content.len();
                Ok([(1, 2), (5, 1), (0, len + 10), (len + 3, len + 9)]
                    .into_iter()
                    .map(|(start, end)| Detection {
                        bias_type: "Anchoring Bias!".into(),
                        severity: Severity::Low,
                        confidence: f64::NAN,
                        explanation: "  ".into(),
                        evidence: Some(Span { start, end }),
                        suggestion: None,
                    })
                    .collect())
            }
        }
    }
}

async fn a_failing_or_slow_detector_never_fails_the_write(lux: &Lux) {
    let mut registry = DetectorRegistry::builtin();
    for (misbehaviour, budget) in [
        (Misbehaviour::Panic, Duration::from_secs(2)),
        (Misbehaviour::Error, Duration::from_secs(2)),
        (Misbehaviour::Sleep, Duration::from_millis(100)),
        (Misbehaviour::BadSpans, Duration::from_secs(2)),
    ] {
        registry
            .register(Arc::new(Faulty(misbehaviour)), budget)
            .unwrap();
    }
    let lux = lux.clone().with_detectors(registry);
    let (project, _, reference) = session(&lux, "biased_reasoning").await;
    let started = std::time::Instant::now();
    let step = lux
        .append_step(project, &reference, thought("é — the café is an anchor"))
        .await
        .unwrap()
        .value;
    assert!(started.elapsed() < Duration::from_secs(10));
    let failures: Vec<_> = lux
        .list_monitor_events(project, &reference)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == DETECTOR_FAILURE)
        .collect();
    let mut failed: Vec<&str> = failures
        .iter()
        .map(|e| e.data["detector"].as_str().unwrap())
        .collect();
    failed.sort();
    assert_eq!(failed, ["test.errors", "test.panics", "test.sleeps"]);
    assert!(failures.iter().all(|e| e.step_id == Some(step.id)));
    let sleeper = failures
        .iter()
        .find(|e| e.data["detector"] == "test.sleeps")
        .unwrap();
    assert_eq!(sleeper.data["timed_out"], true);
    assert_eq!(lux.detectors().failure_count(), 3);

    // Sloppy output is repaired, not trusted: spans clamped onto boundaries or dropped.
    let findings = lux.list_findings(project, &reference).await.unwrap();
    let sloppy: Vec<_> = findings
        .iter()
        .filter(|f| f.detector == "test.bad_spans")
        .collect();
    assert_eq!(sloppy.len(), 4);
    for finding in &sloppy {
        assert_eq!(finding.bias_type, "anchoring_bias_");
        assert!((0.0..=1.0).contains(&finding.confidence));
        if let Some(span) = finding.evidence {
            assert!(step.content.get(span.start..span.end).is_some(), "{span:?}");
        }
    }
}

async fn analyze_replays_history_idempotently(lux: &Lux) {
    let project = lux.default_project();
    // Written while analysis was off (an older Lux, or an import).
    let quiet = lux.clone().with_detectors(DetectorRegistry::empty());
    let reference = write_all(&quiet, "traced_reasoning", &LOOPING).await;
    quiet
        .append_step(
            project,
            &reference,
            thought("Either we rewrite the export job now or we lose every customer. There is no middle ground."),
        )
        .await
        .unwrap();
    let client_event = NewMonitorEvent {
        id: None,
        step_id: None,
        kind: "circular_reasoning".into(),
        severity: Severity::Low,
        score: 0.5,
        message: "recorded by the client".into(),
        data: None,
        created_at: None,
    };
    lux.record_monitor_event(project, &reference, client_event)
        .await
        .unwrap();
    assert!(
        lux.list_findings(project, &reference)
            .await
            .unwrap()
            .is_empty()
    );

    let first = lux.analyze_session(project, &reference).await.unwrap();
    assert_eq!(first.steps, 6);
    assert!(first.findings >= 1 && first.events >= 1, "{first:?}");
    assert_eq!(first.replaced_findings, 0);
    let findings = lux.list_findings(project, &reference).await.unwrap();
    let events = lux.list_monitor_events(project, &reference).await.unwrap();
    assert!(findings.iter().any(|f| f.bias_type == "false_dichotomy"));

    let second = lux.analyze_session(project, &reference).await.unwrap();
    assert_eq!(second.findings, first.findings);
    assert_eq!(second.replaced_findings as usize, first.findings);
    assert_eq!(second.replaced_events as usize, first.events);
    let summary = |f: &lux_core::Finding| {
        (
            f.step_id,
            f.detector.clone(),
            f.bias_type.clone(),
            f.evidence,
        )
    };
    let mut before: Vec<_> = findings.iter().map(summary).collect();
    let mut after: Vec<_> = lux
        .list_findings(project, &reference)
        .await
        .unwrap()
        .iter()
        .map(summary)
        .collect();
    before.sort_by_key(|s| format!("{s:?}"));
    after.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(before, after);
    let events_after = lux.list_monitor_events(project, &reference).await.unwrap();
    assert_eq!(events_after.len(), events.len());
    assert!(
        events_after
            .iter()
            .any(|e| e.message == "recorded by the client"),
        "events a client recorded are kept"
    );

    let targets = lux.analysis_targets(&AnalyzeScope::All).await.unwrap();
    assert!(targets.iter().any(|(p, _)| *p == project));
    let missing = lux
        .analysis_targets(&AnalyzeScope::Session(SessionRef::Id(SessionId(
            uuid::Uuid::now_v7(),
        ))))
        .await;
    assert!(matches!(missing, Err(lux_core::Error::NotFound { .. })));
}

async fn odd_steps_are_stored_and_never_break_analysis(lux: &Lux) {
    let mut registry = DetectorRegistry::builtin();
    // Robustness, not speed, is under test: a 1 MiB step on an unoptimised build is slow.
    registry.set_budgets(Duration::from_secs(120));
    let lux = &lux.clone().with_detectors(registry);
    let (project, _, reference) = session(lux, "sequential_thinking").await;
    // The 1 MiB case is in `detect_input` (no database); here a large step goes the whole way.
    let huge = "Clearly the cache is always wrong because one user said so. ".repeat(2_000);
    for content in [
        huge.as_str(),
        "🤔🤔🤔",
        "?!?!... --- !!!",
        "ログインが遅い原因を調べる。",
        "Wir müssen entscheiden: nur zwei Optionen.",
    ] {
        lux.append_step(project, &reference, thought(content))
            .await
            .unwrap();
    }
    let empty = lux.append_step(project, &reference, thought("   ")).await;
    assert!(empty.is_err(), "empty content is still refused");
    let steps = lux.all_steps(project, &reference).await.unwrap();
    for finding in lux.list_findings(project, &reference).await.unwrap() {
        let step = steps
            .iter()
            .find(|s| Some(s.id) == finding.step_id)
            .unwrap();
        let span = finding.evidence.unwrap();
        assert_eq!(
            finding.evidence_text.as_deref(),
            step.content.get(span.start..span.end)
        );
    }
    let failures = lux
        .list_monitor_events(project, &reference)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == DETECTOR_FAILURE)
        .count();
    assert_eq!(failures, 0, "no detector failed or timed out on odd input");
}

storage_tests!(
    writing_a_step_stores_findings_and_events,
    a_session_that_loops_is_flagged_and_a_recap_is_not,
    ingest_analyses_steps_in_the_context_of_the_batch,
    a_failing_or_slow_detector_never_fails_the_write,
    analyze_replays_history_idempotently,
    odd_steps_are_stored_and_never_break_analysis,
);
