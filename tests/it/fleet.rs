//! Configuration as code: `airgate apply` and `airgate export` on stopped and running nodes, the
//! round trip, errors that name line and key with nothing half-applied, drift in the admin API,
//! `--apply` at start, and a signing key replicas share.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::admin::{cli, set_up};
use crate::gitlab::{call_json, completion_body, issuer_url};
use crate::issuer;
use crate::support::{TestServer, client, model_path};

const API_KEY: &str = "fleet-api-key-0123456789";

fn model() -> String {
    std::fs::canonicalize(model_path()).unwrap().display().to_string()
}

/// A whole node configuration: the default model, an upstream whose key is in `FLEET_VLLM_KEY`,
/// a disabled feature, one `/v1` key.
fn document(extra: &str) -> String {
    let digest = hex::encode(Sha256::digest(API_KEY.as_bytes()));
    format!(
        r#"{extra}
[settings]
default_model = "gemma"

[[models]]
name = "gemma"
path = "{}"

[[endpoints]]
name = "vllm"
url = "http://127.0.0.1:9/v1"
model = "Qwen2.5-Coder-7B"
api_key = {{ env = "FLEET_VLLM_KEY" }}

[features]
code_generations = {{ kind = "disabled" }}
duo_chat = {{ kind = "local", model = "gemma" }}

[[api_keys]]
name = "ci"
sha256 = "{digest}"
prefix = "fleet-ap"
"#,
        model()
    )
}

/// `airgate <args> --data-dir DIR` with `FLEET_VLLM_KEY` set: (exit ok, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(args)
        .args(["--config", "/dev/null", "--data-dir"])
        .arg(dir)
        .env("FLEET_VLLM_KEY", "sk-fleet-upstream")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn export_then_apply_on_an_empty_node_then_export_gives_the_same_document() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let file = write(tmp.path(), "fleet.toml", &document(""));
    let file = file.to_str().unwrap();
    let (ok, out, err) = run(&a, &["apply", file, "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("+ model gemma") && out.contains("dry run: "), "{out}");
    let (ok, empty, _) = run(&a, &["export"]);
    assert!(ok && !empty.contains("gemma"), "a dry run writes nothing: {empty}");

    let (ok, out, err) = run(&a, &["apply", file]);
    assert!(ok, "{err}");
    for line in
        ["+ model gemma", "+ endpoint vllm", "+ API key ci", "~ feature code_generations: default model → disabled"]
    {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(!out.contains("sk-fleet-upstream") && !err.contains("sk-fleet-upstream"), "the key never shows");
    let (ok, again, _) = run(&a, &["apply", file]);
    assert!(ok && again.contains("no changes"), "idempotent: {again}");

    let (ok, exported, err) = run(&a, &["export"]);
    assert!(ok, "{err}");
    assert!(exported.contains("FLEET_VLLM_KEY") && !exported.contains("sk-fleet-upstream"), "{exported}");
    let copy = write(tmp.path(), "exported.toml", &exported);
    let (ok, _, err) = run(&b, &["apply", copy.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, round_trip, _) = run(&b, &["export"]);
    assert!(ok);
    assert_eq!(round_trip, exported, "export → apply on an empty node → export");
}

#[test]
fn a_bad_document_names_line_and_key_and_nothing_is_half_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let good = write(tmp.path(), "good.toml", &document(""));
    assert!(run(&dir, &["apply", good.to_str().unwrap()]).0);
    let (_, before, _) = run(&dir, &["export"]);

    let typo = document("").replace("[[endpoints]]\nname = \"vllm\"\nurl", "[[endpoints]]\nname = \"vllm\"\nurll");
    let cases = [
        (typo, "unknown field `urll`"),
        (document("").replace("code_generations", "code_generationz"), "code_generationz"),
        (
            document("").replace("kind = \"local\", model = \"gemma\"", "kind = \"local\", model = \"ghost\""),
            "key `features.duo_chat`",
        ),
        // Valid text, but the upstream's key variable is not set: refused before anything is written.
        (document("").replace("FLEET_VLLM_KEY", "FLEET_UNSET_KEY"), "key `endpoints[0].api_key`"),
        (document("").replace(&model(), "/nonexistent/m.gguf"), "key `models[0].path`"),
    ];
    for (text, want) in cases {
        let file = write(tmp.path(), "bad.toml", &text);
        let (ok, _, err) = run(&dir, &["apply", file.to_str().unwrap()]);
        assert!(!ok, "{want}: applied anyway");
        assert!(err.contains(want) && err.contains("bad.toml"), "{want}: {err}");
        assert!(err.contains("line ") || want.contains("code_generationz"), "{want}: no line in {err}");
        assert_eq!(run(&dir, &["export"]).1, before, "{want}: the node changed");
    }
}

#[tokio::test]
async fn a_running_server_takes_an_applied_file_at_once_and_shows_drift() {
    let server = TestServer::start();
    let admin = set_up(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "fleet.toml", &document(""));
    assert_eq!(client().get(server.url("/v1/models")).send().await.unwrap().status(), 200, "open before");
    let out = cli(&server.data_dir(), &["apply", file.to_str().unwrap()], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "FLEET_VLLM_KEY is not in this environment: {stdout}");
    let out = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["apply", file.to_str().unwrap(), "--config", "/dev/null", "--data-dir"])
        .arg(server.data_dir())
        .env("FLEET_VLLM_KEY", "sk-fleet-upstream")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("the running server uses it now"), "{stdout}");

    // The API key guards /v1 at once.
    assert_eq!(client().get(server.url("/v1/models")).send().await.unwrap().status(), 401);
    let with_key = client().get(server.url("/v1/models")).bearer_auth(API_KEY).send().await.unwrap();
    assert_eq!(with_key.status(), 200);
    // The routes are the file's, and the node does not drift from it.
    let (_, features) = admin.get("/api/admin/features").await;
    let generation = features.as_array().unwrap().iter().find(|f| f["feature"] == "code_generations").unwrap();
    assert_eq!(generation["route"]["kind"], "disabled", "{generation}");
    let (status, fleet) = admin.get("/api/admin/fleet").await;
    assert_eq!(status, 200, "{fleet}");
    assert!(fleet["applied"]["source"].as_str().unwrap().ends_with("fleet.toml"), "{fleet}");
    assert_eq!(fleet["drift"], json!([]), "{fleet}");
    // A change made in the admin UI is drift.
    let (status, _) = admin.put("/api/admin/features/duo_chat", json!({"kind": "disabled"})).await;
    assert_eq!(status, 200);
    let (_, fleet) = admin.get("/api/admin/fleet").await;
    assert_eq!(fleet["drift"], json!(["~ feature duo_chat: disabled → local model gemma"]), "{fleet}");
    // Export through the running server reads back as what applying it would not change.
    let out = cli(&server.data_dir(), &["export"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("duo_chat = { kind = \"disabled\" }")
            || String::from_utf8_lossy(&out.stdout).contains("[features.duo_chat]")
    );
}

#[tokio::test]
async fn replicas_applying_one_file_share_the_signing_key_of_user_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    // Any RSA key will do: a first server makes one in its data dir.
    let maker = TestServer::builder().without_default_model().no_wait().start();
    let made = maker.data_dir().join("jwt_signing_key.pem");
    assert!(maker.log_appears("listening", std::time::Duration::from_secs(30)) && made.is_file());
    let shared = tmp.path().join("shared-signing.pem");
    std::fs::copy(&made, &shared).unwrap();
    drop(maker);
    let extra = format!("gitlab_url = \"{}\"\njwt_signing_key = \"{}\"\n", issuer_url(), shared.display());
    let file = write(tmp.path(), "fleet.toml", &document(&extra));
    let replica = || {
        TestServer::builder()
            .without_default_model()
            .args(["--apply", file.to_str().unwrap()])
            .env("FLEET_VLLM_KEY", "sk-fleet-upstream")
            .start()
    };
    let (a, c) = (replica(), replica());
    let gitlab_token = issuer::token(issuer_url());
    let (status, minted) = call_json(&a, "/v1/code/user_access_token", &gitlab_token, &json!({})).await;
    assert_eq!(status, 200, "{minted}");
    let user_token = minted["token"].as_str().unwrap();
    let (status, body) = call_json(&c, "/v2/code/completions", user_token, &completion_body("codegemma")).await;
    assert_eq!(status, 200, "a token minted by replica A works on replica C: {body}");
    // A node with its own key does not take it.
    let own = TestServer::builder().arg("--gitlab-url").arg(issuer_url()).no_wait().start();
    let (status, _) = call_json(&own, "/v2/code/completions", user_token, &completion_body("codegemma")).await;
    assert_eq!(status, 401);
}

#[test]
fn a_file_that_cannot_be_applied_stops_the_start_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "fleet.toml", "[[models]]\nname = \"m\"\npath = \"relative.gguf\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .args(["serve", "--config", "/dev/null", "--listen", "127.0.0.1:0", "--apply"])
        .arg(&file)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fleet.toml") && err.contains("line 3, key `models[0].path`"), "{err}");
}
