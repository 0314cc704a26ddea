//! Hostile test plugin: a detector built against `lux:plugins@0.3.0`, a contract version this host
//! does not implement (it does 0.2.x and 0.1.x). Lux must refuse it at load, naming the versions.
wit_bindgen::generate!({ path: "wit", world: "bias-detector" });

use exports::lux::plugins::detector::{Finding, Guest, PluginMetadata, StepContext};

struct Future;

impl Guest for Future {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "wrong-version".into(),
            version: "0.1.0".into(),
            description: "Built for a contract version the host does not implement.".into(),
            config_schema: "{}".into(),
        }
    }

    fn detect(_context: StepContext) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }
}

export!(Future);
