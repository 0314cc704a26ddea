//! `lux bench mcp`: latency of a `sequential_thinking` call as an MCP host sees it — this very
//! binary started as `lux mcp` on a scratch SQLite file, driven over stdio by rmcp's client —
//! against the same step appended through `Lux::append_step` in-process, measured in one run.

use std::time::{Duration, Instant};

use clap::Args;
use lux_core::{DatabaseOptions, Lux, NewSession, NewStep, SessionRef};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// Calls to time on each path (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 2_000)]
    calls: usize,
    /// Thoughts per session: each session is continued by `session_id` until it has this many.
    /// From 200 up, the first and the last 100 thoughts are also reported apart (a thought must
    /// cost the same late in a long session as early).
    #[arg(long, default_value_t = 10)]
    thoughts: usize,
    /// How long `lux mcp` lets a reply wait for the thought's analysis (its
    /// `LUX_MCP_ANALYSIS_WAIT_MS`; 0 answers once the thought is stored). Default: its own.
    #[arg(long)]
    analysis_wait_ms: Option<u64>,
}

/// Thoughts in each of the early and late groups reported for long sessions.
const GROUP: usize = 100;

/// A timed call and the thought number it wrote.
type Sample = (usize, Duration);

fn thought_text(n: usize) -> String {
    format!(
        "Thought {n}: the p99 regression appears only after the cache warms up, so the key \
         distribution, not the eviction policy, is the likelier cause; comparing per-shard hit \
         ratios will tell."
    )
}

/// Median, p99 and mean of the samples, in milliseconds.
struct Latencies {
    median: f64,
    p99: f64,
    mean: f64,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Latencies {
        samples.sort();
        let at = |p: f64| {
            let rank = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1000.0
        };
        let total: Duration = samples.iter().sum();
        Latencies {
            median: at(0.50),
            p99: at(0.99),
            mean: total.as_secs_f64() * 1000.0 / samples.len() as f64,
        }
    }
}

async fn over_stdio(args: &McpArgs, database: &str) -> anyhow::Result<Vec<Sample>> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(["--database-url", database, "mcp"])
        .stderr(std::process::Stdio::null());
    if let Some(wait) = args.analysis_wait_ms {
        command.env("LUX_MCP_ANALYSIS_WAIT_MS", wait.to_string());
    }
    let client = ().serve(TokioChildProcess::new(command)?).await?;
    let warm_up = args.calls / 10;
    let mut samples = Vec::with_capacity(args.calls);
    for n in 0..warm_up + args.calls {
        let number = n % args.thoughts + 1;
        let arguments = json!({
            "thought": thought_text(n),
            "thought_number": number,
            "total_thoughts": args.thoughts,
            "next_thought_needed": number < args.thoughts,
            "session_id": format!("bench-{}", n / args.thoughts),
        });
        let serde_json::Value::Object(arguments) = arguments else {
            unreachable!("a JSON object literal");
        };
        let started = Instant::now();
        let result = client
            .call_tool(CallToolRequestParams::new("sequential_thinking").with_arguments(arguments))
            .await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            result.is_error != Some(true),
            "sequential_thinking failed: {:?}",
            result.content
        );
        if n >= warm_up {
            samples.push((number, elapsed));
        }
    }
    client.cancel().await?;
    Ok(samples)
}

async fn in_process(args: &McpArgs, lux: &Lux) -> anyhow::Result<Vec<Sample>> {
    let project = lux.default_project();
    let warm_up = args.calls / 10;
    let mut samples = Vec::with_capacity(args.calls);
    let mut session = None;
    for n in 0..warm_up + args.calls {
        if n % args.thoughts == 0 {
            let new = NewSession {
                tool: "sequential_thinking".into(),
                ..NewSession::default()
            };
            session = Some(lux.create_session(project, new).await?.value.id);
        }
        let reference = SessionRef::Id(session.expect("a session was created"));
        let step = NewStep {
            kind: "thought".into(),
            content: thought_text(n),
            ..NewStep::default()
        };
        let started = Instant::now();
        lux.append_step(project, &reference, step).await?;
        if n >= warm_up {
            samples.push((n % args.thoughts + 1, started.elapsed()));
        }
    }
    Ok(samples)
}

pub(crate) async fn run(args: McpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.calls > 0 && args.thoughts > 0,
        "--calls and --thoughts must be positive"
    );
    let dir = tempfile::tempdir()?;
    let stdio_db = format!("sqlite://{}/mcp.db", dir.path().display());
    let direct_db = format!("sqlite://{}/direct.db", dir.path().display());
    // Migrate before the server starts, so the first timed calls do not pay for it.
    Lux::open(DatabaseOptions::new(&stdio_db)).await?;
    let direct = Lux::open(DatabaseOptions::new(&direct_db)).await?;
    println!(
        "mcp benchmark: {} sequential_thinking calls ({} thoughts per session) over stdio to \
         `lux mcp` on SQLite (replies wait {} for the thought's analysis), against \
         Lux::append_step in-process (which analyses before it returns)",
        args.calls,
        args.thoughts,
        args.analysis_wait_ms.map_or_else(
            || "up to the default".to_owned(),
            |ms| format!("up to {ms} ms")
        )
    );
    let stdio = over_stdio(&args, &stdio_db).await?;
    let baseline = in_process(&args, &direct).await?;
    let mut groups = vec![("all thoughts".to_owned(), 1..=args.thoughts)];
    if args.thoughts >= 2 * GROUP {
        groups.push((format!("thoughts 1-{GROUP}"), 1..=GROUP));
        let late = args.thoughts - GROUP + 1..=args.thoughts;
        groups.push((format!("thoughts {}-{}", late.start(), late.end()), late));
    }
    for (group, numbers) in groups {
        let pick = |samples: &[Sample]| {
            let picked: Vec<Duration> = samples
                .iter()
                .filter(|(number, _)| numbers.contains(number))
                .map(|(_, elapsed)| *elapsed)
                .collect();
            (!picked.is_empty()).then(|| Latencies::of(picked))
        };
        let (Some(stdio), Some(baseline)) = (pick(&stdio), pick(&baseline)) else {
            continue;
        };
        println!("{group}:");
        for (name, figures) in [
            ("stdio sequential_thinking", &stdio),
            ("in-process append_step", &baseline),
        ] {
            println!(
                "  {name:<26} median {:>6.3} ms · p99 {:>6.3} ms · mean {:>6.3} ms · {:>7.0} calls/s",
                figures.median,
                figures.p99,
                figures.mean,
                1000.0 / figures.mean
            );
        }
        println!(
            "  ratio stdio/in-process: median {:.2} · p99 {:.2}",
            stdio.median / baseline.median,
            stdio.p99 / baseline.p99
        );
    }
    Ok(())
}
