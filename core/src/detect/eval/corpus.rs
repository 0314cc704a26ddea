//! The labelled corpus as shipped: one file per author batch, each batch in exactly one split, so
//! that an author's voice and habits never reach both the data a detector is tuned on and the data
//! it is scored on. How the batches were written is in `docs/detection.md`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{LabelledSession, REGRESSION_SET, parse_eval_set};
use crate::error::{Error, Result};

/// Which use a batch is reserved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Weights are fitted on it.
    Train,
    /// Thresholds and calibration are chosen on it; read freely while tuning.
    Dev,
    /// Sealed: read only by the scoring command, never while tuning.
    Test,
    /// The 84 sessions of `core/eval/sessions.json`, written by the first rules' tuners.
    Regression,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Dev, Split::Test, Split::Regression];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
            Split::Regression => "regression",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = Error;

    fn from_str(text: &str) -> Result<Split> {
        Split::ALL
            .into_iter()
            .find(|split| split.as_str() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "split",
                    format!("{text:?} is not train, dev, test or regression"),
                )
            })
    }
}

/// One author batch of the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub name: &'static str,
    pub split: Split,
    /// Who wrote it, under which brief (`core/eval/corpus/authoring/`).
    pub author: &'static str,
    /// The domains and voice the author was asked for.
    pub domain: &'static str,
    pub json: &'static str,
}

macro_rules! batch {
    ($name:literal, $split:expr, $author:literal, $domain:literal) => {
        Batch {
            name: $name,
            split: $split,
            author: $author,
            domain: $domain,
            json: include_str!(concat!("../../../eval/corpus/batch-", $name, ".json")),
        }
    };
}

/// Every batch, with the split it belongs to. The assignment of A–H was fixed before any batch was
/// written; I–M were written later (I–L added to train, M to test), N–R later still (N–P
/// train, Q–R test), S–T after them (test), and U–X last (U, V test, W dev, X train). Moving a batch out of test unseals it.
pub const CORPUS_BATCHES: &[Batch] = &[
    batch!(
        "A",
        Split::Train,
        "author-A (helper agent, brief v1)",
        "software engineering"
    ),
    batch!(
        "B",
        Split::Train,
        "author-B (helper agent, brief v1)",
        "business and product"
    ),
    batch!(
        "C",
        Split::Train,
        "author-C (helper agent, brief v1)",
        "medicine and science"
    ),
    batch!(
        "D",
        Split::Dev,
        "author-D (helper agent, brief v1)",
        "maths, statistics, data"
    ),
    batch!(
        "E",
        Split::Test,
        "author-E (helper agent, brief v1)",
        "everyday decisions"
    ),
    batch!(
        "F",
        Split::Test,
        "author-F (helper agent, brief v1)",
        "operations"
    ),
    batch!(
        "G",
        Split::Test,
        "author-G (helper agent, brief v1)",
        "research and society"
    ),
    batch!(
        "H",
        Split::Dev,
        "author-H (helper agent, brief v1, 45 sessions)",
        "agents, teaching, sports, hobbies"
    ),
    // Second round: five more authors, for training only. Same brief, plus a quota of ten
    // sessions for the five labels the first model did worst on; test batches are unchanged.
    batch!(
        "I",
        Split::Train,
        "author-I (helper agent, brief v1 + quotas)",
        "engineering, medicine, finance, law, policy"
    ),
    batch!(
        "J",
        Split::Train,
        "author-J (helper agent, brief v1 + quotas)",
        "debugging, hiring, climate, logistics, security"
    ),
    batch!(
        "K",
        Split::Train,
        "author-K (helper agent, brief v1 + quotas)",
        "manufacturing, epidemiology, databases, journalism"
    ),
    batch!(
        "L",
        Split::Train,
        "author-L (helper agent, brief v1 + quotas)",
        "cloud costs, clinical trials, ML, supply chains"
    ),
    batch!(
        "M",
        Split::Test,
        "author-M (helper agent, brief v1 + quotas)",
        "networking, pharmacology, contracts, retail pricing"
    ),
    // Third round: five more authors with quotas for circular reasoning, quality degradation and
    // distractor fixation and a third of their sessions in Chinese, Japanese and Korean
    // (`authoring/TASK-round3.md`). N–P train, Q–R test: fixed before any was written.
    batch!(
        "N",
        Split::Train,
        "author-N (helper agent, brief v1 + round-3 task)",
        "education, agriculture, energy grids, real estate"
    ),
    batch!(
        "O",
        Split::Train,
        "author-O (helper agent, brief v1 + round-3 task)",
        "physics, game design, insurance underwriting, urban planning"
    ),
    batch!(
        "P",
        Split::Train,
        "author-P (helper agent, brief v1 + round-3 task)",
        "nutrition, travel, fundraising, aviation maintenance"
    ),
    batch!(
        "Q",
        Split::Test,
        "author-Q (helper agent, brief v1 + round-3 task)",
        "chemistry, music production, telecom billing, elections"
    ),
    batch!(
        "R",
        Split::Test,
        "author-R (helper agent, brief v1 + round-3 task)",
        "veterinary medicine, construction, marine insurance, archaeology"
    ),
    // Fourth round: two more test authors (`authoring/TASK-round4.md`), written after the test
    // batches above had been scored four times, so weights are first scored on them unread.
    batch!(
        "S",
        Split::Test,
        "author-S (helper agent, brief v1 + round-4 task)",
        "law and courts, astronomy, restaurant management, public health"
    ),
    batch!(
        "T",
        Split::Test,
        "author-T (helper agent, brief v1 + round-4 task)",
        "robotics, linguistics, tax accounting, wildlife conservation"
    ),
    // Fifth round (`authoring/TASK-round5.md`, 20 circular-reasoning sessions each): U, V test,
    // W dev (dev had 11 circular sessions to calibrate on), X train; fixed before any was written.
    batch!(
        "U",
        Split::Test,
        "author-U (helper agent, brief v1 + round-5 task)",
        "shipping and ports, dentistry, video streaming, pension funds"
    ),
    batch!(
        "V",
        Split::Test,
        "author-V (helper agent, brief v1 + round-5 task)",
        "forestry, theatre production, credit risk, railway signalling"
    ),
    batch!(
        "W",
        Split::Dev,
        "author-W (helper agent, brief v1 + round-5 task)",
        "museum curation, sleep science, e-commerce returns, water utilities"
    ),
    batch!(
        "X",
        Split::Train,
        "author-X (helper agent, brief v1 + round-5 task)",
        "film production, geology, payroll, emergency medicine"
    ),
];

/// The sessions of one split of the corpus (or the regression set), batches in order.
pub fn corpus_sessions(split: Split) -> Result<Vec<LabelledSession>> {
    if split == Split::Regression {
        return regression_set();
    }
    let mut sessions = Vec::new();
    for batch in CORPUS_BATCHES.iter().filter(|b| b.split == split) {
        let mut parsed = parse_eval_set(batch.json)?;
        for session in &mut parsed {
            session.batch = batch.name.to_owned();
        }
        sessions.extend(parsed);
    }
    Ok(sessions)
}

/// The regression set.
pub fn regression_set() -> Result<Vec<LabelledSession>> {
    parse_eval_set(REGRESSION_SET)
}
