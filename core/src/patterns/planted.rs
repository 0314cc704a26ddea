//! The planted-pattern benchmark: histories built from an independently written corpus of
//! sessions grouped by topic (`core/eval/patterns/`), with known patterns planted — one topic's
//! sessions show a bias far more often than the rest, one tool's sessions show another, a signal
//! rises in the last week — or with every signal at its base rate (pure noise). Histories are
//! stored through the services, as any user's data is, and mined; the score is how many planted
//! patterns are in the top five, named by their topic's words, and how often noise yields any
//! pattern at all. `lux bench patterns` prints it; the suite holds it to a bar.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::terms::terms;
use super::{Facet, PatternKind};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::patterns::{PatternQuery, PatternReport};
use crate::store::Lux;

/// Which topic corpus histories are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicSet {
    /// The set the topic thresholds were chosen on.
    Tune,
    /// Written by another author, never read while tuning.
    Heldout,
}

impl TopicSet {
    pub fn name(self) -> &'static str {
        match self {
            TopicSet::Tune => "tune",
            TopicSet::Heldout => "heldout",
        }
    }

    fn json(self) -> &'static str {
        match self {
            TopicSet::Tune => include_str!("../../eval/patterns/tune.json"),
            TopicSet::Heldout => include_str!("../../eval/patterns/heldout.json"),
        }
    }
}

impl std::str::FromStr for TopicSet {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "tune" => Ok(TopicSet::Tune),
            "heldout" => Ok(TopicSet::Heldout),
            other => Err(Error::invalid(
                "set",
                format!("unknown topic set {other:?}; expected tune or heldout"),
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Corpus {
    topics: Vec<CorpusTopic>,
}

#[derive(Debug, Clone, Deserialize)]
struct CorpusTopic {
    topic: String,
    sessions: Vec<CorpusSession>,
}

#[derive(Debug, Clone, Deserialize)]
struct CorpusSession {
    title: Option<String>,
    steps: Vec<String>,
}

/// The corpus's name for sessions that belong to no topic.
const MISC: &str = "misc";
const TOOLS: [&str; 4] = [
    "sequential_thinking",
    "biased_reasoning",
    "planner",
    "traced_reasoning",
];
/// Bias types every history carries at the base rate.
const BIASES: [&str; 5] = [
    "anchoring",
    "confirmation",
    "availability",
    "hasty_conclusion",
    "over_generalization",
];
/// Monitor alerts every history carries at the base rate.
const ALERTS: [&str; 2] = ["circular_reasoning", "quality_degradation"];
const BASE_RATE: f64 = 0.08;
/// Days a history spans, ending at [`history_end`].
const SPAN_DAYS: i64 = 28;

const TOPIC_SIGNAL: &str = "anchoring";
const TOPIC_RATE: f64 = 0.6;
const TOOL_SIGNAL: &str = "confirmation";
const TOOL: &str = "planner";
const TOOL_RATE: f64 = 0.55;
const TREND_SIGNAL: &str = "hasty_conclusion";
const TREND_RATE: f64 = 0.3;

fn history_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A pattern put into a history on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Planted {
    /// `signal` in `TOPIC_RATE` of the topic's sessions.
    Topic { signal: String, topic: String },
    /// `signal` in `TOOL_RATE` of the tool's sessions.
    Tool { signal: String, tool: String },
    /// `signal` in `TREND_RATE` of the last week's sessions.
    Trend { signal: String },
}

#[derive(Debug, Clone)]
struct HistorySession {
    topic: usize,
    tool: &'static str,
    created_at: DateTime<Utc>,
    title: Option<String>,
    steps: Vec<String>,
    signals: BTreeSet<&'static str>,
}

/// One generated history: every corpus session once, with tools, times and signals drawn.
#[derive(Debug, Clone)]
pub struct History {
    sessions: Vec<HistorySession>,
    pub planted: Vec<Planted>,
    topic_names: Vec<String>,
}

/// Builds a history from the set's sessions. With `plant`, the three patterns of [`Planted`]
/// are in it (the topic chosen by the seed); without, every signal is at its base rate.
pub fn generate(set: TopicSet, seed: u64, plant: bool) -> Result<History> {
    let corpus: Corpus = serde_json::from_str(set.json())
        .map_err(|error| Error::invalid("set", format!("topic corpus unreadable: {error}")))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let topical: Vec<usize> = (0..corpus.topics.len())
        .filter(|&t| corpus.topics[t].topic != MISC)
        .collect();
    if topical.is_empty() {
        return Err(Error::invalid("set", "the topic corpus has no topics"));
    }
    let planted_topic = topical[rng.random_range(0..topical.len())];
    let end = history_end();
    let trend_from = end - Duration::days(7);
    let mut sessions = Vec::new();
    for (t, topic) in corpus.topics.iter().enumerate() {
        for session in &topic.sessions {
            let tool = TOOLS[rng.random_range(0..TOOLS.len())];
            let seconds = rng.random_range(0..SPAN_DAYS * 86_400);
            let created_at = end - Duration::seconds(seconds);
            let mut signals = BTreeSet::new();
            for signal in BIASES.iter().chain(&ALERTS) {
                let rate = if !plant {
                    BASE_RATE
                } else if *signal == TOPIC_SIGNAL && t == planted_topic {
                    TOPIC_RATE
                } else if *signal == TOOL_SIGNAL && tool == TOOL {
                    TOOL_RATE
                } else if *signal == TREND_SIGNAL && created_at >= trend_from {
                    TREND_RATE
                } else {
                    BASE_RATE
                };
                if rng.random_bool(rate) {
                    signals.insert(*signal);
                }
            }
            sessions.push(HistorySession {
                topic: t,
                tool,
                created_at,
                title: session.title.clone(),
                steps: session.steps.clone(),
                signals,
            });
        }
    }
    let planted = if plant {
        vec![
            Planted::Topic {
                signal: TOPIC_SIGNAL.into(),
                topic: corpus.topics[planted_topic].topic.clone(),
            },
            Planted::Tool {
                signal: TOOL_SIGNAL.into(),
                tool: TOOL.into(),
            },
            Planted::Trend {
                signal: TREND_SIGNAL.into(),
            },
        ]
    } else {
        Vec::new()
    };
    Ok(History {
        sessions,
        planted,
        topic_names: corpus.topics.iter().map(|t| t.topic.clone()).collect(),
    })
}

impl History {
    /// Whether `word` is a whole term (word, phrase or character run) of some session's text:
    /// what a topic's name must be, never a fragment or a stem.
    pub fn has_term(&self, word: &str) -> bool {
        self.sessions.iter().any(|session| session.has_term(word))
    }
}

impl HistorySession {
    fn has_term(&self, word: &str) -> bool {
        self.title
            .iter()
            .chain(&self.steps)
            .any(|text| terms(text).iter().any(|term| term == word))
    }
}

/// Stores a history in `project` through the services: sessions, steps, and one finding or
/// alert per signal on the session's last step. Use a `Lux` without detectors, so the signals
/// stored are the planted ones. Returns the session ids in the history's order.
pub async fn store(lux: &Lux, project: ProjectId, history: &History) -> Result<Vec<SessionId>> {
    let mut ids = Vec::with_capacity(history.sessions.len());
    for session in &history.sessions {
        let created = lux
            .create_session(
                project,
                NewSession {
                    tool: session.tool.into(),
                    title: session.title.clone(),
                    created_at: Some(session.created_at),
                    ..NewSession::default()
                },
            )
            .await?
            .value;
        let reference = SessionRef::Id(created.id);
        let mut last = None;
        for (index, content) in session.steps.iter().enumerate() {
            let step = lux
                .append_step(
                    project,
                    &reference,
                    NewStep {
                        kind: "thought".into(),
                        content: content.clone(),
                        created_at: Some(session.created_at + Duration::seconds(index as i64 * 20)),
                        ..NewStep::default()
                    },
                )
                .await?
                .value;
            last = Some(step.id);
        }
        for signal in &session.signals {
            if ALERTS.contains(signal) {
                lux.record_monitor_event(
                    project,
                    &reference,
                    NewMonitorEvent {
                        id: None,
                        step_id: last,
                        kind: (*signal).into(),
                        severity: Severity::Medium,
                        score: 0.8,
                        message: format!("planted {signal}"),
                        data: None,
                        created_at: None,
                    },
                )
                .await?;
            } else {
                lux.record_finding(
                    project,
                    &reference,
                    NewFinding {
                        id: None,
                        step_id: last,
                        detector: "bench.planted".into(),
                        detector_version: "1.0.0".into(),
                        bias_type: (*signal).into(),
                        severity: Severity::Medium,
                        confidence: 0.8,
                        explanation: format!("planted {signal}"),
                        evidence: None,
                        suggestion: None,
                        created_at: None,
                    },
                )
                .await?;
            }
        }
        ids.push(created.id);
    }
    Ok(ids)
}

/// Where a planted pattern came in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedOutcome {
    pub planted: Planted,
    /// 1-based rank of the first reported pattern that states it.
    pub rank: Option<usize>,
    /// For a topic pattern: the words it was named by, and whether each is a whole word or
    /// phrase of the topic's sessions.
    pub named_by: Vec<String>,
    pub names_are_whole_words: bool,
}

/// How a report states a history's planted patterns.
pub fn score(history: &History, ids: &[SessionId], report: &PatternReport) -> Vec<PlantedOutcome> {
    history
        .planted
        .iter()
        .map(|planted| {
            let found = report.patterns.iter().position(|pattern| match planted {
                Planted::Topic { signal, topic } => {
                    let topic_index = history.topic_names.iter().position(|name| name == topic);
                    pattern.kind == PatternKind::Enrichment
                        && &pattern.signal == signal
                        && pattern
                            .group
                            .iter()
                            .any(|f| matches!(f, Facet::Topic { .. }))
                        && mostly_in_topic(history, ids, &pattern.session_ids, topic_index)
                }
                Planted::Tool { signal, tool } => {
                    pattern.kind == PatternKind::Enrichment
                        && &pattern.signal == signal
                        && (pattern
                            .group
                            .iter()
                            .any(|f| matches!(f, Facet::Tool { tool: name } if name == tool))
                            || pattern.also.iter().any(|also| also.contains(tool.as_str())))
                }
                Planted::Trend { signal } => {
                    pattern.kind == PatternKind::Trend && &pattern.signal == signal
                }
            });
            let mut named_by = Vec::new();
            let mut whole = true;
            if let (Some(index), Planted::Topic { topic, .. }) = (found, planted) {
                let topic_index = history.topic_names.iter().position(|name| name == topic);
                for facet in &report.patterns[index].group {
                    if let Facet::Topic { topic: id, .. } = facet
                        && let Some(found_topic) = report.topics.iter().find(|t| t.id == *id)
                    {
                        for word in &found_topic.words {
                            whole &= is_whole_term_of(history, topic_index, word);
                            named_by.push(word.clone());
                        }
                    }
                }
            }
            PlantedOutcome {
                planted: planted.clone(),
                rank: found.map(|index| index + 1),
                names_are_whole_words: whole && !named_by.is_empty()
                    || !matches!(planted, Planted::Topic { .. }),
                named_by,
            }
        })
        .collect()
}

/// Whether at least 80 % of the sessions are the topic's.
fn mostly_in_topic(
    history: &History,
    ids: &[SessionId],
    sessions: &[SessionId],
    topic: Option<usize>,
) -> bool {
    let Some(topic) = topic else { return false };
    let inside = sessions
        .iter()
        .filter(|id| {
            ids.iter()
                .position(|stored| stored == *id)
                .is_some_and(|index| history.sessions[index].topic == topic)
        })
        .count();
    !sessions.is_empty() && inside * 5 >= sessions.len() * 4
}

/// Whether `word` is one of the terms (whole words, phrases, character runs) of some session of
/// the topic — never a fragment of one.
fn is_whole_term_of(history: &History, topic: Option<usize>, word: &str) -> bool {
    history
        .sessions
        .iter()
        .filter(|session| Some(session.topic) == topic)
        .any(|session| session.has_term(word))
}

/// Figures of one benchmark run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedBenchReport {
    pub set: TopicSet,
    /// Planted histories mined, and each one's outcomes.
    pub planted: Vec<Vec<PlantedOutcome>>,
    /// The titles of each planted history's top five patterns.
    pub top_titles: Vec<Vec<String>>,
    /// Noise-only histories mined, and how many patterns each reported.
    pub noise_reports: Vec<usize>,
    pub fdr: f64,
}

impl PlantedBenchReport {
    /// Planted patterns found in the top five (and, for topics, named by whole words), over all.
    pub fn recall_top5(&self) -> (usize, usize) {
        let outcomes = self.planted.iter().flatten();
        let total = outcomes.clone().count();
        let found = outcomes
            .filter(|o| o.rank.is_some_and(|rank| rank <= 5) && o.names_are_whole_words)
            .count();
        (found, total)
    }

    /// Noise-only histories that reported at least one pattern.
    pub fn noise_with_reports(&self) -> usize {
        self.noise_reports.iter().filter(|n| **n > 0).count()
    }
}

/// Generates, stores and mines `planted` planted histories and `noise` noise-only ones, each in
/// its own project of `lux` (which must run no detectors), seeds counting up from `seed`.
pub async fn run(
    lux: &Lux,
    set: TopicSet,
    seed: u64,
    planted: usize,
    noise: usize,
) -> Result<PlantedBenchReport> {
    let mut report = PlantedBenchReport {
        set,
        planted: Vec::new(),
        top_titles: Vec::new(),
        noise_reports: Vec::new(),
        fdr: super::DEFAULT_FDR,
    };
    for n in 0..planted + noise {
        let plant = n < planted;
        let history_seed = seed + n as u64;
        let history = generate(set, history_seed, plant)?;
        let slug = format!(
            "bench-{}-{}-{history_seed}-{}",
            set.name(),
            if plant { "planted" } else { "noise" },
            uuid::Uuid::now_v7().simple()
        );
        let project = lux.create_project(&slug, &slug).await?.id;
        let ids = store(lux, project, &history).await?;
        let mined = lux
            .find_patterns(
                project,
                &PatternQuery {
                    sessions: Some(u32::try_from(ids.len()).unwrap_or(u32::MAX)),
                    ..PatternQuery::default()
                },
            )
            .await?;
        if plant {
            report.planted.push(score(&history, &ids, &mined));
            report.top_titles.push(
                mined
                    .patterns
                    .iter()
                    .take(5)
                    .map(|pattern| pattern.title.clone())
                    .collect(),
            );
        } else {
            report.noise_reports.push(mined.patterns.len());
        }
    }
    Ok(report)
}

/// How the topics found over a set's sessions match the topics its author wrote them under.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicAgreement {
    pub method: super::topics::TopicMethod,
    /// Per found topic: its name, size, the written topic most of it comes from and that share.
    pub found: Vec<(String, usize, String, f64)>,
    /// Sessions in a found topic that belong to its majority written topic, over all sessions in
    /// a found topic.
    pub purity: f64,
    /// Sessions of written topics (not misc) that are in some found topic.
    pub coverage: f64,
    /// Written topics whose sessions mostly (≥ 50 %) land in one found topic.
    pub recovered: usize,
    pub written: usize,
}

/// Finds topics over every session of the set (as one history would) and compares them with the
/// topics the sessions were written under.
pub fn topic_agreement(set: TopicSet, min_size: usize) -> Result<TopicAgreement> {
    let corpus: Corpus = serde_json::from_str(set.json())
        .map_err(|error| Error::invalid("set", format!("topic corpus unreadable: {error}")))?;
    let mut truth = Vec::new();
    let mut texts = Vec::new();
    for topic in &corpus.topics {
        for session in &topic.sessions {
            truth.push(topic.topic.clone());
            texts.push((session.title.clone(), session.steps.clone()));
        }
    }
    let inputs: Vec<super::topics::TopicText<'_>> = texts
        .iter()
        .map(|(title, steps)| super::topics::TopicText {
            title: title.as_deref(),
            steps,
        })
        .collect();
    let encoder = crate::detect::learned::semantic::encoder();
    let topics = super::topics::find_topics(&inputs, min_size, encoder.as_deref());
    let mut found = Vec::new();
    let (mut pure, mut assigned) = (0usize, 0usize);
    for (index, topic) in topics.topics.iter().enumerate() {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for (session, assignment) in topics.assignment.iter().enumerate() {
            if *assignment == Some(index) {
                *counts.entry(truth[session].as_str()).or_default() += 1;
            }
        }
        let size: usize = counts.values().sum();
        let (majority, count) = counts
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(name, count)| ((*name).to_owned(), *count))
            .unwrap_or_default();
        pure += count;
        assigned += size;
        found.push((
            topic.label.clone(),
            size,
            majority,
            count as f64 / size.max(1) as f64,
        ));
    }
    let written: Vec<&str> = corpus
        .topics
        .iter()
        .map(|t| t.topic.as_str())
        .filter(|t| *t != MISC)
        .collect();
    let topical_sessions = truth.iter().filter(|t| *t != MISC).count();
    let covered = topics
        .assignment
        .iter()
        .zip(&truth)
        .filter(|(assignment, truth)| assignment.is_some() && *truth != MISC)
        .count();
    let recovered = written
        .iter()
        .filter(|name| {
            let members: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] == **name).collect();
            (0..topics.topics.len()).any(|index| {
                let inside = members
                    .iter()
                    .filter(|&&i| topics.assignment[i] == Some(index))
                    .count();
                inside * 2 >= members.len()
            })
        })
        .count();
    Ok(TopicAgreement {
        method: topics.method,
        found,
        purity: pure as f64 / assigned.max(1) as f64,
        coverage: covered as f64 / topical_sessions.max(1) as f64,
        recovered,
        written: written.len(),
    })
}
