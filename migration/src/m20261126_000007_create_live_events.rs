//! The change log behind live streams: one row per committed change, numbered, so any process
//! (and a client reconnecting with `Last-Event-ID`) can catch up on what others wrote.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LiveEvents::Table)
                    .col(big_pk_auto(LiveEvents::Seq))
                    .col(uuid(LiveEvents::ProjectId))
                    .col(uuid(LiveEvents::SessionId))
                    .col(string(LiveEvents::Kind))
                    .col(uuid(LiveEvents::EntityId))
                    .col(timestamp_with_time_zone(LiveEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(LiveEvents::Table, &["project_id", "seq"]))
            .await?;
        manager
            .create_index(crate::index(LiveEvents::Table, &["created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LiveEvents::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
enum LiveEvents {
    Table,
    Seq,
    ProjectId,
    SessionId,
    Kind,
    EntityId,
    CreatedAt,
}
