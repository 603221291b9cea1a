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

/// Seconds since the Unix epoch (0 if the clock is before it): the timestamps GitLab and OpenAI responses carry.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
