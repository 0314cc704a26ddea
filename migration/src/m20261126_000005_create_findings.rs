//! Bias findings and metacognitive monitor events, each tied to a session and usually a step.

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
                    .table(BiasFindings::Table)
                    .col(pk_uuid(BiasFindings::Id))
                    .col(uuid(BiasFindings::SessionId))
                    .col(uuid_null(BiasFindings::StepId))
                    .col(string(BiasFindings::Detector))
                    .col(string(BiasFindings::DetectorVersion))
                    .col(string(BiasFindings::BiasType))
                    .col(string(BiasFindings::Severity))
                    .col(double(BiasFindings::Confidence))
                    .col(text(BiasFindings::Explanation))
                    .col(integer_null(BiasFindings::EvidenceStart))
                    .col(integer_null(BiasFindings::EvidenceEnd))
                    .col(text_null(BiasFindings::EvidenceText))
                    .col(text_null(BiasFindings::Suggestion))
                    .col(timestamp_with_time_zone(BiasFindings::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BiasFindings::Table, BiasFindings::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BiasFindings::Table, BiasFindings::StepId)
                            .to(Steps::Table, Steps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for columns in [
            &["session_id", "created_at"][..],
            &["step_id"],
            &["bias_type", "created_at"],
            &["detector", "created_at"],
        ] {
            manager
                .create_index(crate::index(BiasFindings::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(MonitorEvents::Table)
                    .col(pk_uuid(MonitorEvents::Id))
                    .col(uuid(MonitorEvents::SessionId))
                    .col(uuid_null(MonitorEvents::StepId))
                    .col(string(MonitorEvents::Kind))
                    .col(string(MonitorEvents::Severity))
                    .col(double(MonitorEvents::Score))
                    .col(text(MonitorEvents::Message))
                    .col(json_binary(MonitorEvents::Data))
                    .col(timestamp_with_time_zone(MonitorEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MonitorEvents::Table, MonitorEvents::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MonitorEvents::Table, MonitorEvents::StepId)
                            .to(Steps::Table, Steps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for columns in [
            &["session_id", "created_at"][..],
            &["step_id"],
            &["kind", "created_at"],
        ] {
            manager
                .create_index(crate::index(MonitorEvents::Table, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MonitorEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BiasFindings::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
enum BiasFindings {
    Table,
    Id,
    SessionId,
    StepId,
    Detector,
    DetectorVersion,
    BiasType,
    Severity,
    Confidence,
    Explanation,
    EvidenceStart,
    EvidenceEnd,
    EvidenceText,
    Suggestion,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum MonitorEvents {
    Table,
    Id,
    SessionId,
    StepId,
    Kind,
    Severity,
    Score,
    Message,
    Data,
    CreatedAt,
}
