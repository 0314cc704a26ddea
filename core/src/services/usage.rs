//! Model calls and the price list: every call is priced exactly from the price in force when it was made.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use tracing::instrument;

use lux_entity::{model_call, model_price};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::live::LiveEventKind;
use crate::pricing::{ModelPrice, TokenUsage, compute_cost, shipped_prices};
use crate::services::steps::{adopt_session_model, step_of_session};
use crate::store::{Lux, PriceTable, WriteCtx, model_call_from_row, price_from_row};

/// Validated fields of a new model call.
struct CheckedCall {
    provider: String,
    model: String,
    usage: TokenUsage,
    error: Option<String>,
}

fn checked_new_model_call(new: &NewModelCall) -> Result<CheckedCall> {
    let provider = identifier("provider", &new.provider)?;
    let model = required_text("model", &new.model, MAX_LABEL_BYTES)?;
    let usage = TokenUsage {
        input_tokens: token_count("input_tokens", new.input_tokens)?,
        output_tokens: token_count("output_tokens", new.output_tokens)?,
        cached_input_tokens: token_count("cached_input_tokens", new.cached_input_tokens)?,
        reasoning_tokens: token_count("reasoning_tokens", new.reasoning_tokens)?,
    };
    if usage.cached_input_tokens > usage.input_tokens {
        return Err(Error::invalid(
            "cached_input_tokens",
            format!(
                "{} exceeds input_tokens {} (cached tokens are part of the input)",
                usage.cached_input_tokens, usage.input_tokens
            ),
        ));
    }
    if !(0..=MAX_LATENCY_MS).contains(&new.latency_ms) {
        return Err(Error::invalid(
            "latency_ms",
            format!(
                "must be between 0 and {MAX_LATENCY_MS}, got {}",
                new.latency_ms
            ),
        ));
    }
    let error = optional_text("error", new.error.as_deref(), MAX_TEXT_BYTES)?;
    Ok(CheckedCall {
        provider,
        model,
        usage,
        error,
    })
}

impl NewModelCall {
    /// The rules a model call must meet, checked without storing it (the same check every write
    /// makes): for a door that must refuse a record whole before writing any part of it.
    pub fn validate(&self) -> Result<()> {
        checked_new_model_call(self).map(|_| ())
    }
}

pub(crate) async fn record_model_call_in<C: ConnectionTrait>(
    lux: &Lux,
    conn: &C,
    ctx: &mut WriteCtx,
    reference: &SessionRef,
    new: &NewModelCall,
) -> Result<Written<ModelCall>> {
    let CheckedCall {
        provider,
        model,
        usage,
        error,
    } = checked_new_model_call(new)?;

    let session = ctx.session(conn, reference).await?;
    if let Some(id) = new.id
        && let Some(row) = model_call::Entity::find_by_id(id.0).one(conn).await?
    {
        if row.session_id != session.id.0 {
            return Err(Error::conflict(format!(
                "model call id {id} belongs to another session"
            )));
        }
        return Ok(Written {
            outcome: WriteOutcome::Duplicate,
            value: model_call_from_row(row)?,
        });
    }
    if let Some(step_id) = new.step_id {
        step_of_session(conn, session.id, step_id).await?;
    }

    let created_at = new.created_at.unwrap_or(ctx.now);
    let (price_id, cost) = match ctx
        .prices(conn)
        .await?
        .price_for(&provider, &model, created_at)
    {
        Some((price_id, price)) => (Some(price_id), compute_cost(price, &usage)?),
        None => (None, NanoUsd(0)),
    };
    let id = new.id.map_or_else(|| lux.new_id(), |id| id.0);
    let row = model_call::ActiveModel {
        id: Set(id),
        session_id: Set(session.id.0),
        step_id: Set(new.step_id.map(|step| step.0)),
        provider: Set(provider),
        model: Set(model.clone()),
        input_tokens: Set(usage.input_tokens),
        output_tokens: Set(usage.output_tokens),
        cached_input_tokens: Set(usage.cached_input_tokens),
        reasoning_tokens: Set(usage.reasoning_tokens),
        latency_ms: Set(new.latency_ms),
        cost_nusd: Set(cost.0),
        price_id: Set(price_id.map(|price| price.0)),
        status: Set(new.status.as_str().to_owned()),
        error: Set(error),
        created_at: Set(created_at),
    };
    let inserted = model_call::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    ctx.touched.insert(session.id);
    if session.model.is_none() {
        adopt_session_model(conn, ctx, session.id, &model).await?;
    }
    ctx.event(LiveEventKind::ModelCallRecorded, session.id, id);
    Ok(Written {
        outcome: WriteOutcome::Created,
        value: model_call_from_row(inserted)?,
    })
}

/// A price an operator sets; it takes over from the open-ended price of the same pattern and provider.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewPrice {
    pub model_pattern: String,
    pub provider: Option<String>,
    pub input_nusd_per_mtok: i64,
    pub output_nusd_per_mtok: i64,
    pub cached_input_nusd_per_mtok: Option<i64>,
    pub reasoning_nusd_per_mtok: Option<i64>,
    /// Defaults to now.
    pub effective_from: Option<DateTime<Utc>>,
}

fn checked_price_field(field: &str, value: i64) -> Result<i64> {
    if value < 0 {
        Err(Error::invalid(
            field,
            format!("must not be negative, got {value}"),
        ))
    } else {
        Ok(value)
    }
}

impl Lux {
    #[instrument(skip_all, fields(project = %project, session = %session, model = %new.model))]
    pub async fn record_model_call(
        &self,
        project: ProjectId,
        session: &SessionRef,
        new: NewModelCall,
    ) -> Result<Written<ModelCall>> {
        let tx = self.begin_write().await?;
        let mut ctx = WriteCtx::new(self, project);
        let written = record_model_call_in(self, &tx, &mut ctx, session, &new).await?;
        self.commit(tx, ctx).await?;
        Ok(written)
    }

    pub async fn list_model_calls(
        &self,
        project: ProjectId,
        session: &SessionRef,
    ) -> Result<Vec<ModelCall>> {
        let session = self.get_session(project, session).await?;
        let rows = model_call::Entity::find()
            .filter(model_call::Column::SessionId.eq(session.id.0))
            .order_by_asc(model_call::Column::CreatedAt)
            .order_by_asc(model_call::Column::Id)
            .all(self.db())
            .await?;
        rows.into_iter().map(model_call_from_row).collect()
    }

    pub async fn list_prices(&self) -> Result<Vec<StoredPrice>> {
        let rows = model_price::Entity::find()
            .order_by_asc(model_price::Column::ModelPattern)
            .order_by_asc(model_price::Column::EffectiveFrom)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(price_from_row).collect())
    }

    /// The price that would apply to a call of `model` through `provider` at `at`.
    pub async fn price_for(
        &self,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredPrice>> {
        let stored = self.list_prices().await?;
        let table = PriceTable::from_stored(stored.clone());
        let Some((id, _)) = table.price_for(provider, model, at) else {
            return Ok(None);
        };
        Ok(stored.into_iter().find(|price| price.id == id))
    }

    /// Adds a price; the price it replaces (same pattern and provider, still in force) ends where this one starts,
    /// so calls made earlier keep being explained by the price they were charged at.
    #[instrument(skip_all, fields(pattern = %new.model_pattern))]
    pub async fn set_price(&self, new: NewPrice) -> Result<StoredPrice> {
        let pattern = required_text("model_pattern", &new.model_pattern, MAX_LABEL_BYTES)?;
        if pattern.trim_end_matches('*').contains('*') || pattern == "*" {
            return Err(Error::invalid(
                "model_pattern",
                "only a trailing '*' is allowed, after a prefix",
            ));
        }
        let provider = new
            .provider
            .as_deref()
            .map(|p| identifier("provider", p))
            .transpose()?;
        let price = ModelPrice {
            model_pattern: pattern,
            provider,
            input_nusd_per_mtok: checked_price_field(
                "input_nusd_per_mtok",
                new.input_nusd_per_mtok,
            )?,
            output_nusd_per_mtok: checked_price_field(
                "output_nusd_per_mtok",
                new.output_nusd_per_mtok,
            )?,
            cached_input_nusd_per_mtok: new
                .cached_input_nusd_per_mtok
                .map(|v| checked_price_field("cached_input_nusd_per_mtok", v))
                .transpose()?,
            reasoning_nusd_per_mtok: new
                .reasoning_nusd_per_mtok
                .map(|v| checked_price_field("reasoning_nusd_per_mtok", v))
                .transpose()?,
            effective_from: new.effective_from.unwrap_or_else(|| self.now()),
            effective_to: None,
        };
        let tx = self.begin_write().await?;
        let mut same = model_price::Entity::find()
            .filter(model_price::Column::ModelPattern.eq(price.model_pattern.as_str()))
            .filter(model_price::Column::EffectiveTo.is_null());
        same = match &price.provider {
            Some(provider) => same.filter(model_price::Column::Provider.eq(provider.as_str())),
            None => same.filter(model_price::Column::Provider.is_null()),
        };
        for open in same.all(&tx).await? {
            if open.effective_from >= price.effective_from {
                return Err(Error::conflict(format!(
                    "a price for {} already starts at {}; set a later effective_from",
                    price.model_pattern, open.effective_from
                )));
            }
            let mut closed: model_price::ActiveModel = open.into();
            closed.effective_to = Set(Some(price.effective_from));
            model_price::Entity::update(closed).exec(&tx).await?;
        }
        let stored = insert_price(&tx, self.new_id(), &price, "user", self.now()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Loads the shipped price list into an empty table, so costs work on a fresh database.
    pub(crate) async fn seed_shipped_prices(&self) -> Result<()> {
        if model_price::Entity::find().count(self.db()).await? > 0 {
            return Ok(());
        }
        let prices =
            shipped_prices().map_err(|e| Error::invalid("shipped prices", e.to_string()))?;
        let tx = self.begin_write().await?;
        // Another process may have seeded while this one waited for the write lock.
        if model_price::Entity::find().count(&tx).await? > 0 {
            return Ok(());
        }
        let now = self.now();
        let rows: Vec<model_price::ActiveModel> = prices
            .iter()
            .map(|price| price_row(self.new_id(), price, "shipped", now))
            .collect();
        model_price::Entity::insert_many(rows)
            .exec_without_returning(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn price_row(
    id: uuid::Uuid,
    price: &ModelPrice,
    source: &str,
    now: DateTime<Utc>,
) -> model_price::ActiveModel {
    model_price::ActiveModel {
        id: Set(id),
        model_pattern: Set(price.model_pattern.clone()),
        provider: Set(price.provider.clone()),
        input_nusd_per_mtok: Set(price.input_nusd_per_mtok),
        output_nusd_per_mtok: Set(price.output_nusd_per_mtok),
        cached_input_nusd_per_mtok: Set(price.cached_input_nusd_per_mtok),
        reasoning_nusd_per_mtok: Set(price.reasoning_nusd_per_mtok),
        effective_from: Set(price.effective_from),
        effective_to: Set(price.effective_to),
        source: Set(source.to_owned()),
        created_at: Set(now),
    }
}

async fn insert_price<C: ConnectionTrait>(
    conn: &C,
    id: uuid::Uuid,
    price: &ModelPrice,
    source: &str,
    now: DateTime<Utc>,
) -> Result<StoredPrice> {
    let inserted = model_price::Entity::insert(price_row(id, price, source, now))
        .exec_with_returning(conn)
        .await?;
    Ok(price_from_row(inserted))
}
