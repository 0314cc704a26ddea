//! Topics a person recognises: sessions grouped by what they are about — by the sentence model's
//! embedding of their title, question and first steps together with TF-IDF over their words when
//! the model is installed, by TF-IDF alone otherwise — with average-linkage clustering cut at a
//! fixed similarity, each topic named by the whole words and phrases that set it apart, in the
//! sessions' own language.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use lux_embed::SentenceEncoder;
use serde::{Deserialize, Serialize};

use super::terms::{contains_term, terms};

/// Sessions clustered directly; older ones join the topic whose centre is nearest.
const CLUSTER_CAP: usize = 1500;
/// Bytes of a session's opening (title, question, first steps) the sentence model reads.
const SEMANTIC_TEXT_BYTES: usize = 1500;
/// Average-linkage cuts: sessions whose mean similarity reaches this form one topic. Chosen on
/// the `tune` topic set only (`lux bench patterns --set tune`): with the model, similarity is the
/// mean of the embeddings' cosine and the TF-IDF cosine (the embeddings alone merged topics that
/// share a register; words alone split topics that share no phrasing).
const SEMANTIC_CUT: f32 = 0.15;
const LEXICAL_CUT: f32 = 0.025;
/// Words and phrases in a topic's name.
const NAME_TERMS: usize = 3;
/// Candidate names the sentence model re-ranks.
const NAME_CANDIDATES: usize = 15;
/// Embeddings remembered across mining runs (a session's opening rarely changes).
const CACHE_ENTRIES: usize = 20_000;

/// What a session is about, as topic modelling reads it.
#[derive(Debug, Clone, Copy)]
pub struct TopicText<'a> {
    pub title: Option<&'a str>,
    /// Step texts in order; the first is usually the task or question.
    pub steps: &'a [String],
}

/// A group of sessions about one thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    /// Position in [`Topics::topics`]; stable only within one mining run.
    pub id: u32,
    /// The name a person reads: its words joined by commas.
    pub label: String,
    /// Whole words and phrases that set the topic apart, most distinctive first.
    pub words: Vec<String>,
    /// Sessions in the topic.
    pub sessions: u32,
}

/// How sessions were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicMethod {
    /// The sentence model's embeddings.
    Semantic,
    /// TF-IDF over words (the model is not installed).
    Lexical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topics {
    pub method: TopicMethod,
    pub topics: Vec<Topic>,
    /// Each session's topic, by index into `topics`, in the input's order.
    pub assignment: Vec<Option<usize>>,
}

/// Groups sessions into topics of at least `min_size` sessions; sessions in no such group have
/// no topic. Input order matters only for which sessions are clustered when there are more than
/// [`CLUSTER_CAP`] (the first ones: pass newest first).
pub fn find_topics(
    sessions: &[TopicText<'_>],
    min_size: usize,
    encoder: Option<&SentenceEncoder>,
) -> Topics {
    let session_terms: Vec<Vec<String>> = sessions.iter().map(session_terms).collect();
    let (method, vectors) = match encoder {
        Some(encoder) => (
            TopicMethod::Semantic,
            Vectors::Both(
                sessions
                    .iter()
                    .map(|session| semantic_vector(session, encoder))
                    .collect(),
                lexical_vectors(&session_terms),
            ),
        ),
        None => (
            TopicMethod::Lexical,
            Vectors::Sparse(lexical_vectors(&session_terms)),
        ),
    };
    let cut = match method {
        TopicMethod::Semantic => SEMANTIC_CUT,
        TopicMethod::Lexical => LEXICAL_CUT,
    };
    let with_text: Vec<usize> = (0..sessions.len())
        .filter(|&i| !session_terms[i].is_empty())
        .collect();
    let clustered: Vec<usize> = with_text.iter().copied().take(CLUSTER_CAP).collect();
    let clusters = average_linkage(&clustered, &vectors, cut);
    let mut groups: Vec<Vec<usize>> = clusters
        .into_iter()
        .filter(|members| members.len() >= min_size.max(2))
        .collect();
    for &late in with_text.iter().skip(CLUSTER_CAP) {
        let nearest = groups
            .iter()
            .enumerate()
            .map(|(index, members)| (index, vectors.mean_similarity(late, members)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((index, similarity)) = nearest
            && similarity >= cut
        {
            groups[index].push(late);
        }
    }
    // Largest first, so topic ids read in order of size.
    groups.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a[0].cmp(&b[0])));

    let mut assignment = vec![None; sessions.len()];
    for (index, members) in groups.iter().enumerate() {
        for &member in members {
            assignment[member] = Some(index);
        }
    }
    let centres: Option<(&SentenceEncoder, Vec<Vec<f32>>)> = match (&vectors, encoder) {
        (Vectors::Both(dense, _), Some(encoder)) => Some((
            encoder,
            groups
                .iter()
                .map(|members| centre(dense, members))
                .collect(),
        )),
        _ => None,
    };
    let names = name_topics(&groups, &session_terms, with_text.len(), centres.as_ref());
    let topics = groups
        .iter()
        .zip(names)
        .enumerate()
        .map(|(index, (members, words))| Topic {
            id: u32::try_from(index).unwrap_or(u32::MAX),
            label: words.join(", "),
            words,
            sessions: u32::try_from(members.len()).unwrap_or(u32::MAX),
        })
        .collect();
    Topics {
        method,
        topics,
        assignment,
    }
}

/// A session's terms: its title's and every step's.
fn session_terms(session: &TopicText<'_>) -> Vec<String> {
    session
        .title
        .into_iter()
        .chain(session.steps.iter().map(String::as_str))
        .flat_map(terms)
        .collect()
}

/// The text the sentence model reads: title, question and first steps, up to a few sentences.
fn opening(session: &TopicText<'_>) -> String {
    let mut text = String::new();
    for part in session
        .title
        .into_iter()
        .chain(session.steps.iter().map(String::as_str))
    {
        if text.len() >= SEMANTIC_TEXT_BYTES {
            break;
        }
        text.push_str(part.trim());
        text.push('\n');
    }
    let mut end = text.len().min(SEMANTIC_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

type Dense = Arc<[f32]>;

/// Sessions as unit vectors: sparse TF-IDF over terms, with the sentence embeddings when the
/// model is installed.
enum Vectors {
    /// `(term index, weight)` sorted by term index.
    Sparse(Vec<Vec<(u32, f32)>>),
    /// Both, their similarities averaged (what is used when the model is installed).
    Both(Vec<Dense>, Vec<Vec<(u32, f32)>>),
}

impl Vectors {
    fn similarity(&self, a: usize, b: usize) -> f32 {
        match self {
            Vectors::Both(dense, sparse) => {
                0.5 * (dense_dot(&dense[a], &dense[b]) + sparse_dot(&sparse[a], &sparse[b]))
            }
            Vectors::Sparse(vectors) => sparse_dot(&vectors[a], &vectors[b]),
        }
    }

    fn mean_similarity(&self, session: usize, members: &[usize]) -> f32 {
        if members.is_empty() {
            return 0.0;
        }
        members
            .iter()
            .map(|&member| self.similarity(session, member))
            .sum::<f32>()
            / members.len() as f32
    }
}

fn dense_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sparse_dot(x: &[(u32, f32)], y: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < x.len() && j < y.len() {
        match x[i].0.cmp(&y[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += x[i].1 * y[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

static EMBEDDINGS: LazyLock<Mutex<HashMap<(u64, usize), Dense>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn semantic_vector(session: &TopicText<'_>, encoder: &SentenceEncoder) -> Dense {
    let text = opening(session);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let key = (hasher.finish(), text.len());
    if let Some(found) = EMBEDDINGS
        .lock()
        .ok()
        .and_then(|cache| cache.get(&key).cloned())
    {
        return found;
    }
    let vector: Dense = encoder.embed(&text).into();
    if let Ok(mut cache) = EMBEDDINGS.lock() {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, vector.clone());
    }
    vector
}

/// L2-normalised TF-IDF vectors over the sessions' terms that occur in at least two sessions (a
/// term in one session links nothing), with sub-linear term frequency: a word said ten times is
/// not ten times the topic.
fn lexical_vectors(session_terms: &[Vec<String>]) -> Vec<Vec<(u32, f32)>> {
    let mut document_frequency: HashMap<&str, u32> = HashMap::new();
    for terms in session_terms {
        let unique: HashSet<&str> = terms.iter().map(String::as_str).collect();
        for term in unique {
            *document_frequency.entry(term).or_default() += 1;
        }
    }
    let n = session_terms.len().max(1) as f32;
    let mut vocabulary: Vec<&str> = document_frequency
        .iter()
        .filter(|(_, df)| **df >= 2)
        .map(|(term, _)| *term)
        .collect();
    vocabulary.sort_unstable();
    let index: HashMap<&str, u32> = vocabulary
        .iter()
        .enumerate()
        .map(|(position, term)| (*term, u32::try_from(position).unwrap_or(u32::MAX)))
        .collect();
    session_terms
        .iter()
        .map(|terms| {
            let mut frequency: HashMap<u32, f32> = HashMap::new();
            for term in terms {
                if let Some(&position) = index.get(term.as_str()) {
                    *frequency.entry(position).or_default() += 1.0;
                }
            }
            let mut vector: Vec<(u32, f32)> = frequency
                .into_iter()
                .map(|(position, tf)| {
                    let df = document_frequency[vocabulary[position as usize]] as f32;
                    (position, (1.0 + tf.ln()) * (n / df).ln())
                })
                .collect();
            vector.sort_unstable_by_key(|(position, _)| *position);
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                for (_, weight) in &mut vector {
                    *weight /= norm;
                }
            }
            vector
        })
        .collect()
}

/// Average-linkage clusters of `members` (indexes into `vectors`) whose mean pairwise similarity
/// is at least `cut`.
fn average_linkage(members: &[usize], vectors: &Vectors, cut: f32) -> Vec<Vec<usize>> {
    let n = members.len();
    if n < 2 {
        return members.iter().map(|&member| vec![member]).collect();
    }
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let similarity = vectors.similarity(members[i], members[j]);
            condensed.push((1.0 - similarity).max(0.0));
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    // Union the clusters merged at or below the cut; step k creates cluster label n + k.
    let mut label_members: Vec<Vec<usize>> = (0..n).map(|i| vec![members[i]]).collect();
    let mut alive: Vec<bool> = vec![true; n];
    for step in dendrogram.steps() {
        if step.dissimilarity > 1.0 - cut {
            // Steps come in order of dissimilarity: nothing later merges closer.
            label_members.push(Vec::new());
            alive.push(false);
            continue;
        }
        let mut merged = std::mem::take(&mut label_members[step.cluster1]);
        merged.append(&mut label_members[step.cluster2]);
        alive[step.cluster1] = false;
        alive[step.cluster2] = false;
        label_members.push(merged);
        alive.push(true);
    }
    label_members
        .into_iter()
        .zip(alive)
        .filter(|(members, alive)| *alive && !members.is_empty())
        .map(|(mut members, _)| {
            members.sort_unstable();
            members
        })
        .collect()
}

/// The normalised mean of the members' embeddings.
fn centre(vectors: &[Dense], members: &[usize]) -> Vec<f32> {
    let mut sum = vec![0.0_f32; vectors.first().map_or(0, |v| v.len())];
    for &member in members {
        for (total, value) in sum.iter_mut().zip(vectors[member].iter()) {
            *total += value;
        }
    }
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        sum.iter_mut().for_each(|v| *v /= norm);
    }
    sum
}

/// Each topic's name. Candidates are the terms found in a large share of its sessions and rarely
/// elsewhere (share in the topic × inverse document frequency), skipping a term when a longer
/// term holding it is nearly as common in the topic — so a phrase wins over its words and a whole
/// Chinese word over its fragments. With the sentence model, candidates are re-ranked by how close
/// their meaning is to the topic's centre (as KeyBERT does), which drops words that are merely
/// frequent in the topic's language ("如果", "meist") for words about its subject.
fn name_topics(
    groups: &[Vec<usize>],
    session_terms: &[Vec<String>],
    sessions_with_text: usize,
    centres: Option<&(&SentenceEncoder, Vec<Vec<f32>>)>,
) -> Vec<Vec<String>> {
    let unique: Vec<HashSet<&str>> = session_terms
        .iter()
        .map(|terms| terms.iter().map(String::as_str).collect())
        .collect();
    let mut document_frequency: HashMap<&str, u32> = HashMap::new();
    for terms in &unique {
        for term in terms {
            *document_frequency.entry(term).or_default() += 1;
        }
    }
    let n = sessions_with_text.max(1) as f64;
    groups
        .iter()
        .enumerate()
        .map(|(group, members)| {
            let mut in_topic: HashMap<&str, u32> = HashMap::new();
            for &member in members {
                for term in &unique[member] {
                    *in_topic.entry(term).or_default() += 1;
                }
            }
            let floor = (members.len() as f64 * 0.2).ceil().max(2.0) as u32;
            let mut scored: Vec<(&str, f64, f64)> = in_topic
                .iter()
                .filter(|(_, count)| **count >= floor)
                .filter(|(term, count)| {
                    !in_topic.iter().any(|(other, other_count)| {
                        contains_term(other, term)
                            && f64::from(*other_count) >= 0.8 * f64::from(**count)
                    })
                })
                .map(|(term, count)| {
                    let share = f64::from(*count) / members.len() as f64;
                    let idf = (n / f64::from(document_frequency[term])).ln();
                    (*term, share, share * idf)
                })
                .collect();
            scored.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(b.0)));
            if let Some((encoder, centres)) = centres {
                scored.truncate(NAME_CANDIDATES);
                for candidate in &mut scored {
                    let meaning = encoder.embed(candidate.0);
                    let closeness = dense_dot(&meaning, &centres[group]).max(0.0);
                    candidate.2 = f64::from(closeness) * candidate.1.sqrt();
                }
                scored.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(b.0)));
            }
            let mut chosen: Vec<String> = Vec::new();
            for &(term, _, _) in &scored {
                if chosen.len() == NAME_TERMS {
                    break;
                }
                let redundant = chosen.iter().any(|kept| {
                    contains_term(kept, term) || contains_term(term, kept) || same_word(kept, term)
                });
                if !redundant {
                    chosen.push(term.to_owned());
                }
            }
            chosen
        })
        .collect()
}

/// Whether two words are a singular and its plural (`candidate`, `candidates`; `mes`, `meses`).
fn same_word(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short)
        .is_some_and(|suffix| matches!(suffix, "s" | "es"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| (*text).to_owned()).collect()
    }

    #[test]
    fn lexical_topics_group_sessions_by_subject_and_name_them_in_words() {
        let pricing = [
            "Which pricing tier fits the analytics add-on for small teams?",
            "Should the pricing tier for enterprise customers include the discount?",
            "Set the pricing tier of the new storage plan against competitor discount levels",
            "Is a yearly discount on the pricing tier worth the lost revenue?",
        ];
        let kubernetes = [
            "Why does the kubernetes pod restart every hour with exit code 137?",
            "The kubernetes pod restart loop started after the memory limit change",
            "Find the cause of kubernetes pod restart storms during deploys",
            "Kubernetes pod restart counts doubled since the node upgrade",
        ];
        let texts: Vec<Vec<String>> = pricing
            .iter()
            .chain(&kubernetes)
            .map(|question| steps(&[question, "Looking at the numbers again."]))
            .collect();
        let sessions: Vec<TopicText<'_>> = texts
            .iter()
            .map(|steps| TopicText { title: None, steps })
            .collect();
        let found = find_topics(&sessions, 3, None);
        assert_eq!(found.method, TopicMethod::Lexical);
        assert_eq!(found.topics.len(), 2, "{found:?}");
        let pricing_topic = found.assignment[0].unwrap();
        assert!(
            found.assignment[..4]
                .iter()
                .all(|t| *t == Some(pricing_topic))
        );
        let k8s_topic = found.assignment[4].unwrap();
        assert_ne!(pricing_topic, k8s_topic);
        assert!(found.assignment[4..].iter().all(|t| *t == Some(k8s_topic)));
        let names = |topic: usize| found.topics[topic].words.clone();
        assert!(
            names(pricing_topic).contains(&"pricing tier".to_owned()),
            "{found:?}"
        );
        assert!(
            names(k8s_topic)
                .iter()
                .any(|w| w.contains("kubernetes") || w.contains("pod restart")),
            "{found:?}"
        );
    }

    #[test]
    fn no_text_no_topic() {
        let empty: Vec<String> = Vec::new();
        let sessions = vec![
            TopicText {
                title: None,
                steps: &empty
            };
            5
        ];
        let found = find_topics(&sessions, 2, None);
        assert!(found.topics.is_empty());
        assert!(found.assignment.iter().all(Option::is_none));
    }
}
