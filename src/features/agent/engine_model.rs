//! `AgentModel` over a routed engine through `features::toolchat`: a local model's tool calls are held to a grammar built from the tools' schemas (so every call parses and validates), an upstream's are validated and a malformed one is asked for once more. The conversation is fitted into the model's context first, dropping the oldest exchanges, then shortening long tool results.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::model::{AgentModel, ChatDelta, DeltaStream, Message, ModelError, TokenUsage, ToolChoice, TurnRequest};
use crate::engine::{EngineError, SamplingParams};
use crate::features::FeatureError;
use crate::features::routing::{Feature, Route};
use crate::features::toolchat::{self, ChatDelta as Delta, ToolChatRequest};
use crate::prompt::toolcall::schema;

/// Tokens reserved for what the chat template and airgate's tool instructions add.
const FRAME_TOKENS: usize = 400;
/// Tokens each message's role markers take, roughly.
const PER_MESSAGE_TOKENS: usize = 8;
/// A tool result is never shortened below this many characters.
const MIN_RESULT_CHARS: usize = 400;
/// Output room a call that must be made gets at least: a call cut by the output limit is no call.
const CALL_TOKENS: u32 = 256;

/// A routed engine as a tool-calling model.
pub struct EngineModel {
    route: Arc<Route>,
    feature: Feature,
    verbose: bool,
}

impl EngineModel {
    pub fn new(route: Route, feature: Feature, verbose: bool) -> EngineModel {
        EngineModel { route: Arc::new(route), feature, verbose }
    }

    /// The toolchat request for one model call.
    fn chat_request(&self, request: TurnRequest) -> ToolChatRequest {
        let context = self.route.engine.info().context_per_slot.max(1);
        // At most half the context for the answer, so the conversation keeps room.
        let must_call = matches!(request.tool_choice, ToolChoice::Required | ToolChoice::Named(_));
        let wanted = if must_call { request.max_tokens.max(CALL_TOKENS) } else { request.max_tokens };
        let max_tokens = wanted.clamp(1, (context / 2).max(1));
        let mut messages = request.messages;
        if self.route.local {
            let budget = (context - max_tokens) as usize;
            let engine = self.route.engine.clone();
            let count = move |text: &str| engine.count_tokens(text).unwrap_or(text.len() / 3 + 1);
            let tools_cost: usize =
                request.tools.iter().map(|t| count(&t.description) + count(&t.parameters.to_string())).sum();
            fit(&mut messages, budget.saturating_sub(FRAME_TOKENS + tools_cost), &count);
        }
        let tools: Vec<toolchat::ToolDef> = request
            .tools
            .into_iter()
            .map(|t| toolchat::ToolDef { name: t.name, description: t.description, parameters: loosened(t.parameters) })
            .collect();
        let tool_choice = match request.tool_choice {
            ToolChoice::None => toolchat::ToolChoice::None,
            ToolChoice::Auto => toolchat::ToolChoice::Auto,
            ToolChoice::Required => toolchat::ToolChoice::Required,
            ToolChoice::Named(name) => toolchat::ToolChoice::Named(name),
        };
        if self.verbose {
            tracing::info!(messages = messages.len(), tools = tools.len(), max_tokens, "agent model call");
        }
        ToolChatRequest {
            tools,
            tool_choice,
            parallel_tool_calls: Some(false),
            max_tokens: Some(max_tokens),
            sampling: SamplingParams { temperature: request.temperature, ..SamplingParams::default() },
            repetition_guard: true,
            single_system: self.route.family.requires_single_system_message(),
            ..ToolChatRequest::new(messages.into_iter().map(turn).collect(), self.feature.as_str())
        }
    }
}

#[async_trait]
impl AgentModel for EngineModel {
    fn name(&self) -> String {
        self.route.engine.info().name.clone()
    }

    fn context_tokens(&self) -> u32 {
        self.route.engine.info().context_per_slot
    }

    async fn call(&self, request: TurnRequest) -> Result<DeltaStream, ModelError> {
        let req = self.chat_request(request);
        let stream = toolchat::chat(self.route.engine.clone(), req).await.map_err(model_error)?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(forward(stream.into_inner(), tx));
        Ok(ReceiverStream::new(rx).boxed())
    }
}

/// The agent's message as a toolchat turn.
fn turn(message: Message) -> toolchat::Message {
    match message {
        Message::System(text) => toolchat::Message::new("system", text),
        Message::User(text) => toolchat::Message::new("user", text),
        Message::Assistant { content, tool_calls } => toolchat::Message {
            tool_calls: tool_calls
                .into_iter()
                .map(|c| toolchat::ToolCall { id: c.id, name: c.name, arguments: c.arguments })
                .collect(),
            ..toolchat::Message::new("assistant", content)
        },
        Message::Tool { call_id, content, .. } => {
            toolchat::Message { tool_call_id: Some(call_id), ..toolchat::Message::new("tool", content) }
        }
    }
}

/// Passes content and reasoning on as they come; a tool call goes out whole once its arguments are
/// complete (a call the output was cut inside never reaches the loop). Stops when the receiver goes.
async fn forward(mut deltas: mpsc::Receiver<Delta>, tx: mpsc::Sender<Result<ChatDelta, ModelError>>) {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut sent = 0;
    while let Some(delta) = deltas.recv().await {
        let out = match delta {
            Delta::Content(text) => vec![Ok(ChatDelta::Content(text))],
            Delta::Reasoning(text) => vec![Ok(ChatDelta::Reasoning(text))],
            Delta::ToolCallStart { index, id, name } => {
                if calls.len() <= index {
                    calls.resize_with(index + 1, Default::default);
                }
                calls[index] = (id, name, String::new());
                Vec::new()
            }
            Delta::ToolCallArgs { index, fragment } => {
                if let Some(call) = calls.get_mut(index) {
                    call.2.push_str(&fragment);
                }
                Vec::new()
            }
            Delta::ToolCallEnd { index, complete: true } => match calls.get_mut(index) {
                Some((id, name, arguments)) => {
                    let index = sent;
                    sent += 1;
                    vec![
                        Ok(ChatDelta::ToolCallStart { index, id: std::mem::take(id), name: std::mem::take(name) }),
                        Ok(ChatDelta::ToolCallArgs { index, fragment: std::mem::take(arguments) }),
                    ]
                }
                None => Vec::new(),
            },
            Delta::ToolCallEnd { complete: false, .. } => Vec::new(),
            Delta::Done { finish_reason, usage } => vec![Ok(ChatDelta::Done {
                finish_reason,
                usage: TokenUsage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens },
            })],
            Delta::Failed(message) => vec![Err(ModelError::Unavailable(message))],
        };
        for item in out {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}

fn model_error(e: FeatureError) -> ModelError {
    match e {
        FeatureError::BadInput(m) | FeatureError::Unprocessable(m) => ModelError::Invalid(m),
        FeatureError::Engine(EngineError::InvalidRequest(m)) => ModelError::Invalid(m),
        other => ModelError::Unavailable(other.to_string()),
    }
}

/// A tool's schema as the grammar can hold it: a client's (MCP) tool may use JSON-schema keywords
/// outside the enforced subset; those are dropped rather than refusing the whole turn (the client
/// checks the arguments again when it runs the tool).
fn loosened(parameters: serde_json::Value) -> serde_json::Value {
    if schema::check(&parameters).is_ok() {
        return parameters;
    }
    let loose = schema::loosen(&parameters);
    tracing::debug!("a tool schema uses keywords a grammar cannot hold; they are not enforced");
    loose
}

/// Fits the conversation into `budget` tokens: drops the oldest exchanges (from a user message up
/// to the next one; the system messages and the last user message stay), then halves the longest
/// tool result until it fits or nothing is left to shorten.
fn fit(messages: &mut Vec<Message>, budget: usize, count: &dyn Fn(&str) -> usize) {
    let cost = |m: &Message| {
        PER_MESSAGE_TOKENS
            + match m {
                Message::System(t) | Message::User(t) => count(t),
                Message::Assistant { content, tool_calls } => {
                    count(content) + tool_calls.iter().map(|c| count(&c.name) + count(&c.arguments)).sum::<usize>()
                }
                Message::Tool { content, .. } => count(content),
            }
    };
    let mut costs: Vec<usize> = messages.iter().map(cost).collect();
    let total = |costs: &[usize]| costs.iter().sum::<usize>();
    while total(&costs) > budget {
        let users: Vec<usize> =
            messages.iter().enumerate().filter(|(_, m)| matches!(m, Message::User(_))).map(|(i, _)| i).collect();
        let [first, second, ..] = users[..] else { break };
        messages.drain(first..second);
        costs.drain(first..second);
    }
    while total(&costs) > budget {
        let longest = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match m {
                Message::Tool { content, .. } if content.len() > MIN_RESULT_CHARS => Some((i, content.len())),
                _ => None,
            })
            .max_by_key(|(_, len)| *len);
        let Some((i, len)) = longest else { break };
        if let Message::Tool { content, .. } = &mut messages[i] {
            let mut cut = (len / 2).max(MIN_RESULT_CHARS);
            while !content.is_char_boundary(cut) {
                cut -= 1;
            }
            content.truncate(cut);
            content.push_str("\n[… cut to fit the model's context]");
        }
        costs[i] = cost(&messages[i]);
    }
}

#[cfg(test)]
mod tests;
