//! What a numbered thought needs besides its write: a retry is a replay (same coordinates and
//! text, same id), revisions resolve to the newest step holding a thought, and the reply's state
//! (step count, branches, the step's findings) is read without reading the session.

use lux_core::services::thoughts::{ThoughtCoordinates, ThoughtState};
use lux_core::{Lux, NewStep, WriteOutcome, storage_tests};
use serde_json::json;

use crate::support::session;

storage_tests!(
    thoughts_replay_resolve_and_report_state,
    the_last_thought_completes_its_session_in_its_write,
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

/// `record_thought` writes the step and, for the host's last thought, completes the session in
/// the same write; a retried last thought is a replay that leaves the session as it was.
async fn the_last_thought_completes_its_session_in_its_write(lux: &Lux) {
    let (project, session, reference) = session(lux, "sequential_thinking").await;
    let actor = lux_core::Actor::new("mcp");
    let first = coordinates(1).step_id(session.id, "Look at the query plan.");
    let (written, after) = lux
        .record_thought(
            project,
            &reference,
            numbered(first, 1, "Look at the query plan.", None),
            false,
            &actor,
        )
        .await
        .unwrap();
    assert_eq!(written.outcome, WriteOutcome::Created);
    assert_eq!(after.status, lux_core::SessionStatus::Active);
    assert!(after.completed_at.is_none());

    let last = coordinates(2).step_id(session.id, "Add the index; done.");
    for expected in [WriteOutcome::Created, WriteOutcome::Duplicate] {
        let (written, after) = lux
            .record_thought(
                project,
                &reference,
                numbered(last, 2, "Add the index; done.", None),
                true,
                &actor,
            )
            .await
            .unwrap();
        assert_eq!(written.outcome, expected);
        assert_eq!(written.value.step_number, 2);
        assert_eq!(after.status, lux_core::SessionStatus::Completed);
        assert!(after.completed_at.is_some());
        assert_eq!(lux.get_session(project, &reference).await.unwrap(), after);
    }
    assert_eq!(lux.thought_state(session.id).await.unwrap().steps, 2);

    // A thought for a session that is not there changes nothing anywhere.
    let missing = lux_core::SessionRef::Id(lux_core::SessionId(uuid::Uuid::now_v7()));
    let error = lux
        .record_thought(
            project,
            &missing,
            numbered(first, 1, "x", None),
            true,
            &actor,
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found", "{error}");
}
