//! Duo Chat against a scripted upstream model: every NDJSON outcome line (action, final answer, unknown, error), failures before the first token, and requests without `model_metadata` following the admin's feature routing.

use serde_json::{Value, json};

use crate::admin::set_up;
use crate::gitlab::{call, call_json, issuer_url};
use crate::issuer;
use crate::support::{TestServer, model_path};
use crate::upstream::{Reply, Upstream};

fn server() -> TestServer {
    TestServer::builder().arg("--gitlab-url").arg(issuer_url()).args(["--max-output-tokens", "16"]).start()
}

fn token() -> String {
    issuer::sign(&issuer::claims(
        issuer_url(),
        &["duo_chat", "duo_classic_chat", "ask_issue", "explain_code", "generate_commit_message"],
    ))
}

fn meta(upstream: &Upstream) -> Value {
    json!({ "provider": "openai", "name": "general", "endpoint": upstream.url, "identifier": "custom_openai/scripted" })
}

fn question(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

/// The step's NDJSON lines (status 200 is the protocol, whatever happened).
async fn step(server: &TestServer, body: &Value) -> Vec<Value> {
    let r = call(server, "/v2/chat/agent", &token(), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson; charset=utf-8");
    let text = r.text().await.unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

fn answer(lines: &[Value]) -> String {
    lines.iter().filter(|l| l["type"] == "final_answer_delta").map(|l| l["data"]["text"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_model_steps_become_action_answer_unknown_and_error_lines() {
    let server = server();
    let upstream = Upstream::start(vec![
        Reply::Text(" I should read the issue first.\nAction: issue_reader\nAction Input: Summarize issue #12"),
        Reply::Text(" I know enough now.\nFinal Answer: Issue #12 is about the login page returning 500."),
        Reply::Text(" Let me just greet the user warmly."),
        Reply::Text(" I need the epic.\nAction: epic_reader\nAction Input: epic &3"),
    ])
    .await;

    // 1. A tool step: one action line after the stream, then usage with the upstream's counts.
    let lines =
        step(&server, &json!({ "messages": question("Summarize issue #12"), "model_metadata": meta(&upstream) })).await;
    assert_eq!(kinds(&lines), ["action", "usage"], "{lines:?}");
    assert_eq!(
        lines[0]["data"],
        json!({ "tool": "issue_reader", "tool_input": "Summarize issue #12", "thought": "I should read the issue first." })
    );
    let usage = lines[1]["data"]["usage"].as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(usage, json!({ "input_tokens": 120, "output_tokens": 12 }));
    let sent = &upstream.requests()[0];
    let last = sent["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["role"].as_str(), last["content"].as_str()), (Some("assistant"), Some("Thought:")), "prefill");
    assert!(sent["stop"].to_string().contains("Observation:"), "{sent}");

    // 2. The next step carries the observation; the model answers: final_answer_delta lines.
    let body = json!({
        "messages": [
            { "role": "user", "content": "Summarize issue #12" },
            { "role": "assistant", "content": null, "agent_scratchpad": [{
                "action": { "thought": "I should read the issue first.", "tool": "issue_reader",
                            "tool_input": "Summarize issue #12", "type": "action" },
                "observation": "{\"iid\":12,\"title\":\"Login page returns 500\"}" }] }
        ],
        "model_metadata": meta(&upstream),
    });
    let lines = step(&server, &body).await;
    assert!(kinds(&lines).iter().all(|k| *k == "final_answer_delta" || *k == "usage"), "{lines:?}");
    assert_eq!(kinds(&lines).last(), Some(&"usage"));
    assert_eq!(answer(&lines).trim(), "Issue #12 is about the login page returning 500.");
    let deltas: Vec<_> = lines.iter().filter(|l| l["type"] == "final_answer_delta").collect();
    assert_eq!(deltas.last().unwrap()["data"]["finish_reason"], "stop");
    assert!(upstream.requests()[1].to_string().contains("Login page returns 500"), "the observation reached the model");

    // 3. Neither an action nor an answer: one unknown line with the whole text.
    let lines = step(&server, &json!({ "messages": question("Hello"), "model_metadata": meta(&upstream) })).await;
    assert_eq!(kinds(&lines), ["unknown", "usage"], "{lines:?}");
    assert!(lines[0]["data"]["text"].as_str().unwrap().contains("greet the user warmly"));

    // 4. A tool the caller was not offered (no ask_epic scope): an error line, not retryable.
    let lines = step(&server, &json!({ "messages": question("Epic &3?"), "model_metadata": meta(&upstream) })).await;
    let error = lines.iter().find(|l| l["type"] == "error").unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(error["data"], json!({ "message": "tool not available", "retryable": false }));
    assert!(!kinds(&lines).contains(&"action"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_before_the_first_token_are_error_lines_retryable_when_overloaded() {
    let server = server();
    let ask = |upstream: String| {
        json!({ "messages": question("Hi"), "model_metadata":
            { "provider": "openai", "name": "general", "endpoint": upstream, "identifier": "custom_openai/scripted" } })
    };
    let limited = Upstream::start(vec![Reply::Status("429 Too Many Requests", "retry-after: 3\r\n")]).await;
    let lines = step(&server, &ask(limited.url.clone())).await;
    assert_eq!(kinds(&lines), ["error"], "{lines:?}");
    assert_eq!(lines[0]["data"]["retryable"], true, "{lines:?}");

    let broken = Upstream::start(vec![Reply::Status("500 Internal Server Error", "")]).await;
    let lines = step(&server, &ask(broken.url.clone())).await;
    assert_eq!(kinds(&lines), ["error"], "{lines:?}");
    assert_eq!(lines[0]["data"]["retryable"], false);
    assert!(lines[0]["data"]["message"].as_str().unwrap().contains("500"), "{lines:?}");

    let lines = step(&server, &ask("http://127.0.0.1:1/v1".into())).await;
    assert_eq!(lines[0]["data"], json!({ "message": "Inference failed", "retryable": false }));

    // Bad input is still refused with a status, before any streaming.
    let r =
        call(&server, "/v2/chat/agent", &token(), &json!({ "messages": [{ "role": "system", "content": "x" }] })).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_model_metadata_use_the_model_mapped_to_their_feature() {
    let server = server();
    let admin = set_up(&server).await;
    let upstream = Upstream::start(vec![Reply::Text(" Done.\nFinal Answer: answered by the mapped endpoint")]).await;
    let endpoint = json!({ "name": "mapped", "url": upstream.url, "model": "scripted", "family": "general" });
    assert_eq!(admin.post("/api/admin/endpoints", endpoint).await.0, 201);
    let (s, v) = admin.put("/api/admin/features/duo_chat", json!({ "kind": "remote", "endpoint": "mapped" })).await;
    assert_eq!(s, 200, "{v}");

    // Duo Chat itself goes to the endpoint mapped to it.
    let lines = step(&server, &json!({ "messages": question("Who answers?") })).await;
    assert_eq!(answer(&lines).trim(), "answered by the mapped endpoint", "{lines:?}");
    assert_eq!(upstream.requests().len(), 1);

    // A chat sub-feature left on "default" follows General Chat.
    let inputs =
        json!({ "file_content": "x = 1\n", "input": "explain", "language_info": "Python", "selected_text": "x = 1" });
    let (s, v) = call_json(&server, "/v2/prompts/chat/explain_code", &token(), &json!({ "inputs": inputs })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(upstream.requests().len(), 2, "explain_code went to duo_chat's endpoint: {v}");

    // A feature with no mapping stays on the default (local) model.
    let diff = json!({ "inputs": { "diff": "--- a/x\n+++ b/x\n-a\n+b\n" } });
    let (s, v) = call_json(&server, "/v2/prompts/generate_commit_message", &token(), &diff).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(upstream.requests().len(), 2, "the commit message did not go upstream");

    // A request that names a model in model_metadata still gets that model (here airgate's own).
    let own = json!({ "provider": "openai", "name": "general", "endpoint": server.url("/v1"),
                      "identifier": format!("custom_openai/{}", model_path().file_stem().unwrap().to_str().unwrap()) });
    let lines = step(&server, &json!({ "messages": question("Hi"), "model_metadata": own })).await;
    assert_eq!(kinds(&lines).last(), Some(&"usage"), "{lines:?}");
    assert_eq!(upstream.requests().len(), 2, "the named local model answered, not the mapped endpoint");

    // Disabled: refused.
    assert_eq!(admin.put("/api/admin/features/duo_chat", json!({ "kind": "disabled" })).await.0, 200);
    let r = call(&server, "/v2/chat/agent", &token(), &json!({ "messages": question("Hi") })).await;
    assert_eq!(r.status(), 403);
}
