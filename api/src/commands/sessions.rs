//! `lux sessions list|show`: readable tables of what is stored.

use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use lux_core::{PageRequest, SessionFilter, SessionId, SessionRef, SessionStatus};

use crate::config::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// Newest sessions first.
    List(ListArgs),
    /// One session: steps, synthesis, findings, monitor alerts and cost.
    Show {
        /// Session id, or the caller's external id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
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
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

pub(crate) async fn run(global: &GlobalArgs, command: SessionsCommand) -> anyhow::Result<()> {
    let lux = global.open().await?;
    let project = lux.default_project();
    match command {
        SessionsCommand::List(args) => {
            let filter = SessionFilter {
                status: args
                    .status
                    .as_deref()
                    .map(str::parse::<SessionStatus>)
                    .transpose()?,
                tool: args.tool,
                model: args.model,
                user_id: args.user,
                tag: args.tag,
                ..SessionFilter::default()
            };
            let page = lux
                .list_sessions(project, &filter, &PageRequest::first(args.limit))
                .await?;
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["id", "created", "tool", "status", "model", "title"]);
            for session in &page.items {
                table.add_row([
                    session.id.to_string(),
                    session.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    session.tool.clone(),
                    session.status.to_string(),
                    session.model.clone().unwrap_or_default(),
                    shorten(session.title.as_deref().unwrap_or(""), 48),
                ]);
            }
            println!("{table}");
            if page.next_cursor.is_some() {
                println!("(more: raise --limit)");
            }
        }
        SessionsCommand::Show { id } => {
            let reference = match id.parse::<SessionId>() {
                Ok(id) => SessionRef::Id(id),
                Err(_) => SessionRef::ExternalId(id),
            };
            show(&lux, project, &reference).await?;
        }
    }
    Ok(())
}

async fn show(
    lux: &lux_core::Lux,
    project: lux_core::ProjectId,
    reference: &SessionRef,
) -> anyhow::Result<()> {
    let session = lux.get_session(project, reference).await?;
    let steps = lux.all_steps(project, reference).await?;
    let calls = lux.list_model_calls(project, reference).await?;
    let synthesis = lux.latest_synthesis(project, reference).await?;
    let findings = lux.list_findings(project, reference).await?;
    let alerts = lux.list_monitor_events(project, reference).await?;

    println!(
        "{}  {}",
        session.id,
        session.title.as_deref().unwrap_or("(untitled)")
    );
    println!(
        "tool {} · status {} · model {} · user {} · created {}{}",
        session.tool,
        session.status,
        session.model.as_deref().unwrap_or("-"),
        session.user_id.as_deref().unwrap_or("-"),
        session.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        if session.tags.is_empty() {
            String::new()
        } else {
            format!(" · tags {}", session.tags.join(", "))
        },
    );
    let total_cost = calls.iter().fold(lux_core::NanoUsd(0), |sum, call| {
        sum.checked_add(call.cost).unwrap_or(sum)
    });
    let tokens: i64 = calls
        .iter()
        .map(|c| c.input_tokens + c.output_tokens + c.reasoning_tokens)
        .sum();
    println!(
        "{} steps · {} model calls · {} tokens · {}",
        steps.len(),
        calls.len(),
        tokens,
        total_cost
    );

    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["#", "kind", "model", "conf", "step"]);
    for step in &steps {
        let mut marker = String::new();
        if let Some(revised) = step.revises_step {
            marker = format!("(revises {revised}) ");
        } else if let Some(from) = step.branch_from_step {
            marker = format!(
                "(branch {} from {from}) ",
                step.branch_id.as_deref().unwrap_or("?")
            );
        }
        table.add_row([
            step.step_number.to_string(),
            step.kind.clone(),
            step.model.clone().unwrap_or_default(),
            step.confidence
                .map(|c| format!("{c:.2}"))
                .unwrap_or_default(),
            format!("{marker}{}", shorten(&step.content, 80)),
        ]);
    }
    println!("{table}");

    if let Some(version) = synthesis {
        println!(
            "synthesis v{} (confidence {}, clarity {}): {}",
            version.version,
            version
                .confidence
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            version
                .clarity
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            version.current_understanding.as_deref().unwrap_or("-"),
        );
        for insight in &version.insights {
            println!("  • {}", insight.text);
        }
        for action in &version.action_items {
            println!("  → [{}] {}", action.priority.as_str(), action.action);
        }
    }
    if !findings.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["bias", "severity", "conf", "detector", "evidence"]);
        for finding in &findings {
            table.add_row([
                finding.bias_type.clone(),
                finding.severity.to_string(),
                format!("{:.2}", finding.confidence),
                finding.detector.clone(),
                shorten(
                    finding
                        .evidence_text
                        .as_deref()
                        .unwrap_or(&finding.explanation),
                    50,
                ),
            ]);
        }
        println!("{table}");
    }
    for alert in &alerts {
        println!(
            "⚠ {} ({}, score {:.2}): {}",
            alert.kind, alert.severity, alert.score, alert.message
        );
    }
    Ok(())
}

/// First `max` characters on one line, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
