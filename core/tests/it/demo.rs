//! The demo filler: varied sessions written through ingest, deterministic per seed, idempotent on replay.

use std::collections::HashSet;

use lux_core::demo::{DemoOptions, DemoSummary};
use lux_core::{
    Lux, NanoUsd, PageRequest, ProjectId, Session, SessionFilter, SessionRef, storage_tests,
};

async fn all_sessions(lux: &Lux, project: ProjectId) -> Vec<Session> {
    lux.list_sessions(
        project,
        &SessionFilter::default(),
        &PageRequest::first(1000),
    )
    .await
    .unwrap()
    .items
}

async fn demo_fills_varied_sessions_once_per_seed(lux: &Lux) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 30,
        seed: 7,
    };
    let summary = lux.fill_demo(project, &options).await.unwrap();
    assert_eq!(summary.sessions, 30, "{summary:?}");
    for (what, count) in [
        ("steps", summary.steps),
        ("synthesis versions", summary.synthesis_versions),
        ("model calls", summary.model_calls),
        ("findings", summary.findings),
        ("monitor events", summary.monitor_events),
    ] {
        assert!(count > 0, "no {what}: {summary:?}");
    }
    assert!(summary.cost > NanoUsd(0), "{summary:?}");

    let sessions = all_sessions(lux, project).await;
    assert_eq!(sessions.len(), 30);
    let tools: HashSet<&str> = sessions.iter().map(|s| s.tool.as_str()).collect();
    assert!(tools.len() >= 5, "{tools:?}");
    let statuses: HashSet<_> = sessions.iter().map(|s| s.status).collect();
    assert!(statuses.len() >= 3, "{statuses:?}");

    // The summary counts exactly what the database now holds.
    let (mut steps, mut versions, mut calls, mut findings, mut events) = (0, 0, 0, 0, 0);
    let mut cost = NanoUsd(0);
    let mut formats = HashSet::new();
    for session in &sessions {
        assert!(
            session
                .external_id
                .as_deref()
                .is_some_and(|id| id.starts_with("demo-7-")),
            "{session:?}"
        );
        assert!(session.tags.iter().any(|tag| tag == "demo"));
        let reference = SessionRef::Id(session.id);
        let session_steps = lux.all_steps(project, &reference).await.unwrap();
        assert!(session_steps.len() >= 3, "{session:?}");
        assert!(session_steps.len() <= 15, "{session:?}");
        let numbers: Vec<i32> = session_steps.iter().map(|s| s.step_number).collect();
        assert_eq!(
            numbers,
            (1..=session_steps.len() as i32).collect::<Vec<_>>()
        );
        assert!(
            session_steps
                .windows(2)
                .all(|pair| pair[0].created_at < pair[1].created_at),
            "step times increase within a session"
        );
        assert!(session_steps[0].created_at > session.created_at);
        steps += session_steps.len();

        for finding in lux.list_findings(project, &reference).await.unwrap() {
            let step = session_steps
                .iter()
                .find(|step| Some(step.id) == finding.step_id)
                .expect("a finding points at a step of its session");
            let span = finding.evidence.expect("demo findings carry evidence");
            assert_eq!(
                finding.evidence_text.as_deref(),
                step.content.get(span.start..span.end),
                "{finding:?}"
            );
            assert_eq!(finding.detector, "demo.heuristics");
            findings += 1;
        }
        let session_versions = lux
            .list_synthesis_versions(project, &reference)
            .await
            .unwrap();
        assert!(
            (1..=4).contains(&session_versions.len()),
            "{} versions",
            session_versions.len()
        );
        for version in &session_versions {
            assert!(!version.insights.is_empty() && !version.action_items.is_empty());
            let raw = version.raw_update.as_deref().unwrap_or_default();
            formats.insert(if raw.contains("update_synthesis({") {
                "json call"
            } else if raw.contains("Understanding=") {
                "keyword call"
            } else {
                "bare object"
            });
        }
        versions += session_versions.len();
        for call in lux.list_model_calls(project, &reference).await.unwrap() {
            cost = NanoUsd(cost.0 + call.cost.0);
            calls += 1;
        }
        events += lux
            .list_monitor_events(project, &reference)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(
        summary,
        DemoSummary {
            sessions: 30,
            steps,
            synthesis_versions: versions,
            model_calls: calls,
            findings,
            monitor_events: events,
            cost,
        }
    );
    assert_eq!(formats.len(), 3, "{formats:?}");

    let again = lux.fill_demo(project, &options).await.unwrap();
    assert_eq!(
        again,
        DemoSummary::default(),
        "a replay of the same seed creates nothing"
    );
    assert_eq!(all_sessions(lux, project).await.len(), 30);

    let other = lux
        .fill_demo(
            project,
            &DemoOptions {
                sessions: 5,
                seed: 8,
            },
        )
        .await
        .unwrap();
    assert_eq!(other.sessions, 5, "{other:?}");
    assert!(other.steps >= 15, "{other:?}");
    assert_eq!(all_sessions(lux, project).await.len(), 35);
}

async fn a_larger_fill_with_the_same_seed_only_adds_the_new_sessions(lux: &Lux) {
    let project = lux.default_project();
    let first = lux
        .fill_demo(
            project,
            &DemoOptions {
                sessions: 3,
                seed: 21,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.sessions, 3);
    let more = lux
        .fill_demo(
            project,
            &DemoOptions {
                sessions: 5,
                seed: 21,
            },
        )
        .await
        .unwrap();
    assert_eq!(more.sessions, 2, "{more:?}");
    let sessions = all_sessions(lux, project).await;
    let mut external: Vec<&str> = sessions
        .iter()
        .filter_map(|s| s.external_id.as_deref())
        .collect();
    external.sort_unstable();
    assert_eq!(
        external,
        [
            "demo-21-0",
            "demo-21-1",
            "demo-21-2",
            "demo-21-3",
            "demo-21-4"
        ]
    );
}

storage_tests!(
    demo_fills_varied_sessions_once_per_seed,
    a_larger_fill_with_the_same_seed_only_adds_the_new_sessions,
);
