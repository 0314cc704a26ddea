//! The words a topic can be named by: whole words and two-word phrases in the sessions' own
//! language, never stems — and, for Chinese and Japanese, which write no spaces, runs of two to
//! four characters that do not start or end on a particle.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::detect::text;

/// Languages whose stop-word lists are folded in: the ones the detection corpus covers.
const STOP_WORD_LANGUAGES: &[&str] = &["en", "de", "fr", "es", "pt", "it", "ru", "ko"];

/// Words every reasoning session uses whatever it is about; a topic named by them says nothing.
const REASONING_FILLER: &[&str] = &[
    "step", "steps", "first", "next", "then", "need", "needs", "think", "let", "consider", "check",
    "also", "one", "two", "three", "likely", "maybe", "probably", "seems", "option", "options",
    "answer", "question", "task", "given", "based", "look", "looks", "make", "use", "using",
    "want", "good", "better", "best", "way", "thing", "things", "point", "case", "actually",
];

/// Chinese and Japanese characters that begin or end no content word: particles, copulas,
/// pronouns, measure words.
const CJK_FUNCTION_CHARS: &str = "的了是在我你他她它们这那个和有不也就都而及与或把被对从到为以之其吗呢吧啊的地得着过很更最要会能可该让给比";

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    STOP_WORD_LANGUAGES
        .iter()
        .filter_map(|language| stop_words::lookup(language))
        .flatten()
        .copied()
        .chain(REASONING_FILLER.iter().copied())
        .collect()
});

fn is_stop(word: &str) -> bool {
    STOP_WORDS.contains(word) || text::is_stop_word(word)
}

fn is_cjk(ch: char) -> bool {
    matches!(ch,
        '\u{3040}'..='\u{30FF}' // kana
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

fn is_hiragana(ch: char) -> bool {
    matches!(ch, '\u{3040}'..='\u{309F}')
}

/// Whether a character cannot begin or end a Chinese or Japanese term.
fn is_cjk_boundary_misfit(ch: char) -> bool {
    is_hiragana(ch) || CJK_FUNCTION_CHARS.contains(ch)
}

/// A word that can name a topic on its own.
fn is_content_word(word: &str) -> bool {
    let chars = word.chars().count();
    let hangul = word.chars().any(|c| matches!(c, '\u{AC00}'..='\u{D7AF}'));
    chars >= if hangul { 2 } else { 3 } && word.chars().any(char::is_alphabetic) && !is_stop(word)
}

/// The terms of a text, in order, repeats kept (so they count as term frequency): content words,
/// two-word phrases of adjacent content words, and Chinese/Japanese character n-grams.
pub(crate) fn terms(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    let words = text::words(content);
    for word in &words {
        let lower = word.lower.as_str();
        if lower.chars().any(is_cjk) {
            cjk_terms(lower, &mut out);
            previous = None;
            continue;
        }
        if is_content_word(lower) {
            if let Some(before) = previous {
                out.push(format!("{before} {lower}"));
            }
            out.push(lower.to_owned());
            previous = Some(lower);
        } else {
            previous = None;
        }
    }
    out
}

/// Character n-grams (2 to 4) of the CJK stretches of a word, skipping any that begin or end on
/// a particle or function character.
fn cjk_terms(word: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = word.chars().collect();
    let mut start = 0;
    while start < chars.len() {
        if !is_cjk(chars[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < chars.len() && is_cjk(chars[end]) {
            end += 1;
        }
        let run = &chars[start..end];
        for n in 2..=4 {
            for gram in run.windows(n) {
                if is_cjk_boundary_misfit(gram[0]) || is_cjk_boundary_misfit(gram[n - 1]) {
                    continue;
                }
                out.push(gram.iter().collect());
            }
        }
        start = end;
    }
}

/// Whether `longer` is a longer term that contains `shorter` as a whole: a phrase holding the
/// word, or a character run holding the shorter run.
pub(crate) fn contains_term(longer: &str, shorter: &str) -> bool {
    if longer.len() <= shorter.len() {
        return false;
    }
    if shorter.chars().any(is_cjk) {
        longer.contains(shorter)
    } else {
        longer.split(' ').any(|part| part == shorter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_whole_words_and_phrases() {
        let found = terms("We should raise the pricing tier for the analytics add-on.");
        assert!(found.contains(&"pricing".to_owned()), "{found:?}");
        assert!(found.contains(&"pricing tier".to_owned()), "{found:?}");
        assert!(found.contains(&"analytics".to_owned()), "{found:?}");
        assert!(
            !found.iter().any(|t| t == "the" || t == "should"),
            "{found:?}"
        );
        // Stems never appear: the word is kept as written.
        let found = terms("Customers churned after the pricing update");
        assert!(found.contains(&"customers".to_owned()), "{found:?}");
        assert!(found.contains(&"churned".to_owned()), "{found:?}");
        assert!(
            !found.iter().any(|t| t == "churn" || t == "custom"),
            "{found:?}"
        );
    }

    #[test]
    fn cjk_terms_avoid_particles() {
        let found = terms("数据库的索引很慢");
        assert!(found.contains(&"数据库".to_owned()), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|t| t.ends_with('的') || t.starts_with('的'))
        );
        let found = terms("データベースの索引を見直す");
        assert!(found.contains(&"索引".to_owned()), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|t| t.starts_with('の') || t.ends_with('を'))
        );
    }

    #[test]
    fn containment_respects_word_boundaries() {
        assert!(contains_term("pricing tier", "tier"));
        assert!(!contains_term("frontier pricing", "tier"));
        assert!(contains_term("数据库", "数据"));
    }
}
