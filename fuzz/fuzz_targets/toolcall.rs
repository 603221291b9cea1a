//! Fuzz target `toolcall`: see `airgate::fuzz::toolcall`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::toolcall(data));
