//! Test support shared with other crates' tests (feature `testing`): builds the example and
//! hostile components in `plugins/examples` once per process, so lux-api's tests install the same
//! components lux-plugins' own tests load, and builds the Python examples in
//! `plugins/examples-python` with a componentize-py it installs itself. [`fuzz`] holds the fuzz
//! entry point over plugin output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

pub mod fuzz;

/// The componentize-py release the Python examples are built and tested with (from PyPI).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The shared cache folder: outside the clone, so CI can keep it between runs.
fn cache_root() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache")
}

/// Where the wasm32-wasip2 build goes.
fn wasm_target_dir() -> PathBuf {
    cache_root().join("lux-target/wasm-examples")
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

/// The `componentize-py` executable, installed from PyPI into a virtualenv under
/// `~/.cache/lux-componentize-py/<version>` on first use. Panics with what to do when Python or
/// PyPI is not there: a missing toolchain must fail the test, never skip it.
pub fn componentize_py() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let parent = cache_root().join("lux-componentize-py");
            std::fs::create_dir_all(&parent).expect("create the componentize-py cache dir");
            let venv = parent.join(COMPONENTIZE_PY_VERSION);
            let tool = venv.join("bin/componentize-py");
            let done = venv.join(".lux-installed");
            // Test processes run in parallel: one installs, the others wait on the lock.
            let lock = std::fs::File::create(parent.join(".lock")).expect("create the lock file");
            lock.lock().expect("lock the componentize-py cache");
            if !done.is_file() {
                // A half-made venv (an install that was killed) is made again from scratch.
                let _ = std::fs::remove_dir_all(&venv);
                let python = std::env::var_os("LUX_PYTHON").unwrap_or_else(|| "python3".into());
                run_or_explain(
                    Command::new(&python).arg("-m").arg("venv").arg(&venv),
                    "creating a Python virtualenv for componentize-py (needs python3 with the \
                     venv module; LUX_PYTHON names another interpreter)",
                );
                run_or_explain(
                    Command::new(venv.join("bin/pip"))
                        .args(["install", "--quiet", "--disable-pip-version-check"])
                        .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
                    "installing componentize-py from PyPI (needs network access to PyPI)",
                );
                assert!(tool.is_file(), "pip did not install {}", tool.display());
                std::fs::write(&done, COMPONENTIZE_PY_VERSION).expect("mark the venv complete");
            }
            drop(lock);
            tool
        })
        .clone()
}

/// Builds the Python example `name` (a folder of `plugins/examples-python` holding `app.py`)
/// for the bias-detector world with componentize-py and returns the component's path. The
/// result is kept under `~/.cache/lux-target/wasm-examples-python`, named by a hash of the
/// sources, the contract and the tool version, so it is rebuilt only when one of them changes.
pub fn python_example_path(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = built.iter().find(|(built, _)| built == name) {
        return path.clone();
    }
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = plugins.join("examples-python").join(name);
    let app = source.join("app.py");
    let code = std::fs::read(&app).unwrap_or_else(|error| panic!("{}: {error}", app.display()));
    let wit = plugins.join("wit");
    let contract = std::fs::read(wit.join("lux-plugins.wit")).expect("read the WIT contract");
    let mut hash = Sha256::new();
    hash.update(&code);
    hash.update(&contract);
    hash.update(COMPONENTIZE_PY_VERSION.as_bytes());
    let digest: String = hash.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let out_dir = cache_root().join("lux-target/wasm-examples-python");
    std::fs::create_dir_all(&out_dir).expect("create the Python build dir");
    let out = out_dir.join(format!("{}-{digest}.wasm", name.replace('-', "_")));
    if !out.is_file() {
        let tool = componentize_py();
        // componentize-py leaves `__pycache__` beside the module it compiles: build from a copy so
        // the source folder stays clean.
        let work = tempfile_dir(&out_dir, name);
        std::fs::copy(&app, work.join("app.py")).expect("copy app.py");
        let partial = out.with_extension(format!("tmp-{}", std::process::id()));
        let started = std::time::Instant::now();
        run_or_explain(
            Command::new(&tool)
                .arg("--wit-path")
                .arg(&wit)
                .args(["--world", "bias-detector", "componentize", "--python-path"])
                .arg(&work)
                .arg("app")
                .arg("--output")
                .arg(&partial)
                .current_dir(&work),
            &format!("building plugins/examples-python/{name} with componentize-py"),
        );
        let _ = std::fs::remove_dir_all(&work);
        // Atomic: a concurrent test process sees no component or a complete one.
        std::fs::rename(&partial, &out).expect("move the built component into place");
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "componentize-py built {name}: {size} bytes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    built.push((name.to_owned(), out.clone()));
    out
}

/// A fresh, empty folder under `parent`, unique to this process.
fn tempfile_dir(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(format!("{name}.work-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a build folder");
    dir
}

fn run_or_explain(command: &mut Command, what: &str) {
    match command.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "{what} failed ({}): {command:?}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("{what}: cannot run {command:?}: {error}"),
    }
}
