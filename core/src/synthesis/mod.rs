//! Turns the `update_synthesis(...)` text an LLM writes at the end of its answer into a validated
//! `SynthesisUpdate`, whichever of the three formats (JSON call, Python keyword call, bare JSON
//! object) the model chose, without ever dropping an insight.

mod parser;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use parser::{Arg, Parser, SyntaxError};

/// Per text field; far above anything useful, low enough to keep one row from bloating the store.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Bounds work on text with many `update_synthesis(` mentions (each attempt may scan to the end).
const MAX_CALL_ATTEMPTS: usize = 16;
const CALL_NAME: &[u8] = b"update_synthesis";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionPriority {
    High,
    #[default]
    Medium,
    Low,
}

impl ActionPriority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    /// The parser's view: models write "High", "MEDIUM", "urgent"...; anything unrecognised is the
    /// default rather than a reason to reject the whole update.
    fn lenient(s: &str) -> Self {
        s.parse().unwrap_or_default()
    }
}

impl fmt::Display for ActionPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionPriority {
    type Err = SynthesisParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Ok(Self::High),
            "medium" => Ok(Self::Medium),
            "low" => Ok(Self::Low),
            other => Err(SynthesisParseError::InvalidField {
                field: "priority".to_owned(),
                reason: format!("expected high, medium or low, got {other:?}"),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsightInput {
    #[serde(alias = "insight")]
    pub text: String,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub source_step: Option<i32>,
    #[serde(default)]
    pub supported_by_evidence: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionItemInput {
    pub action: String,
    #[serde(default)]
    pub priority: ActionPriority,
    #[serde(default)]
    pub rationale: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SynthesisUpdate {
    #[serde(default)]
    pub current_understanding: Option<String>,
    #[serde(default, alias = "key_insights")]
    pub insights: Vec<InsightInput>,
    #[serde(default)]
    pub action_items: Vec<ActionItemInput>,
    #[serde(default, alias = "confidence_score")]
    pub confidence: Option<f64>,
    #[serde(default, alias = "clarity_score")]
    pub clarity: Option<f64>,
    #[serde(default)]
    pub recommendations: Vec<String>,
    #[serde(default)]
    pub context_factors: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SynthesisParseError {
    #[error("no update_synthesis(...) call or synthesis JSON object found")]
    NoUpdate,
    #[error("malformed synthesis update at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
    #[error("invalid synthesis field `{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("synthesis update carries no content")]
    Empty,
}

impl From<SyntaxError> for SynthesisParseError {
    fn from(e: SyntaxError) -> Self {
        Self::Malformed {
            offset: e.offset,
            reason: e.reason,
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SynthesisParseError {
    SynthesisParseError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

impl SynthesisUpdate {
    /// Canonical JSON (snake_case keys, the names above) stored as the `parsed` column.
    pub fn to_json(&self) -> Value {
        // Built by hand so the stored layout is visible here and does not drift with serde aliases.
        json!({
            "current_understanding": self.current_understanding,
            "insights": self.insights.iter().map(|i| json!({
                "text": i.text,
                "confidence": i.confidence,
                "source_step": i.source_step,
                "supported_by_evidence": i.supported_by_evidence,
            })).collect::<Vec<_>>(),
            "action_items": self.action_items.iter().map(|a| json!({
                "action": a.action,
                "priority": a.priority.as_str(),
                "rationale": a.rationale,
                "dependencies": a.dependencies,
            })).collect::<Vec<_>>(),
            "confidence": self.confidence,
            "clarity": self.clarity,
            "recommendations": self.recommendations,
            "context_factors": self.context_factors,
            "constraints": self.constraints,
        })
    }

    /// Checks ranges (confidence/clarity 0..=1, finite; text fields non-empty after trim, each
    /// <= 64 KiB) and non-emptiness. Used for structured updates that did not come through the parser.
    pub fn validate(&self) -> Result<(), SynthesisParseError> {
        check_unit("confidence", self.confidence)?;
        check_unit("clarity", self.clarity)?;
        if let Some(u) = &self.current_understanding {
            check_text("current_understanding", u)?;
        }
        for (i, insight) in self.insights.iter().enumerate() {
            check_text(&format!("insights[{i}].text"), &insight.text)?;
            check_unit(&format!("insights[{i}].confidence"), insight.confidence)?;
        }
        for (i, item) in self.action_items.iter().enumerate() {
            check_text(&format!("action_items[{i}].action"), &item.action)?;
            if let Some(r) = &item.rationale {
                check_text(&format!("action_items[{i}].rationale"), r)?;
            }
            for (j, d) in item.dependencies.iter().enumerate() {
                check_text(&format!("action_items[{i}].dependencies[{j}]"), d)?;
            }
        }
        for (name, list) in [
            ("recommendations", &self.recommendations),
            ("context_factors", &self.context_factors),
            ("constraints", &self.constraints),
        ] {
            for (i, s) in list.iter().enumerate() {
                check_text(&format!("{name}[{i}]"), s)?;
            }
        }
        if self.is_empty() {
            return Err(SynthesisParseError::Empty);
        }
        Ok(())
    }

    /// Recommendations, context factors and constraints count as content too: an update carrying
    /// only those is still something the model chose to record.
    fn is_empty(&self) -> bool {
        self.current_understanding.is_none()
            && self.insights.is_empty()
            && self.action_items.is_empty()
            && self.confidence.is_none()
            && self.clarity.is_none()
            && self.recommendations.is_empty()
            && self.context_factors.is_empty()
            && self.constraints.is_empty()
    }
}

fn check_unit(field: &str, v: Option<f64>) -> Result<(), SynthesisParseError> {
    match v {
        Some(x) if !x.is_finite() => Err(invalid(field, "must be a finite number")),
        Some(x) if !(0.0..=1.0).contains(&x) => {
            Err(invalid(field, format!("must be within 0..=1, got {x}")))
        }
        _ => Ok(()),
    }
}

fn check_text(field: &str, s: &str) -> Result<(), SynthesisParseError> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > MAX_TEXT_BYTES {
        return Err(invalid(
            field,
            format!("longer than {MAX_TEXT_BYTES} bytes ({} bytes)", s.len()),
        ));
    }
    // Postgres rejects NUL in both text and jsonb.
    if s.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Parses the synthesis update out of an LLM answer.
///
/// Order of preference: the last complete `update_synthesis(...)` call; otherwise the last
/// outermost `{...}` object carrying synthesis keys. After a failed call only objects past the
/// failure are considered, so neither an earlier example object nor the intact first half of a
/// broken call can stand in for the model's final (broken) update.
pub fn parse_update(text: &str) -> Result<SynthesisUpdate, SynthesisParseError> {
    let sites = find_call_sites(text);
    let mut call_error: Option<SynthesisParseError> = None;
    let mut objects_from = 0;
    for &(name_at, paren_at) in sites.iter().rev().take(MAX_CALL_ATTEMPTS) {
        let mut p = Parser::new(text, paren_at);
        match p.parse_call_args() {
            Ok(args) => {
                let update = update_from_args(args, name_at)?;
                // "I'll call update_synthesis() with:" followed by the JSON itself.
                if update.is_empty()
                    && let Ok(Some(obj)) = find_object(text, p.pos())
                {
                    return validated(update_from_object(&obj)?);
                }
                return validated(update);
            }
            Err(e) => {
                let eof = e.eof;
                // A truncated call may still hold a complete object (output cut before the `)`);
                // a broken but finished call is only recoverable from what follows the break.
                objects_from = if eof { name_at } else { e.offset };
                if call_error.is_none() {
                    call_error = Some(if eof {
                        SynthesisParseError::Malformed {
                            offset: e.offset,
                            reason: format!(
                                "update_synthesis call at byte {name_at} is incomplete: {}",
                                e.reason
                            ),
                        }
                    } else {
                        e.into()
                    });
                }
                // An earlier complete call beats a truncated last one; a broken but finished call
                // is the model's final word and must be reported, not skipped.
                if !eof {
                    break;
                }
            }
        }
    }
    match find_object(text, objects_from) {
        Ok(Some(obj)) => validated(update_from_object(&obj)?),
        Ok(None) => Err(call_error.unwrap_or(SynthesisParseError::NoUpdate)),
        Err(object_error) => Err(call_error.unwrap_or(object_error)),
    }
}

fn validated(update: SynthesisUpdate) -> Result<SynthesisUpdate, SynthesisParseError> {
    update.validate()?;
    Ok(update)
}

/// `(name_start, paren_position)` of each `update_synthesis(` (ASCII case-insensitive, as a whole
/// identifier, whitespace allowed before the parenthesis).
fn find_call_sites(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut sites = Vec::new();
    if bytes.len() < CALL_NAME.len() {
        return sites;
    }
    for start in 0..=bytes.len() - CALL_NAME.len() {
        if !bytes[start..start + CALL_NAME.len()].eq_ignore_ascii_case(CALL_NAME) {
            continue;
        }
        if start > 0 && is_ident_byte(bytes[start - 1]) {
            continue;
        }
        let mut at = start + CALL_NAME.len();
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if bytes.get(at) == Some(&b'(') {
            sites.push((start, at));
        }
    }
    sites
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Finds the last outermost `{...}` that parses and carries synthesis keys, scanning from `from`.
///
/// A failed parse moves on by one brace so an object nested in broken prose is still found. Total
/// work is capped because each failed attempt may scan far ahead (e.g. an unterminated string full
/// of braces) and the attempts would otherwise add up quadratically.
fn find_object(text: &str, from: usize) -> Result<Option<Map<String, Value>>, SynthesisParseError> {
    let bytes = text.as_bytes();
    let mut budget = bytes.len().saturating_mul(8).saturating_add(4096);
    let mut pos = from;
    let mut found = None;
    let mut first_error: Option<SyntaxError> = None;
    while let Some(rel) = bytes
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == b'{'))
    {
        let start = pos + rel;
        let mut p = Parser::new(text, start);
        match p.parse_value() {
            Ok(Value::Object(obj)) => {
                if synthesis_object(&obj).is_some() {
                    found = Some(obj);
                }
                pos = p.pos();
            }
            Ok(_) => pos = start + 1,
            Err(e) => {
                let scanned = e.offset.max(p.pos()).saturating_sub(start);
                // Only a broken object that looks like a synthesis update is worth reporting; prose
                // like "the set {a, b}" is not.
                if first_error.is_none()
                    && looks_like_synthesis(text.get(start..e.offset).unwrap_or(""))
                {
                    first_error = Some(e);
                }
                budget = budget.saturating_sub(scanned.max(1));
                if budget == 0 {
                    break;
                }
                pos = start + 1;
            }
        }
    }
    match (found, first_error) {
        (Some(obj), _) => Ok(Some(obj)),
        (None, Some(e)) => Err(e.into()),
        (None, None) => Ok(None),
    }
}

fn looks_like_synthesis(fragment: &str) -> bool {
    let lower = fragment.to_ascii_lowercase();
    [
        "understanding",
        "insight",
        "action_items",
        "actionitems",
        "next_steps",
    ]
    .iter()
    .any(|k| lower.contains(k))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Understanding,
    Insights,
    Actions,
    Confidence,
    Clarity,
    Recommendations,
    ContextFactors,
    Constraints,
}

impl Field {
    fn canonical(self) -> &'static str {
        match self {
            Self::Understanding => "current_understanding",
            Self::Insights => "insights",
            Self::Actions => "action_items",
            Self::Confidence => "confidence",
            Self::Clarity => "clarity",
            Self::Recommendations => "recommendations",
            Self::ContextFactors => "context_factors",
            Self::Constraints => "constraints",
        }
    }
}

/// Lower-cased with `_`, `-` and spaces removed, so snake_case, camelCase, PascalCase and
/// "Key Insights" all meet.
fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn field_for_key(key: &str) -> Option<Field> {
    Some(match normalize_key(key).as_str() {
        "understanding" | "currentunderstanding" => Field::Understanding,
        "insights" | "keyinsights" => Field::Insights,
        "actions" | "actionitems" | "nextsteps" => Field::Actions,
        "confidence" | "confidencescore" => Field::Confidence,
        "clarity" | "clarityscore" => Field::Clarity,
        "recommendations" => Field::Recommendations,
        "contextfactors" => Field::ContextFactors,
        "constraints" => Field::Constraints,
        _ => return None,
    })
}

/// The object itself if it has synthesis keys, or the single nested object that does, so wrappers
/// like `{"synthesis": {...}}` or `{"name": "update_synthesis", "arguments": {...}}` still work.
fn synthesis_object(obj: &Map<String, Value>) -> Option<&Map<String, Value>> {
    fn inner(obj: &Map<String, Value>, levels: usize) -> Option<&Map<String, Value>> {
        if obj.keys().any(|k| field_for_key(k).is_some()) {
            return Some(obj);
        }
        if levels == 0 {
            return None;
        }
        let mut hits = obj
            .values()
            .filter_map(Value::as_object)
            .filter_map(|o| inner(o, levels - 1));
        let first = hits.next()?;
        hits.next().is_none().then_some(first)
    }
    inner(obj, 2)
}

fn update_from_args(
    args: Vec<Arg>,
    call_at: usize,
) -> Result<SynthesisUpdate, SynthesisParseError> {
    // Keys are canonicalised while merging so `{"insights": [a]}, Insights=[b]` concatenates in
    // argument order instead of in the map's (alphabetical) key order.
    let mut merged = Map::new();
    let put = |merged: &mut Map<String, Value>, key: String, value: Value| {
        let key = field_for_key(&key).map_or(key, |f| f.canonical().to_owned());
        parser::insert_merging(merged, key, value);
    };
    for arg in args {
        match arg {
            Arg::Keyword { key, value } => put(&mut merged, key, value),
            Arg::Positional {
                value: Value::Object(obj),
                ..
            } => {
                let obj = synthesis_object(&obj).cloned().unwrap_or(obj);
                for (k, v) in obj {
                    put(&mut merged, k, v);
                }
            }
            // `update_synthesis('{"current_understanding": ...}')`: JSON passed as a string.
            Arg::Positional {
                offset,
                value: Value::String(s),
            } if s.trim_start().starts_with('{') => match parser::parse_document(&s) {
                Ok(Value::Object(obj)) => {
                    let obj = synthesis_object(&obj).cloned().unwrap_or(obj);
                    for (k, v) in obj {
                        put(&mut merged, k, v);
                    }
                }
                Ok(other) => {
                    return Err(SynthesisParseError::Malformed {
                        offset,
                        reason: format!(
                            "string argument holds a {}, not an object",
                            type_name(&other)
                        ),
                    });
                }
                Err(e) => {
                    return Err(SynthesisParseError::Malformed {
                        offset,
                        reason: format!(
                            "string argument is not a valid object: {} (byte {} of the string)",
                            e.reason, e.offset
                        ),
                    });
                }
            },
            // A lone sentence passed positionally can only mean the understanding.
            Arg::Positional {
                value: Value::String(s),
                ..
            } if !merged
                .keys()
                .any(|k| field_for_key(k) == Some(Field::Understanding)) =>
            {
                put(
                    &mut merged,
                    Field::Understanding.canonical().to_owned(),
                    Value::String(s),
                );
            }
            Arg::Positional { offset, value } => {
                return Err(SynthesisParseError::Malformed {
                    offset,
                    reason: format!(
                        "unexpected positional argument of type {} in update_synthesis call at byte {call_at}",
                        type_name(&value)
                    ),
                });
            }
        }
    }
    update_from_object(&merged)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// The one mapping from a parsed object to an update, shared by all formats so aliases and
/// leniency are identical everywhere. Does not validate; callers do.
fn update_from_object(obj: &Map<String, Value>) -> Result<SynthesisUpdate, SynthesisParseError> {
    let obj = synthesis_object(obj).unwrap_or(obj);
    let mut u = SynthesisUpdate::default();
    for (key, value) in obj {
        let Some(field) = field_for_key(key) else {
            continue;
        };
        match field {
            Field::Understanding => {
                if let Some(text) = understanding(value)? {
                    u.current_understanding = Some(text);
                }
            }
            Field::Insights => {
                // Error paths use the index in the source list, which is what a reader can find.
                for (index, item) in as_items(value).enumerate() {
                    if let Some(insight) = insight(item, index)? {
                        u.insights.push(insight);
                    }
                }
            }
            Field::Actions => {
                for (index, item) in as_items(value).enumerate() {
                    if let Some(action) = action_item(item, index)? {
                        u.action_items.push(action);
                    }
                }
            }
            Field::Confidence => {
                if let Some(x) = unit_score(value, "confidence")? {
                    u.confidence = Some(x);
                }
            }
            Field::Clarity => {
                if let Some(x) = unit_score(value, "clarity")? {
                    u.clarity = Some(x);
                }
            }
            Field::Recommendations => u
                .recommendations
                .extend(as_items(value).filter_map(loose_text)),
            Field::ContextFactors => u
                .context_factors
                .extend(as_items(value).filter_map(loose_text)),
            Field::Constraints => u.constraints.extend(as_items(value).filter_map(loose_text)),
        }
    }
    Ok(u)
}

/// A list yields its items; a single value is a one-item list (`Insights="just one"`).
fn as_items(value: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Null => Box::new(std::iter::empty()),
        other => Box::new(std::iter::once(other)),
    }
}

/// Trimmed and NUL-free (Postgres rejects NUL); `None` when nothing is left.
fn clean(s: &str) -> Option<String> {
    let s = s.replace('\0', "");
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn understanding(value: &Value) -> Result<Option<String>, SynthesisParseError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(clean(s)),
        // Some models split the understanding into sentences.
        Value::Array(items) if items.iter().all(|v| v.is_string() || v.is_null()) => {
            let parts: Vec<&str> = items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            Ok(clean(&parts.join(" ")))
        }
        other => Err(invalid(
            "current_understanding",
            format!("expected a string, got {}", type_name(other)),
        )),
    }
}

/// The first non-null value under any of `keys` (normalized), in priority order.
fn lookup<'v>(obj: &'v Map<String, Value>, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().find_map(|want| {
        obj.iter()
            .find(|(k, v)| normalize_key(k) == *want && !v.is_null())
            .map(|(_, v)| v)
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => clean(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => clean(&other.to_string()),
    }
}

fn insight(item: &Value, index: usize) -> Result<Option<InsightInput>, SynthesisParseError> {
    let field = format!("insights[{index}]");
    let Value::Object(obj) = item else {
        if item.is_array() {
            return Err(invalid(field, "expected a string or an object, got a list"));
        }
        return Ok(scalar_text(item).map(|text| InsightInput {
            text,
            confidence: None,
            source_step: None,
            supported_by_evidence: None,
        }));
    };
    let Some(text) =
        lookup(obj, &["insight", "text", "content", "description"]).and_then(scalar_text)
    else {
        // Refusing beats silently dropping: the model meant to record something here.
        return Err(invalid(
            field,
            "object has no `insight`, `text` or `content`",
        ));
    };
    let confidence = match lookup(obj, &["confidence", "confidencescore"]) {
        Some(v) => unit_score(v, &format!("{field}.confidence"))?,
        None => None,
    };
    let source_step = match lookup(obj, &["sourcestep", "step"]) {
        Some(v) => Some(step_number(v, &format!("{field}.source_step"))?),
        None => None,
    };
    let supported_by_evidence = match lookup(obj, &["supportedbyevidence", "supported"]) {
        Some(v) => Some(boolean(v, &format!("{field}.supported_by_evidence"))?),
        None => None,
    };
    Ok(Some(InsightInput {
        text,
        confidence,
        source_step,
        supported_by_evidence,
    }))
}

fn action_item(item: &Value, index: usize) -> Result<Option<ActionItemInput>, SynthesisParseError> {
    let field = format!("action_items[{index}]");
    let Value::Object(obj) = item else {
        if item.is_array() {
            return Err(invalid(field, "expected a string or an object, got a list"));
        }
        return Ok(scalar_text(item).map(|action| ActionItemInput {
            action,
            priority: ActionPriority::Medium,
            rationale: None,
            dependencies: Vec::new(),
        }));
    };
    let Some(action) =
        lookup(obj, &["action", "text", "content", "task", "description"]).and_then(scalar_text)
    else {
        return Err(invalid(field, "object has no `action` or `text`"));
    };
    let priority = match lookup(obj, &["priority"]) {
        Some(Value::String(s)) => ActionPriority::lenient(s),
        _ => ActionPriority::Medium,
    };
    let rationale = lookup(obj, &["rationale", "reason", "why"]).and_then(scalar_text);
    let dependencies = lookup(obj, &["dependencies", "dependson", "deps"])
        .map(|v| as_items(v).filter_map(loose_text).collect())
        .unwrap_or_default();
    Ok(Some(ActionItemInput {
        action,
        priority,
        rationale,
        dependencies,
    }))
}

/// For plain string lists: objects contribute their text, or their JSON if they have none, so
/// nothing the model wrote disappears.
fn loose_text(v: &Value) -> Option<String> {
    match v {
        Value::Object(obj) => match lookup(
            obj,
            &[
                "text",
                "content",
                "description",
                "recommendation",
                "constraint",
                "factor",
            ],
        ) {
            Some(t) => scalar_text(t),
            None => scalar_text(v),
        },
        other => scalar_text(other),
    }
}

/// A 0..=1 score. Values in (1, 100] and "NN%" strings are read as percentages, "8/10" as a
/// fraction; everything else out of range is an error naming the field.
fn unit_score(value: &Value, field: &str) -> Result<Option<f64>, SynthesisParseError> {
    let (x, percent) = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(x) => (x, false),
            None => return Err(invalid(field, "not a representable number")),
        },
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let not_number = || {
                invalid(
                    field,
                    format!("expected a number between 0 and 1, got {s:?}"),
                )
            };
            if let Some(p) = s.strip_suffix('%') {
                (p.trim().parse::<f64>().map_err(|_| not_number())?, true)
            } else if let Some((num, den)) = s.split_once('/') {
                let num: f64 = num.trim().parse().map_err(|_| not_number())?;
                let den: f64 = den.trim().parse().map_err(|_| not_number())?;
                if den.is_nan() || den <= 0.0 || !num.is_finite() || !den.is_finite() {
                    return Err(not_number());
                }
                let x = num / den;
                if !(0.0..=1.0).contains(&x) {
                    return Err(invalid(field, format!("must be within 0..=1, got {s}")));
                }
                return Ok(Some(x));
            } else {
                (s.parse::<f64>().map_err(|_| not_number())?, false)
            }
        }
        other => {
            return Err(invalid(
                field,
                format!(
                    "expected a number between 0 and 1, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    if !x.is_finite() {
        return Err(invalid(field, "must be a finite number"));
    }
    let scaled = if percent || x > 1.0 { x / 100.0 } else { x };
    if !(0.0..=1.0).contains(&scaled) {
        return Err(invalid(
            field,
            format!(
                "must be within 0..=1 (or a percentage up to 100), got {x}{}",
                if percent { "%" } else { "" }
            ),
        ));
    }
    Ok(Some(scaled))
}

fn step_number(value: &Value, field: &str) -> Result<i32, SynthesisParseError> {
    let x = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_start_matches('#').parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.fract() == 0.0 && x >= f64::from(i32::MIN) && x <= f64::from(i32::MAX) => {
            Ok(x as i32)
        }
        _ => Err(invalid(
            field,
            format!("expected a step number, got {value}"),
        )),
    }
}

fn boolean(value: &Value, field: &str) -> Result<bool, SynthesisParseError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" => Ok(true),
            "false" | "no" | "n" => Ok(false),
            _ => Err(invalid(field, format!("expected true or false, got {s:?}"))),
        },
        other => Err(invalid(
            field,
            format!("expected true or false, got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SynthesisUpdate {
        match parse_update(text) {
            Ok(u) => u,
            Err(e) => panic!("parse failed: {e}\n--- input ---\n{text}"),
        }
    }

    fn texts(u: &SynthesisUpdate) -> Vec<&str> {
        u.insights.iter().map(|i| i.text.as_str()).collect()
    }

    fn field_of(err: SynthesisParseError) -> String {
        match err {
            SynthesisParseError::InvalidField { field, .. } => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    fn malformed_offset(err: SynthesisParseError) -> usize {
        match err {
            SynthesisParseError::Malformed { offset, .. } => offset,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn json_call() {
        let u = parse(
            r#"Here is my answer.

update_synthesis({"current_understanding": "The bug is in the cache.",
  "key_insights": [
    {"insight": "TTL is never refreshed", "confidence": 0.9, "source_step": 3, "supported_by_evidence": true},
    "Eviction runs too late"
  ],
  "action_items": [{"action": "Refresh TTL on read", "priority": "high", "rationale": "stale reads", "dependencies": ["step 3"]}],
  "confidence_score": 0.8, "clarity_score": 0.7,
  "recommendations": ["add a metric"], "context_factors": ["prod only"], "constraints": ["no downtime"]})"#,
        );
        assert_eq!(
            u.current_understanding.as_deref(),
            Some("The bug is in the cache.")
        );
        assert_eq!(
            u.insights,
            vec![
                InsightInput {
                    text: "TTL is never refreshed".into(),
                    confidence: Some(0.9),
                    source_step: Some(3),
                    supported_by_evidence: Some(true),
                },
                InsightInput {
                    text: "Eviction runs too late".into(),
                    confidence: None,
                    source_step: None,
                    supported_by_evidence: None,
                },
            ]
        );
        assert_eq!(
            u.action_items,
            vec![ActionItemInput {
                action: "Refresh TTL on read".into(),
                priority: ActionPriority::High,
                rationale: Some("stale reads".into()),
                dependencies: vec!["step 3".into()],
            }]
        );
        assert_eq!((u.confidence, u.clarity), (Some(0.8), Some(0.7)));
        assert_eq!(u.recommendations, vec!["add a metric"]);
        assert_eq!(u.context_factors, vec!["prod only"]);
        assert_eq!(u.constraints, vec!["no downtime"]);
    }

    #[test]
    fn python_kwargs_call() {
        let u = parse(
            "Done.\nupdate_synthesis(Understanding=\"The bug is in X.\", Insights=[\"a\", \"b\"], \
             Actions=[\"fix X\"], Confidence=0.8, Clarity=0.7)",
        );
        assert_eq!(u.current_understanding.as_deref(), Some("The bug is in X."));
        assert_eq!(texts(&u), ["a", "b"]);
        assert_eq!(u.action_items[0].action, "fix X");
        assert_eq!(u.action_items[0].priority, ActionPriority::Medium);
        assert_eq!((u.confidence, u.clarity), (Some(0.8), Some(0.7)));
    }

    #[test]
    fn bare_json_object_in_prose() {
        let u = parse(
            "I think the set {a, b} matters. Final state:\n```json\n{\"understanding\": \"Done\", \
             \"insights\": [\"one\"], \"confidence\": 0.5}\n```\nThanks!",
        );
        assert_eq!(u.current_understanding.as_deref(), Some("Done"));
        assert_eq!(texts(&u), ["one"]);
        assert_eq!(u.confidence, Some(0.5));
    }

    #[test]
    fn bare_object_takes_outermost_and_last() {
        let text = r#"Old: {"understanding": "old"} New: {"understanding": "new", "key_insights": [{"insight": "inner", "confidence": 0.4}]}"#;
        let u = parse(text);
        assert_eq!(u.current_understanding.as_deref(), Some("new"));
        assert_eq!(u.insights[0].confidence, Some(0.4));
    }

    #[test]
    fn aliases_in_every_format() {
        let variants = [
            r#"update_synthesis({"currentUnderstanding": "U", "keyInsights": ["I"], "nextSteps": ["A"], "ConfidenceScore": 0.5, "clarity_score": 0.6})"#,
            r#"update_synthesis(current_understanding="U", key_insights=["I"], action_items=["A"], confidence_score=0.5, CLARITY=0.6)"#,
            r#"update_synthesis(CurrentUnderstanding='U', KeyInsights=['I'], NextSteps=['A'], Confidence=0.5, ClarityScore=0.6)"#,
            r#"{"Current Understanding": "U", "Key Insights": ["I"], "Actions": ["A"], "confidence": 0.5, "Clarity": 0.6}"#,
        ];
        for text in variants {
            let u = parse(text);
            assert_eq!(u.current_understanding.as_deref(), Some("U"), "{text}");
            assert_eq!(texts(&u), ["I"], "{text}");
            assert_eq!(u.action_items.len(), 1, "{text}");
            assert_eq!((u.confidence, u.clarity), (Some(0.5), Some(0.6)), "{text}");
        }
    }

    #[test]
    fn single_quotes_and_escapes() {
        let u = parse(
            r#"update_synthesis(Understanding='It\'s "quoted"\nand \u00fcber \ud83d\ude80', Insights=['tab\there', "back\\slash", r'raw\n', '''triple 'q' '''])"#,
        );
        assert_eq!(
            u.current_understanding.as_deref(),
            Some("It's \"quoted\"\nand über 🚀")
        );
        assert_eq!(
            texts(&u),
            ["tab\there", "back\\slash", "raw\\n", "triple 'q'"]
        );
    }

    #[test]
    fn nested_dicts_with_bare_and_quoted_keys() {
        let u = parse(
            r#"update_synthesis(
                Insights=[{insight: "a", 'confidence': 0.3, "supported_by_evidence": "yes", step: "4"},
                          {'text': 'b', "sourceStep": 2.0, meta: {"deep": [1, {"x": None}]}}],
                Actions=[{"action": "do", "priority": "HIGH", "dependencies": ["x", 2]},
                         {"text": "later", "priority": "Low"},
                         {"task": "whenever", "priority": "urgent-ish"},
                         {"action": "n/a", "priority": None}],
            )"#,
        );
        assert_eq!(texts(&u), ["a", "b"]);
        assert_eq!(u.insights[0].confidence, Some(0.3));
        assert_eq!(u.insights[0].supported_by_evidence, Some(true));
        assert_eq!(u.insights[0].source_step, Some(4));
        assert_eq!(u.insights[1].source_step, Some(2));
        let priorities: Vec<_> = u.action_items.iter().map(|a| a.priority).collect();
        assert_eq!(
            priorities,
            [
                ActionPriority::High,
                ActionPriority::Low,
                ActionPriority::Medium,
                ActionPriority::Medium
            ]
        );
        assert_eq!(u.action_items[0].dependencies, vec!["x", "2"]);
    }

    #[test]
    fn trailing_commas_comments_and_whitespace() {
        let u = parse(
            "update_synthesis (\n\tUnderstanding = \"U\" ,  # the gist\n  Insights = [ \"a\" , \"b\" , ] ,\n  \
             Confidence = 0.9 , // sure\n)",
        );
        assert_eq!(texts(&u), ["a", "b"]);
        assert_eq!(u.confidence, Some(0.9));
        let u = parse(r#"update_synthesis({"insights": ["a",], "clarity": 0.2,},)"#);
        assert_eq!((texts(&u), u.clarity), (vec!["a"], Some(0.2)));
    }

    #[test]
    fn last_complete_call_wins() {
        let text = r#"Example: update_synthesis(Understanding="first", Insights=["x"])
            Real one: update_synthesis(Understanding="second", Insights=["y", "z"])"#;
        let u = parse(text);
        assert_eq!(u.current_understanding.as_deref(), Some("second"));
        assert_eq!(texts(&u), ["y", "z"]);

        // A truncated final call falls back to the last complete one.
        let text = r#"update_synthesis(Understanding="complete")
            update_synthesis(Understanding="cut off", Insights=["#;
        assert_eq!(
            parse(text).current_understanding.as_deref(),
            Some("complete")
        );
    }

    #[test]
    fn broken_final_call_is_reported_not_skipped() {
        let text = r#"Example {"understanding": "example"} update_synthesis(Understanding="ok")
            update_synthesis(Understanding="final" Insights=["a"])"#;
        let offset = malformed_offset(parse_update(text).unwrap_err());
        assert_eq!(&text[offset..offset + 8], "Insights");
    }

    #[test]
    fn closing_characters_inside_strings() {
        let u = parse(
            r#"update_synthesis(Understanding="f(x) = {y}) ]", Insights=['a)b', "c}d", "e\")"])"#,
        );
        assert_eq!(u.current_understanding.as_deref(), Some("f(x) = {y}) ]"));
        assert_eq!(texts(&u), ["a)b", "c}d", "e\")"]);
        let u = parse(
            r#"Result: {"understanding": "uses } and { and \" inside", "insights": ["{", "}"]} end"#,
        );
        assert_eq!(
            u.current_understanding.as_deref(),
            Some("uses } and { and \" inside")
        );
        assert_eq!(texts(&u), ["{", "}"]);
    }

    #[test]
    fn non_ascii_text() {
        let u = parse(
            "Zusammenfassung: Größe ändert sich.\u{a0}update_synthesis(Understanding=\"Der Fehler liegt in der Größenberechnung.\", \
             Insights=[\"キャッシュが古い\", \"🚀 emoji insight 👩‍💻\", 'naïve café'],\u{3000}Confidence=0.75)",
        );
        assert_eq!(
            u.current_understanding.as_deref(),
            Some("Der Fehler liegt in der Größenberechnung.")
        );
        assert_eq!(
            texts(&u),
            ["キャッシュが古い", "🚀 emoji insight 👩‍💻", "naïve café"]
        );
        let u = parse("日本語のテキスト {\"理解\": 1, \"insights\": [\"日本\"]} 🎉");
        assert_eq!(texts(&u), ["日本"]);
        // A non-ASCII bare word is an error at a char boundary, not a panic.
        let text = "update_synthesis(Understanding=ü)";
        let offset = malformed_offset(parse_update(text).unwrap_err());
        assert!(text.is_char_boundary(offset));
    }

    #[test]
    fn percentages_and_fractions() {
        for (raw, want) in [
            ("80", 0.8),
            ("\"80%\"", 0.8),
            ("80%", 0.8),
            ("'8/10'", 0.8),
            ("1", 1.0),
            ("0", 0.0),
            ("\" 0.25 \"", 0.25),
            ("100", 1.0),
            ("\"0.5%\"", 0.005),
        ] {
            let u = parse(&format!(
                "update_synthesis(Understanding='u', Confidence={raw}, Clarity={raw})"
            ));
            assert_eq!(u.confidence, Some(want), "{raw}");
            assert_eq!(u.clarity, Some(want), "{raw}");
        }
        let u = parse(r#"update_synthesis(Insights=[{"text": "t", "confidence": 90}])"#);
        assert_eq!(u.insights[0].confidence, Some(0.9));
    }

    #[test]
    fn out_of_range_scores_name_the_field() {
        let cases = [
            ("Confidence=150", "confidence"),
            ("Clarity=-0.1", "clarity"),
            ("Confidence='120%'", "confidence"),
            ("Confidence='high'", "confidence"),
            ("Confidence=True", "confidence"),
            ("Clarity='9/5'", "clarity"),
            (
                "Insights=[{'text': 't', 'confidence': 101}]",
                "insights[0].confidence",
            ),
            (
                "Insights=['ok', {'text': 't', 'confidence': 'NaN'}]",
                "insights[1].confidence",
            ),
            (
                "Insights=[{'text': 't', 'source_step': 1.5}]",
                "insights[0].source_step",
            ),
            (
                "Insights=[{'text': 't', 'supported_by_evidence': 'maybe'}]",
                "insights[0].supported_by_evidence",
            ),
        ];
        for (args, field) in cases {
            let err =
                parse_update(&format!("update_synthesis(Understanding='u', {args})")).unwrap_err();
            assert_eq!(field_of(err), field, "{args}");
        }
    }

    #[test]
    fn non_finite_scores_are_rejected() {
        for raw in [
            "NaN", "nan", "'NaN'", "Infinity", "-inf", "1e400", "\"inf\"",
        ] {
            let err = parse_update(&format!(
                "update_synthesis(Understanding='u', Confidence={raw})"
            ))
            .unwrap_err();
            assert_eq!(field_of(err), "confidence", "{raw}");
        }
        let err = parse_update(r#"{"understanding": "u", "clarity": NaN}"#).unwrap_err();
        assert_eq!(field_of(err), "clarity");
        // A function call is not a literal.
        assert!(matches!(
            parse_update("update_synthesis(Understanding='u', Confidence=float('nan'))"),
            Err(SynthesisParseError::Malformed { .. })
        ));
    }

    #[test]
    fn no_update() {
        for text in [
            "",
            "Just an answer, no synthesis.",
            "I will call update_synthesis later.",
            "Set notation {a, b} and a dict {\"other\": 1} and code fn() { x }",
            "{\"name\": \"unrelated\", \"value\": [1, 2]}",
        ] {
            assert_eq!(
                parse_update(text),
                Err(SynthesisParseError::NoUpdate),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_reports_offset() {
        let text = "Answer.\nupdate_synthesis(Understanding=\"ok\", Insights=[\"a\" \"b\"])";
        let offset = malformed_offset(parse_update(text).unwrap_err());
        assert_eq!(&text[offset..offset + 3], "\"b\"");

        let text = "update_synthesis(Understanding=\"never closed";
        assert_eq!(
            malformed_offset(parse_update(text).unwrap_err()),
            text.len()
        );

        let text = "update_synthesis(Understanding=bare words)";
        let offset = malformed_offset(parse_update(text).unwrap_err());
        assert_eq!(&text[offset..offset + 4], "bare");

        let text = "Final: {\"current_understanding\": \"x\", \"key_insights\": [\"a\",, ]}";
        let offset = malformed_offset(parse_update(text).unwrap_err());
        assert_eq!(&text[offset..offset + 1], ",");

        let err = parse_update("update_synthesis(Understanding='u', 42)").unwrap_err();
        assert!(
            matches!(err, SynthesisParseError::Malformed { offset: 36, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn broken_call_does_not_fall_back_to_its_own_first_half() {
        // Recovering `{"insights": ["a"]}` alone would silently drop "b" and "c".
        let text = r#"update_synthesis({"insights": ["a"]}, Insights=["b" "c"])"#;
        assert!(matches!(
            parse_update(text),
            Err(SynthesisParseError::Malformed { .. })
        ));
        // But a placeholder call in prose followed by the object is fine.
        let u = parse(r#"I now call update_synthesis(...) with: {"insights": ["a"]}"#);
        assert_eq!(texts(&u), ["a"]);
        let u = parse(r#"Calling update_synthesis() with {"insights": ["a"]}"#);
        assert_eq!(texts(&u), ["a"]);
    }

    #[test]
    fn truncated_call_recovers_inner_object() {
        let u = parse(r#"update_synthesis({"understanding": "u", "insights": ["a"]}"#);
        assert_eq!(texts(&u), ["a"]);
    }

    #[test]
    fn empty_updates() {
        for text in [
            "update_synthesis()",
            "update_synthesis( )",
            "update_synthesis({})",
            "update_synthesis(Understanding=None, Insights=[], Confidence=None)",
            "update_synthesis(Understanding='   ', Insights=['', '  '])",
            "update_synthesis(unknown_key='x')",
            r#"{"understanding": null, "insights": []}"#,
        ] {
            assert_eq!(
                parse_update(text),
                Err(SynthesisParseError::Empty),
                "{text}"
            );
        }
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        for text in [
            format!("update_synthesis(Insights={deep})"),
            format!("update_synthesis({})", "{\"a\":".repeat(50_000)),
            "{".repeat(100_000),
            format!("{{\"insights\": {deep}"),
            "update_synthesis(".repeat(20_000),
            "update_synthesis(\"".repeat(20_000),
            format!("{{\"understanding\": \"{}", "{".repeat(100_000)),
        ] {
            assert!(parse_update(&text).is_err());
        }
        let err = parse_update(&format!("update_synthesis(Insights={deep})")).unwrap_err();
        assert!(
            matches!(&err, SynthesisParseError::Malformed { reason, .. } if reason.contains("nesting")),
            "{err:?}"
        );
        // Nesting below the limit is fine.
        let ok = format!(
            "update_synthesis(Understanding='u', Extra={}1{})",
            "[".repeat(60),
            "]".repeat(60)
        );
        assert!(parse_update(&ok).is_ok());
    }

    #[test]
    fn never_loses_insights() {
        let many: Vec<String> = (0..200).map(|i| format!("\"insight {i}\"")).collect();
        let u = parse(&format!("update_synthesis(Insights=[{}])", many.join(", ")));
        assert_eq!(u.insights.len(), 200);
        assert_eq!(u.insights[199].text, "insight 199");
        // Duplicate keys and aliases are concatenated, not overwritten.
        let u = parse(r#"{"insights": ["a", "b"], "insights": ["c"], "key_insights": ["d"]}"#);
        let mut got = texts(&u);
        got.sort_unstable();
        assert_eq!(got, ["a", "b", "c", "d"]);
        let u = parse(r#"update_synthesis({"insights": ["a"]}, Insights=["b"])"#);
        assert_eq!(texts(&u), ["a", "b"]);
        // A single string is one insight; an object without text is an error, not a silent drop.
        assert_eq!(texts(&parse("update_synthesis(Insights='solo')")), ["solo"]);
        let err =
            parse_update(r#"update_synthesis(Insights=["a", {"confidence": 0.5}])"#).unwrap_err();
        assert_eq!(field_of(err), "insights[1]");
    }

    #[test]
    fn string_argument_and_wrappers() {
        let u = parse(r#"update_synthesis('{"current_understanding": "U", "insights": ["i"]}')"#);
        assert_eq!(
            (u.current_understanding.as_deref(), texts(&u)),
            (Some("U"), vec!["i"])
        );
        let u = parse("update_synthesis(\"Plain sentence.\", Confidence=0.4)");
        assert_eq!(u.current_understanding.as_deref(), Some("Plain sentence."));
        let u = parse(r#"{"name": "update_synthesis", "arguments": {"understanding": "U"}}"#);
        assert_eq!(u.current_understanding.as_deref(), Some("U"));
        let u = parse(r#"update_synthesis({"synthesis": {"insights": ["w"]}})"#);
        assert_eq!(texts(&u), ["w"]);
        assert!(matches!(
            parse_update(r#"update_synthesis('{"insights": [}')"#),
            Err(SynthesisParseError::Malformed { offset: 17, .. })
        ));
    }

    #[test]
    fn string_lists_keep_everything() {
        let u = parse(
            r#"update_synthesis(Recommendations=["r1", {"text": "r2"}, {"other": 1}, 3], Constraints="one", context_factors=[None, "cf"])"#,
        );
        assert_eq!(u.recommendations, vec!["r1", "r2", "{\"other\":1}", "3"]);
        assert_eq!(u.constraints, vec!["one"]);
        assert_eq!(u.context_factors, vec!["cf"]);
    }

    #[test]
    fn to_json_is_canonical_and_round_trips() {
        let u = parse(
            r#"update_synthesis(Understanding="U", Insights=[{"insight": "i", "confidence": 0.5}], Actions=[{"action": "a", "priority": "low"}], Confidence=0.1)"#,
        );
        let v = u.to_json();
        assert_eq!(
            v,
            json!({
                "current_understanding": "U",
                "insights": [{"text": "i", "confidence": 0.5, "source_step": null, "supported_by_evidence": null}],
                "action_items": [{"action": "a", "priority": "low", "rationale": null, "dependencies": []}],
                "confidence": 0.1,
                "clarity": null,
                "recommendations": [],
                "context_factors": [],
                "constraints": [],
            })
        );
        let back: SynthesisUpdate = serde_json::from_value(v).unwrap();
        assert_eq!(back, u);
        let minimal: SynthesisUpdate = serde_json::from_value(
            json!({"insights": [{"text": "x"}], "action_items": [{"action": "y"}]}),
        )
        .unwrap();
        assert_eq!(minimal.action_items[0].priority, ActionPriority::Medium);
        assert_eq!(minimal.validate(), Ok(()));
    }

    #[test]
    fn validate_structured_updates() {
        let ok = SynthesisUpdate {
            current_understanding: Some("U".into()),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            SynthesisUpdate::default().validate(),
            Err(SynthesisParseError::Empty)
        );
        let insight = InsightInput {
            text: "t".into(),
            confidence: Some(-1.0),
            source_step: None,
            supported_by_evidence: None,
        };
        let action = ActionItemInput {
            action: "a".into(),
            priority: ActionPriority::Low,
            rationale: None,
            dependencies: vec![String::new()],
        };
        let cases = [
            (
                SynthesisUpdate {
                    confidence: Some(f64::NAN),
                    ..ok.clone()
                },
                "confidence",
            ),
            (
                SynthesisUpdate {
                    clarity: Some(1.5),
                    ..ok.clone()
                },
                "clarity",
            ),
            (
                SynthesisUpdate {
                    current_understanding: Some("  ".into()),
                    ..ok.clone()
                },
                "current_understanding",
            ),
            (
                SynthesisUpdate {
                    current_understanding: Some("x".repeat(MAX_TEXT_BYTES + 1)),
                    ..ok.clone()
                },
                "current_understanding",
            ),
            (
                SynthesisUpdate {
                    constraints: vec!["a\0b".into()],
                    ..ok.clone()
                },
                "constraints[0]",
            ),
            (
                SynthesisUpdate {
                    insights: vec![insight],
                    ..ok.clone()
                },
                "insights[0].confidence",
            ),
            (
                SynthesisUpdate {
                    action_items: vec![action],
                    ..ok.clone()
                },
                "action_items[0].dependencies[0]",
            ),
        ];
        for (update, field) in cases {
            assert_eq!(field_of(update.validate().unwrap_err()), field);
        }
        // The parser applies the same size limit.
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        let err = parse_update(&format!("update_synthesis(Understanding='{big}')")).unwrap_err();
        assert_eq!(field_of(err), "current_understanding");
    }

    #[test]
    fn priority_api() {
        assert_eq!("HIGH".parse::<ActionPriority>(), Ok(ActionPriority::High));
        assert_eq!(
            " Medium ".parse::<ActionPriority>(),
            Ok(ActionPriority::Medium)
        );
        assert!("urgent".parse::<ActionPriority>().is_err());
        assert_eq!(ActionPriority::Low.as_str(), "low");
        assert_eq!(
            serde_json::to_value(ActionPriority::High).unwrap(),
            json!("high")
        );
        assert_eq!(
            serde_json::from_value::<ActionPriority>(json!("low")).unwrap(),
            ActionPriority::Low
        );
    }

    #[test]
    fn case_insensitive_call_name_and_identifier_boundary() {
        assert!(parse_update("Update_Synthesis(Understanding='u')").is_ok());
        assert!(parse_update("lux.update_synthesis(Understanding='u')").is_ok());
        assert_eq!(
            parse_update("my_update_synthesis(Understanding='u')"),
            Err(SynthesisParseError::NoUpdate)
        );
    }

    /// Xorshift over char-level mutations of valid inputs: whatever the result, no panic, and any
    /// success is a valid update.
    #[test]
    fn fuzz_mutations_never_panic() {
        let seeds = [
            r#"update_synthesis(Understanding="The bug is in X.", Insights=["a", 'b\'c', {"insight": "d", "confidence": 0.5}], Actions=[{"action": "fix", "priority": "High", "dependencies": ["x"]}], Confidence=80%, Clarity=0.7,)"#,
            r#"Text before. update_synthesis({"current_understanding": "Größe 日本 🚀", "key_insights": ["\u00e9\ud83d\ude00"], "confidence_score": "80%"}) after"#,
            "```json\n{\"understanding\": \"u\", \"insights\": [{\"text\": \"t\", \"source_step\": 3, \
             \"supported_by_evidence\": true}], \"constraints\": [\"c\"]}\n```",
            "update_synthesis(Understanding='''multi\nline''', # comment\n Insights=('x', \"y\"), Clarity=NaN)",
        ];
        let alphabet: Vec<char> =
            "\"'{}[]()\\,:=#%/*.-+0123456789eEnNuxTFabc \n\tü日🚀update_synthesis"
                .chars()
                .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut pick = |n: usize| (next() % n.max(1) as u64) as usize;
        for _ in 0..5000 {
            let mut chars: Vec<char> = seeds[pick(seeds.len())].chars().collect();
            for _ in 0..=pick(4) {
                let at = pick(chars.len());
                match pick(5) {
                    0 if !chars.is_empty() => {
                        let end = (at + 1 + pick(8)).min(chars.len());
                        chars.drain(at..end);
                    }
                    1 => chars.insert(at, alphabet[pick(alphabet.len())]),
                    2 => chars.truncate(at),
                    3 if !chars.is_empty() => {
                        let end = (at + 1 + pick(16)).min(chars.len());
                        let copy: Vec<char> = chars[at..end].to_vec();
                        let to = pick(chars.len() + 1);
                        chars.splice(to..to, copy);
                    }
                    _ if !chars.is_empty() => chars[at] = alphabet[pick(alphabet.len())],
                    _ => {}
                }
            }
            let text: String = chars.into_iter().collect();
            match parse_update(&text) {
                Ok(u) => {
                    assert_eq!(u.validate(), Ok(()), "{text}");
                    let _ = u.to_json();
                }
                Err(SynthesisParseError::Malformed { offset, .. }) => {
                    assert!(
                        offset <= text.len() && text.is_char_boundary(offset),
                        "{text}"
                    );
                }
                Err(_) => {}
            }
        }
    }
}
