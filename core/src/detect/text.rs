//! Text primitives shared by the heuristic detectors and the monitor: words and sentences with
//! byte offsets, concept extraction, phrase search, and spans that are always valid UTF-8 slices.

use std::collections::HashMap;

use crate::domain::Span;

/// A word of a text: its byte range in the original and its lowercase form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) lower: String,
}

impl Word {
    pub(crate) fn span(&self) -> Span {
        Span {
            start: self.start,
            end: self.end,
        }
    }
}

/// Words: runs of alphanumeric characters, with inner apostrophes, hyphens and decimal points kept
/// (`don't`, `follow-up`, `3.5`). Offsets come from `char_indices`, so they are char boundaries.
pub(crate) fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        let joins = matches!(ch, '\'' | '’' | '-' | '.' | ',')
            && start.is_some()
            && chars.peek().is_some_and(|(_, next)| next.is_alphanumeric())
            // A comma or point only joins digits (1,000 and 3.5), never words.
            && (!matches!(ch, '.' | ',')
                || (text[..index].chars().next_back().is_some_and(|c| c.is_ascii_digit())
                    && chars.peek().is_some_and(|(_, next)| next.is_ascii_digit())));
        if ch.is_alphanumeric() || joins {
            start.get_or_insert(index);
        } else if let Some(begin) = start.take() {
            out.push(word(text, begin, index));
        }
    }
    if let Some(begin) = start {
        out.push(word(text, begin, text.len()));
    }
    out
}

fn word(text: &str, start: usize, end: usize) -> Word {
    let slice = &text[start..end];
    let mut lower = if slice.is_ascii() {
        slice.to_ascii_lowercase()
    } else {
        slice.to_lowercase()
    };
    if lower.contains('’') {
        lower = lower.replace('’', "'");
    }
    Word { start, end, lower }
}

/// Sentence byte ranges: split after `.`, `!`, `?`, `;`, `…` followed by whitespace, after the
/// full-width `。！？；` always, and at newlines.
pub(crate) fn sentences(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        let end = index + ch.len_utf8();
        // Chinese and Japanese run sentences together: their full stops end one whatever follows.
        let boundary = ch == '\n'
            || matches!(ch, '。' | '！' | '？' | '；')
            || (matches!(ch, '.' | '!' | '?' | ';' | '…')
                && chars.peek().is_none_or(|(_, next)| next.is_whitespace()));
        if boundary {
            push_trimmed(text, start, end, &mut out);
            start = end;
        }
    }
    push_trimmed(text, start, text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<Span>) {
    let slice = &text[start..end];
    let leading = slice.len() - slice.trim_start().len();
    let trimmed = slice.trim();
    if !trimmed.is_empty() {
        out.push(Span {
            start: start + leading,
            end: start + leading + trimmed.len(),
        });
    }
}

/// Index of the first word of `phrase` (space-separated, lowercase) found at or after `from`.
pub(crate) fn find_phrase(words: &[Word], phrase: &str, from: usize) -> Option<usize> {
    let parts: Vec<&str> = phrase.split(' ').collect();
    if parts.is_empty() || words.len() < parts.len() {
        return None;
    }
    (from..=words.len() - parts.len()).find(|&i| {
        parts
            .iter()
            .enumerate()
            .all(|(k, part)| words[i + k].lower == *part)
    })
}

/// Every match of any of `phrases`, as (first word index, span covering the phrase), in text order.
pub(crate) fn phrase_hits(words: &[Word], phrases: &[&str]) -> Vec<(usize, Span)> {
    let mut hits = Vec::new();
    for phrase in phrases {
        let n = phrase.split(' ').count();
        let mut from = 0;
        while let Some(i) = find_phrase(words, phrase, from) {
            hits.push((
                i,
                Span {
                    start: words[i].start,
                    end: words[i + n - 1].end,
                },
            ));
            from = i + 1;
        }
    }
    hits.sort_by_key(|(i, _)| *i);
    hits
}

pub(crate) fn has_any(words: &[Word], phrases: &[&str]) -> bool {
    phrases
        .iter()
        .any(|phrase| find_phrase(words, phrase, 0).is_some())
}

/// Words of a span of the text (by byte range).
pub(crate) fn words_in(words: &[Word], span: Span) -> &[Word] {
    let first = words.partition_point(|w| w.start < span.start);
    let last = words.partition_point(|w| w.start < span.end);
    &words[first..last.max(first)]
}

/// Stop-words in the languages the eval set covers; everything else long enough is a concept.
const STOP_WORDS: &[&str] = &[
    // English
    "the",
    "and",
    "for",
    "are",
    "but",
    "not",
    "you",
    "all",
    "any",
    "can",
    "had",
    "her",
    "was",
    "one",
    "our",
    "out",
    "has",
    "have",
    "his",
    "how",
    "its",
    "may",
    "now",
    "own",
    "say",
    "she",
    "too",
    "use",
    "way",
    "who",
    "why",
    "did",
    "does",
    "doing",
    "done",
    "yes",
    "yet",
    "this",
    "that",
    "these",
    "those",
    "with",
    "from",
    "into",
    "onto",
    "over",
    "under",
    "than",
    "then",
    "them",
    "they",
    "their",
    "there",
    "here",
    "what",
    "when",
    "where",
    "which",
    "while",
    "will",
    "would",
    "could",
    "should",
    "shall",
    "might",
    "must",
    "been",
    "being",
    "were",
    "also",
    "just",
    "only",
    "very",
    "more",
    "most",
    "some",
    "such",
    "each",
    "other",
    "about",
    "after",
    "before",
    "again",
    "once",
    "because",
    "since",
    "both",
    "either",
    "neither",
    "nor",
    "let",
    "lets",
    "let's",
    "it's",
    "i'm",
    "we're",
    "don't",
    "doesn't",
    "isn't",
    "aren't",
    "wasn't",
    "can't",
    "won't",
    "so",
    "thus",
    "therefore",
    "hence",
    "still",
    "even",
    "well",
    "much",
    "many",
    "few",
    "same",
    "get",
    "got",
    "make",
    "made",
    "like",
    "need",
    "needs",
    "think",
    "thought",
    "step",
    "look",
    "looks",
    "seem",
    "seems",
    "maybe",
    "perhaps",
    "probably",
    "we",
    "us",
    "it",
    "is",
    "be",
    "an",
    "as",
    "at",
    "by",
    "if",
    "in",
    "of",
    "on",
    "or",
    "to",
    "up",
    "no",
    "do",
    "go",
    "my",
    "me",
    "he",
    "him",
    "i",
    "a",
    "ourselves",
    "what's",
    "there's",
    "whether",
    "through",
    "between",
    "against",
    "during",
    "without",
    "within",
    "upon",
    "further",
    "another",
    "every",
    "something",
    "anything",
    "nothing",
    "everything",
    "really",
    "quite",
    "rather",
    "already",
    "actually",
    "okay",
    "first",
    "second",
    "next",
    "last",
    // German
    "der",
    "die",
    "das",
    "den",
    "dem",
    "des",
    "ein",
    "eine",
    "einen",
    "einem",
    "einer",
    "und",
    "oder",
    "aber",
    "nicht",
    "ist",
    "sind",
    "war",
    "wird",
    "werden",
    "mit",
    "von",
    "für",
    "auf",
    "aus",
    "bei",
    "nach",
    "wir",
    "ich",
    "sie",
    "es",
    "zu",
    "im",
    "am",
    "auch",
    "noch",
    "nur",
    "dass",
    "wenn",
    "weil",
    "also",
    "dann",
    "als",
    "wie",
    "sich",
    "hat",
    "haben",
    "kann",
    "können",
    "muss",
    "sehr",
    "mehr",
    "schon",
    "dieser",
    "diese",
    "dieses",
    // French
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "du",
    "de",
    "et",
    "ou",
    "mais",
    "pas",
    "est",
    "sont",
    "avec",
    "pour",
    "dans",
    "sur",
    "par",
    "nous",
    "vous",
    "ils",
    "elle",
    "que",
    "qui",
    "quoi",
    "donc",
    "car",
    "ce",
    "cette",
    "ces",
    "son",
    "sa",
    "ses",
    "leur",
    "plus",
    "aussi",
    "très",
    "alors",
    "être",
    "avoir",
    "fait",
    "comme",
    "peut",
    "faut",
    "tout",
    "tous",
    // Spanish
    "el",
    "los",
    "las",
    "una",
    "unos",
    "unas",
    "y",
    "o",
    "pero",
    "no",
    "es",
    "son",
    "con",
    "por",
    "para",
    "en",
    "del",
    "al",
    "lo",
    "que",
    "como",
    "más",
    "muy",
    "también",
    "este",
    "esta",
    "estos",
    "estas",
    "ese",
    "esa",
    "su",
    "sus",
    "nos",
    "hay",
    "ser",
    "está",
    "están",
    "entonces",
    "porque",
    "cuando",
    "todo",
    "todos",
];

pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// Light stemming: folds common English inflections so "caches", "cached" and "caching" meet.
pub(crate) fn stem(word: &str) -> String {
    let chars = word.chars().count();
    for (suffix, min_chars) in [
        ("ations", 8),
        ("ation", 7),
        ("ings", 6),
        ("ing", 5),
        ("ies", 5),
        ("edly", 6),
        ("ed", 5),
        ("ly", 5),
        ("es", 5),
        ("s", 4),
    ] {
        if chars >= min_chars
            && let Some(stripped) = word.strip_suffix(suffix)
        {
            if suffix == "ies" {
                return format!("{stripped}y");
            }
            if suffix == "s" && stripped.ends_with('s') {
                return word.to_owned();
            }
            return stripped.to_owned();
        }
    }
    word.to_owned()
}

/// Concepts of a text as a term-frequency vector: words of more than two characters, not
/// stop-words, not pure numbers, lightly stemmed.
pub(crate) fn concepts(words: &[Word]) -> HashMap<String, f64> {
    let mut tf = HashMap::new();
    for word in words {
        if word.lower.chars().count() <= 2
            || is_stop_word(&word.lower)
            || word
                .lower
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            continue;
        }
        *tf.entry(stem(&word.lower)).or_insert(0.0) += 1.0;
    }
    tf
}

/// Cosine similarity of two term-frequency vectors; 0 when either is empty.
pub(crate) fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let dot: f64 = small
        .iter()
        .filter_map(|(term, x)| large.get(term).map(|y| x * y))
        .sum();
    let norm = |v: &HashMap<String, f64>| v.values().map(|x| x * x).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        (dot / denominator).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// A number written in the text, with where it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figure {
    pub(crate) value: f64,
    pub(crate) span: Span,
}

/// Numbers written with digits (`1,200`, `3.5`, `40%`), skipping ordinals of steps and thoughts
/// ("step 3") and four-digit years, which are labels rather than quantities.
pub(crate) fn figures(words: &[Word]) -> Vec<Figure> {
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if !word.lower.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let digits: String = word
            .lower
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
            .filter(|c| *c != ',')
            .collect();
        let Ok(value) = digits.parse::<f64>() else {
            continue;
        };
        let label = i > 0
            && matches!(
                words[i - 1].lower.as_str(),
                "step" | "thought" | "steps" | "thoughts" | "version" | "v" | "option" | "case"
            );
        let year = digits.len() == 4 && (1900.0..=2100.0).contains(&value);
        if label || year || !value.is_finite() {
            continue;
        }
        out.push(Figure {
            value,
            span: word.span(),
        });
    }
    out
}

/// Clamps a span to the text and moves its ends inwards onto character boundaries; `None` when
/// nothing is left. Whatever a detector (or a plugin, or a model) claims, the result is a valid slice.
pub fn clamp_span(text: &str, span: Span) -> Option<Span> {
    let mut start = span.start.min(text.len());
    let mut end = span.end.min(text.len());
    if start > end {
        return None;
    }
    while start < end && !text.is_char_boundary(start) {
        start += 1;
    }
    while end > start && !text.is_char_boundary(end) {
        end -= 1;
    }
    (start < end).then_some(Span { start, end })
}

/// Cuts text to at most `max_bytes`, on a character boundary.
pub(crate) fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_offsets_on_multibyte_text() {
        let text = "Café’s déjà-vu: 1,200 ms — 3.5×!";
        let found = words(text);
        let lower: Vec<&str> = found.iter().map(|w| w.lower.as_str()).collect();
        assert_eq!(lower, ["café's", "déjà-vu", "1,200", "ms", "3.5"]);
        for w in &found {
            assert!(text.get(w.start..w.end).is_some());
        }
        let values: Vec<f64> = figures(&found).iter().map(|f| f.value).collect();
        assert_eq!(values, [1200.0, 3.5]);
    }

    #[test]
    fn sentences_split_on_terminators_and_newlines() {
        let text = "One. Two?\nThree 3.5 four! ";
        let parts: Vec<&str> = sentences(text)
            .iter()
            .map(|s| &text[s.start..s.end])
            .collect();
        assert_eq!(parts, ["One.", "Two?", "Three 3.5 four!"]);
        let cjk = "缓存命中率下降了。所以延迟上升！原因未知";
        let parts: Vec<&str> = sentences(cjk)
            .iter()
            .map(|s| &cjk[s.start..s.end])
            .collect();
        assert_eq!(parts, ["缓存命中率下降了。", "所以延迟上升！", "原因未知"]);
    }

    #[test]
    fn spans_are_clamped_onto_boundaries() {
        let text = "aé";
        assert_eq!(
            clamp_span(text, Span { start: 0, end: 2 }),
            Some(Span { start: 0, end: 1 })
        );
        assert_eq!(clamp_span(text, Span { start: 2, end: 9 }), None);
        assert_eq!(
            clamp_span(text, Span { start: 1, end: 99 }),
            Some(Span { start: 1, end: 3 })
        );
        assert_eq!(clamp_span(text, Span { start: 3, end: 1 }), None);
        assert_eq!(truncate("aé", 2), "a");
    }
}
