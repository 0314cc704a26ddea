//! `lux serve`: the HTTP server on the configured database.

use clap::Args;

use crate::config::{GlobalArgs, redact};
use poem::listener::{Acceptor, AcceptorExt};

use crate::rest::AuthPolicy;
use crate::server::{AppState, bind, serve};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LUX_BIND", default_value = "127.0.0.1:7700")]
    bind: String,
    /// Requests served at once; beyond it Lux answers 503 with `Retry-After`.
    #[arg(long, env = "LUX_MAX_IN_FLIGHT", default_value_t = crate::server::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Also receive OTLP/HTTP traces on this address (e.g. 127.0.0.1:4318, the exporters'
    /// default); they are always received at `/v1/traces` on `--bind`.
    #[arg(long, env = "LUX_OTLP_BIND")]
    otlp_bind: Option<String>,
    /// Fill the database with demo sessions first (once; a second run adds nothing).
    #[arg(long)]
    demo: bool,
}

pub(crate) async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let acceptor = bind(&args.bind).await?;
    let otlp = match &args.otlp_bind {
        Some(address) => Some(bind(address).await?.boxed()),
        None => None,
    };
    // Keyless access is only ever possible when every listener is loopback-only.
    let mut addresses = acceptor.local_addr();
    addresses.extend(otlp.iter().flat_map(|otlp| otlp.local_addr()));
    let loopback = addresses.iter().all(|address| {
        address
            .as_socket_addr()
            .is_some_and(|socket| socket.ip().is_loopback())
    });
    let instance = global.instance().await?;
    let lux = instance.lux();
    if args.demo {
        let summary = super::demo::fill(
            lux,
            super::demo::DEFAULT_SESSIONS,
            super::demo::DEFAULT_SEED,
        )
        .await?;
        if let Err(error) = lux.refresh_planner_statistics().await {
            tracing::warn!(%error, "could not refresh SQLite's planner statistics");
        }
        tracing::info!(created_sessions = summary.sessions, "demo data ready");
    }
    tracing::info!(database = %redact(&global.database_url()), "database open");
    tracing::info!("analysis: {}", lux.detectors().detection_mode().summary());
    instance.spawn_upkeep();
    let workers = instance.start_analysis(global.analysis_workers()).await;
    let policy = AuthPolicy::new(loopback);
    let served = serve(
        acceptor,
        otlp,
        AppState::with_max_in_flight(&instance, policy, args.max_in_flight),
    )
    .await;
    super::stop_analysis(workers).await;
    served
}
