//! The detection logic of `absolute-claims` as plain Rust, free of any WIT type, so the same source
//! runs inside the component and natively in `lux bench plugins` (which includes this file with
//! `#[path]`) — the benchmark then compares one algorithm across the boundary, not two ports.

/// Words that claim certainty or universality.
const ABSOLUTES: &[&str] = &[
    "always",
    "never",
    "guaranteed",
    "guarantees",
    "certainly",
    "definitely",
    "undoubtedly",
    "unquestionably",
    "impossible",
    "everyone",
    "nobody",
    "proves",
];

/// Words that make a sentence a hedged one.
const HEDGES: &[&str] = &[
    "might",
    "may",
    "could",
    "likely",
    "probably",
    "possibly",
    "perhaps",
    "seems",
    "suggests",
    "usually",
    "often",
    "most",
    "approximately",
    "roughly",
];

/// Words that, right before an absolute, soften or negate it.
const SOFTENERS: &[&str] = &["not", "almost", "nearly", "hardly"];

/// What the suggestion of every finding says.
pub(crate) const SUGGESTION: &str = "Qualify the claim or cite the evidence that makes it certain.";

/// One unhedged absolute: the byte range of the word in the step and what to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Claim {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Three or more absolutes in one step make every one of them high severity.
    pub(crate) high: bool,
    pub(crate) explanation: String,
}

/// Every unhedged, unsoftened absolute of `text`, in text order; `extra_terms` (lowercase) count
/// as absolutes too.
pub(crate) fn find_claims(text: &str, extra_terms: &[String]) -> Vec<Claim> {
    // ASCII lowercasing keeps every byte offset identical to the original text.
    let lower = text.to_ascii_lowercase();
    let mut hits = Vec::new();
    for sentence in sentences(&lower) {
        let words = words(&lower, sentence.clone());
        if words.iter().any(|(_, word)| HEDGES.contains(word)) {
            continue;
        }
        for (index, (start, word)) in words.iter().enumerate() {
            let absolute = ABSOLUTES.contains(word) || extra_terms.iter().any(|term| term == word);
            let softened = index > 0 && SOFTENERS.contains(&words[index - 1].1);
            if absolute && !softened {
                hits.push((*start, *start + word.len()));
            }
        }
    }
    let high = hits.len() >= 3;
    hits.into_iter()
        .map(|(start, end)| Claim {
            start,
            end,
            high,
            explanation: format!(
                "\"{}\" states a certainty the reasoning does not show.",
                &text[start..end]
            ),
        })
        .collect()
}

/// Byte ranges of sentences: split after `.`, `!`, `?` and at line breaks.
fn sentences(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            out.push(start..index + c.len_utf8());
            start = index + c.len_utf8();
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// Words of a sentence (letters, digits, apostrophes) with their byte offsets in `text`.
fn words(text: &str, range: std::ops::Range<usize>) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (offset, c) in text[range.clone()].char_indices() {
        let at = range.start + offset;
        if c.is_alphanumeric() || c == '\'' {
            start.get_or_insert(at);
        } else if let Some(begin) = start.take() {
            out.push((begin, &text[begin..at]));
        }
    }
    if let Some(begin) = start {
        out.push((begin, &text[begin..range.end]));
    }
    out
}
