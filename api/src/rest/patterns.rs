//! `GET /patterns`: cross-session patterns of the caller's project — Lux's own, tested for
//! significance over the sessions the query names (strongest evidence first), then those plugin
//! miners stored (newest first) — one list, paged. The same mining run MCP's `find_patterns`
//! and the dashboard's patterns page show.

use chrono::{DateTime, Utc};
use lux_core::patterns::topics::TopicMethod;
use lux_core::patterns::{Facet, Pattern, PatternKind, describe, same_sessions_as_earlier};
use lux_core::services::api_keys::Scope;
use lux_core::services::patterns::{PatternQuery, PatternReport};
use lux_core::*;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{Auth, AuthPolicy};
use super::dto::SessionStatusDto;
use super::error::{ApiError, ApiResult};
use super::limit::{Limit, asked};

/// Miner name of Lux's own significance-tested patterns.
pub(crate) const BUILTIN_MINER: &str = "lux.patterns";
/// Version of the statistics behind them (bump when a test or threshold changes).
pub(crate) const BUILTIN_MINER_VERSION: &str = "2.0.0";
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

pub(crate) struct PatternsApi {
    pub(crate) lux: Lux,
    pub(crate) policy: AuthPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum PatternSourceDto {
    /// Lux's own mining, tested for significance when the request is made.
    Builtin,
    /// Stored by a plugin miner's run.
    Plugin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum TopicMethodDto {
    /// The sentence model's embeddings together with the sessions' words.
    Semantic,
    /// The sessions' words only: the model is not installed (lexical fallback).
    Lexical,
}

/// One way a pattern's sessions are picked out.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct FacetDto {
    /// `topic`, `tool`, `model` or `user`.
    pub(crate) facet: String,
    /// The topic's name, the tool, the model or the user id.
    pub(crate) value: String,
    /// For a topic: its id in `mining.topics`.
    pub(crate) topic_id: Option<u32>,
}

/// The evidence behind one of Lux's own patterns.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PatternStatisticsDto {
    /// `enrichment` (more frequent in the group than elsewhere) or `trend` (more frequent in the
    /// latest window than before it).
    pub(crate) kind: String,
    /// The bias type or monitor alert kind.
    pub(crate) signal: String,
    /// All of these hold for the group's sessions; empty means every session.
    pub(crate) group: Vec<FacetDto>,
    /// Sessions in the group (in the latest window, for a trend).
    pub(crate) group_sessions: u32,
    /// Share of them showing the signal, with its 95 % Wilson interval `[low, high]`.
    pub(crate) rate: f64,
    pub(crate) rate_interval: Vec<f64>,
    /// The share it is compared with: elsewhere, or before the latest window.
    pub(crate) baseline_rate: f64,
    pub(crate) baseline_sessions: u32,
    /// 95 % interval of `rate − baseline_rate` (Newcombe's hybrid score method).
    pub(crate) difference_interval: Vec<f64>,
    /// One-sided Fisher's exact test.
    pub(crate) p_value: f64,
    /// Benjamini–Hochberg adjusted over the run's family of hypotheses.
    pub(crate) q_value: f64,
    /// Other descriptions of (nearly) the same sessions, merged into this pattern.
    pub(crate) also: Vec<String>,
    /// For a trend: the span before the latest window, and the latest window.
    pub(crate) previous_from: Option<DateTime<Utc>>,
    pub(crate) recent_from: Option<DateTime<Utc>>,
    pub(crate) recent_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PatternDto {
    /// Stored patterns: their id. Lux's own: derived from the pattern's kind, signal and group,
    /// so the same pattern keeps its id from one request to the next.
    pub(crate) id: Uuid,
    pub(crate) source: PatternSourceDto,
    pub(crate) miner: String,
    pub(crate) miner_version: String,
    pub(crate) kind: String,
    pub(crate) title: String,
    pub(crate) support: u32,
    /// Miner-defined strength in 0..=1; for Lux's own, `1 − q`.
    pub(crate) score: f64,
    pub(crate) session_ids: Vec<Uuid>,
    pub(crate) data: serde_json::Value,
    /// When it was stored; for Lux's own, when it was mined (now).
    pub(crate) created_at: DateTime<Utc>,
    /// Present for Lux's own patterns.
    pub(crate) statistics: Option<PatternStatisticsDto>,
    /// Patterns listed after this one that cover (nearly) the same sessions — another miner's
    /// way of saying it — folded into it rather than listed again.
    #[oai(skip_serializing_if_is_empty)]
    pub(crate) merged: Vec<MergedPatternDto>,
}

/// A pattern folded into the one that lists it.
#[derive(Debug, Clone, Object)]
pub(crate) struct MergedPatternDto {
    pub(crate) id: Uuid,
    pub(crate) miner: String,
    pub(crate) title: String,
}

#[derive(Debug, Clone, Object)]
pub(crate) struct TopicDto {
    pub(crate) id: u32,
    /// Its words joined by commas.
    pub(crate) label: String,
    /// Whole words and phrases that set it apart, most distinctive first.
    pub(crate) words: Vec<String>,
    pub(crate) sessions: u32,
}

/// The mining run Lux's own patterns come from.
#[derive(Debug, Clone, Object)]
pub(crate) struct MiningDto {
    pub(crate) sessions_examined: u32,
    /// Hypotheses in the family the false-discovery rate holds over.
    pub(crate) tested: u32,
    pub(crate) fdr: f64,
    pub(crate) min_support: u32,
    pub(crate) window_days: u32,
    pub(crate) topic_method: TopicMethodDto,
    /// Topics found, largest first.
    pub(crate) topics: Vec<TopicDto>,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PatternList {
    pub(crate) items: Vec<PatternDto>,
    /// Pass as `cursor` for the next page; absent when there are no more.
    pub(crate) next_cursor: Option<String>,
    /// Absent when only stored patterns were asked for (`source=plugin`).
    pub(crate) mining: Option<MiningDto>,
}

fn facet_dto(facet: &Facet) -> FacetDto {
    let (name, value, topic_id) = match facet {
        Facet::Topic { topic, label } => ("topic", label.clone(), Some(*topic)),
        Facet::Tool { tool } => ("tool", tool.clone(), None),
        Facet::Model { model } => ("model", model.clone(), None),
        Facet::User { user_id } => ("user", user_id.clone(), None),
    };
    FacetDto {
        facet: name.to_owned(),
        value,
        topic_id,
    }
}

fn kind_name(kind: PatternKind) -> &'static str {
    match kind {
        PatternKind::Enrichment => "enrichment",
        PatternKind::Trend => "trend",
    }
}

fn builtin_dto(pattern: &Pattern, mined_at: DateTime<Utc>) -> PatternDto {
    let kind = kind_name(pattern.kind);
    let group = describe(&pattern.group);
    let key = format!("{BUILTIN_MINER}|{kind}|{}|{group}", pattern.signal);
    PatternDto {
        id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
        source: PatternSourceDto::Builtin,
        miner: BUILTIN_MINER.to_owned(),
        miner_version: BUILTIN_MINER_VERSION.to_owned(),
        kind: kind.to_owned(),
        title: pattern.title.clone(),
        support: pattern.support,
        score: (1.0 - pattern.q_value).clamp(0.0, 1.0),
        session_ids: pattern.session_ids.iter().map(|id| id.0).collect(),
        data: serde_json::json!({ "signal": pattern.signal, "group": group }),
        created_at: mined_at,
        statistics: Some(PatternStatisticsDto {
            kind: kind.to_owned(),
            signal: pattern.signal.clone(),
            group: pattern.group.iter().map(facet_dto).collect(),
            group_sessions: pattern.group_sessions,
            rate: pattern.rate,
            rate_interval: pattern.rate_interval.to_vec(),
            baseline_rate: pattern.baseline_rate,
            baseline_sessions: pattern.baseline_sessions,
            difference_interval: pattern.difference_interval.to_vec(),
            p_value: pattern.p_value,
            q_value: pattern.q_value,
            also: pattern.also.clone(),
            previous_from: pattern.windows.map(|w| w.previous_from),
            recent_from: pattern.windows.map(|w| w.recent_from),
            recent_to: pattern.windows.map(|w| w.recent_to),
        }),
        merged: Vec::new(),
    }
}

fn stored_dto(pattern: StoredPattern) -> PatternDto {
    PatternDto {
        id: pattern.id,
        source: PatternSourceDto::Plugin,
        miner: pattern.miner,
        miner_version: pattern.miner_version,
        kind: pattern.kind,
        title: pattern.title,
        support: pattern.support,
        score: pattern.score,
        session_ids: pattern.session_ids.into_iter().map(|s| s.0).collect(),
        data: pattern.data,
        created_at: pattern.created_at,
        statistics: None,
        merged: Vec::new(),
    }
}

/// Each set of sessions stated once: a pattern over (nearly) the sessions of one listed before it
/// is folded into that one (`merged`), whichever miner found either.
fn fold_same_sessions(items: Vec<PatternDto>) -> Vec<PatternDto> {
    let sets: Vec<Vec<SessionId>> = items
        .iter()
        .map(|item| item.session_ids.iter().copied().map(SessionId).collect())
        .collect();
    let same = same_sessions_as_earlier(&sets);
    let mut kept: Vec<Option<PatternDto>> = Vec::with_capacity(items.len());
    for (item, earlier) in items.into_iter().zip(same) {
        match earlier.and_then(|index| kept[index].as_mut()) {
            Some(first) => {
                first.merged.push(MergedPatternDto {
                    id: item.id,
                    miner: item.miner,
                    title: item.title,
                });
                kept.push(None);
            }
            None => kept.push(Some(item)),
        }
    }
    kept.into_iter().flatten().collect()
}

fn mining_dto(report: &PatternReport) -> MiningDto {
    MiningDto {
        sessions_examined: report.sessions_examined,
        tested: report.tested,
        fdr: report.fdr,
        min_support: report.min_support,
        window_days: report.window_days,
        topic_method: match report.topic_method {
            TopicMethod::Semantic => TopicMethodDto::Semantic,
            TopicMethod::Lexical => TopicMethodDto::Lexical,
        },
        topics: report
            .topics
            .iter()
            .map(|topic| TopicDto {
                id: topic.id,
                label: topic.label.clone(),
                words: topic.words.clone(),
                sessions: topic.sessions,
            })
            .collect(),
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl PatternsApi {
    /// List cross-session patterns
    ///
    /// Lux's own patterns first, strongest evidence first: a bias or monitor alert more frequent
    /// in one topic, tool, model or user's sessions (or a topic within a tool) than in the rest,
    /// or rising in the latest window — each passing Fisher's exact test with the whole family
    /// held to the false-discovery rate `fdr` (Benjamini–Hochberg), patterns over nearly the same
    /// sessions merged. Then the patterns plugin miners stored, newest first. `miner`, `kind`
    /// and `source` filter the list; the session filters and settings shape the mining run.
    /// Of the patterns left, one over (nearly) the same sessions as one listed before it is
    /// folded into that one's `merged` instead of being listed again.
    #[oai(
        path = "/patterns",
        method = "get",
        operation_id = "listPatterns",
        tag = "ApiTags::Patterns"
    )]
    #[allow(clippy::too_many_arguments, reason = "one query parameter each")]
    async fn patterns(
        &self,
        auth: Auth,
        /// Only `builtin` or only `plugin` patterns.
        source: Query<Option<PatternSourceDto>>,
        /// Only this miner (`lux.patterns`, `plugin.<name>`).
        miner: Query<Option<String>>,
        /// Only this kind (`enrichment`, `trend`, or a plugin's kind).
        kind: Query<Option<String>>,
        /// Mine only sessions of this tool.
        tool: Query<Option<String>>,
        /// Mine only sessions with this status.
        status: Query<Option<SessionStatusDto>>,
        /// Mine only sessions created at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Mine only sessions created before this time.
        until: Query<Option<DateTime<Utc>>>,
        /// How many of the newest matching sessions to mine (1 to 5000, default 500).
        sessions: Query<Option<u32>>,
        /// Fewest sessions showing a pattern (default 5).
        min_support: Query<Option<u32>>,
        /// False-discovery rate, above 0 and at most 0.5 (default 0.05).
        fdr: Query<Option<f64>>,
        /// Length in days of the latest window a trend looks at (default 7).
        window_days: Query<Option<u32>>,
        /// Patterns per page (1 to 100, default 20).
        limit: Query<Option<Limit<MAX_PAGE>>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<PatternList>> {
        let caller = self.policy.authorize(&self.lux, &auth, Scope::Read).await?;
        let limit = asked(limit.0).unwrap_or(DEFAULT_PAGE);
        let offset: usize = match cursor.0.as_deref() {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                ApiError::bad_request("cursor", "not a cursor this endpoint returned")
            })?,
        };
        let wanted = |item: &PatternDto| {
            source.0.is_none_or(|source| item.source == source)
                && miner.0.as_deref().is_none_or(|miner| item.miner == miner)
                && kind.0.as_deref().is_none_or(|kind| item.kind == kind)
        };

        let mut items = Vec::new();
        let mut mining = None;
        if source.0 != Some(PatternSourceDto::Plugin) {
            let query = PatternQuery {
                filter: SessionFilter {
                    tool: tool.0,
                    status: status.0.map(Into::into),
                    since: since.0,
                    until: until.0,
                    ..SessionFilter::default()
                },
                sessions: sessions.0,
                min_support: min_support.0,
                fdr: fdr.0,
                window_days: window_days.0,
            };
            let report = self.lux.find_patterns(caller.project, &query).await?;
            let mined_at = Utc::now();
            items.extend(
                report
                    .patterns
                    .iter()
                    .map(|pattern| builtin_dto(pattern, mined_at)),
            );
            mining = Some(mining_dto(&report));
        }
        if source.0 != Some(PatternSourceDto::Builtin) {
            let query = PatternListQuery {
                miner: miner.0.clone(),
                kind: kind.0.clone(),
                limit: None,
            };
            // All of them: folding compares each with every stronger one before the page is cut.
            let stored = self.lux.all_patterns(caller.project, &query).await?;
            items.extend(stored.into_iter().map(stored_dto));
        }
        items.retain(|item| wanted(item));
        let items = fold_same_sessions(items);
        let end = offset.saturating_add(limit as usize);
        let next_cursor = (end < items.len()).then(|| end.to_string());
        let page = items
            .into_iter()
            .skip(offset)
            .take(limit as usize)
            .collect();
        Ok(Json(PatternList {
            items: page,
            next_cursor,
            mining,
        }))
    }
}
