//! Cross-session patterns over a project's stored sessions: digests built from the stored rows
//! (what WASM miners receive), topics found over the sessions' texts, and the significance-tested
//! patterns of `crate::patterns` over both.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Duration;
use sea_orm::{ConnectionTrait, QueryResult};
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use crate::detect::learned::semantic;
use crate::detect::{MinedPattern, SessionDigest};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::patterns::topics::{Topic, TopicMethod, TopicText, Topics, find_topics};
use crate::patterns::{
    DEFAULT_FDR, DEFAULT_MIN_SUPPORT, DEFAULT_WINDOW_DAYS, MiningSettings, Pattern, SessionFacts,
    mine,
};
use crate::services::analytics::Sql;
use crate::store::Lux;

/// Sessions examined when the caller names no number.
pub const DEFAULT_PATTERN_SESSIONS: u32 = 500;
/// Most sessions one mining run examines: digests are built in memory.
pub const MAX_PATTERN_SESSIONS: u32 = 5000;
/// Longest trend window, in days.
pub const MAX_WINDOW_DAYS: u32 = 366;
/// Words kept per session digest.
const TOP_CONCEPTS: usize = 8;
/// Sessions per `IN (…)` list, well under SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// Which sessions to mine and how strict to be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternQuery {
    pub filter: SessionFilter,
    /// The newest this many sessions matching the filter (default 500).
    pub sessions: Option<u32>,
    /// Fewest sessions showing a pattern (default 5).
    pub min_support: Option<u32>,
    /// False-discovery rate, in (0, 0.5] (default 0.05).
    pub fdr: Option<f64>,
    /// Length of the windows a trend compares, in days (default 7).
    pub window_days: Option<u32>,
}

/// A pattern a plugin miner found, and the miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundPattern {
    pub miner: String,
    pub miner_version: String,
    #[serde(flatten)]
    pub pattern: MinedPattern,
}

/// What one mining run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternReport {
    pub sessions_examined: u32,
    /// How topics were found: the sentence model, or words (lexical fallback).
    pub topic_method: TopicMethod,
    /// Topics found, largest first.
    pub topics: Vec<Topic>,
    /// Hypotheses tested: the family the false-discovery rate is controlled over.
    pub tested: u32,
    pub fdr: f64,
    pub min_support: u32,
    pub window_days: u32,
    /// Strongest evidence first; none share (nearly) the same sessions.
    pub patterns: Vec<Pattern>,
}

/// Digests of sessions together with what topic modelling reads.
struct Examined {
    digests: Vec<SessionDigest>,
    facts: Vec<SessionFacts>,
    topics: Topics,
}

impl Lux {
    /// Digests of the newest sessions matching the filter, newest first, each with its topic.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn session_digests(
        &self,
        project: ProjectId,
        filter: &SessionFilter,
        sessions: u32,
    ) -> Result<Vec<SessionDigest>> {
        Ok(self
            .examine(project, filter, sessions, DEFAULT_MIN_SUPPORT)
            .await?
            .digests)
    }

    async fn examine(
        &self,
        project: ProjectId,
        filter: &SessionFilter,
        sessions: u32,
        min_topic_size: u32,
    ) -> Result<Examined> {
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
        let mut facts = Vec::with_capacity(chosen.len());
        let mut texts: Vec<Vec<String>> = Vec::with_capacity(chosen.len());
        for batch in chosen.chunks(CHUNK) {
            let ids: Vec<Uuid> = batch.iter().map(|session| session.id.0).collect();
            let mut steps = self.step_texts(&ids).await?;
            let biases = self.counts_by(&ids, CountOf::Findings).await?;
            let alerts = self.counts_by(&ids, CountOf::Alerts).await?;
            let usage = self.usage_by_session(&ids).await?;
            for session in batch {
                let id = session.id.0;
                let session_texts = steps.remove(&id).unwrap_or_default();
                let (total_tokens, cost_nusd) = usage.get(&id).copied().unwrap_or((0, 0));
                let bias_counts = biases.get(&id).cloned().unwrap_or_default();
                let monitor_counts = alerts.get(&id).cloned().unwrap_or_default();
                let signals: BTreeSet<String> = bias_counts
                    .iter()
                    .chain(&monitor_counts)
                    .filter(|(_, count)| **count > 0)
                    .map(|(signal, _)| signal.clone())
                    .collect();
                digests.push(SessionDigest {
                    session_id: session.id,
                    tool: session.tool.clone(),
                    status: session.status.to_string(),
                    model: session.model.clone(),
                    n_steps: u32::try_from(session_texts.len()).unwrap_or(u32::MAX),
                    bias_counts,
                    monitor_counts,
                    top_concepts: crate::patterns::top_words(&session_texts, TOP_CONCEPTS),
                    topic: None,
                    total_tokens,
                    cost_nusd,
                    created_at: session.created_at,
                });
                facts.push(SessionFacts {
                    id: session.id,
                    tool: session.tool.clone(),
                    model: session.model.clone(),
                    user_id: session.user_id.clone(),
                    created_at: session.created_at,
                    signals,
                    topic: None,
                });
                texts.push(session_texts);
            }
        }
        let topic_texts: Vec<TopicText<'_>> = chosen
            .iter()
            .zip(&texts)
            .map(|(session, steps)| TopicText {
                title: session.title.as_deref(),
                steps,
            })
            .collect();
        let encoder = semantic::encoder();
        let topics = find_topics(
            &topic_texts,
            min_topic_size.max(2) as usize,
            encoder.as_deref(),
        );
        for (index, topic) in topics.assignment.iter().enumerate() {
            facts[index].topic = *topic;
            digests[index].topic = topic.map(|t| topics.topics[t].label.clone());
        }
        Ok(Examined {
            digests,
            facts,
            topics,
        })
    }

    /// Finds the patterns in the sessions the query names: every candidate tested, the family
    /// held to the false-discovery rate, patterns over the same sessions merged.
    #[instrument(skip_all, fields(project = %project))]
    pub async fn find_patterns(
        &self,
        project: ProjectId,
        query: &PatternQuery,
    ) -> Result<PatternReport> {
        let min_support = query.min_support.unwrap_or(DEFAULT_MIN_SUPPORT);
        if min_support == 0 {
            return Err(Error::invalid("min_support", "must be at least 1"));
        }
        let fdr = query.fdr.unwrap_or(DEFAULT_FDR);
        if !(fdr > 0.0 && fdr <= 0.5) {
            return Err(Error::invalid(
                "fdr",
                format!("must be above 0 and at most 0.5, got {fdr}"),
            ));
        }
        let window_days = query.window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
        if !(1..=MAX_WINDOW_DAYS).contains(&window_days) {
            return Err(Error::invalid(
                "window_days",
                format!("must be between 1 and {MAX_WINDOW_DAYS}, got {window_days}"),
            ));
        }
        let examined = self
            .examine(
                project,
                &query.filter,
                query.sessions.unwrap_or(DEFAULT_PATTERN_SESSIONS),
                min_support,
            )
            .await?;
        let settings = MiningSettings {
            fdr,
            min_support,
            window: Duration::days(i64::from(window_days)),
        };
        let mined = mine(&examined.facts, &examined.topics.topics, &settings);
        Ok(PatternReport {
            sessions_examined: u32::try_from(examined.facts.len()).unwrap_or(u32::MAX),
            topic_method: examined.topics.method,
            topics: examined.topics.topics,
            tested: mined.tested,
            fdr,
            min_support,
            window_days,
            patterns: mined.patterns,
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
