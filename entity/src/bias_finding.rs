//! `bias_findings`: A bias a detector found in a step, with the span of text that shows it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "bias_findings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub step_id: Option<Uuid>,
    pub detector: String,
    pub detector_version: String,
    pub bias_type: String,
    pub severity: String,
    pub confidence: f64,
    #[sea_orm(column_type = "Text")]
    pub explanation: String,
    pub evidence_start: Option<i32>,
    pub evidence_end: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub evidence_text: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub suggestion: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
