//! Steps: numbering, idempotency, revisions and branches, limits.

use lux_core::{Error, Lux, NewStep, PageRequest, StepId, WriteOutcome, storage_tests};

use crate::support::{session, thought};

async fn numbers_are_assigned_in_order_and_checked_when_given(lux: &Lux) {
    let (project, session, reference) = session(lux, "sequential_thinking").await;
    let mut events = lux.subscribe_events().await.unwrap();
    for expected in 1..=3 {
        let step = lux
            .append_step(project, &reference, thought(&format!("thought {expected}")))
            .await
            .unwrap();
        assert_eq!(step.value.step_number, expected);
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.kind, lux_core::live::LiveEventKind::StepAppended);
        assert_eq!(event.entity_id, step.value.id.0);
        assert_eq!(event.session_id, session.id);
    }
    let fourth = lux
        .append_step(
            project,
            &reference,
            NewStep {
                step_number: Some(4),
                ..thought("thought 4")
            },
        )
        .await
        .unwrap();
    assert_eq!(fourth.value.step_number, 4);

    let gap = lux
        .append_step(
            project,
            &reference,
            NewStep {
                step_number: Some(9),
                ..thought("far")
            },
        )
        .await;
    assert!(
        matches!(gap, Err(Error::Invalid { ref field, .. }) if field == "step_number"),
        "{gap:?}"
    );
    let taken = lux
        .append_step(
            project,
            &reference,
            NewStep {
                step_number: Some(2),
                ..thought("other")
            },
        )
        .await;
    assert!(matches!(taken, Err(Error::Conflict { .. })), "{taken:?}");
    // The same step sent again (a client retry without ids) is recognised, not duplicated.
    let replay = lux
        .append_step(
            project,
            &reference,
            NewStep {
                step_number: Some(2),
                ..thought("thought 2")
            },
        )
        .await
        .unwrap();
    assert_eq!(replay.outcome, WriteOutcome::Duplicate);

    let steps = lux.all_steps(project, &reference).await.unwrap();
    let numbers: Vec<i32> = steps.iter().map(|s| s.step_number).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    let page = lux
        .list_steps(
            project,
            &reference,
            &PageRequest {
                limit: Some(1),
                cursor: Some("2".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].step_number, 3);
    assert_eq!(page.next_cursor.as_deref(), Some("3"), "step 4 follows");
    let session = lux.get_session(project, &reference).await.unwrap();
    assert!(session.updated_at >= session.created_at);
}

async fn client_id_makes_append_idempotent(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let id = StepId(uuid::Uuid::now_v7());
    let new = NewStep {
        id: Some(id),
        ..thought("only once")
    };
    assert_eq!(
        lux.append_step(project, &reference, new.clone())
            .await
            .unwrap()
            .outcome,
        WriteOutcome::Created
    );
    let again = lux
        .append_step(project, &reference, new.clone())
        .await
        .unwrap();
    assert_eq!(again.outcome, WriteOutcome::Duplicate);
    assert_eq!(again.value.id, id);
    assert_eq!(lux.all_steps(project, &reference).await.unwrap().len(), 1);

    let (_, _, other) = crate::support::session(lux, "confer").await;
    let moved = lux.append_step(project, &other, new).await;
    assert!(matches!(moved, Err(Error::Conflict { .. })), "{moved:?}");
}

async fn revisions_and_branches_point_backwards(lux: &Lux) {
    let (project, _, reference) = session(lux, "traced_reasoning").await;
    lux.append_step(project, &reference, thought("the cache is cold"))
        .await
        .unwrap();
    lux.append_step(project, &reference, thought("because of eviction"))
        .await
        .unwrap();
    let revision = lux
        .append_step(
            project,
            &reference,
            NewStep {
                is_revision: true,
                revises_step: Some(2),
                confidence: Some(0.4),
                ..thought("no: because of a deploy")
            },
        )
        .await
        .unwrap()
        .value;
    assert!(revision.is_revision);
    assert_eq!(revision.revises_step, Some(2));
    let branch = lux
        .append_step(
            project,
            &reference,
            NewStep {
                branch_from_step: Some(1),
                branch_id: Some("alt".into()),
                ..thought("or the TTL is wrong")
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(branch.branch_id.as_deref(), Some("alt"));

    let forward = lux
        .append_step(
            project,
            &reference,
            NewStep {
                is_revision: true,
                revises_step: Some(5),
                ..thought("?")
            },
        )
        .await;
    assert!(
        matches!(forward, Err(Error::Invalid { ref field, .. }) if field == "revises_step"),
        "{forward:?}"
    );
    let unnamed = lux
        .append_step(
            project,
            &reference,
            NewStep {
                is_revision: true,
                ..thought("?")
            },
        )
        .await;
    assert!(
        matches!(unnamed, Err(Error::Invalid { ref field, .. }) if field == "revises_step"),
        "{unnamed:?}"
    );
}

async fn bad_steps_are_refused_and_store_nothing(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let cases = [
        (thought(""), "content"),
        (
            thought(&"x".repeat(lux_core::MAX_CONTENT_BYTES + 1)),
            "content",
        ),
        (
            NewStep {
                confidence: Some(1.5),
                ..thought("sure")
            },
            "confidence",
        ),
        (
            NewStep {
                clarity: Some(f64::NAN),
                ..thought("clear")
            },
            "clarity",
        ),
        (
            NewStep {
                kind: "".into(),
                ..thought("no kind")
            },
            "kind",
        ),
        (
            NewStep {
                metadata: Some(serde_json::json!(3)),
                ..thought("meta")
            },
            "metadata",
        ),
        (
            NewStep {
                step_number: Some(0),
                ..thought("zero")
            },
            "step_number",
        ),
    ];
    for (new, field) in cases {
        match lux.append_step(project, &reference, new).await {
            Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    let unknown = lux
        .append_step(
            project,
            &lux_core::SessionRef::Id(lux_core::SessionId(uuid::Uuid::now_v7())),
            thought("lost"),
        )
        .await;
    assert!(
        matches!(unknown, Err(Error::NotFound { .. })),
        "{unknown:?}"
    );
    assert!(lux.all_steps(project, &reference).await.unwrap().is_empty());

    // Exactly at the limit, and text with SQL metacharacters and non-ASCII, are stored verbatim.
    let tricky = "'; DROP TABLE steps; -- «ünïcödé» 日本語 🚀";
    lux.append_step(project, &reference, thought(tricky))
        .await
        .unwrap();
    let at_limit = "y".repeat(lux_core::MAX_CONTENT_BYTES);
    lux.append_step(project, &reference, thought(&at_limit))
        .await
        .unwrap();
    let steps = lux.all_steps(project, &reference).await.unwrap();
    assert_eq!(steps[0].content, tricky);
    assert_eq!(steps[1].content.len(), lux_core::MAX_CONTENT_BYTES);
}

async fn concurrent_appends_get_distinct_contiguous_numbers(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let lux = lux.clone();
        let reference = reference.clone();
        tasks.push(tokio::spawn(async move {
            lux.append_step(project, &reference, thought(&format!("parallel {i}")))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let numbers: Vec<i32> = lux
        .all_steps(project, &reference)
        .await
        .unwrap()
        .iter()
        .map(|s| s.step_number)
        .collect();
    assert_eq!(numbers, (1..=16).collect::<Vec<_>>());
}

storage_tests!(
    numbers_are_assigned_in_order_and_checked_when_given,
    client_id_makes_append_idempotent,
    revisions_and_branches_point_backwards,
    bad_steps_are_refused_and_store_nothing,
    concurrent_appends_get_distinct_contiguous_numbers,
);
