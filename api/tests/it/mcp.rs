//! The MCP server through a real MCP client (rmcp): `lux mcp` over stdio as a child process, and
//! `/mcp` over streamable HTTP on a loopback port; what the tools store is read back with `lux_core`.

use std::time::Duration;

use lux_core::{DatabaseOptions, Lux, SessionRef};
use rmcp::model::{CallToolRequestParams, CallToolResult};
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
    tokio::time::timeout(
        Duration::from_secs(30),
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
);

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
    ok(call(
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
    let state = lux_api::server::AppState::new(lux.clone(), lux_api::rest::AuthPolicy::new(true));
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
