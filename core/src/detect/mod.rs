//! Bias detection: the traits every detector implements (built-in heuristics, the LLM verifier, and
//! later WASM plugins), the inputs they see, and the registry that runs them in isolation.
//!
//! A detector sees one step, the session's earlier steps (a bounded window: the first few and the
//! most recent ones) and the latest synthesis, and answers with [`Detection`]s. The registry, not
//! the detector, stamps each finding with the detector's name and version, repairs spans onto
//! character boundaries, and turns a failure or a blown time budget into a recorded event.

mod cost;
mod dynamic;
pub mod eval;
pub mod heuristics;
pub mod learned;
pub mod llm_verifier;
pub mod patterns;
mod registry;
pub(crate) mod text;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Severity, Span};

pub use cost::{AnalysisCost, analysis_cost};
pub use dynamic::DynamicDetectors;
pub use patterns::{MinedPattern, PatternMiner, SessionDigest};
pub(crate) use registry::failure_event;
pub use registry::{
    DETECTOR_FAILURE, DetectionMode, DetectorFailure, DetectorRegistry, FAILURE_SOURCE,
    HEURISTIC_BUDGET, LLM_BUDGET, MAX_FINDINGS_PER_DETECTOR, RegisteredDetector, StepAnalysis,
};
pub use text::clamp_span;

/// An earlier step of the session, as detectors and the monitor see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorStep {
    pub step_number: i32,
    pub kind: String,
    pub content: String,
}

/// The step being written. Its number may be unknown before the write assigns one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepUnderReview {
    pub step_number: Option<i32>,
    pub kind: String,
    pub content: String,
}

/// The latest synthesis of the session, reduced to what a detector can use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesisContext {
    pub current_understanding: Option<String>,
    pub insights: Vec<String>,
    pub confidence: Option<f64>,
}

/// Everything a step-level detector is given.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorInput {
    pub step: StepUnderReview,
    /// Earlier steps in order: the first few of the session and then the most recent ones
    /// (see [`ContextWindow`]); never the step itself.
    pub previous: Vec<Arc<PriorStep>>,
    pub synthesis: Option<Arc<SynthesisContext>>,
}

/// How much of a session's history a detector and the monitor are given, so that a step's
/// analysis costs the same in a session of 10 steps and one of 100,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextWindow {
    /// The first steps (the question, the first figures) are always included.
    pub head: usize,
    /// Then the most recent steps.
    pub tail: usize,
}

impl Default for ContextWindow {
    fn default() -> Self {
        ContextWindow { head: 3, tail: 60 }
    }
}

/// One bias a detector found in the step under review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// `hasty_conclusion`, `over_generalization`, `false_dichotomy`, `anchoring`,
    /// `confirmation`, `circular_reasoning`, … (a lowercase identifier).
    pub bias_type: String,
    pub severity: Severity,
    /// 0..=1; values outside are clamped by the registry.
    pub confidence: f64,
    pub explanation: String,
    /// Byte offsets into the step's content; repaired onto character boundaries (or dropped) by
    /// the registry, so a sloppy detector can never store an invalid span.
    pub evidence: Option<Span>,
    pub suggestion: Option<String>,
}

/// Why a detector produced nothing usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DetectorError {
    pub message: String,
}

impl DetectorError {
    pub fn new(message: impl Into<String>) -> Self {
        DetectorError {
            message: message.into(),
        }
    }
}

/// A step-level bias detector. Implementations must be cheap to share (`Arc`) and must not assume
/// they run on any particular thread; the registry runs each one as its own task under a deadline.
#[async_trait]
pub trait BiasDetector: Send + Sync + fmt::Debug {
    /// Stable identifier recorded on every finding (`lux.false_dichotomy`, `plugin.acme.tone`).
    fn name(&self) -> &str;
    /// Version recorded on every finding; `lux analyze` replaces findings of the same version.
    fn version(&self) -> &str;
    /// Bias types this detector can report, for listings and the eval.
    fn bias_types(&self) -> Vec<String>;
    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError>;
}
