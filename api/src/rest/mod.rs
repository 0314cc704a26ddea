//! REST API v1: the OpenAPI service (spec at `/api/v1/openapi.json`, docs at `/docs`) and the
//! middleware every request passes: request id, body limit, and JSON errors.

mod admin;
pub(crate) mod analytics;
pub(crate) mod auth;
mod compare;
mod contract;
mod dto;
pub(crate) mod error;
mod export;
mod limit;
pub(crate) mod patterns;
pub(crate) mod plugins;
mod sessions;
pub(crate) mod stream;
mod text;

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use poem_openapi::{OpenApiService, Tags};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::instance::Instance;
use crate::metrics::METRICS;

pub use auth::AuthPolicy;
use error::{ErrorBody, code_for_status};

/// Largest request body accepted (10 MiB), as DESIGN.md sets.
pub(crate) const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Sessions and everything recorded in them.
    Sessions,
    /// Batch ingestion of mixed records.
    Ingest,
    /// The model price list that costs are computed from.
    Prices,
    /// Projects: tenants whose data never mixes.
    Projects,
    /// API keys.
    Keys,
    /// Live change stream.
    Live,
    /// Reports over a project's history: activity, cost, models, bias rates.
    Analytics,
    /// Full-text search over steps and syntheses.
    Search,
    /// Streamed CSV/JSON/JSONL exports and idempotent imports.
    Export,
    /// WASM plugins: install, configure and run detectors and miners.
    Plugins,
    /// Cross-session patterns: Lux's own, tested for significance, and those plugin miners stored.
    Patterns,
}

pub(crate) type ApiService = OpenApiService<
    (
        sessions::SessionsApi,
        admin::AdminApi,
        stream::StreamApi,
        compare::CompareApi,
        analytics::AnalyticsApi,
        export::ExportApi,
        plugins::PluginsApi,
        patterns::PatternsApi,
    ),
    (),
>;

pub(crate) fn api_service(instance: &Instance, policy: AuthPolicy) -> ApiService {
    let lux = instance.lux().clone();
    OpenApiService::new(
        (
            sessions::SessionsApi {
                lux: lux.clone(),
                policy: policy.clone(),
            },
            admin::AdminApi {
                lux: lux.clone(),
                policy: policy.clone(),
            },
            stream::StreamApi {
                lux: lux.clone(),
                policy: policy.clone(),
            },
            compare::CompareApi {
                lux: lux.clone(),
                policy: policy.clone(),
            },
            analytics::AnalyticsApi {
                lux: lux.clone(),
                policy: policy.clone(),
            },
            export::ExportApi {
                instance: instance.clone(),
                lux: lux.clone(),
                policy: policy.clone(),
            },
            plugins::PluginsApi {
                lux: lux.clone(),
                policy: policy.clone(),
                registry: instance.plugins().cloned(),
            },
            patterns::PatternsApi { lux, policy },
        ),
        "Lux API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Persistent memory for LLM reasoning: sessions, steps, synthesis versions, model calls \
         with exact cost, bias findings and monitor events. Errors are JSON \
         `{code, message, details, request_id}`. Authenticate with `Authorization: Bearer <key>`; \
         a server bound to loopback accepts keyless requests until the first key is created.",
    )
}

/// The spec, as served and committed in `docs/openapi.json`: poem-openapi's, made what client
/// generators accept (`contract.rs`). It depends on types only, not on a database.
pub fn spec_json() -> String {
    contract::polished(&api_service(&Instance::detached(), AuthPolicy::new(true)).spec())
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

fn json_error(status: StatusCode, code: &str, message: String, request_id: &str) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message,
        details: None,
        request_id: Some(request_id.to_owned()),
    };
    let value = serde_json::json!({
        "code": body.code,
        "message": body.message,
        "request_id": body.request_id,
    });
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .header("x-request-id", request_id)
        .body(value.to_string())
}

/// A 400 for a parameter that did not parse, naming it in `details.field` like a bad field.
fn invalid_parameter(
    parameter: &poem_openapi::error::ParseParamError,
    request_id: &str,
) -> Response {
    let value = serde_json::json!({
        "code": "invalid",
        "message": format!("invalid {}: {}", parameter.name, parameter.reason),
        "details": {"field": parameter.name},
        "request_id": request_id,
    });
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("application/json; charset=utf-8")
        .header("x-request-id", request_id)
        .body(value.to_string())
}

/// Every request: an id (taken from `x-request-id` or made), a body limit, a log line, and any
/// error turned into the JSON shape with the request id in it.
pub(crate) async fn around_request<E: Endpoint>(
    next: E,
    mut req: Request,
    in_flight: Arc<Semaphore>,
) -> poem::Result<Response> {
    let id = request_id(&req);
    // Beyond the in-flight limit, refuse at once rather than queue without bound.
    let Ok(_permit) = in_flight.try_acquire_owned() else {
        METRICS
            .shed
            .with_label_values(&[route_label(req.uri().path())])
            .inc();
        let mut response = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight; retry shortly".to_owned(),
            &id,
        );
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return Ok(response);
    };
    let _in_flight = InFlight::enter();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();

    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    // A plugin upload is a whole `.wasm` component, allowed up to the registry's own limit.
    let limit = if method == poem::http::Method::POST && path == "/api/v1/plugins" {
        lux_core::services::plugins::MAX_PLUGIN_BYTES
    } else {
        MAX_BODY_BYTES
    };
    if declared.is_some_and(|length| length > limit) {
        return Ok(too_large(&id, limit));
    }
    if declared.is_none() && !matches!(method, poem::http::Method::GET | poem::http::Method::HEAD) {
        // A chunked body has no length up front: read it with the limit applied.
        match req.take_body().into_bytes_limit(limit).await {
            Ok(bytes) => req.set_body(Body::from(bytes)),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large(&id, limit)),
            Err(error) => {
                return Ok(json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!("cannot read the body: {error}"),
                    &id,
                ));
            }
        }
    }

    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let result = next.call(req).instrument(span.clone()).await;
    let response = match result {
        Ok(response) => response.into_response(),
        // A query or path parameter that does not parse names itself, as a field would.
        Err(error) => match error.downcast_ref::<poem_openapi::error::ParseParamError>() {
            Some(parameter) => invalid_parameter(parameter, &id),
            None => error.into_response(),
        },
    };
    let operation = response
        .data::<poem_openapi::OperationId>()
        .map(|operation| operation.0)
        .unwrap_or_else(|| route_label(&path));
    // The dashboard's error pages are HTML for people; every other error becomes the JSON shape.
    let is_page = response
        .content_type()
        .is_some_and(|content_type| content_type.starts_with("text/html"));
    let mut response =
        if (response.status().is_client_error() || response.status().is_server_error()) && !is_page
        {
            into_json_error(response, &id).await
        } else {
            response
        };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    METRICS
        .requests
        .with_label_values(&[operation, method.as_str(), response.status().as_str()])
        .inc();
    METRICS
        .latency
        .with_label_values(&[operation])
        .observe(elapsed);
    let latency_ms = elapsed * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
    Ok(response)
}

/// A bounded label for requests that matched no API operation.
fn route_label(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/api/v1/openapi.json" => "openapi",
        path if path.starts_with("/docs") => "docs",
        _ => "unmatched",
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        METRICS.in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.dec();
    }
}

fn too_large(id: &str, limit: usize) -> Response {
    let value = serde_json::json!({
        "code": "payload_too_large",
        "message": format!("the body is larger than {limit} bytes"),
        "details": {"limit_bytes": limit},
        "request_id": id,
    });
    Response::builder()
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .content_type("application/json; charset=utf-8")
        .header("x-request-id", id)
        .body(value.to_string())
}

/// Keeps our own JSON errors (adding the request id) and rewrites anything else poem produced
/// (routing, parsing) into the same shape.
async fn into_json_error(response: Response, id: &str) -> Response {
    let status = response.status();
    let is_json = response
        .content_type()
        .is_some_and(|content_type| content_type.starts_with("application/json"));
    let retry_after = response.headers().get("retry-after").cloned();
    let text = response.into_body().into_string().await.unwrap_or_default();
    let mut rewritten = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(mut value) if is_json && value.get("code").is_some() => {
            value["request_id"] = serde_json::json!(id);
            Response::builder()
                .status(status)
                .content_type("application/json; charset=utf-8")
                .body(value.to_string())
        }
        _ => {
            let message = if status.is_server_error() {
                "an internal error occurred".to_owned()
            } else if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text.trim().to_owned()
            };
            json_error(status, code_for_status(status), message, id)
        }
    };
    if let Some(retry_after) = retry_after {
        rewritten.headers_mut().insert("retry-after", retry_after);
    }
    rewritten
}
