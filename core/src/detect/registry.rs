//! The set of enabled detectors and the monitor's settings, held by [`crate::Lux`], and the one
//! place that runs them: each detector as its own task under its time budget, its output checked
//! and stamped with its name and version, its failure turned into a visible event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::heuristics::builtin_detectors;
use super::llm_verifier::LlmVerifier;
use super::text::{clamp_span, truncate};
use super::{BiasDetector, ContextWindow, Detection, DetectorInput, DynamicDetectors, PriorStep};
use crate::domain::{
    MAX_LABEL_BYTES, MAX_TEXT_BYTES, NewFinding, NewMonitorEvent, Severity, identifier,
    required_text,
};
use crate::error::{Error, Result};
use crate::llm::LlmClient;
use crate::monitor::{MonitorConfig, MonitorState, StepMetrics};

/// Monitor-event kind recording that a detector failed or ran out of time on a step.
pub const DETECTOR_FAILURE: &str = "detector_failure";
/// `data.source` of the events the registry writes for failures.
pub const FAILURE_SOURCE: &str = "lux.detectors";
/// Most findings kept from one detector on one step; more is a misbehaving detector.
pub const MAX_FINDINGS_PER_DETECTOR: usize = 20;

/// Default time budget of a built-in heuristic on one step. They take microseconds on a normal
/// step and tens of milliseconds on a 1 MiB one (release build); the budget is a ceiling for a
/// machine under load, not an expected cost.
pub const HEURISTIC_BUDGET: Duration = Duration::from_secs(5);
/// Default time budget of the LLM verifier on one step, retries included.
pub const LLM_BUDGET: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct RegisteredDetector {
    pub detector: Arc<dyn BiasDetector>,
    pub budget: Duration,
}

/// A detector that failed, panicked or ran out of time on one step.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorFailure {
    pub detector: String,
    pub version: String,
    pub error: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// Everything analysis found on one step, ready to store with it (`step_id` still unset).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepAnalysis {
    pub findings: Vec<NewFinding>,
    /// Monitor events, plus one `detector_failure` event per failure.
    pub events: Vec<NewMonitorEvent>,
    pub failures: Vec<DetectorFailure>,
    pub metrics: Option<StepMetrics>,
}

/// What analysis runs with, as `illumination_status`, `/readyz` and the dashboard report it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DetectionMode {
    /// Version of the learned detectors' weights, when they run.
    pub learned: Option<String>,
    /// The sentence-embedding model the features use; `None` is the lexical fallback.
    pub semantic_model: Option<String>,
    /// Whether an LLM verifies the learned detector's uncertain findings.
    pub llm_verifier: bool,
    /// Enabled WASM plugin detectors running on every step write.
    pub plugin_detectors: usize,
}

impl DetectionMode {
    /// `lexical fallback` when no sentence-embedding model is in use.
    pub fn features(&self) -> &'static str {
        if self.semantic_model.is_some() {
            "semantic"
        } else {
            "lexical fallback"
        }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let detectors = match &self.learned {
            Some(version) => format!("learned detectors {version}"),
            None => "hand-written rules".to_owned(),
        };
        let mut line = match &self.semantic_model {
            Some(model) => format!("{detectors} with the sentence-embedding model {model}"),
            None => {
                format!("{detectors}, lexical fallback (no sentence-embedding model installed)")
            }
        };
        if self.llm_verifier {
            line.push_str("; an LLM verifies uncertain findings");
        }
        match self.plugin_detectors {
            0 => {}
            1 => line.push_str("; 1 plugin detector"),
            n => line.push_str(&format!("; {n} plugin detectors")),
        }
        line
    }
}

/// The enabled detectors and the monitor's configuration.
#[derive(Debug)]
pub struct DetectorRegistry {
    detectors: Vec<RegisteredDetector>,
    /// `None` turns the monitor off.
    pub monitor: Option<MonitorConfig>,
    pub context: ContextWindow,
    failures: AtomicU64,
    /// Detectors added and removed at run time (enabled WASM plugins), run after the fixed ones.
    dynamic: DynamicDetectors,
    llm_verifier: bool,
}

impl Default for DetectorRegistry {
    fn default() -> Self {
        DetectorRegistry::builtin()
    }
}

impl DetectorRegistry {
    /// No detectors and no monitor: writes are stored as sent.
    pub fn empty() -> Self {
        DetectorRegistry {
            detectors: Vec::new(),
            monitor: None,
            context: ContextWindow::default(),
            failures: AtomicU64::new(0),
            dynamic: DynamicDetectors::default(),
            llm_verifier: false,
        }
    }

    /// The learned bias detector and the monitor with its learned alerts (`detect::learned`).
    pub fn builtin() -> Self {
        let mut registry = DetectorRegistry::empty();
        registry.monitor = Some(MonitorConfig::default());
        if let Some(model) = super::learned::shipped_model() {
            registry.detectors.push(RegisteredDetector {
                detector: Arc::new(super::learned::LearnedBiasDetector::new(model)),
                budget: HEURISTIC_BUDGET,
            });
        }
        registry
    }

    /// The first hand-written rules (`detect::heuristics`) and the monitor's threshold rules:
    /// the baseline the learned detectors are measured against.
    pub fn rules() -> Self {
        let mut registry = DetectorRegistry::empty();
        registry.monitor = Some(MonitorConfig {
            learned: false,
            ..MonitorConfig::default()
        });
        for detector in builtin_detectors() {
            registry.detectors.push(RegisteredDetector {
                detector,
                budget: HEURISTIC_BUDGET,
            });
        }
        registry
    }

    /// Adds the LLM verifier on `client` (what "an LLM is configured" enables): the learned
    /// detector sends it its mid-confidence candidates; a registry without the learned detector
    /// runs it on every step instead.
    pub fn with_llm_verifier(mut self, client: Arc<dyn LlmClient>) -> Self {
        // Replacing, not stacking, if one was registered before.
        self.detectors
            .retain(|d| d.detector.name() != super::llm_verifier::LLM_VERIFIER_NAME);
        let verifier = Arc::new(LlmVerifier::new(client));
        self.llm_verifier = true;
        let learned = self
            .detectors
            .iter()
            .position(|d| d.detector.name() == super::learned::LEARNED_DETECTOR_NAME);
        match (learned, super::learned::shipped_model()) {
            (Some(index), Some(model)) => {
                self.detectors[index] = RegisteredDetector {
                    detector: Arc::new(super::learned::LearnedBiasDetector::with_verifier(
                        model, verifier,
                    )),
                    budget: LLM_BUDGET,
                };
            }
            _ => self.detectors.push(RegisteredDetector {
                detector: verifier,
                budget: LLM_BUDGET,
            }),
        }
        self
    }

    /// Adds a detector of the learned kind with a given model (tests, custom weights).
    pub fn with_learned(mut self, detector: super::learned::LearnedBiasDetector) -> Self {
        let budget = if detector.verifies() {
            LLM_BUDGET
        } else {
            HEURISTIC_BUDGET
        };
        self.detectors
            .retain(|d| d.detector.name() != super::learned::LEARNED_DETECTOR_NAME);
        self.detectors.push(RegisteredDetector {
            detector: Arc::new(detector),
            budget,
        });
        self
    }

    /// Adds a detector (a plugin adapter, a custom rule). Its name must be an identifier and unique.
    pub fn register(&mut self, detector: Arc<dyn BiasDetector>, budget: Duration) -> Result<()> {
        let name = identifier("detector", detector.name())?;
        required_text("detector_version", detector.version(), MAX_LABEL_BYTES)?;
        if self.detectors.iter().any(|d| d.detector.name() == name) {
            return Err(Error::conflict(format!(
                "detector {name} is already registered"
            )));
        }
        self.detectors.push(RegisteredDetector { detector, budget });
        Ok(())
    }

    /// Sets every detector's time budget (tests on debug builds, slow machines).
    pub fn set_budgets(&mut self, budget: Duration) {
        for registered in &mut self.detectors {
            registered.budget = budget;
        }
    }

    /// Removes a detector by name; false when there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.detectors.len();
        self.detectors.retain(|d| d.detector.name() != name);
        self.detectors.len() != before
    }

    pub fn detectors(&self) -> &[RegisteredDetector] {
        &self.detectors
    }

    /// The run-time set (plugins); clones of the handle share it with this registry.
    pub fn dynamic(&self) -> &DynamicDetectors {
        &self.dynamic
    }

    /// The fixed detectors followed by the run-time ones, as they are now.
    pub fn all_detectors(&self) -> Vec<RegisteredDetector> {
        let dynamic = self.dynamic.snapshot();
        self.detectors
            .iter()
            .chain(dynamic.iter())
            .cloned()
            .collect()
    }

    /// Which detectors and features analysis runs with.
    pub fn detection_mode(&self) -> DetectionMode {
        let learned = self
            .detectors
            .iter()
            .find(|d| d.detector.name() == super::learned::LEARNED_DETECTOR_NAME);
        DetectionMode {
            learned: learned.map(|d| d.detector.version().to_owned()),
            // Loads the model if nothing has yet: the report must say what analysis really uses.
            semantic_model: learned
                .and_then(|_| super::learned::shipped_model())
                .filter(|model| super::learned::effective(model).1.is_some())
                .map(|_| super::learned::semantic::MODEL_NAME.to_owned()),
            llm_verifier: self.llm_verifier,
            plugin_detectors: self.dynamic.snapshot().len(),
        }
    }

    /// Detector failures and timeouts since this registry was built (also stored as events).
    pub fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A monitor whose state follows the given earlier thoughts, if the monitor is on.
    pub fn monitor_for(&self, previous: &[Arc<PriorStep>]) -> Option<MonitorState> {
        let config = self.monitor.clone()?;
        Some(MonitorState::rebuild(
            config,
            previous.iter().map(|s| s.as_ref()),
        ))
    }

    /// Runs the monitor (advancing `monitor` by this thought) and every detector on one step.
    pub async fn analyze(
        &self,
        monitor: Option<&mut MonitorState>,
        input: Arc<DetectorInput>,
    ) -> StepAnalysis {
        let mut analysis = StepAnalysis::default();
        if let Some(state) = monitor {
            let observed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                state.observe(input.step.step_number, &input.step.content)
            }));
            match observed {
                Ok(observation) => {
                    analysis.events.extend(observation.events);
                    analysis.metrics = Some(observation.metrics);
                }
                Err(_) => analysis.failures.push(DetectorFailure {
                    detector: crate::monitor::MONITOR_NAME.into(),
                    version: crate::monitor::MONITOR_VERSION.into(),
                    error: "the monitor panicked".into(),
                    timed_out: false,
                    elapsed: Duration::ZERO,
                }),
            }
        }

        let started = Instant::now();
        let detectors = self.all_detectors();
        let tasks: Vec<_> = detectors
            .iter()
            .map(|registered| {
                let detector = registered.detector.clone();
                let input = input.clone();
                let handle = tokio::spawn(async move { detector.detect(&input).await });
                (registered, handle)
            })
            .collect();
        for (registered, mut handle) in tasks {
            let detector = &registered.detector;
            let deadline = tokio::time::Instant::from_std(started + registered.budget);
            let failure = |error: String, timed_out: bool| DetectorFailure {
                detector: detector.name().to_owned(),
                version: detector.version().to_owned(),
                error,
                timed_out,
                elapsed: started.elapsed(),
            };
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(Ok(detections))) => {
                    if detections.len() > MAX_FINDINGS_PER_DETECTOR {
                        tracing::warn!(
                            detector = detector.name(),
                            count = detections.len(),
                            "detector returned too many findings; keeping the first {MAX_FINDINGS_PER_DETECTOR}"
                        );
                    }
                    analysis.findings.extend(
                        detections
                            .into_iter()
                            .take(MAX_FINDINGS_PER_DETECTOR)
                            .filter_map(|d| finding(detector.as_ref(), &input.step.content, d)),
                    );
                }
                Ok(Ok(Err(error))) => analysis.failures.push(failure(error.message, false)),
                Ok(Err(join)) => analysis.failures.push(failure(
                    if join.is_panic() {
                        "the detector panicked".into()
                    } else {
                        "the detector was cancelled".into()
                    },
                    false,
                )),
                Err(_) => {
                    handle.abort();
                    analysis.failures.push(failure(
                        format!("exceeded its time budget of {:?}", registered.budget),
                        true,
                    ));
                }
            }
        }
        for failure in &analysis.failures {
            self.count_failure();
            tracing::warn!(
                detector = %failure.detector,
                version = %failure.version,
                timed_out = failure.timed_out,
                error = %failure.error,
                "detector failed on a step; the step is stored without its findings"
            );
            analysis.events.push(failure_event(failure));
        }
        analysis
    }
}

/// A detection as a storable finding: stamped with the detector, span repaired, values bounded.
fn finding(detector: &dyn BiasDetector, content: &str, detection: Detection) -> Option<NewFinding> {
    if detection.severity == Severity::None {
        return None;
    }
    let bias_type = identifier("bias_type", &detection.bias_type)
        .ok()
        .or_else(|| {
            let cleaned: String = detection
                .bias_type
                .trim()
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(64)
                .collect();
            identifier("bias_type", &cleaned).ok()
        })
        .unwrap_or_else(|| "unspecified".into());
    let explanation = truncate(detection.explanation.trim(), MAX_TEXT_BYTES);
    let explanation = if explanation.is_empty() {
        format!("{bias_type} reported by {}", detector.name())
    } else {
        explanation.to_owned()
    };
    Some(NewFinding {
        id: None,
        step_id: None,
        detector: detector.name().to_owned(),
        detector_version: truncate(detector.version(), MAX_LABEL_BYTES).to_owned(),
        bias_type,
        severity: detection.severity,
        confidence: if detection.confidence.is_finite() {
            detection.confidence.clamp(0.0, 1.0)
        } else {
            0.5
        },
        explanation,
        evidence: detection
            .evidence
            .and_then(|span| clamp_span(content, span)),
        suggestion: detection
            .suggestion
            .map(|s| truncate(s.trim(), MAX_TEXT_BYTES).to_owned())
            .filter(|s| !s.is_empty()),
        created_at: None,
    })
}

pub(crate) fn failure_event(failure: &DetectorFailure) -> NewMonitorEvent {
    let message = format!(
        "Detector {} {} {}: {}",
        failure.detector,
        failure.version,
        if failure.timed_out {
            "timed out"
        } else {
            "failed"
        },
        truncate(&failure.error, 1000)
    );
    NewMonitorEvent {
        id: None,
        step_id: None,
        kind: DETECTOR_FAILURE.into(),
        severity: Severity::Low,
        score: 1.0,
        message,
        data: Some(serde_json::json!({
            "source": FAILURE_SOURCE,
            "detector": failure.detector,
            "detector_version": failure.version,
            "error": truncate(&failure.error, 4000),
            "timed_out": failure.timed_out,
            "elapsed_ms": u64::try_from(failure.elapsed.as_millis()).unwrap_or(u64::MAX),
        })),
        created_at: None,
    }
}
