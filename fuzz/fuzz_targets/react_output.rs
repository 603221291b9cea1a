//! Fuzz target `react_output`: see `airgate::fuzz::react_output`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::react_output(data));
