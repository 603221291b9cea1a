//! The prompt registry (`/v1|v2/prompts/{id}`), the model configuration check right after start, and the docs search with `airgate docs import`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gitlab::{call, call_json, issuer_url};
use crate::issuer;
use crate::support::TestServer;
use crate::upstream::{Reply, Upstream};

/// Every feature prompt GitLab calls over HTTP, with the inputs it declares.
fn prompts() -> Vec<(&'static str, &'static str, Value)> {
    let code = json!({ "file_content": "def add(a, b)\n  a + b\nend\n", "input": "explain this", "language_info": "Ruby",
                       "selected_text": "a + b", "libraries": "rspec", "file_content_reuse": "" });
    vec![
        ("chat/explain_code", "explain_code", code.clone()),
        ("chat/write_tests", "write_tests", code.clone()),
        ("chat/refactor_code", "refactor_code", code.clone()),
        ("chat/fix_code", "fix_code", code),
        (
            "chat/troubleshoot_job",
            "troubleshoot_job",
            json!({ "language_info": "Ruby", "selected_text": "ERROR: rspec failed\n" }),
        ),
        (
            "chat/explain_vulnerability",
            "explain_vulnerability",
            json!({ "identifiers": "CWE-89", "language_info": "Ruby", "title": "SQL injection",
                    "vulnerability_description": "User input reaches a query.", "vulnerability_info": "app/x.rb:3" }),
        ),
        ("chat/summarize_comments", "summarize_comments", json!({ "notes_content": "<comment>Looks good</comment>" })),
        ("chat/issue_reader", "ask_issue", json!({ "input": "What is issue #12 about?", "suggestions": "" })),
        ("chat/epic_reader", "ask_epic", json!({ "input": "Summarize epic &3", "suggestions": "" })),
        ("chat/merge_request_reader", "ask_merge_request", json!({ "input": "Explain !7", "suggestions": "" })),
        ("chat/commit_reader", "ask_commit", json!({ "input": "What changed in abc123?", "suggestions": "" })),
        ("chat/build_reader", "ask_build", json!({ "input": "Why did job 99 fail?", "suggestions": "" })),
        ("chat/work_item_reader", "ask_work_item", json!({ "input": "Read work item #4", "suggestions": "" })),
        (
            "chat/documentation_search",
            "documentation_search",
            json!({ "question": "How do I create a project?", "content_id": "ATTRS",
                    "documents": [{ "id": "user/project/index.md", "content": "Select New project.", "metadata": {} }] }),
        ),
        ("generate_commit_message", "generate_commit_message", json!({ "diff": "-a\n+b\n" })),
        ("summarize_new_merge_request", "summarize_new_merge_request", json!({ "extracted_diff": "-a\n+b\n" })),
        ("summarize_review", "summarize_review", json!({ "draft_notes_content": "Rename x." })),
        (
            "review_merge_request",
            "review_merge_request",
            json!({ "mr_title": "Fix login", "mr_description": "Fixes #12", "diff_lines": "-a\n+b\n",
                    "full_content_section": "", "custom_instructions_section": "", "current_date": "2026-11-22" }),
        ),
        (
            "resolve_vulnerability",
            "resolve_vulnerability",
            json!({ "name": "SQL injection", "filename": "app/x.rb", "identifiers": "CWE-89", "source_code": "q(x)",
                    "vulnerable_code": "q(x)", "vulnerability_description": "Unescaped input." }),
        ),
        ("glab_ask_git_command", "glab_ask_git_command", json!({ "prompt": "undo my last commit" })),
        ("generate_description", "generate_issue_description", json!({ "content": "login broken", "template": "" })),
        ("categorize_question", "duo_chat", json!({ "question": "How do I rebase?", "previous_answer": "" })),
        ("model_configuration/check", "complete_code", json!({})),
    ]
}

fn all_scopes() -> Vec<&'static str> {
    let mut scopes: Vec<&str> = prompts().iter().map(|(_, scope, _)| *scope).collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

fn token_with(scopes: &[&str]) -> String {
    issuer::sign(&issuer::claims(issuer_url(), scopes))
}

fn prompt_server() -> TestServer {
    TestServer::builder().arg("--gitlab-url").arg(issuer_url()).args(["--max-output-tokens", "6"]).start()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_feature_prompt_answers_in_every_shape() {
    let server = prompt_server();
    let token = token_with(&all_scopes());
    // Every prompt in every shape; the same prompt four times in a row is served from the slot's cache.
    for (id, _, inputs) in prompts() {
        for (api, stream) in [("v1", false), ("v2", false), ("v1", true), ("v2", true)] {
            let path = format!("/{api}/prompts/{id}");
            let body = json!({ "inputs": inputs, "prompt_version": "^1.0.0", "stream": stream });
            let r = call(&server, &path, &token, &body).await;
            let status = r.status().as_u16();
            let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
            let text = r.text().await.unwrap();
            assert_eq!(status, 200, "{path}: {text}");
            // A greedy prompt (temperature 0) answers the same every time: that answer has words in it.
            let greedy = id == "model_configuration/check";
            match (api, stream) {
                ("v1", false) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert!(v.is_string(), "{path}: {text}");
                    assert!(!greedy || !v.as_str().unwrap().trim().is_empty(), "{path}: empty greedy answer");
                }
                ("v2", false) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert!(v["content"].is_string(), "{path}: {v}");
                    assert!(
                        !greedy || !v["content"].as_str().unwrap().trim().is_empty(),
                        "{path}: empty greedy answer"
                    );
                    let usage = v["usage"].as_object().unwrap().values().next().unwrap().clone();
                    assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{path}: {v}");
                }
                ("v1", true) => {
                    assert!(content_type.unwrap().starts_with("text/event-stream"));
                    assert!(!text.starts_with("data:"), "raw text: {text:?}");
                }
                _ => {
                    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
                    assert!(lines.iter().all(|l| l["content"].is_string()), "{path}: {text}");
                    assert!(lines.last().unwrap()["usage"].is_object(), "the last chunk carries usage: {text}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_errors_are_4xx_with_gitlab_details() {
    let server = prompt_server();
    let token = token_with(&all_scopes());
    // Missing inputs → 422 naming them; no model call.
    for (id, _, inputs) in prompts() {
        let wanted: Vec<String> =
            inputs.as_object().unwrap().keys().filter(|k| *k != "current_date").cloned().collect();
        if wanted.is_empty() {
            continue;
        }
        let (status, v) = call_json(&server, &format!("/v1/prompts/{id}"), &token, &json!({ "inputs": {} })).await;
        assert_eq!(status, 422, "{id}: {v}");
        let detail = v["detail"].as_str().unwrap();
        let named = detail.strip_prefix("missing prompt inputs: ").unwrap_or_else(|| panic!("{id}: {detail}"));
        assert!(named.split(", ").all(|n| wanted.iter().any(|w| w == n)), "{id}: {detail}");
    }
    let ok = json!({ "inputs": { "diff": "-a\n+b\n" } });
    // Percent-encoded slash, as Rails sends it.
    let (status, v) = call_json(
        &server,
        "/v2/prompts/chat%2Fsummarize_comments",
        &token,
        &json!({
        "inputs": { "notes_content": "ok" } }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // Version constraints against the versions shipped.
    for (version, want) in
        [("^1.0.0", 200), ("1.0.0", 200), ("~1.0", 200), ("^2.0.0", 400), ("~1.1", 400), ("nonsense!!", 400)]
    {
        let mut body = ok.clone();
        body["prompt_version"] = json!(version);
        let (status, v) = call_json(&server, "/v1/prompts/generate_commit_message", &token, &body).await;
        assert_eq!(status, want, "{version}: {v}");
        if want == 400 {
            assert!(v["detail"].as_str().unwrap().contains(version), "{version}: {v}");
        }
    }
    let (status, v) = call_json(
        &server,
        "/v2/prompts/summarize_review",
        &token,
        &json!({
        "inputs": { "draft_notes_content": "x" }, "prompt_version": "^2.0.0" }),
    )
    .await;
    assert_eq!(status, 200, "Rails asks ^2.0.0 for summarize_review: {v}");
    let (status, v) = call_json(&server, "/v1/prompts/no/such_prompt", &token, &ok).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = call_json(&server, "/v1/prompts/generate_commit_message", &token_with(&["duo_chat"]), &ok).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["detail"], "Unauthorized to access 'generate_commit_message'");
    let (status, v) =
        call_json(&server, "/v1/prompts/generate_commit_message", &token, &json!({ "inputs": "diff" })).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "inputs"]), "{v}");
    let (status, v) = call_json(
        &server,
        "/v1/prompts/generate_commit_message",
        &token,
        &json!({
        "inputs": { "diff": "x" }, "model_metadata": { "provider": 7 } }),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("model_metadata"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_failures_map_to_421_429_and_503() {
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).without_default_model().no_wait().start();
    let token = token_with(&["generate_commit_message"]);
    let body = |endpoint: &str| {
        json!({ "inputs": { "diff": "-a\n+b\n" }, "model_metadata": {
            "provider": "openai", "name": "mistral", "endpoint": endpoint, "identifier": "custom_openai/Mistral-7B" } })
    };
    let broken = Upstream::start(vec![Reply::Raw(
        "500 Internal Server Error",
        "",
        r#"{"error":{"message":"the model is on fire"}}"#,
    )])
    .await;
    let (status, v) = call_json(&server, "/v1/prompts/generate_commit_message", &token, &body(&broken.url)).await;
    assert_eq!(status, 421, "{v}");
    assert!(v["detail"].as_str().unwrap().starts_with("500"), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("on fire"), "{v}");

    let limited = Upstream::failing("429 Too Many Requests", "retry-after: 7\r\n").await;
    let r = call(&server, "/v2/prompts/generate_commit_message", &token, &body(&limited.url)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");

    let (status, v) =
        call_json(&server, "/v1/prompts/generate_commit_message", &token, &body("http://127.0.0.1:1/v1")).await;
    assert_eq!((status, v), (503, json!({ "detail": "Inference failed" })));
}

#[tokio::test(flavor = "multi_thread")]
async fn model_configuration_check_answers_within_three_seconds_of_start() {
    // Not waiting for readiness: GitLab's "Test connection" may come while the model still loads.
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).no_wait().start();
    let token = token_with(&["complete_code"]);
    let started = Instant::now();
    let body = json!({ "inputs": {}, "model_metadata": { "provider": "openai", "name": "general",
                       "identifier": "custom_openai/gemma-3-270m-q4_k_m" } });
    let (status, v) = call_json(&server, "/v1/prompts/model_configuration%2Fcheck", &token, &body).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "{v}");
    assert!(v.is_string(), "{v}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}; server log:\n{}", server.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_search_is_empty_until_docs_are_imported() {
    let server = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).without_default_model().no_wait().start();
    let token = token_with(&["documentation_search"]);
    let search = |query: &str| {
        json!({ "type": "search-docs", "metadata": { "source": "GitLab EE", "version": "18.9.0" },
                "payload": { "query": query, "page_size": 2 } })
    };
    let (status, v) = call_json(&server, "/v1/search/gitlab-docs", &token, &search("create a project")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["response"]["results"], json!([]));
    assert_eq!(v["metadata"]["provider"], "sqlite");

    let docs = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let p = docs.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "user/project/index.md",
        "# Create a project\n\nSelect **New project** on the left sidebar to create a project.\n",
    );
    write("ci/runners/index.md", "# Runners\n\nRunners execute CI/CD jobs. Register a runner with a token.\n");
    write(
        "user/project/merge_requests/index.md",
        "# Merge requests\n\nA merge request proposes changes to a branch.\n",
    );
    write("administration/backup.md", "# Back up GitLab\n\nRun the backup Rake task nightly.\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["docs", "import"])
        .arg(docs.path())
        .arg("--data-dir")
        .arg(server.data_dir())
        .env("HOME", docs.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 4 files"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    for (query, first) in [
        ("how do I register a runner?", "doc/ci/runners/index.md"),
        ("create a project", "doc/user/project/index.md"),
        ("What is a merge request", "doc/user/project/merge_requests/index.md"),
        ("backup", "doc/administration/backup.md"),
    ] {
        let (status, v) = call_json(&server, "/v1/search/gitlab-docs", &token, &search(query)).await;
        assert_eq!(status, 200, "{v}");
        let results = v["response"]["results"].as_array().unwrap();
        assert!(!results.is_empty() && results.len() <= 2, "{query}: {v}");
        assert_eq!(results[0]["id"], first, "{query}: {v}");
        assert_eq!(results[0]["metadata"]["filename"], first);
        assert!(results[0]["content"].as_str().unwrap().len() > 10);
    }
    // User text is never query syntax.
    let (status, v) = call_json(&server, "/v1/search/gitlab-docs", &token, &search("\"NEAR(* AND -:^")).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) =
        call_json(&server, "/v1/search/gitlab-docs", &token, &json!({ "payload": { "query": "x", "page_size": 50 } }))
            .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "payload", "page_size"]), "{v}");
    let (status, _) = call_json(&server, "/v1/search/gitlab-docs", &token_with(&["duo_chat"]), &search("runner")).await;
    assert_eq!(status, 403);
}
