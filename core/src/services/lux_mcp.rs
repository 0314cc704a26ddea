//! The data-migration step of the original plan: sessions of the original Lux MCP server's
//! PostgreSQL tables (`migrations/001_initial_schema.sql` of lux-mcp) read and turned into Lux
//! records, then written through the ordinary [`crate::services::import::Importer`], so the same validation, idempotency and
//! per-record report apply.
//!
//! Ids are kept where the old table has one per Lux record; records that the old schema folds into
//! one row (a bias detection naming several bias types, a chat message with token usage) get ids
//! derived from the row id, so a second run finds them already present.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DbBackend, QueryResult, Statement};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::import::IMPORT_CHUNK_RECORDS;
use crate::store::Lux;

/// The detector named on imported bias detections.
pub const LEGACY_DETECTOR: &str = "lux-mcp.bias_detection";

impl Lux {
    /// Reads every session of the original Lux MCP database at `url` into `project`.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn import_from_lux_mcp(&self, project: ProjectId, url: &str) -> Result<ImportReport> {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(Error::invalid(
                "from_lux_mcp",
                "must be a postgres:// URL of the original Lux MCP database",
            ));
        }
        let source = Database::connect(url).await?;
        let records = read_all(&source).await;
        source.close().await.ok();
        let records = records?;
        let mut importer = self.importer(project);
        let mut numbered: Vec<(u64, ExportRecord)> = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| (index as u64 + 1, record))
            .collect();
        while !numbered.is_empty() {
            let rest = numbered.split_off(numbered.len().min(IMPORT_CHUNK_RECORDS));
            importer.import_records(numbered).await?;
            numbered = rest;
        }
        Ok(importer.finish())
    }
}

async fn rows(conn: &impl ConnectionTrait, sql: &'static str) -> Result<Vec<QueryResult>> {
    conn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|error| {
            Error::invalid(
                "from_lux_mcp",
                format!("cannot read the Lux MCP tables: {error}"),
            )
        })
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T> {
    row.try_get("", column).map_err(|error| {
        Error::invalid(
            "from_lux_mcp",
            format!("unexpected value in column {column}: {error}"),
        )
    })
}

/// A stable id for the `index`th record made from the old row `id`.
fn derived_id(id: Uuid, salt: &str, index: usize) -> Uuid {
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    hasher.update(salt.as_bytes());
    hasher.update(index.to_le_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: custom
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(bytes)
}

/// Lowercase, with anything outside `[a-z0-9_.:-]` turned into `_`, as Lux identifiers are.
fn identifier_of(text: &str) -> String {
    let mut out: String = text
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(64);
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

fn cut(text: &str, max_bytes: usize) -> String {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn object(value: Option<Value>) -> Value {
    match value {
        Some(Value::Object(map)) => Value::Object(map),
        None | Some(Value::Null) => json!({}),
        Some(other) => json!({ "value": other }),
    }
}

fn severity_of(text: Option<String>, default: Severity) -> Severity {
    text.and_then(|text| text.trim().to_lowercase().parse().ok())
        .unwrap_or(default)
}

async fn read_all(conn: &impl ConnectionTrait) -> Result<Vec<ExportRecord>> {
    let mut records = Vec::new();
    // The primary model of each session, from `session_models`.
    let mut models: HashMap<Uuid, (String, Option<String>)> = HashMap::new();
    for row in rows(
        conn,
        "SELECT session_id, model_name, model_provider FROM session_models \
         WHERE session_id IS NOT NULL ORDER BY (role = 'primary') DESC, created_at, id",
    )
    .await?
    {
        let session: Uuid = get(&row, "session_id")?;
        models
            .entry(session)
            .or_insert((get(&row, "model_name")?, get(&row, "model_provider")?));
    }

    for row in rows(
        conn,
        "SELECT id, session_type, session_external_id, query, created_at, updated_at, \
         completed_at, status, metadata FROM sessions ORDER BY created_at, id",
    )
    .await?
    {
        let id: Uuid = get(&row, "id")?;
        let created_at: DateTime<Utc> = get::<Option<DateTime<Utc>>>(&row, "created_at")?
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let updated_at = get::<Option<DateTime<Utc>>>(&row, "updated_at")?
            .unwrap_or(created_at)
            .max(created_at);
        let status_text: Option<String> = get(&row, "status")?;
        let status: SessionStatus = status_text.as_deref().unwrap_or("active").parse()?;
        let completed_at = if status.is_final() {
            Some(get::<Option<DateTime<Utc>>>(&row, "completed_at")?.unwrap_or(updated_at))
        } else {
            None
        };
        let query: String = get(&row, "query")?;
        records.push(ExportRecord::Session(SessionRecord {
            id: SessionId(id),
            external_id: Some(cut(
                &get::<String>(&row, "session_external_id")?,
                MAX_LABEL_BYTES,
            )),
            tool: identifier_of(&get::<String>(&row, "session_type")?),
            status,
            title: Some(cut(&query, MAX_TEXT_BYTES)).filter(|title| !title.trim().is_empty()),
            user_id: None,
            client: Some("lux-mcp".to_owned()),
            model: models.get(&id).map(|(model, _)| model.clone()),
            tags: vec!["lux-mcp".to_owned()],
            metadata: object(get(&row, "metadata")?),
            created_at,
            updated_at,
            completed_at,
        }));
    }

    // Steps: reasoning steps and planning steps keep their numbers; chat messages follow them.
    let mut step_ids: HashMap<(Uuid, i32), Uuid> = HashMap::new();
    let mut next_number: HashMap<Uuid, i32> = HashMap::new();
    let mut steps = Vec::new();
    for row in rows(
        conn,
        "SELECT id, session_id, step_number, step_type, content, raw_llm_response, model_used, \
         confidence_score, clarity_score, thinking_time_ms, tokens_used, created_at, metadata \
         FROM reasoning_steps WHERE session_id IS NOT NULL ORDER BY session_id, step_number",
    )
    .await?
    {
        let mut metadata = object(get(&row, "metadata")?);
        for column in ["thinking_time_ms", "tokens_used"] {
            if let Some(value) = get::<Option<i32>>(&row, column)? {
                metadata[column] = json!(value);
            }
        }
        let step = StepRecord {
            id: StepId(get(&row, "id")?),
            session_id: SessionId(get(&row, "session_id")?),
            step_number: get(&row, "step_number")?,
            step_kind: identifier_of(&get::<String>(&row, "step_type")?),
            content: get(&row, "content")?,
            raw_response: get(&row, "raw_llm_response")?,
            model: get(&row, "model_used")?,
            confidence: get(&row, "confidence_score")?,
            clarity: get(&row, "clarity_score")?,
            is_revision: false,
            revises_step: None,
            branch_from_step: None,
            branch_id: None,
            metadata,
            created_at: get::<Option<DateTime<Utc>>>(&row, "created_at")?
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        };
        steps.push(step);
    }
    for row in rows(
        conn,
        "SELECT id, session_id, step_number, content, is_revision, revises_step_number, \
         branch_from_step, branch_id, model_used, created_at \
         FROM planning_steps WHERE session_id IS NOT NULL ORDER BY session_id, step_number",
    )
    .await?
    {
        steps.push(StepRecord {
            id: StepId(get(&row, "id")?),
            session_id: SessionId(get(&row, "session_id")?),
            step_number: get(&row, "step_number")?,
            step_kind: "plan".to_owned(),
            content: get(&row, "content")?,
            raw_response: None,
            model: get(&row, "model_used")?,
            confidence: None,
            clarity: None,
            is_revision: get::<Option<bool>>(&row, "is_revision")?.unwrap_or(false),
            revises_step: get(&row, "revises_step_number")?,
            branch_from_step: get(&row, "branch_from_step")?,
            branch_id: get(&row, "branch_id")?,
            metadata: json!({}),
            created_at: get::<Option<DateTime<Utc>>>(&row, "created_at")?
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        });
    }
    for step in &steps {
        step_ids.insert((step.session_id.0, step.step_number), step.id.0);
        let next = next_number.entry(step.session_id.0).or_insert(1);
        *next = (*next).max(step.step_number + 1);
    }
    let mut calls = Vec::new();
    for row in rows(
        conn,
        "SELECT id, session_id, role, content, model_used, response_time_ms, tokens_used, \
         temperature, max_tokens, created_at FROM chat_messages WHERE session_id IS NOT NULL \
         ORDER BY session_id, created_at, id",
    )
    .await?
    {
        let id: Uuid = get(&row, "id")?;
        let session: Uuid = get(&row, "session_id")?;
        let number = next_number.entry(session).or_insert(1);
        let step_number = *number;
        *number += 1;
        let tokens: Option<Value> = get(&row, "tokens_used")?;
        let mut metadata = json!({});
        if let Some(temperature) = get::<Option<f64>>(&row, "temperature")? {
            metadata["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = get::<Option<i32>>(&row, "max_tokens")? {
            metadata["max_tokens"] = json!(max_tokens);
        }
        if let Some(tokens) = &tokens {
            metadata["tokens_used"] = tokens.clone();
        }
        let model: Option<String> = get(&row, "model_used")?;
        let created_at = get::<Option<DateTime<Utc>>>(&row, "created_at")?
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let role = identifier_of(&get::<String>(&row, "role")?);
        if role == "assistant"
            && let (Some(model), Some(tokens)) = (&model, &tokens)
        {
            let count = |key: &str| tokens.get(key).and_then(Value::as_i64).unwrap_or(0);
            calls.push(ExportRecord::ModelCall(ModelCallRecord {
                id: ModelCallId(derived_id(id, "call", 0)),
                session_id: SessionId(session),
                step_id: Some(StepId(id)),
                provider: models
                    .get(&session)
                    .and_then(|(_, provider)| provider.as_deref())
                    .map(identifier_of)
                    .unwrap_or_else(|| "unknown".to_owned()),
                model: model.clone(),
                input_tokens: count("prompt"),
                output_tokens: count("completion"),
                cached_input_tokens: 0,
                reasoning_tokens: 0,
                latency_ms: i64::from(get::<Option<i32>>(&row, "response_time_ms")?.unwrap_or(0)),
                // The old server priced nothing; an unpriced call costs 0 with no price.
                cost_nusd: 0,
                status: CallStatus::Ok,
                error: None,
                price_pattern: None,
                price_provider: None,
                price_effective_from: None,
                created_at,
            }));
        }
        steps.push(StepRecord {
            id: StepId(id),
            session_id: SessionId(session),
            step_number,
            step_kind: role,
            content: get(&row, "content")?,
            raw_response: None,
            model,
            confidence: None,
            clarity: None,
            is_revision: false,
            revises_step: None,
            branch_from_step: None,
            branch_id: None,
            metadata,
            created_at,
        });
    }
    records.extend(steps.into_iter().map(ExportRecord::Step));

    let mut version_sessions: HashMap<Uuid, Uuid> = HashMap::new();
    for row in rows(
        conn,
        "SELECT id, session_id, version, step_number, current_understanding, confidence_score, \
         clarity_score, created_at, raw_update_call, parsed_data FROM synthesis_states \
         WHERE session_id IS NOT NULL ORDER BY session_id, version",
    )
    .await?
    {
        let id: Uuid = get(&row, "id")?;
        let session: Uuid = get(&row, "session_id")?;
        let step_number: Option<i32> = get(&row, "step_number")?;
        version_sessions.insert(id, session);
        records.push(ExportRecord::SynthesisVersion(SynthesisVersionRecord {
            id: SynthesisVersionId(id),
            session_id: SessionId(session),
            version: get(&row, "version")?,
            step_id: step_number
                .and_then(|number| step_ids.get(&(session, number)))
                .map(|id| StepId(*id)),
            step_number,
            raw_update: get(&row, "raw_update_call")?,
            current_understanding: get(&row, "current_understanding")?,
            confidence: get(&row, "confidence_score")?,
            clarity: get(&row, "clarity_score")?,
            parsed: get::<Option<Value>>(&row, "parsed_data")?.unwrap_or(json!({})),
            created_at: get::<Option<DateTime<Utc>>>(&row, "created_at")?
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        }));
    }
    let mut positions: HashMap<Uuid, i32> = HashMap::new();
    for row in rows(
        conn,
        "SELECT id, synthesis_state_id, insight_text, confidence, source_step, \
         supported_by_evidence FROM insights WHERE synthesis_state_id IS NOT NULL \
         ORDER BY synthesis_state_id, created_at, id",
    )
    .await?
    {
        let version: Uuid = get(&row, "synthesis_state_id")?;
        let Some(session) = version_sessions.get(&version) else {
            continue;
        };
        let position = positions.entry(version).or_insert(0);
        records.push(ExportRecord::Insight(InsightRecord {
            id: get(&row, "id")?,
            synthesis_version_id: SynthesisVersionId(version),
            session_id: SessionId(*session),
            position: *position,
            text: get(&row, "insight_text")?,
            confidence: get(&row, "confidence")?,
            source_step: get(&row, "source_step")?,
            supported_by_evidence: get(&row, "supported_by_evidence")?,
        }));
        *position += 1;
    }
    positions.clear();
    for row in rows(
        conn,
        "SELECT id, synthesis_state_id, action_text, priority, rationale, \
         to_jsonb(dependencies) AS dependencies FROM action_items \
         WHERE synthesis_state_id IS NOT NULL ORDER BY synthesis_state_id, created_at, id",
    )
    .await?
    {
        let version: Uuid = get(&row, "synthesis_state_id")?;
        let Some(session) = version_sessions.get(&version) else {
            continue;
        };
        let position = positions.entry(version).or_insert(0);
        let priority: Option<String> = get(&row, "priority")?;
        records.push(ExportRecord::ActionItem(ActionItemRecord {
            id: get(&row, "id")?,
            synthesis_version_id: SynthesisVersionId(version),
            session_id: SessionId(*session),
            position: *position,
            action: get(&row, "action_text")?,
            priority: priority
                .map(|p| p.trim().to_lowercase())
                .unwrap_or_else(|| "medium".to_owned()),
            rationale: get(&row, "rationale")?,
            dependencies: get::<Option<Value>>(&row, "dependencies")?.unwrap_or(json!([])),
        }));
        *position += 1;
    }

    for row in rows(
        conn,
        "SELECT id, session_id, step_number, severity, to_jsonb(bias_types) AS bias_types, \
         to_jsonb(suggestions) AS suggestions, confidence, created_at FROM bias_detections \
         WHERE session_id IS NOT NULL AND has_bias ORDER BY session_id, step_number, id",
    )
    .await?
    {
        let id: Uuid = get(&row, "id")?;
        let session: Uuid = get(&row, "session_id")?;
        let step_number: i32 = get(&row, "step_number")?;
        let strings = |value: Option<Value>| -> Vec<String> {
            value
                .and_then(|value| value.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .filter(|item| !item.trim().is_empty())
                .collect()
        };
        let mut types = strings(get(&row, "bias_types")?);
        if types.is_empty() {
            types.push("unspecified".to_owned());
        }
        let suggestions = strings(get(&row, "suggestions")?);
        let severity = severity_of(get(&row, "severity")?, Severity::Medium);
        let confidence = get::<Option<f64>>(&row, "confidence")?.unwrap_or(0.5);
        let created_at = get::<Option<DateTime<Utc>>>(&row, "created_at")?
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        for (index, bias_type) in types.iter().enumerate() {
            records.push(ExportRecord::Finding(FindingRecord {
                id: FindingId(derived_id(id, "finding", index)),
                session_id: SessionId(session),
                step_id: step_ids.get(&(session, step_number)).map(|id| StepId(*id)),
                detector: LEGACY_DETECTOR.to_owned(),
                detector_version: "0".to_owned(),
                bias_type: identifier_of(bias_type),
                severity,
                confidence,
                explanation: format!(
                    "{bias_type} in step {step_number}, found by the original Lux MCP server"
                ),
                evidence_start: None,
                evidence_end: None,
                evidence_text: None,
                suggestion: Some(cut(&suggestions.join("\n"), MAX_TEXT_BYTES))
                    .filter(|text| !text.is_empty()),
                created_at,
            }));
        }
    }

    for row in rows(
        conn,
        "SELECT id, session_id, step_number, event_type, severity, intervention_message, \
         pattern_data, created_at FROM monitoring_events WHERE session_id IS NOT NULL \
         ORDER BY session_id, created_at, id",
    )
    .await?
    {
        let session: Uuid = get(&row, "session_id")?;
        let kind = identifier_of(&get::<Option<String>>(&row, "event_type")?.unwrap_or_default());
        let message: Option<String> = get(&row, "intervention_message")?;
        records.push(ExportRecord::MonitorEvent(MonitorEventRecord {
            id: MonitorEventId(get(&row, "id")?),
            session_id: SessionId(session),
            step_id: get::<Option<i32>>(&row, "step_number")?
                .and_then(|number| step_ids.get(&(session, number)))
                .map(|id| StepId(*id)),
            message: message
                .filter(|text| !text.trim().is_empty())
                .map(|text| cut(&text, MAX_TEXT_BYTES))
                .unwrap_or_else(|| kind.clone()),
            event_kind: kind,
            severity: severity_of(get(&row, "severity")?, Severity::Low),
            // The old server recorded no score.
            score: 0.0,
            data: object(get(&row, "pattern_data")?),
            created_at: get::<Option<DateTime<Utc>>>(&row, "created_at")?
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        }));
    }
    // Model calls refer to chat-message steps, so they come after all steps.
    records.extend(calls);
    Ok(records)
}
