//! Tenancy and exposure, generated from the served OpenAPI spec: every operation is called with
//! another project's admin key aimed at this project's sessions, keys and data. Nothing of this
//! project may appear in any answer, everything aimed at its ids is a 404, and afterwards its
//! data is exactly as before. A new operation fails the test until the matrix says how to call
//! it. Also: CORS is off (no `Access-Control-Allow-*` for any origin).

use lux_api::server::app;
use lux_core::demo::DemoOptions;
use lux_core::services::api_keys::Scope;
use lux_core::*;
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use serde_json::{Value, json};

/// What the intruder sends for one operation: the path with its parameters filled in, a body.
fn aimed_at(
    method: &str,
    path: &str,
    victim_session: &str,
    victim_key: &str,
    word: &str,
) -> Option<(String, Option<Value>)> {
    let session = victim_session;
    let filled = path
        .replace("/api-keys/{id}", &format!("/api-keys/{victim_key}"))
        .replace("{id}", session)
        .replace("{dataset}", "all")
        .replace("{name}", "absolute-claims");
    let step = json!({"kind": "reasoning", "content": "An intruder's thought."});
    let (query, body) = match (method, path) {
        ("get", "/api/v1/compare") => (format!("?a={session}&b={session}"), None),
        ("get", "/api/v1/search") => (format!("?q={word}"), None),
        ("get", "/api/v1/stream") => (format!("?session_id={session}"), None),
        ("get", "/api/v1/sessions/{id}/synthesis/diff") => ("?from=1&to=2".to_owned(), None),
        ("get", "/api/v1/export/{dataset}") => ("?format=jsonl".to_owned(), None),
        ("get", _) | ("delete", _) => (String::new(), None),
        ("post", "/api/v1/sessions/{id}/steps") => (String::new(), Some(step)),
        ("post", "/api/v1/sessions/{id}/model-calls") => (
            String::new(),
            Some(
                json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}),
            ),
        ),
        ("post", "/api/v1/sessions/{id}/synthesis") => (
            String::new(),
            Some(json!({"raw": "update_synthesis({\"understanding\": \"hijacked\"})"})),
        ),
        ("patch", "/api/v1/sessions/{id}") => (
            String::new(),
            Some(json!({"title": "hijacked", "status": "failed"})),
        ),
        ("post", "/api/v1/ingest") => (
            String::new(),
            Some(json!({"items": [
                {"type": "step", "session_id": session, "kind": "reasoning", "content": "An intruder's thought."},
                {"type": "monitor_event", "session_id": session, "kind": "circular_reasoning", "severity": "low", "score": 0.5, "message": "x"},
            ]})),
        ),
        // The victim's own export, replayed into the intruder's project (filled in by the caller).
        ("post", "/api/v1/import") => (String::new(), Some(Value::String(String::new()))),
        ("post", "/api/v1/sessions") => (String::new(), Some(json!({"tool": "intruder"}))),
        ("post", "/api/v1/api-keys") => (
            String::new(),
            Some(json!({"name": "intruder", "scope": "admin"})),
        ),
        ("post", "/api/v1/projects") => (
            String::new(),
            Some(json!({"slug": "intruder-two", "name": "Intruder"})),
        ),
        ("put", "/api/v1/model-prices") => (String::new(), Some(json!({}))),
        ("patch", "/api/v1/plugins/{name}") => (String::new(), Some(json!({"enabled": false}))),
        ("post", "/api/v1/plugins/{name}/run") => {
            (String::new(), Some(json!({"session_id": session})))
        }
        // The upload takes a wasm body, covered by the plugin tests; here an empty one.
        ("post", "/api/v1/plugins") => (String::new(), Some(Value::Null)),
        _ => return None,
    };
    Some((format!("{filled}{query}"), body))
}

async fn another_projects_key_reaches_nothing(lux: &Lux) {
    let victim = lux.default_project();
    lux.fill_demo(
        victim,
        &DemoOptions {
            sessions: 3,
            seed: 21,
        },
    )
    .await
    .unwrap();
    let victim_key = lux
        .create_api_key(victim, "victim", Scope::Admin)
        .await
        .unwrap();
    let sessions = lux
        .list_sessions(victim, &SessionFilter::default(), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let session = sessions[0].id.to_string();
    let step = lux
        .list_steps(
            victim,
            &SessionRef::Id(sessions[0].id),
            &PageRequest::first(1),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    let word = step
        .content
        .split(|c: char| !c.is_alphanumeric())
        .find(|word| word.len() > 6)
        .unwrap()
        .to_owned();
    let intruder = lux.create_project("intruder", "Intruder").await.unwrap();
    let intruder_key = lux
        .create_api_key(intruder.id, "intruder", Scope::Admin)
        .await
        .unwrap()
        .secret;
    let client = TestClient::new(app(crate::support::app_state(lux, true).await));
    let export = || async {
        client
            .get("/api/v1/export/all?format=jsonl")
            .header("authorization", format!("Bearer {}", victim_key.secret))
            .send()
            .await
            .0
            .into_body()
            .into_string()
            .await
            .unwrap()
    };
    let before = export().await;
    assert!(before.contains(&session));
    let spec: Value = client
        .get("/api/v1/openapi.json")
        .send()
        .await
        .0
        .into_body()
        .into_json()
        .await
        .unwrap();

    // What must never appear in an answer to the intruder.
    let mut secrets: Vec<String> = sessions
        .iter()
        .map(|session| session.id.to_string())
        .collect();
    secrets.extend(sessions.iter().filter_map(|session| session.title.clone()));
    secrets.push(victim_key.key.id.to_string());
    secrets.push(step.content.clone());

    let mut calls = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, _) in operations.as_object().unwrap() {
            let (target, body) = aimed_at(
                method,
                path,
                &session,
                &victim_key.key.id.to_string(),
                &word,
            )
            .unwrap_or_else(|| panic!("add {method} {path} to the tenancy matrix"));
            let mut request = client
                .request(method.to_uppercase().parse::<Method>().unwrap(), &target)
                .header("authorization", format!("Bearer {intruder_key}"));
            let sent = match &body {
                Some(Value::String(_)) => format!("{target} {before}"),
                Some(body) => format!("{target} {body}"),
                None => target.clone(),
            };
            request = match body {
                Some(Value::Null) => request
                    .content_type("application/wasm")
                    .body(Vec::<u8>::new()),
                Some(Value::String(_)) => request
                    .content_type("application/x-ndjson")
                    .body(before.clone()),
                Some(body) => request.body_json(&body),
                None => request,
            };
            let response = request.send().await;
            let status = response.0.status();
            // The stream would stay open for the intruder's own events; its 404 comes first.
            let text = if path == "/api/v1/stream" && status.is_success() {
                String::new()
            } else {
                response
                    .0
                    .into_body()
                    .into_string()
                    .await
                    .unwrap_or_default()
            };
            for secret in &secrets {
                // An error may repeat what the intruder itself sent (an id in the path, the
                // imported file's ids); nothing else of the victim's.
                if sent.contains(secret.as_str()) {
                    continue;
                }
                assert!(
                    !text.contains(secret.as_str()),
                    "{method} {target} answered {status} with the victim's {secret}: {text}"
                );
            }
            if target.contains(&session) || target.contains(&victim_key.key.id.to_string()) {
                assert!(
                    matches!(status, StatusCode::NOT_FOUND),
                    "{method} {target} aimed at the victim answered {status}: {text}"
                );
            }
            calls += 1;
        }
    }
    assert!(calls >= 40, "the matrix covered {calls} operations");

    // The victim's data is exactly as it was, and the victim's key still works.
    assert_eq!(export().await, before);
    assert!(
        lux.verify_api_key(&victim_key.secret)
            .await
            .unwrap()
            .is_some()
    );
}

async fn cors_is_off_by_default(lux: &Lux) {
    let client = TestClient::new(app(crate::support::app_state(lux, true).await));
    for method in [Method::GET, Method::OPTIONS] {
        let response = client
            .request(method.clone(), "/api/v1/sessions")
            .header("origin", "https://elsewhere.example")
            .header("access-control-request-method", "POST")
            .send()
            .await;
        for header in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
        ] {
            assert!(
                response.0.headers().get(header).is_none(),
                "{method} answered {header}"
            );
        }
    }
}

lux_core::storage_tests!(another_projects_key_reaches_nothing, cors_is_off_by_default);
