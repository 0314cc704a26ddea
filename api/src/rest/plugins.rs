//! REST for the WASM plugin registry: install a component (`application/wasm`), list, show,
//! enable/configure/activate, remove, run on stored history, read run records (stored patterns are
//! listed with Lux's own by `GET /patterns`, `rest/patterns.rs`).
//! Plugins are installation-wide (admin scope changes them); runs and patterns belong to the
//! caller's project.

use chrono::{DateTime, Utc};
use lux_core::services::api_keys::Scope;
use lux_core::*;
use lux_plugins::registry::{PluginRegistry, RunSummary, RunTarget};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::error::{ApiError, ApiResult};
use super::limit::{Limit, asked};

pub(crate) struct PluginsApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
    pub(crate) registry: Option<PluginRegistry>,
}

impl PluginsApi {
    fn registry(&self) -> ApiResult<&PluginRegistry> {
        self.registry.as_ref().ok_or_else(|| {
            ApiError::from(Error::invalid(
                "plugin",
                "the plugin host could not start on this server; see its log",
            ))
        })
    }
}

/// A WebAssembly component built against `plugins/wit` (`lux:plugins`).
#[derive(Debug, ApiRequest)]
pub(crate) enum WasmBody {
    #[oai(content_type = "application/wasm")]
    Wasm(Binary<Vec<u8>>),
    /// The same bytes under the type client generators send.
    #[oai(content_type = "application/octet-stream")]
    Bytes(Binary<Vec<u8>>),
}

/// One installed version of a plugin.
#[derive(Debug, Clone, Object)]
pub(crate) struct PluginVersionDto {
    pub(crate) id: Uuid,
    pub(crate) version: String,
    pub(crate) description: String,
    /// The JSON Schema configuration is checked against.
    pub(crate) config_schema: serde_json::Value,
    pub(crate) config: serde_json::Value,
    /// Hex SHA-256 of the component.
    pub(crate) sha256: String,
    pub(crate) size_bytes: u64,
    pub(crate) active: bool,
    pub(crate) created_at: DateTime<Utc>,
}

/// A plugin: its versions and which one is active.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PluginDto {
    pub(crate) name: String,
    /// `detector` or `miner`.
    pub(crate) kind: String,
    /// Enabled detectors run on every step write.
    pub(crate) enabled: bool,
    pub(crate) active_version: Option<String>,
    /// Detector or miner name in findings and patterns (`plugin.<name>`).
    pub(crate) detector_name: String,
    /// Oldest first.
    pub(crate) versions: Vec<PluginVersionDto>,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct PluginList {
    pub(crate) items: Vec<PluginDto>,
}

/// An install: the plugin as stored and whether this request added the version.
#[derive(Debug, Clone, Object)]
pub(crate) struct InstalledDto {
    /// False when the same bytes were already installed under this name and version.
    pub(crate) created: bool,
    pub(crate) version: PluginVersionDto,
    pub(crate) plugin: PluginDto,
}

#[derive(Debug, ApiResponse)]
pub(crate) enum InstallResponse {
    /// A new version was installed (and made the active one).
    #[oai(status = 201)]
    Created(Json<InstalledDto>),
    /// These bytes were already installed; nothing changed.
    #[oai(status = 200)]
    Existing(Json<InstalledDto>),
}

/// Changes to a plugin; absent fields are left alone.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct PluginPatch {
    pub(crate) enabled: Option<bool>,
    /// An installed version to make active.
    pub(crate) active_version: Option<String>,
    /// The active version's configuration, checked against its schema.
    pub(crate) config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct RemovedDto {
    pub(crate) removed: u64,
}

/// What to run a plugin on: one session (`session_id` or `external_id`), or `all` sessions
/// matching the filters (detectors and miners alike).
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub(crate) struct RunRequest {
    pub(crate) session_id: Option<Uuid>,
    pub(crate) external_id: Option<String>,
    pub(crate) all: Option<bool>,
    pub(crate) tool: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    /// The newest this many matching sessions (default 500).
    pub(crate) sessions: Option<u32>,
}

/// What a run did.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RunSummaryDto {
    pub(crate) plugin: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    /// `ok`, `timeout`, `memory`, `trap`, `output_too_large`, `invalid_output` or `failed`.
    pub(crate) outcome: String,
    pub(crate) message: Option<String>,
    pub(crate) sessions: u32,
    pub(crate) steps: u32,
    pub(crate) findings: u32,
    pub(crate) patterns: u32,
    pub(crate) failures: u32,
    pub(crate) duration_us: i64,
}

impl From<RunSummary> for RunSummaryDto {
    fn from(run: RunSummary) -> Self {
        RunSummaryDto {
            plugin: run.plugin,
            version: run.version,
            kind: run.kind.to_string(),
            outcome: run.outcome.to_string(),
            message: run.message,
            sessions: run.sessions,
            steps: run.steps,
            findings: run.findings,
            patterns: run.patterns,
            failures: run.failures,
            duration_us: run.duration_us,
        }
    }
}

/// One recorded run: a failed call on a step write, or an explicit run over a session or a set.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PluginRunDto {
    pub(crate) id: Uuid,
    pub(crate) plugin_id: Uuid,
    pub(crate) version: String,
    pub(crate) session_id: Option<Uuid>,
    pub(crate) step_id: Option<Uuid>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) duration_us: i64,
    pub(crate) outcome: String,
    pub(crate) message: Option<String>,
    /// Findings or patterns produced.
    pub(crate) produced: u32,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct PluginRunList {
    pub(crate) items: Vec<PluginRunDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub(crate) next_cursor: Option<String>,
}

/// A stored cross-session pattern.
fn version_dto(version: &PluginVersion) -> PluginVersionDto {
    PluginVersionDto {
        id: version.id,
        version: version.version.clone(),
        description: version.description.clone(),
        config_schema: version.config_schema.clone(),
        config: version.config.clone(),
        sha256: version.sha256.clone(),
        size_bytes: version.size_bytes,
        active: version.active,
        created_at: version.created_at,
    }
}

/// Groups versions (ordered by name) into plugins.
fn plugin_dtos(versions: &[PluginVersion]) -> Vec<PluginDto> {
    let mut out: Vec<PluginDto> = Vec::new();
    for version in versions {
        let same = out.last().is_some_and(|last| last.name == version.name);
        if !same {
            out.push(PluginDto {
                name: version.name.clone(),
                kind: version.kind.to_string(),
                enabled: false,
                active_version: None,
                detector_name: lux_plugins::finding_source(&version.name),
                versions: Vec::new(),
            });
        }
        if let Some(plugin) = out.last_mut() {
            plugin.enabled |= version.enabled;
            if version.active {
                plugin.active_version = Some(version.version.clone());
                plugin.kind = version.kind.to_string();
            }
            plugin.versions.push(version_dto(version));
        }
    }
    out
}

fn one_plugin(versions: &[PluginVersion], name: &str) -> ApiResult<PluginDto> {
    plugin_dtos(versions)
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::from(Error::not_found("plugin", name)))
}

fn run_target(body: RunRequest) -> Result<RunTarget> {
    let one = match (body.session_id, body.external_id) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "session_id",
                "give session_id or external_id, not both",
            ));
        }
        (Some(id), None) => Some(SessionRef::Id(SessionId(id))),
        (None, Some(external)) => Some(SessionRef::ExternalId(external)),
        (None, None) => None,
    };
    let all = body.all.unwrap_or(false);
    let filtered = body.tool.is_some()
        || body.model.is_some()
        || body.tag.is_some()
        || body.since.is_some()
        || body.until.is_some()
        || body.sessions.is_some();
    match (one, all) {
        (Some(_), true) => Err(Error::invalid(
            "all",
            "give either one session (session_id or external_id) or all: true, not both",
        )),
        (Some(_), false) if filtered => Err(Error::invalid(
            "session_id",
            "filters (tool, model, tag, since, until, sessions) apply only with all: true",
        )),
        (Some(reference), false) => Ok(RunTarget::Session(reference)),
        (None, true) => Ok(RunTarget::All {
            filter: SessionFilter {
                tool: body.tool,
                model: body.model,
                tag: body.tag,
                since: body.since,
                until: body.until,
                ..SessionFilter::default()
            },
            sessions: body.sessions,
        }),
        (None, false) => Err(Error::invalid(
            "session_id",
            "name a session (session_id or external_id) or set all: true",
        )),
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl PluginsApi {
    /// Install a plugin
    ///
    /// The body is a WebAssembly component built against the `lux:plugins` WIT contract, sent as
    /// `application/octet-stream` (`application/wasm` is accepted too). It is
    /// loaded and its `metadata()` read before anything is stored: a component that is invalid,
    /// of another world or built for an incompatible contract version is refused with the
    /// loader's message. A new version becomes the active one and keeps the plugin's enabled
    /// flag. The same bytes again change nothing (200); other bytes under an installed name and
    /// version are a conflict (409).
    #[oai(
        path = "/plugins",
        method = "post",
        operation_id = "installPlugin",
        tag = "ApiTags::Plugins"
    )]
    async fn install(&self, auth: Auth, body: WasmBody) -> ApiResult<InstallResponse> {
        self.policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let (WasmBody::Wasm(Binary(bytes)) | WasmBody::Bytes(Binary(bytes))) = body;
        let installed = self.registry()?.install(&bytes).await?;
        let versions = self.lux.plugin_versions(&installed.plugin.name).await?;
        let dto = InstalledDto {
            created: installed.created,
            version: version_dto(&installed.plugin),
            plugin: one_plugin(&versions, &installed.plugin.name)?,
        };
        Ok(if installed.created {
            InstallResponse::Created(Json(dto))
        } else {
            InstallResponse::Existing(Json(dto))
        })
    }

    /// List plugins
    ///
    /// Every installed plugin with its versions, by name.
    #[oai(
        path = "/plugins",
        method = "get",
        operation_id = "listPlugins",
        tag = "ApiTags::Plugins"
    )]
    async fn list(&self, auth: Auth) -> ApiResult<Json<PluginList>> {
        self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let versions = self.lux.list_plugins().await?;
        Ok(Json(PluginList {
            items: plugin_dtos(&versions),
        }))
    }

    /// Show a plugin
    #[oai(
        path = "/plugins/:name",
        method = "get",
        operation_id = "getPlugin",
        tag = "ApiTags::Plugins"
    )]
    async fn show(&self, auth: Auth, name: Path<String>) -> ApiResult<Json<PluginDto>> {
        self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let versions = self.lux.plugin_versions(&name.0).await?;
        Ok(Json(one_plugin(&versions, &name.0)?))
    }

    /// Change a plugin
    ///
    /// Enable or disable it (all versions), make an installed version active, and/or replace
    /// the active version's configuration, which must satisfy its JSON Schema. Enabled
    /// detectors run on every step write from the next request on.
    #[oai(
        path = "/plugins/:name",
        method = "patch",
        operation_id = "updatePlugin",
        tag = "ApiTags::Plugins"
    )]
    async fn update(
        &self,
        auth: Auth,
        name: Path<String>,
        body: Json<PluginPatch>,
    ) -> ApiResult<Json<PluginDto>> {
        self.policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let update = PluginUpdate {
            enabled: body.0.enabled,
            active_version: body.0.active_version,
            config: body.0.config,
        };
        let versions = self.registry()?.update(&name.0, &update).await?;
        Ok(Json(one_plugin(&versions, &name.0)?))
    }

    /// Remove a plugin
    ///
    /// Every version, or only `version`, with their run records. Findings and patterns it
    /// produced stay.
    #[oai(
        path = "/plugins/:name",
        method = "delete",
        operation_id = "removePlugin",
        tag = "ApiTags::Plugins"
    )]
    async fn remove(
        &self,
        auth: Auth,
        name: Path<String>,
        version: Query<Option<String>>,
    ) -> ApiResult<Json<RemovedDto>> {
        self.policy
            .authorize(&self.lux, &auth, Scope::Admin)
            .await?;
        let removed = self
            .registry()?
            .remove(&name.0, version.0.as_deref())
            .await?;
        Ok(Json(RemovedDto { removed }))
    }

    /// Run a plugin on stored data
    ///
    /// A detector over the steps of one session or of all sessions matching the filters
    /// (replacing what the same version found there before); a miner over the digests of the
    /// matching sessions, its patterns stored. A plugin that fails or times out is not an
    /// error: `outcome` says how it ended, and the run is in `GET /plugins/{name}/runs`.
    #[oai(
        path = "/plugins/:name/run",
        method = "post",
        operation_id = "runPlugin",
        tag = "ApiTags::Plugins"
    )]
    async fn run(
        &self,
        auth: Auth,
        name: Path<String>,
        body: Json<RunRequest>,
    ) -> ApiResult<Json<RunSummaryDto>> {
        let caller = self
            .policy
            .authorize(&self.lux, &auth, Scope::Ingest)
            .await?;
        let target = run_target(body.0)?;
        let summary = self
            .registry()?
            .run(caller.project, &name.0, target)
            .await?;
        Ok(Json(summary.into()))
    }

    /// List a plugin's runs
    ///
    /// Newest first: explicit runs, and failed calls on step writes.
    #[oai(
        path = "/plugins/:name/runs",
        method = "get",
        operation_id = "listPluginRuns",
        tag = "ApiTags::Plugins"
    )]
    async fn runs(
        &self,
        auth: Auth,
        name: Path<String>,
        /// 1 to 1000, default 50.
        limit: Query<Option<Limit<{ lux_core::services::plugins::MAX_LIST_LIMIT }>>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<PluginRunList>> {
        self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let page = PageRequest {
            limit: asked(limit.0),
            cursor: cursor.0,
        };
        let runs = self.lux.list_plugin_runs(&name.0, &page).await?;
        Ok(Json(PluginRunList {
            next_cursor: runs.next_cursor,
            items: runs
                .items
                .into_iter()
                .map(|run| PluginRunDto {
                    id: run.id,
                    plugin_id: run.plugin_id,
                    version: run.plugin_version,
                    session_id: run.session_id.map(|s| s.0),
                    step_id: run.step_id.map(|s| s.0),
                    started_at: run.started_at,
                    duration_us: run.duration_us,
                    outcome: run.outcome.to_string(),
                    message: run.message,
                    produced: run.produced,
                })
                .collect(),
        }))
    }
}
