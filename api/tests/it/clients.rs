//! Clients generated from the served spec by tools nobody here wrote: openapi-python-client
//! generates with no warning (no operation or schema dropped) and its client drives a live
//! server; openapi-typescript turns the committed spec into types without an error. Compiled
//! when `LUX_OPENAPI_PYTHON_CLIENT` and `LUX_OPENAPI_TYPESCRIPT` name the generators
//! (`scripts/test` installs them from PyPI and npm).

use std::path::Path;
use std::process::Command;

use crate::support::{Scratch, cli_tests, free_port, http_get, serve_on};

cli_tests!(a_generated_python_client_drives_a_live_server);

/// Runs a generator: it must succeed and print nothing but plain success.
fn generates(command: &mut Command) {
    let output = command.output().expect("run the generator");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    let complaints: Vec<&str> = text
        .lines()
        .filter(|line| {
            let line = line.to_ascii_lowercase();
            [
                "warning",
                "unable",
                "error",
                "cannot",
                "unsupported",
                "not be generated",
            ]
            .iter()
            .any(|word| line.contains(word))
        })
        .collect();
    assert_eq!(complaints, Vec::<&str>::new(), "generator output:\n{text}");
}

async fn a_generated_python_client_drives_a_live_server(scratch: &Scratch) {
    let key = scratch
        .ok(&[
            "apikey",
            "create",
            "--scope",
            "admin",
            "--name",
            "generated",
        ])
        .trim()
        .to_owned();
    let port = free_port();
    let _server = serve_on(scratch, port, &[]);
    let (status, spec) = http_get(port, "/api/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("openapi.json"), &spec).unwrap();
    // No formatter runs after generating: the client is used, not committed.
    std::fs::write(work.path().join("config.yaml"), "post_hooks: []\n").unwrap();

    let generator = std::env::var("LUX_OPENAPI_PYTHON_CLIENT")
        .expect("LUX_OPENAPI_PYTHON_CLIENT names openapi-python-client");
    generates(Command::new(&generator).current_dir(work.path()).args([
        "generate",
        "--path",
        "openapi.json",
        "--meta",
        "none",
        "--output-path",
        "lux_client",
        "--config",
        "config.yaml",
    ]));

    // The generator's own Python has what the generated client imports (httpx, attrs).
    let python = Path::new(&generator).with_file_name("python");
    let driver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/drive_python_client.py"
    );
    let output = Command::new(python)
        .args([
            driver,
            &work.path().to_string_lossy(),
            &format!("http://127.0.0.1:{port}"),
            &key,
        ])
        .output()
        .expect("run the generated client");
    assert!(
        output.status.success(),
        "the generated client failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn openapi_typescript_turns_the_spec_into_types() {
    let generator = std::env::var("LUX_OPENAPI_TYPESCRIPT")
        .expect("LUX_OPENAPI_TYPESCRIPT names openapi-typescript");
    let work = tempfile::tempdir().unwrap();
    let types = work.path().join("lux.d.ts");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    generates(Command::new(generator).args([spec, "--output", &types.to_string_lossy()]));
    let types = std::fs::read_to_string(types).unwrap();
    for operation in [
        "createSession",
        "appendStep",
        "ingest",
        "importRecords",
        "installPlugin",
    ] {
        assert!(
            types.contains(&format!("{operation}: {{")),
            "{operation} missing"
        );
    }
}
