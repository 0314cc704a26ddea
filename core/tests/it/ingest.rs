//! Batch ingest: mixed records, per-item results, replays that write nothing twice.

use lux_core::services::ingest::{IngestRecord, ItemResult, MAX_BATCH_ITEMS};
use lux_core::{
    Error, Lux, NewModelCall, NewSession, NewStep, NewSynthesis, PageRequest, SessionFilter,
    SessionId, SessionRef, StepId, storage_tests,
};

fn batch(session_id: SessionId) -> Vec<IngestRecord> {
    let session = SessionRef::Id(session_id);
    let step_id = StepId(uuid::Uuid::now_v7());
    vec![
        IngestRecord::Session(NewSession {
            id: Some(session_id),
            external_id: Some("trace-77".into()),
            tool: "agent_run".into(),
            ..NewSession::default()
        }),
        IngestRecord::Step {
            session: session.clone(),
            step: NewStep {
                id: Some(step_id),
                kind: "reasoning".into(),
                content: "first".into(),
                model: Some("gpt-4o".into()),
                ..NewStep::default()
            },
        },
        IngestRecord::ModelCall {
            session: SessionRef::ExternalId("trace-77".into()),
            call: NewModelCall {
                id: Some(lux_core::ModelCallId(uuid::Uuid::now_v7())),
                step_id: Some(step_id),
                ..NewModelCall::ok("openai", "gpt-4o", 1000, 100)
            },
        },
        IngestRecord::Step {
            session: session.clone(),
            step: NewStep {
                id: Some(StepId(uuid::Uuid::now_v7())),
                kind: "reasoning".into(),
                content: "second".into(),
                ..NewStep::default()
            },
        },
        IngestRecord::Synthesis {
            session: session.clone(),
            synthesis: NewSynthesis {
                id: Some(lux_core::SynthesisVersionId(uuid::Uuid::now_v7())),
                ..NewSynthesis::raw("update_synthesis(Understanding=\"ok\", Insights=[\"a\"])")
            },
        },
    ]
}

async fn a_mixed_batch_is_written_and_a_replay_duplicates_nothing(lux: &Lux) {
    let project = lux.default_project();
    let session_id = SessionId(uuid::Uuid::now_v7());
    let records = batch(session_id);
    let mut events = lux.subscribe_events().await.unwrap();
    let first = lux.ingest(project, &records).await.unwrap();
    assert!(
        first
            .iter()
            .all(|r| matches!(r, ItemResult::Created { .. })),
        "{first:?}"
    );
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .expect("events arrive within a second")
            .unwrap();
        kinds.push(event.kind.as_str());
    }
    assert_eq!(
        kinds,
        [
            "session_created",
            "step_appended",
            "model_call_recorded",
            "step_appended",
            "synthesis_updated"
        ]
    );

    let replay = lux.ingest(project, &records).await.unwrap();
    assert!(
        replay
            .iter()
            .all(|r| matches!(r, ItemResult::Duplicate { .. })),
        "{replay:?}"
    );
    for (a, b) in first.iter().zip(&replay) {
        let (ItemResult::Created { id: a }, ItemResult::Duplicate { id: b }) = (a, b) else {
            unreachable!()
        };
        assert_eq!(a, b, "a replay answers with the ids of the first write");
    }
    let reference = SessionRef::Id(session_id);
    assert_eq!(lux.all_steps(project, &reference).await.unwrap().len(), 2);
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
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.model.as_deref(), Some("gpt-4o"));
}

async fn a_bad_item_leaves_nothing_and_the_good_ones_land(lux: &Lux) {
    let project = lux.default_project();
    let session_id = SessionId(uuid::Uuid::now_v7());
    let session = SessionRef::Id(session_id);
    let records = vec![
        IngestRecord::Session(NewSession {
            id: Some(session_id),
            tool: "agent_run".into(),
            ..NewSession::default()
        }),
        IngestRecord::Step {
            session: session.clone(),
            step: NewStep {
                kind: "reasoning".into(),
                content: "good one".into(),
                ..NewStep::default()
            },
        },
        IngestRecord::Step {
            session: session.clone(),
            step: NewStep {
                kind: "reasoning".into(),
                content: "too sure".into(),
                confidence: Some(7.0),
                ..NewStep::default()
            },
        },
        IngestRecord::ModelCall {
            session: session.clone(),
            call: NewModelCall::ok("openai", "gpt-4o", -3, 1),
        },
        IngestRecord::Step {
            session: SessionRef::ExternalId("nobody".into()),
            step: NewStep {
                kind: "reasoning".into(),
                content: "orphan".into(),
                ..NewStep::default()
            },
        },
        IngestRecord::Step {
            session: session.clone(),
            step: NewStep {
                kind: "reasoning".into(),
                content: "good two".into(),
                ..NewStep::default()
            },
        },
        IngestRecord::Synthesis {
            session: session.clone(),
            synthesis: NewSynthesis::raw("no update here"),
        },
    ];
    let results = lux.ingest(project, &records).await.unwrap();
    let summary: Vec<String> = results
        .iter()
        .map(|r| match r {
            ItemResult::Created { .. } => "created".to_owned(),
            ItemResult::Duplicate { .. } => "duplicate".to_owned(),
            ItemResult::Error { code, field, .. } => {
                format!("{code}:{}", field.as_deref().unwrap_or("-"))
            }
        })
        .collect();
    assert_eq!(
        summary,
        [
            "created",
            "created",
            "invalid:confidence",
            "invalid:input_tokens",
            "not_found:-",
            "created",
            "invalid_synthesis:synthesis"
        ]
    );
    let steps = lux.all_steps(project, &session).await.unwrap();
    let contents: Vec<(i32, &str)> = steps
        .iter()
        .map(|s| (s.step_number, s.content.as_str()))
        .collect();
    assert_eq!(
        contents,
        [(1, "good one"), (2, "good two")],
        "numbering stays contiguous past a bad item"
    );
    assert!(
        lux.list_model_calls(project, &session)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn oversized_batches_are_refused_whole(lux: &Lux) {
    let project = lux.default_project();
    let records: Vec<IngestRecord> = (0..=MAX_BATCH_ITEMS)
        .map(|i| {
            IngestRecord::Session(NewSession {
                tool: "bulk".into(),
                external_id: Some(format!("b{i}")),
                ..NewSession::default()
            })
        })
        .collect();
    let result = lux.ingest(project, &records).await;
    assert!(
        matches!(result, Err(Error::Invalid { ref field, .. }) if field == "items"),
        "{result:?}"
    );
    let page = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

async fn many_sessions_in_one_batch(lux: &Lux) {
    let project = lux.default_project();
    let mut records = Vec::new();
    for s in 0..20 {
        let external = format!("run-{s}");
        records.push(IngestRecord::Session(NewSession {
            tool: "bulk".into(),
            external_id: Some(external.clone()),
            ..NewSession::default()
        }));
        for n in 0..10 {
            records.push(IngestRecord::Step {
                session: SessionRef::ExternalId(external.clone()),
                step: NewStep {
                    kind: "reasoning".into(),
                    content: format!("step {n} of {s}"),
                    ..NewStep::default()
                },
            });
        }
    }
    let results = lux.ingest(project, &records).await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, ItemResult::Created { .. }))
    );
    for s in [0, 19] {
        let steps = lux
            .all_steps(project, &SessionRef::ExternalId(format!("run-{s}")))
            .await
            .unwrap();
        assert_eq!(
            steps.iter().map(|s| s.step_number).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
    }
    let wire = serde_json::to_value(&records[1]).unwrap();
    assert_eq!(
        wire["type"], "step",
        "records are tagged by type on the wire"
    );
}

storage_tests!(
    steps_written_together_are_seen_by_what_follows_them,
    a_step_id_raced_by_two_batches_is_stored_once,
    a_mixed_batch_is_written_and_a_replay_duplicates_nothing,
    a_bad_item_leaves_nothing_and_the_good_ones_land,
    oversized_batches_are_refused_whole,
    many_sessions_in_one_batch,
);

fn step(id: Option<StepId>, number: Option<i32>, content: &str) -> NewStep {
    NewStep {
        id,
        step_number: number,
        kind: "reasoning".into(),
        content: content.into(),
        ..NewStep::default()
    }
}

fn outcome(result: &ItemResult) -> String {
    match result {
        ItemResult::Created { .. } => "created".to_owned(),
        ItemResult::Duplicate { .. } => "duplicate".to_owned(),
        ItemResult::Error { code, .. } => code.clone(),
    }
}

/// A batch's steps go in together, yet every later item of the batch sees them: the same id
/// again is a duplicate, a replayed number is found, a call names a step not yet flushed, and
/// numbering runs on without a gap.
async fn steps_written_together_are_seen_by_what_follows_them(lux: &Lux) {
    let project = lux.default_project();
    let session_id = SessionId(uuid::Uuid::now_v7());
    let session = SessionRef::Id(session_id);
    let alpha = StepId(uuid::Uuid::now_v7());
    let records = vec![
        IngestRecord::Session(NewSession {
            id: Some(session_id),
            tool: "agent_run".into(),
            ..NewSession::default()
        }),
        IngestRecord::Step {
            session: session.clone(),
            step: step(Some(alpha), None, "alpha"),
        },
        IngestRecord::Step {
            session: session.clone(),
            step: step(Some(alpha), None, "alpha"),
        },
        IngestRecord::Step {
            session: session.clone(),
            step: step(None, None, "beta"),
        },
        IngestRecord::Step {
            session: session.clone(),
            step: step(None, Some(2), "beta"),
        },
        IngestRecord::ModelCall {
            session: session.clone(),
            call: NewModelCall {
                step_id: Some(alpha),
                ..NewModelCall::ok("openai", "gpt-4o", 10, 5)
            },
        },
        IngestRecord::Step {
            session: session.clone(),
            step: step(None, None, "gamma"),
        },
        IngestRecord::Step {
            session: session.clone(),
            step: step(None, Some(9), "a gap"),
        },
    ];
    let results = lux.ingest(project, &records).await.unwrap();
    let outcomes: Vec<String> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [
            "created",
            "created",
            "duplicate",
            "created",
            "duplicate",
            "created",
            "created",
            "invalid"
        ]
    );
    let stored: Vec<(i32, String)> = lux
        .all_steps(project, &session)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.step_number, s.content))
        .collect();
    assert_eq!(
        stored,
        [
            (1, "alpha".to_owned()),
            (2, "beta".to_owned()),
            (3, "gamma".to_owned())
        ]
    );
    let calls = lux.list_model_calls(project, &session).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].step_id, Some(alpha));
    // What each result names is what was stored.
    let ItemResult::Created { id } = &results[1] else {
        panic!("the first alpha is created");
    };
    assert_eq!(*id, alpha.0);
}

/// Two batches racing to store the same client step id in different sessions: one stores it,
/// the other is told it belongs to another session, whatever the interleaving; the rest of
/// both batches lands.
async fn a_step_id_raced_by_two_batches_is_stored_once(lux: &Lux) {
    let project = lux.default_project();
    let shared = StepId(uuid::Uuid::now_v7());
    let racer = |content: &'static str| {
        let session_id = SessionId(uuid::Uuid::now_v7());
        let session = SessionRef::Id(session_id);
        let mut records = vec![IngestRecord::Session(NewSession {
            id: Some(session_id),
            tool: "agent_run".into(),
            ..NewSession::default()
        })];
        for n in 0..50 {
            records.push(IngestRecord::Step {
                session: session.clone(),
                step: step(None, None, &format!("{content} {n}")),
            });
        }
        records.push(IngestRecord::Step {
            session: session.clone(),
            step: step(Some(shared), None, content),
        });
        (session, records)
    };
    let (first_session, first) = racer("first");
    let (second_session, second) = racer("second");
    let (a, b) = tokio::join!(lux.ingest(project, &first), lux.ingest(project, &second));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut last = [outcome(a.last().unwrap()), outcome(b.last().unwrap())];
    last.sort();
    assert_eq!(last, ["conflict", "created"]);
    for (session, results) in [(&first_session, &a), (&second_session, &b)] {
        assert!(results[..51].iter().all(|r| outcome(r) == "created"));
        let stored = lux.all_steps(project, session).await.unwrap();
        let holds_shared = stored.iter().any(|s| s.id == shared);
        assert_eq!(stored.len(), if holds_shared { 51 } else { 50 });
    }
}
