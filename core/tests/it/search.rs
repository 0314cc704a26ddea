//! Full-text search: ranked hits with snippets, non-English text, hostile queries, pagination,
//! filters, index upkeep on delete, and no hits across projects — on both backends.

use std::collections::HashSet;

use lux_core::synthesis::SynthesisUpdate;
use lux_core::*;

use crate::support::{new_session, thought};

async fn session_with(lux: &Lux, project: ProjectId, tool: &str, steps: &[&str]) -> SessionId {
    let session = lux
        .create_session(project, new_session(tool))
        .await
        .unwrap()
        .value;
    for content in steps {
        lux.append_step(project, &SessionRef::Id(session.id), thought(content))
            .await
            .unwrap();
    }
    session.id
}

async fn hits(lux: &Lux, project: ProjectId, query: &str) -> Vec<SearchHit> {
    lux.search(
        project,
        query,
        &SearchFilter::default(),
        &PageRequest::first(100),
    )
    .await
    .unwrap_or_else(|error| panic!("{query:?}: {error}"))
    .items
}

fn numbers(hits: &[SearchHit]) -> Vec<(SessionId, i32)> {
    let mut numbers: Vec<_> = hits
        .iter()
        .map(|hit| (hit.session_id, hit.number))
        .collect();
    numbers.sort();
    numbers
}

async fn finds_words_in_steps_and_synthesis(lux: &Lux) {
    let project = lux.default_project();
    let cache = session_with(
        lux,
        project,
        "traced_reasoning",
        &[
            "The cache is cold after every deploy.",
            "Warming the cache <script>alert(1)</script> takes two minutes & costs little.",
            "Unrelated: the logo is blue.",
        ],
    )
    .await;
    lux.add_synthesis(
        project,
        &SessionRef::Id(cache),
        NewSynthesis::structured(SynthesisUpdate {
            current_understanding: Some("Deploys empty the cache; warm it first.".into()),
            ..SynthesisUpdate::default()
        }),
    )
    .await
    .unwrap();

    let found = hits(lux, project, "cache").await;
    assert_eq!(found.len(), 3, "{found:?}");
    let kinds: HashSet<SearchKind> = found.iter().map(|hit| hit.kind).collect();
    assert_eq!(
        kinds,
        HashSet::from([SearchKind::Step, SearchKind::Synthesis])
    );
    for hit in &found {
        assert!(
            hit.snippet.contains("<mark>cache</mark>"),
            "{}",
            hit.snippet
        );
        assert!(
            !hit.snippet.contains("<script>"),
            "escaped: {}",
            hit.snippet
        );
    }
    assert!(found.windows(2).all(|pair| pair[0].rank >= pair[1].rank));
    let synthesis = found
        .iter()
        .find(|hit| hit.kind == SearchKind::Synthesis)
        .unwrap();
    assert_eq!(synthesis.number, 1);

    // Every word must match; case does not matter.
    let both = hits(lux, project, "CACHE Deploy").await;
    assert_eq!(numbers(&both), vec![(cache, 1)]);
    assert!(hits(lux, project, "cache zebra").await.is_empty());

    let steps_only = lux
        .search(
            project,
            "cache",
            &SearchFilter {
                kind: Some(SearchKind::Step),
                ..SearchFilter::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(steps_only.items.len(), 2);
    let other_tool = lux
        .search(
            project,
            "cache",
            &SearchFilter {
                tool: Some("planner".into()),
                ..SearchFilter::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(other_tool.items.is_empty());
}

async fn german_and_japanese_text(lux: &Lux) {
    let project = lux.default_project();
    let german = session_with(
        lux,
        project,
        "biased_reasoning",
        &[
            "Die neue Größentabelle wurde am 4. März eingeführt, aber nur für zwei Marken.",
            "Die Retourenquote ist von 18 % auf 24 % gestiegen.",
        ],
    )
    .await;
    let japanese = session_with(
        lux,
        project,
        "biased_reasoning",
        &[
            "決済APIのタイムアウトは一日全体では0.2%だが、17時から19時の間だけ1.5%まで上がる。",
            "バッチ中はクエリ待ち時間が約4倍になっている。",
        ],
    )
    .await;

    assert_eq!(
        numbers(&hits(lux, project, "Größentabelle").await),
        vec![(german, 1)]
    );
    assert_eq!(
        numbers(&hits(lux, project, "eingeführt Marken").await),
        vec![(german, 1)]
    );
    assert_eq!(
        numbers(&hits(lux, project, "retourenquote").await),
        vec![(german, 2)]
    );
    // Words inside Japanese text, which has no spaces between words.
    let found = hits(lux, project, "タイムアウト").await;
    assert_eq!(numbers(&found), vec![(japanese, 1)]);
    assert!(
        found[0].snippet.contains("<mark>タイムアウト</mark>"),
        "{}",
        found[0].snippet
    );
    assert_eq!(
        numbers(&hits(lux, project, "待ち時間").await),
        vec![(japanese, 2)]
    );
    assert!(hits(lux, project, "タイムアウト 待ち時間").await.is_empty());
}

async fn hostile_queries_are_plain_words(lux: &Lux) {
    let project = lux.default_project();
    let id = session_with(
        lux,
        project,
        "planner",
        &[
            "Either we migrate OR we wait; NEAR the end we choose.",
            "Rows 'a':b & c | d ! e * f \"quoted\" text.",
        ],
    )
    .await;
    for (query, expected) in [
        ("OR", vec![(id, 1)]),
        ("NEAR(", vec![(id, 1)]),
        ("\"quoted", vec![(id, 2)]),
        ("quoted\"", vec![(id, 2)]),
        ("migr*", vec![]),
        ("'a'", vec![(id, 2)]),
        ("a:b", vec![(id, 2)]),
        ("c & d | e !", vec![(id, 2)]),
        ("text:*", vec![(id, 2)]),
        ("'; DROP TABLE steps; --", vec![]),
        ("NOT wait", vec![]),
        ("(wait", vec![(id, 1)]),
        ("wait)", vec![(id, 1)]),
        ("-wait", vec![(id, 1)]),
        ("^wait", vec![(id, 1)]),
        ("{wait}", vec![(id, 1)]),
        ("\\wait", vec![(id, 1)]),
    ] {
        assert_eq!(
            numbers(&hits(lux, project, query).await),
            expected,
            "{query:?}"
        );
    }
    for empty in ["", "   ", "\"", "*", "&|!", "():'\"", "🙂🙂"] {
        let error = lux
            .search(
                project,
                empty,
                &SearchFilter::default(),
                &PageRequest::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(error.field(), Some("q"), "{empty:?}");
    }
    let long = "x".repeat(MAX_QUERY_BYTES_FOR_TEST + 1);
    assert!(
        lux.search(
            project,
            &long,
            &SearchFilter::default(),
            &PageRequest::default()
        )
        .await
        .is_err()
    );
    // The steps are all still there.
    assert_eq!(
        lux.all_steps(project, &SessionRef::Id(id))
            .await
            .unwrap()
            .len(),
        2
    );
}

const MAX_QUERY_BYTES_FOR_TEST: usize = lux_core::services::search::MAX_QUERY_BYTES;

async fn pages_cover_every_hit_once(lux: &Lux) {
    let project = lux.default_project();
    let contents: Vec<String> = (0..7)
        .map(|i| format!("Observation {i} about latency, latency again {i}."))
        .collect();
    let refs: Vec<&str> = contents.iter().map(String::as_str).collect();
    session_with(lux, project, "planner", &refs).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = lux
            .search(
                project,
                "latency",
                &SearchFilter::default(),
                &PageRequest {
                    limit: Some(3),
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|hit| hit.number));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    let bad = lux
        .search(
            project,
            "latency",
            &SearchFilter::default(),
            &PageRequest {
                limit: Some(3),
                cursor: Some("nonsense".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad.field(), Some("cursor"));
    let bad = lux
        .search(
            project,
            "latency",
            &SearchFilter::default(),
            &PageRequest::first(5000),
        )
        .await
        .unwrap_err();
    assert_eq!(bad.field(), Some("limit"));
}

async fn no_hits_across_projects_or_after_delete(lux: &Lux) {
    let project = lux.default_project();
    let other = lux.create_project("other", "Other").await.unwrap();
    let mine = session_with(
        lux,
        project,
        "planner",
        &["secret plan zebra", "決済の秘密"],
    )
    .await;
    let theirs = session_with(lux, other.id, "planner", &["their zebra", "決済の秘密"]).await;
    assert_eq!(numbers(&hits(lux, project, "zebra").await), vec![(mine, 1)]);
    assert_eq!(
        numbers(&hits(lux, other.id, "zebra").await),
        vec![(theirs, 1)]
    );
    assert_eq!(numbers(&hits(lux, project, "秘密").await), vec![(mine, 2)]);
    let by_session = lux
        .search(
            project,
            "zebra",
            &SearchFilter {
                session_id: Some(theirs),
                ..SearchFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(by_session.items.is_empty());

    lux.delete_session(project, &SessionRef::Id(mine), &Actor::new("test"))
        .await
        .unwrap();
    assert!(hits(lux, project, "zebra").await.is_empty());
    assert!(hits(lux, project, "秘密").await.is_empty());
    assert_eq!(
        numbers(&hits(lux, other.id, "zebra").await),
        vec![(theirs, 1)]
    );
}

storage_tests!(
    finds_words_in_steps_and_synthesis,
    german_and_japanese_text,
    hostile_queries_are_plain_words,
    pages_cover_every_hit_once,
    no_hits_across_projects_or_after_delete,
    older_matches_are_found_behind_many_newer_ones,
);

/// Past a few thousand matches SQLite ranks the newest first; an older match that a filter (or
/// another project) selects must still be found, and a page past that window still served.
async fn older_matches_are_found_behind_many_newer_ones(lux: &Lux) {
    let old_project = lux.create_project("old", "Old").await.unwrap();
    let (old_id, _) = {
        let session = lux
            .create_session(old_project.id, new_session("search"))
            .await
            .unwrap()
            .value;
        let step = lux
            .append_step(
                old_project.id,
                &SessionRef::Id(session.id),
                thought("The flamegraph shows the allocator."),
            )
            .await
            .unwrap()
            .value;
        (step.id, session.id)
    };

    let project = lux.default_project();
    let mut records = Vec::new();
    for n in 0..3_200 {
        if n % 100 == 0 {
            records.push(services::ingest::IngestRecord::Session(NewSession {
                id: Some(SessionId(uuid::Uuid::now_v7())),
                tool: "bulk".into(),
                ..NewSession::default()
            }));
        }
        let Some(services::ingest::IngestRecord::Session(NewSession {
            id: Some(session), ..
        })) = records
            .iter()
            .rev()
            .find(|record| matches!(record, services::ingest::IngestRecord::Session(_)))
        else {
            unreachable!("a session record was pushed first");
        };
        let session = *session;
        records.push(services::ingest::IngestRecord::Step {
            session: SessionRef::Id(session),
            step: thought(&format!("Flamegraph number {n} of the scheduler.")),
        });
    }
    for batch in records.chunks(900) {
        let options = services::ingest::IngestOptions { analyze: false };
        lux.ingest_with(project, batch, &options).await.unwrap();
    }

    // The other project's single, older match is found although 3,200 newer ones exist.
    let found = lux
        .search(
            old_project.id,
            "flamegraph",
            &SearchFilter::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].id, old_id.0);

    let first = lux
        .search(
            project,
            "flamegraph",
            &SearchFilter::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100);
    assert!(first.next_cursor.is_some());
    // A page beyond the newest few thousand matches still returns the older ones.
    let deep = lux
        .search(
            project,
            "flamegraph",
            &SearchFilter::default(),
            &PageRequest {
                limit: Some(100),
                cursor: Some("o3150".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(deep.items.len(), 50);
    assert!(deep.next_cursor.is_none());
}
