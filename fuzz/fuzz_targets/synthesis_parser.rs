//! The synthesis parser over arbitrary model output.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| lux_core::testing::fuzz::synthesis_parser(text));
