//! The built-in heuristic detectors: one per bias type that the text of a step (and its session's
//! earlier steps) can support on its own. Each is a small, explainable rule over marker phrases,
//! figures and concept overlap, tuned against `core/eval/sessions.json`; each reports at most one
//! finding per step, with the phrase that triggered it as evidence.
//!
//! Marker lists are English first, with a few German, French and Spanish entries; text in other
//! languages mostly yields nothing, which is the honest answer for a lexical rule.

use std::collections::HashSet;

use async_trait::async_trait;

use super::text::{self, Figure, Word};
use super::{BiasDetector, Detection, DetectorError, DetectorInput};
use crate::domain::{Severity, Span};

/// Version of every built-in heuristic; bump when a rule changes so `lux analyze` can replace
/// the previous version's findings.
pub const HEURISTICS_VERSION: &str = "1.0.0";

/// All built-in heuristic detectors, in a stable order.
pub fn builtin_detectors() -> Vec<std::sync::Arc<dyn BiasDetector>> {
    vec![
        std::sync::Arc::new(Overconfidence),
        std::sync::Arc::new(OverGeneralization),
        std::sync::Arc::new(FalseDichotomy),
        std::sync::Arc::new(Anchoring),
        std::sync::Arc::new(Confirmation),
        std::sync::Arc::new(CircularJustification),
    ]
}

/// A synchronous rule; the macro below turns it into a [`BiasDetector`].
trait Rule {
    fn check(&self, input: &DetectorInput, words: &[Word]) -> Option<Detection>;
}

macro_rules! heuristic {
    ($(#[$doc:meta])* $name:ident, $id:literal, $bias:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        #[async_trait]
        impl BiasDetector for $name {
            fn name(&self) -> &str {
                $id
            }

            fn version(&self) -> &str {
                HEURISTICS_VERSION
            }

            fn bias_types(&self) -> Vec<String> {
                vec![$bias.to_owned()]
            }

            async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
                let words = text::words(&input.step.content);
                Ok(Rule::check(self, input, &words).into_iter().collect())
            }
        }
    };
}

heuristic!(
    /// Certainty stated without evidence or hedging: a conclusion reached too fast.
    Overconfidence, "lux.overconfidence", "hasty_conclusion"
);
heuristic!(
    /// A universal claim ("always", "all users") drawn from one case or a handful.
    OverGeneralization, "lux.over_generalization", "over_generalization"
);
heuristic!(
    /// Two options presented as the only ones.
    FalseDichotomy, "lux.false_dichotomy", "false_dichotomy"
);
heuristic!(
    /// An estimate that stays on the session's first figure after different figures came in.
    Anchoring, "lux.anchoring", "anchoring"
);
heuristic!(
    /// Evidence gathered (or explained away) for one side only.
    Confirmation, "lux.confirmation", "confirmation"
);
heuristic!(
    /// A claim whose justification restates the claim.
    CircularJustification, "lux.circular_justification", "circular_reasoning"
);

const HEDGES: &[&str] = &[
    "might",
    "may",
    "could",
    "possibly",
    "perhaps",
    "probably",
    "likely",
    "unlikely",
    "seems",
    "seem",
    "appears",
    "suggests",
    "suggest",
    "i think",
    "not sure",
    "uncertain",
    "unclear",
    "tentatively",
    "hypothesis",
    "assume",
    "assuming",
    "if",
    "unless",
    "plausible",
    "vielleicht",
    "wahrscheinlich",
    "peut-être",
    "probablement",
    "quizás",
    "probablemente",
];

const EVIDENCE: &[&str] = &[
    "because",
    "since",
    "data",
    "measured",
    "measurement",
    "measurements",
    "benchmark",
    "benchmarks",
    "logs",
    "log",
    "shows",
    "showed",
    "shown",
    "observed",
    "according to",
    "evidence",
    "tested",
    "experiment",
    "results",
    "profile",
    "profiling",
    "trace",
    "traces",
    "metrics",
    "survey",
    "study",
    "source",
    "graph",
    "dashboard",
    "reproduced",
    "daten",
    "gemessen",
    "données",
    "mesuré",
    "datos",
    "medido",
];

const STRONG_CERTAINTY: &[&str] = &[
    "clearly",
    "obviously",
    "certainly",
    "definitely",
    "undoubtedly",
    "without a doubt",
    "no doubt",
    "beyond doubt",
    "guaranteed",
    "unquestionably",
    "the only explanation",
    "case closed",
    "no need to check",
    "no need to verify",
    "no need to test",
    "no need to look",
    "there is no way",
    "it's obvious",
    "it is obvious",
    "100 percent",
    "cannot be wrong",
    "can't be wrong",
    "no question",
    "without question",
    "eindeutig",
    "offensichtlich",
    "évidemment",
    "clairement",
    "sin duda",
    "obviamente",
];

const WEAK_CERTAINTY: &[&str] = &[
    "must be",
    "has to be",
    "surely",
    "absolutely",
    "of course",
    "proves",
    "evidently",
    "for sure",
    "certain",
];

impl Rule for Overconfidence {
    fn check(&self, input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        let strong = text::phrase_hits(words, STRONG_CERTAINTY);
        let weak = text::phrase_hits(words, WEAK_CERTAINTY);
        let score = strong.len() as f64 + 0.5 * weak.len() as f64;
        if score < 1.0 {
            return None;
        }
        let hedges = text::phrase_hits(words, HEDGES).len();
        let evidence = text::phrase_hits(words, EVIDENCE).len() + text::figures(words).len();
        let flagged = (hedges == 0 && evidence == 0) || (score >= 2.0 && evidence <= 1);
        if !flagged {
            return None;
        }
        let early = input.previous.len() <= 1;
        let first = strong.first().or(weak.first()).map(|(_, span)| *span)?;
        let severity = if score >= 3.0 || (early && score >= 2.0) {
            Severity::High
        } else {
            Severity::Medium
        };
        Some(Detection {
            bias_type: "hasty_conclusion".into(),
            severity,
            confidence: (0.55 + 0.1 * score).min(0.9),
            explanation: format!(
                "Stated with certainty ({} certainty marker(s)) but with {} piece(s) of evidence \
                 and no hedging{}.",
                strong.len() + weak.len(),
                evidence,
                if early { ", early in the session" } else { "" }
            ),
            evidence: Some(first),
            suggestion: Some(
                "Name the evidence behind the conclusion, or what would change your mind.".into(),
            ),
        })
    }
}

const UNIVERSAL: &[&str] = &[
    "always",
    "never",
    "everyone",
    "everybody",
    "nobody",
    "no one",
    "invariably",
    "without exception",
    "in every case",
    "all of them",
    "every single",
    "every time",
    "immer",
    "niemals",
    "toujours",
    "jamais",
    "siempre",
    "nunca",
];

const SMALL_SAMPLE: &[&str] = &[
    "one customer",
    "one user",
    "one team",
    "one report",
    "one example",
    "one case",
    "one instance",
    "one person",
    "one test",
    "one run",
    "one incident",
    "one project",
    "one time",
    "one client",
    "one developer",
    "one review",
    "one study",
    "once",
    "a single",
    "single",
    "last time",
    "this time",
    "in my experience",
    "a couple",
    "two customers",
    "two users",
    "two cases",
    "two reports",
    "anecdotally",
    "i saw",
    "i once",
    "my friend",
    "my colleague",
    "a colleague",
    "a friend",
    "my last",
    "our last",
    "yesterday",
    "un seul",
    "une seule",
    "une fois",
    "ein einziger",
    "eine einzige",
    "einmal",
    "un solo",
    "una sola",
    "una vez",
];

const HEDGED_QUANTIFIERS: &[&str] = &[
    "most",
    "many",
    "some",
    "often",
    "usually",
    "tend to",
    "tends to",
    "in general",
    "generally",
    "sometimes",
    "not all",
    "not every",
    "not always",
    "rarely",
    "typically",
    "small sample",
    "too small",
    "can't generalize",
    "cannot generalize",
    "anecdote",
    "just one",
    "only one",
];

impl Rule for OverGeneralization {
    fn check(&self, _input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        let mut universal = text::phrase_hits(words, UNIVERSAL);
        // "all users", "every team": a quantifier over a noun, not "all in all" or "every now".
        for (i, word) in words.iter().enumerate() {
            if let Some(next) = words.get(i + 1)
                && !text::is_stop_word(&next.lower)
                && ((word.lower == "all" && next.lower.ends_with('s') && next.lower.len() > 3)
                    || (word.lower == "every" && next.lower.len() > 3))
            {
                universal.push((
                    i,
                    Span {
                        start: word.start,
                        end: next.end,
                    },
                ));
            }
        }
        universal.sort_by_key(|(i, _)| *i);
        let (_, span) = *universal.first()?;
        if !text::has_any(words, SMALL_SAMPLE) || text::has_any(words, HEDGED_QUANTIFIERS) {
            return None;
        }
        Some(Detection {
            bias_type: "over_generalization".into(),
            severity: Severity::Medium,
            confidence: 0.65,
            explanation: "A universal claim rests on a single case or a handful of them.".into(),
            evidence: Some(span),
            suggestion: Some(
                "Say how many cases support the claim, and narrow it to what they show.".into(),
            ),
        })
    }
}

const DICHOTOMY: &[&str] = &[
    "only two options",
    "only two choices",
    "only two possibilities",
    "only two ways",
    "only two alternatives",
    "only two paths",
    "just two options",
    "just two choices",
    "the only alternative",
    "the only other option",
    "no other option",
    "no other options",
    "no other choice",
    "no other way",
    "no other alternative",
    "no middle ground",
    "no third option",
    "there is no third",
    "all or nothing",
    "or nothing",
    "it's either",
    "it is either",
    "we either",
    "either we",
    "you're either",
    "you are either",
    "one or the other",
    "with us or against",
    "or we fail",
    "or we die",
    "or it's over",
    "nur zwei",
    "keine andere",
    "seulement deux",
    "pas d'autre",
    "solo dos",
    "no hay otra",
];

const MORE_OPTIONS: &[&str] = &[
    "third option",
    "a third",
    "other options",
    "another option",
    "alternatively",
    "other possibilities",
    "several options",
    "a hybrid",
    "a combination",
    "a mix of",
    "a compromise",
    "phased",
    "incremental",
    "middle path",
    "false dichotomy",
    "more than two",
    "other alternatives",
];

impl Rule for FalseDichotomy {
    fn check(&self, _input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        let hits = text::phrase_hits(words, DICHOTOMY);
        let (_, span) = *hits.first()?;
        if text::has_any(words, MORE_OPTIONS) {
            return None;
        }
        Some(Detection {
            bias_type: "false_dichotomy".into(),
            severity: if hits.len() > 1 {
                Severity::High
            } else {
                Severity::Medium
            },
            confidence: (0.6 + 0.1 * hits.len() as f64).min(0.85),
            explanation: "Presents two options as the only ones without ruling out others.".into(),
            evidence: Some(span),
            suggestion: Some(
                "List at least one more option (a hybrid, a staged path, doing nothing) and say \
                 why it fails."
                    .into(),
            ),
        })
    }
}

const ESTIMATE: &[&str] = &[
    "estimate",
    "estimated",
    "expect",
    "around",
    "about",
    "roughly",
    "approximately",
    "so",
    "therefore",
    "final",
    "go with",
    "plan for",
    "should be",
    "will be",
    "assume",
    "budget",
    "forecast",
    "projection",
    "target",
];

const PERSIST: &[&str] = &[
    "still",
    "stick",
    "stay",
    "keep",
    "despite",
    "regardless",
    "anyway",
    "nonetheless",
    "original",
    "initial",
    "first estimate",
    "as first",
    "trotzdem",
    "quand même",
    "aun así",
];

const REVISE: &[&str] = &[
    "revise",
    "revised",
    "revising",
    "adjust",
    "adjusted",
    "update",
    "updated",
    "instead",
    "given the new",
    "correct",
    "corrected",
    "recalculate",
    "rather than",
    "discard",
    "wrong",
    "overestimated",
    "underestimated",
    "no longer",
    "replace",
    "replaced",
];

fn relative_gap(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

/// Same order of magnitude: a plausible measurement of the same quantity.
fn comparable(a: f64, b: f64) -> bool {
    let (low, high) = if a.abs() <= b.abs() {
        (a.abs(), b.abs())
    } else {
        (b.abs(), a.abs())
    };
    low > 0.0 && high / low <= 10.0
}

impl Rule for Anchoring {
    fn check(&self, input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        // Cheap exits first: most steps carry no figure, and a revising step is not anchored.
        let current = text::figures(words);
        if current.is_empty() || text::has_any(words, REVISE) {
            return None;
        }
        let mut prior: Vec<Figure> = Vec::new();
        for step in &input.previous {
            prior.extend(text::figures(&text::words(&step.content)));
        }
        let anchor = *prior.first()?;
        // Figures that came after the anchor and disagree with it by more than 30%.
        let rivals: Vec<f64> = prior[1..]
            .iter()
            .map(|f| f.value)
            .filter(|v| relative_gap(*v, anchor.value) > 0.3 && comparable(*v, anchor.value))
            .collect();
        if rivals.is_empty() {
            return None;
        }
        let near_anchor = current
            .iter()
            .find(|f| relative_gap(f.value, anchor.value) <= 0.1)?;
        let persists = text::has_any(words, PERSIST);
        let weighs_rivals = current
            .iter()
            .any(|f| rivals.iter().any(|r| relative_gap(f.value, *r) <= 0.1));
        if !(persists || (!weighs_rivals && text::has_any(words, ESTIMATE))) {
            return None;
        }
        Some(Detection {
            bias_type: "anchoring".into(),
            severity: if persists {
                Severity::High
            } else {
                Severity::Medium
            },
            confidence: if persists { 0.75 } else { 0.6 },
            explanation: format!(
                "The estimate stays at the session's first figure ({}) although later figures \
                 ({}) disagree with it.",
                anchor.value,
                rivals
                    .iter()
                    .take(3)
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            evidence: Some(near_anchor.span),
            suggestion: Some(
                "Re-derive the estimate from the newer figures, then compare it with the first one."
                    .into(),
            ),
        })
    }
}

const SUPPORT: &[&str] = &[
    "supports",
    "supported",
    "supporting",
    "confirms",
    "confirmed",
    "confirm",
    "consistent with",
    "in line with",
    "as expected",
    "fits",
    "matches",
    "further evidence",
    "more evidence",
    "another sign",
    "another reason",
    "proves",
    "validates",
    "backs up",
    "corroborates",
    "agrees with",
    "just as i thought",
    "as i suspected",
    "reinforces",
    "bestätigt",
    "confirme",
    "confirma",
];

const CONTRA: &[&str] = &[
    "however",
    "but",
    "although",
    "though",
    "on the other hand",
    "contradicts",
    "contradict",
    "against",
    "alternative",
    "alternatively",
    "rule out",
    "ruled out",
    "disconfirm",
    "falsify",
    "unless",
    "except",
    "counter",
    "counterexample",
    "doesn't fit",
    "does not fit",
    "inconsistent",
    "other explanation",
    "other explanations",
    "could also",
    "might also",
    "whereas",
    "caveat",
    "limitation",
    "downside",
    "on the contrary",
    "weakens",
    "test whether",
    "check whether",
    "aber",
    "jedoch",
    "mais",
    "cependant",
    "pero",
    "sin embargo",
];

const DISMISS: &[&str] = &[
    "ignore",
    "ignoring",
    "dismiss",
    "disregard",
    "outlier",
    "outliers",
    "irrelevant",
    "just noise",
    "doesn't matter",
    "does not matter",
    "a fluke",
    "fluke",
    "not worth",
    "explain away",
    "set aside",
    "cherry-pick",
    "can be ignored",
    "safe to ignore",
];

impl Rule for Confirmation {
    fn check(&self, _input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        let support = text::phrase_hits(words, SUPPORT);
        let dismiss = text::phrase_hits(words, DISMISS);
        let contra = text::phrase_hits(words, CONTRA).len();
        let (span, severity, confidence, explanation) = if !dismiss.is_empty()
            && !support.is_empty()
        {
            (
                dismiss[0].1,
                Severity::High,
                0.75,
                "Supporting evidence is kept while contrary evidence is dismissed.",
            )
        } else if support.len() >= 2 && contra == 0 {
            (
                support[0].1,
                Severity::Medium,
                0.6,
                "Only evidence for the favoured view is considered; nothing against it is weighed.",
            )
        } else {
            return None;
        };
        Some(Detection {
            bias_type: "confirmation".into(),
            severity,
            confidence,
            explanation: explanation.into(),
            evidence: Some(span),
            suggestion: Some(
                "State what evidence would count against this view and look for it.".into(),
            ),
        })
    }
}

const CONNECTIVES: &[&str] = &[
    "because",
    "since",
    "given that",
    "which is why",
    "that's why",
    "that is why",
    "which proves",
    "which means",
    "which shows",
    "therefore",
    "thus",
    "hence",
    "so",
    "weil",
    "parce que",
    "porque",
];

const SELF_EVIDENT: &[&str] = &[
    "by definition",
    "self-evident",
    "speaks for itself",
    "proves itself",
    "it just is",
    "because it just",
    "true because",
    "right because it is right",
    "because i said so",
];

/// Concept keys that survive derivation ("trust" and "trustworthy" meet on their first 5 letters).
fn concept_keys(words: &[Word]) -> HashSet<String> {
    text::concepts(words)
        .into_keys()
        .map(|concept| concept.chars().take(5).collect())
        .collect()
}

impl Rule for CircularJustification {
    fn check(&self, input: &DetectorInput, words: &[Word]) -> Option<Detection> {
        let content = &input.step.content;
        let mut found: Option<(Span, f64)> = text::phrase_hits(words, SELF_EVIDENT)
            .first()
            .map(|(_, span)| (*span, 0.8));
        if found.is_none() {
            for sentence in text::sentences(content) {
                let sentence_words = text::words_in(words, sentence);
                let Some((i, hit)) = text::phrase_hits(sentence_words, CONNECTIVES)
                    .into_iter()
                    .next()
                else {
                    continue;
                };
                let n = content[hit.start..hit.end].split_whitespace().count();
                let claim = concept_keys(&sentence_words[..i]);
                let reason = concept_keys(&sentence_words[(i + n).min(sentence_words.len())..]);
                if claim.is_empty() || reason.is_empty() {
                    continue;
                }
                let shared = claim.intersection(&reason).count() as f64;
                let of_reason = shared / reason.len() as f64;
                let of_claim = shared / claim.len() as f64;
                // The reason mostly restates the claim, or restates all of it.
                if shared >= 1.0
                    && ((of_reason >= 0.66 && of_claim >= 0.5)
                        || (of_reason >= 0.5 && of_claim >= 1.0))
                {
                    found = Some((sentence, 0.55 + 0.3 * of_reason.min(of_claim)));
                    break;
                }
            }
        }
        let (span, confidence) = found?;
        Some(Detection {
            bias_type: "circular_reasoning".into(),
            severity: Severity::Medium,
            confidence,
            explanation: "The justification restates the claim instead of supporting it.".into(),
            evidence: Some(span),
            suggestion: Some(
                "Support the claim with something independent of it: data, a mechanism, a source."
                    .into(),
            ),
        })
    }
}
