//! Sessions: idempotent creation, lookups, filters, pagination, updates and audited deletion.

use chrono::{Duration, TimeZone, Utc};
use lux_core::{
    Actor, Error, Lux, NewSession, PageRequest, SessionFilter, SessionPatch, SessionRef,
    SessionStatus, WriteOutcome, storage_tests,
};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{new_session, session, thought};

async fn create_and_get_by_id_and_external_id(lux: &Lux) {
    let project = lux.default_project();
    let created = lux
        .create_session(
            project,
            NewSession {
                external_id: Some("mcp-42".into()),
                title: Some("Why is the cache cold?".into()),
                tags: vec!["perf".into(), "cache".into(), "perf".into()],
                metadata: Some(serde_json::json!({"client_version": "1.2"})),
                ..new_session("traced_reasoning")
            },
        )
        .await
        .unwrap();
    assert_eq!(created.outcome, WriteOutcome::Created);
    let session = created.value;
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(
        session.tags,
        vec!["perf", "cache"],
        "duplicate tags collapse"
    );

    let by_id = lux
        .get_session(project, &SessionRef::Id(session.id))
        .await
        .unwrap();
    let by_external = lux
        .get_session(project, &SessionRef::ExternalId("mcp-42".into()))
        .await
        .unwrap();
    assert_eq!(by_id.id, session.id);
    assert_eq!(by_external.id, session.id);
    assert_eq!(by_id.metadata["client_version"], "1.2");
    let mut tags = by_id.tags.clone();
    tags.sort();
    assert_eq!(tags, vec!["cache", "perf"]);
}

async fn creation_is_idempotent_on_client_id_and_external_id(lux: &Lux) {
    let project = lux.default_project();
    let id = lux_core::SessionId(uuid::Uuid::now_v7());
    let new = NewSession {
        id: Some(id),
        external_id: Some("ext-1".into()),
        ..new_session("planner")
    };
    assert_eq!(
        lux.create_session(project, new.clone())
            .await
            .unwrap()
            .outcome,
        WriteOutcome::Created
    );
    let again = lux.create_session(project, new).await.unwrap();
    assert_eq!(again.outcome, WriteOutcome::Duplicate);
    assert_eq!(again.value.id, id);

    let by_external = lux
        .create_session(
            project,
            NewSession {
                external_id: Some("ext-1".into()),
                ..new_session("planner")
            },
        )
        .await
        .unwrap();
    assert_eq!(by_external.outcome, WriteOutcome::Duplicate);
    assert_eq!(by_external.value.id, id);

    let clash = lux
        .create_session(
            project,
            NewSession {
                id: Some(lux_core::SessionId(uuid::Uuid::now_v7())),
                external_id: Some("ext-1".into()),
                ..new_session("planner")
            },
        )
        .await;
    assert!(matches!(clash, Err(Error::Conflict { .. })), "{clash:?}");
}

async fn projects_do_not_see_each_other(lux: &Lux) {
    let other = lux
        .create_project("other-team", "Other team")
        .await
        .unwrap();
    let (project, session, reference) = session(lux, "confer").await;
    let hidden = lux.get_session(other.id, &reference).await;
    assert!(matches!(hidden, Err(Error::NotFound { .. })), "{hidden:?}");
    let appended = lux
        .append_step(other.id, &reference, thought("sneaky"))
        .await;
    assert!(
        matches!(appended, Err(Error::NotFound { .. })),
        "{appended:?}"
    );
    let page = lux
        .list_sessions(other.id, &SessionFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    // Reusing another project's session id is refused, not merged.
    let stolen = lux
        .create_session(
            other.id,
            NewSession {
                id: Some(session.id),
                ..new_session("confer")
            },
        )
        .await;
    assert!(matches!(stolen, Err(Error::Conflict { .. })), "{stolen:?}");
    assert_eq!(
        lux.get_session(project, &reference).await.unwrap().tool,
        "confer"
    );
}

async fn list_filters_and_paginates_without_gaps_or_repeats(lux: &Lux) {
    let project = lux.default_project();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for i in 0..25 {
        let new = NewSession {
            tool: if i % 2 == 0 {
                "confer".into()
            } else {
                "planner".into()
            },
            user_id: Some(format!("user-{}", i % 3)),
            model: Some(if i % 5 == 0 {
                "gpt-4o".into()
            } else {
                "claude-sonnet-4".into()
            }),
            tags: if i % 4 == 0 {
                vec!["flagged".into()]
            } else {
                vec![]
            },
            status: Some(if i % 7 == 0 {
                SessionStatus::Failed
            } else {
                SessionStatus::Active
            }),
            // Several sessions share a timestamp, so the id must break ties.
            created_at: Some(start + Duration::minutes(i / 3)),
            ..NewSession::default()
        };
        lux.create_session(project, new).await.unwrap();
    }

    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let result = lux
            .list_sessions(project, &SessionFilter::default(), &page)
            .await
            .unwrap();
        assert!(result.items.len() <= 4);
        seen.extend(result.items.iter().map(|s| (s.created_at, s.id)));
        match result.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, no repeats");

    let count = |filter: SessionFilter| async move {
        lux.list_sessions(project, &filter, &PageRequest::first(1000))
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(
        count(SessionFilter {
            tool: Some("confer".into()),
            ..Default::default()
        })
        .await,
        13
    );
    assert_eq!(
        count(SessionFilter {
            user_id: Some("user-0".into()),
            ..Default::default()
        })
        .await,
        9
    );
    assert_eq!(
        count(SessionFilter {
            model: Some("gpt-4o".into()),
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(SessionFilter {
            tag: Some("flagged".into()),
            ..Default::default()
        })
        .await,
        7
    );
    assert_eq!(
        count(SessionFilter {
            status: Some(SessionStatus::Failed),
            ..Default::default()
        })
        .await,
        4
    );
    let window = SessionFilter {
        since: Some(start + Duration::minutes(2)),
        until: Some(start + Duration::minutes(4)),
        ..Default::default()
    };
    assert_eq!(
        count(window).await,
        6,
        "since is inclusive, until exclusive"
    );
    assert_eq!(
        count(SessionFilter {
            tool: Some("x' OR '1'='1".into()),
            ..Default::default()
        })
        .await,
        0
    );

    let bad_limit = lux
        .list_sessions(
            project,
            &SessionFilter::default(),
            &PageRequest::first(5000),
        )
        .await;
    assert!(
        matches!(bad_limit, Err(Error::Invalid { ref field, .. }) if field == "limit"),
        "{bad_limit:?}"
    );
    let bad_cursor = lux
        .list_sessions(
            project,
            &SessionFilter::default(),
            &PageRequest {
                limit: None,
                cursor: Some("garbage".into()),
            },
        )
        .await;
    assert!(
        matches!(bad_cursor, Err(Error::Invalid { ref field, .. }) if field == "cursor"),
        "{bad_cursor:?}"
    );
}

async fn update_complete_and_reopen(lux: &Lux) {
    let (project, _, reference) = session(lux, "planner").await;
    let actor = Actor::new("test");
    let patched = lux
        .update_session(
            project,
            &reference,
            SessionPatch {
                title: Some(Some("Plan the migration".into())),
                tags: Some(vec!["infra".into()]),
                metadata: Some(serde_json::json!({"ticket": 7})),
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    assert_eq!(patched.title.as_deref(), Some("Plan the migration"));
    assert_eq!(patched.tags, vec!["infra"]);
    assert!(patched.completed_at.is_none());

    let completed = lux
        .complete_session(project, &reference, &actor)
        .await
        .unwrap();
    assert_eq!(completed.status, SessionStatus::Completed);
    assert!(completed.completed_at.is_some());
    let failed = lux.fail_session(project, &reference, &actor).await.unwrap();
    assert_eq!(
        failed.completed_at, completed.completed_at,
        "the end time is when it first ended"
    );
    let reopened = lux
        .update_session(
            project,
            &reference,
            SessionPatch {
                status: Some(SessionStatus::Active),
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    assert!(reopened.completed_at.is_none());

    let bad = lux
        .update_session(
            project,
            &reference,
            SessionPatch {
                metadata: Some(serde_json::json!([1, 2])),
                ..Default::default()
            },
            &actor,
        )
        .await;
    assert!(
        matches!(bad, Err(Error::Invalid { ref field, .. }) if field == "metadata"),
        "{bad:?}"
    );
}

async fn delete_cascades_and_is_audited(lux: &Lux) {
    let (project, session, reference) = session(lux, "confer").await;
    let step = lux
        .append_step(project, &reference, thought("first"))
        .await
        .unwrap()
        .value;
    lux.record_model_call(
        project,
        &reference,
        lux_core::NewModelCall {
            step_id: Some(step.id),
            ..lux_core::NewModelCall::ok("openai", "gpt-4o", 100, 20)
        },
    )
    .await
    .unwrap();
    lux.add_synthesis(project, &reference, lux_core::NewSynthesis::raw(
        r#"update_synthesis(Understanding="done", Insights=["one"], Actions=["two"], Confidence=0.5)"#,
    ))
    .await
    .unwrap();
    let (_, keeper, keeper_ref) = crate::support::session(lux, "confer").await;
    lux.append_step(project, &keeper_ref, thought("keep me"))
        .await
        .unwrap();

    let mut events = lux.subscribe_events().await.unwrap();
    lux.delete_session(project, &reference, &Actor::new("admin-key"))
        .await
        .unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.kind, lux_core::live::LiveEventKind::SessionDeleted);
    assert!(matches!(
        lux.get_session(project, &reference).await,
        Err(Error::NotFound { .. })
    ));

    for table in [
        "steps",
        "model_calls",
        "synthesis_versions",
        "insights",
        "action_items",
        "session_tags",
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE session_id = $1");
        let sql = if lux.backend() == lux_core::Backend::Sqlite {
            sql.replace("$1", "?")
        } else {
            sql
        };
        let row = lux
            .db()
            .query_one_raw(Statement::from_sql_and_values(
                lux.db().get_database_backend(),
                &sql,
                [session.id.0.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 0, "{table} rows of the deleted session remain");
    }
    assert_eq!(
        lux.all_steps(project, &SessionRef::Id(keeper.id))
            .await
            .unwrap()
            .len(),
        1,
        "other sessions untouched"
    );

    let audit = lux
        .db()
        .query_one_raw(Statement::from_string(
            lux.db().get_database_backend(),
            "SELECT actor, action, entity_id, details FROM audit_log WHERE action = 'session.delete'",
        ))
        .await
        .unwrap()
        .expect("an audit row");
    assert_eq!(audit.try_get::<String>("", "actor").unwrap(), "admin-key");
    assert_eq!(
        audit.try_get::<String>("", "entity_id").unwrap(),
        session.id.to_string()
    );
    let details: serde_json::Value = audit.try_get("", "details").unwrap();
    assert_eq!(details["steps"], 1);
    assert_eq!(details["tool"], "confer");
}

async fn bad_session_input_names_the_field(lux: &Lux) {
    let project = lux.default_project();
    let cases = [
        (
            NewSession {
                tool: "".into(),
                ..Default::default()
            },
            "tool",
        ),
        (
            NewSession {
                tool: "Bad Tool!".into(),
                ..Default::default()
            },
            "tool",
        ),
        (
            NewSession {
                metadata: Some(serde_json::json!("text")),
                ..new_session("confer")
            },
            "metadata",
        ),
        (
            NewSession {
                tags: vec!["  ".into()],
                ..new_session("confer")
            },
            "tags",
        ),
        (
            NewSession {
                title: Some("x".repeat(70_000)),
                ..new_session("confer")
            },
            "title",
        ),
    ];
    for (new, field) in cases {
        match lux.create_session(project, new).await {
            Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    let page = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "nothing was stored");
}

storage_tests!(
    create_and_get_by_id_and_external_id,
    creation_is_idempotent_on_client_id_and_external_id,
    projects_do_not_see_each_other,
    list_filters_and_paginates_without_gaps_or_repeats,
    update_complete_and_reopen,
    delete_cascades_and_is_audited,
    bad_session_input_names_the_field,
);
