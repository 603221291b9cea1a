//! A saturated model: every answer is a 200 with a body or a 503/429 with `Retry-After` in its protocol's shape, never a 200 that ends empty because its request expired in the queue.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gitlab::issuer_url;
use crate::issuer;
use crate::support::{TestServer, client};

const ABOVE: &str = "import os\n\ndef read_config(path):\n    \"\"\"Read the config file.\"\"\"\n";

/// A streamed v2 completion: raw text, which may be empty (the model may well have nothing to add).
fn v2_completion() -> Value {
    json!({
        "current_file": { "file_name": "app.py", "content_above_cursor": ABOVE, "content_below_cursor": "" },
        "stream": true, "model_provider": "litellm", "model_name": "codegemma"
    })
}

/// A streamed v4 completion: Server-Sent Events from `stream_start` to `stream_end`, never empty.
fn v4_completion() -> Value {
    json!({ "prompt_components": [{ "type": "code_editor_completion", "payload": {
        "file_name": "app.py", "content_above_cursor": ABOVE, "content_below_cursor": "",
        "language_identifier": "python", "stream": true } }] })
}

fn streamed_chat() -> Value {
    json!({ "stream": true, "max_tokens": 64, "temperature": 0,
            "messages": [{ "role": "user", "content": "Write a long story about a robot." }] })
}

/// What one answer was: its status, whether it carried `Retry-After`, and its whole body (`None`
/// when the body broke off: the connection was cut after the status line).
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: bool,
    body: Option<String>,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.unwrap();
    let (status, retry_after) = (r.status().as_u16(), r.headers().contains_key("retry-after"));
    Answer { status, retry_after, body: r.text().await.ok() }
}

async fn gitlab(base: String, token: String, path: &'static str, body: Value) -> Answer {
    let mut req = client().post(format!("{base}{path}")).json(&body);
    for (k, v) in issuer::headers(&token) {
        req = req.header(k, v);
    }
    send(req).await
}

async fn chat(base: String, body: Value) -> Answer {
    send(client().post(format!("{base}/v1/chat/completions")).json(&body)).await
}

/// Every answer of a burst: a 200 whose body ends cleanly (and is not empty, unless `may_be_empty`),
/// or a refusal with `Retry-After` whose body is the protocol's error (`shape` names the field it
/// must have). Returns (answered, refused).
fn judge(what: &str, answers: &[Answer], shape: &str, may_be_empty: bool) -> (usize, usize) {
    let (mut answered, mut refused) = (0, 0);
    for a in answers {
        let body =
            a.body.as_deref().unwrap_or_else(|| panic!("{what}: a {} whose body broke off: {answers:?}", a.status));
        match a.status {
            200 => {
                assert!(may_be_empty || !body.trim().is_empty(), "{what}: a 200 with an empty body: {answers:?}");
                answered += 1;
            }
            429 | 503 => {
                assert!(a.retry_after, "{what}: {} without Retry-After: {a:?}", a.status);
                let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
                assert!(!v[shape].is_null(), "{what}: not the protocol's error shape: {v}");
                refused += 1;
            }
            other => panic!("{what}: status {other}: {a:?}"),
        }
    }
    (answered, refused)
}

/// Issue 16: under 200 clients, 31 streamed GitLab completions ended with no body after their 200:
/// the status went out at once and the request then expired in the queue. Now `generate` answers
/// only once a slot took the request. A one-slot server with a 2 s queue wait is saturated with
/// streamed GitLab completions (v2 raw text, v4 SSE) and `/v1` chats (which had no queue limit at
/// all): every answer is a 200 whose body ends cleanly (never empty where the format always has
/// frames) or a 503 with `Retry-After` in the protocol's error shape, within the wait.
#[tokio::test(flavor = "multi_thread")]
async fn a_saturated_model_refuses_with_retry_after_instead_of_cutting_streams() {
    let server = TestServer::builder()
        .args(["--parallel", "1", "--queue-wait-secs", "2", "--queue-depth", "64", "--max-output-tokens", "64"])
        .arg("--gitlab-url")
        .arg(issuer_url())
        .start();
    let token = issuer::token(issuer_url());
    let started = Instant::now();
    let burst: Vec<_> = (0..24)
        .map(|i| {
            let (path, body) = if i % 2 == 0 {
                ("/v2/code/completions", v2_completion())
            } else {
                ("/v4/code/suggestions", v4_completion())
            };
            tokio::spawn(gitlab(server.base.clone(), token.clone(), path, body))
        })
        .collect();
    let mut answers = Vec::new();
    for task in burst {
        answers.push(task.await.unwrap());
    }
    let (mut v2, mut v4) = (Vec::new(), Vec::new());
    for (i, answer) in answers.into_iter().enumerate() {
        if i % 2 == 0 { v2.push(answer) } else { v4.push(answer) }
    }
    let (ran_v2, refused_v2) = judge("v2 completions", &v2, "detail", true);
    let (ran_v4, refused_v4) = judge("v4 suggestions", &v4, "detail", false);
    for a in v4.iter().filter(|a| a.status == 200) {
        assert!(a.body.as_deref().is_some_and(|b| b.trim_end().ends_with("data: null")), "{a:?}");
    }
    assert!(ran_v2 + ran_v4 >= 1 && refused_v2 + refused_v4 >= 1, "the burst must both run and overflow one slot");
    assert!(server.logs().contains("request expired in the queue"), "the refusals are queue expiries");

    // `/v1` streams: the same rule, OpenAI's error shape, and a queue wait that ends.
    let burst: Vec<_> = (0..16).map(|_| tokio::spawn(chat(server.base.clone(), streamed_chat()))).collect();
    let mut answers = Vec::new();
    for task in burst {
        answers.push(task.await.unwrap());
    }
    let (answered, refused) = judge("/v1 streams", &answers, "error", false);
    assert!(answered >= 1 && refused >= 1, "{answers:?}");
    for a in answers.iter().filter(|a| a.status == 200) {
        assert!(a.body.as_deref().is_some_and(|b| b.trim_end().ends_with("data: [DONE]")), "{a:?}");
    }

    // Non-streamed answers too: a whole answer or a 503, never a hang past the queue wait.
    let mut quiet = streamed_chat();
    quiet["stream"] = json!(false);
    let burst: Vec<_> = (0..12).map(|_| tokio::spawn(chat(server.base.clone(), quiet.clone()))).collect();
    let mut answers = Vec::new();
    for task in burst {
        answers.push(task.await.unwrap());
    }
    let (_, refused) = judge("/v1 whole answers", &answers, "error", false);
    assert!(refused >= 1, "{answers:?}");
    assert!(started.elapsed() < Duration::from_secs(110), "took {:?}", started.elapsed());
}
