//! Hostile test plugin: returns far more than the 1 MiB output cap.
//! Lux must stop it within its limit, report it as a typed error, and keep serving.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-giant-output".into(),
            version: "0.1.0".into(),
            description: "returns far more than the 1 MiB output cap.".into(),
            config_schema: "{}".into(),
        }
    }

    #[allow(unused_variables, unreachable_code)]
    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let explanation = "x".repeat(256);
        Ok((0..20_000)
            .map(|_| finding(explanation.clone(), None, 0.5))
            .collect())
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
