//! `Text`: a JSON string field that is a string. poem-openapi's `String` also accepts JSON numbers
//! and booleans and stores their text (`{"tool": 42}` became the tool `"42"`), which the spec,
//! saying `type: string`, does not allow; request bodies use this instead, so `42` is a 400.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A string from a request body: only a JSON string parses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Text(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// The strings of an optional text field.
pub(crate) fn optional(text: Option<Text>) -> Option<String> {
    text.map(String::from)
}

/// The strings of a list of text fields.
pub(crate) fn all(texts: Vec<Text>) -> Vec<String> {
    texts.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_string_is_text() {
        let text = Text::parse_from_json(Some(Value::String("agent".into()))).unwrap();
        assert_eq!(text, Text("agent".into()));
        for value in [
            serde_json::json!(42),
            serde_json::json!(true),
            serde_json::json!(null),
        ] {
            assert!(
                Text::parse_from_json(Some(value.clone())).is_err(),
                "{value}"
            );
        }
        assert_eq!(text.to_json(), Some(Value::String("agent".into())));
    }
}
