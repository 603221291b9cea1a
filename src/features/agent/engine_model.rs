//! `AgentModel` over an `engine::Engine` route, for models called without native tool calling: the tools are described in the system prompt and calls are written as `<tool_call>{…}</tool_call>` text. A forced call on a local model is built by prefilling the JSON and letting the model write only the argument values; anything the model writes is checked against the tool list, and a malformed call is asked for once more.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::model::{
    AgentModel, ChatDelta, DeltaStream, Message, ModelError, TokenUsage, ToolChoice, ToolDef, TurnRequest,
};
use crate::engine::{Event, EventStream};
use crate::features::FeatureError;
use crate::features::chat::{self, ChatPlan};
use crate::features::routing::{Feature, Route};
use crate::prompt::Message as PromptMessage;
use crate::prompt::agent::{CALL_CLOSE, CALL_OPEN, ToolText, call_text, result_text, tool_protocol};

/// Tokens a forced argument value may take.
const VALUE_TOKENS: u32 = 256;
/// Strings after which a chat-tuned model's turn is over.
const TURN_ENDS: &[&str] = &["<end_of_turn>", "<|im_end|>", "<|eot_id|>", "</s>"];

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
        let (tx, rx) = mpsc::channel(64);
        let job = Job { route: self.route.clone(), feature: self.feature, verbose: self.verbose, request };
        // The first call's errors (prompt too long, model unavailable) are the caller's answer.
        let first = job.first_events().await?;
        tokio::spawn(async move {
            let result = job.drive(first, &tx).await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(ReceiverStream::new(rx).boxed())
    }
}

type Sink = mpsc::Sender<Result<ChatDelta, ModelError>>;

struct Job {
    route: Arc<Route>,
    feature: Feature,
    verbose: bool,
    request: TurnRequest,
}

/// What the first generation is.
enum First {
    /// Free text that may contain a call.
    Free(EventStream),
    /// A forced call of this tool, built value by value.
    Forced(ToolDef),
    /// `Required` on a local model: the model first writes the tool's name.
    PickTool(EventStream),
}

fn model_error(e: FeatureError) -> ModelError {
    match e {
        FeatureError::BadInput(m) | FeatureError::Unprocessable(m) => ModelError::Invalid(m),
        other => ModelError::Unavailable(other.to_string()),
    }
}

impl Job {
    fn tools(&self) -> &[ToolDef] {
        if self.request.tool_choice == ToolChoice::None { &[] } else { &self.request.tools }
    }

    fn forced_name(&self) -> Option<&str> {
        match &self.request.tool_choice {
            ToolChoice::Named(n) => Some(n),
            _ => None,
        }
    }

    /// The conversation as chat messages: one system message with the tool protocol, tool calls and results as text.
    fn messages(&self, must_call: bool) -> Vec<PromptMessage> {
        let mut system = String::new();
        let mut out: Vec<PromptMessage> = Vec::new();
        let mut push = |role: &str, text: String| match out.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&text);
            }
            _ => out.push(PromptMessage { role: role.into(), content: text }),
        };
        for m in &self.request.messages {
            match m {
                Message::System(text) => {
                    if !system.is_empty() {
                        system.push_str("\n\n");
                    }
                    system.push_str(text);
                }
                Message::User(text) => push("user", text.clone()),
                Message::Assistant { content, tool_calls } => {
                    let mut text = content.clone();
                    for c in tool_calls {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&call_text(&c.name, &c.arguments));
                    }
                    push("assistant", text);
                }
                Message::Tool { name, content, .. } => push("user", result_text(name, content)),
            }
        }
        let tools = self.tools();
        if !tools.is_empty() {
            let listed: Vec<ToolText<'_>> = tools
                .iter()
                .map(|t| ToolText { name: &t.name, description: &t.description, schema: &t.parameters })
                .collect();
            system.push_str(&tool_protocol(&listed, must_call));
        }
        if !system.is_empty() {
            out.insert(0, PromptMessage { role: "system".into(), content: system });
        }
        out
    }

    fn plan(&self, messages: Vec<PromptMessage>, prefill: Option<String>, max_tokens: u32, stop: &[&str]) -> ChatPlan {
        let mut stops: Vec<String> = TURN_ENDS.iter().map(|s| s.to_string()).collect();
        stops.extend(stop.iter().map(|s| s.to_string()));
        ChatPlan {
            messages,
            prefill,
            temperature: self.request.temperature,
            max_tokens,
            stop: stops,
            seed: None,
            feature: self.feature,
            drop_history: true,
        }
    }

    async fn generate(&self, plan: ChatPlan) -> Result<EventStream, ModelError> {
        chat::run(&self.route, plan, self.verbose).await.map(|(events, _)| events).map_err(model_error)
    }

    async fn first_events(&self) -> Result<First, ModelError> {
        if let Some(name) = self.forced_name() {
            let tool = self.tools().iter().find(|t| t.name == name).cloned();
            let tool = tool.ok_or_else(|| ModelError::Invalid(format!("tool `{name}` is not offered")))?;
            if self.route.local {
                return Ok(First::Forced(tool));
            }
        }
        let required = matches!(self.request.tool_choice, ToolChoice::Required | ToolChoice::Named(_));
        if self.request.tool_choice == ToolChoice::Required && self.route.local && !self.tools().is_empty() {
            let prefill = format!("{CALL_OPEN}{{\"name\": \"");
            let plan = self.plan(self.messages(true), Some(prefill), 16, &["\""]);
            return Ok(First::PickTool(self.generate(plan).await?));
        }
        // Without tools the model may still imitate earlier calls in the conversation: cut it there.
        let stop = if self.request.tool_choice == ToolChoice::None { CALL_OPEN } else { CALL_CLOSE };
        let plan = self.plan(self.messages(required), None, self.request.max_tokens, &[stop]);
        Ok(First::Free(self.generate(plan).await?))
    }

    async fn drive(&self, first: First, tx: &Sink) -> Result<(), ModelError> {
        match first {
            First::Forced(tool) => self.forced(&tool, tx).await,
            First::PickTool(events) => {
                let (name, _) = collect(events).await?;
                let name = name.trim().to_string();
                let tool = self
                    .tools()
                    .iter()
                    .find(|t| t.name == name)
                    .or_else(|| self.tools().iter().find(|t| !name.is_empty() && t.name.starts_with(&name)))
                    .or_else(|| self.tools().first())
                    .cloned()
                    .ok_or_else(|| ModelError::Invalid("no tool is offered".into()))?;
                self.forced(&tool, tx).await
            }
            First::Free(events) => self.free(events, tx).await,
        }
    }

    /// Free text: content streams until a call opens; the call is parsed at the end.
    async fn free(&self, mut events: EventStream, tx: &Sink) -> Result<(), ModelError> {
        let mut shown = String::new();
        let mut pending = String::new();
        let mut call: Option<String> = None;
        let mut usage = TokenUsage::default();
        let mut finish = "stop".to_string();
        while let Some(event) = events.recv().await {
            match event {
                Event::Text(t) => match call.as_mut() {
                    Some(c) => c.push_str(&t),
                    None => {
                        pending.push_str(&t);
                        if let Some(at) = pending.find(CALL_OPEN) {
                            let before = pending[..at].to_string();
                            call = Some(pending[at + CALL_OPEN.len()..].to_string());
                            pending.clear();
                            emit(tx, &mut shown, before).await?;
                        } else {
                            let keep = partial_marker(&pending);
                            let ready = pending[..pending.len() - keep].to_string();
                            pending.drain(..pending.len() - keep);
                            emit(tx, &mut shown, ready).await?;
                        }
                    }
                },
                Event::Done { finish: f, usage: u, .. } => {
                    usage = TokenUsage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens };
                    finish = f.as_str().to_string();
                    break;
                }
                Event::Failed(detail) => return Err(ModelError::Unavailable(format!("the model failed: {detail}"))),
                Event::Expired { waited } => {
                    return Err(ModelError::Unavailable(format!(
                        "the model is overloaded: the request waited {:.0} s for a slot",
                        waited.as_secs_f64()
                    )));
                }
            }
        }
        let Some(raw) = call else {
            emit(tx, &mut shown, pending).await?;
            return done(tx, &finish, usage).await;
        };
        match parse_call(&raw, self.tools()) {
            Ok((name, args)) => send_call(tx, &name, &args, usage).await,
            Err(problem) => {
                // Ask once more, telling the model what was wrong.
                let mut messages = self.messages(true);
                messages.push(PromptMessage { role: "assistant".into(), content: format!("{shown}{CALL_OPEN}{raw}") });
                messages.push(PromptMessage {
                    role: "user".into(),
                    content: format!("That tool call is not valid: {problem}. Write it again, correctly."),
                });
                let plan = self.plan(messages, None, self.request.max_tokens, &[CALL_CLOSE]);
                let (text, usage) = collect(self.generate(plan).await?).await?;
                match text.split_once(CALL_OPEN).map(|(_, c)| parse_call(c, self.tools())) {
                    Some(Ok((name, args))) => send_call(tx, &name, &args, usage).await,
                    _ => {
                        tracing::info!(%problem, "the model wrote a malformed tool call twice; keeping its text");
                        emit(tx, &mut shown, format!("{CALL_OPEN}{raw}")).await?;
                        done(tx, "stop", usage).await
                    }
                }
            }
        }
    }

    /// A forced call on a local model: the JSON is prefilled and the model writes each required value.
    async fn forced(&self, tool: &ToolDef, tx: &Sink) -> Result<(), ModelError> {
        let messages = self.messages(true);
        let mut prefill = format!("{CALL_OPEN}{{\"name\": \"{}\", \"arguments\": {{", tool.name);
        let mut args = Map::new();
        let mut usage = TokenUsage::default();
        for (i, (key, kind)) in required_properties(&tool.parameters).into_iter().enumerate() {
            if i > 0 {
                prefill.push_str(", ");
            }
            prefill.push_str(&format!("{}: ", Value::String(key.clone())));
            let (value, used) = match kind.as_str() {
                "string" => {
                    prefill.push('"');
                    let budget = VALUE_TOKENS.min(self.request.max_tokens.max(16));
                    let plan = self.plan(messages.clone(), Some(prefill.clone()), budget, &["\"", "\n"]);
                    let (text, u) = collect(self.generate(plan).await?).await?;
                    let text = text.trim().to_string();
                    prefill.push_str(&text.replace('\\', "\\\\"));
                    prefill.push('"');
                    (Value::String(text), u)
                }
                other => {
                    let plan = self.plan(messages.clone(), Some(prefill.clone()), 32, &[",", "}", "\n"]);
                    let (text, u) = collect(self.generate(plan).await?).await?;
                    let value = scalar(other, text.trim());
                    prefill.push_str(&value.to_string());
                    (value, u)
                }
            };
            usage.prompt_tokens += used.prompt_tokens;
            usage.completion_tokens += used.completion_tokens;
            args.insert(key, value);
        }
        send_call(tx, &tool.name, &Value::Object(args).to_string(), usage).await
    }
}

/// The required properties of an object schema with their types, in the schema's order.
fn required_properties(schema: &Value) -> Vec<(String, String)> {
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else { return Vec::new() };
    props
        .iter()
        .filter(|(k, _)| required.contains(&k.as_str()))
        .map(|(k, p)| (k.clone(), p["type"].as_str().unwrap_or("string").to_string()))
        .collect()
}

/// A value of a non-string type from what the model wrote.
fn scalar(kind: &str, text: &str) -> Value {
    match kind {
        "integer" => {
            let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
            Value::from(digits.parse::<i64>().unwrap_or(0))
        }
        "number" => {
            let num: String = text.chars().take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '.')).collect();
            serde_json::Number::from_f64(num.parse().unwrap_or(0.0)).map_or(Value::from(0), Value::Number)
        }
        "boolean" => Value::Bool(text.starts_with('t')),
        "array" => serde_json::from_str(text).ok().filter(Value::is_array).unwrap_or_else(|| Value::Array(vec![])),
        _ => serde_json::from_str(text).ok().filter(Value::is_object).unwrap_or_else(|| Value::Object(Map::new())),
    }
}

/// How many bytes at the end of `text` could be the start of the call marker.
fn partial_marker(text: &str) -> usize {
    (1..CALL_OPEN.len()).rev().find(|&n| text.len() >= n && text.ends_with(&CALL_OPEN[..n])).unwrap_or(0)
}

/// A call's text after the marker: `{"name": …, "arguments": {…}}` (anything after the object ignored).
pub fn parse_call(raw: &str, tools: &[ToolDef]) -> Result<(String, String), String> {
    let text = raw.trim_start();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("it is not valid JSON ({e})")),
        None => return Err("it is empty".into()),
    };
    let name = value["name"].as_str().ok_or("it has no \"name\"")?;
    if !tools.iter().any(|t| t.name == name) {
        return Err(format!("there is no tool named `{name}`"));
    }
    let args = match value.get("arguments").or_else(|| value.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| "its arguments are not a JSON object")?,
        Some(v) => v.clone(),
    };
    if !args.is_object() {
        return Err("its arguments are not a JSON object".into());
    }
    Ok((name.to_string(), args.to_string()))
}

async fn emit(tx: &Sink, shown: &mut String, text: String) -> Result<(), ModelError> {
    if text.is_empty() {
        return Ok(());
    }
    shown.push_str(&text);
    tx.send(Ok(ChatDelta::Content(text))).await.map_err(|_| gone())
}

async fn done(tx: &Sink, finish: &str, usage: TokenUsage) -> Result<(), ModelError> {
    tx.send(Ok(ChatDelta::Done { finish_reason: finish.into(), usage })).await.map_err(|_| gone())
}

async fn send_call(tx: &Sink, name: &str, args: &str, usage: TokenUsage) -> Result<(), ModelError> {
    let id = format!("call_{}", uuid::Uuid::new_v4().simple());
    let deltas = [
        ChatDelta::ToolCallStart { index: 0, id, name: name.into() },
        ChatDelta::ToolCallArgs { index: 0, fragment: args.into() },
        ChatDelta::Done { finish_reason: "tool_calls".into(), usage },
    ];
    for d in deltas {
        tx.send(Ok(d)).await.map_err(|_| gone())?;
    }
    Ok(())
}

/// The caller dropped the stream: stop quietly.
fn gone() -> ModelError {
    ModelError::Unavailable("the caller stopped listening".into())
}

/// A whole generation's text and usage.
async fn collect(mut events: EventStream) -> Result<(String, TokenUsage), ModelError> {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Done { usage, .. } => {
                return Ok((
                    text,
                    TokenUsage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens },
                ));
            }
            Event::Failed(detail) => return Err(ModelError::Unavailable(format!("the model failed: {detail}"))),
            Event::Expired { .. } => return Err(ModelError::Unavailable("the model is overloaded".into())),
        }
    }
    Err(ModelError::Unavailable("the model stopped without finishing".into()))
}

#[cfg(test)]
mod tests;
