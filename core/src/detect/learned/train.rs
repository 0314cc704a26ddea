//! `lux train detectors`: fits each signal's logistic scorer on the train split (steps named as
//! evidence are the positives), picking its penalties by cross-validation over author batches,
//! then fits the Platt calibration of the session's highest score and picks the threshold with
//! the best session-level F1 on the sessions no fitted model saw: train's, scored out of fold,
//! and dev's. The test split is never read here. Deterministic: same corpus, same weights.

use rayon::prelude::*;
use serde::Serialize;

use lux_embed::SentenceEncoder;

use super::features::{Features, HASH_BUCKETS, feature_names};
use super::model::{DetectorModel, SignalModel, sigmoid};
use super::session_features;
use crate::detect::eval::{LabelledSession, SIGNALS};

/// L2 strengths tried per signal.
const L2_GRID: [f64; 9] = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0];
/// Factors of the L2 strength tried for the hashed words and the embedding's dimensions.
const MEMORY_PENALTY_GRID: [f64; 3] = [1.0, 10.0, 100.0];
const EPOCHS: usize = 300;
const LEARNING_RATE: f64 = 0.05;

/// How one signal came out of training.
#[derive(Debug, Clone, Serialize)]
pub struct SignalReport {
    pub signal: String,
    pub train_positive_steps: usize,
    pub train_f1: f64,
    /// F1 of the train sessions, each scored by the model fitted without its author's batches.
    pub held_out_f1: f64,
    pub dev_f1: f64,
    pub dev_brier: f64,
    pub threshold: f64,
    pub l2: f64,
    pub memory_penalty: f64,
    /// Average precision of the chosen L2 on train batches held out in turn.
    pub held_out_average_precision: f64,
    /// Sessions carrying the signal that the threshold misses (held-out train, then dev), with
    /// their calibrated scores: what to read when trying a feature.
    pub misses: Vec<String>,
    /// Sessions without the signal that the threshold flags (held-out train, then dev).
    pub false_alarms: Vec<String>,
}

struct Example {
    dense: Vec<f64>,
    hashed: Vec<(u32, f32)>,
    session: usize,
    step: usize,
}

fn examples(sessions: &[LabelledSession], encoder: Option<&SentenceEncoder>) -> Vec<Example> {
    sessions
        .par_iter()
        .enumerate()
        .flat_map_iter(|(s, session)| {
            session_features(&session.steps, encoder).into_iter().map(
                move |(step, Features { dense, hashed })| Example {
                    dense,
                    hashed,
                    session: s,
                    step,
                },
            )
        })
        .collect()
}

fn standardisation(examples: &[Example]) -> (Vec<f64>, Vec<f64>) {
    let n = examples.first().map_or(0, |e| e.dense.len());
    let count = examples.len().max(1) as f64;
    let mut mean = vec![0.0; n];
    for e in examples {
        for (m, x) in mean.iter_mut().zip(&e.dense) {
            *m += x / count;
        }
    }
    let mut scale = vec![0.0; n];
    for e in examples {
        for ((v, x), m) in scale.iter_mut().zip(&e.dense).zip(&mean) {
            *v += (x - m) * (x - m) / count;
        }
    }
    for v in &mut scale {
        *v = v.sqrt().max(1e-6);
    }
    (mean, scale)
}

fn log_odds(weights: &SignalModel, dense: &[f64], hashed: &[(u32, f32)]) -> f64 {
    weights.intercept
        + dense
            .iter()
            .zip(&weights.dense)
            .map(|(x, w)| x * w)
            .sum::<f64>()
        + hashed
            .iter()
            .map(|(k, v)| f64::from(*v) * weights.hashed[*k as usize])
            .sum::<f64>()
}

/// Weighted logistic regression with L2, full-batch Adam.
/// `memory_from` is where the embedding's dimensions begin among the dense features
/// (`usize::MAX` without an embedding); they and the hashed words take `l2 · memory_penalty`.
fn fit(
    signal: &str,
    examples: &[&Example],
    labels: &[f64],
    (l2, memory_penalty): (f64, f64),
    memory_from: usize,
) -> SignalModel {
    let n = examples.first().map_or(0, |e| e.dense.len());
    let positives = labels.iter().filter(|y| **y > 0.5).count().max(1) as f64;
    let negatives = (labels.len() as f64 - positives).max(1.0);
    let positive_weight = (negatives / positives).sqrt();
    let total_weight = negatives + positives * positive_weight;
    let mut model = SignalModel {
        signal: signal.to_owned(),
        intercept: 0.0,
        dense: vec![0.0; n],
        hashed: vec![0.0; HASH_BUCKETS],
        calibration_slope: 1.0,
        calibration_offset: 0.0,
        threshold: 0.5,
        l2,
        memory_penalty,
    };
    let size = 1 + n + HASH_BUCKETS;
    let (mut m, mut v) = (vec![0.0; size], vec![0.0; size]);
    let (beta1, beta2) = (0.9, 0.999);
    for epoch in 1..=EPOCHS {
        let mut grad = vec![0.0; size];
        for (e, y) in examples.iter().zip(labels) {
            let weight = if *y > 0.5 { positive_weight } else { 1.0 } / total_weight;
            let error = (sigmoid(log_odds(&model, &e.dense, &e.hashed)) - y) * weight;
            grad[0] += error;
            for (g, x) in grad[1..=n].iter_mut().zip(&e.dense) {
                *g += error * x;
            }
            for (k, x) in &e.hashed {
                grad[1 + n + *k as usize] += error * f64::from(*x);
            }
        }
        for (i, (g, w)) in grad[1..=n].iter_mut().zip(&model.dense).enumerate() {
            *g += if i >= memory_from {
                l2 * memory_penalty
            } else {
                l2
            } * w;
        }
        for (g, w) in grad[1 + n..].iter_mut().zip(&model.hashed) {
            *g += l2 * memory_penalty * w;
        }
        let correction1 = 1.0 - beta1_pow(beta1, epoch);
        let correction2 = 1.0 - beta1_pow(beta2, epoch);
        for i in 0..size {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            let step = LEARNING_RATE * (m[i] / correction1) / ((v[i] / correction2).sqrt() + 1e-8);
            match i {
                0 => model.intercept -= step,
                i if i <= n => model.dense[i - 1] -= step,
                i => model.hashed[i - 1 - n] -= step,
            }
        }
    }
    // Five decimals are plenty for a score and keep the shipped file small.
    let round = |w: &mut f64| *w = (*w * 1e5).round() / 1e5;
    round(&mut model.intercept);
    model.dense.iter_mut().for_each(round);
    model.hashed.iter_mut().for_each(round);
    model
}

fn beta1_pow(beta: f64, epoch: usize) -> f64 {
    beta.powi(i32::try_from(epoch).unwrap_or(i32::MAX))
}

/// Each session's highest log-odds over its steps, and whether it carries the signal.
fn session_maxima(
    model: &SignalModel,
    examples: &[&Example],
    sessions: &[LabelledSession],
) -> Vec<(f64, bool)> {
    let mut maxima: Vec<(f64, bool)> = sessions
        .iter()
        .map(|s| (f64::NEG_INFINITY, s.signals.contains(&model.signal)))
        .collect();
    for e in examples {
        let z = log_odds(model, &e.dense, &e.hashed);
        let slot = &mut maxima[e.session].0;
        *slot = slot.max(z);
    }
    maxima
        .into_iter()
        .map(|(z, y)| (if z.is_finite() { z } else { -10.0 }, y))
        .collect()
}

/// Platt scaling: σ(a·z + b) fitted to the labels by Newton-free gradient descent.
fn platt(points: &[(f64, bool)]) -> (f64, f64) {
    let (mut a, mut b) = (1.0, 0.0);
    let n = points.len().max(1) as f64;
    for _ in 0..2000 {
        let (mut ga, mut gb) = (0.0, 0.0);
        for (z, y) in points {
            let error = sigmoid(a * z + b) - if *y { 1.0 } else { 0.0 };
            ga += error * z / n;
            gb += error / n;
        }
        a -= 0.5 * (ga + 1e-3 * (a - 1.0));
        b -= 0.5 * gb;
    }
    (a, b)
}

fn f1_at(points: &[(f64, bool)], threshold: f64) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (p, y) in points {
        match (*p >= threshold, *y) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    if tp + fp + fn_ == 0.0 {
        1.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// Average precision of scores against labels (1.0 when there is no positive).
fn average_precision(points: &[(f64, bool)]) -> f64 {
    let mut sorted: Vec<&(f64, bool)> = points.iter().collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = points.iter().filter(|(_, y)| *y).count();
    if positives == 0 {
        return 1.0;
    }
    let (mut hits, mut sum) = (0.0, 0.0);
    for (rank, (_, y)) in sorted.iter().enumerate() {
        if *y {
            hits += 1.0;
            sum += hits / (rank + 1) as f64;
        }
    }
    sum / positives as f64
}

fn precision_at(points: &[(f64, bool)], threshold: f64) -> f64 {
    let flagged: Vec<bool> = points
        .iter()
        .filter(|(p, _)| *p >= threshold)
        .map(|(_, y)| *y)
        .collect();
    if flagged.is_empty() {
        1.0
    } else {
        flagged.iter().filter(|y| **y).count() as f64 / flagged.len() as f64
    }
}

/// Below this precision on dev a signal would mostly raise false alarms, which make bias-rate
/// analytics chart noise: its threshold is then set where it never fires.
pub const MIN_PRECISION: f64 = 0.5;

/// The threshold with the best F1 among the scores themselves whose precision is at least
/// [`MIN_PRECISION`]; 1.0 (never flags) when none is. Every threshold above the highest score
/// below the best run of candidates, up to the top of that run, scores that best F1 on dev; the
/// middle of that interval (in log-odds) is chosen, the widest margin on both sides for sessions
/// dev has not seen.
fn best_threshold(points: &[(f64, bool)]) -> (f64, f64) {
    let mut candidates: Vec<f64> = points.iter().map(|(p, _)| *p).collect();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let qualifies = |t: f64| t < 1.0 && precision_at(points, t) >= MIN_PRECISION;
    let best_f1 = candidates
        .iter()
        .filter(|t| qualifies(**t))
        .map(|t| f1_at(points, *t))
        .fold(f64::NEG_INFINITY, f64::max);
    if !best_f1.is_finite() || best_f1 <= f1_at(points, 1.0 + 1e-9) {
        return (1.0, f1_at(points, 1.0 + 1e-9));
    }
    // The highest best candidate, and how far down the run of best candidates reaches.
    let is_best = |t: f64| qualifies(t) && f1_at(points, t) >= best_f1 - 1e-12;
    let Some(top) = candidates.iter().rposition(|t| is_best(*t)) else {
        return (1.0, f1_at(points, 1.0 + 1e-9));
    };
    let mut low = top;
    while low > 0 && is_best(candidates[low - 1]) {
        low -= 1;
    }
    let threshold = match low.checked_sub(1).map(|below| candidates[below]) {
        Some(below) => {
            let logit =
                |p: f64| (p.clamp(1e-9, 1.0 - 1e-9) / (1.0 - p.clamp(1e-9, 1.0 - 1e-9))).ln();
            let middle = sigmoid((logit(below) + logit(candidates[top])) / 2.0);
            // Strictly above the score below, so that it still is not flagged.
            if middle > below && middle <= candidates[top] {
                middle
            } else {
                candidates[low]
            }
        }
        None => candidates[low],
    };
    (threshold, f1_at(points, threshold))
}

/// Author batches of `train` dealt round-robin (in name order) into at most [`L2_FOLDS`] groups.
fn author_folds(train: &[LabelledSession]) -> Vec<Vec<&str>> {
    let mut names: Vec<&str> = train.iter().map(|s| s.batch.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let count = names.len().clamp(1, L2_FOLDS);
    let mut folds = vec![Vec::new(); count];
    for (index, name) in names.into_iter().enumerate() {
        folds[index % count].push(name);
    }
    folds
}

/// Each train session's highest log-odds under a model fitted without its fold's batches, in
/// session order.
fn out_of_fold(
    signal: &str,
    penalties: (f64, f64),
    folds: &[Vec<&str>],
    train_examples: &[Example],
    labels: &[f64],
    train: &[LabelledSession],
    memory_from: usize,
) -> Vec<(f64, bool)> {
    let fitted_per_fold: Vec<Vec<(usize, (f64, bool))>> = folds
        .par_iter()
        .map(|fold| {
            let in_fold = |e: &Example| fold.contains(&train[e.session].batch.as_str());
            let fitted: Vec<usize> = (0..train_examples.len())
                .filter(|&i| !in_fold(&train_examples[i]))
                .collect();
            let fold_examples: Vec<&Example> = fitted.iter().map(|&i| &train_examples[i]).collect();
            let fold_labels: Vec<f64> = fitted.iter().map(|&i| labels[i]).collect();
            let model = fit(signal, &fold_examples, &fold_labels, penalties, memory_from);
            let rest: Vec<&Example> = train_examples.iter().filter(|e| in_fold(e)).collect();
            session_maxima(&model, &rest, train)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| fold.contains(&train[*i].batch.as_str()))
                .collect()
        })
        .collect();
    let mut points = vec![(-10.0, false); train.len()];
    for (i, point) in fitted_per_fold.into_iter().flatten() {
        points[i] = point;
    }
    points
}

/// How each signal's L2 penalty is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum L2Choice {
    /// By cross-validation over author batches on train (what `lux train detectors` does).
    CrossValidated,
    /// As recorded in shipped weights, `(l2, memory_penalty)` per signal in [`SIGNALS`] order:
    /// reproduces them without repeating the search.
    Recorded(Vec<(f64, f64)>),
}

/// Folds of the L2 search: author batches dealt round-robin (in name order) into at most this
/// many groups, each held out in turn, so no author is both fitted and scored.
const L2_FOLDS: usize = 4;

/// Trains `signals` (normally all of [`SIGNALS`]); returns the model and what each signal scored
/// on train and dev. With an encoder the features include the sentence embedding (a semantic
/// model).
pub fn train(
    signals_to_fit: &[&str],
    version: &str,
    train: &[LabelledSession],
    dev: &[LabelledSession],
    trained_on: String,
    encoder: Option<&SentenceEncoder>,
    l2_choice: &L2Choice,
) -> (DetectorModel, Vec<SignalReport>) {
    let mut train_examples = examples(train, encoder);
    let mut dev_examples = examples(dev, encoder);
    let (mean, scale) = standardisation(&train_examples);
    for e in train_examples.iter_mut().chain(dev_examples.iter_mut()) {
        for ((x, m), s) in e.dense.iter_mut().zip(&mean).zip(&scale) {
            *x = (*x - m) / s;
        }
    }
    let dev_refs: Vec<&Example> = dev_examples.iter().collect();
    let memory_from = feature_names(encoder.is_some())
        .iter()
        .position(|name| name.starts_with("meaning (dimension"))
        .unwrap_or(usize::MAX);
    let mut signals = Vec::new();
    let mut reports = Vec::new();
    for (signal_index, signal) in SIGNALS.into_iter().enumerate() {
        if !signals_to_fit.contains(&signal) {
            continue;
        }
        let labels: Vec<f64> = train_examples
            .iter()
            .map(|e| {
                let evidence = train[e.session].evidence.get(signal);
                f64::from(u8::from(
                    evidence.is_some_and(|steps| steps.contains(&e.step)),
                ))
            })
            .collect();
        // L2 by cross-validation over groups of author batches on train (average precision of
        // the held-out sessions' highest scores).
        let folds = author_folds(train);
        let held_out = |penalties: (f64, f64)| {
            out_of_fold(
                signal,
                penalties,
                &folds,
                &train_examples,
                &labels,
                train,
                memory_from,
            )
        };
        let penalties = match l2_choice {
            L2Choice::Recorded(recorded) => recorded
                .get(signal_index)
                .copied()
                .unwrap_or((L2_GRID[0], 1.0)),
            L2Choice::CrossValidated => {
                let grid: Vec<(f64, f64)> = L2_GRID
                    .iter()
                    .flat_map(|l2| MEMORY_PENALTY_GRID.iter().map(move |p| (*l2, *p)))
                    .collect();
                let scored: Vec<f64> = grid
                    .par_iter()
                    .map(|&penalties| average_precision(&held_out(penalties)))
                    .collect();
                // In grid order, so that ties go the same way on every machine.
                let mut best = ((L2_GRID[0], 1.0), f64::NEG_INFINITY);
                for (penalties, precision) in grid.into_iter().zip(scored) {
                    if precision > best.1 + 1e-9 {
                        best = (penalties, precision);
                    }
                }
                best.0
            }
        };
        // Every train session scored by a model that never saw its author: with dev, what the
        // calibration and the threshold are chosen on (dev alone has too few positives of the
        // rarer signals to place a threshold).
        let train_held_out = held_out(penalties);
        let all: Vec<&Example> = train_examples.iter().collect();
        let mut model = fit(signal, &all, &labels, penalties, memory_from);
        let dev_raw = session_maxima(&model, &dev_refs, dev);
        let pooled: Vec<(f64, bool)> = train_held_out.iter().chain(&dev_raw).copied().collect();
        let (a, b) = platt(&pooled);
        model.calibration_slope = a;
        model.calibration_offset = b;
        let calibrate = |points: &[(f64, bool)]| -> Vec<(f64, bool)> {
            points
                .iter()
                .map(|(z, y)| (sigmoid(a * z + b), *y))
                .collect()
        };
        let (threshold, _) = best_threshold(&calibrate(&pooled));
        model.threshold = threshold;
        let dev_points = calibrate(&dev_raw);
        let held_out_points = calibrate(&train_held_out);
        let train_points = calibrate(&session_maxima(&model, &all, train));
        let brier = dev_points
            .iter()
            .map(|(p, y)| (p - if *y { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / dev_points.len().max(1) as f64;
        let mistakes = |points: &[(f64, bool)], sessions: &[LabelledSession], missed: bool| {
            points
                .iter()
                .zip(sessions)
                .filter(|((p, y), _)| *y == missed && (*p >= threshold) != *y)
                .map(|((p, _), s)| format!("{} ({p:.2})", s.id))
                .collect::<Vec<_>>()
        };
        let misses = [
            mistakes(&held_out_points, train, true),
            mistakes(&dev_points, dev, true),
        ]
        .concat();
        let false_alarms = [
            mistakes(&held_out_points, train, false),
            mistakes(&dev_points, dev, false),
        ]
        .concat();
        reports.push(SignalReport {
            signal: signal.to_owned(),
            train_positive_steps: labels.iter().filter(|y| **y > 0.5).count(),
            train_f1: f1_at(&train_points, threshold),
            held_out_f1: f1_at(&held_out_points, threshold),
            dev_f1: f1_at(&dev_points, threshold),
            dev_brier: brier,
            threshold: model.threshold,
            l2: model.l2,
            memory_penalty: model.memory_penalty,
            held_out_average_precision: average_precision(&train_held_out),
            misses,
            false_alarms,
        });
        signals.push(model);
    }
    let model = DetectorModel {
        version: version.to_owned(),
        trained_on,
        semantic: encoder.is_some(),
        feature_names: feature_names(encoder.is_some()),
        hash_buckets: HASH_BUCKETS,
        mean,
        scale,
        signals,
    };
    (model, reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_sits_midway_between_the_classes_it_separates() {
        let points = [
            (0.1, false),
            (0.3, false),
            (0.6, false),
            (0.9, true),
            (0.95, true),
        ];
        let (threshold, f1) = best_threshold(&points);
        assert!((f1 - 1.0).abs() < 1e-12);
        assert!(threshold > 0.6 && threshold < 0.9, "{threshold}");
        // Midway in log-odds: σ((logit 0.6 + logit 0.9) / 2).
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!((threshold - sigmoid((logit(0.6) + logit(0.9)) / 2.0)).abs() < 1e-12);
    }

    #[test]
    fn a_signal_that_cannot_reach_the_precision_floor_never_flags() {
        let points = [(0.9, false), (0.8, false), (0.7, true), (0.2, false)];
        let (threshold, _) = best_threshold(&points);
        // Flagging from 0.7 would be one true of three: below the floor.
        assert_eq!(threshold, 1.0);
    }

    #[test]
    fn every_author_is_held_out_exactly_once() {
        let session = |batch: &str| LabelledSession {
            id: format!("{batch}-001"),
            signals: Vec::new(),
            note: None,
            steps: Vec::new(),
            language: "en".to_owned(),
            style: None,
            evidence: Default::default(),
            near_miss: None,
            batch: batch.to_owned(),
        };
        let train: Vec<LabelledSession> = ["C", "A", "B", "A", "E", "D", "F"]
            .into_iter()
            .map(session)
            .collect();
        let folds = author_folds(&train);
        assert_eq!(folds.len(), L2_FOLDS);
        let mut held_out: Vec<&str> = folds.concat();
        held_out.sort_unstable();
        assert_eq!(held_out, ["A", "B", "C", "D", "E", "F"]);
    }
}
