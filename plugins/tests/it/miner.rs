use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use lux_core::SessionId;
use lux_core::detect::{PatternMiner, SessionDigest};
use lux_plugins::{LoadError, PluginError, WasmDetector, WasmMiner};
use uuid::Uuid;

use crate::support::{host, wasm};

fn digest(n: u128, biases: &[(&str, u32)], monitor: &[(&str, u32)]) -> SessionDigest {
    let counts = |items: &[(&str, u32)]| {
        items
            .iter()
            .map(|(label, count)| (label.to_string(), *count))
            .collect::<BTreeMap<_, _>>()
    };
    SessionDigest {
        session_id: SessionId(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
        )),
        tool: "biased_reasoning".into(),
        status: "completed".into(),
        model: Some("gpt-test".into()),
        n_steps: 6,
        bias_counts: counts(biases),
        monitor_counts: counts(monitor),
        top_concepts: vec!["cache".into()],
        topic: None,
        total_tokens: 1200,
        cost_nusd: 3_000_000,
        created_at: Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, n as u32).unwrap(),
    }
}

fn digests() -> Vec<SessionDigest> {
    vec![
        digest(1, &[("anchoring", 2)], &[("circular_reasoning", 1)]),
        digest(2, &[("anchoring", 1), ("hasty_conclusion", 1)], &[]),
        digest(3, &[("anchoring", 4)], &[("circular_reasoning", 2)]),
        digest(4, &[("anchoring", 0)], &[]),
        digest(5, &[], &[]),
    ]
}

/// Recomputes what the miner should say, from the digests alone.
fn expected(
    digests: &[SessionDigest],
    min_support: usize,
) -> BTreeMap<String, BTreeSet<SessionId>> {
    let mut by_signal: BTreeMap<String, BTreeSet<SessionId>> = BTreeMap::new();
    for d in digests {
        for (label, count) in d.bias_counts.iter().chain(&d.monitor_counts) {
            if *count > 0 {
                by_signal
                    .entry(label.clone())
                    .or_default()
                    .insert(d.session_id);
            }
        }
    }
    by_signal.retain(|_, sessions| sessions.len() >= min_support);
    by_signal
}

#[tokio::test]
async fn recurring_signals_miner_mines_across_sessions() {
    let miner = WasmMiner::load(&host(), &wasm("recurring-signals"))
        .await
        .expect("loads");
    assert_eq!(miner.name(), "plugin.recurring-signals");
    let digests = digests();

    for (config, min_support) in [
        (None, 2),
        (Some(serde_json::json!({ "min_support": 3 })), 3),
    ] {
        let miner = match &config {
            Some(config) => miner.clone().with_config(config),
            None => miner.clone(),
        };
        // Through core's trait, as core's pattern service would call it.
        let patterns = PatternMiner::mine(&miner, &digests).await.expect("mines");
        let want = expected(&digests, min_support);
        assert!(!want.is_empty());
        let got: BTreeMap<String, BTreeSet<SessionId>> = patterns
            .iter()
            .map(|p| {
                (
                    p.data["signal"].as_str().expect("signal").to_string(),
                    p.session_ids.iter().copied().collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "config {config:?}");
        for pattern in &patterns {
            assert_eq!(pattern.kind, "recurring_signal");
            assert_eq!(pattern.support as usize, pattern.session_ids.len());
            let share = pattern.support as f64 / digests.len() as f64;
            assert!((pattern.score - share).abs() < 1e-9, "{pattern:?}");
        }
    }

    // Mean count of anchoring over the sessions showing it: (2 + 1 + 4) / 3.
    let patterns = miner.run(&digests).await.expect("mines");
    let anchoring = patterns
        .iter()
        .find(|p| p.data["signal"] == "anchoring")
        .expect("anchoring recurs");
    assert!((anchoring.data["mean_count"].as_f64().unwrap() - 7.0 / 3.0).abs() < 1e-9);

    match miner
        .clone()
        .with_config(&serde_json::json!({ "min_support": "lots" }))
        .run(&digests)
        .await
    {
        Err(PluginError::Failed { message }) => {
            assert!(message.contains("bad config"), "{message}")
        }
        other => panic!("expected the miner's error, got {other:?}"),
    }
}

/// A 0.2 miner gets each session's topic; the 0.1 miner above (recurring-signals) is given the
/// digests of its own contract, without it, and both load on this host.
#[tokio::test]
async fn topic_signals_miner_reads_the_topics_of_lux_plugins_0_2() {
    let host = host();
    let miner = WasmMiner::load(&host, &wasm("topic-signals"))
        .await
        .expect("loads");
    assert_eq!(miner.plugin().contract_version(), "0.2.0");
    let old = WasmMiner::load(&host, &wasm("recurring-signals"))
        .await
        .expect("a 0.1 miner still loads");
    assert_eq!(old.plugin().contract_version(), "0.1.0");

    // Anchoring in 4 of the 5 "pricing discount" sessions and in 1 of the 5 others.
    let digests: Vec<SessionDigest> = (1..=10)
        .map(|n| {
            let pricing = n <= 5;
            let anchored = if pricing { n != 5 } else { n == 6 };
            let biases: &[(&str, u32)] = if anchored { &[("anchoring", 1)] } else { &[] };
            let mut digest = digest(n, biases, &[("circular_reasoning", 1)]);
            digest.topic = Some(
                if pricing {
                    "pricing discount"
                } else {
                    "cache eviction"
                }
                .into(),
            );
            digest
        })
        .collect();
    let patterns = miner.run(&digests).await.expect("mines");
    assert_eq!(patterns.len(), 1, "{patterns:?}");
    let pattern = &patterns[0];
    assert_eq!(pattern.kind, "topic_signal");
    assert_eq!(pattern.data["topic"], "pricing discount");
    assert_eq!(pattern.data["signal"], "anchoring");
    assert_eq!(pattern.support, 4);
    assert!((pattern.score - 0.6).abs() < 1e-9, "{pattern:?}");
    let want: BTreeSet<SessionId> = digests[..4].iter().map(|d| d.session_id).collect();
    assert_eq!(
        pattern.session_ids.iter().copied().collect::<BTreeSet<_>>(),
        want
    );
    assert!(
        old.run(&digests).await.is_ok(),
        "the 0.1 miner runs on the same digests"
    );

    // Without topics (sessions Lux did not cluster) there is nothing to concentrate in.
    let untopical: Vec<SessionDigest> = digests
        .into_iter()
        .map(|digest| SessionDigest {
            topic: None,
            ..digest
        })
        .collect();
    assert!(miner.run(&untopical).await.expect("mines").is_empty());
}

#[tokio::test]
async fn a_miner_is_not_a_detector_and_back() {
    let host = host();
    match WasmDetector::load(&host, &wasm("recurring-signals")).await {
        Err(error @ LoadError::WrongWorld { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("bias-detector") && message.contains("pattern-miner"),
                "{message}"
            );
        }
        other => panic!("expected a wrong-world refusal, got {other:?}"),
    }
    assert!(matches!(
        WasmMiner::load(&host, &wasm("absolute-claims")).await,
        Err(LoadError::WrongWorld { .. })
    ));
}
