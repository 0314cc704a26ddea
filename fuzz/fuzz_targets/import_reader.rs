//! The import reader (record splitting, whole and in pieces, and decoding) over arbitrary files.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| lux_core::testing::fuzz::import_reader(bytes));
