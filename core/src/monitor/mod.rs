//! The metacognitive monitor: watches a session's thoughts for circular reasoning, distractor
//! fixation and declining quality, and says so as [`NewMonitorEvent`]s.
//!
//! It is a pure function of the session's steps. [`MonitorState`] is rebuilt by observing the
//! stored steps in order (so it works across processes and restarts, and a batch continues it),
//! and each thought is observed exactly once: it is compared only with the thoughts before it,
//! never with itself — the original server's defect that made every thought look circular.
//!
//! Measurements are honest proxies computed from the text: cosine similarity of concept vectors,
//! relevance to the first thought, novelty (share of concepts never seen before in the session),
//! vocabulary diversity (moving-average type/token ratio), reasoning depth (reasoning moves,
//! sentences and distinct concepts), detail density. There is no "perplexity" or "attention
//! entropy": without the model's token probabilities they cannot be measured, so they are left out.

mod features;

use serde::{Deserialize, Serialize};

use crate::detect::PriorStep;
use crate::domain::{NewMonitorEvent, Severity};
use features::{StepFeatures, relevance, slope};

pub const MONITOR_NAME: &str = "lux.monitor";
pub const MONITOR_VERSION: &str = "1.0.0";

/// Similarity at which a direct repeat is alerted even when the learned scorer does not flag it.
const VERBATIM_REPEAT: f64 = 0.85;

/// Event kinds the monitor emits.
pub const CIRCULAR_REASONING: &str = "circular_reasoning";
pub const DISTRACTOR_FIXATION: &str = "distractor_fixation";
pub const QUALITY_DEGRADATION: &str = "quality_degradation";

/// Thresholds; the defaults are the original server's where it had them, tuned on the eval set
/// where it did not (see docs/ARCHITECTURE.md, "Detectors and monitor").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Thoughts with fewer distinct concepts are too short to call repeats or drifts.
    pub min_concepts: usize,
    /// Direct repeat: similarity to an earlier thought at or above this…
    pub repeat_similarity: f64,
    /// …while adding less than this share of new concepts.
    pub repeat_max_novelty: f64,
    /// A recap (marked as one) that echoes at least this many earlier thoughts is not a repeat.
    pub recap_min_sources: usize,
    /// Nor is a thought that takes at least this share of its concepts from other earlier
    /// thoughts than the one it resembles (a conclusion drawing the threads together).
    pub repeat_max_synthesis_share: f64,
    /// Cycle: similar to the first thought above this…
    pub cycle_similarity: f64,
    /// …while the thoughts in between were, on average, below this…
    pub cycle_intermediate_max: f64,
    /// …and the thought uses less than this share of what was learnt in between.
    pub cycle_max_intermediate_share: f64,
    /// Conceptual loop: this many thoughts in a row each adding less than `loop_max_novelty`.
    pub loop_run: usize,
    pub loop_max_novelty: f64,
    /// Distractor fixation looks at the last `drift_window` thoughts.
    pub drift_window: usize,
    /// The first thoughts define the topic (a question is often answered in other words than
    /// it was asked in, so the first answer counts as much as the question).
    pub topic_thoughts: usize,
    /// A thought is off topic when less than this share of its concepts belong to the topic
    /// (the question's concepts and those of the on-topic thoughts since); `drift_window`
    /// off-topic thoughts in a row are tangential drift (or topic hopping, see below).
    pub drift_max_relevance: f64,
    /// Detail spiral: detail density at or above this, rising, while relevance is below one half.
    pub detail_density: f64,
    /// Drift is topic hopping when at least `hop_count` of the last `hop_window` thoughts also
    /// broke with the thought before them (similarity below `hop_max_coherence`).
    pub hop_window: usize,
    pub hop_count: usize,
    pub hop_max_coherence: f64,
    /// Quality trend over this many thoughts.
    pub trend_window: usize,
    /// Change across the window below which a metric is declining.
    pub vocabulary_drop: f64,
    pub coherence_drop: f64,
    pub depth_drop: f64,
    /// Change across the window above which a metric is improving.
    pub improvement: f64,
    /// A degrading trend in a session at least this long is cognitive fatigue.
    pub fatigue_min_steps: usize,
    /// Thoughts remembered: the first few (the question) and the most recent ones, so a thought
    /// costs the same to observe in a session of 10 thoughts and one of 100,000.
    pub remember_first: usize,
    pub remember_recent: usize,
    /// Decide the three alerts with the learned scorers (`crate::detect::learned`) instead of the
    /// threshold rules above; the rules still compute the metrics either way.
    #[serde(default = "learned_by_default")]
    pub learned: bool,
}

fn learned_by_default() -> bool {
    true
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            min_concepts: 4,
            repeat_similarity: 0.6,
            repeat_max_novelty: 0.25,
            recap_min_sources: 2,
            repeat_max_synthesis_share: 0.2,
            cycle_similarity: 0.7,
            cycle_intermediate_max: 0.5,
            cycle_max_intermediate_share: 0.2,
            loop_run: 3,
            loop_max_novelty: 0.15,
            topic_thoughts: 2,
            drift_window: 3,
            drift_max_relevance: 0.1,
            detail_density: 0.35,
            hop_window: 5,
            hop_count: 3,
            hop_max_coherence: 0.05,
            trend_window: 5,
            vocabulary_drop: -0.2,
            coherence_drop: -0.4,
            depth_drop: -0.3,
            improvement: 0.2,
            fatigue_min_steps: 10,
            remember_first: 3,
            remember_recent: 60,
            learned: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityTrend {
    Improving,
    Stable,
    Declining,
    Degrading,
}

impl QualityTrend {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityTrend::Improving => "improving",
            QualityTrend::Stable => "stable",
            QualityTrend::Declining => "declining",
            QualityTrend::Degrading => "degrading",
        }
    }
}

/// What the monitor measured on one thought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step_number: i32,
    /// Weighted share of the thought's concepts that belong to the first thought.
    pub relevance: f64,
    /// Similarity to the previous thought (`None` for the first).
    pub coherence: Option<f64>,
    /// Share of the thought's concepts not seen earlier in the session.
    pub novelty: f64,
    pub vocabulary_diversity: f64,
    pub reasoning_depth: f64,
    pub detail_density: f64,
    /// Highest similarity to any earlier thought, and which.
    pub max_similarity: f64,
    pub most_similar_step: Option<i32>,
    pub trend: QualityTrend,
}

/// One observed thought: its metrics and the events it raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub metrics: StepMetrics,
    /// Events without `step_id` (unknown until the step is written); the caller fills it in.
    pub events: Vec<NewMonitorEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distraction {
    TangentialDrift,
    DetailSpiral,
    TopicHopping,
}

impl Distraction {
    fn as_str(self) -> &'static str {
        match self {
            Distraction::TangentialDrift => "tangential_drift",
            Distraction::DetailSpiral => "detail_spiral",
            Distraction::TopicHopping => "topic_hopping",
        }
    }
}

#[derive(Debug, Clone)]
struct Observed {
    step_number: i32,
    features: StepFeatures,
    metrics: StepMetrics,
    conceptual_loop: bool,
    distraction: Option<Distraction>,
}

/// The monitor's view of one session, built by observing its thoughts in order.
#[derive(Debug, Clone)]
pub struct MonitorState {
    config: MonitorConfig,
    observed: Vec<Observed>,
    /// The learned scorers, when `config.learned` and the shipped weights load.
    learned: Option<std::sync::Arc<crate::detect::learned::DetectorModel>>,
    /// Texts the learned scorers compare a thought with: the first two thoughts and the
    /// most recent ones, with their position in the session.
    texts: Vec<(usize, std::sync::Arc<crate::detect::learned::StepText>)>,
    /// Thoughts observed so far (the position of the next one).
    count: usize,
    /// Signals the learned scorers flagged on the previous thought (an alert is raised once per run).
    flagged_before: Vec<&'static str>,
    /// The question's concepts, grown with those of every thought that stayed on topic (shared
    /// concepts with it): relevance is measured against this, so reasoning that moves on step by
    /// step stays relevant while a jump to something unconnected does not.
    topic: std::collections::HashSet<String>,
}

impl MonitorState {
    pub fn new(config: MonitorConfig) -> Self {
        MonitorState {
            learned: if config.learned {
                crate::detect::learned::shipped_model()
            } else {
                None
            },
            texts: Vec::new(),
            count: 0,
            flagged_before: Vec::new(),
            config,
            observed: Vec::new(),
            topic: Default::default(),
        }
    }

    /// The state after the given stored thoughts (their events were recorded when they were written).
    pub fn rebuild<'a>(
        config: MonitorConfig,
        previous: impl IntoIterator<Item = &'a PriorStep>,
    ) -> Self {
        let mut state = MonitorState::new(config);
        for step in previous {
            state.observe(Some(step.step_number), &step.content);
        }
        state
    }

    pub fn len(&self) -> usize {
        self.observed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.observed.is_empty()
    }

    /// Observes the next thought: compares it with the earlier ones, records it, and returns what
    /// was measured and any events raised.
    pub fn observe(&mut self, step_number: Option<i32>, content: &str) -> Observation {
        let step_number =
            step_number.unwrap_or_else(|| self.observed.last().map_or(1, |o| o.step_number + 1));
        let features = StepFeatures::of(content);
        let cfg = &self.config;
        let prior = &self.observed;

        let similarities: Vec<f64> = prior
            .iter()
            .map(|o| crate::detect::text::cosine(&features.concepts, &o.features.concepts))
            .collect();
        let (most_similar, max_similarity) = crate::detect::learned::most_similar(&similarities);
        let seen_mass: f64 = features
            .concepts
            .iter()
            .filter(|(term, _)| {
                prior
                    .iter()
                    .any(|o| o.features.concepts.contains_key(*term))
            })
            .map(|(_, tf)| tf)
            .sum();
        let total_mass: f64 = features.concepts.values().sum();
        let novelty = if total_mass > 0.0 {
            1.0 - seen_mass / total_mass
        } else {
            0.0
        };
        let relevance = if prior.is_empty() {
            1.0
        } else {
            relevance(&features.concepts, &self.topic)
        };
        let coherence = similarities.last().copied();

        let mut events = Vec::new();
        let substantial = features.concepts.len() >= cfg.min_concepts;

        // Circular reasoning.
        let mut conceptual_loop = false;
        if substantial && !prior.is_empty() {
            if let Some(event) = self.circular(&features, &similarities, novelty, step_number) {
                events.push(event);
            } else if self.loops(novelty) {
                conceptual_loop = true;
                let previous_looped = prior.last().is_some_and(|o| o.conceptual_loop);
                if !previous_looped {
                    events.push(event(
                        CIRCULAR_REASONING,
                        Severity::Medium,
                        1.0 - novelty,
                        format!(
                            "Thought {step_number} is the {}th in a row to add almost nothing new: \
                             the reasoning is going round in circles",
                            cfg.loop_run
                        ),
                        serde_json::json!({"pattern": "conceptual_loop", "novelty": novelty}),
                    ));
                }
            }
        }

        // Distractor fixation.
        let window_relevance: Vec<f64> = prior
            .iter()
            .rev()
            .take(cfg.drift_window.saturating_sub(1))
            .map(|o| o.metrics.relevance)
            .chain([relevance])
            .collect();
        let distraction = if substantial && prior.len() >= cfg.topic_thoughts.max(1) {
            self.distraction(&features, relevance, coherence, &window_relevance)
        } else {
            None
        };
        if let Some(kind) = distraction
            && prior.last().and_then(|o| o.distraction) != Some(kind)
        {
            let mean = window_relevance.iter().sum::<f64>() / window_relevance.len() as f64;
            let message = match kind {
                Distraction::TangentialDrift => format!(
                    "Thoughts up to {step_number} have drifted away from the question \
                     (relevance {mean:.2})"
                ),
                Distraction::DetailSpiral => format!(
                    "Thought {step_number} spirals into detail (density {:.2}) while losing \
                     the question (relevance {relevance:.2})",
                    features.detail
                ),
                Distraction::TopicHopping => {
                    format!("Thoughts up to {step_number} keep hopping between unrelated topics")
                }
            };
            events.push(event(
                DISTRACTOR_FIXATION,
                if kind == Distraction::TangentialDrift {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                (1.0 - mean).clamp(0.0, 1.0),
                message,
                serde_json::json!({"pattern": kind.as_str(), "relevance": mean}),
            ));
        }

        // Quality trend.
        let trend = self.trend(&features, coherence);
        let previous_trend = prior
            .last()
            .map_or(QualityTrend::Stable, |o| o.metrics.trend);
        if matches!(trend, QualityTrend::Declining | QualityTrend::Degrading)
            && trend != previous_trend
            && previous_trend != QualityTrend::Degrading
        {
            let fatigue = trend == QualityTrend::Degrading
                && usize::try_from(step_number).unwrap_or(0) >= cfg.fatigue_min_steps;
            let severity = match (trend, fatigue) {
                (_, true) => Severity::High,
                (QualityTrend::Degrading, false) => Severity::Medium,
                _ => Severity::Low,
            };
            events.push(event(
                QUALITY_DEGRADATION,
                severity,
                if trend == QualityTrend::Degrading {
                    0.8
                } else {
                    0.5
                },
                format!(
                    "Reasoning quality is {} over the last {} thoughts{}",
                    trend.as_str(),
                    cfg.trend_window,
                    if fatigue { " (cognitive fatigue)" } else { "" }
                ),
                serde_json::json!({"trend": trend.as_str(), "fatigue": fatigue}),
            ));
        }

        let metrics = StepMetrics {
            step_number,
            relevance,
            coherence,
            novelty,
            vocabulary_diversity: features.vocabulary,
            reasoning_depth: features.depth,
            detail_density: features.detail,
            max_similarity,
            most_similar_step: most_similar.map(|i| prior[i].step_number),
            trend,
        };
        if self.learned.is_some() {
            let rules = std::mem::take(&mut events);
            events = self.learned_events(content, step_number, &metrics);
            // A near-verbatim repeat is unambiguous whatever the scorer says; keep the rule's alert.
            if !events.iter().any(|e| e.kind == CIRCULAR_REASONING) {
                events.extend(rules.into_iter().filter(|e| {
                    e.kind == CIRCULAR_REASONING
                        && e.data.as_ref().is_some_and(|d| {
                            d["pattern"] == "direct_repeat"
                                && d["similarity"]
                                    .as_f64()
                                    .is_some_and(|s| s >= VERBATIM_REPEAT)
                        })
                }));
            }
        }
        let metrics_json = serde_json::to_value(&metrics).unwrap_or_default();
        for event in &mut events {
            if let Some(serde_json::Value::Object(data)) = &mut event.data {
                data.insert("metrics".into(), metrics_json.clone());
                data.insert("source".into(), MONITOR_NAME.into());
                data.insert("monitor_version".into(), MONITOR_VERSION.into());
            }
        }
        if self.observed.len() < self.config.topic_thoughts
            || relevance >= self.config.drift_max_relevance
        {
            self.topic.extend(features.concepts.keys().cloned());
        }
        self.observed.push(Observed {
            step_number,
            features,
            metrics: metrics.clone(),
            conceptual_loop,
            distraction,
        });
        let (first, recent) = (
            self.config.remember_first,
            self.config.remember_recent.max(1),
        );
        if self.observed.len() > first + recent {
            self.observed.remove(first.min(self.observed.len() - 1));
        }
        Observation { metrics, events }
    }

    /// The learned scorers' alerts on this thought (which also joins the remembered texts).
    fn learned_events(
        &mut self,
        content: &str,
        step_number: i32,
        metrics: &StepMetrics,
    ) -> Vec<NewMonitorEvent> {
        use crate::detect::learned::{CONTEXT_STEPS, StepText, context_indexes, monitor_scores};

        let index = self.count;
        self.count += 1;
        let Some((model, encoder)) = self.learned.as_ref().map(crate::detect::learned::effective)
        else {
            return Vec::new();
        };
        let step = crate::detect::learned::step_text(content, encoder.as_deref());
        let wanted = context_indexes(index);
        let earlier: Vec<&StepText> = self
            .texts
            .iter()
            .filter(|(i, _)| wanted.contains(i))
            .map(|(_, t)| t.as_ref())
            .collect();
        let mut events = Vec::new();
        let mut flagged = Vec::new();
        for (signal, score, explanation) in monitor_scores(&model, index, &step, &earlier) {
            if !score.flagged || (signal == CIRCULAR_REASONING && step.recap_with_decision()) {
                continue;
            }
            flagged.push(signal);
            if self.flagged_before.contains(&signal) {
                continue;
            }
            let severity = match score.probability {
                p if p >= 0.85 => Severity::High,
                p if p >= 0.6 => Severity::Medium,
                _ => Severity::Low,
            };
            let what = match signal {
                CIRCULAR_REASONING => format!(
                    "Thought {step_number} goes round in a circle{}",
                    metrics
                        .most_similar_step
                        .map(|n| format!(
                            " (closest to thought {n}, similarity {:.2})",
                            metrics.max_similarity
                        ))
                        .unwrap_or_default()
                ),
                DISTRACTOR_FIXATION => format!(
                    "Thoughts up to {step_number} have left the question (relevance {:.2})",
                    metrics.relevance
                ),
                _ => format!("Reasoning quality has dropped by thought {step_number}"),
            };
            events.push(event(
                signal,
                severity,
                score.probability,
                format!("{what}: {explanation}"),
                serde_json::json!({
                    "pattern": "learned",
                    "probability": score.probability,
                    "model_version": model.version,
                    "similar_to": metrics.most_similar_step,
                    "similarity": metrics.max_similarity,
                    "relevance": metrics.relevance,
                }),
            ));
        }
        self.flagged_before = flagged;
        self.texts.push((index, step));
        // Keep the first two and the most recent ones.
        while self.texts.len() > 2 + CONTEXT_STEPS {
            self.texts.remove(2);
        }
        events
    }

    /// A direct repeat of one earlier thought, or a return to the first one.
    fn circular(
        &self,
        features: &StepFeatures,
        similarities: &[f64],
        novelty: f64,
        step_number: i32,
    ) -> Option<NewMonitorEvent> {
        let cfg = &self.config;
        let prior = &self.observed;
        // Cycle back to the start.
        if prior.len() >= 3 && similarities[0] > cfg.cycle_similarity {
            let first = &prior[0].features.concepts;
            let between: Vec<f64> = prior[1..]
                .iter()
                .map(|o| crate::detect::text::cosine(&o.features.concepts, first))
                .collect();
            let mean_between = between.iter().sum::<f64>() / between.len() as f64;
            let learnt: std::collections::HashSet<&String> = prior[1..]
                .iter()
                .flat_map(|o| o.features.concepts.keys())
                .filter(|term| !first.contains_key(*term))
                .collect();
            let total: f64 = features.concepts.values().sum();
            let used: f64 = features
                .concepts
                .iter()
                .filter(|(term, _)| learnt.contains(term))
                .map(|(_, tf)| tf)
                .sum();
            let share = if total > 0.0 { used / total } else { 0.0 };
            if mean_between < cfg.cycle_intermediate_max && share < cfg.cycle_max_intermediate_share
            {
                return Some(event(
                    CIRCULAR_REASONING,
                    Severity::High,
                    similarities[0],
                    format!(
                        "Thought {step_number} comes back to where thought {} started \
                         (similarity {:.2}) without using what was found in between",
                        prior[0].step_number, similarities[0]
                    ),
                    serde_json::json!({
                        "pattern": "cycle_to_start",
                        "similar_to": prior[0].step_number,
                        "similarity": similarities[0],
                        "intermediate_share": share,
                    }),
                ));
            }
        }
        // Direct repeat of an earlier (substantial) thought.
        let (index, similarity) = similarities
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| prior[*i].features.concepts.len() >= cfg.min_concepts)
            .fold(
                (None, 0.0),
                |best, (i, s)| if s > best.1 { (Some(i), s) } else { best },
            );
        let index = index?;
        if similarity < cfg.repeat_similarity || novelty >= cfg.repeat_max_novelty {
            return None;
        }
        let sources = similarities.iter().filter(|s| **s >= 0.3).count();
        if features.recap && sources >= cfg.recap_min_sources {
            return None;
        }
        // A conclusion or synthesis echoes one thought but also draws on the others; a repeat
        // draws on the one it repeats.
        let matched = &prior[index].features.concepts;
        let total: f64 = features.concepts.values().sum();
        let elsewhere: f64 = features
            .concepts
            .iter()
            .filter(|(term, _)| {
                !matched.contains_key(*term)
                    && prior
                        .iter()
                        .any(|o| o.features.concepts.contains_key(*term))
            })
            .map(|(_, tf)| tf)
            .sum();
        let synthesis_share = if total > 0.0 { elsewhere / total } else { 0.0 };
        if synthesis_share >= cfg.repeat_max_synthesis_share {
            return None;
        }
        Some(event(
            CIRCULAR_REASONING,
            if similarity >= 0.85 {
                Severity::High
            } else {
                Severity::Medium
            },
            similarity,
            format!(
                "Thought {step_number} repeats thought {} (similarity {similarity:.2}) and adds \
                 little new",
                prior[index].step_number
            ),
            serde_json::json!({
                "pattern": "direct_repeat",
                "similar_to": prior[index].step_number,
                "similarity": similarity,
                "novelty": novelty,
            }),
        ))
    }

    /// A run of thoughts that add almost nothing new.
    fn loops(&self, novelty: f64) -> bool {
        let cfg = &self.config;
        let prior = &self.observed;
        if cfg.loop_run == 0 || prior.len() < cfg.loop_run + 1 || novelty >= cfg.loop_max_novelty {
            return false;
        }
        prior.iter().rev().take(cfg.loop_run - 1).all(|o| {
            o.metrics.novelty < cfg.loop_max_novelty
                && o.features.concepts.len() >= cfg.min_concepts
                && !o.features.recap
        })
    }

    fn distraction(
        &self,
        features: &StepFeatures,
        relevance: f64,
        coherence: Option<f64>,
        window_relevance: &[f64],
    ) -> Option<Distraction> {
        let cfg = &self.config;
        let prior = &self.observed;
        let last = prior.last()?;
        // Detail spiral: detail rising to a high density while the question fades.
        if features.detail >= cfg.detail_density
            && last.features.detail >= cfg.detail_density * 0.6
            && features.detail >= last.features.detail
            && relevance < 0.5
        {
            return Some(Distraction::DetailSpiral);
        }
        // The last thoughts all left the topic: hopping if each also broke with the one before,
        // tangential drift if they follow a thread of their own.
        let off_topic = window_relevance.len() >= cfg.drift_window
            && window_relevance
                .iter()
                .all(|r| *r < cfg.drift_max_relevance);
        if !off_topic {
            return None;
        }
        let drops = prior
            .iter()
            .rev()
            .take(cfg.hop_window.saturating_sub(1))
            .filter_map(|o| o.metrics.coherence)
            .chain(coherence)
            .filter(|c| *c < cfg.hop_max_coherence)
            .count();
        if drops >= cfg.hop_count {
            Some(Distraction::TopicHopping)
        } else {
            Some(Distraction::TangentialDrift)
        }
    }

    fn trend(&self, features: &StepFeatures, coherence: Option<f64>) -> QualityTrend {
        let cfg = &self.config;
        let window = cfg.trend_window.max(3);
        if self.observed.len() + 1 < window {
            return QualityTrend::Stable;
        }
        let recent = &self.observed[self.observed.len() + 1 - window..];
        let series = |pick: &dyn Fn(&StepFeatures, Option<f64>) -> f64, current: f64| {
            let values: Vec<f64> = recent
                .iter()
                .map(|o| pick(&o.features, o.metrics.coherence))
                .chain([current])
                .collect();
            slope(&values) * (window - 1) as f64
        };
        let vocabulary = series(&|f, _| f.vocabulary, features.vocabulary);
        let coherence = series(&|_, c| c.unwrap_or(0.0), coherence.unwrap_or(0.0));
        let depth = series(&|f, _| f.depth, features.depth);
        let declining = [
            vocabulary < cfg.vocabulary_drop,
            coherence < cfg.coherence_drop,
            depth < cfg.depth_drop,
        ]
        .iter()
        .filter(|d| **d)
        .count();
        let improving = [vocabulary, coherence, depth]
            .iter()
            .filter(|change| **change > cfg.improvement)
            .count();
        match declining {
            0 if improving >= 2 => QualityTrend::Improving,
            0 => QualityTrend::Stable,
            1 => QualityTrend::Declining,
            _ => QualityTrend::Degrading,
        }
    }
}

fn event(
    kind: &str,
    severity: Severity,
    score: f64,
    message: String,
    data: serde_json::Value,
) -> NewMonitorEvent {
    NewMonitorEvent {
        id: None,
        step_id: None,
        kind: kind.to_owned(),
        severity,
        score: if score.is_finite() { score } else { 0.0 },
        message,
        data: Some(data),
        created_at: None,
    }
}
