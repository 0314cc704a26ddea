//! The per-call world a plugin instance lives in: a WASI context that grants nothing, a memory
//! limiter that remembers it said no, and capped stdout/stderr buffers. One is built for every
//! call and dropped after it, so a trapped or poisoned instance can never be re-entered.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView,
};

/// Largest single `get-random-bytes` request a guest may make; it is served from host memory.
const MAX_RANDOM_REQUEST: u64 = 64 * 1024;
/// The "random" bytes a guest gets, repeated.
const NO_ENTROPY: &[u8] = b"lux plugin sandbox: no entropy is granted";

pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Sandbox {
    pub(crate) fn new(memory_bytes: usize, log_bytes: usize) -> Self {
        let stdout = MemoryOutputPipe::new(log_bytes);
        let stderr = MemoryOutputPipe::new(log_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            // Time and randomness are capabilities too: a frozen clock and a fixed-seed stream keep
            // a plugin deterministic (the same step gives the same findings) and leak nothing.
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(Deterministic::new(NO_ENTROPY.to_vec()))
            .insecure_random(Deterministic::new(NO_ENTROPY.to_vec()))
            .insecure_random_seed(0)
            .max_random_size(MAX_RANDOM_REQUEST)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            stdout,
            stderr,
        }
    }

    /// What the guest printed (stdout then stderr), lossily decoded, for logs and trap messages.
    pub(crate) fn output(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.stdout.contents()).into_owned();
        let err = self.stderr.contents();
        if !err.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&String::from_utf8_lossy(&err));
        }
        text
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Most tables an instance may hold, and most entries per table.
pub(crate) const MAX_TABLES: usize = 64;
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// [`StoreLimits`] plus flags, because a refused `memory.grow` or `table.grow` surfaces as an
/// untyped error and the host must still report it as [`crate::PluginError::MemoryLimit`] or
/// [`crate::PluginError::TableLimit`].
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub(crate) memory_denied: bool,
    pub(crate) table_denied: bool,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .table_elements(MAX_TABLE_ELEMENTS)
                .instances(64)
                .tables(MAX_TABLES)
                .memories(8)
                .trap_on_grow_failure(true)
                .build(),
            memory_denied: false,
            table_denied: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.inner.memory_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.memory_denied = true;
        }
        answer
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_denied = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.inner.table_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.table_denied = true;
        }
        answer
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_denied = true;
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A clock stopped at the epoch.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
