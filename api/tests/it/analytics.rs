//! REST analytics, session summaries and search in-process, on SQLite and PostgreSQL: the figures
//! are the core services' figures, bad input is a 400 (never a 500), and keys see only their project.

use lux_api::server::app;
use lux_core::demo::DemoOptions;
use lux_core::services::api_keys::Scope;
use lux_core::*;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::Value;

struct Api<E> {
    client: TestClient<E>,
}

async fn api(lux: &Lux) -> Api<impl poem::Endpoint> {
    let state = crate::support::app_state(lux, true).await;
    Api {
        client: TestClient::new(app(state)),
    }
}

impl<E: poem::Endpoint> Api<E> {
    async fn get_as(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = request.send().await;
        let status = response.0.status();
        let text = response.0.into_body().into_string().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            assert!(value["code"].is_string(), "error shape: {text}");
        }
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(path, None).await
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn analytics_endpoints_report_the_core_figures(lux: &Lux) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 12,
        seed: 5,
    };
    lux.fill_demo(project, &options).await.unwrap();
    let api = api(lux).await;
    let all = AnalyticsFilter::default();

    let (status, overview) = api.get("/api/v1/analytics/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let expected = lux.analytics_overview(project, &all).await.unwrap();
    assert_eq!(overview["totals"]["sessions"], 12);
    assert_eq!(overview["totals"]["steps"], expected.totals.steps);
    assert_eq!(overview["totals"]["cost_nusd"], expected.totals.cost.0);
    assert_eq!(
        overview["totals"]["tokens"]["input"],
        expected.totals.tokens.input
    );
    assert_eq!(
        overview["series"].as_array().unwrap().len(),
        expected.series.len()
    );
    assert_eq!(
        overview["series"][0]["day"],
        expected.series[0].day.to_string()
    );

    let tool = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items[0]
        .tool
        .clone();
    let (status, costs) = api
        .get(&format!(
            "/api/v1/analytics/costs?group_by=session&tool={tool}&limit=2"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{costs}");
    let filter = AnalyticsFilter {
        tool: Some(tool),
        ..AnalyticsFilter::default()
    };
    let expected = lux
        .analytics_costs(project, &filter, CostGroup::Session, Some(2))
        .await
        .unwrap();
    assert_eq!(costs["group_by"], "session");
    assert_eq!(costs["rows"].as_array().unwrap().len(), expected.rows.len());
    assert_eq!(costs["total"]["cost_nusd"], expected.total.cost.0);
    let (_, by_model) = api.get("/api/v1/analytics/costs").await;
    assert_eq!(by_model["group_by"], "model", "model is the default");

    let (status, models) = api.get("/api/v1/analytics/models").await;
    assert_eq!(status, StatusCode::OK, "{models}");
    let expected = lux.analytics_models(project, &all).await.unwrap();
    assert_eq!(models["items"].as_array().unwrap().len(), expected.len());
    assert_eq!(models["items"][0]["model"], expected[0].model);
    assert_eq!(
        models["items"][0]["latency_ms"]["p95"],
        expected[0].latency_ms.p95
    );

    let (status, rates) = api
        .get("/api/v1/analytics/bias-rates?group_by=severity")
        .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    let expected = lux
        .analytics_bias_rates(project, &all, BiasGroup::Severity)
        .await
        .unwrap();
    assert_eq!(rates["total"]["findings"], expected.total.findings);
    assert_eq!(
        rates["total"]["findings_per_100_steps"],
        expected.total.findings_per_100_steps
    );

    let session = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    let (status, summary) = api
        .get(&format!("/api/v1/sessions/{}/summary", session.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let expected = lux
        .session_summary(project, &SessionRef::Id(session.id))
        .await
        .unwrap();
    assert_eq!(summary["steps"], expected.steps);
    assert_eq!(summary["cost_nusd"], expected.cost.0);
    assert_eq!(summary["duration_ms"], expected.duration_ms);
    let external = session.external_id.unwrap();
    let (status, by_external) = api
        .get(&format!("/api/v1/sessions/{external}/summary"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_external["session_id"], summary["session_id"]);
}

async fn bad_analytics_input_is_400(lux: &Lux) {
    let api = api(lux).await;
    for path in [
        "/api/v1/analytics/costs?group_by=planet",
        "/api/v1/analytics/bias-rates?group_by=model_size",
        "/api/v1/analytics/costs?limit=0",
        "/api/v1/analytics/costs?limit=5000",
        "/api/v1/analytics/overview?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "/api/v1/analytics/models?since=yesterday",
        "/api/v1/analytics/overview?tool=a%00b",
        "/api/v1/analytics/monitor?group_by=planet",
        "/api/v1/analytics/monitor?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "/api/v1/analytics/bias-rates?group_by=model&until=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z",
        "/api/v1/analytics/recommendations?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "/api/v1/analytics/recommendations?model=a%00b",
        "/api/v1/analytics/models?until=soon",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let (status, _) = api
        .get("/api/v1/sessions/0191f3b0-0000-7000-8000-000000000000/summary")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn search_over_rest(lux: &Lux) {
    let project = lux.default_project();
    let session = lux
        .create_session(
            project,
            NewSession {
                tool: "planner".into(),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .value;
    for i in 0..3 {
        lux.append_step(
            project,
            &SessionRef::Id(session.id),
            NewStep {
                kind: "thought".into(),
                content: format!("Größentabelle <b>{i}</b> and 決済のタイムアウト OR NEAR(x)"),
                ..NewStep::default()
            },
        )
        .await
        .unwrap();
    }
    let api = api(lux).await;
    let (status, page) = api
        .get(&format!(
            "/api/v1/search?q={}&limit=2",
            encode("Größentabelle")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let snippet = page["items"][0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>Größentabelle</mark>"), "{snippet}");
    assert!(snippet.contains("&lt;b&gt;"), "{snippet}");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, rest) = api
        .get(&format!(
            "/api/v1/search?q=Gr%C3%B6%C3%9Fentabelle&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none(), "{rest}");

    for query in [
        "\"OR\"",
        "NEAR(",
        "a* OR b:*",
        "'; DROP TABLE steps; --",
        "&|!x",
        "タイムアウト",
    ] {
        let (status, body) = api
            .get(&format!("/api/v1/search?q={}", encode(query)))
            .await;
        assert_eq!(status, StatusCode::OK, "{query:?}: {body}");
    }
    for query in ["", "%22", "*", "%26%7C%21", "()%27%3A"] {
        let (status, body) = api.get(&format!("/api/v1/search?q={query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
        assert_eq!(body["details"]["field"], "q", "{body}");
    }
    for path in [
        "/api/v1/search",
        "/api/v1/search?q=x&kind=image",
        "/api/v1/search?q=x&limit=101",
        "/api/v1/search?q=x&cursor=zzz",
        "/api/v1/search?q=x&session_id=nope",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}

async fn keys_see_only_their_project(lux: &Lux) {
    let default = lux.default_project();
    let other = lux.create_project("other", "Other").await.unwrap();
    for (project, text) in [(default, "zebra in default"), (other.id, "zebra elsewhere")] {
        let session = lux
            .create_session(
                project,
                NewSession {
                    tool: "planner".into(),
                    ..NewSession::default()
                },
            )
            .await
            .unwrap()
            .value;
        lux.append_step(
            project,
            &SessionRef::Id(session.id),
            NewStep {
                kind: "thought".into(),
                content: text.into(),
                ..NewStep::default()
            },
        )
        .await
        .unwrap();
    }
    let reader = lux
        .create_api_key(other.id, "reader", Scope::Read)
        .await
        .unwrap()
        .secret;
    let api = api(lux).await;
    let (status, page) = api.get_as("/api/v1/search?q=zebra", Some(&reader)).await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["snippet"].as_str().unwrap().contains("elsewhere"));
    let (status, overview) = api
        .get_as("/api/v1/analytics/overview", Some(&reader))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(overview["totals"]["sessions"], 1);
    // Once a key exists, keyless requests are refused.
    let (status, _) = api.get("/api/v1/analytics/overview").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.get("/api/v1/search?q=zebra").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn monitor_models_and_new_groups_report_the_core_figures(lux: &Lux) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 12,
        seed: 6,
    };
    lux.fill_demo(project, &options).await.unwrap();
    let api = api(lux).await;
    let all = AnalyticsFilter::default();

    for (query, group_by) in [
        ("", MonitorGroup::Kind),
        ("?group_by=day", MonitorGroup::Day),
    ] {
        let (status, body) = api.get(&format!("/api/v1/analytics/monitor{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let expected = lux
            .analytics_monitor(project, &all, group_by)
            .await
            .unwrap();
        assert!(expected.total.alerts > 0);
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.rows.len());
        for (row, expected) in rows.iter().zip(&expected.rows) {
            assert_eq!(row["key"], expected.key);
            assert_eq!(row["alerts"], expected.alerts);
            assert_eq!(row["sessions_affected"], expected.sessions_affected);
            assert_eq!(row["alerts_per_100_steps"], expected.alerts_per_100_steps);
            assert_eq!(row["by_severity"]["high"], expected.by_severity.high);
        }
        assert_eq!(body["total"]["alerts"], expected.total.alerts);
        assert_eq!(body["total"]["steps"], expected.total.steps);
    }

    for (name, group_by) in [("model", BiasGroup::Model), ("tool", BiasGroup::Tool)] {
        let (status, body) = api
            .get(&format!("/api/v1/analytics/bias-rates?group_by={name}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["group_by"], name);
        let expected = lux
            .analytics_bias_rates(project, &all, group_by)
            .await
            .unwrap();
        let rows = body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), expected.rows.len());
        for (row, expected) in rows.iter().zip(&expected.rows) {
            assert_eq!(row["key"], expected.key);
            assert_eq!(row["steps"], expected.steps);
            assert_eq!(
                row["findings_per_100_steps"],
                expected.findings_per_100_steps
            );
        }
        // The groups split sessions: their steps add up to the total.
        let steps: i64 = expected.rows.iter().map(|row| row.steps).sum();
        assert!(steps <= expected.total.steps);
    }

    let (status, models) = api.get("/api/v1/analytics/models").await;
    assert_eq!(status, StatusCode::OK, "{models}");
    let expected = lux.analytics_models(project, &all).await.unwrap();
    for (item, expected) in models["items"].as_array().unwrap().iter().zip(&expected) {
        assert_eq!(item["model"], expected.model);
        assert_eq!(item["steps"], expected.steps);
        assert_eq!(item["findings"], expected.findings);
        assert_eq!(
            item["findings_per_100_steps"],
            expected.findings_per_100_steps
        );
        match expected.mean_step_confidence {
            Some(mean) => assert_eq!(item["mean_step_confidence"], mean),
            None => assert!(item.get("mean_step_confidence").is_none(), "{item}"),
        }
    }

    let (status, advice) = api.get("/api/v1/analytics/recommendations").await;
    assert_eq!(status, StatusCode::OK, "{advice}");
    let expected = lux.analytics_recommendations(project, &all).await.unwrap();
    assert_eq!(
        advice["items"].as_array().unwrap().len(),
        expected.items.len()
    );
}

/// Two models with known prices: the advice is to switch, saving exactly the re-priced tokens.
async fn recommendations_over_rest(lux: &Lux) {
    let project = lux.default_project();
    let api = api(lux).await;
    let (status, empty) = api.get("/api/v1/analytics/recommendations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["items"], serde_json::json!([]), "{empty}");

    let from = "2020-01-01T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    let mut prices = Vec::new();
    for (model, input, output) in [
        ("rest-large", 3_000_000_000, 15_000_000_000),
        ("rest-small", 250_000_000, 1_250_000_000),
    ] {
        let price = lux
            .set_price(lux_core::services::usage::NewPrice {
                model_pattern: model.into(),
                provider: None,
                input_nusd_per_mtok: input,
                output_nusd_per_mtok: output,
                cached_input_nusd_per_mtok: None,
                reasoning_nusd_per_mtok: None,
                effective_from: Some(from),
            })
            .await
            .unwrap();
        prices.push(price.price);
    }
    let at = chrono::Utc::now() - chrono::Duration::days(30);
    let (input, output) = (2_000, 800);
    for model in ["rest-large", "rest-small"] {
        for _ in 0..2 {
            let session = lux
                .create_session(
                    project,
                    NewSession {
                        tool: "confer".into(),
                        model: Some(model.into()),
                        created_at: Some(at),
                        ..NewSession::default()
                    },
                )
                .await
                .unwrap()
                .value;
            let reference = SessionRef::Id(session.id);
            for i in 0..5 {
                lux.append_step(
                    project,
                    &reference,
                    NewStep {
                        kind: "thought".into(),
                        content: format!("Step {i}: weigh the two designs by their failure modes."),
                        confidence: Some(0.7),
                        created_at: Some(at),
                        ..NewStep::default()
                    },
                )
                .await
                .unwrap();
                lux.record_model_call(
                    project,
                    &reference,
                    NewModelCall {
                        latency_ms: 1_000,
                        created_at: Some(at),
                        ..NewModelCall::ok("acme", model, input, output)
                    },
                )
                .await
                .unwrap();
            }
        }
    }
    let one_call = lux_core::pricing::TokenUsage {
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    };
    let ten_calls = lux_core::pricing::TokenUsage {
        input_tokens: 10 * input,
        output_tokens: 10 * output,
        ..Default::default()
    };
    let large_cost = 10
        * lux_core::pricing::compute_cost(&prices[0], &one_call)
            .unwrap()
            .0;
    let repriced = lux_core::pricing::compute_cost(&prices[1], &ten_calls)
        .unwrap()
        .0;

    let since = (at - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (at + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, advice) = api
        .get(&format!(
            "/api/v1/analytics/recommendations?since={}&until={}",
            encode(&since),
            encode(&until)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{advice}");
    let items = advice["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{advice}");
    let item = &items[0];
    assert_eq!(item["kind"], "switch_model");
    assert_eq!(item["model"], "rest-large");
    assert_eq!(item["alternative"], "rest-small");
    assert_eq!(item["evidence"]["model"]["cost_nusd"], large_cost);
    assert_eq!(item["evidence"]["repriced_cost_nusd"], repriced);
    assert_eq!(item["saving_nusd"], large_cost - repriced);
    // Two days of usage: a month of it saves fifteen times as much.
    assert_eq!(item["monthly_saving_nusd"], (large_cost - repriced) * 15);
    assert!(
        item["reason"].as_str().unwrap().contains("rest-small"),
        "{item}"
    );
}

storage_tests!(
    analytics_endpoints_report_the_core_figures,
    monitor_models_and_new_groups_report_the_core_figures,
    recommendations_over_rest,
    bad_analytics_input_is_400,
    search_over_rest,
    keys_see_only_their_project,
);
