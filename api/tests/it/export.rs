//! Exports and imports over real HTTP on a loopback port, on SQLite and PostgreSQL: each format
//! has its content type and parses, bad datasets and formats are 400s naming the allowed values,
//! an import answers per line, and keys never reach another project's records.

use crate::support::{AppServer as Server, serve_app as serve};
use std::collections::BTreeMap;

use lux_core::demo::DemoOptions;
use lux_core::services::api_keys::Scope;
use lux_core::*;
use serde_json::Value;

struct Download {
    status: u16,
    content_type: String,
    disposition: String,
    body: Vec<u8>,
}

impl Server {
    async fn download(&self, path: &str, key: Option<&str>) -> Download {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, disposition) = (header("content-type"), header("content-disposition"));
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap().to_vec();
        Download {
            status,
            content_type,
            disposition,
            body,
        }
    }

    async fn import(&self, body: Vec<u8>, content_type: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/api/v1/import", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn demo(lux: &Lux, project: ProjectId, sessions: usize) {
    lux.fill_demo(project, &DemoOptions { sessions, seed: 9 })
        .await
        .unwrap();
}

/// Steps of every session of the project, counted through the ordinary services.
async fn count_steps(lux: &Lux, project: ProjectId, filter: &SessionFilter) -> usize {
    let sessions = lux
        .list_sessions(project, filter, &PageRequest::first(1000))
        .await
        .unwrap()
        .items;
    let mut steps = 0;
    for session in sessions {
        steps += lux
            .all_steps(project, &SessionRef::Id(session.id))
            .await
            .unwrap()
            .len();
    }
    steps
}

async fn each_format_streams_with_its_content_type(lux: &Lux) {
    let project = lux.default_project();
    demo(lux, project, 10).await;
    let server = serve(lux).await;
    let expected = count_steps(lux, project, &SessionFilter::default()).await;

    let csv = server
        .download("/api/v1/export/steps?format=csv", None)
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    assert_eq!(csv.disposition, "attachment; filename=\"lux-steps.csv\"");
    let mut reader = csv::Reader::from_reader(csv.body.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..3], ["id", "session_id", "step_number"]);
    assert_eq!(reader.records().map(Result::unwrap).count(), expected);

    let json = server
        .download("/api/v1/export/steps?format=json", None)
        .await;
    assert_eq!(json.status, 200);
    assert_eq!(json.content_type, "application/json");
    let items: Vec<Value> = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(items.len(), expected);
    assert!(items.iter().all(|item| item["kind"] == "step"));

    let jsonl = server
        .download("/api/v1/export/steps?format=jsonl", None)
        .await;
    assert_eq!(jsonl.status, 200);
    assert_eq!(jsonl.content_type, "application/x-ndjson");
    let lines: Vec<Value> = std::str::from_utf8(&jsonl.body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, items, "JSON and JSONL carry the same records");

    // Filters select sessions as the session list does.
    let filter = SessionFilter {
        tool: Some("planner".to_owned()),
        ..SessionFilter::default()
    };
    let planner_steps = count_steps(lux, project, &filter).await;
    let filtered = server
        .download("/api/v1/export/steps?format=jsonl&tool=planner", None)
        .await;
    assert_eq!(
        std::str::from_utf8(&filtered.body).unwrap().lines().count(),
        planner_steps
    );
    // An empty selection is still a valid file.
    let empty = server
        .download("/api/v1/export/sessions?format=json&tool=nobody", None)
        .await;
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&empty.body).unwrap(),
        Vec::<Value>::new()
    );

    // Every dataset answers in every format it supports.
    for dataset in ExportDataset::ALL {
        for format in ExportFormat::ALL {
            if dataset == ExportDataset::All && format == ExportFormat::Csv {
                continue;
            }
            let download = server
                .download(&format!("/api/v1/export/{dataset}?format={format}"), None)
                .await;
            assert_eq!(download.status, 200, "{dataset} {format}");
            assert_eq!(download.content_type, format.content_type());
        }
    }
}

/// A table's `group_by` value as its report's grouping enum (they share the snake_case names).
fn grouping<T: serde::de::DeserializeOwned>(group: Option<&str>) -> T {
    serde_json::from_value(Value::from(group.expect("a grouped table"))).unwrap()
}

/// A JSON value as the CSV export writes it.
fn csv_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Every analytics table in every format and grouping holds what its report holds, in columns
/// named by the CSV header and the JSON keys alike.
async fn analytics_tables_export_the_reports(lux: &Lux) {
    let project = lux.default_project();
    demo(lux, project, 12).await;
    let server = serve(lux).await;
    // Up to today's UTC midnight, so that the recommendations' monthly savings, extrapolated over
    // the period up to its end, do not change between one download and the next (an open end
    // is "now").
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let all = AnalyticsFilter {
        until: Some(midnight),
        ..AnalyticsFilter::default()
    };
    let until = midnight.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for table in AnalyticsTable::ALL {
        let groupings: Vec<Option<&str>> = if table.groupings().is_empty() {
            vec![None]
        } else {
            table.groupings().iter().copied().map(Some).collect()
        };
        for group in groupings {
            let query = group.map(|g| format!("&group_by={g}")).unwrap_or_default();
            let path = |format: &str| {
                format!("/api/v1/export/{table}?format={format}&until={until}{query}")
            };
            let json = server.download(&path("json"), None).await;
            assert_eq!(json.status, 200, "{table} {group:?}");
            assert_eq!(
                json.disposition,
                format!("attachment; filename=\"lux-{table}.json\"")
            );
            let rows: Vec<Value> = serde_json::from_slice(&json.body).unwrap();
            for row in &rows {
                let keys: Vec<&str> = row
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                let mut columns = table.columns().to_vec();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                columns.sort_unstable();
                assert_eq!(sorted, columns, "{table}");
            }

            // The figures are the report's.
            let expected: Vec<Vec<Value>> = match table {
                AnalyticsTable::Overview => {
                    let overview = lux.analytics_overview(project, &all).await.unwrap();
                    overview
                        .series
                        .iter()
                        .map(|d| {
                            vec![
                                d.day.to_string().into(),
                                d.counts.steps.into(),
                                d.counts.cost.0.into(),
                                d.counts.alerts.into(),
                            ]
                        })
                        .collect()
                }
                AnalyticsTable::Costs => {
                    let group: CostGroup = grouping(group);
                    let report = lux
                        .analytics_costs(project, &all, group, Some(1000))
                        .await
                        .unwrap();
                    report
                        .rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.key.clone().into(),
                                r.model_calls.into(),
                                r.cost.0.into(),
                                r.tokens.reasoning.into(),
                            ]
                        })
                        .collect()
                }
                AnalyticsTable::Models => lux
                    .analytics_models(project, &all)
                    .await
                    .unwrap()
                    .iter()
                    .map(|m| {
                        vec![
                            m.model.clone().into(),
                            m.model_calls.into(),
                            m.latency_ms.p95.into(),
                            m.cost.0.into(),
                        ]
                    })
                    .collect(),
                AnalyticsTable::BiasRates => {
                    let group: BiasGroup = grouping(group);
                    let report = lux
                        .analytics_bias_rates(project, &all, group)
                        .await
                        .unwrap();
                    report
                        .rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.key.clone().into(),
                                r.findings.into(),
                                r.steps.into(),
                                r.findings_per_100_steps.into(),
                            ]
                        })
                        .collect()
                }
                AnalyticsTable::Monitor => {
                    let group: MonitorGroup = grouping(group);
                    let report = lux.analytics_monitor(project, &all, group).await.unwrap();
                    report
                        .rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.key.clone().into(),
                                r.alerts.into(),
                                r.sessions.into(),
                                r.by_severity.high.into(),
                            ]
                        })
                        .collect()
                }
                AnalyticsTable::Recommendations => lux
                    .analytics_recommendations(project, &all)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|item| {
                        vec![
                            serde_json::to_value(item.kind).unwrap(),
                            item.model.clone().into(),
                            item.saving.map(|s| s.0).into(),
                            item.reason.clone().into(),
                        ]
                    })
                    .collect(),
            };
            let checked: [&str; 4] = match table {
                AnalyticsTable::Overview => ["day", "steps", "cost_nusd", "alerts"],
                AnalyticsTable::Costs => ["key", "model_calls", "cost_nusd", "reasoning_tokens"],
                AnalyticsTable::Models => ["model", "model_calls", "latency_p95_ms", "cost_nusd"],
                AnalyticsTable::BiasRates => ["key", "findings", "steps", "findings_per_100_steps"],
                AnalyticsTable::Monitor => ["key", "alerts", "sessions", "severity_high"],
                _ => ["kind", "model", "saving_nusd", "reason"],
            };
            let exported: Vec<Vec<Value>> = rows
                .iter()
                .map(|row| checked.iter().map(|c| row[*c].clone()).collect())
                .collect();
            assert_eq!(exported, expected, "{table} {group:?}");
            if matches!(table, AnalyticsTable::Overview | AnalyticsTable::Costs) {
                assert!(!rows.is_empty(), "{table}: the demo has activity");
            }

            // CSV: the header is the column list; every cell is the JSON value as text.
            let csv = server.download(&path("csv"), None).await;
            assert_eq!(csv.status, 200);
            let mut reader = csv::Reader::from_reader(csv.body.as_slice());
            let header: Vec<String> = reader
                .headers()
                .unwrap()
                .iter()
                .map(str::to_owned)
                .collect();
            assert_eq!(header, table.columns(), "{table}");
            let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
            assert_eq!(records.len(), rows.len(), "{table} {group:?}");
            for (record, row) in records.iter().zip(&rows) {
                for (column, cell) in header.iter().zip(record.iter()) {
                    assert_eq!(cell, csv_text(&row[column]), "{table} {column}");
                }
            }

            // JSONL: the same objects, one per line.
            let jsonl = server.download(&path("jsonl"), None).await;
            let lines: Vec<Value> = std::str::from_utf8(&jsonl.body)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            assert_eq!(lines, rows, "{table} {group:?}");
        }
    }

    // Filters reach the report: costs of one tool over the days the demo covers.
    let tool = lux
        .list_sessions(project, &SessionFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items[0]
        .tool
        .clone();
    let filtered = AnalyticsFilter {
        tool: Some(tool.clone()),
        ..AnalyticsFilter::default()
    };
    let report = lux
        .analytics_costs(project, &filtered, CostGroup::Day, Some(1000))
        .await
        .unwrap();
    let download = server
        .download(
            &format!("/api/v1/export/analytics_costs?group_by=day&tool={tool}"),
            None,
        )
        .await;
    let rows: Vec<Value> = serde_json::from_slice(&download.body).unwrap();
    let costs: Vec<i64> = rows
        .iter()
        .map(|r| r["cost_nusd"].as_i64().unwrap())
        .collect();
    assert_eq!(
        costs,
        report.rows.iter().map(|r| r.cost.0).collect::<Vec<_>>()
    );
    assert!(
        costs.iter().sum::<i64>()
            < lux
                .analytics_overview(project, &all)
                .await
                .unwrap()
                .totals
                .cost
                .0,
        "one tool costs less than all of them"
    );
}

async fn bad_dataset_and_format_are_400s(lux: &Lux) {
    let server = serve(lux).await;
    for (path, names) in [
        ("/api/v1/export/users?format=csv", "model_calls"),
        ("/api/v1/export/steps?format=xml", "jsonl"),
        ("/api/v1/export/all?format=csv", "json"),
        ("/api/v1/export/steps?status=sleeping", "abandoned"),
        (
            "/api/v1/export/steps?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "before",
        ),
        ("/api/v1/export/steps?session_id=nope", "session_id"),
        ("/api/v1/export/steps?group_by=day", "analytics tables only"),
        (
            "/api/v1/export/analytics_costs?group_by=bias_type",
            "model, day",
        ),
        (
            "/api/v1/export/analytics_models?group_by=day",
            "does not apply",
        ),
        ("/api/v1/export/analytics_costs?status=active", "status"),
        (
            "/api/v1/export/analytics_overview?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "before",
        ),
        ("/api/v1/export/analytics", "analytics_overview"),
    ] {
        let download = server.download(path, None).await;
        assert_eq!(download.status, 400, "{path}");
        let error: Value = serde_json::from_slice(&download.body).unwrap();
        assert!(
            error["message"].as_str().unwrap().contains(names),
            "{path}: {error}"
        );
    }
    // A foreign file, a truncated array and an empty body are 400s too.
    for (body, content_type) in [
        (b"name,age\nx,1\n".to_vec(), "application/json"),
        (b"[{\"kind\":\"session\"".to_vec(), "application/json"),
        (Vec::new(), "application/x-ndjson"),
    ] {
        let (status, error) = server.import(body, content_type, None).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["code"], "invalid");
    }
}

async fn import_over_http_reports_per_line(lux: &Lux) {
    let project = lux.default_project();
    demo(lux, project, 4).await;
    let server = serve(lux).await;
    let all = server
        .download("/api/v1/export/all?format=jsonl", None)
        .await;
    assert_eq!(all.status, 200);
    let mut lines: Vec<String> = std::str::from_utf8(&all.body)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for line in &lines {
        let value: Value = serde_json::from_str(line).unwrap();
        *kinds
            .entry(value["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }

    // Into another database: one corrupt line, the rest applied.
    let target = match lux.backend() {
        Backend::Sqlite => lux_core::testing::TestDb::sqlite().await,
        _ => lux_core::testing::TestDb::postgres().await,
    };
    let target_server = serve(&target.lux).await;
    let last_step = lines
        .iter()
        .rposition(|line| line.contains(r#""kind":"step""#))
        .unwrap();
    lines[last_step] = "{\"kind\":\"step\",\"oops\":".to_owned();
    let (status, report) = target_server
        .import(lines.join("\n").into_bytes(), "application/x-ndjson", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["errors"][0]["line"], last_step as u64 + 1);
    assert_eq!(report["errors"][0]["kind"], "step");
    let total: u64 = kinds.values().sum();
    // Records that reference the broken step (or what hangs off it) fail with "not found"; every
    // line is accounted for once, under its kind.
    let accounted = report["created"].as_u64().unwrap()
        + report["already_present"].as_u64().unwrap()
        + report["failed"].as_u64().unwrap();
    assert_eq!(accounted, total, "{report}");
    let step_counts = report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|counts| counts["kind"] == "step")
        .unwrap();
    assert_eq!(step_counts["failed"], 1, "{report}");
    assert_eq!(step_counts["created"], kinds["step"] - 1, "{report}");
    for error in report["errors"].as_array().unwrap().iter().skip(1) {
        assert_eq!(error["code"], "not_found", "{report}");
    }

    // A file cut short after two whole records: those are applied (here: already present), the
    // cut is reported on its line instead of refusing the records read before it.
    let cut = format!("[{},\n{},\n{{\"kind\":\"ses", lines[0], lines[1]);
    let (status, report) = target_server
        .import(cut.into_bytes(), "application/json", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["already_present"], 2, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("closing ']'"),
        "{report}"
    );

    // The original, as a JSON array, into the source again: all already present.
    let json = server
        .download("/api/v1/export/all?format=json", None)
        .await;
    let (status, report) = server.import(json.body, "application/json", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["already_present"], total, "{report}");
    drop(target_server);
    target.cleanup().await;
}

async fn keys_export_and_import_only_their_project(lux: &Lux) {
    let default = lux.default_project();
    let other = lux.create_project("other", "Other").await.unwrap();
    demo(lux, default, 3).await;
    let session = lux
        .create_session(
            other.id,
            NewSession {
                tool: "other_tool".into(),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .value;
    let reader = lux
        .create_api_key(other.id, "reader", Scope::Read)
        .await
        .unwrap()
        .secret;
    let ingester = lux
        .create_api_key(other.id, "ingester", Scope::Ingest)
        .await
        .unwrap()
        .secret;
    let admin = lux
        .create_api_key(default, "admin", Scope::Admin)
        .await
        .unwrap()
        .secret;
    let server = serve(lux).await;

    let other_sessions = server
        .download("/api/v1/export/sessions?format=jsonl", Some(&reader))
        .await;
    assert_eq!(other_sessions.status, 200);
    let lines: Vec<Value> = std::str::from_utf8(&other_sessions.body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], session.id.to_string());
    // Asking for a session of another project by id yields nothing, not its records.
    let default_all = server
        .download("/api/v1/export/all?format=jsonl", Some(&admin))
        .await;
    let default_session = std::str::from_utf8(&default_all.body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|value| value["kind"] == "session")
        .unwrap();
    let sneaky = server
        .download(
            &format!(
                "/api/v1/export/steps?format=jsonl&session_id={}",
                default_session["id"].as_str().unwrap()
            ),
            Some(&reader),
        )
        .await;
    assert_eq!(sneaky.status, 200);
    assert!(sneaky.body.is_empty());

    // A read key cannot import; keyless requests are refused once keys exist.
    let (status, _) = server
        .import(
            default_all.body.clone(),
            "application/x-ndjson",
            Some(&reader),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .import(default_all.body.clone(), "application/x-ndjson", None)
        .await;
    assert_eq!(status, 401);
    // Another project's records under their ids are conflicts, never moved or duplicated.
    let (status, report) = server
        .import(
            default_all.body.clone(),
            "application/x-ndjson",
            Some(&ingester),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 0, "{report}");
    let sessions = lux
        .list_sessions(
            other.id,
            &SessionFilter::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(sessions.len(), 1);
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|error| error["kind"] == "session" && error["code"] == "conflict"),
        "{report}"
    );
}

storage_tests!(
    each_format_streams_with_its_content_type,
    analytics_tables_export_the_reports,
    bad_dataset_and_format_are_400s,
    import_over_http_reports_per_line,
    keys_export_and_import_only_their_project,
);

mod cli {
    use crate::support::{Scratch, cli_tests};

    /// `lux export` → `lux import` into another database → `lux export` gives the same bytes.
    async fn cli_export_import_round_trip(scratch: &Scratch) {
        scratch.ok(&["demo", "--sessions", "6"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("all.jsonl");
        let file = file.to_str().unwrap();
        scratch.ok(&["export", "all", "--format", "jsonl", "--output", file]);
        let stdout = scratch.ok(&["export", "all", "--format", "jsonl"]);
        assert_eq!(stdout.as_bytes(), std::fs::read(file).unwrap());
        let csv = scratch.ok(&["export", "sessions", "--format", "csv"]);
        let rows = csv::Reader::from_reader(csv.as_bytes()).records().count();
        assert_eq!(rows, 6);

        let other = match scratch.url.starts_with("postgres") {
            true => Scratch::postgres().await,
            false => Scratch::sqlite(),
        };
        let report = other.ok(&["import", file]);
        assert!(report.contains("failed 0"), "{report}");
        assert_eq!(other.ok(&["export", "all", "--format", "jsonl"]), stdout);
        let again = other.ok(&["import", file]);
        assert!(again.starts_with("created 0,"), "{again}");

        let line = scratch.fails(&["export", "everything"]);
        assert!(line.contains("sessions, steps"), "{line}");
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "not json\n").unwrap();
        let line = other.fails(&["import", bad.to_str().unwrap()]);
        assert!(line.contains("not a Lux"), "{line}");
        other.cleanup().await;
    }

    cli_tests!(cli_export_import_round_trip);
}
