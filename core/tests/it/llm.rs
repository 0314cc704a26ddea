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

/// (bias type, severity) of each finding, in order.
type Expected = Vec<(&'static str, &'static str)>;

/// Every verdict shape a model answers in, served by the scripted model and run through the
/// registry as a write would: what is stored (bias types, severity, confidence, evidence) or that
/// nothing is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_shape_is_read_through_the_registry() {
    let content = "We keep the 120,000 budget the vendor first quoted, even though three bids came in near 80,000.";
    let cases: Vec<(&str, &str, Expected)> = vec![
        (
            "the original Lux's flat verdict",
            r#"{"has_bias": true, "bias_types": ["anchoring"], "severity": "medium", "confidence": 0.7,
                "explanation": "keeps the first quote", "evidence": "the 120,000 budget"}"#,
            vec![("anchoring", "medium")],
        ),
        (
            "flat verdict naming two biases, flag as a string",
            r#"{"has_bias": "true", "bias_types": ["Anchoring Bias", "confirmation_bias"], "severity": "high"}"#,
            vec![("anchoring", "high"), ("confirmation", "high")],
        ),
        (
            "flat verdict saying no bias",
            r#"{"has_bias": false, "bias_types": [], "severity": "none"}"#,
            vec![],
        ),
        (
            "the original hybrid tool's reply",
            r#"{"bias_detected": true, "confidence": 0.8, "biases_found": [{"bias_type": "anchoring",
                "description": "stays at the first quote", "severity": "high", "location": "first quoted"}],
                "suggestions": ["price it from the bids"], "bias_score": 0.8}"#,
            vec![("anchoring", "high")],
        ),
        (
            "a flag without a named bias",
            r#"{"bias_detected": true, "severity": "low", "explanation": "something is off"}"#,
            vec![("unspecified", "low")],
        ),
        (
            "a list of names",
            r#"["sunk cost fallacy"]"#,
            vec![("sunk_cost", "medium")],
        ),
        (
            "the asked-for shape, in a fence",
            "```json\n{\"biases\": [{\"bias_type\": \"false dilemma\", \"severity\": \"critical\"}]}\n```",
            vec![("false_dichotomy", "critical")],
        ),
        (
            "a single finding object",
            r#"{"type": "availability heuristic", "severity": 0.5}"#,
            vec![("availability", "medium")],
        ),
        ("an empty list", r#"{"biases": []}"#, vec![]),
    ];
    for (shape, verdict, expected) in cases {
        let (url, _) = serve(vec![(200, "", completion(verdict))]).await;
        let registry = DetectorRegistry::empty().with_llm_verifier(Arc::new(client(&url, 0)));
        let analysis = registry.analyze(None, step(content)).await;
        assert!(
            analysis.failures.is_empty(),
            "{shape}: {:?}",
            analysis.failures
        );
        let found: Vec<(&str, &str)> = analysis
            .findings
            .iter()
            .map(|f| (f.bias_type.as_str(), f.severity.as_str()))
            .collect();
        assert_eq!(found, expected, "{shape}");
        if shape == "the original Lux's flat verdict" {
            let finding = &analysis.findings[0];
            assert!((finding.confidence - 0.7).abs() < 1e-9);
            assert_eq!(finding.explanation, "keeps the first quote");
            let span = finding.evidence.unwrap();
            assert_eq!(&content[span.start..span.end], "the 120,000 budget");
        }
        if shape == "the original hybrid tool's reply" {
            let finding = &analysis.findings[0];
            assert_eq!(
                finding.suggestion.as_deref(),
                Some("price it from the bids")
            );
            assert!((finding.confidence - 0.8).abs() < 1e-9);
        }
    }
}

/// A learned model whose every score is σ(0) = 0.5: `thresholds` decide what is confident (≤ 0.5),
/// a mid-confidence candidate (0.5 ≥ half the threshold) or nothing (threshold 1 is off).
fn flat_model(thresholds: &[(&str, f64)]) -> lux_core::detect::learned::DetectorModel {
    use lux_core::detect::eval::SIGNALS;
    use lux_core::detect::learned::{DetectorModel, HASH_BUCKETS, SignalModel, feature_names};
    let names = feature_names(false);
    DetectorModel {
        version: "test-flat".into(),
        trained_on: "nothing".into(),
        semantic: false,
        hash_buckets: HASH_BUCKETS,
        mean: vec![0.0; names.len()],
        scale: vec![1.0; names.len()],
        signals: SIGNALS
            .iter()
            .map(|signal| SignalModel {
                signal: (*signal).to_owned(),
                intercept: 0.0,
                dense: vec![0.0; names.len()],
                hashed: vec![0.0; HASH_BUCKETS],
                calibration_slope: 1.0,
                calibration_offset: 0.0,
                threshold: thresholds
                    .iter()
                    .find(|(s, _)| s == signal)
                    .map_or(1.0, |(_, t)| *t),
                l2: 0.0,
                memory_penalty: 1.0,
            })
            .collect(),
        feature_names: names,
    }
}

fn second_step(content: &str) -> Arc<DetectorInput> {
    Arc::new(DetectorInput {
        step: StepUnderReview {
            step_number: Some(2),
            kind: "reasoning".into(),
            content: content.into(),
        },
        previous: vec![Arc::new(lux_core::detect::PriorStep {
            step_number: 1,
            kind: "reasoning".into(),
            content: "How much should we budget for the new CRM?".into(),
        })],
        synthesis: None,
    })
}

/// Mid-confidence candidates of the learned detectors go to the LLM verifier, and only what it
/// confirms is reported; confident findings need no call, and no candidate means no call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_confidence_candidates_go_to_the_verifier() {
    use lux_core::detect::learned::LearnedBiasDetector;
    use lux_core::detect::llm_verifier::LlmVerifier;
    let content =
        "We keep the 120,000 budget the vendor first quoted, since we already paid for the pilot.";
    let model = Arc::new(flat_model(&[("sunk_cost", 0.4), ("anchoring", 0.6)]));
    let registry_for = |url: &str| {
        DetectorRegistry::empty().with_learned(LearnedBiasDetector::with_verifier(
            model.clone(),
            Arc::new(LlmVerifier::new(Arc::new(client(url, 0)))),
        ))
    };
    let kinds = |analysis: &lux_core::detect::StepAnalysis| -> Vec<String> {
        analysis
            .findings
            .iter()
            .map(|f| f.bias_type.clone())
            .collect()
    };

    // Confirmed: the candidate is reported, with the verifier's reason.
    let confirm = r#"{"has_bias": true, "bias_types": ["anchoring", "confirmation"], "severity": "medium",
                      "explanation": "keeps the first quote", "evidence": "the 120,000 budget"}"#;
    let (url, seen) = serve(vec![(200, "", completion(confirm))]).await;
    let analysis = registry_for(&url).analyze(None, second_step(content)).await;
    assert!(analysis.failures.is_empty(), "{:?}", analysis.failures);
    assert_eq!(
        kinds(&analysis),
        ["sunk_cost", "anchoring"],
        "confirmation was no candidate"
    );
    let anchoring = &analysis.findings[1];
    assert!(
        anchoring
            .explanation
            .contains("confirmed it: keeps the first quote"),
        "{}",
        anchoring.explanation
    );
    let span = anchoring.evidence.unwrap();
    assert_eq!(&content[span.start..span.end], "the 120,000 budget");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].contains("A detector suspects anchoring"),
        "{}",
        requests[0]
    );

    // Refuted: only the confident finding stays.
    let (url, seen) = serve(vec![(200, "", completion(r#"{"has_bias": false}"#))]).await;
    let analysis = registry_for(&url).analyze(None, second_step(content)).await;
    assert_eq!(kinds(&analysis), ["sunk_cost"]);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A verifier that fails leaves the confident finding and records nothing worse.
    let (url, _) = serve(vec![(200, "", completion("no json here"))]).await;
    let analysis = registry_for(&url).analyze(None, second_step(content)).await;
    assert_eq!(kinds(&analysis), ["sunk_cost"]);
    assert!(analysis.failures.is_empty());

    // No candidate: no call at all.
    let (url, seen) = serve(vec![(200, "", completion(confirm))]).await;
    let quiet = Arc::new(flat_model(&[("sunk_cost", 0.4)]));
    let registry = DetectorRegistry::empty().with_learned(LearnedBiasDetector::with_verifier(
        quiet,
        Arc::new(LlmVerifier::new(Arc::new(client(&url, 0)))),
    ));
    let analysis = registry.analyze(None, second_step(content)).await;
    assert_eq!(kinds(&analysis), ["sunk_cost"]);
    assert!(seen.lock().unwrap().is_empty(), "no candidate, no LLM call");
}
