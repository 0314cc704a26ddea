//! Integration tests of `lux-core` against real databases: a SQLite file always, PostgreSQL when configured.

mod analysis;
mod analysis_queue;
mod analytics;
mod compare;
mod demo;
mod detect_eval;
mod detect_input;
mod export;
mod findings;
mod fuzz_seeds;
mod ingest;
mod live;
mod llm;
mod migrations;
mod patterns;
mod plugins;
mod search;
mod sessions;
mod steps;
mod support;
mod synthesis;
mod thoughts;
mod usage;
