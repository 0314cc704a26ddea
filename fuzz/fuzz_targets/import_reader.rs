//! The import reader (record splitting and decoding) over arbitrary files.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| lux_core::testing::fuzz::import_reader(text));
