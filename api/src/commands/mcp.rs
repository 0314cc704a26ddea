//! `lux mcp`: the MCP server on stdin/stdout for one MCP host; nothing but protocol on stdout.

use crate::config::{GlobalArgs, redact};

pub(crate) async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    let instance = global.instance().await?;
    tracing::info!(database = %redact(&global.database_url()), "MCP server on stdio");
    crate::mcp::serve_stdio(instance.lux().clone()).await
}
