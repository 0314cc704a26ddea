//! Hostile test plugin: spins forever in detect.
//! Lux must stop it within its limit, report it as a typed error, and keep serving.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-loop".into(),
            version: "0.1.0".into(),
            description: "spins forever in detect.".into(),
            config_schema: "{}".into(),
        }
    }

    #[allow(unused_variables, unreachable_code)]
    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
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
