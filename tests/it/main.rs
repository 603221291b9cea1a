//! Integration tests: the real server, the real default model, HTTP over loopback.
// A test that unwraps fails with the reason; that is what a test should do.
#![allow(clippy::unwrap_used)]

mod admin;
mod admin_models;
mod admin_settings;
mod agent;
mod browser;
mod chat;
mod chat_agent;
mod doctor;
mod embeddings;
mod engine;
mod fleet;
mod fleet_lb;
mod gitlab;
mod gitlab_gen;
mod hardening;
mod issuer;
mod openai;
mod ops;
mod overload;
mod prompts;
mod python;
mod runaway;
mod server;
mod support;
mod tidy;
mod tools;
mod upstream;
