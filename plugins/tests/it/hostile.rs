//! Every hostile plugin is stopped within its limit with the right typed error, and the same host
//! serves a good plugin right after.

use std::time::{Duration, Instant};

use lux_plugins::{LoadError, PluginError, WasmDetector};

use crate::support::{host, step, wasm};

/// Wall-clock slack over a limit: debug builds on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

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
                message.contains("lux:plugins@0.2.0") && message.contains("lux:plugins@0.1.0"),
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
