//! The admin UI in real Chromium (Debian's, driven by playwright-core): tests/browser/admin.mjs against the real server.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{TestServer, model_path};

#[test]
fn admin_ui_end_to_end_in_chromium() {
    let cache = std::env::var_os("AIRGATE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/airgate")
    });
    let modules = cache.join("browser/node_modules");
    assert!(
        modules.join("playwright-core").is_dir(),
        "playwright-core missing in {}: run `make test`",
        modules.display()
    );
    assert!(std::path::Path::new("/usr/bin/chromium").is_file(), "Debian chromium missing: run `make test`");
    let server = TestServer::builder().without_default_model().no_wait().args(["--max-output-tokens", "16"]).start();
    assert!(server.log_appears("setup_token", Duration::from_secs(10)));
    let token = server
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["setup_token"].as_str().map(str::to_string))
        .unwrap();
    // Screenshots are test artifacts: target/browser-screenshots/ (kept after the run).
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let out = std::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/admin.mjs"))
        .env("AIRGATE_URL", &server.base)
        .env("SETUP_TOKEN", token)
        .env("MODEL_PATH", model_path())
        .env("SCREENSHOTS", &shots)
        .env("BROWSER_MODULES", &modules)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser test failed (screenshots in {}):\n{}\n{}\nserver log tail:\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.logs().lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
}
