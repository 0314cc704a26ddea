//! `lux bench http`: the REST layer's cost and capacity, measured in one run on real loopback
//! HTTP — batch ingest over `POST /api/v1/ingest` against `Lux::ingest` called directly and
//! against a bare `insert_many` of the same number of steps, with analysis queued, and
//! `GET /api/v1/sessions/{id}` under concurrent load (requests/s and latency percentiles).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use lux_core::services::ingest::IngestRecord;
use lux_core::store::{create_postgres_database, drop_postgres_database};
use lux_core::{DatabaseOptions, NewSession, NewStep, SessionId, SessionRef, StepId};
use serde_json::json;
use uuid::Uuid;

use crate::instance::{Instance, InstanceOptions};
use crate::rest::AuthPolicy;
use crate::server::{AppState, bind, serve};

#[derive(Debug, Args)]
pub(crate) struct HttpArgs {
    /// Steps to ingest on each path (over HTTP, and directly).
    #[arg(long, default_value_t = 20_000)]
    steps: usize,
    /// Concurrent clients for the read load.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of read load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Also run on a scratch database created (and dropped) on this PostgreSQL server.
    #[arg(long, env = "LUX_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
}

const BATCH_STEPS: usize = 980;
const STEPS_PER_SESSION: usize = 100;

fn step_text(n: usize) -> String {
    format!(
        "Step {n}: shard {} shows the regression only after warm-up, which points at the key \
         distribution rather than at the eviction policy; comparing hit ratios per shard decides it.",
        n % 16
    )
}

/// The same steps as core records and as the JSON the REST API takes.
fn batches(steps: usize) -> Vec<(Vec<IngestRecord>, serde_json::Value)> {
    let mut batches = Vec::new();
    let mut session = SessionId(Uuid::nil());
    let mut n = 0;
    while n < steps {
        let mut records = Vec::new();
        let mut items = Vec::new();
        for _ in 0..BATCH_STEPS.min(steps - n) {
            if n % STEPS_PER_SESSION == 0 {
                session = SessionId(Uuid::now_v7());
                records.push(IngestRecord::Session(NewSession {
                    id: Some(session),
                    tool: "bench".into(),
                    ..NewSession::default()
                }));
                items.push(json!({"type": "session", "id": session.0, "tool": "bench"}));
            }
            let id = Uuid::now_v7();
            records.push(IngestRecord::Step {
                session: SessionRef::Id(session),
                step: NewStep {
                    id: Some(StepId(id)),
                    kind: "reasoning".into(),
                    content: step_text(n),
                    ..NewStep::default()
                },
            });
            items.push(json!({"type": "step", "session_id": session.0, "id": id, "kind": "reasoning", "content": step_text(n)}));
            n += 1;
        }
        batches.push((records, json!({ "items": items })));
    }
    batches
}

async fn run_backend(name: &str, instance: Instance, args: &HttpArgs) -> anyhow::Result<()> {
    // Writes queue their analysis as in `lux serve`; no worker drains it meanwhile, so this
    // measures the write path (`lux bench ingest` measures the drain).
    let paused = instance.start_analysis(0).await;
    let lux = instance.lux().clone();
    let acceptor = bind("127.0.0.1:0").await?;
    let port = poem::listener::Acceptor::local_addr(&acceptor)
        .first()
        .and_then(|address| address.as_socket_addr().map(|socket| socket.port()))
        .ok_or_else(|| anyhow::anyhow!("no local port"))?;
    let server = tokio::spawn(serve(
        acceptor,
        None,
        AppState::with_max_in_flight(&instance, AuthPolicy::new(true), 4096),
    ));
    let base = format!("http://127.0.0.1:{port}");
    lux_core::llm::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    // Alternate the three paths batch by batch, so the database's growth and anything else the
    // machine is doing weigh on each alike.
    let bare_batches = batches(args.steps);
    let direct_batches = batches(args.steps);
    let http_batches = batches(args.steps);
    let mut numbers = std::collections::HashMap::new();
    let mut bare = Duration::ZERO;
    let mut direct = Duration::ZERO;
    let mut over_http = Duration::ZERO;
    for (((same, _), (records, _)), (_, body)) in
        bare_batches.iter().zip(&direct_batches).zip(&http_batches)
    {
        let started = Instant::now();
        lux_core::bench::bare_insert(&lux, same, &mut numbers).await?;
        bare += started.elapsed();
        let started = Instant::now();
        lux.ingest(lux.default_project(), records).await?;
        direct += started.elapsed();
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/ingest"))
            .json(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "ingest answered {}",
            response.status()
        );
        response.bytes().await?;
        over_http += started.elapsed();
    }

    let session = lux
        .create_session(
            lux.default_project(),
            NewSession {
                tool: "bench".into(),
                ..NewSession::default()
            },
        )
        .await?
        .value
        .id;
    let url = Arc::new(format!("{base}/api/v1/sessions/{session}"));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match client.get(url.as_str()).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut some, failed) = worker.await?;
        latencies.append(&mut some);
        errors += failed;
    }
    server.abort();
    paused.stop().await;
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    let steps = args.steps as f64;
    println!(
        "{name:<9} ingest: bare insert_many {:>8.0} steps/s · direct {:>8.0} steps/s ({:.3}) · over HTTP {:>8.0} steps/s ({:.3} of bare, {:.3} of direct) · GET session {:>7.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        steps / bare.as_secs_f64(),
        steps / direct.as_secs_f64(),
        bare.as_secs_f64() / direct.as_secs_f64(),
        steps / over_http.as_secs_f64(),
        bare.as_secs_f64() / over_http.as_secs_f64(),
        direct.as_secs_f64() / over_http.as_secs_f64(),
        latencies.len() as f64 / args.seconds as f64,
        percentile(0.50),
        percentile(0.99),
    );
    Ok(())
}

pub(crate) async fn run(args: HttpArgs) -> anyhow::Result<()> {
    println!(
        "http benchmark: {} steps in batches of {BATCH_STEPS}, then {} clients reading for {} s",
        args.steps, args.concurrency, args.seconds
    );
    let dir = tempfile::tempdir()?;
    let instance = Instance::open(
        DatabaseOptions::new(format!("sqlite://{}/bench.db", dir.path().display())),
        InstanceOptions::default(),
    )
    .await?;
    run_backend("sqlite", instance, &args).await?;
    if let Some(server) = &args.postgres {
        let name = format!("lux_bench_{}", Uuid::now_v7().simple());
        let url = create_postgres_database(server, &name).await?;
        let result = async {
            run_backend(
                "postgres",
                Instance::open(DatabaseOptions::new(&url), InstanceOptions::default()).await?,
                &args,
            )
            .await
        }
        .await;
        drop_postgres_database(server, &name).await?;
        result?;
    }
    Ok(())
}
