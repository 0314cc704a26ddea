//! `lux serve` over a real loopback socket: health, readiness, demo flag, clean shutdown.

use crate::support::{Scratch, cli_tests, free_port, http_get, serve_on};

async fn serves_health_and_readiness(scratch: &Scratch) {
    let port = free_port();
    let _server = serve_on(scratch, port, &["--demo"]);
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"), "{body}");
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

cli_tests!(serves_health_and_readiness);

#[test]
fn a_taken_port_is_a_one_line_error() {
    let scratch = Scratch::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let line = scratch.fails(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
    assert!(line.contains(&port.to_string()), "{line}");
}
