//! One module per `lux` subcommand: argument parsing and terminal output only; the work is in `lux-core`.

pub(crate) mod analytics;
pub(crate) mod analyze;
pub(crate) mod apikey;
pub(crate) mod bench;
pub(crate) mod bench_analytics;
pub(crate) mod bench_http;
pub(crate) mod bench_mcp;
mod bench_patterns;
pub(crate) mod bench_plugins;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod mcp;
pub(crate) mod migrate;
pub(crate) mod plugin;
pub(crate) mod serve;
pub(crate) mod sessions;
pub(crate) mod train;

/// How long a stopping server lets its analysis workers finish the jobs they hold; what is left
/// stays queued for the next start.
const ANALYSIS_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops the analysis workers of a long-running command as it exits.
pub(crate) async fn stop_analysis(workers: lux_core::services::analysis_queue::AnalysisWorkers) {
    if tokio::time::timeout(ANALYSIS_STOP_GRACE, workers.stop())
        .await
        .is_err()
    {
        tracing::warn!("analysis workers still busy at exit; their jobs stay queued");
    }
}
