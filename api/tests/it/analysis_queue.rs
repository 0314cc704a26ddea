//! The analysis queue as a client of `lux serve` meets it: a step write returns before its
//! analysis unless asked to wait (`?wait=analysis`, `Prefer: wait=N`); a full queue answers 503
//! with `Retry-After`; `/metrics` shows depth and lag; and steps queued when the server is killed
//! with SIGKILL are analysed after the restart, as a prompt analysis would have.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Scratch, cli_tests, free_port, metric, serve_on, wait_for_analysis};

cli_tests!(
    a_step_write_waits_for_its_analysis_only_when_asked,
    a_full_queue_answers_503_and_queued_analysis_survives_kill_9,
);

const LOOPING: [&str; 4] = [
    "Why did the nightly export job start failing after Tuesday's release?",
    "The export job fails because the database connection pool is exhausted during the nightly batch window.",
    "The release also changed the retry policy for the export worker, which now retries immediately.",
    "The export job fails because the database connection pool gets exhausted during the nightly batch window.",
];
const HASTY: &str = "It is definitely the cache, no need to check the other services. We rewrite the cache layer tonight.";

fn client() -> reqwest::Client {
    lux_core::llm::install_crypto_provider();
    // No pooled connections: the server is killed and restarted on the same port.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn new_session(http: &reqwest::Client, base: &str) -> String {
    let created: Value = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"tool": "queue_test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// Every finding and alert of a session, as "step kind" lines.
async fn analysis_of(http: &reqwest::Client, base: &str, session: &str) -> BTreeSet<String> {
    let steps: Value = http
        .get(format!("{base}/api/v1/sessions/{session}/steps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = |id: &Value| {
        steps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| &step["id"] == id)
            .map_or(0, |step| step["step_number"].as_i64().unwrap())
    };
    let mut found = BTreeSet::new();
    for (path, field) in [("findings", "bias_type"), ("monitor-events", "kind")] {
        let list: Value = http
            .get(format!("{base}/api/v1/sessions/{session}/{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in list["items"].as_array().unwrap() {
            found.insert(format!(
                "{} {}",
                number(&item["step_id"]),
                item[field].as_str().unwrap()
            ));
        }
    }
    found
}

async fn a_step_write_waits_for_its_analysis_only_when_asked(scratch: &Scratch) {
    let http = client();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = serve_on(scratch, port, &[]);
    let session = new_session(&http, &base).await;
    let steps = format!("{base}/api/v1/sessions/{session}/steps");

    let unwaited = http
        .post(&steps)
        .json(&json!({"kind": "reasoning", "content": LOOPING[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unwaited.status(), 201);
    assert_eq!(unwaited.headers()["lux-analysis"], "queued");
    let body: Value = unwaited.json().await.unwrap();
    assert!(body.get("analysis").is_none(), "{body}");

    let waited = http
        .post(format!("{steps}?wait=analysis"))
        .json(&json!({"kind": "reasoning", "content": HASTY}))
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status(), 201);
    assert_eq!(waited.headers()["lux-analysis"], "done");
    assert!(waited.headers().get("preference-applied").is_none());
    let body: Value = waited.json().await.unwrap();
    assert_eq!(body["step_number"], 2, "{body}");
    assert_eq!(body["analysis"]["state"], "done", "{body}");
    let findings = body["analysis"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["bias_type"] == "hasty_conclusion" && f["step_id"] == body["id"]),
        "{body}"
    );
    assert!(body["analysis"]["alerts"].is_array());

    let preferred = http
        .post(&steps)
        .header("Prefer", "respond-async, wait=7")
        .json(&json!({"kind": "reasoning", "content": LOOPING[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(preferred.status(), 201);
    assert_eq!(preferred.headers()["preference-applied"], "wait=7");
    assert_eq!(preferred.headers()["lux-analysis"], "done");

    // A replay waits for nothing and returns the stored step.
    let replayed = http
        .post(format!("{steps}?wait=analysis"))
        .json(&json!({"kind": "reasoning", "content": LOOPING[1], "step_number": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.headers()["lux-analysis"], "done");

    let bad = http
        .post(format!("{steps}?wait=forever"))
        .json(&json!({"kind": "reasoning", "content": LOOPING[2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "{:?}", bad.text().await);
}

async fn a_full_queue_answers_503_and_queued_analysis_survives_kill_9(scratch: &Scratch) {
    let http = client();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // No workers: every write stays queued, as under a burst the workers cannot follow.
    let mut paused = serve_on(
        scratch,
        port,
        &["--analysis-workers", "0", "--analysis-queue-limit", "5"],
    );
    let session = new_session(&http, &base).await;
    let steps = format!("{base}/api/v1/sessions/{session}/steps");
    for content in LOOPING.iter().chain([&HASTY]) {
        let response = http
            .post(&steps)
            .json(&json!({"kind": "reasoning", "content": content}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["lux-analysis"], "queued");
    }
    assert_eq!(metric(&http, &base, "lux_analysis_queue_depth").await, 5.0);
    assert_eq!(metric(&http, &base, "lux_analysis_workers").await, 0.0);
    assert!(analysis_of(&http, &base, &session).await.is_empty());

    let refused = http
        .post(&steps)
        .json(&json!({"kind": "reasoning", "content": "One more step."}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "busy", "{body}");
    let refused_batch = http
        .post(format!("{base}/api/v1/ingest"))
        .json(&json!({"items": [{"type": "step", "session_id": session, "kind": "reasoning", "content": "One more."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused_batch.status(), 503);

    paused.0.kill().unwrap(); // SIGKILL, with five steps waiting.
    paused.0.wait().unwrap();

    let _server = serve_on(scratch, port, &[]);
    wait_for_analysis(&base).await;
    let analysed = analysis_of(&http, &base, &session).await;
    assert!(analysed.contains("5 hasty_conclusion"), "{analysed:?}");
    assert!(analysed.contains("4 circular_reasoning"), "{analysed:?}");
    assert!(
        metric(
            &http,
            &base,
            "lux_analysis_jobs_total{outcome=\"completed\"}"
        )
        .await
            >= 5.0
    );
    // What the drained queue stored is what re-analysing the session stores.
    scratch.ok(&["analyze", "--session", &session]);
    assert_eq!(analysis_of(&http, &base, &session).await, analysed);
    // And writes are taken again.
    let accepted = http
        .post(&steps)
        .json(&json!({"kind": "reasoning", "content": "One more step."}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 201);
}
