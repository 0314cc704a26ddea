//! `analysis_jobs`: a step waiting for the monitor and detectors, stored with the step.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "analysis_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub step_id: Uuid,
    pub session_id: Uuid,
    pub project_id: Uuid,
    pub step_number: i32,
    pub enqueued_at: DateTimeUtc,
    /// Not attempted before this time (the backoff after a failed attempt).
    pub run_after: DateTimeUtc,
    pub attempts: i32,
    /// A worker holds the job until then; a lapsed lease means its worker died.
    pub lease_until: Option<DateTimeUtc>,
    /// Set by the claim; only the worker holding it may complete the job.
    pub claim_token: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
