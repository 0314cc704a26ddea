//! Export records: every stored row of a project in a full-fidelity, project-free shape, so an
//! export imported into another database and exported again is byte-identical.
//!
//! Ids, numbers and timestamps are kept as stored. Records carry no project id (an import lands
//! in the importer's project) and no price id: price ids differ between databases (the shipped
//! list is seeded with fresh ids), so a model call names its price by the natural key
//! `(model_pattern, provider, effective_from)` instead.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CallStatus, ModelCallId, SessionId, SessionStatus, Severity, StepId};
use super::{FindingId, MonitorEventId, SessionFilter, SynthesisVersionId};
use crate::error::Error;

/// What can be exported. `All` is every record of the selected sessions in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportDataset {
    All,
    Sessions,
    Steps,
    ModelCalls,
    SynthesisVersions,
    Insights,
    ActionItems,
    Findings,
    MonitorEvents,
}

impl ExportDataset {
    pub const ALL: [ExportDataset; 9] = [
        ExportDataset::All,
        ExportDataset::Sessions,
        ExportDataset::Steps,
        ExportDataset::ModelCalls,
        ExportDataset::SynthesisVersions,
        ExportDataset::Insights,
        ExportDataset::ActionItems,
        ExportDataset::Findings,
        ExportDataset::MonitorEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportDataset::All => "all",
            ExportDataset::Sessions => "sessions",
            ExportDataset::Steps => "steps",
            ExportDataset::ModelCalls => "model_calls",
            ExportDataset::SynthesisVersions => "synthesis_versions",
            ExportDataset::Insights => "insights",
            ExportDataset::ActionItems => "action_items",
            ExportDataset::Findings => "findings",
            ExportDataset::MonitorEvents => "monitor_events",
        }
    }

    /// The record kinds the dataset holds, in the order they are written (and must be imported).
    pub fn kinds(self) -> &'static [RecordKind] {
        match self {
            ExportDataset::All => &RecordKind::ALL,
            ExportDataset::Sessions => &[RecordKind::Session],
            ExportDataset::Steps => &[RecordKind::Step],
            ExportDataset::ModelCalls => &[RecordKind::ModelCall],
            ExportDataset::SynthesisVersions => &[RecordKind::SynthesisVersion],
            ExportDataset::Insights => &[RecordKind::Insight],
            ExportDataset::ActionItems => &[RecordKind::ActionItem],
            ExportDataset::Findings => &[RecordKind::Finding],
            ExportDataset::MonitorEvents => &[RecordKind::MonitorEvent],
        }
    }
}

impl fmt::Display for ExportDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportDataset {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        ExportDataset::ALL
            .into_iter()
            .find(|dataset| dataset.as_str() == text)
            .ok_or_else(|| {
                let allowed: Vec<&str> = ExportDataset::ALL.iter().map(|d| d.as_str()).collect();
                Error::invalid(
                    "dataset",
                    format!("{text:?} is not one of {}", allowed.join(", ")),
                )
            })
    }
}

/// An analytics report exported as a flat table: one row per group (per day for the overview),
/// nested figures spread over columns, money in integer nano-USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalyticsTable {
    Overview,
    Costs,
    Models,
    BiasRates,
    Monitor,
    Recommendations,
}

const TOKEN_COLUMNS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
];

impl AnalyticsTable {
    pub const ALL: [AnalyticsTable; 6] = [
        AnalyticsTable::Overview,
        AnalyticsTable::Costs,
        AnalyticsTable::Models,
        AnalyticsTable::BiasRates,
        AnalyticsTable::Monitor,
        AnalyticsTable::Recommendations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnalyticsTable::Overview => "analytics_overview",
            AnalyticsTable::Costs => "analytics_costs",
            AnalyticsTable::Models => "analytics_models",
            AnalyticsTable::BiasRates => "analytics_bias_rates",
            AnalyticsTable::Monitor => "analytics_monitor",
            AnalyticsTable::Recommendations => "analytics_recommendations",
        }
    }

    /// The `group_by` values the table takes, the default first; empty when it takes none.
    pub fn groupings(self) -> &'static [&'static str] {
        match self {
            AnalyticsTable::Costs => &["model", "day", "tool", "user", "session", "project"],
            AnalyticsTable::BiasRates => {
                &["bias_type", "severity", "model", "tool", "detector", "day"]
            }
            AnalyticsTable::Monitor => &["kind", "day"],
            _ => &[],
        }
    }

    /// The CSV header, and the order of every row's values.
    pub fn columns(self) -> &'static [&'static str] {
        const OVERVIEW: [&str; 11] = [
            "day",
            "sessions",
            "steps",
            "model_calls",
            TOKEN_COLUMNS[0],
            TOKEN_COLUMNS[1],
            TOKEN_COLUMNS[2],
            TOKEN_COLUMNS[3],
            "cost_nusd",
            "findings",
            "alerts",
        ];
        const COSTS: [&str; 8] = [
            "key",
            "model_calls",
            "sessions",
            TOKEN_COLUMNS[0],
            TOKEN_COLUMNS[1],
            TOKEN_COLUMNS[2],
            TOKEN_COLUMNS[3],
            "cost_nusd",
        ];
        const MODELS: [&str; 15] = [
            "model",
            "model_calls",
            "failed_calls",
            "error_rate",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            TOKEN_COLUMNS[0],
            TOKEN_COLUMNS[1],
            TOKEN_COLUMNS[2],
            TOKEN_COLUMNS[3],
            "cost_nusd",
            "steps",
            "findings",
            "mean_step_confidence",
        ];
        const BIAS_RATES: [&str; 7] = [
            "key",
            "findings",
            "sessions_affected",
            "steps",
            "sessions",
            "findings_per_100_steps",
            "session_share",
        ];
        const MONITOR: [&str; 12] = [
            "key",
            "alerts",
            "sessions_affected",
            "steps",
            "sessions",
            "alerts_per_100_steps",
            "session_share",
            "severity_none",
            "severity_low",
            "severity_medium",
            "severity_high",
            "severity_critical",
        ];
        const RECOMMENDATIONS: [&str; 8] = [
            "kind",
            "model",
            "alternative",
            "model_cost_nusd",
            "repriced_cost_nusd",
            "saving_nusd",
            "monthly_saving_nusd",
            "reason",
        ];
        match self {
            AnalyticsTable::Overview => &OVERVIEW,
            AnalyticsTable::Costs => &COSTS,
            AnalyticsTable::Models => &MODELS,
            AnalyticsTable::BiasRates => &BIAS_RATES,
            AnalyticsTable::Monitor => &MONITOR,
            AnalyticsTable::Recommendations => &RECOMMENDATIONS,
        }
    }
}

impl fmt::Display for AnalyticsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `/export/{dataset}` names: stored records, or an analytics report as a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportTarget {
    Records(ExportDataset),
    Analytics(AnalyticsTable),
}

impl ExportTarget {
    /// Every dataset name, records first.
    pub fn names() -> Vec<&'static str> {
        let records = ExportDataset::ALL.iter().map(|d| d.as_str());
        records
            .chain(AnalyticsTable::ALL.iter().map(|t| t.as_str()))
            .collect()
    }
}

impl fmt::Display for ExportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportTarget::Records(dataset) => dataset.fmt(f),
            ExportTarget::Analytics(table) => table.fmt(f),
        }
    }
}

impl FromStr for ExportTarget {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        if let Some(dataset) = ExportDataset::ALL.into_iter().find(|d| d.as_str() == text) {
            return Ok(ExportTarget::Records(dataset));
        }
        if let Some(table) = AnalyticsTable::ALL.into_iter().find(|t| t.as_str() == text) {
            return Ok(ExportTarget::Analytics(table));
        }
        Err(Error::invalid(
            "dataset",
            format!(
                "{text:?} is not one of {}",
                ExportTarget::names().join(", ")
            ),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Csv,
    Json,
    Jsonl,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Csv, ExportFormat::Json, ExportFormat::Jsonl];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        ExportFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                Error::invalid("format", format!("{text:?} is not one of csv, json, jsonl"))
            })
    }
}

/// Which sessions an export covers; a dataset holds the records of those sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportFilter {
    /// The session list's filters (`since`/`until` bound the session's creation time).
    pub sessions: SessionFilter,
    /// Only this session.
    pub session: Option<SessionId>,
}

/// One kind of record, as named by the `kind` field of every exported object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Price,
    Session,
    Step,
    SynthesisVersion,
    Insight,
    ActionItem,
    ModelCall,
    Finding,
    MonitorEvent,
}

impl RecordKind {
    /// Dependency order: a record only refers to kinds before it.
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Price,
        RecordKind::Session,
        RecordKind::Step,
        RecordKind::SynthesisVersion,
        RecordKind::Insight,
        RecordKind::ActionItem,
        RecordKind::ModelCall,
        RecordKind::Finding,
        RecordKind::MonitorEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Price => "price",
            RecordKind::Session => "session",
            RecordKind::Step => "step",
            RecordKind::SynthesisVersion => "synthesis_version",
            RecordKind::Insight => "insight",
            RecordKind::ActionItem => "action_item",
            RecordKind::ModelCall => "model_call",
            RecordKind::Finding => "finding",
            RecordKind::MonitorEvent => "monitor_event",
        }
    }

    /// The CSV header: the record's fields in declaration order (the `kind` tag is left out).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            RecordKind::Price => &[
                "model_pattern",
                "provider",
                "input_nusd_per_mtok",
                "output_nusd_per_mtok",
                "cached_input_nusd_per_mtok",
                "reasoning_nusd_per_mtok",
                "effective_from",
                "effective_to",
                "source",
            ],
            RecordKind::Session => &[
                "id",
                "external_id",
                "tool",
                "status",
                "title",
                "user_id",
                "client",
                "model",
                "tags",
                "metadata",
                "created_at",
                "updated_at",
                "completed_at",
            ],
            RecordKind::Step => &[
                "id",
                "session_id",
                "step_number",
                "step_kind",
                "content",
                "raw_response",
                "model",
                "confidence",
                "clarity",
                "is_revision",
                "revises_step",
                "branch_from_step",
                "branch_id",
                "metadata",
                "created_at",
            ],
            RecordKind::SynthesisVersion => &[
                "id",
                "session_id",
                "version",
                "step_id",
                "step_number",
                "raw_update",
                "current_understanding",
                "confidence",
                "clarity",
                "parsed",
                "created_at",
            ],
            RecordKind::Insight => &[
                "id",
                "synthesis_version_id",
                "session_id",
                "position",
                "text",
                "confidence",
                "source_step",
                "supported_by_evidence",
            ],
            RecordKind::ActionItem => &[
                "id",
                "synthesis_version_id",
                "session_id",
                "position",
                "action",
                "priority",
                "rationale",
                "dependencies",
            ],
            RecordKind::ModelCall => &[
                "id",
                "session_id",
                "step_id",
                "provider",
                "model",
                "input_tokens",
                "output_tokens",
                "cached_input_tokens",
                "reasoning_tokens",
                "latency_ms",
                "cost_nusd",
                "status",
                "error",
                "price_pattern",
                "price_provider",
                "price_effective_from",
                "created_at",
            ],
            RecordKind::Finding => &[
                "id",
                "session_id",
                "step_id",
                "detector",
                "detector_version",
                "bias_type",
                "severity",
                "confidence",
                "explanation",
                "evidence_start",
                "evidence_end",
                "evidence_text",
                "suggestion",
                "created_at",
            ],
            RecordKind::MonitorEvent => &[
                "id",
                "session_id",
                "step_id",
                "event_kind",
                "severity",
                "score",
                "message",
                "data",
                "created_at",
            ],
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One exported row. Serialised as a JSON object whose first field is `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportRecord {
    Price(PriceRecord),
    Session(SessionRecord),
    Step(StepRecord),
    SynthesisVersion(SynthesisVersionRecord),
    Insight(InsightRecord),
    ActionItem(ActionItemRecord),
    ModelCall(ModelCallRecord),
    Finding(FindingRecord),
    MonitorEvent(MonitorEventRecord),
}

impl ExportRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            ExportRecord::Price(_) => RecordKind::Price,
            ExportRecord::Session(_) => RecordKind::Session,
            ExportRecord::Step(_) => RecordKind::Step,
            ExportRecord::SynthesisVersion(_) => RecordKind::SynthesisVersion,
            ExportRecord::Insight(_) => RecordKind::Insight,
            ExportRecord::ActionItem(_) => RecordKind::ActionItem,
            ExportRecord::ModelCall(_) => RecordKind::ModelCall,
            ExportRecord::Finding(_) => RecordKind::Finding,
            ExportRecord::MonitorEvent(_) => RecordKind::MonitorEvent,
        }
    }
}

/// A model price, named by `(model_pattern, provider, effective_from)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRecord {
    pub model_pattern: String,
    pub provider: Option<String>,
    pub input_nusd_per_mtok: i64,
    pub output_nusd_per_mtok: i64,
    pub cached_input_nusd_per_mtok: Option<i64>,
    pub reasoning_nusd_per_mtok: Option<i64>,
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    pub id: SessionId,
    pub external_id: Option<String>,
    pub tool: String,
    pub status: SessionStatus,
    pub title: Option<String>,
    pub user_id: Option<String>,
    pub client: Option<String>,
    pub model: Option<String>,
    /// Sorted.
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    pub id: StepId,
    pub session_id: SessionId,
    pub step_number: i32,
    /// The step's own kind (`thought`, `reasoning`, …); `kind` names the record.
    pub step_kind: String,
    pub content: String,
    pub raw_response: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub is_revision: bool,
    pub revises_step: Option<i32>,
    pub branch_from_step: Option<i32>,
    pub branch_id: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthesisVersionRecord {
    pub id: SynthesisVersionId,
    pub session_id: SessionId,
    pub version: i32,
    pub step_id: Option<StepId>,
    pub step_number: Option<i32>,
    pub raw_update: Option<String>,
    pub current_understanding: Option<String>,
    pub confidence: Option<f64>,
    pub clarity: Option<f64>,
    pub parsed: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightRecord {
    pub id: Uuid,
    pub synthesis_version_id: SynthesisVersionId,
    pub session_id: SessionId,
    pub position: i32,
    pub text: String,
    pub confidence: Option<f64>,
    pub source_step: Option<i32>,
    pub supported_by_evidence: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionItemRecord {
    pub id: Uuid,
    pub synthesis_version_id: SynthesisVersionId,
    pub session_id: SessionId,
    pub position: i32,
    pub action: String,
    pub priority: String,
    pub rationale: Option<String>,
    /// A JSON array of strings.
    pub dependencies: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCallRecord {
    pub id: ModelCallId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub reasoning_tokens: i64,
    pub latency_ms: i64,
    pub cost_nusd: i64,
    pub status: CallStatus,
    pub error: Option<String>,
    /// The price the cost was computed from, by natural key; all three are null for an unpriced call.
    pub price_pattern: Option<String>,
    pub price_provider: Option<String>,
    pub price_effective_from: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingRecord {
    pub id: FindingId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    pub detector: String,
    pub detector_version: String,
    pub bias_type: String,
    pub severity: Severity,
    pub confidence: f64,
    pub explanation: String,
    pub evidence_start: Option<i32>,
    pub evidence_end: Option<i32>,
    pub evidence_text: Option<String>,
    pub suggestion: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorEventRecord {
    pub id: MonitorEventId,
    pub session_id: SessionId,
    pub step_id: Option<StepId>,
    /// The event's own kind (`circular_reasoning`, …); `kind` names the record.
    pub event_kind: String,
    pub severity: Severity,
    pub score: f64,
    pub message: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// What an import did with one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    pub created: u64,
    pub already_present: u64,
    pub failed: u64,
}

/// Why one line of an import was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportLineError {
    /// 1-based line of the file where the record starts.
    pub line: u64,
    /// The record's `kind`, when it could be read.
    pub kind: Option<String>,
    /// The error code (`invalid`, `conflict`, `not_found`, …).
    pub code: String,
    pub message: String,
}

/// The result of an import: counts per kind and the lines that failed (the first
/// [`MAX_IMPORT_ERRORS`] of them; `failed` counts them all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: u64,
    pub already_present: u64,
    pub failed: u64,
    /// By record kind (`session`, `step`, …), in dependency order.
    pub kinds: Vec<(String, ImportCounts)>,
    pub errors: Vec<ImportLineError>,
    /// The sessions that received new steps, for the analysis that follows an import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions_with_new_steps: Vec<ImportedSession>,
}

/// A session that received new steps from an import, and the detector versions whose findings
/// on it the import carried (what ran where the file came from need not run again here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedSession {
    pub session_id: SessionId,
    /// `(detector, detector_version)` pairs, sorted.
    pub detectors: Vec<(String, String)>,
}

/// The most line errors a report lists.
pub const MAX_IMPORT_ERRORS: usize = 1000;
