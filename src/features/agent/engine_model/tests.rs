//! The text tool-call protocol over a scripted engine: free answers, calls found in text, forced calls built value by value, one repair of a malformed call.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::engine::{
    ChatMessage, Engine, EngineError, FimTokens, FinishReason, GenerateRequest, ModelInfo, Prompt, Timings, Usage,
};
use crate::features::agent::model::Answer;
use crate::prompt::Family;

/// Answers from a script (cut at the first stop string, as the engine does) and records prompts.
struct Scripted {
    info: ModelInfo,
    answers: Mutex<VecDeque<&'static str>>,
    prompts: Mutex<Vec<(String, Vec<String>)>>,
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
        let prompt = match req.prompt {
            Prompt::Text(t) => t,
            Prompt::Chat(m) => serde_json::to_string(&m).unwrap(),
        };
        self.prompts.lock().unwrap().push((prompt, req.stop.clone()));
        let mut answer = self.answers.lock().unwrap().pop_front().unwrap_or("").to_string();
        if let Some(cut) = req.stop.iter().filter_map(|s| answer.find(s.as_str())).min() {
            answer.truncate(cut);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for piece in answer.as_bytes().chunks(3) {
            tx.send(Event::Text(String::from_utf8_lossy(piece).into_owned())).await.unwrap();
        }
        tx.send(Event::Done { finish: FinishReason::Stop, usage: Usage::default(), timings: Timings::default() })
            .await
            .unwrap();
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

fn model(answers: &[&'static str], local: bool) -> (EngineModel, Arc<Scripted>) {
    let engine = Arc::new(Scripted {
        info: ModelInfo::fake("scripted", 8192),
        answers: Mutex::new(answers.iter().copied().collect()),
        prompts: Mutex::new(Vec::new()),
    });
    let route = Route { engine: engine.clone(), family: Family::General, local, provider: "litellm".into() };
    (EngineModel::new(route, Feature::DuoAgentPlatformAgenticChat, false), engine)
}

fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "read_file".into(),
            description: "Read a file.".into(),
            parameters: json!({"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}),
        },
        ToolDef {
            name: "get_job_logs".into(),
            description: "Job log.".into(),
            parameters: json!({"type": "object", "properties": {"job_id": {"type": "integer"}, "url": {"type": "string"}}, "required": ["job_id"]}),
        },
    ]
}

fn request(choice: ToolChoice) -> TurnRequest {
    TurnRequest {
        messages: vec![
            Message::System("You are GitLab Duo.".into()),
            Message::User("What is in app/main.py?".into()),
            Message::Assistant {
                content: String::new(),
                tool_calls: vec![super::super::model::ToolCall {
                    id: "c1".into(),
                    name: "read_file".into(),
                    arguments: r#"{"file_path":"x"}"#.into(),
                }],
            },
            Message::Tool { call_id: "c1".into(), name: "read_file".into(), content: "no such file".into() },
        ],
        tools: tools(),
        tool_choice: choice,
        max_tokens: 64,
        temperature: 0.0,
    }
}

async fn answer(m: &EngineModel, choice: ToolChoice) -> Answer {
    let mut stream = m.call(request(choice)).await.unwrap();
    let mut answer = Answer::default();
    while let Some(delta) = stream.next().await {
        answer.push(delta.unwrap());
    }
    answer
}

#[tokio::test]
async fn free_text_and_calls_in_text() {
    let (m, engine) = model(&["It is a Python script."], true);
    let a = answer(&m, ToolChoice::Auto).await;
    assert_eq!(a.content, "It is a Python script.");
    assert!(a.tool_calls.is_empty());
    let (prompt, stops) = engine.prompts.lock().unwrap()[0].clone();
    assert!(
        prompt.starts_with("<system>You are GitLab Duo.")
            && prompt.contains("- read_file(file_path: string): Read a file.")
    );
    assert!(
        prompt.contains("<tool_call>{\"name\": \"read_file\", \"arguments\": {\"file_path\":\"x\"}}</tool_call>"),
        "{prompt}"
    );
    assert!(prompt.contains("<user>Result of the tool read_file:\nno such file"), "{prompt}");
    assert!(stops.contains(&CALL_CLOSE.to_string()));

    let (m, _) = model(
        &[
            "Let me look.\n<tool_call>{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"app/main.py\"}}</tool_call> trailing",
        ],
        true,
    );
    let a = answer(&m, ToolChoice::Auto).await;
    assert_eq!(a.content, "Let me look.\n");
    assert_eq!(a.tool_calls.len(), 1);
    assert_eq!(a.tool_calls[0].name, "read_file");
    assert_eq!(serde_json::from_str::<Value>(&a.tool_calls[0].arguments).unwrap(), json!({"file_path": "app/main.py"}));
    assert_eq!(a.finish_reason, "tool_calls");

    // No tools: nothing about them in the prompt.
    let (m, engine) = model(&["plain"], true);
    assert_eq!(answer(&m, ToolChoice::None).await.content, "plain");
    assert!(!engine.prompts.lock().unwrap()[0].0.contains("Tools you can use"));
}

#[tokio::test]
async fn a_malformed_call_is_asked_for_once_more() {
    let (m, engine) = model(
        &[
            "<tool_call>{\"name\": \"rm\"}",
            "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"a\"}}",
        ],
        false,
    );
    let a = answer(&m, ToolChoice::Auto).await;
    assert_eq!(a.tool_calls[0].name, "read_file");
    let repair = engine.prompts.lock().unwrap()[1].0.clone();
    assert!(repair.contains("there is no tool named `rm`"), "{repair}");

    let (m, _) = model(&["<tool_call>{\"name\": ", "still not a call"], false);
    let a = answer(&m, ToolChoice::Auto).await;
    assert!(a.tool_calls.is_empty() && a.content.contains("<tool_call>"), "the text is kept: {a:?}");
}

#[tokio::test]
async fn forced_calls_are_built_value_by_value_on_local_models() {
    let (m, engine) = model(&["app/main.py\"}}</tool_call>"], true);
    let a = answer(&m, ToolChoice::Named("read_file".into())).await;
    assert_eq!(a.tool_calls.len(), 1);
    assert_eq!(serde_json::from_str::<Value>(&a.tool_calls[0].arguments).unwrap(), json!({"file_path": "app/main.py"}));
    let (prompt, stops) = engine.prompts.lock().unwrap()[0].clone();
    assert!(prompt.ends_with("<tool_call>{\"name\": \"read_file\", \"arguments\": {\"file_path\": \""), "{prompt}");
    assert!(prompt.contains("must be a tool call") && stops.contains(&"\"".to_string()));

    // Non-string values; only required properties are asked for.
    let (m, engine) = model(&["1234, \"url\": \"x\"}}"], true);
    let a = answer(&m, ToolChoice::Named("get_job_logs".into())).await;
    assert_eq!(serde_json::from_str::<Value>(&a.tool_calls[0].arguments).unwrap(), json!({"job_id": 1234}));
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);

    // Required: the model names the tool first.
    let (m, _) = model(&["get_job_logs\"", "77}"], true);
    let a = answer(&m, ToolChoice::Required).await;
    assert_eq!(a.tool_calls[0].name, "get_job_logs");
    assert_eq!(serde_json::from_str::<Value>(&a.tool_calls[0].arguments).unwrap(), json!({"job_id": 77}));
    // An unknown name falls back to an offered tool.
    let (m, _) = model(&["nonsense\"", "x.py\""], true);
    assert_eq!(answer(&m, ToolChoice::Required).await.tool_calls[0].name, "read_file");

    // A remote model is asked in words and checked.
    let (m, _) = model(&["<tool_call>{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"r\"}}"], false);
    assert_eq!(answer(&m, ToolChoice::Named("read_file".into())).await.tool_calls[0].name, "read_file");
    let (m, _) = model(&[], true);
    assert!(m.call(request(ToolChoice::Named("nope".into()))).await.is_err());
}

#[test]
fn call_parsing() {
    let t = tools();
    assert_eq!(
        parse_call(r#" {"name": "read_file", "arguments": {"file_path": "a"}} junk"#, &t).unwrap().0,
        "read_file"
    );
    assert_eq!(
        parse_call(r#"{"name": "read_file", "parameters": {"file_path": "a"}}"#, &t).unwrap().1,
        r#"{"file_path":"a"}"#
    );
    assert_eq!(
        parse_call(r#"{"name": "read_file", "arguments": "{\"file_path\": \"a\"}"}"#, &t).unwrap().1,
        r#"{"file_path":"a"}"#
    );
    assert_eq!(parse_call(r#"{"name": "read_file"}"#, &t).unwrap().1, "{}");
    assert!(parse_call(r#"{"name": "read_file", "arguments": [1]}"#, &t).is_err());
    assert!(parse_call(r#"{"arguments": {}}"#, &t).is_err());
    assert!(parse_call("", &t).is_err());
    assert_eq!(partial_marker("abc<tool_c"), "<tool_c".len());
    assert_eq!(partial_marker("abc<"), 1);
    assert_eq!(partial_marker("abc"), 0);
    assert_eq!(scalar("integer", "42,"), json!(42));
    assert_eq!(scalar("boolean", "true}"), json!(true));
    assert_eq!(scalar("array", "oops"), json!([]));
}
