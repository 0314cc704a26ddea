//! Synthesis versions with their insights and action items, one row set per update.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000002_create_sessions::{Sessions, Steps};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SynthesisVersions::Table)
                    .col(pk_uuid(SynthesisVersions::Id))
                    .col(uuid(SynthesisVersions::SessionId))
                    .col(integer(SynthesisVersions::Version))
                    .col(uuid_null(SynthesisVersions::StepId))
                    .col(integer_null(SynthesisVersions::StepNumber))
                    .col(text_null(SynthesisVersions::RawUpdate))
                    .col(text_null(SynthesisVersions::CurrentUnderstanding))
                    .col(double_null(SynthesisVersions::Confidence))
                    .col(double_null(SynthesisVersions::Clarity))
                    .col(json_binary(SynthesisVersions::Parsed))
                    .col(timestamp_with_time_zone(SynthesisVersions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SynthesisVersions::Table, SynthesisVersions::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SynthesisVersions::Table, SynthesisVersions::StepId)
                            .to(Steps::Table, Steps::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                crate::index(SynthesisVersions::Table, &["session_id", "version"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(SynthesisVersions::Table, &["step_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Insights::Table)
                    .col(pk_uuid(Insights::Id))
                    .col(uuid(Insights::SynthesisVersionId))
                    .col(uuid(Insights::SessionId))
                    .col(integer(Insights::Position))
                    .col(text(Insights::Text))
                    .col(double_null(Insights::Confidence))
                    .col(integer_null(Insights::SourceStep))
                    .col(boolean_null(Insights::SupportedByEvidence))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Insights::Table, Insights::SynthesisVersionId)
                            .to(SynthesisVersions::Table, SynthesisVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Insights::Table, Insights::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(
                Insights::Table,
                &["synthesis_version_id", "position"],
            ))
            .await?;
        manager
            .create_index(crate::index(Insights::Table, &["session_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActionItems::Table)
                    .col(pk_uuid(ActionItems::Id))
                    .col(uuid(ActionItems::SynthesisVersionId))
                    .col(uuid(ActionItems::SessionId))
                    .col(integer(ActionItems::Position))
                    .col(text(ActionItems::Action))
                    .col(string(ActionItems::Priority))
                    .col(text_null(ActionItems::Rationale))
                    .col(json_binary(ActionItems::Dependencies))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ActionItems::Table, ActionItems::SynthesisVersionId)
                            .to(SynthesisVersions::Table, SynthesisVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ActionItems::Table, ActionItems::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(
                ActionItems::Table,
                &["synthesis_version_id", "position"],
            ))
            .await?;
        manager
            .create_index(crate::index(ActionItems::Table, &["session_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ActionItems::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Insights::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SynthesisVersions::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
enum SynthesisVersions {
    Table,
    Id,
    SessionId,
    Version,
    StepId,
    StepNumber,
    RawUpdate,
    CurrentUnderstanding,
    Confidence,
    Clarity,
    Parsed,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum Insights {
    Table,
    Id,
    SynthesisVersionId,
    SessionId,
    Position,
    Text,
    Confidence,
    SourceStep,
    SupportedByEvidence,
}

#[derive(DeriveIden, Clone)]
enum ActionItems {
    Table,
    Id,
    SynthesisVersionId,
    SessionId,
    Position,
    Action,
    Priority,
    Rationale,
    Dependencies,
}
