//! The server around the API: health and readiness, request ids, TLS, config precedence, bad model files, shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::{TestServer, client, model_path, sse_payloads, write_file};

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_ready() {
    let server = TestServer::start();
    let r = client().get(server.url("/monitoring/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    let r = client().get(server.url("/monitoring/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Unauthenticated: names, never the model file's path.
    let path = model_path().display().to_string();
    let ready = r.text().await.unwrap();
    let metrics = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(ready.contains("\"name\"") && metrics.contains("model=\""), "{ready}\n{metrics}");
    assert!(!ready.contains(&path) && !metrics.contains(&path), "{ready}\n{metrics}");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_at_the_shutdown_deadline_ends_with_finish_reason_cancelled() {
    let mut server = TestServer::builder().args(["--shutdown-timeout-secs", "2", "--parallel", "1"]).start();
    // ~900 tokens take far longer than the 2 s deadline on this model and one thread.
    let r = client()
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true, "stream": true, "temperature": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let signalled = Instant::now();
    let reader = tokio::spawn(async move {
        let mut text = String::from_utf8_lossy(&first).into_owned();
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("the stream was cut instead of ended")));
        }
        (text, signalled.elapsed())
    });
    let status = tokio::task::block_in_place(|| server.terminate());
    let exited = signalled.elapsed();
    assert!(status.success(), "{status:?}\n{}", server.logs());
    let (text, ended) = reader.await.unwrap();
    // The stream is cut 0.5 s before the deadline (a quarter of it), so its last frames go out in
    // time; the process then exits (models freed, logs flushed), which a loaded machine slows.
    assert!(ended < Duration::from_millis(2500), "the stream ended {ended:?} after the signal; the deadline is 2 s");
    assert!(exited < Duration::from_secs(5), "exit took {exited:?}");
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"), "{text}");
    let last: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "cancelled", "{text}");
    let texts = payloads[..payloads.len() - 2].len();
    assert!(texts > 1 && texts < 900, "{texts} text chunks before the cut");
    assert!(server.logs().contains("shutdown deadline reached; generation cancelled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_only_once_the_default_model_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The admin's default is a model loaded after the boot config's one.
    let out = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["model", "add", "--name", "second", "--default", "--data-dir"])
        .arg(&data)
        .arg(model_path())
        .env_clear()
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut server =
        TestServer::builder().data_dir(&data).env("NOTIFY_SOCKET", socket_path.to_str().unwrap()).no_wait().start();
    let message = tokio::task::block_in_place(|| {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("no notification from airgate");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    assert_eq!(message, "READY=1\n");
    // Checked right after the notification: the default model was ready before it was sent.
    let r = client().get(server.url("/monitoring/ready")).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "READY=1 came before the default model was ready: {v}");
    let default = v["models"].as_array().unwrap().iter().find(|m| m["default"] == true).unwrap().clone();
    assert_eq!(default["name"], "second", "{v}");
    // Exactly one READY; STOPPING=1 at shutdown.
    tokio::task::block_in_place(|| server.terminate());
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn boot_config_models_are_recorded_with_sha256_and_parameters() {
    const SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
    let server = TestServer::builder().args(["--ctx-size", "768", "--parallel", "3"]).start();
    let admin = crate::admin::set_up(&server).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let model = loop {
        let list = admin.get("/api/admin/models").await.1;
        let m = list["models"].as_array().unwrap().iter().find(|m| m["name"] == "gemma-3-270m-q4_k_m").unwrap().clone();
        if !m["sha256"].is_null() || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(model["sha256"], SHA256, "{model}");
    assert_eq!(
        (model["ctx_size"].as_u64(), model["parallel"].as_u64(), model["threads"].as_u64()),
        (Some(768), Some(3), Some(1)),
        "{model}"
    );
    // Hashed on a thread of its own after the model was ready, not before.
    let logs = server.logs();
    let at = |needle: &str| logs.find(needle).unwrap_or_else(|| panic!("no {needle:?} in the log:\n{logs}"));
    assert!(at("\"model loaded\"") < at("\"model file hashed\""));
}

#[test]
fn serves_without_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "airgate.toml", b"");
    let mut child = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .env_clear()
        .env("HOME", dir.path())
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut seen = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["message"] == "listening"
        {
            addr = v["addr"].as_str().map(str::to_string);
            break;
        }
        seen.push(line);
    }
    let Some(addr) = addr else {
        let _ = child.kill();
        panic!("`airgate` without a subcommand did not serve:\n{}", seen.join("\n"));
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (health, models) = rt.block_on(async {
        let health = client().get(format!("http://{addr}/monitoring/healthz")).send().await.unwrap().status();
        let models: Value =
            client().get(format!("http://{addr}/v1/models")).send().await.unwrap().json().await.unwrap();
        (health, models)
    });
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert_eq!(health, 200);
    assert_eq!(models["object"], "list", "{models}");
    assert!(status.success(), "{status:?}");
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
