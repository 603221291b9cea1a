//! Fuzz target `gguf`: see `airgate::fuzz::gguf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::gguf(data));
