//! The trained weights of the learned detectors as versioned data (`weights.json`, written by
//! `lux train detectors`), and how a step's features become a calibrated score, a decision, an
//! explanation naming the features that weighed most, and an evidence sentence.

use serde::{Deserialize, Serialize};

use super::features::{Features, HASH_BUCKETS, StepText, dense_len, feature_names};
use crate::detect::text;
use crate::domain::Span;
use crate::error::{Error, Result};

/// One signal's scorer: a logistic model over standardised dense features and hashed words,
/// Platt-calibrated on the dev split, with the decision threshold chosen there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalModel {
    pub signal: String,
    pub intercept: f64,
    pub dense: Vec<f64>,
    pub hashed: Vec<f64>,
    /// Calibrated probability = σ(slope · z + offset), z the model's log-odds.
    pub calibration_slope: f64,
    pub calibration_offset: f64,
    /// A step is flagged when its calibrated probability reaches this; 1 means never (the signal
    /// did not reach the precision floor on dev).
    pub threshold: f64,
    /// L2 strength, chosen by cross-validation over author batches on train.
    pub l2: f64,
    /// How many times `l2` the words and the embedding's dimensions are penalised: what an
    /// author's phrasing teaches must earn more than how steps relate to each other.
    #[serde(default = "unit")]
    pub memory_penalty: f64,
}

fn unit() -> f64 {
    1.0
}

/// Every signal's scorer plus what is needed to compute features identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorModel {
    /// Stamped on every finding and event; bumped on every retraining.
    pub version: String,
    /// What the weights were fitted and tuned on.
    pub trained_on: String,
    /// Whether the features include the sentence embedding (the model must be loaded to use it).
    #[serde(default)]
    pub semantic: bool,
    pub feature_names: Vec<String>,
    pub hash_buckets: usize,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub signals: Vec<SignalModel>,
}

/// A scored step for one signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub log_odds: f64,
    pub probability: f64,
    pub flagged: bool,
}

pub(super) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl DetectorModel {
    /// Reads weights and checks they fit the features this build computes.
    pub fn from_json(json: &str) -> Result<DetectorModel> {
        let model: DetectorModel = serde_json::from_str(json)
            .map_err(|error| Error::invalid("detector weights", error.to_string()))?;
        let names = feature_names(model.semantic);
        if model.feature_names != names || model.hash_buckets != HASH_BUCKETS {
            return Err(Error::invalid(
                "detector weights",
                "they were trained on other features than this build computes; run `lux train detectors`",
            ));
        }
        let n = dense_len(model.semantic);
        if model.mean.len() != n
            || model.scale.len() != n
            || model
                .signals
                .iter()
                .any(|s| s.dense.len() != n || s.hashed.len() != HASH_BUCKETS)
        {
            return Err(Error::invalid(
                "detector weights",
                "a weight vector has the wrong length",
            ));
        }
        Ok(model)
    }

    pub fn signal(&self, signal: &str) -> Option<&SignalModel> {
        self.signals.iter().find(|s| s.signal == signal)
    }

    pub(super) fn standardise(&self, dense: &[f64]) -> Vec<f64> {
        dense
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }

    /// The scorer's verdict on features already standardised.
    pub(super) fn score_standardised(
        &self,
        model: &SignalModel,
        dense: &[f64],
        hashed: &[(u32, f32)],
    ) -> Score {
        let mut z = model.intercept;
        z += dense
            .iter()
            .zip(&model.dense)
            .map(|(x, w)| x * w)
            .sum::<f64>();
        z += hashed
            .iter()
            .map(|(k, v)| f64::from(*v) * model.hashed[*k as usize])
            .sum::<f64>();
        let probability = sigmoid(model.calibration_slope * z + model.calibration_offset);
        Score {
            log_odds: z,
            probability,
            // A threshold of 1 turns the signal off (it never reached the precision floor on dev).
            flagged: probability >= model.threshold && model.threshold < 1.0,
        }
    }

    pub fn score(&self, signal: &SignalModel, features: &Features) -> Score {
        let dense = self.standardise(&features.dense);
        self.score_standardised(signal, &dense, &features.hashed)
    }

    /// The dense features that pushed the score up most, by name, for the explanation.
    pub fn strongest_reasons(
        &self,
        signal: &SignalModel,
        features: &Features,
        count: usize,
    ) -> Vec<&str> {
        let dense = self.standardise(&features.dense);
        let mut contributions: Vec<(f64, usize)> = dense
            .iter()
            .zip(&signal.dense)
            .enumerate()
            .map(|(i, (x, w))| (x * w, i))
            .filter(|(c, _)| *c > 0.05)
            .collect();
        let wording: f64 = features
            .hashed
            .iter()
            .map(|(k, v)| f64::from(*v) * signal.hashed[*k as usize])
            .sum();
        contributions.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut reasons: Vec<(f64, &str)> = contributions
            .into_iter()
            .take(count)
            .map(|(c, i)| (c, self.feature_names[i].as_str()))
            .collect();
        if wording > 0.05 {
            reasons.push((wording, "its wording"));
        }
        reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
        reasons.into_iter().take(count).map(|(_, n)| n).collect()
    }

    /// The sentence of `content` whose words and cues weigh most for `signal`: the evidence span.
    pub fn evidence(&self, signal: &SignalModel, content: &str) -> Option<Span> {
        let sentences = text::sentences(content);
        if sentences.len() <= 1 {
            return sentences.first().copied();
        }
        let cue_offset = super::features::dense_len(false) - 2 * super::cues::CUE_COUNT;
        sentences
            .into_iter()
            .map(|span| {
                let piece = StepText::of(&content[span.start..span.end], None);
                let features = super::features::features(1, &piece, &[], self.semantic);
                // A cue's weight against the same sentence without it.
                let cues: f64 = (cue_offset..cue_offset + super::cues::CUE_COUNT)
                    .map(|i| features.dense[i] / self.scale[i] * signal.dense[i])
                    .sum();
                let words: f64 = features
                    .hashed
                    .iter()
                    .map(|(k, v)| f64::from(*v) * signal.hashed[*k as usize])
                    .sum();
                (cues + words, span)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, span)| span)
    }
}
