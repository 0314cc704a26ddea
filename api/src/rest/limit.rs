//! `Limit<MAX>`: a page-size query parameter whose bounds the spec declares (`minimum: 1`,
//! `maximum: MAX`) from the same constant core enforces, so a generated client or schemathesis
//! never sends a size the server refuses, and the refusal names the bounds.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};

/// How many items a page holds, between 1 and `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit<const MAX: u32>(pub(crate) u32);

/// The number asked for, if any, for core to apply its default to.
pub(crate) fn asked<const MAX: u32>(limit: Option<Limit<MAX>>) -> Option<u32> {
    limit.map(|limit| limit.0)
}

impl<const MAX: u32> Type for Limit<MAX> {
    const IS_REQUIRED: bool = true;

    type RawValueType = u32;

    type RawElementValueType = u32;

    fn name() -> Cow<'static, str> {
        format!("integer(1..={MAX})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(f64::from(MAX)),
            ..MetaSchema::new_with_format("integer", "uint32")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<const MAX: u32> ParseFromParameter for Limit<MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        match value.trim().parse::<u32>() {
            Ok(limit) if (1..=MAX).contains(&limit) => Ok(Limit(limit)),
            _ => Err(ParseError::custom(format!(
                "must be between 1 and {MAX}, got {value:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_parses_within_its_bounds_only() {
        assert_eq!(
            Limit::<100>::parse_from_parameter("100").unwrap(),
            Limit(100)
        );
        assert_eq!(Limit::<100>::parse_from_parameter("1").unwrap(), Limit(1));
        for refused in ["0", "101", "-1", "ten", ""] {
            assert!(
                Limit::<100>::parse_from_parameter(refused).is_err(),
                "{refused}"
            );
        }
        let MetaSchemaRef::Inline(schema) = Limit::<100>::schema_ref() else {
            panic!("inline")
        };
        assert_eq!((schema.minimum, schema.maximum), (Some(1.0), Some(100.0)));
    }
}
