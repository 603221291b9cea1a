//! Wire surfaces: serde types and handlers for each API airgate speaks (GitLab AI Gateway, monitoring, OpenAI-compatible `/v1`).

pub mod gitlab;
pub mod monitoring;
pub mod openai;
