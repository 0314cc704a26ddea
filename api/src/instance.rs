//! One builder for a running Lux, used by every command that writes or analyses: the database
//! (migrated), the detectors (with the LLM verifier when an LLM is configured), the plugin host
//! with the enabled plugins live, and the upkeep a long-running server needs. Every door (REST,
//! batch ingest, MCP over stdio or HTTP, import, analyze, demo) then analyses steps alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lux_core::detect::DetectorRegistry;
use lux_core::llm::LlmClient;
use lux_core::services::analysis_queue::{AnalysisWorkers, QueueOptions};
use lux_core::{DatabaseOptions, ImportReport, Lux, ProjectId};
use lux_plugins::registry::{PluginRegistry, RunSummary};
use lux_plugins::{HostConfig, PluginHost};

/// What a running Lux is built with, beyond its database.
#[derive(Clone, Default)]
pub struct InstanceOptions {
    /// Where compiled plugins are kept across runs; `None` compiles every plugin it loads.
    pub plugin_cache: Option<PathBuf>,
    /// The LLM that verifies the learned detector's uncertain findings; `None`: no verifier.
    pub verifier: Option<Arc<dyn LlmClient>>,
    /// How the analysis queue is drained and bounded.
    pub queue: QueueOptions,
}

impl std::fmt::Debug for InstanceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceOptions")
            .field("plugin_cache", &self.plugin_cache)
            .field("verifier", &self.verifier.is_some())
            .field("queue", &self.queue)
            .finish()
    }
}

/// A running Lux: the database handle whose writes run the built-in analysis and every enabled
/// plugin detector, and the plugin registry that keeps that set live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Instance {
    lux: Lux,
    plugins: Option<PluginRegistry>,
}

impl Instance {
    /// Opens the database (migrating it unless told not to) and starts everything on it.
    pub async fn open(database: DatabaseOptions, options: InstanceOptions) -> anyhow::Result<Self> {
        let mut lux = Lux::open(database).await?.with_queue_options(options.queue);
        if let Some(client) = &options.verifier {
            lux = lux.with_detectors(DetectorRegistry::builtin().with_llm_verifier(client.clone()));
        }
        Instance::start(lux, options.plugin_cache).await
    }

    /// Starts the plugin host on an open `Lux` (keeping its detectors) and makes the enabled
    /// plugin detectors live before returning, so the first write after start-up runs them. A
    /// host that cannot start leaves plugins unavailable (logged), never the rest of Lux.
    pub async fn start(lux: Lux, plugin_cache: Option<PathBuf>) -> anyhow::Result<Self> {
        let host = PluginHost::new(HostConfig {
            cache_dir: plugin_cache,
            ..HostConfig::default()
        });
        let plugins = match host {
            Ok(host) => Some(PluginRegistry::new(&lux, host)),
            Err(error) => {
                tracing::error!(%error, "cannot start the plugin host; plugins are unavailable");
                None
            }
        };
        if let Some(registry) = &plugins {
            let live = registry.reload().await?;
            if live > 0 {
                tracing::info!(live, "plugin detectors loaded");
            }
        }
        Ok(Instance { lux, plugins })
    }

    /// No database and no plugins: enough to describe the API (printing the OpenAPI document).
    pub fn detached() -> Self {
        Instance {
            lux: Lux::detached(),
            plugins: None,
        }
    }

    pub fn lux(&self) -> &Lux {
        &self.lux
    }

    /// The plugin registry; `None` when the plugin host could not start.
    pub fn plugins(&self) -> Option<&PluginRegistry> {
        self.plugins.as_ref()
    }

    /// Imports store what the file carries and analyse nothing on write; the enabled plugin
    /// detectors then judge the steps the import brought (see
    /// [`PluginRegistry::analyse_imported`]). One summary per plugin that ran.
    pub async fn analyse_imported(
        &self,
        project: ProjectId,
        report: &ImportReport,
    ) -> lux_core::Result<Vec<RunSummary>> {
        match &self.plugins {
            Some(plugins) => {
                plugins
                    .analyse_imported(project, &report.sessions_with_new_steps)
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Starts `workers` analysing the queued steps (those a crash left first) until the handle
    /// is stopped; with 0, writes only queue their analysis, for another process to run.
    pub async fn start_analysis(&self, workers: usize) -> AnalysisWorkers {
        // Counted first, so a full queue left by a crash refuses writes from the start.
        match self.lux.analysis_queue_status().await {
            Ok(queue) if queue.depth > 0 => {
                tracing::info!(waiting = queue.depth, "steps left waiting for analysis");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot count the analysis queue"),
        }
        tracing::info!(workers, "analysis workers started");
        self.lux.start_analysis_workers(workers)
    }

    /// The upkeep of a long-running server: SQLite's planner statistics follow the data, and
    /// PostgreSQL's day rollups stay close behind the writes.
    pub(crate) fn spawn_upkeep(&self) {
        tokio::spawn(refresh_planner_statistics_hourly(self.lux.clone()));
        if self.lux.backend() == lux_core::Backend::Postgres {
            tokio::spawn(refresh_day_rollups_continually(self.lux.clone()));
        }
    }
}

/// SQLite's planner statistics follow the data as a long-running server's tables grow (see
/// `Lux::refresh_planner_statistics`; opening the database just took them).
async fn refresh_planner_statistics_hourly(lux: Lux) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    hourly.tick().await;
    loop {
        hourly.tick().await;
        if let Err(error) = lux.refresh_planner_statistics().await {
            tracing::warn!(%error, "could not refresh SQLite's planner statistics");
        }
    }
}

/// How long PostgreSQL's day rollups may lag the writes. Reports are exact either way: the days
/// not refreshed yet are read from the per-session rollups, so the lag only costs read time.
const DAY_ROLLUP_REFRESH: Duration = Duration::from_secs(5);

/// Keeps PostgreSQL's cross-session day rollups close behind the writes (see
/// `Lux::refresh_day_rollups`).
async fn refresh_day_rollups_continually(lux: Lux) {
    let mut ticks = tokio::time::interval(DAY_ROLLUP_REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match lux.refresh_day_rollups().await {
            Ok(0) => {}
            Ok(days) => tracing::debug!(days, "refreshed the day rollups"),
            Err(error) => tracing::warn!(%error, "could not refresh the day rollups"),
        }
    }
}
