//! Session compare, synthesis evolution and synthesis diff over real HTTP on a loopback port, on
//! SQLite and PostgreSQL: the figures are those of the stored rows, bad input is a 400, unknown
//! sessions and versions a 404, and a key never reaches another project's sessions.

use crate::support::{AppServer as Server, serve_app as serve};
use lux_core::services::api_keys::Scope;
use lux_core::synthesis::{ActionItemInput, ActionPriority, InsightInput, SynthesisUpdate};
use lux_core::*;
use serde_json::Value;

impl Server {
    async fn get_as(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            assert!(
                value["code"].is_string() && value["message"].is_string(),
                "error shape: {text}"
            );
        }
        (status, value)
    }
}

fn update(understanding: &str, insights: &[(&str, f64)], actions: &[&str]) -> NewSynthesis {
    NewSynthesis::structured(SynthesisUpdate {
        current_understanding: Some(understanding.to_owned()),
        insights: insights
            .iter()
            .map(|(text, confidence)| InsightInput {
                text: (*text).to_owned(),
                confidence: Some(*confidence),
                source_step: None,
                supported_by_evidence: None,
            })
            .collect(),
        action_items: actions
            .iter()
            .map(|action| ActionItemInput {
                action: (*action).to_owned(),
                priority: ActionPriority::Medium,
                rationale: None,
                dependencies: Vec::new(),
            })
            .collect(),
        confidence: Some(0.5 + 0.1 * insights.len() as f64),
        clarity: Some(0.4),
        ..SynthesisUpdate::default()
    })
}

/// A session written through the ordinary services: steps, one model call per step, syntheses.
async fn write_session(
    lux: &Lux,
    project: ProjectId,
    external_id: &str,
    steps: &[&str],
    syntheses: Vec<NewSynthesis>,
) -> Session {
    let session = lux
        .create_session(
            project,
            NewSession {
                tool: "traced_reasoning".into(),
                external_id: Some(external_id.into()),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .value;
    let reference = SessionRef::Id(session.id);
    for (index, content) in steps.iter().enumerate() {
        let step = lux
            .append_step(
                project,
                &reference,
                NewStep {
                    kind: "thought".into(),
                    content: (*content).to_owned(),
                    ..NewStep::default()
                },
            )
            .await
            .unwrap()
            .value;
        lux.record_model_call(
            project,
            &reference,
            NewModelCall {
                step_id: Some(step.id),
                latency_ms: 100 * (index as i64 + 1),
                ..NewModelCall::ok("openai", "gpt-4o", 1_000 * (index as i64 + 1), 250)
            },
        )
        .await
        .unwrap();
    }
    for new in syntheses {
        lux.add_synthesis(project, &reference, new).await.unwrap();
    }
    session
}

fn texts(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["text"].as_str().unwrap())
        .collect()
}

/// The old (`skip = "insert"`) or new (`skip = "delete"`) text a diff's runs rebuild.
fn rebuilt(diff: &Value, skip: &str) -> String {
    diff["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["op"] != skip)
        .map(|op| op["text"].as_str().unwrap())
        .collect()
}

async fn compare_over_http(lux: &Lux) {
    let project = lux.default_project();
    let a = write_session(
        lux,
        project,
        "http-a",
        &["Latency rises at noon.", "The cache is cold after deploys."],
        vec![update(
            "Deploys cool the cache.",
            &[("Deploys flush the cache", 0.6), ("Noon is busy", 0.5)],
            &["Warm the cache"],
        )],
    )
    .await;
    let b = write_session(
        lux,
        project,
        "http-b",
        &[
            "Latency rises at noon.",
            "The database is slow after deploys.",
            "Check the query plans.",
        ],
        vec![update(
            "Deploys slow the database.",
            &[("deploys flush the cache.", 0.9), ("Plans regress", 0.7)],
            &["Warm the cache", "Pin the plans"],
        )],
    )
    .await;
    let server = serve(lux).await;

    let (status, body) = server
        .get(&format!("/api/v1/compare?a={}&b=http-b", a.id))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["a"]["session"]["id"], a.id.to_string());
    assert_eq!(body["b"]["session"]["id"], b.id.to_string());

    let steps = body["steps"].as_array().unwrap();
    let alignment: Vec<&str> = steps
        .iter()
        .map(|pair| pair["alignment"].as_str().unwrap())
        .collect();
    assert_eq!(alignment, ["same", "changed", "only_b"]);
    let stored_a = lux.all_steps(project, &SessionRef::Id(a.id)).await.unwrap();
    let stored_b = lux.all_steps(project, &SessionRef::Id(b.id)).await.unwrap();
    for (index, pair) in steps.iter().enumerate() {
        let content = |steps: &[Step]| {
            steps
                .get(index)
                .map_or(String::new(), |s| s.content.clone())
        };
        assert_eq!(rebuilt(&pair["content"], "insert"), content(&stored_a));
        assert_eq!(rebuilt(&pair["content"], "delete"), content(&stored_b));
    }
    assert!(steps[2].get("a").is_none(), "one-sided: {}", steps[2]);
    assert_eq!(steps[2]["b"]["id"], stored_b[2].id.to_string());

    // Deltas from the stored model calls.
    let calls_a = lux
        .list_model_calls(project, &SessionRef::Id(a.id))
        .await
        .unwrap();
    let calls_b = lux
        .list_model_calls(project, &SessionRef::Id(b.id))
        .await
        .unwrap();
    let sum = |calls: &[ModelCall], f: fn(&ModelCall) -> i64| calls.iter().map(f).sum::<i64>();
    let deltas = &body["deltas"];
    assert_eq!(deltas["steps"], 1);
    assert_eq!(
        deltas["cost_nusd"],
        sum(&calls_b, |c| c.cost.0) - sum(&calls_a, |c| c.cost.0)
    );
    assert_eq!(
        deltas["tokens"]["input"],
        sum(&calls_b, |c| c.input_tokens) - sum(&calls_a, |c| c.input_tokens)
    );
    assert_eq!(
        deltas["tokens"]["output"],
        sum(&calls_b, |c| c.output_tokens) - sum(&calls_a, |c| c.output_tokens)
    );
    assert_eq!(
        deltas["latency_ms_total"],
        sum(&calls_b, |c| c.latency_ms) - sum(&calls_a, |c| c.latency_ms)
    );
    assert_eq!(
        body["a"]["figures"]["cost_nusd"],
        sum(&calls_a, |c| c.cost.0)
    );

    let synthesis = &body["synthesis"];
    assert_eq!(
        rebuilt(&synthesis["understanding"], "insert"),
        "Deploys cool the cache."
    );
    assert_eq!(
        rebuilt(&synthesis["understanding"], "delete"),
        "Deploys slow the database."
    );
    assert_eq!(texts(&synthesis["insights"]["added"]), ["Plans regress"]);
    assert_eq!(texts(&synthesis["insights"]["removed"]), ["Noon is busy"]);
    assert_eq!(
        synthesis["insights"]["changed"][0]["fields"],
        serde_json::json!(["text", "confidence"])
    );
    assert_eq!(synthesis["action_items"]["unchanged"], 1);
    assert_eq!(
        synthesis["action_items"]["added"][0]["action"],
        "Pin the plans"
    );

    // The same session on both sides is allowed and shows no difference.
    let (status, itself) = server.get("/api/v1/compare?a=http-a&b=http-a").await;
    assert_eq!(status, 200, "{itself}");
    assert_eq!(itself["deltas"]["cost_nusd"], 0);
    assert!(
        itself["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|pair| pair["alignment"] == "same")
    );
}

async fn synthesis_evolution_and_diff_over_http(lux: &Lux) {
    let project = lux.default_project();
    let session = write_session(
        lux,
        project,
        "evolving",
        &["One.", "Two."],
        vec![
            update("First view.", &[("Alpha", 0.5), ("Beta", 0.5)], &["Act"]),
            update("Second view.", &[("alpha", 0.8), ("Gamma", 0.5)], &[]),
        ],
    )
    .await;
    let server = serve(lux).await;
    let versions = lux
        .list_synthesis_versions(project, &SessionRef::Id(session.id))
        .await
        .unwrap();

    let (status, evolution) = server
        .get("/api/v1/sessions/evolving/synthesis/evolution")
        .await;
    assert_eq!(status, 200, "{evolution}");
    assert_eq!(evolution["session_id"], session.id.to_string());
    let points = evolution["versions"].as_array().unwrap();
    assert_eq!(points.len(), versions.len());
    for (point, version) in points.iter().zip(&versions) {
        assert_eq!(point["version"], version.version);
        assert_eq!(point["confidence"], version.confidence.unwrap());
        assert_eq!(point["clarity"], version.clarity.unwrap());
        assert_eq!(point["insights"], version.insights.len());
        assert_eq!(point["action_items"], version.action_items.len());
    }
    assert_eq!(texts(&points[0]["insights_gained"]), ["Alpha", "Beta"]);
    assert_eq!(texts(&points[1]["insights_gained"]), ["Gamma"]);
    assert_eq!(texts(&points[1]["insights_lost"]), ["Beta"]);
    assert_eq!(points[1]["action_items_lost"][0]["action"], "Act");

    let (status, diff) = server
        .get(&format!(
            "/api/v1/sessions/{}/synthesis/diff?from=1&to=2",
            session.id
        ))
        .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["from"]["version"], 1);
    assert_eq!(diff["to"]["version"], 2);
    assert_eq!(rebuilt(&diff["understanding"], "insert"), "First view.");
    assert_eq!(rebuilt(&diff["understanding"], "delete"), "Second view.");
    assert_eq!(texts(&diff["insights"]["added"]), ["Gamma"]);
    assert_eq!(texts(&diff["insights"]["removed"]), ["Beta"]);
    assert_eq!(diff["insights"]["changed"][0]["after"]["text"], "alpha");
    let expected = versions[1].confidence.unwrap() - versions[0].confidence.unwrap();
    assert!(
        (diff["confidence_delta"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{diff}"
    );
    assert_eq!(diff["action_items"]["removed"][0]["action"], "Act");

    // Bad version numbers are 400s; unknown ones 404s naming the version.
    for query in [
        "",
        "?from=1",
        "?to=2",
        "?from=one&to=2",
        "?from=1&to=2.5",
        "?from=0&to=1",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/sessions/evolving/synthesis/diff{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let (status, body) = server
        .get("/api/v1/sessions/evolving/synthesis/diff?from=1&to=7")
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("synthesis version 7"),
        "{body}"
    );
    for path in [
        "/api/v1/sessions/nobody/synthesis/evolution",
        "/api/v1/sessions/nobody/synthesis/diff?from=1&to=2",
        "/api/v1/compare?a=evolving&b=nobody",
        "/api/v1/compare?a=0191f3b0-0000-7000-8000-000000000000&b=evolving",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    for path in [
        "/api/v1/compare",
        "/api/v1/compare?a=evolving",
        "/api/v1/compare?a=&b=evolving",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
}

async fn keys_compare_only_their_project(lux: &Lux) {
    let default = lux.default_project();
    let other = lux.create_project("other", "Other").await.unwrap();
    let mine = write_session(
        lux,
        other.id,
        "mine",
        &["Mine."],
        vec![update("Mine.", &[("Mine", 0.5)], &[])],
    )
    .await;
    let theirs = write_session(
        lux,
        default,
        "theirs",
        &["Theirs."],
        vec![update("Theirs.", &[("Theirs", 0.5)], &[])],
    )
    .await;
    let reader = lux
        .create_api_key(other.id, "reader", Scope::Read)
        .await
        .unwrap()
        .secret;
    let server = serve(lux).await;
    let key = Some(reader.as_str());

    let (status, body) = server
        .get_as(&format!("/api/v1/compare?a={}&b=mine", mine.id), key)
        .await;
    assert_eq!(status, 200, "{body}");
    for path in [
        format!("/api/v1/compare?a={}&b={}", mine.id, theirs.id),
        format!("/api/v1/compare?a={}&b=mine", theirs.id),
        "/api/v1/compare?a=mine&b=theirs".to_owned(),
        format!("/api/v1/sessions/{}/synthesis/evolution", theirs.id),
        "/api/v1/sessions/theirs/synthesis/diff?from=1&to=1".to_owned(),
    ] {
        let (status, body) = server.get_as(&path, key).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // Once a key exists, keyless requests are refused.
    let (status, _) = server.get("/api/v1/compare?a=mine&b=mine").await;
    assert_eq!(status, 401);
}

lux_core::storage_tests!(
    compare_over_http,
    synthesis_evolution_and_diff_over_http,
    keys_compare_only_their_project,
);
