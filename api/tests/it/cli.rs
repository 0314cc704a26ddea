//! The CLI: migrations, demo data, session tables, and one-line errors.

use crate::support::{Scratch, cli_tests};

async fn migrate_status_down_up_fresh(scratch: &Scratch) {
    use lux_migration::MigratorTrait;
    let total = lux_migration::Migrator::migrations().len();
    let up = scratch.ok(&["migrate", "up"]);
    assert!(
        up.contains(&format!("applied {total} migration(s); 0 pending")),
        "{up}"
    );
    let status = scratch.ok(&["migrate", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("applied")).count(),
        total,
        "{status}"
    );

    let down = scratch.ok(&["migrate", "down", "--steps", "2"]);
    assert!(
        down.contains(&format!(
            "reverted 2 migration(s); {} still applied",
            total - 2
        )),
        "{down}"
    );
    let status = scratch.ok(&["migrate", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        2,
        "{status}"
    );
    // Opening a database that is behind without migrating is refused with a hint.
    let refused = scratch.fails(&["--no-migrate", "sessions", "list"]);
    assert!(refused.contains("lux migrate up"), "{refused}");

    scratch.ok(&["migrate", "down", "--all"]);
    scratch.ok(&["migrate", "up"]);
    scratch.ok(&["demo", "--sessions", "3"]);
    let fresh = scratch.ok(&["migrate", "fresh"]);
    assert!(
        fresh.contains(&format!("applied {total} migrations")),
        "{fresh}"
    );
    let listed = scratch.ok(&["sessions", "list"]);
    assert!(
        !listed.contains("traced_reasoning") && !listed.contains("confer"),
        "fresh empties the database: {listed}"
    );
}

async fn demo_then_list_and_show(scratch: &Scratch) {
    let demo = scratch.ok(&["demo", "--sessions", "12", "--seed", "3"]);
    assert!(demo.starts_with("created 12 sessions"), "{demo}");
    let again = scratch.ok(&["demo", "--sessions", "12", "--seed", "3"]);
    assert!(
        again.starts_with("created 0 sessions"),
        "a second run adds nothing: {again}"
    );

    let list = scratch.ok(&["sessions", "list", "--limit", "50"]);
    let ids: Vec<&str> = list
        .lines()
        .filter_map(|line| line.split(['│', '┆']).nth(1).map(str::trim))
        .filter(|cell| cell.len() == 36)
        .collect();
    assert_eq!(ids.len(), 12, "{list}");

    let show = scratch.ok(&["sessions", "show", ids[0]]);
    assert!(show.starts_with(ids[0]), "{show}");
    assert!(show.contains(" steps · "), "{show}");
    assert!(show.contains("$"), "cost is shown: {show}");

    let filtered = scratch.ok(&["sessions", "list", "--status", "completed", "--limit", "50"]);
    assert!(
        filtered.lines().count() < list.lines().count(),
        "filter narrows the list"
    );
}

async fn errors_are_one_line_with_non_zero_exit(scratch: &Scratch) {
    scratch.ok(&["migrate", "up"]);
    let unknown = scratch.fails(&["sessions", "show", "0191f3b0-0000-7000-8000-000000000000"]);
    assert!(unknown.contains("not found"), "{unknown}");
    let status = scratch.fails(&["sessions", "list", "--status", "sleeping"]);
    assert!(status.contains("status"), "{status}");
    let sessions = scratch.fails(&["demo", "--sessions", "0"]);
    assert!(sessions.contains("--sessions"), "{sessions}");
}

cli_tests!(
    migrate_status_down_up_fresh,
    demo_then_list_and_show,
    errors_are_one_line_with_non_zero_exit
);

/// A trial of one signal names the signals when given another word, before any training starts.
#[test]
fn train_detectors_only_refuses_an_unknown_signal() {
    let scratch = Scratch::sqlite();
    let line = scratch.fails(&[
        "train",
        "detectors",
        "--version",
        "0.0.1",
        "--out",
        "/nonexistent",
        "--only",
        "wishful_thinking",
    ]);
    assert!(line.contains("--only wishful_thinking"), "{line}");
    assert!(line.contains("circular_reasoning"), "{line}");
}

#[test]
fn an_unsupported_database_url_is_a_clear_error() {
    let scratch = Scratch::sqlite();
    let output = scratch
        .lux()
        .args(["sessions", "list"])
        .env("LUX_DATABASE_URL", "mysql://root@localhost/x")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sqlite: or postgres://"), "{stderr}");
}

#[test]
fn an_unreachable_postgres_fails_fast_with_one_line() {
    let scratch = Scratch::sqlite();
    let output = scratch
        .lux()
        .args(["sessions", "list"])
        .env(
            "LUX_DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "passwords never reach messages: {stderr}"
    );
}

/// `lux bench ingest` writes with analysis queued, drains the queue with the workers asked for,
/// and prints every rate with its ratio to the bare insert.
#[test]
fn bench_ingest_prints_queued_and_drained_rates() {
    let scratch = Scratch::sqlite();
    let out = scratch.ok(&[
        "bench",
        "ingest",
        "--steps",
        "300",
        "--batch",
        "100",
        "--workers",
        "2",
    ]);
    assert!(out.contains("analysed afterwards by 2 worker(s)"), "{out}");
    let header = out
        .lines()
        .find(|line| line.starts_with("backend"))
        .unwrap_or_else(|| panic!("no header in {out}"));
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "backend",
            "queued/s",
            "ratio",
            "unanalysed/s",
            "ratio",
            "insert_many/s",
            "drained/s"
        ]
    );
    let row = out
        .lines()
        .find(|line| line.starts_with("sqlite"))
        .unwrap_or_else(|| panic!("no sqlite row in {out}"));
    let figures: Vec<f64> = row
        .split_whitespace()
        .skip(1)
        .map(|figure| figure.parse().unwrap())
        .collect();
    assert_eq!(figures.len(), 6, "{row}");
    assert!(figures.iter().all(|figure| *figure > 0.0), "{row}");
    // A ratio is the path's rate over the bare insert's.
    assert!((figures[1] - figures[0] / figures[4]).abs() < 0.01, "{row}");
}

/// `lux bench http` measures batch ingest over real HTTP against the direct call and a bare
/// insert of the same rows, and says each ratio the way its rates give it.
#[test]
fn bench_http_prints_rest_ingest_against_a_bare_insert() {
    let scratch = Scratch::sqlite();
    let out = scratch.ok(&[
        "bench",
        "http",
        "--steps",
        "300",
        "--concurrency",
        "2",
        "--seconds",
        "1",
    ]);
    let row = out
        .lines()
        .find(|line| line.starts_with("sqlite"))
        .unwrap_or_else(|| panic!("no sqlite row in {out}"));
    let number_after = |label: &str| -> f64 {
        let rest = &row[row
            .find(label)
            .unwrap_or_else(|| panic!("no {label:?} in {row}"))
            + label.len()..];
        rest.trim_start()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .and_then(|figure| figure.parse().ok())
            .unwrap_or_else(|| panic!("no figure after {label:?} in {row}"))
    };
    let bare = number_after("bare insert_many");
    let over_http = number_after("over HTTP");
    let of_bare = number_after("steps/s (");
    assert!(bare > 0.0 && over_http > 0.0, "{row}");
    // The first ratio printed is the direct path's; the HTTP one follows its rate.
    let http_ratio = number_after(&format!("{over_http:.0} steps/s ("));
    assert!(of_bare > 0.0, "{row}");
    assert!((http_ratio - over_http / bare).abs() < 0.01, "{row}");
}

/// `lux bench mcp` drives a real `lux mcp` child and prints comparable figures for both paths,
/// for all thoughts and, in a long session, for its first and last hundred apart.
#[test]
fn bench_mcp_prints_latencies_of_both_paths() {
    let scratch = Scratch::sqlite();
    let out = scratch.ok(&["bench", "mcp", "--calls", "100", "--thoughts", "200"]);
    let figure = |line: &str, name: &str| -> f64 {
        let after = line.split(name).nth(1).expect(name).trim_start();
        after
            .split_whitespace()
            .next()
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no {name} figure in {line:?}"))
    };
    for group in ["all thoughts:", "thoughts 1-100:", "thoughts 101-200:"] {
        let lines: Vec<&str> = out
            .lines()
            .skip_while(|line| *line != group)
            .skip(1)
            .take(3)
            .collect();
        assert_eq!(lines.len(), 3, "no {group} group in {out}");
        for (line, path) in lines
            .iter()
            .zip(["stdio sequential_thinking", "in-process append_step"])
        {
            assert!(
                line.trim_start().starts_with(path),
                "{path} in {group}: {out}"
            );
            let (median, p99) = (figure(line, "median"), figure(line, "p99"));
            assert!(median > 0.0 && p99 >= median, "{line}");
        }
        assert!(lines[2].contains("ratio stdio/in-process: median"), "{out}");
    }
    let refused = scratch.fails(&["bench", "mcp", "--calls", "0"]);
    assert!(refused.contains("--calls"), "{refused}");
}
