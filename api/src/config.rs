//! Settings shared by every command: where the database is, and how logs are written.

use std::io::IsTerminal;
use std::path::PathBuf;

use std::sync::Arc;

use clap::Args;
use lux_core::llm::{LlmClient, LlmConfig, OpenAiClient};
use lux_core::services::analysis_queue::QueueOptions;
use lux_core::{DatabaseOptions, Lux};

use crate::instance::{Instance, InstanceOptions};

#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…`. Defaults to `sqlite://DATA_DIR/lux.db`.
    #[arg(long, env = "LUX_DATABASE_URL", global = true)]
    pub(crate) database_url: Option<String>,
    /// Folder for the embedded SQLite database and other local state.
    #[arg(
        long,
        env = "LUX_DATA_DIR",
        default_value = "./lux-data",
        global = true
    )]
    pub(crate) data_dir: PathBuf,
    /// Refuse to start on a database whose schema is behind instead of migrating it.
    #[arg(long, global = true)]
    pub(crate) no_migrate: bool,
    /// Never ask the configured LLM (LUX_LLM_BASE_URL / OPENAI_API_KEY) to verify findings.
    #[arg(
        long,
        alias = "no-llm",
        env = "LUX_NO_LLM_VERIFIER",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(crate) no_llm_verifier: bool,
    /// Workers analysing queued steps in `lux serve` and `lux mcp`; 0 leaves the queue to another
    /// process sharing the database. Defaults to the number of cores.
    #[arg(long, env = "LUX_ANALYSIS_WORKERS", global = true)]
    pub(crate) analysis_workers: Option<usize>,
    /// Steps waiting for analysis beyond which step writes are refused (503, `Retry-After`)
    /// until the workers catch up.
    #[arg(
        long,
        env = "LUX_ANALYSIS_QUEUE_LIMIT",
        global = true,
        default_value_t = 100_000
    )]
    pub(crate) analysis_queue_limit: u64,
}

impl GlobalArgs {
    pub(crate) fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => format!("sqlite://{}/lux.db", self.data_dir.display()),
        }
    }

    /// Compiled plugin artifacts, kept so a restart or a CLI run loads instead of compiling.
    /// Loading one trusts it as native code, so it lives in Lux's own data folder.
    pub(crate) fn plugin_cache_dir(&self) -> PathBuf {
        self.data_dir.join("plugin-cache")
    }

    pub(crate) fn database_options(&self) -> DatabaseOptions {
        let mut options = DatabaseOptions::new(self.database_url());
        options.migrate = !self.no_migrate;
        options
    }

    /// The LLM that verifies uncertain findings: the configured one, unless told not to.
    pub(crate) fn verifier(&self) -> anyhow::Result<Option<Arc<dyn LlmClient>>> {
        if self.no_llm_verifier {
            return Ok(None);
        }
        let Some(config) = LlmConfig::from_env() else {
            return Ok(None);
        };
        Ok(Some(Arc::new(OpenAiClient::new(config)?)))
    }

    /// A running Lux (see [`Instance`]): for every command that writes steps or analyses them.
    pub(crate) async fn instance(&self) -> anyhow::Result<Instance> {
        let options = InstanceOptions {
            plugin_cache: Some(self.plugin_cache_dir()),
            verifier: self.verifier()?,
            queue: QueueOptions {
                max_depth: self.analysis_queue_limit,
                ..QueueOptions::default()
            },
        };
        Instance::open(self.database_options(), options)
            .await
            .map_err(|error| {
                anyhow::anyhow!("cannot open {}: {error}", redact(&self.database_url()))
            })
    }

    /// How many workers a long-running command starts on the analysis queue.
    pub(crate) fn analysis_workers(&self) -> usize {
        self.analysis_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// The database alone, for commands that only read or manage records.
    pub(crate) async fn open(&self) -> anyhow::Result<Lux> {
        let url = self.database_url();
        Lux::open(self.database_options())
            .await
            .map_err(|error| anyhow::anyhow!("cannot open {}: {error}", redact(&url)))
    }
}

/// A URL fit for messages and logs: any password is replaced.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            let user = user_info.split(':').next().unwrap_or_default();
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{}{user}{hidden}{}", &url[..scheme_end + 3], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Logs go to stderr (stdout is for command output, and later for MCP's protocol).
pub(crate) fn init_tracing(serving: bool) {
    // Migrations and sqlx are chatty at info; their news is not the operator's.
    let default = if serving {
        "info,sea_orm_migration=warn,sqlx=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LUX_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_default();
    // Colour only for a person at a terminal: escape codes in a log file or a pipe are noise.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://lux:s3cret@db:5432/lux"),
            "postgres://lux:***@db:5432/lux"
        );
        assert_eq!(redact("postgres://lux@db/lux"), "postgres://lux@db/lux");
        assert_eq!(
            redact("sqlite://./lux-data/lux.db"),
            "sqlite://./lux-data/lux.db"
        );
    }
}
