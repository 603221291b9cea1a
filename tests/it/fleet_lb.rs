//! A fleet on loopback (`make test-fleet`): three airgates applying one file behind Debian's
//! HAProxy, llama.cpp's own `llama-server` as the remote upstream for chat. GitLab-shaped requests
//! are answered whichever replica gets them, a killed replica is routed around with no failure
//! beyond the request in flight on it, and a user token minted by one replica works on another.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::gitlab::{call, call_json, completion_body, issuer_url};
use crate::issuer;
use crate::support::{TestServer, client, model_path};

const API_KEY: &str = "fleet-lb-api-key-0123456789";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_for(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if client().get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not come up at {url}");
}

/// llama.cpp's server on the default model (`AIRGATE_LLAMA_SERVER`, built by `make test-fleet`).
async fn llama_server() -> (Proc, String) {
    let bin = std::env::var("AIRGATE_LLAMA_SERVER").expect("AIRGATE_LLAMA_SERVER: run `make test-fleet`");
    let port = free_port();
    let child = Command::new(bin)
        .arg("-m")
        .arg(model_path())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-c", "4096", "-np", "2", "-t", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start llama-server");
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/health"), "llama-server").await;
    (Proc(child), base)
}

/// HAProxy in front of `backends`, checking `/monitoring/ready` every 300 ms.
async fn haproxy(dir: &Path, backends: &[&TestServer]) -> (Proc, String) {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, s)| format!("  server r{i} {} check\n", s.base.trim_start_matches("http://")))
        .collect();
    let cfg = format!(
        "global\n  maxconn 256\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 120s\n  timeout server 120s\n  retries 3\n  option redispatch\n\
         frontend airgate\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /monitoring/ready\n  http-check expect status 200\n\
         \x20 default-server inter 300ms fall 2 rise 2\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy (installed by `make test-fleet`)");
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/monitoring/ready"), "haproxy").await;
    (Proc(child), base)
}

/// The fleet's file: the local default model for completion, chat on the upstream, a shared key.
fn fleet_file(dir: &Path, upstream: &str, signing_key: &Path) -> PathBuf {
    let digest = hex::encode(Sha256::digest(API_KEY.as_bytes()));
    let text = format!(
        r#"gitlab_url = "{}"
jwt_signing_key = "{}"

[settings]
default_model = "gemma"

[[models]]
name = "gemma"
path = "{}"

[[endpoints]]
name = "llama"
url = "{upstream}/v1"
model = "gemma"
family = "general"

[features]
code_completions = {{ kind = "local", model = "gemma" }}
duo_chat = {{ kind = "remote", endpoint = "llama" }}

[[api_keys]]
name = "fleet"
sha256 = "{digest}"
"#,
        issuer_url(),
        signing_key.display(),
        std::fs::canonicalize(model_path()).unwrap().display()
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A request through the balancer as GitLab would send it: (status, body).
async fn completion(base: &str, token: &str) -> (u16, Value) {
    let mut req = client().post(format!("{base}/v2/code/completions")).json(&completion_body("codegemma"));
    for (k, v) in issuer::headers(token) {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, json!(e.to_string())),
    }
}

fn served(server: &TestServer, path: &str) -> usize {
    server.logs().lines().filter(|l| l.contains("access") && l.contains(path)).count()
}

#[tokio::test]
#[ignore = "needs HAProxy and llama-server: `make test-fleet`"]
async fn three_replicas_behind_haproxy_serve_route_around_a_dead_one_and_share_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let (_upstream, upstream) = llama_server().await;
    let maker = TestServer::builder().without_default_model().no_wait().start();
    assert!(maker.log_appears("listening", Duration::from_secs(30)));
    let key = tmp.path().join("shared.pem");
    std::fs::copy(maker.data_dir().join("jwt_signing_key.pem"), &key).unwrap();
    drop(maker);
    let file = fleet_file(tmp.path(), &upstream, &key);
    let replica = || TestServer::builder().args(["--apply", file.to_str().unwrap(), "--ctx-size", "2048"]).start();
    let (a, b, c) = (replica(), replica(), replica());
    let (_lb, lb) = haproxy(tmp.path(), &[&a, &b, &c]).await;
    let token = issuer::token(issuer_url());

    // Completion (local model) and chat (remote upstream) through the balancer, on every replica.
    for _ in 0..6 {
        let (status, body) = completion(&lb, &token).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["choices"].is_array(), "{body}");
    }
    for s in [&a, &b, &c] {
        assert!(served(s, "/v2/code/completions") >= 1, "round robin reaches every replica");
    }
    let chat = json!({"messages": [{"role": "user", "content": "What is a merge request?"}]});
    let mut req = client().post(format!("{lb}/v2/chat/agent")).json(&chat);
    for (k, v) in issuer::headers(&token) {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.lines().last().unwrap_or_default().contains("usage"), "{text}");
    let openai = client()
        .post(format!("{lb}/v1/chat/completions"))
        .bearer_auth(API_KEY)
        .json(&json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "temperature": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 200, "the applied API key guards /v1 on every replica");

    // A user token minted by replica A is accepted by replica C (the shared signing key).
    let (status, minted) = call_json(&a, "/v1/code/user_access_token", &token, &json!({})).await;
    assert_eq!(status, 200, "{minted}");
    let user_token = minted["token"].as_str().unwrap();
    let r = call(&c, "/v2/code/completions", user_token, &completion_body("codegemma")).await;
    assert_eq!(r.status(), 200);

    // Kill replica B in the middle of a run: the balancer routes around it.
    let mut b = b;
    let (mut failures, mut answered) = (0, 0);
    for i in 0..24 {
        if i == 4 {
            b.kill();
        }
        let (status, body) = completion(&lb, &token).await;
        if status == 200 {
            answered += 1;
        } else {
            failures += 1;
            eprintln!("request {i} failed: {status} {body}");
        }
    }
    eprintln!("fleet: replica killed after request 4 of 24: {answered} answered, {failures} failed");
    assert!(failures <= 1, "{failures} failed requests; only the one in flight on the killed replica may fail");
    assert!(answered >= 23);
    let before = (served(&a, "/v2/code/completions"), served(&c, "/v2/code/completions"));
    for _ in 0..4 {
        assert_eq!(completion(&lb, &token).await.0, 200);
    }
    let after = (served(&a, "/v2/code/completions"), served(&c, "/v2/code/completions"));
    assert_eq!(after.0 + after.1, before.0 + before.1 + 4, "the survivors took every request");
}
