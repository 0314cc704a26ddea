//! `plugins`: An installed WASM plugin version: its component bytes, what it says about itself,
//! its configuration, and whether it is enabled and the active version of its name.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plugins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub config_schema: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub config: Json,
    pub sha256: String,
    #[sea_orm(column_type = "Blob")]
    pub wasm: Vec<u8>,
    pub enabled: bool,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
