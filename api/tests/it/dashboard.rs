//! The dashboard's pages over the real app, on SQLite and PostgreSQL: the figures they show are
//! the stored ones, empty databases get empty states, bad input is an HTML 4xx, keys are asked for
//! and kept in a browser-session cookie, and one project's key never shows another's sessions.

use std::time::Duration;

use futures::StreamExt;
use lux_api::server::app;
use lux_core::demo::DemoOptions;
use lux_core::services::api_keys::Scope;
use lux_core::*;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};

async fn client(lux: &Lux) -> TestClient<impl poem::Endpoint> {
    TestClient::new(app(crate::support::app_state(lux, true).await))
}

async fn html(response: TestResponse) -> String {
    response.assert_status_is_ok();
    response.assert_content_type("text/html; charset=utf-8");
    response.0.into_body().into_string().await.unwrap()
}

/// The text of the element carrying `data-figure="name"` first after `anchor` in `page`.
fn figure_after(page: &str, anchor: &str, name: &str) -> String {
    let from = page
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} not on the page"));
    let marker = format!("data-figure=\"{name}\">");
    let start = from
        + page[from..]
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} figure after {anchor}"))
        + marker.len();
    let end = start + page[start..].find('<').unwrap();
    page[start..end].to_owned()
}

fn count(n: i64) -> String {
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

fn assert_served_whole(page: &str) {
    for outside in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "url(http",
    ] {
        assert!(!page.contains(outside), "the page loads {outside}…");
    }
}

async fn pages_show_the_stored_figures(lux: &Lux) {
    let project = lux.default_project();
    lux.fill_demo(
        project,
        &DemoOptions {
            sessions: 12,
            seed: 7,
        },
    )
    .await
    .unwrap();
    let client = client(lux).await;
    let sessions = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(sessions.len(), 12);

    // The list: one row per session, with the stored step, finding and alert counts and cost.
    let response = client.get("/").send().await;
    response.assert_header("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    let list = html(response).await;
    assert_served_whole(&list);
    for session in &sessions {
        let row = format!("data-session=\"{}\"", session.id);
        let summary = lux
            .session_summary(project, &SessionRef::Id(session.id))
            .await
            .unwrap();
        assert_eq!(figure_after(&list, &row, "steps"), count(summary.steps));
        assert_eq!(
            figure_after(&list, &row, "findings"),
            count(summary.findings)
        );
        assert_eq!(figure_after(&list, &row, "alerts"), count(summary.alerts));
        assert_eq!(figure_after(&list, &row, "cost"), summary.cost.to_string());
    }

    // A session with findings: its figures, its steps, its evidence marked on the step.
    let mut with_evidence = None;
    for session in &sessions {
        let findings = lux
            .list_findings(project, &SessionRef::Id(session.id))
            .await
            .unwrap();
        if let Some(finding) = findings.iter().find(|finding| finding.evidence.is_some()) {
            with_evidence = Some((session.clone(), finding.clone()));
            break;
        }
    }
    let (session, finding) = with_evidence.expect("the demo has a finding with evidence");
    let summary = lux
        .session_summary(project, &SessionRef::Id(session.id))
        .await
        .unwrap();
    let view = html(client.get(format!("/sessions/{}", session.id)).send().await).await;
    assert_served_whole(&view);
    assert_eq!(figure_after(&view, "<dl", "steps"), count(summary.steps));
    assert_eq!(
        figure_after(&view, "<dl", "findings"),
        count(summary.findings)
    );
    assert_eq!(figure_after(&view, "<dl", "alerts"), count(summary.alerts));
    assert_eq!(figure_after(&view, "<dl", "cost"), summary.cost.to_string());
    for number in 1..=summary.steps {
        assert!(
            view.contains(&format!("id=\"step-{number}\"")),
            "step {number} shown"
        );
    }
    assert!(
        view.contains(&format!("<mark title=\"{}\"", finding.bias_type)),
        "the evidence of {} is marked",
        finding.bias_type
    );
    assert!(view.contains(&format!("data-finding=\"{}\"", finding.id)));
    assert!(view.contains(&format!("data-live=\"/sessions/{}/live\"", session.id)));
    // The external id finds the same page.
    if let Some(external) = &session.external_id {
        let by_external = html(client.get(format!("/sessions/{external}")).send().await).await;
        assert!(by_external.contains(&format!("data-live=\"/sessions/{}/live\"", session.id)));
    }

    // The synthesis slider: each version by number, the diff from the one before.
    let versions = lux
        .list_synthesis_versions(project, &SessionRef::Id(session.id))
        .await
        .unwrap();
    if let Some(first) = versions.first() {
        let page = html(
            client
                .get(format!("/sessions/{}?version=1", session.id))
                .send()
                .await,
        )
        .await;
        assert_eq!(figure_after(&page, "Version ", "version"), "1");
        if let Some(understanding) = &first.current_understanding {
            let escaped = understanding
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            assert!(
                page.contains(&escaped),
                "version 1's understanding is shown"
            );
        }
    }
    if versions.len() >= 2 {
        let latest = html(client.get(format!("/sessions/{}", session.id)).send().await).await;
        assert!(latest.contains(&format!("Changes from version {}", versions.len() - 1)));
    }

    // The script's fragment: only the live region, no page around it.
    let fragment = html(
        client
            .get(format!("/sessions/{}", session.id))
            .header("x-lux-fragment", "1")
            .send()
            .await,
    )
    .await;
    assert!(!fragment.contains("<html") && fragment.contains("id=\"step-1\""));

    // Analytics: the API's overview totals.
    let overview = lux
        .analytics_overview(project, &AnalyticsFilter::default())
        .await
        .unwrap();
    let analytics = html(client.get("/analytics").send().await).await;
    assert_served_whole(&analytics);
    assert_eq!(
        figure_after(&analytics, "<dl", "sessions"),
        count(overview.totals.sessions)
    );
    assert_eq!(
        figure_after(&analytics, "<dl", "steps"),
        count(overview.totals.steps)
    );
    assert_eq!(
        figure_after(&analytics, "<dl", "findings"),
        count(overview.totals.findings)
    );
    assert_eq!(
        figure_after(&analytics, "<dl", "cost"),
        overview.totals.cost.to_string()
    );
    let models = lux
        .analytics_models(project, &AnalyticsFilter::default())
        .await
        .unwrap();
    for model in &models {
        let row = format!("data-model=\"{}\"", model.model);
        assert_eq!(
            figure_after(&analytics, &row, "calls"),
            count(model.model_calls)
        );
        assert_eq!(
            figure_after(&analytics, &row, "cost"),
            model.cost.to_string()
        );
    }
    assert!(analytics.contains("<svg"), "charts are drawn");
    let week = html(client.get("/analytics?range=7d&tool=planner").send().await).await;
    assert!(week.contains("<option value=\"7d\" selected"));

    // Compare: both sessions and the step table.
    let (a, b) = (&sessions[0], &sessions[1]);
    let compare = html(
        client
            .get(format!("/compare?a={}&b={}", a.id, b.id))
            .send()
            .await,
    )
    .await;
    assert!(compare.contains(&format!("href=\"/sessions/{}\"", a.id)));
    assert!(compare.contains(&format!("href=\"/sessions/{}\"", b.id)));
    assert!(compare.contains("compare-steps"));

    // Search from the list: hits link to the step they were found in.
    let step = lux
        .list_steps(project, &SessionRef::Id(a.id), &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    let word = step
        .content
        .split(|c: char| !c.is_alphanumeric())
        .find(|word| word.len() > 6)
        .unwrap()
        .to_owned();
    let hits = html(client.get(format!("/?q={word}")).send().await).await;
    assert!(hits.contains("<mark>"), "highlighted snippets for {word}");
    assert!(hits.contains("/sessions/"), "hits link to sessions");

    let plugins = html(client.get("/plugins").send().await).await;
    assert!(plugins.contains("No plugins installed"));
    assert!(
        plugins.contains("data-analysis-features=\"semantic\""),
        "the dashboard says which features analysis runs on"
    );

    // Assets come from the binary.
    let css = client.get("/assets/dashboard.css").send().await;
    css.assert_status_is_ok();
    css.assert_content_type("text/css; charset=utf-8");
    let script = client.get("/assets/dashboard.js").send().await;
    script.assert_status_is_ok();
    client
        .get("/assets/nothing.js")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

async fn bad_input_gets_an_html_error(lux: &Lux) {
    let project = lux.default_project();
    lux.fill_demo(
        project,
        &DemoOptions {
            sessions: 2,
            seed: 3,
        },
    )
    .await
    .unwrap();
    let session = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    let client = client(lux).await;
    for (path, status, says) in [
        (
            "/sessions/no-such-session".to_owned(),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            format!("/sessions/{}", uuid::Uuid::now_v7()),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            format!("/sessions/{}?version=0", session.id),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (
            format!("/sessions/{}?version=abc", session.id),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (
            format!("/sessions/{}?version=999", session.id),
            StatusCode::BAD_REQUEST,
            "synthesis versions",
        ),
        (
            "/?status=sleeping".to_owned(),
            StatusCode::BAD_REQUEST,
            "sleeping",
        ),
        (
            "/analytics?range=forever".to_owned(),
            StatusCode::BAD_REQUEST,
            "range",
        ),
        (
            format!("/compare?a={}&b=nope", session.id),
            StatusCode::NOT_FOUND,
            "not found",
        ),
        (
            "/?q=%27%22%3B%20DROP%20TABLE%20sessions%3B--".to_owned(),
            StatusCode::OK,
            "Nothing matches",
        ),
        ("/?tool=%00".to_owned(), StatusCode::OK, "No sessions match"),
    ] {
        let response = client.get(&path).send().await;
        response.assert_status(status);
        response.assert_content_type("text/html; charset=utf-8");
        let body = response.0.into_body().into_string().await.unwrap();
        assert!(
            body.to_lowercase().contains(&says.to_lowercase()),
            "{path}: {body}"
        );
    }
    // Nothing was harmed by the hostile query.
    assert_eq!(
        lux.list_sessions(project, &SessionFilter::default(), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

async fn an_empty_database_has_empty_states(lux: &Lux) {
    let client = client(lux).await;
    for (path, says) in [
        ("/", "No sessions yet"),
        ("/analytics", "Nothing to chart yet"),
        ("/compare", "Comparing needs two sessions"),
        ("/plugins", "No plugins installed"),
        ("/plugins", "No patterns stored yet"),
        ("/patterns", "No pattern passes the test"),
        ("/patterns", "No topic has enough sessions yet"),
        ("/?q=anything", "Nothing matches"),
    ] {
        let page = html(client.get(path).send().await).await;
        assert!(page.contains(says), "{path} says {says:?}: {page}");
    }
}

async fn keys_are_asked_for_and_kept_for_the_browser_session(lux: &Lux) {
    let project = lux.default_project();
    lux.fill_demo(
        project,
        &DemoOptions {
            sessions: 2,
            seed: 11,
        },
    )
    .await
    .unwrap();
    let ours = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    let key = lux
        .create_api_key(project, "browser", Scope::Read)
        .await
        .unwrap()
        .secret;
    let other = lux
        .create_project("other-team", "Other team")
        .await
        .unwrap();
    let other_key = lux
        .create_api_key(other.id, "theirs", Scope::Read)
        .await
        .unwrap()
        .secret;
    let client = client(lux).await;

    // Once a key exists, a page without one goes to the login form and comes back after.
    let response = client.get("/analytics?range=7d").send().await;
    response.assert_status(StatusCode::SEE_OTHER);
    response.assert_header("location", "/login?next=%2Fanalytics%3Frange%3D7d");
    let form = html(client.get("/login?next=%2Fanalytics").send().await).await;
    assert!(form.contains("type=\"password\"") && form.contains("value=\"/analytics\""));

    let wrong = client
        .post("/login")
        .content_type("application/x-www-form-urlencoded")
        .body("key=lux_0000_nope&next=%2F")
        .send()
        .await;
    wrong.assert_status(StatusCode::UNAUTHORIZED);
    let wrong = wrong.0.into_body().into_string().await.unwrap();
    assert!(wrong.contains("not valid"), "{wrong}");
    let garbage = client
        .post("/login")
        .content_type("application/x-www-form-urlencoded")
        .body("key=%0D%0ASet-Cookie%3A%20x%3D1&next=%2F")
        .send()
        .await;
    garbage.assert_status(StatusCode::UNAUTHORIZED);

    let signed_in = client
        .post("/login")
        .content_type("application/x-www-form-urlencoded")
        .body(format!("key={key}&next=%2Fanalytics"))
        .send()
        .await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    signed_in.assert_header("location", "/analytics");
    let cookie = signed_in
        .0
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        cookie,
        format!("lux_key={key}; Path=/; HttpOnly; SameSite=Strict")
    );
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "a browser-session cookie"
    );
    let page = html(
        client
            .get("/")
            .header("cookie", format!("lux_key={key}"))
            .send()
            .await,
    )
    .await;
    assert!(page.contains(&format!("data-session=\"{}\"", ours.id)));
    let page = html(
        client
            .get("/")
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await,
    )
    .await;
    assert!(page.contains(&format!("data-session=\"{}\"", ours.id)));

    // No open redirect: only paths on this server.
    for next in [
        "%2F%2Fevil.example%2F",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let response = client
            .post("/login")
            .content_type("application/x-www-form-urlencoded")
            .body(format!("key={key}&next={next}"))
            .send()
            .await;
        response.assert_header("location", "/");
    }

    // Another project's key sees none of this project's sessions, on any page.
    let theirs = format!("lux_key={other_key}");
    let page = html(client.get("/").header("cookie", &theirs).send().await).await;
    assert!(page.contains("No sessions yet"), "{page}");
    for path in [
        format!("/sessions/{}", ours.id),
        format!("/sessions/{}/live", ours.id),
        format!("/compare?a={}&b={}", ours.id, ours.id),
    ] {
        client
            .get(&path)
            .header("cookie", &theirs)
            .send()
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }

    let out = client.post("/logout").send().await;
    out.assert_status(StatusCode::SEE_OTHER);
    let cleared = out
        .0
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cleared.starts_with("lux_key=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

async fn the_live_feed_follows_one_session(lux: &Lux) {
    let project = lux.default_project();
    let watched = lux
        .create_session(
            project,
            NewSession {
                tool: "sequential_thinking".into(),
                title: Some("watched".into()),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .value;
    let elsewhere = lux
        .create_session(
            project,
            NewSession {
                tool: "planner".into(),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .value;
    let client = client(lux).await;
    let response = client
        .get(format!("/sessions/{}/live", watched.id))
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_content_type("text/event-stream");
    let mut events = response.json_sse_stream();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let step = |content: &str| NewStep {
        kind: "reasoning".into(),
        content: content.into(),
        ..NewStep::default()
    };
    lux.append_step(
        project,
        &SessionRef::Id(elsewhere.id),
        step("Not this one."),
    )
    .await
    .unwrap();
    let written = lux
        .append_step(project, &SessionRef::Id(watched.id), step("This one."))
        .await
        .unwrap()
        .value;
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event")
        .expect("an open stream");
    let event = event.value();
    let event = event.object();
    event.get("kind").assert_string("step_appended");
    event
        .get("entity_id")
        .assert_string(&written.id.to_string());
}

/// The patterns page lists the mining run's patterns in the order REST serves them, which is the
/// order the core service ranks them in (MCP's `find_patterns` is held to the same in `mcp.rs`).
async fn rest_and_the_dashboard_show_the_same_patterns(lux: &Lux) {
    use lux_core::patterns::planted::{self, TopicSet};
    let project = lux.default_project();
    let history = planted::generate(TopicSet::Tune, 2, true).unwrap();
    let quiet = lux
        .clone()
        .with_detectors(lux_core::detect::DetectorRegistry::empty());
    planted::store(&quiet, project, &history).await.unwrap();
    let report = lux
        .find_patterns(
            project,
            &lux_core::services::patterns::PatternQuery::default(),
        )
        .await
        .unwrap();
    assert!(report.patterns.len() >= 2, "{report:#?}");
    let expected: Vec<&str> = report.patterns.iter().map(|p| p.title.as_str()).collect();

    let client = client(lux).await;
    let response = client
        .get("/api/v1/patterns")
        .query("source", &"builtin")
        .query("limit", &100)
        .send()
        .await;
    response.assert_status_is_ok();
    let body: serde_json::Value = response.0.into_body().into_json().await.unwrap();
    let served: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap())
        .collect();
    assert_eq!(served, expected);
    assert_eq!(
        body["mining"]["sessions_examined"],
        report.sessions_examined
    );

    // Paging walks the same list one pattern at a time.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client
            .get("/api/v1/patterns")
            .query("source", &"builtin")
            .query("limit", &1);
        if let Some(cursor) = &cursor {
            request = request.query("cursor", cursor);
        }
        let response = request.send().await;
        response.assert_status_is_ok();
        let page: serde_json::Value = response.0.into_body().into_json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        paged.push(page["items"][0]["title"].as_str().unwrap().to_owned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, expected);

    // Bad parameters are refused with the field named, and nothing else happens.
    for (name, value, field) in [
        ("limit", "0", "limit"),
        ("limit", "101", "limit"),
        ("cursor", "next-please", "cursor"),
        ("fdr", "0", "fdr"),
        ("fdr", "0.9", "fdr"),
        ("fdr", "NaN", "fdr"),
        ("window_days", "0", "window_days"),
        ("sessions", "0", "sessions"),
        ("min_support", "0", "min_support"),
    ] {
        let response = client
            .get("/api/v1/patterns")
            .query(name, &value)
            .send()
            .await;
        response.assert_status(poem::http::StatusCode::BAD_REQUEST);
        let error: serde_json::Value = response.0.into_body().into_json().await.unwrap();
        assert_eq!(error["details"]["field"], field, "{name}={value}: {error}");
    }

    let page = html(client.get("/patterns").send().await).await;
    let mut from = 0;
    for title in &expected {
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let at = page[from..]
            .find(&escaped)
            .unwrap_or_else(|| panic!("{title:?} not on the page after byte {from}: {page}"));
        from += at + escaped.len();
    }
    for topic in &report.topics {
        assert!(page.contains(&topic.label), "{} missing", topic.label);
    }
}

lux_core::storage_tests!(
    rest_and_the_dashboard_show_the_same_patterns,
    pages_show_the_stored_figures,
    bad_input_gets_an_html_error,
    an_empty_database_has_empty_states,
    keys_are_asked_for_and_kept_for_the_browser_session,
    the_live_feed_follows_one_session,
);
