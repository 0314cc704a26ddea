//! `lux bench ingest`: throughput of the batch-ingest service against bare inserts, on a scratch
//! SQLite file and (with `--postgres`) a scratch PostgreSQL database.

use clap::{Args, Subcommand};
use lux_core::bench::{IngestBenchReport, bench_ingest};
use lux_core::store::{create_postgres_database, drop_postgres_database};
use lux_core::{DatabaseOptions, Lux};

use crate::config::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Write N steps through `Lux::ingest` and through `insert_many`, and compare.
    Ingest(IngestArgs),
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
}

pub(crate) async fn run(_global: &GlobalArgs, command: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Ingest(args) = command;
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    println!(
        "ingest benchmark: {} steps, batches of {}",
        args.steps, args.batch
    );
    println!(
        "{:<10} {:>16} {:>16} {:>8}",
        "backend", "service steps/s", "insert_many/s", "ratio"
    );

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let lux = Lux::open(DatabaseOptions::new(&url)).await?;
    print_row("sqlite", &bench_ingest(&lux, args.steps, args.batch).await?);
    lux.db().clone().close().await?;

    if let Some(server) = &args.postgres {
        let name = format!("lux_bench_{}", uuid::Uuid::now_v7().simple());
        let url = create_postgres_database(server, &name).await?;
        let result = async {
            let lux = Lux::open(DatabaseOptions::new(&url)).await?;
            let report = bench_ingest(&lux, args.steps, args.batch).await;
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
        "{:<10} {:>16.0} {:>16.0} {:>8.2}",
        backend,
        report.service_steps_per_sec(),
        report.baseline_steps_per_sec(),
        report.ratio()
    );
}
