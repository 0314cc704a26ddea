//! The plugin registry: installed WASM components (bytes in the database so every server sharing
//! it runs the same plugins), a record of each plugin run, and the patterns miners found.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_projects::Projects;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plugins::Table)
                    .col(pk_uuid(Plugins::Id))
                    .col(string(Plugins::Name))
                    .col(string(Plugins::Version))
                    .col(string(Plugins::Kind))
                    .col(text(Plugins::Description))
                    .col(json_binary(Plugins::ConfigSchema))
                    .col(json_binary(Plugins::Config))
                    .col(string(Plugins::Sha256))
                    .col(blob(Plugins::Wasm))
                    .col(boolean(Plugins::Enabled))
                    .col(boolean(Plugins::Active))
                    .col(timestamp_with_time_zone(Plugins::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                crate::index(Plugins::Table, &["name", "version"])
                    .unique()
                    .to_owned(),
            )
            .await?;

        // No foreign key to sessions or steps: a run record outlives the session it looked at.
        manager
            .create_table(
                Table::create()
                    .table(PluginRuns::Table)
                    .col(pk_uuid(PluginRuns::Id))
                    .col(uuid(PluginRuns::PluginId))
                    .col(uuid_null(PluginRuns::SessionId))
                    .col(uuid_null(PluginRuns::StepId))
                    .col(timestamp_with_time_zone(PluginRuns::StartedAt))
                    .col(big_integer(PluginRuns::DurationUs))
                    .col(string(PluginRuns::Outcome))
                    .col(text_null(PluginRuns::Message))
                    .col(integer(PluginRuns::Produced))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PluginRuns::Table, PluginRuns::PluginId)
                            .to(Plugins::Table, Plugins::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(
                PluginRuns::Table,
                &["plugin_id", "started_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Patterns::Table)
                    .col(pk_uuid(Patterns::Id))
                    .col(uuid(Patterns::ProjectId))
                    .col(string(Patterns::Miner))
                    .col(string(Patterns::MinerVersion))
                    .col(string(Patterns::Kind))
                    .col(text(Patterns::Title))
                    .col(integer(Patterns::Support))
                    .col(double(Patterns::Score))
                    .col(json_binary(Patterns::SessionIds))
                    .col(json_binary(Patterns::Data))
                    .col(timestamp_with_time_zone(Patterns::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Patterns::Table, Patterns::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(Patterns::Table, &["project_id", "created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Patterns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PluginRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Plugins::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
enum Plugins {
    Table,
    Id,
    Name,
    Version,
    Kind,
    Description,
    ConfigSchema,
    Config,
    Sha256,
    Wasm,
    Enabled,
    Active,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum PluginRuns {
    Table,
    Id,
    PluginId,
    SessionId,
    StepId,
    StartedAt,
    DurationUs,
    Outcome,
    Message,
    Produced,
}

#[derive(DeriveIden, Clone)]
enum Patterns {
    Table,
    Id,
    ProjectId,
    Miner,
    MinerVersion,
    Kind,
    Title,
    Support,
    Score,
    SessionIds,
    Data,
    CreatedAt,
}
