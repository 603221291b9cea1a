//! Test doubles for agent runs: a GitLab that answers through a fake client (workflow query, status events, checkpoints, files), a scripted model, an empty docs index.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::features::agent::client::{Client, ClientAction, ClientError, Reply, UiUpdate};
use crate::features::agent::model::{AgentModel, ChatDelta, DeltaStream, ModelError, TokenUsage, TurnRequest};
use crate::features::agent::{Docs, checkpoint};

/// GitLab as seen through the client.
pub struct FakeGitlab {
    pub state: Mutex<GitlabState>,
}

pub struct GitlabState {
    pub status: String,
    pub privileges: Vec<&'static str>,
    pub preapproved: Vec<&'static str>,
    /// POSTed checkpoint bodies, oldest first.
    pub checkpoints: Vec<Value>,
    pub files: HashMap<String, String>,
    pub actions: Vec<ClientAction>,
    pub updates: Vec<UiUpdate>,
    /// Answer the workflow query with GraphQL errors.
    pub missing: bool,
    /// HTTP status for the `start` event.
    pub start_status: i32,
    /// An action that never gets an answer (its kind).
    pub hang_on: Option<&'static str>,
}

impl FakeGitlab {
    pub fn new(privileges: &[&'static str], preapproved: &[&'static str]) -> FakeGitlab {
        FakeGitlab {
            state: Mutex::new(GitlabState {
                status: "created".into(),
                privileges: privileges.to_vec(),
                preapproved: preapproved.to_vec(),
                checkpoints: Vec::new(),
                files: HashMap::from([("app/main.py".to_string(), "print('hello')\n".to_string())]),
                actions: Vec::new(),
                updates: Vec::new(),
                missing: false,
                start_status: 200,
                hang_on: None,
            }),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut GitlabState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// The action kinds and HTTP method+path seen, in order.
    pub fn trail(&self) -> Vec<String> {
        self.with(|s| {
            s.actions
                .iter()
                .map(|a| match a {
                    ClientAction::Http { method, path, body } => {
                        let event = body
                            .as_deref()
                            .and_then(|b| serde_json::from_str::<Value>(b).ok())
                            .and_then(|v| v["status_event"].as_str().map(str::to_string));
                        match event {
                            Some(e) => format!("{method} status {e}"),
                            None if path.ends_with("/checkpoints") => format!("{method} checkpoint"),
                            None => format!("{method} {path}"),
                        }
                    }
                    other => other.kind().to_string(),
                })
                .collect()
        })
    }

    pub fn last_update(&self) -> UiUpdate {
        self.with(|s| s.updates.last().cloned().expect("a UI update"))
    }

    /// The chat log of the last UI update.
    pub fn last_log(&self) -> Vec<Value> {
        let text = self.last_update().checkpoint;
        let v: Value = serde_json::from_str(&text).unwrap();
        v["channel_values"]["ui_chat_log"].as_array().unwrap().clone()
    }

    fn reply(s: &mut GitlabState, action: &ClientAction) -> Reply {
        let http = |status: i32, body: Value| Reply::Http { status, body: body.to_string(), error: String::new() };
        match action {
            ClientAction::Http { method, path, body } if path == "/api/graphql" && method == "POST" => {
                if s.missing {
                    return http(200, json!({"errors": [{"message": "Workflow not found"}]}));
                }
                let latest = s.checkpoints.last().map(|c| {
                    json!({"threadTs": c["thread_ts"], "parentTs": c["parent_ts"], "metadata": c["metadata"], "checkpoint": c["checkpoint"]})
                });
                let _ = body;
                http(
                    200,
                    json!({"data": {"duoWorkflowWorkflows": {"nodes": [{
                        "statusName": s.status,
                        "projectId": "gid://gitlab/Project/12",
                        "project": {"id": "gid://gitlab/Project/12", "name": "shop", "webUrl": "https://gitlab.example.com/acme/shop",
                            "statisticsDetailsPaths": {"repository": "/acme/shop/-/tree/main"}, "languages": []},
                        "namespaceId": "gid://gitlab/Group/3",
                        "namespace": {"id": "gid://gitlab/Group/3", "name": "acme"},
                        "agentPrivilegesNames": s.privileges,
                        "preApprovedAgentPrivilegesNames": s.preapproved,
                        "mcpEnabled": false,
                        "latestCheckpoint": latest,
                        "archived": false, "stalled": false
                    }]}}}),
                )
            }
            ClientAction::Http { method, path, body } if method == "PATCH" => {
                let event: Value = serde_json::from_str(body.as_deref().unwrap_or("{}")).unwrap();
                let event = event["status_event"].as_str().unwrap_or_default().to_string();
                if event == "start" && s.start_status != 200 {
                    return http(s.start_status, json!({"message": "403 Forbidden"}));
                }
                let _ = path;
                s.status = match event.as_str() {
                    "start" | "resume" | "retry" => "running",
                    "require_input" => "input_required",
                    "require_tool_call_approval" => "tool_call_approval_required",
                    "stop" => "stopped",
                    "drop" => "failed",
                    "finish" => "finished",
                    _ => "running",
                }
                .into();
                http(200, json!({"id": 4711, "status": s.status}))
            }
            ClientAction::Http { method, path, body } if method == "POST" && path.ends_with("/checkpoints") => {
                let v: Value = serde_json::from_str(body.as_deref().unwrap()).unwrap();
                let stored = match v.get("compressed_checkpoint").and_then(Value::as_str) {
                    Some(c) => {
                        json!({"thread_ts": v["thread_ts"], "parent_ts": v["parent_ts"], "metadata": v["metadata"], "checkpoint": checkpoint::decompress(c).unwrap()})
                    }
                    None => v.clone(),
                };
                s.checkpoints.push(stored);
                http(201, json!({"id": s.checkpoints.len(), "thread_ts": v["thread_ts"]}))
            }
            ClientAction::Http { .. } => http(404, json!({"message": "404 Not found"})),
            ClientAction::ReadFile { path, .. } => match s.files.get(path) {
                Some(text) => Reply::Text { response: text.clone(), error: String::new() },
                None => {
                    Reply::Text { response: String::new(), error: format!("open {path}: no such file or directory") }
                }
            },
            other => Reply::Text { response: format!("ran {}", other.kind()), error: String::new() },
        }
    }
}

#[async_trait]
impl Client for FakeGitlab {
    async fn call(&self, action: ClientAction, timeout: Option<Duration>) -> Result<Reply, ClientError> {
        let hang = self.with(|s| {
            s.actions.push(action.clone());
            s.hang_on == Some(action.kind())
        });
        if hang {
            match timeout {
                Some(limit) => {
                    tokio::time::sleep(limit).await;
                    return Err(ClientError::Timeout(limit));
                }
                None => std::future::pending::<()>().await,
            }
        }
        Ok(self.with(|s| Self::reply(s, &action)))
    }

    async fn notify(&self, update: UiUpdate) -> Result<(), ClientError> {
        self.with(|s| s.updates.push(update));
        Ok(())
    }
}

/// What the scripted model answers, one per call.
#[derive(Clone, Debug)]
pub enum Script {
    /// Streams this text in a few pieces.
    Text(&'static str),
    /// Calls a tool with JSON arguments.
    Call(&'static str, &'static str),
    /// Never finishes (until dropped).
    Hang,
    Fail,
}

pub struct FakeModel {
    script: Mutex<VecDeque<Script>>,
    pub requests: Mutex<Vec<TurnRequest>>,
}

impl FakeModel {
    pub fn new(script: &[Script]) -> FakeModel {
        FakeModel { script: Mutex::new(script.iter().cloned().collect()), requests: Mutex::new(Vec::new()) }
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[async_trait]
impl AgentModel for FakeModel {
    fn name(&self) -> String {
        "fake-model".into()
    }

    fn context_tokens(&self) -> u32 {
        8192
    }

    async fn call(&self, request: TurnRequest) -> Result<DeltaStream, ModelError> {
        let n = self.calls();
        self.requests.lock().unwrap().push(request);
        let step = self.script.lock().unwrap().pop_front().unwrap_or(Script::Text("(no more script)"));
        let usage = TokenUsage { prompt_tokens: 10, completion_tokens: 5 };
        let deltas: Vec<Result<ChatDelta, ModelError>> = match step {
            Script::Text(text) => {
                let mid = text.len() / 2;
                let mid = (0..=mid).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                vec![
                    Ok(ChatDelta::Content(text[..mid].into())),
                    Ok(ChatDelta::Content(text[mid..].into())),
                    Ok(ChatDelta::Done { finish_reason: "stop".into(), usage }),
                ]
            }
            Script::Call(name, args) => vec![
                Ok(ChatDelta::ToolCallStart { index: 0, id: format!("call_{n}"), name: name.into() }),
                Ok(ChatDelta::ToolCallArgs { index: 0, fragment: args.into() }),
                Ok(ChatDelta::Done { finish_reason: "tool_calls".into(), usage }),
            ],
            Script::Hang => return Ok(futures::stream::pending().boxed()),
            Script::Fail => return Err(ModelError::Unavailable("the upstream answered 503".into())),
        };
        Ok(futures::stream::iter(deltas).boxed())
    }
}

pub struct NoDocs;

#[async_trait]
impl Docs for NoDocs {
    async fn search(&self, query: &str, _n: usize) -> Result<Vec<(String, String)>, String> {
        Ok(vec![("doc/ci/index.md".into(), format!("About {query}"))])
    }
}
