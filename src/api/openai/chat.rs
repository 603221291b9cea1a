//! `POST /v1/chat/completions`: an OpenAI request (tools, `tool_choice`, `parallel_tool_calls`, `response_format`, assistant and tool messages) turned into one tool chat, answered as JSON or streamed in OpenAI's chunks.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};

use super::types::{ContentIn, GenerationRequest, MessageIn, ToolIn};
use super::{Meta, OpenAiResult, error_frame, generate_error};
use crate::engine::Engine;
use crate::features::FeatureError;
use crate::features::toolchat::{
    self, ChatDelta, ChatStream, Message, ResponseFormat, ToolCall, ToolChatRequest, ToolChoice, ToolDef,
};
use crate::http::stream::{event_stream, sse_data};
use crate::http::{ApiError, OpenAiError};

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// Runs the chat on `engine` and answers in OpenAI's shape.
pub(super) async fn complete(engine: Arc<dyn Engine>, req: GenerationRequest) -> OpenAiResult<Response> {
    let chat = tool_chat(&req)?;
    let model = engine.info().name.clone();
    let answer = toolchat::chat(engine, chat).await.map_err(|e| feature_error(e, &req))?;
    let meta = Meta { id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()), created: crate::unix_now(), model };
    if req.stream {
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        return Ok(event_stream(chunks(meta, answer, include_usage)));
    }
    let answer = toolchat::collect(answer).await.map_err(|e| feature_error(e, &req))?;
    let mut message = json!({ "role": "assistant", "content": answer.content });
    if !answer.tool_calls.is_empty() {
        if answer.content.is_empty() {
            message["content"] = Value::Null;
        }
        let calls: Vec<Value> = answer
            .tool_calls
            .iter()
            .map(
                |c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }),
            )
            .collect();
        message["tool_calls"] = calls.into();
    }
    if !answer.reasoning.is_empty() {
        message["reasoning_content"] = answer.reasoning.into();
    }
    Ok(Json(json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{ "index": 0, "message": message, "finish_reason": answer.finish_reason }],
        "usage": super::types::UsageOut::from(answer.usage),
    }))
    .into_response())
}

/// A refused chat; the engine's `max_tokens` verdict names the field the client sent.
fn feature_error(e: FeatureError, req: &GenerationRequest) -> OpenAiError {
    match e {
        FeatureError::Engine(e) => generate_error(e, req),
        other => other.into(),
    }
}

/// The request as a tool chat; a malformed field is a 400 naming it.
pub(super) fn tool_chat(req: &GenerationRequest) -> Result<ToolChatRequest, ApiError> {
    req.check_n()?;
    let Some(messages) = req.messages.as_ref() else {
        return Err(ApiError::bad_param("messages", "missing field `messages`: send at least one message"));
    };
    if messages.is_empty() {
        return Err(ApiError::bad_param("messages", "`messages` is empty: send at least one message"));
    }
    let messages = messages.iter().enumerate().map(|(i, m)| message(i, m)).collect::<Result<Vec<_>, _>>()?;
    let tools = match &req.tools {
        None => Vec::new(),
        Some(tools) => tools.iter().enumerate().map(|(i, t)| tool(i, t)).collect::<Result<Vec<_>, _>>()?,
    };
    Ok(ToolChatRequest {
        tool_choice: tool_choice(req.tool_choice.as_ref(), !tools.is_empty())?,
        tools,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: response_format(req.response_format.as_ref())?,
        max_tokens: req.max_tokens()?,
        sampling: req.sampling(),
        stop: req.stop_strings()?,
        ignore_eos: req.ignore_eos,
        repetition_guard: req.repetition_guard,
        template_kwargs: req.chat_template_kwargs.clone().unwrap_or_default(),
        grammar: req.tool_grammar.unwrap_or(true),
        ..ToolChatRequest::new(messages, "openai")
    })
}

fn message(i: usize, m: &MessageIn) -> Result<Message, ApiError> {
    if !ROLES.contains(&m.role.as_str()) {
        return Err(ApiError::bad_param(
            "messages",
            format!("`messages[{i}].role` is `{}`; expected one of {}", m.role, ROLES.join(", ")),
        ));
    }
    let role = if m.role == "developer" { "system" } else { m.role.as_str() };
    let content = m.content.as_ref().map(ContentIn::text).unwrap_or_default();
    let tool_calls = m
        .tool_calls
        .iter()
        .flatten()
        .map(|c| {
            let arguments = match &c.function.arguments {
                Value::String(s) => s.clone(),
                Value::Null => "{}".to_string(),
                other => other.to_string(),
            };
            ToolCall { id: c.id.clone(), name: c.function.name.clone(), arguments }
        })
        .collect();
    Ok(Message {
        tool_calls,
        tool_call_id: m.tool_call_id.clone(),
        reasoning: m.reasoning_content.clone(),
        ..Message::new(role, content)
    })
}

fn tool(i: usize, t: &ToolIn) -> Result<ToolDef, ApiError> {
    if t.kind != "function" {
        return Err(ApiError::bad_param(
            "tools",
            format!("`tools[{i}].type` is `{}`; only `function` tools are supported", t.kind),
        ));
    }
    let Some(f) = &t.function else {
        return Err(ApiError::bad_param("tools", format!("`tools[{i}].function` is missing")));
    };
    Ok(ToolDef {
        name: f.name.clone(),
        description: f.description.clone().unwrap_or_default(),
        parameters: f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn tool_choice(v: Option<&Value>, has_tools: bool) -> Result<ToolChoice, ApiError> {
    let bad = || {
        ApiError::bad_param(
            "tool_choice",
            "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}",
        )
    };
    match v {
        None | Some(Value::Null) => Ok(if has_tools { ToolChoice::Auto } else { ToolChoice::None }),
        Some(Value::String(s)) => match s.as_str() {
            "none" => Ok(ToolChoice::None),
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad()),
        },
        Some(v) => match (v.get("type").and_then(Value::as_str), v.pointer("/function/name").and_then(Value::as_str)) {
            (Some("function"), Some(name)) => Ok(ToolChoice::Named(name.to_string())),
            _ => Err(bad()),
        },
    }
}

fn response_format(v: Option<&Value>) -> Result<ResponseFormat, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(ResponseFormat::Text) };
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let spec = v.get("json_schema").unwrap_or(&Value::Null);
            let Some(schema) = spec.get("schema").filter(|s| s.is_object()) else {
                return Err(ApiError::bad_param(
                    "response_format",
                    "`response_format.json_schema.schema` is missing: send the JSON schema of the answer",
                ));
            };
            let name = spec.get("name").and_then(Value::as_str).unwrap_or("response").to_string();
            Ok(ResponseFormat::JsonSchema { name, schema: schema.clone() })
        }
        other => Err(ApiError::bad_param(
            "response_format",
            format!(
                "`response_format.type` is {}; expected \"text\", \"json_object\" or \"json_schema\"",
                other.map_or("missing".to_string(), |t| format!("`{t}`"))
            ),
        )),
    }
}

/// The answer as OpenAI streams it: a first chunk with the role, content and reasoning deltas, for
/// each call a chunk with its index, id, type, name and empty arguments followed by argument
/// fragments, the finish reason, usage when asked for, then `[DONE]`.
fn chunks(meta: Meta, answer: ChatStream, include_usage: bool) -> impl Stream<Item = String> + Send {
    let frame = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": meta.id, "object": "chat.completion.chunk", "created": meta.created, "model": meta.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    };
    let first = sse_data(&frame(json!({ "role": "assistant", "content": "" }), None));
    let body = answer.flat_map(move |delta| {
        let frames = match delta {
            ChatDelta::Content(t) => vec![frame(json!({ "content": t }), None)],
            ChatDelta::Reasoning(t) => vec![frame(json!({ "reasoning_content": t }), None)],
            ChatDelta::ToolCallStart { index, id, name } => vec![frame(
                json!({ "tool_calls": [{ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }),
                None,
            )],
            ChatDelta::ToolCallArgs { index, fragment } => {
                vec![frame(json!({ "tool_calls": [{ "index": index, "function": { "arguments": fragment } }] }), None)]
            }
            ChatDelta::ToolCallEnd { .. } => Vec::new(),
            ChatDelta::Done { finish_reason, usage } => {
                let mut frames = vec![frame(json!({}), Some(&finish_reason))];
                if include_usage {
                    let mut v = frame(json!({}), None);
                    v["choices"] = json!([]);
                    v["usage"] = json!(super::types::UsageOut::from(usage));
                    frames.push(v);
                }
                frames
            }
            ChatDelta::Failed(detail) => return stream::iter(vec![error_frame(&detail)]),
        };
        stream::iter(frames.iter().map(sse_data).collect::<Vec<_>>())
    });
    stream::once(async move { first }).chain(body).chain(stream::once(async { "data: [DONE]\n\n".to_string() }))
}
