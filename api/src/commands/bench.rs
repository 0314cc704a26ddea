//! `lux bench ingest`: throughput of the batch-ingest service against bare inserts, on a scratch
//! SQLite file and (with `--postgres`) a scratch PostgreSQL database.

use clap::{Args, Subcommand};
use lux_core::DatabaseOptions;
use lux_core::bench::{IngestBenchReport, bench_ingest};
use lux_core::store::{create_postgres_database, drop_postgres_database};

use crate::config::GlobalArgs;
use crate::instance::{Instance, InstanceOptions};

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Write N steps through `Lux::ingest` and through `insert_many`, and compare.
    Ingest(IngestArgs),
    /// REST cost and capacity: ingest over HTTP vs. direct, and GET load (req/s, p50, p99).
    Http(super::bench_http::HttpArgs),
    /// Latency of a `sequential_thinking` call over stdio (median, p99) vs. the in-process write.
    Mcp(super::bench_mcp::McpArgs),
    /// Dashboard queries, search and exports at scale (default 1M steps): p50/p95, rows/s, peak RSS.
    Analytics(super::bench_analytics::AnalyticsArgs),
    /// Precision and recall of the monitor and built-in detectors per signal on a labelled set.
    Detect(DetectArgs),
    /// A detector as a WASM plugin vs. the same code native: calls/s, p50/p99, compile vs. cache, RSS.
    Plugins(super::bench_plugins::PluginsArgs),
    /// Cross-session patterns on generated histories: planted patterns found, false ones on noise.
    Patterns(super::bench_patterns::PatternsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DetectArgs {
    /// Which part of the labelled corpus to score: train, dev, test (sealed: only this command
    /// reads it) or regression (the 84 sessions the first rules were tuned on).
    #[arg(long, default_value = "dev")]
    split: String,
    /// Score a labelled set in the corpus format instead (`docs/detection.md`).
    #[arg(long, conflicts_with = "split")]
    file: Option<std::path::PathBuf>,
    /// Also list each session a signal was missed in or falsely raised in (not for the test split).
    #[arg(long)]
    mistakes: bool,
    /// Bootstrap resamples for the 95 % intervals.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Which detectors to score: the shipped learned ones, or the first hand-written rules (the
    /// baseline they replaced).
    #[arg(long, default_value = "learned", value_parser = ["learned", "rules"])]
    detectors: String,
    /// Steps analysed to time the cost of analysis per step (0 skips it).
    #[arg(long, default_value_t = 2000)]
    timing_steps: usize,
}

async fn run_detect(args: DetectArgs) -> anyhow::Result<()> {
    use lux_core::detect::eval::{self, LanguageGroup, Split};
    let (label, sessions) = match &args.file {
        Some(path) => (
            path.display().to_string(),
            eval::parse_eval_set(&std::fs::read_to_string(path)?)?,
        ),
        None => {
            let split: Split = args.split.parse()?;
            if split == Split::Test && args.mistakes {
                anyhow::bail!(
                    "the test split is sealed: --mistakes lists sessions for train, dev and regression only"
                );
            }
            (format!("{split} split"), eval::corpus_sessions(split)?)
        }
    };
    if sessions.is_empty() {
        anyhow::bail!("{label} holds no sessions");
    }
    let registry = if args.detectors == "rules" {
        lux_core::detect::DetectorRegistry::rules()
    } else {
        lux_core::detect::DetectorRegistry::builtin()
    };
    let outcomes = eval::run_sessions(&registry, &sessions).await;
    let table = eval::bootstrap_scores(&outcomes, args.resamples.max(1));
    println!(
        "detector eval ({} detectors) on {label}: {} labelled sessions, 95 % intervals from {} bootstrap resamples",
        args.detectors, table.sessions, args.resamples
    );
    for group in LanguageGroup::REPORTED {
        let Some(first) = table.scores.iter().find(|s| s.group == group.as_str()) else {
            continue;
        };
        println!(
            "\nlanguages: {} ({} sessions)",
            group.as_str(),
            first.sessions
        );
        println!(
            "{:<24} {:>5} {:>17} {:>17} {:>17} {:>4} {:>4} {:>4}",
            "signal", "pos", "precision", "recall", "F1", "tp", "fp", "fn"
        );
        for score in table.scores.iter().filter(|s| s.group == group.as_str()) {
            let cell = |value: f64, interval: eval::Interval| {
                format!("{value:.2} [{:.2}-{:.2}]", interval.low, interval.high)
            };
            println!(
                "{:<24} {:>5} {:>17} {:>17} {:>17} {:>4} {:>4} {:>4}",
                score.signal,
                score.positives(),
                cell(score.precision(), score.precision_interval),
                cell(score.recall(), score.recall_interval),
                cell(score.f1(), score.f1_interval),
                score.true_positives,
                score.false_positives,
                score.false_negatives
            );
        }
    }
    if args.mistakes {
        println!();
        for mistake in eval::mistakes(&outcomes) {
            let what = if mistake.missed {
                "missed"
            } else {
                "false alarm"
            };
            println!("{what:<12} {:<24} {}", mistake.signal, mistake.session);
        }
    }
    if args.timing_steps > 0 {
        let cost = lux_core::detect::analysis_cost(&registry, args.timing_steps).await;
        println!(
            "\nanalysis cost per step ({} steps of {} bytes after {} earlier steps, one thread): \
             p50 {:.3} ms, p99 {:.3} ms, with the {}",
            cost.steps,
            cost.step_bytes,
            cost.prior_steps,
            cost.p50.as_secs_f64() * 1000.0,
            cost.p99.as_secs_f64() * 1000.0,
            cost.detectors,
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Steps to write on each path.
    #[arg(long, default_value_t = 100_000)]
    steps: usize,
    /// Records per ingest batch (and rows per baseline insert).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Also run on a scratch database created (and dropped) on this PostgreSQL server.
    #[arg(long, env = "LUX_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Workers draining the analysis queue afterwards (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

pub(crate) async fn run(_global: &GlobalArgs, command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Ingest(args) => args,
        BenchCommand::Detect(args) => return run_detect(args).await,
        BenchCommand::Http(args) => return super::bench_http::run(args).await,
        BenchCommand::Mcp(args) => return super::bench_mcp::run(args).await,
        BenchCommand::Analytics(args) => return super::bench_analytics::run(args).await,
        BenchCommand::Plugins(args) => return super::bench_plugins::run(args).await,
        BenchCommand::Patterns(args) => return super::bench_patterns::run(args).await,
    };
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    println!(
        "ingest benchmark: {} steps, batches of {}",
        args.steps, args.batch
    );
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    println!(
        "queued: written with each step's analysis queued (as `lux serve` writes); drained: \
         analysed afterwards by {workers} worker(s)"
    );
    println!(
        "{:<9} {:>10} {:>7} {:>14} {:>7} {:>14} {:>10}",
        "backend", "queued/s", "ratio", "unanalysed/s", "ratio", "insert_many/s", "drained/s"
    );

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let instance = Instance::open(DatabaseOptions::new(&url), InstanceOptions::default()).await?;
    let lux = instance.lux();
    print_row(
        "sqlite",
        &bench_ingest(lux, args.steps, args.batch, workers).await?,
    );
    lux.db().clone().close().await?;

    if let Some(server) = &args.postgres {
        let name = format!("lux_bench_{}", uuid::Uuid::now_v7().simple());
        let url = create_postgres_database(server, &name).await?;
        let result = async {
            let instance =
                Instance::open(DatabaseOptions::new(&url), InstanceOptions::default()).await?;
            let lux = instance.lux();
            let report = bench_ingest(lux, args.steps, args.batch, workers).await;
            lux.db().clone().close().await?;
            Ok::<_, anyhow::Error>(report?)
        }
        .await;
        drop_postgres_database(server, &name).await?;
        print_row("postgres", &result?);
    }
    Ok(())
}

fn print_row(backend: &str, report: &IngestBenchReport) {
    println!(
        "{:<9} {:>10.0} {:>7.3} {:>14.0} {:>7.3} {:>14.0} {:>10.0}",
        backend,
        report.per_sec(report.queued),
        report.ratio(report.queued),
        report.per_sec(report.unanalysed),
        report.ratio(report.unanalysed),
        report.per_sec(report.baseline),
        report.per_sec(report.drained),
    );
}
