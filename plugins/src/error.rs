//! Typed failures of the plugin host, so callers (the registry, `plugin_runs`, tests) can tell a
//! plugin that ran out of time from one that lied about its output, and none of it is a panic.

use std::time::Duration;

/// Why a component could not be installed or loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("the plugin is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error(
        "the plugin was built for the plugin contract lux:plugins@{found}, but this Lux supports \
         {supported} (compatible: same major version, and the same minor while the major is 0); \
         rebuild it against plugins/wit of this Lux"
    )]
    IncompatibleVersion { found: String, supported: String },
    #[error("the plugin is not a {expected} component: {found}")]
    WrongWorld {
        expected: &'static str,
        found: String,
    },
    #[error("the plugin imports something Lux does not provide: {0}")]
    Link(String),
    #[error("the plugin's metadata() failed: {0}")]
    Metadata(#[source] PluginError),
    #[error("invalid plugin metadata: {0}")]
    InvalidMetadata(String),
    #[error("plugin engine error: {0}")]
    Engine(String),
}

/// Why one call into a plugin produced nothing usable. The host is unaffected by all of them:
/// the call's sandbox is dropped and the next call starts from a fresh instance.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("the plugin ran past its time limit of {} ms", limit.as_millis())]
    Timeout { limit: Duration },
    #[error("the plugin tried to use more than its memory limit of {limit_bytes} bytes")]
    MemoryLimit { limit_bytes: usize },
    /// Tables live in host memory too, so they have their own caps.
    #[error(
        "the plugin tried to use more than its table limits ({max_tables} tables of at most \
         {max_elements} entries)"
    )]
    TableLimit {
        max_tables: usize,
        max_elements: usize,
    },
    #[error("the plugin crashed (trap): {message}")]
    Trap { message: String },
    #[error("the plugin returned more than its output limit of {limit_bytes} bytes")]
    OutputTooLarge { limit_bytes: usize },
    #[error("the plugin returned invalid output: {reason}")]
    InvalidOutput { reason: String },
    /// The plugin ran and answered `err(message)`.
    #[error("the plugin reported an error: {message}")]
    Failed { message: String },
    #[error("plugin host error: {message}")]
    Host { message: String },
}

impl PluginError {
    /// A stable lowercase label for `plugin_runs.outcome`, metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "timeout",
            PluginError::MemoryLimit { .. } => "memory_limit",
            PluginError::TableLimit { .. } => "table_limit",
            PluginError::Trap { .. } => "trap",
            PluginError::OutputTooLarge { .. } => "output_too_large",
            PluginError::InvalidOutput { .. } => "invalid_output",
            PluginError::Failed { .. } => "failed",
            PluginError::Host { .. } => "host",
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        PluginError::InvalidOutput {
            reason: reason.into(),
        }
    }
}
