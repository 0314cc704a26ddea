//! Integration tests of the plugin host against real components built from `plugins/examples`.

mod cache;
mod detector;
mod hostile;
mod miner;
mod support;
