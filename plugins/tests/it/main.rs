//! Integration tests of the plugin host against real components built from `plugins/examples`.

mod cache;
mod detector;
mod hostile;
mod miner;
mod support;
// The same builders other crates reach through the `testing` feature.
#[path = "../../src/testing.rs"]
#[allow(dead_code, unreachable_pub)]
mod testing;
