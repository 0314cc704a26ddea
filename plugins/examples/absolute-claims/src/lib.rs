//! Example bias detector: unhedged absolute claims ("always", "never", "guaranteed", …) are a
//! classic sign of overconfidence in reasoning. A sentence that also hedges ("might", "likely",
//! "in most cases") is left alone, and so is a negated absolute ("not always", "almost never").
//! Each finding points at the exact word, so the dashboard can highlight it. The rules live in
//! `claims.rs`, shared with the native side of `lux bench plugins`; this file is the WIT glue.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

mod claims;

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// More words to treat as absolutes (lowercase).
    extra_terms: Vec<String>,
}

struct AbsoluteClaims;

impl Guest for AbsoluteClaims {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "absolute-claims".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Flags unhedged absolute claims (always, never, guaranteed, …) with the \
                          exact word as evidence."
                .into(),
            config_schema: r#"{"type":"object","properties":{"extra_terms":{"type":"array","items":{"type":"string"}}},"additionalProperties":false}"#.into(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let config: Config = if context.config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&context.config).map_err(|error| format!("bad config: {error}"))?
        };
        Ok(
            claims::find_claims(&context.step.content, &config.extra_terms)
                .into_iter()
                .map(|claim| Finding {
                    bias_type: "absolute_claim".into(),
                    severity: if claim.high {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    confidence: 0.7,
                    explanation: claim.explanation,
                    evidence: Some(Span {
                        start: claim.start as u32,
                        end: claim.end as u32,
                    }),
                    suggestion: Some(claims::SUGGESTION.into()),
                })
                .collect(),
        )
    }
}

export!(AbsoluteClaims);
