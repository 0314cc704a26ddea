//! The analysis queue: a step is stored with its analysis job in one transaction; workers (or,
//! in a process without any, the writing call) run the job; a full queue refuses new steps;
//! a worker whose lease lapsed cannot store a second copy; `lux analyze` takes queued jobs over.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lux_core::detect::{BiasDetector, Detection, DetectorError, DetectorInput, DetectorRegistry};
use lux_core::services::analysis_queue::QueueOptions;
use lux_core::services::ingest::IngestRecord;
use lux_core::{Error, Lux, ProjectId, SessionRef, Severity, storage_tests};

use crate::support::{session, thought};

storage_tests!(
    queued_steps_are_analysed_by_the_workers_as_a_write_would,
    a_full_queue_refuses_steps_until_the_workers_catch_up,
    a_worker_whose_lease_lapsed_stores_nothing_twice,
    analyze_takes_over_the_queued_jobs_of_its_session,
    waiting_on_a_step_runs_its_job_at_once,
    a_job_that_keeps_failing_is_retried_then_given_up_as_a_failure_event,
);

const LOOPING: [&str; 5] = [
    "Why did the nightly export job start failing after Tuesday's release?",
    "The export job fails because the database connection pool is exhausted during the nightly batch window.",
    "The release also changed the retry policy for the export worker, which now retries immediately.",
    "The export job fails because the database connection pool gets exhausted during the nightly batch window.",
    "So the database connection pool is exhausted by the export job in the nightly batch window.",
];
const HASTY: &str = "It is definitely the cache, no need to check the other services. We rewrite the cache layer tonight.";

/// What a session's analysis found, as comparable text: (step number, kind) per finding and event.
async fn analysis_of(lux: &Lux, project: ProjectId, reference: &SessionRef) -> BTreeSet<String> {
    let steps = lux.all_steps(project, reference).await.unwrap();
    let number = |id: Option<lux_core::StepId>| {
        steps
            .iter()
            .find(|s| Some(s.id) == id)
            .map_or(0, |s| s.step_number)
    };
    let mut found: BTreeSet<String> = lux
        .list_findings(project, reference)
        .await
        .unwrap()
        .into_iter()
        .map(|f| format!("{} finding {}", number(f.step_id), f.bias_type))
        .collect();
    found.extend(
        lux.list_monitor_events(project, reference)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} event {}", number(e.step_id), e.kind)),
    );
    found
}

async fn write_all(lux: &Lux, reference: &SessionRef) {
    let project = lux.default_project();
    for content in LOOPING.iter().chain([&HASTY]) {
        lux.append_step(project, reference, thought(content))
            .await
            .unwrap();
    }
}

async fn queued_steps_are_analysed_by_the_workers_as_a_write_would(lux: &Lux) {
    let project = lux.default_project();
    // Without workers the writing call runs its own job: the reference analysis.
    let (_, _, inline) = session(lux, "sequential_thinking").await;
    write_all(lux, &inline).await;
    let expected = analysis_of(lux, project, &inline).await;
    assert!(
        expected.iter().any(|f| f.contains("circular_reasoning"))
            && expected.iter().any(|f| f.contains("hasty_conclusion")),
        "{expected:?}"
    );
    assert_eq!(lux.analysis_queue_status().await.unwrap().depth, 0);

    // With workers started elsewhere (none here), a write only queues its analysis.
    let deferred = lux.clone().with_queue_options(QueueOptions::default());
    let workers = deferred.start_analysis_workers(0);
    let (_, _, queued) = session(&deferred, "sequential_thinking").await;
    write_all(&deferred, &queued).await;
    assert!(analysis_of(lux, project, &queued).await.is_empty());
    let status = deferred.analysis_queue_status().await.unwrap();
    assert_eq!(status.depth, 6, "{status:?}");
    workers.stop().await;

    // Workers drain it; the result is what the prompt analysis stored, step for step.
    let workers = deferred.start_analysis_workers(2);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deferred.analysis_queue_status().await.unwrap().depth > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop().await;
    assert_eq!(analysis_of(lux, project, &queued).await, expected);
    let status = deferred.analysis_queue_status().await.unwrap();
    assert_eq!(
        (status.completed, status.retried, status.abandoned),
        (6, 0, 0)
    );
    assert_eq!(status.workers, 0);
}

async fn a_full_queue_refuses_steps_until_the_workers_catch_up(lux: &Lux) {
    let project = lux.default_project();
    let lux = lux.clone().with_queue_options(QueueOptions {
        max_depth: 3,
        ..QueueOptions::default()
    });
    let _paused = lux.start_analysis_workers(0);
    let (_, _, reference) = session(&lux, "agent_run").await;
    for content in &LOOPING[..3] {
        lux.append_step(project, &reference, thought(content))
            .await
            .unwrap();
    }
    let refused = lux
        .append_step(project, &reference, thought(LOOPING[3]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            Error::Busy {
                retry_after_secs: 5,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(refused.code(), "busy");
    assert!(
        refused.to_string().contains("3 steps are waiting"),
        "{refused}"
    );
    let batch = [IngestRecord::Step {
        session: reference.clone(),
        step: thought(LOOPING[3]),
    }];
    assert!(matches!(
        lux.ingest(project, &batch).await,
        Err(Error::Busy { .. })
    ));
    // Nothing refused was stored.
    assert_eq!(lux.all_steps(project, &reference).await.unwrap().len(), 3);

    assert_eq!(lux.drain_analysis().await.unwrap(), 3);
    lux.ingest(project, &batch).await.unwrap();
    assert_eq!(lux.all_steps(project, &reference).await.unwrap().len(), 4);
}

/// Finds one anchoring bias per step, slowly, and counts its runs.
#[derive(Debug)]
struct Slow {
    delay: Duration,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl BiasDetector for Slow {
    fn name(&self) -> &str {
        "test.slow"
    }

    fn version(&self) -> &str {
        "0.1.0"
    }

    fn bias_types(&self) -> Vec<String> {
        vec!["anchoring".into()]
    }

    async fn detect(&self, _: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(vec![Detection {
            bias_type: "anchoring".into(),
            severity: Severity::Medium,
            confidence: 0.9,
            explanation: "the first figure stayed".into(),
            evidence: None,
            suggestion: None,
        }])
    }
}

async fn a_worker_whose_lease_lapsed_stores_nothing_twice(lux: &Lux) {
    let project = lux.default_project();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = DetectorRegistry::empty();
    registry
        .register(
            Arc::new(Slow {
                delay: Duration::from_millis(600),
                runs: runs.clone(),
            }),
            Duration::from_secs(5),
        )
        .unwrap();
    // A lease shorter than the analysis: a second worker takes the job while the first runs.
    let lux = lux
        .clone()
        .with_detectors(registry)
        .with_queue_options(QueueOptions {
            lease: Duration::from_millis(200),
            ..QueueOptions::default()
        });
    let _paused = lux.start_analysis_workers(0);
    let (_, _, reference) = session(&lux, "agent_run").await;
    lux.append_step(project, &reference, thought(LOOPING[0]))
        .await
        .unwrap();
    let first = tokio::spawn({
        let lux = lux.clone();
        async move { lux.run_due_analysis().await }
    });
    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = lux.run_due_analysis().await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "both workers analysed");
    assert_eq!(
        (first, second),
        (0, 1),
        "only the holder of the live claim completes"
    );
    let findings = lux.list_findings(project, &reference).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(lux.analysis_queue_status().await.unwrap().depth, 0);
}

async fn analyze_takes_over_the_queued_jobs_of_its_session(lux: &Lux) {
    let project = lux.default_project();
    let deferred = lux.clone().with_queue_options(QueueOptions::default());
    let _paused = deferred.start_analysis_workers(0);
    let (_, _, reference) = session(&deferred, "sequential_thinking").await;
    write_all(&deferred, &reference).await;
    assert_eq!(deferred.analysis_queue_status().await.unwrap().depth, 6);

    deferred.analyze_session(project, &reference).await.unwrap();
    let analysed = analysis_of(lux, project, &reference).await;
    assert!(!analysed.is_empty());
    // The queue holds nothing more for the session: draining it adds no second copy.
    assert_eq!(deferred.analysis_queue_status().await.unwrap().depth, 0);
    assert_eq!(deferred.drain_analysis().await.unwrap(), 0);
    assert_eq!(analysis_of(lux, project, &reference).await, analysed);
}

async fn waiting_on_a_step_runs_its_job_at_once(lux: &Lux) {
    let project = lux.default_project();
    let deferred = lux.clone().with_queue_options(QueueOptions::default());
    let _paused = deferred.start_analysis_workers(0);
    let (_, _, reference) = session(&deferred, "sequential_thinking").await;
    deferred
        .append_step(project, &reference, thought(LOOPING[0]))
        .await
        .unwrap();
    let step = deferred
        .append_step(project, &reference, thought(HASTY))
        .await
        .unwrap()
        .value;
    assert!(
        deferred
            .step_findings(step.session_id, step.id)
            .await
            .unwrap()
            .is_empty()
    );
    // No worker runs here: the waiting caller analyses its own step.
    assert!(
        deferred
            .await_analysis(&[step.id], Duration::from_secs(30))
            .await
            .unwrap()
    );
    let findings = deferred
        .step_findings(step.session_id, step.id)
        .await
        .unwrap();
    assert!(
        findings.iter().any(|f| f.bias_type == "hasty_conclusion"),
        "{findings:?}"
    );
    // A step with nothing queued is done at once.
    assert!(
        deferred
            .await_analysis(&[step.id], Duration::ZERO)
            .await
            .unwrap()
    );
}

async fn a_job_that_keeps_failing_is_retried_then_given_up_as_a_failure_event(lux: &Lux) {
    use sea_orm::ConnectionTrait;
    let project = lux.default_project();
    let lux = lux.clone().with_queue_options(QueueOptions {
        max_attempts: 2,
        ..QueueOptions::default()
    });
    let _paused = lux.start_analysis_workers(0);
    let (_, _, reference) = session(&lux, "sequential_thinking").await;
    lux.append_step(project, &reference, thought(LOOPING[0]))
        .await
        .unwrap();
    let step = lux
        .append_step(project, &reference, thought(HASTY))
        .await
        .unwrap()
        .value;
    // Findings cannot be stored while their table is away: every attempt fails.
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    lux.db()
        .execute_unprepared(&rename("bias_findings", "bias_findings_away"))
        .await
        .unwrap();
    assert!(lux.run_due_analysis().await.is_err());
    let status = lux.analysis_queue_status().await.unwrap();
    assert_eq!((status.depth, status.retried), (2, 2), "{status:?}");
    // In backoff: not due again yet.
    assert_eq!(lux.run_due_analysis().await.unwrap(), 0);
    // Waiting on a step takes its job whether due or not; its second failure is its last, and a
    // job given up is settled: nothing more will come.
    assert!(
        lux.await_analysis(&[step.id], Duration::from_secs(30))
            .await
            .unwrap()
    );
    lux.db()
        .execute_unprepared(&rename("bias_findings_away", "bias_findings"))
        .await
        .unwrap();
    let status = lux.analysis_queue_status().await.unwrap();
    assert_eq!((status.depth, status.abandoned), (1, 1), "{status:?}");
    let failures: Vec<_> = lux
        .step_monitor_events(step.session_id, step.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == lux_core::detect::DETECTOR_FAILURE)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].data["detector"], "lux.analysis_queue");
    assert!(
        failures[0].data["error"]
            .as_str()
            .unwrap()
            .contains("given up after 2 attempts"),
        "{failures:?}"
    );
}
