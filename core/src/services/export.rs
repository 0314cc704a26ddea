//! Exports: a project's records read in keyset chunks and encoded as CSV, JSON or JSONL, so a
//! door can stream any number of rows with flat memory.
//!
//! [`ExportCursor`] yields chunks of [`ExportRecord`]s (at most [`EXPORT_CHUNK_ROWS`] rows per
//! query, ordered by primary key, each query starting after the last id seen); [`ExportEncoder`]
//! turns chunks into bytes. Neither holds a transaction open between chunks.

use std::collections::HashMap;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{
    action_item, bias_finding, insight, model_call, model_price, monitor_event, session,
    session_tag, step, synthesis_version,
};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::store::{Backend, Lux, session_from_row};

mod tables;

pub use tables::TableRow;

/// Rows read per query.
pub const EXPORT_CHUNK_ROWS: u64 = 1000;

/// Reads the records of a dataset chunk by chunk; see [`Lux::export`].
pub struct ExportCursor {
    lux: Lux,
    project: ProjectId,
    filter: ExportFilter,
    /// Kinds still to read, in order; the first is being read.
    kinds: Vec<RecordKind>,
    after: Option<Uuid>,
    /// Every price by id, loaded on the first model-call chunk (the table is small).
    prices: Option<HashMap<Uuid, model_price::Model>>,
    /// A filter value that can never match stored text (NUL) selects nothing.
    empty: bool,
}

impl std::fmt::Debug for ExportCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportCursor")
            .field("project", &self.project)
            .field("kinds", &self.kinds)
            .field("after", &self.after)
            .finish()
    }
}

impl Lux {
    /// A cursor over `dataset` for the sessions `filter` selects. Nothing is read until
    /// [`ExportCursor::next_chunk`].
    pub fn export(
        &self,
        project: ProjectId,
        dataset: ExportDataset,
        filter: ExportFilter,
    ) -> Result<ExportCursor> {
        if let (Some(since), Some(until)) = (filter.sessions.since, filter.sessions.until)
            && since > until
        {
            return Err(Error::invalid("until", "is before since"));
        }
        let keys = [
            &filter.sessions.tool,
            &filter.sessions.model,
            &filter.sessions.user_id,
            &filter.sessions.tag,
            &filter.sessions.external_id,
        ];
        let empty = keys
            .iter()
            .any(|key| key.as_deref().is_some_and(|key| !could_be_stored(key)));
        Ok(ExportCursor {
            lux: self.clone(),
            project,
            filter,
            kinds: dataset.kinds().to_vec(),
            after: None,
            prices: None,
            empty,
        })
    }

    /// Every record of one session (all kinds, dependency order), ready to import elsewhere.
    #[instrument(skip_all, fields(project = %project, session = %reference))]
    pub async fn export_session(
        &self,
        project: ProjectId,
        reference: &SessionRef,
    ) -> Result<Vec<ExportRecord>> {
        let session = self.get_session(project, reference).await?;
        let filter = ExportFilter {
            session: Some(session.id),
            ..ExportFilter::default()
        };
        let mut cursor = self.export(project, ExportDataset::All, filter)?;
        let mut records = Vec::new();
        while let Some(chunk) = cursor.next_chunk().await? {
            records.extend(chunk);
        }
        Ok(records)
    }

    /// [`Lux::export_session`] as one JSON array, in the same encoding as a `json` export.
    pub async fn export_session_json(
        &self,
        project: ProjectId,
        reference: &SessionRef,
    ) -> Result<String> {
        let records = self.export_session(project, reference).await?;
        let mut encoder = ExportEncoder::new(ExportDataset::All, ExportFormat::Json)?;
        let mut bytes = encoder.start();
        bytes.extend(encoder.encode(&records)?);
        bytes.extend(encoder.finish());
        String::from_utf8(bytes).map_err(|e| Error::invalid("export", e.to_string()))
    }
}

impl ExportCursor {
    /// The next chunk, or `None` when the dataset is exhausted. Chunks are never empty.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<ExportRecord>>> {
        if self.empty {
            return Ok(None);
        }
        while let Some(&kind) = self.kinds.first() {
            let chunk = self.read(kind).await?;
            if chunk.is_empty() {
                self.kinds.remove(0);
                self.after = None;
                continue;
            }
            return Ok(Some(chunk.into_iter().map(|(_, record)| record).collect()));
        }
        Ok(None)
    }

    /// `SELECT id FROM sessions WHERE <filters>`: the sessions whose records are exported.
    fn selected_sessions(&self) -> SelectStatement {
        let filter = &self.filter.sessions;
        let mut query = Query::select()
            .column(session::Column::Id)
            .from(session::Entity)
            .and_where(session::Column::ProjectId.eq(self.project.0))
            .to_owned();
        if let Some(id) = self.filter.session {
            query.and_where(session::Column::Id.eq(id.0));
        }
        if let Some(status) = filter.status {
            query.and_where(session::Column::Status.eq(status.as_str()));
        }
        if let Some(tool) = &filter.tool {
            query.and_where(session::Column::Tool.eq(tool.as_str()));
        }
        if let Some(user_id) = &filter.user_id {
            query.and_where(session::Column::UserId.eq(user_id.as_str()));
        }
        if let Some(external_id) = &filter.external_id {
            query.and_where(session::Column::ExternalId.eq(external_id.as_str()));
        }
        if let Some(model) = &filter.model {
            let calls_with_model = Query::select()
                .column(model_call::Column::SessionId)
                .from(model_call::Entity)
                .and_where(model_call::Column::Model.eq(model.as_str()))
                .to_owned();
            query.cond_where(
                Condition::any()
                    .add(session::Column::Model.eq(model.as_str()))
                    .add(session::Column::Id.in_subquery(calls_with_model)),
            );
        }
        if let Some(tag) = &filter.tag {
            let tagged = Query::select()
                .column(session_tag::Column::SessionId)
                .from(session_tag::Entity)
                .and_where(session_tag::Column::Tag.eq(tag.as_str()))
                .to_owned();
            query.and_where(session::Column::Id.in_subquery(tagged));
        }
        if let Some(since) = filter.since {
            query.and_where(session::Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            query.and_where(session::Column::CreatedAt.lt(until));
        }
        query
    }

    /// One chunk of `kind` after `self.after`, with each record's key; advances `self.after`.
    async fn read(&mut self, kind: RecordKind) -> Result<Vec<(Uuid, ExportRecord)>> {
        let db = self.lux.db().clone();
        let sessions = self.selected_sessions();
        let after = self.after;
        // With no filter but the project, most rows match: walking the primary key from `after`
        // finds a chunk at once. A filtered export is better served by the session index.
        let by_primary_key =
            self.lux.backend() == Backend::Sqlite && self.filter == ExportFilter::default();
        macro_rules! chunk {
            ($entity:ident, $session_column:expr, $unindexed:literal) => {{
                let in_sessions = if by_primary_key {
                    // `+` keeps SQLite from driving the query by the session index, which would
                    // sort every selected row for each chunk; read in primary-key order instead.
                    Expr::cust($unindexed).in_subquery(sessions)
                } else {
                    $session_column.into_expr().in_subquery(sessions)
                };
                let mut query = $entity::Entity::find().filter(in_sessions);
                if let Some(after) = after {
                    query = query.filter($entity::Column::Id.gt(after));
                }
                query
                    .order_by_asc($entity::Column::Id)
                    .limit(EXPORT_CHUNK_ROWS)
                    .all(&db)
                    .await?
            }};
        }
        let records: Vec<(Uuid, ExportRecord)> = match kind {
            RecordKind::Price => {
                // Few rows, so read at once, ordered by natural key: ids differ between databases.
                if after.is_some() {
                    Vec::new()
                } else {
                    let used = Query::select()
                        .column(model_call::Column::PriceId)
                        .from(model_call::Entity)
                        .and_where(model_call::Column::SessionId.in_subquery(sessions))
                        .to_owned();
                    let mut rows = model_price::Entity::find()
                        .filter(model_price::Column::Id.in_subquery(used))
                        .all(&db)
                        .await?;
                    rows.sort_by(|a, b| {
                        (&a.model_pattern, &a.provider, a.effective_from).cmp(&(
                            &b.model_pattern,
                            &b.provider,
                            b.effective_from,
                        ))
                    });
                    rows.into_iter()
                        .map(|row| (row.id, ExportRecord::Price(price_record(row))))
                        .collect()
                }
            }
            RecordKind::Session => {
                let rows = chunk!(session, session::Column::Id, "+id");
                let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
                let mut tags: HashMap<Uuid, Vec<String>> = HashMap::new();
                if !ids.is_empty() {
                    for tag in session_tag::Entity::find()
                        .filter(session_tag::Column::SessionId.is_in(ids))
                        .all(&db)
                        .await?
                    {
                        tags.entry(tag.session_id).or_default().push(tag.tag);
                    }
                }
                rows.into_iter()
                    .map(|row| {
                        let row_tags = tags.remove(&row.id).unwrap_or_default();
                        Ok((
                            row.id,
                            ExportRecord::Session(session_record(row, row_tags)?),
                        ))
                    })
                    .collect::<Result<_>>()?
            }
            RecordKind::Step => chunk!(step, step::Column::SessionId, "+session_id")
                .into_iter()
                .map(|row| (row.id, ExportRecord::Step(step_record(row))))
                .collect(),
            RecordKind::SynthesisVersion => chunk!(
                synthesis_version,
                synthesis_version::Column::SessionId,
                "+session_id"
            )
            .into_iter()
            .map(|row| {
                (
                    row.id,
                    ExportRecord::SynthesisVersion(synthesis_record(row)),
                )
            })
            .collect(),
            RecordKind::Insight => chunk!(insight, insight::Column::SessionId, "+session_id")
                .into_iter()
                .map(|row| (row.id, ExportRecord::Insight(insight_record(row))))
                .collect(),
            RecordKind::ActionItem => {
                chunk!(action_item, action_item::Column::SessionId, "+session_id")
                    .into_iter()
                    .map(|row| (row.id, ExportRecord::ActionItem(action_record(row))))
                    .collect()
            }
            RecordKind::ModelCall => {
                let rows = chunk!(model_call, model_call::Column::SessionId, "+session_id");
                if self.prices.is_none() {
                    let all = model_price::Entity::find().all(&db).await?;
                    self.prices = Some(all.into_iter().map(|row| (row.id, row)).collect());
                }
                let prices = self.prices.as_ref().expect("loaded above");
                rows.into_iter()
                    .map(|row| {
                        let price = row.price_id.and_then(|id| prices.get(&id));
                        Ok((
                            row.id,
                            ExportRecord::ModelCall(model_call_record(row, price)?),
                        ))
                    })
                    .collect::<Result<_>>()?
            }
            RecordKind::Finding => {
                chunk!(bias_finding, bias_finding::Column::SessionId, "+session_id")
                    .into_iter()
                    .map(|row| Ok((row.id, ExportRecord::Finding(finding_record(row)?))))
                    .collect::<Result<_>>()?
            }
            RecordKind::MonitorEvent => chunk!(
                monitor_event,
                monitor_event::Column::SessionId,
                "+session_id"
            )
            .into_iter()
            .map(|row| Ok((row.id, ExportRecord::MonitorEvent(event_record(row)?))))
            .collect::<Result<_>>()?,
        };
        self.after = match kind {
            // Read in one go: mark as done with any id.
            RecordKind::Price => Some(Uuid::nil()),
            _ => records.last().map(|(id, _)| *id),
        };
        Ok(records)
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Storage(sea_orm::DbErr::Type(format!(
        "stored {what} is unreadable: {error}"
    )))
}

pub(crate) fn price_record(row: model_price::Model) -> PriceRecord {
    PriceRecord {
        model_pattern: row.model_pattern,
        provider: row.provider,
        input_nusd_per_mtok: row.input_nusd_per_mtok,
        output_nusd_per_mtok: row.output_nusd_per_mtok,
        cached_input_nusd_per_mtok: row.cached_input_nusd_per_mtok,
        reasoning_nusd_per_mtok: row.reasoning_nusd_per_mtok,
        effective_from: row.effective_from,
        effective_to: row.effective_to,
        source: row.source,
    }
}

/// A stored session as exported: the domain session without its project (an import lands in
/// the importer's project), tags sorted so two databases export the same bytes.
pub(crate) fn session_record(row: session::Model, mut tags: Vec<String>) -> Result<SessionRecord> {
    tags.sort();
    let session = session_from_row(row, tags)?;
    Ok(SessionRecord {
        id: session.id,
        external_id: session.external_id,
        tool: session.tool,
        status: session.status,
        title: session.title,
        user_id: session.user_id,
        client: session.client,
        model: session.model,
        tags: session.tags,
        metadata: session.metadata,
        created_at: session.created_at,
        updated_at: session.updated_at,
        completed_at: session.completed_at,
    })
}

pub(crate) fn step_record(row: step::Model) -> StepRecord {
    StepRecord {
        id: StepId(row.id),
        session_id: SessionId(row.session_id),
        step_number: row.step_number,
        step_kind: row.kind,
        content: row.content,
        raw_response: row.raw_response,
        model: row.model,
        confidence: row.confidence,
        clarity: row.clarity,
        is_revision: row.is_revision,
        revises_step: row.revises_step,
        branch_from_step: row.branch_from_step,
        branch_id: row.branch_id,
        metadata: row.metadata,
        created_at: row.created_at,
    }
}

pub(crate) fn synthesis_record(row: synthesis_version::Model) -> SynthesisVersionRecord {
    SynthesisVersionRecord {
        id: SynthesisVersionId(row.id),
        session_id: SessionId(row.session_id),
        version: row.version,
        step_id: row.step_id.map(StepId),
        step_number: row.step_number,
        raw_update: row.raw_update,
        current_understanding: row.current_understanding,
        confidence: row.confidence,
        clarity: row.clarity,
        parsed: row.parsed,
        created_at: row.created_at,
    }
}

pub(crate) fn insight_record(row: insight::Model) -> InsightRecord {
    InsightRecord {
        id: row.id,
        synthesis_version_id: SynthesisVersionId(row.synthesis_version_id),
        session_id: SessionId(row.session_id),
        position: row.position,
        text: row.text,
        confidence: row.confidence,
        source_step: row.source_step,
        supported_by_evidence: row.supported_by_evidence,
    }
}

pub(crate) fn action_record(row: action_item::Model) -> ActionItemRecord {
    ActionItemRecord {
        id: row.id,
        synthesis_version_id: SynthesisVersionId(row.synthesis_version_id),
        session_id: SessionId(row.session_id),
        position: row.position,
        action: row.action,
        priority: row.priority,
        rationale: row.rationale,
        dependencies: row.dependencies,
    }
}

pub(crate) fn model_call_record(
    row: model_call::Model,
    price: Option<&model_price::Model>,
) -> Result<ModelCallRecord> {
    Ok(ModelCallRecord {
        id: ModelCallId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        provider: row.provider,
        model: row.model,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cached_input_tokens: row.cached_input_tokens,
        reasoning_tokens: row.reasoning_tokens,
        latency_ms: row.latency_ms,
        cost_nusd: row.cost_nusd,
        status: row.status.parse().map_err(|e| corrupt("call status", e))?,
        error: row.error,
        price_pattern: price.map(|price| price.model_pattern.clone()),
        price_provider: price.and_then(|price| price.provider.clone()),
        price_effective_from: price.map(|price| price.effective_from),
        created_at: row.created_at,
    })
}

pub(crate) fn finding_record(row: bias_finding::Model) -> Result<FindingRecord> {
    Ok(FindingRecord {
        id: FindingId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        detector: row.detector,
        detector_version: row.detector_version,
        bias_type: row.bias_type,
        severity: row.severity.parse().map_err(|e| corrupt("severity", e))?,
        confidence: row.confidence,
        explanation: row.explanation,
        evidence_start: row.evidence_start,
        evidence_end: row.evidence_end,
        evidence_text: row.evidence_text,
        suggestion: row.suggestion,
        created_at: row.created_at,
    })
}

pub(crate) fn event_record(row: monitor_event::Model) -> Result<MonitorEventRecord> {
    Ok(MonitorEventRecord {
        id: MonitorEventId(row.id),
        session_id: SessionId(row.session_id),
        step_id: row.step_id.map(StepId),
        event_kind: row.kind,
        severity: row.severity.parse().map_err(|e| corrupt("severity", e))?,
        score: row.score,
        message: row.message,
        data: row.data,
        created_at: row.created_at,
    })
}

/// Turns chunks of records into the bytes of one file: `start`, `encode` per chunk, `finish`.
#[derive(Debug)]
pub struct ExportEncoder {
    format: ExportFormat,
    columns: &'static [&'static str],
    wrote_any: bool,
}

impl ExportEncoder {
    /// CSV needs one record kind per file, so `all` is JSON or JSONL only.
    pub fn new(dataset: ExportDataset, format: ExportFormat) -> Result<Self> {
        let kinds = dataset.kinds();
        if format == ExportFormat::Csv && kinds.len() != 1 {
            return Err(Error::invalid(
                "format",
                format!("dataset {dataset} mixes record kinds: export it as json or jsonl"),
            ));
        }
        Ok(ExportEncoder {
            format,
            columns: kinds[0].columns(),
            wrote_any: false,
        })
    }

    /// An encoder for the rows of an analytics table.
    pub fn for_table(table: AnalyticsTable, format: ExportFormat) -> Self {
        ExportEncoder {
            format,
            columns: table.columns(),
            wrote_any: false,
        }
    }

    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// Table rows (values in column order): JSON objects with the columns as keys, in order.
    pub fn encode_rows(&mut self, rows: &[TableRow]) -> Result<Vec<u8>> {
        let failed = |e: &dyn std::fmt::Display| Error::invalid("export", e.to_string());
        let mut out = Vec::with_capacity(rows.len() * 128);
        if self.format == ExportFormat::Csv {
            let mut writer = csv_writer();
            for row in rows {
                writer
                    .write_record(row.iter().map(csv_cell))
                    .map_err(|e| failed(&e))?;
                self.wrote_any = true;
            }
            return writer.into_inner().map_err(|e| failed(&e));
        }
        for row in rows {
            if self.format == ExportFormat::Json {
                out.extend_from_slice(if self.wrote_any { b",\n" } else { b"\n" });
            }
            out.push(b'{');
            for (index, (column, value)) in self.columns.iter().zip(row).enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, column).map_err(|e| failed(&e))?;
                out.push(b':');
                serde_json::to_writer(&mut out, value).map_err(|e| failed(&e))?;
            }
            out.push(b'}');
            if self.format == ExportFormat::Jsonl {
                out.push(b'\n');
            }
            self.wrote_any = true;
        }
        Ok(out)
    }

    /// The file's opening: `[` for JSON, the header row for CSV.
    pub fn start(&mut self) -> Vec<u8> {
        match self.format {
            ExportFormat::Json => b"[".to_vec(),
            ExportFormat::Jsonl => Vec::new(),
            ExportFormat::Csv => {
                let mut writer = csv_writer();
                // Writing to a Vec cannot fail.
                writer.write_record(self.columns).ok();
                writer.into_inner().unwrap_or_default()
            }
        }
    }

    pub fn encode(&mut self, records: &[ExportRecord]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(records.len() * 256);
        match self.format {
            ExportFormat::Json | ExportFormat::Jsonl => {
                for record in records {
                    if self.format == ExportFormat::Json {
                        out.extend_from_slice(if self.wrote_any { b",\n" } else { b"\n" });
                    }
                    serde_json::to_writer(&mut out, record)
                        .map_err(|e| Error::invalid("export", e.to_string()))?;
                    if self.format == ExportFormat::Jsonl {
                        out.push(b'\n');
                    }
                    self.wrote_any = true;
                }
            }
            ExportFormat::Csv => {
                let mut writer = csv_writer();
                for record in records {
                    let value = serde_json::to_value(record)
                        .map_err(|e| Error::invalid("export", e.to_string()))?;
                    let cells = self
                        .columns
                        .iter()
                        .map(|column| value.get(*column).map_or_else(String::new, csv_cell));
                    writer
                        .write_record(cells)
                        .map_err(|e| Error::invalid("export", e.to_string()))?;
                    self.wrote_any = true;
                }
                out = writer
                    .into_inner()
                    .map_err(|e| Error::invalid("export", e.to_string()))?;
            }
        }
        Ok(out)
    }

    /// The file's end: `]` for JSON.
    pub fn finish(&mut self) -> Vec<u8> {
        match self.format {
            ExportFormat::Json if self.wrote_any => b"\n]\n".to_vec(),
            ExportFormat::Json => b"]\n".to_vec(),
            _ => Vec::new(),
        }
    }
}

/// A value as CSV text: empty for null, strings as they are, anything else as JSON.
fn csv_cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A computed score (4/17 needs all 17 digits) reads back to the same bits, so an import
    /// re-exports the same text. serde_json's default float parser can miss by one ulp; the
    /// workspace turns on its `float_roundtrip` feature.
    #[test]
    fn scores_read_back_bit_for_bit() {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let record = ExportRecord::MonitorEvent(MonitorEventRecord {
            id: MonitorEventId(Uuid::nil()),
            session_id: SessionId(Uuid::nil()),
            step_id: None,
            event_kind: "k".into(),
            severity: Severity::Low,
            score: 4.0 / 17.0,
            message: "m".into(),
            data: serde_json::json!({"ratio": 4.0 / 17.0}),
            created_at: at,
        });
        let text = serde_json::to_string(&record).unwrap();
        let reread: ExportRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&reread).unwrap(), text);
    }

    /// The CSV header must name exactly the fields a record serialises.
    #[test]
    fn columns_match_the_serialised_fields() {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let session = SessionId(Uuid::nil());
        let records = [
            ExportRecord::Price(PriceRecord {
                model_pattern: "m".into(),
                provider: None,
                input_nusd_per_mtok: 1,
                output_nusd_per_mtok: 1,
                cached_input_nusd_per_mtok: None,
                reasoning_nusd_per_mtok: None,
                effective_from: at,
                effective_to: None,
                source: "user".into(),
            }),
            ExportRecord::Step(step_record(step::Model {
                id: Uuid::nil(),
                session_id: Uuid::nil(),
                step_number: 1,
                kind: "thought".into(),
                content: "c".into(),
                raw_response: None,
                model: None,
                confidence: None,
                clarity: None,
                is_revision: false,
                revises_step: None,
                branch_from_step: None,
                branch_id: None,
                metadata: serde_json::json!({}),
                created_at: at,
            })),
            ExportRecord::MonitorEvent(MonitorEventRecord {
                id: MonitorEventId(Uuid::nil()),
                session_id: session,
                step_id: None,
                event_kind: "k".into(),
                severity: Severity::Low,
                score: 0.5,
                message: "m".into(),
                data: serde_json::json!({}),
                created_at: at,
            }),
        ];
        for record in records {
            let value = serde_json::to_value(&record).unwrap();
            let mut keys: Vec<&str> = value
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|key| *key != "kind")
                .collect();
            let mut columns = record.kind().columns().to_vec();
            keys.sort_unstable();
            columns.sort_unstable();
            assert_eq!(keys, columns, "{:?}", record.kind());
        }
    }
}
