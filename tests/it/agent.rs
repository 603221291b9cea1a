//! The GitLab Duo Agent Platform service (gRPC) against the real binary and the default model, driven by a Python `grpcio` client that plays Workhorse, GitLab and the IDE (`tests/python/dws_client.py`).

use std::path::PathBuf;

use serde_json::json;

use crate::issuer;
use crate::support::TestServer;

fn python() -> PathBuf {
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

/// Runs the client's scenarios (all, or `only`) against a server started with `args`.
fn run_client(only: &str, args: &[&str]) {
    let python = python();
    let gitlab = issuer::start();
    let mut builder = TestServer::builder().arg("--gitlab-url").arg(gitlab.clone());
    for a in args {
        builder = builder.arg(*a);
    }
    let server = builder.start();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("tokens.json");
    std::fs::write(&token_file, tokens(&gitlab).to_string()).unwrap();
    let out = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/dws_client.py"))
        .args(["--target", &server.dws_addr()])
        .args(["--proto", concat!(env!("CARGO_MANIFEST_DIR"), "/proto/duo_workflow.proto")])
        .arg("--tokens")
        .arg(&token_file)
        .args(["--model", "gemma-3-270m-q4_k_m", "--cap", "2", "--only", only])
        .output()
        .unwrap();
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
