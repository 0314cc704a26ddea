//! Crash safety: `lux serve` is killed with SIGKILL at random moments while a client streams
//! batch ingests; after each restart every acknowledged batch must be stored whole and intact
//! (on SQLite the file also passes `PRAGMA integrity_check`), and replaying the batches that were
//! never acknowledged must create nothing twice. `LUX_CRASH_TRIALS` sets the number of kills
//! (default 20, the short form CI runs).

use std::time::Duration;

use lux_core::DatabaseOptions;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::support::{Scratch, cli_tests, free_port, serve_on};

const STEPS_PER_BATCH: usize = 20;

/// The stored steps of the batch's session, as the API lists them.
async fn steps_of(http: &reqwest::Client, base: &str, batch: u64) -> Value {
    http.get(format!(
        "{base}/api/v1/sessions/{}/steps?limit=1000",
        session_id(batch)
    ))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

fn session_id(batch: u64) -> String {
    format!("0192cafe-0000-7000-8000-{batch:012x}")
}

fn step_id(batch: u64, step: usize) -> String {
    format!("0192cafe-{step:04x}-7000-9000-{batch:012x}")
}

fn content(batch: u64, step: usize) -> String {
    format!("Batch {batch}, step {step}: the figures were checked twice before the conclusion.")
}

/// One session and its steps, each with the client's own id, so a replay is recognised.
fn batch(number: u64) -> Value {
    let session = session_id(number);
    let mut items = vec![json!({"type": "session", "id": session, "tool": "crash_test"})];
    for step in 1..=STEPS_PER_BATCH {
        items.push(json!({
            "type": "step", "session_id": session, "id": step_id(number, step),
            "step_number": step, "kind": "reasoning", "content": content(number, step),
        }));
    }
    json!({ "items": items })
}

/// Sends the batch; `true` only when the server answered that every item is stored.
async fn send(http: &reqwest::Client, base: &str, number: u64) -> bool {
    let Ok(response) = http
        .post(format!("{base}/api/v1/ingest"))
        .json(&batch(number))
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let Ok(report) = response.json::<Value>().await else {
        return false;
    };
    let stored =
        report["created"].as_u64().unwrap_or(0) + report["duplicates"].as_u64().unwrap_or(0);
    assert_eq!(report["errors"], 0, "a batch item was refused: {report}");
    stored == (STEPS_PER_BATCH + 1) as u64
}

/// A small deterministic generator for the kill moments, so a failing run can be repeated.
fn next_delay(state: &mut u64) -> Duration {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Duration::from_millis(30 + (*state >> 33) % 400)
}

async fn acknowledged_batches_survive_kill_9(scratch: &Scratch) {
    lux_core::llm::install_crypto_provider();
    let trials: usize = std::env::var("LUX_CRASH_TRIALS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut unacknowledged: Vec<u64> = Vec::new();
    let mut next_batch = 0u64;
    let mut seed = 0x5eed_u64;

    for _ in 0..trials {
        let mut server = serve_on(scratch, port, &[]);
        let writer = {
            let (http, base) = (http.clone(), base.clone());
            let first = next_batch;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut number = first;
                loop {
                    if send(&http, &base, number).await {
                        acked.push(number);
                        number += 1;
                    } else {
                        return (acked, number);
                    }
                }
            })
        };
        tokio::time::sleep(next_delay(&mut seed)).await;
        server.0.kill().unwrap(); // SIGKILL: no shutdown, no flush beyond what was committed.
        server.0.wait().unwrap();
        let (acked, cut_at) = writer.await.unwrap();
        acknowledged.extend(acked);
        unacknowledged.push(cut_at);
        next_batch = cut_at + 1;
    }

    let _server = serve_on(scratch, port, &[]);
    // Every acknowledged batch is there, whole and unchanged.
    for &number in &acknowledged {
        let steps = steps_of(&http, &base, number).await;
        let items = steps["items"]
            .as_array()
            .unwrap_or_else(|| panic!("batch {number}: {steps}"));
        assert_eq!(
            items.len(),
            STEPS_PER_BATCH,
            "batch {number} acknowledged but has {} steps",
            items.len()
        );
        for (index, item) in items.iter().enumerate() {
            assert_eq!(item["id"], step_id(number, index + 1));
            assert_eq!(item["step_number"], index + 1);
            assert_eq!(item["content"], content(number, index + 1));
        }
    }
    // A batch cut off by a kill was written whole or not at all: one transaction.
    for &number in &unacknowledged {
        let steps = steps_of(&http, &base, number).await;
        let found = steps["items"].as_array().map_or(0, Vec::len);
        assert!(
            found == 0 || found == STEPS_PER_BATCH,
            "batch {number} half-applied: {found} steps"
        );
    }
    // Replaying everything the client could not be sure of creates nothing twice.
    for &number in unacknowledged.iter().chain(acknowledged.iter().take(5)) {
        assert!(send(&http, &base, number).await, "replay of batch {number}");
    }
    for &number in unacknowledged.iter().chain(acknowledged.iter().take(5)) {
        let steps = steps_of(&http, &base, number).await;
        assert_eq!(
            steps["items"].as_array().unwrap().len(),
            STEPS_PER_BATCH,
            "batch {number} after replay"
        );
    }
    let db = lux_core::store::connect(&DatabaseOptions::new(scratch.url.clone()))
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let sessions = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM sessions WHERE tool = 'crash_test'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    let steps = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM steps",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    let expected = (acknowledged.len() + unacknowledged.len()) as i64;
    assert_eq!(sessions, expected, "one session per batch, none twice");
    assert_eq!(
        steps,
        expected * STEPS_PER_BATCH as i64,
        "no step lost or doubled"
    );
    if backend == DbBackend::Sqlite {
        let check = db
            .query_one_raw(Statement::from_string(backend, "PRAGMA integrity_check"))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "integrity_check")
            .unwrap();
        assert_eq!(check, "ok");
    }
    println!(
        "crash safety ({backend:?}): {trials} kills, {} batches acknowledged and found whole, \
         {} cut off and replayed without duplicates, {steps} steps stored",
        acknowledged.len(),
        unacknowledged.len()
    );
}

cli_tests!(acknowledged_batches_survive_kill_9);
