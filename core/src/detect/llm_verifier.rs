//! The LLM verifier: asks a model, through [`crate::llm::LlmClient`], for a JSON verdict on one
//! step, and parses whatever comes back tolerantly (code fences, prose around the JSON, key and
//! value variants). The original server read free text and took any "yes" as a bias; this one
//! only reports what the model names, with a quote it can locate in the step.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::text::truncate;
use super::{BiasDetector, Detection, DetectorError, DetectorInput};
use crate::domain::{Severity, Span};
use crate::llm::{ChatMessage, ChatRequest, LlmClient};

pub const LLM_VERIFIER_NAME: &str = "lux.llm_verifier";
pub const LLM_VERIFIER_VERSION: &str = "1.1.0";

/// The bias types the verifier is asked about (those of the original `biased_reasoning`).
pub const VERIFIED_BIAS_TYPES: &[&str] = &[
    "confirmation",
    "anchoring",
    "availability",
    "reasoning_error",
    "over_generalization",
    "false_equivalence",
    "circular_reasoning",
    "hasty_conclusion",
    "false_dichotomy",
    "sunk_cost",
];

#[derive(Debug, Clone)]
pub struct LlmVerifier {
    client: Arc<dyn LlmClient>,
    /// `None` uses the client's default model.
    pub model: Option<String>,
    /// Longest step text sent; longer steps are cut (and the cut is said in the prompt).
    pub max_step_chars: usize,
    /// Earlier steps quoted as context, most recent last.
    pub context_steps: usize,
}

impl LlmVerifier {
    pub fn new(client: Arc<dyn LlmClient>) -> Self {
        LlmVerifier {
            client,
            model: None,
            max_step_chars: 12_000,
            context_steps: 4,
        }
    }

    fn prompt(&self, input: &DetectorInput, focus: &[&str]) -> Vec<ChatMessage> {
        let mut system = format!(
            "You check one step of a reasoning session for cognitive biases. Answer with JSON only: \
             {{\"biases\": [{{\"bias_type\": one of {types}, \"severity\": \"low\"|\"medium\"|\"high\"|\"critical\", \
             \"confidence\": 0..1, \"explanation\": \"why\", \"evidence\": \"an exact quote from the step\", \
             \"suggestion\": \"how to fix it\"}}]}}. Use an empty list when the step is sound. \
             Judge only the step under review; earlier steps are context.",
            types = VERIFIED_BIAS_TYPES.join("|")
        );
        if !focus.is_empty() {
            system.push_str(&format!(
                " A detector suspects {}; confirm only what the step really shows.",
                focus.join(", ")
            ));
        }
        let mut user = String::new();
        if let Some(synthesis) = &input.synthesis
            && let Some(understanding) = &synthesis.current_understanding
        {
            user.push_str("Current understanding: ");
            user.push_str(truncate(understanding, 1000));
            user.push_str("\n\n");
        }
        let skip = input.previous.len().saturating_sub(self.context_steps);
        for step in input.previous.iter().skip(skip) {
            user.push_str(&format!(
                "Earlier step {}: {}\n",
                step.step_number,
                truncate(&step.content, 1500)
            ));
        }
        let content = truncate(&input.step.content, self.max_step_chars);
        user.push_str("\nStep under review");
        if content.len() < input.step.content.len() {
            user.push_str(" (cut short)");
        }
        user.push_str(":\n");
        user.push_str(content);
        vec![ChatMessage::system(system), ChatMessage::user(user)]
    }
}

#[async_trait]
impl BiasDetector for LlmVerifier {
    fn name(&self) -> &str {
        LLM_VERIFIER_NAME
    }

    fn version(&self) -> &str {
        LLM_VERIFIER_VERSION
    }

    fn bias_types(&self) -> Vec<String> {
        VERIFIED_BIAS_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect()
    }

    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        self.verify(input, &[]).await
    }
}

impl LlmVerifier {
    /// Asks for a verdict on one step, pointing the model at the `focus` bias types when a
    /// detector suspects them (the learned detectors' mid-confidence candidates).
    pub async fn verify(
        &self,
        input: &DetectorInput,
        focus: &[&str],
    ) -> Result<Vec<Detection>, DetectorError> {
        if input.step.content.trim().is_empty() {
            return Ok(Vec::new());
        }
        let request = ChatRequest {
            model: self.model.clone(),
            messages: self.prompt(input, focus),
            temperature: Some(0.0),
            max_tokens: Some(800),
            json_mode: true,
        };
        let response = self
            .client
            .chat(&request)
            .await
            .map_err(|error| DetectorError::new(error.to_string()))?;
        parse_verdict(&response.text, &input.step.content)
    }
}

/// Reads a verdict from model output: the first JSON value that parses, from inside code fences
/// or surrounding prose. Every shape models were seen to answer in is read:
/// `{"biases": [{…}]}` (and `findings`, `biases_found`, `detected_biases`, `results`, `issues`), a
/// bare list, a single finding object, a list of bias names (`{"bias_types": ["anchoring"]}`,
/// `["anchoring"]`), and the original Lux's flat verdict `{"has_bias": true, "bias_types": […],
/// "severity": …, "confidence": …, "explanation": …}` whose top-level fields apply to every named
/// bias. A flag (`has_bias`, `bias_detected`, `biased`, `detected`) that says false means none; one
/// that says true without naming a bias gives one `unspecified` finding rather than none. An answer
/// with no JSON at all is an error (recorded as a detector failure), not a silent "no bias".
pub fn parse_verdict(answer: &str, step: &str) -> Result<Vec<Detection>, DetectorError> {
    let value = first_json_value(answer)
        .ok_or_else(|| DetectorError::new("the model's answer holds no JSON verdict"))?;
    let empty = serde_json::Map::new();
    let (items, defaults): (Vec<Value>, &serde_json::Map<String, Value>) = match &value {
        Value::Array(items) => (items.clone(), &empty),
        Value::Object(object) => {
            let flag = ["has_bias", "bias_detected", "biased", "detected"]
                .iter()
                .find_map(|key| object.get(*key).and_then(truthy));
            if flag == Some(false) {
                return Ok(Vec::new());
            }
            let listed = [
                "biases",
                "findings",
                "biases_found",
                "detected_biases",
                "bias_types",
                "results",
                "issues",
            ]
            .iter()
            .find_map(|key| object.get(*key));
            match listed {
                Some(Value::Array(items)) if !items.is_empty() => (items.clone(), object),
                _ if ["bias_type", "type", "bias"]
                    .iter()
                    .any(|key| object.get(*key).is_some_and(Value::is_string)) =>
                {
                    (vec![value.clone()], &empty)
                }
                _ if flag == Some(true) => (vec![Value::String("unspecified".into())], object),
                _ => (Vec::new(), &empty),
            }
        }
        _ => {
            return Err(DetectorError::new(
                "the verdict is neither an object nor a list",
            ));
        }
    };
    Ok(items
        .iter()
        .filter_map(|item| match item {
            Value::Object(fields) => detection(fields, defaults, step),
            Value::String(name) => {
                let mut fields = serde_json::Map::new();
                fields.insert("bias_type".into(), Value::String(name.clone()));
                detection(&fields, defaults, step)
            }
            _ => None,
        })
        .collect())
}

/// A boolean the way models write one: `true`, `"true"`, `"yes"`, `1`.
fn truthy(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        Value::String(text) => match text.trim().to_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" | "none" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One finding from its own fields, falling back to the verdict's top-level ones.
fn detection(
    item: &serde_json::Map<String, Value>,
    defaults: &serde_json::Map<String, Value>,
    step: &str,
) -> Option<Detection> {
    let field = |key: &str| item.get(key).or_else(|| defaults.get(key));
    let text_of = |keys: &[&str]| {
        keys.iter()
            .find_map(|key| field(key).and_then(Value::as_str))
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let bias_type = normalise_bias_type(
        ["bias_type", "type", "bias", "name"]
            .iter()
            .find_map(|key| item.get(*key).and_then(Value::as_str))?,
    )?;
    let severity = match field("severity") {
        Some(Value::String(text)) => text
            .trim()
            .to_lowercase()
            .parse()
            .unwrap_or(Severity::Medium),
        Some(Value::Number(n)) => match n.as_f64().unwrap_or(0.5) {
            x if x <= 0.0 => Severity::None,
            x if x < 0.35 => Severity::Low,
            x if x < 0.65 => Severity::Medium,
            x if x < 0.9 => Severity::High,
            _ => Severity::Critical,
        },
        _ => Severity::Medium,
    };
    if severity == Severity::None {
        return None;
    }
    let confidence = match field("confidence").or_else(|| field("bias_score")) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(text)) => text.trim().trim_end_matches('%').parse::<f64>().ok(),
        _ => None,
    }
    .map(|c| if c > 1.0 { c / 100.0 } else { c })
    .filter(|c| c.is_finite())
    .unwrap_or(0.6)
    .clamp(0.0, 1.0);
    let explanation = text_of(&["explanation", "description", "reason", "rationale"])
        .unwrap_or("The verifier model flagged this step.")
        .to_owned();
    let evidence =
        text_of(&["evidence", "quote", "location", "span"]).and_then(|q| locate(step, q));
    let suggestion = text_of(&[
        "suggestion",
        "fix",
        "recommendation",
        "alternative_phrasing",
    ])
    .or_else(|| {
        field("suggestions")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find_map(Value::as_str))
    })
    .map(str::to_owned);
    Some(Detection {
        bias_type,
        severity,
        confidence,
        explanation,
        evidence,
        suggestion,
    })
}

/// `"Confirmation Bias"` → `confirmation`; unknown names are kept as identifiers.
fn normalise_bias_type(raw: &str) -> Option<String> {
    let mut id: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    for suffix in ["_bias", "_fallacy"] {
        if let Some(stripped) = id.strip_suffix(suffix) {
            id = stripped.to_owned();
        }
    }
    let id = id.trim_matches('_').to_owned();
    let id = match id.as_str() {
        "overconfidence" | "premature_conclusion" | "jumping_to_conclusions" => {
            "hasty_conclusion".to_owned()
        }
        "overgeneralization" | "over_generalisation" | "hasty_generalization" => {
            "over_generalization".to_owned()
        }
        "circular" | "begging_the_question" | "circular_justification" => {
            "circular_reasoning".to_owned()
        }
        "black_and_white_thinking" | "false_dilemma" => "false_dichotomy".to_owned(),
        "availability_heuristic" => "availability".to_owned(),
        "sunk_cost_effect" | "sunk_costs" => "sunk_cost".to_owned(),
        "none" | "no_bias" | "" => return None,
        _ => id,
    };
    (id.len() <= 64).then_some(id)
}

/// Where a quote sits in the step: exactly, or ignoring ASCII case (which keeps byte offsets).
fn locate(step: &str, quote: &str) -> Option<Span> {
    let quote = quote.trim().trim_matches(['"', '\'', '“', '”']).trim();
    if quote.is_empty() {
        return None;
    }
    let start = step
        .find(quote)
        .or_else(|| step.to_ascii_lowercase().find(&quote.to_ascii_lowercase()))?;
    Some(Span {
        start,
        end: start + quote.len(),
    })
}

/// The first JSON object or array in `text` that parses, tried from each `{` or `[` in order;
/// trailing prose after it is ignored.
fn first_json_value(text: &str) -> Option<Value> {
    // Bound the work on hostile answers: a megabyte of brackets is not a verdict.
    let text = truncate(text, 256 * 1024);
    for (index, ch) in text.char_indices() {
        if ch != '{' && ch != '[' {
            continue;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[index..]).into_iter::<Value>();
        if let Some(Ok(value @ (Value::Object(_) | Value::Array(_)))) = stream.next() {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = "Clearly the cache is at fault, so we must rewrite it.";

    #[test]
    fn verdicts_are_read_from_fences_prose_and_variants() {
        let fenced = "Here you go:\n```json\n{\"biases\": [{\"bias_type\": \"Overconfidence\", \
                      \"severity\": \"HIGH\", \"confidence\": \"85%\", \"explanation\": \"no data\", \
                      \"evidence\": \"clearly the cache\"}]}\n```\nHope this helps {not json}";
        let found = parse_verdict(fenced, STEP).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bias_type, "hasty_conclusion");
        assert_eq!(found[0].severity, Severity::High);
        assert!((found[0].confidence - 0.85).abs() < 1e-9);
        let span = found[0].evidence.unwrap();
        assert_eq!(&STEP[span.start..span.end], "Clearly the cache");

        let bare = "[{\"type\": \"false dilemma\", \"severity\": 0.7}]";
        assert_eq!(
            parse_verdict(bare, STEP).unwrap()[0].bias_type,
            "false_dichotomy"
        );
        let none = "{\"bias_detected\": false, \"biases\": [{\"bias_type\": \"x\"}]}";
        assert!(parse_verdict(none, STEP).unwrap().is_empty());
        let empty = "Verdict: {\"biases\": []} — all good.";
        assert!(parse_verdict(empty, STEP).unwrap().is_empty());
        let quote_elsewhere = "{\"bias_type\": \"anchoring\", \"evidence\": \"not in the step\"}";
        assert_eq!(
            parse_verdict(quote_elsewhere, STEP).unwrap()[0].evidence,
            None
        );
        assert!(parse_verdict("Yes, there is bias.", STEP).is_err());
        assert!(parse_verdict("{{{{[[[[", STEP).is_err());
    }
}
