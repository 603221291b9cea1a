//! Fuzz target `gitlab_body`: see `airgate::fuzz::gitlab_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| airgate::fuzz::gitlab_body(data));
