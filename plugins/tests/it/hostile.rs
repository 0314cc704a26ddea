//! Every hostile plugin is stopped within its limit with the right typed error, and the same host
//! serves a good plugin right after.

use std::time::{Duration, Instant};

use lux_plugins::{LoadError, PluginError, WasmDetector};

use crate::support::{host, step, wasm};

/// Wall-clock slack over a limit. These bounds tell "stopped by the limit" from "ran on" (an
/// endless loop, a 30 s sleep), not how fast a stop is, so they leave room for debug builds on a
/// 2-core machine busy with other builds.
const SLACK: Duration = Duration::from_secs(5);

/// After any hostile call, a good plugin on the same host still answers correctly.
async fn good_plugin_still_works() {
    let good = WasmDetector::load(&host(), &wasm("absolute-claims"))
        .await
        .expect("loads");
    let text = "It always works.";
    let found = good.run(&step(text)).await.expect("the host still serves");
    let start = text.find("always").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].evidence.map(|s| (s.start, s.end)),
        Some((start, start + 6))
    );
}

async fn run_hostile(
    name: &str,
    config: serde_json::Value,
    content: &str,
) -> (PluginError, Duration) {
    let detector = WasmDetector::load(&host(), &wasm(name))
        .await
        .unwrap_or_else(|error| panic!("{name} loads: {error}"))
        .with_config(&config);
    let started = Instant::now();
    let result = detector.run(&step(content)).await;
    let elapsed = started.elapsed();
    let error = result.expect_err("a hostile plugin must fail");
    (error, elapsed)
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_deadline() {
    let limit = host().limits().call_timeout;
    let (error, elapsed) = run_hostile("hostile-loop", serde_json::json!({}), "spin").await;
    assert_eq!(error, PluginError::Timeout { limit });
    assert!(
        elapsed >= limit - lux_plugins::EPOCH_TICK,
        "stopped early: {elapsed:?}"
    );
    assert!(elapsed < limit + SLACK, "stopped late: {elapsed:?}");
    good_plugin_still_works().await;
}

#[tokio::test]
async fn sleeping_in_a_host_call_is_stopped_by_the_wall_clock() {
    let limit = host().limits().call_timeout;
    let (error, elapsed) = run_hostile("hostile-sleep", serde_json::json!({}), "zzz").await;
    assert_eq!(error, PluginError::Timeout { limit });
    assert!(elapsed < limit + SLACK, "the 30 s sleep ran {elapsed:?}");
    good_plugin_still_works().await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_cap() {
    let limit_bytes = host().limits().memory_bytes;
    let (error, elapsed) = run_hostile("hostile-memory", serde_json::json!({}), "eat").await;
    assert_eq!(error, PluginError::MemoryLimit { limit_bytes });
    assert!(
        elapsed < host().limits().call_timeout + SLACK,
        "{elapsed:?}"
    );
    good_plugin_still_works().await;
}

#[tokio::test]
async fn panic_is_a_trap_with_the_panic_message() {
    let (error, _) = run_hostile("hostile-trap", serde_json::json!({}), "boom").await;
    match &error {
        PluginError::Trap { message } => {
            assert!(
                message.contains("deliberate panic on a 4-byte step"),
                "{message}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(error.kind(), "trap");
    good_plugin_still_works().await;
}

#[tokio::test]
async fn giant_output_hits_the_output_cap() {
    let limit_bytes = host().limits().output_bytes;
    let (error, _) = run_hostile("hostile-giant-output", serde_json::json!({}), "flood").await;
    assert_eq!(error, PluginError::OutputTooLarge { limit_bytes });
    good_plugin_still_works().await;
}

#[tokio::test]
async fn lying_output_is_rejected() {
    // Out of range, half a character ("é" is bytes 0..2), and a NaN confidence.
    for (mode, content, expect) in [
        (
            "range",
            "plain ascii step",
            "not a non-empty range inside the step's 16 bytes",
        ),
        ("split", "étude of caches", "cuts a UTF-8 character in two"),
        ("nan", "anything", "confidence NaN is not a number in 0..=1"),
    ] {
        let (error, _) = run_hostile(
            "hostile-spans",
            serde_json::json!({ "mode": mode }),
            content,
        )
        .await;
        match &error {
            PluginError::InvalidOutput { reason } => {
                assert!(reason.contains(expect), "{mode}: {reason}");
            }
            other => panic!("{mode}: expected invalid output, got {other:?}"),
        }
    }
    good_plugin_still_works().await;
}

#[tokio::test]
async fn component_of_another_contract_is_refused_by_name() {
    match host().load(&wasm("wrong-world")).await {
        Err(error @ LoadError::WrongWorld { .. }) => {
            let message = error.to_string();
            assert!(message.contains("acme:widgets/greeter@1.0.0"), "{message}");
        }
        other => panic!("expected a wrong-world refusal, got {other:?}"),
    }
    good_plugin_still_works().await;
}

#[tokio::test]
async fn incompatible_contract_version_is_refused_saying_so() {
    match host().load(&wasm("wrong-version")).await {
        Err(error @ LoadError::IncompatibleVersion { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("lux:plugins@0.3.0")
                    && message.contains("lux:plugins@0.2.0")
                    && message.contains("lux:plugins@0.1.0"),
                "{message}"
            );
        }
        other => panic!("expected a version refusal, got {other:?}"),
    }
    good_plugin_still_works().await;
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    for bytes in [&b"not wasm at all"[..], &b"\0asm\x01\0\0\0"[..]] {
        match host().load(bytes).await {
            Err(LoadError::Invalid(_)) => {}
            other => panic!("expected an invalid-component refusal, got {other:?}"),
        }
    }
}

/// What the `hostile-wasi` probe `what` reported: `Ok(seen)` if the capability answered,
/// `Err(error)` if it was denied.
fn probe<'a>(explanations: &'a [String], what: &str) -> Result<&'a str, &'a str> {
    let line = explanations
        .iter()
        .find_map(|line| line.strip_prefix(&format!("{what}: ")))
        .unwrap_or_else(|| panic!("no {what} probe in {explanations:#?}"));
    match line.strip_prefix("ok ") {
        Some(seen) => Ok(seen),
        None => Err(line.strip_prefix("denied ").unwrap_or(line)),
    }
}

#[tokio::test]
async fn wasi_escape_attempts_see_and_touch_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("escaped.txt");
    let detector = WasmDetector::load(&host(), &wasm("hostile-wasi"))
        .await
        .expect("hostile-wasi loads")
        .with_config(&serde_json::json!({ "port": port, "write_to": target }));

    let mut runs = Vec::new();
    for _ in 0..2 {
        let found = detector
            .run(&step("probe"))
            .await
            .expect("denials are answers inside the guest, not failures of the host");
        runs.push(found.into_iter().map(|d| d.explanation).collect::<Vec<_>>());
    }
    let seen = &runs[0];

    assert!(probe(seen, "passwd").is_err(), "{seen:#?}");
    for listing in ["listing", "root-listing"] {
        match probe(seen, listing) {
            Err(_) | Ok("") => {}
            Ok(entries) => panic!("{listing} saw {entries:?}"),
        }
    }
    assert_eq!(probe(seen, "env"), Ok("0 vars []"));
    assert_eq!(
        probe(seen, "clock"),
        Ok("0 s"),
        "the clock is frozen at 1970"
    );
    assert!(probe(seen, "tcp").is_err(), "{seen:#?}");
    assert!(probe(seen, "write").is_err(), "{seen:#?}");

    // Nothing of this process leaked into the answer: no file content, no environment value.
    let everything = seen.join("\n");
    assert!(!everything.contains("root:"), "{everything}");
    let secrets: Vec<String> = std::env::vars()
        .map(|(_, value)| value)
        .filter(|value| value.len() >= 6)
        .collect();
    assert!(
        !secrets.is_empty(),
        "the test process has environment values"
    );
    for secret in &secrets {
        assert!(!everything.contains(secret.as_str()), "leaked {secret:?}");
    }
    // Nothing reached the outside: no connection, no file.
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a connection reached the test's listener: {other:?}"),
    }
    assert!(!target.exists(), "the plugin created {}", target.display());
    // Randomness is a fixed stream: the same "random" seed on every call.
    assert_eq!(probe(&runs[0], "random"), probe(&runs[1], "random"));
    assert!(probe(seen, "random").is_ok());
    good_plugin_still_works().await;
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow_trap() {
    let (error, elapsed) = run_hostile("hostile-recursion", serde_json::json!({}), "deep").await;
    match &error {
        PluginError::Trap { message } => {
            assert!(message.contains("call stack exhausted"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(
        elapsed < host().limits().call_timeout + SLACK,
        "{elapsed:?}"
    );
    good_plugin_still_works().await;
}

/// A bias-detector component written by hand, whose core module starts with `table` and runs
/// `metadata_body` in `metadata()`; it returns valid metadata if it gets that far. Rust cannot
/// declare or grow a wasm table, so these guests are WAT.
fn table_component(table: &str, metadata_body: &str) -> Vec<u8> {
    let text = format!(
        r#"(component
  (core module $guest
    {table}
    (memory (export "memory") 1)
    ;; plugin-metadata: (pointer, length) of name, version, description, config-schema
    (data (i32.const 0) "\40\00\00\00\0d\00\00\00\50\00\00\00\05\00\00\00\58\00\00\00\0d\00\00\00\68\00\00\00\02\00\00\00")
    (data (i32.const 64) "hostile-table")
    (data (i32.const 80) "0.1.0")
    (data (i32.const 88) "grows a table")
    (data (i32.const 104) "{{}}")
    (func (export "metadata") (result i32) {metadata_body} (i32.const 0))
    (func (export "detect"))
  )
  (core instance $instance (instantiate $guest))
  (type $metadata-record (record
    (field "name" string) (field "version" string)
    (field "description" string) (field "config-schema" string)))
  (func $metadata (result $metadata-record)
    (canon lift (core func $instance "metadata") (memory (core memory $instance "memory"))))
  (func $detect (canon lift (core func $instance "detect")))
  (instance $detector
    (export "plugin-metadata" (type $metadata-record))
    (export "metadata" (func $metadata))
    (export "detect" (func $detect)))
  (export "lux:plugins/detector@0.1.0" (instance $detector))
)"#
    );
    wat::parse_str(&text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[tokio::test]
async fn huge_tables_are_refused_not_allocated() {
    // 100 million funcref slots would be 800 MB of host memory: declared up front, grown at run
    // time, or spread over more tables than allowed.
    let many_tables = "(table 1 funcref)\n".repeat(65);
    let guests = [
        ("declared", table_component("(table 100000000 funcref)", "")),
        (
            "grown",
            table_component(
                "(table $grown 1 funcref)",
                "(drop (table.grow $grown (ref.null func) (i32.const 100000000)))",
            ),
        ),
        ("many", table_component(&many_tables, "")),
    ];
    for (how, component) in guests {
        // Refused inside the first call (metadata()) as the table limit it hit: the store's
        // limiter answers before wasmtime allocates the table. (Not timed: loading compiles the
        // component, whose time says nothing about the refusal.)
        match host().load(&component).await {
            Err(LoadError::Metadata(PluginError::TableLimit { max_tables: 64, .. })) => {}
            other => panic!("{how}: expected a table refusal at load, got {other:?}"),
        }
    }
    good_plugin_still_works().await;
}
