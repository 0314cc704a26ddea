//! Cross-session patterns: digests match the stored rows, and what the built-in miners report
//! equals a recount over the raw findings and alerts, on both backends.

use std::collections::{BTreeMap, BTreeSet};

use lux_core::demo::DemoOptions;
use lux_core::services::patterns::PatternQuery;
use lux_core::*;

use crate::support::{session, thought};

lux_core::storage_tests!(
    digests_match_the_stored_rows,
    a_planted_bias_is_tied_to_its_topic,
    recurring_signals_equal_a_recount_of_demo_data,
    bad_pattern_queries_are_refused,
);

fn planted(step: StepId) -> NewFinding {
    NewFinding {
        id: None,
        step_id: Some(step),
        detector: "external.reviewer".into(),
        detector_version: "1.0.0".into(),
        bias_type: "planted_anchor".into(),
        severity: Severity::High,
        confidence: 0.9,
        explanation: "The first figure seen decided the estimate".into(),
        evidence: None,
        suggestion: None,
        created_at: None,
    }
}

async fn digests_match_the_stored_rows(lux: &Lux) {
    let (project, first, reference) = session(lux, "digest").await;
    for text in [
        "Measure the flamegraph first.",
        "The flamegraph shows lock waits.",
    ] {
        lux.append_step(project, &reference, thought(text))
            .await
            .unwrap();
    }
    let call = NewModelCall::ok("openai", "gpt-4o-mini", 1200, 300);
    let recorded = lux
        .record_model_call(project, &reference, call)
        .await
        .unwrap()
        .value;
    let (_, second, _) = session(lux, "digest").await;

    let digests = lux
        .session_digests(project, &SessionFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(digests.len(), 2);
    // Newest first.
    assert_eq!(digests[0].session_id, second.id);
    let digest = &digests[1];
    assert_eq!(digest.session_id, first.id);
    assert_eq!(digest.n_steps, 2);
    assert_eq!(digest.total_tokens, 1500);
    assert_eq!(digest.cost_nusd, recorded.cost.0);
    assert_eq!(
        digest.top_concepts.first().map(String::as_str),
        Some("flamegraph")
    );
    let findings = lux.list_findings(project, &reference).await.unwrap();
    let mut by_type: BTreeMap<String, u32> = BTreeMap::new();
    for finding in &findings {
        *by_type.entry(finding.bias_type.clone()).or_default() += 1;
    }
    assert_eq!(digest.bias_counts, by_type);
    assert_eq!(digests[0].n_steps, 0);
    assert!(digests[0].top_concepts.is_empty());
}

async fn a_planted_bias_is_tied_to_its_topic(lux: &Lux) {
    let project = lux.default_project();
    let mut planted_sessions = BTreeSet::new();
    for n in 0..4 {
        let (_, session, reference) = session(lux, "review").await;
        let text = format!("Run {n}: the flamegraph of the flamegraph service shows the hot loop.");
        let step = lux
            .append_step(project, &reference, thought(&text))
            .await
            .unwrap()
            .value;
        lux.record_finding(project, &reference, planted(step.id))
            .await
            .unwrap();
        planted_sessions.insert(session.id);
    }
    for n in 0..4 {
        let (_, _, reference) = session(lux, "review").await;
        let text = format!("Run {n}: the database index covers the tenant column.");
        lux.append_step(project, &reference, thought(&text))
            .await
            .unwrap();
    }

    let report = lux
        .find_patterns(project, &PatternQuery::default())
        .await
        .unwrap();
    assert_eq!(report.sessions_examined, 8);
    assert!(report.failed_miners.is_empty());
    let recurring = report
        .patterns
        .iter()
        .find(|found| {
            found.pattern.kind == "recurring_signal"
                && found.pattern.data["signal"] == "planted_anchor"
        })
        .expect("the planted bias recurs");
    assert_eq!(recurring.pattern.support, 4);
    assert_eq!(recurring.pattern.score, 0.5);
    let sessions: BTreeSet<SessionId> = recurring.pattern.session_ids.iter().copied().collect();
    assert_eq!(sessions, planted_sessions);

    let topical = report
        .patterns
        .iter()
        .find(|found| {
            found.pattern.kind == "concept_signal"
                && found.pattern.data["signal"] == "planted_anchor"
                && found.pattern.data["concept"] == "flamegraph"
        })
        .expect("the bias is tied to the flamegraph sessions");
    assert_eq!(topical.pattern.support, 4);
    assert_eq!(topical.pattern.score, 1.0);
    assert_eq!(topical.pattern.data["lift"], 2.0);
    // The index sessions never show it, so no pattern ties it to them.
    assert!(!report.patterns.iter().any(|found| {
        found.pattern.data["signal"] == "planted_anchor" && found.pattern.data["concept"] == "index"
    }));

    // A higher bar than the support drops both.
    let strict = PatternQuery {
        min_support: Some(5),
        ..PatternQuery::default()
    };
    let report = lux.find_patterns(project, &strict).await.unwrap();
    assert!(
        !report
            .patterns
            .iter()
            .any(|found| found.pattern.data["signal"] == "planted_anchor")
    );
}

async fn recurring_signals_equal_a_recount_of_demo_data(lux: &Lux) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 30,
        seed: 5,
    };
    lux.fill_demo(project, &options).await.unwrap();
    let sessions = lux
        .list_sessions(
            project,
            &SessionFilter::default(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap()
        .items;

    // (tool, signal) → sessions showing it, and sessions per tool, from the raw rows.
    let mut expected: BTreeMap<(String, String), BTreeSet<SessionId>> = BTreeMap::new();
    let mut per_tool: BTreeMap<String, u32> = BTreeMap::new();
    for session in &sessions {
        *per_tool.entry(session.tool.clone()).or_default() += 1;
        let reference = SessionRef::Id(session.id);
        let findings = lux.list_findings(project, &reference).await.unwrap();
        let alerts = lux.list_monitor_events(project, &reference).await.unwrap();
        let signals = findings
            .iter()
            .map(|finding| finding.bias_type.clone())
            .chain(alerts.iter().map(|alert| alert.kind.clone()));
        for signal in signals {
            expected
                .entry((session.tool.clone(), signal))
                .or_default()
                .insert(session.id);
        }
    }
    expected.retain(|_, found| found.len() >= 3);
    assert!(!expected.is_empty(), "the demo data has recurring signals");

    let report = lux
        .find_patterns(project, &PatternQuery::default())
        .await
        .unwrap();
    assert_eq!(report.sessions_examined as usize, sessions.len());
    let mut mined: BTreeMap<(String, String), BTreeSet<SessionId>> = BTreeMap::new();
    for found in &report.patterns {
        if found.pattern.kind != "recurring_signal" {
            continue;
        }
        let key = (
            found.pattern.data["tool"].as_str().unwrap().to_owned(),
            found.pattern.data["signal"].as_str().unwrap().to_owned(),
        );
        let total = per_tool[&key.0];
        assert_eq!(
            found.pattern.score,
            f64::from(found.pattern.support) / f64::from(total)
        );
        mined.insert(key, found.pattern.session_ids.iter().copied().collect());
    }
    assert_eq!(mined, expected);
    // Strongest first.
    let supports: Vec<u32> = report.patterns.iter().map(|f| f.pattern.support).collect();
    assert!(
        supports.windows(2).all(|pair| pair[0] >= pair[1]),
        "{supports:?}"
    );
}

async fn bad_pattern_queries_are_refused(lux: &Lux) {
    let project = lux.default_project();
    for (query, field) in [
        (
            PatternQuery {
                sessions: Some(0),
                ..PatternQuery::default()
            },
            "sessions",
        ),
        (
            PatternQuery {
                sessions: Some(1_000_000),
                ..PatternQuery::default()
            },
            "sessions",
        ),
        (
            PatternQuery {
                min_support: Some(0),
                ..PatternQuery::default()
            },
            "min_support",
        ),
    ] {
        let refused = lux.find_patterns(project, &query).await;
        assert!(
            matches!(&refused, Err(Error::Invalid { field: named, .. }) if named == field),
            "{refused:?}"
        );
    }
}
