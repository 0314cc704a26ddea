//! `lux apikey create|list|revoke`: the operator's way to hand out and take back access.

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use lux_core::services::api_keys::Scope;

use crate::config::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key; its secret is printed once and never stored.
    Create {
        /// Project slug; created if it does not exist yet.
        #[arg(long, default_value = "default")]
        project: String,
        /// read, ingest or admin.
        #[arg(long, default_value = "read")]
        scope: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a project's keys (never their secrets).
    List {
        #[arg(long, default_value = "default")]
        project: String,
    },
    /// Revoke a key by id or prefix; it stops working at once.
    Revoke {
        key: String,
        #[arg(long, default_value = "default")]
        project: String,
    },
}

async fn project_id(
    lux: &lux_core::Lux,
    slug: &str,
    create: bool,
) -> anyhow::Result<lux_core::ProjectId> {
    match lux.project_by_slug(slug).await? {
        Some(project) => Ok(project.id),
        None if create => Ok(lux.create_project(slug, slug).await?.id),
        None => anyhow::bail!("project {slug:?} not found"),
    }
}

pub(crate) async fn run(global: &GlobalArgs, command: ApiKeyCommand) -> anyhow::Result<()> {
    let lux = global.open().await?;
    match command {
        ApiKeyCommand::Create {
            project,
            scope,
            name,
        } => {
            let scope: Scope = scope.parse()?;
            let project_id = project_id(&lux, &project, true).await?;
            let created = lux.create_api_key(project_id, &name, scope).await?;
            println!("{}", created.secret);
            eprintln!(
                "created {} key {} for project {project}; the secret above is shown only now",
                created.key.scope, created.key.prefix
            );
        }
        ApiKeyCommand::List { project } => {
            let keys = lux
                .list_api_keys(project_id(&lux, &project, false).await?)
                .await?;
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["prefix", "name", "scope", "created", "last used", "revoked"]);
            let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            };
            for key in keys {
                table.add_row([
                    key.prefix,
                    key.name,
                    key.scope.to_string(),
                    time(Some(key.created_at)),
                    time(key.last_used_at),
                    time(key.revoked_at),
                ]);
            }
            println!("{table}");
        }
        ApiKeyCommand::Revoke { key, project } => {
            let revoked = lux
                .revoke_api_key(project_id(&lux, &project, false).await?, &key)
                .await?;
            println!("revoked {}", revoked.prefix);
        }
    }
    Ok(())
}
