//! The MCP server (rmcp): Lux's reasoning and data tools over stdio (`lux mcp`) and streamable
//! HTTP (`/mcp` on `lux serve`), every call persisted through the same `lux_core` services as REST.
//!
//! **Invariant:** no session state lives in this process. A tool finds its session in the database
//! (by Lux id or the caller's `session_id`, stored as the session's external id), so a session
//! survives a restart and can move between processes.

mod args;
mod biased;
mod data_tools;
mod error;
mod llm_tools;
mod planner;
mod render;
mod resources;
mod tools;

use std::sync::Arc;

use lux_core::llm::LlmConfig;
use lux_core::services::api_keys::Scope;
use lux_core::{Lux, NewSession, ProjectId, Session, SessionRef};
use poem::endpoint::TowerCompatExt;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt, tool_handler};

use crate::rest::AuthPolicy;
use error::ToolError;

/// Where the dashboard is, for the session links in every reply.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:7700";

/// Who a tool call acts for: one project, one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct McpCaller {
    pub(crate) project: ProjectId,
    pub(crate) scope: Scope,
}

/// How a server learns its caller.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// stdio: the local user, acting on the default project.
    Local(McpCaller),
    /// HTTP: each request carries the caller the `/mcp` middleware authorised.
    PerRequest,
}

/// Process-wide facts the tools report: the dashboard base URL and the LLM configuration.
#[derive(Debug, Clone)]
pub(crate) struct McpSettings {
    pub(crate) public_url: String,
    /// `(base_url, model)` of the configured OpenAI-compatible endpoint; never the key.
    pub(crate) llm: Option<(String, String)>,
    /// The whole LLM configuration (`Debug` hides the key), for the LLM-backed tools.
    pub(crate) llm_config: Option<LlmConfig>,
    /// How long a tool whose reply shows a step's findings waits for the step's analysis
    /// (`LUX_MCP_ANALYSIS_WAIT_MS`); past it the reply says the analysis is still running.
    pub(crate) analysis_wait: std::time::Duration,
}

/// The default of [`McpSettings::analysis_wait`].
const DEFAULT_ANALYSIS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl McpSettings {
    pub(crate) fn from_env() -> Self {
        let public_url = std::env::var("LUX_PUBLIC_URL")
            .ok()
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_owned());
        let llm_config = LlmConfig::from_env();
        let llm = llm_config
            .as_ref()
            .map(|config| (config.base_url.clone(), config.model.clone()));
        let analysis_wait = std::env::var("LUX_MCP_ANALYSIS_WAIT_MS")
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map_or(DEFAULT_ANALYSIS_WAIT, std::time::Duration::from_millis);
        McpSettings {
            public_url,
            llm,
            llm_config,
            analysis_wait,
        }
    }

    pub(crate) fn session_url(&self, session: &Session) -> String {
        self.session_id_url(session.id)
    }

    pub(crate) fn session_id_url(&self, session: lux_core::SessionId) -> String {
        format!("{}/sessions/{}", self.public_url, session)
    }
}

/// The MCP server: one per stdio connection, one per HTTP request (stateless).
#[derive(Clone)]
pub struct LuxMcp {
    lux: Lux,
    settings: Arc<McpSettings>,
    access: Access,
    tool_router: ToolRouter<LuxMcp>,
}

impl LuxMcp {
    fn new(lux: Lux, settings: Arc<McpSettings>, access: Access) -> Self {
        LuxMcp {
            lux,
            settings,
            access,
            tool_router: Self::all_tools(),
        }
    }

    /// Every tool: the host-reasons and data tools, then the LLM-backed ones.
    pub(crate) fn all_tools() -> ToolRouter<LuxMcp> {
        Self::tool_router()
            + Self::llm_tool_router()
            + Self::biased_tool_router()
            + Self::planner_tool_router()
            + Self::data_tool_router()
    }

    /// Whether the caller is the local user (stdio), who may name files on this machine.
    pub(crate) fn is_local(&self) -> bool {
        matches!(self.access, Access::Local(_))
    }

    /// The caller of this request, if allowed `needed`.
    fn caller(
        &self,
        context: &RequestContext<RoleServer>,
        needed: Scope,
    ) -> Result<McpCaller, ToolError> {
        let caller = match self.access {
            Access::Local(caller) => Some(caller),
            Access::PerRequest => context
                .extensions
                .get::<poem::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<McpCaller>())
                .copied(),
        };
        let caller = caller.ok_or_else(|| ToolError::forbidden("the request is not authorised"))?;
        if !caller.scope.allows(needed) {
            return Err(ToolError::forbidden(format!(
                "this key has scope `{}`; the tool needs `{needed}`",
                caller.scope
            )));
        }
        Ok(caller)
    }

    /// A session named by the caller: a Lux session id, or the caller's own id (stored as the
    /// session's external id, created on first use). `None` when the caller named nothing.
    async fn named_session(
        &self,
        project: ProjectId,
        session_id: Option<&str>,
        new: NewSession,
    ) -> Result<Option<(Session, bool)>, ToolError> {
        let Some(name) = session_id.map(str::trim).filter(|name| !name.is_empty()) else {
            return Ok(None);
        };
        if let Ok(id) = name.parse::<lux_core::SessionId>() {
            match self.lux.get_session(project, &SessionRef::Id(id)).await {
                Ok(session) => return Ok(Some((session, false))),
                Err(lux_core::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        // Continuing is the common case: a read finds the session without taking the write lock.
        match self
            .lux
            .get_session(project, &SessionRef::ExternalId(name.to_owned()))
            .await
        {
            Ok(session) => return Ok(Some((session, false))),
            Err(lux_core::Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let new = NewSession {
            external_id: Some(name.to_owned()),
            ..new
        };
        let written = self
            .lux
            .create_session(project, new)
            .await
            .map_err(|error| ToolError::from(error).renamed(&[("external_id", "session_id")]))?;
        let created = written.outcome == lux_core::WriteOutcome::Created;
        Ok(Some((written.value, created)))
    }

    async fn new_session(&self, project: ProjectId, new: NewSession) -> Result<Session, ToolError> {
        Ok(self.lux.create_session(project, new).await?.value)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for LuxMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("lux", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Lux: metacognitive reasoning tools whose every step is stored. Pass the \
                 `session_id` from a reply to continue a session; each reply links to the \
                 session in the Lux dashboard. Stored sessions are also resources: \
                 `lux://sessions/{session_id}`.",
        )
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, rmcp::ErrorData> {
        self.session_resources(request, &context)
            .await
            .map_err(ToolError::into_protocol_error)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, rmcp::ErrorData> {
        Ok(Self::session_resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, rmcp::ErrorData> {
        self.read_session_resource(&request, &context)
            .await
            .map(ReadResourceResponse::from)
            .map_err(ToolError::into_protocol_error)
    }
}

/// The tool list as served (names, descriptions, input schemas), as committed in `docs/mcp-tools.json`.
pub fn tools_json() -> String {
    let tools = LuxMcp::all_tools().list_all();
    let value = serde_json::to_value(&tools).unwrap_or_default();
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// `lux mcp`: serves one MCP client on stdin/stdout until it hangs up. Nothing else may write
/// to stdout; logs go to stderr.
pub(crate) async fn serve_stdio(lux: Lux) -> anyhow::Result<()> {
    let caller = McpCaller {
        project: lux.default_project(),
        scope: Scope::Admin,
    };
    let server = LuxMcp::new(
        lux,
        Arc::new(McpSettings::from_env()),
        Access::Local(caller),
    );
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| anyhow::anyhow!("MCP handshake failed: {error}"))?;
    running
        .waiting()
        .await
        .map_err(|error| anyhow::anyhow!("MCP server stopped: {error}"))?;
    Ok(())
}

/// `/mcp`: streamable HTTP, stateless (every request is served from the database alone, so any
/// number of `lux serve` processes can share the load), behind the same auth rules as REST.
pub(crate) fn http_endpoint(lux: Lux, policy: AuthPolicy) -> impl Endpoint {
    let settings = Arc::new(McpSettings::from_env());
    let factory_lux = lux.clone();
    let mut config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    config.legacy_session_mode = false;
    config.json_response = true;
    config.sse_keep_alive = None;
    let service = StreamableHttpService::new(
        move || {
            Ok(LuxMcp::new(
                factory_lux.clone(),
                settings.clone(),
                Access::PerRequest,
            ))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    service
        .compat()
        .around(move |endpoint, request| authorize(endpoint, request, lux.clone(), policy.clone()))
}

/// REST's rules: a bearer key, or keyless on a fresh loopback server. Keyless requests must also
/// name a loopback host, so a web page cannot reach a local Lux by DNS rebinding.
async fn authorize<E: Endpoint>(
    endpoint: E,
    mut request: Request,
    lux: Lux,
    policy: AuthPolicy,
) -> poem::Result<Response> {
    // A malformed header is sent on as a key that cannot verify: 401, like REST.
    let token = request
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .map(|value| {
            let value = value.to_str().unwrap_or_default().trim();
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => "",
            }
        });
    let caller = match policy.authorize_token(&lux, token, Scope::Read).await {
        Ok(caller) => caller,
        Err(error) => return Ok(error.into_response()),
    };
    if caller.anonymous && !loopback_host(&request) {
        return Err(poem::Error::from_string(
            "keyless MCP requests must use a loopback host (localhost, 127.0.0.1, [::1])",
            StatusCode::FORBIDDEN,
        ));
    }
    request.extensions_mut().insert(McpCaller {
        project: caller.project,
        scope: caller.scope,
    });
    Ok(endpoint.call(request).await?.into_response())
}

fn loopback_host(request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .get(poem::http::header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return true; // HTTP/1.0 or a direct call: no name to rebind.
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
