//! `lux export DATASET`: a dataset of the default project as CSV, JSON or JSONL, to a file or
//! stdout, written chunk by chunk so memory stays flat.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lux_core::services::export::{ExportCursor, ExportEncoder, TableRow};
use lux_core::{
    AnalyticsFilter, ExportFilter, ExportFormat, ExportTarget, SessionFilter, SessionId,
};

use crate::config::GlobalArgs;

/// Where the rows come from: a cursor over stored records, or a report read whole.
enum Source {
    Records(Box<ExportCursor>),
    Table(Option<Vec<TableRow>>),
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// all, sessions, steps, model_calls, synthesis_versions, insights, action_items, findings or
    /// monitor_events. `all` (JSON or JSONL) is the full-fidelity form `lux import` takes back.
    /// Or an analytics report as a table: analytics_overview, analytics_costs, analytics_models,
    /// analytics_bias_rates, analytics_monitor, analytics_recommendations (--since/--until then
    /// bound each record's own time, as in `lux analytics`).
    dataset: String,
    /// How an analytics table is grouped: costs by model|day|tool|user|session|project, bias
    /// rates by bias_type|severity|model|tool|detector|day, monitor by kind|day.
    #[arg(long)]
    group_by: Option<String>,
    /// csv, json or jsonl.
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Only this session.
    #[arg(long)]
    session: Option<String>,
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    tool: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    tag: Option<String>,
    /// Sessions created at or after (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Sessions created before (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
}

pub(crate) async fn run(global: &GlobalArgs, args: ExportArgs) -> anyhow::Result<()> {
    let format: ExportFormat = args.format.parse()?;
    let target: ExportTarget = args.dataset.parse()?;
    let lux = global.open().await?;
    let project = lux.default_project();
    let (mut encoder, mut source) = match target {
        ExportTarget::Records(dataset) => {
            if args.group_by.is_some() {
                anyhow::bail!("--group-by applies to analytics tables only, not to {dataset}");
            }
            let filter = ExportFilter {
                sessions: SessionFilter {
                    status: args.status.as_deref().map(str::parse).transpose()?,
                    tool: args.tool,
                    model: args.model,
                    user_id: args.user,
                    tag: args.tag,
                    external_id: None,
                    since: args.since,
                    until: args.until,
                },
                session: args
                    .session
                    .as_deref()
                    .map(str::parse::<SessionId>)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--session: {e}"))?,
            };
            let encoder = ExportEncoder::new(dataset, format)?;
            (
                encoder,
                Source::Records(Box::new(lux.export(project, dataset, filter)?)),
            )
        }
        ExportTarget::Analytics(table) => {
            if args.session.is_some() || args.status.is_some() || args.tag.is_some() {
                anyhow::bail!("--session, --status and --tag filter sessions; {table} is a report");
            }
            let filter = AnalyticsFilter {
                since: args.since,
                until: args.until,
                tool: args.tool,
                model: args.model,
                user_id: args.user,
            };
            let rows = lux
                .analytics_table(project, table, &filter, args.group_by.as_deref())
                .await?;
            (
                ExportEncoder::for_table(table, format),
                Source::Table(Some(rows)),
            )
        }
    };

    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} rows {per_sec} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let written = async {
        out.write_all(&encoder.start())?;
        match &mut source {
            Source::Records(cursor) => {
                while let Some(chunk) = cursor.next_chunk().await? {
                    out.write_all(&encoder.encode(&chunk)?)?;
                    progress.inc(chunk.len() as u64);
                }
            }
            Source::Table(rows) => {
                let rows = rows.take().unwrap_or_default();
                out.write_all(&encoder.encode_rows(&rows)?)?;
                progress.inc(rows.len() as u64);
            }
        }
        out.write_all(&encoder.finish())?;
        out.flush()?;
        anyhow::Ok(())
    }
    .await;
    // A reader that stops early (`lux export … | head`) is not an error.
    if let Err(error) = written {
        let closed = error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if !closed {
            return Err(error);
        }
    }
    progress.finish_and_clear();
    if let Some(path) = &args.output {
        eprintln!(
            "exported {} rows to {}",
            progress.position(),
            path.display()
        );
    }
    Ok(())
}
