//! Example bias detector: unhedged absolute claims ("always", "never", "guaranteed", …) are a
//! classic sign of overconfidence in reasoning. A sentence that also hedges ("might", "likely",
//! "in most cases") is left alone, and so is a negated absolute ("not always", "almost never").
//! Each finding points at the exact word, so the dashboard can highlight it.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

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

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// More words to treat as absolutes (lowercase).
    extra_terms: Vec<String>,
}

struct AbsoluteClaims;

impl Guest for AbsoluteClaims {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "absolute-claims".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Flags unhedged absolute claims (always, never, guaranteed, …) with the \
                          exact word as evidence."
                .into(),
            config_schema: r#"{"type":"object","properties":{"extra_terms":{"type":"array","items":{"type":"string"}}},"additionalProperties":false}"#.into(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let config: Config = if context.config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&context.config).map_err(|error| format!("bad config: {error}"))?
        };
        let text = &context.step.content;
        // ASCII lowercasing keeps every byte offset identical to the original text.
        let lower = text.to_ascii_lowercase();
        let mut hits = Vec::new();
        for sentence in sentences(&lower) {
            let words = words(&lower, sentence.clone());
            if words.iter().any(|(_, word)| HEDGES.contains(word)) {
                continue;
            }
            for (index, (start, word)) in words.iter().enumerate() {
                let absolute =
                    ABSOLUTES.contains(word) || config.extra_terms.iter().any(|term| term == word);
                let softened = index > 0 && SOFTENERS.contains(&words[index - 1].1);
                if absolute && !softened {
                    hits.push((
                        *start,
                        *start + word.len(),
                        text[*start..*start + word.len()].to_string(),
                    ));
                }
            }
        }
        let severity = if hits.len() >= 3 {
            Severity::High
        } else {
            Severity::Medium
        };
        Ok(hits
            .into_iter()
            .map(|(start, end, word)| Finding {
                bias_type: "absolute_claim".into(),
                severity,
                confidence: 0.7,
                explanation: format!("\"{word}\" states a certainty the reasoning does not show."),
                evidence: Some(Span {
                    start: start as u32,
                    end: end as u32,
                }),
                suggestion: Some(
                    "Qualify the claim or cite the evidence that makes it certain.".into(),
                ),
            })
            .collect())
    }
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

export!(AbsoluteClaims);
