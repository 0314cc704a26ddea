//! `docs/plugins.md` run as written, so the guide cannot rot: every `sh` block in order as one bash
//! script in an empty folder (a block titled `file=PATH` is written to PATH at its place), with the
//! `lux` binary of this build on `PATH`, then every line of its `text` blocks looked for in what
//! the script printed, and the findings it promises looked for in the database.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use lux_core::*;

/// What the guide asks to run and what it says will be printed.
#[derive(Debug, Default)]
struct Guide {
    script: String,
    expected_lines: Vec<String>,
}

/// Splits the Markdown into fenced blocks and keeps those the guide runs or promises.
fn parse(markdown: &str) -> Guide {
    let mut guide = Guide::default();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut body = String::new();
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let mut words = info.split_whitespace();
        let language = words.next().unwrap_or("");
        let file = words.find_map(|word| word.strip_prefix("file="));
        match (language, file) {
            (_, Some(path)) => {
                assert!(
                    !body.contains("LUX_GUIDE_EOF"),
                    "a file block may not contain the heredoc marker"
                );
                guide.script.push_str(&format!(
                    "cat > '{path}' <<'LUX_GUIDE_EOF'\n{body}LUX_GUIDE_EOF\n"
                ));
            }
            ("sh", None) => guide.script.push_str(&body),
            ("text", None) => guide.expected_lines.extend(
                body.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    guide
}

#[test]
fn guide_parser_keeps_shell_files_and_expected_output() {
    let guide = parse(
        "intro\n```sh\necho hi\n```\n```rust file=src/lib.rs\nfn main() {}\n```\n\
         ```text\nhi\n\n```\n```wit\nignored\n```\n",
    );
    assert_eq!(
        guide.script,
        "echo hi\ncat > 'src/lib.rs' <<'LUX_GUIDE_EOF'\nfn main() {}\nLUX_GUIDE_EOF\n"
    );
    assert_eq!(guide.expected_lines, ["hi"]);
}

#[tokio::test]
async fn plugins_guide_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let markdown = std::fs::read_to_string(root.join("docs/plugins.md")).unwrap();
    let guide = parse(&markdown);
    assert!(
        guide.script.contains("lux plugin install") && !guide.expected_lines.is_empty(),
        "the guide lost its commands"
    );

    // The server's port: the guide's 7700, unless taken by another test or server here.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let script = format!(
        "set -euo pipefail\n{}",
        guide
            .script
            .replace("127.0.0.1:7700", &format!("127.0.0.1:{port}"))
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guide.sh"), &script).unwrap();
    let data_dir = dir.path().join("lux-data");

    // The Python part's `pip` and `componentize-py`: the virtualenv the test support installs.
    let componentize = lux_plugins::testing::componentize_py();
    let lux = Path::new(env!("CARGO_BIN_EXE_lux"));
    let path = std::env::join_paths(
        [
            lux.parent().unwrap().to_path_buf(),
            componentize.parent().unwrap().to_path_buf(),
        ]
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();

    // A bound on the whole guide, so a step that waits forever (a server that never logs
    // readiness) fails the test instead of hanging it.
    let mut command = Command::new("timeout");
    command
        .args(["1200", "bash", "guide.sh"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PATH", path)
        .env("LUX_SRC", root.canonicalize().unwrap())
        .env("LUX_DATA_DIR", &data_dir)
        .env("LUX_BIND", format!("127.0.0.1:{port}"))
        .env_remove("LUX_DATABASE_URL")
        .env_remove("LUX_LOG")
        // The guide's `target/wasm32-wasip2/...` paths assume cargo's defaults.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    // Its own process group, so a `lux serve &` left behind by a failing step can be stopped.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().unwrap();
    let group = child.id();
    // Read both pipes on threads: a server left running by a failed step would hold them open,
    // so the group is stopped once bash exits, and only then are the readers joined.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{group}")])
        .output();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let serve_log =
        std::fs::read_to_string(dir.path().join("hand-waving/lux-serve.log")).unwrap_or_default();
    assert!(
        status.success(),
        "the guide failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n\
         --- lux serve\n{serve_log}"
    );
    for line in &guide.expected_lines {
        assert!(
            stdout.lines().any(|printed| printed.trim() == line),
            "the guide promises {line:?}; it printed:\n{stdout}"
        );
    }
    // The analytics table in the terminal has the plugin's row too.
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("plugin.hand-waving") && !line.starts_with('{')),
        "no plugin.hand-waving row in `lux analytics`:\n{stdout}"
    );

    let lux = Lux::open(DatabaseOptions::new(format!(
        "sqlite://{}/lux.db",
        data_dir.display()
    )))
    .await
    .unwrap();
    let installed: Vec<(String, bool)> = lux
        .list_plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|version| (version.name, version.enabled))
        .collect();
    assert_eq!(
        installed,
        [
            ("hand-waving".to_owned(), true),
            ("unattributed-authority".to_owned(), false)
        ]
    );
}

/// Reads a pipe to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
