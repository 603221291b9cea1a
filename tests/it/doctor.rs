//! `airgate doctor` against a real server and real files: all checks pass on a good setup, and each broken part (missing or corrupt model, bad certificate, unreachable GitLab) is named with a fix.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::issuer;
use crate::support::{TestServer, model_path, write_file};

/// Runs the CLI with a clean environment; commands on a data dir get an empty config file (never
/// the host's /etc/airgate/airgate.toml, which the packaging test installs).
pub fn airgate(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airgate"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", dir).args(args);
    if args.contains(&"--data-dir") {
        cmd.arg("--config").arg(write_file(dir, "empty.toml", b""));
    }
    cmd.output().expect("run airgate")
}

fn doctor(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["doctor", "--json", "--threads", "1"];
    all.extend_from_slice(args);
    let out = airgate(dir, &all);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap_or(-1), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
}

fn failed(report: &Value) -> Vec<String> {
    let checks = report["checks"].as_array().unwrap();
    checks.iter().filter(|c| c["status"] == "fail").map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

fn cert(dir: &Path, name: &str, expired: bool) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (
        write_file(dir, &format!("{name}.crt"), cert.pem().as_bytes()),
        write_file(dir, &format!("{name}.key"), key.serialize_pem().as_bytes()),
    )
}

#[test]
fn doctor_passes_a_good_setup_and_names_each_broken_part() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, data) = (tmp.path(), tmp.path().join("data"));
    let model = dir.join("m.gguf");
    std::fs::copy(model_path(), &model).unwrap();
    let d = data.to_str().unwrap();
    let out = airgate(dir, &["model", "add", model.to_str().unwrap(), "--name", "m", "--default", "--data-dir", d]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (crt, key) = cert(dir, "good", false);
    let gitlab = issuer::start();
    let mut server = TestServer::builder()
        .without_default_model()
        .data_dir(&data)
        .tls()
        .args(["--tls-cert", crt.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--gitlab-url", &gitlab])
        .start();
    let listen = server.base.trim_start_matches("https://").to_string();
    let dws = server.dws_addr();
    let tls = ["--tls-cert", crt.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let mut good: Vec<&str> = vec!["--data-dir", d, "--listen", &listen, "--dws-listen", &dws, "--gitlab-url", &gitlab];
    good.extend_from_slice(&tls);

    // 1. Everything works: exit 0, every feature answered over HTTPS with a locally minted token.
    let (code, report) = doctor(dir, &good);
    assert_eq!((code, failed(&report)), (0, vec![]), "{report:#}");
    assert_eq!(report["ok"], true);
    for name in [
        "config",
        "data dir",
        "database",
        "model m: sha256",
        "model m: gguf",
        "model m: answers",
        "tls",
        "gitlab",
        "port",
        "agent platform",
    ] {
        assert_eq!(check(&report, name)["status"], "pass", "{name}: {report:#}");
    }
    assert!(check(&report, "gitlab")["detail"].as_str().unwrap().contains("fetched 1 signing keys"), "{report:#}");
    for feature in ["code_completions", "code_generations", "duo_chat", "duo_chat_explain_code", "review_merge_request"]
    {
        assert_eq!(check(&report, &format!("feature {feature}"))["status"], "pass", "{feature}: {report:#}");
    }
    // No model serves embeddings here: GitLab's semantic code search is skipped, not failed.
    assert_eq!(check(&report, "feature embeddings_code")["status"], "skip", "{report:#}");
    // The table form says the same.
    let mut table_args = vec!["doctor", "--threads", "1"];
    table_args.extend_from_slice(&good);
    let table = airgate(dir, &table_args);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("all checks passed"));

    // The rest runs with the server stopped: the doctor then loads the model itself.
    server.terminate();

    // 2. GitLab unreachable (and, with the server stopped, nothing on the port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("http://{closed}");
    let mut args: Vec<&str> = vec!["--data-dir", d, "--listen", &listen, "--gitlab-url", &unreachable];
    args.extend_from_slice(&tls);
    let (code, report) = doctor(dir, &args);
    assert_eq!(code, 1);
    assert_eq!(failed(&report), ["gitlab", "port"], "{report:#}");
    assert!(check(&report, "gitlab")["detail"].as_str().unwrap().contains(&unreachable));
    assert!(check(&report, "gitlab")["fix"].as_str().unwrap().contains("curl"));
    assert!(check(&report, "port")["fix"].as_str().unwrap().contains("systemctl start airgate"));
    assert_eq!(check(&report, "model m: answers")["status"], "pass", "loaded by the doctor itself: {report:#}");

    // 3. A bad certificate: expired, then not a certificate at all.
    let (old_crt, old_key) = cert(dir, "old", true);
    let base = ["--data-dir", d, "--listen", &listen, "--gitlab-url", &gitlab];
    let mut args = base.to_vec();
    args.extend_from_slice(&["--tls-cert", old_crt.to_str().unwrap(), "--tls-key", old_key.to_str().unwrap()]);
    let (_, report) = doctor(dir, &args);
    assert_eq!(failed(&report), ["tls", "port"], "{report:#}");
    assert!(check(&report, "tls")["detail"].as_str().unwrap().contains("expired"), "{report:#}");
    let junk = write_file(dir, "junk.crt", b"not a certificate");
    let mut args = base.to_vec();
    args.extend_from_slice(&["--tls-cert", junk.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let (_, report) = doctor(dir, &args);
    assert!(check(&report, "tls")["detail"].as_str().unwrap().contains("junk.crt"), "{report:#}");

    // 4. A corrupt model: one byte changed (checksum), then the file cut short (GGUF check too).
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&model, &bytes).unwrap();
    let (code, report) = doctor(dir, &good);
    assert_eq!(code, 1);
    assert_eq!(failed(&report), ["model m: sha256", "port"], "{report:#}");
    assert!(check(&report, "model m: sha256")["detail"].as_str().unwrap().contains("changed"));
    std::fs::write(&model, &bytes[..middle]).unwrap();
    let (_, report) = doctor(dir, &good);
    assert_eq!(failed(&report), ["model m: sha256", "model m: gguf", "port"], "{report:#}");

    // 5. The model file is gone.
    std::fs::remove_file(&model).unwrap();
    let (_, report) = doctor(dir, &good);
    assert_eq!(failed(&report), ["model m: file", "port"], "{report:#}");
    let missing = check(&report, "model m: file");
    assert!(missing["detail"].as_str().unwrap().contains("m.gguf does not exist"), "{missing}");
    assert!(missing["fix"].as_str().unwrap().contains("Models page"), "{missing}");

    // 6. A config the doctor cannot even read stops at the first check.
    let broken = write_file(dir, "broken.toml", b"listen = 5\n");
    let out = Command::new(env!("CARGO_BIN_EXE_airgate"))
        .env_clear()
        .args(["doctor", "--json", "--config", broken.to_str().unwrap()])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed(&report), ["config"], "{report:#}");
    assert!(check(&report, "config")["detail"].as_str().unwrap().contains("listen"), "{report:#}");
}
