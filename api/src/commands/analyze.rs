//! `lux analyze`: re-runs the current detectors and monitor over stored sessions (one, or all),
//! enabled plugin detectors included, replacing what the same detector versions found before; a
//! progress bar on a terminal.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lux_core::SessionRef;
use lux_core::services::analysis::AnalyzeScope;
use std::io::IsTerminal;

use crate::config::GlobalArgs;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["session", "all"])))]
pub(crate) struct AnalyzeArgs {
    /// The session to analyse: its id, or its external id in the default project.
    #[arg(long)]
    session: Option<String>,
    /// Every stored session, in every project.
    #[arg(long)]
    all: bool,
}

pub(crate) async fn run(global: &GlobalArgs, args: AnalyzeArgs) -> anyhow::Result<()> {
    let instance = global.instance().await?;
    let lux = instance.lux();
    let mode = lux.detectors().detection_mode();
    let scope = match (&args.session, args.all) {
        (Some(text), _) => AnalyzeScope::Session(match text.parse() {
            Ok(id) => SessionRef::Id(id),
            Err(_) => SessionRef::ExternalId(text.trim().to_owned()),
        }),
        (None, _) => AnalyzeScope::All,
    };
    let targets = lux.analysis_targets(&scope).await?;

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(targets.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} sessions {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut steps, mut findings, mut events, mut failures) = (0, 0, 0, 0);
    let (mut replaced_findings, mut replaced_events) = (0, 0);
    for (project, session) in &targets {
        let report = lux
            .analyze_session(*project, &SessionRef::Id(*session))
            .await?;
        steps += report.steps;
        findings += report.findings;
        events += report.events;
        failures += report.failures;
        replaced_findings += report.replaced_findings;
        replaced_events += report.replaced_events;
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "analysed {} session(s), {steps} step(s): {findings} finding(s), {events} monitor event(s) \
         (replaced {replaced_findings} and {replaced_events}); {failures} detector failure(s){}",
        targets.len(),
        if mode.llm_verifier {
            "; LLM verifier on"
        } else {
            ""
        }
    );
    Ok(())
}
