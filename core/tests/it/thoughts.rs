//! An MCP turn (`Lux::record_turn`) and what a numbered thought needs besides its write: a retry
//! is a replay (same coordinates and text, same id), revisions resolve to the newest step holding
//! a thought, the turn's session, step, call and synthesis go in together, and the reply's state
//! (step count, branches, the step's findings) is read without reading the session.

use std::time::Duration;

use lux_core::services::thoughts::{ThoughtCoordinates, ThoughtState, Turn, TurnSession};
use lux_core::{
    Lux, NewModelCall, NewSession, NewStep, NewSynthesis, SessionRef, WriteOutcome, storage_tests,
};
use serde_json::json;

use crate::support::session;

storage_tests!(
    thoughts_replay_resolve_and_report_state,
    the_last_thought_completes_its_session_in_its_write,
    a_turn_stores_its_session_step_call_and_synthesis_together,
);

fn coordinates(number: u32) -> ThoughtCoordinates {
    ThoughtCoordinates {
        tool: "sequential_thinking",
        thought_number: number,
        is_revision: false,
        revises_thought: None,
        branch_from_thought: None,
        branch_id: None,
    }
}

fn numbered(id: lux_core::StepId, number: u32, content: &str, branch: Option<&str>) -> NewStep {
    NewStep {
        id: Some(id),
        kind: "thought".to_owned(),
        content: content.to_owned(),
        branch_id: branch.map(str::to_owned),
        metadata: Some(json!({ "thought_number": number })),
        ..NewStep::default()
    }
}

async fn thoughts_replay_resolve_and_report_state(lux: &Lux) {
    let (project, session, reference) = session(lux, "sequential_thinking").await;
    let other = session_id_of(lux).await;

    // Same session, coordinates and text: same id; any difference: another id.
    let first = coordinates(1).step_id(session.id, "Start from the slow query.");
    assert_eq!(
        first,
        coordinates(1).step_id(session.id, "Start from the slow query.")
    );
    assert_ne!(
        first,
        coordinates(1).step_id(session.id, "Start from the slow query!")
    );
    assert_ne!(
        first,
        coordinates(2).step_id(session.id, "Start from the slow query.")
    );
    assert_ne!(
        first,
        coordinates(1).step_id(other, "Start from the slow query.")
    );
    let revision = ThoughtCoordinates {
        is_revision: true,
        revises_thought: Some(1),
        ..coordinates(1)
    };
    assert_ne!(
        first,
        revision.step_id(session.id, "Start from the slow query.")
    );

    // A retried thought is found, not stored again.
    for expected in [WriteOutcome::Created, WriteOutcome::Duplicate] {
        let written = lux
            .append_step(
                project,
                &reference,
                numbered(first, 1, "Start from the slow query.", None),
            )
            .await
            .unwrap();
        assert_eq!(written.outcome, expected);
        assert_eq!(written.value.step_number, 1);
    }
    let second = coordinates(2).step_id(session.id, "Always index it; it never fails.");
    lux.append_step(
        project,
        &reference,
        numbered(second, 2, "Always index it; it never fails.", Some("b")),
    )
    .await
    .unwrap();
    // Thought 1 revised: the newest step holding it wins.
    let revised = revision.step_id(session.id, "Measure first.");
    lux.append_step(
        project,
        &reference,
        numbered(revised, 1, "Measure first.", Some("a")),
    )
    .await
    .unwrap();

    assert_eq!(lux.step_of_thought(session.id, 1).await.unwrap(), Some(3));
    assert_eq!(lux.step_of_thought(session.id, 2).await.unwrap(), Some(2));
    assert_eq!(lux.step_of_thought(session.id, 7).await.unwrap(), None);
    assert_eq!(lux.step_of_thought(other, 1).await.unwrap(), None);
    assert_eq!(
        lux.thought_state(session.id).await.unwrap(),
        ThoughtState {
            steps: 3,
            branches: vec!["a".to_owned(), "b".to_owned()],
        }
    );
    assert_eq!(
        lux.thought_state(other).await.unwrap(),
        ThoughtState::default()
    );

    // A step's findings are exactly those the session lists for it.
    let all = lux.list_findings(project, &reference).await.unwrap();
    for step in lux.all_steps(project, &reference).await.unwrap() {
        let expected: Vec<_> = all
            .iter()
            .filter(|f| f.step_id == Some(step.id))
            .cloned()
            .collect();
        assert_eq!(
            lux.step_findings(session.id, step.id).await.unwrap(),
            expected
        );
        assert!(lux.step_findings(other, step.id).await.unwrap().is_empty());
    }
}

async fn session_id_of(lux: &Lux) -> lux_core::SessionId {
    session(lux, "other").await.1.id
}

fn last_thought_turn(reference: &SessionRef, number: u32, content: &str, complete: bool) -> Turn {
    Turn {
        thought: Some(coordinates(number)),
        complete,
        ..Turn::new(
            TurnSession::Stored(reference.clone()),
            numbered_step(number, content),
        )
    }
}

fn numbered_step(number: u32, content: &str) -> NewStep {
    NewStep {
        kind: "thought".to_owned(),
        content: content.to_owned(),
        metadata: Some(json!({ "thought_number": number })),
        ..NewStep::default()
    }
}

/// A turn writes the step and, for the host's last thought, completes the session in the same
/// write; a retried last thought is a replay that leaves the session as it was.
async fn the_last_thought_completes_its_session_in_its_write(lux: &Lux) {
    let (project, session, reference) = session(lux, "sequential_thinking").await;
    let first = lux
        .record_turn(
            project,
            &last_thought_turn(&reference, 1, "Look at the query plan.", false),
        )
        .await
        .unwrap();
    assert_eq!(first.step.outcome, WriteOutcome::Created);
    assert_eq!(
        first.step.value.id,
        coordinates(1).step_id(session.id, "Look at the query plan.")
    );
    assert_eq!(first.session.status, lux_core::SessionStatus::Active);
    assert!(first.session.completed_at.is_none());
    assert!(!first.session_created);

    for expected in [WriteOutcome::Created, WriteOutcome::Duplicate] {
        let record = lux
            .record_turn(
                project,
                &last_thought_turn(&reference, 2, "Add the index; done.", true),
            )
            .await
            .unwrap();
        assert_eq!(record.step.outcome, expected);
        assert_eq!(record.step.value.step_number, 2);
        assert_eq!(record.state.steps, 2);
        assert_eq!(record.session.status, lux_core::SessionStatus::Completed);
        assert!(record.session.completed_at.is_some());
        assert_eq!(
            lux.get_session(project, &reference).await.unwrap(),
            record.session
        );
    }
    assert_eq!(lux.thought_state(session.id).await.unwrap().steps, 2);

    // A thought for a session that is not there changes nothing anywhere.
    let missing = SessionRef::Id(lux_core::SessionId(uuid::Uuid::now_v7()));
    let error = lux
        .record_turn(project, &last_thought_turn(&missing, 1, "x", true))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found", "{error}");
}

/// One turn of an LLM tool: the session named by the host is created on first use and found
/// after, the answer step, its model call and its synthesis are stored together, a synthesis
/// that does not parse is reported while the rest stands, a thought that revises a thought the
/// session lacks stores nothing, and a retried thought stores no second call.
async fn a_turn_stores_its_session_step_call_and_synthesis_together(lux: &Lux) {
    let project = lux.default_project();
    let named = || TurnSession::Named {
        name: "host-chat-7".to_owned(),
        template: NewSession {
            tool: "traced_reasoning".to_owned(),
            title: Some("Why is checkout slow?".to_owned()),
            ..NewSession::default()
        },
    };
    let answered = |content: &str, synthesis: &str| Turn {
        model_call: Some(NewModelCall::ok("openai", "gpt-4o-mini", 120, 40)),
        synthesis: Some(NewSynthesis::raw(synthesis)),
        thought: Some(ThoughtCoordinates {
            tool: "traced_reasoning",
            ..coordinates(1)
        }),
        analysis_wait: Some(Duration::from_secs(10)),
        ..Turn::new(named(), numbered_step(1, content))
    };
    let text = "Everyone knows all customers leave after one slow page, so it must be the CDN.";
    let first = lux
        .record_turn(
            project,
            &answered(
                text,
                r#"update_synthesis(Understanding="CDN suspected", Insights=["one"])"#,
            ),
        )
        .await
        .unwrap();
    assert!(first.session_created);
    assert_eq!(first.session.external_id.as_deref(), Some("host-chat-7"));
    let call = first.model_call.clone().expect("the call is stored");
    assert_eq!(call.step_id, Some(first.step.value.id));
    let synthesis = first.synthesis.clone().expect("the synthesis is stored");
    assert_eq!(synthesis.step_id, Some(first.step.value.id));
    assert!(first.synthesis_error.is_none());
    assert!(first.analysed, "the turn waited for its analysis");
    let reference = SessionRef::Id(first.session.id);
    assert_eq!(
        first.findings,
        lux.step_findings(first.session.id, first.step.value.id)
            .await
            .unwrap()
    );

    // The same thought again (a host retrying after a crash): found, and nothing doubled.
    let again = lux
        .record_turn(
            project,
            &answered(
                text,
                r#"update_synthesis(Understanding="CDN suspected", Insights=["one"])"#,
            ),
        )
        .await
        .unwrap();
    assert!(!again.session_created);
    assert_eq!(again.session.id, first.session.id);
    assert_eq!(again.step.outcome, WriteOutcome::Duplicate);
    assert!(again.model_call.is_none() && again.synthesis.is_none());
    assert_eq!(again.findings, first.findings);
    assert_eq!(
        lux.list_model_calls(project, &reference)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        lux.list_synthesis_versions(project, &reference)
            .await
            .unwrap()
            .len(),
        1
    );

    // A synthesis that does not parse: reported, while the step and its call are stored.
    let second = Turn {
        thought: Some(ThoughtCoordinates {
            tool: "traced_reasoning",
            ..coordinates(2)
        }),
        ..answered("Measure the CDN hit ratio first.", "no update here")
    };
    let second = Turn {
        step: numbered_step(2, "Measure the CDN hit ratio first."),
        ..second
    };
    let stored = lux.record_turn(project, &second).await.unwrap();
    assert_eq!(stored.step.value.step_number, 2);
    assert!(stored.model_call.is_some());
    assert!(stored.synthesis.is_none());
    assert_eq!(
        stored.synthesis_error.as_ref().map(lux_core::Error::code),
        Some("invalid_synthesis")
    );

    // A revision of a thought the session never had: refused, nothing of the turn stored.
    let revision = Turn {
        thought: Some(ThoughtCoordinates {
            tool: "traced_reasoning",
            is_revision: true,
            revises_thought: Some(9),
            ..coordinates(3)
        }),
        ..answered("Revised: it is the database.", "no update here")
    };
    let error = lux.record_turn(project, &revision).await.unwrap_err();
    assert_eq!(error.field(), Some("revises_step"), "{error}");
    assert_eq!(lux.all_steps(project, &reference).await.unwrap().len(), 2);
    assert_eq!(
        lux.list_model_calls(project, &reference)
            .await
            .unwrap()
            .len(),
        2
    );
}
