//! Hostile test plugin: recurses without end in detect, so the wasm call stack overflows.
//! Lux must turn the overflow into a typed trap, not crash its own stack, and keep serving.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use std::hint::black_box;

use exports::lux::plugins::detector::{Finding, Guest, PluginMetadata, StepContext};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-recursion".into(),
            version: "0.1.0".into(),
            description: "recurses without end (a stack overflow).".into(),
            config_schema: "{}".into(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let depth = descend(context.step.content.len() as u64);
        Err(format!("came back from {depth} frames"))
    }
}

/// Not a tail call (the result is used after the call returns, through `black_box`), so the
/// optimizer cannot turn it into a loop.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    black_box(descend(depth + 1)).wrapping_add(depth)
}

export!(Hostile);
