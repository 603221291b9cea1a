//! Integration tests: the real server, the real default model, HTTP over loopback.

mod gitlab;
mod issuer;
mod openai;
mod python;
mod server;
mod support;
mod tidy;
