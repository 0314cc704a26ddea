//! The OTLP/HTTP trace receiver (`POST /v1/traces` on `lux serve`'s port, and on a second one such
//! as the exporters' default 4318 when asked): apps already instrumented with OpenTelemetry send
//! their GenAI spans to Lux as they would to any collector.
//! Protobuf or JSON, plain, gzip or deflate; the API key rules of REST; the spans written through
//! the batch path of `/api/v1/ingest`. Answers follow the OTLP specification: 200 with a partial
//! success counting the spans refused (never a 5xx for a bad span), 400 for a body that does not
//! decode, 503 with `Retry-After` when the database or the analysis queue cannot take more.

mod genai;

use std::collections::HashSet;
use std::io::Read;

use lux_core::services::api_keys::Scope;
use lux_core::services::ingest::{ItemResult, MAX_BATCH_ITEMS};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use poem::http::{HeaderMap, StatusCode, header};
use poem::web::Data;
use poem::{Body, EndpointExt, IntoResponse, Response, Route, handler, post};
use prost::Message;

use crate::rest::error::ApiError;
use crate::server::AppState;

use genai::Plan;

/// The largest request, before and after decompression (the specification's recommended default).
pub const MAX_OTLP_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Refusals listed in a partial success's message; the count covers them all.
const MAX_LISTED_REFUSALS: usize = 5;

/// Where OTLP exporters send traces (`OTEL_EXPORTER_OTLP_ENDPOINT` plus this).
pub const TRACES_PATH: &str = "/v1/traces";

/// The receiver as an endpoint, to serve on its own listener or beside the app.
pub fn app(state: AppState) -> impl poem::Endpoint {
    Route::new().at(TRACES_PATH, post(traces)).data(state)
}

/// How a request's body is encoded, and so how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// An answer other than success: an HTTP status and a `google.rpc.Status` body.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
    retry_after: Option<u32>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn from_api(error: &ApiError) -> Self {
        let (status, message, retry_after) = error.parts();
        Refusal {
            status,
            message: message.to_owned(),
            retry_after,
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP error (its `details` are not used).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[handler]
async fn traces(headers: &HeaderMap, body: Body, state: Data<&AppState>) -> Response {
    // Until the content type is known, refusals are in JSON, which every client can read.
    let encoding = match encoding_of(headers) {
        Ok(encoding) => encoding,
        Err(refusal) => return refused(refusal, Encoding::Json),
    };
    match receive(headers, body, &state, encoding).await {
        Ok(answer) => answered(&answer, encoding),
        Err(refusal) => refused(refusal, encoding),
    }
}

async fn receive(
    headers: &HeaderMap,
    body: Body,
    state: &AppState,
    encoding: Encoding,
) -> Result<ExportTraceServiceResponse, Refusal> {
    let Some(_permit) = state.try_admit() else {
        return Err(Refusal {
            retry_after: Some(1),
            ..Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in flight; retry shortly",
            )
        });
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let caller = state
        .policy
        .authorize_token(&state.lux, token, Scope::Ingest)
        .await
        .map_err(|error| Refusal::from_api(&error))?;
    let compressed =
        body.into_bytes_limit(MAX_OTLP_BODY_BYTES)
            .await
            .map_err(|error| match error {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                other => Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {other}"),
                ),
            })?;
    let bytes = decompressed(headers, &compressed)?;
    let request = decoded(&bytes, encoding)?;

    let plan = Plan::of(caller.project, &request);
    let parents = state
        .lux
        .sessions_of_steps(caller.project, &plan.parents_to_look_up())
        .await
        .map_err(|error| Refusal::from_api(&error.into()))?;
    let translation = plan.translate(&parents);
    let mut results: Vec<ItemResult> = Vec::with_capacity(translation.records.len());
    for chunk in translation.records.chunks(MAX_BATCH_ITEMS) {
        let written = state
            .lux
            .ingest(caller.project, chunk)
            .await
            .map_err(|error| Refusal::from_api(&error.into()))?;
        results.extend(written);
    }

    // A span is refused when any record made of it was; a refused session refuses its spans.
    let mut refused_spans: HashSet<usize> = HashSet::new();
    let mut messages: Vec<String> = plan.refused.clone();
    messages.extend(translation.refused.iter().cloned());
    for (result, origin) in results.iter().zip(&translation.origins) {
        if let ItemResult::Error { message, .. } = result {
            match origin {
                Some(span) => {
                    if refused_spans.insert(*span) {
                        messages.push(format!("span {}: {message}", translation.span_ids[*span]));
                    }
                }
                // Its spans fail with it (their session is not there), and are counted so.
                None => messages.push(format!("session: {message}")),
            }
        }
    }
    let rejected = plan.refused.len() + translation.refused.len() + refused_spans.len();
    let written = translation.span_ids.len() - refused_spans.len();
    tracing::info!(
        project = %caller.project,
        spans = written,
        rejected,
        skipped = plan.skipped,
        "OTLP traces received"
    );
    let mut message = messages
        .iter()
        .take(MAX_LISTED_REFUSALS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if messages.len() > MAX_LISTED_REFUSALS {
        message.push_str(&format!(
            "; and {} more",
            messages.len() - MAX_LISTED_REFUSALS
        ));
    }
    if plan.skipped > 0 {
        let note = format!(
            "{} span(s) without GenAI or OpenInference attributes were not kept",
            plan.skipped
        );
        message = if message.is_empty() {
            note
        } else {
            format!("{message}; {note}")
        };
    }
    Ok(if rejected == 0 && message.is_empty() {
        ExportTraceServiceResponse {
            partial_success: None,
        }
    } else {
        partial(rejected as i64, message)
    })
}

fn partial(rejected_spans: i64, error_message: String) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans,
            error_message,
        }),
    }
}

fn too_large() -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_OTLP_BODY_BYTES} bytes (after decompression too)"),
    )
}

/// The encoding a `Content-Type` names, parameters (`; charset=utf-8`) aside.
fn encoding_of(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {content_type:?} is not OTLP: send application/x-protobuf or application/json"
            ),
        )),
    }
}

/// The body with its `Content-Encoding` undone, never growing past the size limit.
fn decompressed(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match content_encoding.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        // HTTP's `deflate` is zlib-wrapped (RFC 9110), as Python's exporter sends it.
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        other => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?} is not supported: use gzip or deflate"),
            ));
        }
    };
    let mut out = Vec::new();
    reader
        .take(MAX_OTLP_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the {content_encoding} body does not decompress: {error}"),
            )
        })?;
    if out.len() > MAX_OTLP_BODY_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

fn decoded(bytes: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, Refusal> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes).map_err(|error| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not an OTLP ExportTraceServiceRequest: {error}"),
            )
        }),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|error| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not OTLP/JSON: {error}"),
            )
        }),
    }
}

fn answered(answer: &ExportTraceServiceResponse, encoding: Encoding) -> Response {
    match encoding {
        Encoding::Protobuf => Response::builder()
            .content_type("application/x-protobuf")
            .body(answer.encode_to_vec()),
        // OTLP/JSON: a full success is `{}`, and an int64 is a string (proto3's JSON mapping).
        Encoding::Json => {
            let body = match &answer.partial_success {
                None => serde_json::json!({}),
                Some(partial) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": partial.rejected_spans.to_string(),
                    "errorMessage": partial.error_message,
                }}),
            };
            Response::builder()
                .content_type("application/json")
                .body(body.to_string())
        }
    }
}

fn refused(refusal: Refusal, encoding: Encoding) -> Response {
    if refusal.status.is_server_error() {
        tracing::warn!(status = %refusal.status, message = %refusal.message, "OTLP request refused");
    }
    let status = RpcStatus {
        code: rpc_code(refusal.status),
        message: refusal.message,
    };
    let mut response = match encoding {
        Encoding::Protobuf => Response::builder()
            .status(refusal.status)
            .content_type("application/x-protobuf")
            .body(status.encode_to_vec()),
        Encoding::Json => Response::builder()
            .status(refusal.status)
            .content_type("application/json")
            .body(serde_json::json!({"code": status.code, "message": status.message}).to_string()),
    };
    if let Some(seconds) = refusal.retry_after
        && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response.into_response()
}

/// The gRPC code that goes with an HTTP status in a `google.rpc.Status`.
fn rpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                                    // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,                                        // PERMISSION_DENIED
        StatusCode::PAYLOAD_TOO_LARGE => 8,                                // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => 14, // UNAVAILABLE
        _ => 13,                                                           // INTERNAL
    }
}
