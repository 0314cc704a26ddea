//! Every door that writes steps runs the enabled plugin detectors: a plugin installed and enabled
//! with the CLI, then one text written through REST (a step, a batch), MCP over streamable HTTP
//! (a `lux serve` started after the plugin was enabled), MCP over stdio (`lux mcp`) and
//! `lux import`; each copy must carry the plugin's findings.

use std::time::Duration;

use lux_core::{DatabaseOptions, Lux, NewSession, NewStep, PageRequest, SessionFilter, SessionRef};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

use crate::support::{Scratch, cli_tests, free_port, serve_on, wait_for_analysis};

cli_tests!(
    every_write_path_runs_the_enabled_plugins,
    the_llm_verifier_follows_the_configuration,
);

const TEXT: &str = "The cache is always warm after boot. It never fails — guaranteed. \
                    The eviction might sometimes always lag.";
const DETECTOR: &str = "plugin.absolute-claims";
/// The unhedged absolutes of `TEXT`, found by hand: sentence 3 hedges with "might".
const EXPECTED: [&str; 3] = ["always", "never", "guaranteed"];

async fn sequential_thought(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    session: &str,
) {
    let Value::Object(arguments) = json!({
        "thought": TEXT,
        "thought_number": 1,
        "total_thoughts": 1,
        "next_thought_needed": false,
        "session_id": session,
    }) else {
        unreachable!()
    };
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .call_tool(CallToolRequestParams::new("sequential_thinking").with_arguments(arguments)),
    )
    .await
    .expect("the tool answered in time")
    .expect("tool call");
    assert_ne!(result.is_error, Some(true), "{result:?}");
}

/// Status and JSON body of a request to the spawned server.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn every_write_path_runs_the_enabled_plugins(scratch: &Scratch) {
    lux_core::llm::install_crypto_provider();
    let wasm = lux_plugins::testing::example_path("absolute-claims");
    scratch.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    scratch.ok(&["plugin", "enable", "absolute-claims"]);

    // A server started after the plugin was enabled runs it from its first write.
    let port = free_port();
    let server = serve_on(scratch, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let (_, ready) = send(http.get(format!("{base}/readyz"))).await;
    assert_eq!(ready["analysis"]["plugin_detectors"], 1, "{ready}");

    let (_, session) = send(
        http.post(format!("{base}/api/v1/sessions"))
            .json(&json!({"tool": "rest"})),
    )
    .await;
    let steps = format!(
        "{base}/api/v1/sessions/{}/steps",
        session["id"].as_str().unwrap()
    );
    let (status, step) = send(
        http.post(steps)
            .json(&json!({"kind": "analysis", "content": TEXT})),
    )
    .await;
    assert_eq!(status, 201, "{step}");
    let (_, batch) = send(http.post(format!("{base}/api/v1/ingest")).json(&json!({"items": [
        {"type": "session", "external_id": "batch-1", "tool": "batch"},
        {"type": "step", "session_external_id": "batch-1", "kind": "analysis", "content": TEXT},
    ]})))
    .await;
    assert_eq!(batch["created"], 2, "{batch}");

    let transport = StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = ().serve(transport).await.expect("MCP over HTTP");
    sequential_thought(&client, "over-http").await;
    client.cancel().await.ok();
    // The REST writes returned before their analysis; it is stored before the server stops.
    wait_for_analysis(&base).await;
    drop(server);

    let mut command = tokio::process::Command::from(scratch.lux());
    command.arg("mcp").stderr(std::process::Stdio::null());
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("MCP handshake");
    sequential_thought(&client, "over-stdio").await;
    client.cancel().await.ok();

    // An export written where the plugin never ran, imported here: the plugin judges its steps
    // once; importing the same file again brings nothing new to judge.
    let elsewhere = Scratch::sqlite();
    let other = Lux::open(DatabaseOptions::new(&elsewhere.url))
        .await
        .unwrap();
    let imported = other
        .create_session(
            other.default_project(),
            NewSession {
                tool: "imported".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    other
        .append_step(
            other.default_project(),
            &SessionRef::Id(imported.value.id),
            NewStep {
                kind: "analysis".into(),
                content: TEXT.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    elsewhere.ok(&["export", "all", "--output", file.path().to_str().unwrap()]);
    let report = scratch.ok(&["import", file.path().to_str().unwrap()]);
    assert!(
        report.contains("plugin absolute-claims 0.1.0: 1 session(s), 1 step(s), 3 finding(s)"),
        "{report}"
    );
    let again = scratch.ok(&["import", file.path().to_str().unwrap()]);
    assert!(!again.contains("plugin absolute-claims"), "{again}");
    elsewhere.cleanup().await;

    // Every copy of the text, whichever door it came through, carries the plugin's findings.
    let mut options = DatabaseOptions::new(scratch.url.clone());
    options.migrate = false;
    let lux = Lux::open(options).await.unwrap();
    let project = lux.default_project();
    let sessions = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(100))
        .await
        .unwrap();
    let mut tools: Vec<String> = Vec::new();
    for session in &sessions.items {
        let reference = SessionRef::Id(session.id);
        let steps = lux.all_steps(project, &reference).await.unwrap();
        let findings = lux.list_findings(project, &reference).await.unwrap();
        for step in steps.iter().filter(|step| step.content == TEXT) {
            let mut found: Vec<(i32, String)> = findings
                .iter()
                .filter(|f| f.detector == DETECTOR && f.step_id == Some(step.id))
                .map(|f| {
                    let evidence = f.evidence.map_or(0, |span| span.start as i32);
                    (evidence, f.evidence_text.clone().unwrap_or_default())
                })
                .collect();
            found.sort();
            let texts: Vec<&str> = found.iter().map(|(_, text)| text.as_str()).collect();
            assert_eq!(
                texts, EXPECTED,
                "{} step {}",
                session.tool, step.step_number
            );
            tools.push(session.tool.clone());
        }
    }
    tools.sort();
    assert_eq!(
        tools,
        [
            "batch",
            "imported",
            "rest",
            "sequential_thinking",
            "sequential_thinking"
        ],
        "one copy per door"
    );
}

/// An LLM configured in the environment verifies uncertain findings on every door (here as
/// `lux serve` reports it), unless `--no-llm-verifier` says not to.
async fn the_llm_verifier_follows_the_configuration(scratch: &Scratch) {
    let verifier_of = |extra: &[&str]| {
        let port = free_port();
        let mut command = scratch.lux();
        command
            .env("LUX_LLM_BASE_URL", "http://127.0.0.1:9/v1")
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        match extra {
            ["--env", name, value] => command.env(name, value),
            args => command.args(args),
        };
        let _server = crate::support::Server(command.spawn().unwrap());
        crate::support::wait_until_healthy(port);
        let (status, body) = crate::support::http_get(port, "/readyz").unwrap();
        assert_eq!(status, 200, "{body}");
        let ready: Value = serde_json::from_str(&body).unwrap();
        ready["analysis"]["llm_verifier"].as_bool().unwrap()
    };
    assert!(verifier_of(&[]));
    assert!(!verifier_of(&["--no-llm-verifier"]));
    assert!(!verifier_of(&["--env", "LUX_NO_LLM_VERIFIER", "1"]));
}
