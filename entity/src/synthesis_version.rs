//! `synthesis_versions`: One version of a session's evolving synthesis, kept forever so its evolution can be replayed.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "synthesis_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub version: i32,
    pub step_id: Option<Uuid>,
    pub step_number: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub raw_update: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub current_understanding: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub parsed: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
