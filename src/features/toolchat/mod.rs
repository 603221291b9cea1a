//! The one tool-capable chat call, for `/v1/chat/completions` and the Agent Platform's agent loop: messages with tool calls and results in, content, reasoning and tool calls out as a stream.
//!
//! A local model gets its own chat template (or airgate's tool instructions when the template knows
//! no tools), a grammar built from the tools' schemas in the model's call syntax (lazy for
//! `tool_choice: auto`, the whole answer for `required`, a named tool or `response_format`), and the
//! incremental parser; every call that comes out parses and validates against its schema and names
//! an offered tool. An upstream server gets the tools as they are; its calls are validated, and one
//! that is malformed is asked for again once.
//!
//! Submodules: `template` (rendering a local chat, shared with the classic chat), `local`, `remote`.

mod local;
mod remote;
pub mod template;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::FeatureError;
use crate::engine::{Engine, SamplingParams, Usage};
use crate::prompt::toolcall::schema;

pub use crate::prompt::toolcall::{ToolCall, ToolDef, Turn as Message};

/// Which calls the model may or must make.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// No calls (the tools are not shown to the model).
    None,
    /// Calls when the model chooses to.
    #[default]
    Auto,
    /// At least one call, nothing else.
    Required,
    /// A call of this tool, nothing else.
    Named(String),
}

/// The shape of the answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResponseFormat {
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema (of the subset [`schema::check`] accepts).
    JsonSchema { name: String, schema: Value },
}

/// A chat with tools.
#[derive(Debug, Clone)]
pub struct ToolChatRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    /// Several calls in one answer. `None`: the model's default (a local model makes one call, as
    /// `llama-server` does: a small model asked for "one or more" tends to repeat its call until the
    /// output runs out; an upstream decides itself).
    pub parallel_tool_calls: Option<bool>,
    pub response_format: ResponseFormat,
    /// `None`: as many as the context allows.
    pub max_tokens: Option<u32>,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    /// Stop (finish reason `repetition`) when the answer starts repeating itself.
    pub repetition_guard: bool,
    pub deadline: Option<Instant>,
    /// Who asks (a metrics label).
    pub feature: &'static str,
    /// Merge every system message into one (families that accept only one).
    pub single_system: bool,
    /// Extra chat-template variables (`chat_template_kwargs`: `enable_thinking`…).
    pub template_kwargs: Map<String, Value>,
    /// Hold tool calls and JSON answers to a grammar. Always on, except to measure what the grammar
    /// prevents.
    pub grammar: bool,
}

impl ToolChatRequest {
    /// A request for `messages` with no tools and default sampling.
    pub fn new(messages: Vec<Message>, feature: &'static str) -> ToolChatRequest {
        ToolChatRequest {
            messages,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: None,
            response_format: ResponseFormat::Text,
            max_tokens: None,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            ignore_eos: false,
            repetition_guard: false,
            deadline: None,
            feature,
            single_system: false,
            template_kwargs: Map::new(),
            grammar: true,
        }
    }

    /// Whether the model is offered tools at all.
    fn tools_active(&self) -> bool {
        !self.tools.is_empty() && self.tool_choice != ToolChoice::None
    }
}

/// What the answer streams as, in order: content, reasoning and calls (a call's start, its argument
/// fragments, its end), then exactly one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatDelta {
    Content(String),
    Reasoning(String),
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArgs {
        index: usize,
        fragment: String,
    },
    /// The call's arguments are all there (`complete`), or the answer ended inside them (the call is
    /// then not part of a collected answer; a stream has shown it as it was cut).
    ToolCallEnd {
        index: usize,
        complete: bool,
    },
    /// `finish_reason`: `stop`, `length`, `tool_calls` or `cancelled`.
    Done {
        finish_reason: String,
        usage: Usage,
    },
    /// The model failed after the answer started (the message is for the client).
    Failed(String),
}

/// The answer as a stream of [`ChatDelta`]s; dropping it cancels the generation.
pub type ChatStream = ReceiverStream<ChatDelta>;

/// A whole answer, collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatAnswer {
    pub content: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: String,
    pub usage: Usage,
}

/// Runs a tool-capable chat on `engine`. Bad input (tools, schemas, a named tool that is not
/// offered, a template that fails) is refused before the model runs.
pub async fn chat(engine: Arc<dyn Engine>, req: ToolChatRequest) -> Result<ChatStream, FeatureError> {
    check(&req)?;
    let (tx, rx) = mpsc::channel(64);
    if engine.is_remote() {
        remote::start(engine, req, tx).await?;
    } else {
        local::start(engine, req, tx).await?;
    }
    Ok(ReceiverStream::new(rx))
}

/// Waits for the whole answer.
pub async fn collect(stream: ChatStream) -> Result<ChatAnswer, FeatureError> {
    let mut rx = stream.into_inner();
    let mut answer = ChatAnswer::default();
    let mut complete_calls = Vec::new();
    while let Some(delta) = rx.recv().await {
        match delta {
            ChatDelta::Content(t) => answer.content.push_str(&t),
            ChatDelta::Reasoning(t) => answer.reasoning.push_str(&t),
            ChatDelta::ToolCallStart { id, name, .. } => {
                answer.tool_calls.push(ToolCall { id, name, arguments: String::new() })
            }
            ChatDelta::ToolCallArgs { index, fragment } => {
                if let Some(call) = answer.tool_calls.get_mut(index) {
                    call.arguments.push_str(&fragment);
                }
            }
            ChatDelta::ToolCallEnd { index, complete } => {
                if complete {
                    complete_calls.push(index);
                }
            }
            ChatDelta::Done { finish_reason, usage } => {
                answer.finish_reason = finish_reason;
                answer.usage = usage;
                // A call the output ended inside is not an answer's call.
                let mut index = 0;
                answer.tool_calls.retain(|_| {
                    index += 1;
                    complete_calls.contains(&(index - 1))
                });
                return Ok(answer);
            }
            ChatDelta::Failed(message) => {
                return Err(FeatureError::Engine(crate::engine::EngineError::Internal(message)));
            }
        }
    }
    Err(FeatureError::Engine(crate::engine::EngineError::Internal(
        "the model stopped without finishing the response".into(),
    )))
}

/// Longest tool name (OpenAI's limit) and most tools in one request.
const MAX_NAME: usize = 64;
const MAX_TOOLS: usize = 128;

/// Refuses what no model should see: bad tool names, duplicate tools, schemas outside the subset a
/// grammar enforces, a named tool that is not offered, tool messages without their call.
fn check(req: &ToolChatRequest) -> Result<(), FeatureError> {
    let bad = |m: String| Err(FeatureError::BadInput(m));
    if req.messages.is_empty() {
        return bad("`messages` is empty: send at least one message".into());
    }
    if req.tools.len() > MAX_TOOLS {
        return bad(format!("{} tools were sent; at most {MAX_TOOLS} are allowed", req.tools.len()));
    }
    for (i, tool) in req.tools.iter().enumerate() {
        let valid = !tool.name.is_empty()
            && tool.name.len() <= MAX_NAME
            && tool.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !valid {
            return bad(format!(
                "`tools[{i}].function.name` is `{}`: a name is 1 to {MAX_NAME} letters, digits, `_`, `-` or `.`",
                tool.name
            ));
        }
        if req.tools[..i].iter().any(|t| t.name == tool.name) {
            return bad(format!("`tools[{i}]`: the tool `{}` is offered twice", tool.name));
        }
        schema::check(&tool.parameters)
            .map_err(|e| FeatureError::BadInput(format!("`tools[{i}].function.parameters`: {e}")))?;
    }
    if let ToolChoice::Named(name) = &req.tool_choice
        && !req.tools.iter().any(|t| &t.name == name)
    {
        return bad(format!("`tool_choice` names the function `{name}`, which is not among `tools`"));
    }
    if req.tool_choice == ToolChoice::Required && req.tools.is_empty() {
        return bad("`tool_choice` is `required` but no `tools` were sent".into());
    }
    if let ResponseFormat::JsonSchema { schema: s, .. } = &req.response_format {
        schema::check(s).map_err(|e| FeatureError::BadInput(format!("`response_format.json_schema.schema`: {e}")))?;
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == "tool" {
            let Some(id) = m.tool_call_id.as_deref().filter(|id| !id.is_empty()) else {
                return bad(format!("`messages[{i}]` is a tool message without `tool_call_id`"));
            };
            let answered = req.messages[..i].iter().flat_map(|t| &t.tool_calls).any(|c| c.id == id);
            if !answered {
                return bad(format!(
                    "`messages[{i}].tool_call_id` is `{id}`, but no earlier assistant message made that call"
                ));
            }
        }
    }
    Ok(())
}

/// A new call id, OpenAI's shape (`call_` and 24 alphanumerics).
fn call_id() -> String {
    let raw = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &raw[..24])
}

/// Why a finished call cannot be returned as it is: arguments that are not a JSON object, or break
/// the tool's schema, or a tool that was not offered.
fn invalid_call(tools: &[ToolDef], name: &str, arguments: &str) -> Option<String> {
    let Some(tool) = tools.iter().find(|t| t.name == name) else {
        return Some(format!("there is no tool `{name}`"));
    };
    let value: Value = match serde_json::from_str(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Some("the arguments are not a JSON object".into()),
        Err(e) => return Some(format!("the arguments are not valid JSON ({e})")),
    };
    schema::validate(&tool.parameters, &value).err().map(|e| format!("the arguments break the schema: {e}"))
}

/// The finish reason of an answer that ended with `finish`, having made `calls` calls.
fn finish_reason(finish: crate::engine::FinishReason, calls: usize) -> String {
    match finish {
        crate::engine::FinishReason::Stop if calls > 0 => "tool_calls".into(),
        other => other.as_str().into(),
    }
}
