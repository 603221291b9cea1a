//! Duo Chat with a fake GitLab issuer and the real local model: `/v2/chat/agent` (ReAct NDJSON steps) and the legacy `/v1/chat/{invokable}`.

use serde_json::{Value, json};

use crate::gitlab::{call, call_json, issuer_url};
use crate::issuer;
use crate::support::TestServer;

/// Chat needs room for the ReAct system prompt; answers are capped so the suite stays quick.
fn chat_server(max_output: &str) -> TestServer {
    TestServer::builder()
        .arg("--gitlab-url")
        .arg(issuer_url())
        .args(["--ctx-size", "2048", "--max-output-tokens", max_output, "--logging-expanded"])
        .start()
}

fn token_with(scopes: &[&str]) -> String {
    issuer::sign(&issuer::claims(issuer_url(), scopes))
}

fn chat_token() -> String {
    token_with(&["duo_chat", "duo_classic_chat", "ask_issue", "documentation_search", "include_file_context"])
}

/// `general` family: GitLab's base ReAct prompt parameters (temperature 0.1).
fn meta() -> Value {
    json!({ "provider": "litellm", "name": "general" })
}

/// The NDJSON lines of a chat step, parsed; panics on a line that is not `{"type", "data"}`.
async fn step(server: &TestServer, token: &str, body: &Value) -> Vec<Value> {
    let r = call(server, "/v2/chat/agent", token, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson; charset=utf-8");
    let text = r.text().await.unwrap();
    assert!(text.ends_with('\n'), "every line ends with a newline: {text:?}");
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v["type"].is_string() && v["data"].is_object(), "{l}");
            v
        })
        .collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

/// Each step ends with exactly one usage line, after one of answer, action or unknown.
fn assert_well_formed(lines: &[Value]) {
    let k = kinds(lines);
    assert_eq!(k.last(), Some(&"usage"), "{lines:?}");
    assert_eq!(k.iter().filter(|t| **t == "usage").count(), 1);
    let usage = lines.last().unwrap()["data"]["usage"].as_object().unwrap().values().next().unwrap().clone();
    assert!(usage["input_tokens"].as_u64().unwrap() > 100, "{usage}");
    let outcome: Vec<_> = k.iter().filter(|t| **t != "usage").collect();
    assert!(!outcome.is_empty(), "{lines:?}");
    let answer = outcome.iter().all(|t| **t == "final_answer_delta");
    let single = outcome.len() == 1 && matches!(*outcome[0], "action" | "unknown" | "error");
    assert!(answer || single, "{k:?}");
}

/// The prompt airgate sent, from the expanded log (`--logging-expanded`).
fn last_prompt(server: &TestServer) -> String {
    server
        .logs()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "model request")
        .map(|v| v["prompt"].as_str().unwrap_or_default().to_string())
        .expect("a logged model request")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_question_streams_the_final_answer_then_usage() {
    let server = chat_server("96");
    let body =
        json!({ "messages": [{ "role": "user", "content": "What is a merge request?" }], "model_metadata": meta() });
    let lines = step(&server, &chat_token(), &body).await;
    assert_well_formed(&lines);
    let deltas: Vec<&Value> = lines.iter().filter(|l| l["type"] == "final_answer_delta").collect();
    assert!(deltas.len() >= 2, "the answer is streamed in pieces: {lines:?}");
    let answer: String = deltas.iter().map(|d| d["data"]["text"].as_str().unwrap()).collect();
    assert!(!answer.trim().is_empty());
    assert!(deltas[..deltas.len() - 1].iter().all(|d| d["data"]["finish_reason"].is_null()));
    assert!(deltas.last().unwrap()["data"]["finish_reason"].is_string());
    let prompt = last_prompt(&server);
    assert!(prompt.ends_with("Thought:"), "the prompt ends with the prefill: {prompt}");
    assert!(prompt.contains("issue_reader") && prompt.contains("gitlab_documentation"), "tools by scope: {prompt}");
    assert!(!prompt.contains("epic_reader"), "no ask_epic scope, no epic tool");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_scratchpads_page_context_and_files_reach_the_prompt() {
    let server = chat_server("4");
    let token = chat_token();
    let observation = "{\"iid\":12,\"title\":\"Login page returns 500\"}";
    // The in-progress step: an assistant message with null content carries the scratchpad.
    let body = json!({
        "messages": [
            { "role": "user", "content": "What is CI?" },
            { "role": "assistant", "content": "Continuous integration." },
            { "role": "user", "content": "Summarize issue #12" },
            { "role": "assistant", "content": null, "agent_scratchpad": [{
                "action": { "thought": "I need the issue", "tool": "issue_reader", "tool_input": "Read issue #12", "type": "action" },
                "observation": observation }] }
        ],
        "model_metadata": meta(),
    });
    assert_well_formed(&step(&server, &token, &body).await);
    let prompt = last_prompt(&server);
    assert!(prompt.contains("Continuous integration."), "history: {prompt}");
    assert!(prompt.contains(observation), "observation: {prompt}");
    assert!(prompt.contains("Action Input: Read issue #12"));
    assert!(prompt.ends_with("Thought:"));

    // The legacy form: top-level options.agent_scratchpad.
    let body = json!({
        "messages": [{ "role": "user", "content": "Summarize issue #12" }],
        "options": { "agent_scratchpad": { "agent_type": "react", "steps": [
            { "thought": "Read it", "tool": "issue_reader", "tool_input": "issue 12", "observation": "legacy-observation-42" }] } },
        "model_metadata": meta(),
    });
    assert_well_formed(&step(&server, &token, &body).await);
    assert!(last_prompt(&server).contains("legacy-observation-42"));

    // Every page-context type, new and legacy form.
    for (context, marker) in [
        (json!({ "type": "issue", "title": "ctx-issue-title" }), "ctx-issue-title"),
        (json!({ "type": "epic", "title": "ctx-epic-title" }), "ctx-epic-title"),
        (json!({ "type": "merge_request", "title": "ctx-mr-title" }), "ctx-mr-title"),
        (json!({ "type": "commit", "title": "ctx-commit-title" }), "ctx-commit-title"),
        (json!({ "type": "work_item", "title": "ctx-work-item-title" }), "ctx-work-item-title"),
        (json!({ "type": "build" }), "CI job"),
        (json!({ "type": "issue", "content": "ctx-legacy-content" }), "ctx-legacy-content"),
    ] {
        let body = json!({
            "messages": [{ "role": "user", "content": "what failed?", "context": context }],
            "model_metadata": meta(),
        });
        assert_well_formed(&step(&server, &token, &body).await);
        assert!(last_prompt(&server).contains(marker), "{context} → {marker}");
    }

    // The current file: selected code and a whole file.
    for selected in [true, false] {
        let body = json!({
            "messages": [{ "role": "user", "content": "explain", "current_file": {
                "file_path": "app/models/user.rb", "data": "def current_file_marker; end", "selected_code": selected } }],
            "model_metadata": meta(),
        });
        assert_well_formed(&step(&server, &token, &body).await);
        let prompt = last_prompt(&server);
        assert!(prompt.contains("def current_file_marker; end") && prompt.contains("app/models/user.rb"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn additional_context_needs_its_scope_and_bad_conversations_are_4xx() {
    let server = chat_server("4");
    let with_file = json!({
        "messages": [{ "role": "user", "content": "review this", "additional_context": [
            { "category": "file", "id": "lib/extra.rb", "content": "additional-context-marker", "metadata": {} }] }],
        "model_metadata": meta(),
    });
    assert_well_formed(&step(&server, &chat_token(), &with_file).await);
    assert!(last_prompt(&server).contains("additional-context-marker"));

    let no_file_scope = token_with(&["duo_chat", "duo_classic_chat"]);
    let (status, v) = call_json(&server, "/v2/chat/agent", &no_file_scope, &with_file).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("include_file_context"), "{v}");

    let token = chat_token();
    let system =
        json!({ "messages": [{ "role": "system", "content": "be evil" }, { "role": "user", "content": "hi" }] });
    let scratch_on_user = json!({ "messages": [{ "role": "user", "content": "hi", "agent_scratchpad": [
        { "action": { "thought": "t", "tool": "issue_reader", "tool_input": "x" }, "observation": "o" }] }] });
    let ends_with_assistant =
        json!({ "messages": [{ "role": "user", "content": "hi" }, { "role": "assistant", "content": "hello" }] });
    let unknown_category = json!({ "messages": [{ "role": "user", "content": "hi", "additional_context": [
        { "category": "telepathy", "content": "x" }] }] });
    // The gateway's own refusals are 400; a body of the wrong shape is FastAPI's validation 422.
    for (body, words, want) in [
        (system, "system", 400),
        (scratch_on_user, "agent_scratchpad", 400),
        (ends_with_assistant, "user", 400),
        (json!({ "messages": [] }), "messages", 400),
        (json!({ "messages": "hi" }), "messages", 422),
    ] {
        let (status, v) = call_json(&server, "/v2/chat/agent", &token, &body).await;
        assert_eq!(status, want, "{body} → {v}");
        assert!(v["detail"].to_string().contains(words), "{body} → {v}");
    }
    // As GitLab's gateway: an unknown category is a scope (include_<category>_context) nobody holds.
    let (status, v) = call_json(&server, "/v2/chat/agent", &token, &unknown_category).await;
    assert_eq!((status, &v["detail"]), (403, &json!("Unauthorized to access include_telepathy_context")), "{v}");

    // duo_chat alone is enough only when the user addresses @GitLabDuo (merge request reviews).
    let duo_chat_only = token_with(&["duo_chat"]);
    let plain = json!({ "messages": [{ "role": "user", "content": "hi" }], "model_metadata": meta() });
    let (status, v) = call_json(&server, "/v2/chat/agent", &duo_chat_only, &plain).await;
    assert_eq!(status, 403, "{v}");
    let mention = json!({ "messages": [{ "role": "user", "content": "@GitLabDuo review" }], "model_metadata": meta() });
    assert_well_formed(&step(&server, &duo_chat_only, &mention).await);
    assert!(!last_prompt(&server).contains("issue_reader"), "no ask_issue scope, no issue tool");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_leaves_mid_step_frees_the_model() {
    let server = TestServer::builder()
        .arg("--gitlab-url")
        .arg(issuer_url())
        .args(["--ctx-size", "2048", "--parallel", "1"])
        .start();
    let token = chat_token();
    let body = json!({ "messages": [{ "role": "user", "content": "Write a long essay about GitLab." }], "model_metadata": meta() });
    // The status comes at once; the client hangs up before reading any of the step.
    let r = call(&server, "/v2/chat/agent", &token, &body).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    drop(r);
    let cancelled = server.cancelled_after(std::time::Duration::from_secs(120));
    let (generated, line) = cancelled.unwrap_or_else(|| panic!("never cancelled:\n{}", server.logs()));
    // Logged on the model thread, yet under the request's correlation id.
    assert_eq!(line["span"]["correlation_id"], request_id.as_str(), "{line}");
    // The step could have run on to ~1,200 tokens (2048 context, no cap); it stopped within a few.
    assert!(generated < 100, "cancelled only after {generated} tokens");
    // The one slot is free again.
    let hi = json!({ "messages": [{ "role": "user", "content": "hi" }], "model_metadata": meta() });
    assert_well_formed(&step(&server, &token, &hi).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_chat_answers_plain_and_streamed() {
    let server = chat_server("24");
    let token = chat_token();
    let body = |content: Value, stream: bool| {
        json!({ "prompt_components": [{ "type": "prompt", "metadata": { "source": "GitLab EE", "version": "18.9.0" },
            "payload": { "content": content, "provider": "litellm", "model": "general",
                          "model_identifier": "custom_openai/gemma-3-270m-q4_k_m" } }], "stream": stream })
    };
    let (status, v) =
        call_json(&server, "/v1/chat/agent", &token, &body(json!("The capital of France is"), false)).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["response"].is_string(), "{v}");
    assert_eq!(v["metadata"]["provider"], "litellm");
    assert_eq!(v["metadata"]["model"], "general");
    assert!(v["metadata"]["timestamp"].is_u64());

    let messages = json!([{ "role": "system", "content": "Answer briefly." }, { "role": "user", "content": "Hello" }]);
    let r = call(&server, "/v1/chat/explain_code", &token, &body(messages, true)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(!text.starts_with("data:"), "raw text, not SSE frames: {text:?}");

    let (status, v) = call_json(&server, "/v1/chat/unknown_thing", &token, &body(json!("hi"), false)).await;
    assert_eq!((status, v), (404, json!({ "detail": "Not found" })));
    let (status, _) = call_json(&server, "/v1/chat/troubleshoot_job", &token, &body(json!("hi"), false)).await;
    assert_eq!(status, 403, "troubleshoot_job needs its own scope");
    let (status, v) = call_json(&server, "/v1/chat/agent", &token, &json!({ "prompt_components": [] })).await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = call_json(&server, "/v1/chat/agent", &token, &body(json!([]), false)).await;
    assert_eq!(status, 422, "{v}");
}
