//! `lux demo`: realistic sample sessions, so every view has something to show on a first run.

use clap::Args;
use lux_core::Lux;
use lux_core::demo::{DemoOptions, DemoSummary};

use crate::config::GlobalArgs;

pub(crate) const DEFAULT_SESSIONS: usize = 60;
pub(crate) const DEFAULT_SEED: u64 = 42;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many sessions to generate.
    #[arg(long, default_value_t = DEFAULT_SESSIONS)]
    sessions: usize,
    /// Seed: the same seed gives the same sessions, and running it twice adds nothing.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

pub(crate) async fn fill(lux: &Lux, sessions: usize, seed: u64) -> anyhow::Result<DemoSummary> {
    let options = DemoOptions { sessions, seed };
    Ok(lux.fill_demo(lux.default_project(), &options).await?)
}

pub(crate) async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<()> {
    if args.sessions == 0 || args.sessions > 100_000 {
        anyhow::bail!(
            "--sessions must be between 1 and 100000, got {}",
            args.sessions
        );
    }
    let instance = global.instance().await?;
    let summary = fill(instance.lux(), args.sessions, args.seed).await?;
    println!(
        "created {} sessions, {} steps, {} synthesis versions, {} model calls ({}), {} findings, {} monitor events",
        summary.sessions,
        summary.steps,
        summary.synthesis_versions,
        summary.model_calls,
        summary.cost,
        summary.findings,
        summary.monitor_events,
    );
    if summary.sessions == 0 {
        println!(
            "(seed {} was already loaded; pass --seed N for more)",
            args.seed
        );
    }
    Ok(())
}
