//! The one place REST errors are shaped: `lux_core::Error` and every poem error become
//! `{code, message, details, request_id}` with the right status.

use lux_core::Error;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// The body of every error answer.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ErrorBody {
    /// Stable machine-readable code: `invalid`, `not_found`, `conflict`, `unauthorized`, …
    pub(crate) code: String,
    /// What went wrong, for a human.
    pub(crate) message: String,
    /// More structure where there is some, e.g. `{"field": "confidence"}`.
    pub(crate) details: Option<serde_json::Value>,
    /// The id of the request, also in the `x-request-id` header; quote it when reporting a fault.
    pub(crate) request_id: Option<String>,
}

#[derive(Debug, ApiResponse)]
pub(crate) enum ApiError {
    /// The request is malformed or a field is invalid (`details.field` names it).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No valid API key was presented.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The API key's scope does not allow this operation.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The resource does not exist in this project.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request clashes with stored data (a duplicate number, an id used elsewhere).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is larger than the server accepts.
    // Built by the request middleware before any handler runs; listed here so the spec documents it.
    #[allow(dead_code)]
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    // Produced by body parsing before any handler runs; listed here so the spec documents it.
    #[allow(dead_code)]
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The text could not be parsed (e.g. no `update_synthesis(...)` in it).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many requests in flight; retry after the given seconds.
    // Built by the load-shedding layer; listed here so the spec documents it.
    #[allow(dead_code)]
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
    /// A fault in the server; the request id identifies it in the logs.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable, or analysis is too far behind to take more steps; retry
    /// after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn body(
    code: &str,
    message: impl Into<String>,
    details: Option<serde_json::Value>,
) -> Json<ErrorBody> {
    Json(ErrorBody {
        code: code.to_owned(),
        message: message.into(),
        details,
        request_id: None,
    })
}

impl ApiError {
    pub(crate) fn unauthorized(message: &str) -> Self {
        ApiError::Unauthorized(body("unauthorized", message, None))
    }

    pub(crate) fn forbidden(message: &str) -> Self {
        ApiError::Forbidden(body("forbidden", message, None))
    }

    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(body(
            "invalid",
            message,
            Some(serde_json::json!({"field": field})),
        ))
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(body("not_found", message, None))
    }

    /// Status, message and `Retry-After` seconds: for a door that renders errors its own way
    /// (the dashboard's HTML pages) while keeping this one mapping from core errors.
    pub(crate) fn parts(&self) -> (StatusCode, &str, Option<u32>) {
        let (status, body, retry_after) = match self {
            ApiError::BadRequest(body) => (StatusCode::BAD_REQUEST, body, None),
            ApiError::Unauthorized(body) => (StatusCode::UNAUTHORIZED, body, None),
            ApiError::Forbidden(body) => (StatusCode::FORBIDDEN, body, None),
            ApiError::NotFound(body) => (StatusCode::NOT_FOUND, body, None),
            ApiError::Conflict(body) => (StatusCode::CONFLICT, body, None),
            ApiError::PayloadTooLarge(body) => (StatusCode::PAYLOAD_TOO_LARGE, body, None),
            ApiError::UnsupportedMediaType(body) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, body, None)
            }
            ApiError::Unprocessable(body) => (StatusCode::UNPROCESSABLE_ENTITY, body, None),
            ApiError::TooManyRequests(body, seconds) => {
                (StatusCode::TOO_MANY_REQUESTS, body, Some(*seconds))
            }
            ApiError::Internal(body) => (StatusCode::INTERNAL_SERVER_ERROR, body, None),
            ApiError::Unavailable(body, seconds) => {
                (StatusCode::SERVICE_UNAVAILABLE, body, Some(*seconds))
            }
        };
        (status, body.message.as_str(), retry_after)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let details = error
            .field()
            .map(|field| serde_json::json!({"field": field}));
        match &error {
            Error::NotFound { .. } => ApiError::NotFound(body(error.code(), message, None)),
            Error::Invalid { .. } => ApiError::BadRequest(body(error.code(), message, details)),
            Error::Synthesis(_) => ApiError::Unprocessable(body(error.code(), message, details)),
            Error::Conflict { .. } => ApiError::Conflict(body(error.code(), message, None)),
            Error::Busy {
                retry_after_secs, ..
            } => ApiError::Unavailable(body(error.code(), message, None), *retry_after_secs),
            Error::Storage(db) if error.is_unavailable() => {
                tracing::warn!(error = %db, "database unavailable");
                ApiError::Unavailable(
                    body(
                        "unavailable",
                        "the database is unavailable; retry shortly",
                        None,
                    ),
                    5,
                )
            }
            Error::Storage(db) => {
                tracing::error!(error = %db, "storage fault");
                ApiError::Internal(body("internal", "an internal error occurred", None))
            }
            _ => {
                tracing::error!(error = %error, "unexpected error");
                ApiError::Internal(body("internal", "an internal error occurred", None))
            }
        }
    }
}

/// The code for an error answer that did not come from [`ApiError`] (routing, body parsing, limits).
pub(crate) fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal",
        _ => "error",
    }
}
