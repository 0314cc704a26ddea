//! SeaORM entities for Lux: one module per table and nothing else; the domain lives in `lux-core`.

pub mod action_item;
pub mod analysis_job;
pub mod api_key;
pub mod audit_log;
pub mod bias_finding;
pub mod insight;
pub mod live_event;
pub mod model_call;
pub mod model_price;
pub mod monitor_event;
pub mod pattern;
pub mod plugin;
pub mod plugin_run;
pub mod prelude;
pub mod project;
pub mod session;
pub mod session_tag;
pub mod step;
pub mod synthesis_version;
