//! Fuzz target `code_prompt`: see `airgate::fuzz::code_prompt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::code_prompt(data));
