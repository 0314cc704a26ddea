//! Live events across handles: a second `Lux` on the same database (as a second process would be)
//! sees the first one's writes, and a reconnecting client can catch up by sequence number.

use std::time::Duration;

use lux_core::live::LiveEventKind;
use lux_core::testing::TestDb;
use lux_core::{DatabaseOptions, Lux};

use crate::support::{session, thought};

async fn another_handle_sees_writes_within_a_second(db: &TestDb) {
    let lux = &db.lux;
    // A second, independent connection pool and tailer: what another process would have.
    let other = Lux::open(DatabaseOptions::new(&db.url)).await.unwrap();
    let mut watching = other.subscribe_events().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (project, session, reference) = session(lux, "confer").await;
    let step = lux
        .append_step(project, &reference, thought("seen elsewhere"))
        .await
        .unwrap()
        .value;
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(2), watching.recv())
            .await
            .expect("within a second")
            .unwrap();
        seen.push(event);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(seen[0].kind, LiveEventKind::SessionCreated);
    assert_eq!(seen[1].kind, LiveEventKind::StepAppended);
    assert_eq!(seen[1].entity_id, step.id.0);
    assert_eq!(seen[1].session_id, session.id);
    assert!(seen[1].seq > seen[0].seq);

    // Catch-up: everything after the first event, as a reconnecting client would ask.
    let missed = lux.events_since(project, seen[0].seq, 100).await.unwrap();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].entity_id, step.id.0);
    let other_project = lux.create_project("elsewhere", "Elsewhere").await.unwrap();
    assert!(
        lux.events_since(other_project.id, 0, 100)
            .await
            .unwrap()
            .is_empty(),
        "events stay in their project"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_another_handle_sees_writes_within_a_second() {
    let db = TestDb::sqlite().await;
    another_handle_sees_writes_within_a_second(&db).await;
}

#[cfg(lux_postgres_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_another_handle_sees_writes_within_a_second() {
    let db = TestDb::postgres().await;
    another_handle_sees_writes_within_a_second(&db).await;
    db.cleanup().await;
}
