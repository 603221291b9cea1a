//! The admin API's models: import from a path with SHA-256 checks and progress, parameters and reload, unload, "try it", routing to the model.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::{Admin, set_up};
use crate::support::{TestServer, client, model_path, retry_sampled, sse_payloads};

const SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Polls an import job until it ends; returns its last state.
async fn wait_job(admin: &Admin, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen_progress = false;
    loop {
        let (s, v) = admin.get(&format!("/api/admin/jobs/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["bytes_done"].as_u64().unwrap() <= v["bytes_total"].as_u64().unwrap(), "{v}");
        seen_progress |= v["bytes_done"].as_u64().unwrap() > 0;
        if v["state"] != "running" {
            assert!(seen_progress || v["state"] == "failed", "no progress was ever reported: {v}");
            return v;
        }
        assert!(Instant::now() < deadline, "the import never ended: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn model<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["models"].as_array().unwrap().iter().find(|m| m["name"] == name)
}

async fn slots_metric(server: &TestServer, name: &str) -> Option<f64> {
    let text = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("airgate_slots{{model=\"{name}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn import_reload_try_unload_and_route() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    let admin = set_up(&server).await;
    let usb = tempfile::tempdir().unwrap();
    let source = usb.path().join("gemma-usb.gguf");
    std::fs::copy(model_path(), &source).unwrap();
    let garbage = usb.path().join("broken.gguf");
    std::fs::write(&garbage, b"GGUF but not really a model file at all").unwrap();

    // Bad input: relative path, an invalid GGUF, a malformed checksum: 400 naming the field; nothing registered.
    let (s, v) = admin.post("/api/admin/models/import", json!({"path": "models/x.gguf"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["path"].is_string(), "{v}");
    let (s, v) = admin.post("/api/admin/models/import", json!({"path": garbage})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["fields"]["path"].as_str().unwrap().contains("GGUF"), "{v}");
    let (s, v) = admin.post("/api/admin/models/import", json!({"path": source, "sha256": "abc"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["sha256"].is_string());

    // A wrong checksum fails the job after hashing: nothing registered, no file left behind.
    let (s, v) = admin
        .post("/api/admin/models/import", json!({"path": source, "name": "gemma", "sha256": "0".repeat(64)}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&admin, v["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "failed");
    assert!(job["message"].as_str().unwrap().contains("SHA-256 mismatch"), "{job}");
    let list = admin.get("/api/admin/models").await.1;
    assert!(model(&list, "gemma").is_none(), "{list}");
    let models_dir = std::path::PathBuf::from(list["models_dir"].as_str().unwrap());
    assert!(std::fs::read_dir(&models_dir).map_or(true, |d| d.count() == 0), "a failed import left files");

    // The right checksum: copied, registered, loaded.
    let (s, v) =
        admin.post("/api/admin/models/import", json!({"path": source, "name": "gemma", "sha256": SHA256})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = wait_job(&admin, v["job"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
    let list = admin.get("/api/admin/models").await.1;
    let m = model(&list, "gemma").unwrap();
    assert_eq!((m["status"].as_str(), m["sha256"].as_str()), (Some("ready"), Some(SHA256)), "{m}");
    assert!(m["path"].as_str().unwrap().starts_with(models_dir.to_str().unwrap()));
    assert_eq!(list["files"][0]["registered_as"], "gemma");
    let (s, _) = admin.post("/api/admin/models/import", json!({"path": source, "name": "gemma"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "names are unique");

    // New parameters reload the model without a restart.
    let (s, v) = admin.put("/api/admin/models/gemma", json!({"parallel": 0, "family": "nope"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["fields"]["parallel"].is_string() && v["error"]["fields"]["family"].is_string(), "{v}");
    let (s, v) =
        admin.put("/api/admin/models/gemma", json!({"parallel": 3, "ctx_size": 1024, "family": "general"})).await;
    assert_eq!((s, v["status"].as_str(), v["parallel"].as_u64()), (StatusCode::OK, Some("ready"), Some(3)), "{v}");
    assert_eq!(slots_metric(&server, "gemma").await, Some(3.0));

    // "Try it" streams a reply. It samples (temperature 0.7, a fresh seed, no way to ask otherwise),
    // and a sample may end at once: up to three tries for one with text.
    let frames = retry_sampled(
        |frames: &Vec<Value>| frames.iter().any(|f| f["text"].is_string()),
        || async {
            let resp = client()
                .post(server.url("/api/admin/models/gemma/try"))
                .header("cookie", admin.cookie.clone().unwrap())
                .header("x-csrf-token", admin.csrf.clone().unwrap())
                .json(&json!({"prompt": "Say hello.", "max_tokens": 8}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
            let body = resp.text().await.unwrap();
            sse_payloads(&body).iter().map(|f| serde_json::from_str(f).unwrap()).collect::<Vec<Value>>()
        },
    )
    .await;
    assert!(frames.iter().any(|f| f["text"].is_string()), "{frames:?}");
    assert_eq!(frames.last().unwrap()["done"], true, "{frames:?}");

    // Route a feature to it, make it the default, then unload: /v1 no longer finds it until loaded again.
    assert_eq!(
        admin.put("/api/admin/features/duo_chat", json!({"kind": "local", "model": "gemma"})).await.0,
        StatusCode::OK
    );
    assert_eq!(admin.post("/api/admin/models/gemma/default", json!({})).await.0, StatusCode::OK);
    assert_eq!(admin.delete("/api/admin/models/gemma").await, StatusCode::CONFLICT, "still routed to");
    let (s, v) = admin.post("/api/admin/models/gemma/unload", json!({})).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("unloaded")), "{v}");
    let chat = json!({"model": "gemma", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4});
    let r = client().post(server.url("/v1/chat/completions")).json(&chat).send().await.unwrap();
    // /v1 knows only loaded models (as /v1/models lists them): OpenAI's "model_not_found".
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "model_not_found");
    let (s, v) = admin.post("/api/admin/models/gemma/load", json!({})).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")), "{v}");
    let r = client().post(server.url("/v1/chat/completions")).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A model loaded from the admin UI loads again after a restart, with its parameters.
#[tokio::test]
async fn loaded_models_and_their_parameters_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::builder().without_default_model().no_wait().data_dir(&data).start();
    let admin = set_up(&server).await;
    let (s, v) = admin.post("/api/admin/models/import", json!({"path": model_path(), "name": "g"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(wait_job(&admin, v["job"].as_str().unwrap()).await["state"], "done");
    assert_eq!(admin.put("/api/admin/models/g", json!({"parallel": 1})).await.0, StatusCode::OK);
    server.terminate();
    let server = TestServer::builder().without_default_model().data_dir(&data).start();
    assert_eq!(slots_metric(&server, "g").await, Some(1.0), "loaded at start with its own slot count");
}

/// The dashboard, the request log (recent and live), the GitLab page and diagnostics, against the real model.
#[tokio::test]
async fn dashboard_logs_gitlab_page_and_diagnostics() {
    let server = TestServer::builder().args(["--auth-bypass", "--max-output-tokens", "8"]).start();
    let admin = set_up(&server).await;

    // A live subscriber sees the next request as it finishes.
    let stream = client()
        .get(server.url("/api/admin/logs/stream?correlation_id=trace-me"))
        .header("cookie", admin.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    // Greedy, so the answer has tokens (a sample may end at once: tokens_out 0).
    let body = json!({"model": "gemma-3-270m-q4_k_m", "messages": [{"role": "user", "content": "Hello"}],
                      "max_tokens": 4, "temperature": 0});
    let r = client()
        .post(server.url("/v1/chat/completions"))
        .header("x-request-id", "trace-me-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let _ = r.text().await.unwrap();
    let mut chunks = stream.bytes_stream();
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        let mut text = String::new();
        while let Some(chunk) = chunks.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if let Some(line) = text.lines().find(|l| l.starts_with("data: ")) {
                return line.trim_start_matches("data: ").to_string();
            }
        }
        panic!("the log stream ended");
    })
    .await
    .expect("a live log entry within 10 s");
    let entry: Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(entry["correlation_id"], "trace-me-1");
    assert_eq!(entry["status"], 200);
    assert!(entry["model"].as_str().unwrap().contains("gemma"), "{entry}");
    assert!(entry["tokens_in"].as_u64().unwrap() > 0 && entry["tokens_out"].as_u64().unwrap() > 0, "{entry}");

    // A failed request carries its message; the filter finds by correlation id.
    let bad = client()
        .post(server.url("/v1/chat/completions"))
        .header("x-request-id", "bad-1")
        .json(&json!({"messages": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, logs) = admin.get("/api/admin/logs?correlation_id=bad-1").await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0]["message"].as_str().unwrap().contains("messages"), "{:?}", logs[0]);

    let (s, dash) = admin.get("/api/admin/dashboard").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(dash["ready"], true, "{dash}");
    assert!(dash["llama_cpp"].as_str().unwrap().contains("llama-cpp-sys-2"), "{dash}");
    assert!(dash["models"][0]["memory_bytes"].as_u64().unwrap() > 100_000_000);
    let features = dash["features"].as_array().unwrap();
    assert!(
        features.iter().any(|f| f["requests"].as_u64().unwrap() >= 1 && f["errors"].as_u64().unwrap() >= 1),
        "{dash}"
    );
    assert!(dash["recent_errors"].as_array().unwrap().iter().any(|e| e["correlation_id"] == "bad-1"));

    let (_, gitlab) = admin.get("/api/admin/gitlab").await;
    let own = gitlab["airgate_url"].as_str().unwrap().to_string();
    assert_eq!(own, server.base);
    assert!(gitlab["gitlab_rb"].as_str().unwrap().contains(&format!("'AI_GATEWAY_URL' => '{own}'")));
    assert!(gitlab["helm"].as_str().unwrap().contains(&format!("AI_GATEWAY_URL: {own}")));
    let row = &gitlab["self_hosted_models"][0];
    assert_eq!(row["endpoint"], format!("{own}/v1"));
    assert!(row["identifier"].as_str().unwrap().starts_with("custom_openai/"));

    // Expanded logging is a switch that sticks.
    assert_eq!(admin.put("/api/admin/logging", json!({"expanded": true})).await.1["expanded"], true);
    assert_eq!(admin.get("/api/admin/logging").await.1["expanded"], true);

    // Diagnostics: every feature routes to the default model and answers; a disabled one is skipped.
    assert_eq!(
        admin.put("/api/admin/features/review_merge_request", json!({"kind": "disabled"})).await.0,
        StatusCode::OK
    );
    let (s, diag) = admin.post("/api/admin/diagnostics", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let results = diag["results"].as_array().unwrap();
    assert_eq!(results.len(), 19, "{diag}");
    assert_eq!(diag["ok"], true, "{diag}");
    // The default model does not embed and nobody routed code embeddings: noted, not failed.
    let embeddings = results.iter().find(|r| r["feature"] == "embeddings_code").unwrap();
    assert!(embeddings["message"].as_str().unwrap().starts_with("not checked"), "{embeddings}");
    let review = results.iter().find(|r| r["feature"] == "review_merge_request").unwrap();
    assert_eq!(review["target"], "disabled");
    // Its checks are not in the request log (only requests that came in over HTTP are).
    let (_, logs) = admin.get("/api/admin/logs").await;
    assert!(logs.as_array().unwrap().iter().all(|e| !e["path"].as_str().unwrap().starts_with("/api/admin")));
}
