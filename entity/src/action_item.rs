//! `action_items`: An action item stated in one synthesis version.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "action_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub synthesis_version_id: Uuid,
    pub session_id: Uuid,
    pub position: i32,
    #[sea_orm(column_type = "Text")]
    pub action: String,
    pub priority: String,
    #[sea_orm(column_type = "Text")]
    pub rationale: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub dependencies: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
