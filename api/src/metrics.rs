//! Prometheus metrics at `/metrics`: requests by operation and status, latency histograms,
//! requests in flight, ingest outcomes, and the database pool — in the text format.

use std::sync::LazyLock;

use lux_core::{Backend, Lux};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) latency: HistogramVec,
    pub(crate) in_flight: IntGauge,
    pub(crate) shed: IntCounterVec,
    pub(crate) ingest_items: IntCounterVec,
    pool: IntGaugeVec,
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
    })
}

/// One registry per process; the metric definitions above are fixed, so building cannot fail
/// at run time unless they are edited into conflict, which the tests would catch at once.
pub(crate) static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| build().expect("metric definitions are valid"));

/// The text exposition, with the pool gauges read now.
pub(crate) fn render(lux: &Lux) -> String {
    let metrics = &*METRICS;
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
