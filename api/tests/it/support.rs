//! Running the built `lux` binary against a scratch database.

use std::io::{Read, Write};

use serde_json::Value;
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

/// A scratch database for one test, and the `lux` command pointed at it.
pub(crate) struct Scratch {
    pub(crate) url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn sqlite() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        Scratch {
            url: format!("sqlite://{}/data/lux.db", dir.path().display()),
            postgres_name: None,
            _dir: dir,
        }
    }

    #[cfg_attr(not(lux_postgres_tests), allow(dead_code))]
    pub(crate) async fn postgres() -> Scratch {
        let (url, name) = lux_core::testing::TestDb::create_postgres_database().await;
        Scratch {
            url,
            postgres_name: Some(name),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn lux(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lux"));
        command
            .env("LUX_DATABASE_URL", &self.url)
            .env_remove("LUX_BIND")
            .env_remove("LUX_OTLP_BIND")
            .env("LUX_DATA_DIR", self._dir.path());
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.lux().args(args).output().expect("run lux")
    }

    /// Runs and expects success; returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "lux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs and expects a one-line error; returns it.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "lux {args:?} should fail");
        let stderr = String::from_utf8(output.stderr).expect("UTF-8 error");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "one line of error, got: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        lines[0].to_owned()
    }

    pub(crate) async fn cleanup(self) {
        if let Some(name) = self.postgres_name {
            let server = std::env::var("LUX_TEST_DATABASE_URL").unwrap();
            lux_core::store::drop_postgres_database(&server, &name)
                .await
                .ok();
        }
    }
}

/// The real app, in this process, on `127.0.0.1:<free port>`; stopped when dropped.
pub(crate) struct AppServer {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AppServer {
    /// Sends the request; an error answer must have the error shape and never be a 5xx.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            assert!(value["code"].is_string(), "error shape: {text}");
            assert!(status < 500, "never a 500: {text}");
        }
        (status, value)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }
}

/// `lux` running as the commands run it (plugin host started, enabled plugins live), without a
/// compile cache.
pub(crate) async fn instance(lux: &lux_core::Lux) -> lux_api::instance::Instance {
    lux_api::instance::Instance::start(lux.clone(), None)
        .await
        .unwrap()
}

/// The app's state for `lux`, as `lux serve` builds it.
pub(crate) async fn app_state(lux: &lux_core::Lux, loopback: bool) -> lux_api::server::AppState {
    let policy = lux_api::rest::AuthPolicy::new(loopback);
    lux_api::server::AppState::new(&instance(lux).await, policy)
}

/// Serves `app` for `lux` (keyless, as on a fresh loopback server) over a real socket.
pub(crate) async fn serve_app(lux: &lux_core::Lux) -> AppServer {
    use lux_api::server::app;
    use poem::listener::{Acceptor, Listener, TcpListener};
    lux_core::llm::install_crypto_provider();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let state = app_state(lux, true).await;
    let task = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app(state)));
    AppServer {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        task,
    }
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process (a `lux serve`, a chromedriver) killed when the test ends, however it ends.
pub(crate) struct Server(pub(crate) std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// `lux serve` on `127.0.0.1:port` with `args` (e.g. `--demo`), once it answers `/healthz`.
pub(crate) fn serve_on(scratch: &Scratch, port: u16, args: &[&str]) -> Server {
    let server = Server(
        scratch
            .lux()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start lux serve"),
    );
    wait_until_healthy(port);
    server
}

pub(crate) fn wait_until_healthy(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok((200, _)) = http_get(port, "/healthz") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("lux serve did not become healthy on port {port}");
}

/// A plain HTTP/1.1 GET over a loopback socket: status code and body.
pub(crate) fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Declares each `async fn name(scratch: &Scratch)` as a test on SQLite and, when configured, PostgreSQL.
macro_rules! cli_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let scratch = crate::support::Scratch::sqlite();
                    super::$name(&scratch).await;
                    scratch.cleanup().await;
                }
            )*
        }
        #[cfg(lux_postgres_tests)]
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let scratch = crate::support::Scratch::postgres().await;
                    super::$name(&scratch).await;
                    scratch.cleanup().await;
                }
            )*
        }
    };
}
pub(crate) use cli_tests;

/// The value of one sample in the `/metrics` text of the server at `base`.
pub(crate) async fn metric(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the server at `base` has no step waiting for analysis (its `/metrics` gauge),
/// as a client that needs every finding before reading waits.
pub(crate) async fn wait_for_analysis(base: &str) {
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let depth = metric(&http, base, "lux_analysis_queue_depth").await;
        if depth == 0.0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analysis never caught up: {depth} steps waiting"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
