//! Cross-session patterns a reviewer can trust. A pattern is a signal (a bias type or a monitor
//! alert) that shows up more often in one group of sessions — a topic, a tool, a model, a user,
//! a topic within a tool — than in the rest, or more often in the latest time window than in the
//! one before. Each candidate is tested with Fisher's exact test; the whole family is controlled
//! with Benjamini–Hochberg at a stated false-discovery rate; patterns over (nearly) the same
//! sessions are stated once; the strongest evidence comes first. `docs/patterns.md` explains it.

pub mod planted;
pub mod stats;
mod terms;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use self::stats::{
    Count, benjamini_hochberg, difference_interval, fisher_greater, fisher_greater_floor,
    tarone_family, wilson,
};
use self::topics::Topic;
use crate::domain::SessionId;

/// The false-discovery rate patterns are reported at unless the caller asks for another.
pub const DEFAULT_FDR: f64 = 0.05;
/// Fewest sessions showing a pattern's signal in its group, unless the caller asks otherwise.
pub const DEFAULT_MIN_SUPPORT: u32 = 5;
/// Length of the windows trends compare, unless the caller asks otherwise.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;
/// Windows before the recent one a trend compares it with: a week against the three before it
/// says "rising" with three times the sessions of a week against one week.
const TREND_HISTORY_WINDOWS: i32 = 3;
/// Two patterns whose sessions overlap this much (Jaccard) are one pattern.
const MERGE_OVERLAP: f64 = 0.7;

/// What one session contributes to mining.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFacts {
    pub id: SessionId,
    pub tool: String,
    pub model: Option<String>,
    pub user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Bias types and monitor alert kinds the session shows at least once.
    pub signals: BTreeSet<String>,
    /// Index into the run's topics.
    pub topic: Option<usize>,
}

/// How strict mining is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MiningSettings {
    /// Benjamini–Hochberg false-discovery rate, in (0, 1).
    pub fdr: f64,
    /// Fewest sessions showing the signal in the group (or in the recent window, for a trend).
    pub min_support: u32,
    /// Length of the two windows a trend compares.
    pub window: Duration,
}

impl Default for MiningSettings {
    fn default() -> Self {
        MiningSettings {
            fdr: DEFAULT_FDR,
            min_support: DEFAULT_MIN_SUPPORT,
            window: Duration::days(i64::from(DEFAULT_WINDOW_DAYS)),
        }
    }
}

/// One way of picking sessions out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "facet", rename_all = "snake_case")]
pub enum Facet {
    Topic { topic: u32, label: String },
    Tool { tool: String },
    Model { model: String },
    User { user_id: String },
}

/// How a pattern sets its sessions apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// The signal is more frequent in the group than in the rest of the sessions.
    Enrichment,
    /// The signal is more frequent in the group's latest window than in the window before.
    Trend,
}

/// The two spans a trend compares: `[previous_from, recent_from)` (up to three windows, as far back
/// as the sessions go) and `[recent_from, recent_to]` (one window).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendWindows {
    pub previous_from: DateTime<Utc>,
    pub recent_from: DateTime<Utc>,
    pub recent_to: DateTime<Utc>,
}

/// A pattern that passed the significance test, with the figures a reader needs to judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    pub kind: PatternKind,
    pub signal: String,
    /// The facets that pick the group out (all of them hold); empty means every session.
    pub group: Vec<Facet>,
    /// One line for people: rates, support and q-value.
    pub title: String,
    /// Sessions in the group (in the recent window, for a trend) that show the signal.
    pub support: u32,
    /// Sessions in the group (in the recent window, for a trend).
    pub group_sessions: u32,
    /// `support / group_sessions`, with its 95 % Wilson interval.
    pub rate: f64,
    pub rate_interval: [f64; 2],
    /// The rate it is compared with: the other sessions', or the group's in the window before.
    pub baseline_rate: f64,
    pub baseline_sessions: u32,
    /// 95 % interval of `rate − baseline_rate` (Newcombe's hybrid score method).
    pub difference_interval: [f64; 2],
    /// One-sided Fisher's exact test.
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted over the run's family of hypotheses.
    pub q_value: f64,
    /// Other descriptions of (nearly) the same sessions, merged into this pattern.
    pub also: Vec<String>,
    /// The windows compared, for a trend.
    pub windows: Option<TrendWindows>,
    /// The sessions showing it (the `support` ones).
    pub session_ids: Vec<SessionId>,
}

/// The patterns of one run and the size of the family they were tested in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mined {
    /// Hypotheses in the Benjamini–Hochberg family (after Gilbert's screen).
    pub tested: u32,
    /// Strongest evidence first.
    pub patterns: Vec<Pattern>,
}

/// Tests every candidate pattern over `sessions` and returns those that pass at the settings'
/// false-discovery rate, merged and ranked.
pub fn mine(sessions: &[SessionFacts], topics: &[Topic], settings: &MiningSettings) -> Mined {
    let min_support = u64::from(settings.min_support.max(1));
    let mut candidates = Vec::new();
    let groups = groups(sessions, topics);
    let signals: BTreeSet<&str> = sessions
        .iter()
        .flat_map(|session| session.signals.iter().map(String::as_str))
        .collect();

    let showing = |members: &[usize], signal: &str| -> Vec<usize> {
        members
            .iter()
            .copied()
            .filter(|&i| sessions[i].signals.contains(signal))
            .collect()
    };
    let everyone: Vec<usize> = (0..sessions.len()).collect();
    for group in &groups {
        let inside = group.members.len() as u64;
        // A group is compared with the rest of the project; a combination (a topic within a
        // tool) with the rest of each of its parents, and must beat both (an intersection–union
        // test), so it is never reported just because one parent is.
        let baselines: Vec<Vec<usize>> = if group.parents.is_empty() {
            vec![difference(&everyone, &group.members)]
        } else {
            group
                .parents
                .iter()
                .map(|parent| difference(parent, &group.members))
                .collect()
        };
        if inside < min_support
            || baselines
                .iter()
                .any(|baseline| (baseline.len() as u64) < min_support)
        {
            continue;
        }
        for &signal in &signals {
            let in_group = showing(&group.members, signal);
            let mut weakest: Option<(f64, f64, Count, usize)> = None;
            for (which, baseline) in baselines.iter().enumerate() {
                let compared = Count {
                    with_signal: showing(baseline, signal).len() as u64,
                    sessions: baseline.len() as u64,
                };
                let signal_total = in_group.len() as u64 + compared.with_signal;
                let group_count = Count {
                    with_signal: in_group.len() as u64,
                    sessions: inside,
                };
                let p_value = fisher_greater(group_count, compared);
                let floor = fisher_greater_floor(inside, signal_total, inside + compared.sessions);
                // Only hypotheses that could reach the support are in the family: margins
                // alone decide it, so the test stays valid.
                let reachable = inside.min(signal_total) >= min_support;
                let floor = if reachable { floor } else { f64::INFINITY };
                if weakest.is_none_or(|(p, _, _, _)| p_value > p) {
                    weakest = Some((p_value, floor, compared, which));
                }
                if let Some(current) = &mut weakest {
                    current.1 = current.1.max(floor);
                }
            }
            let Some((p_value, floor, baseline, which)) = weakest else {
                continue;
            };
            if !floor.is_finite() {
                continue;
            }
            candidates.push(Candidate {
                kind: PatternKind::Enrichment,
                signal: signal.to_owned(),
                group: group.facets.clone(),
                aliases: group.aliases.clone(),
                group_count: Count {
                    with_signal: in_group.len() as u64,
                    sessions: inside,
                },
                baseline,
                baseline_parent: (!group.parents.is_empty())
                    .then(|| describe(&group.facets[which..=which])),
                p_value,
                floor,
                members: in_group,
                windows: None,
            });
        }
    }

    if let Some(windows) = trend_windows(sessions, settings.window) {
        let everyone = Group {
            facets: Vec::new(),
            aliases: Vec::new(),
            members: everyone.clone(),
            parents: Vec::new(),
        };
        let trend_groups = std::iter::once(&everyone).chain(groups.iter().filter(|group| {
            group.facets.len() == 1
                && matches!(group.facets[0], Facet::Topic { .. } | Facet::Tool { .. })
        }));
        for group in trend_groups {
            let recent: Vec<usize> = group
                .members
                .iter()
                .copied()
                .filter(|&i| sessions[i].created_at >= windows.recent_from)
                .collect();
            let previous: Vec<usize> = group
                .members
                .iter()
                .copied()
                .filter(|&i| {
                    let at = sessions[i].created_at;
                    at >= windows.previous_from && at < windows.recent_from
                })
                .collect();
            if (recent.len() as u64) < min_support || (previous.len() as u64) < min_support {
                continue;
            }
            for &signal in &signals {
                let showing: Vec<usize> = recent
                    .iter()
                    .copied()
                    .filter(|&i| sessions[i].signals.contains(signal))
                    .collect();
                let before = previous
                    .iter()
                    .filter(|&&i| sessions[i].signals.contains(signal))
                    .count() as u64;
                let both = showing.len() as u64 + before;
                if (recent.len() as u64).min(both) < min_support {
                    continue;
                }
                let recent_count = Count {
                    with_signal: showing.len() as u64,
                    sessions: recent.len() as u64,
                };
                let previous_count = Count {
                    with_signal: before,
                    sessions: previous.len() as u64,
                };
                candidates.push(Candidate {
                    kind: PatternKind::Trend,
                    signal: signal.to_owned(),
                    group: group.facets.clone(),
                    aliases: group.aliases.clone(),
                    group_count: recent_count,
                    baseline: previous_count,
                    baseline_parent: None,
                    p_value: fisher_greater(recent_count, previous_count),
                    floor: fisher_greater_floor(
                        recent_count.sessions,
                        both,
                        recent_count.sessions + previous_count.sessions,
                    ),
                    members: showing,
                    windows: Some(windows),
                });
            }
        }
    }

    // Gilbert's screen, then Benjamini–Hochberg over the hypotheses that remain.
    let family = tarone_family(
        &candidates.iter().map(|c| c.floor).collect::<Vec<_>>(),
        settings.fdr,
    );
    let candidates: Vec<Candidate> = candidates
        .into_iter()
        .zip(family)
        .filter_map(|(candidate, kept)| kept.then_some(candidate))
        .collect();
    let tested = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
    let q_values = benjamini_hochberg(
        &candidates
            .iter()
            .map(|candidate| candidate.p_value)
            .collect::<Vec<_>>(),
    );
    let mut passed: Vec<(Candidate, f64)> = candidates
        .into_iter()
        .zip(q_values)
        .filter(|(candidate, q)| {
            *q <= settings.fdr && candidate.group_count.with_signal >= min_support
        })
        .collect();
    passed.sort_by(|(a, qa), (b, qb)| {
        a.p_value
            .total_cmp(&b.p_value)
            .then_with(|| qa.total_cmp(qb))
            .then_with(|| b.effect().total_cmp(&a.effect()))
            .then_with(|| a.describe().cmp(&b.describe()))
    });

    let mut kept: Vec<(Candidate, f64, Vec<String>)> = Vec::new();
    for (candidate, q) in passed {
        let same = kept
            .iter_mut()
            .find(|(other, _, _)| jaccard(&other.members, &candidate.members) >= MERGE_OVERLAP);
        match same {
            Some((_, _, also)) => {
                let described = candidate.short_description();
                if !also.contains(&described) {
                    also.push(described);
                }
            }
            None => {
                let also = candidate.aliases.clone();
                kept.push((candidate, q, also));
            }
        }
    }
    let patterns = kept
        .into_iter()
        .map(|(candidate, q, also)| candidate.into_pattern(q, also, sessions, settings))
        .collect();
    Mined { tested, patterns }
}

/// Sessions sharing facets; `aliases` are other facet sets that pick out exactly the same ones.
struct Group {
    facets: Vec<Facet>,
    aliases: Vec<String>,
    /// Ascending session indexes.
    members: Vec<usize>,
    /// For a combination of facets, the members of each facet alone.
    parents: Vec<Vec<usize>>,
}

/// The members of `all` not in `removed` (both ascending).
fn difference(all: &[usize], removed: &[usize]) -> Vec<usize> {
    all.iter()
        .copied()
        .filter(|member| removed.binary_search(member).is_err())
        .collect()
}

/// Every group worth testing, one per distinct set of members: topics, tools, models and users
/// (when there is more than one of them), and topics within a tool.
fn groups(sessions: &[SessionFacts], topics: &[Topic]) -> Vec<Group> {
    let mut by_facets: BTreeMap<Vec<Facet>, Vec<usize>> = BTreeMap::new();
    let tools: BTreeSet<&str> = sessions.iter().map(|s| s.tool.as_str()).collect();
    let models: BTreeSet<&str> = sessions.iter().filter_map(|s| s.model.as_deref()).collect();
    let users: BTreeSet<&str> = sessions
        .iter()
        .filter_map(|s| s.user_id.as_deref())
        .collect();
    for (index, session) in sessions.iter().enumerate() {
        let topic = session
            .topic
            .and_then(|t| topics.get(t))
            .map(|topic| Facet::Topic {
                topic: topic.id,
                label: topic.label.clone(),
            });
        let tool = (tools.len() > 1).then(|| Facet::Tool {
            tool: session.tool.clone(),
        });
        let mut single = Vec::new();
        single.extend(topic.clone());
        single.extend(tool.clone());
        if models.len() > 1
            && let Some(model) = &session.model
        {
            single.push(Facet::Model {
                model: model.clone(),
            });
        }
        if users.len() > 1
            && let Some(user_id) = &session.user_id
        {
            single.push(Facet::User {
                user_id: user_id.clone(),
            });
        }
        for facet in single {
            by_facets.entry(vec![facet]).or_default().push(index);
        }
        if let (Some(tool), Some(topic)) = (tool, topic) {
            by_facets.entry(vec![tool, topic]).or_default().push(index);
        }
    }
    // One group per set of members; the simplest description names it, the others are aliases.
    let singles: HashMap<Facet, Vec<usize>> = by_facets
        .iter()
        .filter(|(facets, _)| facets.len() == 1)
        .map(|(facets, members)| (facets[0].clone(), members.clone()))
        .collect();
    let mut ordered: Vec<(Vec<Facet>, Vec<usize>)> = by_facets.into_iter().collect();
    ordered.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    let mut index_of: HashMap<Vec<usize>, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for (facets, members) in ordered {
        if let Some(&existing) = index_of.get(&members) {
            let described = describe(&facets);
            groups[existing].aliases.push(described);
            continue;
        }
        index_of.insert(members.clone(), groups.len());
        let parents = if facets.len() > 1 {
            facets
                .iter()
                .map(|facet| singles.get(facet).cloned().unwrap_or_default())
                .collect()
        } else {
            Vec::new()
        };
        groups.push(Group {
            facets,
            aliases: Vec::new(),
            members,
            parents,
        });
    }
    groups
}

/// The newest session's time closes the recent window; the span before it reaches back up to
/// [`TREND_HISTORY_WINDOWS`] windows, as far as the sessions go. A trend needs sessions in both.
fn trend_windows(sessions: &[SessionFacts], window: Duration) -> Option<TrendWindows> {
    if window <= Duration::zero() {
        return None;
    }
    let newest = sessions.iter().map(|s| s.created_at).max()?;
    let oldest = sessions.iter().map(|s| s.created_at).min()?;
    let recent_from = newest - window;
    let previous_from = (recent_from - window * TREND_HISTORY_WINDOWS).max(oldest);
    (oldest < recent_from).then_some(TrendWindows {
        previous_from,
        recent_from,
        recent_to: newest,
    })
}

struct Candidate {
    kind: PatternKind,
    signal: String,
    group: Vec<Facet>,
    aliases: Vec<String>,
    group_count: Count,
    baseline: Count,
    /// For a combination, the parent group whose other sessions the rate is compared with.
    baseline_parent: Option<String>,
    p_value: f64,
    /// The smallest p-value the margins allow (for Gilbert's screen).
    floor: f64,
    /// The sessions showing the signal in the group, ascending indexes.
    members: Vec<usize>,
    windows: Option<TrendWindows>,
}

impl Candidate {
    fn effect(&self) -> f64 {
        self.group_count.rate() - self.baseline.rate()
    }

    fn describe(&self) -> String {
        describe(&self.group)
    }

    /// What the group's rate is compared with.
    fn baseline_name(&self) -> String {
        match (&self.kind, self.group.len()) {
            (PatternKind::Trend, _) => "before".to_owned(),
            (PatternKind::Enrichment, 1) => "elsewhere".to_owned(),
            (PatternKind::Enrichment, _) => match &self.baseline_parent {
                Some(parent) => format!("in the other {parent}"),
                None => "elsewhere".to_owned(),
            },
        }
    }

    /// How a merged pattern is listed under the one it joined.
    fn short_description(&self) -> String {
        match self.kind {
            PatternKind::Enrichment => format!("{} in {}", self.signal, self.describe()),
            PatternKind::Trend => format!("{} rising in {}", self.signal, self.describe()),
        }
    }

    fn into_pattern(
        self,
        q_value: f64,
        also: Vec<String>,
        sessions: &[SessionFacts],
        settings: &MiningSettings,
    ) -> Pattern {
        let (rate, baseline_rate) = (self.group_count.rate(), self.baseline.rate());
        let (low, high) = wilson(self.group_count);
        let (difference_low, difference_high) =
            difference_interval(self.group_count, self.baseline);
        let q = if q_value < 0.001 {
            "q < 0.001".to_owned()
        } else {
            format!("q = {q_value:.3}")
        };
        let support = self.group_count.with_signal;
        let title = match self.kind {
            PatternKind::Enrichment => format!(
                "{} in {} of {} vs {} {} ({support} sessions, {q})",
                self.signal,
                percent(rate),
                self.describe(),
                percent(baseline_rate),
                self.baseline_name(),
            ),
            PatternKind::Trend => {
                let days = settings.window.num_days().max(1);
                let before = self.windows.map_or(days, |windows| {
                    let span = windows.recent_from - windows.previous_from;
                    (span.num_seconds() + 86_399) / 86_400
                });
                format!(
                    "{} up from {} to {} in {} (last {days} days vs the {before} before; {support} sessions, {q})",
                    self.signal,
                    percent(baseline_rate),
                    percent(rate),
                    self.describe(),
                )
            }
        };
        Pattern {
            kind: self.kind,
            signal: self.signal,
            group: self.group,
            title,
            support: u32::try_from(support).unwrap_or(u32::MAX),
            group_sessions: u32::try_from(self.group_count.sessions).unwrap_or(u32::MAX),
            rate,
            rate_interval: [low, high],
            baseline_rate,
            baseline_sessions: u32::try_from(self.baseline.sessions).unwrap_or(u32::MAX),
            difference_interval: [difference_low, difference_high],
            p_value: self.p_value,
            q_value,
            also,
            windows: self.windows,
            session_ids: self.members.iter().map(|&i| sessions[i].id).collect(),
        }
    }
}

/// How people read a group: "planner sessions about pricing, discount".
pub fn describe(group: &[Facet]) -> String {
    let mut tool = None;
    let mut rest = Vec::new();
    for facet in group {
        match facet {
            Facet::Tool { tool: name } => tool = Some(name.as_str()),
            Facet::Topic { label, .. } => rest.push(format!("about {label}")),
            Facet::Model { model } => rest.push(format!("on {model}")),
            Facet::User { user_id } => rest.push(format!("of user {user_id}")),
        }
    }
    let head = match tool {
        Some(tool) => format!("{tool} sessions"),
        None if group.is_empty() => "all sessions".to_owned(),
        None => "sessions".to_owned(),
    };
    std::iter::once(head)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" ")
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// For session sets listed in order (Lux's own patterns, then plugin miners'), the index of the
/// earlier set each one says the same thing as — overlapping a set that stands on its own by
/// Jaccard ≥ 0.7, the rule Lux's own mining merges by — or `None` when it stands on its own. A
/// list of patterns from several miners then states each set of sessions once.
pub fn same_sessions_as_earlier(sets: &[Vec<SessionId>]) -> Vec<Option<usize>> {
    let sorted: Vec<Vec<SessionId>> = sets
        .iter()
        .map(|set| {
            let mut set = set.clone();
            set.sort();
            set.dedup();
            set
        })
        .collect();
    let mut standing: Vec<usize> = Vec::new();
    let mut same = Vec::with_capacity(sets.len());
    for (index, set) in sorted.iter().enumerate() {
        // A pattern that names no sessions says nothing another could repeat.
        let earlier = standing
            .iter()
            .copied()
            .filter(|_| !set.is_empty())
            .find(|&kept| jaccard(&sorted[kept], set) >= MERGE_OVERLAP);
        if earlier.is_none() {
            standing.push(index);
        }
        same.push(earlier);
    }
    same
}

/// Jaccard overlap of two ascending lists.
fn jaccard<T: Ord>(a: &[T], b: &[T]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        1.0
    } else {
        both as f64 / union as f64
    }
}

/// A session's most frequent whole words over its steps, ties broken alphabetically.
pub fn top_words(steps: &[String], limit: usize) -> Vec<String> {
    let mut frequency: HashMap<String, u32> = HashMap::new();
    for step in steps {
        for term in terms::terms(step) {
            if !term.contains(' ') {
                *frequency.entry(term).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(String, u32)> = frequency.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(limit)
        .map(|(word, _)| word)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::same_sessions_as_earlier;
    use crate::domain::SessionId;

    fn ids(numbers: &[u128]) -> Vec<SessionId> {
        numbers
            .iter()
            .map(|n| SessionId(uuid::Uuid::from_u128(*n)))
            .collect()
    }

    #[test]
    fn a_set_of_sessions_is_stated_once() {
        let sets = [
            ids(&[1, 2, 3, 4, 5]),
            ids(&[10, 11, 12]),
            ids(&[5, 4, 3, 2, 1, 1]), // the same as the first, in another order
            ids(&[1, 2, 3, 4, 5, 6]), // 5 of 6: Jaccard 0.83
            ids(&[1, 2, 3, 20, 21, 22]), // 3 of 8 with the first: on its own
            ids(&[1, 2, 3, 20, 21]),  // 5 of 6 with the one before: joins it, not the first
            ids(&[]),
            ids(&[]),
        ];
        assert_eq!(
            same_sessions_as_earlier(&sets),
            [None, None, Some(0), Some(0), None, Some(4), None, None]
        );
    }
}
