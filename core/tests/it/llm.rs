//! The OpenAI-compatible client against a tiny chat-completions server on a loopback port:
//! retries on 429/5xx, usage and latency, the API key sent, and the LLM verifier end to end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lux_core::detect::{DetectorInput, DetectorRegistry, StepUnderReview};
use lux_core::llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, LlmError, OpenAiClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One canned HTTP answer: status, extra headers, body.
type Answer = (u16, &'static str, String);

/// Serves the answers in order (repeating the last), recording each request's head and body.
async fn serve(answers: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut index = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (status, headers, body) = answers[index.min(answers.len() - 1)].clone();
            index += 1;
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
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
                        break;
                    }
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&request).to_string());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.ok();
            socket.shutdown().await.ok();
        }
    });
    (url, seen)
}

fn completion(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-1",
        "model": "test-model-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 20}},
    })
    .to_string()
}

fn client(url: &str, retries: u32) -> OpenAiClient {
    let mut config = LlmConfig::new(url, "test-model");
    config.api_key = Some("sk-secret-test".into());
    config.max_retries = retries;
    config.backoff = Duration::from_millis(10);
    config.timeout = Duration::from_secs(5);
    OpenAiClient::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_overload_and_reads_usage() {
    let (url, seen) = serve(vec![
        (
            429,
            "retry-after: 0\r\n",
            r#"{"error":{"message":"slow down"}}"#.into(),
        ),
        (503, "", "upstream busy".into()),
        (200, "", completion("hello")),
    ])
    .await;
    let client = client(&url, 3);
    let request = ChatRequest {
        messages: vec![ChatMessage::user("hi")],
        json_mode: true,
        ..ChatRequest::default()
    };
    let response = client.chat(&request).await.unwrap();
    assert_eq!(response.text, "hello");
    assert_eq!(response.model, "test-model-2025");
    assert_eq!(response.attempts, 3);
    assert_eq!(response.usage.input_tokens, 120);
    assert_eq!(response.usage.output_tokens, 30);
    assert_eq!(response.usage.cached_input_tokens, 20);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].starts_with("POST /v1/chat/completions"));
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer sk-secret-test")
    );
    assert!(requests[0].contains("\"model\":\"test-model\""));
    assert!(requests[0].contains("json_object"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried_and_hide_the_key() {
    let (url, seen) = serve(vec![(401, "", r#"{"error":{"message":"bad key"}}"#.into())]).await;
    let error = client(&url, 3)
        .chat(&ChatRequest {
            messages: vec![ChatMessage::user("hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LlmError::Status { status: 401, message } if message == "bad key"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("sk-secret"));
    assert_eq!(seen.lock().unwrap().len(), 1);

    let (url, seen) = serve(vec![(500, "", "boom".into())]).await;
    let error = client(&url, 2)
        .chat(&ChatRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Status { status: 500, .. }));
    assert_eq!(seen.lock().unwrap().len(), 3, "one attempt and two retries");
    assert!(OpenAiClient::new(LlmConfig::new("ftp://x", "m")).is_err());
}

fn step(content: &str) -> Arc<DetectorInput> {
    Arc::new(DetectorInput {
        step: StepUnderReview {
            step_number: Some(1),
            kind: "reasoning".into(),
            content: content.into(),
        },
        previous: Vec::new(),
        synthesis: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_verifier_reports_a_tolerantly_parsed_verdict() {
    let verdict = "Sure! Here is my analysis:\n```json\n{\"biases\": [{\"bias_type\": \"Anchoring Bias\", \
                   \"severity\": \"high\", \"confidence\": 0.8, \"explanation\": \"sticks to the first quote\", \
                   \"evidence\": \"budget 120,000\", \"suggestion\": \"use the market range\"}]}\n```\nLet me know!";
    let (url, _) = serve(vec![(200, "", completion(verdict))]).await;
    let registry = DetectorRegistry::empty().with_llm_verifier(Arc::new(client(&url, 0)));
    let content = "We should budget 120,000 dollars as the vendor first said.";
    let analysis = registry.analyze(None, step(content)).await;
    assert!(analysis.failures.is_empty(), "{:?}", analysis.failures);
    assert_eq!(analysis.findings.len(), 1);
    let finding = &analysis.findings[0];
    assert_eq!(finding.detector, "lux.llm_verifier");
    assert_eq!(finding.bias_type, "anchoring");
    let span = finding.evidence.unwrap();
    assert_eq!(&content[span.start..span.end], "budget 120,000");

    // An answer without JSON is a recorded failure, not "no bias".
    let (url, _) = serve(vec![(200, "", completion("Yes, there is some bias here."))]).await;
    let registry = DetectorRegistry::empty().with_llm_verifier(Arc::new(client(&url, 0)));
    let analysis = registry.analyze(None, step(content)).await;
    assert!(analysis.findings.is_empty());
    assert_eq!(analysis.failures.len(), 1);
    assert_eq!(analysis.events[0].kind, "detector_failure");
    assert_eq!(registry.failure_count(), 1);
}
