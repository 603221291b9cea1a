//! The model side of the agent loop: chat messages with tool calls, tool definitions, the streamed answer, and the `AgentModel` trait the loop calls.
//!
//! The types follow OpenAI's tool calling (the shape `features::toolchat` speaks): a tool is a name,
//! a description and a JSON Schema; the model answers with text and/or tool calls whose arguments
//! are JSON text; a stream delivers content, reasoning, tool-call starts and argument fragments,
//! then `Done`. The loop is written against the trait only, so tests drive it with a scripted fake.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::Value;

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Whether (and which) tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Named(String),
}

/// One tool call the model made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments object as JSON text.
    pub arguments: String,
}

/// A conversation message as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    System(String),
    User(String),
    Assistant { content: String, tool_calls: Vec<ToolCall> },
    Tool { call_id: String, name: String, content: String },
}

/// One model call.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    pub max_tokens: u32,
    pub temperature: f32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What a streaming model call yields, in order; `Done` comes last.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatDelta {
    Content(String),
    Reasoning(String),
    ToolCallStart { index: usize, id: String, name: String },
    ToolCallArgs { index: usize, fragment: String },
    Done { finish_reason: String, usage: TokenUsage },
}

/// Why a model call failed; the message is safe to show (no keys, no prompt text).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The model cannot take the request (prompt too long, bad parameter).
    #[error("{0}")]
    Invalid(String),
    /// The model is busy, loading, unreachable or failed.
    #[error("{0}")]
    Unavailable(String),
}

pub type DeltaStream = BoxStream<'static, Result<ChatDelta, ModelError>>;

/// A model that can call tools.
#[async_trait]
pub trait AgentModel: Send + Sync {
    /// The model's name, for logs, metrics and the admin UI.
    fn name(&self) -> String;
    /// Context tokens one call may use (prompt and answer).
    fn context_tokens(&self) -> u32;
    async fn call(&self, request: TurnRequest) -> Result<DeltaStream, ModelError>;
}

/// A model answer, assembled from its deltas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub content: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: String,
    pub usage: TokenUsage,
}

impl Answer {
    /// Adds one delta; returns true when it changed the visible content.
    pub fn push(&mut self, delta: ChatDelta) -> bool {
        match delta {
            ChatDelta::Content(text) => {
                self.content.push_str(&text);
                !text.is_empty()
            }
            ChatDelta::Reasoning(text) => {
                self.reasoning.push_str(&text);
                false
            }
            ChatDelta::ToolCallStart { index, id, name } => {
                if self.tool_calls.len() <= index {
                    self.tool_calls.resize_with(index + 1, || ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                self.tool_calls[index].id = id;
                self.tool_calls[index].name = name;
                false
            }
            ChatDelta::ToolCallArgs { index, fragment } => {
                if let Some(call) = self.tool_calls.get_mut(index) {
                    call.arguments.push_str(&fragment);
                }
                false
            }
            ChatDelta::Done { finish_reason, usage } => {
                self.finish_reason = finish_reason;
                self.usage = usage;
                false
            }
        }
    }
}
