//! Lux's domain and services: everything that reads or writes reasoning history, with no web, MCP or wasm in sight.
//!
//! Entry point: [`Lux`], opened on a database URL. Every door (REST, MCP, CLI) calls
//! the same methods on it; each write is one transaction and publishes a [`live::LiveEvent`]
//! once committed.

pub mod bench;
pub mod bulk;
pub mod clock;
pub mod demo;
pub mod detect;
pub mod domain;
pub mod error;
pub mod live;
pub mod llm;
pub mod monitor;
pub mod patterns;
pub mod pricing;
pub mod services;
pub mod store;
pub mod synthesis;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, IdGen, SystemClock, UuidV7};
pub use domain::*;
pub use error::{Error, Result};
pub use store::{Backend, DatabaseOptions, Lux};
