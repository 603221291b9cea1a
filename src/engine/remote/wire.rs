//! The OpenAI wire format of upstream calls: the request body airgate sends, and the chunks and error bodies it reads back.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::engine::{ChatMessage, EngineError, GenerateRequest, Prompt, SamplingParams, UpstreamTools, Usage};

/// Longest error message taken from an upstream's JSON error body.
const MESSAGE_CHARS: usize = 1000;
/// Longest excerpt of an upstream body that is not a JSON error.
const SNIPPET_CHARS: usize = 200;
/// `Retry-After` values above this are clamped (a day).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `POST /chat/completions` or `/completions` body. Only what is set is sent; sampling knobs that are
/// not OpenAI fields only when they differ from the engine defaults (vLLM and llama-server accept them,
/// strict servers might not).
#[derive(Debug, Serialize)]
pub(super) struct RequestBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [ChatMessage]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    temperature: f32,
    top_p: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repetition_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignore_eos: Option<bool>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    /// `tools`, `tool_choice`, `parallel_tool_calls`, `response_format` when the caller set them.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    tools: Option<&'a UpstreamTools>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> RequestBody<'a> {
    pub(super) fn new(model: &'a str, req: &'a GenerateRequest, include_usage: bool) -> Self {
        let s = &req.sampling;
        let d = SamplingParams::default();
        let (messages, prompt) = match &req.prompt {
            Prompt::Chat(messages) => (Some(messages.as_slice()), None),
            Prompt::Text(text) => (None, Some(text.as_str())),
        };
        Self {
            model,
            messages,
            prompt,
            temperature: s.temperature,
            top_p: s.top_p,
            max_tokens: req.max_tokens,
            stop: &req.stop,
            seed: s.seed,
            frequency_penalty: Some(s.frequency_penalty).filter(|&p| p != 0.0),
            presence_penalty: Some(s.presence_penalty).filter(|&p| p != 0.0),
            // llama.cpp's "disabled" is 0; vLLM before 0.8 only accepts -1 for it, llama-server both.
            top_k: (s.top_k != d.top_k).then_some(if s.top_k == 0 { -1 } else { s.top_k }),
            min_p: Some(s.min_p).filter(|&p| p != d.min_p),
            repetition_penalty: Some(s.repeat_penalty).filter(|&p| p != d.repeat_penalty),
            ignore_eos: req.ignore_eos.then_some(true),
            stream: true,
            stream_options: include_usage.then_some(StreamOptions { include_usage: true }),
            tools: req.upstream_tools.as_ref(),
        }
    }
}

/// JSON has no NaN or infinity: such a value would be sent as `null`.
pub(super) fn check_sampling(s: &SamplingParams) -> Result<(), EngineError> {
    let fields = [
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("min_p", s.min_p),
        ("repeat_penalty", s.repeat_penalty),
        ("frequency_penalty", s.frequency_penalty),
        ("presence_penalty", s.presence_penalty),
    ];
    match fields.iter().find(|(_, v)| !v.is_finite()) {
        Some((name, _)) => Err(EngineError::InvalidRequest(format!("{name} must be a finite number"))),
        None => Ok(()),
    }
}

/// One `data:` payload of an upstream stream (or a whole non-streamed answer).
#[derive(Debug, PartialEq)]
pub(super) enum Payload {
    /// `[DONE]`.
    Done,
    Chunk(Chunk),
    /// An error object sent inside a 200 stream (vLLM does this when generation fails).
    Error {
        status: Option<u16>,
        message: String,
    },
}

#[derive(Debug, Default, PartialEq)]
pub(super) struct Chunk {
    /// `choices[0].delta.content` (chat), `choices[0].text` (completions) or `choices[0].message.content`.
    pub text: String,
    /// `delta.reasoning_content` (vLLM, llama-server) or `delta.reasoning`.
    pub reasoning: String,
    /// `delta.tool_calls` (or a whole answer's `message.tool_calls`).
    pub tool_calls: Vec<CallDelta>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

/// A piece of an upstream tool call.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct CallDelta {
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// Reads one event's data. Fields of unexpected types are ignored rather than failing the stream.
pub(super) fn parse_payload(data: &str) -> Result<Payload, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Payload::Done);
    }
    let v: Value = serde_json::from_str(data)
        .map_err(|_| format!("the model server sent data that is not JSON: {}", snippet(data, SNIPPET_CHARS)))?;
    let error = match v.get("error") {
        Some(e) if !e.is_null() => Some(e),
        _ if v.get("object").and_then(Value::as_str) == Some("error") => Some(&v),
        _ => None,
    };
    if let Some(e) = error {
        let status = e.get("code").and_then(Value::as_u64).filter(|c| (400..600).contains(c)).map(|c| c as u16);
        let message = message_in(&v).unwrap_or_else(|| e.to_string());
        return Ok(Payload::Error { status, message: snippet(&message, MESSAGE_CHARS) });
    }
    let choice = v.get("choices").and_then(|c| c.get(0));
    let text = choice
        .and_then(|c| {
            let at = |pointer: &str| c.pointer(pointer).and_then(Value::as_str);
            at("/delta/content").or_else(|| at("/text")).or_else(|| at("/message/content"))
        })
        .unwrap_or_default()
        .to_string();
    let reasoning = choice
        .and_then(|c| {
            let at = |pointer: &str| c.pointer(pointer).and_then(Value::as_str);
            at("/delta/reasoning_content")
                .or_else(|| at("/delta/reasoning"))
                .or_else(|| at("/message/reasoning_content"))
                .or_else(|| at("/message/reasoning"))
        })
        .unwrap_or_default()
        .to_string();
    let calls = choice.and_then(|c| c.pointer("/delta/tool_calls").or_else(|| c.pointer("/message/tool_calls")));
    let tool_calls = calls
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str).map(str::to_string);
                    // Arguments are JSON text; some servers send the object itself.
                    let arguments = match call.pointer("/function/arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    CallDelta {
                        index: call.get("index").and_then(Value::as_u64).map_or(i, |n| n as usize),
                        id: text("/id").filter(|s| !s.is_empty()),
                        name: text("/function/name").filter(|s| !s.is_empty()),
                        arguments,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let finish_reason = choice.and_then(|c| c.get("finish_reason")).and_then(Value::as_str).map(str::to_string);
    let usage = v.get("usage").filter(|u| u.is_object()).map(|u| {
        let count = |pointer: &str| u.pointer(pointer).and_then(Value::as_u64).unwrap_or(0).min(u32::MAX.into()) as u32;
        Usage {
            prompt_tokens: count("/prompt_tokens"),
            completion_tokens: count("/completion_tokens"),
            cached_tokens: count("/prompt_tokens_details/cached_tokens"),
            ..Usage::default()
        }
    });
    Ok(Payload::Chunk(Chunk { text, reasoning, tool_calls, finish_reason, usage }))
}

/// The message of an upstream error body: `{"error":{"message"}}`, `{"error":"…"}`, `{"detail"}` (FastAPI) or
/// `{"message"}`; otherwise the start of the body. `scrub` runs before anything is cut, so a secret the
/// upstream echoes cannot survive in part.
pub(super) fn error_message(body: &str, scrub: impl Fn(&str) -> String) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(message) = message_in(&v)
    {
        return snippet(scrub(&message).trim(), MESSAGE_CHARS);
    }
    snippet(scrub(body).trim(), SNIPPET_CHARS)
}

fn message_in(v: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    match v.get("error") {
        Some(Value::Object(e)) => {
            e.get("message").and_then(text).or_else(|| Some(Value::Object(e.clone()).to_string()))
        }
        Some(e) if !e.is_null() => text(e),
        _ => v.get("detail").and_then(text).or_else(|| v.get("message").and_then(text)),
    }
}

/// `Retry-After` in (possibly fractional) seconds; HTTP dates are not supported.
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let after = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => Duration::try_from_secs_f64(value.parse::<f64>().ok()?).ok()?,
    };
    Some(after.min(MAX_RETRY_AFTER))
}

/// The ids of a `GET /models` answer (`{"data":[{"id":…}]}`).
pub(super) fn model_ids(body: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let data = v.get("data")?.as_array()?;
    Some(data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)).map(str::to_string).collect())
}

/// The first `max` characters of `s`, with `…` when something was cut.
pub(super) fn snippet(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Payload {
        Payload::Chunk(Chunk { text: text.into(), ..Chunk::default() })
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_payload(" [DONE] "), Ok(Payload::Done));
        assert_eq!(parse_payload(r#"{"choices":[{"delta":{"content":"hi"}}]}"#), Ok(chunk("hi")));
        assert_eq!(parse_payload(r#"{"choices":[{"text":"x","finish_reason":null}]}"#), Ok(chunk("x")));
        assert_eq!(parse_payload(r#"{"choices":[{"message":{"content":"all"}}]}"#), Ok(chunk("all")));
        assert_eq!(parse_payload(r#"{"choices":[{"delta":{"role":"assistant"}}],"usage":null}"#), Ok(chunk("")));
        assert_eq!(parse_payload(r#"{"choices":[{"delta":{"content":null}}]}"#), Ok(chunk("")));
        assert_eq!(
            parse_payload(
                r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8}}}"#
            ),
            Ok(Payload::Chunk(Chunk {
                usage: Some(Usage { prompt_tokens: 12, completion_tokens: 3, cached_tokens: 8, ..Usage::default() }),
                ..Chunk::default()
            }))
        );
        // Tool calls and reasoning, streamed and whole.
        let first = r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_9","type":"function","function":{"name":"f","arguments":""}}]}}]}"#;
        assert_eq!(
            parse_payload(first),
            Ok(Payload::Chunk(Chunk {
                tool_calls: vec![CallDelta {
                    index: 1,
                    id: Some("call_9".into()),
                    name: Some("f".into()),
                    arguments: String::new()
                }],
                ..Chunk::default()
            }))
        );
        let more = r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\":"}}]}}]}"#;
        assert_eq!(
            parse_payload(more),
            Ok(Payload::Chunk(Chunk {
                tool_calls: vec![CallDelta { index: 1, arguments: "{\"a\":".into(), ..CallDelta::default() }],
                ..Chunk::default()
            }))
        );
        let whole = r#"{"choices":[{"message":{"content":null,"reasoning_content":"hm","tool_calls":[{"id":"c","function":{"name":"g","arguments":{"x":1}}}]},"finish_reason":"tool_calls"}]}"#;
        assert_eq!(
            parse_payload(whole),
            Ok(Payload::Chunk(Chunk {
                reasoning: "hm".into(),
                tool_calls: vec![CallDelta {
                    index: 0,
                    id: Some("c".into()),
                    name: Some("g".into()),
                    arguments: "{\"x\":1}".into()
                }],
                finish_reason: Some("tool_calls".into()),
                ..Chunk::default()
            }))
        );
        assert_eq!(
            parse_payload(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#),
            Ok(Payload::Chunk(Chunk { finish_reason: Some("length".into()), ..Chunk::default() }))
        );
        assert_eq!(
            parse_payload(r#"{"error":{"object":"error","message":"boom","code":400}}"#),
            Ok(Payload::Error { status: Some(400), message: "boom".into() })
        );
        assert_eq!(
            parse_payload(r#"{"object":"error","message":"old vllm","code":"x"}"#),
            Ok(Payload::Error { status: None, message: "old vllm".into() })
        );
        assert!(parse_payload("not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn error_messages() {
        let keep = |s: &str| s.to_string();
        let cases = [
            (r#"{"error":{"message":"bad key","type":"auth"}}"#, "bad key"),
            (r#"{"error":"plain"}"#, "plain"),
            (r#"{"detail":"Not Found"}"#, "Not Found"),
            (r#"{"detail":[{"loc":["body"],"msg":"x"}]}"#, r#"[{"loc":["body"],"msg":"x"}]"#),
            (r#"{"message":"m"}"#, "m"),
            ("  <html>oops</html>\n", "<html>oops</html>"),
            ("", ""),
        ];
        for (body, want) in cases {
            assert_eq!(error_message(body, keep), want, "{body}");
        }
        let long = "x".repeat(500);
        assert_eq!(error_message(&long, keep).chars().count(), 201);
        let scrub = |s: &str| s.replace("sk-secret", "***");
        let long_with_key = format!("{}sk-secret", "y".repeat(195));
        assert!(!error_message(&long_with_key, scrub).contains("sk-"));
        assert_eq!(error_message(r#"{"error":{"message":"key sk-secret is wrong"}}"#, scrub), "key *** is wrong");
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    /// As sent: through the text (f32 values written shortest, `0.8` rather than `0.800000011920929`).
    fn sent(body: RequestBody<'_>) -> Value {
        serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap()
    }

    #[test]
    fn request_body_sends_only_what_is_set() {
        let mut req = GenerateRequest::new(Prompt::Text("fn main".into()), "test");
        let json = sent(RequestBody::new("m", &req, false));
        assert_eq!(
            json,
            serde_json::json!({"model": "m", "prompt": "fn main", "temperature": 0.8, "top_p": 0.95, "stream": true})
        );
        req.sampling = SamplingParams {
            top_k: 0,
            min_p: 0.1,
            repeat_penalty: 1.1,
            presence_penalty: 0.5,
            seed: Some(3),
            ..SamplingParams::default()
        };
        req.max_tokens = Some(16);
        req.stop = vec!["\n".into()];
        req.ignore_eos = true;
        let json = sent(RequestBody::new("m", &req, true));
        assert_eq!(json["top_k"], -1);
        assert_eq!(json["min_p"], 0.1);
        assert_eq!(json["repetition_penalty"], 1.1);
        assert_eq!(json["presence_penalty"], 0.5);
        assert_eq!(json["seed"], 3);
        assert_eq!(json["max_tokens"], 16);
        assert_eq!(json["stop"], serde_json::json!(["\n"]));
        assert_eq!(json["ignore_eos"], true);
        assert_eq!(json["stream_options"], serde_json::json!({"include_usage": true}));
        assert!(json.get("frequency_penalty").is_none());
        assert!(json.get("tools").is_none() && json.get("tool_choice").is_none());
        // Tool calling goes through as OpenAI fields.
        req.upstream_tools = Some(UpstreamTools {
            tools: vec![serde_json::json!({"type": "function", "function": {"name": "f"}})],
            tool_choice: Some(serde_json::json!("required")),
            parallel_tool_calls: Some(false),
            response_format: None,
        });
        let json = sent(RequestBody::new("m", &req, true));
        assert_eq!(json["tools"][0]["function"]["name"], "f");
        assert_eq!(
            (&json["tool_choice"], &json["parallel_tool_calls"]),
            (&serde_json::json!("required"), &serde_json::json!(false))
        );
        assert!(json.get("response_format").is_none());
    }

    #[test]
    fn model_list() {
        assert_eq!(
            model_ids(br#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(model_ids(b"[]"), None);
    }
}
