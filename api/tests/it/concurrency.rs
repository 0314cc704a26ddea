//! Concurrency on one SQLite file: 64 HTTP writers appending to 8 shared sessions through a
//! `lux serve`, while 3 `lux mcp` processes write their own sessions to the same file. No client
//! may see an error (busy waits are Lux's business), no step may be lost or doubled, and step
//! numbers stay contiguous in every session. `LUX_CONCURRENCY_SECONDS` sets how long the writers
//! run (default 5, the short form CI runs; the long form is 60).

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::support::{Scratch, free_port, serve_on};

const HTTP_WRITERS: usize = 64;
const SHARED_SESSIONS: usize = 8;
const MCP_PROCESSES: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_over_http_and_mcp_share_one_sqlite_file() {
    lux_core::llm::install_crypto_provider();
    let seconds: u64 = std::env::var("LUX_CONCURRENCY_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5);
    let scratch = Scratch::sqlite();
    let port = free_port();
    let _server = serve_on(&scratch, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut sessions = Vec::new();
    for index in 0..SHARED_SESSIONS {
        let created: Value = http
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"tool": "concurrency", "title": format!("shared {index}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sessions.push(created["id"].as_str().unwrap().to_owned());
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut writers = Vec::new();
    for writer in 0..HTTP_WRITERS {
        let (http, base) = (http.clone(), base.clone());
        let session = sessions[writer % SHARED_SESSIONS].clone();
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            let mut errors = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let content = format!("writer {writer} thought {n}: checking the premise again.");
                match http
                    .post(format!("{base}/api/v1/sessions/{session}/steps"))
                    .json(&json!({"kind": "reasoning", "content": content}))
                    .send()
                    .await
                {
                    Ok(response) if response.status().as_u16() == 201 => written.push(content),
                    Ok(response) => errors.push(format!(
                        "{}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    )),
                    Err(error) => errors.push(error.to_string()),
                }
                n += 1;
            }
            (session, written, errors)
        }));
    }
    let mut mcp_clients = Vec::new();
    for process in 0..MCP_PROCESSES {
        let url = scratch.url.clone();
        mcp_clients.push(tokio::spawn(async move {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lux"));
            command
                .args(["--database-url", &url, "mcp"])
                .stderr(Stdio::null());
            let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
            let mut calls = 0usize;
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let arguments = json!({
                    "thought": format!("mcp {process} thought {calls}: weighing the options."),
                    "thought_number": calls + 1,
                    "total_thoughts": calls + 2,
                    "next_thought_needed": true,
                    "session_id": format!("mcp-writer-{process}"),
                });
                let Value::Object(arguments) = arguments else {
                    unreachable!()
                };
                match client
                    .call_tool(
                        CallToolRequestParams::new("sequential_thinking").with_arguments(arguments),
                    )
                    .await
                {
                    Ok(result) if result.is_error != Some(true) => calls += 1,
                    Ok(result) => errors.push(format!("{:?}", result.content)),
                    Err(error) => errors.push(error.to_string()),
                }
            }
            client.cancel().await.ok();
            (format!("mcp-writer-{process}"), calls, errors)
        }));
    }

    let mut acknowledged: HashMap<String, Vec<String>> = HashMap::new();
    let mut errors = Vec::new();
    for writer in writers {
        let (session, written, failed) = writer.await.unwrap();
        acknowledged.entry(session).or_default().extend(written);
        errors.extend(failed);
    }
    let mut mcp_calls = Vec::new();
    for client in mcp_clients {
        let (session, calls, failed) = client.await.unwrap();
        mcp_calls.push((session, calls));
        errors.extend(failed);
    }
    assert!(
        errors.is_empty(),
        "{} errors reached clients, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    let mut total = 0;
    for (session, written) in &acknowledged {
        let steps: Value = http
            .get(format!("{base}/api/v1/sessions/{session}/steps?limit=1000"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut items: Vec<Value> = steps["items"].as_array().unwrap().clone();
        let mut cursor = steps["next_cursor"].as_str().map(str::to_owned);
        while let Some(after) = cursor {
            let page: Value = http
                .get(format!(
                    "{base}/api/v1/sessions/{session}/steps?limit=1000&cursor={after}"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let numbers: Vec<i64> = items
            .iter()
            .map(|step| step["step_number"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (1..=written.len() as i64).collect();
        assert_eq!(
            numbers, expected,
            "step numbers of {session} are 1..=n without gaps"
        );
        let stored: BTreeSet<&str> = items
            .iter()
            .map(|step| step["content"].as_str().unwrap())
            .collect();
        let sent: BTreeSet<&str> = written.iter().map(String::as_str).collect();
        assert_eq!(
            stored.len(),
            items.len(),
            "no step of {session} stored twice"
        );
        assert_eq!(stored, sent, "exactly the acknowledged steps of {session}");
        total += items.len();
    }
    for (external, calls) in &mcp_calls {
        let steps: Value = http
            .get(format!(
                "{base}/api/v1/sessions/{external}/steps?limit=1000"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let numbers: Vec<i64> = steps["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| step["step_number"].as_i64().unwrap())
            .collect();
        assert_eq!(
            numbers,
            (1..=*calls as i64).collect::<Vec<_>>(),
            "{external}: one step per call"
        );
        total += numbers.len();
    }
    println!(
        "concurrency: {HTTP_WRITERS} HTTP writers on {SHARED_SESSIONS} sessions and {MCP_PROCESSES} \
         lux mcp processes for {seconds} s on one SQLite file: {total} steps acknowledged and \
         found ({} over MCP), 0 errors, 0 lost, 0 doubled",
        mcp_calls.iter().map(|(_, calls)| calls).sum::<usize>()
    );
}
