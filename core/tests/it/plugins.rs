//! The plugin registry's storage on both backends: install is idempotent for the same bytes and a
//! conflict for others, one active version per name, configuration checked against the schema,
//! removal re-activates, and run records and patterns read back as written.

use chrono::{Duration, Utc};
use lux_core::detect::MinedPattern;
use lux_core::services::patterns::FoundPattern;
use lux_core::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::session;

lux_core::storage_tests!(
    versions_install_activate_configure_and_remove,
    runs_and_patterns_read_back_as_recorded,
);

fn component(name: &str, version: &str, bytes: &[u8]) -> NewPlugin {
    NewPlugin {
        name: name.into(),
        version: version.into(),
        kind: PluginKind::Detector,
        description: format!("{name} for tests"),
        config_schema: json!({
            "type": "object",
            "properties": { "threshold": { "type": "number", "minimum": 0, "maximum": 1 } },
            "additionalProperties": false,
        }),
        wasm: bytes.to_vec(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn versions_install_activate_configure_and_remove(lux: &Lux) {
    let first = lux
        .install_plugin(component("claims", "0.1.0", b"first build"))
        .await
        .unwrap();
    assert!(first.created);
    assert!(first.plugin.active, "the only version is active");
    assert!(!first.plugin.enabled, "a new plugin starts disabled");
    assert_eq!(first.plugin.sha256, sha256_hex(b"first build"));
    assert_eq!(first.plugin.size_bytes, b"first build".len() as u64);
    assert_eq!(first.plugin.config, json!({}));

    // Same bytes again: nothing new. Other bytes under the same version: refused.
    let again = lux
        .install_plugin(component("claims", "0.1.0", b"first build"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.plugin.id, first.plugin.id);
    let clash = lux
        .install_plugin(component("claims", "0.1.0", b"another build"))
        .await
        .unwrap_err();
    assert!(matches!(clash, Error::Conflict { .. }), "{clash}");
    assert_eq!(lux.plugin_versions("claims").await.unwrap().len(), 1);
    assert_eq!(
        lux.plugin_wasm(first.plugin.id).await.unwrap(),
        b"first build"
    );

    // Enabled and configured, then a new version: it becomes active, keeps the flag and the
    // configuration its schema accepts.
    let update = PluginUpdate {
        enabled: Some(true),
        config: Some(json!({ "threshold": 0.25 })),
        ..PluginUpdate::default()
    };
    lux.update_plugin("claims", &update).await.unwrap();
    let second = lux
        .install_plugin(component("claims", "0.2.0", b"second build"))
        .await
        .unwrap()
        .plugin;
    assert!(second.active && second.enabled);
    assert_eq!(second.config, json!({ "threshold": 0.25 }));
    let versions = lux.plugin_versions("claims").await.unwrap();
    assert_eq!(
        versions.iter().filter(|v| v.active).count(),
        1,
        "one active version: {versions:?}"
    );
    let live = lux.enabled_plugins().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0.version, "0.2.0");
    assert_eq!(live[0].1, b"second build");

    // A configuration the schema refuses changes nothing and names the field.
    for bad in [json!({ "threshold": 2 }), json!({ "other": 1 }), json!([])] {
        let update = PluginUpdate {
            config: Some(bad.clone()),
            ..PluginUpdate::default()
        };
        let error = lux.update_plugin("claims", &update).await.unwrap_err();
        assert_eq!(error.field(), Some("config"), "{bad}: {error}");
    }
    assert_eq!(
        lux.active_plugin("claims").await.unwrap().config,
        json!({ "threshold": 0.25 })
    );

    // Back to 0.1.0, then disabled: nothing is live.
    let update = PluginUpdate {
        active_version: Some("0.1.0".into()),
        enabled: Some(false),
        ..PluginUpdate::default()
    };
    let versions = lux.update_plugin("claims", &update).await.unwrap();
    let active: Vec<&str> = versions
        .iter()
        .filter(|v| v.active)
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(active, ["0.1.0"]);
    assert!(versions.iter().all(|v| !v.enabled));
    assert!(lux.enabled_plugins().await.unwrap().is_empty());
    let missing = PluginUpdate {
        active_version: Some("9.9.9".into()),
        ..PluginUpdate::default()
    };
    assert!(matches!(
        lux.update_plugin("claims", &missing).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    // Removing the active version activates the newest one left; removing all leaves nothing.
    assert_eq!(lux.remove_plugin("claims", Some("0.1.0")).await.unwrap(), 1);
    let left = lux.plugin_versions("claims").await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].active && left[0].version == "0.2.0");
    assert!(matches!(
        lux.remove_plugin("claims", Some("0.1.0"))
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(lux.remove_plugin("claims", None).await.unwrap(), 1);
    assert!(matches!(
        lux.plugin_versions("claims").await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(lux.list_plugins().await.unwrap().is_empty());

    // Names follow the identifier rules.
    let error = lux
        .install_plugin(component("Bad Name", "0.1.0", b"x"))
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("name"));
}

async fn runs_and_patterns_read_back_as_recorded(lux: &Lux) {
    let plugin = lux
        .install_plugin(component("miner", "1.0.0", b"miner build"))
        .await
        .unwrap()
        .plugin;
    let (project, one, _) = session(lux, "runs").await;
    let (_, two, _) = session(lux, "runs").await;

    let start = Utc::now() - Duration::minutes(5);
    for (minutes, outcome, produced) in [
        (0, RunOutcome::Ok, 3),
        (1, RunOutcome::Timeout, 0),
        (2, RunOutcome::Trap, 0),
    ] {
        lux.record_plugin_run(NewPluginRun {
            plugin_id: plugin.id,
            session_id: Some(one.id),
            step_id: None,
            started_at: start + Duration::minutes(minutes),
            duration_us: 1500 + minutes,
            outcome,
            message: (outcome != RunOutcome::Ok).then(|| format!("{outcome} happened")),
            produced,
        })
        .await
        .unwrap();
    }
    let runs = lux
        .list_plugin_runs("miner", &PageRequest::default())
        .await
        .unwrap()
        .items;
    let outcomes: Vec<RunOutcome> = runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [RunOutcome::Trap, RunOutcome::Timeout, RunOutcome::Ok],
        "newest first"
    );
    assert_eq!(runs[2].produced, 3);
    assert_eq!(runs[1].message.as_deref(), Some("timeout happened"));
    assert!(runs.iter().all(|r| r.plugin_version == "1.0.0"));
    // Paged newest first: one run a page, the cursor leading on to the older ones.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = lux
            .list_plugin_runs(
                "miner",
                &PageRequest {
                    limit: Some(1),
                    cursor,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        paged.push(page.items[0].id);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, runs.iter().map(|r| r.id).collect::<Vec<_>>());
    assert!(
        lux.list_plugin_runs("miner", &PageRequest::first(0))
            .await
            .is_err()
    );

    let found = vec![
        FoundPattern {
            miner: "plugin.miner".into(),
            miner_version: "1.0.0".into(),
            pattern: MinedPattern {
                kind: "recurring_signal".into(),
                title: "anchoring recurs in 2 of 2 sessions".into(),
                support: 2,
                score: 1.0,
                session_ids: vec![one.id, two.id],
                data: json!({ "signal": "anchoring" }),
            },
        },
        FoundPattern {
            miner: "plugin.other".into(),
            miner_version: "0.1.0".into(),
            pattern: MinedPattern {
                kind: "loop".into(),
                title: "a loop".into(),
                support: 1,
                score: f64::NAN,
                session_ids: vec![two.id],
                data: json!(null),
            },
        },
    ];
    lux.store_patterns(project, &found).await.unwrap();
    let all = lux
        .list_patterns(project, &PatternListQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let query = PatternListQuery {
        miner: Some("plugin.miner".into()),
        ..PatternListQuery::default()
    };
    let mine = lux.list_patterns(project, &query).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].session_ids, vec![one.id, two.id]);
    assert_eq!(mine[0].support, 2);
    assert_eq!(mine[0].data, json!({ "signal": "anchoring" }));
    let other = all.iter().find(|p| p.miner == "plugin.other").unwrap();
    assert_eq!(other.score, 0.0, "a NaN score is stored as 0");

    // Another project sees none of them.
    let elsewhere = lux.create_project("elsewhere", "Elsewhere").await.unwrap();
    assert!(
        lux.list_patterns(elsewhere.id, &PatternListQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Removing the plugin removes its run records.
    lux.remove_plugin("miner", None).await.unwrap();
    assert!(
        lux.list_plugin_runs("miner", &PageRequest::default())
            .await
            .is_err()
    );
}
