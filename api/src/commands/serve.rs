//! `lux serve`: the HTTP server on the configured database.

use clap::Args;

use crate::config::{GlobalArgs, redact};
use poem::listener::Acceptor;

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
    /// Fill the database with demo sessions first (once; a second run adds nothing).
    #[arg(long)]
    demo: bool,
}

pub(crate) async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let acceptor = bind(&args.bind).await?;
    // Keyless access is only ever possible on a loopback-only listener.
    let loopback = acceptor.local_addr().iter().all(|address| {
        address
            .as_socket_addr()
            .is_some_and(|socket| socket.ip().is_loopback())
    });
    crate::rest::plugins::use_plugin_cache(global.plugin_cache_dir());
    let lux = global.open().await?;
    if args.demo {
        let summary = super::demo::fill(
            &lux,
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
    tokio::spawn(refresh_planner_statistics_hourly(lux.clone()));
    if lux.backend() == lux_core::Backend::Postgres {
        tokio::spawn(refresh_day_rollups_continually(lux.clone()));
    }
    let policy = AuthPolicy::new(loopback);
    serve(
        acceptor,
        AppState::with_max_in_flight(lux, policy, args.max_in_flight),
    )
    .await
}

/// SQLite's planner statistics follow the data as a long-running server's tables grow (see
/// `Lux::refresh_planner_statistics`; opening the database just took them).
async fn refresh_planner_statistics_hourly(lux: lux_core::Lux) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
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
const DAY_ROLLUP_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps PostgreSQL's cross-session day rollups close behind the writes (see
/// `Lux::refresh_day_rollups`).
async fn refresh_day_rollups_continually(lux: lux_core::Lux) {
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
