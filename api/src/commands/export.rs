//! `lux export DATASET`: a dataset of the default project as CSV, JSON or JSONL, to a file or
//! stdout, written chunk by chunk so memory stays flat.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lux_core::services::export::ExportEncoder;
use lux_core::{ExportDataset, ExportFilter, ExportFormat, SessionFilter, SessionId};

use crate::config::GlobalArgs;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// all, sessions, steps, model_calls, synthesis_versions, insights, action_items, findings or
    /// monitor_events. `all` (JSON or JSONL) is the full-fidelity form `lux import` takes back.
    dataset: String,
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
    let dataset: ExportDataset = args.dataset.parse()?;
    let format: ExportFormat = args.format.parse()?;
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
    let mut encoder = ExportEncoder::new(dataset, format)?;
    let lux = global.open().await?;
    let mut cursor = lux.export(lux.default_project(), dataset, filter)?;

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
            ProgressStyle::with_template("{spinner} {pos} records {per_sec} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let written = async {
        out.write_all(&encoder.start())?;
        while let Some(chunk) = cursor.next_chunk().await? {
            out.write_all(&encoder.encode(&chunk)?)?;
            progress.inc(chunk.len() as u64);
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
            "exported {} records to {}",
            progress.position(),
            path.display()
        );
    }
    Ok(())
}
