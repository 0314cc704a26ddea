//! Cross-session patterns, on both backends: digests match the stored rows; a pattern's figures
//! equal a recount over the raw rows; planted patterns in histories built from the held-out topic
//! corpus are found in the top five, named by whole words, each stated once; noise stays quiet.

use std::collections::{BTreeMap, BTreeSet};

use lux_core::detect::DetectorRegistry;
use lux_core::patterns::planted::{self, TopicSet};
use lux_core::patterns::stats::{Count, fisher_greater};
use lux_core::patterns::{Facet, PatternKind};
use lux_core::services::patterns::PatternQuery;
use lux_core::*;

use crate::support::{new_session, session, thought};

lux_core::storage_tests!(
    digests_match_the_stored_rows,
    a_tool_pattern_matches_a_recount,
    planted_patterns_are_found_and_noise_stays_quiet,
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
    // Two sessions make no topic.
    assert!(digests.iter().all(|digest| digest.topic.is_none()));
}

fn planted_finding(step: StepId, bias_type: &str) -> NewFinding {
    NewFinding {
        bias_type: bias_type.into(),
        ..planted(step)
    }
}

async fn a_tool_pattern_matches_a_recount(lux: &Lux) {
    let project = lux.default_project();
    // Ten planner sessions, eight with anchoring; ten reviewer sessions, one with it.
    let mut planner_anchored = BTreeSet::new();
    for n in 0..20 {
        let tool = if n < 10 { "planner" } else { "reviewer" };
        let session = lux
            .create_session(project, new_session(tool))
            .await
            .unwrap()
            .value;
        let reference = SessionRef::Id(session.id);
        let step = lux
            .append_step(
                project,
                &reference,
                thought(&format!("Estimate number {n}.")),
            )
            .await
            .unwrap()
            .value;
        if n < 8 || n == 15 {
            lux.record_finding(project, &reference, planted_finding(step.id, "anchoring"))
                .await
                .unwrap();
            if n < 10 {
                planner_anchored.insert(session.id);
            }
        }
    }
    let report = lux
        .find_patterns(
            project,
            &PatternQuery {
                min_support: Some(3),
                ..PatternQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.sessions_examined, 20);
    let pattern = report
        .patterns
        .iter()
        .find(|p| p.signal == "anchoring" && p.kind == PatternKind::Enrichment)
        .unwrap_or_else(|| panic!("no anchoring pattern in {report:#?}"));
    assert_eq!(
        pattern.group,
        vec![Facet::Tool {
            tool: "planner".into()
        }]
    );
    assert_eq!(pattern.support, 8);
    assert_eq!(pattern.group_sessions, 10);
    assert_eq!(pattern.rate, 0.8);
    assert_eq!(pattern.baseline_rate, 0.1);
    assert_eq!(pattern.baseline_sessions, 10);
    let sessions: BTreeSet<SessionId> = pattern.session_ids.iter().copied().collect();
    assert_eq!(sessions, planner_anchored);
    let p = fisher_greater(
        Count {
            with_signal: 8,
            sessions: 10,
        },
        Count {
            with_signal: 1,
            sessions: 10,
        },
    );
    assert_eq!(pattern.p_value, p);
    assert!(pattern.q_value >= p && pattern.q_value <= report.fdr);
    assert!(pattern.difference_interval[0] > 0.0 && pattern.difference_interval[1] <= 1.0);
    assert!(
        pattern
            .title
            .starts_with("anchoring in 80% of planner sessions vs 10% elsewhere (8 sessions, q "),
        "{}",
        pattern.title
    );
    // The reviewer sessions are not enriched, so nothing is said of them.
    assert!(!report.patterns.iter().any(|p| {
        p.group
            .iter()
            .any(|facet| matches!(facet, Facet::Tool { tool } if tool == "reviewer"))
    }));
}

/// Histories built from the held-out topic corpus (never read while the topic thresholds were
/// chosen): the first three seeds planted, the next five pure noise. Seeds are fixed up front;
/// `lux bench patterns` reports the same figures over more seeds.
async fn planted_patterns_are_found_and_noise_stays_quiet(lux: &Lux) {
    let lux = lux.clone().with_detectors(DetectorRegistry::empty());
    let (mut found, mut planted_total, mut noisy) = (0, 0, 0);
    for seed in 1..=8_u64 {
        let plant = seed <= 3;
        let history = planted::generate(TopicSet::Heldout, seed, plant).unwrap();
        let slug = format!("planted-{seed}");
        let project = lux.create_project(&slug, &slug).await.unwrap().id;
        let ids = planted::store(&lux, project, &history).await.unwrap();
        let report = lux
            .find_patterns(project, &PatternQuery::default())
            .await
            .unwrap();
        assert_eq!(report.sessions_examined as usize, ids.len());
        assert!(report.topics.len() >= 5, "{:#?}", report.topics);
        // Every topic is named by whole words or phrases of the sessions, never a fragment.
        for topic in &report.topics {
            assert!(!topic.words.is_empty());
            for word in &topic.words {
                assert!(
                    history.has_term(word),
                    "{word:?} of {topic:?} is no whole term"
                );
            }
        }
        // No two patterns state (nearly) the same sessions.
        for (i, a) in report.patterns.iter().enumerate() {
            for b in &report.patterns[i + 1..] {
                let a_ids: BTreeSet<_> = a.session_ids.iter().collect();
                let b_ids: BTreeSet<_> = b.session_ids.iter().collect();
                let overlap =
                    a_ids.intersection(&b_ids).count() as f64 / a_ids.union(&b_ids).count() as f64;
                assert!(
                    overlap < 0.7,
                    "{} and {} overlap {overlap}",
                    a.title,
                    b.title
                );
            }
            assert!(a.q_value <= report.fdr && a.support >= report.min_support);
        }
        // Strongest evidence first.
        assert!(
            report
                .patterns
                .windows(2)
                .all(|w| w[0].p_value <= w[1].p_value)
        );
        if plant {
            for outcome in planted::score(&history, &ids, &report) {
                planted_total += 1;
                if outcome.rank.is_some_and(|rank| rank <= 5) && outcome.names_are_whole_words {
                    found += 1;
                }
            }
        } else if !report.patterns.is_empty() {
            noisy += 1;
        }
    }
    // Measured on these seeds when the bar was set: 7 of 9 planted, no noise history reporting.
    assert!(
        found * 4 >= planted_total * 3,
        "{found} of {planted_total} planted patterns in the top five"
    );
    assert!(
        noisy <= 1,
        "{noisy} of 5 noise-only histories reported a pattern"
    );
}

async fn bad_pattern_queries_are_refused(lux: &Lux) {
    let project = lux.default_project();
    let mut cases = Vec::new();
    for (query, field) in [(Some(0), "sessions"), (Some(1_000_000), "sessions")] {
        cases.push((
            PatternQuery {
                sessions: query,
                ..PatternQuery::default()
            },
            field,
        ));
    }
    cases.push((
        PatternQuery {
            min_support: Some(0),
            ..PatternQuery::default()
        },
        "min_support",
    ));
    for fdr in [0.0, -0.1, 0.9, f64::NAN, f64::INFINITY] {
        cases.push((
            PatternQuery {
                fdr: Some(fdr),
                ..PatternQuery::default()
            },
            "fdr",
        ));
    }
    for window_days in [0, 10_000] {
        cases.push((
            PatternQuery {
                window_days: Some(window_days),
                ..PatternQuery::default()
            },
            "window_days",
        ));
    }
    for (query, field) in cases {
        let refused = lux.find_patterns(project, &query).await;
        assert!(
            matches!(&refused, Err(Error::Invalid { field: named, .. }) if named == field),
            "{query:?}: {refused:?}"
        );
    }
}
