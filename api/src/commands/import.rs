//! `lux import FILE`: a Lux JSON or JSONL export into the default project, idempotently, with
//! every line that was not applied reported on stderr; the enabled plugin detectors then judge
//! the steps it brought.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lux_core::ImportReport;
use lux_plugins::registry::RunSummary;
use tokio::io::{AsyncRead, BufReader};

use crate::config::GlobalArgs;

/// Line errors printed before the rest are only counted.
const SHOWN_ERRORS: usize = 50;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export to read (`-` for stdin).
    #[arg(required_unless_present = "from_lux_mcp")]
    file: Option<PathBuf>,
    /// Read the original Lux MCP server's PostgreSQL tables at this URL instead of a file.
    #[arg(long, value_name = "POSTGRES_URL", conflicts_with = "file")]
    from_lux_mcp: Option<String>,
}

pub(crate) async fn run(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.from_lux_mcp {
        let instance = global.instance().await?;
        let lux = instance.lux();
        let report = lux.import_from_lux_mcp(lux.default_project(), url).await?;
        let runs = instance
            .analyse_imported(lux.default_project(), &report)
            .await;
        return print_report(&report, "record", runs);
    }
    let file = args.file.unwrap_or_default();
    let instance = global.instance().await?;
    let lux = instance.lux();
    let (reader, size): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) =
        if file.as_os_str() == "-" {
            (Box::new(tokio::io::stdin()), None)
        } else {
            let opened = tokio::fs::File::open(&file)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let size = opened.metadata().await.ok().map(|meta| meta.len());
            (Box::new(opened), size)
        };
    let progress = if !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else if let Some(size) = size {
        ProgressBar::new(size).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} {bytes_per_sec} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {msg} {bytes_per_sec} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
    };
    let report = lux
        .import_stream(lux.default_project(), BufReader::new(reader), |seen| {
            progress.set_position(seen.bytes);
            progress.set_message(format!("{} records", seen.records));
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    progress.finish_and_clear();
    // A large import can grow the tables tenfold: the next reader plans with fresh statistics.
    if let Err(error) = lux.refresh_planner_statistics().await {
        tracing::warn!(%error, "could not refresh SQLite's planner statistics");
    }
    let runs = instance
        .analyse_imported(lux.default_project(), &report)
        .await;
    print_report(&report, "line", runs)
}

/// The report: failed records on stderr, counts on stdout; an error when anything failed.
/// The plugin runs that followed the import are listed after the counts; a run that could not
/// happen fails the command after the import itself was reported.
fn print_report(
    report: &ImportReport,
    unit: &str,
    runs: lux_core::Result<Vec<RunSummary>>,
) -> anyhow::Result<()> {
    for error in report.errors.iter().take(SHOWN_ERRORS) {
        eprintln!(
            "{unit} {}{}: {}",
            error.line,
            error
                .kind
                .as_deref()
                .map(|kind| format!(" ({kind})"))
                .unwrap_or_default(),
            error.message
        );
    }
    if report.failed as usize > SHOWN_ERRORS {
        eprintln!("… and {} more", report.failed as usize - SHOWN_ERRORS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "created {}, already present {}, failed {}",
        report.created, report.already_present, report.failed
    )?;
    for (kind, counts) in &report.kinds {
        writeln!(
            out,
            "  {kind}: created {}, already present {}, failed {}",
            counts.created, counts.already_present, counts.failed
        )?;
    }
    let runs = match runs {
        Ok(runs) => runs,
        Err(error) => anyhow::bail!(
            "imported, but the enabled plugin detectors could not judge the new steps              (`lux plugin run NAME --all` retries): {error}"
        ),
    };
    for run in &runs {
        writeln!(
            out,
            "  plugin {} {}: {} session(s), {} step(s), {} finding(s){}",
            run.plugin,
            run.version,
            run.sessions,
            run.steps,
            run.findings,
            run.message
                .as_deref()
                .map(|message| format!(" ({}: {message})", run.outcome))
                .unwrap_or_default()
        )?;
    }
    if report.failed > 0 {
        anyhow::bail!("{} records were not imported", report.failed);
    }
    Ok(())
}
