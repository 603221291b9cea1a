//! OpenAI wire types for `/v1/chat/completions`, `/v1/completions` and `/v1/models`.

use serde::{Deserialize, Serialize};

use crate::engine::{SamplingParams, Usage};
use crate::http::ApiError;

/// The body of both `/v1/chat/completions` (with `messages`) and `/v1/completions` (with `prompt`).
/// Unknown fields are ignored, as OpenAI clients send many.
#[derive(Debug, Deserialize)]
pub struct GenerationRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<MessageIn>>,
    #[serde(default)]
    pub prompt: Option<PromptIn>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub top_k: Option<i32>,
    #[serde(default)]
    pub min_p: Option<f32>,
    #[serde(default)]
    pub repeat_penalty: Option<f32>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    #[serde(default)]
    pub seed: Option<u32>,
    #[serde(default)]
    pub stop: Option<StopIn>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub ignore_eos: bool,
    #[serde(default)]
    pub tools: Option<Vec<ToolIn>>,
    /// `"none"`, `"auto"`, `"required"` or `{"type": "function", "function": {"name"}}`.
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// `{"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema"}}`.
    #[serde(default)]
    pub response_format: Option<serde_json::Value>,
    /// Extra chat-template variables (as vLLM and llama-server take them), e.g. `enable_thinking`.
    #[serde(default)]
    pub chat_template_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
    /// airgate extension: `false` turns the tool-call grammar off (to measure what it prevents).
    #[serde(default)]
    pub tool_grammar: Option<bool>,
    /// airgate's extension: stop with finish reason `repetition` when the answer starts repeating
    /// itself (off unless asked for; GitLab features have it on).
    #[serde(default)]
    pub repetition_guard: bool,
    /// airgate's extension: speculative decoding with drafts from the prompt (off unless asked
    /// for; GitLab's code completions and generations have it on). The answer is the same.
    #[serde(default)]
    pub speculative: bool,
}

#[derive(Debug, Deserialize)]
pub struct MessageIn {
    pub role: String,
    #[serde(default)]
    pub content: Option<ContentIn>,
    /// Assistant messages: the calls they made.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallIn>>,
    /// Tool messages: the call they answer.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Assistant messages: reasoning returned earlier.
    #[serde(default)]
    pub reasoning_content: Option<String>,
}

/// A tool offered in a request.
#[derive(Debug, Deserialize)]
pub struct ToolIn {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<FunctionIn>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionIn {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
}

/// A call an assistant message made.
#[derive(Debug, Deserialize)]
pub struct ToolCallIn {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub function: CallFunctionIn,
}

#[derive(Debug, Deserialize)]
pub struct CallFunctionIn {
    pub name: String,
    /// JSON text (an object is accepted and written out as text).
    #[serde(default)]
    pub arguments: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ContentIn {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptIn {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StopIn {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

const MAX_STOP_STRINGS: usize = 16;

impl GenerationRequest {
    pub fn sampling(&self) -> SamplingParams {
        let d = SamplingParams::default();
        SamplingParams {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_p: self.top_p.unwrap_or(d.top_p),
            top_k: self.top_k.unwrap_or(d.top_k),
            min_p: self.min_p.unwrap_or(d.min_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(d.repeat_penalty),
            frequency_penalty: self.frequency_penalty.unwrap_or(d.frequency_penalty),
            presence_penalty: self.presence_penalty.unwrap_or(d.presence_penalty),
            seed: self.seed,
        }
    }

    pub fn stop_strings(&self) -> Result<Vec<String>, ApiError> {
        let stops = match &self.stop {
            None => Vec::new(),
            Some(StopIn::One(s)) => vec![s.clone()],
            Some(StopIn::Many(v)) => v.clone(),
        };
        if stops.len() > MAX_STOP_STRINGS {
            return Err(ApiError::bad_param(
                "stop",
                format!("stop has {} strings; at most {MAX_STOP_STRINGS} are allowed", stops.len()),
            ));
        }
        Ok(stops)
    }

    /// `max_completion_tokens` (newer clients) wins over `max_tokens`; 0 is refused.
    pub fn max_tokens(&self) -> Result<Option<u32>, ApiError> {
        let (field, value) = match (self.max_completion_tokens, self.max_tokens) {
            (Some(v), _) => ("max_completion_tokens", Some(v)),
            (None, v) => ("max_tokens", v),
        };
        if value == Some(0) {
            return Err(ApiError::bad_param(field, format!("{field} must be at least 1")));
        }
        Ok(value)
    }

    pub fn check_n(&self) -> Result<(), ApiError> {
        match self.n {
            None | Some(1) => Ok(()),
            Some(n) => {
                Err(ApiError::bad_param("n", format!("n is {n}, but airgate returns exactly one choice; send n = 1")))
            }
        }
    }
}

impl ContentIn {
    pub fn text(&self) -> String {
        match self {
            ContentIn::Text(s) => s.clone(),
            ContentIn::Parts(parts) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UsageOut {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub prompt_tokens_details: PromptTokensDetails,
    /// Prompt tokens dropped from the start because the prompt did not fit the context.
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated_prompt_tokens: u32,
}

#[derive(Debug, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl From<Usage> for UsageOut {
    fn from(u: Usage) -> Self {
        UsageOut {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.prompt_tokens + u.completion_tokens,
            prompt_tokens_details: PromptTokensDetails { cached_tokens: u.cached_tokens },
            truncated_prompt_tokens: u.truncated_tokens,
        }
    }
}
