//! The dashboard in a real browser: headless Chromium driven over WebDriver (the system
//! `chromium` and `chromedriver`) against a real `lux serve` child on SQLite. Every page is
//! loaded on an empty database and on demo data, its figures checked against the API's; a step
//! written by another process appears in the open session view; and no request leaves the
//! machine — Chromium's proxy is a recorder that must see nothing, and every resource each page
//! loaded is from Lux's own origin. Screenshots land in `target/tmp/screenshots/` (or
//! `$LUX_ARTIFACTS_DIR`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use lux_core::{DatabaseOptions, Lux, NewStep, SessionRef};
use serde_json::{Value, json};

use crate::support::{Scratch, Server, free_port, http_get, serve_on};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A stand-in for the whole outside world: Chromium sends every non-loopback request here.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut head = [0u8; 2048];
                let read = stream.read(&mut head).unwrap_or(0);
                let request = String::from_utf8_lossy(&head[..read]);
                log.lock()
                    .unwrap()
                    .push(request.lines().next().unwrap_or_default().to_owned());
                stream
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .ok();
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Hosts Chromium calls by itself, with no page open (component and time updates, sign-in, the
/// Debian build's default search engine preconnect), despite the flags that silence the rest.
/// The dashboard names none of them; every resource a page loads is also checked to be Lux's own.
const BROWSER_OWN_HOSTS: [&str; 6] = [
    "update.googleapis.com",
    "accounts.google.com",
    "start.duckduckgo.com",
    "clients2.google.com",
    "content-autofill.googleapis.com",
    "optimizationguide-pa.googleapis.com",
];

/// The host a proxied request line names: `CONNECT host:443 …` or `GET http://host/… …`.
fn host_of(request: &str) -> String {
    let target = request.split_whitespace().nth(1).unwrap_or_default();
    let target = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    let authority = target.split('/').next().unwrap_or_default();
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("LUX_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser(proxy_port: u16) -> (Client, Server, tempfile::TempDir) {
    lux_core::llm::install_crypto_provider();
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(program).exists(),
            "{program} is missing: the dashboard's browser tests need Debian's `chromium` and \
             `chromium-driver` packages (`apt-get install chromium chromium-driver`; .ci/run does it)"
        );
    }
    let port = free_port();
    let driver = Server(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = reqwest::get(format!("http://127.0.0.1:{port}/status")).await;
        if let Ok(status) = status
            && let Ok(body) = status.json::<Value>().await
            && body["value"]["ready"] == json!(true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-extensions",
                "--disable-client-side-phishing-detection", "--disable-domain-reliability",
                "--no-pings", "--metrics-recording-only", "--no-default-browser-check",
                "--disable-search-engine-choice-screen", "--allow-browser-signin=false",
                "--homepage=about:blank",
                // Chromium's own services, which would call Google whatever page is open.
                "--disable-features=AutofillServerCommunication,NetworkTimeServiceQuerying,\
                 OptimizationHints,OptimizationGuideModelDownloading,MediaRouter,Translate,\
                 CertificateTransparencyComponentUpdater,SafeBrowsing,InterestFeedContentSuggestions,\
                 PrivacySandboxSettings4,HttpsUpgrades,SearchEnginePreconnector",
                format!("--proxy-server=http://127.0.0.1:{proxy_port}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": {
                "search.suggest_enabled": false,
                "net.network_prediction_options": 2,
                "autofill.profile_enabled": false,
                "autofill.credit_card_enabled": false,
                "signin.allowed": false,
            },
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (client, driver, profile)
}

/// Every resource the current page loaded came from `origin`.
async fn assert_only_own_resources(client: &Client, origin: &str) {
    let names = client
        .execute(
            "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));",
            vec![],
        )
        .await
        .unwrap();
    for name in names.as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(name.starts_with(origin), "{name} is not from {origin}");
    }
}

/// The text of the first element matching `css`; retried for a moment, since the live script may
/// replace the element between finding and reading it.
async fn text(client: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match read {
            Ok(text) => return text,
            Err(error) if Instant::now() > deadline => panic!("no text for {css}: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

fn group(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let scratch = Scratch::sqlite();
    let port = free_port();
    let _server = serve_on(&scratch, port, &[]);
    let origin = format!("http://127.0.0.1:{port}");
    let recorder = Recorder::start();
    let (client, _driver, _profile) = browser(recorder.port).await;
    let http = reqwest::Client::new();

    // An empty database: every page says so instead of failing.
    for (path, empty) in [
        ("/", "No sessions yet"),
        ("/analytics", "Nothing to chart yet"),
        ("/compare", "Comparing needs two sessions"),
        ("/patterns", "No pattern passes the test"),
        ("/plugins", "No plugins installed"),
    ] {
        client.goto(&format!("{origin}{path}")).await.unwrap();
        let body = text(&client, "main").await;
        assert!(body.contains(empty), "{path}: {body}");
        assert_only_own_resources(&client, &origin).await;
    }
    shoot(&client, "empty-sessions").await;

    // Demo data written by another process.
    let filled = scratch.ok(&["demo", "--sessions", "24", "--seed", "3"]);
    assert!(!filled.is_empty());
    let sessions = get_json(&http, format!("{origin}/api/v1/sessions?limit=50")).await;
    let newest = &sessions["items"][0];
    client.goto(&format!("{origin}/")).await.unwrap();
    let first_row = text(&client, "table.sessions tbody tr td a").await;
    assert_eq!(first_row, newest["title"].as_str().unwrap());
    assert_only_own_resources(&client, &origin).await;
    shoot(&client, "sessions").await;

    let overview = get_json(&http, format!("{origin}/api/v1/analytics/overview")).await;
    client.goto(&format!("{origin}/analytics")).await.unwrap();
    assert_eq!(
        text(&client, "dd[data-figure=steps]").await,
        group(overview["totals"]["steps"].as_i64().unwrap())
    );
    assert_eq!(
        text(&client, "dd[data-figure=sessions]").await,
        group(overview["totals"]["sessions"].as_i64().unwrap())
    );
    assert!(
        client
            .find(Locator::Css("figure.chart svg path.line"))
            .await
            .is_ok()
    );
    assert_only_own_resources(&client, &origin).await;
    shoot(&client, "analytics").await;

    let (a, b) = (
        sessions["items"][0]["id"].as_str().unwrap(),
        sessions["items"][1]["id"].as_str().unwrap(),
    );
    client
        .goto(&format!("{origin}/compare?a={a}&b={b}"))
        .await
        .unwrap();
    assert!(
        text(&client, "table.compare-figures")
            .await
            .contains("Steps")
    );
    assert_only_own_resources(&client, &origin).await;
    shoot(&client, "compare").await;

    client.goto(&format!("{origin}/patterns")).await.unwrap();
    assert!(text(&client, "main").await.contains("sessions examined"));
    assert_only_own_resources(&client, &origin).await;

    client.goto(&format!("{origin}/plugins")).await.unwrap();
    assert_only_own_resources(&client, &origin).await;

    // A demo session's view, and its synthesis slider moved back a version by the script.
    let with_synthesis = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["id"].as_str().unwrap().to_owned())
        .find(|id| {
            let (_, body) =
                http_get(port, &format!("/api/v1/sessions/{id}/synthesis/versions")).unwrap();
            body.matches("\"version\":").count() >= 2
        })
        .expect("a demo session with two synthesis versions");
    let summary = get_json(
        &http,
        format!("{origin}/api/v1/sessions/{with_synthesis}/summary"),
    )
    .await;
    client
        .goto(&format!("{origin}/sessions/{with_synthesis}"))
        .await
        .unwrap();
    assert_eq!(
        text(&client, "dd[data-figure=steps]").await,
        group(summary["steps"].as_i64().unwrap())
    );
    let latest = text(&client, "b[data-figure=version]").await;
    client
        .execute(
            "const range = document.querySelector('#version'); range.value = 1; \
             range.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while text(&client, "b[data-figure=version]").await != "1" {
        assert!(
            Instant::now() < deadline,
            "the slider did not show version 1 (was {latest})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("version=1")
    );
    assert_only_own_resources(&client, &origin).await;

    // A live session: written to by this test process, straight into the database file, while
    // the page is open in the browser.
    let created: Value = http
        .post(format!("{origin}/api/v1/sessions"))
        .json(&json!({"tool": "sequential_thinking", "title": "Watched live from the browser"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let live_id = created["id"].as_str().unwrap().to_owned();
    let writer = Lux::open(DatabaseOptions::new(scratch.url.clone()))
        .await
        .unwrap();
    let reference = SessionRef::Id(live_id.parse().unwrap());
    let project = writer.default_project();
    let step = |content: &str| NewStep {
        kind: "reasoning".into(),
        content: content.into(),
        ..NewStep::default()
    };
    writer
        .append_step(
            project,
            &reference,
            step("The first thought, before the page opened."),
        )
        .await
        .unwrap();
    client
        .goto(&format!("{origin}/sessions/{live_id}"))
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-live-status].on"))
        .await
        .expect("the live feed connects");
    let mut delays = Vec::new();
    for number in 2..=4 {
        let content =
            format!("Thought {number}, written by another process while the page is open.");
        let written = Instant::now();
        writer
            .append_step(project, &reference, step(&content))
            .await
            .unwrap();
        let selector = format!("#step-{number}");
        loop {
            if let Ok(element) = client.find(Locator::Css(&selector)).await
                && let Ok(shown) = element.text().await
            {
                assert!(shown.contains(&content), "{shown}");
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "step {number} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        delays.push(written.elapsed());
    }
    println!("live step delays: {delays:?}");
    for delay in &delays {
        assert!(
            *delay < Duration::from_secs(1),
            "a step took {delay:?} to appear: {delays:?}"
        );
    }
    assert_eq!(text(&client, "dd[data-figure=steps]").await, "4");
    assert_only_own_resources(&client, &origin).await;
    shoot(&client, "session-live").await;

    client
        .goto(&format!("{origin}/sessions/{with_synthesis}"))
        .await
        .unwrap();
    shoot(&client, "session-view").await;

    // Chromium's own services still call out whatever page is open; nothing else may have.
    let outside: Vec<String> = recorder
        .seen()
        .into_iter()
        .filter(|request| !request.is_empty())
        .filter(|request| !BROWSER_OWN_HOSTS.contains(&host_of(request).as_str()))
        .collect();
    assert!(outside.is_empty(), "requests left the machine: {outside:?}");
    // And the recorder does see what leaves: a page on another host is caught.
    client.goto("http://outside.example/").await.ok();
    assert!(
        recorder
            .seen()
            .iter()
            .any(|request| host_of(request) == "outside.example"),
        "the recorder must see a request to another host: {:?}",
        recorder.seen()
    );
    client.close().await.unwrap();
}
