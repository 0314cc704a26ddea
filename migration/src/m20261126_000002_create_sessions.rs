//! Sessions, their tags and their steps: the spine of the data model.

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
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::ProjectId))
                    .col(string_null(Sessions::ExternalId))
                    .col(string(Sessions::Tool))
                    .col(string(Sessions::Status))
                    .col(text_null(Sessions::Title))
                    .col(string_null(Sessions::UserId))
                    .col(string_null(Sessions::Client))
                    .col(string_null(Sessions::Model))
                    .col(json_binary(Sessions::Metadata))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Sessions::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Unique per project; NULL external ids never collide on either backend.
        manager
            .create_index(
                crate::index(Sessions::Table, &["project_id", "external_id"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        for columns in [
            &["project_id", "created_at", "id"][..],
            &["project_id", "status", "created_at"],
            &["project_id", "tool", "created_at"],
            &["project_id", "model", "created_at"],
            &["project_id", "user_id", "created_at"],
        ] {
            manager
                .create_index(crate::index(Sessions::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(SessionTags::Table)
                    .col(uuid(SessionTags::SessionId))
                    .col(string(SessionTags::Tag))
                    .primary_key(
                        Index::create()
                            .col(SessionTags::SessionId)
                            .col(SessionTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionTags::Table, SessionTags::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(SessionTags::Table, &["tag", "session_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Steps::Table)
                    .col(pk_uuid(Steps::Id))
                    .col(uuid(Steps::SessionId))
                    .col(integer(Steps::StepNumber))
                    .col(string(Steps::Kind))
                    .col(text(Steps::Content))
                    .col(text_null(Steps::RawResponse))
                    .col(string_null(Steps::Model))
                    .col(double_null(Steps::Confidence))
                    .col(double_null(Steps::Clarity))
                    .col(boolean(Steps::IsRevision))
                    .col(integer_null(Steps::RevisesStep))
                    .col(integer_null(Steps::BranchFromStep))
                    .col(string_null(Steps::BranchId))
                    .col(json_binary(Steps::Metadata))
                    .col(timestamp_with_time_zone(Steps::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Steps::Table, Steps::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                crate::index(Steps::Table, &["session_id", "step_number"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(Steps::Table, &["model", "created_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Steps::Table.into_iden(),
            SessionTags::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
pub(crate) enum Sessions {
    Table,
    Id,
    ProjectId,
    ExternalId,
    Tool,
    Status,
    Title,
    UserId,
    Client,
    Model,
    Metadata,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

#[derive(DeriveIden, Clone)]
enum SessionTags {
    Table,
    SessionId,
    Tag,
}

#[derive(DeriveIden, Clone)]
pub(crate) enum Steps {
    Table,
    Id,
    SessionId,
    StepNumber,
    Kind,
    Content,
    RawResponse,
    Model,
    Confidence,
    Clarity,
    IsRevision,
    RevisesStep,
    BranchFromStep,
    BranchId,
    Metadata,
    CreatedAt,
}
