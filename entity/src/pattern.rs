//! `patterns`: A cross-session pattern a miner found in a project's sessions, kept after the run.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patterns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub miner: String,
    pub miner_version: String,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub support: i32,
    pub score: f64,
    #[sea_orm(column_type = "JsonBinary")]
    pub session_ids: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
