//! OTLP/HTTP trace ingest as users meet it: an app instrumented with the official OpenTelemetry
//! Python SDK exports GenAI spans to a live `lux serve` (protobuf with gzip, and JSON), under the
//! API key rules of REST; the conversation becomes one session with its model calls priced and
//! the assistant's answer stored as a step, readable over REST, analytics and the dashboard.
//! Hand-made requests check what the SDK never sends: bad spans counted as rejected, re-sent spans
//! stored once, undecodable bodies refused with the OTLP status body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::{Scratch, cli_tests, free_port, serve_on};

cli_tests!(bad_spans_are_counted_and_a_resent_span_is_stored_once);

fn client() -> reqwest::Client {
    lux_core::llm::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn get_json(http: &reqwest::Client, url: &str, key: Option<&str>) -> Value {
    let mut request = http.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// The one session stored for a conversation id, with its steps and model calls.
async fn conversation(
    http: &reqwest::Client,
    base: &str,
    external_id: &str,
    key: Option<&str>,
) -> (Value, Vec<Value>, Vec<Value>) {
    let sessions = get_json(
        http,
        &format!("{base}/api/v1/sessions?external_id={external_id}"),
        key,
    )
    .await;
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one session per conversation: {sessions}");
    let session = items[0].clone();
    let id = session["id"].as_str().unwrap();
    let steps = get_json(http, &format!("{base}/api/v1/sessions/{id}/steps"), key).await;
    let calls = get_json(
        http,
        &format!("{base}/api/v1/sessions/{id}/model-calls"),
        key,
    )
    .await;
    (
        session,
        steps["items"].as_array().unwrap().clone(),
        calls["items"].as_array().unwrap().clone(),
    )
}

/// The official OpenTelemetry Python SDK as the client; compiled when `LUX_OTEL_PYTHON` names a
/// Python that has it.
#[cfg(lux_otel_python)]
mod sdk {
    use super::*;

    cli_tests!(an_instrumented_app_exports_its_conversation_over_protobuf_and_json);

    /// Runs the instrumented app (`tests/otlp/genai_app.py`) with the SDK's OTLP/HTTP exporter.
    fn run_app(
        endpoint: &str,
        encoding: &str,
        conversation: &str,
        key: Option<&str>,
        gzip: bool,
    ) -> bool {
        let python = std::env::var("LUX_OTEL_PYTHON").expect("LUX_OTEL_PYTHON names the python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/genai_app.py");
        let mut command = std::process::Command::new(python);
        command.args([script, endpoint, encoding, conversation]);
        if let Some(key) = key {
            command.arg(key);
        }
        if gzip {
            command.env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
        }
        let output = command.output().expect("run the instrumented app");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        eprintln!("genai_app.py {encoding} {conversation}: {text}");
        output.status.success()
    }

    async fn an_instrumented_app_exports_its_conversation_over_protobuf_and_json(
        scratch: &Scratch,
    ) {
        let ingest_key = scratch
            .ok(&[
                "apikey", "create", "--scope", "ingest", "--name", "otel-app",
            ])
            .trim()
            .to_owned();
        let read_key = scratch
            .ok(&["apikey", "create", "--scope", "read", "--name", "analyst"])
            .trim()
            .to_owned();
        let (port, otlp_port) = (free_port(), free_port());
        let _server = serve_on(
            scratch,
            port,
            &["--otlp-bind", &format!("127.0.0.1:{otlp_port}")],
        );
        // Traces are received beside the REST API, and on a second port when asked (`--otlp-bind`).
        let on_otlp_port = format!("http://127.0.0.1:{otlp_port}/v1/traces");
        let base = format!("http://127.0.0.1:{port}");
        let beside_rest = format!("{base}/v1/traces");
        let http = client();

        // Keys exist, so an exporter without one is refused (and the SDK reports the failure).
        assert!(!run_app(
            &beside_rest,
            "protobuf",
            "trip-nokey",
            None,
            false
        ));
        assert!(run_app(
            &on_otlp_port,
            "protobuf",
            "trip-proto",
            Some(&ingest_key),
            true
        ));
        assert!(run_app(
            &beside_rest,
            "json",
            "trip-json",
            Some(&ingest_key),
            false
        ));

        let sessions = get_json(
            &http,
            &format!("{base}/api/v1/sessions?external_id=trip-nokey"),
            Some(&read_key),
        )
        .await;
        assert_eq!(sessions["items"], json!([]), "nothing stored without a key");
        for conversation_id in ["trip-proto", "trip-json"] {
            let (session, steps, calls) =
                conversation(&http, &base, conversation_id, Some(&read_key)).await;
            assert_eq!(session["tool"], "lux-otlp-test", "{session}");
            assert_eq!(session["title"], "travel-assistant", "{session}");
            let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
            assert_eq!(kinds, ["agent", "reasoning", "tool"], "{steps:?}");
            assert!(
                steps[1]["content"]
                    .as_str()
                    .unwrap()
                    .contains("an umbrella is worth taking"),
                "the assistant's answer is the reasoning step: {}",
                steps[1]
            );
            assert!(
                steps[1]["metadata"]["input"]
                    .as_str()
                    .unwrap()
                    .contains("weather in Paris"),
                "{}",
                steps[1]
            );
            let tool = steps[2]["content"].as_str().unwrap();
            assert!(
                tool.starts_with(r#"get_weather({"city": "Paris"})"#),
                "{tool}"
            );
            assert!(tool.contains("weather service timed out"), "{tool}");
            assert_eq!(calls.len(), 1, "{calls:?}");
            let call = &calls[0];
            assert_eq!(call["provider"], "openai");
            assert_eq!(call["model"], "gpt-4o-2024-08-06");
            assert_eq!(
                (
                    call["input_tokens"].as_i64(),
                    call["output_tokens"].as_i64()
                ),
                (Some(1200), Some(80))
            );
            assert!(call["cost_nusd"].as_i64().unwrap() > 0, "priced: {call}");
            assert_eq!(call["step_id"], steps[1]["id"], "the call is the answer's");
            assert_eq!(call["status"], "ok");
        }
        let overview = get_json(
            &http,
            &format!("{base}/api/v1/analytics/overview"),
            Some(&read_key),
        )
        .await;
        assert_eq!(overview["totals"]["model_calls"], 2, "{overview}");
        assert!(
            overview["totals"]["cost_nusd"].as_i64().unwrap() > 0,
            "{overview}"
        );
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn attribute(key: &str, value: Value) -> Value {
    let value = match value {
        Value::String(text) => json!({"stringValue": text}),
        Value::Number(n) => json!({"intValue": n.to_string()}),
        other => panic!("not an attribute value: {other}"),
    };
    json!({"key": key, "value": value})
}

fn json_span(span_id: &str, start: u64, attributes: Vec<Value>) -> Value {
    json!({
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + 1_500_000_000).to_string(),
        "attributes": attributes,
    })
}

async fn bad_spans_are_counted_and_a_resent_span_is_stored_once(scratch: &Scratch) {
    let port = free_port();
    let _server = serve_on(scratch, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let endpoint = format!("{base}/v1/traces");
    let http = client();
    let start = now_nanos();
    let chat = |span_id: &str, offset: u64, tokens: i64, answer: &str| {
        json_span(
            span_id,
            start + offset,
            vec![
                attribute("gen_ai.operation.name", json!("chat")),
                attribute("gen_ai.provider.name", json!("openai")),
                attribute("gen_ai.request.model", json!("gpt-4o-mini")),
                attribute("gen_ai.usage.input_tokens", json!(tokens)),
                attribute("gen_ai.usage.output_tokens", json!(12)),
                attribute("gen_ai.conversation.id", json!("support-4471")),
                attribute(
                    "gen_ai.output.messages",
                    json!(format!(
                        r#"[{{"role":"assistant","parts":[{{"type":"text","content":"{answer}"}}]}}]"#
                    )),
                ),
            ],
        )
    };
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [attribute("service.name", json!("support-bot"))]},
        "scopeSpans": [{"scope": {"name": "hand-written"}, "spans": [
            chat("00f067aa0ba902b7", 0, 310, "The refund was issued on Monday."),
            // More tokens than any call can have: refused by Lux's validation.
            chat("00f067aa0ba902b8", 10, 1_000_000_000_000, "Never stored."),
            // A span id of three bytes: refused before anything is written.
            chat("abcdef", 20, 5, "Never stored either."),
            // Not a GenAI span: not Lux's to keep, and not an error.
            json_span("00f067aa0ba902b9", 30, vec![attribute("http.request.method", json!("GET"))]),
        ]}],
    }]});
    for attempt in 0..2 {
        let response = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a bad span is never an HTTP error");
        let answer: Value = response.json().await.unwrap();
        let partial = &answer["partialSuccess"];
        assert_eq!(
            partial["rejectedSpans"]
                .as_i64()
                .or_else(|| partial["rejectedSpans"].as_str()?.parse().ok()),
            Some(2),
            "attempt {attempt}: {answer}"
        );
        let message = partial["errorMessage"].as_str().unwrap();
        assert!(message.contains("input_tokens"), "{message}");
        assert!(message.contains("span_id"), "{message}");
        assert!(message.contains("1 span(s) without GenAI"), "{message}");
    }
    let (session, steps, calls) = conversation(&http, &base, "support-4471", None).await;
    assert_eq!(session["tool"], "support-bot");
    assert_eq!(steps.len(), 1, "sent twice, stored once: {steps:?}");
    assert_eq!(steps[0]["content"], "The refund was issued on Monday.");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["latency_ms"], 1500);

    // The dashboard shows the conversation like any other session.
    let page = http
        .get(format!(
            "{base}/sessions/{}",
            session["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("The refund was issued on Monday."), "{page}");

    // Bodies that are not OTLP: refused whole with a status body in the request's encoding.
    let refusal = |content_type: &'static str, body: Vec<u8>| {
        let http = http.clone();
        let endpoint = endpoint.clone();
        async move {
            let response = http
                .post(&endpoint)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = refusal("application/json", b"{\"resourceSpans\": [".to_vec()).await;
    assert_eq!(status, 400);
    let status_body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status_body["code"], 3, "INVALID_ARGUMENT: {status_body}");
    let (status, body) = refusal("application/x-protobuf", vec![0xff, 0xff, 0xff, 0x07]).await;
    assert_eq!(status, 400);
    assert!(!body.is_empty(), "a protobuf google.rpc.Status");
    let (status, _) = refusal("text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 415);
    let (status, body) = refusal("application/json", b"{}".to_vec()).await;
    assert_eq!(
        (status, body),
        (200, b"{}".to_vec()),
        "an empty export succeeds"
    );
    let (status, body) = refusal("application/x-protobuf", Vec::new()).await;
    assert_eq!((status, body), (200, Vec::new()));

    // Nothing stored was disturbed by the refusals.
    let (_, steps, _) = conversation(&http, &base, "support-4471", None).await;
    assert_eq!(steps.len(), 1);
}
