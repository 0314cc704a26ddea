//! `lux bench patterns`: the planted-pattern benchmark (`lux_core::patterns::planted`) on a
//! scratch SQLite file — recall of planted patterns in the top five, false discoveries on
//! noise-only histories, and how the topics found match the topics the sessions were written under.

use clap::Args;
use lux_core::detect::DetectorRegistry;
use lux_core::patterns::planted::{self, TopicSet};
use lux_core::{DatabaseOptions, Lux};

#[derive(Debug, Args)]
pub(crate) struct PatternsArgs {
    /// Topic corpus to build histories from: tune (thresholds were chosen on it) or heldout
    /// (written by another author, never read while tuning).
    #[arg(long, default_value = "heldout")]
    set: String,
    /// Histories with planted patterns.
    #[arg(long, default_value_t = 5)]
    planted: usize,
    /// Noise-only histories.
    #[arg(long, default_value_t = 20)]
    noise: usize,
    /// First seed; each history takes the next.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) async fn run(args: PatternsArgs) -> anyhow::Result<()> {
    let set: TopicSet = args.set.parse()?;
    let agreement = planted::topic_agreement(set, 5)?;
    println!(
        "topics on the {} set ({:?}): {} found; {}/{} written topics recovered; purity {:.2}; coverage {:.2}",
        set.name(),
        agreement.method,
        agreement.found.len(),
        agreement.recovered,
        agreement.written,
        agreement.purity,
        agreement.coverage
    );
    for (label, size, majority, share) in &agreement.found {
        println!(
            "  {size:>4}  {label:<50} ← {majority} ({:.0}%)",
            share * 100.0
        );
    }

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let lux = Lux::open(DatabaseOptions::new(&url))
        .await?
        .with_detectors(DetectorRegistry::empty());
    let report = planted::run(&lux, set, args.seed, args.planted, args.noise).await?;
    lux.db().clone().close().await?;

    println!("\nplanted histories ({}):", report.planted.len());
    for (n, outcomes) in report.planted.iter().enumerate() {
        println!("  #{n} top five:");
        for title in &report.top_titles[n] {
            println!("      {title}");
        }
        for outcome in outcomes {
            println!(
                "  #{n:<2} {:<70} rank {:<5} {}",
                format!("{:?}", outcome.planted),
                outcome.rank.map_or("-".to_owned(), |rank| rank.to_string()),
                if outcome.named_by.is_empty() {
                    String::new()
                } else {
                    format!(
                        "named by {:?}{}",
                        outcome.named_by,
                        if outcome.names_are_whole_words {
                            ""
                        } else {
                            " (not whole words!)"
                        }
                    )
                }
            );
        }
    }
    let (found, total) = report.recall_top5();
    println!(
        "\nrecall of planted patterns in the top 5: {found}/{total} ({:.2})",
        found as f64 / total.max(1) as f64
    );
    println!(
        "noise-only histories reporting any pattern at FDR {}: {}/{} (patterns per history: {:?})",
        report.fdr,
        report.noise_with_reports(),
        report.noise_reports.len(),
        report.noise_reports
    );
    Ok(())
}
