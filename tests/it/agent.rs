//! The GitLab Duo Agent Platform service (gRPC) against the real binary and the default model, driven by a Python `grpcio` client that plays Workhorse, GitLab and the IDE (`tests/python/dws_client.py`).

use std::path::PathBuf;

use serde_json::json;

use crate::issuer;
use crate::support::TestServer;

pub fn python() -> PathBuf {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "python with grpcio missing at {}: run `make test`", python.display());
    python
}

/// Tokens as GitLab Rails signs them for the Agent Platform (its audience among others), and broken ones.
fn tokens(issuer: &str) -> serde_json::Value {
    let with = |aud: serde_json::Value, scopes: &[&str]| {
        let mut claims = issuer::claims(issuer, scopes);
        claims["aud"] = aud;
        issuer::sign(&claims)
    };
    let both = json!(["gitlab-ai-gateway", "gitlab-duo-workflow-service"]);
    json!({
        "valid": with(both.clone(), &["duo_chat", "duo_agent_platform", "documentation_search"]),
        "no_scope": with(both, &["complete_code"]),
        "wrong_audience": with(json!(["gitlab-ai-gateway"]), &["duo_chat", "duo_agent_platform"]),
        "instance_id": issuer::INSTANCE_ID,
        "user_id": issuer::USER_ID,
        "realm": issuer::REALM,
    })
}

fn server(gitlab: &str, args: &[&str]) -> TestServer {
    let mut builder = TestServer::builder().arg("--gitlab-url").arg(gitlab);
    for a in args {
        builder = builder.arg(*a);
    }
    builder.start()
}

/// The client process for `only` (comma-separated scenarios); its token file lives in `dir`.
fn client(server: &TestServer, gitlab: &str, dir: &std::path::Path, only: &str) -> std::process::Command {
    let token_file = dir.join("tokens.json");
    std::fs::write(&token_file, tokens(gitlab).to_string()).unwrap();
    let mut cmd = std::process::Command::new(python());
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dws_client.py"))
        .args(["--target", &server.dws_addr()])
        .args(["--proto", concat!(env!("CARGO_MANIFEST_DIR"), "/proto/duo_workflow.proto")])
        .arg("--tokens")
        .arg(&token_file)
        .args(["--model", "gemma-3-270m-q4_k_m", "--cap", "2", "--only", only]);
    cmd
}

/// Runs the client's scenarios (all, or `only`) against a server started with `args`.
fn run_client(only: &str, args: &[&str]) {
    let gitlab = issuer::start();
    let server = server(&gitlab, args);
    let dir = tempfile::tempdir().unwrap();
    let out = client(&server, &gitlab, dir.path(), only).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // Sessions carry their workflow and correlation ids into the log.
    if only.contains("one_turn") {
        assert!(server.logs().contains("\"workflow_id\":\"1001\""), "no workflow id in the log");
        assert!(server.logs().contains("corr-test-1"), "no correlation id in the log");
    }
}

/// Health (as GitLab's troubleshooting script checks it), authentication failures, the unary calls,
/// bad starts, the session cap and client keepalive pings: no model call.
#[test]
fn service_contract() {
    run_client("health,auth,unary,bad_starts,cap,keepalive", &["--agent-max-sessions", "2"]);
}

/// Agentic Chat turns on the default model: one turn; a turn where the model must read a file the
/// client serves (forced by `agent.first_tool_choice`, since the 270M base model rarely calls tools
/// on its own) and then answers; a second turn resumed from the checkpoint GitLab stored; a tool
/// approval round trip; stops mid-run.
#[test]
fn agentic_chat_sessions() {
    run_client(
        "one_turn,tool_turn,approval,stops",
        &["--agent-first-tool-choice", "read_file", "--ctx-size", "8192", "--agent-max-tokens", "48"],
    );
}

/// The admin UI's Agent Platform page lists a live session (workflow, user, flow, status, model) and
/// stops it; the client sees a user stop; `/metrics` counts the session and its flow.
#[tokio::test(flavor = "multi_thread")]
async fn admin_lists_and_stops_live_sessions() {
    let gitlab = issuer::start();
    let server =
        server(&gitlab, &["--agent-first-tool-choice", "read_file", "--ctx-size", "8192", "--agent-max-tokens", "32"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = client(&server, &gitlab, dir.path(), "admin_hold")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The client prints HOLDING once the session waits for the IDE to read a file.
    let stdout = child.stdout.take().unwrap();
    let (holding_tx, holding_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "HOLDING" {
                let _ = holding_tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    let admin = crate::admin::set_up(&server).await;

    let (status, page) = admin.get("/api/admin/agent").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["tls"], false);
    assert_eq!(page["max_sessions"], 32);
    let port = server.dws_addr().rsplit(':').next().unwrap().to_string();
    assert!(page["gitlab_setting"].as_str().unwrap().ends_with(&format!(":{port}")), "{page}");
    let (_, gitlab_page) = admin.get("/api/admin/gitlab").await;
    assert!(gitlab_page["agent_platform_url"].as_str().unwrap().ends_with(&format!(":{port}")), "{gitlab_page}");
    assert!(gitlab_page["gitlab_rb"].as_str().unwrap().contains("'DUO_AGENT_PLATFORM_SERVICE_SECURE' => 'false'"));

    // The client's session, once it waits for the IDE.
    let held = tokio::task::spawn_blocking(move || holding_rx.recv_timeout(std::time::Duration::from_secs(180)))
        .await
        .unwrap();
    assert!(held.is_ok(), "the client never held a file read; log:\n{}", server.logs());
    let (_, page) = admin.get("/api/admin/agent").await;
    let session = page["sessions"][0].clone();
    assert_eq!(session["status"], "RUNNING", "{page}");
    assert_eq!(page["active"], 1);
    assert_eq!(session["workflow_id"], "3001");
    assert_eq!(session["user"], issuer::USER_ID);
    assert_eq!(session["flow"], "chat");
    assert_eq!(session["model"], "gemma-3-270m-q4_k_m");

    let (status, _) = admin.post("/api/admin/agent/sessions/999999/stop", json!({})).await;
    assert_eq!(status, 404);
    let id = session["id"].as_u64().unwrap();
    let (status, body) = admin.post(&format!("/api/admin/agent/sessions/{id}/stop"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workflow_id"], "3001");

    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stdout = reader.join().unwrap();
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "stdout:\n{stdout}\nstderr:\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    let (_, page) = admin.get("/api/admin/agent").await;
    assert_eq!(page["sessions"], json!([]));
    let metrics = crate::support::client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("airgate_agent_sessions_total{flow=\"chat\",status=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("airgate_agent_sessions_active{flow=\"chat\"} 0"), "{metrics}");
    assert!(
        metrics.contains("airgate_agent_model_calls_total{model=\"gemma-3-270m-q4_k_m\",outcome=\"ok\"}"),
        "{metrics}"
    );
}

/// GitLab's model metadata names a remote OpenAI-compatible endpoint: airgate calls it with its key
/// and the tools (OpenAI's `tools`), validates its tool call, asks once more when the call is
/// malformed, runs the repaired call on the client and feeds the result back.
#[tokio::test(flavor = "multi_thread")]
async fn remote_models_are_validated_and_repaired_once() {
    use crate::upstream::{Reply, Upstream};
    let upstream = Upstream::start(vec![
        Reply::Call("delete_everything", "{}"),
        Reply::Call("read_file", "{\"file_path\": \"app/main.py\"}"),
        Reply::Text("It defines handler(), which returns a marker string."),
    ])
    .await;
    let gitlab = issuer::start();
    let server = server(&gitlab, &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = client(&server, &gitlab, dir.path(), "remote_model");
    cmd.args(["--upstream", &upstream.url]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "stdout:\n{stdout}\nstderr:\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    let sent = upstream.requests();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!(sent[0]["model"], "remote-model");
    let text = |i: usize| sent[i]["messages"].to_string();
    let offered = sent[0]["tools"].to_string();
    assert!(offered.contains("\"read_file\"") && offered.contains("file_path"), "the tools are offered: {offered}");
    assert!(text(1).contains("there is no tool `delete_everything`"), "the repair says what was wrong: {}", text(1));
    assert!(text(2).contains("airgate-tool-marker-4711"), "the file went back to the model: {}", text(2));
    assert!(upstream.heads().iter().all(|h| h.to_ascii_lowercase().contains("authorization: bearer sk-test-remote")));
}
