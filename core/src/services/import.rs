//! Imports of Lux's own JSON or JSONL exports: validated, idempotent, all or nothing per record
//! (a chunk with a failing record is applied again with one savepoint per record), with a report
//! of every line that was not applied.
//!
//! Records are written as exported (ids, numbers and timestamps kept, no detectors run: findings
//! and monitor events come from the file), so export → import → export is byte-identical. A record
//! whose id is already stored with the same values counts as already present; with other values it
//! is a conflict. References (a step's session, a call's step, an insight's synthesis version) must
//! already be stored in the importing project or appear earlier in the file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::instrument;
use uuid::Uuid;

use lux_entity::{
    action_item, bias_finding, insight, model_call, model_price, monitor_event, session,
    session_tag, step, synthesis_version,
};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::export::{
    action_record, event_record, finding_record, insight_record, model_call_record, price_record,
    session_record, step_record, synthesis_record,
};
use crate::store::Lux;
use crate::synthesis::ActionPriority;

mod reader;

pub use reader::{MAX_RECORD_BYTES, RawRecord, RecordSplitter, split_records};

/// Records written per transaction.
pub const IMPORT_CHUNK_RECORDS: usize = 500;

const MAX_TAGS: usize = 32;

type PriceKey = (String, Option<String>, DateTime<Utc>);

/// Imports records chunk by chunk into one project; see [`Lux::importer`].
pub struct Importer {
    lux: Lux,
    project: ProjectId,
    counts: BTreeMap<RecordKind, ImportCounts>,
    errors: Vec<ImportLineError>,
    failed: u64,
    /// Sessions known to be in the project.
    sessions: HashSet<Uuid>,
    /// Step id → its session, for steps known to be in the project.
    steps: HashMap<Uuid, Uuid>,
    /// Synthesis version id → its session.
    versions: HashMap<Uuid, Uuid>,
    prices: Option<HashMap<PriceKey, Uuid>>,
    /// What the committed chunks brought, for [`ImportReport::sessions_with_new_steps`].
    brought: Brought,
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("project", &self.project)
            .field("counts", &self.counts)
            .field("failed", &self.failed)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Created,
    AlreadyPresent,
}

impl Lux {
    pub fn importer(&self, project: ProjectId) -> Importer {
        Importer {
            lux: self.clone(),
            project,
            counts: BTreeMap::new(),
            errors: Vec::new(),
            failed: 0,
            sessions: HashSet::new(),
            steps: HashMap::new(),
            versions: HashMap::new(),
            prices: None,
            brought: Brought::default(),
        }
    }

    /// Imports a whole file held in memory; see [`Lux::import_stream`].
    pub async fn import_bytes(&self, project: ProjectId, bytes: &[u8]) -> Result<ImportReport> {
        self.import_stream(project, bytes, |_| {}).await
    }

    /// Imports a file (a JSON array or JSONL) as it is read, one chunk of records at a time, so
    /// memory stays flat however large the file. A file that cannot be a Lux export (empty, or
    /// not starting with `[` or `{`) is an error before anything is applied; bad records are
    /// reported per line and the rest are applied; a file cut short after some records were read
    /// applies those and reports the cut on its last line. `progress` hears of every chunk read.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn import_stream<R: AsyncRead + Unpin>(
        &self,
        project: ProjectId,
        mut reader: R,
        mut progress: impl FnMut(ImportProgress),
    ) -> Result<ImportReport> {
        let mut importer = self.importer(project);
        let mut splitter = RecordSplitter::new();
        let mut pending = Vec::new();
        let mut seen = ImportProgress::default();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = reader
                .read(&mut buffer)
                .await
                .map_err(|e| Error::invalid("file", format!("cannot be read: {e}")))?;
            if read == 0 {
                break;
            }
            seen.bytes += read as u64;
            let fed = splitter.feed(&buffer[..read], &mut pending);
            seen.records += pending.len() as u64;
            if let Err(error) = fed {
                return importer
                    .end_cut_short(pending, seen, splitter.line(), error)
                    .await;
            }
            if pending.len() >= IMPORT_CHUNK_RECORDS {
                importer.import_raw(std::mem::take(&mut pending)).await?;
            }
            progress(seen);
        }
        let before = pending.len();
        let finished = splitter.finish(&mut pending);
        seen.records += (pending.len() - before) as u64;
        if let Err(error) = finished {
            return importer
                .end_cut_short(pending, seen, splitter.line(), error)
                .await;
        }
        importer.import_raw(pending).await?;
        progress(seen);
        Ok(importer.finish())
    }
}

/// How far a streamed import has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub bytes: u64,
    pub records: u64,
}

impl Importer {
    /// Applies one chunk of records read from a file in one transaction, each record in its own
    /// savepoint. Fails only when the database does; bad records go to the report.
    pub async fn import_raw(&mut self, raw: Vec<RawRecord>) -> Result<()> {
        let mut records = Vec::with_capacity(raw.len());
        for RawRecord { line, text } in raw {
            let text = match text {
                Ok(text) => text,
                Err(message) => {
                    self.fail(line, None, "invalid", message);
                    continue;
                }
            };
            match serde_json::from_str::<ExportRecord>(&text) {
                Ok(record) => records.push((line, record)),
                Err(error) => {
                    let kind = kind_of(&text);
                    let message = if text.is_empty() {
                        "empty record".to_owned()
                    } else {
                        format!("not a Lux export record: {error}")
                    };
                    if let Some(known) = RecordKind::ALL
                        .into_iter()
                        .find(|known| Some(known.as_str()) == kind.as_deref())
                    {
                        self.counts.entry(known).or_default().failed += 1;
                    }
                    self.fail(line, kind, "invalid", message);
                }
            }
        }
        self.import_records(records).await
    }

    /// The file turned out not to be whole: with nothing read it is refused; otherwise the
    /// records read are applied and the cut is reported on the line where it was found.
    async fn end_cut_short(
        mut self,
        pending: Vec<RawRecord>,
        seen: ImportProgress,
        line: u64,
        error: Error,
    ) -> Result<ImportReport> {
        if seen.records == 0 {
            return Err(error);
        }
        self.import_raw(pending).await?;
        self.fail(line, None, "invalid", error.to_string());
        Ok(self.finish())
    }

    /// Applies records in one transaction, each in its own savepoint; `line` is what the report
    /// calls the record by (a file's line, or a position in another source).
    ///
    /// Most chunks are clean, so the chunk is first applied without savepoints (a savepoint costs
    /// two statements and a journal per record); at its first failing record that attempt is rolled
    /// back whole and the chunk applied record by record.
    pub async fn import_records(&mut self, records: Vec<(u64, ExportRecord)>) -> Result<()> {
        if self.import_clean_chunk(&records).await? {
            return Ok(());
        }
        let tx = self.lux.begin_write().await?;
        let mut pending = ChunkCaches::default();
        for (line, record) in records {
            let kind = record.kind();
            let savepoint = tx.begin().await?;
            match self.apply(&savepoint, &record, &mut pending).await {
                Ok(applied) => {
                    savepoint.commit().await?;
                    pending.brought.note(&record, applied);
                    self.count(kind, applied);
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    self.counts.entry(kind).or_default().failed += 1;
                    self.fail(
                        line,
                        Some(kind.as_str().to_owned()),
                        error.code(),
                        error.to_string(),
                    );
                }
            }
        }
        tx.commit().await?;
        self.keep(pending);
        Ok(())
    }

    /// Applies the whole chunk in one transaction without savepoints, or nothing (`false`) when a
    /// record fails.
    async fn import_clean_chunk(&mut self, records: &[(u64, ExportRecord)]) -> Result<bool> {
        // What this attempt finds or adds stays in `pending` until it commits. (The price table
        // cache is read before the importer inserts any price, so it never holds one of them.)
        let tx = self.lux.begin_write().await?;
        let mut pending = ChunkCaches::default();
        let mut outcomes = Vec::with_capacity(records.len());
        for (_, record) in records {
            match self.apply(&tx, record, &mut pending).await {
                Ok(applied) => {
                    pending.brought.note(record, applied);
                    outcomes.push((record.kind(), applied));
                }
                Err(_) => {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
        }
        tx.commit().await?;
        self.keep(pending);
        for (kind, applied) in outcomes {
            self.count(kind, applied);
        }
        Ok(true)
    }

    fn count(&mut self, kind: RecordKind, applied: Applied) {
        let counts = self.counts.entry(kind).or_default();
        match applied {
            Applied::Created => counts.created += 1,
            Applied::AlreadyPresent => counts.already_present += 1,
        }
    }

    /// Takes in what a committed chunk added: only now are its records really stored.
    fn keep(&mut self, pending: ChunkCaches) {
        self.sessions.extend(pending.sessions);
        self.steps.extend(pending.steps);
        self.versions.extend(pending.versions);
        self.brought.extend(pending.brought);
        if !pending.prices.is_empty()
            && let Some(prices) = &mut self.prices
        {
            prices.extend(pending.prices);
        }
    }

    pub fn finish(mut self) -> ImportReport {
        // A chunk reports its unreadable lines before the ones that failed to apply.
        self.errors.sort_by_key(|error| error.line);
        let created = self.counts.values().map(|c| c.created).sum();
        let already_present = self.counts.values().map(|c| c.already_present).sum();
        ImportReport {
            created,
            already_present,
            failed: self.failed,
            kinds: self
                .counts
                .into_iter()
                .map(|(kind, counts)| (kind.as_str().to_owned(), counts))
                .collect(),
            errors: self.errors,
            sessions_with_new_steps: self.brought.sessions(),
        }
    }

    fn fail(&mut self, line: u64, kind: Option<String>, code: &str, message: String) {
        self.failed += 1;
        if self.errors.len() < MAX_IMPORT_ERRORS {
            self.errors.push(ImportLineError {
                line,
                kind,
                code: code.to_owned(),
                message,
            });
        }
    }

    async fn apply(
        &mut self,
        conn: &DatabaseTransaction,
        record: &ExportRecord,
        pending: &mut ChunkCaches,
    ) -> Result<Applied> {
        match record {
            ExportRecord::Price(price) => self.apply_price(conn, price, pending).await,
            ExportRecord::Session(new) => self.apply_session(conn, new, pending).await,
            ExportRecord::Step(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                if let Some(row) = step::Entity::find_by_id(new.id.0).one(conn).await? {
                    return same(step_record(row) == *new, "step", new.id);
                }
                positive_number("step_number", new.step_number)?;
                same_text(
                    identifier("step_kind", &new.step_kind)?,
                    &new.step_kind,
                    "step_kind",
                )?;
                bounded_text("content", &new.content, MAX_CONTENT_BYTES)?;
                opt_text("raw_response", &new.raw_response, MAX_CONTENT_BYTES)?;
                opt_text("model", &new.model, MAX_LABEL_BYTES)?;
                optional_unit_score("confidence", new.confidence)?;
                optional_unit_score("clarity", new.clarity)?;
                opt_text("branch_id", &new.branch_id, MAX_LABEL_BYTES)?;
                metadata("metadata", Some(new.metadata.clone()))?;
                let taken = step::Entity::find()
                    .filter(step::Column::SessionId.eq(new.session_id.0))
                    .filter(step::Column::StepNumber.eq(new.step_number))
                    .one(conn)
                    .await?;
                if taken.is_some() {
                    return Err(Error::conflict(format!(
                        "session {} already has a step {} with another id",
                        new.session_id, new.step_number
                    )));
                }
                step::Entity::insert(step::ActiveModel {
                    id: Set(new.id.0),
                    session_id: Set(new.session_id.0),
                    step_number: Set(new.step_number),
                    kind: Set(new.step_kind.clone()),
                    content: Set(new.content.clone()),
                    raw_response: Set(new.raw_response.clone()),
                    model: Set(new.model.clone()),
                    confidence: Set(new.confidence),
                    clarity: Set(new.clarity),
                    is_revision: Set(new.is_revision),
                    revises_step: Set(new.revises_step),
                    branch_from_step: Set(new.branch_from_step),
                    branch_id: Set(new.branch_id.clone()),
                    metadata: Set(new.metadata.clone()),
                    created_at: Set(new.created_at),
                })
                .exec_without_returning(conn)
                .await?;
                pending.steps.insert(new.id.0, new.session_id.0);
                Ok(Applied::Created)
            }
            ExportRecord::SynthesisVersion(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                if let Some(row) = synthesis_version::Entity::find_by_id(new.id.0)
                    .one(conn)
                    .await?
                {
                    return same(synthesis_record(row) == *new, "synthesis version", new.id);
                }
                positive_number("version", new.version)?;
                if let Some(step) = new.step_id {
                    self.check_step(conn, step.0, new.session_id.0, pending)
                        .await?;
                }
                opt_text("raw_update", &new.raw_update, MAX_CONTENT_BYTES)?;
                opt_text(
                    "current_understanding",
                    &new.current_understanding,
                    MAX_CONTENT_BYTES,
                )?;
                optional_unit_score("confidence", new.confidence)?;
                optional_unit_score("clarity", new.clarity)?;
                if json_has_nul(&new.parsed) {
                    return Err(Error::invalid("parsed", "must not contain NUL characters"));
                }
                let taken = synthesis_version::Entity::find()
                    .filter(synthesis_version::Column::SessionId.eq(new.session_id.0))
                    .filter(synthesis_version::Column::Version.eq(new.version))
                    .one(conn)
                    .await?;
                if taken.is_some() {
                    return Err(Error::conflict(format!(
                        "session {} already has a synthesis version {} with another id",
                        new.session_id, new.version
                    )));
                }
                synthesis_version::Entity::insert(synthesis_version::ActiveModel {
                    id: Set(new.id.0),
                    session_id: Set(new.session_id.0),
                    version: Set(new.version),
                    step_id: Set(new.step_id.map(|id| id.0)),
                    step_number: Set(new.step_number),
                    raw_update: Set(new.raw_update.clone()),
                    current_understanding: Set(new.current_understanding.clone()),
                    confidence: Set(new.confidence),
                    clarity: Set(new.clarity),
                    parsed: Set(new.parsed.clone()),
                    created_at: Set(new.created_at),
                })
                .exec_without_returning(conn)
                .await?;
                pending.versions.insert(new.id.0, new.session_id.0);
                Ok(Applied::Created)
            }
            ExportRecord::Insight(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                self.check_version(conn, new.synthesis_version_id.0, new.session_id.0, pending)
                    .await?;
                if let Some(row) = insight::Entity::find_by_id(new.id).one(conn).await? {
                    return same(insight_record(row) == *new, "insight", new.id);
                }
                non_negative("position", new.position)?;
                bounded_text("text", &new.text, MAX_TEXT_BYTES)?;
                optional_unit_score("confidence", new.confidence)?;
                insight::Entity::insert(insight::ActiveModel {
                    id: Set(new.id),
                    synthesis_version_id: Set(new.synthesis_version_id.0),
                    session_id: Set(new.session_id.0),
                    position: Set(new.position),
                    text: Set(new.text.clone()),
                    confidence: Set(new.confidence),
                    source_step: Set(new.source_step),
                    supported_by_evidence: Set(new.supported_by_evidence),
                })
                .exec_without_returning(conn)
                .await?;
                Ok(Applied::Created)
            }
            ExportRecord::ActionItem(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                self.check_version(conn, new.synthesis_version_id.0, new.session_id.0, pending)
                    .await?;
                if let Some(row) = action_item::Entity::find_by_id(new.id).one(conn).await? {
                    return same(action_record(row) == *new, "action item", new.id);
                }
                non_negative("position", new.position)?;
                bounded_text("action", &new.action, MAX_TEXT_BYTES)?;
                opt_text("rationale", &new.rationale, MAX_TEXT_BYTES)?;
                new.priority.parse::<ActionPriority>().map_err(|_| {
                    Error::invalid(
                        "priority",
                        format!("{:?} is not one of high, medium, low", new.priority),
                    )
                })?;
                let dependencies_ok = new
                    .dependencies
                    .as_array()
                    .is_some_and(|items| items.iter().all(serde_json::Value::is_string))
                    && !json_has_nul(&new.dependencies);
                if !dependencies_ok {
                    return Err(Error::invalid(
                        "dependencies",
                        "must be a JSON array of strings",
                    ));
                }
                action_item::Entity::insert(action_item::ActiveModel {
                    id: Set(new.id),
                    synthesis_version_id: Set(new.synthesis_version_id.0),
                    session_id: Set(new.session_id.0),
                    position: Set(new.position),
                    action: Set(new.action.clone()),
                    priority: Set(new.priority.clone()),
                    rationale: Set(new.rationale.clone()),
                    dependencies: Set(new.dependencies.clone()),
                })
                .exec_without_returning(conn)
                .await?;
                Ok(Applied::Created)
            }
            ExportRecord::ModelCall(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                if let Some(row) = model_call::Entity::find_by_id(new.id.0).one(conn).await? {
                    let price = match row.price_id {
                        Some(id) => model_price::Entity::find_by_id(id).one(conn).await?,
                        None => None,
                    };
                    return same(
                        model_call_record(row, price.as_ref())? == *new,
                        "model call",
                        new.id,
                    );
                }
                if let Some(step) = new.step_id {
                    self.check_step(conn, step.0, new.session_id.0, pending)
                        .await?;
                }
                same_text(
                    identifier("provider", &new.provider)?,
                    &new.provider,
                    "provider",
                )?;
                bounded_text("model", &new.model, MAX_LABEL_BYTES)?;
                for (field, value) in [
                    ("input_tokens", new.input_tokens),
                    ("output_tokens", new.output_tokens),
                    ("cached_input_tokens", new.cached_input_tokens),
                    ("reasoning_tokens", new.reasoning_tokens),
                ] {
                    token_count(field, value)?;
                }
                if !(0..=MAX_LATENCY_MS).contains(&new.latency_ms) {
                    return Err(Error::invalid(
                        "latency_ms",
                        format!(
                            "must be between 0 and {MAX_LATENCY_MS}, got {}",
                            new.latency_ms
                        ),
                    ));
                }
                if new.cost_nusd < 0 {
                    return Err(Error::invalid("cost_nusd", "must not be negative"));
                }
                opt_text("error", &new.error, MAX_TEXT_BYTES)?;
                let price_id = match (&new.price_pattern, new.price_effective_from) {
                    (None, None) if new.price_provider.is_none() => None,
                    (Some(pattern), Some(from)) => {
                        let key = (pattern.clone(), new.price_provider.clone(), from);
                        Some(self.price_id(conn, &key, pending).await?.ok_or_else(|| {
                            Error::not_found(
                                "price",
                                format!(
                                    "{pattern} ({}) from {}",
                                    new.price_provider.as_deref().unwrap_or("any provider"),
                                    from.to_rfc3339()
                                ),
                            )
                        })?)
                    }
                    _ => {
                        return Err(Error::invalid(
                            "price_pattern",
                            "price_pattern and price_effective_from go together",
                        ));
                    }
                };
                model_call::Entity::insert(model_call::ActiveModel {
                    id: Set(new.id.0),
                    session_id: Set(new.session_id.0),
                    step_id: Set(new.step_id.map(|id| id.0)),
                    provider: Set(new.provider.clone()),
                    model: Set(new.model.clone()),
                    input_tokens: Set(new.input_tokens),
                    output_tokens: Set(new.output_tokens),
                    cached_input_tokens: Set(new.cached_input_tokens),
                    reasoning_tokens: Set(new.reasoning_tokens),
                    latency_ms: Set(new.latency_ms),
                    cost_nusd: Set(new.cost_nusd),
                    price_id: Set(price_id),
                    status: Set(new.status.as_str().to_owned()),
                    error: Set(new.error.clone()),
                    created_at: Set(new.created_at),
                })
                .exec_without_returning(conn)
                .await?;
                Ok(Applied::Created)
            }
            ExportRecord::Finding(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                if let Some(row) = bias_finding::Entity::find_by_id(new.id.0).one(conn).await? {
                    return same(finding_record(row)? == *new, "finding", new.id);
                }
                if let Some(step) = new.step_id {
                    self.check_step(conn, step.0, new.session_id.0, pending)
                        .await?;
                }
                same_text(
                    identifier("detector", &new.detector)?,
                    &new.detector,
                    "detector",
                )?;
                bounded_text("detector_version", &new.detector_version, MAX_LABEL_BYTES)?;
                same_text(
                    identifier("bias_type", &new.bias_type)?,
                    &new.bias_type,
                    "bias_type",
                )?;
                unit_score("confidence", new.confidence)?;
                bounded_text("explanation", &new.explanation, MAX_TEXT_BYTES)?;
                opt_text("evidence_text", &new.evidence_text, MAX_CONTENT_BYTES)?;
                opt_text("suggestion", &new.suggestion, MAX_TEXT_BYTES)?;
                match (new.evidence_start, new.evidence_end) {
                    (None, None) => {}
                    (Some(start), Some(end)) if 0 <= start && start <= end => {}
                    _ => {
                        return Err(Error::invalid(
                            "evidence_start",
                            "evidence_start and evidence_end go together, with 0 <= start <= end",
                        ));
                    }
                }
                bias_finding::Entity::insert(bias_finding::ActiveModel {
                    id: Set(new.id.0),
                    session_id: Set(new.session_id.0),
                    step_id: Set(new.step_id.map(|id| id.0)),
                    detector: Set(new.detector.clone()),
                    detector_version: Set(new.detector_version.clone()),
                    bias_type: Set(new.bias_type.clone()),
                    severity: Set(new.severity.as_str().to_owned()),
                    confidence: Set(new.confidence),
                    explanation: Set(new.explanation.clone()),
                    evidence_start: Set(new.evidence_start),
                    evidence_end: Set(new.evidence_end),
                    evidence_text: Set(new.evidence_text.clone()),
                    suggestion: Set(new.suggestion.clone()),
                    created_at: Set(new.created_at),
                })
                .exec_without_returning(conn)
                .await?;
                Ok(Applied::Created)
            }
            ExportRecord::MonitorEvent(new) => {
                self.check_session(conn, new.session_id.0, pending).await?;
                if let Some(row) = monitor_event::Entity::find_by_id(new.id.0)
                    .one(conn)
                    .await?
                {
                    return same(event_record(row)? == *new, "monitor event", new.id);
                }
                if let Some(step) = new.step_id {
                    self.check_step(conn, step.0, new.session_id.0, pending)
                        .await?;
                }
                same_text(
                    identifier("event_kind", &new.event_kind)?,
                    &new.event_kind,
                    "event_kind",
                )?;
                if !new.score.is_finite() {
                    return Err(Error::invalid("score", "must be a finite number"));
                }
                bounded_text("message", &new.message, MAX_TEXT_BYTES)?;
                metadata("data", Some(new.data.clone()))?;
                monitor_event::Entity::insert(monitor_event::ActiveModel {
                    id: Set(new.id.0),
                    session_id: Set(new.session_id.0),
                    step_id: Set(new.step_id.map(|id| id.0)),
                    kind: Set(new.event_kind.clone()),
                    severity: Set(new.severity.as_str().to_owned()),
                    score: Set(new.score),
                    message: Set(new.message.clone()),
                    data: Set(new.data.clone()),
                    created_at: Set(new.created_at),
                })
                .exec_without_returning(conn)
                .await?;
                Ok(Applied::Created)
            }
        }
    }

    async fn apply_session(
        &mut self,
        conn: &DatabaseTransaction,
        new: &SessionRecord,
        pending: &mut ChunkCaches,
    ) -> Result<Applied> {
        if let Some(row) = session::Entity::find_by_id(new.id.0).one(conn).await? {
            if row.project_id != self.project.0 {
                return Err(Error::conflict(format!(
                    "session id {} is already in use",
                    new.id
                )));
            }
            let tags = session_tag::Entity::find()
                .filter(session_tag::Column::SessionId.eq(row.id))
                .all(conn)
                .await?
                .into_iter()
                .map(|tag| tag.tag)
                .collect();
            // A session that moved on since the file was written (analysis ran, steps came)
            // still holds everything the file says: only an older `updated_at` is allowed.
            let stored = session_record(row, tags)?;
            let moved_on = stored.updated_at >= new.updated_at;
            let same_values = SessionRecord {
                updated_at: new.updated_at,
                ..stored
            } == *new;
            return same(same_values && moved_on, "session", new.id);
        }
        same_text(identifier("tool", &new.tool)?, &new.tool, "tool")?;
        opt_text("external_id", &new.external_id, MAX_LABEL_BYTES)?;
        opt_text("title", &new.title, MAX_TEXT_BYTES)?;
        opt_text("user_id", &new.user_id, MAX_LABEL_BYTES)?;
        opt_text("client", &new.client, MAX_LABEL_BYTES)?;
        opt_text("model", &new.model, MAX_LABEL_BYTES)?;
        metadata("metadata", Some(new.metadata.clone()))?;
        if new.tags.len() > MAX_TAGS {
            return Err(Error::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags allowed"),
            ));
        }
        let mut sorted = new.tags.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != new.tags {
            return Err(Error::invalid("tags", "must be sorted and distinct"));
        }
        for tag in &new.tags {
            same_text(required_text("tags", tag, 64)?, tag, "tags")?;
        }
        if new.updated_at < new.created_at {
            return Err(Error::invalid("updated_at", "is before created_at"));
        }
        if new.status.is_final() != new.completed_at.is_some() {
            return Err(Error::invalid(
                "completed_at",
                "is set exactly when the status is completed, failed or abandoned",
            ));
        }
        if let Some(external_id) = &new.external_id {
            let taken = session::Entity::find()
                .filter(session::Column::ProjectId.eq(self.project.0))
                .filter(session::Column::ExternalId.eq(external_id.as_str()))
                .one(conn)
                .await?;
            if taken.is_some() {
                return Err(Error::conflict(format!(
                    "another session already has external_id {external_id:?}"
                )));
            }
        }
        session::Entity::insert(session::ActiveModel {
            id: Set(new.id.0),
            project_id: Set(self.project.0),
            external_id: Set(new.external_id.clone()),
            tool: Set(new.tool.clone()),
            status: Set(new.status.as_str().to_owned()),
            title: Set(new.title.clone()),
            user_id: Set(new.user_id.clone()),
            client: Set(new.client.clone()),
            model: Set(new.model.clone()),
            metadata: Set(new.metadata.clone()),
            created_at: Set(new.created_at),
            updated_at: Set(new.updated_at),
            completed_at: Set(new.completed_at),
        })
        .exec_without_returning(conn)
        .await?;
        if !new.tags.is_empty() {
            session_tag::Entity::insert_many(new.tags.iter().map(|tag| session_tag::ActiveModel {
                session_id: Set(new.id.0),
                tag: Set(tag.clone()),
            }))
            .exec_without_returning(conn)
            .await?;
        }
        pending.sessions.insert(new.id.0);
        Ok(Applied::Created)
    }

    async fn apply_price(
        &mut self,
        conn: &DatabaseTransaction,
        new: &PriceRecord,
        pending: &mut ChunkCaches,
    ) -> Result<Applied> {
        let key = (
            new.model_pattern.clone(),
            new.provider.clone(),
            new.effective_from,
        );
        if let Some(id) = self.price_id(conn, &key, pending).await? {
            let row = model_price::Entity::find_by_id(id)
                .one(conn)
                .await?
                .ok_or_else(|| Error::not_found("price", id))?;
            let stored = price_record(row);
            return if stored == *new {
                Ok(Applied::AlreadyPresent)
            } else {
                Err(Error::conflict(format!(
                    "a price for {:?} from {} is already stored with different values",
                    new.model_pattern,
                    new.effective_from.to_rfc3339()
                )))
            };
        }
        same_text(
            required_text("model_pattern", &new.model_pattern, MAX_LABEL_BYTES)?,
            &new.model_pattern,
            "model_pattern",
        )?;
        if let Some(provider) = &new.provider {
            same_text(identifier("provider", provider)?, provider, "provider")?;
        }
        same_text(identifier("source", &new.source)?, &new.source, "source")?;
        let amounts = [
            Some(new.input_nusd_per_mtok),
            Some(new.output_nusd_per_mtok),
            new.cached_input_nusd_per_mtok,
            new.reasoning_nusd_per_mtok,
        ];
        if amounts.into_iter().flatten().any(|amount| amount < 0) {
            return Err(Error::invalid("price", "amounts must not be negative"));
        }
        if new.effective_to.is_some_and(|to| to <= new.effective_from) {
            return Err(Error::invalid(
                "effective_to",
                "must be after effective_from",
            ));
        }
        let id = self.lux.new_id();
        model_price::Entity::insert(model_price::ActiveModel {
            id: Set(id),
            model_pattern: Set(new.model_pattern.clone()),
            provider: Set(new.provider.clone()),
            input_nusd_per_mtok: Set(new.input_nusd_per_mtok),
            output_nusd_per_mtok: Set(new.output_nusd_per_mtok),
            cached_input_nusd_per_mtok: Set(new.cached_input_nusd_per_mtok),
            reasoning_nusd_per_mtok: Set(new.reasoning_nusd_per_mtok),
            effective_from: Set(new.effective_from),
            effective_to: Set(new.effective_to),
            source: Set(new.source.clone()),
            created_at: Set(self.lux.now()),
        })
        .exec_without_returning(conn)
        .await?;
        pending.prices.insert(key, id);
        Ok(Applied::Created)
    }

    async fn price_id(
        &mut self,
        conn: &DatabaseTransaction,
        key: &PriceKey,
        pending: &ChunkCaches,
    ) -> Result<Option<Uuid>> {
        if let Some(id) = pending.prices.get(key) {
            return Ok(Some(*id));
        }
        if self.prices.is_none() {
            let rows = model_price::Entity::find().all(conn).await?;
            let mut prices = HashMap::new();
            // Oldest row first wins, so a duplicated natural key resolves the same way every time.
            for row in rows {
                prices
                    .entry((row.model_pattern, row.provider, row.effective_from))
                    .or_insert(row.id);
            }
            self.prices = Some(prices);
        }
        Ok(self
            .prices
            .as_ref()
            .and_then(|prices| prices.get(key).copied()))
    }

    async fn check_session(
        &mut self,
        conn: &impl ConnectionTrait,
        id: Uuid,
        pending: &mut ChunkCaches,
    ) -> Result<()> {
        if self.sessions.contains(&id) || pending.sessions.contains(&id) {
            return Ok(());
        }
        let found = session::Entity::find_by_id(id)
            .filter(session::Column::ProjectId.eq(self.project.0))
            .one(conn)
            .await?;
        if found.is_none() {
            return Err(Error::not_found("session", id));
        }
        self.sessions.insert(id);
        Ok(())
    }

    async fn check_step(
        &mut self,
        conn: &impl ConnectionTrait,
        id: Uuid,
        session: Uuid,
        pending: &ChunkCaches,
    ) -> Result<()> {
        let owner = match self.steps.get(&id).or_else(|| pending.steps.get(&id)) {
            Some(owner) => Some(*owner),
            None => step::Entity::find_by_id(id)
                .one(conn)
                .await?
                .map(|row| row.session_id),
        };
        if owner != Some(session) {
            return Err(Error::not_found(
                "step",
                format!("{id} in session {session}"),
            ));
        }
        Ok(())
    }

    async fn check_version(
        &mut self,
        conn: &impl ConnectionTrait,
        id: Uuid,
        session: Uuid,
        pending: &ChunkCaches,
    ) -> Result<()> {
        let owner = match self.versions.get(&id).or_else(|| pending.versions.get(&id)) {
            Some(owner) => Some(*owner),
            None => synthesis_version::Entity::find_by_id(id)
                .one(conn)
                .await?
                .map(|row| row.session_id),
        };
        if owner != Some(session) {
            return Err(Error::not_found(
                "synthesis version",
                format!("{id} in session {session}"),
            ));
        }
        Ok(())
    }
}

/// What a chunk added, kept apart until its transaction commits. A record adds its entry only
/// after its insert succeeded, as the last thing before its savepoint commits.
#[derive(Default)]
struct ChunkCaches {
    sessions: HashSet<Uuid>,
    steps: HashMap<Uuid, Uuid>,
    versions: HashMap<Uuid, Uuid>,
    prices: HashMap<PriceKey, Uuid>,
    brought: Brought,
}

/// Sessions that received steps, and the detector versions whose findings came with the import.
#[derive(Default)]
struct Brought {
    stepped: HashSet<Uuid>,
    detectors: BTreeMap<Uuid, BTreeSet<(String, String)>>,
}

impl Brought {
    fn note(&mut self, record: &ExportRecord, applied: Applied) {
        match record {
            ExportRecord::Step(step) if applied == Applied::Created => {
                self.stepped.insert(step.session_id.0);
            }
            ExportRecord::Finding(finding) => {
                self.detectors
                    .entry(finding.session_id.0)
                    .or_default()
                    .insert((finding.detector.clone(), finding.detector_version.clone()));
            }
            _ => {}
        }
    }

    fn extend(&mut self, other: Brought) {
        self.stepped.extend(other.stepped);
        for (session, detectors) in other.detectors {
            self.detectors.entry(session).or_default().extend(detectors);
        }
    }

    fn sessions(mut self) -> Vec<ImportedSession> {
        let mut sessions: Vec<ImportedSession> = self
            .stepped
            .into_iter()
            .map(|session| ImportedSession {
                session_id: SessionId(session),
                detectors: self
                    .detectors
                    .remove(&session)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            })
            .collect();
        sessions.sort_by_key(|session| session.session_id.0);
        sessions
    }
}

/// The `kind` of a record that did not parse: from the whole object when it is valid JSON, else
/// from a leading `{"kind":"…"` as Lux writes it (a cut-off line still names its kind).
fn kind_of(text: &str) -> Option<String> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return value.get("kind")?.as_str().map(str::to_owned);
    }
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"kind\"")?
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let kind = &rest[..rest.find('"')?];
    RecordKind::ALL
        .iter()
        .find(|known| known.as_str() == kind)
        .map(|known| known.as_str().to_owned())
}

fn same(equal: bool, what: &str, id: impl std::fmt::Display) -> Result<Applied> {
    if equal {
        Ok(Applied::AlreadyPresent)
    } else {
        Err(Error::conflict(format!(
            "{what} {id} is already stored with different values"
        )))
    }
}

/// Imported text is stored as given, so it must already be in the form a write would store.
fn same_text(checked: String, given: &str, field: &str) -> Result<()> {
    if checked == given {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{given:?} has surrounding whitespace"),
        ))
    }
}

fn opt_text(field: &str, value: &Option<String>, max_bytes: usize) -> Result<()> {
    if let Some(value) = value {
        bounded_text(field, value, max_bytes)?;
    }
    Ok(())
}

fn non_negative(field: &str, value: i32) -> Result<()> {
    if value >= 0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must not be negative, got {value}"),
        ))
    }
}
