//! The engine under load, through HTTP: prefix reuse changes nothing but speed, a long prompt does
//! not stall running streams, a full queue is 429, an expired request never runs, and `/metrics` parses and moves.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::gitlab::{call_json, issuer_url};
use crate::issuer;
use crate::support::{TestServer, client};

async fn complete(server: &TestServer, body: Value) -> Value {
    let r = client().post(server.url("/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Starts a streamed completion and waits for its first chunk: a generation that holds a slot.
async fn started_stream(server: &TestServer, body: Value) -> reqwest::Response {
    let mut r = client().post(server.url("/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.chunk().await.unwrap().is_some(), "the stream started");
    r
}

/// A file an editor grows a few characters at a time.
fn typing_prefixes() -> Vec<String> {
    let mut file = String::from("import os\nimport sys\n\n\n");
    for i in 0..12 {
        file.push_str(&format!(
            "def helper_{i}(path, mode=\"r\"):\n    with open(path, mode) as f:\n        return f.read()\n\n\n"
        ));
    }
    let mut prefixes = Vec::new();
    for step in ["def main(", "argv", "):\n    ", "args = ", "sys.argv", "[1:]\n    ", "for a in args:"] {
        file.push_str(step);
        prefixes.push(file.clone());
    }
    prefixes
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_reuse_gives_the_same_greedy_output_and_skips_the_shared_prefix() {
    let reuse = TestServer::builder().args(["--parallel", "1"]).start();
    let full = TestServer::builder().args(["--parallel", "1", "--no-prefix-reuse"]).start();
    let (mut cached_total, mut evaluated_after_first) = (0, 0);
    for (i, prompt) in typing_prefixes().into_iter().enumerate() {
        let body = json!({ "prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": true });
        let (a, b) = (complete(&reuse, body.clone()).await, complete(&full, body).await);
        assert_eq!(a["choices"][0]["text"], b["choices"][0]["text"], "request {i}: output must not depend on reuse");
        let cached = |v: &Value| v["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap();
        assert_eq!(cached(&b), 0, "reuse is off");
        if i > 0 {
            let prompt_tokens = a["usage"]["prompt_tokens"].as_u64().unwrap();
            assert!(cached(&a) + 144 >= prompt_tokens, "request {i}: {} of {prompt_tokens} cached", cached(&a));
            evaluated_after_first += prompt_tokens - cached(&a);
        }
        cached_total += cached(&a);
    }
    assert!(cached_total > 0);
    // Typing at the end evaluates the last few tokens again (up to the 16-token tail grid), and a
    // whole chunk more only when the prompt crosses a multiple of 128 tokens.
    assert!(evaluated_after_first <= 6 * 16 + 128, "{evaluated_after_first} tokens evaluated again over 6 keystrokes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_prompt_does_not_stall_a_running_stream() {
    let server = TestServer::builder().args(["--ctx-size", "2048", "--parallel", "2"]).start();
    let mut running = started_stream(
        &server,
        json!({ "prompt": "Once upon a time", "max_tokens": 1500, "temperature": 0, "ignore_eos": true, "stream": true }),
    )
    .await;
    // A prompt of several 128-token batches arrives while the stream runs.
    let url = server.url("/v1/completions");
    let prompt = "The quick brown fox jumps over the lazy dog. ".repeat(70);
    let mut long = tokio::spawn(async move {
        let r = client().post(url).json(&json!({ "prompt": prompt, "max_tokens": 1, "temperature": 0 })).send().await;
        r.unwrap().json::<Value>().await.unwrap()
    });
    // Tokens the running stream receives until the long prompt's answer is complete.
    let mut meanwhile = 0u64;
    let answer = loop {
        tokio::select! {
            chunk = running.chunk() => {
                let chunk = chunk.unwrap().expect("the stream outlasts the long prompt");
                meanwhile += String::from_utf8_lossy(&chunk).matches("data: {").count() as u64;
            }
            answer = &mut long => break answer.unwrap(),
        }
    };
    let prompt_tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap();
    let batches = prompt_tokens.div_ceil(128);
    assert!(batches >= 5, "{answer}");
    // One generation step runs between two batches of the long prompt: the stream moves on during
    // its evaluation instead of waiting for all of it.
    assert!(meanwhile + 1 >= batches, "{meanwhile} tokens streamed while {batches} prompt batches were evaluated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_429_with_retry_after_and_is_counted() {
    let server = TestServer::builder().args(["--ctx-size", "4096", "--parallel", "1", "--queue-depth", "1"]).start();
    // One long generation holds the slot (minutes of work, were it not cancelled)…
    let running = started_stream(
        &server,
        json!({ "prompt": "Once upon a time", "max_tokens": 3000, "ignore_eos": true, "stream": true }),
    )
    .await;
    // …one request waits in the queue…
    let url = server.url("/v1/completions");
    let queued = tokio::spawn(async move {
        client().post(url).json(&json!({ "prompt": "Hi", "max_tokens": 2 })).send().await.unwrap().status()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // …and the next one finds the queue full.
    let r = client().post(server.url("/v1/completions")).json(&json!({ "prompt": "Hi", "max_tokens": 2 })).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // The queued request runs as soon as the dropped stream frees the slot: within seconds, not
    // after the thousands of tokens the stream still had to go.
    drop(running);
    let freed = tokio::time::timeout(Duration::from_secs(10), queued).await;
    let status = freed.expect("the queued request did not run within 10 s of the slot's client leaving");
    assert_eq!(status.unwrap(), 200, "the queued request runs once the slot is free");
    let samples = metrics(&server);
    assert!(value(&samples, "airgate_queue_rejected_total", &[]) >= 1.0);
    assert!(value(&samples, "airgate_requests_cancelled_total", &[("feature", "openai")]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_completion_never_reaches_the_model() {
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).args(["--parallel", "1"]).start();
    let running = started_stream(
        &server,
        json!({ "prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true, "stream": true }),
    )
    .await;
    let body = json!({
        "current_file": { "file_name": "main.py", "content_above_cursor": "def add(a, b):\n    ", "content_below_cursor": "" },
        "model_provider": "litellm", "model_name": "codegemma", "prompt_version": 2, "stream": false,
    });
    let completion = {
        let server_url = server.url("");
        tokio::spawn(async move {
            let token = issuer::token(issuer_url());
            let mut req = client().post(format!("{server_url}/v2/code/completions")).json(&body);
            for (k, v) in issuer::headers(&token) {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    // A completion is worth waiting for 10 s at most; the slot frees after 11.
    tokio::time::sleep(Duration::from_secs(11)).await;
    drop(running);
    let (status, text) = completion.await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("expired"), "{text}");
    assert!(server.log_appears("request expired in the queue; dropped unrun", Duration::from_secs(5)));
    let samples = metrics(&server);
    assert_eq!(value(&samples, "airgate_requests_expired_total", &[("feature", "code_completions")]), 1.0);
    assert_eq!(value(&samples, "airgate_prompt_tokens_total", &[("feature", "code_completions")]), 0.0, "never ran");
    // The model is fine afterwards.
    let (status, v) = call_json(&server, "/v2/code/completions", &issuer::token(issuer_url()), &json!({
        "current_file": { "file_name": "main.py", "content_above_cursor": "def add(a, b):\n    ", "content_below_cursor": "" },
        "model_provider": "litellm", "model_name": "codegemma", "prompt_version": 2 })).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_with_prometheus_own_parser_and_move_after_requests() {
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).start();
    let before = metrics(&server);
    complete(&server, json!({ "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0 })).await;
    let (status, _) = call_json(
        &server,
        "/v1/prompts/generate_commit_message",
        &issuer::sign(&issuer::claims(issuer_url(), &["generate_commit_message"])),
        &json!({ "inputs": { "diff": "-a\n+b\n" } }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call_json(&server, "/v1/prompts/no_such", &issuer::token(issuer_url()), &json!({})).await;
    assert_eq!(status, 404);
    let after = metrics(&server);
    let openai = [("feature", "openai"), ("status", "200")];
    assert_eq!(
        value(&after, "airgate_http_requests_total", &openai) - value(&before, "airgate_http_requests_total", &openai),
        1.0
    );
    assert_eq!(
        value(&after, "airgate_http_requests_total", &[("feature", "generate_commit_message"), ("status", "200")]),
        1.0
    );
    assert_eq!(value(&after, "airgate_http_requests_total", &[("status", "404")]), 1.0);
    for (name, feature) in [
        ("airgate_prompt_tokens_total", "openai"),
        ("airgate_generated_tokens_total", "openai"),
        ("airgate_time_to_first_token_seconds_count", "openai"),
        ("airgate_queue_wait_seconds_count", "openai"),
        ("airgate_prompt_tokens_total", "generate_commit_message"),
    ] {
        assert!(value(&after, name, &[("feature", feature)]) > 0.0, "{name}{{feature={feature}}}");
    }
    assert_eq!(value(&after, "airgate_slots", &[]), 2.0);
    assert!(value(&after, "airgate_kv_cache_capacity_tokens", &[]) >= 2048.0);
    assert!(value(&after, "airgate_kv_cache_tokens", &[]) > 0.0, "the slots keep their prompts cached");
}

/// The parsed samples of `/metrics`, validated by `tests/python/metrics_check.py`.
fn metrics(server: &TestServer) -> Vec<Value> {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/metrics_check.py");
    let out = std::process::Command::new(python).arg(script).arg(server.url("/metrics")).output().unwrap();
    assert!(out.status.success(), "/metrics is not valid:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The sum of the samples named `name` whose labels include `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}
