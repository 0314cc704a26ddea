//! Tolerant reader for the Python/JSON literal dialect LLMs write inside `update_synthesis(...)`.
//!
//! JSON is a subset of what this accepts, so every input format goes through the same reader and
//! produces `serde_json::Value`, which keeps alias handling in one place (`super::update_from_object`).
//! Everything is byte-indexed; positions only ever advance over ASCII bytes or whole `char`s, so
//! every slice lands on a char boundary whatever the input.

use serde_json::{Map, Number, Value};

/// Deep enough for any real update, shallow enough that hostile `[[[[...` cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) reason: String,
    /// The input ended inside a construct. The caller treats such a call as incomplete (and may fall
    /// back to an earlier complete one) rather than as malformed.
    pub(crate) eof: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Positional { offset: usize, value: Value },
    Keyword { key: String, value: Value },
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// `pos` must be a char boundary of `src`; callers only pass positions of ASCII bytes.
    pub(crate) fn new(src: &'a str, pos: usize) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos,
            depth: 0,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn error(&self, offset: usize, reason: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset,
            reason: reason.into(),
            eof: false,
        }
    }

    fn eof_error(&self, what: &str) -> SyntaxError {
        SyntaxError {
            offset: self.bytes.len(),
            reason: format!("unexpected end of input: {what}"),
            eof: true,
        }
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        match self.peek_char() {
            None => self.eof_error(expected),
            Some(c) => self.error(self.pos, format!("expected {expected}, found `{c}`")),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(self.pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whitespace includes Unicode spaces and `#` / `//` / `/* */` comments, because models annotate
    /// their arguments ("Confidence=0.8,  # fairly sure").
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'#' => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek_at(1) == Some(b'*') => {
                    let body = self.pos + 2;
                    self.pos = match find(self.bytes, body, b"*/") {
                        Some(end) => end + 2,
                        None => self.bytes.len(),
                    };
                }
                0x80.. => match self.peek_char() {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => return,
                },
                _ => return,
            }
        }
    }

    fn skip_line(&mut self) {
        self.pos = match self.bytes[self.pos..].iter().position(|&b| b == b'\n') {
            Some(n) => self.pos + n + 1,
            None => self.bytes.len(),
        };
    }

    /// Parses the argument list of a call; `self.pos` must be at the opening `(`.
    pub(crate) fn parse_call_args(&mut self) -> Result<Vec<Arg>, SyntaxError> {
        if self.peek() != Some(b'(') {
            return Err(self.unexpected("`(`"));
        }
        self.enter()?;
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.eof_error("update_synthesis call is not closed with `)`")),
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            args.push(self.parse_arg()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(self.unexpected("`,` or `)` after an argument")),
            }
        }
        self.leave();
        Ok(args)
    }

    fn parse_arg(&mut self) -> Result<Arg, SyntaxError> {
        let start = self.pos;
        // `Understanding=...` and, tolerantly, `Understanding: ...`; keywords like `True` used as a
        // positional value fall through to `parse_value`.
        if let Some(name) = self.read_ident() {
            self.skip_ws();
            if self.at_key_separator() {
                self.pos += 1;
                let value = self.parse_value()?;
                return Ok(Arg::Keyword {
                    key: name.to_owned(),
                    value,
                });
            }
            self.pos = start;
        }
        let value = self.parse_value()?;
        if let Value::String(key) = &value {
            self.skip_ws();
            if self.at_key_separator() {
                self.pos += 1;
                let key = key.clone();
                let value = self.parse_value()?;
                return Ok(Arg::Keyword { key, value });
            }
        }
        Ok(Arg::Positional {
            offset: start,
            value,
        })
    }

    fn at_key_separator(&self) -> bool {
        match self.peek() {
            Some(b':') => true,
            Some(b'=') => self.peek_at(1) != Some(b'='),
            _ => false,
        }
    }

    /// Reads an identifier (Unicode letters allowed, as in Python) and returns it, or returns `None`
    /// without moving.
    fn read_ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let rest = &self.src[start..];
        let mut len = 0;
        for (i, c) in rest.char_indices() {
            let ok = if i == 0 {
                c.is_alphabetic() || c == '_'
            } else {
                c.is_alphanumeric() || c == '_'
            };
            if !ok {
                break;
            }
            len = i + c.len_utf8();
        }
        if len == 0 {
            return None;
        }
        self.pos = start + len;
        Some(&rest[..len])
    }

    pub(crate) fn parse_value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_ws();
        let Some(b) = self.peek() else {
            return Err(self.eof_error("expected a value"));
        };
        match b {
            b'"' | b'\'' => self.parse_string(false).map(Value::String),
            b'[' => self.parse_sequence(b']').map(Value::Array),
            // Tuples read as lists: `Insights=("a", "b")` is a plausible slip.
            b'(' => self.parse_sequence(b')').map(Value::Array),
            b'{' => self.parse_dict().map(Value::Object),
            b'-' | b'+' | b'.' | b'0'..=b'9' => self.parse_number(),
            _ => self.parse_word(),
        }
    }

    fn parse_word(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        let Some(word) = self.read_ident() else {
            return Err(self.unexpected("a value"));
        };
        // String prefixes: r"..." keeps backslashes, the others change nothing for our purposes.
        if matches!(self.peek(), Some(b'"' | b'\'')) && word.len() <= 2 {
            let lower = word.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "r" | "u" | "b" | "f" | "rb" | "br" | "fr" | "rf"
            ) {
                return self.parse_string(lower.contains('r')).map(Value::String);
            }
        }
        match word {
            "True" | "true" => Ok(Value::Bool(true)),
            "False" | "false" => Ok(Value::Bool(false)),
            "None" | "null" | "none" | "Null" | "NULL" => Ok(Value::Null),
            // Kept as text so the field mapper can report "must be finite" with the field name;
            // `Value` cannot hold a non-finite number.
            "NaN" | "nan" | "Infinity" | "inf" | "infinity" => Ok(Value::String(word.to_owned())),
            _ => Err(self.error(
                start,
                format!("unexpected bare word `{word}` (strings must be quoted)"),
            )),
        }
    }

    fn parse_sequence(&mut self, close: u8) -> Result<Vec<Value>, SyntaxError> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        let expected = if close == b']' {
            "`,` or `]` in a list"
        } else {
            "`,` or `)` in a tuple"
        };
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.eof_error(expected)),
                Some(b) if b == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            items.push(self.parse_value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b) if b == close => {}
                _ => return Err(self.unexpected(expected)),
            }
        }
        self.leave();
        Ok(items)
    }

    fn parse_dict(&mut self) -> Result<Map<String, Value>, SyntaxError> {
        self.enter()?;
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.skip_ws();
            let key = match self.peek() {
                None => return Err(self.eof_error("`}` closing an object")),
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b'"' | b'\'') => self.parse_string(false)?,
                Some(b'-' | b'+' | b'.' | b'0'..=b'9') => match self.parse_number()? {
                    Value::String(s) => s,
                    other => other.to_string(),
                },
                Some(_) => match self.read_ident() {
                    Some(word) => word.to_owned(),
                    None => return Err(self.unexpected("an object key")),
                },
            };
            self.skip_ws();
            if !self.at_key_separator() {
                return Err(self.unexpected("`:` after an object key"));
            }
            self.pos += 1;
            let value = self.parse_value()?;
            insert_merging(&mut map, key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.unexpected("`,` or `}` in an object")),
            }
        }
        self.leave();
        Ok(map)
    }

    fn parse_number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
            self.skip_ws_inline();
            if self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
                let word_at = self.pos;
                return match self.read_ident() {
                    Some(w)
                        if matches!(
                            w.to_ascii_lowercase().as_str(),
                            "inf" | "infinity" | "nan"
                        ) =>
                    {
                        Ok(Value::String(format!("{}{w}", &self.src[start..start + 1])))
                    }
                    _ => Err(self.error(word_at, "expected a number after the sign")),
                };
            }
        }
        let digits_at = self.pos;
        let mut seen_digit = false;
        let mut is_float = false;
        while let Some(b) = self.peek() {
            match b {
                b'0'..=b'9' => seen_digit = true,
                b'_' if seen_digit => {}
                b'.' if !is_float => is_float = true,
                _ => break,
            }
            self.pos += 1;
        }
        if !seen_digit {
            return Err(self.unexpected("a number"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'-' | b'+')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                is_float = true;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = mark;
            }
        }
        let sign = if self.bytes[start] == b'-' { "-" } else { "" };
        let literal = format!("{sign}{}", self.src[digits_at..self.pos].replace('_', ""));
        // `Confidence=80%` is not Python, but it is unambiguous; the mapper divides by 100.
        if self.peek() == Some(b'%') {
            self.pos += 1;
            return Ok(Value::String(format!("{literal}%")));
        }
        if !is_float && let Ok(n) = literal.parse::<i64>() {
            return Ok(Value::from(n));
        }
        match literal.parse::<f64>() {
            Ok(f) => Ok(Number::from_f64(f).map_or(Value::String(literal), Value::Number)),
            Err(_) => Err(self.error(start, format!("invalid number `{literal}`"))),
        }
    }

    /// Only between a sign and its operand, where a newline would be odd but harmless.
    fn skip_ws_inline(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Single-, double- and triple-quoted strings with Python/JSON escapes. Unknown escapes keep the
    /// backslash (as Python does) instead of failing: losing an insight over `\d` would be worse.
    fn parse_string(&mut self, raw: bool) -> Result<String, SyntaxError> {
        let open_at = self.pos;
        let quote = self.bytes[self.pos];
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out = String::new();
        let mut chunk = self.pos;
        loop {
            let Some(rel) = self.bytes[self.pos..]
                .iter()
                .position(|&b| b == quote || b == b'\\')
            else {
                self.pos = self.bytes.len();
                return Err(SyntaxError {
                    offset: self.bytes.len(),
                    reason: format!(
                        "unexpected end of input: string opened at byte {open_at} is not closed"
                    ),
                    eof: true,
                });
            };
            self.pos += rel;
            if self.bytes[self.pos] == quote {
                if !triple {
                    out.push_str(&self.src[chunk..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
                    out.push_str(&self.src[chunk..self.pos]);
                    self.pos += 3;
                    return Ok(out);
                }
                self.pos += 1;
                continue;
            }
            // Backslash.
            out.push_str(&self.src[chunk..self.pos]);
            let escape_at = self.pos;
            self.pos += 1;
            let Some(c) = self.peek_char() else {
                continue;
            };
            self.pos += c.len_utf8();
            if raw {
                out.push('\\');
                out.push(c);
            } else {
                match c {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'a' => out.push('\u{7}'),
                    '0' => out.push('\0'),
                    '\\' | '\'' | '"' | '/' => out.push(c),
                    // Line continuation.
                    '\n' => {}
                    '\r' => {
                        if self.peek() == Some(b'\n') {
                            self.pos += 1;
                        }
                    }
                    'x' => {
                        let code = self.read_hex(2, escape_at)?;
                        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    'u' => {
                        let code = self.read_hex(4, escape_at)?;
                        out.push(self.finish_utf16(code, escape_at)?);
                    }
                    'U' => {
                        let code = self.read_hex(8, escape_at)?;
                        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            chunk = self.pos;
        }
    }

    fn read_hex(&mut self, digits: usize, escape_at: usize) -> Result<u32, SyntaxError> {
        let mut code: u32 = 0;
        for _ in 0..digits {
            let Some(d) = self.peek().and_then(|b| (b as char).to_digit(16)) else {
                if self.peek().is_none() {
                    return Err(self.eof_error("incomplete escape sequence"));
                }
                return Err(self.error(
                    escape_at,
                    format!("invalid escape: expected {digits} hex digits"),
                ));
            };
            code = code * 16 + d;
            self.pos += 1;
        }
        Ok(code)
    }

    /// JSON encodes astral characters (emoji) as surrogate pairs; a lone surrogate becomes U+FFFD
    /// rather than an error.
    fn finish_utf16(&mut self, high: u32, escape_at: usize) -> Result<char, SyntaxError> {
        if !(0xD800..0xDC00).contains(&high) {
            return Ok(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        if self.peek() == Some(b'\\') && self.peek_at(1) == Some(b'u') {
            let mark = self.pos;
            self.pos += 2;
            let low = self.read_hex(4, escape_at)?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.pos = mark;
        }
        Ok(char::REPLACEMENT_CHARACTER)
    }
}

/// Parses `src` as exactly one value surrounded by nothing but whitespace.
pub(crate) fn parse_document(src: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser::new(src, 0);
    let value = p.parse_value()?;
    p.skip_ws();
    if p.pos < src.len() {
        return Err(p.error(p.pos, "unexpected text after the value"));
    }
    Ok(value)
}

/// Duplicate keys would otherwise silently drop the first value; for lists (two `"insights"` keys)
/// concatenating keeps every item.
pub(crate) fn insert_merging(map: &mut Map<String, Value>, key: String, value: Value) {
    match (map.get_mut(&key), value) {
        (Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
        (_, value) => {
            map.insert(key, value);
        }
    }
}

pub(crate) fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(src: &str) -> Result<Value, SyntaxError> {
        Parser::new(src, 0).parse_value()
    }

    #[test]
    fn python_literals() {
        assert_eq!(
            value(r#"{'a': [1, 2.5, True, False, None, "x\ty"], b: {"c": -3,},}"#).unwrap(),
            json!({"a": [1, 2.5, true, false, null, "x\ty"], "b": {"c": -3}})
        );
    }

    #[test]
    fn escapes_and_prefixes() {
        assert_eq!(
            value(r#"'it\'s \u00e9 \ud83d\ude00 \x41 \q'"#).unwrap(),
            json!("it's é 😀 A \\q")
        );
        assert_eq!(value(r#"r"a\nb""#).unwrap(), json!("a\\nb"));
        assert_eq!(
            value("'''multi\n'line' text'''").unwrap(),
            json!("multi\n'line' text")
        );
        assert_eq!(value(r#""\ud83d x""#).unwrap(), json!("\u{fffd} x"));
    }

    #[test]
    fn numbers() {
        assert_eq!(value("80%").unwrap(), json!("80%"));
        assert_eq!(value("1e400").unwrap(), json!("1e400"));
        assert_eq!(value("-inf").unwrap(), json!("-inf"));
        assert_eq!(value(".5").unwrap(), json!(0.5));
        assert_eq!(value("1_000").unwrap(), json!(1000));
        assert!(value("-").is_err());
    }

    #[test]
    fn comments_are_whitespace() {
        assert_eq!(
            value("[1, # one\n 2 // two\n, /* three */ 3]").unwrap(),
            json!([1, 2, 3])
        );
    }

    #[test]
    fn depth_guard() {
        let err = value(&"[".repeat(10_000)).unwrap_err();
        assert!(err.reason.contains("nesting"), "{err:?}");
        assert!(!err.eof);
    }

    #[test]
    fn eof_is_flagged() {
        assert!(value("[1, 2").unwrap_err().eof);
        assert!(value("'abc").unwrap_err().eof);
        assert!(!value("[1 2]").unwrap_err().eof);
    }
}
