//! `lux bench analytics`: the read side at the design's scale — a million synthetic steps written
//! in bulk, then every dashboard query over real loopback HTTP (p50/p95, against a point read of
//! one session measured in the same run), full-text search, and streamed exports and imports
//! run as child `lux` processes whose peak memory is sampled.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lux_core::bulk::{BulkOptions, BulkSummary};
use lux_core::store::{create_postgres_database, drop_postgres_database, ensure_postgres_database};
use lux_core::{DatabaseOptions, Lux, PageRequest, SessionFilter};
use uuid::Uuid;

use crate::instance::{Instance, InstanceOptions};
use crate::rest::AuthPolicy;
use crate::server::{AppState, bind, serve};

#[derive(Debug, Args)]
pub(crate) struct AnalyticsArgs {
    /// Sessions to generate.
    #[arg(long, default_value_t = 50_000)]
    sessions: usize,
    /// Steps to generate, spread over the sessions.
    #[arg(long, default_value_t = 1_000_000)]
    steps: usize,
    /// Timed requests per endpoint (after two warm-ups).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Also run on a scratch database created (and dropped) on this PostgreSQL server.
    #[arg(long, env = "LUX_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// With `--postgres`: keep the history in this database on that server instead of a scratch
    /// one (created when missing, reused when it holds sessions, never dropped), as
    /// `--sqlite-file` does for SQLite.
    #[arg(long, value_name = "NAME", requires = "postgres")]
    postgres_database: Option<String>,
    /// Skip SQLite (with `--postgres`, measure PostgreSQL only).
    #[arg(long)]
    no_sqlite: bool,
    /// Keep the SQLite history in this file instead of a scratch one, and reuse it when it
    /// already holds sessions: generating a million steps takes minutes, a re-measure seconds.
    #[arg(long, value_name = "PATH")]
    sqlite_file: Option<std::path::PathBuf>,
    /// Time only the endpoints whose path contains this text (the baseline always), and skip
    /// the exports and the import.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} steps ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("generating");
    bar
}

async fn fill(lux: &Lux, args: &AnalyticsArgs) -> anyhow::Result<BulkSummary> {
    let bar = progress_bar(args.steps);
    let options = BulkOptions {
        sessions: args.sessions,
        steps: args.steps,
        days: 90,
        seed: 42,
    };
    let summary = lux
        .fill_bulk(lux.default_project(), &options, |steps| {
            bar.set_position(steps as u64)
        })
        .await?;
    bar.finish_and_clear();
    if lux.backend() == lux_core::Backend::Postgres {
        // What a server's background refresh does within seconds of the writes.
        lux.refresh_day_rollups().await?;
        // The bulk load writes 250 sessions per transaction, so each rollup row is updated dozens
        // of times before any of its old versions may be pruned: the rollups come out 15–25
        // times their live size (207 MB for 13 MB of `analytics_session_days` at a million
        // steps), and every report would scan that. A server's transactions touch a row a few
        // times and pruning reclaims old versions between them, so compact the rollups, then do
        // what autovacuum does within minutes: clear dead versions everywhere and refresh the
        // planner's statistics.
        sea_orm::ConnectionTrait::execute_unprepared(
            lux.db(),
            "VACUUM FULL analytics_daily, analytics_session_days, analytics_session_calls, \
             analytics_session_signals, analytics_call_latencies",
        )
        .await?;
        sea_orm::ConnectionTrait::execute_unprepared(lux.db(), "VACUUM (ANALYZE)").await?;
    }
    // What a server does at its next start or within the hour on SQLite.
    lux.refresh_planner_statistics().await?;
    Ok(summary)
}

/// Times `runs` GETs of `path` after two warm-ups; `None` when the server does not answer 200.
async fn time_get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    runs: usize,
) -> anyhow::Result<Result<(f64, f64), String>> {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs + 2 {
        let started = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Ok(Err(format!(
                "HTTP {status}: {}",
                text.chars().take(120).collect::<String>()
            )));
        }
        if run >= 2 {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    Ok(Ok((percentile(&samples, 0.50), percentile(&samples, 0.95))))
}

async fn run_backend(
    name: &str,
    url: &str,
    import_url: &str,
    args: &AnalyticsArgs,
) -> anyhow::Result<()> {
    let instance = Instance::open(DatabaseOptions::new(url), InstanceOptions::default()).await?;
    let lux = instance.lux().clone();
    let existing = lux
        .list_sessions(
            lux.default_project(),
            &SessionFilter::default(),
            &PageRequest::first(1),
        )
        .await?
        .items;
    if !existing.is_empty() {
        println!("{name}: reusing the history already in {url}");
    } else {
        let summary = fill(&lux, args).await?;
        println!(
            "{name}: generated {} sessions, {} steps, {} model calls, {} findings, {} alerts, {} synthesis versions in {:.1} s ({:.0} rows/s)",
            summary.sessions,
            summary.steps,
            summary.model_calls,
            summary.findings,
            summary.monitor_events,
            summary.synthesis_versions,
            summary.elapsed.as_secs_f64(),
            summary.rows() as f64 / summary.elapsed.as_secs_f64()
        );
    }

    let acceptor = bind("127.0.0.1:0").await?;
    let port = poem::listener::Acceptor::local_addr(&acceptor)
        .first()
        .and_then(|address| address.as_socket_addr().map(|socket| socket.port()))
        .ok_or_else(|| anyhow::anyhow!("no local port"))?;
    let server = tokio::spawn(serve(
        acceptor,
        None,
        AppState::with_max_in_flight(&instance, AuthPolicy::new(true), 1024),
    ));
    let base = format!("http://127.0.0.1:{port}");
    lux_core::llm::install_crypto_provider();
    let client = reqwest::Client::new();

    let sessions = lux
        .list_sessions(
            lux.default_project(),
            &SessionFilter::default(),
            &PageRequest::first(2),
        )
        .await?
        .items;
    anyhow::ensure!(sessions.len() == 2, "the bulk fill wrote no sessions");
    let (a, b) = (sessions[0].id, sessions[1].id);
    let month_ago = (Utc::now() - chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .replace('+', "%2B");
    let endpoints = [
        format!("/api/v1/sessions/{a}"),
        "/api/v1/sessions?limit=50".to_owned(),
        "/api/v1/analytics/overview".to_owned(),
        format!("/api/v1/analytics/overview?since={month_ago}"),
        "/api/v1/analytics/overview?tool=planner".to_owned(),
        "/api/v1/analytics/costs?group_by=model".to_owned(),
        "/api/v1/analytics/costs?group_by=day".to_owned(),
        "/api/v1/analytics/costs?group_by=user".to_owned(),
        "/api/v1/analytics/models".to_owned(),
        "/api/v1/analytics/bias-rates?group_by=bias_type".to_owned(),
        "/api/v1/analytics/bias-rates?group_by=day".to_owned(),
        "/api/v1/analytics/bias-rates?group_by=model".to_owned(),
        "/api/v1/analytics/monitor?group_by=kind".to_owned(),
        "/api/v1/analytics/recommendations".to_owned(),
        // The dashboard's analytics page: the overview and four reports, rendered.
        "/analytics".to_owned(),
        "/analytics?range=30d".to_owned(),
        "/api/v1/export/analytics_overview?format=csv".to_owned(),
        "/api/v1/export/analytics_costs?group_by=session&format=csv".to_owned(),
        format!("/api/v1/sessions/{a}/summary"),
        // The dashboard's session page: the summary, steps, findings, alerts, calls and versions.
        format!("/sessions/{a}"),
        format!("/api/v1/sessions/{a}/synthesis/evolution"),
        format!("/api/v1/compare?a={a}&b={b}"),
        "/api/v1/search?q=flamegraph%20scheduler".to_owned(),
        "/api/v1/search?q=cach%C3%A9".to_owned(),
        "/api/v1/search?q=lock%20contention&limit=50".to_owned(),
    ];
    let mut baseline = None;
    println!(
        "{:<58} {:>9} {:>9} {:>8}",
        "GET", "p50 ms", "p95 ms", "p95/base"
    );
    for (i, path) in endpoints.iter().enumerate() {
        if i > 0
            && let Some(only) = &args.only
            && !path.contains(only.as_str())
        {
            continue;
        }
        match time_get(&client, &base, path, args.runs).await? {
            Ok((p50, p95)) => {
                let base_p95 = *baseline.get_or_insert(p95);
                println!(
                    "{:<58} {p50:>9.2} {p95:>9.2} {:>8.1}",
                    shorten(path),
                    p95 / base_p95
                );
            }
            Err(why) => println!("{:<58} {why}", shorten(path)),
        }
    }
    server.abort();
    drop(lux);
    if args.only.is_none() {
        exports(url, import_url).await?;
    }
    Ok(())
}

fn shorten(path: &str) -> String {
    let path = match path.strip_prefix("/api/v1") {
        Some(rest) => rest.to_owned(),
        None => format!("page {path}"),
    };
    if path.chars().count() > 57 {
        path.chars().take(56).collect::<String>() + "…"
    } else {
        path
    }
}

/// Runs `lux ARGS` on `url`, sampling its peak resident memory; returns (elapsed, peak KiB).
async fn child_lux(url: &str, args: &[&str]) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let status_path = format!("/proc/{pid}/status");
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        {
            peak_kib = peak_kib.max(kib);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            pipe.read_to_string(&mut stderr).await?;
        }
        anyhow::bail!("lux {} failed: {}", args.join(" "), stderr.trim());
    }
    Ok((elapsed, peak_kib))
}

fn count_lines(path: &Path) -> anyhow::Result<usize> {
    use std::io::BufRead;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(file.lines().count())
}

/// CSV exports of about a tenth of the history and of all of it (peak memory must not follow
/// the row count), then a full-fidelity export of a slice imported into the empty `import_url`.
async fn exports(url: &str, import_url: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("steps.csv");
    let csv_arg = csv.display().to_string();
    let days_ago = |days: i64| {
        (Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let nine_days_ago = days_ago(9);
    for (label, extra) in [
        (
            "steps of the last 9 days",
            vec!["--since", nine_days_ago.as_str()],
        ),
        ("all steps", vec![]),
    ] {
        let mut args = vec!["export", "steps", "--format", "csv", "--output", &csv_arg];
        args.extend(extra);
        let (elapsed, peak) = child_lux(url, &args).await?;
        let rows = count_lines(&csv)?.saturating_sub(1);
        println!(
            "export csv, {label}: {rows} rows in {:.1} s = {:.0} rows/s, peak RSS {:.1} MiB",
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64(),
            peak as f64 / 1024.0
        );
    }
    std::fs::remove_file(&csv)?;

    let jsonl = dir.path().join("slice.jsonl");
    let jsonl_arg = jsonl.display().to_string();
    let two_days_ago = days_ago(2);
    let args = [
        "export",
        "all",
        "--format",
        "jsonl",
        "--since",
        &two_days_ago,
        "--output",
        &jsonl_arg,
    ];
    let (elapsed, peak) = child_lux(url, &args).await?;
    let records = count_lines(&jsonl)?;
    println!(
        "export all (jsonl), sessions of the last 2 days: {records} records in {:.1} s = {:.0} records/s, peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0
    );
    let (elapsed, peak) = child_lux(import_url, &["import", &jsonl_arg]).await?;
    println!(
        "import into an empty database: {records} records in {:.1} s = {:.0} records/s, peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0
    );
    Ok(())
}

pub(crate) async fn run(args: AnalyticsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sessions > 0 && args.steps > 0 && args.runs > 0,
        "--sessions, --steps and --runs must be positive"
    );
    println!(
        "analytics benchmark: {} steps in {} sessions, {} timed requests per endpoint",
        args.steps, args.sessions, args.runs
    );
    if !args.no_sqlite {
        let dir = tempfile::tempdir()?;
        let url = match &args.sqlite_file {
            Some(path) => format!("sqlite://{}", path.display()),
            None => format!("sqlite://{}/bench.db", dir.path().display()),
        };
        let import_url = format!("sqlite://{}/import.db", dir.path().display());
        run_backend("sqlite", &url, &import_url, &args).await?;
    }
    if let Some(server) = &args.postgres {
        let scratch = format!("lux_bench_{}", Uuid::now_v7().simple());
        let import_name = format!("{scratch}_import");
        let url = match &args.postgres_database {
            Some(kept) => ensure_postgres_database(server, kept).await?,
            None => create_postgres_database(server, &scratch).await?,
        };
        let import_url = create_postgres_database(server, &import_name).await?;
        let result = run_backend("postgres", &url, &import_url, &args).await;
        if args.postgres_database.is_none() {
            drop_postgres_database(server, &scratch).await?;
        }
        drop_postgres_database(server, &import_name).await?;
        result?;
    }
    Ok(())
}
