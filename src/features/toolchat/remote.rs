//! A tool chat on an upstream server that calls tools itself: tools passed through, its calls validated, and a malformed one asked for again once with what was wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use super::{ChatDelta, Message, ResponseFormat, ToolChatRequest, ToolChoice, call_id, finish_reason, invalid_call};
use crate::engine::{
    ChatMessage, Engine, EngineError, Event, EventStream, GenerateRequest, Prompt, UpstreamTools, Usage,
};
use crate::features::FeatureError;
use crate::prompt::toolcall::{ToolCall, instruct};

pub(super) async fn start(
    engine: Arc<dyn Engine>,
    req: ToolChatRequest,
    tx: mpsc::Sender<ChatDelta>,
) -> Result<(), FeatureError> {
    let events = engine.generate(request(&req, &req.messages)).await?;
    tokio::spawn(forward(engine, req, events, tx));
    Ok(())
}

/// The upstream request for `messages`.
pub(super) fn request(req: &ToolChatRequest, messages: &[Message]) -> GenerateRequest {
    let mut turns = messages.to_vec();
    if req.single_system {
        turns = instruct::single_system(turns);
    }
    let messages = turns
        .iter()
        .map(|t| ChatMessage {
            tool_calls: t
                .tool_calls
                .iter()
                .map(
                    |c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}),
                )
                .collect(),
            tool_call_id: t.tool_call_id.clone(),
            ..ChatMessage::new(t.role.clone(), t.content.clone())
        })
        .collect();
    GenerateRequest {
        max_tokens: req.max_tokens,
        sampling: req.sampling.clone(),
        stop: req.stop.clone(),
        ignore_eos: req.ignore_eos,
        repetition_guard: req.repetition_guard,
        deadline: req.deadline,
        upstream_tools: upstream_tools(req),
        ..GenerateRequest::new(Prompt::Chat(messages), req.feature)
    }
}

/// The OpenAI fields of tool calling and answer formats, as the upstream gets them.
fn upstream_tools(req: &ToolChatRequest) -> Option<UpstreamTools> {
    let mut out = UpstreamTools::default();
    if !req.tools.is_empty() {
        out.tools = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
        out.tool_choice = Some(match &req.tool_choice {
            ToolChoice::None => json!("none"),
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
        });
        out.parallel_tool_calls = req.parallel_tool_calls;
    }
    out.response_format = match &req.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema { name, schema } => {
            Some(json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}}))
        }
    };
    (out != UpstreamTools::default()).then_some(out)
}

/// One upstream answer, read to its end.
struct Attempt {
    calls: Vec<ToolCall>,
    finish: crate::engine::FinishReason,
    usage: Usage,
}

/// Passes text and reasoning on as they come, collects the calls; `None` when the stream failed
/// (the failure was sent) or the client left.
async fn read(events: &mut EventStream, tx: &mpsc::Sender<ChatDelta>) -> Option<Attempt> {
    let mut calls: BTreeMap<usize, ToolCall> = BTreeMap::new();
    loop {
        let event = tokio::select! {
            () = tx.closed() => return None,
            event = events.recv() => event,
        };
        let delta = match event {
            Some(Event::Text(text)) => ChatDelta::Content(text),
            Some(Event::Reasoning(text)) => ChatDelta::Reasoning(text),
            Some(Event::ToolCall { index, id, name, arguments }) => {
                let call = calls.entry(index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                if let Some(id) = id {
                    call.id = id;
                }
                if let Some(name) = name {
                    call.name.push_str(&name);
                }
                call.arguments.push_str(&arguments);
                continue;
            }
            Some(Event::Done { finish, usage, .. }) => {
                let calls = calls
                    .into_values()
                    .map(|mut c| {
                        if c.id.is_empty() {
                            c.id = call_id();
                        }
                        c
                    })
                    .collect();
                return Some(Attempt { calls, finish, usage });
            }
            Some(Event::Failed(detail)) => ChatDelta::Failed(detail),
            Some(Event::Expired { waited }) => ChatDelta::Failed(EngineError::Expired { waited }.to_string()),
            None => ChatDelta::Failed("the model server stopped without finishing the response".into()),
        };
        let failed = matches!(delta, ChatDelta::Failed(_));
        if tx.send(delta).await.is_err() || failed {
            return None;
        }
    }
}

async fn forward(engine: Arc<dyn Engine>, req: ToolChatRequest, mut events: EventStream, tx: mpsc::Sender<ChatDelta>) {
    let Some(mut attempt) = read(&mut events, &tx).await else { return };
    let mut usage = attempt.usage;
    let problems: Vec<Option<String>> =
        attempt.calls.iter().map(|c| invalid_call(&req.tools, &c.name, &c.arguments)).collect();
    if problems.iter().any(Option::is_some) {
        for _ in problems.iter().flatten() {
            crate::metrics::tool_call("repaired");
        }
        tracing::info!(calls = attempt.calls.len(), "upstream made a malformed tool call: asking again once");
        let messages = repair_messages(&req.messages, &attempt.calls, &problems);
        match engine.generate(request(&req, &messages)).await {
            Ok(mut again) => {
                let Some(second) = read(&mut again, &tx).await else { return };
                usage.prompt_tokens += second.usage.prompt_tokens;
                usage.completion_tokens += second.usage.completion_tokens;
                attempt = second;
            }
            Err(e) => {
                let _ = tx.send(ChatDelta::Failed(e.to_string())).await;
                return;
            }
        }
    }
    let mut emitted = 0;
    for call in attempt.calls {
        let delta = match invalid_call(&req.tools, &call.name, &call.arguments) {
            None => {
                crate::metrics::tool_call("valid");
                let index = emitted;
                emitted += 1;
                let deltas = [
                    ChatDelta::ToolCallStart { index, id: call.id, name: call.name },
                    ChatDelta::ToolCallArgs { index, fragment: call.arguments },
                ];
                for delta in deltas {
                    if tx.send(delta).await.is_err() {
                        return;
                    }
                }
                ChatDelta::ToolCallEnd { index, complete: true }
            }
            Some(why) => {
                crate::metrics::tool_call("malformed");
                tracing::warn!(tool = %call.name, %why, "upstream tool call still malformed: returned as text");
                ChatDelta::Content(instruct::call_text(&call.name, &call.arguments))
            }
        };
        if tx.send(delta).await.is_err() {
            return;
        }
    }
    let _ = tx.send(ChatDelta::Done { finish_reason: finish_reason(attempt.finish, emitted), usage }).await;
}

/// The conversation again, with the malformed answer and, for each of its calls, what was wrong.
fn repair_messages(messages: &[Message], calls: &[ToolCall], problems: &[Option<String>]) -> Vec<Message> {
    let mut out = messages.to_vec();
    out.push(Message { tool_calls: calls.to_vec(), ..Message::new("assistant", "") });
    for (call, problem) in calls.iter().zip(problems) {
        let content = match problem {
            Some(why) => format!(
                "Error: this call was not run because {why}. Call `{}` again with arguments that follow its schema.",
                call.name
            ),
            None => "Not run yet: another call in the same answer was malformed. Make this call again if it is still needed."
                .to_string(),
        };
        out.push(Message { tool_call_id: Some(call.id.clone()), ..Message::new("tool", content) });
    }
    out
}
