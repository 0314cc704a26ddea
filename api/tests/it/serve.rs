//! `lux serve` over a real loopback socket: health, readiness, demo flag, clean shutdown, and
//! the background refresh of PostgreSQL's day rollups.

use crate::support::{
    Scratch, Server, cli_tests, free_port, http_get, serve_on, wait_until_healthy,
};

async fn serves_health_and_readiness(scratch: &Scratch) {
    let port = free_port();
    let _server = serve_on(scratch, port, &["--demo"]);
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"), "{body}");
    // The build installed the sentence-embedding model: analysis runs on it.
    assert!(
        body.contains("\"features\":\"semantic\""),
        "analysis should use the sentence-embedding model the build installs (embed/build.rs): {body}"
    );
    let (status, _) = http_get(port, "/no-such-page").unwrap();
    assert_eq!(status, 404);
    // The API docs are served whole by Lux: no script or stylesheet from elsewhere.
    let (status, docs) = http_get(port, "/docs").unwrap();
    assert_eq!(status, 200);
    assert!(
        docs.contains("SwaggerUIBundle"),
        "the docs page embeds Swagger UI"
    );
    assert!(
        !docs.contains("<script src=\"http") && !docs.contains("<link href=\"http"),
        "no CDN assets"
    );
    let (status, spec) = http_get(port, "/api/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    assert!(spec.contains("\"/api/v1/ingest\""), "the spec is served");

    // --demo filled the database the server runs on.
    let list = scratch.ok(&["sessions", "list", "--limit", "5"]);
    assert!(list.matches('│').count() > 10, "{list}");
}

/// Without the model, Lux still analyses steps and says it runs on the lexical fallback. Its log,
/// written to a file, is plain text that names the address to open.
async fn without_the_model_readiness_says_lexical_fallback(scratch: &Scratch) {
    let port = free_port();
    let empty = tempfile::tempdir().unwrap();
    let log_path = empty.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _server = Server(
        scratch
            .lux()
            .env("LUX_MODEL_DIR", empty.path())
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start lux serve"),
    );
    wait_until_healthy(port);
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"features\":\"lexical fallback\""), "{body}");
    assert!(body.contains("\"semantic_model\":null"), "{body}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains(&format!("Lux listening on http://127.0.0.1:{port}\n")),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log file: {log:?}"
    );
}

cli_tests!(
    serves_health_and_readiness,
    without_the_model_readiness_says_lexical_fallback
);

#[test]
fn a_taken_port_is_a_one_line_error() {
    let scratch = Scratch::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let line = scratch.fails(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
    assert!(line.contains(&port.to_string()), "{line}");
}

/// On PostgreSQL, `lux serve` refreshes the cross-session day rollups in the background: the
/// days that `lux demo` marked stale are recomputed within seconds of the server starting.
/// (SQLite's triggers keep them exact as they are written; there is nothing to refresh.)
#[cfg(lux_postgres_tests)]
#[tokio::test]
async fn serve_refreshes_the_day_rollups_on_postgres() {
    use sea_orm::ConnectionTrait;
    let scratch = Scratch::postgres().await;
    scratch.ok(&["demo"]);
    let db = sea_orm::Database::connect(&scratch.url).await.unwrap();
    let count = |table: &'static str| {
        let db = &db;
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
        }
    };
    assert!(
        count("analytics_stale_days").await > 0,
        "the demo's days are stale"
    );
    assert_eq!(count("analytics_day_activity").await, 0);

    let port = free_port();
    let server = serve_on(&scratch, port, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count("analytics_stale_days").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server left days stale for a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        count("analytics_day_activity").await > 0,
        "the days were recomputed"
    );
    drop(server);
    db.close().await.unwrap();
    scratch.cleanup().await;
}
