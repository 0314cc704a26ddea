//! REST API v1 in-process (poem's test client over the real app) on SQLite and PostgreSQL:
//! the resources, idempotent ingest, pagination, auth and the error contract.

use lux_api::rest::AuthPolicy;
use lux_api::server::{AppState, app};
use lux_core::services::api_keys::Scope;
use lux_core::{Lux, storage_tests};
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use serde_json::{Value, json};

struct Api<E> {
    client: TestClient<E>,
    key: Option<String>,
}

async fn api(lux: &Lux, loopback: bool) -> Api<impl poem::Endpoint> {
    let state = crate::support::app_state(lux, loopback).await;
    Api {
        client: TestClient::new(app(state)),
        key: None,
    }
}

impl<E: poem::Endpoint> Api<E> {
    fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, path);
        if let Some(key) = &self.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            request = request
                .content_type("application/json")
                .body(body.to_string());
        }
        let response = request.send().await;
        let status = response.0.status();
        assert!(
            response.0.headers().contains_key("x-request-id"),
            "every answer has a request id"
        );
        let text = response.0.into_body().into_string().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_client_error() || status.is_server_error() {
            assert!(
                value["code"].is_string() && value["message"].is_string(),
                "error shape: {text}"
            );
            assert!(
                value["request_id"].is_string(),
                "error has request_id: {text}"
            );
        }
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
}

async fn sessions_steps_calls_synthesis_roundtrip(lux: &Lux) {
    let api = api(lux, true).await;
    let (status, session) = api
        .post("/api/v1/sessions", json!({"tool": "traced_reasoning", "external_id": "run-1", "tags": ["a"], "title": "Why?"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    let (status, again) = api
        .post(
            "/api/v1/sessions",
            json!({"tool": "traced_reasoning", "external_id": "run-1"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a repeat answers 200 with the stored session"
    );
    assert_eq!(again["id"], session["id"]);

    for content in ["first thought", "second thought", "third thought"] {
        let (status, step) = api
            .post(
                &format!("/api/v1/sessions/{id}/steps"),
                json!({"kind": "thought", "content": content, "confidence": 0.6}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{step}");
    }
    let (status, call) = api
        .post(
            "/api/v1/sessions/run-1/model-calls",
            json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "latency_ms": 900}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(
        call["cost_nusd"],
        2_500_000 + 5_000_000,
        "1000 × $2.50/M + 500 × $10/M = $0.0075"
    );
    let (status, version) = api
        .post(
            &format!("/api/v1/sessions/{id}/synthesis"),
            json!({"raw": "update_synthesis(Understanding=\"It works.\", Insights=[\"one\", \"two\"], Confidence=0.9)"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{version}");
    assert_eq!(version["version"], 1);
    let (status, version) = api
        .post(
            &format!("/api/v1/sessions/{id}/synthesis"),
            json!({"update": {"current_understanding": "Even better.", "insights": [{"text": "three"}], "action_items": [{"action": "ship", "priority": "high"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{version}");
    let (status, _) = api
        .post(
            &format!("/api/v1/sessions/{id}/synthesis"),
            json!({"raw": "no update here"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, steps) = api
        .get(&format!("/api/v1/sessions/{id}/steps?limit=2"))
        .await;
    assert_eq!(steps["items"].as_array().unwrap().len(), 2);
    let cursor = steps["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = api
        .get(&format!(
            "/api/v1/sessions/{id}/steps?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"][0]["content"], "third thought");
    assert!(rest["next_cursor"].is_null());
    let (_, latest) = api.get(&format!("/api/v1/sessions/{id}/synthesis")).await;
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["action_items"][0]["priority"], "high");
    let (_, versions) = api
        .get(&format!("/api/v1/sessions/{id}/synthesis/versions"))
        .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    let (_, calls) = api.get(&format!("/api/v1/sessions/{id}/model-calls")).await;
    assert_eq!(calls["items"][0]["input_tokens"], 1000);
    let (status, findings) = api.get(&format!("/api/v1/sessions/{id}/findings")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(findings["items"].is_array());
    let (status, _) = api
        .get(&format!("/api/v1/sessions/{id}/monitor-events"))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, patched) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/sessions/{id}"),
            Some(json!({"status": "completed", "title": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["status"], "completed");
    assert!(patched["title"].is_null() && patched["completed_at"].is_string());

    let (status, _) = api
        .send(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn ingest_reports_each_item_and_replays_write_nothing_twice(lux: &Lux) {
    let api = api(lux, true).await;
    let session = "0191f3b0-0000-7000-8000-0000000000a1";
    let batch = json!({"items": [
        {"type": "session", "id": session, "tool": "agent_run"},
        {"type": "step", "session_id": session, "id": "0191f3b0-0000-7000-8000-0000000000b1", "kind": "reasoning", "content": "one"},
        {"type": "step", "session_id": session, "id": "0191f3b0-0000-7000-8000-0000000000b2", "kind": "reasoning", "content": "two", "confidence": 9},
        {"type": "model_call", "session_id": session, "id": "0191f3b0-0000-7000-8000-0000000000c1", "provider": "anthropic", "model": "claude-sonnet-4-20250514", "input_tokens": 10, "output_tokens": 10},
        {"type": "synthesis", "session_id": session, "id": "0191f3b0-0000-7000-8000-0000000000d1", "raw": "update_synthesis({\"understanding\": \"ok\"})"},
        {"type": "monitor_event", "session_external_id": "missing", "kind": "circular_reasoning", "severity": "low", "score": 0.1, "message": "?"},
    ]});
    let (status, first) = api.post("/api/v1/ingest", batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["created"].as_i64(), first["errors"].as_i64()),
        (Some(4), Some(2)),
        "{first}"
    );
    assert_eq!(first["items"][2]["field"], "confidence");
    assert_eq!(first["items"][5]["code"], "not_found");
    let (_, replay) = api.post("/api/v1/ingest", batch).await;
    assert_eq!(
        (replay["created"].as_i64(), replay["duplicates"].as_i64()),
        (Some(0), Some(4)),
        "{replay}"
    );
    let (_, steps) = api.get(&format!("/api/v1/sessions/{session}/steps")).await;
    assert_eq!(steps["items"].as_array().unwrap().len(), 1);

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"type": "session", "tool": "bulk", "external_id": format!("b{i}")}))
        .collect();
    let (status, error) = api.post("/api/v1/ingest", json!({"items": too_many})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

async fn pagination_walks_every_row_once_under_concurrent_inserts(lux: &Lux) {
    let api = api(lux, true).await;
    for i in 0..30 {
        api.post(
            "/api/v1/sessions",
            json!({"tool": "confer", "external_id": format!("s{i}")}),
        )
        .await;
    }
    let writer = {
        let lux = lux.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let new = lux_core::NewSession {
                    tool: "late".into(),
                    external_id: Some(format!("late{i}")),
                    ..Default::default()
                };
                lux.create_session(lux.default_project(), new)
                    .await
                    .unwrap();
            }
        })
    };
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/sessions?tool=confer&limit=7&cursor={cursor}"),
            None => "/api/v1/sessions?tool=confer&limit=7".to_owned(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_owned()),
                "a session appeared twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    writer.await.unwrap();
    assert_eq!(seen.len(), 30, "every pre-existing session exactly once");
}

/// Walks a list endpoint page by page (`path` has its query and `limit` already) and returns the
/// ids seen, in order; fails on a repeat.
async fn walk<E: poem::Endpoint>(
    api: &Api<E>,
    path: &str,
    first_page: Option<usize>,
) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let (status, page) = api.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let items = page["items"].as_array().unwrap();
        if cursor.is_none()
            && let Some(expected) = first_page
        {
            assert_eq!(items.len(), expected, "{url}: a full first page");
        }
        for item in items {
            let id = item["id"].as_str().unwrap().to_owned();
            assert!(!seen.contains(&id), "{url}: {id} appeared twice");
            seen.push(id);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen
}

/// A client paging at the largest `limit` reaches every row: the page says more follow even when
/// it is exactly full (a session with 1,001 steps gave 1,000 and no cursor).
async fn paging_at_the_largest_limit_reaches_every_row(lux: &Lux) {
    let api = api(lux, true).await;
    let project = lux.default_project();
    let history = |sessions, steps, seed| lux_core::bulk::BulkOptions {
        sessions,
        steps,
        days: 3,
        seed,
    };
    lux.fill_bulk(project, &history(1, 1001, 7), |_| {})
        .await
        .unwrap();
    let longest = lux
        .list_sessions(
            project,
            &lux_core::SessionFilter::default(),
            &lux_core::PageRequest::first(2),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(longest.len(), 1);
    let longest = longest[0].id;
    lux.fill_bulk(project, &history(1000, 1000, 8), |_| {})
        .await
        .unwrap();

    let sessions = walk(&api, "/api/v1/sessions?limit=1000", Some(1000)).await;
    assert_eq!(sessions.len(), 1001);
    let steps = walk(
        &api,
        &format!("/api/v1/sessions/{longest}/steps?limit=1000"),
        Some(1000),
    )
    .await;
    assert_eq!(steps.len(), 1001, "every step of the long session");

    // Search: its largest page is 100; the walk at it finds what a walk in small pages finds.
    let word = "step";
    let large = walk(&api, &format!("/api/v1/search?q={word}&limit=100"), None).await;
    let small = walk(&api, &format!("/api/v1/search?q={word}&limit=37"), None).await;
    assert!(
        large.len() > 100,
        "the bulk history has more than a page of hits: {}",
        large.len()
    );
    assert_eq!(large, small);

    // A plugin's runs and the stored patterns.
    let plugin = lux
        .install_plugin(lux_core::NewPlugin {
            name: "pager".into(),
            version: "1.0.0".into(),
            kind: lux_core::PluginKind::Detector,
            description: "runs for paging".into(),
            config_schema: json!({"type": "object"}),
            wasm: b"not run".to_vec(),
        })
        .await
        .unwrap()
        .plugin;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..1001 {
        lux.record_plugin_run(lux_core::NewPluginRun {
            plugin_id: plugin.id,
            session_id: None,
            step_id: None,
            // Some runs share a start: the cursor must still order them.
            started_at: start + chrono::Duration::milliseconds(i / 3),
            duration_us: 10,
            outcome: lux_core::RunOutcome::Ok,
            message: None,
            produced: 0,
        })
        .await
        .unwrap();
    }
    let runs = walk(&api, "/api/v1/plugins/pager/runs?limit=1000", Some(1000)).await;
    assert_eq!(runs.len(), 1001);

    let found: Vec<lux_core::services::patterns::FoundPattern> = (0..1001)
        .map(|i| lux_core::services::patterns::FoundPattern {
            miner: "plugin.pager".into(),
            miner_version: "1.0.0".into(),
            pattern: lux_core::detect::MinedPattern {
                kind: "recurring_signal".into(),
                title: format!("pattern {i}"),
                support: 1,
                score: 0.5,
                session_ids: Vec::new(),
                data: json!({}),
            },
        })
        .collect();
    lux.store_patterns(project, &found).await.unwrap();
    // More than the 1,000 the listing used to read before folding; its largest page is 100.
    let patterns = walk(&api, "/api/v1/patterns?source=plugin&limit=100", Some(100)).await;
    assert_eq!(patterns.len(), 1001, "every stored pattern");
}

async fn bad_input_gets_clear_errors_and_changes_nothing(lux: &Lux) {
    let api = api(lux, true).await;
    let (_, session) = api
        .post("/api/v1/sessions", json!({"tool": "confer"}))
        .await;
    let id = session["id"].as_str().unwrap();
    let steps = format!("/api/v1/sessions/{id}/steps");
    let cases: Vec<(&str, StatusCode)> = vec![
        ("{not json", StatusCode::BAD_REQUEST),
        ("[]", StatusCode::BAD_REQUEST),
        (r#"{"kind": "thought"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"kind": "thought", "content": {"nested": true}}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"kind": "thought", "content": "x", "is_revision": "yes"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"kind": "thought", "content": "x", "confidence": "high"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"kind": "thought", "content": "x", "step_number": 99}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"kind": "'; DROP TABLE steps; --", "content": "x"}"#,
            StatusCode::BAD_REQUEST,
        ),
        // The spec says string: a number or a boolean is not quietly turned into one.
        (
            r#"{"kind": "thought", "content": 42}"#,
            StatusCode::BAD_REQUEST,
        ),
        (r#"{"kind": true, "content": "x"}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"kind": "thought", "content": "x", "model": 4}"#,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, expected) in cases {
        let response = api
            .client
            .post(&steps)
            .content_type("application/json")
            .body(body)
            .send()
            .await;
        assert_eq!(response.0.status(), expected, "{body}");
        let error: Value =
            serde_json::from_str(&response.0.into_body().into_string().await.unwrap()).unwrap();
        assert!(error["code"].is_string(), "{error}");
    }
    for (path, body) in [
        ("/api/v1/sessions", json!({"tool": 42})),
        (
            "/api/v1/sessions",
            json!({"tool": "agent", "tags": ["ok", 7]}),
        ),
        (
            "/api/v1/ingest",
            json!({"items": [{"type": "session", "tool": false}]}),
        ),
    ] {
        let (status, error) = api.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains("string"),
            "{body}: {error}"
        );
    }
    let invalid_utf8 = api
        .client
        .post(&steps)
        .content_type("application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await;
    assert_eq!(invalid_utf8.0.status(), StatusCode::BAD_REQUEST);
    let huge = format!(
        r#"{{"kind": "thought", "content": "{}"}}"#,
        "x".repeat(11 * 1024 * 1024)
    );
    let (status, error) = api
        .send(
            Method::POST,
            &steps,
            Some(serde_json::from_str(&huge).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    let big_step = json!({"kind": "thought", "content": "y".repeat(1024 * 1024 + 1)});
    let (status, error) = api.post(&steps, big_step).await;
    assert_eq!(
        (status, error["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content"))
    );

    let (status, _) = api
        .get("/api/v1/sessions/0191f3b0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.get("/api/v1/sessions?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.get("/api/v1/sessions?cursor=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.get(&format!("/api/v1/sessions/{id}/synthesis")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = api.get(&steps).await;
    assert!(
        page["items"].as_array().unwrap().is_empty(),
        "nothing was stored: {page}"
    );
}

async fn auth_matrix(lux: &Lux) {
    let open = api(lux, true).await;
    let (status, _) = open.get("/api/v1/sessions").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "keyless works on a fresh loopback server"
    );
    let (status, _) = api(lux, false).await.get("/api/v1/sessions").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "never keyless off loopback"
    );

    let other = lux.create_project("other", "Other").await.unwrap();
    let default = lux.default_project();
    let admin = lux
        .create_api_key(default, "admin", Scope::Admin)
        .await
        .unwrap()
        .secret;
    let reader = lux
        .create_api_key(default, "reader", Scope::Read)
        .await
        .unwrap()
        .secret;
    let outsider = lux
        .create_api_key(other.id, "outsider", Scope::Admin)
        .await
        .unwrap()
        .secret;

    let (status, _) = open.get("/api/v1/sessions").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "once a key exists, keyless is over"
    );
    let admin_api = api(lux, true).await.with_key(&admin);
    let (status, session) = admin_api
        .post("/api/v1/sessions", json!({"tool": "confer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = session["id"].as_str().unwrap().to_owned();

    let reader_api = api(lux, true).await.with_key(&reader);
    assert_eq!(
        reader_api.get(&format!("/api/v1/sessions/{id}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        reader_api
            .post("/api/v1/sessions", json!({"tool": "confer"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reader_api
            .send(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let outsider_api = api(lux, true).await.with_key(&outsider);
    assert_eq!(
        outsider_api.get(&format!("/api/v1/sessions/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        outsider_api
            .post(
                &format!("/api/v1/sessions/{id}/steps"),
                json!({"kind": "thought", "content": "x"})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, page) = outsider_api.get("/api/v1/sessions").await;
    assert!(
        page["items"].as_array().unwrap().is_empty(),
        "another project's sessions are invisible"
    );
    assert_eq!(
        outsider_api
            .send(Method::DELETE, &format!("/api/v1/sessions/{id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        api(lux, true)
            .await
            .with_key("lux_00000000_forged")
            .get("/api/v1/sessions")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let prefix = reader.rsplit_once('_').unwrap().0.to_owned();
    let (status, revoked) = admin_api
        .send(Method::DELETE, &format!("/api/v1/api-keys/{prefix}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(
        reader_api.get(&format!("/api/v1/sessions/{id}")).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    let (_, keys) = admin_api.get("/api/v1/api-keys").await;
    let text = keys.to_string();
    assert!(
        !text.contains(&admin) && !text.contains("key_hash"),
        "secrets and hashes never leave"
    );
    assert_eq!(
        api(lux, true)
            .await
            .with_key(&admin)
            .get(&format!("/api/v1/sessions/{id}"))
            .await
            .0,
        StatusCode::OK
    );
}

async fn prices_projects_and_keys_over_rest(lux: &Lux) {
    let api = api(lux, true).await;
    let (_, prices) = api.get("/api/v1/model-prices").await;
    assert!(
        prices["items"].as_array().unwrap().len() > 20,
        "the shipped list is there"
    );
    let (status, set) = api
        .send(
            Method::PUT,
            "/api/v1/model-prices",
            Some(json!({"prices": [{"model_pattern": "my-model*", "input_nusd_per_mtok": 1000000000, "output_nusd_per_mtok": 2000000000}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["items"][0]["source"], "user");
    let (status, _) = api
        .send(Method::PUT, "/api/v1/model-prices", Some(json!({"prices": [{"model_pattern": "x", "input_nusd_per_mtok": -1, "output_nusd_per_mtok": 0}]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, project) = api
        .post(
            "/api/v1/projects",
            json!({"slug": "team-b", "name": "Team B"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let (status, _) = api
        .post(
            "/api/v1/projects",
            json!({"slug": "team-b", "name": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, created) = api
        .post(
            "/api/v1/api-keys",
            json!({"name": "ci", "scope": "ingest", "project": "team-b"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["key"]["prefix"].as_str().unwrap()));
    let team_b = self::api(lux, true).await.with_key(&secret);
    let (status, _) = team_b
        .post("/api/v1/sessions", json!({"tool": "confer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, projects) = team_b.get("/api/v1/projects").await;
    assert_eq!(
        projects["items"].as_array().unwrap().len(),
        1,
        "a key sees only its own project"
    );
    assert_eq!(
        team_b
            .post("/api/v1/projects", json!({"slug": "c", "name": "C"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

storage_tests!(
    sessions_steps_calls_synthesis_roundtrip,
    ingest_reports_each_item_and_replays_write_nothing_twice,
    pagination_walks_every_row_once_under_concurrent_inserts,
    paging_at_the_largest_limit_reaches_every_row,
    bad_input_gets_clear_errors_and_changes_nothing,
    auth_matrix,
    prices_projects_and_keys_over_rest,
    metrics_count_requests_and_overload_is_shed,
);

/// `docs/openapi.json` is the contract clients generate from: it must match what the server serves.
/// Re-bless an intended change with `UPDATE_EXPECT=1 cargo test -p lux-api openapi`.
#[test]
fn openapi_spec_is_committed_and_current() {
    let spec: Value = serde_json::from_str(&lux_api::rest::spec_json()).unwrap();
    let pretty = serde_json::to_string_pretty(&spec).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "docs/openapi.json is out of date; rerun with UPDATE_EXPECT=1 and review the diff"
    );
    for path in [
        "/api/v1/sessions",
        "/api/v1/sessions/{id}/steps",
        "/api/v1/ingest",
        "/api/v1/model-prices",
        "/api/v1/api-keys",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
}

async fn metrics_count_requests_and_overload_is_shed(lux: &Lux) {
    let api = api(lux, true).await;
    api.get("/api/v1/sessions").await;
    api.post(
        "/api/v1/ingest",
        json!({"items": [{"type": "session", "tool": "metered"}]}),
    )
    .await;
    let response = api.client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains(
            r#"lux_http_requests_total{method="GET",operation="listSessions",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("lux_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"lux_ingest_items_total{outcome="created"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"lux_db_pool_connections{state="open"}"#),
        "{text}"
    );

    // With no room in flight, requests are refused at once with 503 and Retry-After. The room is
    // taken by a request whose body is still arriving, so the test does not depend on timing.
    let full = TestClient::new(app(AppState::with_max_in_flight(
        &crate::support::instance(lux).await,
        AuthPolicy::new(true),
        1,
    )));
    let (writer, body) = tokio::io::duplex(64);
    let held = full
        .post("/api/v1/ingest")
        .content_type("application/json")
        .body(poem::Body::from_async_read(body))
        .send();
    let refused = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let refused = full.get("/api/v1/sessions").send().await;
        drop(writer);
        refused
    };
    let (held, refused) = tokio::join!(held, refused);
    refused.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    refused.assert_header("retry-after", "1");
    assert_ne!(
        held.0.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the first request had the room"
    );
    full.get("/api/v1/sessions")
        .send()
        .await
        .assert_status_is_ok();
    let (status, ready) = api.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    // Readiness says what analysis runs on: the model the build installed.
    assert_eq!(ready["analysis"]["features"], "semantic", "{ready}");
    assert_eq!(
        ready["analysis"]["semantic_model"], "use-multilingual-v3",
        "{ready}"
    );
    assert!(
        ready["analysis"]["learned_detectors"].is_string(),
        "{ready}"
    );
}
