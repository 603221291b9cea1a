//! The GitLab AI Gateway API with a fake GitLab issuer and the real local model: code completion and generation, streams, auth, routing, bad input.

use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::issuer;
use crate::support::{TestServer, client, retry_sampled};

pub fn issuer_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(issuer::start)
}

pub fn gitlab_server() -> TestServer {
    TestServer::builder().arg("--gitlab-url").arg(issuer_url()).start()
}

pub async fn call(server: &TestServer, path: &str, token: &str, body: &Value) -> reqwest::Response {
    let mut req = client().post(server.url(path)).json(body);
    for (k, v) in issuer::headers(token) {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

pub async fn call_json(server: &TestServer, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = call(server, path, token, body).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn completion_body(family: &str) -> Value {
    json!({
        "project_path": "group/proj", "project_id": 42,
        "current_file": {"file_name": "app/main.py", "language_identifier": "python",
                         "content_above_cursor": "def fibonacci(n):\n    ", "content_below_cursor": "\n\nprint(fibonacci(10))\n"},
        "stream": false, "intent": "completion", "telemetry": [],
        "model_provider": "litellm", "prompt_version": 2, "prompt": null,
        "model_endpoint": "http://127.0.0.1:1/v1", "model_name": family,
        "model_identifier": "custom_openai/gemma-3-270m-q4_k_m"
    })
}

/// The self-hosted model families of the seeds (§3.2).
pub const FAMILIES: [&str; 10] = [
    "codestral",
    "mistral",
    "mixtral",
    "codegemma",
    "codellama",
    "deepseekcoder",
    "llama3",
    "gpt",
    "claude_3",
    "general",
];

/// A Markdown fence line (```` ``` ````, ```` ```python ````), as airgate's clean-up recognises one.
pub fn is_fence_line(line: &str) -> bool {
    let tag = |t: &str| t.trim().chars().all(|c| c.is_alphanumeric() || "+-#._".contains(c));
    line.trim().strip_prefix("```").is_some_and(tag)
}

/// A streamed generation has no fence lines and no line ending in backticks (§2.3.1). Backticks
/// inside a line are the sampled text's own, so the test does not forbid them.
pub fn fence_free(text: &str) -> bool {
    text.lines().all(|l| !is_fence_line(l) && !l.ends_with("```"))
}

/// The §2.2 response envelope for a self-hosted `family` (choices are checked by the caller).
pub fn assert_v2_schema(v: &Value, family: &str) {
    assert_eq!(v["id"], "id", "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"]["engine"], "litellm");
    assert_eq!(v["model"]["name"], family);
    assert_eq!(v["model"]["lang"], "python");
    let meta = &v["model"]["tokens_consumption_metadata"];
    for k in ["input_tokens", "output_tokens", "context_tokens_sent", "context_tokens_used"] {
        assert!(meta[k].is_u64(), "{k} in {v}");
    }
    assert!(meta["max_output_tokens_used"].is_boolean());
    assert!(v["created"].is_u64());
    assert!(v["metadata"]["enabled_feature_flags"].is_array());
}

#[tokio::test(flavor = "multi_thread")]
async fn code_completion_for_every_family_layout() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    // A long, regular prefix: the 270m base model answers every family's layout with text (often an
    // echo of the instructions, which the clean-up keeps: it is not an echo of the prefix).
    let prefix: String = (1..30).map(|i| format!("x{i} = {i}\n")).collect::<String>() + "x30 =";
    for family in FAMILIES {
        let mut body = completion_body(family);
        body["current_file"]["content_above_cursor"] = json!(prefix);
        body["current_file"]["content_below_cursor"] = json!("");
        // codegemma and codellama send only a user turn holding the FIM markers; this base model
        // answers by echoing that turn, so its first tokens are `<|fim_prefix|>` / `<PRE>`, which are
        // those families' stop sequences (§3.3): the output is legitimately empty, and an empty
        // completion is `choices: []` (§2.2). Every other family must write something.
        let may_be_empty = ["codegemma", "codellama"].contains(&family);
        // codestral (0.32), codegemma, codellama (0.95) and gpt (1.0) sample (§3.3): a sample may end
        // at once or clean up to nothing, so up to three tries.
        let wrote = |(_, v): &(u16, Value)| {
            let tokens = v["model"]["tokens_consumption_metadata"]["output_tokens"].as_u64().unwrap_or(0);
            tokens > 0 && (may_be_empty || v["choices"].as_array().is_some_and(|c| !c.is_empty()))
        };
        let (status, v) = retry_sampled(wrote, || call_json(&server, "/v2/code/completions", &token, &body)).await;
        assert_eq!(status, 200, "{family}: {v}");
        assert_v2_schema(&v, family);
        let usage = &v["model"]["tokens_consumption_metadata"];
        // The identifier names airgate's own model: served in-process, so tokens are counted both ways.
        assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{family}: {v}");
        assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{family}: the model ran: {v}");
        let choices = v["choices"].as_array().unwrap();
        if may_be_empty && choices.is_empty() {
            continue;
        }
        assert_eq!(choices.len(), 1, "{family}: the model writes a completion for this prompt: {v}");
        assert_eq!(
            (&choices[0]["index"], &choices[0]["finish_reason"]),
            (&json!(0), &json!("length")),
            "{family}: {v}"
        );
        assert!(!choices[0]["text"].as_str().unwrap().trim().is_empty(), "{family}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_connection_without_model_uses_the_default_model() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let body = json!({
        "prompt_version": 1, "project_id": -1, "choices_count": 0,
        "current_file": {"file_name": "main.py", "content_above_cursor": "import os\n\ndef list_files(path):\n    ", "content_below_cursor": ""}
    });
    let (status, v) = call_json(&server, "/v2/completions", &token, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["lang"], "python");
    assert!(!v["choices"].as_array().unwrap().is_empty(), "the default model completes code: {v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_language_gives_no_choices() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let mut body = completion_body("codegemma");
    body["current_file"] =
        json!({"file_name": "notes.unknownext", "content_above_cursor": "abc", "content_below_cursor": ""});
    let (status, v) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_completion_is_raw_text() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    // `general` samples greedily (temperature 0), so the output does not depend on the seed.
    let mut body = completion_body("general");
    body["stream"] = json!(true);
    let r = call(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(!text.contains("data:"), "raw deltas, not SSE frames: {text:?}");
}

fn generation_components(stream: bool) -> Value {
    json!({
        "prompt_components": [
            {"type": "code_editor_generation",
             "payload": {"file_name": "app/main.py", "content_above_cursor": "# return the sum of a list of numbers\ndef total(numbers):\n",
                         "content_below_cursor": "", "language_identifier": "Python", "stream": stream,
                         "prompt_id": "code_suggestions/generations", "prompt_version": "^1.0.0",
                         "prompt_enhancer": {"examples_array": [], "related_files": [], "related_snippets": [], "libraries": [],
                                             "user_instruction": "return the sum of a list of numbers"}},
             "metadata": {"source": "test", "version": "1"}},
            {"type": "code_context", "payload": {"type": "file", "name": "util.py", "content": "def helper():\n    pass\n"}}
        ],
        "model_metadata": {"provider": "openai", "name": "mistral", "endpoint": "http://127.0.0.1:1/v1",
                           "api_key": "sk-test", "identifier": "custom_openai/gemma-3-270m-q4_k_m"}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_and_v4_generation() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    // Non-stream (same body shape for v3 and v4).
    for path in ["/v3/code/completions", "/v4/code/suggestions"] {
        let (status, v) = call_json(&server, path, &token, &generation_components(false)).await;
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(v["model"]["engine"], "agent", "{v}");
        assert_eq!(v["model"]["lang"], "python");
        assert_eq!(v["metadata"]["model"], v["model"]);
        assert!(v["metadata"]["timestamp"].is_u64());
        assert!(v["choices"].is_array());
    }
    // v3 stream: raw text, whole lines, no fences.
    let r = call(&server, "/v3/code/completions", &token, &generation_components(true)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(fence_free(&text), "{text:?}");
    // v4 stream: SSE with CRLF, stream_start first (with metadata), content_chunk*, stream_end last with null.
    let r = call(&server, "/v4/code/suggestions", &token, &generation_components(true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-streaming-format"], "sse");
    let body = r.text().await.unwrap();
    let events: Vec<(String, String)> = body
        .split("\r\n\r\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let mut lines = f.split("\r\n");
            let event = lines.next().unwrap().strip_prefix("event: ").unwrap().to_string();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap().to_string();
            (event, data)
        })
        .collect();
    assert_eq!(events.first().unwrap().0, "stream_start", "{body}");
    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["metadata"]["model"]["engine"], "agent");
    assert_eq!(events.last().unwrap(), &("stream_end".to_string(), "null".to_string()));
    assert!(events[1..events.len() - 1].iter().all(|(e, d)| e == "content_chunk"
        && serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"]["content"].is_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn v3_completion_component_and_gateway_token_rejection() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let body = json!({
        "prompt_components": [{"type": "code_editor_completion",
            "payload": {"file_name": "a.rb", "content_above_cursor": "def hello_world\n  ", "content_below_cursor": "\nend\n", "language_identifier": "ruby"}}],
        "model_metadata": {"provider": "openai", "name": "codestral", "endpoint": "http://127.0.0.1:1/v1", "identifier": "custom_openai/gemma-3-270m-q4_k_m"}
    });
    let (status, v) = call_json(&server, "/v3/code/completions", &token, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["name"], "codestral");
    // A token airgate minted itself is refused on v3 completion (§4.4) but accepted on v2.
    let (status, minted) = call_json(&server, "/v1/code/user_access_token", &token, &json!({})).await;
    assert_eq!(status, 200, "{minted}");
    let user_token = minted["token"].as_str().unwrap().to_string();
    assert!(minted["expires_at"].as_u64().unwrap() > 0);
    let (status, _) = call_json(&server, "/v3/code/completions", &user_token, &body).await;
    assert_eq!(status, 403);
    let (status, v) = call_json(&server, "/v2/completions", &user_token, &completion_body("codegemma")).await;
    assert_eq!(status, 200, "{v}");
    // A minted token cannot send airgate to another endpoint: the feature's model serves it.
    let mut elsewhere = completion_body("codestral");
    elsewhere["model_endpoint"] = json!("http://127.0.0.1:1/v1");
    elsewhere["model_identifier"] = json!("custom_openai/somewhere-else");
    let (status, v) = call_json(&server, "/v2/completions", &user_token, &elsewhere).await;
    assert_eq!(status, 200, "{v}");
    // ...and a minted token cannot mint another.
    let (status, _) = call_json(&server, "/v1/code/user_access_token", &user_token, &json!({})).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn troubleshooting_script_body_with_auth_bypass() {
    let server = TestServer::builder().env("AIGW_AUTH__BYPASS_EXTERNAL", "true").start();
    // Exactly what GitLab's troubleshoot_selfhosted_installation.py posts, without auth headers.
    let body = json!({
        "project_path": "string", "project_id": 0,
        "current_file": {"file_name": "test.py", "language_identifier": "python", "content_above_cursor": "def hello():\n  ", "content_below_cursor": ""},
        "model_provider": "litellm", "model_endpoint": "http://localhost:4000", "model_api_key": "", "model_identifier": "custom_openai/gemma-3-270m-q4_k_m",
        "model_name": "mistral", "telemetry": [], "stream": false, "choices_count": 0, "context": [], "agent_id": "string",
        "prompt_id": "code_suggestions/generations", "prompt_version": 2, "prompt": ""
    });
    let r = client().post(server.url("/v2/code/generations")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(server.log_appears("bypass", Duration::from_secs(5)), "the bypass must be logged loudly");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_are_401_or_403_with_gitlab_messages() {
    let server = gitlab_server();
    let iss = issuer_url();
    let body = completion_body("codegemma");
    let expired = {
        let mut c = issuer::claims(iss, &["complete_code"]);
        c["exp"] = json!(1_000_000);
        c["iat"] = json!(999_000);
        c["nbf"] = json!(999_000);
        issuer::sign(&c)
    };
    let future = {
        let mut c = issuer::claims(iss, &["complete_code"]);
        c["nbf"] = json!(c["nbf"].as_u64().unwrap() + 3600);
        issuer::sign(&c)
    };
    let wrong_aud = {
        let mut c = issuer::claims(iss, &["complete_code"]);
        c["aud"] = json!("someone-else");
        issuer::sign(&c)
    };
    let unknown_kid = {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("not-a-known-key".into());
        issuer::sign_with(&h, &issuer::claims(iss, &["complete_code"]))
    };
    let no_scope = issuer::sign(&issuer::claims(iss, &["duo_chat"]));
    let good = issuer::token(iss);
    let cases: Vec<(&str, Headers, u16, &str)> = vec![
        ("no header", vec![], 401, "No authorization header presented"),
        (
            "wrong scheme",
            vec![("authorization", format!("Basic {good}")), ("x-gitlab-authentication-type", "oidc".into())],
            401,
            "",
        ),
        ("wrong type", with(&good, "x-gitlab-authentication-type", "saml"), 401, "only OIDC"),
        ("expired", issuer::headers(&expired), 401, ""),
        ("not yet valid", issuer::headers(&future), 401, ""),
        ("wrong audience", issuer::headers(&wrong_aud), 401, ""),
        ("unknown key", issuer::headers(&unknown_kid), 401, ""),
        ("alg none", issuer::headers(&issuer::alg_none(&issuer::claims(iss, &["complete_code"]))), 401, ""),
        (
            "hs256 with public key",
            issuer::headers(&issuer::hs256_with_public_key(&issuer::claims(iss, &["complete_code"]))),
            401,
            "",
        ),
        ("realm mismatch", with(&good, "x-gitlab-realm", "saas"), 401, "Header mismatch 'X-Gitlab-Realm'"),
        (
            "instance mismatch",
            with(&good, "x-gitlab-instance-id", "other"),
            401,
            "Header mismatch 'X-Gitlab-Instance-Id'",
        ),
        ("missing scope", issuer::headers(&no_scope), 403, ""),
    ];
    for (name, headers, status, message) in cases {
        let mut req = client().post(server.url("/v2/code/completions")).json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        let v: Value = r.json().await.unwrap();
        let text = v["error"].as_str().or(v["detail"].as_str()).unwrap_or_default().to_string();
        assert!(text.contains(message), "{name}: {v}");
    }
    assert!(!server.logs().contains(&good), "a token reached the log");
}

/// Request headers as name/value pairs.
type Headers = Vec<(&'static str, String)>;

fn with(token: &str, header: &'static str, value: &str) -> Headers {
    let mut h = issuer::headers(token);
    h.retain(|(k, _)| *k != header);
    h.push((header, value.to_string()));
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_upstream_through_model_endpoint() {
    // A second airgate plays the customer's vLLM; its model has a name the first airgate does not serve.
    let upstream = TestServer::builder()
        .without_default_model()
        .arg("--model")
        .arg(format!("{}:upstream-model", crate::support::model_path().display()))
        .start();
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let mut body = completion_body("mistral");
    body["model_endpoint"] = json!(upstream.url("/v1"));
    body["model_identifier"] = json!("custom_openai/upstream-model");
    let (status, v) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["name"], "mistral");
    assert!(
        upstream.log_appears("/v1/chat/completions", Duration::from_secs(5)),
        "the upstream was not called:\n{}",
        upstream.logs()
    );
    // An upstream that names a model it does not have → 421 with the upstream's code.
    body["model_identifier"] = json!("custom_openai/nope");
    let (status, v) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 421, "{v}");
    assert!(v["detail"].as_str().unwrap().starts_with("404"), "{v}");
    // An unreachable upstream → 503.
    body["model_endpoint"] = json!("http://127.0.0.1:1/v1");
    let (status, _) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_4xx() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let mut no_file = completion_body("codegemma");
    no_file.as_object_mut().unwrap().remove("current_file");
    let mut long = completion_body("codegemma");
    long["current_file"]["content_above_cursor"] = json!("x".repeat(100_001));
    let mut unknown_family = completion_body("wizardcoder");
    unknown_family["model_identifier"] = json!("custom_openai/somewhere-else");
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/v2/code/completions", no_file, 422, "current_file"),
        ("/v2/code/completions", long, 422, "content_above_cursor"),
        ("/v2/code/completions", unknown_family, 422, "wizardcoder"),
        ("/v2/code/completions", json!({"current_file": {"file_name": 3}}), 422, "current_file"),
        ("/v4/code/suggestions", json!({"prompt_components": []}), 422, "prompt_components"),
        (
            "/v4/code/suggestions",
            json!({"prompt_components": [{"type": "x_ray", "payload": {}}]}),
            422,
            "prompt_components",
        ),
    ];
    for (path, body, status, needle) in cases {
        let (got, v) = call_json(&server, path, &token, &body).await;
        assert_eq!(got, status, "{path} {body}: {v}");
        assert!(v["detail"].to_string().contains(needle), "{path}: {v} should mention {needle}");
        // A field that fails validation is listed the way FastAPI lists it.
        if let Some(first) = v["detail"].as_array().map(|d| &d[0]) {
            assert!(first["loc"][0] == "body" && first["loc"][1].is_string() && first["msg"].is_string(), "{v}");
        }
    }
    let r = client()
        .post(server.url("/v2/code/completions"))
        .header("content-type", "application/json")
        .headers(issuer::headers(&token).into_iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_megabyte_bodies_are_accepted_and_larger_ones_are_413() {
    let server = gitlab_server();
    let token = issuer::token(issuer_url());
    let mut body = completion_body("codegemma");
    let snippet = "# helper\n".repeat(10_000);
    body["context"] = json!(
        (0..90).map(|i| json!({"type": "file", "name": format!("f{i}.py"), "content": snippet})).collect::<Vec<_>>()
    );
    let size = body.to_string().len();
    assert!(size > 8 << 20, "{size}");
    let (status, v) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 200, "{v}");
    // Over 16 MiB: refused from the Content-Length alone, before the body is read (a client still
    // uploading would see the connection close, so this speaks HTTP by hand and sends no body).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(server.url("").trim_start_matches("http://")).await.unwrap();
    let mut head = format!(
        "POST /v2/code/completions HTTP/1.1\r\nHost: airgate\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        17 << 20
    );
    for (k, v) in issuer::headers(&token) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), conn.read(&mut response))
        .await
        .expect("no answer to an oversized Content-Length")
        .unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prompts_are_logged_only_when_gitlab_asks_and_the_log_file_reopens_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("airgate.log");
    let server = TestServer::builder()
        .arg("--gitlab-url")
        .arg(issuer_url())
        .arg("--log-file")
        .arg(log.to_str().unwrap())
        .start();
    let token = issuer::token(issuer_url());
    let mut body = completion_body("codestral");
    body["current_file"]["content_above_cursor"] = json!("def quiet_marker_function(n):\n    ");
    let (status, _) = call_json(&server, "/v2/code/completions", &token, &body).await;
    assert_eq!(status, 200);
    body["current_file"]["content_above_cursor"] = json!("def verbose_marker_function(n):\n    ");
    let mut req = client().post(server.url("/v2/code/completions")).json(&body);
    for (k, v) in issuer::headers(&token) {
        req = req.header(k, v);
    }
    let r = req.header("x-gitlab-enabled-instance-verbose-ai-logs", "true").send().await.unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = server.logs();
    assert!(!logs.contains("quiet_marker_function"), "code was logged without the verbose header");
    assert!(logs.contains("verbose_marker_function"), "the verbose header did not log the prompt");
    // The file gets the same JSON lines, including the access line with the caller's fields.
    let text = std::fs::read_to_string(&log).unwrap();
    let access = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["path"] == "/v2/code/completions")
        .expect("access line in the log file");
    assert_eq!(access["span"]["feature"], "code_completions", "{access}");
    assert_eq!(access["span"]["instance_id"], issuer::INSTANCE_ID);
    assert!(access["first_chunk_ms"].is_number(), "{access}");
    assert!(!text.contains(&token), "a token reached the log file");
    // logrotate: move the file away, SIGHUP, and the next lines go to a new file at the path.
    let rotated = dir.path().join("airgate.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let pid = server.pid();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = client().get(server.url("/monitoring/healthz")).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(std::fs::read_to_string(&log).unwrap().contains("/monitoring/healthz"), "no new log file after SIGHUP");
}
