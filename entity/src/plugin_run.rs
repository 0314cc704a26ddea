//! `plugin_runs`: One run of a plugin (on a step write or on request) and how it ended.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plugin_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub plugin_id: Uuid,
    pub session_id: Option<Uuid>,
    pub step_id: Option<Uuid>,
    pub started_at: DateTimeUtc,
    pub duration_us: i64,
    pub outcome: String,
    #[sea_orm(column_type = "Text")]
    pub message: Option<String>,
    pub produced: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
