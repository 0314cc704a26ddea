//! Integration tests of the plugin host against real components built from `plugins/examples`.

mod cache;
mod detector;
mod fuzz_seeds;
mod hostile;
mod miner;
mod support;
// The same builders other crates reach (the `testing` feature, on for this crate's tests).
use lux_plugins::testing;
