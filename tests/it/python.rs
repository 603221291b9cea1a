//! The official `openai` Python client against the real server.

use std::path::PathBuf;

use crate::support::TestServer;

/// The test venv's python (`AIRGATE_TEST_PYTHON`, else `~/.cache/airgate/venv`), made by `make test`.
pub fn python() -> PathBuf {
    let python = std::env::var_os("AIRGATE_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate/venv/bin/python")
    });
    assert!(python.is_file(), "python with the test packages missing at {}: run `make test`", python.display());
    python
}

/// Runs `tests/python/<script>` against the server's `/v1` with `args`; it must exit 0.
pub fn run_openai_script(server: &TestServer, script: &str, args: &[&str]) {
    let script = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python())
        .arg(script)
        .args(["--base-url", &server.url("/v1")])
        .args(args)
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

#[test]
fn official_openai_client_chats_and_streams() {
    let server = TestServer::start();
    run_openai_script(&server, "openai_smoke.py", &["--model", "gemma-3-270m-q4_k_m"]);
}
