//! `lux plugin install|list|show|enable|disable|config|remove|run`: the operator's door to the
//! WASM plugin registry, on the configured database (a running server picks up changes made here
//! at its next start; changes made over REST take effect at once).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use lux_core::{PluginUpdate, SessionFilter, SessionId, SessionRef};
use lux_plugins::registry::{PluginRegistry, RunTarget};

use crate::config::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Install a component (`.wasm`) built against the lux:plugins contract.
    Install { file: PathBuf },
    /// List installed plugins and their versions.
    List,
    /// Show one plugin's versions, schema and configuration as JSON.
    Show { name: String },
    /// Enable a plugin (detectors then run on every step write).
    Enable { name: String },
    /// Disable a plugin.
    Disable { name: String },
    /// Replace the active version's configuration (JSON, checked against its schema).
    Config { name: String, json: String },
    /// Remove a plugin, or only one of its versions.
    Remove {
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// Run a plugin on stored sessions of the default project.
    Run {
        name: String,
        /// One session, by id or external id (detectors).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        session: Option<String>,
        /// Every session (the newest `--sessions`, default 500).
        #[arg(long)]
        all: bool,
        /// With --all: how many of the newest sessions.
        #[arg(long, requires = "all")]
        sessions: Option<u32>,
        /// With --all: only sessions of this tool.
        #[arg(long, requires = "all")]
        tool: Option<String>,
    },
}

pub(crate) async fn run(global: &GlobalArgs, command: PluginCommand) -> anyhow::Result<()> {
    let instance = global.instance().await?;
    let lux = instance.lux();
    let registry = instance
        .plugins()
        .ok_or_else(|| anyhow::anyhow!("the plugin host could not start; see the log above"))?;
    match command {
        PluginCommand::Install { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let installed = registry.install(&bytes).await?;
            let plugin = &installed.plugin;
            let verb = if installed.created {
                "installed"
            } else {
                "already installed"
            };
            println!(
                "{verb} {} {} ({}, sha256 {}){}",
                plugin.name,
                plugin.version,
                plugin.kind,
                &plugin.sha256[..12],
                if plugin.enabled {
                    ""
                } else {
                    "; enable it with `lux plugin enable NAME`"
                }
            );
        }
        PluginCommand::List => {
            let versions = lux.list_plugins().await?;
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header([
                "name",
                "version",
                "kind",
                "enabled",
                "active",
                "size",
                "installed",
            ]);
            for version in versions {
                table.add_row([
                    version.name,
                    version.version,
                    version.kind.to_string(),
                    yes(version.enabled),
                    yes(version.active),
                    format!("{} KiB", version.size_bytes.div_ceil(1024)),
                    version.created_at.format("%Y-%m-%d %H:%M").to_string(),
                ]);
            }
            println!("{table}");
        }
        PluginCommand::Show { name } => {
            let versions = lux.plugin_versions(&name).await?;
            println!("{}", serde_json::to_string_pretty(&versions)?);
        }
        PluginCommand::Enable { name } => set_enabled(registry, &name, true).await?,
        PluginCommand::Disable { name } => set_enabled(registry, &name, false).await?,
        PluginCommand::Config { name, json } => {
            let config: serde_json::Value =
                serde_json::from_str(&json).context("the configuration is not valid JSON")?;
            let update = PluginUpdate {
                config: Some(config),
                ..PluginUpdate::default()
            };
            let versions = registry.update(&name, &update).await?;
            if let Some(active) = versions.iter().find(|v| v.active) {
                println!("configured {name} {}: {}", active.version, active.config);
            }
        }
        PluginCommand::Remove { name, version } => {
            let removed = registry.remove(&name, version.as_deref()).await?;
            println!("removed {removed} version(s) of {name}");
        }
        PluginCommand::Run {
            name,
            session,
            all: _,
            sessions,
            tool,
        } => {
            let target = match session {
                Some(session) => RunTarget::Session(match session.parse::<SessionId>() {
                    Ok(id) => SessionRef::Id(id),
                    Err(_) => SessionRef::ExternalId(session),
                }),
                None => RunTarget::All {
                    filter: SessionFilter {
                        tool,
                        ..SessionFilter::default()
                    },
                    sessions,
                },
            };
            let summary = registry.run(lux.default_project(), &name, target).await?;
            println!(
                "ran {} {} ({}) on {} session(s), {} step(s): {} finding(s), {} pattern(s), \
                 {} failed call(s); outcome {}",
                summary.plugin,
                summary.version,
                summary.kind,
                summary.sessions,
                summary.steps,
                summary.findings,
                summary.patterns,
                summary.failures,
                summary.outcome,
            );
            if let Some(message) = summary.message {
                println!("  {message}");
            }
        }
    }
    Ok(())
}

async fn set_enabled(registry: &PluginRegistry, name: &str, enabled: bool) -> anyhow::Result<()> {
    let update = PluginUpdate {
        enabled: Some(enabled),
        ..PluginUpdate::default()
    };
    registry.update(name, &update).await?;
    println!("{} {name}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

fn yes(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}
