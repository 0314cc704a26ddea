//! The learned detectors: one calibrated logistic scorer per signal over lexical, structural and
//! (with the sentence-embedding model, `semantic`) meaning features of a step in its session
//! (`features`), trained from the corpus's train split and tuned on its dev split by
//! `lux train detectors` (`train`), shipped as versioned weights (`weights-semantic.json`, and
//! `weights.json` for the lexical fallback). The eight bias scorers run as the built-in detector [`LearnedBiasDetector`];
//! the three monitor scorers run inside the monitor ([`crate::monitor`]).

mod cues;
mod features;
mod model;
pub mod semantic;
pub mod train;

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;

pub use features::{
    CONTEXT_STEPS, Features, HASH_BUCKETS, StepText, feature_names, most_similar, step_text,
};
pub use model::{DetectorModel, Score, SignalModel};

use super::eval::{BIAS_SIGNALS, MONITOR_SIGNALS};
use super::llm_verifier::LlmVerifier;
use super::{BiasDetector, Detection, DetectorError, DetectorInput};
use crate::domain::Severity;

/// Name of the built-in bias detector on its findings.
pub const LEARNED_DETECTOR_NAME: &str = "lux.learned";

/// The shipped weights on lexical features (the fallback).
pub const SHIPPED_LEXICAL_WEIGHTS: &str = include_str!("weights.json");
/// The shipped weights with the sentence embedding.
pub const SHIPPED_SEMANTIC_WEIGHTS: &str = include_str!("weights-semantic.json");

fn load(json: &str, which: &str) -> Option<Arc<DetectorModel>> {
    match DetectorModel::from_json(json) {
        Ok(model) => Some(Arc::new(model)),
        Err(error) => {
            tracing::error!(%error, which, "shipped detector weights do not load");
            None
        }
    }
}

static LEXICAL: LazyLock<Option<Arc<DetectorModel>>> =
    LazyLock::new(|| load(SHIPPED_LEXICAL_WEIGHTS, "lexical"));
static SEMANTIC: LazyLock<Option<Arc<DetectorModel>>> =
    LazyLock::new(|| load(SHIPPED_SEMANTIC_WEIGHTS, "semantic"));

/// The shipped model for this process: the semantic one when the sentence-embedding model is
/// installed, the lexical one otherwise (`None` only if the weights and this build disagree,
/// which a test rules out). Nothing is loaded to decide, so commands that analyse nothing pay
/// nothing.
pub fn shipped_model() -> Option<Arc<DetectorModel>> {
    if semantic::installed()
        && let Some(model) = SEMANTIC.clone()
    {
        return Some(model);
    }
    LEXICAL.clone()
}

/// The model that actually scores, with the encoder its features need: a semantic model whose
/// encoder does not load (files present but broken) gives way to the lexical weights, so scores
/// are never computed on missing embeddings.
pub(crate) fn effective(
    model: &Arc<DetectorModel>,
) -> (Arc<DetectorModel>, Option<Arc<lux_embed::SentenceEncoder>>) {
    if !model.semantic {
        return (model.clone(), None);
    }
    match semantic::encoder() {
        Some(encoder) => (model.clone(), Some(encoder)),
        None => (LEXICAL.clone().unwrap_or_else(|| model.clone()), None),
    }
}

/// The shipped weights of one kind, whatever is installed (for tests and training checks).
pub fn shipped_weights(semantic: bool) -> Option<Arc<DetectorModel>> {
    if semantic {
        SEMANTIC.clone()
    } else {
        LEXICAL.clone()
    }
}

/// Which earlier steps a step at `index` is compared with: the question, the first answer, and
/// the [`CONTEXT_STEPS`] steps right before it (indexes into the session, oldest first).
pub fn context_indexes(index: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..index.min(2)).collect();
    out.extend(index.saturating_sub(CONTEXT_STEPS).max(2)..index);
    out
}

/// Features of every step after the question, as training and evaluation see them (with the
/// meaning features when `encoder` is given).
pub fn session_features(
    steps: &[String],
    encoder: Option<&lux_embed::SentenceEncoder>,
) -> Vec<(usize, Features)> {
    let texts: Vec<Arc<StepText>> = steps.iter().map(|s| step_text(s, encoder)).collect();
    (1..texts.len())
        .map(|index| {
            let earlier: Vec<&StepText> = context_indexes(index)
                .iter()
                .map(|&i| texts[i].as_ref())
                .collect();
            (
                index,
                features::features(index, &texts[index], &earlier, encoder.is_some()),
            )
        })
        .collect()
}

/// The bias signal a model scores, as the finding's `bias_type`.
fn bias_type_of(signal: &str) -> &str {
    if signal == "circular_justification" {
        "circular_reasoning"
    } else {
        signal
    }
}

/// What to do about a flagged bias, said once per bias type.
fn suggestion_for(signal: &str) -> &'static str {
    match signal {
        "confirmation" => {
            "Weigh the contrary evidence by the same standard as the supporting evidence."
        }
        "anchoring" => {
            "Estimate again from the evidence alone, then compare with the first figure."
        }
        "availability" => "Check the base rate before judging from the memorable case.",
        "over_generalization" => {
            "Scope the rule to the sample it comes from, or test it on a larger one."
        }
        "false_dichotomy" => "List the options besides these two before choosing.",
        "hasty_conclusion" => "Name the check that would change the conclusion and run it first.",
        "circular_justification" => "Support the claim with evidence that does not presuppose it.",
        "sunk_cost" => {
            "Decide on future costs and benefits only; what is spent is spent either way."
        }
        _ => "Re-examine this step.",
    }
}

fn severity_of(probability: f64) -> Severity {
    match probability {
        p if p >= 0.85 => Severity::High,
        p if p >= 0.6 => Severity::Medium,
        _ => Severity::Low,
    }
}

/// A human-readable reason for a flag: the calibrated probability, the threshold, and the
/// features that weighed most.
pub fn explain(
    model: &DetectorModel,
    signal: &SignalModel,
    features: &Features,
    score: Score,
) -> String {
    let reasons = model.strongest_reasons(signal, features, 3);
    format!(
        "{} scored {:.2} (flagged from {:.2}); weighed most: {}",
        signal.signal.replace('_', " "),
        score.probability,
        signal.threshold,
        if reasons.is_empty() {
            "no single feature".to_owned()
        } else {
            reasons.join(", ")
        }
    )
}

/// Candidates scoring at least this share of their threshold, but below it, go to the LLM
/// verifier when one is configured; what it confirms is reported.
pub const VERIFY_FROM: f64 = 0.5;

/// The eight bias scorers as one detector, with the LLM verifier for mid-confidence candidates
/// when an LLM is configured.
#[derive(Debug, Clone)]
pub struct LearnedBiasDetector {
    model: Arc<DetectorModel>,
    verifier: Option<Arc<LlmVerifier>>,
}

impl LearnedBiasDetector {
    pub fn new(model: Arc<DetectorModel>) -> Self {
        LearnedBiasDetector {
            model,
            verifier: None,
        }
    }

    /// Sends mid-confidence candidates to `verifier`.
    pub fn with_verifier(model: Arc<DetectorModel>, verifier: Arc<LlmVerifier>) -> Self {
        LearnedBiasDetector {
            model,
            verifier: Some(verifier),
        }
    }

    pub fn verifies(&self) -> bool {
        self.verifier.is_some()
    }
}

#[async_trait]
impl BiasDetector for LearnedBiasDetector {
    fn name(&self) -> &str {
        LEARNED_DETECTOR_NAME
    }

    fn version(&self) -> &str {
        &self.model.version
    }

    fn bias_types(&self) -> Vec<String> {
        BIAS_SIGNALS
            .iter()
            .map(|s| bias_type_of(s).to_owned())
            .collect()
    }

    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        // The question itself is never judged.
        let Some(first) = input.previous.first() else {
            return Ok(Vec::new());
        };
        let index = input
            .step
            .step_number
            .and_then(|n| usize::try_from(n - first.step_number).ok())
            .unwrap_or(input.previous.len());
        if index == 0 {
            return Ok(Vec::new());
        }
        // The question, the first answer, and the most recent steps, as in training.
        let (model, encoder) = effective(&self.model);
        let encoder = encoder.as_deref();
        let mut earlier: Vec<Arc<StepText>> = vec![step_text(&first.content, encoder)];
        if let Some(second) = input
            .previous
            .get(1)
            .filter(|s| s.step_number == first.step_number + 1)
        {
            earlier.push(step_text(&second.content, encoder));
        }
        let recent_from = input
            .previous
            .len()
            .saturating_sub(CONTEXT_STEPS)
            .max(earlier.len());
        earlier.extend(
            input.previous[recent_from..]
                .iter()
                .map(|s| step_text(&s.content, encoder)),
        );
        let step = step_text(&input.step.content, encoder);
        if !step.can_show_a_bias() {
            return Ok(Vec::new());
        }
        let refs: Vec<&StepText> = earlier.iter().map(AsRef::as_ref).collect();
        let features = features::features(index, &step, &refs, model.semantic);
        let mut found = Vec::new();
        let mut candidates: Vec<(&str, Score, String)> = Vec::new();
        for signal in BIAS_SIGNALS {
            let Some(scorer) = model.signal(signal) else {
                continue;
            };
            let score = model.score(scorer, &features);
            let explanation = explain(&model, scorer, &features, score);
            if !score.flagged {
                if scorer.threshold < 1.0 && score.probability >= scorer.threshold * VERIFY_FROM {
                    candidates.push((signal, score, explanation));
                }
                continue;
            }
            found.push(Detection {
                bias_type: bias_type_of(signal).to_owned(),
                severity: severity_of(score.probability),
                confidence: score.probability,
                explanation,
                evidence: model.evidence(scorer, &input.step.content),
                suggestion: Some(suggestion_for(signal).to_owned()),
            });
        }
        if let Some(verifier) = &self.verifier
            && !candidates.is_empty()
        {
            let focus: Vec<&str> = candidates.iter().map(|(s, _, _)| bias_type_of(s)).collect();
            match verifier.verify(input, &focus).await {
                Ok(verdicts) => {
                    for (signal, score, explanation) in &candidates {
                        let Some(verdict) = verdicts
                            .iter()
                            .find(|v| super::eval::signal_of_bias_type(&v.bias_type) == *signal)
                        else {
                            continue;
                        };
                        let scorer = model.signal(signal);
                        found.push(Detection {
                            bias_type: bias_type_of(signal).to_owned(),
                            severity: verdict.severity,
                            confidence: score.probability.max(verdict.confidence),
                            explanation: format!(
                                "{explanation}; below the threshold, sent to the LLM verifier, which confirmed it: {}",
                                verdict.explanation
                            ),
                            evidence: verdict.evidence.or_else(|| {
                                scorer.and_then(|s| model.evidence(s, &input.step.content))
                            }),
                            suggestion: verdict
                                .suggestion
                                .clone()
                                .or_else(|| Some(suggestion_for(signal).to_owned())),
                        });
                    }
                }
                // The confident findings stand; the unconfirmed candidates are dropped, as they
                // would be without an LLM.
                Err(error) => tracing::warn!(
                    %error,
                    candidates = ?focus,
                    "the LLM verifier failed on mid-confidence candidates"
                ),
            }
        }
        Ok(found)
    }
}

/// The monitor scorers' verdicts on a step: each monitor signal with its score.
pub fn monitor_scores(
    model: &DetectorModel,
    index: usize,
    step: &StepText,
    earlier: &[&StepText],
) -> Vec<(&'static str, Score, String)> {
    if index == 0 {
        return Vec::new();
    }
    let features = features::features(index, step, earlier, model.semantic);
    MONITOR_SIGNALS
        .iter()
        .filter_map(|signal| {
            let scorer = model.signal(signal)?;
            let score = model.score(scorer, &features);
            Some((*signal, score, explain(model, scorer, &features, score)))
        })
        .collect()
}
