//! airgate: GitLab AI Gateway and llama.cpp model server in one binary, for air-gapped hosts.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
pub mod features;
pub mod http;
pub mod prompt;
pub mod store;
pub mod telemetry;
