//! Cross-session patterns: digests of a project's recent sessions, built from the stored rows and
//! fed to every pattern miner (the built-in ones here; WASM miners implement the same trait).

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, QueryResult};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use crate::detect::patterns::{ConceptSignalMiner, RecurringBiasMiner};
use crate::detect::{MinedPattern, PatternMiner, SessionDigest, text};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::analytics::Sql;
use crate::store::Lux;

/// Sessions examined when the caller names no number.
pub const DEFAULT_PATTERN_SESSIONS: u32 = 500;
/// Most sessions one mining run examines: digests are built in memory.
pub const MAX_PATTERN_SESSIONS: u32 = 5000;
/// Concepts kept per session digest.
const TOP_CONCEPTS: usize = 8;
/// Sessions per `IN (…)` list, well under SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// Which sessions to mine and how much support a pattern needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternQuery {
    pub filter: SessionFilter,
    /// The newest this many sessions matching the filter.
    pub sessions: Option<u32>,
    /// Fewest sessions a pattern must appear in (default 3).
    pub min_support: Option<u32>,
}

/// A pattern and the miner that found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundPattern {
    pub miner: String,
    pub miner_version: String,
    #[serde(flatten)]
    pub pattern: MinedPattern,
}

/// A miner that failed; the others' patterns are still reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinerFailure {
    pub miner: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternReport {
    pub sessions_examined: u32,
    /// Strongest first: most sessions, then highest score.
    pub patterns: Vec<FoundPattern>,
    pub failed_miners: Vec<MinerFailure>,
}

impl Lux {
    /// Digests of the newest sessions matching the filter, newest first.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn session_digests(
        &self,
        project: ProjectId,
        filter: &SessionFilter,
        sessions: u32,
    ) -> Result<Vec<SessionDigest>> {
        if !(1..=MAX_PATTERN_SESSIONS).contains(&sessions) {
            return Err(Error::invalid(
                "sessions",
                format!("must be between 1 and {MAX_PATTERN_SESSIONS}, got {sessions}"),
            ));
        }
        let mut chosen = Vec::new();
        let mut page = PageRequest::first(sessions.min(MAX_PAGE_LIMIT));
        while chosen.len() < sessions as usize {
            let found = self.list_sessions(project, filter, &page).await?;
            chosen.extend(found.items);
            match found.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        chosen.truncate(sessions as usize);

        let mut digests = Vec::with_capacity(chosen.len());
        for batch in chosen.chunks(CHUNK) {
            let ids: Vec<Uuid> = batch.iter().map(|session| session.id.0).collect();
            let steps = self.step_texts(&ids).await?;
            let biases = self.counts_by(&ids, CountOf::Findings).await?;
            let alerts = self.counts_by(&ids, CountOf::Alerts).await?;
            let usage = self.usage_by_session(&ids).await?;
            for session in batch {
                let id = session.id.0;
                let texts = steps.get(&id).map(Vec::as_slice).unwrap_or_default();
                let (total_tokens, cost_nusd) = usage.get(&id).copied().unwrap_or((0, 0));
                digests.push(SessionDigest {
                    session_id: session.id,
                    tool: session.tool.clone(),
                    status: session.status.to_string(),
                    model: session.model.clone(),
                    n_steps: u32::try_from(texts.len()).unwrap_or(u32::MAX),
                    bias_counts: biases.get(&id).cloned().unwrap_or_default(),
                    monitor_counts: alerts.get(&id).cloned().unwrap_or_default(),
                    top_concepts: top_concepts(texts),
                    total_tokens,
                    cost_nusd,
                    created_at: session.created_at,
                });
            }
        }
        Ok(digests)
    }

    /// Runs the built-in miners over the digests of the sessions the query names.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn find_patterns(
        &self,
        project: ProjectId,
        query: &PatternQuery,
    ) -> Result<PatternReport> {
        let min_support = query.min_support.unwrap_or(3);
        if min_support == 0 {
            return Err(Error::invalid("min_support", "must be at least 1"));
        }
        let digests = self
            .session_digests(
                project,
                &query.filter,
                query.sessions.unwrap_or(DEFAULT_PATTERN_SESSIONS),
            )
            .await?;
        let miners: Vec<Box<dyn PatternMiner>> = vec![
            Box::new(RecurringBiasMiner { min_support }),
            Box::new(ConceptSignalMiner {
                min_support,
                ..ConceptSignalMiner::default()
            }),
        ];
        let mut patterns = Vec::new();
        let mut failed_miners = Vec::new();
        for miner in &miners {
            match miner.mine(&digests).await {
                Ok(found) => patterns.extend(found.into_iter().map(|pattern| FoundPattern {
                    miner: miner.name().to_owned(),
                    miner_version: miner.version().to_owned(),
                    pattern,
                })),
                Err(error) => {
                    tracing::warn!(miner = miner.name(), error = %error.message, "pattern miner failed");
                    failed_miners.push(MinerFailure {
                        miner: miner.name().to_owned(),
                        message: error.message,
                    });
                }
            }
        }
        patterns.sort_by(|a, b| {
            b.pattern
                .support
                .cmp(&a.pattern.support)
                .then_with(|| b.pattern.score.total_cmp(&a.pattern.score))
                .then_with(|| a.pattern.title.cmp(&b.pattern.title))
        });
        Ok(PatternReport {
            sessions_examined: u32::try_from(digests.len()).unwrap_or(u32::MAX),
            patterns,
            failed_miners,
        })
    }

    async fn query(&self, sql: &Sql) -> Result<Vec<QueryResult>> {
        Ok(self.db().query_all_raw(sql.statement()).await?)
    }

    /// Step texts per session, in step order.
    async fn step_texts(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>> {
        let mut sql = Sql::new(self.db().get_database_backend());
        sql.push("SELECT session_id, content FROM steps WHERE session_id IN (");
        push_ids(&mut sql, ids);
        sql.push(") ORDER BY session_id, step_number");
        let mut texts: HashMap<Uuid, Vec<String>> = HashMap::new();
        for row in self.query(&sql).await? {
            texts
                .entry(row.try_get("", "session_id")?)
                .or_default()
                .push(row.try_get("", "content")?);
        }
        Ok(texts)
    }

    async fn counts_by(
        &self,
        ids: &[Uuid],
        of: CountOf,
    ) -> Result<HashMap<Uuid, BTreeMap<String, u32>>> {
        let mut sql = Sql::new(self.db().get_database_backend());
        sql.push(match of {
            CountOf::Findings => {
                "SELECT session_id, bias_type AS k, COUNT(*) AS n FROM bias_findings \
                 WHERE session_id IN ("
            }
            CountOf::Alerts => {
                "SELECT session_id, kind AS k, COUNT(*) AS n FROM monitor_events \
                 WHERE session_id IN ("
            }
        });
        push_ids(&mut sql, ids);
        sql.push(") GROUP BY session_id, k");
        let mut counts: HashMap<Uuid, BTreeMap<String, u32>> = HashMap::new();
        for row in self.query(&sql).await? {
            let n: i64 = row.try_get("", "n")?;
            counts
                .entry(row.try_get("", "session_id")?)
                .or_default()
                .insert(row.try_get("", "k")?, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(counts)
    }

    /// `(tokens in + out, cost in nano-USD)` per session.
    async fn usage_by_session(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, (i64, i64)>> {
        let mut sql = Sql::new(self.db().get_database_backend());
        sql.push(
            "SELECT session_id, \
             CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(cost_nusd), 0) AS BIGINT) AS cost \
             FROM model_calls WHERE session_id IN (",
        );
        push_ids(&mut sql, ids);
        sql.push(") GROUP BY session_id");
        let mut usage = HashMap::new();
        for row in self.query(&sql).await? {
            usage.insert(
                row.try_get("", "session_id")?,
                (row.try_get("", "tokens")?, row.try_get("", "cost")?),
            );
        }
        Ok(usage)
    }
}

#[derive(Debug, Clone, Copy)]
enum CountOf {
    Findings,
    Alerts,
}

pub(crate) fn push_ids(sql: &mut Sql, ids: &[Uuid]) {
    for (index, id) in ids.iter().enumerate() {
        if index > 0 {
            sql.push(", ");
        }
        sql.bind(*id);
    }
}

/// The session's most frequent concepts over all its steps, ties broken alphabetically.
fn top_concepts(texts: &[String]) -> Vec<String> {
    let mut frequency: HashMap<String, f64> = HashMap::new();
    for content in texts {
        for (concept, count) in text::concepts(&text::words(content)) {
            *frequency.entry(concept).or_default() += count;
        }
    }
    let mut ranked: Vec<(String, f64)> = frequency.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(TOP_CONCEPTS)
        .map(|(concept, _)| concept)
        .collect()
}
