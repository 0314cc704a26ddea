//! The plugin registry's storage: installed versions (bytes in the database, so every server on it
//! runs the same plugins), enable/activate/configure, run records and stored patterns. Loading and
//! running components is `lux-plugins`' job; core never links a WASM runtime.

use sea_orm::prelude::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{pattern, plugin, plugin_run};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::patterns::FoundPattern;
use crate::store::{Lux, newest_first};

/// Largest component the registry stores: the design's 32 MiB, the host's own load limit. A
/// component built from an interpreted language carries its runtime (componentize-py's CPython
/// makes ~18 MB). Over REST the server's 10 MiB body limit still applies; `lux plugin install`
/// takes the rest.
pub const MAX_PLUGIN_BYTES: usize = 32 << 20;
/// Runs listed when the caller names no limit.
pub const DEFAULT_RUN_LIMIT: u32 = 50;
/// Most runs or patterns one listing returns.
pub const MAX_LIST_LIMIT: u32 = 1000;

#[derive(Debug, FromQueryResult)]
struct Row {
    id: Uuid,
    name: String,
    version: String,
    kind: String,
    description: String,
    config_schema: serde_json::Value,
    config: serde_json::Value,
    sha256: String,
    size_bytes: i64,
    enabled: bool,
    active: bool,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<Row> for PluginVersion {
    type Error = Error;

    fn try_from(row: Row) -> Result<Self> {
        Ok(PluginVersion {
            id: row.id,
            name: row.name,
            version: row.version,
            kind: row.kind.parse()?,
            description: row.description,
            config_schema: row.config_schema,
            config: row.config,
            sha256: row.sha256,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            enabled: row.enabled,
            active: row.active,
            created_at: row.created_at,
        })
    }
}

/// Every column but the bytes, plus their length: listings never load components.
fn versions() -> sea_orm::Select<plugin::Entity> {
    plugin::Entity::find()
        .select_only()
        .columns([
            plugin::Column::Id,
            plugin::Column::Name,
            plugin::Column::Version,
            plugin::Column::Kind,
            plugin::Column::Description,
            plugin::Column::ConfigSchema,
            plugin::Column::Config,
            plugin::Column::Sha256,
            plugin::Column::Enabled,
            plugin::Column::Active,
            plugin::Column::CreatedAt,
        ])
        .column_as(Expr::cust("CAST(LENGTH(wasm) AS BIGINT)"), "size_bytes")
}

async fn fetch<C: ConnectionTrait>(
    conn: &C,
    select: sea_orm::Select<plugin::Entity>,
) -> Result<Vec<PluginVersion>> {
    select
        .into_model::<Row>()
        .all(conn)
        .await?
        .into_iter()
        .map(PluginVersion::try_from)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plugin version as the contract allows it: semver-like, no spaces.
fn plugin_version(value: &str) -> Result<String> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            "version",
            format!("{value:?} must be 1 to 64 characters of a-z, A-Z, 0-9, '.', '_', '+' or '-'"),
        ))
    }
}

fn limit(limit: Option<u32>, default: u32) -> Result<u64> {
    let limit = limit.unwrap_or(default);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIST_LIMIT}, got {limit}"),
        ));
    }
    Ok(u64::from(limit))
}

impl Lux {
    /// Stores a validated component. A new version of a known name becomes its active version and
    /// keeps the name's enabled flag; the same bytes again are a no-op (`created` false); other
    /// bytes under an installed name and version are a conflict.
    #[instrument(skip_all, fields(plugin = %new.name, version = %new.version))]
    pub async fn install_plugin(&self, new: NewPlugin) -> Result<InstalledPlugin> {
        let name = identifier("name", &new.name)?;
        let version = plugin_version(&new.version)?;
        let description = truncate_text(&new.description);
        if new.wasm.len() > MAX_PLUGIN_BYTES {
            return Err(Error::invalid(
                "plugin",
                format!(
                    "is {} bytes; the limit is {MAX_PLUGIN_BYTES}",
                    new.wasm.len()
                ),
            ));
        }
        if !matches!(
            new.config_schema,
            serde_json::Value::Object(_) | serde_json::Value::Bool(_)
        ) {
            return Err(Error::invalid(
                "config_schema",
                "must be a JSON Schema object or a boolean",
            ));
        }
        let sha256 = hex(&Sha256::digest(&new.wasm));

        let tx = self.begin_write().await?;
        let existing = fetch(&tx, versions().filter(plugin::Column::Name.eq(&name))).await?;
        if let Some(same) = existing.iter().find(|v| v.version == version) {
            if same.sha256 == sha256 {
                return Ok(InstalledPlugin {
                    plugin: same.clone(),
                    created: false,
                });
            }
            return Err(Error::conflict(format!(
                "plugin {name} {version} is already installed with different bytes \
                 (sha256 {}); bump the version to install a new build",
                same.sha256
            )));
        }
        let enabled = existing.iter().any(|v| v.enabled);
        plugin::Entity::update_many()
            .col_expr(plugin::Column::Active, Expr::value(false))
            .filter(plugin::Column::Name.eq(&name))
            .exec(&tx)
            .await?;
        // A config that the new schema accepts is carried over; otherwise the version starts empty.
        let carried = existing
            .iter()
            .find(|v| v.active)
            .map(|v| v.config.clone())
            .filter(|config| validate_config(&new.config_schema, config).is_ok());
        let config = carried.unwrap_or_else(|| serde_json::json!({}));
        let id = self.new_id();
        plugin::Entity::insert(plugin::ActiveModel {
            id: Set(id),
            name: Set(name.clone()),
            version: Set(version),
            kind: Set(new.kind.as_str().to_owned()),
            description: Set(description),
            config_schema: Set(new.config_schema),
            config: Set(config),
            sha256: Set(sha256),
            wasm: Set(new.wasm),
            enabled: Set(enabled),
            active: Set(true),
            created_at: Set(self.now()),
        })
        .exec_without_returning(&tx)
        .await?;
        let plugin = fetch(&tx, versions().filter(plugin::Column::Id.eq(id)))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("plugin", &name))?;
        tx.commit().await?;
        Ok(InstalledPlugin {
            plugin,
            created: true,
        })
    }

    /// Every installed version, by name then oldest first.
    pub async fn list_plugins(&self) -> Result<Vec<PluginVersion>> {
        fetch(
            self.db(),
            versions()
                .order_by_asc(plugin::Column::Name)
                .order_by_asc(plugin::Column::CreatedAt)
                .order_by_asc(plugin::Column::Version),
        )
        .await
    }

    /// The installed versions of one plugin, oldest first.
    pub async fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>> {
        let name = lookup_name(name)?;
        let found = fetch(
            self.db(),
            versions()
                .filter(plugin::Column::Name.eq(name))
                .order_by_asc(plugin::Column::CreatedAt)
                .order_by_asc(plugin::Column::Version),
        )
        .await?;
        if found.is_empty() {
            return Err(Error::not_found("plugin", name.trim()));
        }
        Ok(found)
    }

    /// The active version of a plugin.
    pub async fn active_plugin(&self, name: &str) -> Result<PluginVersion> {
        self.plugin_versions(name)
            .await?
            .into_iter()
            .find(|v| v.active)
            .ok_or_else(|| Error::not_found("active plugin version", name.trim()))
    }

    /// The component bytes of an installed version.
    pub async fn plugin_wasm(&self, id: Uuid) -> Result<Vec<u8>> {
        let bytes: Option<Vec<u8>> = plugin::Entity::find_by_id(id)
            .select_only()
            .column(plugin::Column::Wasm)
            .into_tuple()
            .one(self.db())
            .await?;
        bytes.ok_or_else(|| Error::not_found("plugin", id))
    }

    /// The active versions of enabled plugins, with their bytes: what a server loads at startup.
    pub async fn enabled_plugins(&self) -> Result<Vec<(PluginVersion, Vec<u8>)>> {
        let active = fetch(
            self.db(),
            versions()
                .filter(plugin::Column::Enabled.eq(true))
                .filter(plugin::Column::Active.eq(true))
                .order_by_asc(plugin::Column::Name),
        )
        .await?;
        let mut out = Vec::with_capacity(active.len());
        for version in active {
            let bytes = self.plugin_wasm(version.id).await?;
            out.push((version, bytes));
        }
        Ok(out)
    }

    /// Enables or disables a plugin, switches its active version and/or replaces the active
    /// version's configuration (validated against that version's schema). Returns all versions.
    #[instrument(skip_all, fields(plugin = %name))]
    pub async fn update_plugin(
        &self,
        name: &str,
        update: &PluginUpdate,
    ) -> Result<Vec<PluginVersion>> {
        let name = lookup_name(name)?;
        let tx = self.begin_write().await?;
        let existing = fetch(&tx, versions().filter(plugin::Column::Name.eq(name))).await?;
        if existing.is_empty() {
            return Err(Error::not_found("plugin", name));
        }
        let mut active = existing
            .iter()
            .find(|v| v.active)
            .or_else(|| existing.iter().max_by_key(|v| v.created_at))
            .cloned()
            .ok_or_else(|| Error::not_found("plugin", name))?;
        if let Some(version) = &update.active_version {
            active = existing
                .iter()
                .find(|v| v.version == version.trim())
                .cloned()
                .ok_or_else(|| Error::not_found("plugin version", format!("{name} {version}")))?;
            plugin::Entity::update_many()
                .col_expr(plugin::Column::Active, Expr::value(false))
                .filter(plugin::Column::Name.eq(name))
                .exec(&tx)
                .await?;
            plugin::Entity::update_many()
                .col_expr(plugin::Column::Active, Expr::value(true))
                .filter(plugin::Column::Id.eq(active.id))
                .exec(&tx)
                .await?;
        }
        if let Some(config) = &update.config {
            validate_config(&active.config_schema, config)?;
            plugin::Entity::update_many()
                .col_expr(plugin::Column::Config, Expr::value(config.clone()))
                .filter(plugin::Column::Id.eq(active.id))
                .exec(&tx)
                .await?;
        }
        if let Some(enabled) = update.enabled {
            plugin::Entity::update_many()
                .col_expr(plugin::Column::Enabled, Expr::value(enabled))
                .filter(plugin::Column::Name.eq(name))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        self.plugin_versions(name).await
    }

    /// Removes one version (`Some`) or every version of a plugin, with their run records. When the
    /// active version goes, the newest remaining one becomes active. Returns how many were removed.
    #[instrument(skip_all, fields(plugin = %name))]
    pub async fn remove_plugin(&self, name: &str, version: Option<&str>) -> Result<u64> {
        let name = lookup_name(name)?;
        let tx = self.begin_write().await?;
        let existing = fetch(&tx, versions().filter(plugin::Column::Name.eq(name))).await?;
        let doomed: Vec<&PluginVersion> = existing
            .iter()
            .filter(|v| version.is_none_or(|wanted| v.version == wanted.trim()))
            .collect();
        if doomed.is_empty() {
            return Err(match version {
                Some(version) => Error::not_found("plugin version", format!("{name} {version}")),
                None => Error::not_found("plugin", name),
            });
        }
        let ids: Vec<Uuid> = doomed.iter().map(|v| v.id).collect();
        // Explicit, not only by the foreign key: SQLite enforces cascades only with the pragma on.
        plugin_run::Entity::delete_many()
            .filter(plugin_run::Column::PluginId.is_in(ids.clone()))
            .exec(&tx)
            .await?;
        let removed = plugin::Entity::delete_many()
            .filter(plugin::Column::Id.is_in(ids.clone()))
            .exec(&tx)
            .await?
            .rows_affected;
        let lost_active = doomed.iter().any(|v| v.active);
        if lost_active
            && let Some(next) = existing
                .iter()
                .filter(|v| !ids.contains(&v.id))
                .max_by_key(|v| (v.created_at, v.id))
        {
            plugin::Entity::update_many()
                .col_expr(plugin::Column::Active, Expr::value(true))
                .filter(plugin::Column::Id.eq(next.id))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Records one plugin run.
    pub async fn record_plugin_run(&self, run: NewPluginRun) -> Result<PluginRun> {
        let version: Option<String> = plugin::Entity::find_by_id(run.plugin_id)
            .select_only()
            .column(plugin::Column::Version)
            .into_tuple()
            .one(self.db())
            .await?;
        let plugin_version = version.ok_or_else(|| Error::not_found("plugin", run.plugin_id))?;
        let message = run
            .message
            .as_deref()
            .map(|m| crate::detect::text::truncate(m, MAX_TEXT_BYTES).to_owned());
        let row = plugin_run::ActiveModel {
            id: Set(self.new_id()),
            plugin_id: Set(run.plugin_id),
            session_id: Set(run.session_id.map(|s| s.0)),
            step_id: Set(run.step_id.map(|s| s.0)),
            // What PostgreSQL keeps; SQLite would keep nanoseconds that the paging cursor drops.
            started_at: Set(crate::clock::truncate_to_micros(run.started_at)),
            duration_us: Set(run.duration_us.max(0)),
            outcome: Set(run.outcome.as_str().to_owned()),
            message: Set(message),
            produced: Set(i32::try_from(run.produced).unwrap_or(i32::MAX)),
        };
        let inserted = plugin_run::Entity::insert(row)
            .exec_with_returning(self.db())
            .await?;
        run_from_row(inserted, plugin_version)
    }

    /// The newest runs of every version of a plugin, newest first.
    pub async fn list_plugin_runs(
        &self,
        name: &str,
        page: &PageRequest,
    ) -> Result<Page<PluginRun>> {
        let versions = self.plugin_versions(name).await?;
        let query = plugin_run::Entity::find()
            .filter(plugin_run::Column::PluginId.is_in(versions.iter().map(|v| v.id)));
        let (rows, next_cursor) = newest_first(
            self.db(),
            query,
            (plugin_run::Column::StartedAt, plugin_run::Column::Id),
            page,
            |row| (row.started_at, row.id),
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let version = versions
                    .iter()
                    .find(|v| v.id == row.plugin_id)
                    .map(|v| v.version.clone())
                    .unwrap_or_default();
                run_from_row(row, version)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Keeps what a mining run found, in one transaction.
    pub async fn store_patterns(
        &self,
        project: ProjectId,
        found: &[FoundPattern],
    ) -> Result<Vec<StoredPattern>> {
        let now = self.now();
        let rows: Vec<pattern::Model> = found
            .iter()
            .map(|found| pattern::Model {
                id: self.new_id(),
                project_id: project.0,
                miner: crate::detect::text::truncate(&found.miner, MAX_LABEL_BYTES).to_owned(),
                miner_version: crate::detect::text::truncate(&found.miner_version, MAX_LABEL_BYTES)
                    .to_owned(),
                kind: crate::detect::text::truncate(&found.pattern.kind, MAX_LABEL_BYTES)
                    .to_owned(),
                title: crate::detect::text::truncate(&found.pattern.title, MAX_TEXT_BYTES)
                    .to_owned(),
                support: i32::try_from(found.pattern.support).unwrap_or(i32::MAX),
                score: if found.pattern.score.is_finite() {
                    found.pattern.score
                } else {
                    0.0
                },
                session_ids: serde_json::json!(
                    found
                        .pattern
                        .session_ids
                        .iter()
                        .map(|s| s.0.to_string())
                        .collect::<Vec<_>>()
                ),
                data: found.pattern.data.clone(),
                created_at: now,
            })
            .collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.begin_write().await?;
        for row in &rows {
            pattern::Entity::insert(pattern::ActiveModel::from(row.clone()))
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
        rows.into_iter().map(pattern_from_row).collect()
    }

    /// Stored patterns of a project, newest first, then strongest; at most the query's limit.
    pub async fn list_patterns(
        &self,
        project: ProjectId,
        query: &PatternListQuery,
    ) -> Result<Vec<StoredPattern>> {
        let limit = limit(query.limit, DEFAULT_RUN_LIMIT * 2)?;
        self.stored_patterns(project, query, Some(limit)).await
    }

    /// Every stored pattern the query's filters select, in the order of [`Lux::list_patterns`]:
    /// for a listing that merges them with others before it pages.
    pub async fn all_patterns(
        &self,
        project: ProjectId,
        query: &PatternListQuery,
    ) -> Result<Vec<StoredPattern>> {
        self.stored_patterns(project, query, None).await
    }

    async fn stored_patterns(
        &self,
        project: ProjectId,
        query: &PatternListQuery,
        limit: Option<u64>,
    ) -> Result<Vec<StoredPattern>> {
        let keys = [&query.miner, &query.kind];
        if keys
            .iter()
            .any(|key| key.as_deref().is_some_and(|key| !could_be_stored(key)))
        {
            return Ok(Vec::new());
        }
        let mut select = pattern::Entity::find().filter(pattern::Column::ProjectId.eq(project.0));
        if let Some(miner) = &query.miner {
            select = select.filter(pattern::Column::Miner.eq(miner.trim()));
        }
        if let Some(kind) = &query.kind {
            select = select.filter(pattern::Column::Kind.eq(kind.trim()));
        }
        select
            .order_by_desc(pattern::Column::CreatedAt)
            .order_by_desc(pattern::Column::Support)
            .order_by_desc(pattern::Column::Score)
            .order_by_asc(pattern::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(pattern_from_row)
            .collect()
    }
}

/// A caller-given plugin name as stored names are kept (trimmed). A name with NUL is never stored
/// (and PostgreSQL refuses it even in a query), so it is simply not found.
fn lookup_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if could_be_stored(name) {
        Ok(name)
    } else {
        Err(Error::not_found("plugin", name.escape_default()))
    }
}

fn truncate_text(text: &str) -> String {
    crate::detect::text::truncate(text.trim(), MAX_TEXT_BYTES).to_owned()
}

fn run_from_row(row: plugin_run::Model, plugin_version: String) -> Result<PluginRun> {
    Ok(PluginRun {
        id: row.id,
        plugin_id: row.plugin_id,
        plugin_version,
        session_id: row.session_id.map(SessionId),
        step_id: row.step_id.map(StepId),
        started_at: row.started_at,
        duration_us: row.duration_us,
        outcome: row.outcome.parse()?,
        message: row.message,
        produced: u32::try_from(row.produced).unwrap_or(0),
    })
}

fn pattern_from_row(row: pattern::Model) -> Result<StoredPattern> {
    let session_ids = serde_json::from_value::<Vec<Uuid>>(row.session_ids)
        .map_err(|error| Error::invalid("session_ids", error.to_string()))?
        .into_iter()
        .map(SessionId)
        .collect();
    Ok(StoredPattern {
        id: row.id,
        project_id: ProjectId(row.project_id),
        miner: row.miner,
        miner_version: row.miner_version,
        kind: row.kind,
        title: row.title,
        support: u32::try_from(row.support).unwrap_or(0),
        score: row.score,
        session_ids,
        data: row.data,
        created_at: row.created_at,
    })
}
