//! Integration tests: the real server, the real default model, HTTP over loopback.
// A test that unwraps fails with the reason; that is what a test should do.
#![allow(clippy::unwrap_used)]

mod admin;
mod admin_models;
mod admin_settings;
mod browser;
mod chat;
mod chat_agent;
mod doctor;
mod engine;
mod gitlab;
mod gitlab_gen;
mod hardening;
mod issuer;
mod openai;
mod ops;
mod prompts;
mod python;
mod server;
mod support;
mod tidy;
mod upstream;
