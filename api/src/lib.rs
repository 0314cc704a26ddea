//! `lux-api`: the `lux` command (server, migrations, demo data, inspection, benchmarks) and the
//! HTTP app, as a library so integration tests can run the app in-process.

mod commands;
mod config;
mod dashboard;
pub mod instance;
pub mod mcp;
mod metrics;
pub mod otlp;
pub mod rest;
pub mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "lux",
    version,
    about = "Persistent memory, analytics and plugins for LLM reasoning"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP: the dashboard at `/`, REST under `/api/v1`, MCP at `/mcp`, health and metrics;
    /// OTLP/HTTP traces at `/v1/traces` on a second port.
    Serve(commands::serve::ServeArgs),
    /// Serve MCP over stdio (for Claude Desktop and other MCP hosts); logs go to stderr.
    Mcp,
    /// Apply, revert or inspect schema migrations.
    Migrate(commands::migrate::MigrateArgs),
    /// Fill the database with realistic sample sessions.
    Demo(commands::demo::DemoArgs),
    /// Export a dataset as CSV, JSON or JSONL (streamed; a progress bar on a terminal).
    Export(commands::export::ExportArgs),
    /// Import a Lux JSON or JSONL export (idempotent; bad lines are reported).
    Import(commands::import::ImportArgs),
    /// List and show stored sessions.
    #[command(subcommand)]
    Sessions(commands::sessions::SessionsCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Apikey(commands::apikey::ApiKeyCommand),
    /// Print the REST API's OpenAPI spec (JSON).
    Openapi,
    /// Analytics reports: overview, costs, models, bias-rates, monitor, recommendations.
    #[command(subcommand)]
    Analytics(commands::analytics::AnalyticsCommand),
    /// Re-run the current detectors and monitor over stored sessions.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Install, list, enable, configure, run and remove WASM plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Measure write throughput against a bare-insert baseline, or detector quality on the eval set.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Train the learned detectors from the labelled corpus (train split; dev for thresholds).
    #[command(subcommand)]
    Train(commands::train::TrainCommand),
}

/// The `lux` command line: parses arguments, runs the command, prints errors as one line.
pub fn run_cli() -> ExitCode {
    // A panic is a bug, but the user still gets one line rather than a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
    }));
    let cli = Cli::parse();
    config::init_tracing(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => commands::serve::run(&cli.global, args).await,
        Command::Mcp => commands::mcp::run(&cli.global).await,
        Command::Migrate(args) => commands::migrate::run(&cli.global, args).await,
        Command::Demo(args) => commands::demo::run(&cli.global, args).await,
        Command::Export(args) => commands::export::run(&cli.global, args).await,
        Command::Import(args) => commands::import::run(&cli.global, args).await,
        Command::Sessions(command) => commands::sessions::run(&cli.global, command).await,
        Command::Bench(command) => commands::bench::run(&cli.global, command).await,
        Command::Train(command) => commands::train::run(command),
        Command::Analyze(args) => commands::analyze::run(&cli.global, args).await,
        Command::Plugin(command) => commands::plugin::run(&cli.global, command).await,
        Command::Analytics(command) => commands::analytics::run(&cli.global, command).await,
        Command::Apikey(command) => commands::apikey::run(&cli.global, command).await,
        Command::Openapi => {
            println!("{}", rest::spec_json());
            Ok(())
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already includes.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
