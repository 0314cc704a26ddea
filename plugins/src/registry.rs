//! The plugin registry's WASM side: install validates a component by loading it with the host
//! (core stores only what passed), enabled detectors are kept live in core's
//! [`DynamicDetectors`] so they run on every step write, and on-demand runs apply a detector to
//! stored history or a miner to session digests, each run recorded in `plugin_runs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use lux_core::detect::{
    BiasDetector, Detection, DetectorError, DetectorInput, DetectorRegistry, DynamicDetectors,
    PatternMiner, RegisteredDetector,
};
use lux_core::services::patterns::{DEFAULT_PATTERN_SESSIONS, FoundPattern};
use lux_core::services::plugins::MAX_PLUGIN_BYTES;
use lux_core::{
    Error, ImportedSession, InstalledPlugin, Lux, NewPlugin, NewPluginRun, PageRequest,
    PluginKind as StoredKind, PluginUpdate, PluginVersion, ProjectId, Result, RunOutcome,
    SessionFilter, SessionId, SessionRef,
};
use uuid::Uuid;

use crate::adapters::finding_source;
use crate::error::PluginError;
use crate::host::{Plugin, PluginHost, PluginKind};
use crate::{WasmDetector, WasmMiner};

/// The registry's time budget for a plugin detector on one step: a backstop well above the host's
/// own per-call limit, which is what normally stops a slow plugin.
pub const PLUGIN_DETECTOR_BUDGET: Duration = Duration::from_secs(2);

/// Most sessions one detector run over history walks.
pub const MAX_RUN_SESSIONS: u32 = 5000;

/// What an on-demand run looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum RunTarget {
    /// One session (detectors only: a miner needs a set of sessions chosen by a filter).
    Session(SessionRef),
    /// These sessions (detectors only), as after an import.
    Sessions(Vec<SessionId>),
    /// The newest `sessions` sessions matching the filter (default 500).
    All {
        filter: SessionFilter,
        sessions: Option<u32>,
    },
}

/// What an on-demand run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub plugin: String,
    pub version: String,
    pub kind: StoredKind,
    /// `ok`, or how the first failed call ended.
    pub outcome: RunOutcome,
    pub message: Option<String>,
    pub sessions: u32,
    pub steps: u32,
    /// Findings stored (detectors); earlier findings of the same version are replaced.
    pub findings: u32,
    /// Patterns stored (miners).
    pub patterns: u32,
    /// Calls that failed (one per step for a detector).
    pub failures: u32,
    pub duration_us: i64,
}

/// The label `plugin_runs.outcome` keeps for a plugin failure.
pub fn outcome_of(error: &PluginError) -> RunOutcome {
    match error {
        PluginError::Timeout { .. } => RunOutcome::Timeout,
        // A table is host memory the guest asked for: the same outcome as linear memory.
        PluginError::MemoryLimit { .. } | PluginError::TableLimit { .. } => RunOutcome::Memory,
        PluginError::Trap { .. } => RunOutcome::Trap,
        PluginError::OutputTooLarge { .. } => RunOutcome::OutputTooLarge,
        PluginError::InvalidOutput { .. } => RunOutcome::InvalidOutput,
        PluginError::Failed { .. } | PluginError::Host { .. } => RunOutcome::Failed,
    }
}

fn stored_kind(kind: PluginKind) -> StoredKind {
    match kind {
        PluginKind::BiasDetector => StoredKind::Detector,
        PluginKind::PatternMiner => StoredKind::Miner,
    }
}

fn micros(elapsed: Duration) -> i64 {
    i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
}

/// The registry. Cheap to clone; clones share the loaded plugins and the live detector set.
#[derive(Clone)]
pub struct PluginRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Storage only: a clone of the caller's `Lux` without detectors, so plugins that record their
    /// runs do not keep the registry that holds them alive (no `Arc` cycle).
    lux: Lux,
    host: PluginHost,
    live: DynamicDetectors,
    /// Loaded plugins by component SHA-256, so enabling or running one does not recompile it.
    loaded: Mutex<HashMap<String, Plugin>>,
    /// Serialises reloads, so the last one to finish reflects the latest state.
    reload: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("host", &self.inner.host)
            .finish_non_exhaustive()
    }
}

impl PluginRegistry {
    /// A registry whose enabled detectors run on every step `lux` (and its clones) writes.
    pub fn new(lux: &Lux, host: PluginHost) -> Self {
        let live = lux.detectors().dynamic().clone();
        PluginRegistry {
            inner: Arc::new(Inner {
                lux: lux.clone().with_detectors(DetectorRegistry::empty()),
                host,
                live,
                loaded: Mutex::new(HashMap::new()),
                reload: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn host(&self) -> &PluginHost {
        &self.inner.host
    }

    /// Validates a component (loads it, reads its metadata, checks world and contract version)
    /// and stores it. A bad or incompatible component is `Error::Invalid` with the loader's words.
    pub async fn install(&self, wasm: &[u8]) -> Result<InstalledPlugin> {
        if wasm.len() > MAX_PLUGIN_BYTES {
            return Err(Error::invalid(
                "plugin",
                format!(
                    "the plugin is {} bytes; the limit is {MAX_PLUGIN_BYTES} bytes",
                    wasm.len()
                ),
            ));
        }
        let plugin = self
            .inner
            .host
            .load(wasm)
            .await
            .map_err(|error| Error::invalid("plugin", error.to_string()))?;
        let metadata = plugin.metadata().clone();
        let installed = self
            .inner
            .lux
            .install_plugin(NewPlugin {
                name: metadata.name,
                version: metadata.version,
                kind: stored_kind(plugin.kind()),
                description: metadata.description,
                config_schema: metadata.config_schema,
                wasm: wasm.to_vec(),
            })
            .await?;
        self.remember(plugin);
        if installed.created && installed.plugin.enabled {
            self.reload().await?;
        }
        Ok(installed)
    }

    /// Enables/disables, switches the active version or configures; the live set follows.
    pub async fn update(&self, name: &str, update: &PluginUpdate) -> Result<Vec<PluginVersion>> {
        let versions = self.inner.lux.update_plugin(name, update).await?;
        self.reload().await?;
        Ok(versions)
    }

    /// Removes one version or all of a plugin; the live set follows.
    pub async fn remove(&self, name: &str, version: Option<&str>) -> Result<u64> {
        let removed = self.inner.lux.remove_plugin(name, version).await?;
        self.reload().await?;
        Ok(removed)
    }

    /// Rebuilds the live detector set from the stored state: the active version of every enabled
    /// detector, with its configuration. A stored plugin this host cannot load is logged and left
    /// out; it never stops the others. Returns how many detectors are live.
    pub async fn reload(&self) -> Result<usize> {
        let _serial = self.inner.reload.lock().await;
        let enabled = self.inner.lux.enabled_plugins().await?;
        let mut detectors = Vec::new();
        for (version, bytes) in enabled {
            if version.kind != StoredKind::Detector {
                continue;
            }
            let detector = match self.load(&version, Some(bytes)).await {
                Ok(plugin) => WasmDetector::new(plugin).map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match detector {
                Ok(detector) => detectors.push(RegisteredDetector {
                    detector: Arc::new(RecordingDetector {
                        inner: detector.with_config(&version.config),
                        plugin_id: version.id,
                        sink: Sink::Store(self.inner.lux.clone()),
                    }),
                    budget: PLUGIN_DETECTOR_BUDGET,
                }),
                Err(error) => tracing::warn!(
                    plugin = %version.name,
                    version = %version.version,
                    %error,
                    "cannot load an enabled plugin; it does not run"
                ),
            }
        }
        let count = detectors.len();
        self.inner.live.replace(detectors);
        Ok(count)
    }

    /// Runs every enabled detector plugin over the sessions an import gave new steps (imports
    /// store what the file carries and run no analysis on write), except on a session whose
    /// findings of that plugin version came with the file. One summary per plugin that ran.
    pub async fn analyse_imported(
        &self,
        project: ProjectId,
        sessions: &[ImportedSession],
    ) -> Result<Vec<RunSummary>> {
        let mut summaries = Vec::new();
        if sessions.is_empty() {
            return Ok(summaries);
        }
        for (version, _) in self.inner.lux.enabled_plugins().await? {
            if version.kind != StoredKind::Detector {
                continue;
            }
            let detector = (finding_source(&version.name), version.version.clone());
            let targets: Vec<SessionId> = sessions
                .iter()
                .filter(|session| session.detectors.binary_search(&detector).is_err())
                .map(|session| session.session_id)
                .collect();
            if !targets.is_empty() {
                let target = RunTarget::Sessions(targets);
                summaries.push(self.run(project, &version.name, target).await?);
            }
        }
        Ok(summaries)
    }

    /// Runs the active version of a plugin on demand, in `project`: a detector over the steps of
    /// stored sessions (replacing what the same version found before), a miner over the digests
    /// of the sessions the filter names (storing its patterns). A plugin that fails is not an
    /// error: the summary and `plugin_runs` say how it ended.
    pub async fn run(
        &self,
        project: ProjectId,
        name: &str,
        target: RunTarget,
    ) -> Result<RunSummary> {
        let version = self.inner.lux.active_plugin(name).await?;
        let plugin = self.load(&version, None).await?;
        let mut summary = RunSummary {
            plugin: version.name.clone(),
            version: version.version.clone(),
            kind: version.kind,
            outcome: RunOutcome::Ok,
            message: None,
            sessions: 0,
            steps: 0,
            findings: 0,
            patterns: 0,
            failures: 0,
            duration_us: 0,
        };
        let started = Instant::now();
        match version.kind {
            StoredKind::Detector => {
                let detector = WasmDetector::new(plugin)
                    .map_err(|error| Error::invalid("plugin", error.to_string()))?
                    .with_config(&version.config);
                self.run_detector(project, &version, detector, target, &mut summary)
                    .await?;
            }
            StoredKind::Miner => {
                let miner = WasmMiner::new(plugin)
                    .map_err(|error| Error::invalid("plugin", error.to_string()))?
                    .with_config(&version.config);
                self.run_miner(project, &version, miner, target, &mut summary)
                    .await?;
            }
        }
        summary.duration_us = micros(started.elapsed());
        Ok(summary)
    }

    async fn run_detector(
        &self,
        project: ProjectId,
        version: &PluginVersion,
        detector: WasmDetector,
        target: RunTarget,
        summary: &mut RunSummary,
    ) -> Result<()> {
        let lux = &self.inner.lux;
        let sessions: Vec<SessionRef> = match target {
            RunTarget::Session(reference) => vec![reference],
            RunTarget::Sessions(ids) => ids.into_iter().map(SessionRef::Id).collect(),
            RunTarget::All { filter, sessions } => self
                .session_ids(
                    project,
                    &filter,
                    sessions.unwrap_or(DEFAULT_PATTERN_SESSIONS),
                )
                .await?
                .into_iter()
                .map(SessionRef::Id)
                .collect(),
        };
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut registry = DetectorRegistry::empty();
        registry.register(
            Arc::new(RecordingDetector {
                inner: detector,
                plugin_id: version.id,
                sink: Sink::Collect(errors.clone()),
            }),
            PLUGIN_DETECTOR_BUDGET,
        )?;
        // Core's history re-run with this plugin alone: same context windows and synthesis as on
        // write, and it replaces the findings this version stored before, so a rerun is idempotent.
        let scoped = lux.clone().with_detectors(registry);
        for reference in sessions {
            let at = Utc::now();
            let started = Instant::now();
            let report = scoped.analyze_session(project, &reference).await?;
            let failed: Vec<PluginError> = std::mem::take(&mut *lock(&errors));
            let first = failed.first();
            let outcome = first.map_or(RunOutcome::Ok, outcome_of);
            let message = first.map(|error| {
                format!(
                    "{error} ({} of {} steps failed)",
                    failed.len(),
                    report.steps
                )
            });
            lux.record_plugin_run(NewPluginRun {
                plugin_id: version.id,
                session_id: Some(report.session_id),
                step_id: None,
                started_at: at,
                duration_us: micros(started.elapsed()),
                outcome,
                message: message.clone(),
                produced: count(report.findings),
            })
            .await?;
            summary.sessions += 1;
            summary.steps += count(report.steps);
            summary.findings += count(report.findings);
            summary.failures += count(failed.len());
            if summary.outcome == RunOutcome::Ok && outcome != RunOutcome::Ok {
                summary.outcome = outcome;
                summary.message = message;
            }
        }
        Ok(())
    }

    async fn run_miner(
        &self,
        project: ProjectId,
        version: &PluginVersion,
        miner: WasmMiner,
        target: RunTarget,
        summary: &mut RunSummary,
    ) -> Result<()> {
        let lux = &self.inner.lux;
        let RunTarget::All { filter, sessions } = target else {
            return Err(Error::invalid(
                "session_id",
                format!(
                    "{} is a miner: it runs over a set of sessions chosen by filters, not named ones",
                    version.name
                ),
            ));
        };
        let digests = lux
            .session_digests(
                project,
                &filter,
                sessions.unwrap_or(DEFAULT_PATTERN_SESSIONS),
            )
            .await?;
        let at = Utc::now();
        let started = Instant::now();
        let result = miner.run(&digests).await;
        let duration_us = micros(started.elapsed());
        summary.sessions = count(digests.len());
        let (outcome, message, produced) = match result {
            Ok(patterns) => {
                let found: Vec<FoundPattern> = patterns
                    .into_iter()
                    .map(|pattern| FoundPattern {
                        miner: miner.name().to_owned(),
                        miner_version: version.version.clone(),
                        pattern,
                    })
                    .collect();
                let stored = lux.store_patterns(project, &found).await?;
                (RunOutcome::Ok, None, count(stored.len()))
            }
            Err(error) => {
                summary.failures = 1;
                (outcome_of(&error), Some(error.to_string()), 0)
            }
        };
        lux.record_plugin_run(NewPluginRun {
            plugin_id: version.id,
            session_id: None,
            step_id: None,
            started_at: at,
            duration_us,
            outcome,
            message: message.clone(),
            produced,
        })
        .await?;
        summary.outcome = outcome;
        summary.message = message;
        summary.patterns = produced;
        Ok(())
    }

    /// Ids of the newest sessions matching the filter.
    async fn session_ids(
        &self,
        project: ProjectId,
        filter: &SessionFilter,
        max: u32,
    ) -> Result<Vec<SessionId>> {
        if !(1..=MAX_RUN_SESSIONS).contains(&max) {
            return Err(Error::invalid(
                "sessions",
                format!("must be between 1 and {MAX_RUN_SESSIONS}, got {max}"),
            ));
        }
        let mut ids = Vec::new();
        let mut page = PageRequest::first(max.min(lux_core::MAX_PAGE_LIMIT));
        while ids.len() < max as usize {
            let found = self.inner.lux.list_sessions(project, filter, &page).await?;
            ids.extend(found.items.into_iter().map(|session| session.id));
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        ids.truncate(max as usize);
        Ok(ids)
    }

    fn remember(&self, plugin: Plugin) {
        lock(&self.inner.loaded).insert(plugin.sha256().to_owned(), plugin);
    }

    /// The loaded plugin of a stored version, from memory or by loading its stored bytes.
    async fn load(&self, version: &PluginVersion, bytes: Option<Vec<u8>>) -> Result<Plugin> {
        if let Some(plugin) = lock(&self.inner.loaded).get(&version.sha256) {
            return Ok(plugin.clone());
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => self.inner.lux.plugin_wasm(version.id).await?,
        };
        let plugin = self.inner.host.load(&bytes).await.map_err(|error| {
            Error::invalid(
                "plugin",
                format!(
                    "stored plugin {} {} no longer loads: {error}",
                    version.name, version.version
                ),
            )
        })?;
        self.remember(plugin.clone());
        Ok(plugin)
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a [`RecordingDetector`] puts the failures it sees.
#[derive(Debug, Clone)]
enum Sink {
    /// On step writes: a `plugin_runs` row per failed call, written off the write path.
    Store(Lux),
    /// On an explicit run: kept for the run's summary row.
    Collect(Arc<Mutex<Vec<PluginError>>>),
}

/// A plugin detector that keeps the failure kind the [`BiasDetector`] trait flattens to text.
#[derive(Debug)]
struct RecordingDetector {
    inner: WasmDetector,
    plugin_id: Uuid,
    sink: Sink,
}

#[async_trait]
impl BiasDetector for RecordingDetector {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    fn bias_types(&self) -> Vec<String> {
        self.inner.bias_types()
    }

    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        let at = Utc::now();
        let started = Instant::now();
        let error = match self.inner.run(input).await {
            Ok(found) => return Ok(found),
            Err(error) => error,
        };
        let message = error.to_string();
        match &self.sink {
            Sink::Store(lux) => {
                // Only failures are recorded on writes (successes show as findings): a row per
                // plugin per step would double the write load for nothing a user reads.
                let run = NewPluginRun {
                    plugin_id: self.plugin_id,
                    session_id: None,
                    step_id: None,
                    started_at: at,
                    duration_us: micros(started.elapsed()),
                    outcome: outcome_of(&error),
                    message: Some(message.clone()),
                    produced: 0,
                };
                let lux = lux.clone();
                tokio::spawn(async move {
                    if let Err(error) = lux.record_plugin_run(run).await {
                        tracing::warn!(%error, "cannot record a plugin run");
                    }
                });
            }
            Sink::Collect(errors) => lock(errors).push(error),
        }
        Err(DetectorError::new(message))
    }
}
