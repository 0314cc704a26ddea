//! Validated values and the limits they enforce; raw strings and floats stop at these constructors.

use crate::error::{Error, Result};

/// Largest step content accepted (1 MiB), as DESIGN.md sets.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
/// Largest short text (titles, names, kinds, models, messages…).
pub const MAX_LABEL_BYTES: usize = 256;
/// Largest free-text field other than step content (explanations, errors, messages).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Largest JSON metadata document, serialised.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// No single model call plausibly moves more tokens than this; more is a client bug.
pub const MAX_TOKENS_PER_CALL: i64 = 100_000_000;
/// A model call taking longer than a day is a clock bug, not a slow model.
pub const MAX_LATENCY_MS: i64 = 24 * 60 * 60 * 1000;

/// A score in `0..=1` (confidence, clarity), finite by construction.
pub fn unit_score(field: &str, value: f64) -> Result<f64> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            format!("must be between 0 and 1, got {value}"),
        ))
    }
}

pub fn optional_unit_score(field: &str, value: Option<f64>) -> Result<Option<f64>> {
    value.map(|value| unit_score(field, value)).transpose()
}

/// Non-empty after trimming, at most `max_bytes`; returns the trimmed text.
pub fn required_text(field: &str, value: &str, max_bytes: usize) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    bounded_text(field, trimmed, max_bytes)
}

pub fn bounded_text(field: &str, value: &str, max_bytes: usize) -> Result<String> {
    if value.contains('\0') {
        // PostgreSQL cannot store NUL in text; refusing it everywhere keeps the backends alike.
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    if value.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("is {} bytes, at most {max_bytes} allowed", value.len()),
        ));
    }
    Ok(value.to_owned())
}

/// Empty strings count as absent, so clients that send `""` for "none" are not punished.
pub fn optional_text(field: &str, value: Option<&str>, max_bytes: usize) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded_text(field, text, max_bytes).map(Some),
    }
}

/// A lowercase identifier such as a tool name, step kind or bias type: `[a-z0-9_.:-]`, 1..=64 bytes.
pub fn identifier(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!("{value:?} must be 1 to 64 characters of a-z, 0-9, '_', '.', ':' or '-'"),
        ))
    }
}

/// JSON metadata must be an object (or absent, stored as `{}`) and bounded in size.
pub fn metadata(field: &str, value: Option<serde_json::Value>) -> Result<serde_json::Value> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(serde_json::Value::Object(Default::default())),
        Some(value @ serde_json::Value::Object(_)) => {
            if json_has_nul(&value) {
                return Err(Error::invalid(field, "must not contain NUL characters"));
            }
            let size = value.to_string().len();
            if size > MAX_METADATA_BYTES {
                Err(Error::invalid(
                    field,
                    format!("is {size} bytes of JSON, at most {MAX_METADATA_BYTES} allowed"),
                ))
            } else {
                Ok(value)
            }
        }
        Some(_) => Err(Error::invalid(field, "must be a JSON object")),
    }
}

pub fn token_count(field: &str, value: i64) -> Result<i64> {
    if (0..=MAX_TOKENS_PER_CALL).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            format!("must be between 0 and {MAX_TOKENS_PER_CALL}, got {value}"),
        ))
    }
}

pub fn positive_number(field: &str, value: i32) -> Result<i32> {
    if value >= 1 {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            format!("must be at least 1, got {value}"),
        ))
    }
}

/// Whether any string or key in a JSON document contains NUL (which PostgreSQL's JSONB refuses).
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || json_has_nul(value)),
        _ => false,
    }
}

/// Whether a caller-given lookup key could ever match stored text. NUL is never stored, and
/// PostgreSQL refuses it even in a query, so such a lookup finds nothing instead of failing.
pub fn could_be_stored(key: &str) -> bool {
    !key.contains('\0')
}
