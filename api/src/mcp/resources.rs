//! Stored sessions as MCP resources (`lux://sessions/{id}`), so a host can attach a past session
//! to a conversation without a tool call.

use lux_core::services::api_keys::Scope;
use lux_core::{PageRequest, SessionFilter, SessionRef};
use rmcp::RoleServer;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;

use super::LuxMcp;
use super::error::ToolError;
use super::render::SessionDetail;

/// The scheme and path every session resource's URI starts with.
pub(crate) const SESSION_URI_PREFIX: &str = "lux://sessions/";
/// Sessions per `resources/list` page, newest first.
const LIST_PAGE: u32 = 100;

impl LuxMcp {
    pub(super) async fn session_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ToolError> {
        let caller = self.caller(context, Scope::Read)?;
        let page = PageRequest {
            limit: Some(LIST_PAGE),
            cursor: request.and_then(|request| request.cursor),
        };
        let page = self
            .lux
            .list_sessions(caller.project, &SessionFilter::default(), &page)
            .await
            .map_err(|error| ToolError::from(error).renamed(&[("cursor", "cursor")]))?;
        let resources = page
            .items
            .iter()
            .map(|session| {
                let name = session
                    .title
                    .clone()
                    .unwrap_or_else(|| session.id.to_string());
                Resource::new(format!("{SESSION_URI_PREFIX}{}", session.id), name)
                    .with_description(format!(
                        "{} session, {}, started {}",
                        session.tool,
                        session.status,
                        session.created_at.format("%Y-%m-%d %H:%M UTC")
                    ))
                    .with_mime_type("text/markdown")
            })
            .collect();
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = page.next_cursor;
        Ok(result)
    }

    pub(super) fn session_resource_templates() -> ListResourceTemplatesResult {
        ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{SESSION_URI_PREFIX}{{session_id}}"), "session")
                .with_title("Lux reasoning session")
                .with_description(
                    "A stored session by Lux id or by the session_id a client gave it: steps, \
                     latest synthesis, bias findings and monitor alerts, as Markdown and JSON.",
                )
                .with_mime_type("text/markdown"),
        ])
    }

    /// One session as two contents: the Markdown view and the same facts as JSON.
    pub(super) async fn read_session_resource(
        &self,
        request: &ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResult, ToolError> {
        let caller = self.caller(context, Scope::Read)?;
        let uri = request.uri.as_str();
        let name = uri
            .strip_prefix(SESSION_URI_PREFIX)
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| {
                ToolError::invalid(
                    "uri",
                    format!("expected {SESSION_URI_PREFIX}{{session_id}}"),
                )
            })?;
        let session = self.find_session(caller.project, name).await?;
        let reference = SessionRef::Id(session.id);
        let steps = self.lux.all_steps(caller.project, &reference).await?;
        let synthesis = self
            .lux
            .latest_synthesis(caller.project, &reference)
            .await?;
        let findings = self.lux.list_findings(caller.project, &reference).await?;
        let events = self
            .lux
            .list_monitor_events(caller.project, &reference)
            .await?;
        let detail = SessionDetail {
            session: &session,
            steps: &steps,
            synthesis: synthesis.as_ref(),
            findings: &findings,
            events: &events,
        };
        let json = serde_json::to_string_pretty(&detail.structured(&self.settings))
            .map_err(|error| ToolError::failed("internal", error.to_string()))?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(detail.markdown(&self.settings), uri)
                .with_mime_type("text/markdown"),
            ResourceContents::text(json, uri).with_mime_type("application/json"),
        ]))
    }
}
