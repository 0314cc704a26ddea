//! What analysing one step costs: the monitor and every enabled detector on a new 2 KiB step after
//! a few earlier ones (embedding included when the model is in use), on one thread, as
//! `lux bench detect` reports it (p50 and p99).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DetectorInput, DetectorRegistry, PriorStep, StepUnderReview, text};

/// Cost figures of one timing run.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisCost {
    pub steps: usize,
    pub step_bytes: usize,
    pub prior_steps: usize,
    pub p50: Duration,
    pub p99: Duration,
    /// What ran, for the report ("monitor and 7 detectors").
    pub detectors: String,
}

const PARAGRAPH: &str = "The p99 latency of the checkout service rose from 180 ms to 420 ms after \
    Tuesday's deploy, while the p50 stayed near 95 ms. The deploy changed the connection pool from \
    40 to 20 connections and added a retry on timeouts. If the pool were the bottleneck we would \
    expect waits in the pool metrics during the peaks, and the dashboard shows 35 ms of mean \
    acquire time at 14:00 against 2 ms before. However the retries could also double the load on \
    the payment gateway, which would explain slower responses only for the calls that time out. ";

const PRIOR: [&str; 4] = [
    "Why did checkout latency get worse after the last deploy, and what should we roll back?",
    "Latency percentiles from the dashboard: p50 95 ms unchanged, p99 from 180 ms to 420 ms since Tuesday 11:00.",
    "The deploy diff touches three things: the pool size, a retry on gateway timeouts, and a new logging format.",
    "Pool acquire time rose from 2 ms to 35 ms at the daily peak, which fits a smaller pool under the same load.",
];

/// Times `steps` analyses of a 2 KiB step with `registry` on a single-threaded runtime.
pub async fn analysis_cost(registry: &DetectorRegistry, steps: usize) -> AnalysisCost {
    let content: String = PARAGRAPH.repeat(2048 / PARAGRAPH.len() + 1);
    let content = text::truncate(&content, 2048).to_owned();
    let previous: Vec<Arc<PriorStep>> = PRIOR
        .iter()
        .enumerate()
        .map(|(index, text)| {
            Arc::new(PriorStep {
                step_number: index as i32 + 1,
                kind: "thought".into(),
                content: (*text).to_owned(),
            })
        })
        .collect();
    let input = Arc::new(DetectorInput {
        step: StepUnderReview {
            step_number: Some(previous.len() as i32 + 1),
            kind: "thought".into(),
            content: content.clone(),
        },
        previous: previous.clone(),
        synthesis: None,
    });
    let monitor = registry.monitor_for(&previous);
    let mut timings = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("a current-thread runtime builds");
                runtime.block_on(async {
                    let mut timings = Vec::with_capacity(steps);
                    for i in 0..steps.max(1) {
                        // A new text each time, as every written step is: nothing comes from the
                        // cache of reduced texts but the earlier steps, which a write also finds.
                        let mut varied = (*input).clone();
                        let tag = format!(" [{i}]");
                        varied.step.content =
                            format!("{}{tag}", text::truncate(&content, 2048 - tag.len()));
                        let varied = Arc::new(varied);
                        let mut state = monitor.clone();
                        let started = Instant::now();
                        let analysis = registry.analyze(state.as_mut(), varied).await;
                        timings.push(started.elapsed());
                        std::hint::black_box(analysis);
                    }
                    timings
                })
            })
            .join()
            .unwrap_or_default()
    });
    timings.sort();
    let at = |q: f64| {
        timings
            .get(((timings.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    AnalysisCost {
        steps: timings.len(),
        step_bytes: content.len(),
        prior_steps: previous.len(),
        p50: at(0.5),
        p99: at(0.99),
        detectors: format!(
            "{} and {} detectors",
            if registry.monitor.is_some() {
                "monitor"
            } else {
                "no monitor"
            },
            registry.all_detectors().len()
        ),
    }
}
