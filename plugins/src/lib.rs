//! Lux's WASM plugin platform: plugin authors ship a component built against `plugins/wit/`
//! (a bias detector or a pattern miner) and Lux runs it sandboxed, like a built-in.
//!
//! ```text
//! PluginHost::new(config)        one wasmtime Engine + epoch ticker + WASI deny-all linker
//!   .load(&wasm_bytes).await     compile or restore from cache, check contract version/world,
//!                                link (InstancePre), read metadata()
//!   -> Plugin                    -> WasmDetector::new(plugin) : lux_core BiasDetector
//!                                -> WasmMiner::new(plugin)    : lux_core PatternMiner
//! ```
//!
//! Every call instantiates into a fresh `Store` (so a trapped instance is never re-entered) with
//! an epoch deadline, a memory cap and an output cap; every failure is a typed [`PluginError`].

mod abi;
mod adapters;
mod error;
mod host;
mod output;
pub mod registry;
mod sandbox;
#[cfg(feature = "testing")]
pub mod testing;

pub use adapters::{WasmDetector, WasmMiner, finding_source};
pub use error::{LoadError, PluginError};
pub use host::{
    ArtifactSource, EPOCH_TICK, HostConfig, Limits, Plugin, PluginHost, PluginKind, PluginMetadata,
};

/// The WIT package of the plugin contract.
pub const CONTRACT_PACKAGE: &str = "lux:plugins";
/// The contract version this host implements (`package lux:plugins@…` in `wit/`).
pub const CONTRACT_VERSION: &str = "0.2.0";
/// Every contract version a guest may be built against (semver-compatible with one of them):
/// the current one and the previous minor (`wit-0.1/`), whose miners get digests without topics.
pub const SUPPORTED_CONTRACTS: [&str; 2] = [CONTRACT_VERSION, "0.1.0"];

/// The WIT contract, for tools and docs that hand it to plugin authors.
pub const WIT: &str = include_str!("../wit/lux-plugins.wit");

impl WasmDetector {
    /// Loads a component and checks it is a bias detector.
    pub async fn load(host: &PluginHost, wasm: &[u8]) -> Result<Self, LoadError> {
        WasmDetector::new(host.load(wasm).await?)
    }
}

impl WasmMiner {
    /// Loads a component and checks it is a pattern miner.
    pub async fn load(host: &PluginHost, wasm: &[u8]) -> Result<Self, LoadError> {
        WasmMiner::new(host.load(wasm).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wit_declares_the_version_the_host_implements() {
        let declared = format!(
            "package {}@{};",
            super::CONTRACT_PACKAGE,
            super::CONTRACT_VERSION
        );
        assert!(
            super::WIT.contains(&declared),
            "wit/ must declare {declared}"
        );
    }
}
