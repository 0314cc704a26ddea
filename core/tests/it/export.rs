//! Exports and imports: round trips are byte-identical, re-imports change nothing, bad lines are
//! reported one by one, CSV parses back, and large exports arrive in bounded chunks.

use std::collections::{BTreeMap, HashSet};

use lux_core::demo::{DemoOptions, DemoSummary};
use lux_core::services::export::ExportEncoder;
use lux_core::services::ingest::{IngestOptions, IngestRecord};
use lux_core::testing::TestDb;
use lux_core::{
    AnalyticsFilter, Backend, CostGroup, ExportDataset, ExportFilter, ExportFormat, ImportReport,
    ImportedSession, Lux, NewStep, PageRequest, ProjectId, SessionFilter, SessionRef,
    storage_tests,
};

use crate::support::{new_session, session, thought};

async fn fresh_like(lux: &Lux) -> TestDb {
    match lux.backend() {
        Backend::Sqlite => TestDb::sqlite().await,
        _ => TestDb::postgres().await,
    }
}

/// The whole export as bytes, the way the doors write it.
pub(crate) async fn export_bytes(
    lux: &Lux,
    project: ProjectId,
    dataset: ExportDataset,
    format: ExportFormat,
    filter: ExportFilter,
) -> Vec<u8> {
    let mut encoder = ExportEncoder::new(dataset, format).unwrap();
    let mut cursor = lux.export(project, dataset, filter).unwrap();
    let mut bytes = encoder.start();
    while let Some(chunk) = cursor.next_chunk().await.unwrap() {
        bytes.extend(encoder.encode(&chunk).unwrap());
    }
    bytes.extend(encoder.finish());
    bytes
}

async fn demo(lux: &Lux) -> DemoSummary {
    let options = DemoOptions {
        sessions: 12,
        seed: 5,
    };
    lux.fill_demo(lux.default_project(), &options)
        .await
        .unwrap()
}

fn kinds_of(jsonl: &[u8]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for line in std::str::from_utf8(jsonl).unwrap().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        *kinds
            .entry(value["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    kinds
}

async fn export_import_export_is_byte_identical(lux: &Lux) {
    let summary = demo(lux).await;
    let project = lux.default_project();
    let all = |format| {
        export_bytes(
            lux,
            project,
            ExportDataset::All,
            format,
            ExportFilter::default(),
        )
    };
    let jsonl = all(ExportFormat::Jsonl).await;
    let json = all(ExportFormat::Json).await;

    // Every record the demo wrote is in the file, counted by the demo itself.
    let kinds = kinds_of(&jsonl);
    assert_eq!(kinds["session"], summary.sessions, "{kinds:?}");
    assert_eq!(kinds["step"], summary.steps, "{kinds:?}");
    assert_eq!(kinds["model_call"], summary.model_calls, "{kinds:?}");
    assert_eq!(
        kinds["synthesis_version"], summary.synthesis_versions,
        "{kinds:?}"
    );
    assert_eq!(kinds["finding"], summary.findings, "{kinds:?}");
    assert_eq!(kinds["monitor_event"], summary.monitor_events, "{kinds:?}");
    assert!(
        kinds.contains_key("price") && kinds.contains_key("insight"),
        "{kinds:?}"
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed.len(), kinds.values().sum::<usize>());

    let target = fresh_like(lux).await;
    let report = target
        .lux
        .import_bytes(target.lux.default_project(), &jsonl)
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    // Prices of the shipped list are already in the fresh database; everything else is new.
    let total = kinds.values().sum::<usize>() as u64;
    assert_eq!(report.created + report.already_present, total);
    assert_eq!(report.already_present as usize, kinds["price"]);

    let target_project = target.lux.default_project();
    let again = |format| {
        export_bytes(
            &target.lux,
            target_project,
            ExportDataset::All,
            format,
            ExportFilter::default(),
        )
    };
    assert!(
        again(ExportFormat::Jsonl).await == jsonl,
        "JSONL round trip differs"
    );
    // Reports over the imported rows (rollups included) equal those over the originals.
    let filter = AnalyticsFilter::default();
    assert_eq!(
        target
            .lux
            .analytics_overview(target_project, &filter)
            .await
            .unwrap(),
        lux.analytics_overview(project, &filter).await.unwrap()
    );
    assert_eq!(
        target
            .lux
            .analytics_costs(target_project, &filter, CostGroup::Model, None)
            .await
            .unwrap(),
        lux.analytics_costs(project, &filter, CostGroup::Model, None)
            .await
            .unwrap()
    );
    assert!(
        again(ExportFormat::Json).await == json,
        "JSON round trip differs"
    );
    for dataset in [
        ExportDataset::Steps,
        ExportDataset::ModelCalls,
        ExportDataset::Findings,
    ] {
        let before = export_bytes(
            lux,
            project,
            dataset,
            ExportFormat::Csv,
            ExportFilter::default(),
        )
        .await;
        let after = export_bytes(
            &target.lux,
            target_project,
            dataset,
            ExportFormat::Csv,
            ExportFilter::default(),
        )
        .await;
        assert!(
            before == after,
            "{dataset} CSV differs after the round trip"
        );
    }

    // The JSON array form imports the same way.
    let third = fresh_like(lux).await;
    let report = third
        .lux
        .import_bytes(third.lux.default_project(), &json)
        .await
        .unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    let exported = export_bytes(
        &third.lux,
        third.lux.default_project(),
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    assert!(exported == jsonl, "JSON-array import differs");
    target.cleanup().await;
    third.cleanup().await;
}

async fn reimport_changes_nothing(lux: &Lux) {
    demo(lux).await;
    let project = lux.default_project();
    let jsonl = export_bytes(
        lux,
        project,
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    let lines = std::str::from_utf8(&jsonl).unwrap().lines().count() as u64;
    for _ in 0..2 {
        let report = lux.import_bytes(project, &jsonl).await.unwrap();
        assert_eq!(report.created, 0, "{report:?}");
        assert_eq!(report.failed, 0, "{:?}", report.errors);
        assert_eq!(report.already_present, lines);
    }
    let after = export_bytes(
        lux,
        project,
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    assert!(after == jsonl, "a re-import changed the data");
}

/// The report names the sessions that received steps (what analysis after an import works on)
/// with the detector versions whose findings came along; a session that moved on since the file
/// was written (a later `updated_at`, as analysis leaves it) still counts as already present.
async fn an_import_names_the_sessions_it_gave_steps(lux: &Lux) {
    let (reference, lines) =
        exported_session(lux, "import_names", &["always right", "never wrong"]).await;
    let SessionRef::Id(session) = reference else {
        unreachable!()
    };
    let file = lines.join("\n");
    let (target, report) = import_into_fresh(lux, &file).await;
    let detectors: Vec<(String, String)> = lux
        .list_findings(lux.default_project(), &reference)
        .await
        .unwrap()
        .into_iter()
        .map(|finding| (finding.detector, finding.detector_version))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        report.sessions_with_new_steps,
        [ImportedSession {
            session_id: session,
            detectors
        }],
        "{report:?}"
    );

    // The session moves on where it was imported; the same file again changes nothing.
    target
        .lux
        .append_step(
            target.lux.default_project(),
            &reference,
            thought("a later step"),
        )
        .await
        .unwrap();
    let again = target
        .lux
        .import_bytes(target.lux.default_project(), file.as_bytes())
        .await
        .unwrap();
    assert_eq!((again.created, again.failed), (0, 0), "{again:?}");
    assert!(again.sessions_with_new_steps.is_empty(), "{again:?}");
    target.cleanup().await;
}

/// A new session of `tool` with a step per content, and the lines of the project's JSONL export.
async fn exported_session(lux: &Lux, tool: &str, contents: &[&str]) -> (SessionRef, Vec<String>) {
    let (project, _session, reference) = session(lux, tool).await;
    for content in contents {
        lux.append_step(project, &reference, thought(content))
            .await
            .unwrap();
    }
    let jsonl = export_bytes(
        lux,
        project,
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    let lines = std::str::from_utf8(&jsonl)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (reference, lines)
}

/// `file` imported into a fresh database of `lux`'s backend, and the import's report.
async fn import_into_fresh(lux: &Lux, file: &str) -> (TestDb, ImportReport) {
    let target = fresh_like(lux).await;
    let report = target
        .lux
        .import_bytes(target.lux.default_project(), file.as_bytes())
        .await
        .unwrap();
    (target, report)
}

async fn corrupt_lines_are_reported_and_the_rest_applied(lux: &Lux) {
    let (reference, mut lines) =
        exported_session(lux, "corrupt_test", &["first", "second", "third"]).await;
    // What analysis recorded about these steps depends on the detectors' weights; the lines
    // under test are the ones corrupted below.
    lines.retain(|line| {
        !line.contains(r#""kind":"monitor_event""#) && !line.contains(r#""kind":"finding""#)
    });
    let step_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(r#""kind":"step""#))
        .collect();
    assert_eq!(step_lines.len(), 3, "{lines:?}");
    // Line of the first step: cut in half. Second step: a confidence out of range.
    // Third step: pointing at a session that does not exist. A foreign line at the end.
    let first = step_lines[0];
    lines[first] = lines[first][..lines[first].len() / 2].to_owned();
    let mut second: serde_json::Value = serde_json::from_str(&lines[step_lines[1]]).unwrap();
    second["confidence"] = serde_json::json!(2.5);
    lines[step_lines[1]] = second.to_string();
    let mut third: serde_json::Value = serde_json::from_str(&lines[step_lines[2]]).unwrap();
    third["session_id"] = serde_json::json!(uuid::Uuid::now_v7());
    lines[step_lines[2]] = third.to_string();
    lines.push(r#"{"name": "not a lux record"}"#.to_owned());
    // A session with too many tags: must leave no trace (no row, no tags).
    let mut bad_session: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let bad_id = uuid::Uuid::now_v7();
    bad_session["id"] = serde_json::json!(bad_id);
    bad_session["external_id"] = serde_json::Value::Null;
    bad_session["tags"] =
        serde_json::json!((0..40).map(|i| format!("t{i:02}")).collect::<Vec<_>>());
    lines.push(bad_session.to_string());
    let file = lines.join("\n");

    let (target, report) = import_into_fresh(lux, &file).await;
    let target_project = target.lux.default_project();
    let errors: Vec<(u64, Option<&str>, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.kind.as_deref(), e.code.as_str()))
        .collect();
    let line = |index: usize| index as u64 + 1;
    assert_eq!(
        errors,
        vec![
            (line(first), Some("step"), "invalid"),
            (line(step_lines[1]), Some("step"), "invalid"),
            (line(step_lines[2]), Some("step"), "not_found"),
            (line(lines.len() - 2), None, "invalid"),
            (line(lines.len() - 1), Some("session"), "invalid"),
        ],
        "{:#?}",
        report.errors
    );
    assert!(
        report.errors[1].message.contains("confidence"),
        "{:?}",
        report.errors[1]
    );
    assert_eq!(report.failed, 5);
    // The session itself was applied; of its steps none was.
    let imported = target
        .lux
        .get_session(target_project, &reference)
        .await
        .unwrap();
    assert!(
        target
            .lux
            .all_steps(target_project, &reference)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(imported.tool, "corrupt_test");
    assert!(
        target
            .lux
            .get_session(target_project, &SessionRef::Id(lux_core::SessionId(bad_id)))
            .await
            .is_err()
    );

    // A file that is no JSON at all is refused as a whole.
    let error = target
        .lux
        .import_bytes(target_project, b"id,tool\n1,x\n")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
    // A changed record under a stored id is a conflict, not an overwrite.
    let mut changed: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    changed["title"] = serde_json::json!("another title");
    let report = target
        .lux
        .import_bytes(target_project, changed.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(report.errors[0].code, "conflict", "{report:?}");
    target.cleanup().await;
}

/// A record only the database refuses (a second step under a taken step number passes every
/// check before the insert) fails alone, even though the chunk was first tried in one piece: the
/// records around it are stored, and only once.
async fn a_record_the_database_refuses_fails_alone(lux: &Lux) {
    let (reference, mut lines) = exported_session(lux, "refused_test", &["first", "second"]).await;
    let first_step = lines
        .iter()
        .position(|line| line.contains(r#""kind":"step""#))
        .unwrap();
    let mut taken: serde_json::Value = serde_json::from_str(&lines[first_step]).unwrap();
    taken["id"] = serde_json::json!(uuid::Uuid::now_v7());
    taken["content"] = serde_json::json!("same number, other step");
    lines.insert(first_step + 1, taken.to_string());
    let file = lines.join("\n");

    let (target, report) = import_into_fresh(lux, &file).await;
    let target_project = target.lux.default_project();
    assert_eq!(report.failed, 1, "{report:#?}");
    assert_eq!(report.errors[0].line, first_step as u64 + 2, "{report:#?}");
    assert_eq!(report.errors[0].kind.as_deref(), Some("step"));
    assert_eq!(report.created as usize, lines.len() - 1, "{report:#?}");
    let steps = target
        .lux
        .all_steps(target_project, &reference)
        .await
        .unwrap();
    let contents: Vec<&str> = steps.iter().map(|step| step.content.as_str()).collect();
    assert_eq!(contents, ["first", "second"]);
    // Imported again, everything is already there and nothing doubles.
    let again = target
        .lux
        .import_bytes(target_project, file.as_bytes())
        .await
        .unwrap();
    assert_eq!(again.created, 0, "{again:#?}");
    assert_eq!(again.failed, 1, "{again:#?}");
    assert_eq!(
        target
            .lux
            .all_steps(target_project, &reference)
            .await
            .unwrap()
            .len(),
        2
    );
    target.cleanup().await;
}

async fn csv_parses_back_with_header_and_rows(lux: &Lux) {
    demo(lux).await;
    let (project, _session, reference) = session(lux, "csv_test").await;
    let tricky = "He said \"yes\", then\nleft; naïve — 日本";
    lux.append_step(project, &reference, thought(tricky))
        .await
        .unwrap();

    // Independent count: every session's steps through the ordinary services.
    let sessions = lux
        .list_sessions(
            project,
            &SessionFilter::default(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap()
        .items;
    let mut expected_steps = 0;
    for session in &sessions {
        expected_steps += lux
            .all_steps(project, &SessionRef::Id(session.id))
            .await
            .unwrap()
            .len();
    }

    let csv_bytes = export_bytes(
        lux,
        project,
        ExportDataset::Steps,
        ExportFormat::Csv,
        ExportFilter::default(),
    )
    .await;
    let jsonl = export_bytes(
        lux,
        project,
        ExportDataset::Steps,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    // The header names exactly the fields of the JSON records (without the record kind).
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&jsonl).unwrap().lines().next().unwrap()).unwrap();
    let mut json_keys: Vec<String> = first
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| *key != "kind")
        .cloned()
        .collect();
    let mut sorted_header = header.clone();
    json_keys.sort();
    sorted_header.sort();
    assert_eq!(sorted_header, json_keys);
    let content = header.iter().position(|h| h == "content").unwrap();
    let metadata = header.iter().position(|h| h == "metadata").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), expected_steps);
    assert!(rows.iter().any(|row| &row[content] == tricky));
    // Nested values are JSON text in one cell.
    for row in &rows {
        assert!(
            serde_json::from_str::<serde_json::Value>(&row[metadata])
                .unwrap()
                .is_object()
        );
    }

    // Filters select sessions as the session list does.
    let filter = SessionFilter {
        tool: Some("csv_test".to_owned()),
        ..SessionFilter::default()
    };
    let filtered = export_bytes(
        lux,
        project,
        ExportDataset::Steps,
        ExportFormat::Csv,
        ExportFilter {
            sessions: filter,
            session: None,
        },
    )
    .await;
    let rows = csv::Reader::from_reader(filtered.as_slice())
        .records()
        .count();
    assert_eq!(rows, 1);
    // `all` cannot be CSV: it mixes kinds.
    assert!(ExportEncoder::new(ExportDataset::All, ExportFormat::Csv).is_err());
}

async fn large_exports_stream_in_bounded_chunks(lux: &Lux) {
    let project = lux.default_project();
    let options = IngestOptions { analyze: false };
    let created = lux
        .ingest_with(
            project,
            &[IngestRecord::Session(new_session("bulk"))],
            &options,
        )
        .await
        .unwrap();
    let session_id = match &created[0] {
        lux_core::services::ingest::ItemResult::Created { id } => *id,
        other => panic!("{other:?}"),
    };
    let reference = SessionRef::Id(lux_core::SessionId(session_id));
    let n_steps = 2_600;
    let records: Vec<IngestRecord> = (0..n_steps)
        .map(|i| IngestRecord::Step {
            session: reference.clone(),
            step: NewStep {
                kind: "thought".to_owned(),
                content: format!("step {i}"),
                ..NewStep::default()
            },
        })
        .collect();
    for batch in records.chunks(1000) {
        lux.ingest_with(project, batch, &options).await.unwrap();
    }
    let mut cursor = lux
        .export(project, ExportDataset::Steps, ExportFilter::default())
        .unwrap();
    let mut sizes = Vec::new();
    let mut ids = HashSet::new();
    while let Some(chunk) = cursor.next_chunk().await.unwrap() {
        sizes.push(chunk.len());
        for record in chunk {
            let lux_core::ExportRecord::Step(step) = record else {
                panic!("not a step: {record:?}");
            };
            assert!(ids.insert(step.id), "step exported twice");
        }
    }
    assert_eq!(ids.len(), n_steps);
    assert!(sizes.iter().all(|&size| size <= 1000), "{sizes:?}");
    assert_eq!(sizes.len(), n_steps.div_ceil(1000), "{sizes:?}");

    // One session's full records, as the MCP tool will ask for them.
    let records = lux.export_session(project, &reference).await.unwrap();
    assert_eq!(records.len(), 1 + n_steps);
    let json = lux.export_session_json(project, &reference).await.unwrap();
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.len(), 1 + n_steps);
}

storage_tests!(
    export_import_export_is_byte_identical,
    reimport_changes_nothing,
    an_import_names_the_sessions_it_gave_steps,
    corrupt_lines_are_reported_and_the_rest_applied,
    a_record_the_database_refuses_fails_alone,
    csv_parses_back_with_header_and_rows,
    large_exports_stream_in_bounded_chunks,
);

/// The original Lux MCP server's tables (its `migrations/001_initial_schema.sql`, tables only).
#[cfg(lux_postgres_tests)]
const LUX_MCP_SCHEMA: &str = r#"
CREATE TABLE sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_type VARCHAR(50) NOT NULL,
    session_external_id VARCHAR(255) UNIQUE NOT NULL,
    query TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    completed_at TIMESTAMP WITH TIME ZONE,
    status VARCHAR(50) DEFAULT 'active',
    metadata JSONB DEFAULT '{}'::jsonb
);
CREATE TABLE session_models (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    role VARCHAR(50) NOT NULL,
    model_name VARCHAR(255) NOT NULL,
    model_provider VARCHAR(50),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE reasoning_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    step_type VARCHAR(50) NOT NULL,
    content TEXT NOT NULL,
    raw_llm_response TEXT,
    model_used VARCHAR(255),
    confidence_score FLOAT,
    clarity_score FLOAT,
    thinking_time_ms INTEGER,
    tokens_used INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb,
    UNIQUE(session_id, step_number)
);
CREATE TABLE synthesis_states (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    step_number INTEGER,
    current_understanding TEXT,
    confidence_score FLOAT DEFAULT 0.0,
    clarity_score FLOAT DEFAULT 0.0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    raw_update_call TEXT,
    parsed_data JSONB DEFAULT '{}'::jsonb,
    UNIQUE(session_id, version)
);
CREATE TABLE insights (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    synthesis_state_id UUID REFERENCES synthesis_states(id) ON DELETE CASCADE,
    insight_text TEXT NOT NULL,
    confidence FLOAT,
    source_step INTEGER,
    supported_by_evidence BOOLEAN DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE action_items (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    synthesis_state_id UUID REFERENCES synthesis_states(id) ON DELETE CASCADE,
    action_text TEXT NOT NULL,
    priority VARCHAR(20),
    rationale TEXT,
    dependencies TEXT[],
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE bias_detections (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    has_bias BOOLEAN NOT NULL,
    severity VARCHAR(20),
    bias_types TEXT[],
    suggestions TEXT[],
    confidence FLOAT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE monitoring_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    step_number INTEGER,
    event_type VARCHAR(50),
    severity VARCHAR(20),
    intervention_message TEXT,
    pattern_data JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE chat_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    role VARCHAR(20) NOT NULL,
    content TEXT NOT NULL,
    model_used VARCHAR(255),
    response_time_ms INTEGER,
    tokens_used JSONB,
    temperature FLOAT,
    max_tokens INTEGER,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
CREATE TABLE planning_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id UUID REFERENCES sessions(id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    content TEXT NOT NULL,
    is_revision BOOLEAN DEFAULT false,
    revises_step_number INTEGER,
    is_branch BOOLEAN DEFAULT false,
    branch_from_step INTEGER,
    branch_id VARCHAR(255),
    model_used VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    UNIQUE(session_id, step_number)
);
"#;

#[cfg(lux_postgres_tests)]
const LUX_MCP_DATA: &str = r#"
INSERT INTO sessions (id, session_type, session_external_id, query, status, created_at, completed_at) VALUES
 ('11111111-1111-4111-8111-111111111111', 'biased_reasoning', 'bias_5c80349917708f6e', 'Should we shard?', 'completed', '2025-08-01T10:00:00Z', '2025-08-01T10:05:00Z'),
 ('22222222-2222-4222-8222-222222222222', 'chat', 'chat_1', 'hello', 'active', '2025-08-02T10:00:00Z', NULL),
 ('33333333-3333-4333-8333-333333333333', 'planner', 'plan_1', 'Plan the launch', 'active', '2025-08-03T10:00:00Z', NULL);
INSERT INTO session_models (session_id, role, model_name, model_provider) VALUES
 ('11111111-1111-4111-8111-111111111111', 'primary', 'gpt-4o', 'openai'),
 ('22222222-2222-4222-8222-222222222222', 'primary', 'gpt-4o-mini', 'openai');
INSERT INTO reasoning_steps (id, session_id, step_number, step_type, content, confidence_score, clarity_score, tokens_used, created_at) VALUES
 ('aaaaaaaa-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 1, 'query', 'Should we shard?', NULL, NULL, NULL, '2025-08-01T10:00:01Z'),
 ('aaaaaaaa-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 2, 'reasoning', 'Sharding always wins.', 0.9, 0.7, 120, '2025-08-01T10:00:02Z'),
 ('aaaaaaaa-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 3, 'reasoning', 'Broken confidence.', 7.0, 0.5, 80, '2025-08-01T10:00:03Z');
INSERT INTO synthesis_states (id, session_id, version, step_number, current_understanding, confidence_score, clarity_score, raw_update_call, parsed_data, created_at) VALUES
 ('bbbbbbbb-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 1, 2, 'Sharding helps at scale', 0.6, 0.5, 'update_synthesis(...)', '{"pros": ["scale"]}', '2025-08-01T10:00:02Z');
INSERT INTO insights (synthesis_state_id, insight_text, confidence, source_step, created_at) VALUES
 ('bbbbbbbb-0000-4000-8000-000000000001', 'Writes dominate', 0.8, 2, '2025-08-01T10:00:02Z'),
 ('bbbbbbbb-0000-4000-8000-000000000001', 'Reads are cached', 0.6, 2, '2025-08-01T10:00:03Z');
INSERT INTO action_items (synthesis_state_id, action_text, priority, rationale, dependencies) VALUES
 ('bbbbbbbb-0000-4000-8000-000000000001', 'Measure write load', 'HIGH', 'need data', ARRAY['metrics', 'dashboards']);
INSERT INTO bias_detections (session_id, step_number, has_bias, severity, bias_types, suggestions, confidence) VALUES
 ('11111111-1111-4111-8111-111111111111', 2, true, 'high', ARRAY['Overgeneralization', 'anchoring'], ARRAY['Qualify the claim'], 0.85),
 ('11111111-1111-4111-8111-111111111111', 1, false, 'none', ARRAY[]::text[], NULL, 0.1);
INSERT INTO monitoring_events (session_id, step_number, event_type, severity, intervention_message, pattern_data) VALUES
 ('11111111-1111-4111-8111-111111111111', 2, 'circular_reasoning', 'medium', 'You are repeating step 1', '{"similarity": 0.8}');
INSERT INTO chat_messages (id, session_id, role, content, model_used, response_time_ms, tokens_used, created_at) VALUES
 ('cccccccc-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'user', 'hello', NULL, NULL, NULL, '2025-08-02T10:00:01Z'),
 ('cccccccc-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'assistant', 'hi there', 'gpt-4o-mini', 850, '{"prompt": 10, "completion": 20, "total": 30}', '2025-08-02T10:00:02Z');
INSERT INTO planning_steps (session_id, step_number, content, is_revision, revises_step_number, model_used, created_at) VALUES
 ('33333333-3333-4333-8333-333333333333', 1, 'List the tasks', false, NULL, 'gpt-4o', '2025-08-03T10:00:01Z'),
 ('33333333-3333-4333-8333-333333333333', 2, 'Reorder the tasks', true, 1, 'gpt-4o', '2025-08-03T10:00:02Z');
"#;

#[cfg(lux_postgres_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_the_original_lux_mcp_tables() {
    use sea_orm::ConnectionTrait;

    let (source_url, source_name) = TestDb::create_postgres_database().await;
    let source = sea_orm::Database::connect(&source_url).await.unwrap();
    source.execute_unprepared(LUX_MCP_SCHEMA).await.unwrap();
    source.execute_unprepared(LUX_MCP_DATA).await.unwrap();
    source.close().await.unwrap();

    let target = TestDb::sqlite().await;
    let lux = &target.lux;
    let project = lux.default_project();
    let report = lux.import_from_lux_mcp(project, &source_url).await.unwrap();
    // The only bad row: a confidence of 7 on a 0..1 scale.
    assert_eq!(report.failed, 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].kind.as_deref(), Some("step"));
    assert!(
        report.errors[0].message.contains("confidence"),
        "{:?}",
        report.errors
    );

    let jsonl = export_bytes(
        lux,
        project,
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    let kinds = kinds_of(&jsonl);
    let expected: BTreeMap<String, usize> = [
        ("session", 3),
        ("step", 2 + 2 + 2),
        ("synthesis_version", 1),
        ("insight", 2),
        ("action_item", 1),
        ("model_call", 1),
        // One detection naming two bias types; the one without bias is not a finding.
        ("finding", 2),
        ("monitor_event", 1),
    ]
    .into_iter()
    .map(|(kind, count)| (kind.to_owned(), count))
    .collect();
    assert_eq!(kinds, expected);
    let records: Vec<serde_json::Value> = std::str::from_utf8(&jsonl)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    fn find<'a>(
        records: &'a [serde_json::Value],
        kind: &'static str,
    ) -> impl Iterator<Item = &'a serde_json::Value> {
        records.iter().filter(move |r| r["kind"] == kind)
    }
    let biased = find(&records, "session")
        .find(|s| s["external_id"] == "bias_5c80349917708f6e")
        .unwrap();
    assert_eq!(biased["tool"], "biased_reasoning");
    assert_eq!(biased["status"], "completed");
    assert_eq!(biased["model"], "gpt-4o");
    let action = find(&records, "action_item").next().unwrap();
    assert_eq!(action["priority"], "high");
    assert_eq!(
        action["dependencies"],
        serde_json::json!(["metrics", "dashboards"])
    );
    let call = find(&records, "model_call").next().unwrap();
    assert_eq!(
        (
            call["input_tokens"].as_i64(),
            call["output_tokens"].as_i64()
        ),
        (Some(10), Some(20))
    );
    let chat: Vec<(i64, String)> = find(&records, "step")
        .filter(|s| s["session_id"] == "22222222-2222-4222-8222-222222222222")
        .map(|s| {
            (
                s["step_number"].as_i64().unwrap(),
                s["step_kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        chat,
        vec![(1, "user".to_owned()), (2, "assistant".to_owned())]
    );
    let mut bias_types: Vec<&str> = find(&records, "finding")
        .map(|f| f["bias_type"].as_str().unwrap())
        .collect();
    bias_types.sort();
    assert_eq!(bias_types, ["anchoring", "overgeneralization"]);
    let revision = find(&records, "step")
        .find(|s| s["step_kind"] == "plan" && s["step_number"] == 2)
        .unwrap();
    assert_eq!(
        (
            revision["is_revision"].as_bool(),
            revision["revises_step"].as_i64()
        ),
        (Some(true), Some(1))
    );

    // Running it again changes nothing.
    let again = lux.import_from_lux_mcp(project, &source_url).await.unwrap();
    assert_eq!(again.created, 0, "{again:?}");
    assert_eq!(
        again.already_present,
        report.created + report.already_present
    );
    let after = export_bytes(
        lux,
        project,
        ExportDataset::All,
        ExportFormat::Jsonl,
        ExportFilter::default(),
    )
    .await;
    assert!(after == jsonl);

    // Not a Lux MCP database: a clear error, not a panic.
    let error = lux
        .import_from_lux_mcp(project, &target.url)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid");
    let (empty_url, empty_name) = TestDb::create_postgres_database().await;
    let empty = lux.import_from_lux_mcp(project, &empty_url).await;
    assert_eq!(empty.unwrap_err().code(), "invalid");

    let server = std::env::var("LUX_TEST_DATABASE_URL").unwrap();
    for name in [source_name, empty_name] {
        lux_core::store::drop_postgres_database(&server, &name)
            .await
            .ok();
    }
    target.cleanup().await;
}
