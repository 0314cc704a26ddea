//! Prometheus metrics at `/metrics`: requests by operation and status, latency histograms,
//! requests in flight, ingest outcomes, the database pool and the analysis queue — in the text
//! format.

use std::sync::LazyLock;

use lux_core::services::analysis_queue::QueueStatus;
use lux_core::{Backend, Lux};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) latency: HistogramVec,
    pub(crate) in_flight: IntGauge,
    pub(crate) shed: IntCounterVec,
    pub(crate) ingest_items: IntCounterVec,
    pool: IntGaugeVec,
    queue_depth: IntGauge,
    queue_lag: Gauge,
    queue_workers: IntGauge,
    queue_jobs: IntCounterVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("lux".to_owned()), None)?;
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "HTTP requests by operation, method and status",
        ),
        &["operation", "method", "status"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "HTTP request latency by operation",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["operation"],
    )?;
    let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")?;
    let shed = IntCounterVec::new(
        Opts::new(
            "http_requests_shed_total",
            "Requests refused with 503 because too many were in flight",
        ),
        &["operation"],
    )?;
    let ingest_items = IntCounterVec::new(
        Opts::new("ingest_items_total", "Batch ingest items by outcome"),
        &["outcome"],
    )?;
    let pool = IntGaugeVec::new(
        Opts::new("db_pool_connections", "Database pool connections by state"),
        &["state"],
    )?;
    let queue_depth = IntGauge::new(
        "analysis_queue_depth",
        "Steps stored and waiting for analysis (in any process)",
    )?;
    let queue_lag = Gauge::new(
        "analysis_queue_lag_seconds",
        "How long the oldest step waiting for analysis has waited",
    )?;
    let queue_workers = IntGauge::new(
        "analysis_workers",
        "Workers analysing queued steps in this process",
    )?;
    let queue_jobs = IntCounterVec::new(
        Opts::new(
            "analysis_jobs_total",
            "Analysis jobs this process completed, retried after a failure, or gave up",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(queue_depth.clone()))?;
    registry.register(Box::new(queue_lag.clone()))?;
    registry.register(Box::new(queue_workers.clone()))?;
    registry.register(Box::new(queue_jobs.clone()))?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(in_flight.clone()))?;
    registry.register(Box::new(shed.clone()))?;
    registry.register(Box::new(ingest_items.clone()))?;
    registry.register(Box::new(pool.clone()))?;
    Ok(Metrics {
        registry,
        requests,
        latency,
        in_flight,
        shed,
        ingest_items,
        pool,
        queue_depth,
        queue_lag,
        queue_workers,
        queue_jobs,
    })
}

/// One registry per process; the metric definitions above are fixed, so building cannot fail
/// at run time unless they are edited into conflict, which the tests would catch at once.
pub(crate) static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| build().expect("metric definitions are valid"));

/// The text exposition, with the pool gauges and the analysis queue (when it could be read) as
/// they are now.
pub(crate) fn render(lux: &Lux, queue: Option<&QueueStatus>) -> String {
    let metrics = &*METRICS;
    if let Some(queue) = queue {
        metrics
            .queue_depth
            .set(i64::try_from(queue.depth).unwrap_or(i64::MAX));
        metrics.queue_lag.set(queue.lag_seconds);
        metrics
            .queue_workers
            .set(i64::try_from(queue.workers).unwrap_or(i64::MAX));
        for (outcome, total) in [
            ("completed", queue.completed),
            ("retried", queue.retried),
            ("abandoned", queue.abandoned),
        ] {
            let counter = metrics.queue_jobs.with_label_values(&[outcome]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }
    let (size, idle) = match lux.backend() {
        Backend::Sqlite => {
            let pool = lux.db().get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        Backend::Postgres => {
            let pool = lux.db().get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
    };
    metrics
        .pool
        .with_label_values(&["open"])
        .set(i64::from(size));
    metrics
        .pool
        .with_label_values(&["idle"])
        .set(i64::from(idle));
    metrics
        .pool
        .with_label_values(&["in_use"])
        .set(i64::from(size.saturating_sub(idle)));
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&metrics.registry.gather(), &mut buffer) {
        tracing::warn!(%error, "could not encode metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}
