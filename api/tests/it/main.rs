//! End-to-end tests of the `lux` binary: real processes, real databases, real HTTP on loopback.

mod analysis_queue;
mod analytics;
mod analytics_cli;
mod browser;
mod cli;
#[cfg(lux_client_generators)]
mod clients;
mod compare;
mod concurrency;
mod crash;
mod dashboard;
mod export;
mod mcp;
mod otlp;
#[cfg(lux_postgres_tests)]
mod outage;
mod overload;
mod plugins;
mod plugins_guide;
mod rest;
#[cfg(lux_schemathesis)]
mod schemathesis;
mod security;
mod serve;
mod stream;
mod support;
mod write_paths;
