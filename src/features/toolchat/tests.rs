//! Tool chat against scripted engines: validation, the local prompt and grammar per template, parsed and validated streams, the upstream pass-through and its one repair.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::engine::{
    ChatMessage, EngineError, Event, EventStream, FimTokens, FinishReason, GenerateRequest, ModelInfo, Prompt,
    TemplateSource, Timings,
};

/// A model that answers with scripted events, one script per call, and records every request.
struct Scripted {
    info: ModelInfo,
    template: Option<TemplateSource>,
    remote: bool,
    scripts: Mutex<VecDeque<Vec<Event>>>,
    seen: Mutex<Vec<GenerateRequest>>,
}

impl Scripted {
    fn local(template: Option<&str>, scripts: Vec<Vec<Event>>) -> Arc<Scripted> {
        let template = template.map(|name| TemplateSource {
            text: std::fs::read_to_string(format!(
                "{}/tests/fixtures/chat_templates/{name}.jinja",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
            bos: "<s>".into(),
            eos: "</s>".into(),
        });
        Arc::new(Scripted {
            info: ModelInfo::fake("scripted", 4096),
            template,
            remote: false,
            scripts: Mutex::new(scripts.into()),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn remote(scripts: Vec<Vec<Event>>) -> Arc<Scripted> {
        let mut engine = Arc::into_inner(Scripted::local(None, scripts)).unwrap();
        engine.remote = true;
        Arc::new(engine)
    }

    fn requests(&self) -> Vec<GenerateRequest> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl Engine for Scripted {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn is_ready(&self) -> bool {
        true
    }
    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        self.seen.lock().unwrap().push(req);
        let script = self.scripts.lock().unwrap().pop_front().expect("a script for every call");
        let (tx, rx) = tokio::sync::mpsc::channel(script.len().max(1));
        for event in script {
            tx.try_send(event).unwrap();
        }
        Ok(rx)
    }
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Ok(vec![0; text.len()])
    }
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        Ok(messages.iter().map(|m| format!("{}: {}\n", m.role, m.content)).collect::<String>() + "assistant: ")
    }
    fn fim_tokens(&self) -> Option<&FimTokens> {
        None
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(text.len())
    }
    fn template(&self) -> Option<&TemplateSource> {
        self.template.as_ref()
    }
    fn is_remote(&self) -> bool {
        self.remote
    }
}

/// A local generation of `text` split into `chunk`-character pieces.
fn said(text: &str, chunk: usize) -> Vec<Event> {
    let chars: Vec<char> = text.chars().collect();
    let mut events: Vec<Event> = chars.chunks(chunk).map(|c| Event::Text(c.iter().collect())).collect();
    events.push(done());
    events
}

fn done() -> Event {
    let usage = Usage { prompt_tokens: 10, completion_tokens: 5, ..Usage::default() };
    Event::Done { finish: FinishReason::Stop, usage, timings: Timings::default() }
}

fn weather() -> ToolDef {
    ToolDef {
        name: "get_weather".into(),
        description: "Weather in a city".into(),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        }),
    }
}

fn request(tools: Vec<ToolDef>, choice: ToolChoice) -> ToolChatRequest {
    ToolChatRequest {
        tools,
        tool_choice: choice,
        ..ToolChatRequest::new(vec![Message::new("user", "Weather in Paris?")], "test")
    }
}

async fn deltas(engine: Arc<Scripted>, req: ToolChatRequest) -> Vec<ChatDelta> {
    let mut rx = chat(engine, req).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(d) = rx.recv().await {
        out.push(d);
    }
    out
}

fn prompt_text(req: &GenerateRequest) -> &str {
    match &req.prompt {
        Prompt::Text(t) => t,
        Prompt::Chat(_) => panic!("a local model gets text"),
    }
}

#[tokio::test]
async fn bad_requests_are_refused_before_the_model_runs() {
    let bad_name = ToolDef { name: "get weather".into(), ..weather() };
    let unsupported = ToolDef { parameters: json!({"type": "object", "not": {}}), ..weather() };
    let table: Vec<(ToolChatRequest, &str)> = vec![
        (request(vec![bad_name], ToolChoice::Auto), "`tools[0].function.name`"),
        (request(vec![weather(), weather()], ToolChoice::Auto), "offered twice"),
        (request(vec![unsupported], ToolChoice::Auto), "`not`"),
        (request(vec![weather()], ToolChoice::Named("nope".into())), "`nope`"),
        (request(vec![], ToolChoice::Required), "`required`"),
        (
            ToolChatRequest {
                messages: vec![
                    Message::new("user", "x"),
                    Message { tool_call_id: Some("c1".into()), ..Message::new("tool", "y") },
                ],
                ..request(vec![weather()], ToolChoice::Auto)
            },
            "no earlier assistant message",
        ),
        (
            ToolChatRequest {
                response_format: ResponseFormat::JsonSchema {
                    name: "x".into(),
                    schema: json!({"type": "string", "format": "email"}),
                },
                ..request(vec![], ToolChoice::Auto)
            },
            "`email`",
        ),
    ];
    for (req, needle) in table {
        let engine = Scripted::local(None, vec![]);
        match chat(engine.clone(), req).await {
            Err(FeatureError::BadInput(m)) => assert!(m.contains(needle), "{m}"),
            Err(other) => panic!("{needle}: {other:?}"),
            Ok(_) => panic!("{needle}: accepted"),
        }
        assert!(engine.requests().is_empty());
    }
}

#[tokio::test]
async fn a_model_without_template_gets_airgate_instructions_and_a_lazy_json_grammar() {
    let out = r#"Let me check. {"name": "get_weather", "arguments": {"city": "Paris"}}"#;
    let engine = Scripted::local(None, vec![said(out, 3)]);
    let got = deltas(engine.clone(), request(vec![weather()], ToolChoice::Auto)).await;
    let req = &engine.requests()[0];
    assert!(prompt_text(req).starts_with("system: "), "{}", prompt_text(req));
    assert!(prompt_text(req).contains(r#"{"name": "<tool name>", "arguments""#));
    let c = req.constraint.as_ref().expect("a grammar");
    assert_eq!(c.triggers, vec![r#"\{\s*"name""#.to_string()]);
    assert!(c.grammar.contains("t0-root"), "{}", c.grammar);
    let start = got.iter().position(|d| matches!(d, ChatDelta::ToolCallStart { .. })).expect("a call");
    let before: String =
        got[..start].iter().map(|d| if let ChatDelta::Content(t) = d { t.as_str() } else { panic!("{d:?}") }).collect();
    assert_eq!(before, "Let me check. ");
    let ChatDelta::ToolCallStart { index: 0, id, name } = &got[start] else { panic!("{got:?}") };
    assert!(id.starts_with("call_") && id.len() == 29, "{id}");
    assert_eq!(name, "get_weather");
    // The arguments stream in more than one piece and add up to the object.
    let args: Vec<&str> = got
        .iter()
        .filter_map(|d| if let ChatDelta::ToolCallArgs { fragment, .. } = d { Some(fragment.as_str()) } else { None })
        .collect();
    assert!(args.len() > 1, "{got:?}");
    assert_eq!(args.concat(), r#"{"city": "Paris"}"#);
    assert_eq!(
        got.last(),
        Some(&ChatDelta::Done {
            finish_reason: "tool_calls".into(),
            usage: Usage { prompt_tokens: 10, completion_tokens: 5, ..Usage::default() }
        })
    );
}

#[tokio::test]
async fn a_qwen_template_renders_the_tools_and_required_holds_the_whole_answer() {
    let out =
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>";
    let engine = Scripted::local(Some("qwen2.5-instruct"), vec![said(out, 5)]);
    let answer =
        collect(chat(engine.clone(), request(vec![weather()], ToolChoice::Required)).await.unwrap()).await.unwrap();
    let req = &engine.requests()[0];
    let prompt = prompt_text(req);
    assert!(prompt.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""), "{prompt}");
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    let c = req.constraint.as_ref().unwrap();
    assert!(c.triggers.is_empty(), "required holds from the first token");
    assert!(req.special_text.contains(&"<tool_call>".to_string()));
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].arguments, r#"{"city": "Paris", "unit": "c"}"#);
    assert_eq!((answer.content.as_str(), answer.finish_reason.as_str()), ("", "tool_calls"));
}

#[tokio::test]
async fn tool_history_reaches_a_template_that_knows_tool_turns() {
    let engine = Scripted::local(Some("qwen2.5-instruct"), vec![said("It is 21 C.", 4)]);
    let call = ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"city": "Rome"}"#.into() };
    let req = ToolChatRequest {
        messages: vec![
            Message::new("user", "Weather in Rome?"),
            Message { tool_calls: vec![call], ..Message::new("assistant", "") },
            Message { tool_call_id: Some("call_1".into()), ..Message::new("tool", "21 C") },
        ],
        ..request(vec![weather()], ToolChoice::Auto)
    };
    let answer = collect(chat(engine.clone(), req).await.unwrap()).await.unwrap();
    let prompt = engine.requests()[0].prompt.clone();
    let Prompt::Text(prompt) = prompt else { panic!() };
    assert!(
        prompt.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"),
        "{prompt}"
    );
    assert!(prompt.contains("<tool_response>\n21 C\n</tool_response>"), "{prompt}");
    assert_eq!((answer.content.as_str(), answer.finish_reason.as_str()), ("It is 21 C.", "stop"));
}

#[tokio::test]
async fn without_a_template_tool_turns_become_text() {
    let engine = Scripted::local(None, vec![said("21 C.", 2)]);
    let call = ToolCall { id: "c9".into(), name: "get_weather".into(), arguments: r#"{"city":"Rome"}"#.into() };
    let req = ToolChatRequest {
        messages: vec![
            Message::new("user", "Rome?"),
            Message { tool_calls: vec![call], ..Message::new("assistant", "") },
            Message { tool_call_id: Some("c9".into()), ..Message::new("tool", "21 C") },
        ],
        ..request(vec![weather()], ToolChoice::None)
    };
    collect(chat(engine.clone(), req).await.unwrap()).await.unwrap();
    let prompt = prompt_text(&engine.requests()[0]).to_string();
    assert!(prompt.contains("assistant: {\"name\": \"get_weather\", \"arguments\": {\"city\":\"Rome\"}}"), "{prompt}");
    assert!(prompt.contains("user: Tool result (get_weather):\n21 C"), "{prompt}");
    assert!(engine.requests()[0].constraint.is_none(), "tool_choice none: no grammar");
}

#[tokio::test]
async fn unconstrained_malformed_calls_come_back_as_text() {
    let out = r#"{"name": "get_weather", "arguments": {"town": 5}}"#;
    let engine = Scripted::local(None, vec![said(out, 4)]);
    let req = ToolChatRequest { grammar: false, ..request(vec![weather()], ToolChoice::Required) };
    let answer = collect(chat(engine.clone(), req).await.unwrap()).await.unwrap();
    assert!(engine.requests()[0].constraint.is_none());
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.content, r#"{"name": "get_weather", "arguments": {"town":5}}"#);
    assert_eq!(answer.finish_reason, "stop");
}

#[tokio::test]
async fn reasoning_is_split_from_the_answer() {
    let engine = Scripted::local(Some("qwen3"), vec![said("<think>\nEasy.\n</think>\n\nParis.", 3)]);
    let answer = collect(chat(engine, request(vec![], ToolChoice::Auto)).await.unwrap()).await.unwrap();
    assert_eq!((answer.reasoning.as_str(), answer.content.as_str()), ("\nEasy.\n", "Paris."));
}

#[tokio::test]
async fn response_format_holds_the_whole_answer_to_the_schema() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let engine = Scripted::local(None, vec![said(r#"{"city": "Paris"}"#, 3)]);
    let req = ToolChatRequest {
        response_format: ResponseFormat::JsonSchema { name: "answer".into(), schema },
        ..request(vec![], ToolChoice::Auto)
    };
    let answer = collect(chat(engine.clone(), req).await.unwrap()).await.unwrap();
    let c = engine.requests()[0].constraint.clone().unwrap();
    assert!(c.triggers.is_empty() && c.grammar.contains("answer-root"), "{}", c.grammar);
    assert_eq!(answer.content, r#"{"city": "Paris"}"#);
}

#[tokio::test]
async fn failures_mid_answer_end_the_stream() {
    let engine = Scripted::local(None, vec![vec![Event::Text("par".into()), Event::Failed("decode failed".into())]]);
    let got = deltas(engine, request(vec![], ToolChoice::Auto)).await;
    assert_eq!(got, vec![ChatDelta::Content("par".into()), ChatDelta::Failed("decode failed".into())]);
}

fn upstream_call(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> Event {
    Event::ToolCall { index, id: id.map(str::to_string), name: name.map(str::to_string), arguments: arguments.into() }
}

#[tokio::test]
async fn upstream_calls_pass_through_validated() {
    let script = vec![
        Event::Reasoning("thinking".into()),
        upstream_call(0, Some("call_up"), Some("get_weather"), ""),
        upstream_call(0, None, None, r#"{"city":"#),
        upstream_call(0, None, None, r#" "Oslo"}"#),
        done(),
    ];
    let engine = Scripted::remote(vec![script]);
    let req = ToolChatRequest { parallel_tool_calls: Some(false), ..request(vec![weather()], ToolChoice::Auto) };
    let answer = collect(chat(engine.clone(), req).await.unwrap()).await.unwrap();
    let sent = engine.requests()[0].upstream_tools.clone().unwrap();
    assert_eq!(sent.tools[0]["function"]["name"], "get_weather");
    assert_eq!((sent.tool_choice, sent.parallel_tool_calls), (Some(json!("auto")), Some(false)));
    assert!(matches!(engine.requests()[0].prompt, Prompt::Chat(_)));
    assert_eq!(answer.reasoning, "thinking");
    assert_eq!(
        answer.tool_calls,
        vec![ToolCall { id: "call_up".into(), name: "get_weather".into(), arguments: r#"{"city": "Oslo"}"#.into() }]
    );
    assert_eq!(answer.finish_reason, "tool_calls");
}

#[tokio::test]
async fn a_malformed_upstream_call_is_asked_for_again_once() {
    let bad = vec![upstream_call(0, Some("c1"), Some("get_weather"), r#"{"city": 7}"#), done()];
    let good = vec![upstream_call(0, Some("c2"), Some("get_weather"), r#"{"city": "Oslo"}"#), done()];
    let engine = Scripted::remote(vec![bad.clone(), good]);
    let answer =
        collect(chat(engine.clone(), request(vec![weather()], ToolChoice::Required)).await.unwrap()).await.unwrap();
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].id, "c2");
    assert_eq!(answer.usage.prompt_tokens, 20, "both attempts count");
    let second = &engine.requests()[1];
    let Prompt::Chat(messages) = &second.prompt else { panic!() };
    let last = messages.last().unwrap();
    assert_eq!((last.role.as_str(), last.tool_call_id.as_deref()), ("tool", Some("c1")));
    assert!(last.content.contains("$.city: expected string"), "{}", last.content);
    assert_eq!(messages[messages.len() - 2].tool_calls[0]["id"], "c1");
    // Still malformed after the second try: the call comes back as text, never as a call.
    let engine = Scripted::remote(vec![bad.clone(), bad]);
    let answer =
        collect(chat(engine.clone(), request(vec![weather()], ToolChoice::Required)).await.unwrap()).await.unwrap();
    assert!(answer.tool_calls.is_empty());
    assert!(answer.content.contains("\"get_weather\""), "{}", answer.content);
    assert_eq!((answer.finish_reason.as_str(), engine.requests().len()), ("stop", 2));
}

#[tokio::test]
async fn a_template_that_fails_is_bad_input_naming_the_model() {
    // Gemma's template insists that the conversation starts with the user.
    let engine = Scripted::local(Some("gemma3"), vec![]);
    let req = ToolChatRequest::new(vec![Message::new("assistant", "a"), Message::new("user", "b")], "test");
    match chat(engine.clone(), req).await {
        Err(FeatureError::BadInput(m)) => {
            assert!(m.contains("model `scripted`") && m.contains("alternate"), "{m}")
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("rendered"),
    }
    assert!(engine.requests().is_empty());
    let broken = Arc::new(Scripted {
        template: Some(TemplateSource { text: "{% if %}".into(), bos: String::new(), eos: String::new() }),
        ..Arc::into_inner(Scripted::local(None, vec![])).unwrap()
    });
    match chat(broken, ToolChatRequest::new(vec![Message::new("user", "a")], "test")).await {
        Err(FeatureError::BadInput(m)) => assert!(m.contains("does not compile"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}
