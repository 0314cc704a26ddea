//! Overload: a flood of large requests against `lux serve --max-in-flight 8`. Beyond the limit
//! Lux answers at once with 503 and `Retry-After` instead of queueing bodies in memory; every
//! request gets an answer, the server stays healthy, and its peak memory stays far below what the
//! flood would take if it were buffered (the figure is printed).

use std::time::Duration;

use crate::support::{Scratch, cli_tests, free_port, serve_on};

const REQUESTS: usize = 200;
const BODY_BYTES: usize = 9 * 1024 * 1024;

/// Peak resident memory of a process, from `/proc` (Linux).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024.0
}

async fn a_flood_of_large_requests_is_shed_with_bounded_memory(scratch: &Scratch) {
    lux_core::llm::install_crypto_provider();
    let port = free_port();
    let server = serve_on(scratch, port, &["--max-in-flight", "8"]);
    let before = peak_rss_mib(server.0.id());
    // One body shared by every request: a 9 MiB JSON string, under the 10 MiB body limit.
    let mut body =
        b"{\"items\": [{\"type\": \"session\", \"tool\": \"flood\", \"title\": \"".to_vec();
    body.resize(BODY_BYTES - 4, b'x');
    body.extend_from_slice(b"\"}]}");
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/ingest");
    let mut tasks = Vec::new();
    for _ in 0..REQUESTS {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            match http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(response) => {
                    let retry = response.headers().get("retry-after").is_some();
                    (Some(response.status().as_u16()), retry)
                }
                // The server may close a shed connection before the whole body was sent.
                Err(_) => (None, false),
            }
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    let mut shed_without_retry_after = 0;
    for task in tasks {
        let (status, retry_after) = task.await.unwrap();
        *statuses.entry(status).or_insert(0) += 1;
        if status == Some(503) && !retry_after {
            shed_without_retry_after += 1;
        }
    }
    let peak = peak_rss_mib(server.0.id());
    println!(
        "overload ({}): {REQUESTS} × 9 MiB requests at --max-in-flight 8: answers {statuses:?}; \
         server peak RSS {peak:.0} MiB (idle {before:.0} MiB; the flood is {} MiB)",
        scratch.url.split(':').next().unwrap_or_default(),
        REQUESTS * BODY_BYTES / (1024 * 1024)
    );
    assert!(
        statuses.get(&Some(503)).copied().unwrap_or(0) > 0,
        "some requests were shed: {statuses:?}"
    );
    assert_eq!(shed_without_retry_after, 0, "every 503 carries Retry-After");
    assert!(
        statuses
            .keys()
            .all(|status| matches!(status, Some(200 | 400 | 413 | 503) | None)),
        "only answers a client can act on: {statuses:?}"
    );
    let (status, _) = crate::support::http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "the server survives the flood");
    let (status, _) = crate::support::http_get(port, "/api/v1/sessions").unwrap();
    assert_eq!(status, 200);
    // Buffering the flood would take its whole size; 8 bodies in flight take well under 200 MiB.
    assert!(
        peak < before + 400.0,
        "peak RSS {peak:.0} MiB grew with the flood"
    );
}

cli_tests!(a_flood_of_large_requests_is_shed_with_bounded_memory);
