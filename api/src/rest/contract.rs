//! The served OpenAPI document made what client generators accept. poem-openapi attaches a
//! field's description to a referenced schema with `allOf: [{$ref}, {description}]`, which
//! generators cannot take for an enum (openapi-python-client: "Cannot take allOf a non-object",
//! and every schema and operation using it is dropped); and it lists media types generators do
//! not know beside the `application/octet-stream` that carries the same bytes.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Request media types that `application/octet-stream` stands for in the document; the server
/// still accepts them (`curl --data-binary @x.wasm -H 'content-type: application/wasm'`).
const BINARY_ALIASES: [&str; 2] = ["application/wasm", "application/x-ndjson"];

/// A JSON value that keeps its keys in order: generators take the first media type they know,
/// and the committed document should read as poem-openapi wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(IndexMap<String, Json>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(object) => object.get(key),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(object) => object.get_mut(key),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }
}

/// `spec` (poem-openapi's JSON) with enum references plain and binary bodies as octet-stream.
pub(crate) fn polished(spec: &str) -> String {
    let mut document: Json = serde_json::from_str(spec).expect("poem-openapi writes valid JSON");
    let enums: Vec<String> = match document.get("components").and_then(|c| c.get("schemas")) {
        Some(Json::Object(schemas)) => schemas
            .iter()
            .filter(|(_, schema)| schema.get("enum").is_some())
            .map(|(name, _)| format!("#/components/schemas/{name}"))
            .collect(),
        _ => Vec::new(),
    };
    plain_enum_references(&mut document, &enums);
    if let Some(Json::Object(paths)) = document.get_mut("paths") {
        for operation in paths.values_mut() {
            let Json::Object(methods) = operation else {
                continue;
            };
            for method in methods.values_mut() {
                if let Some(Json::Object(content)) = method
                    .get_mut("requestBody")
                    .and_then(|body| body.get_mut("content"))
                    && content.contains_key("application/octet-stream")
                {
                    content.retain(|media_type, _| !BINARY_ALIASES.contains(&media_type.as_str()));
                }
            }
        }
    }
    serde_json::to_string_pretty(&document).expect("a JSON value serialises")
}

/// `{"allOf": [{"$ref": ENUM}, {"description": …}], "description": …}` → `{"$ref": ENUM}`: the
/// enum's own description stands (OpenAPI 3.0 ignores siblings of `$ref`).
fn plain_enum_references(node: &mut Json, enums: &[String]) {
    match node {
        Json::Object(object) => {
            let reference = match object.get("allOf") {
                Some(Json::Array(parts)) => {
                    let mut references = parts.iter().filter_map(|part| part.get("$ref"));
                    let reference = references.next().and_then(Json::as_str);
                    let only_descriptions = parts.iter().all(|part| match part {
                        Json::Object(part) => {
                            part.keys().all(|key| key == "$ref" || key == "description")
                        }
                        _ => false,
                    });
                    reference
                        .filter(|reference| {
                            references.next().is_none()
                                && only_descriptions
                                && enums.iter().any(|e| e == reference)
                        })
                        .map(str::to_owned)
                }
                _ => None,
            };
            if let Some(reference) = reference {
                object.clear();
                object.insert("$ref".to_owned(), Json::String(reference));
                return;
            }
            for value in object.values_mut() {
                plain_enum_references(value, enums);
            }
        }
        Json::Array(items) => {
            for item in items {
                plain_enum_references(item, enums);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn an_enum_behind_all_of_becomes_a_plain_reference_and_objects_keep_their_wrapper() {
        let spec = json!({
            "paths": {"/plugins": {"post": {"requestBody": {"content": {
                "application/wasm": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }}}}},
            "components": {"schemas": {
                "Status": {"type": "string", "enum": ["ok", "error"]},
                "Call": {"type": "object", "properties": {
                    "status": {"allOf": [{"$ref": "#/components/schemas/Status"},
                                         {"description": "Defaults to `ok`."}],
                               "description": "Defaults to `ok`."},
                    "usage": {"allOf": [{"$ref": "#/components/schemas/Usage"},
                                        {"description": "Tokens."}]},
                }},
                "Usage": {"type": "object"},
            }},
        });
        let polished: Value = serde_json::from_str(&polished(&spec.to_string())).unwrap();
        let call = &polished["components"]["schemas"]["Call"]["properties"];
        assert_eq!(
            call["status"],
            json!({"$ref": "#/components/schemas/Status"})
        );
        assert_eq!(
            call["usage"]["allOf"][0]["$ref"],
            "#/components/schemas/Usage"
        );
        let content = &polished["paths"]["/plugins"]["post"]["requestBody"]["content"];
        assert!(content.get("application/wasm").is_none());
        assert!(content.get("application/octet-stream").is_some());
        // Keys stay in the order they were written: generators take the first media type.
        let written =
            r#"{"b":{"application/octet-stream":1,"application/json":[1.5,true,null]},"a":"x"}"#;
        assert_eq!(polished_compact(written), written);
    }

    fn polished_compact(spec: &str) -> String {
        let document: Json = serde_json::from_str(&polished(spec)).unwrap();
        serde_json::to_string(&document).unwrap()
    }
}
