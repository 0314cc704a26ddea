//! Services: the operations every door (REST, MCP, CLI) calls, as methods on [`crate::Lux`].

pub mod analysis;
pub mod analysis_queue;
pub mod analytics;
pub mod api_keys;
pub mod compare;
pub mod export;
pub mod findings;
pub mod import;
pub mod ingest;
pub mod lux_mcp;
pub mod patterns;
pub mod plugins;
pub mod projects;
pub mod search;
pub mod sessions;
pub mod steps;
pub mod synthesis;
pub mod tallies;
pub mod thoughts;
pub mod usage;
