//! `model_prices`: A per-token price for the models matching a pattern, valid over a time range.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "model_prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub model_pattern: String,
    pub provider: Option<String>,
    pub input_nusd_per_mtok: i64,
    pub output_nusd_per_mtok: i64,
    pub cached_input_nusd_per_mtok: Option<i64>,
    pub reasoning_nusd_per_mtok: Option<i64>,
    pub effective_from: DateTimeUtc,
    pub effective_to: Option<DateTimeUtc>,
    pub source: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
