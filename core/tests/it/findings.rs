//! Findings and monitor events: evidence spans checked against the step text.

use lux_core::{Error, Lux, NewFinding, NewMonitorEvent, Severity, Span, storage_tests};

use crate::support::{session, thought};

fn finding(step_id: lux_core::StepId, span: Option<Span>) -> NewFinding {
    NewFinding {
        id: None,
        step_id: Some(step_id),
        detector: "external.reviewer".into(),
        detector_version: "1.0.0".into(),
        bias_type: "hasty_conclusion".into(),
        severity: Severity::Medium,
        confidence: 0.7,
        explanation: "Certainty without evidence".into(),
        evidence: span,
        suggestion: Some("Say what would change your mind".into()),
        created_at: None,
    }
}

async fn findings_keep_their_evidence(lux: &Lux) {
    let (project, _, reference) = session(lux, "biased_reasoning").await;
    let content = "Clearly, the café is always right.";
    let step = lux
        .append_step(project, &reference, thought(content))
        .await
        .unwrap()
        .value;
    let start = content.find("always").unwrap();
    let span = Span {
        start,
        end: start + "always".len(),
    };
    let stored = lux
        .record_finding(project, &reference, finding(step.id, Some(span)))
        .await
        .unwrap()
        .value;
    assert_eq!(stored.evidence_text.as_deref(), Some("always"));
    assert_eq!(stored.evidence, Some(span));

    // "é" is two bytes: a span ending inside it is refused.
    let cafe = content.find('é').unwrap();
    let split = lux
        .record_finding(
            project,
            &reference,
            finding(
                step.id,
                Some(Span {
                    start: 0,
                    end: cafe + 1,
                }),
            ),
        )
        .await;
    assert!(
        matches!(split, Err(Error::Invalid { ref field, .. }) if field == "evidence"),
        "{split:?}"
    );
    let outside = lux
        .record_finding(
            project,
            &reference,
            finding(step.id, Some(Span { start: 5, end: 500 })),
        )
        .await;
    assert!(
        matches!(outside, Err(Error::Invalid { ref field, .. }) if field == "evidence"),
        "{outside:?}"
    );
    let backwards = lux
        .record_finding(
            project,
            &reference,
            finding(step.id, Some(Span { start: 6, end: 2 })),
        )
        .await;
    assert!(backwards.is_err());
    let bad_confidence = lux
        .record_finding(
            project,
            &reference,
            NewFinding {
                confidence: f64::INFINITY,
                ..finding(step.id, None)
            },
        )
        .await;
    assert!(
        matches!(bad_confidence, Err(Error::Invalid { ref field, .. }) if field == "confidence")
    );

    // Built-in detectors may add their own findings on the step; ours is recorded once.
    let findings: Vec<_> = lux
        .list_findings(project, &reference)
        .await
        .unwrap()
        .into_iter()
        .filter(|finding| finding.detector == "external.reviewer")
        .collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Medium);
}

async fn monitor_events_are_stored_and_listed(lux: &Lux) {
    let (project, _, reference) = session(lux, "traced_reasoning").await;
    let step = lux
        .append_step(project, &reference, thought("round and round"))
        .await
        .unwrap()
        .value;
    let event = NewMonitorEvent {
        id: None,
        step_id: Some(step.id),
        kind: "circular_reasoning".into(),
        severity: Severity::High,
        score: 0.82,
        message: "Thought 5 repeats thought 2".into(),
        data: Some(serde_json::json!({"similar_to": 2})),
        created_at: None,
    };
    lux.record_monitor_event(project, &reference, event.clone())
        .await
        .unwrap();
    let nan = lux
        .record_monitor_event(
            project,
            &reference,
            NewMonitorEvent {
                score: f64::NAN,
                ..event.clone()
            },
        )
        .await;
    assert!(matches!(nan, Err(Error::Invalid { ref field, .. }) if field == "score"));
    let events = lux.list_monitor_events(project, &reference).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["similar_to"], 2);
    assert_eq!(events[0].kind, "circular_reasoning");
}

storage_tests!(
    findings_keep_their_evidence,
    monitor_events_are_stored_and_listed
);
