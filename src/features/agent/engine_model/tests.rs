//! The agent's model over toolchat with a scripted engine: free answers, a call read from the model's JSON and validated, a grammar on the local request, a call cut by the output limit never reaching the loop, context fitting, loosened client schemas, and an upstream's malformed call asked for once more.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::engine::{
    ChatMessage, Engine, EngineError, Event, EventStream, FimTokens, FinishReason, GenerateRequest, ModelInfo, Prompt,
    Timings, Usage,
};
use crate::features::agent::model::{Answer, ToolCall, ToolDef};
use crate::prompt::Family;

/// Answers from a script and records every request.
struct Scripted {
    info: ModelInfo,
    remote: bool,
    answers: Mutex<VecDeque<(&'static str, FinishReason)>>,
    requests: Mutex<Vec<GenerateRequest>>,
}

#[async_trait]
impl Engine for Scripted {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn is_ready(&self) -> bool {
        true
    }
    fn is_remote(&self) -> bool {
        self.remote
    }
    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        self.requests.lock().unwrap().push(req);
        let (answer, finish) = self.answers.lock().unwrap().pop_front().unwrap_or(("", FinishReason::Stop));
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        // An upstream's native call: `CALL <name> <arguments>`.
        if let Some((name, arguments)) = answer.strip_prefix("CALL ").and_then(|c| c.split_once(' ')) {
            let (id, name) = (Some("call_up".to_string()), Some(name.to_string()));
            tx.send(Event::ToolCall { index: 0, id, name, arguments: arguments.into() }).await.unwrap();
            tx.send(Event::Done { finish, usage: Usage::default(), timings: Timings::default() }).await.unwrap();
            return Ok(rx);
        }
        for piece in answer.as_bytes().chunks(3) {
            tx.send(Event::Text(String::from_utf8_lossy(piece).into_owned())).await.unwrap();
        }
        tx.send(Event::Done { finish, usage: Usage::default(), timings: Timings::default() }).await.unwrap();
        Ok(rx)
    }
    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Ok(vec![0; text.len().div_ceil(4)])
    }
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        Ok(messages.iter().map(|m| format!("<{}>{}\n", m.role, m.content)).collect::<String>() + "<assistant>")
    }
    fn fim_tokens(&self) -> Option<&FimTokens> {
        None
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(text.len().div_ceil(4))
    }
}

fn model(answers: &[(&'static str, FinishReason)], remote: bool, context: u32) -> (EngineModel, Arc<Scripted>) {
    let engine = Arc::new(Scripted {
        info: ModelInfo::fake("scripted", context),
        remote,
        answers: Mutex::new(answers.iter().copied().collect()),
        requests: Mutex::new(Vec::new()),
    });
    let route = Route { engine: engine.clone(), family: Family::General, local: !remote, provider: "litellm".into() };
    (EngineModel::new(route, Feature::DuoAgentPlatformAgenticChat, false), engine)
}

fn read_file() -> ToolDef {
    ToolDef {
        name: "read_file".into(),
        description: "Read a file.".into(),
        parameters: json!({"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}),
    }
}

fn request(choice: ToolChoice, messages: Vec<Message>) -> TurnRequest {
    TurnRequest { messages, tools: vec![read_file()], tool_choice: choice, max_tokens: 64, temperature: 0.0 }
}

fn asked() -> Vec<Message> {
    vec![Message::System("You are GitLab Duo.".into()), Message::User("What is in app/main.py?".into())]
}

async fn answer(m: &EngineModel, req: TurnRequest) -> Answer {
    let mut stream = m.call(req).await.unwrap();
    let mut answer = Answer::default();
    while let Some(delta) = stream.next().await {
        answer.push(delta.unwrap());
    }
    answer
}

#[tokio::test]
async fn a_local_call_is_held_to_a_grammar_and_read_from_the_answer() {
    let call = r#"{"name": "read_file", "arguments": {"file_path": "app/main.py"}}"#;
    let (m, engine) = model(&[(call, FinishReason::Stop)], false, 4096);
    let a = answer(&m, request(ToolChoice::Required, asked())).await;
    assert_eq!(a.tool_calls.len(), 1, "{a:?}");
    assert_eq!(a.tool_calls[0].name, "read_file");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&a.tool_calls[0].arguments).unwrap()["file_path"],
        "app/main.py"
    );
    assert_eq!(a.finish_reason, "tool_calls");
    let seen = engine.requests.lock().unwrap()[0].clone();
    assert!(seen.constraint.is_some(), "a local model's call is constrained");
    assert!(seen.repetition_guard);
    assert_eq!(seen.max_tokens, Some(CALL_TOKENS), "a call that must be made gets room for it");
    let Prompt::Text(prompt) = seen.prompt else { panic!("a rendered prompt") };
    assert!(prompt.contains("read_file") && prompt.contains("You are GitLab Duo."), "{prompt}");
}

#[tokio::test]
async fn free_text_streams_and_a_cut_call_never_reaches_the_loop() {
    let (m, _) = model(&[("It is a Python script.", FinishReason::Stop)], false, 4096);
    let a = answer(&m, request(ToolChoice::Auto, asked())).await;
    assert_eq!(a.content, "It is a Python script.");
    assert!(a.tool_calls.is_empty());

    let cut = r#"{"name": "read_file", "arguments": {"file_pa"#;
    let (m, _) = model(&[(cut, FinishReason::Length)], false, 4096);
    let a = answer(&m, request(ToolChoice::Required, asked())).await;
    assert!(a.tool_calls.is_empty(), "{a:?}");
    assert_eq!(a.finish_reason, "length");
}

#[tokio::test]
async fn past_calls_and_results_reach_the_model() {
    let mut messages = asked();
    messages.push(Message::Assistant {
        content: String::new(),
        tool_calls: vec![ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: r#"{"file_path":"x"}"#.into(),
        }],
    });
    messages.push(Message::Tool { call_id: "c1".into(), name: "read_file".into(), content: "no such file".into() });
    let (m, engine) = model(&[("There is no such file.", FinishReason::Stop)], false, 4096);
    let a = answer(&m, request(ToolChoice::Auto, messages)).await;
    assert_eq!(a.content, "There is no such file.");
    let Prompt::Text(prompt) = engine.requests.lock().unwrap()[0].prompt.clone() else { panic!() };
    assert!(prompt.contains("no such file") && prompt.contains(r#""file_path":"x""#), "{prompt}");
}

#[test]
fn the_conversation_is_fitted_oldest_exchange_first_then_long_results() {
    let count = |t: &str| t.len();
    let big = "x".repeat(5000);
    let mut messages = vec![
        Message::System("sys".into()),
        Message::User("old question".into()),
        Message::Assistant { content: "old answer".into(), tool_calls: vec![] },
        Message::User("new question".into()),
        Message::Assistant {
            content: String::new(),
            tool_calls: vec![ToolCall { id: "c".into(), name: "read_file".into(), arguments: "{}".into() }],
        },
        Message::Tool { call_id: "c".into(), name: "read_file".into(), content: big },
    ];
    fit(&mut messages, 1500, &count);
    assert!(matches!(&messages[1], Message::User(q) if q == "new question"), "{messages:?}");
    assert_eq!(messages.len(), 4);
    let Message::Tool { content, .. } = &messages[3] else { panic!() };
    assert!(content.len() < 1500 && content.ends_with("context]"), "{}", content.len());
    // Already small enough: untouched.
    let mut small = asked();
    fit(&mut small, 10_000, &count);
    assert_eq!(small, asked());
}

#[tokio::test]
async fn a_client_schema_outside_the_grammar_subset_is_loosened_not_refused() {
    let tool = ToolDef {
        name: "mcp_search".into(),
        description: "Search.".into(),
        parameters: json!({"type": "object", "properties": {
            "query": {"type": "string", "pattern": "\\d+"},
            "limit": {"type": "number", "minimum": 1},
            "mode": {"type": "string", "not": {"const": "x"}}
        }, "required": ["query"]}),
    };
    let call = r#"{"name": "mcp_search", "arguments": {"query": "42"}}"#;
    let (m, _) = model(&[(call, FinishReason::Stop)], false, 4096);
    let req = TurnRequest { tools: vec![tool], ..request(ToolChoice::Required, asked()) };
    let a = answer(&m, req).await;
    assert_eq!(a.tool_calls.len(), 1, "{a:?}");
}

#[tokio::test]
async fn an_upstream_malformed_call_is_asked_for_once_more() {
    let bad = r#"CALL read_file {"path": 3}"#;
    let good = r#"CALL read_file {"file_path": "a.py"}"#;
    let (m, engine) = model(&[(bad, FinishReason::Stop), (good, FinishReason::Stop)], true, 8192);
    let a = answer(&m, request(ToolChoice::Auto, asked())).await;
    let requests = engine.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one repair");
    assert!(requests[0].upstream_tools.is_some(), "the tools go to the upstream as they are");
    assert_eq!(a.tool_calls.len(), 1, "{a:?}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&a.tool_calls[0].arguments).unwrap()["file_path"], "a.py");
}
