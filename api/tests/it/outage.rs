//! A PostgreSQL outage under load. The test runs its own PostgreSQL cluster (initdb into a temp
//! dir, on a free port) so it can stop it without touching the server other tests use: while the
//! database is down Lux answers 503 with `Retry-After` (never hangs, never 500s), `/readyz` goes
//! red; when the database is back Lux recovers by itself, and every acknowledged write is there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, free_port, http_get, wait_until_healthy};

/// A private PostgreSQL cluster, run as the `postgres` user (the server refuses root).
struct Cluster {
    bin: PathBuf,
    data: tempfile::TempDir,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl Cluster {
    fn create() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .max()
            .unwrap();
        let data = tempfile::Builder::new()
            .prefix("lux-outage-")
            .tempdir_in("/tmp")
            .unwrap();
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(data.path())
            .status()
            .unwrap();
        let init = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(data.path().join("pg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(init.success(), "initdb failed");
        let cluster = Cluster {
            bin,
            data,
            port: free_port(),
        };
        cluster.start();
        cluster
    }

    fn ctl(&self, args: &[&str]) {
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data.path().join("pg"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.path().display()
        );
        self.ctl(&["-w", "-l", "/dev/null", "-o", &options, "start"]);
    }

    /// Like a crash or a pulled cable: no clean shutdown of the clients' connections.
    fn stop(&self) {
        self.ctl(&["-w", "-m", "immediate", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data.path().join("pg"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok();
    }
}

async fn write(http: &reqwest::Client, base: &str, n: u64) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/api/v1/sessions"))
        .json(&json!({"tool": "outage", "external_id": format!("outage-{n}")}))
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_a_503_and_lux_recovers_by_itself() {
    lux_core::llm::install_crypto_provider();
    let cluster = Cluster::create();
    let port = free_port();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_lux"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("LUX_DATABASE_URL", cluster.url())
            .env_remove("LUX_BIND")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_healthy(port);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut acknowledged = Vec::new();
    let mut n = 0;
    for _ in 0..20 {
        let response = write(&http, &base, n).await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
        acknowledged.push(n);
        n += 1;
    }

    cluster.stop();
    let down = Instant::now();
    let mut unavailable = 0;
    while down.elapsed() < Duration::from_secs(8) {
        let started = Instant::now();
        let response = write(&http, &base, n).await.expect("an answer, not a hang");
        let status = response.status().as_u16();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a request hung {:?}",
            started.elapsed()
        );
        match status {
            503 => {
                assert!(
                    response.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
                unavailable += 1;
            }
            201 => panic!("a write was acknowledged while the database was down"),
            other => panic!(
                "{other} while the database was down: {}",
                response.text().await.unwrap()
            ),
        }
        n += 1;
    }
    assert!(unavailable > 0);
    let (ready, _) = http_get(port, "/readyz").unwrap();
    assert_eq!(ready, 503, "readiness is red while the database is down");
    let (live, _) = http_get(port, "/healthz").unwrap();
    assert_eq!(live, 200, "the process itself is alive");

    cluster.start();
    let back = Instant::now();
    loop {
        if let Ok((200, _)) = http_get(port, "/readyz") {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "Lux did not recover"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovered_after = back.elapsed();
    let response = write(&http, &base, n).await.unwrap();
    assert_eq!(response.status().as_u16(), 201, "writes work again");
    acknowledged.push(n);

    for n in &acknowledged {
        let found: Value = http
            .get(format!("{base}/api/v1/sessions/outage-{n}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            found["external_id"],
            format!("outage-{n}"),
            "acknowledged write {n}"
        );
    }
    println!(
        "outage: {unavailable} writes answered 503 + Retry-After during 8 s down, none hung; \
         ready again {recovered_after:?} after PostgreSQL restarted; {} acknowledged writes all found",
        acknowledged.len()
    );
}
