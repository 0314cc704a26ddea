//! The live stream over SSE: a write by another *process* on the same database reaches a
//! subscriber within a second, and `Last-Event-ID` replays what a client missed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lux_api::server::app;
use lux_core::testing::TestDb;
use poem::http::StatusCode;
use poem::test::TestClient;

async fn sse_shows_another_process_and_replays(db: &TestDb) {
    let client = TestClient::new(app(crate::support::app_state(&db.lux, true).await));
    let response = client
        .get("/api/v1/stream?types=session_created,step_appended")
        .send()
        .await;
    response.assert_status_is_ok();
    let mut events = response.json_sse_stream();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lux"))
        .args(["demo", "--sessions", "1", "--seed", "5"])
        .env("LUX_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let written = Instant::now();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event")
        .expect("open stream");
    assert!(
        written.elapsed() < Duration::from_secs(1),
        "arrived {:?} after the other process finished",
        written.elapsed()
    );
    first
        .value()
        .object()
        .get("kind")
        .assert_string("session_created");
    let first_seq = first.value().object().get("seq").i64();
    let second = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    second
        .value()
        .object()
        .get("kind")
        .assert_string("step_appended");
    assert!(second.value().object().get("seq").i64() > first_seq);

    // A client reconnecting after the first event gets the rest from the log at once.
    let resumed = client
        .get("/api/v1/stream?types=step_appended")
        .header("Last-Event-ID", first_seq.to_string())
        .send()
        .await;
    resumed.assert_status_is_ok();
    let mut resumed = resumed.json_sse_stream();
    let replayed = tokio::time::timeout(Duration::from_secs(5), resumed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        replayed.value().object().get("seq").i64(),
        second.value().object().get("seq").i64()
    );

    let bad = client.get("/api/v1/stream?types=nonsense").send().await;
    bad.assert_status(StatusCode::BAD_REQUEST);
    let bad = client
        .get("/api/v1/stream")
        .header("Last-Event-ID", "abc")
        .send()
        .await;
    bad.assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sse_shows_another_process_and_replays() {
    let db = TestDb::sqlite().await;
    sse_shows_another_process_and_replays(&db).await;
}

#[cfg(lux_postgres_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sse_shows_another_process_and_replays() {
    let db = TestDb::postgres().await;
    sse_shows_another_process_and_replays(&db).await;
    db.cleanup().await;
}
