//! `lux migrate up|down|status|fresh`, on whichever backend the URL names.

use clap::{Args, Subcommand};
use lux_core::store::{connect, fresh_schema};
use lux_migration::{Migrator, MigratorTrait};

use crate::config::GlobalArgs;

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(subcommand)]
    action: MigrateAction,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Revert applied migrations (the last one, or the last N; `--all` for every one).
    Down {
        #[arg(long, conflicts_with = "all")]
        steps: Option<u32>,
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and migrate from scratch. Destroys all data.
    Fresh,
}

pub(crate) async fn run(global: &GlobalArgs, args: MigrateArgs) -> anyhow::Result<()> {
    let options = global.database_options();
    match args.action {
        MigrateAction::Fresh => {
            fresh_schema(&options).await?;
            println!(
                "dropped every table and applied {} migrations",
                Migrator::migrations().len()
            );
            return Ok(());
        }
        MigrateAction::Up { steps } => {
            let db = connect(&options).await?;
            let pending = Migrator::get_pending_migrations(&db).await?.len();
            Migrator::up(&db, steps).await?;
            let applied = steps.map_or(pending, |n| pending.min(n as usize));
            println!(
                "applied {applied} migration(s); {} pending",
                pending - applied
            );
        }
        MigrateAction::Down { steps, all } => {
            let db = connect(&options).await?;
            let applied = Migrator::get_applied_migrations(&db).await?.len();
            let count = if all {
                applied
            } else {
                (steps.unwrap_or(1) as usize).min(applied)
            };
            if count > 0 {
                Migrator::down(&db, Some(count as u32)).await?;
            }
            println!(
                "reverted {count} migration(s); {} still applied",
                applied - count
            );
        }
        MigrateAction::Status => {
            let db = connect(&options).await?;
            let applied: Vec<String> = Migrator::get_applied_migrations(&db)
                .await?
                .iter()
                .map(|migration| migration.name().to_owned())
                .collect();
            for migration in Migrator::migrations() {
                let state = if applied.iter().any(|name| name == migration.name()) {
                    "applied"
                } else {
                    "pending"
                };
                println!("{state:8} {}", migration.name());
            }
        }
    }
    Ok(())
}
