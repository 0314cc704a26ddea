//! Checking guest output against the contract before any of it reaches core: a plugin is
//! untrusted, so its spans, severities, scores and ids are verified here and a violation rejects
//! the whole answer (a plugin that lies once is not trusted for the rest of the same answer).
//! The size cap was already enforced while the output was lifted (hostcall fuel, `host.rs`).

use std::collections::HashSet;

use lux_core::detect::{Detection, MinedPattern};
use lux_core::{SessionId, Severity, Span};

use crate::abi::{self, Finding, Pattern};
use crate::error::{LoadError, PluginError};
use crate::host::PluginMetadata;

/// Longest error message kept from a plugin's `err(...)`.
pub(crate) const MAX_ERROR_MESSAGE: usize = 2048;
/// Longest plugin name: `plugin.` plus the name must fit core's 64-byte detector identifiers.
pub(crate) const MAX_PLUGIN_NAME: usize = 57;

/// A guest's `err(message)`, shortened.
fn guest_error(mut message: String) -> PluginError {
    if message.len() > MAX_ERROR_MESSAGE {
        let mut end = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    PluginError::Failed { message }
}

pub(crate) fn findings(
    returned: Result<Vec<Finding>, String>,
    content: &str,
) -> Result<Vec<Detection>, PluginError> {
    let found = returned.map_err(guest_error)?;
    let mut detections = Vec::with_capacity(found.len());
    for (index, raw) in found.into_iter().enumerate() {
        let at = |what: String| PluginError::invalid(format!("finding {index}: {what}"));
        // The identifier as core parses it (trimmed), so what is stored is what was checked.
        let bias_type = lux_core::identifier("bias_type", &raw.bias_type).map_err(|_| {
            at(format!(
                "bias-type {:?} is not a lowercase identifier",
                raw.bias_type
            ))
        })?;
        if !raw.confidence.is_finite() || !(0.0..=1.0).contains(&raw.confidence) {
            return Err(at(format!(
                "confidence {} is not a number in 0..=1",
                raw.confidence
            )));
        }
        let evidence = match raw.evidence {
            None => None,
            Some(span) => Some(checked_span(content, span).map_err(at)?),
        };
        detections.push(Detection {
            bias_type,
            severity: severity(raw.severity),
            confidence: raw.confidence,
            explanation: raw.explanation,
            evidence,
            suggestion: raw.suggestion,
        });
    }
    Ok(detections)
}

fn checked_span(content: &str, span: abi::Span) -> Result<Span, String> {
    let (start, end) = (span.start as usize, span.end as usize);
    if start >= end || end > content.len() {
        return Err(format!(
            "evidence span {start}..{end} is not a non-empty range inside the step's {} bytes",
            content.len()
        ));
    }
    if !content.is_char_boundary(start) || !content.is_char_boundary(end) {
        return Err(format!(
            "evidence span {start}..{end} cuts a UTF-8 character in two"
        ));
    }
    Ok(Span { start, end })
}

fn severity(value: abi::Severity) -> Severity {
    match value {
        abi::Severity::None => Severity::None,
        abi::Severity::Low => Severity::Low,
        abi::Severity::Medium => Severity::Medium,
        abi::Severity::High => Severity::High,
        abi::Severity::Critical => Severity::Critical,
    }
}

pub(crate) fn patterns(
    returned: Result<Vec<Pattern>, String>,
    sessions: &HashSet<SessionId>,
) -> Result<Vec<MinedPattern>, PluginError> {
    let found = returned.map_err(guest_error)?;
    let mut patterns = Vec::with_capacity(found.len());
    for (index, raw) in found.into_iter().enumerate() {
        let at = |what: String| PluginError::invalid(format!("pattern {index}: {what}"));
        let kind = lux_core::identifier("kind", &raw.kind)
            .map_err(|_| at(format!("kind {:?} is not a lowercase identifier", raw.kind)))?;
        if raw.title.trim().is_empty() {
            return Err(at("title is empty".into()));
        }
        if raw.support as usize > sessions.len() {
            return Err(at(format!(
                "support {} exceeds the {} sessions given",
                raw.support,
                sessions.len()
            )));
        }
        if !raw.score.is_finite() || !(0.0..=1.0).contains(&raw.score) {
            return Err(at(format!("score {} is not a number in 0..=1", raw.score)));
        }
        let session_ids = raw
            .session_ids
            .iter()
            .map(|id| {
                id.parse::<SessionId>()
                    .ok()
                    .filter(|parsed| sessions.contains(parsed))
                    .ok_or_else(|| at(format!("session id {id:?} is not one of the digests given")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data: serde_json::Value = if raw.data.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(&raw.data)
                .map_err(|error| at(format!("data is not JSON: {error}")))?
        };
        patterns.push(MinedPattern {
            kind,
            title: raw.title,
            support: raw.support,
            score: raw.score,
            session_ids,
            data,
        });
    }
    Ok(patterns)
}

pub(crate) fn validate_metadata(
    name: String,
    version: String,
    description: String,
    config_schema: &str,
) -> Result<PluginMetadata, LoadError> {
    let invalid = |message: String| LoadError::InvalidMetadata(message);
    let name_ok = !name.is_empty()
        && name.len() <= MAX_PLUGIN_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !name_ok {
        return Err(invalid(format!(
            "name {name:?} must be 1 to {MAX_PLUGIN_NAME} characters of a-z, 0-9, '_', '.', '-', \
             starting with a letter"
        )));
    }
    let version_ok = !version.is_empty()
        && version.len() <= 64
        && version.split(['-', '+']).next().is_some_and(|core| {
            let parts: Vec<&str> = core.split('.').collect();
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok())
        });
    if !version_ok {
        return Err(invalid(format!(
            "version {version:?} is not a semantic version (x.y.z)"
        )));
    }
    if description.len() > 4096 {
        return Err(invalid("description is longer than 4096 bytes".into()));
    }
    let config_schema = if config_schema.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str::<serde_json::Value>(config_schema)
            .map_err(|error| invalid(format!("config-schema is not JSON: {error}")))?
    };
    if !(config_schema.is_object() || config_schema.is_boolean()) {
        return Err(invalid(
            "config-schema must be a JSON Schema (an object or a boolean)".into(),
        ));
    }
    Ok(PluginMetadata {
        name,
        version,
        description,
        config_schema,
    })
}
