//! Fuzz target `openai_body`: see `airgate::fuzz::openai_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::openai_body(data));
