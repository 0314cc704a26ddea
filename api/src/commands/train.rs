//! `lux train detectors`: fits the learned detectors on the corpus's train split, calibrates them
//! on train scored out of fold and dev, and writes the weights file that the next build ships (the test split is not read).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lux_core::detect::eval::{CORPUS_BATCHES, SIGNALS, Split, corpus_sessions};
use lux_core::detect::learned::DetectorModel;
use lux_core::detect::learned::semantic;
use lux_core::detect::learned::train::{L2Choice, SignalReport, train};

#[derive(Debug, Subcommand)]
pub(crate) enum TrainCommand {
    /// Fit every signal's scorer and write the weights (`core/src/detect/learned/weights.json`).
    Detectors(DetectorsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DetectorsArgs {
    /// Where to write the weights.
    #[arg(long, default_value = "core/src/detect/learned")]
    out: PathBuf,
    /// The version stamped on every finding of these weights; bump it on every retraining so
    /// `lux analyze --all` replaces older findings.
    #[arg(long)]
    version: String,
    /// Fit only this signal (repeatable) and print how it scores, writing no weights: for trying
    /// a feature before retraining everything.
    #[arg(long = "only", value_name = "SIGNAL")]
    only: Vec<String>,
    /// Keep the penalties recorded in the weights already at `--out` instead of searching them
    /// again (seconds instead of many minutes): refits, recalibrates and re-picks thresholds.
    #[arg(long)]
    keep_penalties: bool,
}

pub(crate) fn run(command: TrainCommand) -> anyhow::Result<()> {
    let TrainCommand::Detectors(args) = command;
    if let Some(unknown) = args.only.iter().find(|s| !SIGNALS.contains(&s.as_str())) {
        anyhow::bail!(
            "--only {unknown}: not a signal; the signals are {}",
            SIGNALS.join(", ")
        );
    }
    let signals: Vec<&str> = if args.only.is_empty() {
        SIGNALS.to_vec()
    } else {
        args.only.iter().map(String::as_str).collect()
    };
    let train_set = corpus_sessions(Split::Train)?;
    let dev_set = corpus_sessions(Split::Dev)?;
    if train_set.is_empty() || dev_set.is_empty() {
        anyhow::bail!("the corpus has no train or no dev sessions");
    }
    let batches = |split: Split| {
        CORPUS_BATCHES
            .iter()
            .filter(|b| b.split == split)
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let trained_on = format!(
        "train split (batches {}, {} sessions); calibration and thresholds on train scored out of fold (by author batch) and dev (batches {}, {} sessions)",
        batches(Split::Train),
        train_set.len(),
        batches(Split::Dev),
        dev_set.len()
    );
    let encoder = semantic::encoder();
    if encoder.is_none() {
        println!(
            "no sentence-embedding model in {}: training the lexical weights only (embed/install-model.sh installs it)",
            semantic::model_dir().display()
        );
    }
    for (file, encoder) in [
        ("weights.json", None),
        ("weights-semantic.json", encoder.as_deref()),
    ] {
        if file == "weights-semantic.json" && encoder.is_none() {
            continue;
        }
        // A trial of one signal tries the weights that will be used.
        if file == "weights.json" && !args.only.is_empty() && semantic::installed() {
            continue;
        }
        let path = args.out.join(file);
        let l2_choice = if args.keep_penalties {
            let text = std::fs::read_to_string(&path).map_err(|error| {
                anyhow::anyhow!("--keep-penalties: cannot read {}: {error}", path.display())
            })?;
            let recorded: DetectorModel = serde_json::from_str(&text).map_err(|error| {
                anyhow::anyhow!(
                    "--keep-penalties: {} is not weights: {error}",
                    path.display()
                )
            })?;
            L2Choice::Recorded(
                SIGNALS
                    .iter()
                    .map(|signal| {
                        recorded
                            .signals
                            .iter()
                            .find(|s| s.signal == *signal)
                            .map_or((1.0, 1.0), |s| (s.l2, s.memory_penalty))
                    })
                    .collect(),
            )
        } else {
            L2Choice::CrossValidated
        };
        let (model, reports) = train(
            &signals,
            &args.version,
            &train_set,
            &dev_set,
            trained_on.clone(),
            encoder,
            &l2_choice,
        );
        println!(
            "\n{} features",
            if model.semantic {
                "semantic"
            } else {
                "lexical"
            }
        );
        print_reports(&reports);
        if !args.only.is_empty() {
            for report in &reports {
                println!(
                    "{}: missed {}: {}",
                    report.signal,
                    report.misses.len(),
                    report.misses.join(", ")
                );
                println!(
                    "{}: false alarms {}: {}",
                    report.signal,
                    report.false_alarms.len(),
                    report.false_alarms.join(", ")
                );
            }
            println!("--only: no weights written");
            continue;
        }
        std::fs::write(&path, serde_json::to_string(&model)? + "\n")?;
        println!("weights {} written to {}", model.version, path.display());
    }
    Ok(())
}

fn print_reports(reports: &[SignalReport]) {
    println!(
        "{:<24} {:>9} {:>7} {:>8} {:>6} {:>6} {:>9} {:>9} {:>6} {:>7}",
        "signal",
        "pos steps",
        "CV AP",
        "train F1",
        "CV F1",
        "dev F1",
        "dev Brier",
        "threshold",
        "L2",
        "×memory"
    );
    for r in reports {
        println!(
            "{:<24} {:>9} {:>7.3} {:>8.2} {:>6.2} {:>6.2} {:>9.3} {:>9.3} {:>6} {:>7}",
            r.signal,
            r.train_positive_steps,
            r.held_out_average_precision,
            r.train_f1,
            r.held_out_f1,
            r.dev_f1,
            r.dev_brier,
            r.threshold,
            r.l2,
            r.memory_penalty
        );
    }
}
