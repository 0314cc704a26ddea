//! Hostile test plugin: tries every WASI capability a sandbox escape needs (files, directory
//! listing, environment, clock, randomness, a TCP connection, writing a file) and reports what it
//! observed as findings, one per attempt. Lux must grant nothing and keep serving.
//!
//! Configuration: `{"port": N}` is a loopback port to connect to, `{"write_to": "/path"}` a file
//! to create; the test listens on the port and watches the path.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use exports::lux::plugins::detector::{Finding, Guest, PluginMetadata, Severity, StepContext};

struct Hostile;

impl Guest for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "hostile-wasi".into(),
            version: "0.1.0".into(),
            description: "tries to read files, env, clock and randomness, and to connect out."
                .into(),
            config_schema: "{}".into(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let config: serde_json::Value =
            serde_json::from_str(&context.config).map_err(|error| error.to_string())?;
        let port = config["port"].as_u64().unwrap_or(9);
        let write_to = config["write_to"].as_str().unwrap_or("escape.txt");
        Ok(vec![
            observed("passwd", read_file("/etc/passwd")),
            observed("listing", list_dir(".")),
            observed("root-listing", list_dir("/")),
            observed("env", Ok(env_vars())),
            observed("clock", wall_clock()),
            observed("random", Ok(randomness())),
            observed("tcp", connect(port)),
            observed("write", write_file(write_to)),
        ])
    }
}

/// One attempt as a finding; the explanation starts with `what: ok ` or `what: denied `.
fn observed(what: &str, result: Result<String, String>) -> Finding {
    let explanation = match result {
        Ok(seen) => format!("{what}: ok {seen}"),
        Err(error) => format!("{what}: denied {error}"),
    };
    Finding {
        bias_type: "sandbox_probe".into(),
        severity: Severity::Low,
        confidence: 1.0,
        explanation,
        evidence: None,
        suggestion: None,
    }
}

fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| error.to_string())
}

fn list_dir(path: &str) -> Result<String, String> {
    let entries = std::fs::read_dir(path).map_err(|error| error.to_string())?;
    let names: Vec<String> = entries
        .map(|entry| match entry {
            Ok(entry) => entry.file_name().to_string_lossy().into_owned(),
            Err(error) => format!("<{error}>"),
        })
        .collect();
    Ok(names.join(","))
}

fn env_vars() -> String {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(key, value)| format!("{}={}", key.to_string_lossy(), value.to_string_lossy()))
        .collect();
    format!("{} vars [{}]", vars.len(), vars.join(";"))
}

fn wall_clock() -> Result<String, String> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| error.to_string())?;
    Ok(format!("{} s", since_epoch.as_secs()))
}

/// A freshly seeded hasher: the same output on every call means its seed is not entropy.
fn randomness() -> String {
    format!("{:016x}", RandomState::new().hash_one("lux"))
}

fn connect(port: u64) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16))
        .map_err(|error| error.to_string())?;
    stream
        .write_all(b"escaped")
        .map_err(|error| error.to_string())?;
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    Ok(format!("connected, read {reply:?}"))
}

fn write_file(path: &str) -> Result<String, String> {
    std::fs::write(path, b"escaped").map_err(|error| error.to_string())?;
    Ok(format!("wrote {path}"))
}

export!(Hostile);
