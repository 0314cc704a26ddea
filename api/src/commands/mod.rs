//! One module per `lux` subcommand: argument parsing and terminal output only; the work is in `lux-core`.

pub(crate) mod analytics;
pub(crate) mod analyze;
pub(crate) mod apikey;
pub(crate) mod bench;
pub(crate) mod bench_analytics;
pub(crate) mod bench_http;
pub(crate) mod bench_mcp;
mod bench_patterns;
pub(crate) mod bench_plugins;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod mcp;
pub(crate) mod migrate;
pub(crate) mod plugin;
pub(crate) mod serve;
pub(crate) mod sessions;
pub(crate) mod train;
