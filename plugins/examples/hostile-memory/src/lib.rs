//! Hostile test plugin: allocates until it is stopped.
//! Lux must stop it within its limit, report it as a typed error, and keep serving.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-memory".into(),
            version: "0.1.0".into(),
            description: "allocates until it is stopped.".into(),
            config_schema: "{}".into(),
        }
    }

    #[allow(unused_variables, unreachable_code)]
    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        // Doubling reservations: each one grows linear memory, so the cap is hit in a few steps
        // whatever the machine's speed (touching every page would race the time limit instead).
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        let mut size = 1usize << 20;
        loop {
            let mut block = Vec::with_capacity(size);
            block.push(0xA5u8);
            hoard.push(std::hint::black_box(block));
            size = size.saturating_mul(2);
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
