//! Bad input for the detectors and monitor: empty, huge, non-English, punctuation, emoji and
//! pseudo-random text never panic, and every span lies on character boundaries inside the text.

use std::sync::Arc;

use lux_core::Span;
use lux_core::detect::{DetectorInput, DetectorRegistry, PriorStep, StepUnderReview, clamp_span};

fn input(content: &str, previous: &[&str]) -> Arc<DetectorInput> {
    Arc::new(DetectorInput {
        step: StepUnderReview {
            step_number: Some(previous.len() as i32 + 1),
            kind: "thought".into(),
            content: content.to_owned(),
        },
        previous: previous
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Arc::new(PriorStep {
                    step_number: i as i32 + 1,
                    kind: "thought".into(),
                    content: (*c).to_owned(),
                })
            })
            .collect(),
        synthesis: None,
    })
}

async fn check(registry: &DetectorRegistry, content: &str, previous: &[&str]) {
    let mut monitor = registry.monitor_for(&input("", previous).previous);
    let analysis = registry
        .analyze(monitor.as_mut(), input(content, previous))
        .await;
    assert!(
        analysis.failures.is_empty(),
        "{:?} on {:?}",
        analysis.failures,
        content.chars().take(40).collect::<String>()
    );
    for finding in &analysis.findings {
        if let Some(span) = finding.evidence {
            assert!(
                content
                    .get(span.start..span.end)
                    .is_some_and(|t| !t.is_empty()),
                "{span:?} in {content:?}"
            );
        }
        assert!((0.0..=1.0).contains(&finding.confidence));
    }
}

/// A small deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const ALPHABET: &[&str] = &[
    "a",
    "e",
    " ",
    " ",
    ".",
    ",",
    "?",
    "!",
    "\n",
    "é",
    "ß",
    "ü",
    "日",
    "本",
    "🤔",
    "🚀",
    "0",
    "7",
    "%",
    "-",
    "'",
    "’",
    "only two options",
    " always ",
    " because ",
    "clearly",
    " 40 ",
    " 1,200 ",
    "one user",
    " but ",
    "supports",
    " confirms ",
    "either we",
    "\u{200b}",
    "\u{301}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_and_random_text_never_panics() {
    let mut registry = DetectorRegistry::builtin();
    // Robustness, not speed, is under test: a 1 MiB step on an unoptimised build is slow.
    registry.set_budgets(std::time::Duration::from_secs(120));
    let huge =
        "Clearly all users always hate it because one user said so; 40 or 400? ".repeat(15_000);
    for (content, previous) in [
        ("", &[][..]),
        ("   ", &[][..]),
        ("?!?!... --- !!! ;;;", &["?", "!"][..]),
        ("🤔🤔🤔 🚀 ✅", &["🎉"][..]),
        ("ログインが遅い原因を調べる。", &["認証サーバー"][..]),
        (
            "Ceci est clairement la seule option, sans doute.",
            &["Une question ?"][..],
        ),
        (
            huge.as_str(),
            &["Initial guess: 40 ms.", "Measured 400 ms."][..],
        ),
    ] {
        check(&registry, content, previous).await;
    }

    let mut rng = Lcg(0x5eed);
    let mut history: Vec<String> = Vec::new();
    for _ in 0..300 {
        let pieces = 1 + rng.next() % 60;
        let text: String = (0..pieces)
            .map(|_| ALPHABET[(rng.next() as usize) % ALPHABET.len()])
            .collect();
        let previous: Vec<&str> = history.iter().rev().take(6).map(String::as_str).collect();
        check(&registry, &text, &previous).await;
        history.push(text);
    }
}

#[test]
fn invalid_spans_are_clamped_or_dropped() {
    let text = "a→b🤔";
    let mut rng = Lcg(42);
    for _ in 0..2000 {
        let start = (rng.next() % 16) as usize;
        let end = (rng.next() % 16) as usize;
        if let Some(span) = clamp_span(text, Span { start, end }) {
            assert!(span.start < span.end && span.end <= text.len());
            assert!(text.get(span.start..span.end).is_some(), "{span:?}");
        }
    }
}
