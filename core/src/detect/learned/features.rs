//! The features a learned detector scores a step on, computed the same way when training and when
//! a step is written: how the step relates to the question and to earlier steps (similarity,
//! novelty, what it takes from the steps in between, relevance and how long it has been lost),
//! how it compares with the opening steps (length, figures, vagueness), which cue families it
//! holds and which its context holds, and its words hashed into buckets so that weights can learn
//! cues in any language.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use lux_embed::SentenceEncoder;

use super::cues::{self, CUE_COUNT, HEDGE};
use crate::detect::text;
use crate::domain::Span;

/// Buckets of the hashed words and word pairs.
pub const HASH_BUCKETS: usize = 4096;

/// Steps of context a step is compared with besides the question: the most recent ones.
pub const CONTEXT_STEPS: usize = 8;

/// One step's text, reduced once to what the features need.
#[derive(Debug, Clone, Default)]
pub struct StepText {
    terms: HashMap<String, f64>,
    chars: usize,
    figures: Vec<f64>,
    digit_share: f64,
    cues: [f64; CUE_COUNT],
    questions: f64,
    hashed: Vec<(u32, f32)>,
    /// Terms of each sentence with at least three (the first twelve): a restatement of an earlier
    /// claim is often one sentence of a longer step.
    sentences: Vec<HashMap<String, f64>>,
    /// Highest similarity between two sentences of the step (an explanation restating itself).
    self_similarity: f64,
    /// Options enumerated as (a)/(b), 1)/2), option A/B …: how many distinct markers.
    option_markers: f64,
    /// The sentence embedding, when the model is in use.
    embedding: Option<Vec<f32>>,
    /// With the model and more than one sentence in `sentences`: each one's embedding, in the
    /// same order (a restatement in new words is often one sentence of a longer step).
    sentence_embeddings: Vec<Vec<f32>>,
    /// Words (CJK characters count as half a word each).
    words: f64,
}

/// Texts already reduced, shared by the monitor and the detectors (a thought is observed again
/// on every later write of its session): keyed by a hash of the content and whether it holds an
/// embedding. Bounded; emptied when full.
type TextCache = HashMap<(u64, usize, bool), Arc<StepText>>;
static CACHE: LazyLock<Mutex<TextCache>> = LazyLock::new(|| Mutex::new(HashMap::new()));
const CACHE_ENTRIES: usize = 4096;

/// `content` reduced, from the cache when it was seen before.
pub fn step_text(content: &str, encoder: Option<&SentenceEncoder>) -> Arc<StepText> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut hasher);
    let key = (hasher.finish(), content.len(), encoder.is_some());
    if let Some(found) = CACHE.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
        return found;
    }
    let text = Arc::new(StepText::of(content, encoder));
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, text.clone());
    }
    text
}

impl StepText {
    pub fn of(content: &str, encoder: Option<&SentenceEncoder>) -> StepText {
        let words = text::words(content);
        let lower = content.to_lowercase();
        let mut terms: HashMap<String, f64> = HashMap::new();
        let mut tokens: Vec<String> = Vec::with_capacity(words.len());
        for word in &words {
            if word.lower.chars().any(cues::is_cjk) {
                let chars: Vec<char> = word.lower.chars().collect();
                for pair in chars.windows(2) {
                    let bigram: String = pair.iter().collect();
                    *terms.entry(bigram.clone()).or_default() += 1.0;
                    tokens.push(bigram);
                }
                if chars.len() == 1 {
                    tokens.push(word.lower.clone());
                }
                continue;
            }
            tokens.push(word.lower.clone());
            let numeric = word
                .lower
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',');
            if word.lower.chars().count() > 2 && !numeric && !text::is_stop_word(&word.lower) {
                let stem: String = text::stem(&word.lower).chars().take(6).collect();
                *terms.entry(stem).or_default() += 1.0;
            }
        }
        let figures: Vec<f64> = text::figures(&words).iter().map(|f| f.value).collect();
        let digit_words = words
            .iter()
            .filter(|w| w.lower.chars().any(|c| c.is_ascii_digit()))
            .count();
        let cjk_chars = content.chars().filter(|c| cues::is_cjk(*c)).count();
        let (spans, sentences): (Vec<Span>, Vec<HashMap<String, f64>>) =
            sentence_terms(content).into_iter().unzip();
        let (embedding, sentence_embeddings) = match encoder {
            Some(encoder) if spans.len() > 1 => {
                let parts: Vec<std::ops::Range<usize>> =
                    spans.iter().map(|span| span.start..span.end).collect();
                let (whole, parts) = encoder.embed_with_parts(content, &parts);
                (Some(whole), parts)
            }
            Some(encoder) => (Some(encoder.embed(content)), Vec::new()),
            None => (None, Vec::new()),
        };
        StepText {
            words: words
                .iter()
                .filter(|w| !w.lower.chars().any(cues::is_cjk))
                .count() as f64
                + cjk_chars as f64 / 2.0,
            embedding,
            sentence_embeddings,
            self_similarity: self_similarity(&sentences),
            sentences,
            option_markers: option_markers(&lower),
            chars: content.chars().count(),
            digit_share: if words.is_empty() {
                0.0
            } else {
                digit_words as f64 / words.len() as f64
            },
            cues: cues::cue_counts(&lower),
            questions: content.matches(['?', '？']).count() as f64,
            hashed: hash_tokens(&tokens),
            figures,
            terms,
        }
    }
}

impl StepText {
    /// Long enough to show a bias: a claim needs a few words ("second" or "ok" cannot).
    pub fn can_show_a_bias(&self) -> bool {
        self.words >= 4.0
    }

    /// Marked as a summary and stating a decision or next step: the definition's "recap that adds
    /// a decision", which is never circular reasoning.
    pub fn recap_with_decision(&self) -> bool {
        self.cues[13] > 0.0 && self.cues[14] > 0.0
    }
}

/// Each sentence of `content` that has at least three terms (the first twelve), with its terms.
fn sentence_terms(content: &str) -> Vec<(Span, HashMap<String, f64>)> {
    text::sentences(content)
        .into_iter()
        .take(12)
        .map(|span| {
            let mut terms = HashMap::new();
            for word in text::words(&content[span.start..span.end]) {
                if word.lower.chars().any(cues::is_cjk) {
                    let chars: Vec<char> = word.lower.chars().collect();
                    for pair in chars.windows(2) {
                        *terms.entry(pair.iter().collect::<String>()).or_insert(0.0) += 1.0;
                    }
                } else if word.lower.chars().count() > 2 && !text::is_stop_word(&word.lower) {
                    let stem: String = text::stem(&word.lower).chars().take(6).collect();
                    *terms.entry(stem).or_insert(0.0) += 1.0;
                }
            }
            (span, terms)
        })
        .filter(|(_, terms)| terms.len() >= 3)
        .collect()
}

/// The highest cosine between the terms of two sentences of one step.
fn self_similarity(sentences: &[HashMap<String, f64>]) -> f64 {
    let mut best: f64 = 0.0;
    for (i, a) in sentences.iter().enumerate() {
        for b in &sentences[i + 1..] {
            best = best.max(text::cosine(a, b));
        }
    }
    best
}

/// Distinct option markers: `(a)`, `(b)`, `a)`, `1)`, `option a`, `選択肢`, … counted once each.
fn option_markers(lower: &str) -> f64 {
    let mut seen = HashSet::new();
    for marker in [
        "(a)",
        "(b)",
        "(c)",
        "(1)",
        "(2)",
        "(3)",
        "a)",
        "b)",
        "c)",
        "option a",
        "option b",
        "option c",
        "option 1",
        "option 2",
        "option 3",
        "variante a",
        "variante b",
        "①",
        "②",
        "③",
        "方案一",
        "方案二",
        "方案三",
        "案a",
        "案b",
        "案c",
    ] {
        if lower.contains(marker) {
            let key = marker
                .trim_start_matches("option ")
                .trim_start_matches("variante ")
                .trim_start_matches('案')
                .trim_matches(|c| c == '(' || c == ')')
                .to_owned();
            seen.insert(key);
        }
    }
    seen.len() as f64
}

/// Relative distance of two figures (0 equal, 1 far apart).
fn relative_distance(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

/// Words and adjacent word pairs, hashed (FNV-1a) into buckets, each weighted 1/√n.
fn hash_tokens(tokens: &[String]) -> Vec<(u32, f32)> {
    let mut counts: HashMap<u32, f32> = HashMap::new();
    let bucket = |parts: &[&str]| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                hash ^= 0x20;
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            for byte in part.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        (hash % HASH_BUCKETS as u64) as u32
    };
    for (i, token) in tokens.iter().enumerate() {
        *counts.entry(bucket(&[token])).or_default() += 1.0;
        if let Some(next) = tokens.get(i + 1) {
            *counts.entry(bucket(&[token, next])).or_default() += 1.0;
        }
    }
    let scale = 1.0 / (tokens.len().max(1) as f32).sqrt();
    let mut hashed: Vec<(u32, f32)> = counts.into_iter().map(|(k, v)| (k, v * scale)).collect();
    hashed.sort_by_key(|(k, _)| *k);
    hashed
}

/// Names of the dense features, in order (the hashed ones follow them).
pub(super) const DENSE_NAMES: &[&str] = &[
    "position",
    "similarity to the previous step",
    "highest similarity to an earlier step",
    "similarity to the question",
    "similarity to the first answer",
    "steps back to the most similar one",
    "novelty",
    "use of the steps in between",
    "relevance to the question",
    "relevance of the previous step",
    "off-topic run",
    "length against the opening steps",
    "length of the previous step against the opening",
    "length (log)",
    "figures share",
    "figures share against the opening",
    "questions asked",
    "figures",
    "figures new to the session",
    "figures from the first steps",
    "earlier contrary evidence",
    "earlier base rates",
    "earlier figures",
    "filler in the previous step",
    "hedges in the previous step",
    "figures nearer the first figures than the later ones",
    "self-similarity between sentences",
    "options listed",
    "dismissal after contrary evidence",
    "vivid instance after base rates",
    "universal claim on small counts",
    "universal claim without a proof or sample",
    "certainty without evidence",
    "small counts in context",
    "a sentence restated from an earlier step",
    "a sentence restated from before the previous step",
    "share of sentences restated",
    "nearer the opening than the steps between",
    "nearer the opening than the steps between, after contrary evidence",
];

/// Dense features before the cue families (the families, then context copies, follow).
const STRUCTURAL: usize = 39;

/// A sentence at least this close (cosine of terms) to an earlier one counts as restated.
const RESTATED: f64 = 0.5;

/// Semantic features, after the lexical ones when the model is in use (then the embedding).
const SEMANTIC_NAMES: &[&str] = &[
    "meaning close to the previous step",
    "meaning close to the question",
    "meaning close to the first answer",
    "meaning closest to an earlier step",
    "steps back to the closest meaning",
    "meaning nearer the opening than the previous step",
    "meaning taken from the steps in between",
    "a sentence's meaning closest to an earlier step",
    "a sentence's meaning closest to a step before the previous",
    "meaning left unexplained by the earlier steps",
    "meaning left unexplained by the steps before the previous",
    "meaning nearer the opening than the steps between",
    "meaning nearer the opening than the steps between, after contrary evidence",
    "a sentence's meaning restated from before the previous step, after contrary evidence",
    "closest meaning above the session's usual",
    "a sentence's closest meaning above the session's usual",
];

/// Dimensions of the sentence embedding used as features.
pub(super) const EMBEDDING_DIMS: usize = 512;

/// Every feature name: structural, this step's cue families, then the same families in the step
/// before it; with `semantic`, the similarities of meaning and the embedding's dimensions.
pub fn feature_names(semantic: bool) -> Vec<String> {
    let mut names: Vec<String> = DENSE_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for i in 0..CUE_COUNT {
        names.push(format!("cue: {}", cues::family_name(i)));
    }
    for i in 0..CUE_COUNT {
        names.push(format!(
            "cue in the previous step: {}",
            cues::family_name(i)
        ));
    }
    if semantic {
        names.extend(SEMANTIC_NAMES.iter().map(|s| (*s).to_owned()));
        names.extend((0..EMBEDDING_DIMS).map(|i| format!("meaning (dimension {i})")));
    }
    names
}

/// Length of the dense part.
pub(super) fn dense_len(semantic: bool) -> usize {
    STRUCTURAL
        + 2 * CUE_COUNT
        + if semantic {
            SEMANTIC_NAMES.len() + EMBEDDING_DIMS
        } else {
            0
        }
}

/// The index and value of the highest positive similarity.
pub fn most_similar(similarities: &[f64]) -> (Option<usize>, f64) {
    similarities
        .iter()
        .copied()
        .enumerate()
        .fold(
            (None, 0.0),
            |best, (i, s)| {
                if s > best.1 { (Some(i), s) } else { best }
            },
        )
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// The closest any sentence of `step` comes in meaning to an earlier step or one of its
/// sentences: over all of `earlier`, and over those before the previous step (a cycle back
/// skips what was just said). A step of one sentence counts as that sentence.
fn sentence_meaning(step: &StepText, earlier: &[&StepText]) -> [f64; 2] {
    let Some(own) = &step.embedding else {
        return [0.0, 0.0];
    };
    let mine: Vec<&[f32]> = if step.sentence_embeddings.is_empty() {
        vec![own.as_slice()]
    } else {
        step.sentence_embeddings
            .iter()
            .filter(|e| !e.is_empty())
            .map(Vec::as_slice)
            .collect()
    };
    let before_previous = earlier.len().saturating_sub(1);
    let mut closest = [0.0_f64, 0.0_f64];
    for (i, e) in earlier.iter().enumerate() {
        let Some(theirs) = &e.embedding else { continue };
        let targets = std::iter::once(theirs.as_slice()).chain(
            e.sentence_embeddings
                .iter()
                .filter(|x| !x.is_empty())
                .map(Vec::as_slice),
        );
        for target in targets {
            for sentence in &mine {
                let similarity = dot(sentence, target);
                closest[0] = closest[0].max(similarity);
                if i < before_previous {
                    closest[1] = closest[1].max(similarity);
                }
            }
        }
    }
    closest
}

/// How much of the step's meaning the earlier steps do not explain (1 − the squared length of
/// its projection on their span), by all of them and by those before the previous step: a
/// restatement is explained by the step it restates, whatever its words.
fn unexplained_meaning(step: &StepText, earlier: &[&StepText]) -> [f64; 2] {
    let Some(own) = &step.embedding else {
        return [0.0, 0.0];
    };
    let embeddings: Vec<&[f32]> = earlier
        .iter()
        .filter_map(|e| e.embedding.as_deref())
        .collect();
    let before_previous = embeddings.len().saturating_sub(1);
    [
        unexplained(own, &embeddings),
        unexplained(own, &embeddings[..before_previous]),
    ]
}

/// 1 − the squared length of the projection of `own` (unit length) on the span of `basis`.
fn unexplained(own: &[f32], basis: &[&[f32]]) -> f64 {
    let mut orthonormal: Vec<Vec<f64>> = Vec::with_capacity(basis.len());
    for vector in basis {
        let mut v: Vec<f64> = vector.iter().map(|x| f64::from(*x)).collect();
        for q in &orthonormal {
            let along: f64 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= along * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-6 {
            v.iter_mut().for_each(|a| *a /= norm);
            orthonormal.push(v);
        }
    }
    let projected: f64 = orthonormal
        .iter()
        .map(|q| {
            own.iter()
                .zip(q)
                .map(|(a, b)| f64::from(*a) * b)
                .sum::<f64>()
                .powi(2)
        })
        .sum();
    (1.0 - projected).clamp(0.0, 1.0)
}

/// A step's features: the dense values and the hashed words.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub dense: Vec<f64>,
    pub hashed: Vec<(u32, f32)>,
}

/// Features of `step` (at `index` in its session, 0 being the question) given the question and
/// up to [`CONTEXT_STEPS`] steps right before it, oldest first. `earlier[0]` is the question when
/// `index > 0`. With `semantic`, the meaning features follow (zeros where a text has no
/// embedding).
pub(super) fn features(
    index: usize,
    step: &StepText,
    earlier: &[&StepText],
    semantic: bool,
) -> Features {
    let question = earlier.first().copied();
    let first_answer = earlier.get(1).copied();
    let previous = earlier.last().copied();
    let similarities: Vec<f64> = earlier
        .iter()
        .map(|e| text::cosine(&step.terms, &e.terms))
        .collect();
    let (best, best_similarity) = most_similar(&similarities);
    let total: f64 = step.terms.values().sum();
    let share = |pred: &dyn Fn(&str) -> bool| {
        if total <= 0.0 {
            0.0
        } else {
            step.terms
                .iter()
                .filter(|(term, _)| pred(term))
                .map(|(_, tf)| tf)
                .sum::<f64>()
                / total
        }
    };
    let seen: HashSet<&str> = earlier
        .iter()
        .flat_map(|e| e.terms.keys().map(String::as_str))
        .collect();
    let novelty = share(&|t| !seen.contains(t));
    let between_use = match best {
        Some(b) if b + 1 < earlier.len() => {
            let anchor = &earlier[b].terms;
            let between: HashSet<&str> = earlier[b + 1..]
                .iter()
                .flat_map(|e| e.terms.keys().map(String::as_str))
                .filter(|t| !anchor.contains_key(*t))
                .collect();
            share(&|t| between.contains(t))
        }
        _ => 0.0,
    };
    let topic: HashSet<&str> = question
        .into_iter()
        .chain(first_answer)
        .flat_map(|e| e.terms.keys().map(String::as_str))
        .collect();
    let relevance_of = |s: &StepText| {
        let total: f64 = s.terms.values().sum();
        if total <= 0.0 {
            1.0
        } else {
            s.terms
                .iter()
                .filter(|(t, _)| topic.contains(t.as_str()))
                .map(|(_, tf)| tf)
                .sum::<f64>()
                / total
        }
    };
    let relevance = relevance_of(step);
    // Consecutive steps (this one included) that share little with the question, ignoring the
    // question and first answer themselves.
    let mut off_topic_run: f64 = 0.0;
    if index >= 2 {
        let chain = earlier[2.min(earlier.len())..]
            .iter()
            .copied()
            .chain([step]);
        for s in chain.rev() {
            if relevance_of(s) < 0.2 {
                off_topic_run += 1.0;
            } else {
                break;
            }
        }
    }
    let opening: Vec<&StepText> = earlier.iter().skip(1).take(2).copied().collect();
    let mean = |f: &dyn Fn(&StepText) -> f64| {
        if opening.is_empty() {
            None
        } else {
            Some(opening.iter().map(|s| f(s)).sum::<f64>() / opening.len() as f64)
        }
    };
    let opening_chars = mean(&|s| s.chars as f64);
    let length_ratio =
        |s: &StepText| opening_chars.map_or(0.0, |m| ((s.chars as f64 + 10.0) / (m + 10.0)).ln());
    let first_figures: Vec<f64> = earlier
        .iter()
        .take(2)
        .flat_map(|e| e.figures.iter().copied())
        .collect();
    let earlier_figures: Vec<f64> = earlier
        .iter()
        .flat_map(|e| e.figures.iter().copied())
        .collect();
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let new_figures = step
        .figures
        .iter()
        .filter(|f| !earlier_figures.iter().any(|e| same(**f, *e)))
        .count() as f64;
    let from_first = step
        .figures
        .iter()
        .filter(|f| first_figures.iter().any(|e| same(**f, *e)))
        .count() as f64;
    let sum_cue = |family: usize| earlier.iter().map(|e| e.cues[family]).sum::<f64>();
    // A figure of this step closer to the first steps' figures than to anything computed since,
    // while something different was computed since: the estimate stayed at the anchor.
    let later_figures: Vec<f64> = earlier
        .iter()
        .skip(2)
        .flat_map(|e| e.figures.iter().copied())
        .collect();
    let nearest = |f: f64, pool: &[f64]| {
        pool.iter()
            .map(|p| relative_distance(f, *p))
            .fold(f64::INFINITY, f64::min)
    };
    let anchored = step
        .figures
        .iter()
        .filter(|f| {
            let (first, later) = (nearest(**f, &first_figures), nearest(**f, &later_figures));
            first < later && later > 0.1 && first < 0.5
        })
        .count() as f64;
    let small_counts = step
        .figures
        .iter()
        .chain(earlier.iter().flat_map(|e| e.figures.iter()))
        .filter(|f| (1.0..=5.0).contains(*f) && f.fract() == 0.0)
        .count() as f64;
    let previous_cues = previous.map_or([0.0; CUE_COUNT], |p| p.cues);
    // Each sentence's closest match among the earlier steps' sentences, over all of them and over
    // those before the previous step (a cycle back skips what was just said).
    let before_previous = earlier.len().saturating_sub(1);
    let restatements: Vec<(f64, f64)> = step
        .sentences
        .iter()
        .map(|sentence| {
            let mut closest = (0.0_f64, 0.0_f64);
            for (i, e) in earlier.iter().enumerate() {
                for other in &e.sentences {
                    let similarity = text::cosine(sentence, other);
                    closest.0 = closest.0.max(similarity);
                    if i < before_previous {
                        closest.1 = closest.1.max(similarity);
                    }
                }
            }
            closest
        })
        .collect();
    let restated = restatements.iter().map(|r| r.0).fold(0.0, f64::max);
    let restated_from_before = restatements.iter().map(|r| r.1).fold(0.0, f64::max);
    let restated_share = if restatements.is_empty() {
        0.0
    } else {
        restatements.iter().filter(|r| r.0 >= RESTATED).count() as f64 / restatements.len() as f64
    };

    // Siding with the opening (question or first answer) over everything said since, and doing
    // so after the steps since brought contrary evidence: the cycle back that ignores findings.
    let contrary_since = earlier
        .iter()
        .skip(2)
        .map(|e| e.cues[11])
        .sum::<f64>()
        .ln_1p();
    let nearer_opening = |similarities: &[f64]| {
        if similarities.len() <= 2 {
            return 0.0;
        }
        let opening = similarities[..2].iter().copied().fold(0.0, f64::max);
        let since = similarities[2..].iter().copied().fold(0.0, f64::max);
        opening - since
    };
    let lexical_nearer_opening = nearer_opening(&similarities);

    let mut dense = Vec::with_capacity(dense_len(semantic));
    dense.extend([
        (1.0 + index as f64).ln(),
        similarities.last().copied().unwrap_or(0.0),
        best_similarity,
        similarities.first().copied().unwrap_or(0.0),
        similarities.get(1).copied().unwrap_or(0.0),
        best.map_or(0.0, |b| {
            (earlier.len() - b) as f64 / earlier.len().max(1) as f64
        }),
        novelty,
        between_use,
        relevance,
        previous.map_or(1.0, relevance_of),
        off_topic_run.min(4.0) / 4.0,
        length_ratio(step),
        previous.map_or(0.0, length_ratio),
        (1.0 + step.chars as f64).ln(),
        step.digit_share,
        step.digit_share - mean(&|s| s.digit_share).unwrap_or(step.digit_share),
        step.questions.min(3.0),
        (step.figures.len() as f64).ln_1p(),
        new_figures.ln_1p(),
        from_first.ln_1p(),
        sum_cue(11).ln_1p(),
        sum_cue(8).ln_1p(),
        (earlier_figures.len() as f64).ln_1p(),
        previous_cues[15].ln_1p(),
        previous_cues[HEDGE].ln_1p(),
        anchored.ln_1p(),
        step.self_similarity,
        step.option_markers.min(4.0),
        (step.cues[10] * sum_cue(11).min(3.0)).ln_1p(),
        (step.cues[7] * sum_cue(8).min(3.0)).ln_1p(),
        (step.cues[2] * small_counts.min(3.0)).ln_1p(),
        (step.cues[2] * f64::from(u8::from(step.cues[3] == 0.0))).ln_1p(),
        (step.cues[0] * f64::from(u8::from(step.cues[3] == 0.0 && step.figures.is_empty())))
            .ln_1p(),
        small_counts.ln_1p(),
        restated,
        restated_from_before,
        restated_share,
        lexical_nearer_opening,
        lexical_nearer_opening.max(0.0) * contrary_since,
    ]);
    debug_assert_eq!(dense.len(), STRUCTURAL);
    dense.extend(step.cues.iter().map(|c| c.ln_1p()));
    dense.extend(previous_cues.iter().map(|c| c.ln_1p()));
    if semantic {
        let meaning: Vec<f64> = earlier
            .iter()
            .map(|e| match (&step.embedding, &e.embedding) {
                (Some(a), Some(b)) => dot(a, b),
                _ => 0.0,
            })
            .collect();
        let (closest, closest_meaning) = most_similar(&meaning);
        let opening_meaning = meaning.iter().take(2).copied().fold(0.0, f64::max);
        // The meaning of the steps between the closest one and this, averaged: a step that
        // comes back to an old one without using them is far from it.
        let between_meaning = match (closest, &step.embedding) {
            (Some(b), Some(own)) if b + 1 < earlier.len() => {
                let mut sum = vec![0.0_f32; own.len()];
                let mut count = 0;
                for e in &earlier[b + 1..] {
                    if let Some(embedding) = &e.embedding {
                        sum.iter_mut().zip(embedding).for_each(|(s, x)| *s += x);
                        count += 1;
                    }
                }
                let norm = sum
                    .iter()
                    .map(|x| f64::from(*x).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if count == 0 || norm == 0.0 {
                    0.0
                } else {
                    dot(own, &sum) / norm
                }
            }
            _ => 0.0,
        };
        dense.extend([
            meaning.last().copied().unwrap_or(0.0),
            meaning.first().copied().unwrap_or(0.0),
            meaning.get(1).copied().unwrap_or(0.0),
            closest_meaning,
            closest.map_or(0.0, |b| {
                (earlier.len() - b) as f64 / earlier.len().max(1) as f64
            }),
            opening_meaning - meaning.last().copied().unwrap_or(0.0),
            between_meaning,
        ]);
        let sentences = sentence_meaning(step, earlier);
        dense.extend(sentences);
        dense.extend(unexplained_meaning(step, earlier));
        let meaning_nearer_opening = nearer_opening(&meaning);
        dense.extend([
            meaning_nearer_opening,
            meaning_nearer_opening.max(0.0) * contrary_since,
            sentences[1] * contrary_since,
        ]);
        // Every step of a session shares its topic: what singles out a restatement is being
        // much closer to one earlier step than to the rest.
        let usual = if meaning.is_empty() {
            0.0
        } else {
            meaning.iter().sum::<f64>() / meaning.len() as f64
        };
        dense.extend([closest_meaning - usual, sentences[0] - usual]);
        match &step.embedding {
            Some(embedding) if embedding.len() == EMBEDDING_DIMS => {
                dense.extend(embedding.iter().map(|x| f64::from(*x)));
            }
            _ => dense.extend(std::iter::repeat_n(0.0, EMBEDDING_DIMS)),
        }
    }
    Features {
        dense,
        hashed: step.hashed.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restatement_is_similar_and_new_words_are_novel() {
        let q = StepText::of(
            "Why did the nightly export job start failing after the release?",
            None,
        );
        let a = StepText::of(
            "The export job fails because the connection pool is exhausted.",
            None,
        );
        let b = StepText::of(
            "The release also changed the retry policy of the export worker.",
            None,
        );
        let again = StepText::of(
            "The export job fails since the connection pool gets exhausted.",
            None,
        );
        let f = features(3, &again, &[&q, &a, &b], false);
        assert_eq!(f.dense.len(), dense_len(false));
        assert_eq!(feature_names(false).len(), dense_len(false));
        let f = features(3, &again, &[&q, &a, &b], true);
        assert_eq!(
            f.dense.len(),
            dense_len(true),
            "zeros stand in for missing embeddings"
        );
        assert_eq!(feature_names(true).len(), dense_len(true));
        assert!(f.dense[2] > 0.6, "highest similarity {}", f.dense[2]);
        assert!(f.dense[6] < 0.2, "novelty {}", f.dense[6]);
        let cjk = StepText::of("导出任务失败是因为连接池耗尽", None);
        assert!(cjk.terms.len() > 5, "CJK text is cut into character pairs");
    }

    #[test]
    fn meaning_in_the_span_of_earlier_steps_is_explained() {
        let axis = |i: usize| {
            let mut v = vec![0.0_f32; 4];
            v[i] = 1.0;
            v
        };
        let (x, y, z) = (axis(0), axis(1), axis(2));
        let diagonal = [std::f32::consts::FRAC_1_SQRT_2; 2];
        let between = [diagonal[0], diagonal[1], 0.0, 0.0];
        assert!(unexplained(&between, &[&x, &y]) < 1e-6);
        assert!((unexplained(&z, &[&x, &y]) - 1.0).abs() < 1e-6);
        assert!((unexplained(&between, &[&x]) - 0.5).abs() < 1e-6);
        assert!(
            (unexplained(&between, &[&x, &x]) - 0.5).abs() < 1e-6,
            "a repeated step explains nothing more"
        );
        assert_eq!(unexplained(&x, &[]), 1.0);
    }
}
