//! A partial index of the steps that name a branch, so a thought's reply lists its session's
//! branches without reading every step of the session.
//!
//! `sequential_thinking` answers with the session's branches after every thought. Without this
//! index `SELECT DISTINCT branch_id … WHERE session_id = ? AND branch_id IS NOT NULL` visits
//! each step of the session: a thought at 2,000 paid for the 1,999 before it. Few steps name a
//! branch, so the index is small, and both backends use a partial index whose condition the
//! query repeats.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const INDEX: &str = "idx_steps_session_branch";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(
            manager,
            [format!(
                "CREATE INDEX {INDEX} ON steps (session_id, branch_id) WHERE branch_id IS NOT NULL"
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_each(manager, [format!("DROP INDEX IF EXISTS {INDEX}")]).await
    }
}
