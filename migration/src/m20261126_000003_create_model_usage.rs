//! Model calls with typed token counts and integer nano-USD cost, and the price list that prices them.

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
                    .table(ModelPrices::Table)
                    .col(pk_uuid(ModelPrices::Id))
                    .col(string(ModelPrices::ModelPattern))
                    .col(string_null(ModelPrices::Provider))
                    .col(big_integer(ModelPrices::InputNusdPerMtok))
                    .col(big_integer(ModelPrices::OutputNusdPerMtok))
                    .col(big_integer_null(ModelPrices::CachedInputNusdPerMtok))
                    .col(big_integer_null(ModelPrices::ReasoningNusdPerMtok))
                    .col(timestamp_with_time_zone(ModelPrices::EffectiveFrom))
                    .col(timestamp_with_time_zone_null(ModelPrices::EffectiveTo))
                    .col(string(ModelPrices::Source))
                    .col(timestamp_with_time_zone(ModelPrices::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(
                ModelPrices::Table,
                &["model_pattern", "effective_from"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ModelCalls::Table)
                    .col(pk_uuid(ModelCalls::Id))
                    .col(uuid(ModelCalls::SessionId))
                    .col(uuid_null(ModelCalls::StepId))
                    .col(string(ModelCalls::Provider))
                    .col(string(ModelCalls::Model))
                    .col(big_integer(ModelCalls::InputTokens))
                    .col(big_integer(ModelCalls::OutputTokens))
                    .col(big_integer(ModelCalls::CachedInputTokens))
                    .col(big_integer(ModelCalls::ReasoningTokens))
                    .col(big_integer(ModelCalls::LatencyMs))
                    .col(big_integer(ModelCalls::CostNusd))
                    .col(uuid_null(ModelCalls::PriceId))
                    .col(string(ModelCalls::Status))
                    .col(text_null(ModelCalls::Error))
                    .col(timestamp_with_time_zone(ModelCalls::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ModelCalls::Table, ModelCalls::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ModelCalls::Table, ModelCalls::StepId)
                            .to(Steps::Table, Steps::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ModelCalls::Table, ModelCalls::PriceId)
                            .to(ModelPrices::Table, ModelPrices::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for columns in [
            &["session_id", "created_at"][..],
            &["model", "created_at"],
            &["step_id"],
            &["price_id"],
        ] {
            manager
                .create_index(crate::index(ModelCalls::Table, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ModelCalls::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ModelPrices::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden, Clone)]
enum ModelPrices {
    Table,
    Id,
    ModelPattern,
    Provider,
    InputNusdPerMtok,
    OutputNusdPerMtok,
    CachedInputNusdPerMtok,
    ReasoningNusdPerMtok,
    EffectiveFrom,
    EffectiveTo,
    Source,
    CreatedAt,
}

#[derive(DeriveIden, Clone)]
enum ModelCalls {
    Table,
    Id,
    SessionId,
    StepId,
    Provider,
    Model,
    InputTokens,
    OutputTokens,
    CachedInputTokens,
    ReasoningTokens,
    LatencyMs,
    CostNusd,
    PriceId,
    Status,
    Error,
    CreatedAt,
}
