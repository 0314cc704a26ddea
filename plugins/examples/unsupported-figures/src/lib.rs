//! Example bias detector that reads the session, not just the step: a figure stated in an earlier
//! step without a measurement, a source or the arithmetic behind it, then reused in a later step
//! ("Since 80% of the time is in queries, …"), has turned a guess into a premise the rest of the
//! reasoning builds on. A figure that was measured, cited, computed or labelled an assumption
//! wherever it appeared is left alone, and so is a reuse that questions or checks it. The evidence
//! is the figure in the step under review; the explanation names the step that first stated it.

wit_bindgen::generate!({ path: "../../wit", world: "bias-detector" });

use std::ops::Range;

use exports::lux::plugins::detector::{
    Finding, Guest, PluginMetadata, Severity, Span, StepContext,
};

/// Words that show where a figure comes from: a measurement, a source, a computation, or an
/// explicit assumption (a labelled assumption is honest, even when it is a guess).
const SUPPORT: &[&str] = &[
    "measured",
    "measure",
    "measuring",
    "measurement",
    "measurements",
    "benchmark",
    "benchmarks",
    "benchmarked",
    "profiled",
    "profiling",
    "profile",
    "traced",
    "tracing",
    "trace",
    "traces",
    "logged",
    "logs",
    "observed",
    "counted",
    "sampled",
    "survey",
    "surveyed",
    "according",
    "source",
    "sources",
    "cited",
    "citing",
    "reported",
    "report",
    "dashboard",
    "dashboards",
    "metrics",
    "data",
    "computed",
    "calculated",
    "derived",
    "divided",
    "times",
    "assume",
    "assuming",
    "assumption",
    "hypothesis",
];

/// Symbols of arithmetic: a sentence showing its computation supports the figures in it.
const ARITHMETIC: &[char] = &['=', '/', '×', '÷', '→', '*'];

/// Words that, in the reusing sentence, show the figure is being checked rather than built on.
const CHECKS: &[&str] = &[
    "verify",
    "check",
    "confirm",
    "validate",
    "doubt",
    "unverified",
    "unclear",
    "whether",
];

/// Units that make a number a figure and belong to its key (`420ms` and `420 ms` are one figure).
const UNITS: &[&str] = &[
    "x", "k", "ms", "us", "µs", "ns", "s", "sec", "seconds", "min", "minutes", "h", "hours",
    "days", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "rps", "qps", "usd", "eur",
];

/// Step kinds whose premises decide the outcome: a reuse there is high severity.
const DECISIVE_KINDS: &[&str] = &["conclusion", "decision", "synthesis", "final"];

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// More words that count as showing a figure's source (lowercase), e.g. a team's tool names.
    support_terms: Vec<String>,
}

/// A figure as it occurs in a text: its byte range and the key it is matched by across steps.
#[derive(Debug)]
struct Figure {
    range: Range<usize>,
    /// Canonical number plus its unit: `80%` and `80 percent` are both `80%`; `1,000` is `1000`.
    key: String,
    /// The sentence it stands in.
    sentence: Range<usize>,
}

struct UnsupportedFigures;

impl Guest for UnsupportedFigures {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "unsupported-figures".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Flags a figure stated in an earlier step without a measurement, source \
                          or derivation and then reused as a premise; the evidence is the reused \
                          figure."
                .into(),
            config_schema: r#"{"type":"object","properties":{"support_terms":{"type":"array","items":{"type":"string"}}},"additionalProperties":false}"#.into(),
        }
    }

    fn detect(context: StepContext) -> Result<Vec<Finding>, String> {
        let config: Config = if context.config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(&context.config).map_err(|error| format!("bad config: {error}"))?
        };
        let supported = |text: &str, sentence: &Range<usize>| {
            let sentence = &text[sentence.clone()];
            sentence.contains(ARITHMETIC)
                || words(sentence).any(|word| {
                    SUPPORT.contains(&word.as_str()) || config.support_terms.contains(&word)
                })
        };

        // Where each figure first appeared, and whether any earlier statement of it is supported.
        let mut first_stated: Vec<(String, i32)> = Vec::new();
        let mut backed: Vec<String> = Vec::new();
        for prior in &context.previous {
            for figure in figures(&prior.content) {
                if supported(&prior.content, &figure.sentence) {
                    backed.push(figure.key.clone());
                }
                if !first_stated.iter().any(|(key, _)| *key == figure.key) {
                    first_stated.push((figure.key, prior.step_number));
                }
            }
        }

        let text = &context.step.content;
        let high = DECISIVE_KINDS.contains(&context.step.kind.to_ascii_lowercase().as_str());
        let mut reported: Vec<String> = Vec::new();
        let mut findings = Vec::new();
        for figure in figures(text) {
            if backed.contains(&figure.key) || reported.contains(&figure.key) {
                continue;
            }
            let Some((_, step_number)) = first_stated.iter().find(|(key, _)| *key == figure.key)
            else {
                continue;
            };
            if supported(text, &figure.sentence) {
                // Derived or sourced here: every later use in this step stands on it.
                backed.push(figure.key);
                continue;
            }
            let sentence = &text[figure.sentence.clone()];
            let questioned = sentence.trim_end().ends_with('?')
                || words(sentence).any(|word| CHECKS.contains(&word.as_str()));
            if questioned {
                continue;
            }
            let shown = &text[figure.range.clone()];
            findings.push(Finding {
                bias_type: "unsupported_premise".into(),
                severity: if high { Severity::High } else { Severity::Medium },
                confidence: 0.65,
                explanation: format!(
                    "\"{shown}\" was first stated in step {step_number} without a measurement, \
                     source or derivation, and is used here as a premise."
                ),
                evidence: Some(Span {
                    start: figure.range.start as u32,
                    end: figure.range.end as u32,
                }),
                suggestion: Some(
                    "Show where the figure comes from (a measurement, a source or the arithmetic), \
                     or state it as an assumption and check it before building on it."
                        .into(),
                ),
            });
            reported.push(figure.key);
        }
        Ok(findings)
    }
}

/// Lowercase words (ASCII letters, digits, apostrophes and other letters) of `text`.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// Byte ranges of sentences: split after `.`, `!` or `?` followed by whitespace or the end (so
/// `0.5` stays whole), and at line breaks.
fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let next = chars.peek().map(|(_, next)| *next);
        let ends =
            c == '\n' || (matches!(c, '.' | '!' | '?') && next.is_none_or(char::is_whitespace));
        if ends {
            let end = index + c.len_utf8();
            if text[start..end].trim().len() > 1 {
                out.push(start..end);
            }
            start = end;
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        out.push(start..text.len());
    }
    out
}

/// The figures of `text`: numbers that carry information, with their unit. Left out: numbers glued
/// to letters (`p99`, `utf8`, `v2`), version strings (`1.2.3`), years (1900–2100 without a unit),
/// step references (`step 3`) and bare integers below 10, which are counts and ordinals far more
/// often than claims.
fn figures(text: &str) -> Vec<Figure> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for sentence in sentences(text) {
        let mut at = sentence.start;
        while at < sentence.end {
            if !bytes[at].is_ascii_digit() {
                at += 1;
                continue;
            }
            // A number glued to a preceding letter or digit-word is an identifier, not a figure.
            let before = text[..at].chars().next_back();
            let glued = before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
            let mut end = at;
            let mut dots = 0;
            while end < sentence.end {
                let b = bytes[end];
                let next_is_digit = bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
                if b.is_ascii_digit() {
                    end += 1;
                } else if (b == b',' || b == b'.') && next_is_digit {
                    dots += usize::from(b == b'.');
                    end += 1;
                } else {
                    break;
                }
            }
            let number = &text[at..end];
            let mut range = at..end;
            at = end;
            let mut unit = String::new();
            let rest = &text[end..sentence.end];
            let spaced = rest.strip_prefix(' ').unwrap_or(rest);
            let gap = rest.len() - spaced.len();
            if let Some(after) = spaced.strip_prefix('%') {
                unit.push('%');
                range.end = sentence.end - after.len();
            } else if let Some(word) = leading_word(spaced) {
                let lower = word.to_lowercase();
                if lower == "percent" {
                    unit.push('%');
                    range.end += gap + word.len();
                } else if UNITS.contains(&lower.as_str()) {
                    unit = lower;
                    range.end += gap + word.len();
                } else if gap == 0 {
                    // `3rd`, `4xx`, `h2o`: glued to letters that are no unit.
                    continue;
                }
            }
            if glued || dots > 1 {
                continue;
            }
            let canonical = canonical(number);
            let value: f64 = canonical.parse().unwrap_or(f64::NAN);
            if unit.is_empty() {
                let year = !number.contains([',', '.']) && (1900.0..=2100.0).contains(&value);
                if value < 10.0 || year || follows_step(&text[..range.start]) {
                    continue;
                }
            }
            // A currency sign right before the number is part of it.
            if let Some(sign) = text[..range.start].chars().next_back()
                && matches!(sign, '$' | '€' | '£')
            {
                range.start -= sign.len_utf8();
                unit.insert(0, sign);
            }
            out.push(Figure {
                key: format!("{canonical}{unit}"),
                range,
                sentence: sentence.clone(),
            });
        }
    }
    out
}

/// `1,000.50` → `1000.5`: thousands separators dropped, trailing decimal zeros trimmed.
fn canonical(number: &str) -> String {
    let mut plain: String = number.chars().filter(|c| *c != ',').collect();
    if plain.contains('.') {
        while plain.ends_with('0') {
            plain.pop();
        }
        if plain.ends_with('.') {
            plain.pop();
        }
    }
    plain
}

fn leading_word(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// Whether `before` ends with "step " (or "steps ", "#"), making the number a reference.
fn follows_step(before: &str) -> bool {
    let trimmed = before.trim_end();
    let lower = trimmed.to_ascii_lowercase();
    lower.ends_with("step") || lower.ends_with("steps") || trimmed.ends_with('#')
}

export!(UnsupportedFigures);
