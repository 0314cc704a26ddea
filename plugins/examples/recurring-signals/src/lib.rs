//! Example pattern miner: a bias type or monitor signal that shows up in many sessions is a habit
//! of the model or the prompt, not an accident. Reports each signal present in at least
//! `min_support` sessions, with the share of sessions showing it and how often it fires in them.

// Built against the previous minor of the contract (`wit-0.1`, no `topic` in the digests): it
// shows that plugins built before 0.2 keep loading and running.
wit_bindgen::generate!({ path: "../../wit-0.1", world: "pattern-miner" });

use std::collections::BTreeMap;

use exports::lux::plugins::miner::{ConfigJson, Guest, Pattern, PluginMetadata, SessionDigest};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    min_support: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config { min_support: 2 }
    }
}

struct RecurringSignals;

impl Guest for RecurringSignals {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "recurring-signals".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Bias types and monitor signals that recur across sessions.".into(),
            config_schema: r#"{"type":"object","properties":{"min_support":{"type":"integer","minimum":1}},"additionalProperties":false}"#.into(),
        }
    }

    fn mine(digests: Vec<SessionDigest>, config: ConfigJson) -> Result<Vec<Pattern>, String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|error| format!("bad config: {error}"))?
        };
        let total = digests.len();
        // signal -> (sessions showing it, total count across them)
        let mut seen: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
        for digest in &digests {
            for item in digest.bias_counts.iter().chain(&digest.monitor_counts) {
                if item.count == 0 {
                    continue;
                }
                let entry = seen.entry(item.label.clone()).or_default();
                if !entry.0.contains(&digest.session_id) {
                    entry.0.push(digest.session_id.clone());
                }
                entry.1 += u64::from(item.count);
            }
        }
        let mut patterns: Vec<Pattern> = seen
            .into_iter()
            .filter(|(_, (sessions, _))| sessions.len() as u32 >= config.min_support.max(1))
            .map(|(signal, (sessions, count))| {
                let support = sessions.len();
                let mean = count as f64 / support as f64;
                Pattern {
                    kind: "recurring_signal".into(),
                    title: format!("{signal} recurs in {support} of {total} sessions"),
                    support: support as u32,
                    score: support as f64 / total as f64,
                    session_ids: sessions,
                    data: serde_json::json!({ "signal": signal, "mean_count": mean }).to_string(),
                }
            })
            .collect();
        patterns.sort_by(|a, b| {
            b.support
                .cmp(&a.support)
                .then_with(|| a.title.cmp(&b.title))
        });
        Ok(patterns)
    }
}

export!(RecurringSignals);
