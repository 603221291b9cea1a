//! Runaway answers on the real default model: the repetition guard (asked for on `/v1`, on by default
//! for GitLab features) stops a looping generation with finish reason `repetition` and counts it in
//! `/metrics`; the admin's per-feature output caps bound GitLab features' answers.

use serde_json::{Value, json};

use crate::gitlab::{call_json, gitlab_server, issuer_url};
use crate::issuer;
use crate::support::{TestServer, client, sse_payloads};

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let r = client().post(server.url(path)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The value of `metric` for the series whose labels contain `label`.
async fn counter(server: &TestServer, metric: &str, label: &str) -> f64 {
    let text = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A prompt the base model continues greedily with the same two tokens for ever.
fn looping_prompt() -> String {
    "0, ".repeat(40)
}

#[tokio::test]
async fn the_guard_stops_a_looping_answer_on_v1_when_asked() {
    let server = TestServer::start();
    let body = |guard: bool, stream: bool| {
        json!({ "prompt": looping_prompt(), "max_tokens": 300, "temperature": 0, "repetition_guard": guard, "stream": stream,
                "stream_options": { "include_usage": true } })
    };
    let (s, v) = post(&server, "/v1/completions", body(true, false)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "repetition", "{v}");
    let n = v["usage"]["completion_tokens"].as_u64().unwrap();
    // 128 tokens of the loop are needed before it counts as one; far fewer than asked for.
    assert!((128..200).contains(&n), "{n} tokens: {v}");
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("0, 0, 0"), "{v}");

    // Off unless asked for on /v1: the same request runs to max_tokens.
    let (_, v) = post(&server, "/v1/completions", body(false, false)).await;
    assert_eq!(
        (v["choices"][0]["finish_reason"].as_str(), v["usage"]["completion_tokens"].as_u64()),
        (Some("length"), Some(300))
    );

    // Streaming: the last choice frame says why.
    let text = client()
        .post(server.url("/v1/completions"))
        .json(&body(true, true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames: Vec<Value> =
        sse_payloads(&text).iter().filter(|p| *p != "[DONE]").map(|p| serde_json::from_str(p).unwrap()).collect();
    let finish: Vec<&str> = frames.iter().filter_map(|f| f["choices"][0]["finish_reason"].as_str()).collect();
    assert_eq!(finish, ["repetition"], "{text}");

    assert_eq!(counter(&server, "airgate_repetition_stops_total", "feature=\"openai\"").await, 2.0);
}

/// The legacy code-generation request of GitLab's troubleshooting script, greedy (family `mixtral`),
/// on a file that makes the model repeat one line.
fn looping_generation() -> Value {
    json!({
        "current_file": { "file_name": "zeros.py", "language_identifier": "python",
                          "content_above_cursor": format!("# a table of zeros\nZEROS = [\n{}", "    0,\n".repeat(40)),
                          "content_below_cursor": "" },
        "stream": false, "prompt_version": 2, "prompt": "continue the list",
        "model_provider": "litellm", "model_name": "mixtral",
        "model_endpoint": "http://127.0.0.1:1/v1", "model_identifier": "custom_openai/gemma-3-270m-q4_k_m"
    })
}

#[tokio::test]
async fn gitlab_features_are_guarded_and_capped() {
    let server = gitlab_server();
    let token = issuer::sign(&issuer::claims(issuer_url(), &["generate_code"]));
    let admin = crate::admin::set_up(&server).await;
    let output = |v: &Value| v["model"]["tokens_consumption_metadata"]["output_tokens"].as_u64().unwrap();

    // The cap as the admin sets it, GitLab's shown beside it.
    let (s, f) = admin.put("/api/admin/features/code_generations/cap", json!({ "tokens": 300 })).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!((f["cap"].as_u64(), f["cap_default"].as_u64()), (Some(300), Some(2048)));

    // The guard is on for GitLab features: the loop ends well before the cap.
    let (s, v) = call_json(&server, "/v2/code/generations", &token, &looping_generation()).await;
    assert_eq!(s, 200, "{v}");
    assert!(output(&v) < 300, "{v}");
    assert_eq!(counter(&server, "airgate_repetition_stops_total", "feature=\"code_generations\"").await, 1.0);

    // Without the guard the same answer runs to the cap.
    let (s, g) = admin.put("/api/admin/repetition-guard", json!({ "on": false })).await;
    assert_eq!((s.as_u16(), g["on"].as_bool()), (200, Some(false)), "{g}");
    let (_, v) = call_json(&server, "/v2/code/generations", &token, &looping_generation()).await;
    assert_eq!(output(&v), 300, "{v}");

    // A lower cap bounds it; the features page shows it.
    admin.put("/api/admin/features/code_generations/cap", json!({ "tokens": 24 })).await;
    let (_, v) = call_json(&server, "/v2/code/generations", &token, &looping_generation()).await;
    assert_eq!(output(&v), 24, "{v}");
    let (_, features) = admin.get("/api/admin/features").await;
    let row = |key: &str| features.as_array().unwrap().iter().find(|f| f["feature"] == key).unwrap().clone();
    assert_eq!(row("code_generations")["cap"], 24);
    assert_eq!(row("duo_chat")["cap"], 8192, "GitLab's ReAct budget");
    assert_eq!(
        (row("embeddings_code")["cap"].clone(), row("embeddings_code")["title"].clone()),
        (Value::Null, json!("Code Embeddings"))
    );

    // Refused: a cap out of range, a cap on a feature that generates nothing, an unknown feature.
    let (s, e) = admin.put("/api/admin/features/code_generations/cap", json!({ "tokens": 0 })).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"]["fields"]["tokens"].as_str().unwrap().contains("between 1 and 131072"), "{e}");
    assert_eq!(admin.put("/api/admin/features/embeddings_code/cap", json!({ "tokens": 10 })).await.0, 400);
    assert_eq!(admin.put("/api/admin/features/nope/cap", json!({ "tokens": 10 })).await.0, 404);
    // Back to GitLab's cap; the guard switch reads back.
    let (_, f) = admin.put("/api/admin/features/code_generations/cap", json!({ "tokens": null })).await;
    assert_eq!(f["cap"], 2048);
    assert_eq!(admin.get("/api/admin/repetition-guard").await.1["on"], false);
}
