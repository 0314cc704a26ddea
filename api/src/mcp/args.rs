//! Tool arguments parsed leniently, so a bad argument becomes a tool error naming the parameter
//! (which the calling model reads) instead of an opaque JSON-RPC "invalid params".

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{Deserialize, DeserializeOwned, Deserializer};

use super::error::ToolError;

/// The arguments of one tool, or why they are unusable. Its JSON schema is `T`'s.
#[derive(Debug)]
pub(crate) struct Args<T>(pub(crate) Result<T, ToolError>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Args<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Args(parse(value)))
    }
}

impl<T: JsonSchema> JsonSchema for Args<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = if path == "." {
            // Serde reports a missing field at the root: take its name from the message.
            missing_field(&message).unwrap_or("arguments").to_owned()
        } else {
            path
        };
        ToolError::invalid(field, message)
    })
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        thought: String,
        thought_number: u32,
    }

    fn field_of(value: serde_json::Value) -> String {
        let Args(result) = serde_json::from_value::<Args<Sample>>(value).unwrap();
        let error = result.unwrap_err().into_result();
        error.structured_content.unwrap()["field"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn bad_arguments_name_their_parameter() {
        assert_eq!(
            field_of(serde_json::json!({"thought_number": 1})),
            "thought"
        );
        assert_eq!(
            field_of(serde_json::json!({"thought": "x", "thought_number": "one"})),
            "thought_number"
        );
        assert_eq!(
            field_of(serde_json::json!({"thought": "x", "thought_number": -1})),
            "thought_number"
        );
    }
}
