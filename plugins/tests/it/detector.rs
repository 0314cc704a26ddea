use std::sync::Arc;
use std::time::Duration;

use lux_core::detect::{BiasDetector, DetectorRegistry};
use lux_core::{Severity, Span};
use lux_plugins::{PluginError, PluginKind, WasmDetector};

use crate::support::{host, step, wasm};

/// Byte span of the `nth` occurrence of `word` in `text`, found independently of the plugin.
fn span_of(text: &str, word: &str, nth: usize) -> Span {
    let start = text
        .match_indices(word)
        .nth(nth)
        .unwrap_or_else(|| panic!("{word:?} #{nth} in text"))
        .0;
    Span {
        start,
        end: start + word.len(),
    }
}

const TEXT: &str = "Le café's cache is Always warm after boot. It never fails — guaranteed. \
                    The eviction might sometimes always lag. It is not always cold.";

#[tokio::test]
async fn absolute_claims_points_at_each_unhedged_absolute() {
    let detector = WasmDetector::load(&host(), &wasm("absolute-claims"))
        .await
        .expect("loads");
    let found = detector.run(&step(TEXT)).await.expect("runs");

    // Sentence 3 hedges ("might") and sentence 4 negates ("not always"): only 1 and 2 count.
    let expected = [
        span_of(TEXT, "Always", 0),
        span_of(TEXT, "never", 0),
        span_of(TEXT, "guaranteed", 0),
    ];
    let spans: Vec<Span> = found.iter().filter_map(|d| d.evidence).collect();
    assert_eq!(spans, expected);
    for (detection, span) in found.iter().zip(&expected) {
        assert_eq!(detection.bias_type, "absolute_claim");
        // Three hits in one step make it high.
        assert_eq!(detection.severity, Severity::High);
        let word = &TEXT[span.start..span.end];
        assert!(
            detection.explanation.contains(word),
            "{:?} names {word:?}",
            detection.explanation
        );
    }

    let calm = detector
        .run(&step("Hit rates are probably above 90% on warm caches."))
        .await
        .expect("runs");
    assert!(calm.is_empty(), "a hedged step has no finding: {calm:?}");
}

#[tokio::test]
async fn detector_reports_metadata_and_takes_config() {
    let plugin = host().load(&wasm("absolute-claims")).await.expect("loads");
    assert_eq!(plugin.kind(), PluginKind::BiasDetector);
    assert_eq!(plugin.contract_version(), lux_plugins::CONTRACT_VERSION);
    let metadata = plugin.metadata();
    assert_eq!(metadata.name, "absolute-claims");
    assert_eq!(metadata.version, "0.1.0");
    assert!(metadata.config_schema["properties"]["extra_terms"].is_object());

    let detector = WasmDetector::new(plugin)
        .expect("is a detector")
        .with_config(&serde_json::json!({ "extra_terms": ["obviously"] }));
    assert_eq!(detector.name(), "plugin.absolute-claims");
    assert_eq!(detector.version(), "0.1.0");
    let text = "The fix is obviously right.";
    let found = detector.run(&step(text)).await.expect("runs");
    assert_eq!(
        found.iter().map(|d| d.evidence).collect::<Vec<_>>(),
        vec![Some(span_of(text, "obviously", 0))]
    );

    // A configuration the plugin rejects is the plugin's own error, not a crash.
    let misconfigured = detector.with_config(&serde_json::json!({ "extra_terms": 3 }));
    match misconfigured.run(&step(text)).await {
        Err(PluginError::Failed { message }) => {
            assert!(message.contains("bad config"), "{message}")
        }
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}

/// Core runs the plugin like a built-in; a hostile plugin next to it is recorded as a failure and
/// the good plugin's findings still arrive.
#[tokio::test]
async fn core_registry_runs_plugins_like_builtins() {
    let host = host();
    let good = WasmDetector::load(&host, &wasm("absolute-claims"))
        .await
        .expect("loads");
    let looping = WasmDetector::load(&host, &wasm("hostile-loop"))
        .await
        .expect("loads");
    let mut registry = DetectorRegistry::empty();
    registry
        .register(Arc::new(good), Duration::from_secs(5))
        .expect("registers");
    registry
        .register(Arc::new(looping), Duration::from_secs(5))
        .expect("registers");

    let text = "This change always helps.";
    let analysis = registry.analyze(None, Arc::new(step(text))).await;
    let findings: Vec<_> = analysis
        .findings
        .iter()
        .map(|f| (f.detector.as_str(), f.bias_type.as_str(), f.evidence))
        .collect();
    assert_eq!(
        findings,
        vec![(
            "plugin.absolute-claims",
            "absolute_claim",
            Some(span_of(text, "always", 0))
        )]
    );
    assert_eq!(analysis.failures.len(), 1, "{:?}", analysis.failures);
    assert_eq!(analysis.failures[0].detector, "plugin.hostile-loop");
    assert!(
        analysis.failures[0].error.contains("time limit"),
        "{}",
        analysis.failures[0].error
    );
}

/// A component built without std imports nothing at all (no WASI) and runs the same way.
#[tokio::test]
async fn component_without_wasi_imports_runs_too() {
    let bytes = wasm("wasi-free");
    let imports_wasi = bytes.windows(5).any(|window| window == b"wasi:");
    assert!(!imports_wasi, "the wasi-free example must not mention WASI");
    let detector = WasmDetector::load(&host(), &bytes).await.expect("loads");
    let text = "Cache sizing: TODO. Eviction: TODO later.";
    let found = detector.run(&step(text)).await.expect("runs");
    let spans: Vec<Span> = found.iter().filter_map(|d| d.evidence).collect();
    assert_eq!(
        spans,
        vec![span_of(text, "TODO", 0), span_of(text, "TODO", 1)]
    );
    assert!(found.iter().all(|d| d.bias_type == "unfinished_reasoning"));
}
