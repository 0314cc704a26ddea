//! `analysis_jobs`: the durable queue of steps waiting for analysis. A step write stores its job
//! in the same transaction, so a step is never stored without either its findings or a job that
//! will produce them — a kill -9 between the two loses nothing. Workers claim jobs with a lease
//! (`lease_until`, and a token only the claimant knows), so a job claimed by a process that died is taken again once the lease runs
//! out; a failed job waits `run_after` (backoff) before its next attempt.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000002_create_sessions::Steps;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AnalysisJobs::Table)
                    .col(pk_uuid(AnalysisJobs::StepId))
                    .col(uuid(AnalysisJobs::SessionId))
                    .col(uuid(AnalysisJobs::ProjectId))
                    .col(integer(AnalysisJobs::StepNumber))
                    .col(timestamp_with_time_zone(AnalysisJobs::EnqueuedAt))
                    .col(timestamp_with_time_zone(AnalysisJobs::RunAfter))
                    .col(integer(AnalysisJobs::Attempts))
                    .col(timestamp_with_time_zone_null(AnalysisJobs::LeaseUntil))
                    .col(uuid_null(AnalysisJobs::ClaimToken))
                    .col(text_null(AnalysisJobs::LastError))
                    // A deleted step (its session deleted) has nothing left to analyse.
                    .foreign_key(
                        ForeignKey::create()
                            .from(AnalysisJobs::Table, AnalysisJobs::StepId)
                            .to(Steps::Table, Steps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(crate::index(AnalysisJobs::Table, &["run_after"]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AnalysisJobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone)]
pub(crate) enum AnalysisJobs {
    Table,
    StepId,
    SessionId,
    ProjectId,
    StepNumber,
    EnqueuedAt,
    RunAfter,
    Attempts,
    LeaseUntil,
    ClaimToken,
    LastError,
}
