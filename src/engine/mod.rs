//! Inference engines: the `Engine` trait every model backend implements, request/event types, and the registry of loaded models.

pub mod embed;
#[cfg(test)]
pub mod fake;
pub mod gguf;
pub mod llama;
pub mod registry;
pub mod remote;
pub mod repeat;
pub mod stop;

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

pub use embed::{EmbedInfo, EmbedInput, EmbedRequest, Embedded};
pub use registry::{ModelRegistry, ModelStatus};

/// What the model continues: raw text, or chat messages the engine renders with the model's template
/// (a local model) or sends as they are (an OpenAI-compatible upstream).
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Raw prompt text. Special tokens written in it (`<start_of_turn>`, FIM tokens) are parsed as such.
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// How a model is asked to produce text.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    /// Upper bound of generated tokens; `None` = as many as the context allows.
    pub max_tokens: Option<u32>,
    pub sampling: SamplingParams,
    /// Strings that end generation; they are never part of the output.
    pub stop: Vec<String>,
    /// Stop (finish reason `repetition`) when the output starts repeating one span of tokens over and
    /// over ([`repeat`]).
    pub repetition_guard: bool,
    /// Keep generating past end-of-generation tokens (benchmarks use it to force a token count).
    pub ignore_eos: bool,
    /// Local engines: draft tokens from the prompt and verify them in batches (speculative
    /// decoding), where the model allows it. The answer is the same; code copies from its prompt,
    /// so it comes sooner.
    pub speculate: bool,
    /// When the answer stops being useful: a request still queued then is dropped without running.
    pub deadline: Option<std::time::Instant>,
    /// The GitLab feature (or API surface) asking: a metrics label.
    pub feature: &'static str,
    /// Local engines: the output held to a grammar.
    pub constraint: Option<Constraint>,
    /// Local engines: special tokens whose text the output shows (a control token renders as nothing
    /// otherwise): the markers a tool-call or reasoning parser reads.
    pub special_text: Vec<String>,
    /// Remote engines: tools, tool choice and answer format, passed through to an upstream that
    /// does tool calling itself.
    pub upstream_tools: Option<UpstreamTools>,
}

impl GenerateRequest {
    /// A request for `prompt` with default sampling and nothing else set.
    pub fn new(prompt: Prompt, feature: &'static str) -> GenerateRequest {
        GenerateRequest {
            prompt,
            max_tokens: None,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            repetition_guard: false,
            ignore_eos: false,
            speculate: false,
            deadline: None,
            feature,
            constraint: None,
            special_text: Vec::new(),
            upstream_tools: None,
        }
    }
}

/// Decoding held to a GBNF grammar (llama.cpp's grammar sampler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub grammar: String,
    /// The grammar's entry rule.
    pub root: String,
    /// Empty: the grammar holds from the first token. Otherwise the output is free until one of
    /// these regular expressions matches it (one written `^…$` must match all of the output so far),
    /// and the grammar holds from the match's first group on.
    pub triggers: Vec<String>,
}

/// OpenAI tool calling for an upstream server (wire shapes, passed through).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpstreamTools {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 = disabled.
    pub top_k: i32,
    pub min_p: f32,
    /// 1.0 = disabled.
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub seed: Option<u32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the context was exhausted.
    Length,
    /// The client went away, or the stream was cut at the shutdown deadline.
    Cancelled,
    /// The repetition guard stopped a generation that was repeating itself ([`repeat`]).
    Repetition,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
            FinishReason::Repetition => "repetition",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Prompt tokens dropped from the left because the prompt did not fit the context.
    pub truncated_tokens: u32,
    /// Prompt tokens served from the slot's KV cache instead of being evaluated.
    pub cached_tokens: u32,
    /// Speculative decoding: draft tokens the model verified, and how many it confirmed.
    #[serde(skip_serializing_if = "is_zero")]
    pub draft_tokens: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub draft_accepted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a running generation sends back, in order: any number of `Text` (and, from an upstream that
/// calls tools itself, `Reasoning` and `ToolCall`), then exactly one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    /// Reasoning an upstream returned apart from the text (`reasoning_content`).
    Reasoning(String),
    /// A piece of a tool call an upstream made: the first piece of a call carries its id and name,
    /// later ones more of its arguments.
    ToolCall {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Done {
        finish: FinishReason,
        usage: Usage,
        timings: Timings,
    },
    Failed(String),
    /// The request's deadline passed while it waited for a slot; it never ran.
    Expired {
        waited: Duration,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Time spent waiting for a slot.
    pub queued: Duration,
    /// From slot assignment to the first generated token.
    pub prompt: Duration,
    pub generation: Duration,
}

/// A generation in progress: drop the receiver to cancel it.
pub type EventStream = mpsc::Receiver<Event>;

/// A whole generation, collected.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// Waits for the whole generation.
pub async fn collect(mut events: EventStream) -> Result<Generated, EngineError> {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Reasoning(_) | Event::ToolCall { .. } => {}
            Event::Done { finish, usage, .. } => return Ok(Generated { text, finish, usage }),
            Event::Failed(detail) => return Err(EngineError::Internal(detail)),
            Event::Expired { waited } => return Err(EngineError::Expired { waited }),
        }
    }
    Err(EngineError::Internal("the model stopped without finishing the response".into()))
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    pub architecture: String,
    pub parameters: u64,
    pub size_bytes: u64,
    pub quantization: String,
    pub context_train: u32,
    /// Context tokens one request may use (prompt + output).
    pub context_per_slot: u32,
    pub slots: u32,
    pub has_chat_template: bool,
    pub has_fim: bool,
}

#[cfg(test)]
impl ModelInfo {
    /// A fake engine's description: `context` tokens per slot, one slot, a chat template, no FIM.
    pub fn fake(name: &str, context: u32) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            path: String::new(),
            architecture: "fake".into(),
            parameters: 0,
            size_bytes: 0,
            quantization: String::new(),
            context_train: context,
            context_per_slot: context,
            slots: 1,
            has_chat_template: true,
            has_fim: false,
        }
    }
}

/// Text pieces a fill-in-the-middle prompt is built from, as the model's own tokens render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FimTokens {
    pub prefix: String,
    pub suffix: String,
    pub middle: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// Assistant messages to an upstream: the calls they made (OpenAI shape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<serde_json::Value>,
    /// Tool messages to an upstream: the call they answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }
}

/// A local model's own chat template (the GGUF's Jinja text) and the texts of its BOS and EOS tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    pub text: String,
    pub bos: String,
    pub eos: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be served as asked (too long, bad parameter): a 4xx.
    #[error("{0}")]
    InvalidRequest(String),
    /// The model's queue is full: a 429/503 with Retry-After.
    #[error("model {model} is busy: {depth} requests are already waiting")]
    QueueFull { model: String, depth: usize },
    /// The model is not loaded (failed, or shutting down).
    #[error("model {0} is not available")]
    Unavailable(String),
    /// An upstream model server answered with an HTTP error status.
    #[error("model server returned {status}: {message}")]
    Upstream { status: u16, message: String, retry_after: Option<Duration> },
    /// An upstream model server could not be reached or broke off (timeout, connection refused).
    #[error("model server unreachable: {0}")]
    Unreachable(String),
    /// The request waited past its deadline for a slot and was dropped.
    #[error("the request waited {:.1} s for a free slot and expired; the model is overloaded", waited.as_secs_f64())]
    Expired { waited: Duration },
    #[error("inference failed: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Engine: Send + Sync {
    fn info(&self) -> &ModelInfo;
    /// True once the model answered its warm-up token.
    fn is_ready(&self) -> bool;
    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError>;
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError>;
    /// Renders chat messages with the model's template (or the family default), ending with the assistant turn opener.
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError>;
    /// The model's FIM tokens, when it has them.
    fn fim_tokens(&self) -> Option<&FimTokens>;
    /// Exact token count of `text` with the model's own tokenizer (blocking; call off the async
    /// threads), or `None` when the tokenizer is not local.
    fn count_tokens(&self, text: &str) -> Option<usize>;
    /// Requests waiting for a slot.
    fn queue_depth(&self) -> usize {
        0
    }
    /// The model's own chat template, when it has one (llama.cpp's built-in layouts serve the others).
    fn template(&self) -> Option<&TemplateSource> {
        None
    }
    /// Served by an upstream server, which renders chats and calls tools itself.
    fn is_remote(&self) -> bool {
        false
    }
    /// What the model's embeddings look like, when it serves them.
    fn embeddings(&self) -> Option<EmbedInfo> {
        None
    }
    /// Embeds the inputs (unit vectors, in input order).
    async fn embed(&self, _req: EmbedRequest) -> Result<Embedded, EngineError> {
        Err(EngineError::InvalidRequest(format!("model `{}` does not serve embeddings", self.info().name)))
    }
}

/// The model the tests run on: `AIRGATE_TEST_MODEL`, else where `make test` puts the default model.
#[cfg(test)]
pub(crate) fn test_model_path() -> std::path::PathBuf {
    let path = std::env::var_os("AIRGATE_TEST_MODEL").map(std::path::PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        std::path::PathBuf::from(home).join(".cache/airgate/models/gemma-3-270m-q4_k_m.gguf")
    });
    assert!(path.exists(), "{} is missing: run `make test` (or set AIRGATE_TEST_MODEL)", path.display());
    path
}
