//! The MCP server through a real MCP client (rmcp): `lux mcp` over stdio as a child process, and
//! `/mcp` over streamable HTTP on a loopback port; what the tools store is read back with `lux_core`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lux_core::services::patterns::PatternQuery;
use lux_core::{DatabaseOptions, Lux, SessionRef};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ReadResourceRequestParams, ReadResourceResult,
    ResourceContents,
};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::{Scratch, cli_tests};

type Client = RunningService<RoleClient, ()>;

/// `lux mcp` on the scratch database; returns the client and the server's process id.
async fn spawn(scratch: &Scratch) -> (Client, u32) {
    let mut command = tokio::process::Command::from(scratch.lux());
    command.arg("mcp").stderr(std::process::Stdio::null());
    let transport = TokioChildProcess::new(command).expect("spawn lux mcp");
    let pid = transport.id().expect("child pid");
    let client = ().serve(transport).await.expect("MCP handshake");
    (client, pid)
}

async fn call(client: &Client, tool: &'static str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    // A guard against a hung server, not a speed check: mining patterns over a planted history
    // in a debug build on a loaded two-core machine took over 30 s once.
    tokio::time::timeout(
        Duration::from_secs(120),
        client.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)),
    )
    .await
    .expect("tool answered in time")
    .expect("tool call")
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect()
}

fn ok(result: CallToolResult) -> (String, Value) {
    assert_ne!(result.is_error, Some(true), "tool error: {}", text(&result));
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    (text(&result), structured)
}

fn tool_error(result: CallToolResult) -> (String, Value) {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error: {}",
        text(&result)
    );
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    (text(&result), structured)
}

fn thought(n: u32, total: u32, next: bool, content: &str) -> Value {
    json!({
        "thought": content,
        "thought_number": n,
        "total_thoughts": total,
        "next_thought_needed": next,
        "session_id": "design-review-1",
    })
}

async fn open(scratch: &Scratch) -> Lux {
    let mut options = DatabaseOptions::new(scratch.url.clone());
    options.migrate = false;
    Lux::open(options).await.expect("open the scratch database")
}

cli_tests!(
    sequential_thinking_survives_a_killed_server,
    hybrid_check_flags_an_overconfident_step,
    invalid_arguments_name_the_parameter,
    illumination_status_reports_real_state,
    confer_and_traced_reasoning_store_every_call,
    llm_failures_are_tool_errors_and_lose_nothing,
    llm_tools_without_an_llm_say_what_to_set,
    biased_reasoning_checks_each_step_then_synthesises,
    planner_builds_a_stored_plan_with_revisions,
    search_and_analytics_tools_read_stored_reasoning,
    history_tools_report_what_core_computes,
    llm_tools_over_streamable_http_store_every_call,
);

/// `lux serve`'s `/mcp` runs the LLM-backed tools like stdio does: an answer and a failure, both
/// stored, read back through core.
async fn llm_tools_over_streamable_http_store_every_call(scratch: &Scratch) {
    lux_core::llm::install_crypto_provider();
    let (url, _) = scripted_llm(vec![
        completion(CONFER_1, 1000, 200, 0),
        (
            500,
            r#"{"error": {"message": "upstream exploded"}}"#.to_owned(),
        ),
    ])
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = scratch.lux();
    for name in LLM_VARS {
        command.env_remove(name);
    }
    let mut server = command
        .env("LUX_LLM_BASE_URL", &url)
        .env("LUX_LLM_MODEL", "gpt-4o-mini")
        .env("LUX_MAX_RETRIES", "0")
        .env("LUX_NO_LLM_VERIFIER", "1")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn lux serve");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !matches!(crate::support::http_get(port, "/healthz"), Ok((200, _))) {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let transport = StreamableHttpClientTransport::from_uri(format!("http://127.0.0.1:{port}/mcp"));
    let client = ().serve(transport).await.expect("MCP over HTTP");
    let (markdown, first) = ok(call(
        &client,
        "confer",
        json!({"message": "Why is the invoice list slow for large accounts?"}),
    )
    .await);
    assert!(markdown.contains("Add an index"), "{markdown}");
    let continuation = first["continuation_id"].as_str().unwrap().to_owned();
    let (message, error) = tool_error(
        call(
            &client,
            "confer",
            json!({"message": "And now?", "continuation_id": continuation}),
        )
        .await,
    );
    assert_eq!(error["code"], "llm_failed", "{message}");
    client.cancel().await.ok();
    server.kill().ok();
    server.wait().ok();

    let lux = open(scratch).await;
    let project = lux.default_project();
    let reference = SessionRef::Id(first["lux_session_id"].as_str().unwrap().parse().unwrap());
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["message", "response", "message"], "nothing lost");
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    // 200 completion tokens, 7 of them reasoning: kept apart, billed once.
    assert_eq!(
        (
            calls[0].input_tokens,
            calls[0].output_tokens,
            calls[0].reasoning_tokens
        ),
        (1000, 193, 7)
    );
    assert!(calls[0].cost.0 > 0);
    assert_ne!(calls[1].status, lux_core::CallStatus::Ok);
    let synthesis = lux.latest_synthesis(project, &reference).await.unwrap();
    assert_eq!(
        synthesis
            .and_then(|version| version.current_understanding)
            .as_deref(),
        Some("The invoice list scans all invoices in memory.")
    );
}

async fn history_tools_report_what_core_computes(scratch: &Scratch) {
    let lux = open_migrated(scratch).await;
    let project = lux.default_project();
    let options = lux_core::demo::DemoOptions {
        sessions: 30,
        seed: 7,
    };
    lux.fill_demo(project, &options).await.unwrap();
    // And a history with planted patterns (stored as written: no detectors add findings).
    let history =
        lux_core::patterns::planted::generate(lux_core::patterns::planted::TopicSet::Tune, 1, true)
            .unwrap();
    let quiet = lux
        .clone()
        .with_detectors(lux_core::detect::DetectorRegistry::empty());
    let stored = lux_core::patterns::planted::store(&quiet, project, &history)
        .await
        .unwrap();
    let mut expected = lux
        .find_patterns(project, &PatternQuery::default())
        .await
        .unwrap();
    assert!(expected.patterns.len() >= 2, "{expected:?}");
    expected.patterns.truncate(1);

    let (client, _) = spawn(scratch).await;
    let (markdown, report) = ok(call(&client, "find_patterns", json!({"limit": 1})).await);
    assert_eq!(report, serde_json::to_value(&expected).unwrap());
    assert!(markdown.contains(&expected.patterns[0].title), "{markdown}");
    assert!(
        markdown.contains(&format!("across {} sessions", stored.len() + 30)),
        "{markdown}"
    );

    // Filters reach the service: a tool no session used leaves nothing to mine.
    let (_, none) = ok(call(&client, "find_patterns", json!({"tool": "no-such-tool"})).await);
    assert_eq!(none["sessions_examined"], 0);
    assert_eq!(none["patterns"], json!([]));

    for (arguments, field) in [
        (json!({"limit": 0}), "limit"),
        (json!({"sessions": 100000}), "sessions"),
        (json!({"min_support": 0}), "min_support"),
        (json!({"fdr": 0.9}), "fdr"),
        (json!({"window_days": 0}), "window_days"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"status": "sleeping"}), "status"),
        (json!({"limit": "many"}), "limit"),
    ] {
        let (text, error) = tool_error(call(&client, "find_patterns", arguments).await);
        assert_eq!(error["field"], field, "{text}");
    }

    // compare_sessions is the service's comparison, rendered (on two demo sessions).
    let sessions: Vec<_> = lux
        .list_sessions(
            project,
            &lux_core::SessionFilter::default(),
            &lux_core::PageRequest::first(500),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|session| session.external_id.is_some())
        .take(2)
        .collect();
    let (a, b) = (&sessions[0], &sessions[1]);
    let expected = lux
        .compare_sessions(project, &SessionRef::Id(a.id), &SessionRef::Id(b.id))
        .await
        .unwrap();
    let (markdown, compared) = ok(call(
        &client,
        "compare_sessions",
        json!({"session_a": a.id.to_string(), "session_b": b.id.to_string()}),
    )
    .await);
    assert_eq!(compared, serde_json::to_value(&expected).unwrap());
    let steps_row = format!(
        "| steps | {} | {} | {:+} |",
        expected.a.figures.steps, expected.b.figures.steps, expected.deltas.steps
    );
    assert!(markdown.contains(&steps_row), "{markdown}");
    assert!(markdown.contains(&a.id.to_string()) && markdown.contains(&b.id.to_string()));
    for (arguments, field) in [
        (
            json!({"session_a": "nobody", "session_b": b.id.to_string()}),
            "session_a",
        ),
        (
            json!({"session_a": a.id.to_string(), "session_b": " "}),
            "session_b",
        ),
        (json!({"session_a": a.id.to_string()}), "session_b"),
    ] {
        let (text, error) = tool_error(call(&client, "compare_sessions", arguments).await);
        assert_eq!(error["field"], field, "{text}");
    }

    // export_session is the session's full-fidelity export, as `lux import` takes it back.
    let expected = lux
        .export_session_json(project, &SessionRef::Id(a.id))
        .await
        .unwrap();
    let external = a
        .external_id
        .clone()
        .expect("demo sessions have external ids");
    let (exported, summary) =
        ok(call(&client, "export_session", json!({"session_id": external})).await);
    assert_eq!(exported, expected);
    let records: Vec<Value> = serde_json::from_str(&exported).unwrap();
    let steps = records
        .iter()
        .filter(|record| record["kind"] == "step")
        .count();
    assert_eq!(summary["records"]["step"], steps, "{summary}");
    assert_eq!(
        steps as i64,
        lux.all_steps(project, &SessionRef::Id(a.id))
            .await
            .unwrap()
            .len() as i64
    );
    let (lines, _) = ok(call(
        &client,
        "export_session",
        json!({"session_id": a.id.to_string(), "format": "jsonl"}),
    )
    .await);
    assert_eq!(lines.lines().count(), records.len());
    for (arguments, field) in [
        (
            json!({"session_id": a.id.to_string(), "format": "csv"}),
            "format",
        ),
        (json!({"session_id": ""}), "session_id"),
    ] {
        let (text, error) = tool_error(call(&client, "export_session", arguments).await);
        assert_eq!(error["field"], field, "{text}");
    }
    let (_, missing) =
        tool_error(call(&client, "export_session", json!({"session_id": "nobody"})).await);
    assert_eq!(missing["code"], "not_found", "{missing}");
    client.cancel().await.ok();
}

async fn search_and_analytics_tools_read_stored_reasoning(scratch: &Scratch) {
    let (client, _) = spawn(scratch).await;
    ok(call(
        &client,
        "sequential_thinking",
        thought(
            1,
            2,
            true,
            "The flamegraph shows tokenizer contention in the ingest path.",
        ),
    )
    .await);
    ok(call(
        &client,
        "sequential_thinking",
        thought(
            2,
            2,
            false,
            "Sharing one tokenizer per batch removes the contention.",
        ),
    )
    .await);

    let (markdown, summary) = ok(call(
        &client,
        "session_analytics",
        json!({"session_id": "design-review-1"}),
    )
    .await);
    assert_eq!(summary["steps"], 2, "{markdown}");
    assert_eq!(summary["status"], "completed", "{summary}");
    let session_id = summary["session_id"]
        .as_str()
        .expect("the Lux session id")
        .to_owned();
    assert!(markdown.contains(&session_id), "{markdown}");
    let (_, error) = tool_error(
        call(
            &client,
            "session_analytics",
            json!({"session_id": "nobody"}),
        )
        .await,
    );
    assert!(error["code"].is_string(), "{error}");

    let (markdown, found) = ok(call(
        &client,
        "search_reasoning",
        json!({"query": "tokenizer contention"}),
    )
    .await);
    let hits = found["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 2, "{markdown}");
    assert!(
        hits.iter()
            .all(|hit| hit["session_id"] == session_id.as_str()),
        "{found}"
    );
    assert!(
        markdown.contains("**tokenizer**"),
        "matches are marked: {markdown}"
    );
    let (_, none) = ok(call(&client, "search_reasoning", json!({"query": "kubernetes"})).await);
    assert!(none["hits"].as_array().unwrap().is_empty());
    let (_, error) =
        tool_error(call(&client, "search_reasoning", json!({"query": "*** \"\" ()"})).await);
    assert_eq!(error["field"], "query", "{error}");
    let (_, error) = tool_error(
        call(
            &client,
            "search_reasoning",
            json!({"query": "x", "limit": 500}),
        )
        .await,
    );
    assert_eq!(error["field"], "limit", "{error}");

    // The same session as a resource, listed and read by its URI or by the client's session id.
    let uri = format!("lux://sessions/{session_id}");
    let resources = client.list_all_resources().await.unwrap();
    assert!(
        resources.iter().any(|resource| resource.uri == uri),
        "{resources:?}"
    );
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "lux://sessions/{session_id}");
    for name in [session_id.as_str(), "design-review-1"] {
        let read = client
            .read_resource(ReadResourceRequestParams::new(format!(
                "lux://sessions/{name}"
            )))
            .await
            .unwrap();
        let (markdown, json) = resource_texts(&read);
        assert!(markdown.contains("tokenizer contention"), "{markdown}");
        assert!(markdown.contains(&session_id), "{markdown}");
        let json: Value = serde_json::from_str(&json).unwrap();
        let steps = json["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{json}");
        assert_eq!(
            steps[1]["content"],
            "Sharing one tokenizer per batch removes the contention."
        );
    }
    for bad in [
        "lux://sessions/nobody",
        "lux://elsewhere/1",
        "lux://sessions/",
    ] {
        let refused = client
            .read_resource(ReadResourceRequestParams::new(bad))
            .await;
        assert!(refused.is_err(), "{bad} was read");
    }
    client.cancel().await.ok();
}

/// The Markdown and JSON contents of a session resource.
fn resource_texts(read: &ReadResourceResult) -> (String, String) {
    let text_of = |mime: &str| {
        read.contents
            .iter()
            .find_map(|contents| match contents {
                ResourceContents::TextResourceContents {
                    mime_type, text, ..
                } if mime_type.as_deref() == Some(mime) => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {mime} contents in {read:?}"))
    };
    (text_of("text/markdown"), text_of("application/json"))
}

async fn sequential_thinking_survives_a_killed_server(scratch: &Scratch) {
    let (client, pid) = spawn(scratch).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for name in [
        "sequential_thinking",
        "hybrid_biased_reasoning",
        "illumination_status",
        "list_sessions",
        "get_session",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    let thoughts = [
        "The API is slow for large accounts; list what a request does first.",
        "Each request loads every invoice of the account before filtering by date.",
        "An index on (account_id, issued_at) would let the filter run in the database.",
        "Measure: with the index the p99 on the largest account should drop below 200 ms.",
    ];
    let (markdown, first) = ok(call(
        &client,
        "sequential_thinking",
        thought(1, 4, true, thoughts[0]),
    )
    .await);
    assert!(markdown.contains("Thought 1/4"), "{markdown}");
    assert!(
        markdown.contains("/sessions/"),
        "dashboard link: {markdown}"
    );
    assert_eq!(first["session_id"], "design-review-1");
    assert_eq!(first["status"], "recorded");
    let lux_session = first["lux_session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        first["dashboard_url"],
        format!("http://127.0.0.1:7700/sessions/{lux_session}")
    );
    let (_, second) = ok(call(
        &client,
        "sequential_thinking",
        thought(2, 4, true, thoughts[1]),
    )
    .await);

    // Kill the server mid-session, as a crashing host or an OOM killer would.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let after_kill = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_tool(CallToolRequestParams::new("illumination_status")),
    )
    .await;
    assert!(
        !matches!(after_kill, Ok(Ok(_))),
        "a killed server cannot answer"
    );
    drop(client);

    let (client, _) = spawn(scratch).await;
    // A host that cannot tell whether its last thought was stored sends it again: it is found,
    // not stored twice.
    let (_, retried) = ok(call(
        &client,
        "sequential_thinking",
        thought(2, 4, true, thoughts[1]),
    )
    .await);
    assert_eq!(retried["thought_history_length"], 2, "{retried}");
    assert_eq!(retried["step_number"], second["step_number"], "{retried}");
    let (_, third) = ok(call(
        &client,
        "sequential_thinking",
        thought(3, 4, true, thoughts[2]),
    )
    .await);
    assert_eq!(
        third["lux_session_id"],
        lux_session.as_str(),
        "same session after restart"
    );
    assert_eq!(third["thought_history_length"], 3);
    let (markdown, last) = ok(call(
        &client,
        "sequential_thinking",
        thought(4, 4, false, thoughts[3]),
    )
    .await);
    assert_eq!(last["status"], "complete", "{markdown}");
    assert_eq!(last["thought_history_length"], 4);

    let (markdown, listed) = ok(call(
        &client,
        "get_session",
        json!({"session_id": "design-review-1"}),
    )
    .await);
    assert_eq!(listed["steps"].as_array().unwrap().len(), 4, "{markdown}");
    client.cancel().await.ok();

    let lux = open(scratch).await;
    let project = lux.default_project();
    let reference = SessionRef::ExternalId("design-review-1".into());
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.id.to_string(), lux_session);
    assert_eq!(session.tool, "sequential_thinking");
    assert_eq!(session.status, lux_core::SessionStatus::Completed);
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let stored: Vec<&str> = steps.iter().map(|step| step.content.as_str()).collect();
    assert_eq!(stored, thoughts);
    for (index, step) in steps.iter().enumerate() {
        assert_eq!(step.step_number, index as i32 + 1);
        assert_eq!(step.kind, "thought");
        assert_eq!(step.metadata["thought_number"], index + 1);
    }
}

async fn hybrid_check_flags_an_overconfident_step(scratch: &Scratch) {
    let (client, _) = spawn(scratch).await;
    let (markdown, reply) = ok(call(
        &client,
        "hybrid_biased_reasoning",
        json!({
            "reasoning_step": "This is obviously the only possible cause, so there is no need to check anything else. It will definitely work.",
            "context": "Why did the nightly import fail?",
            "previous_steps": ["The import failed at 02:10 with a timeout."],
            "session_id": "import-failure",
        }),
    )
    .await);
    assert_eq!(reply["bias_detected"], true, "{markdown}");
    let biases = reply["biases_found"].as_array().unwrap();
    assert!(!biases.is_empty());
    for bias in biases {
        for key in ["bias_type", "description", "severity", "location"] {
            assert!(bias.get(key).is_some(), "{key} in {bias}");
        }
    }
    let score = reply["bias_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert_eq!(reply["revision_recommended"], score > 0.5);
    assert!(reply.get("alternative_phrasing").is_some());
    assert!(markdown.contains("Bias detected:** yes"), "{markdown}");
    client.cancel().await.ok();

    let lux = open(scratch).await;
    let reference = SessionRef::ExternalId("import-failure".into());
    let steps = lux
        .all_steps(lux.default_project(), &reference)
        .await
        .unwrap();
    let kinds: Vec<&str> = steps.iter().map(|step| step.kind.as_str()).collect();
    assert_eq!(kinds, ["query", "reasoning", "reasoning"]);
    let findings = lux
        .list_findings(lux.default_project(), &reference)
        .await
        .unwrap();
    let last = steps.last().unwrap().id;
    assert!(
        findings.iter().any(|finding| finding.step_id == Some(last)),
        "a finding is stored on the checked step: {findings:?}"
    );
}

async fn invalid_arguments_name_the_parameter(scratch: &Scratch) {
    let (client, _) = spawn(scratch).await;
    let cases = [
        (
            "sequential_thinking",
            json!({"thought_number": 1, "total_thoughts": 2, "next_thought_needed": true}),
            "thought",
        ),
        (
            "sequential_thinking",
            json!({"thought": "x", "thought_number": "one", "total_thoughts": 2, "next_thought_needed": true}),
            "thought_number",
        ),
        (
            "sequential_thinking",
            json!({"thought": "x", "thought_number": 0, "total_thoughts": 2, "next_thought_needed": true}),
            "thought_number",
        ),
        (
            "sequential_thinking",
            json!({"thought": "   ", "thought_number": 1, "total_thoughts": 2, "next_thought_needed": true}),
            "thought",
        ),
        (
            "sequential_thinking",
            json!({"thought": "x", "thought_number": 2, "total_thoughts": 2, "next_thought_needed": true, "is_revision": true}),
            "revises_thought",
        ),
        (
            "hybrid_biased_reasoning",
            json!({"context": "no step"}),
            "reasoning_step",
        ),
        ("list_sessions", json!({"status": "sleeping"}), "status"),
        ("list_sessions", json!({"limit": 0}), "limit"),
        ("get_session", json!({}), "session_id"),
    ];
    for (tool, arguments, field) in cases {
        let (message, structured) = tool_error(call(&client, tool, arguments.clone()).await);
        assert_eq!(structured["field"], field, "{tool} {arguments}: {message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let (message, structured) = tool_error(
        call(
            &client,
            "get_session",
            json!({"session_id": "no-such-session"}),
        )
        .await,
    );
    assert_eq!(structured["code"], "not_found", "{message}");
    client.cancel().await.ok();
}

async fn illumination_status_reports_real_state(scratch: &Scratch) {
    let (client, _) = spawn(scratch).await;
    let (_, empty) = ok(call(&client, "illumination_status", json!({})).await);
    assert_eq!(empty["sessions"], 0);
    ok(call(&client, "sequential_thinking", json!({"thought": "One", "thought_number": 1, "total_thoughts": 2, "next_thought_needed": true})).await);
    ok(call(&client, "sequential_thinking", json!({"thought": "Two", "thought_number": 1, "total_thoughts": 1, "next_thought_needed": false})).await);
    let (markdown, status) = ok(call(&client, "illumination_status", json!({})).await);
    assert_eq!(status["sessions"], 2, "{markdown}");
    assert_eq!(status["active_sessions"], 1, "{markdown}");
    let backend = if scratch.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(status["database"], backend);
    assert!(!status["detectors"].as_array().unwrap().is_empty());
    assert!(status["llm_configured"].is_boolean());
    assert_eq!(status["analysis_features"], "semantic", "{markdown}");
    assert!(markdown.contains("use-multilingual-v3"), "{markdown}");
    let (_, listed) = ok(call(
        &client,
        "list_sessions",
        json!({"tool": "sequential_thinking"}),
    )
    .await);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    client.cancel().await.ok();
}

#[test]
fn mcp_tool_list_is_committed_and_current() {
    let current = lux_api::mcp::tools_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mcp-tools.json");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "docs/mcp-tools.json is out of date; rerun with UPDATE_EXPECT=1 and review the diff"
    );
}

#[tokio::test]
async fn streamable_http_serves_the_same_tools() {
    lux_core::llm::install_crypto_provider();
    let scratch = Scratch::sqlite();
    let lux = open_migrated(&scratch).await;
    let acceptor = {
        use poem::listener::{Listener, TcpListener};
        TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap()
    };
    let port = {
        use poem::listener::Acceptor;
        acceptor.local_addr()[0].as_socket_addr().unwrap().port()
    };
    let state = crate::support::app_state(&lux, true).await;
    let server =
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(lux_api::server::app(state)));

    let transport = StreamableHttpClientTransport::from_uri(format!("http://127.0.0.1:{port}/mcp"));
    let client = ().serve(transport).await.expect("MCP over HTTP");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool.name == "sequential_thinking"));
    for (n, next) in [(1, true), (2, false)] {
        let (_, reply) = ok(call(
            &client,
            "sequential_thinking",
            json!({"thought": format!("Thought {n} over HTTP"), "thought_number": n,
                   "total_thoughts": 2, "next_thought_needed": next, "session_id": "over-http"}),
        )
        .await);
        assert_eq!(reply["thought_history_length"], n);
    }
    let (_, bad) = tool_error(call(&client, "sequential_thinking", json!({"thought": "x"})).await);
    assert_eq!(bad["field"], "thought_number");
    let read = client
        .read_resource(ReadResourceRequestParams::new("lux://sessions/over-http"))
        .await
        .unwrap();
    let (markdown, _) = resource_texts(&read);
    assert!(markdown.contains("Thought 2 over HTTP"), "{markdown}");
    client.cancel().await.ok();

    let steps = lux
        .all_steps(
            lux.default_project(),
            &SessionRef::ExternalId("over-http".into()),
        )
        .await
        .unwrap();
    assert_eq!(steps.len(), 2);

    // Once a key exists, keyless MCP requests are refused like REST ones.
    lux.create_api_key(
        lux.default_project(),
        "ci",
        lux_core::services::api_keys::Scope::Read,
    )
    .await
    .unwrap();
    let refused = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://127.0.0.1:{port}/mcp"
        )))
        .await;
    assert!(refused.is_err(), "keyless MCP after a key was created");
    server.abort();
}

async fn open_migrated(scratch: &Scratch) -> Lux {
    Lux::open(DatabaseOptions::new(scratch.url.clone()))
        .await
        .unwrap()
}

/// The environment variables that configure an LLM; cleared so the host's never leak in.
const LLM_VARS: &[&str] = &[
    "LUX_LLM_BASE_URL",
    "LUX_LLM_API_KEY",
    "LUX_LLM_MODEL",
    "LUX_MODEL_NORMAL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENROUTER_API_KEY",
];

/// `lux mcp` with exactly the given LLM settings.
async fn spawn_with_llm(scratch: &Scratch, llm: Option<&str>) -> Client {
    let mut command = scratch.lux();
    for name in LLM_VARS {
        command.env_remove(name);
    }
    if let Some(url) = llm {
        command
            .env("LUX_LLM_BASE_URL", url)
            .env("LUX_LLM_MODEL", "gpt-4o-mini")
            .env("LUX_MAX_RETRIES", "0")
            .env("LUX_REQUEST_TIMEOUT_SECS", "10")
            // These tests count the tools' own requests; the verifier that would also ask
            // about uncertain findings is covered by `write_paths`.
            .env("LUX_NO_LLM_VERIFIER", "1");
    }
    let mut command = tokio::process::Command::from(command);
    command.arg("mcp").stderr(std::process::Stdio::null());
    let transport = TokioChildProcess::new(command).expect("spawn lux mcp");
    ().serve(transport).await.expect("MCP handshake")
}

/// A scripted OpenAI-compatible server on a loopback port: answers in order (repeating the last),
/// recording each request body.
async fn scripted_llm(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut index = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (status, body) = answers[index.min(answers.len() - 1)].clone();
            index += 1;
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            let mut request_body = String::new();
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        request_body = text[head_end + 4..].to_owned();
                        break;
                    }
                }
            }
            log.lock().unwrap().push(request_body);
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.ok();
            socket.shutdown().await.ok();
        }
    });
    (url, seen)
}

fn completion(content: &str, input: i64, output: i64, cached: i64) -> (u16, String) {
    let body = json!({
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input, "completion_tokens": output,
                  "prompt_tokens_details": {"cached_tokens": cached},
                  "completion_tokens_details": {"reasoning_tokens": 7}},
    });
    (200, body.to_string())
}

const CONFER_1: &str = "The list loads every invoice of the account and filters in memory. \
Add an index on (account_id, issued_at) and filter in SQL.\n\nupdate_synthesis({\"current_understanding\": \
\"The invoice list scans all invoices in memory.\", \"key_insights\": [{\"insight\": \
\"An index on account_id and issued_at removes the scan\", \"confidence\": 0.8}], \
\"action_items\": [{\"action\": \"Add the index\", \"priority\": \"high\"}], \
\"confidence_score\": 0.75, \"clarity_score\": 0.8})";
const LOOP_PROBLEM: &str = "The nightly invoice export job times out because the export \
query reads every invoice row of every account before writing the report file.";
const CONFER_2: &str = "Yes: measure the p99 on the largest account before and after the index.";
const TRACE_2: &str = "Each request loads every invoice before filtering by date, so the cost \
grows with the account's history rather than with the page shown.\n\nupdate_synthesis(\
Understanding=\"Latency grows with invoice history because filtering happens in memory.\", \
Insights=[\"Filtering in memory makes cost grow with history\"], Confidence=0.7)";
const TRACE_3: &str = "Conclusion: an index on (account_id, issued_at) with filtering in SQL \
bounds the work by the page size.\n\nupdate_synthesis(";

async fn confer_and_traced_reasoning_store_every_call(scratch: &Scratch) {
    let (url, seen) = scripted_llm(vec![
        completion(CONFER_1, 1200, 300, 200),
        completion(CONFER_2, 1600, 40, 0),
        completion(TRACE_2, 500, 120, 0),
        completion(TRACE_3, 700, 90, 0),
        completion(LOOP_PROBLEM, 300, 60, 0),
    ])
    .await;
    let client = spawn_with_llm(scratch, Some(&url)).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in ["confer", "traced_reasoning"] {
        assert!(tools.iter().any(|tool| tool.name == name), "{name}");
    }

    // confer: two turns of one conversation, continued by its Continuation ID.
    let (markdown, first) = ok(call(
        &client,
        "confer",
        json!({"message": "Why is the invoice list slow for large accounts?", "temperature": 0.2}),
    )
    .await);
    let continuation = first["continuation_id"].as_str().unwrap().to_owned();
    assert!(
        markdown.contains(&format!("Continuation ID: {continuation}")),
        "{markdown}"
    );
    assert!(
        markdown.contains("index on (account_id, issued_at)"),
        "{markdown}"
    );
    assert!(markdown.contains("/sessions/"), "{markdown}");
    assert_eq!(first["model_used"], "gpt-4o-mini-2024-07-18");
    assert_eq!(first["usage"]["input_tokens"], 1200);
    assert!(first["usage"]["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(first["synthesis"]["version"], 1);
    let notes = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(notes.path(), "p99 today: 2400 ms on the largest account").unwrap();
    let (_, second) = ok(call(
        &client,
        "confer",
        json!({"message": "Should I measure first?", "continuation_id": continuation,
               "file_paths": [notes.path()]}),
    )
    .await);
    assert_eq!(second["lux_session_id"], first["lux_session_id"]);
    assert_eq!(second["synthesis"], Value::Null);
    {
        let bodies = seen.lock().unwrap();
        assert_eq!(bodies.len(), 2);
        let request: Value = serde_json::from_str(&bodies[1]).unwrap();
        let roles: Vec<&str> = request["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user"],
            "history sent back"
        );
        assert_eq!(request["model"], "gpt-4o-mini");
        let last = request["messages"][3]["content"].as_str().unwrap();
        assert!(
            last.contains("p99 today: 2400 ms"),
            "file read server-side: {last}"
        );
    }

    // traced_reasoning: thought 1 asks nothing; thoughts 2 and 3 ask the model.
    let trace = |n: u32, next: bool, thought: &str| {
        json!({"thought": thought, "thought_number": n, "total_thoughts": 3,
               "next_thought_needed": next, "session_id": "trace-invoices"})
    };
    let (markdown, one) = ok(call(
        &client,
        "traced_reasoning",
        trace(
            1,
            true,
            "Why does the invoice list get slower as an account's invoice history grows?",
        ),
    )
    .await);
    assert_eq!(one["status"], "thinking", "{markdown}");
    assert_eq!(one["thought_type"], "initial");
    assert_eq!(one["model_used"], Value::Null);
    assert_eq!(seen.lock().unwrap().len(), 2, "thought 1 makes no LLM call");
    let (markdown, two) = ok(call(
        &client,
        "traced_reasoning",
        trace(2, true, "Look at what one request does."),
    )
    .await);
    assert_eq!(two["status"], "thinking", "{markdown}");
    assert!(
        two["thought"]
            .as_str()
            .unwrap()
            .starts_with("Each request loads")
    );
    assert!(
        two["metrics"]["semantic_similarity"].is_number(),
        "{}",
        two["metrics"]
    );
    assert!(two["metrics"]["relevance"].is_number());
    assert_eq!(
        two["metrics"]["perplexity"],
        Value::Null,
        "never a made-up perplexity"
    );
    assert_eq!(two["synthesis"]["version"], 1, "{markdown}");
    assert!(markdown.contains("Thought 2/3"), "{markdown}");
    let (markdown, three) =
        ok(call(&client, "traced_reasoning", trace(3, false, "Conclude.")).await);
    assert!(
        ["conclusion_reached", "intervention_needed"].contains(&three["status"].as_str().unwrap()),
        "{markdown}"
    );
    assert_eq!(three["thought_type"], "conclusion");
    assert!(
        three["synthesis_error"].is_string(),
        "a bad update is reported: {markdown}"
    );
    assert_eq!(
        three["synthesis"]["version"], 1,
        "the last good version stays"
    );
    assert_eq!(three["overall_metrics"]["model_calls"], 2);
    assert_eq!(seen.lock().unwrap().len(), 4);

    // A model that only restates the problem: the monitor's stored event becomes the intervention.
    let looping = |n: u32, thought: &str| {
        json!({"thought": thought, "thought_number": n, "total_thoughts": 3,
               "next_thought_needed": true, "session_id": "trace-loop"})
    };
    ok(call(&client, "traced_reasoning", looping(1, LOOP_PROBLEM)).await);
    let (markdown, repeat) = ok(call(&client, "traced_reasoning", looping(2, "Go on.")).await);
    assert_eq!(repeat["status"], "intervention_needed", "{markdown}");
    assert_eq!(
        repeat["intervention"]["type"], "circular_reasoning",
        "{markdown}"
    );
    assert!(
        markdown.contains("Intervention: circular_reasoning"),
        "{markdown}"
    );
    let lux = open(scratch).await;
    let stored = lux
        .list_monitor_events(
            lux.default_project(),
            &SessionRef::ExternalId("trace-loop".into()),
        )
        .await
        .unwrap();
    assert!(
        stored.iter().any(|e| e.kind == "circular_reasoning"
            && e.message == repeat["intervention"]["description"].as_str().unwrap()),
        "the intervention is the stored event: {stored:?}"
    );
    client.cancel().await.ok();

    // Everything is in the database.
    let lux = open(scratch).await;
    let project = lux.default_project();
    let conversation: lux_core::SessionId = continuation.parse().unwrap();
    let reference = SessionRef::Id(conversation);
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.tool, "confer");
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["message", "response", "message", "response"]);
    assert_eq!(steps[1].raw_response.as_deref(), Some(CONFER_1));
    assert!(!steps[1].content.contains("update_synthesis"));
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 2);
    let call0 = &calls[0];
    assert_eq!(call0.status, lux_core::CallStatus::Ok);
    assert_eq!(call0.provider, "openai_compatible");
    assert_eq!(call0.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (
            call0.input_tokens,
            call0.output_tokens,
            call0.cached_input_tokens,
            call0.reasoning_tokens
        ),
        // The 7 reasoning tokens are part of the 300 completion tokens: kept apart, billed once.
        (1200, 293, 200, 7)
    );
    assert!(call0.cost.0 > 0, "priced model: {call0:?}");
    assert!(call0.price_id.is_some());
    assert_eq!(call0.step_id, Some(steps[1].id));
    assert_eq!(calls[1].step_id, Some(steps[3].id));
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].step_id, Some(steps[1].id));
    assert_eq!(versions[0].insights.len(), 1);

    let reference = SessionRef::ExternalId("trace-invoices".into());
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.tool, "traced_reasoning");
    assert_eq!(session.status, lux_core::SessionStatus::Completed);
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["thought", "guidance", "thought", "guidance", "thought"]
    );
    let numbers: Vec<&Value> = steps
        .iter()
        .map(|s| &s.metadata["thought_number"])
        .collect();
    assert_eq!(numbers[4], 3);
    assert_eq!(
        steps[4].raw_response.as_deref(),
        Some(TRACE_3),
        "stored despite the bad update"
    );
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.cost.0 > 0 && c.status == lux_core::CallStatus::Ok)
    );
    assert_eq!(calls[0].step_id, Some(steps[2].id));
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].step_id, Some(steps[2].id));
}

async fn llm_failures_are_tool_errors_and_lose_nothing(scratch: &Scratch) {
    let (url, _) = scripted_llm(vec![
        completion(CONFER_1, 1200, 300, 200),
        (
            500,
            r#"{"error": {"message": "upstream exploded"}}"#.to_owned(),
        ),
        (200, "<html>not a completion</html>".to_owned()),
    ])
    .await;
    let client = spawn_with_llm(scratch, Some(&url)).await;
    let (_, first) = ok(call(&client, "confer", json!({"message": "Why is it slow?"})).await);
    let continuation = first["continuation_id"].as_str().unwrap().to_owned();
    let (message, error) = tool_error(
        call(
            &client,
            "confer",
            json!({"message": "And now?", "continuation_id": continuation}),
        )
        .await,
    );
    assert_eq!(error["code"], "llm_failed", "{message}");
    assert!(
        message.contains("500") && message.contains("upstream exploded"),
        "{message}"
    );
    let (message, error) = tool_error(
        call(
            &client,
            "traced_reasoning",
            json!({"thought": "Next.", "thought_number": 2, "total_thoughts": 3,
                   "next_thought_needed": true, "session_id": continuation}),
        )
        .await,
    );
    assert_eq!(error["code"], "llm_failed", "{message}");
    assert!(message.contains("not a chat completion"), "{message}");
    client.cancel().await.ok();

    let lux = open(scratch).await;
    let project = lux.default_project();
    let reference = SessionRef::Id(continuation.parse().unwrap());
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["message", "response", "message", "guidance"],
        "nothing lost"
    );
    assert_eq!(steps[2].content, "And now?");
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    let statuses: Vec<lux_core::CallStatus> = calls.iter().map(|c| c.status).collect();
    use lux_core::CallStatus::{Error, Ok as Done};
    assert_eq!(statuses, [Done, Error, Error]);
    assert!(
        calls[1]
            .error
            .as_deref()
            .unwrap()
            .contains("upstream exploded")
    );
    assert_eq!(calls[1].step_id, Some(steps[2].id));
    assert!(
        calls[2]
            .error
            .as_deref()
            .unwrap()
            .contains("not a chat completion")
    );
    assert_eq!(calls[2].step_id, Some(steps[3].id));
    assert_eq!((calls[1].input_tokens, calls[1].cost.0), (0, 0));
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1, "the earlier synthesis is kept");
}

async fn llm_tools_without_an_llm_say_what_to_set(scratch: &Scratch) {
    let client = spawn_with_llm(scratch, None).await;
    for (tool, arguments) in [
        ("confer", json!({"message": "Hello?"})),
        (
            "traced_reasoning",
            json!({"thought": "A problem.", "thought_number": 1, "total_thoughts": 2, "next_thought_needed": true}),
        ),
        ("biased_reasoning", json!({"query": "Is it safe?"})),
        (
            "planner",
            json!({"step": "A goal.", "step_number": 1, "total_steps": 2, "next_step_required": true}),
        ),
    ] {
        let (message, error) = tool_error(call(&client, tool, arguments).await);
        assert_eq!(error["code"], "llm_not_configured", "{tool}: {message}");
        assert!(message.contains("LUX_LLM_BASE_URL"), "{message}");
        assert!(message.contains("OPENAI_API_KEY"), "{message}");
    }
    // The host-reasons tools still work, and nothing misleading was stored.
    let (_, status) = ok(call(&client, "illumination_status", json!({})).await);
    assert_eq!(status["sessions"], 0);
    assert_eq!(status["llm_configured"], false);
    client.cancel().await.ok();
}

const BIASED_QUERY: &str = "Should we move the invoice service to a new database engine?";
const REASONING_1: &str = "The new engine is obviously faster, so moving is clearly the right \
call; every benchmark I have seen agrees.";
const VERDICT_1: &str = r#"```json
{"biases": [{"bias_type": "Confirmation Bias", "severity": "high", "confidence": 0.85,
  "explanation": "Only supporting benchmarks are considered.",
  "evidence": "every benchmark I have seen agrees",
  "suggestion": "Look for benchmarks of workloads like ours, including unfavourable ones."}]}
```"#;
const REASONING_2: &str = "Correcting step 2: benchmarks of workloads like ours are mixed; the \
invoice service is bound by a few indexed queries, so the engine matters less than the indexes.";
const VERDICT_2: &str = r#"{"biases": []}"#;
const BIASED_SYNTHESIS: &str = "Do not migrate now: fix the indexes first and measure.\n\n\
update_synthesis({\"current_understanding\": \"The engine is not the bottleneck; indexes are.\", \
\"key_insights\": [{\"insight\": \"Missing indexes, not the engine, limit the invoice service\", \
\"confidence\": 0.8}], \"confidence_score\": 0.8, \"clarity_score\": 0.85})";

async fn biased_reasoning_checks_each_step_then_synthesises(scratch: &Scratch) {
    let (url, seen) = scripted_llm(vec![
        completion(REASONING_1, 400, 80, 0),
        completion(VERDICT_1, 300, 90, 0),
        completion(REASONING_2, 600, 90, 0),
        completion(VERDICT_2, 320, 10, 0),
        completion(BIASED_SYNTHESIS, 900, 120, 0),
    ])
    .await;
    let client = spawn_with_llm(scratch, Some(&url)).await;
    // No session_id: the session is named after the query, as in the original.
    let step = json!({"query": BIASED_QUERY, "max_analysis_rounds": 2});
    let mut replies = Vec::new();
    for _ in 0..6 {
        let (markdown, reply) = ok(call(&client, "biased_reasoning", step.clone()).await);
        assert!(markdown.contains("/sessions/"), "{markdown}");
        replies.push((markdown, reply));
    }
    let actions: Vec<&str> = replies
        .iter()
        .map(|(_, r)| r["next_action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "bias_check",
            "correction_needed",
            "bias_check",
            "ready_for_synthesis",
            "complete",
            "complete"
        ]
    );
    let types: Vec<&str> = replies
        .iter()
        .map(|(_, r)| r["step_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "reasoning",
            "bias_analysis",
            "reasoning",
            "bias_analysis",
            "synthesis",
            "complete"
        ]
    );
    let (markdown, check) = &replies[1];
    assert_eq!(check["bias_analysis"]["bias_detected"], true, "{markdown}");
    assert_eq!(
        check["bias_analysis"]["biases"][0]["bias_type"],
        "confirmation"
    );
    assert_eq!(check["bias_analysis"]["step_quality"], 0.4);
    let (_, last) = &replies[5];
    assert_eq!(last["session_status"]["reasoning_steps"], 2);
    assert_eq!(last["session_status"]["bias_checks"], 2);
    assert_eq!(last["session_status"]["corrections_made"], 1);
    assert_eq!(last["session_status"]["overall_quality"], 0.7);
    assert_eq!(last["session_status"]["is_complete"], true);
    assert_eq!(last["synthesis"]["version"], 1);
    assert_eq!(replies[0].1["session_id"], last["session_id"]);
    assert_eq!(
        seen.lock().unwrap().len(),
        5,
        "a complete session asks nothing more"
    );
    {
        let bodies = seen.lock().unwrap();
        let verifier: Value = serde_json::from_str(&bodies[1]).unwrap();
        assert_eq!(verifier["response_format"]["type"], "json_object");
    }
    client.cancel().await.ok();

    let lux = open(scratch).await;
    let project = lux.default_project();
    let reference = SessionRef::Id(last["lux_session_id"].as_str().unwrap().parse().unwrap());
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.tool, "biased_reasoning");
    assert_eq!(session.status, lux_core::SessionStatus::Completed);
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "query",
            "reasoning",
            "bias_check",
            "reasoning",
            "bias_check",
            "synthesis"
        ]
    );
    assert_eq!(steps[3].metadata["correction"], true);
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 5);
    assert!(calls.iter().all(|c| c.cost.0 > 0));
    let findings = lux.list_findings(project, &reference).await.unwrap();
    let verified: Vec<_> = findings
        .iter()
        .filter(|f| f.detector == "lux.llm_verifier")
        .collect();
    assert_eq!(verified.len(), 1, "{findings:?}");
    assert_eq!(verified[0].step_id, Some(steps[1].id));
    assert_eq!(verified[0].bias_type, "confirmation");
    assert_eq!(
        verified[0].evidence_text.as_deref(),
        Some("every benchmark I have seen agrees")
    );
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].step_id, Some(steps[5].id));
}

const PLAN_2: &str = "Inventory every service that reads the invoices table and how.";
const PLAN_2_REVISED: &str = "Inventory every service and batch job that reads or writes the \
invoices table, with its query patterns.";
const PLAN_4: &str = "Add the (account_id, issued_at) index concurrently, behind a feature flag.\n\n\
update_synthesis({\"current_understanding\": \"The migration is an index change, not an engine change.\", \
\"key_insights\": [{\"insight\": \"Indexes fix the slow invoice list\", \"confidence\": 0.8}], \
\"confidence_score\": 0.8})";
const PLAN_5: &str = "Measure p99 before and after; roll back the flag if it regresses.";

async fn planner_builds_a_stored_plan_with_revisions(scratch: &Scratch) {
    let (url, seen) = scripted_llm(vec![
        completion(PLAN_2, 200, 40, 0),
        completion(PLAN_2_REVISED, 260, 50, 0),
        completion(PLAN_4, 300, 80, 0),
        completion(PLAN_5, 320, 40, 0),
    ])
    .await;
    let client = spawn_with_llm(scratch, Some(&url)).await;
    let plan = |n: u32, next: bool, step: &str, extra: Value| {
        let mut arguments = json!({"step": step, "step_number": n, "total_steps": 5,
                                   "next_step_required": next, "session_id": "plan-index"});
        if let (Some(arguments), Value::Object(extra)) = (arguments.as_object_mut(), extra) {
            arguments.extend(extra);
        }
        arguments
    };
    let (markdown, one) = ok(call(
        &client,
        "planner",
        plan(
            1,
            true,
            "Make the invoice list fast for large accounts.",
            json!({}),
        ),
    )
    .await);
    assert_eq!(one["status"], "pause_for_deep_thinking", "{markdown}");
    assert!(!one["required_thinking"].as_array().unwrap().is_empty());
    assert_eq!(one["model_used"], Value::Null);
    assert_eq!(seen.lock().unwrap().len(), 0, "step 1 makes no LLM call");
    let (_, two) = ok(call(
        &client,
        "planner",
        plan(2, true, "Start with what exists.", json!({})),
    )
    .await);
    assert_eq!(two["step_content"], PLAN_2);
    assert_eq!(two["status"], "pause_for_deep_thinking");
    let (message, bad) = tool_error(
        call(
            &client,
            "planner",
            plan(3, true, "Revise.", json!({"is_step_revision": true})),
        )
        .await,
    );
    assert_eq!(bad["field"], "revises_step_number", "{message}");
    let (_, three) = ok(call(
        &client,
        "planner",
        plan(
            3,
            true,
            "Include batch jobs too.",
            json!({"is_step_revision": true, "revises_step_number": 2}),
        ),
    )
    .await);
    let current: Vec<&str> = three["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        current,
        [
            "Make the invoice list fast for large accounts.",
            PLAN_2_REVISED
        ],
        "the revision replaces step 2"
    );
    let (markdown, four) =
        ok(call(&client, "planner", plan(4, true, "The change.", json!({}))).await);
    assert_eq!(four["status"], "pause_for_planner", "{markdown}");
    assert_eq!(four["synthesis"]["version"], 1);
    let (markdown, five) = ok(call(
        &client,
        "planner",
        plan(5, false, "Verification.", json!({})),
    )
    .await);
    assert_eq!(five["status"], "planning_complete", "{markdown}");
    assert_eq!(five["planning_complete"], true);
    assert!(
        five["plan_summary"]
            .as_str()
            .unwrap()
            .contains("Step 4: Add the (account_id, issued_at) index"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Continuation ID: plan-index"),
        "{markdown}"
    );
    client.cancel().await.ok();

    let lux = open(scratch).await;
    let project = lux.default_project();
    let reference = SessionRef::ExternalId("plan-index".into());
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(session.tool, "planner");
    assert_eq!(session.status, lux_core::SessionStatus::Completed);
    let steps = lux.all_steps(project, &reference).await.unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "plan", "guidance", "plan", "guidance", "plan", "guidance", "plan", "guidance", "plan"
        ]
    );
    assert!(steps[4].is_revision);
    assert_eq!(steps[4].revises_step, Some(steps[2].step_number));
    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.cost.0 > 0 && c.input_tokens > 0));
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].step_id, Some(steps[6].id));
}
