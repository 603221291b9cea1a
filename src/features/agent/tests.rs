//! Agent runs against a fake GitLab (through the client) and a scripted model: one turn, tool calls, approvals, resumes, stops and failures, with the actions, status events and chat log each produces.

mod fakes;

use std::sync::Arc;

use serde_json::Value;

use super::model::{Message, ToolChoice};
use super::sessions::{NewSession, Registration, Sessions};
use super::ui::StatusEvent;
use super::*;
use fakes::{FakeGitlab, FakeModel, NoDocs, Script};

fn input(flow: Flow, goal: &str, decision: Decision) -> RunInput {
    RunInput {
        workflow_id: "4711".into(),
        flow,
        goal: goal.into(),
        decision,
        context: Vec::new(),
        context_json: None,
        preapproved_tools: Vec::new(),
        mcp_tools: Vec::new(),
        capabilities: Capabilities::default(),
        gitlab_version: gitlab::GitlabVersion::parse("18.9.0"),
        gitlab_url: None,
        compress_checkpoints: false,
        without_search: false,
        client_too_old: false,
    }
}

fn chat(goal: &str) -> RunInput {
    input(Flow::Chat { custom: None }, goal, Decision::None)
}

fn register() -> Registration {
    let sessions = Arc::new(Sessions::default());
    sessions.try_register(NewSession { workflow_id: "4711", user: "7", flow: "chat", correlation_id: "c" }, 8).unwrap()
}

async fn run_with(gitlab: &FakeGitlab, model: &FakeModel, input: RunInput, limits: &Limits) -> RunOutcome {
    let registration = register();
    let deps = Deps { client: gitlab, model, docs: &NoDocs, session: &registration.session };
    run(input, &deps, limits).await
}

async fn run_once(gitlab: &FakeGitlab, model: &FakeModel, input: RunInput) -> RunOutcome {
    run_with(gitlab, model, input, &Limits::default()).await
}

fn done(last: StatusEvent) -> RunOutcome {
    RunOutcome { last_event: Some(last), end: RunEnd::Done }
}

#[tokio::test]
async fn one_turn_of_chat() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab", "read_write_gitlab"], &["read_only_gitlab"]);
    let model = FakeModel::new(&[Script::Text("Hello! I can help.")]);
    let outcome = run_once(&gitlab, &model, chat("Hi there")).await;
    assert_eq!(outcome, done(StatusEvent::RequireInput));
    assert_eq!(
        gitlab.trail(),
        vec!["POST /api/graphql", "PATCH status start", "POST checkpoint", "PATCH status require_input"]
    );
    assert_eq!(gitlab.last_update().status, "INPUT_REQUIRED");
    let log = gitlab.last_log();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0]["message_type"].as_str(), log[0]["content"].as_str()), (Some("user"), Some("Hi there")));
    assert!(log[0]["message_id"].as_str().unwrap().starts_with("user-"));
    assert_eq!((log[1]["message_type"].as_str(), log[1]["status"].as_str()), (Some("agent"), Some("success")));
    assert_eq!(log[1]["content"], "Hello! I can help.");
    // The first checkpoint names the goal; the model saw one system message and the question.
    let stored = gitlab.with(|s| s.checkpoints.clone());
    assert_eq!(stored[0]["checkpoint"]["channel_values"]["__start__"]["goal"], "Hi there");
    assert_eq!(stored[0]["checkpoint"]["channel_values"]["status"], "input_required");
    let requests = model.requests.lock().unwrap();
    assert!(matches!(&requests[0].messages[0], Message::System(s) if s.contains("GitLab Duo")));
    assert_eq!(requests[0].messages[1], Message::User("Hi there".into()));
    assert_eq!(requests[0].tool_choice, ToolChoice::Auto);
    // Web chat: GitLab tools and docs, no file tools.
    let names: Vec<&str> = requests[0].tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"get_merge_request") && names.contains(&"gitlab_documentation_search"));
    assert!(!names.contains(&"read_file") && !names.contains(&"run_command"));
    // Streaming updates kept one stable id for the answer.
    let ids: Vec<String> = gitlab.with(|s| {
        s.updates
            .iter()
            .filter_map(|u| {
                let v: Value = serde_json::from_str(&u.checkpoint).ok()?;
                v["channel_values"]["ui_chat_log"]
                    .as_array()?
                    .get(1)
                    .map(|e| e["message_id"].as_str().unwrap_or("").to_string())
            })
            .collect()
    });
    assert!(!ids.is_empty() && ids.iter().all(|i| i == &ids[0]), "{ids:?}");
}

#[tokio::test]
async fn a_tool_call_runs_on_the_client_and_feeds_back() {
    let gitlab = FakeGitlab::new(&["read_write_files", "read_only_gitlab"], &["read_write_files", "read_only_gitlab"]);
    let model = FakeModel::new(&[
        Script::Call("read_file", r#"{"file_path": "app/main.py"}"#),
        Script::Text("It prints hello."),
    ]);
    let outcome = run_once(&gitlab, &model, chat("What does app/main.py do?")).await;
    assert_eq!(outcome, done(StatusEvent::RequireInput));
    let trail = gitlab.trail();
    assert_eq!(
        trail,
        vec![
            "POST /api/graphql",
            "PATCH status start",
            "runReadFile",
            "POST checkpoint",
            "POST checkpoint",
            "PATCH status require_input"
        ]
    );
    let requests = model.requests.lock().unwrap();
    assert!(
        matches!(requests[1].messages.last(), Some(Message::Tool { content, .. }) if content == "print('hello')\n")
    );
    let log = gitlab.last_log();
    let tool = log.iter().find(|e| e["message_type"] == "tool").unwrap();
    assert_eq!(tool["message_sub_type"], "read_file");
    assert_eq!(tool["status"], "success");
    assert_eq!(tool["message_id"], "call_0");
    assert_eq!(tool["tool_info"]["args"]["file_path"], "app/main.py");
    assert_eq!(tool["tool_info"]["tool_response"]["content"], "print('hello')\n");
    assert_eq!(log.last().unwrap()["content"], "It prints hello.");
}

#[tokio::test]
async fn bad_calls_are_explained_to_the_model() {
    let gitlab = FakeGitlab::new(&["read_write_files"], &["read_write_files"]);
    let model = FakeModel::new(&[
        Script::Call("delete_everything", "{}"),
        Script::Call("read_file", "{not json"),
        Script::Call("read_file", r#"{"path": "x"}"#),
        Script::Call("read_file", r#"{"file_path": "../etc/passwd"}"#),
        Script::Call("read_file", r#"{"file_path": "missing.txt"}"#),
        Script::Text("Sorry."),
    ]);
    assert_eq!(run_once(&gitlab, &model, chat("go")).await, done(StatusEvent::RequireInput));
    let requests = model.requests.lock().unwrap();
    let result = |i: usize| match requests[i].messages.last() {
        Some(Message::Tool { content, .. }) => content.clone(),
        other => panic!("{other:?}"),
    };
    assert!(result(1).contains("There is no tool named `delete_everything`"));
    assert!(result(2).contains("not valid JSON"));
    assert!(result(3).contains("missing required argument `file_path`") && result(3).contains("schema"));
    assert!(result(4).contains("leaves the project directory"));
    assert!(result(5).contains("no such file"));
    // Only the last one reached the client.
    assert_eq!(gitlab.trail().iter().filter(|a| *a == "runReadFile").count(), 1);
    let failures = gitlab.last_log().iter().filter(|e| e["message_type"] == "tool" && e["status"] == "failure").count();
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn approval_round_trip_then_resume() {
    // The IDE grants file access but does not pre-approve it.
    let gitlab = FakeGitlab::new(&["read_write_files"], &[]);
    let model = FakeModel::new(&[Script::Call("read_file", r#"{"file_path": "app/main.py"}"#)]);
    let outcome = run_once(&gitlab, &model, chat("Read app/main.py")).await;
    assert_eq!(outcome, done(StatusEvent::RequireToolCallApproval));
    assert_eq!(gitlab.last_update().status, "TOOL_CALL_APPROVAL_REQUIRED");
    assert!(!gitlab.trail().contains(&"runReadFile".to_string()), "nothing runs before the approval");
    let request = gitlab.last_log().into_iter().find(|e| e["message_type"] == "request").unwrap();
    assert_eq!(request["tool_info"]["name"], "read_file");
    assert_eq!(gitlab.with(|s| s.status.clone()), "tool_call_approval_required");

    // The user approves: a new run with an empty goal and the decision.
    let model = FakeModel::new(&[Script::Text("It prints hello.")]);
    let approve = input(Flow::Chat { custom: None }, "", Decision::Approve { remember: true });
    let outcome = run_once(&gitlab, &model, approve).await;
    assert_eq!(outcome, done(StatusEvent::RequireInput));
    let trail = gitlab.trail();
    assert!(trail.contains(&"PATCH status resume".to_string()));
    assert_eq!(trail.iter().filter(|a| *a == "runReadFile").count(), 1);
    // The approval card became the tool's result card (same id, replaced in place).
    let log = gitlab.last_log();
    assert_eq!(log.iter().filter(|e| e["message_id"] == "call_0").count(), 1);
    assert_eq!(log.iter().find(|e| e["message_id"] == "call_0").unwrap()["message_type"], "tool");
    // Remembered for the session.
    let stored = gitlab.with(|s| s.checkpoints.last().cloned().unwrap());
    assert_eq!(stored["checkpoint"]["channel_values"]["approved_tools"][0], "read_file");
    // The model saw the whole conversation again, ending with the tool result.
    let requests = model.requests.lock().unwrap();
    assert!(matches!(requests[0].messages[1], Message::User(_)));
    assert!(matches!(requests[0].messages.last(), Some(Message::Tool { .. })));
}

#[tokio::test]
async fn rejection_tells_the_model() {
    let gitlab = FakeGitlab::new(&["run_commands"], &[]);
    let model = FakeModel::new(&[Script::Call("run_command", r#"{"program": "rm", "args": "-rf build"}"#)]);
    assert_eq!(run_once(&gitlab, &model, chat("clean up")).await, done(StatusEvent::RequireToolCallApproval));
    let request = gitlab.last_log().into_iter().find(|e| e["message_type"] == "request").unwrap();
    assert_eq!(request["tool_info"]["suggested_patterns"][0], "rm -rf *");

    let model = FakeModel::new(&[Script::Text("OK, I will not delete it.")]);
    let reject = input(Flow::Chat { custom: None }, "", Decision::Reject { message: Some("keep the build".into()) });
    assert_eq!(run_once(&gitlab, &model, reject).await, done(StatusEvent::RequireInput));
    assert!(!gitlab.trail().contains(&"runCommand".to_string()));
    let requests = model.requests.lock().unwrap();
    assert!(
        matches!(requests[0].messages.last(), Some(Message::Tool { content, .. }) if content.contains("keep the build"))
    );
    let card = gitlab.last_log().into_iter().find(|e| e["message_type"] == "tool").unwrap();
    assert_eq!(card["status"], "cancelled");
}

#[tokio::test]
async fn a_second_turn_resumes_from_the_checkpoint() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &["read_only_gitlab"]);
    let model = FakeModel::new(&[Script::Text("First answer.")]);
    run_once(&gitlab, &model, chat("First question")).await;
    let model = FakeModel::new(&[Script::Text("Second answer.")]);
    assert_eq!(run_once(&gitlab, &model, chat("Second question")).await, done(StatusEvent::RequireInput));
    let trail = gitlab.trail();
    assert_eq!(
        &trail[4..],
        &["POST /api/graphql", "PATCH status resume", "POST checkpoint", "PATCH status require_input"]
    );
    let requests = model.requests.lock().unwrap();
    let conversation: Vec<&Message> = requests[0].messages.iter().skip(1).collect();
    assert_eq!(
        conversation,
        vec![
            &Message::User("First question".into()),
            &Message::Assistant { content: "First answer.".into(), tool_calls: vec![] },
            &Message::User("Second question".into()),
        ]
    );
    let log = gitlab.last_log();
    let contents: Vec<&str> = log.iter().map(|e| e["content"].as_str().unwrap()).collect();
    assert_eq!(contents, vec!["First question", "First answer.", "Second question", "Second answer."]);
    // Checkpoints chain: each names the one before it.
    let stored = gitlab.with(|s| s.checkpoints.clone());
    assert_eq!(stored[1]["parent_ts"], stored[0]["thread_ts"]);
    assert!(stored[1]["checkpoint"]["channel_values"].get("__start__").is_none());
}

#[tokio::test]
async fn an_empty_resume_does_not_call_the_model() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    run_once(&gitlab, &FakeModel::new(&[Script::Text("Answer.")]), chat("Q")).await;
    let model = FakeModel::new(&[]);
    assert_eq!(run_once(&gitlab, &model, chat("")).await, done(StatusEvent::RequireInput));
    assert_eq!(model.calls(), 0);
}

#[tokio::test]
async fn stop_mid_answer() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    let model = FakeModel::new(&[Script::Hang]);
    let registration = register();
    let deps = Deps { client: &gitlab, model: &model, docs: &NoDocs, session: &registration.session };
    let limits = Limits::default();
    let stopper = async {
        while model.calls() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        registration.session.request_stop();
    };
    let (outcome, ()) = tokio::join!(run(chat("long question"), &deps, &limits), stopper);
    assert_eq!(outcome, RunOutcome { last_event: Some(StatusEvent::Stop), end: RunEnd::Stopped });
    assert_eq!(gitlab.last_update().status, "STOPPED");
    assert_eq!(gitlab.trail().last().unwrap(), "PATCH status stop");
    assert_eq!(gitlab.with(|s| s.status.clone()), "stopped");
}

#[tokio::test]
async fn failures_end_the_run_with_their_status() {
    // No such workflow.
    let gitlab = FakeGitlab::new(&[], &[]);
    gitlab.with(|s| s.missing = true);
    let outcome = run_once(&gitlab, &FakeModel::new(&[]), chat("hi")).await;
    assert_eq!(outcome.end, RunEnd::InvalidWorkflow("Invalid workflow ID: 4711".into()));
    assert_eq!(gitlab.trail(), vec!["POST /api/graphql"]);

    // GitLab refuses to start it.
    let gitlab = FakeGitlab::new(&[], &[]);
    gitlab.with(|s| s.start_status = 403);
    let outcome = run_once(&gitlab, &FakeModel::new(&[]), chat("hi")).await;
    assert!(matches!(outcome.end, RunEnd::Forbidden(_)));

    // The model fails: the user sees why, GitLab drops the workflow.
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    let outcome = run_once(&gitlab, &FakeModel::new(&[Script::Fail]), chat("hi")).await;
    assert!(matches!(&outcome.end, RunEnd::Failed { kind: "ModelError", .. }), "{outcome:?}");
    assert_eq!(outcome.last_event, Some(StatusEvent::Drop));
    assert_eq!(gitlab.last_update().status, "FAILED");
    let error = gitlab.last_log().into_iter().last().unwrap();
    assert_eq!(error["status"], "failure");
    assert!(error["message_id"].as_str().unwrap().starts_with("error-"));

    // A client that stops answering times out.
    let gitlab = FakeGitlab::new(&["read_write_files"], &["read_write_files"]);
    gitlab.with(|s| s.hang_on = Some("runReadFile"));
    let limits = Limits { action_timeout: std::time::Duration::from_millis(50), ..Limits::default() };
    let model = FakeModel::new(&[Script::Call("read_file", r#"{"file_path": "a"}"#)]);
    let outcome = run_with(&gitlab, &model, chat("read"), &limits).await;
    assert!(matches!(&outcome.end, RunEnd::Failed { kind: "ClientTimeout", .. }), "{outcome:?}");
}

#[tokio::test]
async fn iterations_are_bounded() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &["read_only_gitlab"]);
    let script = vec![Script::Call("get_current_user", "{}"); 10];
    let model = FakeModel::new(&script);
    let limits = Limits { max_iterations: 3, ..Limits::default() };
    let outcome = run_with(&gitlab, &model, chat("loop"), &limits).await;
    assert!(matches!(&outcome.end, RunEnd::Failed { kind: "StepLimit", .. }), "{outcome:?}");
    assert_eq!(model.calls(), 3);
    assert!(gitlab.last_log().last().unwrap()["content"].as_str().unwrap().contains("3 steps"));
}

#[tokio::test]
async fn first_tool_choice_applies_to_fresh_messages_only() {
    let limits = Limits { first_tool_choice: ToolChoice::Named("read_file".into()), ..Limits::default() };
    // Offered: forced on the first call, free afterwards.
    let gitlab = FakeGitlab::new(&["read_write_files"], &["read_write_files"]);
    let model = FakeModel::new(&[Script::Call("read_file", r#"{"file_path": "app/main.py"}"#), Script::Text("done")]);
    run_with(&gitlab, &model, chat("q"), &limits).await;
    let choices: Vec<ToolChoice> = model.requests.lock().unwrap().iter().map(|r| r.tool_choice.clone()).collect();
    assert_eq!(choices, vec![ToolChoice::Named("read_file".into()), ToolChoice::Auto]);
    // Not offered (web chat has no file tools): free.
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    let model = FakeModel::new(&[Script::Text("done")]);
    run_with(&gitlab, &model, chat("q"), &limits).await;
    assert_eq!(model.requests.lock().unwrap()[0].tool_choice, ToolChoice::Auto);
}

#[tokio::test]
async fn agent_mode_finishes_and_docs_search_runs_inside() {
    let gitlab = FakeGitlab::new(
        &["read_write_files", "read_only_gitlab", "run_commands"],
        &["read_write_files", "read_only_gitlab", "run_commands"],
    );
    let model = FakeModel::new(&[
        Script::Call("gitlab_documentation_search", r#"{"search": "ci rules"}"#),
        Script::Call("edit_file", r#"{"file_path": "app/main.py", "old_str": "hello", "new_str": "hi"}"#),
        Script::Text("Changed the greeting."),
    ]);
    let outcome =
        run_once(&gitlab, &model, input(Flow::SoftwareDevelopment, "Change the greeting", Decision::None)).await;
    assert_eq!(outcome, done(StatusEvent::Finish));
    assert_eq!(gitlab.last_update().status, "FINISHED");
    let trail = gitlab.trail();
    assert!(trail.contains(&"runEditFile".to_string()));
    assert!(!trail.iter().any(|a| a.contains("search")), "docs are searched inside airgate: {trail:?}");
    let requests = model.requests.lock().unwrap();
    assert!(matches!(&requests[0].messages[0], Message::System(s) if s.contains("agent mode")));
    assert!(
        matches!(requests[1].messages.last(), Some(Message::Tool { content, .. }) if content.contains("About ci rules"))
    );
}

#[tokio::test]
async fn unknown_slash_commands_answer_without_the_model() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    let model = FakeModel::new(&[]);
    assert_eq!(run_once(&gitlab, &model, chat("/frobnicate it")).await, done(StatusEvent::RequireInput));
    assert_eq!(model.calls(), 0);
    assert!(gitlab.last_log().last().unwrap()["content"].as_str().unwrap().contains("/frobnicate does not exist"));
}

#[tokio::test]
async fn compressed_checkpoints_when_gitlab_asks() {
    let gitlab = FakeGitlab::new(&["read_only_gitlab"], &[]);
    let mut compressed = chat("Q");
    compressed.compress_checkpoints = true;
    run_once(&gitlab, &FakeModel::new(&[Script::Text("A")]), compressed).await;
    let body = gitlab.with(|s| {
        s.actions
            .iter()
            .find_map(|a| match a {
                client::ClientAction::Http { path, body, .. } if path.ends_with("/checkpoints") => body.clone(),
                _ => None,
            })
            .unwrap()
    });
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("checkpoint").is_none() && v["compressed_checkpoint"].is_string());
}
