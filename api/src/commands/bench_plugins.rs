//! `lux bench plugins`: what running a detector as a WASM plugin costs, in one run — calls/s and
//! median/p99 per call on a 2 KB step through the sandbox against the same detection code compiled
//! natively, a cold compile against a load from the compiled-artifact cache, and resident memory per
//! loaded plugin. The native side is the very source file the `absolute-claims` example compiles
//! to wasm (`claims.rs`, included below), so the two columns run one algorithm.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use lux_core::detect::{DetectorInput, StepUnderReview};
use lux_plugins::{ArtifactSource, HostConfig, Plugin, PluginHost, WasmDetector};

// The component also reads the severity, explanation and suggestion; the benchmark needs spans.
#[path = "../../../plugins/examples/absolute-claims/src/claims.rs"]
#[allow(dead_code)]
mod claims;

#[derive(Debug, Args)]
pub(crate) struct PluginsArgs {
    /// The `absolute-claims` component to measure (default: built from `plugins/examples` in the
    /// source tree this binary was built from).
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Calls to time on each path (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 5_000)]
    calls: usize,
    /// Cold compiles and cache loads to time (the median is reported).
    #[arg(long, default_value_t = 5)]
    loads: usize,
    /// Distinct plugins to load side by side for the memory figure.
    #[arg(long, default_value_t = 20)]
    instances: usize,
    /// Other detector components (a Python one, say) to measure on the plugin side only: load
    /// times, per-call latency and memory, with `--calls / 10` calls and 3 instances.
    #[arg(long)]
    also: Vec<PathBuf>,
}

/// Median and p99 (nearest rank) in microseconds, and calls per second over the whole run.
struct Latencies {
    median_us: f64,
    p99_us: f64,
    per_sec: f64,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>, total: Duration) -> Latencies {
        samples.sort();
        let at = |p: f64| {
            let rank = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1e6
        };
        Latencies {
            median_us: at(0.50),
            p99_us: at(0.99),
            per_sec: samples.len() as f64 / total.as_secs_f64(),
        }
    }
}

/// A realistic reasoning step of at least 2048 bytes, with a few unhedged absolutes in it.
fn two_kb_step() -> String {
    const SENTENCES: &[&str] = &[
        "The p99 regression appears only after the cache warms up, so the key distribution is the likelier cause.",
        "Comparing per-shard hit ratios will tell us whether one hot shard takes most of the misses.",
        "Eviction always favours recent keys, which guarantees that a burst of new sessions pushes out the old ones.",
        "The load balancer might also route sticky sessions unevenly during a deploy.",
        "Nobody has measured the miss rate per tenant yet, so that comes first.",
        "If the hot shard is real, consistent hashing with virtual nodes spreads the keys without a migration.",
        "Raising the cache size never fixes a skewed key space; it only delays the problem.",
        "The dashboard shows the regression started with the release that changed session ids to UUIDv7.",
    ];
    let mut text = String::new();
    for sentence in SENTENCES.iter().cycle() {
        if text.len() >= 2048 {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(sentence);
    }
    text
}

fn input(content: &str) -> DetectorInput {
    DetectorInput {
        step: StepUnderReview {
            step_number: Some(5),
            kind: "analysis".into(),
            content: content.into(),
        },
        previous: Vec::new(),
        synthesis: None,
    }
}

pub(crate) async fn run(args: PluginsArgs) -> anyhow::Result<()> {
    if args.calls == 0 || args.loads == 0 || args.instances == 0 {
        bail!("--calls, --loads and --instances must be at least 1");
    }
    let wasm_path = match &args.wasm {
        Some(path) => path.clone(),
        None => build_example()?,
    };
    let wasm = std::fs::read(&wasm_path)
        .with_context(|| format!("cannot read {}", wasm_path.display()))?;
    let text = two_kb_step();
    let scratch = tempfile::tempdir()?;
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(scratch.path().join("main")),
        ..HostConfig::default()
    })?;
    let detector = WasmDetector::load(&host, &wasm).await?;
    let metadata = detector.plugin().metadata().clone();
    if metadata.name != "absolute-claims" {
        bail!(
            "--wasm must be the absolute-claims example (the native side runs its code), not {}",
            metadata.name
        );
    }
    println!(
        "plugin benchmark: {} {} ({} KiB component), a {}-byte step, {} calls per path",
        metadata.name,
        metadata.version,
        wasm.len().div_ceil(1024),
        text.len(),
        args.calls
    );

    // The two paths must agree before their speeds mean anything.
    let step = input(&text);
    let native_spans: Vec<(usize, usize)> = claims::find_claims(&text, &[])
        .iter()
        .map(|claim| (claim.start, claim.end))
        .collect();
    let plugin_spans: Vec<(usize, usize)> = detector
        .run(&step)
        .await?
        .iter()
        .filter_map(|detection| detection.evidence.map(|span| (span.start, span.end)))
        .collect();
    if native_spans != plugin_spans {
        bail!("native and plugin disagree: {native_spans:?} vs {plugin_spans:?}");
    }

    let native = time_calls(args.calls, || {
        std::hint::black_box(claims::find_claims(std::hint::black_box(&text), &[]));
    });
    let plugin = time_plugin_calls(&detector, &step, args.calls).await?;
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>9}",
        "path", "calls/s", "median µs", "p99 µs", "findings"
    );
    for (label, latencies) in [("native", &native), ("plugin", &plugin)] {
        println!(
            "{label:<8} {:>12.0} {:>12.1} {:>12.1} {:>9}",
            latencies.per_sec,
            latencies.median_us,
            latencies.p99_us,
            native_spans.len()
        );
    }
    println!(
        "plugin / native: {:.1}x the median (a fresh sandbox per call: instantiate, copy the step \
         in, run, copy findings out, validate)",
        plugin.median_us / native.median_us
    );

    report_loads(&wasm, args.loads, scratch.path()).await?;
    report_memory(&wasm, args.instances, scratch.path(), &step).await?;

    for path in &args.also {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let detector = WasmDetector::load(&host, &bytes).await?;
        let metadata = detector.plugin().metadata();
        println!(
            "\nalso: {} {} ({:.1} MiB component, {})",
            metadata.name,
            metadata.version,
            bytes.len() as f64 / f64::from(1 << 20),
            path.display()
        );
        let calls = (args.calls / 10).max(1);
        let latencies = time_plugin_calls(&detector, &step, calls).await?;
        println!(
            "plugin   {:>12.0} calls/s, median {:.1} µs, p99 {:.1} µs ({calls} calls)",
            latencies.per_sec, latencies.median_us, latencies.p99_us
        );
        report_loads(&bytes, args.loads.min(3), scratch.path()).await?;
        report_memory(&bytes, args.instances.min(3), scratch.path(), &step).await?;
    }
    Ok(())
}

fn time_calls(calls: usize, mut call: impl FnMut()) -> Latencies {
    for _ in 0..calls.div_ceil(10) {
        call();
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let at = Instant::now();
        call();
        samples.push(at.elapsed());
    }
    Latencies::of(samples, started.elapsed())
}

async fn time_plugin_calls(
    detector: &WasmDetector,
    step: &DetectorInput,
    calls: usize,
) -> anyhow::Result<Latencies> {
    for _ in 0..calls.div_ceil(10) {
        detector.run(step).await?;
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let at = Instant::now();
        std::hint::black_box(detector.run(step).await?);
        samples.push(at.elapsed());
    }
    Ok(Latencies::of(samples, started.elapsed()))
}

/// Cold compile (empty cache) against a restore from the artifact cache, each on a new host so
/// nothing is shared in memory; a load also links the component and calls its `metadata()`.
async fn report_loads(wasm: &[u8], loads: usize, scratch: &Path) -> anyhow::Result<()> {
    let mut compiled = Vec::with_capacity(loads);
    let mut restored = Vec::with_capacity(loads);
    for round in 0..loads {
        let cache = scratch.join(format!("loads-{}-{round}", std::process::id()));
        let config = HostConfig {
            cache_dir: Some(cache.clone()),
            ..HostConfig::default()
        };
        let (source, took) = timed_load(&PluginHost::new(config.clone())?, wasm).await?;
        expect_source(source, ArtifactSource::Compiled)?;
        compiled.push(took);
        let (source, took) = timed_load(&PluginHost::new(config)?, wasm).await?;
        expect_source(source, ArtifactSource::Cache)?;
        restored.push(took);
        std::fs::remove_dir_all(&cache)?;
    }
    let median_ms = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2].as_secs_f64() * 1e3
    };
    let (compiled, restored) = (median_ms(compiled), median_ms(restored));
    println!(
        "load (median of {loads}): cold compile {compiled:.1} ms, from the artifact cache \
         {restored:.2} ms ({:.0}x faster)",
        compiled / restored
    );
    Ok(())
}

async fn timed_load(host: &PluginHost, wasm: &[u8]) -> anyhow::Result<(ArtifactSource, Duration)> {
    let started = Instant::now();
    let plugin = host.load(wasm).await?;
    Ok((plugin.artifact_source(), started.elapsed()))
}

fn expect_source(found: ArtifactSource, expected: ArtifactSource) -> anyhow::Result<()> {
    if found != expected {
        bail!("expected a load {expected:?}, got {found:?}");
    }
    Ok(())
}

/// Resident memory of `instances` distinct plugins (the component with a distinct custom section
/// appended, so each has its own artifact, as different plugins would), loaded from the cache and
/// held, then after one call each.
async fn report_memory(
    wasm: &[u8],
    instances: usize,
    scratch: &Path,
    step: &DetectorInput,
) -> anyhow::Result<()> {
    let Some(_) = resident_bytes() else {
        println!("memory: not measured (no /proc/self/status on this system)");
        return Ok(());
    };
    let variants: Vec<Vec<u8>> = (0..instances)
        .map(|n| with_custom_section(wasm, n))
        .collect();
    let config = HostConfig {
        cache_dir: Some(scratch.join(format!("memory-{}", std::process::id()))),
        ..HostConfig::default()
    };
    {
        // Compile into the cache first, on a host that is then dropped: a server restarts onto
        // its cache, and compiling leaves allocator slack that is not the plugins' own.
        let warm = PluginHost::new(config.clone())?;
        for variant in &variants {
            warm.load(variant).await?;
        }
    }
    let host = PluginHost::new(config)?;
    let before = resident_bytes().unwrap_or(0);
    let mut loaded: Vec<Plugin> = Vec::with_capacity(instances);
    for variant in &variants {
        loaded.push(host.load(variant).await?);
    }
    let after_load = resident_bytes().unwrap_or(0);
    let detectors: Vec<WasmDetector> = loaded
        .iter()
        .map(|plugin| WasmDetector::new(plugin.clone()))
        .collect::<Result<_, _>>()?;
    for detector in &detectors {
        detector.run(step).await?;
    }
    let after_call = resident_bytes().unwrap_or(0);
    let per = |delta: u64| delta as f64 / instances as f64 / 1024.0;
    println!(
        "memory, {instances} distinct plugins loaded from the cache: +{:.1} MiB RSS, {:.0} KiB \
         each; after one call each: +{:.1} MiB, {:.0} KiB each",
        after_load.saturating_sub(before) as f64 / f64::from(1 << 20),
        per(after_load.saturating_sub(before)),
        after_call.saturating_sub(before) as f64 / f64::from(1 << 20),
        per(after_call.saturating_sub(before)),
    );
    drop(detectors);
    drop(loaded);
    Ok(())
}

/// The component with an empty custom section named `lux-bench-<n>` appended: the same plugin,
/// a different SHA-256.
fn with_custom_section(wasm: &[u8], n: usize) -> Vec<u8> {
    let name = format!("lux-bench-{n}");
    let mut section = vec![0u8];
    // The payload (the name's length byte and the name) fits one LEB128 byte for any usize name.
    section.push(u8::try_from(name.len() + 1).expect("short name"));
    section.push(u8::try_from(name.len()).expect("short name"));
    section.extend_from_slice(name.as_bytes());
    let mut out = wasm.to_vec();
    out.extend(section);
    out
}

/// VmRSS of this process, from /proc (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Builds `plugins/examples/absolute-claims` for wasm32-wasip2 from the source tree this binary
/// was built from, into the same cache folder the tests use.
fn build_example() -> anyhow::Result<PathBuf> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    if !examples.join("absolute-claims").is_dir() {
        bail!(
            "{} is not here; pass --wasm with a built absolute-claims component",
            examples.display()
        );
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --wasm")?;
    let target_dir = Path::new(&home).join(".cache/lux-target/wasm-examples");
    eprintln!("building plugins/examples/absolute-claims for wasm32-wasip2 …");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "absolute-claims",
        ])
        .current_dir(&examples)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .context("cannot run cargo; pass --wasm")?;
    if !status.success() {
        bail!(
            "building absolute-claims failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    Ok(target_dir.join("wasm32-wasip2/release/absolute_claims.wasm"))
}
