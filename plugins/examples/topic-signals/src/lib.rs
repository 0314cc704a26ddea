//! Example pattern miner on `lux:plugins@0.2`: a bias type or monitor signal concentrated in one
//! topic. Lux puts each session in a topic named by the words its sessions share (the digest's
//! `topic`, new in 0.2); a signal shown by at least `min_share` of a topic's sessions, at least
//! `min_lift` times its share elsewhere and in at least `min_support` of them, is reported.

wit_bindgen::generate!({ path: "../../wit", world: "pattern-miner" });

use std::collections::{BTreeMap, BTreeSet};

use exports::lux::plugins::miner::{ConfigJson, Guest, Pattern, PluginMetadata, SessionDigest};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    min_support: u32,
    min_share: f64,
    min_lift: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_support: 3,
            min_share: 0.3,
            min_lift: 2.0,
        }
    }
}

struct TopicSignals;

/// The signals a session shows (bias types and monitor kinds with a non-zero count).
fn signals(digest: &SessionDigest) -> BTreeSet<&str> {
    digest
        .bias_counts
        .iter()
        .chain(&digest.monitor_counts)
        .filter(|item| item.count > 0)
        .map(|item| item.label.as_str())
        .collect()
}

impl Guest for TopicSignals {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "topic-signals".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Bias types and monitor signals concentrated in one topic.".into(),
            config_schema: r#"{"type":"object","properties":{"min_support":{"type":"integer","minimum":1},"min_share":{"type":"number","minimum":0,"maximum":1},"min_lift":{"type":"number","minimum":1}},"additionalProperties":false}"#.into(),
        }
    }

    fn mine(digests: Vec<SessionDigest>, config: ConfigJson) -> Result<Vec<Pattern>, String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&config).map_err(|error| format!("bad config: {error}"))?
        };
        // topic -> its sessions; signal -> sessions showing it
        let mut topics: BTreeMap<&str, Vec<&SessionDigest>> = BTreeMap::new();
        let mut showing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for digest in &digests {
            if let Some(topic) = &digest.topic {
                topics.entry(topic.as_str()).or_default().push(digest);
            }
            for signal in signals(digest) {
                showing.entry(signal).or_default().insert(digest.session_id.as_str());
            }
        }
        let total = digests.len();
        let mut patterns = Vec::new();
        for (topic, members) in &topics {
            let outside = total - members.len();
            for (signal, all) in &showing {
                let inside: Vec<String> = members
                    .iter()
                    .filter(|digest| all.contains(digest.session_id.as_str()))
                    .map(|digest| digest.session_id.clone())
                    .collect();
                let share = inside.len() as f64 / members.len() as f64;
                let elsewhere = if outside == 0 {
                    0.0
                } else {
                    (all.len() - inside.len()) as f64 / outside as f64
                };
                if (inside.len() as u32) < config.min_support.max(1)
                    || share < config.min_share
                    || share < config.min_lift * elsewhere
                {
                    continue;
                }
                patterns.push(Pattern {
                    kind: "topic_signal".into(),
                    title: format!(
                        "{signal} in {:.0}% of \"{topic}\" sessions vs {:.0}% elsewhere",
                        share * 100.0,
                        elsewhere * 100.0
                    ),
                    support: inside.len() as u32,
                    score: (share - elsewhere).clamp(0.0, 1.0),
                    session_ids: inside,
                    data: serde_json::json!({
                        "topic": topic,
                        "signal": signal,
                        "share": share,
                        "share_elsewhere": elsewhere,
                    })
                    .to_string(),
                });
            }
        }
        patterns.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.title.cmp(&b.title)));
        Ok(patterns)
    }
}

export!(TopicSignals);
