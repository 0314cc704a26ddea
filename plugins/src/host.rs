//! The wasmtime host: one engine with an epoch ticker, compile-once with an on-disk artifact cache,
//! contract-version checks at load, and the per-call sandbox (fresh store, deadlines, memory and
//! output caps) that turns every guest misbehaviour into a [`PluginError`].

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, InstancePre, Lift, Linker, Lower,
};
use wasmtime::{Config, Engine, Store, Trap};

use crate::abi::{Metadata, MetadataResults};
use crate::error::{LoadError, PluginError};
use crate::sandbox::{MAX_TABLE_ELEMENTS, MAX_TABLES, Sandbox};
use crate::{CONTRACT_PACKAGE, SUPPORTED_CONTRACTS};

/// wasmtime's message when a call's hostcall fuel (our output cap) runs out; its error type is
/// private, so the message is what identifies it.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// How often the ticker thread advances the engine's epoch; deadlines are whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-call limits. The defaults are the design's: 100 ms, 64 MiB, 1 MiB.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one call, instantiation included.
    pub call_timeout: Duration,
    /// Linear memory a call may grow to.
    pub memory_bytes: usize,
    /// Bytes of strings and list entries a call may return.
    pub output_bytes: usize,
    /// What stdout and stderr each keep; further writes fail inside the guest.
    pub log_bytes: usize,
    /// Largest component accepted for loading.
    pub max_wasm_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            log_bytes: 64 << 10,
            max_wasm_bytes: 32 << 20,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Where compiled artifacts are kept between runs. It must be writable only by Lux: loading
    /// an artifact trusts it as native code. `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
}

/// The two plugin worlds of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    BiasDetector,
    PatternMiner,
}

impl PluginKind {
    /// The WIT world name.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::BiasDetector => "bias-detector",
            PluginKind::PatternMiner => "pattern-miner",
        }
    }

    fn interface(self) -> &'static str {
        match self {
            PluginKind::BiasDetector => "detector",
            PluginKind::PatternMiner => "miner",
        }
    }

    fn entry(self) -> &'static str {
        match self {
            PluginKind::BiasDetector => "detect",
            PluginKind::PatternMiner => "mine",
        }
    }
}

/// Where a loaded plugin's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Compiled from the wasm bytes by this load (and written to the cache, if there is one).
    Compiled,
    /// Read back from the artifact cache; nothing was compiled.
    Cache,
}

/// What a plugin says about itself, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginMetadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: serde_json::Value,
}

/// The plugin host. Cheap to clone; all clones share one engine and its ticker thread, which
/// stops by itself once the last clone and the last plugin loaded through it are dropped.
#[derive(Clone)]
pub struct PluginHost {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache_dir: Option<PathBuf>,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache_dir", &self.shared.cache_dir)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    pub fn new(config: HostConfig) -> Result<Self, LoadError> {
        let mut wasm_config = Config::new();
        wasm_config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10);
        let engine = Engine::new(&wasm_config).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        // Guests built by a WASI toolchain import wasi:cli/io/clocks/random/filesystem/sockets even
        // when unused; the sandbox's context answers them without granting anything. Components
        // that import nothing are unaffected by the extra definitions.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|error| {
                LoadError::Engine(format!(
                    "cannot create cache dir {}: {error}",
                    dir.display()
                ))
            })?;
        }
        spawn_ticker(&engine);
        Ok(PluginHost {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache_dir: config.cache_dir,
                limits: config.limits,
            }),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Compiles (or reads from the cache), checks the contract version and world, links, and
    /// reads the plugin's metadata. Nothing of the plugin runs besides `metadata()`.
    pub async fn load(&self, wasm: &[u8]) -> Result<Plugin, LoadError> {
        let limit = self.shared.limits.max_wasm_bytes;
        if wasm.len() > limit {
            return Err(LoadError::TooLarge {
                size: wasm.len(),
                limit,
            });
        }
        let shared = self.shared.clone();
        let bytes = wasm.to_vec();
        // Compiling takes tens of milliseconds of CPU: keep it off the async workers.
        let (component, source, sha256) =
            tokio::task::spawn_blocking(move || shared.compile_or_restore(&bytes))
                .await
                .map_err(|error| LoadError::Engine(error.to_string()))??;

        let contract = find_contract(&component, &self.shared.engine)?;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|error| LoadError::Link(format!("{error:#}")))?;
        let missing = |what: &str| LoadError::WrongWorld {
            expected: contract.kind.world(),
            found: format!("its `{}` export has no `{what}` function", contract.export),
        };
        let interface = component
            .get_export_index(None, &contract.export)
            .ok_or_else(|| missing("any"))?;
        let metadata_fn = component
            .get_export_index(Some(&interface), "metadata")
            .ok_or_else(|| missing("metadata"))?;
        let entry_fn = component
            .get_export_index(Some(&interface), contract.kind.entry())
            .ok_or_else(|| missing(contract.kind.entry()))?;

        let mut plugin = Loaded {
            shared: self.shared.clone(),
            pre,
            kind: contract.kind,
            contract_version: contract.version,
            sha256,
            source,
            entry_fn,
            metadata: PluginMetadata {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                config_schema: serde_json::Value::Bool(true),
            },
        };
        plugin.metadata = plugin.read_metadata(&metadata_fn).await?;
        Ok(Plugin {
            inner: Arc::new(plugin),
        })
    }
}

impl Shared {
    fn compile_or_restore(
        &self,
        wasm: &[u8],
    ) -> Result<(Component, ArtifactSource, String), LoadError> {
        let sha256 = hex(&Sha256::digest(wasm));
        let cache_file = self.cache_dir.as_ref().map(|dir| {
            // The engine's compatibility hash covers the wasmtime version and every setting that
            // changes generated code, so an upgrade or a config change never reads a stale file.
            let mut hasher = ShaHasher(Sha256::new());
            sha256.hash(&mut hasher);
            self.engine
                .precompile_compatibility_hash()
                .hash(&mut hasher);
            dir.join(format!("{}.cwasm", hex(&hasher.0.finalize())))
        });
        if let Some(path) = cache_file.as_deref().filter(|path| path.is_file()) {
            match restore(&self.engine, path) {
                Ok(component) => return Ok((component, ArtifactSource::Cache, sha256)),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    error = %format!("{error:#}"),
                    "discarding unreadable plugin artifact; recompiling"
                ),
            }
        }
        let component = Component::new(&self.engine, wasm)
            .map_err(|error| LoadError::Invalid(format!("{error:#}")))?;
        if let Some(path) = &cache_file
            && let Err(error) = store_artifact(&component, path)
        {
            tracing::warn!(path = %path.display(), %error, "cannot cache plugin artifact");
        }
        Ok((component, ArtifactSource::Compiled, sha256))
    }
}

/// Loads a precompiled artifact written by [`store_artifact`].
#[allow(unsafe_code)]
fn restore(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be an artifact produced by wasmtime for this
    // engine. The file lives in the host-owned cache directory (see `HostConfig::cache_dir`), is
    // written only by `store_artifact` via an atomic rename, and is named by the hash of its source
    // and of the engine's compatibility hash; wasmtime itself still rejects a header written by a
    // different version or configuration.
    unsafe { Component::deserialize_file(engine, path) }
}

fn store_artifact(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    // Atomic: a concurrent loader sees either no artifact or a complete one.
    std::fs::rename(&tmp, path)
}

/// Feeds `Hash` output into SHA-256, to get a stable digest of the engine's compatibility hash
/// (which only exposes `Hash`). `finish` is unused.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn engine_error(error: wasmtime::Error) -> LoadError {
    LoadError::Engine(format!("{error:#}"))
}

fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("lux-plugin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(error) = spawned {
        // Without a ticker no deadline fires; the wall-clock timeout around each call still does.
        tracing::error!(%error, "cannot start the plugin epoch ticker");
    }
}

struct Contract {
    kind: PluginKind,
    /// The exact export name, e.g. `lux:plugins/detector@0.1.0`.
    export: String,
    version: String,
}

/// Finds which contract interface the component exports and checks its version.
fn find_contract(component: &Component, engine: &Engine) -> Result<Contract, LoadError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let prefix = format!("{CONTRACT_PACKAGE}/");
    for name in &exports {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        let Some(kind) = [PluginKind::BiasDetector, PluginKind::PatternMiner]
            .into_iter()
            .find(|kind| kind.interface() == interface)
        else {
            continue;
        };
        if !supported(version) {
            return Err(LoadError::IncompatibleVersion {
                found: if version.is_empty() {
                    "(unversioned)".into()
                } else {
                    version.into()
                },
                supported: SUPPORTED_CONTRACTS
                    .map(|supported| format!("{CONTRACT_PACKAGE}@{supported}"))
                    .join(" or "),
            });
        }
        return Ok(Contract {
            kind,
            export: name.clone(),
            version: version.into(),
        });
    }
    Err(LoadError::WrongWorld {
        expected: "lux:plugins bias-detector or pattern-miner",
        found: if exports.is_empty() {
            "it exports nothing".into()
        } else {
            format!("it exports {}", exports.join(", "))
        },
    })
}

/// Whether this host loads a guest built against contract `version`.
fn supported(version: &str) -> bool {
    SUPPORTED_CONTRACTS
        .iter()
        .any(|supported| compatible(version, supported))
}

/// Semver compatibility as cargo reads it: same major, and while major is 0, same minor.
/// Pre-release guests are compatible only with the exact same version.
fn compatible(found: &str, supported: &str) -> bool {
    fn parse(version: &str) -> Option<(u64, u64, u64, bool)> {
        let (core, pre) = match version.split_once(['-', '+']) {
            Some((core, _)) => (core, true),
            None => (version, false),
        };
        let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
        let triple = (parts.next()??, parts.next()??, parts.next()??, pre);
        parts.next().is_none().then_some(triple)
    }
    let (Some(found_v), Some(supported_v)) = (parse(found), parse(supported)) else {
        return false;
    };
    if found_v.3 || supported_v.3 {
        return found == supported;
    }
    found_v.0 == supported_v.0 && (found_v.0 != 0 || found_v.1 == supported_v.1)
}

/// A loaded, linked plugin: either kind. Turn it into a [`crate::WasmDetector`] or
/// [`crate::WasmMiner`] to run it.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<Loaded>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("kind", &self.inner.kind)
            .field("metadata", &self.inner.metadata)
            .field("contract_version", &self.inner.contract_version)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub fn kind(&self) -> PluginKind {
        self.inner.kind
    }

    pub fn metadata(&self) -> &PluginMetadata {
        &self.inner.metadata
    }

    /// The `lux:plugins` version the component was built against.
    pub fn contract_version(&self) -> &str {
        &self.inner.contract_version
    }

    /// Hex SHA-256 of the component's bytes.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    pub fn artifact_source(&self) -> ArtifactSource {
        self.inner.source
    }
}

pub(crate) struct Loaded {
    pub(crate) shared: Arc<Shared>,
    pre: InstancePre<Sandbox>,
    pub(crate) kind: PluginKind,
    contract_version: String,
    sha256: String,
    source: ArtifactSource,
    entry_fn: ComponentExportIndex,
    pub(crate) metadata: PluginMetadata,
}

impl Loaded {
    /// Whether the guest was built against a contract whose session digests carry `topic`
    /// (0.2 on); a 0.1 miner is given the digests of its own contract.
    pub(crate) fn digests_have_topics(&self) -> bool {
        !compatible(&self.contract_version, "0.1.0")
    }

    /// Runs the plugin's entry function (`detect` or `mine`) in a fresh sandbox.
    pub(crate) async fn call_entry<P, R>(&self, params: P) -> Result<R, PluginError>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        self.call(&self.entry_fn, params).await
    }

    async fn call<P, R>(&self, function: &ComponentExportIndex, params: P) -> Result<R, PluginError>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let limits = &self.shared.limits;
        let mut store = self.new_store();
        let started = Instant::now();
        let run = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let func = instance.get_typed_func::<P, R>(&mut store, function)?;
            func.call_async(&mut store, params).await
        };
        // The epoch deadline stops guest code that computes; this wall-clock bound also stops a
        // guest parked in a host call (a WASI poll on a sleep, say), where epochs are not checked.
        let outcome = tokio::time::timeout(limits.call_timeout, run).await;
        let result = match outcome {
            Err(_) => Err(PluginError::Timeout {
                limit: limits.call_timeout,
            }),
            Ok(Err(error)) => Err(self.classify(error, &store)),
            Ok(Ok(value)) => Ok(value),
        };
        let output = store.data().output();
        if !output.is_empty() {
            tracing::debug!(plugin = %self.metadata.name, output = %output, "plugin output");
        }
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                tracing::debug!(
                    plugin = %self.metadata.name,
                    kind = error.kind(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    %error,
                    "plugin call failed"
                );
                Err(error)
            }
        }
    }

    /// A fresh sandbox with the memory cap and the epoch deadline armed.
    fn new_store(&self) -> Store<Sandbox> {
        let limits = &self.shared.limits;
        let mut store = Store::new(
            &self.shared.engine,
            Sandbox::new(limits.memory_bytes, limits.log_bytes),
        );
        store.limiter(|sandbox| &mut sandbox.limiter);
        // The output cap, enforced by wasmtime while it copies results (and WASI call arguments)
        // out of guest memory: it charges every string byte and list entry before copying.
        store.set_hostcall_fuel(limits.output_bytes);
        let ticks = limits
            .call_timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        store
    }

    fn classify(&self, error: wasmtime::Error, store: &Store<Sandbox>) -> PluginError {
        let limits = &self.shared.limits;
        if store.data().limiter.memory_denied {
            return PluginError::MemoryLimit {
                limit_bytes: limits.memory_bytes,
            };
        }
        // More tables than allowed is refused at instantiation, before any limiter callback.
        let too_many_tables = format!("{error:#}").contains("table count too high");
        if store.data().limiter.table_denied || too_many_tables {
            return PluginError::TableLimit {
                max_tables: MAX_TABLES,
                max_elements: MAX_TABLE_ELEMENTS,
            };
        }
        if let Some(trap) = error.downcast_ref::<Trap>() {
            if *trap == Trap::Interrupt {
                return PluginError::Timeout {
                    limit: limits.call_timeout,
                };
            }
            return PluginError::Trap {
                message: with_output(trap.to_string(), &store.data().output()),
            };
        }
        if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return PluginError::Trap {
                message: with_output(format!("called exit({})", exit.0), &store.data().output()),
            };
        }
        if format!("{error:#}").contains(HOSTCALL_FUEL_EXHAUSTED) {
            return PluginError::OutputTooLarge {
                limit_bytes: limits.output_bytes,
            };
        }
        // Anything else failed while lifting or lowering values across the boundary: the guest
        // returned something the canonical ABI rejects (bad pointer, invalid UTF-8, an enum case
        // that does not exist).
        PluginError::invalid(format!("{error:#}"))
    }

    async fn read_metadata(
        &self,
        function: &ComponentExportIndex,
    ) -> Result<PluginMetadata, LoadError> {
        let (raw,) = self
            .call::<(), MetadataResults>(function, ())
            .await
            .map_err(LoadError::Metadata)?;
        // Type-check the entry point now, so a wrong signature is refused at install rather than
        // failing on every call.
        self.check_entry_signature().await?;
        let Metadata {
            name,
            version,
            description,
            config_schema,
        } = raw;
        crate::output::validate_metadata(name, version, description, &config_schema)
    }

    async fn check_entry_signature(&self) -> Result<(), LoadError> {
        let mut store = self.new_store();
        let timeout = self.shared.limits.call_timeout;
        let instance =
            match tokio::time::timeout(timeout, self.pre.instantiate_async(&mut store)).await {
                Err(_) => {
                    return Err(LoadError::Metadata(PluginError::Timeout { limit: timeout }));
                }
                Ok(Err(error)) => return Err(LoadError::Metadata(self.classify(error, &store))),
                Ok(Ok(instance)) => instance,
            };
        let func = instance
            .get_func(&mut store, self.entry_fn)
            .ok_or_else(|| LoadError::WrongWorld {
                expected: self.kind.world(),
                found: format!("it has no `{}` function", self.kind.entry()),
            })?;
        let checked = match self.kind {
            PluginKind::BiasDetector => func
                .typed::<crate::abi::DetectParams, crate::abi::DetectResults>(&store)
                .map(drop),
            PluginKind::PatternMiner if self.digests_have_topics() => func
                .typed::<crate::abi::MineParams, crate::abi::MineResults>(&store)
                .map(drop),
            PluginKind::PatternMiner => func
                .typed::<crate::abi::MineParamsV01, crate::abi::MineResults>(&store)
                .map(drop),
        };
        checked.map_err(|error| LoadError::WrongWorld {
            expected: self.kind.world(),
            found: format!(
                "its `{}` signature does not match lux:plugins@{}: {error:#}",
                self.kind.entry(),
                self.contract_version
            ),
        })
    }
}

fn with_output(message: String, output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        return message;
    }
    // The end of stderr holds the panic message, which is what a plugin author needs.
    let mut start = output.len().saturating_sub(1024);
    while !output.is_char_boundary(start) {
        start += 1;
    }
    format!("{message}; plugin output: {}", &output[start..])
}

#[cfg(test)]
mod tests {
    use super::{compatible, supported};

    #[test]
    fn this_host_loads_the_current_and_the_previous_minor() {
        for version in ["0.2.0", "0.2.5", "0.1.0", "0.1.9"] {
            assert!(supported(version), "{version}");
        }
        for version in ["0.3.0", "0.0.1", "1.0.0", "0.2.0-rc.1", ""] {
            assert!(!supported(version), "{version}");
        }
    }

    #[test]
    fn contract_versions_follow_cargo_semver() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.7", "0.1.0"));
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("1.1.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("0.1.0-rc.1", "0.1.0"));
        assert!(!compatible("", "0.1.0"));
        assert!(!compatible("0.1", "0.1.0"));
    }
}
