//! What comparing two sessions, or two versions of one synthesis, yields: one serialisable value
//! per question, so REST, MCP and the dashboard render the same answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analytics::TokenTotals;
use super::finding::{Finding, MonitorEvent};
use super::ids::{SessionId, StepId};
use super::session::Session;
use super::synthesis::{ActionItem, Insight};
use crate::pricing::NanoUsd;

/// One run of a word-level diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffTag {
    /// In both texts.
    Equal,
    /// Only in the newer (or `b`) text.
    Insert,
    /// Only in the older (or `a`) text.
    Delete,
}

/// A run of consecutive words (with the whitespace between them) sharing one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffOp {
    pub op: DiffTag,
    pub text: String,
}

/// A word-level diff. The `equal` and `delete` runs concatenated give the old text; the `equal`
/// and `insert` runs give the new one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextDiff {
    pub ops: Vec<DiffOp>,
    /// Share of the two texts' words that are equal, 0..=1 to three decimals (1 for two empty
    /// texts).
    pub similarity: f64,
}

impl TextDiff {
    /// Whether the two texts differ at all.
    pub fn changed(&self) -> bool {
        self.ops.iter().any(|op| op.op != DiffTag::Equal)
    }

    /// The old text, rebuilt from the diff.
    pub fn old_text(&self) -> String {
        self.text_without(DiffTag::Insert)
    }

    /// The new text, rebuilt from the diff.
    pub fn new_text(&self) -> String {
        self.text_without(DiffTag::Delete)
    }

    fn text_without(&self, skipped: DiffTag) -> String {
        self.ops
            .iter()
            .filter(|op| op.op != skipped)
            .map(|op| op.text.as_str())
            .collect()
    }
}

/// An item found on both sides (same normalised text) whose details differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemChange<T> {
    pub before: T,
    pub after: T,
    /// The fields that differ: `text` (only in case, spacing or final punctuation), `confidence`,
    /// `priority`, …
    pub fields: Vec<String>,
}

/// How a list of insights or action items moved between two syntheses. Items are matched by
/// their normalised text (case, runs of whitespace and final punctuation ignored), duplicates pair
/// up in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListDiff<T> {
    pub added: Vec<T>,
    pub removed: Vec<T>,
    pub changed: Vec<ItemChange<T>>,
    /// Items identical on both sides.
    pub unchanged: i64,
}

impl<T> Default for ListDiff<T> {
    fn default() -> Self {
        ListDiff {
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            unchanged: 0,
        }
    }
}

/// Which synthesis version one side of a diff is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesisPoint {
    pub session_id: SessionId,
    pub version: i32,
    pub step_number: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
}

/// Two syntheses compared: `from` is the older version (or session `a`'s latest), `to` the newer
/// (or session `b`'s latest). A side without any synthesis is `None` and diffs as empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesisDiff {
    pub from: Option<SynthesisPoint>,
    pub to: Option<SynthesisPoint>,
    pub understanding: TextDiff,
    pub insights: ListDiff<Insight>,
    pub action_items: ListDiff<ActionItem>,
    /// `to - from`, when both state one.
    pub confidence_delta: Option<f64>,
    pub clarity_delta: Option<f64>,
}

/// One synthesis version in a session's history, against the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesisEvolutionPoint {
    pub version: i32,
    pub step_number: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub insights: i64,
    pub action_items: i64,
    /// Insights whose normalised text the previous version did not have (all of them in version 1).
    pub insights_gained: Vec<Insight>,
    /// Insights of the previous version whose normalised text this one no longer has.
    pub insights_lost: Vec<Insight>,
    pub action_items_gained: Vec<ActionItem>,
    pub action_items_lost: Vec<ActionItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthesisEvolution {
    pub session_id: SessionId,
    /// Oldest first.
    pub versions: Vec<SynthesisEvolutionPoint>,
}

/// A step as a comparison shows it; its content is in the step pair's diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBrief {
    pub id: StepId,
    pub kind: String,
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAlignment {
    /// Both sessions have the step, with the same kind and content.
    Same,
    /// Both have it; kind or content differ.
    Changed,
    OnlyA,
    OnlyB,
}

/// Something recorded for each of the two sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sides<T> {
    pub a: T,
    pub b: T,
}

/// The steps numbered `step_number` in the two sessions, with what was found in each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPair {
    pub step_number: i32,
    pub alignment: StepAlignment,
    pub a: Option<StepBrief>,
    pub b: Option<StepBrief>,
    /// `a`'s content to `b`'s; a missing step counts as empty text, so one-sided steps are a
    /// single `delete` (only in `a`) or `insert` (only in `b`) run.
    pub content: TextDiff,
    pub findings: Sides<Vec<Finding>>,
    pub alerts: Sides<Vec<MonitorEvent>>,
}

/// The headline figures of one session, as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFigures {
    pub steps: i64,
    pub model_calls: i64,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
    /// Sum of the model calls' latency.
    pub latency_ms_total: i64,
    /// Nearest-rank median of the model calls' latency; `None` without calls.
    pub latency_ms_p50: Option<i64>,
    pub findings: i64,
    pub alerts: i64,
    pub duration_ms: i64,
    /// The newest synthesis version's confidence, or else the last step's that stated one.
    pub final_confidence: Option<f64>,
}

/// `b - a` for two scores in 0..=1, rounded to 9 decimals so 0.9 - 0.8 reads 0.1, not
/// 0.09999999999999998; `None` unless both are given.
pub fn score_delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(((b? - a?) * 1e9).round() / 1e9)
}

/// `b - a` for each figure; `None` where either side has no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureDeltas {
    pub steps: i64,
    pub model_calls: i64,
    pub tokens: TokenTotals,
    pub cost: NanoUsd,
    pub latency_ms_total: i64,
    pub latency_ms_p50: Option<i64>,
    pub findings: i64,
    pub alerts: i64,
    pub duration_ms: i64,
    pub final_confidence: Option<f64>,
}

impl FigureDeltas {
    pub fn between(a: &SessionFigures, b: &SessionFigures) -> Self {
        let both = |a: Option<i64>, b: Option<i64>| Some(b? - a?);
        FigureDeltas {
            steps: b.steps - a.steps,
            model_calls: b.model_calls - a.model_calls,
            tokens: TokenTotals {
                input: b.tokens.input - a.tokens.input,
                output: b.tokens.output - a.tokens.output,
                cached_input: b.tokens.cached_input - a.tokens.cached_input,
                reasoning: b.tokens.reasoning - a.tokens.reasoning,
            },
            cost: NanoUsd(b.cost.0.saturating_sub(a.cost.0)),
            latency_ms_total: b.latency_ms_total - a.latency_ms_total,
            latency_ms_p50: both(a.latency_ms_p50, b.latency_ms_p50),
            findings: b.findings - a.findings,
            alerts: b.alerts - a.alerts,
            duration_ms: b.duration_ms - a.duration_ms,
            final_confidence: score_delta(a.final_confidence, b.final_confidence),
        }
    }
}

/// One side of a session comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedSession {
    pub session: Session,
    pub figures: SessionFigures,
}

/// Two sessions of one project side by side: aligned steps, the latest syntheses diffed,
/// findings and alerts per step, and the difference of every headline figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionComparison {
    pub a: ComparedSession,
    pub b: ComparedSession,
    pub deltas: FigureDeltas,
    /// By step number; a number present in only one session appears once, one-sided.
    pub steps: Vec<StepPair>,
    /// `a`'s latest synthesis to `b`'s.
    pub synthesis: SynthesisDiff,
    /// Findings recorded on no step.
    pub session_findings: Sides<Vec<Finding>>,
    /// Alerts recorded on no step.
    pub session_alerts: Sides<Vec<MonitorEvent>>,
}
