//! Test support shared with other crates' tests (feature `testing`): builds the example and
//! hostile components in `plugins/examples` once per process, so lux-api's tests install the same
//! components lux-plugins' own tests load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the wasm32-wasip2 build goes: outside the clone, so CI can cache it.
fn wasm_target_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/lux-target/wasm-examples")
}

/// Builds `plugins/examples` (adding the wasm32-wasip2 target if rustup is there) once per
/// process and returns the folder holding `<crate_name_with_underscores>.wasm`.
pub fn build_examples() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
            let target_dir = wasm_target_dir();
            // Idempotent; a no-op when the target is installed. Without rustup (a distro
            // toolchain that already has the target) the build below reports what is missing.
            match Command::new("rustup")
                .args(["target", "add", "wasm32-wasip2"])
                .status()
            {
                Ok(status) if !status.success() => {
                    panic!("rustup target add wasm32-wasip2 failed")
                }
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
        .clone()
}

/// Path of the component built from the example crate `crate_name` (e.g. `absolute-claims`).
pub fn example_path(crate_name: &str) -> PathBuf {
    build_examples().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// Bytes of the component built from the example crate `crate_name`.
pub fn example_wasm(crate_name: &str) -> Vec<u8> {
    let path = example_path(crate_name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
