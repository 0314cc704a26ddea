use std::sync::Arc;
use std::time::Duration;

use lux_core::detect::{BiasDetector, DetectorInput, DetectorRegistry, PriorStep, StepUnderReview};
use lux_core::{Severity, Span};
use lux_plugins::{PluginError, PluginKind, WasmDetector};

use crate::support::{host, python_wasm, step, wasm};

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

/// A step under review with the given earlier steps `(number, kind, content)` of its session.
fn in_session(previous: &[(i32, &str, &str)], kind: &str, content: &str) -> DetectorInput {
    DetectorInput {
        step: StepUnderReview {
            step_number: Some(previous.len() as i32 + 1),
            kind: kind.into(),
            content: content.into(),
        },
        previous: previous
            .iter()
            .map(|(step_number, kind, content)| {
                Arc::new(PriorStep {
                    step_number: *step_number,
                    kind: (*kind).into(),
                    content: (*content).into(),
                })
            })
            .collect(),
        synthesis: None,
    }
}

/// A debugging session whose second step guesses two figures and whose third measures one.
const GUESSED: &[(i32, &str, &str)] = &[
    (
        1,
        "thought",
        "Checkout latency doubled after the last release; users report timeouts at peak.",
    ),
    (
        2,
        "analysis",
        "Most of it is probably the database: I'd say 80% of the request time is spent in \
         queries, and the cache hit rate is around 35 %.",
    ),
    (
        3,
        "analysis",
        "Tracing 1,000 requests at the load balancer measured a p99 of 420 ms.",
    ),
];

/// Reuses both guesses as premises (after a multi-byte dash, so byte offsets matter), the
/// measured figure, a new figure, and then questions one guess.
const REUSE: &str = "Since 80% of the time is in queries — not the network — caching them will \
                     cut the p99 from 420 ms to well under 150 ms. With a 35 % hit rate there is \
                     plenty of room. Is 80% even right?";

#[tokio::test]
async fn unsupported_figures_flags_guesses_reused_as_premises() {
    let detector = WasmDetector::load(&host(), &wasm("unsupported-figures"))
        .await
        .expect("loads");
    let found = detector
        .run(&in_session(GUESSED, "analysis", REUSE))
        .await
        .expect("runs");
    let evidence: Vec<&str> = found
        .iter()
        .map(|d| {
            let span = d.evidence.expect("every finding points at its figure");
            &REUSE[span.start..span.end]
        })
        .collect();
    // 420 ms was measured in step 3, 150 ms is new here, and "Is 80% even right?" is the same
    // figure again (one finding per figure).
    assert_eq!(evidence, ["80%", "35 %"]);
    assert_eq!(
        found.iter().map(|d| d.evidence).collect::<Vec<_>>(),
        vec![
            Some(span_of(REUSE, "80%", 0)),
            Some(span_of(REUSE, "35 %", 0))
        ]
    );
    for detection in &found {
        assert_eq!(detection.bias_type, "unsupported_premise");
        assert_eq!(detection.severity, Severity::Medium);
        assert!(
            detection.explanation.contains("step 2"),
            "names where the figure came from: {}",
            detection.explanation
        );
    }

    // The same reuse as the session's conclusion is what decides the outcome: high.
    let concluded = detector
        .run(&in_session(GUESSED, "conclusion", REUSE))
        .await
        .expect("runs");
    assert!(concluded.iter().all(|d| d.severity == Severity::High));
    assert_eq!(concluded.len(), 2);
}

#[tokio::test]
async fn unsupported_figures_leaves_sourced_checked_and_new_figures_alone() {
    let detector = WasmDetector::load(&host(), &wasm("unsupported-figures"))
        .await
        .expect("loads");
    // The same figures, measured and cited where they first appear.
    let sourced: &[(i32, &str, &str)] = &[
        (
            1,
            "thought",
            "Checkout latency doubled after the last release.",
        ),
        (
            2,
            "analysis",
            "Profiling 1,000 requests showed 80% of the request time in queries; the cache hit \
             rate is 35 % according to the dashboard.",
        ),
        (
            3,
            "analysis",
            "Tracing at the load balancer measured a p99 of 420 ms.",
        ),
    ];
    let found = detector
        .run(&in_session(sourced, "analysis", REUSE))
        .await
        .expect("runs");
    assert!(found.is_empty(), "sourced figures: {found:?}");

    // Guessed figures that the step checks, derives or labels are not built on blindly.
    for checked in [
        "We should verify the 80% before caching anything.",
        "Is 35 % plausible for this workload?",
        "Assuming 80% is in queries, caching is the first thing to try.",
        "80% = 400 ms / 500 ms of the traced request, so caching comes first.",
    ] {
        let found = detector
            .run(&in_session(GUESSED, "analysis", checked))
            .await
            .expect("runs");
        assert!(found.is_empty(), "{checked:?}: {found:?}");
    }

    // A session with no earlier figures, years, versions, step references and small counts.
    let clean = "In 2024 we moved to v2.3.1 of the driver; as step 2 says, the 3 replicas and \
                 the p99 look fine, and the 4xx rate is flat.";
    let found = detector
        .run(&in_session(
            &[(1, "thought", "Step 1: in 2024 we ran 3 replicas on v2.3.1.")],
            "analysis",
            clean,
        ))
        .await
        .expect("runs");
    assert!(found.is_empty(), "no figure is reused: {found:?}");

    // Configured support terms count as a source.
    let guess = [(1, "analysis", "Grafana puts the error rate at 12%.")];
    let reuse = "Since 12% of calls fail, retries are worth adding.";
    let unconfigured = detector
        .run(&in_session(&guess, "analysis", reuse))
        .await
        .expect("runs");
    assert_eq!(
        unconfigured.iter().map(|d| d.evidence).collect::<Vec<_>>(),
        vec![Some(span_of(reuse, "12%", 0))]
    );
    let configured = detector
        .with_config(&serde_json::json!({ "support_terms": ["grafana"] }))
        .run(&in_session(&guess, "analysis", reuse))
        .await
        .expect("runs");
    assert!(configured.is_empty(), "{configured:?}");
}

/// The Python example, built by componentize-py (installed by the test support itself), loads
/// through the same host and points at byte offsets even after multi-byte characters.
#[tokio::test]
async fn python_detector_built_with_componentize_py_runs_like_rust() {
    let bytes = python_wasm("unattributed-authority");
    assert!(
        bytes.len() <= lux_plugins::Limits::default().max_wasm_bytes,
        "the component ({} bytes) must fit the upload limit",
        bytes.len()
    );
    let plugin = host().load(&bytes).await.expect("loads");
    assert_eq!(plugin.kind(), PluginKind::BiasDetector);
    assert_eq!(plugin.metadata().name, "unattributed-authority");
    let detector = WasmDetector::new(plugin).expect("is a detector");

    let text = "Le café’s caching layer — studies show — always helps. Experts agree it scales. \
                Caching helps here (Nguyen, 2021), as studies show.";
    let found = detector.run(&step(text)).await.expect("runs");
    // The third sentence cites its source: only the first two count.
    assert_eq!(
        found.iter().map(|d| d.evidence).collect::<Vec<_>>(),
        vec![
            Some(span_of(text, "studies show", 0)),
            Some(span_of(text, "Experts agree", 0))
        ]
    );
    assert!(
        found
            .iter()
            .all(|d| d.bias_type == "unattributed_authority")
    );
    let calm = detector
        .run(&step("Our load test shows caching halves the p99."))
        .await
        .expect("runs");
    assert!(calm.is_empty(), "{calm:?}");

    let misconfigured = detector.with_config(&serde_json::json!({ "extra_phrases": 3 }));
    match misconfigured.run(&step(text)).await {
        Err(PluginError::Failed { message }) => {
            assert!(message.contains("bad config"), "{message}")
        }
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}
