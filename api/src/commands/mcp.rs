//! `lux mcp`: the MCP server on stdin/stdout for one MCP host; nothing but protocol on stdout.

use crate::config::{GlobalArgs, redact};

pub(crate) async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    let instance = global.instance().await?;
    tracing::info!(database = %redact(&global.database_url()), "MCP server on stdio");
    let workers = instance.start_analysis(global.analysis_workers()).await;
    let served = crate::mcp::serve_stdio(instance.lux().clone()).await;
    super::stop_analysis(workers).await;
    served
}
