//! The OpenAI-compatible API against the real model: completions, chat, streaming, stops, limits, cancellation, bad input.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::{TestServer, client, sse_payloads};

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let r = client().post(server.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn complete(server: &TestServer, body: Value) -> String {
    let (status, v) = post(server, "/v1/completions", body).await;
    assert_eq!(status, 200, "{v}");
    v["choices"][0]["text"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_models_also_under_double_v1() {
    let server = TestServer::start();
    for path in ["/v1/models", "/v1/v1/models"] {
        let v: Value = client().get(server.url(path)).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["id"], "gemma-3-270m-q4_k_m", "{v}");
        assert_eq!(v["data"][0]["object"], "model");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn greedy_completion_knows_paris_and_counts_tokens() {
    let server = TestServer::start();
    // Gemma 3 270M continues the bare "The capital of France is" with " the capital of the country of
    // France." (plain llama.cpp decoding gives the same), so the prompt names what it asks for.
    let (status, v) = post(
        &server,
        "/v1/completions",
        json!({"prompt": "The capital of France is the city of", "max_tokens": 8, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["choices"][0]["text"].as_str().unwrap().contains("Paris"), "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() >= 5);
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&completion), "{v}");
    assert_eq!(
        v["usage"]["total_tokens"].as_u64().unwrap(),
        v["usage"]["prompt_tokens"].as_u64().unwrap() + completion
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_completion_answers() {
    let server = TestServer::start();
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        json!({"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is the capital of France?"}], "max_tokens": 24, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.trim().is_empty(), "{v}");
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_tokens_is_honoured() {
    let server = TestServer::start();
    let (status, v) = post(
        &server,
        "/v1/completions",
        json!({"prompt": "Count: one, two, three,", "max_tokens": 5, "temperature": 0, "ignore_eos": true}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 5, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_strings_end_generation_and_are_not_emitted() {
    let server = TestServer::start();
    let base = json!({"prompt": "Count: one, two, three,", "max_tokens": 16, "temperature": 0});
    let free = complete(&server, base.clone()).await;
    // Stop on something the model really writes, across whatever token boundaries it falls on.
    let needle = free.trim_start().split(',').next().unwrap().trim().to_string();
    assert!(!needle.is_empty(), "free text: {free:?}");
    let mut with_stop = base.clone();
    with_stop["stop"] = json!([needle.clone()]);
    let (status, v) = post(&server, "/v1/completions", with_stop).await;
    assert_eq!(status, 200, "{v}");
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(!text.contains(&needle), "stop {needle:?} leaked into {text:?}");
    assert!(free.starts_with(text), "{text:?} is not a prefix of {free:?}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_stream_is_sse_with_done() {
    let server = TestServer::start();
    let r = client()
        .post(server.url("/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 12, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body = r.text().await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let payloads = sse_payloads(&body);
    let chunks: Vec<Value> = payloads[..payloads.len() - 1].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(!text.trim().is_empty(), "{body}");
    let finish: Vec<&Value> = chunks.iter().filter(|c| !c["choices"][0]["finish_reason"].is_null()).collect();
    assert_eq!(finish.len(), 1);
    let usage = chunks.last().unwrap();
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_stream_matches_non_stream() {
    let server = TestServer::start();
    let body = json!({"prompt": "The capital of France is", "max_tokens": 10, "temperature": 0});
    let whole = complete(&server, body.clone()).await;
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let text = client().post(server.url("/v1/completions")).json(&streamed).send().await.unwrap().text().await.unwrap();
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let joined: String = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).unwrap()["choices"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined, whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_streams_equal_their_solo_outputs() {
    let server = TestServer::start();
    let a = json!({"prompt": "The capital of France is", "max_tokens": 24, "temperature": 0, "ignore_eos": true});
    let b = json!({"prompt": "def fibonacci(n):", "max_tokens": 24, "temperature": 0, "ignore_eos": true});
    let solo_a = complete(&server, a.clone()).await;
    let solo_b = complete(&server, b.clone()).await;
    let (both_a, both_b) = tokio::join!(complete(&server, a), complete(&server, b));
    assert_eq!(both_a, solo_a);
    assert_eq!(both_b, solo_b);
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnected_client_frees_its_slot() {
    let server = TestServer::builder().arg("--parallel").arg("1").start();
    let r = client()
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true, "stream": true}))
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body);
    // The model thread drops the request within a few tokens of the client leaving, whatever the
    // machine's speed (a fast one could finish all 900 tokens within the timeout below).
    let cancelled = server.cancelled_after(Duration::from_secs(60));
    let (generated, _) = cancelled.unwrap_or_else(|| panic!("never cancelled:\n{}", server.logs()));
    assert!(generated < 100, "cancelled only after {generated} of 900 tokens");
    // With one slot, this waits until the first request's slot is free: at once, not after 900 tokens.
    let quick = client()
        .post(server.url("/v1/completions"))
        .timeout(Duration::from_secs(15))
        .json(&json!({"prompt": "Hi", "max_tokens": 2, "temperature": 0}))
        .send()
        .await
        .expect("the slot was not freed when the client left");
    assert_eq!(quick.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_4xx_naming_the_field() {
    let server = TestServer::start();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v1/chat/completions", "{not json".into(), 400, "not valid JSON"),
        ("/v1/chat/completions", json!({"messages": "hi"}).to_string(), 400, "messages"),
        ("/v1/chat/completions", json!({"messages": []}).to_string(), 400, "messages"),
        ("/v1/chat/completions", json!({}).to_string(), 400, "messages"),
        ("/v1/chat/completions", json!({"messages": [{"role": "wizard", "content": "x"}]}).to_string(), 400, "role"),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": -3}).to_string(),
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}).to_string(),
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}).to_string(),
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1_000_000_000u64}).to_string(),
            400,
            "max_tokens",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": -1}).to_string(),
            400,
            "temperature",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "n": 3}).to_string(),
            400,
            "n is 3",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}).to_string(),
            404,
            "nope",
        ),
        ("/v1/completions", json!({"max_tokens": 3}).to_string(), 400, "prompt"),
        ("/v1/completions", json!({"prompt": 42}).to_string(), 400, "prompt"),
        ("/v1/completions", json!({"prompt": "x", "stop": 7}).to_string(), 400, "stop"),
    ];
    for (path, body, status, needle) in cases {
        let r = client()
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let got = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(got, status, "{path} {body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path} {body}: message {message:?} should mention {needle:?}");
        assert!(v["error"]["type"].is_string(), "{v}");
    }
    // The server is still fine afterwards.
    assert!(complete(&server, json!({"prompt": "Hi", "max_tokens": 2})).await.len() < 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_413() {
    let server = TestServer::builder().arg("--max-body-bytes").arg("1024").start();
    let big = "x".repeat(4096);
    let r = client().post(server.url("/v1/completions")).json(&json!({"prompt": big})).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("max_body_bytes"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_prompt_is_truncated_from_the_left_and_reported() {
    let server = TestServer::start();
    let prompt = "word ".repeat(3000);
    let (status, v) = post(&server, "/v1/completions", json!({"prompt": prompt, "max_tokens": 4})).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["usage"]["truncated_prompt_tokens"].as_u64().unwrap() > 0, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn suffix_without_fim_tokens_is_refused_by_name() {
    // The default model's GGUF has no FIM tokens (see `model inspect`); the FIM layout itself is unit-tested.
    let server = TestServer::start();
    let (status, v) = post(
        &server,
        "/v1/completions",
        json!({"prompt": "def add(a, b):\n    return ", "suffix": "\n\nprint(add(1, 2))\n", "max_tokens": 8}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "suffix", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("fill-in-the-middle"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_guard_v1() {
    let key = "test-key-0123456789abcdef";
    let server = TestServer::builder().arg("--api-key").arg(key).start();
    let r = client().get(server.url("/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let r = client().get(server.url("/v1/models")).bearer_auth("wrong-key-0123456789abcdef").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client().get(server.url("/v1/models")).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Health stays open, and the key never reaches the log.
    assert_eq!(client().get(server.url("/monitoring/healthz")).send().await.unwrap().status(), 200);
    assert!(!server.logs().contains(key), "API key leaked into the log");
}

/// Every field of OpenAI's error object, present (`param`/`code` may be null).
fn assert_openai_error(v: &Value) {
    let error = v["error"].as_object().unwrap_or_else(|| panic!("not OpenAI's error shape: {v}"));
    for field in ["message", "type", "param", "code"] {
        assert!(error.contains_key(field), "no {field} in {v}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(error["type"].is_string(), "{v}");
    assert!(v.get("detail").is_none(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_and_wrong_methods_under_v1_answer_in_openai_shape() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    for (method, path, status) in [
        (reqwest::Method::GET, "/v1/embeddings", 405),
        (reqwest::Method::GET, "/v1/nope/deeper", 404),
        (reqwest::Method::GET, "/v1/completions", 405),
        (reqwest::Method::GET, "/v1/chat/completions", 405),
        (reqwest::Method::DELETE, "/v1/models", 405),
    ] {
        let r = client().request(method.clone(), server.url(path)).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        if status == 405 {
            assert!(r.headers().contains_key("allow"), "{method} {path}: no Allow header");
        }
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text:?}"));
        assert_openai_error(&v);
        assert!(v["error"]["message"].as_str().unwrap().contains(path), "{v}");
    }
    // Outside /v1 the GitLab shape stays.
    let v: Value = client().get(server.url("/v2/nope")).send().await.unwrap().json().await.unwrap();
    assert!(v["detail"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_max_tokens_that_cannot_fit_is_a_400_naming_the_limit() {
    let server = TestServer::start();
    for (field, path, body) in [
        ("max_tokens", "/v1/completions", json!({"prompt": "Hi", "max_tokens": 5000})),
        (
            "max_tokens",
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1024}),
        ),
        (
            "max_completion_tokens",
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 4096}),
        ),
    ] {
        let (status, v) = post(&server, path, body).await;
        assert_eq!(status, 400, "{v}");
        assert_openai_error(&v);
        assert_eq!(v["error"]["param"], field, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        // The test server runs --ctx-size 1024.
        assert!(message.starts_with(field) && message.contains("at most 1024 tokens"), "{message}");
        assert!(message.contains("ask for at most 1023"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_seed_repeats_its_sample_and_top_k_1_is_greedy() {
    let server = TestServer::start();
    let sampled = |seed: u64| json!({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0.8, "seed": seed, "ignore_eos": true});
    let first = complete(&server, sampled(7)).await;
    assert_eq!(complete(&server, sampled(7)).await, first, "the same seed sampled differently");
    // Other seeds draw other samples (any one could collide by chance; all four will not).
    let mut others = Vec::new();
    for seed in [8, 9, 10, 11] {
        others.push(complete(&server, sampled(seed)).await);
    }
    assert!(others.iter().any(|o| *o != first), "every seed gave {first:?}");
    // top_k = 1 leaves one candidate: the greedy answer, whatever the temperature and seed.
    let greedy = complete(
        &server,
        json!({"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0, "ignore_eos": true}),
    )
    .await;
    for seed in [7, 8] {
        let mut body = sampled(seed);
        body["top_k"] = json!(1);
        assert_eq!(complete(&server, body).await, greedy, "top_k 1, seed {seed}");
    }
}

/// The text and finish reason of a streamed completion.
async fn stream_completion(server: &TestServer, mut body: Value) -> (String, String) {
    body["stream"] = json!(true);
    let r = client().post(server.url("/v1/completions")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = payloads[..payloads.len() - 1].iter().map(|p| serde_json::from_str(p).unwrap()).collect();
    let joined = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
    let finish = chunks.last().unwrap()["choices"][0]["finish_reason"].as_str().unwrap_or_default().to_string();
    (joined, finish)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sse_streams_equal_their_solo_greedy_outputs() {
    let server = TestServer::start();
    let a = json!({"prompt": "The capital of France is", "max_tokens": 24, "temperature": 0, "ignore_eos": true});
    let b = json!({"prompt": "def fibonacci(n):", "max_tokens": 32, "temperature": 0, "ignore_eos": true});
    let solo_a = stream_completion(&server, a.clone()).await;
    let solo_b = stream_completion(&server, b.clone()).await;
    assert_eq!((solo_a.1.as_str(), solo_b.1.as_str()), ("length", "length"));
    assert!(!solo_a.0.is_empty() && !solo_b.0.is_empty());
    let (both_a, both_b) = tokio::join!(stream_completion(&server, a), stream_completion(&server, b));
    assert_eq!(both_a, solo_a);
    assert_eq!(both_b, solo_b);
}
