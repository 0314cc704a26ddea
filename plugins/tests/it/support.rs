//! Builds the example plugins once per test process and hands out their bytes, a shared host and
//! step inputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use lux_core::detect::{DetectorInput, PriorStep, StepUnderReview};
use lux_plugins::{HostConfig, PluginHost};

/// Where the wasm32-wasip2 build goes: outside the clone, so CI can cache it.
fn wasm_target_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/lux-target/wasm-examples")
}

fn built_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let target_dir = wasm_target_dir();
        // Idempotent; a no-op when the target is installed. Without rustup (a distro toolchain
        // that already has the target) the build below reports what is missing.
        match Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
        {
            Ok(status) if !status.success() => panic!("rustup target add wasm32-wasip2 failed"),
            _ => {}
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // The default members, then the no_std one on its own (see examples/Cargo.toml).
        for package in [None, Some("wasi-free")] {
            let mut command = Command::new(&cargo);
            command
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .args(package.map(|name| ["-p", name]).into_iter().flatten())
                .current_dir(&examples)
                .env("CARGO_TARGET_DIR", &target_dir)
                // Flags meant for the host build must not leak into the guest build.
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("CARGO_BUILD_TARGET");
            let status = command.status().expect("cargo runs");
            assert!(
                status.success(),
                "building plugins/examples failed: {command:?}"
            );
        }
        target_dir.join("wasm32-wasip2/release")
    })
}

/// The component built from the example crate `crate_name` (e.g. `absolute-claims`).
pub(crate) fn wasm(crate_name: &str) -> Vec<u8> {
    let path = built_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A host shared by the tests of this process, with a cache dir of its own.
pub(crate) fn host() -> PluginHost {
    static HOST: OnceLock<(PluginHost, tempfile::TempDir)> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = PluginHost::new(HostConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..HostConfig::default()
        })
        .expect("host starts");
        (host, dir)
    })
    .0
    .clone()
}

pub(crate) fn step(content: &str) -> DetectorInput {
    DetectorInput {
        step: StepUnderReview {
            step_number: Some(3),
            kind: "analysis".into(),
            content: content.into(),
        },
        previous: vec![Arc::new(PriorStep {
            step_number: 1,
            kind: "thought".into(),
            content: "What limits the cache hit rate?".into(),
        })],
        synthesis: None,
    }
}
