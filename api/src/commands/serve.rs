//! `lux serve`: the HTTP server on the configured database.

use clap::Args;

use crate::config::{GlobalArgs, redact};
use crate::server::{AppState, bind, serve};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LUX_BIND", default_value = "127.0.0.1:7700")]
    bind: String,
    /// Fill the database with demo sessions first (once; a second run adds nothing).
    #[arg(long)]
    demo: bool,
}

pub(crate) async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let acceptor = bind(&args.bind).await?;
    let lux = global.open().await?;
    if args.demo {
        let summary = super::demo::fill(
            &lux,
            super::demo::DEFAULT_SESSIONS,
            super::demo::DEFAULT_SEED,
        )
        .await?;
        tracing::info!(created_sessions = summary.sessions, "demo data ready");
    }
    tracing::info!(database = %redact(&global.database_url()), "database open");
    serve(acceptor, AppState { lux }).await
}
