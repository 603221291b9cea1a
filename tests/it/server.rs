//! The server around the API: health and readiness, request ids, TLS, config precedence, bad model files, shutdown.

use serde_json::{Value, json};

use crate::support::{TestServer, client, model_path, write_file};

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_ready() {
    let server = TestServer::start();
    let r = client().get(server.url("/monitoring/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    let r = client().get(server.url("/monitoring/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn not_ready_without_a_model() {
    let server = TestServer::builder().without_default_model().no_wait().start();
    assert_eq!(client().get(server.url("/monitoring/healthz")).send().await.unwrap().status(), 200);
    let r = client().get(server.url("/monitoring/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(v["reason"].as_str().unwrap().contains("no model"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_id_is_echoed_or_generated_and_logged() {
    let server = TestServer::start();
    let r = client().get(server.url("/v1/models")).header("X-Request-ID", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = client().get(server.url("/monitoring/healthz")).send().await.unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(generated.len() >= 16, "{generated}");
    // Also on errors.
    let r = client().get(server.url("/no/such/route")).header("X-Request-ID", "err-9").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "err-9");
    // The access log line carries the correlation id.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = server.logs();
    let line =
        logs.lines().find(|l| l.contains("abc-123")).unwrap_or_else(|| panic!("no log line with the id:\n{logs}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["span"]["correlation_id"], "abc-123", "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_tls_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = write_file(dir.path(), "cert.pem", cert.cert.pem().as_bytes());
    let key_path = write_file(dir.path(), "key.pem", cert.signing_key.serialize_pem().as_bytes());
    let server = TestServer::builder()
        .tls()
        .arg("--tls-cert")
        .arg(cert_path.to_str().unwrap())
        .arg("--tls-key")
        .arg(key_path.to_str().unwrap())
        .start();
    assert!(server.base.starts_with("https://"));
    let _ = client();
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = trusted
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A client that does not trust the certificate is refused.
    let plain = reqwest::Client::new().get(server.url("/monitoring/healthz")).send().await;
    assert!(plain.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn config_precedence_file_then_env_then_flags() {
    let model = model_path();
    let file = format!(
        "models = [\"{}:from-file\"]\nctx_size = 512\nparallel = 1\nlisten = \"127.0.0.1:0\"\n",
        model.display()
    );
    // File alone: its model name.
    let server = TestServer::builder().without_default_model().config(&file).start();
    let v: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "from-file", "{v}");
    drop(server);
    // Env beats the file.
    let server = TestServer::builder()
        .without_default_model()
        .config(&file)
        .env("AIRGATE_MODELS", &format!("{}:from-env", model.display()))
        .start();
    let v: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "from-env", "{v}");
    drop(server);
    // Flags beat env.
    let server = TestServer::builder()
        .without_default_model()
        .config(&file)
        .env("AIRGATE_MODELS", &format!("{}:from-env", model.display()))
        .arg("--model")
        .arg(format!("{}:from-flag", model.display()))
        .start();
    let v: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "from-flag", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_config_key_stops_startup_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "airgate.toml", b"listen = \"127.0.0.1:0\"\nlisten_port = 5\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["config", "check"])
        .arg(&config)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listen_port"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_gguf_is_rejected_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(u64::MAX.to_le_bytes());
    bytes.extend(5u64.to_le_bytes());
    let bad = write_file(dir.path(), "broken.gguf", &bytes);
    let not_gguf = write_file(dir.path(), "notes.gguf", b"these are not weights");
    let server = TestServer::builder()
        .arg("--model")
        .arg(bad.to_str().unwrap())
        .arg("--model")
        .arg(not_gguf.to_str().unwrap())
        .start();
    let v: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    let models = v["data"].as_array().unwrap();
    let status = |name: &str| models.iter().find(|m| m["id"] == name).unwrap()["status"].clone();
    // The loader runs in order; wait until the broken ones are judged.
    let mut tries = 0;
    let mut statuses = (status("broken"), status("notes"));
    while (statuses.0["state"] == "loading" || statuses.1["state"] == "loading") && tries < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let v: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
        let models = v["data"].as_array().unwrap().clone();
        let s = |name: &str| models.iter().find(|m| m["id"] == name).unwrap()["status"].clone();
        statuses = (s("broken"), s("notes"));
        tries += 1;
    }
    for (name, st) in [("broken", &statuses.0), ("notes", &statuses.1)] {
        assert_eq!(st["state"], "failed", "{name}: {st}");
        let detail = st["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("{name}.gguf")), "{name}: {detail}");
    }
    let r = client()
        .post(server.url("/v1/completions"))
        .json(&json!({"model": "broken", "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = client()
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": "The capital of France is", "max_tokens": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_an_in_flight_stream() {
    let mut server = TestServer::start();
    let url = server.url("/v1/completions");
    let stream = tokio::spawn(async move {
        let r = client()
            .post(url)
            .json(&json!({"prompt": "Once upon a time", "max_tokens": 40, "ignore_eos": true, "stream": true, "temperature": 0}))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = tokio::task::block_in_place(|| server.terminate());
    assert!(status.success(), "{status:?}\n{}", server.logs());
    let body = stream.await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "stream was cut: {body}");
}

#[test]
fn version_names_llama_cpp() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate")).arg("version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("airgate ") && text.contains("llama.cpp"), "{text}");
}

#[test]
fn model_inspect_reports_the_default_model() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["model", "inspect", "--json"])
        .arg(model_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "gemma3");
    assert_eq!(v["quantization"], "Q4_K_M");
    assert_eq!(v["context_length"], "32768");
    // The default model is a base model: no chat template and no FIM tokens in its GGUF.
    assert_eq!(v["chat_template"], "absent");
    assert_eq!(v["fim_tokens"], "absent");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["model", "inspect", "/etc/hostname"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/etc/hostname"));
}

#[test]
fn config_show_redacts_api_keys() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["config", "show", "--config", "/nonexistent-is-an-error.toml"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success(), "an explicitly named missing config file is an error");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["config", "show", "--api-key", "very-secret-key-123456"])
        .env_clear()
        .env("AIGW_GITLAB_URL", "https://gitlab.example.com/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("very-secret-key-123456"), "{text}");
    assert!(text.contains("https://gitlab.example.com"), "{text}");
}
