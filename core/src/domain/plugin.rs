//! Installed plugins, their runs and the patterns miners stored, as the registry keeps them (the
//! WASM side lives in `lux-plugins`; core only stores and validates).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::ids::{ProjectId, SessionId, StepId};
use crate::error::{Error, Result};

/// Which contract world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Detector,
    Miner,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Detector => "detector",
            PluginKind::Miner => "miner",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginKind {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        match value {
            "detector" => Ok(PluginKind::Detector),
            "miner" => Ok(PluginKind::Miner),
            other => Err(Error::invalid(
                "kind",
                format!("{other:?} is not detector or miner"),
            )),
        }
    }
}

/// A validated component to store: the host has loaded it and read its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlugin {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub config_schema: Value,
    pub wasm: Vec<u8>,
}

/// One installed version of a plugin (without its bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginVersion {
    pub id: Uuid,
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub description: String,
    pub config_schema: Value,
    pub config: Value,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    pub size_bytes: u64,
    /// Enabled detectors run on every step write; the flag is shared by all versions of a name.
    pub enabled: bool,
    /// The version runs and configuration apply to; exactly one per name.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// What an install did: a new version, or the same bytes already stored (`created` false).
#[derive(Debug, Clone, PartialEq)]
pub struct InstalledPlugin {
    pub plugin: PluginVersion,
    pub created: bool,
}

/// Changes to a plugin by name; unset fields are left alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginUpdate {
    pub enabled: Option<bool>,
    /// Makes this installed version the active one.
    pub active_version: Option<String>,
    /// Replaces the active version's configuration (checked against its schema).
    pub config: Option<Value>,
}

/// How one plugin run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Ok,
    Timeout,
    Memory,
    Trap,
    OutputTooLarge,
    InvalidOutput,
    Failed,
}

impl RunOutcome {
    pub const ALL: [RunOutcome; 7] = [
        RunOutcome::Ok,
        RunOutcome::Timeout,
        RunOutcome::Memory,
        RunOutcome::Trap,
        RunOutcome::OutputTooLarge,
        RunOutcome::InvalidOutput,
        RunOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Timeout => "timeout",
            RunOutcome::Memory => "memory",
            RunOutcome::Trap => "trap",
            RunOutcome::OutputTooLarge => "output_too_large",
            RunOutcome::InvalidOutput => "invalid_output",
            RunOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunOutcome {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        RunOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == value)
            .ok_or_else(|| Error::invalid("outcome", format!("unknown run outcome {value:?}")))
    }
}

/// A run to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPluginRun {
    pub plugin_id: Uuid,
    pub session_id: Option<SessionId>,
    pub step_id: Option<StepId>,
    pub started_at: DateTime<Utc>,
    pub duration_us: i64,
    pub outcome: RunOutcome,
    pub message: Option<String>,
    /// Findings or patterns the run produced.
    pub produced: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRun {
    pub id: Uuid,
    pub plugin_id: Uuid,
    pub plugin_version: String,
    pub session_id: Option<SessionId>,
    pub step_id: Option<StepId>,
    pub started_at: DateTime<Utc>,
    pub duration_us: i64,
    pub outcome: RunOutcome,
    pub message: Option<String>,
    pub produced: u32,
}

/// A pattern kept in `patterns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPattern {
    pub id: Uuid,
    pub project_id: ProjectId,
    pub miner: String,
    pub miner_version: String,
    pub kind: String,
    pub title: String,
    pub support: u32,
    pub score: f64,
    pub session_ids: Vec<SessionId>,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// Which stored patterns to list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatternListQuery {
    /// Only this miner (e.g. `plugin.recurring-signals`).
    pub miner: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u32>,
}

/// Most bytes of a stored plugin configuration.
pub const MAX_PLUGIN_CONFIG_BYTES: usize = 64 * 1024;

/// Checks `value` against the subset of JSON Schema plugin authors use for configuration: `type`
/// (string or list), `properties`, `required`, `additionalProperties: false`, `enum`, `const`,
/// `minimum`/`maximum`, `minLength`/`maxLength`, `items`, `minItems`/`maxItems`. Keywords outside
/// the subset are ignored, so a schema never makes a config fail for a reason Lux cannot explain.
/// The error names the JSON path that failed.
pub fn validate_config(schema: &Value, value: &Value) -> Result<()> {
    let size = value.to_string().len();
    if size > MAX_PLUGIN_CONFIG_BYTES {
        return Err(Error::invalid(
            "config",
            format!("is {size} bytes; the limit is {MAX_PLUGIN_CONFIG_BYTES}"),
        ));
    }
    check(schema, value, "$").map_err(|reason| Error::invalid("config", reason))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    let actual = type_name(value);
    actual == wanted
        || (wanted == "number" && actual == "integer")
        || (wanted == "integer" && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn check(schema: &Value, value: &Value, path: &str) -> std::result::Result<(), String> {
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: no value is allowed here")),
        Value::Object(schema) => schema,
        _ => return Ok(()),
    };
    if let Some(types) = schema.get("type") {
        let wanted: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !wanted.is_empty() && !wanted.iter().any(|t| has_type(value, t)) {
            return Err(format!(
                "{path}: expected {}, got {}",
                wanted.join(" or "),
                type_name(value)
            ));
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        return Err(format!(
            "{path}: {value} is not one of {}",
            Value::Array(allowed.clone())
        ));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{path}: must be {constant}"));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            return Err(format!("{path}: {number} is less than the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            return Err(format!("{path}: {number} is more than the maximum {max}"));
        }
    }
    if let Value::String(text) = value {
        let chars = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            return Err(format!("{path}: shorter than {min} characters"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            return Err(format!("{path}: longer than {max} characters"));
        }
    }
    if let Value::Array(items) = value {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            return Err(format!("{path}: fewer than {min} items"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            return Err(format!("{path}: more than {max} items"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{index}]"))?;
            }
        }
    }
    if let Value::Object(object) = value {
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{path}: missing required property {key:?}"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let child = format!("{path}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => check(property, item, &child)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{path}: unknown property {key:?}"));
                    }
                    Some(extra @ Value::Object(_)) => check(extra, item, &child)?,
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::validate_config;

    #[test]
    fn config_is_checked_against_the_schema_subset() {
        let schema = json!({
            "type": "object",
            "properties": {
                "extra_terms": { "type": "array", "items": { "type": "string", "minLength": 1 } },
                "threshold": { "type": "number", "minimum": 0, "maximum": 1 },
                "mode": { "enum": ["strict", "loose"] },
            },
            "required": ["mode"],
            "additionalProperties": false,
        });
        assert!(validate_config(&schema, &json!({ "mode": "strict", "threshold": 0.5 })).is_ok());
        for (bad, says) in [
            (json!([]), "expected object"),
            (json!({}), "missing required property \"mode\""),
            (json!({ "mode": "odd" }), "is not one of"),
            (
                json!({ "mode": "loose", "threshold": 2 }),
                "$.threshold: 2 is more than",
            ),
            (
                json!({ "mode": "loose", "extra_terms": [""] }),
                "$.extra_terms[0]: shorter",
            ),
            (
                json!({ "mode": "loose", "other": 1 }),
                "unknown property \"other\"",
            ),
        ] {
            let error = validate_config(&schema, &bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad} -> {error}");
        }
        assert!(validate_config(&json!(true), &json!({ "any": 1 })).is_ok());
    }
}
