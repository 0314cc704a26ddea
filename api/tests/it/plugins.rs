//! The plugin registry over real HTTP on a loopback port and through the CLI, with the example and
//! hostile components lux-plugins builds: install, enable, findings on new steps and in analytics,
//! runs on history, a miner's stored patterns, and a hostile plugin that cannot stop the server.

use crate::support::{AppServer as Server, serve_app as serve};
use std::time::{Duration, Instant};

use lux_core::demo::DemoOptions;
use lux_core::*;
use lux_plugins::testing::example_wasm;
use serde_json::{Value, json};

lux_core::storage_tests!(
    absolute_claims_installs_and_runs_on_writes_and_history,
    unsupported_figures_finds_reused_guesses_on_writes_and_history,
    miner_patterns_are_stored_and_listed,
    a_miner_on_lux_plugins_0_2_gets_the_topics,
    hostile_loop_is_stopped_and_recorded_while_writes_go_on,
    uploads_may_weigh_up_to_the_plugin_limit,
    lookups_with_nul_find_nothing,
);

/// PostgreSQL refuses NUL even inside a query; a NUL in a filter or a plugin name (found by the
/// long schemathesis run: `GET /patterns?kind=…%00…` was a 500) finds nothing instead.
async fn lookups_with_nul_find_nothing(lux: &Lux) {
    let server = serve(lux).await;
    for path in ["/api/v1/patterns?kind=a%00b", "/api/v1/patterns?miner=%00"] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["items"], json!([]), "{path}");
        assert_eq!(body["next_cursor"], json!(null), "{path}");
    }
    for path in ["/api/v1/plugins/a%00b", "/api/v1/plugins/a%00b/runs"] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let patch = server
        .client
        .patch(format!("{}/api/v1/plugins/a%00b", server.base))
        .json(&json!({"enabled": false}));
    let (status, body) = server.send(patch).await;
    assert_eq!(status, 404, "{body}");
    let delete = server
        .client
        .delete(format!("{}/api/v1/plugins/a%00b", server.base));
    let (status, body) = server.send(delete).await;
    assert_eq!(status, 404, "{body}");
}

/// A component may be up to 32 MiB over REST (a Python one is ~18 MB), not the 10 MiB of other
/// bodies; above that the answer is a 413 naming the limit, before the body is read.
async fn uploads_may_weigh_up_to_the_plugin_limit(lux: &Lux) {
    let server = serve(lux).await;
    let upload = |bytes: usize| {
        server
            .client
            .post(format!("{}/api/v1/plugins", server.base))
            .header("content-type", "application/wasm")
            .body(vec![0u8; bytes])
            .send()
    };
    let big = upload(12 << 20).await.unwrap();
    assert_eq!(big.status().as_u16(), 400, "read and judged as a component");
    // Too big: refused on the declared length alone, so only the headers are sent.
    let refused = |path: &'static str, length: usize| {
        let address = server.base.trim_start_matches("http://").to_owned();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        }
    };
    let answer = refused("/api/v1/plugins", (32 << 20) + 1).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(&format!("\"limit_bytes\":{}", 32 << 20)),
        "{answer}"
    );
    // Other bodies keep the 10 MiB limit.
    let answer = refused("/api/v1/ingest", (10 << 20) + 1).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(&format!("\"limit_bytes\":{}", 10 << 20)),
        "{answer}"
    );
}

impl Server {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.client
                .patch(format!("{}{path}", self.base))
                .json(&body),
        )
        .await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    async fn install(&self, wasm: Vec<u8>) -> (u16, Value) {
        self.send(
            self.client
                .post(format!("{}/api/v1/plugins", self.base))
                .header("content-type", "application/wasm")
                .body(wasm),
        )
        .await
    }

    async fn session(&self, tool: &str) -> String {
        let (status, session) = self.post("/api/v1/sessions", json!({ "tool": tool })).await;
        assert_eq!(status, 201, "{session}");
        session["id"].as_str().unwrap().to_owned()
    }

    async fn step(&self, session: &str, content: &str) -> Value {
        self.step_as(session, "analysis", content).await
    }

    async fn step_as(&self, session: &str, kind: &str, content: &str) -> Value {
        let (status, step) = self
            .post(
                &format!("/api/v1/sessions/{session}/steps"),
                json!({ "kind": kind, "content": content }),
            )
            .await;
        assert_eq!(status, 201, "{step}");
        step
    }

    /// Findings of `detector` in a session over REST: (step number, evidence text, start, end).
    async fn findings_of(&self, session: &str, detector: &str) -> Vec<(i64, String, i64, i64)> {
        let (status, steps) = self
            .get(&format!("/api/v1/sessions/{session}/steps?limit=1000"))
            .await;
        assert_eq!(status, 200, "{steps}");
        let (status, found) = self
            .get(&format!("/api/v1/sessions/{session}/findings"))
            .await;
        assert_eq!(status, 200, "{found}");
        let number_of = |step_id: &Value| {
            steps["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|step| step["id"] == *step_id)
                .map(|step| step["step_number"].as_i64().unwrap())
                .unwrap_or_else(|| panic!("finding on an unknown step {step_id}"))
        };
        let mut out: Vec<_> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["detector"] == detector)
            .map(|f| {
                (
                    number_of(&f["step_id"]),
                    f["evidence_text"].as_str().unwrap_or_default().to_owned(),
                    f["evidence_start"].as_i64().unwrap(),
                    f["evidence_end"].as_i64().unwrap(),
                )
            })
            .collect();
        out.sort_by_key(|(step, _, start, _)| (*step, *start));
        out
    }

    /// The `findings` of `key` in `/analytics/bias-rates?group_by=detector` (0 when absent).
    async fn detector_rate_findings(&self, key: &str) -> u64 {
        let (status, rates) = self
            .get("/api/v1/analytics/bias-rates?group_by=detector")
            .await;
        assert_eq!(status, 200, "{rates}");
        rates["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["key"] == key)
            .map_or(0, |row| row["findings"].as_u64().unwrap())
    }
}

const TEXT: &str = "The cache is always warm after boot. It never fails — guaranteed. \
                    The eviction might sometimes always lag.";

/// The unhedged absolutes of `TEXT`, found by hand: sentence 3 hedges with "might".
fn expected_evidence() -> Vec<&'static str> {
    vec!["always", "never", "guaranteed"]
}

/// A custom section named `notes` with no payload: valid at the end of any component.
fn notes_section() -> Vec<u8> {
    vec![0, 6, 5, b'n', b'o', b't', b'e', b's']
}

const DETECTOR: &str = "plugin.absolute-claims";

/// Evidence texts of the plugin's stored findings in a session, in step and text order.
async fn plugin_evidence(lux: &Lux, session: &str) -> Vec<String> {
    let reference = SessionRef::Id(session.parse().unwrap());
    let mut findings: Vec<Finding> = lux
        .list_findings(lux.default_project(), &reference)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.detector == DETECTOR)
        .collect();
    findings.sort_by_key(|f| (f.created_at, f.evidence.map(|s| s.start)));
    findings
        .into_iter()
        .map(|f| f.evidence_text.unwrap_or_default())
        .collect()
}

async fn absolute_claims_installs_and_runs_on_writes_and_history(lux: &Lux) {
    let server = serve(lux).await;

    // A session written before the plugin exists has no plugin findings.
    let history = server.session("before").await;
    server.step(&history, TEXT).await;
    assert!(plugin_evidence(lux, &history).await.is_empty());

    // Refused components: the loader's own words, as a 400.
    let (status, error) = server.install(b"not wasm at all".to_vec()).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("WebAssembly"),
        "{error}"
    );
    let (status, error) = server.install(example_wasm("wrong-version")).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("lux:plugins@"),
        "{error}"
    );
    let (status, listed) = server.get("/api/v1/plugins").await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"], json!([]), "nothing refused is stored");

    // Install, then the same bytes again: 201 then 200, one version.
    let wasm = example_wasm("absolute-claims");
    let (status, installed) = server.install(wasm.clone()).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["created"], true);
    assert_eq!(installed["plugin"]["name"], "absolute-claims");
    assert_eq!(installed["plugin"]["kind"], "detector");
    assert_eq!(installed["plugin"]["enabled"], false);
    assert_eq!(installed["version"]["size_bytes"], wasm.len() as u64);
    let (status, again) = server.install(wasm).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], false);
    // Other bytes under the same name and version (here: a custom section appended, which changes
    // nothing the plugin does) are a conflict: a new build needs a new version.
    let mut rebuilt = notes_section();
    rebuilt.splice(0..0, example_wasm("absolute-claims"));
    let (status, clash) = server.install(rebuilt).await;
    assert_eq!(status, 409, "{clash}");
    assert!(
        clash["message"]
            .as_str()
            .unwrap()
            .contains("different bytes"),
        "{clash}"
    );
    let (_, shown) = server.get("/api/v1/plugins/absolute-claims").await;
    assert_eq!(shown["versions"].as_array().unwrap().len(), 1);
    assert_eq!(shown["active_version"], "0.1.0");

    // Installed but disabled: a new step gets no plugin finding.
    let live = server.session("live").await;
    server.step(&live, TEXT).await;
    assert!(plugin_evidence(lux, &live).await.is_empty());

    let (status, enabled) = server
        .patch(
            "/api/v1/plugins/absolute-claims",
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["enabled"], true);

    // Enabled: the next step write runs it like a built-in.
    server.step(&live, TEXT).await;
    assert_eq!(plugin_evidence(lux, &live).await, expected_evidence());
    let (status, found) = server
        .get(&format!("/api/v1/sessions/{live}/findings"))
        .await;
    assert_eq!(status, 200, "{found}");
    let over_rest = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["detector"] == DETECTOR)
        .count();
    assert_eq!(over_rest, expected_evidence().len());

    // …and in analytics, as a recount of the raw findings by detector.
    let (status, rates) = server
        .get("/api/v1/analytics/bias-rates?group_by=detector")
        .await;
    assert_eq!(status, 200, "{rates}");
    let row = rates["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == DETECTOR)
        .unwrap_or_else(|| panic!("no {DETECTOR} row: {rates}"));
    let stored =
        plugin_evidence(lux, &live).await.len() + plugin_evidence(lux, &history).await.len();
    assert_eq!(row["findings"], stored as u64);

    // On history: the old session gets its findings, and a rerun replaces rather than adds.
    for _ in 0..2 {
        let (status, run) = server
            .post(
                "/api/v1/plugins/absolute-claims/run",
                json!({ "session_id": history }),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["outcome"], "ok");
        assert_eq!(run["sessions"], 1);
        assert_eq!(run["steps"], 1);
        assert_eq!(run["findings"], expected_evidence().len() as u64);
        assert_eq!(plugin_evidence(lux, &history).await, expected_evidence());
    }
    let (status, runs) = server.get("/api/v1/plugins/absolute-claims/runs").await;
    assert_eq!(status, 200, "{runs}");
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["session_id"] == history.as_str()
        && r["outcome"] == "ok"
        && r["produced"] == expected_evidence().len() as u64));

    // Configuration is checked against the plugin's schema; a valid one takes effect at once.
    let (status, error) = server
        .patch(
            "/api/v1/plugins/absolute-claims",
            json!({ "config": { "extra_terms": "obviously" } }),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("extra_terms"),
        "{error}"
    );
    let (status, configured) = server
        .patch(
            "/api/v1/plugins/absolute-claims",
            json!({ "config": { "extra_terms": ["obviously"] } }),
        )
        .await;
    assert_eq!(status, 200, "{configured}");
    let fresh = server.session("configured").await;
    server.step(&fresh, "The fix is obviously right.").await;
    assert_eq!(plugin_evidence(lux, &fresh).await, ["obviously"]);

    // Bad requests are 4xx naming the problem.
    let (status, _) = server
        .post("/api/v1/plugins/absolute-claims/run", json!({}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .post("/api/v1/plugins/nothing-here/run", json!({ "all": true }))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .delete("/api/v1/plugins/absolute-claims?version=9.9.9")
        .await;
    assert_eq!(status, 404);

    // Disabled: writes stop running it. Removed: gone, its findings stay.
    server
        .patch(
            "/api/v1/plugins/absolute-claims",
            json!({ "enabled": false }),
        )
        .await;
    let after = server.session("after").await;
    server.step(&after, TEXT).await;
    assert!(plugin_evidence(lux, &after).await.is_empty());
    let (status, removed) = server.delete("/api/v1/plugins/absolute-claims").await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["removed"], 1);
    let (status, _) = server.get("/api/v1/plugins/absolute-claims").await;
    assert_eq!(status, 404);
    assert_eq!(plugin_evidence(lux, &history).await, expected_evidence());
}

/// A debugging session: step 2 guesses two figures, step 3 measures one.
const GUESSED: [(&str, &str); 3] = [
    (
        "thought",
        "Checkout latency doubled after the last release; users report timeouts at peak.",
    ),
    (
        "analysis",
        "Most of it is probably the database: I'd say 80% of the request time is spent in \
         queries, and the cache hit rate is around 35 %.",
    ),
    (
        "analysis",
        "Tracing 1,000 requests at the load balancer measured a p99 of 420 ms.",
    ),
];

/// Step 4 builds on both guesses (after a multi-byte dash) and on the measured figure.
const REUSE: &str = "Since 80% of the time is in queries — not the network — caching them will \
                     cut the p99 from 420 ms to well under 150 ms. With a 35 % hit rate there is \
                     plenty of room.";

/// The findings a reader expects on step 4 of `GUESSED` + `REUSE`, located by hand.
fn expected_figures() -> Vec<(i64, String, i64, i64)> {
    ["80%", "35 %"]
        .into_iter()
        .map(|figure| {
            let start = REUSE.find(figure).unwrap() as i64;
            (4, figure.to_owned(), start, start + figure.len() as i64)
        })
        .collect()
}

const FIGURES: &str = "plugin.unsupported-figures";

async fn unsupported_figures_finds_reused_guesses_on_writes_and_history(lux: &Lux) {
    let server = serve(lux).await;
    let write_session = |name: &'static str| {
        let server = &server;
        async move {
            let session = server.session(name).await;
            for (kind, content) in GUESSED {
                server.step_as(&session, kind, content).await;
            }
            server.step(&session, REUSE).await;
            session
        }
    };
    let history = write_session("before").await;

    let (status, installed) = server.install(example_wasm("unsupported-figures")).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["plugin"]["name"], "unsupported-figures");
    assert_eq!(installed["plugin"]["detector_name"], FIGURES);
    let (status, _) = server
        .patch(
            "/api/v1/plugins/unsupported-figures",
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(status, 200);

    // Live: nothing on the steps that state the figures, both guesses on the step reusing them.
    let live = write_session("live").await;
    assert_eq!(server.findings_of(&live, FIGURES).await, expected_figures());

    // The same reasoning with its figures sourced gives nothing.
    let sourced = server.session("sourced").await;
    server
        .step_as(
            &sourced,
            "thought",
            "Checkout latency doubled after the release.",
        )
        .await;
    server
        .step(
            &sourced,
            "Profiling 1,000 requests showed 80% of the request time in queries; the cache hit \
             rate is 35 % according to the dashboard.",
        )
        .await;
    server.step(&sourced, REUSE).await;
    assert_eq!(server.findings_of(&sourced, FIGURES).await, vec![]);

    // Analytics counts them by detector.
    assert_eq!(server.detector_rate_findings(FIGURES).await, 2);

    // On history: the session written before the install gets the same findings.
    assert_eq!(server.findings_of(&history, FIGURES).await, vec![]);
    let (status, run) = server
        .post(
            "/api/v1/plugins/unsupported-figures/run",
            json!({ "session_id": history }),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "ok");
    assert_eq!(run["steps"], 4);
    assert_eq!(run["findings"], 2);
    assert_eq!(
        server.findings_of(&history, FIGURES).await,
        expected_figures()
    );
    assert_eq!(server.detector_rate_findings(FIGURES).await, 4);
}

async fn miner_patterns_are_stored_and_listed(lux: &Lux) {
    let project = lux.default_project();
    let options = DemoOptions {
        sessions: 12,
        seed: 7,
    };
    lux.fill_demo(project, &options).await.unwrap();
    let server = serve(lux).await;
    let (status, installed) = server.install(example_wasm("recurring-signals")).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["plugin"]["kind"], "miner");

    // What the miner should find, recounted from the digests: signals in at least 2 sessions.
    let digests = lux
        .session_digests(project, &SessionFilter::default(), 500)
        .await
        .unwrap();
    let mut expected: std::collections::BTreeMap<String, usize> = Default::default();
    for digest in &digests {
        let labels: std::collections::BTreeSet<&String> = digest
            .bias_counts
            .iter()
            .chain(&digest.monitor_counts)
            .filter(|(_, count)| **count > 0)
            .map(|(label, _)| label)
            .collect();
        for label in labels {
            *expected.entry(label.clone()).or_default() += 1;
        }
    }
    expected.retain(|_, sessions| *sessions >= 2);
    assert!(!expected.is_empty(), "the demo data has recurring signals");

    let (status, run) = server
        .post(
            "/api/v1/plugins/recurring-signals/run",
            json!({ "all": true }),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "ok");
    assert_eq!(run["sessions"], digests.len() as u64);
    assert_eq!(run["patterns"], expected.len() as u64);

    let (status, patterns) = server
        .get("/api/v1/patterns?miner=plugin.recurring-signals")
        .await;
    assert_eq!(status, 200, "{patterns}");
    let listed: std::collections::BTreeMap<String, usize> = patterns["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["kind"], "recurring_signal");
            assert_eq!(
                p["support"].as_u64().unwrap() as usize,
                p["session_ids"].as_array().unwrap().len()
            );
            (
                p["data"]["signal"].as_str().unwrap().to_owned(),
                p["support"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(listed, expected);

    // A miner looks at a set of sessions, never one.
    let one = digests[0].session_id.0;
    let (status, error) = server
        .post(
            "/api/v1/plugins/recurring-signals/run",
            json!({ "session_id": one }),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    let (_, runs) = server.get("/api/v1/plugins/recurring-signals/runs").await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);
    assert_eq!(runs["items"][0]["produced"], expected.len() as u64);
}

/// A miner built on `lux:plugins@0.2` receives each session's topic as Lux's own mining names it:
/// what `topic-signals` stores is recounted here from the digests and their topics.
async fn a_miner_on_lux_plugins_0_2_gets_the_topics(lux: &Lux) {
    use lux_core::patterns::planted;
    let project = lux.default_project();
    // A generated history where one topic's sessions carry anchoring far more often.
    let history = planted::generate(planted::TopicSet::Heldout, 1, true).unwrap();
    // Stored as written, findings and all, without analysing it again.
    let quiet = lux
        .clone()
        .with_detectors(lux_core::detect::DetectorRegistry::empty());
    planted::store(&quiet, project, &history).await.unwrap();
    let server = serve(lux).await;
    let (status, installed) = server.install(example_wasm("topic-signals")).await;
    assert_eq!(status, 201, "{installed}");
    let (min_support, min_share, min_lift) = (3, 0.3, 2.0);
    let config = json!({"min_support": min_support, "min_share": min_share, "min_lift": min_lift});
    let (status, configured) = server
        .patch("/api/v1/plugins/topic-signals", json!({ "config": config }))
        .await;
    assert_eq!(status, 200, "{configured}");

    let digests = lux
        .session_digests(project, &SessionFilter::default(), 500)
        .await
        .unwrap();
    let signals = |digest: &lux_core::detect::SessionDigest| -> std::collections::BTreeSet<String> {
        digest
            .bias_counts
            .iter()
            .chain(&digest.monitor_counts)
            .filter(|(_, count)| **count > 0)
            .map(|(label, _)| label.clone())
            .collect()
    };
    let mut expected = std::collections::BTreeSet::new();
    let topics: std::collections::BTreeSet<&String> =
        digests.iter().filter_map(|d| d.topic.as_ref()).collect();
    assert!(!topics.is_empty(), "the demo sessions fall into topics");
    let all_signals: std::collections::BTreeSet<String> =
        digests.iter().flat_map(signals).collect();
    for topic in &topics {
        let (inside, outside): (Vec<_>, Vec<_>) = digests
            .iter()
            .partition(|d| d.topic.as_ref() == Some(*topic));
        for signal in &all_signals {
            let shows = |ds: &[&lux_core::detect::SessionDigest]| {
                ds.iter().filter(|d| signals(d).contains(signal)).count()
            };
            let (hits, other_hits) = (shows(&inside), shows(&outside));
            let share = hits as f64 / inside.len() as f64;
            let elsewhere = if outside.is_empty() {
                0.0
            } else {
                other_hits as f64 / outside.len() as f64
            };
            if hits >= min_support && share >= min_share && share >= min_lift * elsewhere {
                expected.insert((topic.to_string(), signal.clone(), hits as u64));
            }
        }
    }
    assert!(
        !expected.is_empty(),
        "a signal is concentrated in some topic"
    );

    let (status, run) = server
        .post("/api/v1/plugins/topic-signals/run", json!({ "all": true }))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "ok", "{run}");
    let (status, patterns) = server
        .get("/api/v1/patterns?miner=plugin.topic-signals&limit=100")
        .await;
    assert_eq!(status, 200, "{patterns}");
    assert!(patterns.get("next_cursor").is_none(), "one page holds them");
    let listed: std::collections::BTreeSet<(String, String, u64)> = patterns["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["data"]["topic"].as_str().unwrap().to_owned(),
                p["data"]["signal"].as_str().unwrap().to_owned(),
                p["support"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, expected);

    // Listed with Lux's own patterns, each set of sessions is stated once.
    let (status, all) = server.get("/api/v1/patterns?limit=100").await;
    assert_eq!(status, 200, "{all}");
    let items = all["items"].as_array().unwrap();
    let sessions = |item: &Value| -> std::collections::BTreeSet<String> {
        item["session_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect()
    };
    for (i, first) in items.iter().enumerate() {
        for second in &items[i + 1..] {
            let (a, b) = (sessions(first), sessions(second));
            let overlap = a.intersection(&b).count() as f64 / a.union(&b).count().max(1) as f64;
            assert!(
                overlap < 0.7,
                "{} and {} share {overlap:.2}",
                first["title"],
                second["title"]
            );
        }
    }
    // The planted topic's anchoring, found by Lux and by the plugin, is one pattern.
    let folded = items
        .iter()
        .filter(|item| item["miner"] == "lux.patterns")
        .flat_map(|item| item["merged"].as_array().cloned().unwrap_or_default())
        .filter(|merged| merged["miner"] == "plugin.topic-signals")
        .count();
    assert!(folded >= 1, "{all}");
}

async fn hostile_loop_is_stopped_and_recorded_while_writes_go_on(lux: &Lux) {
    let server = serve(lux).await;
    let (status, installed) = server.install(example_wasm("hostile-loop")).await;
    assert_eq!(status, 201, "{installed}");
    let (status, _) = server
        .patch("/api/v1/plugins/hostile-loop", json!({ "enabled": true }))
        .await;
    assert_eq!(status, 200);

    let session = server.session("hostile").await;
    let started = Instant::now();
    for n in 0..3 {
        let step = server
            .step(
                &session,
                &format!("Step {n}: measure before changing anything."),
            )
            .await;
        assert!(step["id"].is_string());
    }
    // Three writes, each with a plugin stopped at its 100 ms limit, well under the budget.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "writes took {:?}",
        started.elapsed()
    );
    let (status, health) = server.get("/healthz").await;
    assert_eq!(status, 200, "{health}");
    let (status, steps) = server
        .get(&format!("/api/v1/sessions/{session}/steps"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(steps["items"].as_array().unwrap().len(), 3);

    // Each stopped call is recorded as a timeout (written off the write path, so poll briefly).
    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let (_, runs) = server.get("/api/v1/plugins/hostile-loop/runs").await;
        let items = runs["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= 3 || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs.len(), 3, "{runs:?}");
    for run in &runs {
        assert_eq!(run["outcome"], "timeout", "{run}");
        assert!(
            run["message"].as_str().unwrap().contains("time limit"),
            "{run}"
        );
    }

    // On history too: the run ends as a timeout, not an error.
    let (status, run) = server
        .post(
            "/api/v1/plugins/hostile-loop/run",
            json!({ "session_id": session }),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["outcome"], "timeout");
    assert_eq!(run["failures"], 3);
    assert_eq!(run["findings"], 0);
}

/// The CLI door, on the built `lux` binary.
mod cli {
    use lux_core::*;
    use lux_plugins::testing::example_path;
    use serde_json::{Value, json};

    use super::DETECTOR;
    use crate::support::{Scratch, cli_tests};

    cli_tests!(
        plugin_cli_installs_enables_configures_runs_and_removes,
        python_plugin_installs_with_the_cli_and_runs_on_step_writes,
    );

    /// The Python example (componentize-py, installed by the test support) goes through the same
    /// doors as a Rust one: installed with the CLI (at ~18 MB it is over the REST body limit),
    /// enabled over REST, run on a step write, its findings visible over REST and in analytics.
    async fn python_plugin_installs_with_the_cli_and_runs_on_step_writes(scratch: &Scratch) {
        let wasm = lux_plugins::testing::python_example_path("unattributed-authority");
        let size = std::fs::metadata(&wasm).unwrap().len();
        assert!(
            size <= lux_core::services::plugins::MAX_PLUGIN_BYTES as u64,
            "the Python component is {size} bytes"
        );
        let installed = scratch.ok(&["plugin", "install", wasm.to_str().unwrap()]);
        assert!(
            installed.contains("installed unattributed-authority 0.1.0 (detector"),
            "{installed}"
        );

        // A server on the same database enables it: the REST door, effective at once.
        let lux = Lux::open(DatabaseOptions::new(&scratch.url)).await.unwrap();
        let server = super::serve(&lux).await;
        let (status, enabled) = server
            .patch(
                "/api/v1/plugins/unattributed-authority",
                json!({ "enabled": true }),
            )
            .await;
        assert_eq!(status, 200, "{enabled}");
        let session = server.session("python").await;
        let text = "Le café’s cache — studies show — always helps. Caching helps here \
                    (Nguyen, 2021), as studies show. Experts agree it scales.";
        server.step(&session, text).await;
        let detector = "plugin.unattributed-authority";
        let expected: Vec<(i64, String, i64, i64)> = ["studies show", "Experts agree"]
            .into_iter()
            .map(|phrase| {
                let start = text.find(phrase).unwrap() as i64;
                (1, phrase.to_owned(), start, start + phrase.len() as i64)
            })
            .collect();
        assert_eq!(server.findings_of(&session, detector).await, expected);
        assert_eq!(server.detector_rate_findings(detector).await, 2);
    }

    /// `lux bench plugins` on the built example: both paths agree on the findings (it refuses to
    /// time them otherwise) and every figure it promises is printed.
    #[test]
    fn bench_plugins_prints_both_paths_loads_and_memory() {
        let scratch = Scratch::sqlite();
        let wasm = example_path("absolute-claims");
        let out = scratch.ok(&[
            "bench",
            "plugins",
            "--wasm",
            wasm.to_str().unwrap(),
            "--calls",
            "50",
            "--loads",
            "1",
            "--instances",
            "2",
        ]);
        for path in ["native", "plugin"] {
            let row: Vec<&str> = out
                .lines()
                .map(|line| line.split_whitespace().collect::<Vec<_>>())
                .find(|row| row.len() == 5 && row[0] == path)
                .unwrap_or_else(|| panic!("no {path} row in {out}"));
            let figures: Vec<f64> = row[1..4].iter().map(|f| f.parse().unwrap()).collect();
            assert!(figures.iter().all(|f| *f > 0.0), "{row:?}");
            assert!(figures[2] >= figures[1], "p99 >= median: {row:?}");
            assert_eq!(row[4], "12", "the same findings on both paths: {row:?}");
        }
        assert!(out.contains("cold compile"), "{out}");
        assert!(out.contains("from the artifact cache"), "{out}");
        assert!(out.contains("2 distinct plugins loaded"), "{out}");

        let refused = scratch.fails(&["bench", "plugins", "--calls", "0"]);
        assert!(refused.contains("--calls"), "{refused}");
        let wrong = scratch.fails(&[
            "bench",
            "plugins",
            "--wasm",
            example_path("unsupported-figures").to_str().unwrap(),
        ]);
        assert!(wrong.contains("absolute-claims"), "{wrong}");
    }

    async fn plugin_cli_installs_enables_configures_runs_and_removes(scratch: &Scratch) {
        let wasm = example_path("absolute-claims");
        let wasm = wasm.to_str().unwrap();
        let refused = scratch.fails(&[
            "plugin",
            "install",
            example_path("wrong-version").to_str().unwrap(),
        ]);
        assert!(refused.contains("lux:plugins@"), "{refused}");

        let installed = scratch.ok(&["plugin", "install", wasm]);
        assert!(
            installed.contains("installed absolute-claims 0.1.0 (detector"),
            "{installed}"
        );
        let again = scratch.ok(&["plugin", "install", wasm]);
        assert!(again.contains("already installed"), "{again}");
        scratch.ok(&["plugin", "enable", "absolute-claims"]);
        let listed = scratch.ok(&["plugin", "list"]);
        let row = listed
            .lines()
            .find(|line| line.contains("absolute-claims"))
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(
            row.contains("0.1.0") && row.contains("detector") && row.contains("yes"),
            "{row}"
        );

        let bad = scratch.fails(&[
            "plugin",
            "config",
            "absolute-claims",
            r#"{"extra_terms": 3}"#,
        ]);
        assert!(bad.contains("extra_terms"), "{bad}");
        scratch.ok(&[
            "plugin",
            "config",
            "absolute-claims",
            r#"{"extra_terms": ["surely"]}"#,
        ]);
        let shown: Value =
            serde_json::from_str(&scratch.ok(&["plugin", "show", "absolute-claims"])).unwrap();
        assert_eq!(shown[0]["config"], json!({ "extra_terms": ["surely"] }));

        // History written by the demo: the run's count is the plugin's stored findings.
        scratch.ok(&["demo", "--sessions", "3"]);
        let ran = scratch.ok(&["plugin", "run", "absolute-claims", "--all"]);
        assert!(
            ran.contains("on 3 session(s)") && ran.contains("outcome ok"),
            "{ran}"
        );
        let lux = Lux::open(DatabaseOptions::new(&scratch.url)).await.unwrap();
        let project = lux.default_project();
        let mut stored = 0;
        for session in lux
            .list_sessions(project, &SessionFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .items
        {
            stored += lux
                .list_findings(project, &SessionRef::Id(session.id))
                .await
                .unwrap()
                .iter()
                .filter(|f| f.detector == DETECTOR)
                .count();
        }
        assert!(
            ran.contains(&format!("{stored} finding(s)")),
            "{ran} vs {stored} stored"
        );
        let missing = scratch.run(&["plugin", "run", "absolute-claims"]);
        assert!(!missing.status.success());
        let said = String::from_utf8_lossy(&missing.stderr);
        assert!(
            said.contains("--session") || said.contains("--all"),
            "{said}"
        );

        let removed = scratch.ok(&["plugin", "remove", "absolute-claims"]);
        assert!(removed.contains("removed 1 version(s)"), "{removed}");
        let gone = scratch.fails(&["plugin", "show", "absolute-claims"]);
        assert!(gone.contains("not found"), "{gone}");
    }
}
