//! The one mapping of `lux_core::Error` and bad tool arguments to MCP tool errors (`isError: true`).

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde_json::json;

/// A tool call that failed in a way the calling model should read and can act on: the text names
/// the parameter to fix; `structuredContent` carries `{code, field, message}` for programs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolError {
    code: &'static str,
    field: Option<String>,
    message: String,
}

impl ToolError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ToolError {
            code: "invalid",
            field: Some(field.into()),
            message: reason.into(),
        }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ToolError {
            code: "forbidden",
            field: None,
            message: message.into(),
        }
    }

    /// Any other failure the caller can act on, under its own `code`.
    pub(crate) fn failed(code: &'static str, message: impl Into<String>) -> Self {
        ToolError {
            code,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.code == "not_found"
    }

    /// Core names its own fields (`content`, `revises_step`); a tool reports its parameter names.
    pub(crate) fn renamed(mut self, aliases: &[(&str, &str)]) -> Self {
        if let Some(field) = &self.field
            && let Some((_, to)) = aliases.iter().find(|(from, _)| from == field)
        {
            self.field = Some((*to).to_owned());
        }
        self
    }

    fn text(&self) -> String {
        match (&self.field, self.code) {
            (Some(field), _) => format!("Invalid argument `{field}`: {}", self.message),
            (None, "not_found") => format!("Not found: {}", self.message),
            (None, _) => format!("Error ({}): {}", self.code, self.message),
        }
    }

    /// The same failure as a JSON-RPC error, for requests that are not tool calls (resources).
    pub(crate) fn into_protocol_error(self) -> rmcp::ErrorData {
        let text = self.text();
        let data = Some(json!({
            "code": self.code,
            "field": self.field,
            "message": self.message,
        }));
        match self.code {
            "not_found" => rmcp::ErrorData::resource_not_found(text, data),
            "invalid" => rmcp::ErrorData::invalid_params(text, data),
            "forbidden" => rmcp::ErrorData::invalid_request(text, data),
            _ => rmcp::ErrorData::internal_error(text, data),
        }
    }

    pub(crate) fn into_result(self) -> CallToolResult {
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.text())]);
        result.structured_content = Some(json!({
            "code": self.code,
            "field": self.field,
            "message": self.message,
        }));
        result
    }
}

impl From<lux_core::Error> for ToolError {
    fn from(error: lux_core::Error) -> Self {
        let code = error.code();
        match error {
            lux_core::Error::Invalid { field, reason } => ToolError {
                code,
                field: Some(field),
                message: reason,
            },
            lux_core::Error::Synthesis(parse) => ToolError {
                code,
                field: Some("synthesis".to_owned()),
                message: parse.to_string(),
            },
            lux_core::Error::Conflict { reason } => ToolError {
                code,
                field: None,
                message: reason,
            },
            lux_core::Error::Busy { reason, .. } => ToolError {
                code,
                field: None,
                message: reason,
            },
            lux_core::Error::NotFound { entity, id } => ToolError {
                code,
                field: None,
                message: format!("{entity} {id}"),
            },
            lux_core::Error::Storage(db) => {
                // The log gets the details; the model gets something it can act on.
                tracing::error!(error = %db, "MCP tool call failed on the database");
                ToolError {
                    code,
                    field: None,
                    message: "the database is unavailable; nothing was stored, try again".into(),
                }
            }
            other => {
                tracing::error!(error = %other, "MCP tool call failed");
                ToolError {
                    code,
                    field: None,
                    message: "internal error".into(),
                }
            }
        }
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(self.into_result().into())
    }
}
