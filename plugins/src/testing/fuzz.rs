//! Fuzzing entry point for the checks on what an untrusted plugin returns (`output.rs`), shared by
//! the cargo-fuzz target `plugin_output` and the seed replay in `cargo test`. The bytes become a
//! guest's answer directly (no wasm runs), so libFuzzer explores the validators at full speed;
//! lifting from guest memory is wasmtime's job and is covered by the hostile-plugin tests.

use std::collections::HashSet;

use arbitrary::{Arbitrary, Unstructured};
use lux_core::SessionId;
use uuid::Uuid;

use crate::abi;
use crate::error::{LoadError, PluginError};
use crate::output::{self, MAX_ERROR_MESSAGE, MAX_PLUGIN_NAME};

/// Longest text a [`LongText`] expands to: past every cap, yet cheap enough for many runs a second.
const MAX_LONG_TEXT: usize = 64 << 10;
/// Most session digests a fuzzed miner is given.
const MAX_SESSIONS: u8 = 6;

/// Everything one guest could send back: a detector's answer for `content`, a miner's answer for
/// `sessions` digests, and the metadata read at install.
#[derive(Debug, Arbitrary)]
struct GuestAnswer {
    content: String,
    findings: Result<Vec<RawFinding>, LongText>,
    sessions: u8,
    patterns: Result<Vec<RawPattern>, LongText>,
    metadata: RawMetadata,
}

#[derive(Debug, Arbitrary)]
struct RawFinding {
    bias_type: String,
    severity: u8,
    confidence: f64,
    explanation: LongText,
    evidence: Option<(u32, u32)>,
    suggestion: Option<String>,
}

#[derive(Debug, Arbitrary)]
struct RawPattern {
    kind: String,
    title: LongText,
    support: u32,
    score: f64,
    session_ids: Vec<SessionRef>,
    data: String,
}

/// A pattern's claim about a session: one of the digests given (as the contract wants) or any text.
#[derive(Debug, Arbitrary)]
enum SessionRef {
    Given { index: u8, uppercase: bool },
    Text(String),
}

#[derive(Debug, Arbitrary)]
struct RawMetadata {
    name: String,
    version: String,
    description: LongText,
    config_schema: String,
}

/// A piece repeated, so a short fuzz input can reach the multi-kilobyte caps (and cut a
/// multi-byte character at them).
#[derive(Debug, Arbitrary)]
struct LongText {
    piece: String,
    times: u16,
}

impl LongText {
    fn expand(self) -> String {
        let most = MAX_LONG_TEXT / self.piece.len().max(1);
        self.piece.repeat(usize::from(self.times).min(most).max(1))
    }
}

/// Runs arbitrary guest output through the real validators. Never panics on its own; panics (the
/// fuzzer's finding) when a validator panics or accepts something the contract forbids.
pub fn plugin_output(data: &[u8]) {
    let Ok(answer) = GuestAnswer::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let sessions: Vec<SessionId> = (0..answer.sessions % (MAX_SESSIONS + 1))
        .map(|n| SessionId(Uuid::from_u128(0x5e55_1000 + u128::from(n))))
        .collect();
    check_findings(&answer.content, answer.findings);
    check_patterns(&sessions, answer.patterns);
    check_metadata(answer.metadata);
}

fn check_findings(content: &str, answer: Result<Vec<RawFinding>, LongText>) {
    let returned = match answer {
        Err(message) => {
            let message = message.expand();
            let result = output::findings(Err(message.clone()), content);
            assert_guest_error(&message, result.map(drop));
            return;
        }
        Ok(raw) => raw,
    };
    let sent = returned.len();
    let guest: Vec<abi::Finding> = returned
        .into_iter()
        .map(|raw| abi::Finding {
            bias_type: raw.bias_type,
            severity: severity(raw.severity),
            confidence: raw.confidence,
            explanation: raw.explanation.expand(),
            evidence: raw.evidence.map(|(start, end)| abi::Span { start, end }),
            suggestion: raw.suggestion,
        })
        .collect();
    match output::findings(Ok(guest), content) {
        Err(error) => assert_invalid_output(&error),
        Ok(detections) => {
            assert_eq!(detections.len(), sent, "a finding was dropped silently");
            for detection in detections {
                assert_identifier(&detection.bias_type);
                assert!(
                    (0.0..=1.0).contains(&detection.confidence),
                    "accepted confidence {}",
                    detection.confidence
                );
                if let Some(span) = detection.evidence {
                    assert!(
                        span.start < span.end && content.get(span.start..span.end).is_some(),
                        "accepted span {}..{} of a {}-byte step",
                        span.start,
                        span.end,
                        content.len()
                    );
                }
            }
        }
    }
}

fn check_patterns(sessions: &[SessionId], answer: Result<Vec<RawPattern>, LongText>) {
    let given: HashSet<SessionId> = sessions.iter().copied().collect();
    let returned = match answer {
        Err(message) => {
            let message = message.expand();
            let result = output::patterns(Err(message.clone()), &given);
            assert_guest_error(&message, result.map(drop));
            return;
        }
        Ok(raw) => raw,
    };
    let sent = returned.len();
    let guest: Vec<abi::Pattern> = returned
        .into_iter()
        .map(|raw| abi::Pattern {
            kind: raw.kind,
            title: raw.title.expand(),
            support: raw.support,
            score: raw.score,
            session_ids: raw
                .session_ids
                .into_iter()
                .map(|claim| match claim {
                    SessionRef::Given { index, uppercase } if !sessions.is_empty() => {
                        let id = sessions[usize::from(index) % sessions.len()].0.to_string();
                        if uppercase { id.to_uppercase() } else { id }
                    }
                    SessionRef::Given { .. } => String::new(),
                    SessionRef::Text(text) => text,
                })
                .collect(),
            data: raw.data,
        })
        .collect();
    match output::patterns(Ok(guest), &given) {
        Err(error) => assert_invalid_output(&error),
        Ok(patterns) => {
            assert_eq!(patterns.len(), sent, "a pattern was dropped silently");
            for pattern in patterns {
                assert_identifier(&pattern.kind);
                assert!(!pattern.title.trim().is_empty(), "accepted an empty title");
                assert!(
                    pattern.support as usize <= sessions.len(),
                    "accepted support {} of {} sessions",
                    pattern.support,
                    sessions.len()
                );
                assert!(
                    (0.0..=1.0).contains(&pattern.score),
                    "accepted score {}",
                    pattern.score
                );
                for id in &pattern.session_ids {
                    assert!(given.contains(id), "accepted unknown session {id}");
                }
            }
        }
    }
}

fn check_metadata(raw: RawMetadata) {
    match output::validate_metadata(
        raw.name,
        raw.version,
        raw.description.expand(),
        &raw.config_schema,
    ) {
        Err(LoadError::InvalidMetadata(_)) => {}
        Err(other) => panic!("metadata refused with the wrong error: {other:?}"),
        Ok(metadata) => {
            let name = &metadata.name;
            assert!(
                (1..=MAX_PLUGIN_NAME).contains(&name.len())
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && name.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"_.-".contains(&b)),
                "accepted plugin name {name:?}"
            );
            assert!(
                metadata.version.len() <= 64,
                "accepted a {}-byte version",
                metadata.version.len()
            );
            assert!(
                metadata.description.len() <= 4096,
                "accepted a {}-byte description",
                metadata.description.len()
            );
            assert!(
                metadata.config_schema.is_object() || metadata.config_schema.is_boolean(),
                "accepted config schema {}",
                metadata.config_schema
            );
        }
    }
}

/// A guest's `err(message)` is reported as its own failure, shortened to the cap on a character
/// boundary, never as a success or as invalid output.
fn assert_guest_error(sent: &str, result: Result<(), PluginError>) {
    match result {
        Err(PluginError::Failed { message }) => {
            let kept = message.strip_suffix('…').unwrap_or(&message);
            assert!(
                kept.len() <= MAX_ERROR_MESSAGE,
                "kept {} bytes of the guest's error",
                kept.len()
            );
            assert!(sent.starts_with(kept), "the guest's error was altered");
        }
        other => panic!("a guest's err(...) became {other:?}"),
    }
}

fn assert_invalid_output(error: &PluginError) {
    assert!(
        matches!(error, PluginError::InvalidOutput { .. }),
        "bad output refused with the wrong error: {error:?}"
    );
}

/// What core stores must already be the identifier it would accept, not just contain one.
fn assert_identifier(value: &str) {
    assert_eq!(
        lux_core::identifier("identifier", value).ok().as_deref(),
        Some(value),
        "accepted {value:?} as a lowercase identifier"
    );
}

fn severity(byte: u8) -> abi::Severity {
    match byte % 5 {
        0 => abi::Severity::None,
        1 => abi::Severity::Low,
        2 => abi::Severity::Medium,
        3 => abi::Severity::High,
        _ => abi::Severity::Critical,
    }
}
