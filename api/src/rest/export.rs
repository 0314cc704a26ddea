//! `/export/{dataset}` and `/import`: streamed CSV/JSON/JSONL downloads and idempotent imports of
//! Lux's own exports, over `lux_core`'s export cursor and importer.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use lux_core::services::api_keys::Scope;
use lux_core::services::export::{ExportCursor, ExportEncoder};
use lux_core::*;
use lux_plugins::registry::RunSummary;
use poem::{Body, IntoResponse, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::error::ApiResult;
use super::plugins::RunSummaryDto;
use crate::instance::Instance;

pub(crate) struct ExportApi {
    pub(crate) instance: Instance,
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

/// The type of a download asked for as plain bytes (`Accept: application/octet-stream`).
const OCTET_STREAM: &str = "application/octet-stream";

/// The download's type: the format's own, unless the client accepts only plain bytes.
fn download_type(format: ExportFormat, request: &poem::Request) -> &'static str {
    let accept = request
        .headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("*/*");
    let own = format.content_type();
    let own_media_type = own.split(';').next().unwrap_or(own);
    if accept.contains(OCTET_STREAM) && !accept.contains(own_media_type) && !accept.contains("*/*")
    {
        OCTET_STREAM
    } else {
        own
    }
}

/// A streamed file: the body is produced chunk by chunk while it is sent.
pub(crate) struct Download {
    body: Body,
    content_type: &'static str,
    filename: String,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(self.content_type)
            .header(
                "content-disposition",
                format!("attachment; filename=\"{}\"", self.filename),
            )
            .body(self.body)
    }
}

impl ApiResponse for Download {
    fn meta() -> MetaResponses {
        let file = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The file, streamed: a CSV with a header row, one JSON array, or one \
                              JSON object per line.",
                status: Some(200),
                status_range: None,
                // Bytes first: generators read the body as a file only under this type.
                content: std::iter::once(OCTET_STREAM)
                    .chain(ExportFormat::ALL.iter().map(|format| format.content_type()))
                    .map(|content_type| MetaMediaType {
                        content_type,
                        schema: file(),
                    })
                    .collect(),
                headers: vec![MetaHeader {
                    name: "content-disposition".to_owned(),
                    description: Some(
                        "`attachment; filename=\"lux-<dataset>.<format>\"`".to_owned(),
                    ),
                    required: true,
                    deprecated: false,
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                }],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// An export file to import.
#[derive(Debug, ApiRequest)]
pub(crate) enum ImportBody {
    /// A JSON export: one array of records.
    #[oai(content_type = "application/json")]
    Json(Binary<Body>),
    /// A JSONL export: one record per line.
    #[oai(content_type = "application/x-ndjson")]
    Jsonl(Binary<Body>),
    /// Either, as bytes (what client generators send); the format is told from the content.
    #[oai(content_type = "application/octet-stream")]
    Bytes(Binary<Body>),
}

/// What an import did with one kind of record.
#[derive(Debug, Clone, Object)]
pub(crate) struct ImportKindDto {
    /// `price`, `session`, `step`, `synthesis_version`, `insight`, `action_item`, `model_call`,
    /// `finding` or `monitor_event`.
    pub(crate) kind: String,
    pub(crate) created: u64,
    pub(crate) already_present: u64,
    pub(crate) failed: u64,
}

/// Why one line was not applied.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ImportLineErrorDto {
    /// 1-based line of the file where the record starts.
    pub(crate) line: u64,
    /// The record's kind, when it could be read.
    pub(crate) kind: Option<String>,
    /// `invalid`, `not_found`, `conflict`, …
    pub(crate) code: String,
    pub(crate) message: String,
}

/// The result of an import. Records already stored with the same values count as
/// `already_present`, so importing a file twice changes nothing.
#[derive(Debug, Clone, Object)]
pub(crate) struct ImportReportDto {
    pub(crate) created: u64,
    pub(crate) already_present: u64,
    /// Lines not applied; each of the first 1000 is listed in `errors`.
    pub(crate) failed: u64,
    pub(crate) kinds: Vec<ImportKindDto>,
    pub(crate) errors: Vec<ImportLineErrorDto>,
    /// The enabled plugin detectors that then judged the imported steps, one run each (a
    /// plugin whose findings of the same version came with the file does not run again).
    pub(crate) plugin_runs: Vec<RunSummaryDto>,
}

impl ImportReportDto {
    fn new(report: ImportReport, plugin_runs: Vec<RunSummary>) -> Self {
        ImportReportDto {
            created: report.created,
            already_present: report.already_present,
            failed: report.failed,
            kinds: report
                .kinds
                .into_iter()
                .map(|(kind, counts)| ImportKindDto {
                    kind,
                    created: counts.created,
                    already_present: counts.already_present,
                    failed: counts.failed,
                })
                .collect(),
            errors: report
                .errors
                .into_iter()
                .map(|error| ImportLineErrorDto {
                    line: error.line,
                    kind: error.kind,
                    code: error.code,
                    message: error.message,
                })
                .collect(),
            plugin_runs: plugin_runs.into_iter().map(RunSummaryDto::from).collect(),
        }
    }
}

enum Phase {
    Start,
    Rows,
    Done,
}

/// The encoded file as a byte stream: read a chunk, encode it, send it, repeat.
fn stream_body(cursor: ExportCursor, encoder: ExportEncoder) -> Body {
    let stream = futures::stream::unfold(
        (cursor, encoder, Phase::Start),
        |(mut cursor, mut encoder, phase)| async move {
            match phase {
                Phase::Start => {
                    let head = encoder.start();
                    Some((Ok(head), (cursor, encoder, Phase::Rows)))
                }
                Phase::Rows => {
                    let next = match cursor.next_chunk().await {
                        Ok(Some(chunk)) => encoder.encode(&chunk).map(|bytes| (bytes, Phase::Rows)),
                        Ok(None) => Ok((encoder.finish(), Phase::Done)),
                        Err(error) => Err(error),
                    };
                    match next {
                        Ok((bytes, phase)) => Some((Ok(bytes), (cursor, encoder, phase))),
                        Err(error) => {
                            // The status line is sent already: cutting the body short is the signal.
                            tracing::error!(error = %error, "export failed mid-stream");
                            Some((
                                Err(std::io::Error::other(error.to_string())),
                                (cursor, encoder, Phase::Done),
                            ))
                        }
                    }
                }
                Phase::Done => None,
            }
        },
    );
    Body::from_bytes_stream(stream.boxed())
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Export")]
impl ExportApi {
    /// Export a dataset
    ///
    /// Streams every record of the selected sessions as `csv` (header row, RFC 4180 quoting,
    /// nested values as JSON text), `json` (one array) or `jsonl` (one object per line). Datasets:
    /// `all` (every record kind in dependency order, JSON or JSONL only — the full-fidelity form
    /// that `POST /import` takes back), `sessions`, `steps`, `model_calls`, `synthesis_versions`,
    /// `insights`, `action_items`, `findings`, `monitor_events`. The filters select sessions as the
    /// session list does (`since`/`until` bound the session's creation time); records are ordered
    /// by id.
    ///
    /// The analytics reports export as flat tables with every group: `analytics_overview` (one
    /// row per day), `analytics_costs`, `analytics_models`, `analytics_bias_rates`,
    /// `analytics_monitor`, `analytics_recommendations`; money in integer nano-USD. For these,
    /// `since`/`until`, `tool`, `model` and `user_id` filter as on `/analytics` (each record by
    /// its own time), `group_by` groups costs, bias rates and monitor alerts as there, and the
    /// session-only filters (`session_id`, `status`, `tag`, `external_id`) are refused. The body's
    /// type is the format's, or `application/octet-stream` for a client that accepts only that.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/export/:dataset",
        method = "get",
        operation_id = "exportDataset"
    )]
    async fn export(
        &self,
        request: &poem::Request,
        auth: Auth,
        /// `all`, `sessions`, `steps`, `model_calls`, `synthesis_versions`, `insights`,
        /// `action_items`, `findings`, `monitor_events`, or an analytics table:
        /// `analytics_overview`, `analytics_costs`, `analytics_models`, `analytics_bias_rates`,
        /// `analytics_monitor`, `analytics_recommendations`.
        dataset: Path<String>,
        /// `csv`, `json` (default) or `jsonl`.
        format: Query<Option<String>>,
        /// Only this session.
        session_id: Query<Option<Uuid>>,
        /// `active`, `completed`, `failed` or `abandoned`.
        status: Query<Option<String>>,
        tool: Query<Option<String>>,
        /// The session's main model or the model of any of its calls.
        model: Query<Option<String>>,
        user_id: Query<Option<String>>,
        tag: Query<Option<String>>,
        external_id: Query<Option<String>>,
        /// Sessions created at or after (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Sessions created before (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// Analytics tables only: `analytics_costs` by `model` (default), `day`, `tool`, `user`,
        /// `session` or `project`; `analytics_bias_rates` by `bias_type` (default), `severity`,
        /// `model`, `tool`, `detector` or `day`; `analytics_monitor` by `kind` (default) or `day`.
        group_by: Query<Option<String>>,
    ) -> ApiResult<Download> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let format: ExportFormat = format.0.as_deref().unwrap_or("json").parse()?;
        let dataset = match dataset.0.parse()? {
            ExportTarget::Records(dataset) => dataset,
            ExportTarget::Analytics(table) => {
                let session_only = [
                    ("session_id", session_id.0.is_some()),
                    ("status", status.0.is_some()),
                    ("tag", tag.0.is_some()),
                    ("external_id", external_id.0.is_some()),
                ];
                if let Some((name, _)) = session_only.iter().find(|(_, given)| *given) {
                    return Err(Error::invalid(
                        *name,
                        format!("does not apply to {table}: it filters sessions, not a report"),
                    )
                    .into());
                }
                let filter = AnalyticsFilter {
                    since: since.0,
                    until: until.0,
                    tool: tool.0,
                    model: model.0,
                    user_id: user_id.0,
                };
                let rows = self
                    .lux
                    .analytics_table(caller.project, table, &filter, group_by.0.as_deref())
                    .await?;
                let mut encoder = ExportEncoder::for_table(table, format);
                let mut bytes = encoder.start();
                bytes.extend(encoder.encode_rows(&rows)?);
                bytes.extend(encoder.finish());
                return Ok(Download {
                    body: Body::from(bytes),
                    content_type: download_type(format, request),
                    filename: format!("lux-{table}.{format}"),
                });
            }
        };
        if group_by.0.is_some() {
            return Err(Error::invalid(
                "group_by",
                format!("applies to analytics tables only, not to {dataset}"),
            )
            .into());
        }
        let filter = ExportFilter {
            sessions: SessionFilter {
                status: status.0.as_deref().map(str::parse).transpose()?,
                tool: tool.0,
                model: model.0,
                user_id: user_id.0,
                tag: tag.0,
                external_id: external_id.0,
                since: since.0,
                until: until.0,
            },
            session: session_id.0.map(SessionId),
        };
        let encoder = ExportEncoder::new(dataset, format)?;
        let cursor = self.lux.export(caller.project, dataset, filter)?;
        Ok(Download {
            body: stream_body(cursor, encoder),
            content_type: download_type(format, request),
            filename: format!("lux-{dataset}.{format}"),
        })
    }

    /// Import an export
    ///
    /// Takes a JSON or JSONL file (`application/json`, or `application/octet-stream` for either;
    /// `application/x-ndjson` is accepted too) as `GET /export/all` writes it (or any single-kind JSON/JSONL
    /// export whose references are already stored) into the caller's project. Records keep their
    /// ids, numbers and timestamps; the findings and monitor events are the file's, and the
    /// enabled plugin detectors then judge the new steps (see `plugin_runs`). Each record is applied whole or not at all;
    /// a record already stored with the same values counts as already present, so importing a
    /// file twice changes nothing. Bad lines are listed with their line number; a body that is not
    /// a JSON array or JSONL at all is a 400. A body cut short after some records applies those
    /// and lists the cut as a bad line.
    #[oai(path = "/import", method = "post", operation_id = "importRecords")]
    async fn import(&self, auth: Auth, body: ImportBody) -> ApiResult<Json<ImportReportDto>> {
        let body = match body {
            ImportBody::Json(body) | ImportBody::Jsonl(body) | ImportBody::Bytes(body) => body.0,
        };
        let caller = match self.policy.authorize(&self.lux, &auth, Scope::Ingest).await {
            Ok(caller) => caller,
            Err(error) => {
                // Read the refused body to its end (the body limit bounds it): answering while
                // the client is still sending would reach it as a reset, not as this error.
                let mut rest = body.into_async_read();
                tokio::io::copy(&mut rest, &mut tokio::io::sink())
                    .await
                    .ok();
                return Err(error);
            }
        };
        // Read as it arrives: one chunk of records in memory at a time.
        let report = self
            .lux
            .import_stream(caller.project, body.into_async_read(), |_| {})
            .await?;
        let runs = self
            .instance
            .analyse_imported(caller.project, &report)
            .await?;
        Ok(Json(ImportReportDto::new(report, runs)))
    }
}
