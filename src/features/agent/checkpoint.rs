//! Session checkpoints as GitLab stores them: LangGraph-compatible JSON (`ts`, `channel_values.ui_chat_log`, `channel_values.status`, `__start__.goal` on the first), read plain or compressed (base64 of zlib), with the conversation in LangChain's message shape.
//!
//! GitLab keeps checkpoints for the session; a run loads the newest one and posts a new one after
//! each step. Rails orders them by `thread_ts` as text, so ids are time-ordered UUIDs (v6, like
//! LangGraph's). The agent's own state (conversation, remembered approvals) lives in
//! `channel_values` next to what GitLab's UI reads.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::model::{Message, ToolCall};
use super::ui::{Status, UiEntry};

/// The conversation key for Agentic Chat (the Python service's agent name, so its sessions resume).
pub const CHAT_AGENT: &str = "Chat Agent";
/// Largest checkpoint accepted after decompression (a zip bomb must not eat the memory).
const MAX_INFLATED: u64 = 64 << 20;

/// What a session carries from run to run.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    /// The first goal (GitLab's session title).
    pub goal: String,
    pub ui_log: Vec<UiEntry>,
    /// The model conversation, without system messages.
    pub conversation: Vec<Message>,
    /// Tool names the user approved for the rest of the session.
    pub approved_tools: Vec<String>,
    /// The newest stored checkpoint's id and step, if any.
    pub thread_ts: Option<String>,
    pub step: i64,
}

impl State {
    pub fn new(goal: &str) -> State {
        State {
            status: Status::NotStarted,
            goal: goal.into(),
            ui_log: Vec::new(),
            conversation: Vec::new(),
            approved_tools: Vec::new(),
            thread_ts: None,
            step: -1,
        }
    }

    /// Tool calls of the last assistant message that have no result yet.
    pub fn pending_calls(&self) -> Vec<ToolCall> {
        let Some(pos) = self.conversation.iter().rposition(|m| matches!(m, Message::Assistant { .. })) else {
            return Vec::new();
        };
        let Message::Assistant { tool_calls, .. } = &self.conversation[pos] else { return Vec::new() };
        let answered: Vec<&str> = self.conversation[pos + 1..]
            .iter()
            .filter_map(|m| match m {
                Message::Tool { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        tool_calls.iter().filter(|c| !answered.contains(&c.id.as_str())).cloned().collect()
    }
}

/// A new checkpoint id: a time-ordered UUID.
pub fn new_thread_ts() -> String {
    let node: [u8; 6] = rand::random();
    uuid::Uuid::now_v6(&node).to_string()
}

/// The checkpoint object of `state` with id `thread_ts`; `first` adds `__start__.goal`.
pub fn encode(state: &State, thread_ts: &str, agent: &str, first: bool) -> Value {
    let mut values = Map::new();
    values.insert("status".into(), json!(state.status.as_str()));
    values.insert("goal".into(), json!(state.goal));
    values.insert("ui_chat_log".into(), json!(state.ui_log));
    values.insert("plan".into(), json!({ "steps": [] }));
    let history: Vec<Value> = state.conversation.iter().map(encode_message).collect();
    values.insert("conversation_history".into(), json!({ agent: history }));
    values.insert("approved_tools".into(), json!(state.approved_tools));
    if first {
        values.insert("__start__".into(), json!({ "goal": state.goal }));
    }
    json!({
        "v": 1,
        "id": thread_ts,
        "ts": crate::iso_utc(std::time::SystemTime::now()),
        "channel_values": values,
        "channel_versions": {},
        "versions_seen": {},
        "updated_channels": ["status", "ui_chat_log", "conversation_history"],
    })
}

/// The body of `POST …/workflows/<id>/checkpoints`; `compressed` sends `compressed_checkpoint`.
pub fn post_body(checkpoint: &Value, parent_ts: Option<&str>, step: i64, first: bool, compressed: bool) -> String {
    let thread_ts = checkpoint["id"].clone();
    let mut writes = json!({});
    if first {
        writes = json!({ "__start__": checkpoint["channel_values"]["__start__"].clone() });
    }
    let metadata = json!({
        "source": if first { "input" } else { "loop" },
        "step": step,
        "parents": {},
        "writes": writes,
    });
    let mut body = json!({ "thread_ts": thread_ts, "parent_ts": parent_ts, "metadata": metadata });
    if compressed {
        body["compressed_checkpoint"] = json!(compress(checkpoint));
    } else {
        body["checkpoint"] = checkpoint.clone();
    }
    body.to_string()
}

/// base64(zlib(JSON)).
pub fn compress(checkpoint: &Value) -> String {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(checkpoint.to_string().as_bytes());
    STANDARD.encode(encoder.finish().unwrap_or_default())
}

/// The checkpoint JSON inside `compressed_checkpoint`.
pub fn decompress(text: &str) -> Result<Value, String> {
    let bytes = STANDARD.decode(text.trim()).map_err(|e| format!("compressed checkpoint is not base64: {e}"))?;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(bytes.as_slice())
        .take(MAX_INFLATED)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("compressed checkpoint does not inflate: {e}"))?;
    serde_json::from_slice(&inflated).map_err(|e| format!("compressed checkpoint is not JSON: {e}"))
}

/// The checkpoint of a stored record (GraphQL `latestCheckpoint`, or an item of the REST list):
/// `checkpoint` as an object or JSON text, or `compressedCheckpoint`/`compressed_checkpoint`.
pub fn from_record(record: &Value) -> Result<Option<(Value, Option<String>)>, String> {
    if record.is_null() {
        return Ok(None);
    }
    let ts = ["threadTs", "thread_ts"].iter().find_map(|k| record[*k].as_str()).map(str::to_string);
    let compressed = ["compressedCheckpoint", "compressed_checkpoint"].iter().find_map(|k| record[*k].as_str());
    let checkpoint = match (&record["checkpoint"], compressed) {
        (Value::Object(_), _) => record["checkpoint"].clone(),
        (Value::String(text), _) if !text.is_empty() => {
            serde_json::from_str(text).map_err(|e| format!("stored checkpoint is not JSON: {e}"))?
        }
        (_, Some(text)) if !text.is_empty() => decompress(text)?,
        _ => return Ok(None),
    };
    Ok(Some((checkpoint, ts)))
}

/// Reads a stored checkpoint back into a session state (airgate's own, or one GitLab's Python
/// service wrote for the same session); `agent` picks the conversation.
pub fn decode(checkpoint: &Value, agent: &str) -> Result<State, String> {
    let values =
        checkpoint.get("channel_values").and_then(Value::as_object).ok_or("the checkpoint has no channel_values")?;
    let ui_log: Vec<UiEntry> = match values.get("ui_chat_log") {
        Some(Value::Array(items)) => items.iter().filter_map(|e| serde_json::from_value(e.clone()).ok()).collect(),
        _ => Vec::new(),
    };
    let status = values.get("status").and_then(Value::as_str).and_then(Status::parse).unwrap_or(Status::NotStarted);
    let history = values.get("conversation_history").and_then(|h| h.get(agent)).and_then(Value::as_array);
    let conversation = history.map(|h| h.iter().filter_map(decode_message).collect()).unwrap_or_default();
    let goal = values
        .get("goal")
        .and_then(Value::as_str)
        .or_else(|| values.get("__start__").and_then(|s| s["goal"].as_str()))
        .unwrap_or_default()
        .to_string();
    let approved_tools = match values.get("approved_tools") {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    Ok(State {
        status,
        goal,
        ui_log,
        conversation,
        approved_tools,
        thread_ts: checkpoint["id"].as_str().map(str::to_string),
        step: 0,
    })
}

/// A message in LangChain's serialized shape, as GitLab's Python service stores it.
pub fn encode_message(m: &Message) -> Value {
    let base = |kind: &str, content: &str| json!({ "type": kind, "content": content, "additional_kwargs": {}, "response_metadata": {}, "name": null, "id": null });
    match m {
        Message::System(text) => base("SystemMessage", text),
        Message::User(text) => base("HumanMessage", text),
        Message::Assistant { content, tool_calls } => {
            let mut v = base("AIMessage", content);
            let calls: Vec<Value> = tool_calls
                .iter()
                .map(|c| {
                    let args = serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| json!(c.arguments));
                    json!({ "name": c.name, "args": args, "id": c.id, "type": "tool_call" })
                })
                .collect();
            v["tool_calls"] = json!(calls);
            v["invalid_tool_calls"] = json!([]);
            v
        }
        Message::Tool { call_id, name, content } => {
            let mut v = base("ToolMessage", content);
            v["tool_call_id"] = json!(call_id);
            v["name"] = json!(name);
            v["status"] = json!("success");
            v
        }
    }
}

/// A stored message back; unknown kinds are skipped.
pub fn decode_message(v: &Value) -> Option<Message> {
    let content = text_of(&v["content"]);
    match v["type"].as_str()? {
        "SystemMessage" | "system" => Some(Message::System(content)),
        "HumanMessage" | "human" => Some(Message::User(content)),
        "AIMessage" | "ai" | "AIMessageChunk" => {
            let tool_calls = v["tool_calls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .filter_map(|c| {
                            let args = match &c["args"] {
                                Value::String(s) => s.clone(),
                                Value::Null => "{}".into(),
                                other => other.to_string(),
                            };
                            Some(ToolCall {
                                id: c["id"].as_str()?.into(),
                                name: c["name"].as_str()?.into(),
                                arguments: args,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Message::Assistant { content, tool_calls })
        }
        "ToolMessage" | "tool" => Some(Message::Tool {
            call_id: v["tool_call_id"].as_str().unwrap_or_default().into(),
            name: v["name"].as_str().unwrap_or_default().into(),
            content,
        }),
        _ => None,
    }
}

/// Message content as text: a string, or the text blocks of a content list.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.as_str()),
                _ if b["type"] == "text" => b["text"].as_str(),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
