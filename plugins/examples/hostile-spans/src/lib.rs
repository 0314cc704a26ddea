//! Hostile test plugin: returns findings that lie (out-of-range or char-splitting spans, NaN confidence); the mode comes from its config.
//! Lux must stop it within its limit, report it as a typed error, and keep serving.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-spans".into(),
            version: "0.1.0".into(),
            description: "returns findings that lie (out-of-range or char-splitting spans, NaN confidence); the mode comes from its config.".into(),
            config_schema: "{}".into(),
        }
    }

    #[allow(unused_variables, unreachable_code)]
    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let len = context.step.content.len() as u32;
        let config = context.config;
        if config.contains("nan") {
            return Ok(vec![finding("not a number".into(), None, f64::NAN)]);
        }
        if config.contains("split") {
            // Byte 1..2: inside the first character when the step starts with a multi-byte one.
            return Ok(vec![finding(
                "half a character".into(),
                Some(Span { start: 1, end: 2 }),
                0.5,
            )]);
        }
        Ok(vec![finding(
            "past the end".into(),
            Some(Span {
                start: len / 2,
                end: len + 10,
            }),
            0.5,
        )])
    }
}

#[allow(dead_code)]
fn finding(explanation: String, evidence: Option<Span>, confidence: f64) -> Finding {
    Finding {
        bias_type: "hostile".into(),
        severity: Severity::Low,
        confidence,
        explanation,
        evidence,
        suggestion: None,
    }
}

export!(Hostile);
