//! The official `openai` Python client against the real server.

use std::path::PathBuf;

use crate::support::TestServer;

#[test]
fn official_openai_client_chats_and_streams() {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "python with `openai` missing at {}: run `make test`", python.display());
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_smoke.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--base-url")
        .arg(server.url("/v1"))
        .arg("--model")
        .arg("gemma-3-270m-q4_k_m")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
}
