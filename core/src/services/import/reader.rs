//! Cutting an import file into records as its bytes arrive, so an import of any size holds one
//! chunk of records in memory instead of the whole file.
//!
//! A JSON array is cut at its top-level commas by a scanner that skips strings, so each element is
//! parsed (and reported) on its own: one corrupt element does not hide the others. JSONL is cut at
//! line ends. Each record carries the 1-based line it starts on.

use crate::error::{Error, Result};

/// The largest record buffered; a longer one is skipped and reported on its line. Generous: a
/// step's content is at most 1 MiB, and JSON escaping can multiply that by six.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// One record of the file: its text, or why it cannot be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based line of the file where the record starts.
    pub line: u64,
    /// The record's JSON text (trimmed), or a message for the report.
    pub text: std::result::Result<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Nothing but whitespace (and a byte order mark) seen yet.
    Unknown,
    Array,
    Lines,
}

/// Feeds on the file's bytes in pieces of any size; see the module docs.
#[derive(Debug)]
pub struct RecordSplitter {
    layout: Layout,
    /// Bytes seen so far, to find a byte order mark at the very start.
    offset: usize,
    /// The line the next byte is on.
    line: u64,
    /// The record being read and the line it started on.
    current: Vec<u8>,
    current_line: Option<u64>,
    /// The record being read outgrew [`MAX_RECORD_BYTES`]; its bytes are dropped.
    oversized: bool,
    // Array scanner state.
    depth: usize,
    in_string: bool,
    escaped: bool,
    closed: bool,
}

impl Default for RecordSplitter {
    fn default() -> Self {
        RecordSplitter::new()
    }
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl RecordSplitter {
    pub fn new() -> Self {
        RecordSplitter {
            layout: Layout::Unknown,
            offset: 0,
            line: 1,
            current: Vec::new(),
            current_line: None,
            oversized: false,
            depth: 0,
            in_string: false,
            escaped: false,
            closed: false,
        }
    }

    /// Reads `bytes`, appending every record they complete to `out`. Fails when the file cannot
    /// be a Lux export at all (it does not start with `[` or `{`, or has text after the array).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<RawRecord>) -> Result<()> {
        for &byte in bytes {
            let at = self.offset;
            self.offset += 1;
            if at < BOM.len() && byte == BOM[at] && self.layout == Layout::Unknown {
                continue;
            }
            match self.layout {
                Layout::Unknown => {
                    self.layout = match byte {
                        b'[' => Layout::Array,
                        b'{' => Layout::Lines,
                        _ if byte.is_ascii_whitespace() => {
                            if byte == b'\n' {
                                self.line += 1;
                            }
                            continue;
                        }
                        _ => {
                            return Err(Error::invalid(
                                "file",
                                "is not a Lux JSON or JSONL export (it must start with '[' or '{')",
                            ));
                        }
                    };
                    if self.layout == Layout::Array {
                        self.depth = 1;
                    } else {
                        self.push_byte(byte);
                    }
                }
                Layout::Lines => self.line_byte(byte, out),
                Layout::Array => self.array_byte(byte, out)?,
            }
        }
        Ok(())
    }

    /// Ends the file, appending its last record. Fails on a JSON array without its `]`, and on a
    /// file without any JSON text.
    pub fn finish(&mut self, out: &mut Vec<RawRecord>) -> Result<()> {
        match self.layout {
            Layout::Unknown => Err(Error::invalid("file", "is empty")),
            Layout::Array if !self.closed => Err(Error::invalid(
                "file",
                "is a JSON array without its closing ']' (truncated?)",
            )),
            Layout::Array => Ok(()),
            Layout::Lines => {
                self.emit(out);
                Ok(())
            }
        }
    }

    /// The line the last byte read is on.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn push_byte(&mut self, byte: u8) {
        if self.current_line.is_none() {
            self.current_line = Some(self.line);
        }
        if self.current.len() >= MAX_RECORD_BYTES {
            self.oversized = true;
            self.current = Vec::new();
        }
        if !self.oversized {
            self.current.push(byte);
        }
    }

    /// The record read so far, if any, as a [`RawRecord`]; blank records are dropped in JSONL
    /// and reported in an array (`[1,,2]`).
    fn emit(&mut self, out: &mut Vec<RawRecord>) {
        let Some(line) = self.current_line.take() else {
            return;
        };
        let bytes = std::mem::take(&mut self.current);
        let text = if std::mem::take(&mut self.oversized) {
            Err(format!(
                "record is longer than {} MiB",
                MAX_RECORD_BYTES / (1024 * 1024)
            ))
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => Ok(text.trim().to_owned()),
                Err(error) => Err(format!("record is not UTF-8 text: {}", error.utf8_error())),
            }
        };
        out.push(RawRecord { line, text });
    }

    fn line_byte(&mut self, byte: u8, out: &mut Vec<RawRecord>) {
        if byte == b'\n' {
            let blank = self.current.iter().all(u8::is_ascii_whitespace) && !self.oversized;
            if blank {
                self.current.clear();
                self.current_line = None;
            } else {
                self.emit(out);
            }
            self.line += 1;
        } else if self.current_line.is_some() || !byte.is_ascii_whitespace() {
            self.push_byte(byte);
        }
    }

    fn array_byte(&mut self, byte: u8, out: &mut Vec<RawRecord>) -> Result<()> {
        if self.closed {
            if !byte.is_ascii_whitespace() {
                return Err(Error::invalid(
                    "file",
                    format!("has text after the closing ']' on line {}", self.line),
                ));
            }
            if byte == b'\n' {
                self.line += 1;
            }
            return Ok(());
        }
        if self.in_string {
            match byte {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => self.in_string = true,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.emit(out);
                        self.closed = true;
                        return Ok(());
                    }
                }
                b',' if self.depth == 1 => {
                    if self.current_line.is_none() {
                        out.push(RawRecord {
                            line: self.line,
                            text: Ok(String::new()),
                        });
                    } else {
                        self.emit(out);
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        if self.current_line.is_some() || !byte.is_ascii_whitespace() {
            self.push_byte(byte);
        }
        if byte == b'\n' {
            self.line += 1;
        }
        Ok(())
    }
}

/// The records of a whole file held in memory; [`RecordSplitter`] for a stream.
pub fn split_records(bytes: &[u8]) -> Result<Vec<RawRecord>> {
    let mut splitter = RecordSplitter::new();
    let mut records = Vec::new();
    splitter.feed(bytes, &mut records)?;
    splitter.finish(&mut records)?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(records: &[RawRecord]) -> Vec<(u64, &str)> {
        records
            .iter()
            .map(|record| (record.line, record.text.as_deref().unwrap_or("<error>")))
            .collect()
    }

    #[test]
    fn arrays_are_cut_at_top_level_commas_only() {
        let file = "\u{feff}[\n{\"a\": [1, 2], \"s\": \"x,]}\\\"\"},\n  {\"b\": {}}\n]\n";
        let records = split_records(file.as_bytes()).unwrap();
        assert_eq!(
            texts(&records),
            [
                (2, "{\"a\": [1, 2], \"s\": \"x,]}\\\"\"}"),
                (3, "{\"b\": {}}")
            ]
        );
    }

    #[test]
    fn jsonl_skips_blank_lines_and_strips_carriage_returns() {
        let file = "{\"a\":1}\r\n\r\n   \n{\"b\":2}";
        let records = split_records(file.as_bytes()).unwrap();
        assert_eq!(texts(&records), [(1, "{\"a\":1}"), (4, "{\"b\":2}")]);
    }

    /// Feeding a file one byte at a time gives what feeding it whole gives.
    #[test]
    fn pieces_of_any_size_give_the_same_records() {
        for file in [
            "[{\"x\": \"é, ü\"},\n{\"y\": [\"]\"]},,\n{}]",
            "{\"x\": \"é\"}\n\n{\"y\": 2}\n",
        ] {
            let whole = split_records(file.as_bytes()).unwrap();
            let mut splitter = RecordSplitter::new();
            let mut pieces = Vec::new();
            for byte in file.as_bytes() {
                splitter
                    .feed(std::slice::from_ref(byte), &mut pieces)
                    .unwrap();
            }
            splitter.finish(&mut pieces).unwrap();
            assert_eq!(pieces, whole, "{file}");
        }
    }

    #[test]
    fn empty_array_elements_are_reported_as_empty_records() {
        let records = split_records(b"[{},,{}]").unwrap();
        assert_eq!(texts(&records), [(1, "{}"), (1, ""), (1, "{}")]);
    }

    #[test]
    fn invalid_utf8_spoils_only_its_own_record() {
        let records = split_records(b"{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":3}\n").unwrap();
        assert_eq!(records.len(), 3);
        assert!(records[1].text.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(records[2].text.as_deref(), Ok("{\"c\":3}"));
    }

    #[test]
    fn files_that_are_not_exports_are_refused() {
        for (file, message) in [
            (&b""[..], "is empty"),
            (b"  \n ", "is empty"),
            (b"hello", "must start with"),
            (b"[{}", "closing ']'"),
            (b"[{}] {}", "after the closing"),
        ] {
            let error = split_records(file).unwrap_err().to_string();
            assert!(error.contains(message), "{file:?}: {error}");
        }
    }
}
