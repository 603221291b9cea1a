//! Wire surfaces: serde types and handlers for each API airgate speaks (GitLab AI Gateway, monitoring, OpenAI-compatible `/v1`, the admin API).

pub mod admin;
pub mod gitlab;
pub mod monitoring;
pub mod openai;
