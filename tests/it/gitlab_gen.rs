//! The GitLab AI Gateway beyond completion: code generation per family on v3, v4 (SSE) and the legacy
//! v2 endpoint, stream framing, tokens airgate mints, upstream rate limits, and API keys kept out of logs.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::gitlab::{
    FAMILIES, assert_v2_schema, call, call_json, completion_body, fence_free, gitlab_server, is_fence_line, issuer_url,
};
use crate::issuer;
use crate::support::{TestServer, client, retry_sampled};
use crate::upstream::{Reply, Upstream};

/// The model airgate serves in these tests, as GitLab names it.
const LOCAL: &str = "custom_openai/gemma-3-270m-q4_k_m";

/// A generation request as Rails sends it on v3/v4 (§2.3.1) for `family`, served by `endpoint`/`identifier`.
fn generation(family: &str, stream: bool, endpoint: &str, identifier: &str, api_key: &str) -> Value {
    json!({
        "prompt_components": [
            {"type": "code_editor_generation",
             "payload": {"file_name": "app/stats.py",
                         "content_above_cursor": "import math\n\n# return the average of a list of numbers\ndef average(numbers):\n",
                         "content_below_cursor": "", "language_identifier": "Python", "stream": stream,
                         "prompt_id": "code_suggestions/generations", "prompt_version": "^1.0.0",
                         "prompt_enhancer": {"examples_array": [], "related_files": [], "related_snippets": [], "libraries": ["math"],
                                             "user_instruction": "return the average of a list of numbers"}},
             "metadata": {"source": "test", "version": "1"}}
        ],
        "model_metadata": {"provider": "openai", "name": family, "endpoint": endpoint, "api_key": api_key, "identifier": identifier}
    })
}

fn local_generation(family: &str, stream: bool) -> Value {
    generation(family, stream, "http://127.0.0.1:1/v1", LOCAL, "sk-test")
}

/// The legacy flat generation body (§2.3.2) for `family`.
fn legacy_generation(family: &str, prompt_version: u8) -> Value {
    let mut body = completion_body(family);
    body["current_file"]["content_above_cursor"] =
        json!("# return the average of a list of numbers\ndef average(numbers):\n");
    body["current_file"]["content_below_cursor"] = json!("");
    body["prompt_version"] = json!(prompt_version);
    body["prompt"] = match prompt_version {
        3 => json!([{"role": "system", "content": "You write Python."},
                    {"role": "user", "content": "Write a function that returns the average of a list of numbers."}]),
        2 => json!("Write a function that returns the average of a list of numbers."),
        _ => Value::Null,
    };
    body
}

/// POST with the GitLab headers plus `extra`.
async fn post(server: &TestServer, path: &str, token: &str, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().post(server.url(path)).json(body);
    for (k, v) in issuer::headers(token) {
        req = req.header(k, v);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The v3/v4 non-stream response (§2.3.1), returning the text of its one choice.
fn assert_components_schema(v: &Value, engine: &str, lang: &str) -> String {
    assert_eq!(v["model"]["engine"], engine, "{v}");
    assert_eq!(v["model"]["lang"], lang, "{v}");
    assert!(v["model"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{v}");
    assert_eq!(v["metadata"]["model"], v["model"], "{v}");
    assert!(v["metadata"]["timestamp"].is_u64(), "{v}");
    assert!(v["metadata"]["enabled_feature_flags"].is_array(), "{v}");
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1, "{v}");
    assert_eq!(choices[0]["index"], 0, "{v}");
    assert_eq!(choices[0]["finish_reason"], "length", "{v}");
    let text = choices[0]["text"].as_str().unwrap().to_string();
    assert!(!text.trim().is_empty(), "{v}");
    text
}

/// Parses a v4 body into (event, data) pairs, checking the framing: `event:` then `data:`, CRLF, blank
/// line between events; keep-alive comments are skipped as clients do.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    assert!(body.is_empty() || body.ends_with("\r\n\r\n"), "{body:?}");
    body.split("\r\n\r\n")
        .filter(|f| !f.is_empty())
        .filter_map(|frame| {
            let lines: Vec<&str> = frame.split("\r\n").filter(|l| !l.starts_with(':')).collect();
            if lines.is_empty() {
                return None;
            }
            assert_eq!(lines.len(), 2, "frame {frame:?} in {body:?}");
            let event = lines[0].strip_prefix("event: ").unwrap_or_else(|| panic!("{frame:?}")).to_string();
            let data = lines[1].strip_prefix("data: ").unwrap_or_else(|| panic!("{frame:?}"));
            Some((event, serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data:?}"))))
        })
        .collect()
}

/// The v4 stream's status and headers.
fn assert_sse_stream(r: &reqwest::Response) {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-streaming-format"], "sse");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
}

/// Checks a v4 stream's event order (one `stream_start` with metadata first, one `stream_end` with
/// `null` last, only `content_chunk`s between) and returns the chunks' texts in order.
fn sse_chunks(body: &str, engine: &str) -> Vec<String> {
    let events = sse_events(body);
    assert!(events.len() >= 2, "{body:?}");
    let (first, last) = (&events[0], &events[events.len() - 1]);
    assert_eq!(first.0, "stream_start", "{body:?}");
    assert_eq!(first.1["metadata"]["model"]["engine"], engine, "{body:?}");
    assert!(first.1["metadata"]["timestamp"].is_u64(), "{body:?}");
    assert!(first.1["metadata"]["enabled_feature_flags"].is_array(), "{body:?}");
    assert_eq!(last, &("stream_end".to_string(), Value::Null), "{body:?}");
    events[1..events.len() - 1]
        .iter()
        .map(|(event, data)| {
            assert_eq!(event, "content_chunk", "only content chunks between start and end: {body:?}");
            assert_eq!(data["choices"][0]["index"], 0, "{data}");
            data["choices"][0]["delta"]["content"].as_str().unwrap_or_else(|| panic!("{data}")).to_string()
        })
        .collect()
}

/// Reads a stream until `done` holds for the text so far (or the stream ends); returns that text.
/// Dropping the response afterwards cancels the rest of the generation.
async fn read_until(r: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        if done(&text) {
            break;
        }
    }
    text
}

/// Whether `text` has more than whitespace.
fn has_text(text: &str) -> bool {
    !text.trim().is_empty()
}

/// A raw text body, not SSE frames (those start with a `data:` or `event:` line). Only the start is
/// looked at: sampled code may hold `data:` anywhere (`def average(data: list)`).
fn not_sse(text: &str) -> bool {
    !text.starts_with("data:") && !text.starts_with("event:")
}

/// The first choice's text of a v2/v3/v4 non-stream answer ("" when `choices` is empty).
fn choice_text(v: &Value) -> &str {
    v["choices"][0]["text"].as_str().unwrap_or_default()
}

/// The complete SSE frames of a partial v4 body.
fn complete_frames(body: &str) -> &str {
    body.rfind("\r\n\r\n").map_or("", |end| &body[..end + 4])
}

#[tokio::test(flavor = "multi_thread")]
async fn code_generation_for_every_family_on_v3_v4_and_legacy_v2() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let has_content = |body: &str| {
        sse_events(complete_frames(body)).iter().any(|(e, d)| {
            e == "content_chunk" && d["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.trim().is_empty())
        })
    };
    for family in FAMILIES {
        // Each endpoint streams, and is read only until the family's prompt has produced text (dropping
        // the response cancels the rest): a 270m model on two cores writes ~15 tokens/s, and full
        // answers of 256–512 tokens on 30 requests would take minutes. The non-stream envelopes and the
        // whole v4 event sequence are checked in `legacy_generations_with_gitlab_tokens`,
        // `generation_streams_are_whole_lines_and_sse_is_ordered` and `gitlab::v3_and_v4_generation`.
        let mut v2_body = legacy_generation(family, 2);
        v2_body["stream"] = json!(true);
        let (v3_body, v4_body) = (local_generation(family, true), local_generation(family, true));
        // Most families sample (temperature 0.3–1.0, §3.4), and a sample may end at once: up to three tries.
        let (v3, v4, v2) = tokio::join!(
            retry_sampled(
                |t: &String| has_text(t),
                || async {
                    let mut r = call(&server, "/v3/code/completions", &token, &v3_body).await;
                    assert_eq!(r.status(), 200, "{family} v3");
                    let text = read_until(&mut r, has_text).await;
                    // Raw text re-cut into whole lines: only the stream's last chunk may end mid-line
                    // (an answer of one unterminated line).
                    let last = text.ends_with('\n') || r.chunk().await.unwrap().is_none();
                    assert!(last, "{family} v3: a chunk ends mid-line: {text:?}");
                    text
                }
            ),
            retry_sampled(
                |t: &String| has_content(t),
                || async {
                    let mut r = call(&server, "/v4/code/suggestions", &token, &v4_body).await;
                    assert_sse_stream(&r);
                    read_until(&mut r, has_content).await
                }
            ),
            retry_sampled(
                |t: &String| has_text(t),
                || async {
                    let mut r = call(&server, "/v2/code/generations", &token, &v2_body).await;
                    assert_eq!(r.status(), 200, "{family} v2");
                    read_until(&mut r, has_text).await
                }
            ),
        );
        assert!(has_text(&v3) && not_sse(&v3), "{family} v3: {v3:?}");
        let events = sse_events(complete_frames(&v4));
        assert_eq!(events[0].0, "stream_start", "{family} v4: {v4:?}");
        assert_eq!(events[0].1["metadata"]["model"]["engine"], "agent", "{family} v4: {v4:?}");
        assert!(events[0].1["metadata"]["model"]["name"].as_str().unwrap().contains(family), "{family} v4: {v4:?}");
        assert!(events[1..].iter().all(|(e, _)| e == "content_chunk"), "{family} v4: {v4:?}");
        assert!(has_content(&v4), "{family} v4: no content in {v4:?}");
        assert!(has_text(&v2) && not_sse(&v2), "{family} v2: {v2:?}");
    }
}

/// `text` does not start with a Markdown fence line (the clean-up removes a leading one; §3.4).
fn no_leading_fence(text: &str) -> bool {
    text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| !is_fence_line(l))
}

/// A token signed with airgate's own key and issuer, as `/v1/code/user_access_token` mints them, but
/// carrying `scopes`: shows that refusals of gateway-issued tokens hold whatever the scopes.
fn gateway_token(server: &TestServer, minted: &str, scopes: &[&str]) -> String {
    let kid = jsonwebtoken::decode_header(minted).unwrap().kid.unwrap();
    let pem = std::fs::read(server.data_dir().join("jwt_signing_key.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({
        "iss": "gitlab-ai-gateway", "aud": "gitlab-ai-gateway", "sub": issuer::USER_ID,
        "iat": now, "nbf": now, "exp": now + 600, "jti": "forged",
        "gitlab_realm": issuer::REALM, "gitlab_instance_id": issuer::INSTANCE_ID, "scopes": scopes,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_generations_with_gitlab_tokens() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    // prompt_version 1 (no prompt) and 3 (a message list): the §2.2 response schema. `general`
    // samples at temperature 0.2 (§3.4): an empty answer (`choices: []`) is tried again.
    for version in [1, 3] {
        let body = legacy_generation("general", version);
        let (status, v) = retry_sampled(
            |(_, v): &(u16, Value)| has_text(choice_text(v)),
            || call_json(&server, "/v2/code/generations", &token, &body),
        )
        .await;
        assert_eq!(status, 200, "prompt_version {version}: {v}");
        assert_v2_schema(&v, "general");
        let choices = v["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 1, "{v}");
        assert_eq!((&choices[0]["index"], &choices[0]["finish_reason"]), (&json!(0), &json!("length")), "{v}");
        let text = choices[0]["text"].as_str().unwrap();
        assert!(no_leading_fence(text), "prompt_version {version}: {v}");
    }
    // stream: raw text in an "event-stream", no SSE frames, no JSON envelope.
    let mut body = legacy_generation("general", 2);
    body["stream"] = json!(true);
    let text = retry_sampled(
        |t: &String| has_text(t),
        || async {
            let r = call(&server, "/v2/code/generations", &token, &body).await;
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            r.text().await.unwrap()
        },
    )
    .await;
    assert!(has_text(&text), "{text:?}");
    assert!(not_sse(&text), "{text:?}");
    assert!(serde_json::from_str::<Value>(&text).map_or(true, |v| !v.is_object()), "not a JSON body: {text:?}");

    // Scopes: complete_code alone does not generate.
    let completer = issuer::sign(&issuer::claims(issuer_url(), &["complete_code", "duo_chat"]));
    let (status, v) = call_json(&server, "/v2/code/generations", &completer, &legacy_generation("codestral", 2)).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("Unauthorized"), "{v}");
    // Tokens airgate minted are refused here (§4.4), whatever their scopes...
    let (status, minted) = call_json(&server, "/v1/code/user_access_token", &token, &json!({})).await;
    assert_eq!(status, 200, "{minted}");
    let minted = minted["token"].as_str().unwrap().to_string();
    let (status, v) = call_json(&server, "/v2/code/generations", &minted, &legacy_generation("codestral", 2)).await;
    assert_eq!(status, 403, "{v}");
    let gateway = gateway_token(&server, &minted, &["generate_code", "complete_code"]);
    let (status, v) = call_json(&server, "/v2/code/generations", &gateway, &legacy_generation("codestral", 2)).await;
    assert_eq!(status, 403, "a gateway-issued token with generate_code: {v}");
    // ...but the v3 generation component does not restrict the issuer (§4.4). Dropping the stream ends the work.
    let r = call(&server, "/v3/code/completions", &gateway, &local_generation("codestral", true)).await;
    assert_eq!(r.status(), 200, "v3 generation with a gateway-issued token");
    drop(r);
}

#[tokio::test(flavor = "multi_thread")]
async fn generation_streams_are_whole_lines_and_sse_is_ordered() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    // Non-stream v3 and v4: the same envelope, one cleaned choice. `general` samples at temperature
    // 0.2 (§3.4): an empty answer is tried again, here and in the streams below.
    for path in ["/v3/code/completions", "/v4/code/suggestions"] {
        let body = local_generation("general", false);
        let (status, v) =
            retry_sampled(|(_, v): &(u16, Value)| has_text(choice_text(v)), || call_json(&server, path, &token, &body))
                .await;
        assert_eq!(status, 200, "{path}: {v}");
        let text = assert_components_schema(&v, "agent", "python");
        assert!(no_leading_fence(&text), "{path}: {v}");
    }
    // v3 raw stream: each body chunk holds whole lines (only the last may end mid-line), no fences.
    let body = local_generation("general", true);
    let chunks = retry_sampled(
        |chunks: &Vec<String>| has_text(&chunks.concat()),
        || async {
            let mut r = call(&server, "/v3/code/completions", &token, &body).await;
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            let mut chunks = Vec::new();
            while let Some(chunk) = r.chunk().await.unwrap() {
                chunks.push(String::from_utf8(chunk.to_vec()).unwrap());
            }
            chunks
        },
    )
    .await;
    let text = chunks.concat();
    assert!(has_text(&text), "empty v3 stream");
    assert!(fence_free(&text) && not_sse(&text), "{text:?}");
    for c in &chunks[..chunks.len() - 1] {
        assert!(c.ends_with('\n'), "a chunk ends mid-line: {c:?} in {chunks:?}");
    }
    // v4: stream_start (with the echoed feature flags) first, content chunks of whole lines, stream_end null last.
    let flags = [("x-gitlab-enabled-feature-flags", "flag_a, flag_b")];
    let request = local_generation("general", true);
    let body = retry_sampled(
        |body: &String| has_text(&sse_chunks(body, "agent").concat()),
        || async {
            let r = post(&server, "/v4/code/suggestions", &token, &request, &flags).await;
            assert_sse_stream(&r);
            r.text().await.unwrap()
        },
    )
    .await;
    let chunks = sse_chunks(&body, "agent");
    let start = &sse_events(&body)[0].1;
    assert_eq!(start["metadata"]["enabled_feature_flags"], json!(["flag_a", "flag_b"]), "{body:?}");
    assert_eq!(start["metadata"]["model"]["lang"], "python", "{body:?}");
    assert!(!chunks.is_empty() && !chunks.concat().trim().is_empty(), "no content: {body:?}");
    for c in &chunks[..chunks.len() - 1] {
        assert!(c.ends_with('\n'), "a content_chunk ends mid-line: {c:?} in {body:?}");
    }
    assert!(chunks.iter().all(|c| !c.is_empty() && fence_free(c)), "{chunks:?}");

    // A completion component over SSE: engine/name are the provider and family (§2.3.1), content is raw.
    let completion = |file: &str, stream: bool| {
        json!({
            "prompt_components": [{"type": "code_editor_completion",
                "payload": {"file_name": file, "content_above_cursor": "def add(a, b):\n    return",
                            "content_below_cursor": "\n", "stream": stream}}],
            "model_metadata": {"provider": "openai", "name": "general", "endpoint": "http://127.0.0.1:1/v1", "identifier": LOCAL}
        })
    };
    let r = call(&server, "/v4/code/suggestions", &token, &completion("calc.py", true)).await;
    assert_sse_stream(&r);
    let body = r.text().await.unwrap();
    let chunks = sse_chunks(&body, "openai");
    let start = &sse_events(&body)[0].1;
    assert_eq!(start["metadata"]["model"]["name"], "general", "{body:?}");
    assert!(!chunks.concat().trim().is_empty(), "no completion content: {body:?}");

    // No language → no model call, `choices: []` in the same envelope on v3 and v4.
    for path in ["/v3/code/completions", "/v4/code/suggestions"] {
        let (status, v) = call_json(&server, path, &token, &completion("notes.unknownext", false)).await;
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(v["choices"], json!([]), "{path}: {v}");
        assert_eq!(v["metadata"]["model"], v["model"], "{path}: {v}");
        assert!(v["metadata"]["timestamp"].is_u64(), "{path}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn user_access_token_scopes_and_missing_user_id() {
    let server = gitlab_server();
    let iss = issuer_url();
    // Neither complete_code nor ai_gateway_model_provider_proxy → 403 with GitLab's message.
    let other = issuer::sign(&issuer::claims(iss, &["generate_code", "duo_chat"]));
    let (status, v) = call_json(&server, "/v1/code/user_access_token", &other, &json!({})).await;
    assert_eq!((status, v), (403, json!({"detail": "Unauthorized to create user access token"})));
    // No X-Gitlab-Global-User-Id: the token would have no subject → 422 naming the header.
    let good = issuer::token(iss);
    let mut req = client().post(server.url("/v1/code/user_access_token")).json(&json!({}));
    for (k, v) in issuer::headers(&good).into_iter().filter(|(k, _)| *k != "x-gitlab-global-user-id") {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("X-Gitlab-Global-User-Id"), "{v}");
    // The proxy scope alone suffices, and the token carries only what the caller had (§2.4).
    let proxy = issuer::sign(&issuer::claims(iss, &["ai_gateway_model_provider_proxy"]));
    let (status, v) = call_json(&server, "/v1/code/user_access_token", &proxy, &json!({})).await;
    assert_eq!(status, 200, "{v}");
    let claims = claims_of(v["token"].as_str().unwrap());
    assert_eq!(claims["scopes"], json!(["ai_gateway_model_provider_proxy"]), "{claims}");
    assert_eq!((&claims["iss"], &claims["aud"]), (&json!("gitlab-ai-gateway"), &json!("gitlab-ai-gateway")));
    assert_eq!(claims["sub"], issuer::USER_ID);
    assert_eq!(claims["gitlab_instance_id"], issuer::INSTANCE_ID);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600, "{claims}");
    assert_eq!(v["expires_at"], claims["exp"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_rate_limit_is_429_with_retry_after() {
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).without_default_model().no_wait().start();
    let token = issuer::token(issuer_url());
    let upstream = Upstream::failing("429 Too Many Requests", "retry-after: 7\r\n").await;
    let limited = upstream.url.clone();
    let mut flat = completion_body("mistral");
    flat["model_endpoint"] = json!(limited);
    flat["model_identifier"] = json!("custom_openai/Mistral-7B");
    flat["model_api_key"] = json!("sk-upstream");
    let cases = [
        ("/v2/code/completions", flat),
        ("/v3/code/completions", generation("mistral", false, &limited, "custom_openai/Mistral-7B", "sk-upstream")),
        ("/v4/code/suggestions", generation("codestral", true, &limited, "custom_openai/Codestral", "sk-upstream")),
    ];
    for (path, body) in cases {
        let before = upstream.heads().len();
        let r = call(&server, path, &token, &body).await;
        assert_eq!(r.status(), 429, "{path}");
        assert_eq!(r.headers()["retry-after"], "7", "{path}");
        let requests = upstream.heads();
        assert_eq!(requests.len(), before + 1, "{path}: the upstream was asked once");
        let request = requests.last().unwrap().to_ascii_lowercase();
        assert!(request.starts_with("post /v1/chat/completions"), "{path}: {request}");
        assert!(request.contains("authorization: bearer sk-upstream"), "{path}: {request}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn model_api_key_never_reaches_the_logs() {
    const KEY: &str = "sk-test-secret";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("airgate.log");
    let server = TestServer::builder()
        .arg("--gitlab-url")
        .arg(issuer_url())
        .arg("--logging-expanded")
        .arg("--log-file")
        .arg(log.to_str().unwrap())
        .start();
    let token = issuer::token(issuer_url());
    let verbose = [("x-gitlab-enabled-instance-verbose-ai-logs", "true")];
    // Served in-process: the key comes with the request and goes nowhere.
    let mut body = completion_body("codestral");
    body["current_file"]["content_above_cursor"] = json!("def expanded_marker_function(n):\n    ");
    body["model_api_key"] = json!(KEY);
    let r = post(&server, "/v2/code/completions", &token, &body, &verbose).await;
    assert_eq!(r.status(), 200);
    // A remote upstream that fails and quotes the key back: 421, the quote masked for the caller too.
    let echoing = Upstream::start(vec![Reply::Raw(
        "401 Unauthorized",
        "",
        r#"{"error":{"message":"invalid api key sk-test-secret for this model"}}"#,
    )])
    .await;
    body["model_endpoint"] = json!(echoing.url);
    body["model_identifier"] = json!("custom_openai/Codestral-22B");
    let r = post(&server, "/v2/code/completions", &token, &body, &verbose).await;
    assert_eq!(r.status(), 421);
    let text = r.text().await.unwrap();
    assert!(text.contains("401") && !text.contains(KEY), "{text}");
    // A remote upstream that answers (JSON, not streamed), through model_metadata on v3 and v4.
    let answering = Upstream::start(vec![Reply::Text("    return sum(numbers) / len(numbers)\n")]).await;
    for (path, stream) in [("/v3/code/completions", false), ("/v4/code/suggestions", true)] {
        let body = generation("mistral", stream, &answering.url, "custom_openai/Mistral-7B", KEY);
        let r = post(&server, path, &token, &body, &verbose).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.unwrap().contains("sum(numbers)"), "{path}: the upstream's answer");
    }
    // Unreachable: 503.
    body["model_endpoint"] = json!("http://127.0.0.1:1/v1");
    let r = post(&server, "/v2/code/completions", &token, &body, &verbose).await;
    assert_eq!(r.status(), 503);

    // The key did travel: both upstreams got it as the bearer token.
    for upstream in [&echoing, &answering] {
        let requests = upstream.heads();
        assert!(!requests.is_empty() && requests.iter().all(|r| r.contains(&format!("Bearer {KEY}"))), "{requests:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.logs();
    assert!(logs.contains("expanded_marker_function"), "expanded logging is not on; the test proves nothing");
    assert!(!logs.contains(KEY), "the model API key reached the log");
    let file = std::fs::read_to_string(&log).unwrap();
    assert!(file.contains("expanded_marker_function"), "the log file misses the expanded lines");
    assert!(!file.contains(KEY), "the model API key reached the log file");
}
