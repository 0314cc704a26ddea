//! The checks on a plugin's answer (findings, patterns, metadata) over arbitrary guest output.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lux_plugins::testing::fuzz::plugin_output(data));
