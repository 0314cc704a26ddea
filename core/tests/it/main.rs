//! Integration tests of `lux-core` against real databases: a SQLite file always, PostgreSQL when configured.

mod demo;
mod findings;
mod ingest;
mod migrations;
mod sessions;
mod steps;
mod support;
mod synthesis;
mod usage;
