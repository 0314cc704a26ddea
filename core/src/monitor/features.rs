//! What the monitor measures on one thought, computed once when the thought is observed.

use std::collections::{HashMap, HashSet};

use crate::detect::text;

/// Words that mark a move in an argument (a reason, a consequence, a condition, a contrast).
const REASONING_MOVES: &[&str] = &[
    "because",
    "since",
    "therefore",
    "thus",
    "hence",
    "so",
    "if",
    "then",
    "implies",
    "which means",
    "given",
    "consequently",
    "as a result",
    "for example",
    "unless",
    "whereas",
    "however",
    "but",
    "although",
    "evidence",
    "suggests",
    "means",
    "causes",
    "caused",
    "leads to",
    "depends",
    "compare",
    "compared",
    "weil",
    "deshalb",
    "also",
    "donc",
    "parce que",
    "car",
    "porque",
    "por lo tanto",
    "entonces",
];

const RECAP_MARKERS: &[&str] = &[
    "to summarize",
    "to summarise",
    "in summary",
    "summary",
    "summarizing",
    "recap",
    "to recap",
    "so far",
    "putting it together",
    "putting this together",
    "overall",
    "in short",
    "in sum",
    "taken together",
    "zusammenfassend",
    "zusammengefasst",
    "en résumé",
    "en resumen",
    "resumiendo",
    "bilan",
];

#[derive(Debug, Clone)]
pub(super) struct StepFeatures {
    pub(super) concepts: HashMap<String, f64>,
    /// Moving-average type/token ratio over windows of 50 words (plain TTR for shorter thoughts).
    pub(super) vocabulary: f64,
    /// 0..1: reasoning moves, sentences and distinct concepts, each saturating.
    pub(super) depth: f64,
    /// Share of tokens that are figures, identifiers, paths or code.
    pub(super) detail: f64,
    /// Marked as a summary of what came before.
    pub(super) recap: bool,
}

impl StepFeatures {
    pub(super) fn of(content: &str) -> StepFeatures {
        let words = text::words(content);
        // Concepts folded to their first 5 letters: a crude stemmer that works in every language
        // the eval covers ("komprimiert"/"komprimieren", "appelle"/"appels", "compression"/"compressed").
        let mut concepts: HashMap<String, f64> = HashMap::new();
        for (concept, tf) in text::concepts(&words) {
            *concepts
                .entry(concept.chars().take(5).collect())
                .or_default() += tf;
        }
        let moves = text::phrase_hits(&words, REASONING_MOVES).len() as f64;
        let sentences = text::sentences(content).len() as f64;
        let depth = 0.5 * (moves / 4.0).min(1.0)
            + 0.25 * (sentences / 4.0).min(1.0)
            + 0.25 * (concepts.len() as f64 / 20.0).min(1.0);
        StepFeatures {
            vocabulary: mattr(&words, 50),
            depth,
            detail: detail_density(content),
            recap: text::has_any(&words, RECAP_MARKERS),
            concepts,
        }
    }
}

fn mattr(words: &[text::Word], window: usize) -> f64 {
    if words.is_empty() {
        return 0.0;
    }
    if words.len() <= window {
        let distinct: HashSet<&str> = words.iter().map(|w| w.lower.as_str()).collect();
        return distinct.len() as f64 / words.len() as f64;
    }
    // Sliding window with counts, so a 1 MiB thought stays linear.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in &words[..window] {
        *counts.entry(word.lower.as_str()).or_default() += 1;
    }
    let mut total = counts.len() as f64;
    let mut n = 1.0;
    for i in window..words.len() {
        let out = words[i - window].lower.as_str();
        if let Some(count) = counts.get_mut(out) {
            *count -= 1;
            if *count == 0 {
                counts.remove(out);
            }
        }
        *counts.entry(words[i].lower.as_str()).or_default() += 1;
        total += counts.len() as f64;
        n += 1.0;
    }
    total / n / window as f64
}

fn detail_density(content: &str) -> f64 {
    let mut tokens = 0usize;
    let mut detailed = 0usize;
    for token in content.split_whitespace() {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric());
        if token.is_empty() {
            continue;
        }
        tokens += 1;
        let camel = token
            .chars()
            .zip(token.chars().skip(1))
            .any(|(a, b)| a.is_lowercase() && b.is_uppercase());
        if token.chars().any(|c| c.is_ascii_digit())
            || token.contains(['_', '/', '(', '=', '<', '>', '#', '@'])
            || token.contains("::")
            || (token.contains('.') && !token.ends_with('.'))
            || camel
        {
            detailed += 1;
        }
    }
    if tokens == 0 {
        0.0
    } else {
        detailed as f64 / tokens as f64
    }
}

/// Weighted share of `concepts` that also belong to `topic`.
pub(super) fn relevance(concepts: &HashMap<String, f64>, topic: &HashSet<String>) -> f64 {
    let total: f64 = concepts.values().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let on_topic: f64 = concepts
        .iter()
        .filter(|(term, _)| topic.contains(*term))
        .map(|(_, tf)| tf)
        .sum();
    on_topic / total
}

/// Least-squares slope of evenly spaced values (per step).
pub(super) fn slope(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    if den > 0.0 { num / den } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slopes_and_diversity() {
        assert!((slope(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-9);
        assert_eq!(slope(&[1.0]), 0.0);
        let words = text::words("a a a a");
        assert!((mattr(&words, 50) - 0.25).abs() < 1e-9);
        assert!(detail_density("see cache_hit at 42 ms") > 0.3);
    }
}
