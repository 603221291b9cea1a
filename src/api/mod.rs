//! Wire surfaces: serde types and handlers for each API airgate speaks (monitoring, OpenAI-compatible `/v1`).

pub mod monitoring;
pub mod openai;
