//! `airgate bundle keygen|sign|verify`: the offline bundle's `SHA256SUMS`, signed with Ed25519 so a USB stick can be checked before anything is installed.
//!
//! Formats are the ones standard tools read: `SHA256SUMS` is `sha256sum` output (`<hex>  <path>`),
//! the signature is the raw 64-byte Ed25519 signature of that file, and keys are PKCS#8 / SPKI PEM,
//! so `sha256sum -c` and `openssl pkeyutl -verify -rawin` check a bundle without airgate.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::models::sha256_file;

/// The checksum list, its signature, and the public key a bundle carries.
pub const SUMS: &str = "SHA256SUMS";
pub const SIGNATURE: &str = "SHA256SUMS.sig";
pub const PUBLIC_KEY: &str = "airgate-signing.pub";
/// Where the private key comes from when signing: a PEM file's path or the PEM text itself.
pub const KEY_ENV: &str = "AIRGATE_SIGNING_KEY";

/// `SHA256:<hex>` of the raw 32-byte public key: what a release team publishes and an admin compares.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// Writes a new key pair: `file` (private, PKCS#8 PEM, 0600) and `file.pub` (SPKI PEM).
pub fn keygen(file: &Path) -> anyhow::Result<ExitCode> {
    let public = public_path(file);
    for path in [file, public.as_path()] {
        if path.exists() {
            bail!("{} exists already; choose another name (keys are never overwritten)", path.display());
        }
    }
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let private = key.to_pkcs8_pem(LineEnding::LF).context("cannot encode the private key")?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    std::io::Write::write_all(&mut out, private.as_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).context("cannot encode the public key")?;
    std::fs::write(&public, pem).with_context(|| format!("cannot write {}", public.display()))?;
    println!("private key: {} (keep it offline; sign with {KEY_ENV}={})", file.display(), file.display());
    println!("public key:  {}", public.display());
    println!("fingerprint: {}", fingerprint(&key.verifying_key()));
    Ok(ExitCode::SUCCESS)
}

fn public_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The private key named by `AIRGATE_SIGNING_KEY`. The error never shows the variable's value.
fn signing_key() -> anyhow::Result<SigningKey> {
    let Some(value) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) else {
        bail!("{KEY_ENV} is not set: point it at the private key file made by `airgate bundle keygen FILE`");
    };
    let text = match value.to_str() {
        Some(pem) if pem.trim_start().starts_with("-----BEGIN") => pem.to_string(),
        _ => {
            let path = PathBuf::from(&value);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the {KEY_ENV} file {}", path.display()))?
        }
    };
    SigningKey::from_pkcs8_pem(&text).map_err(|_| {
        anyhow::anyhow!(
            "{KEY_ENV} is not an Ed25519 private key in PKCS#8 PEM (make one with `airgate bundle keygen FILE`)"
        )
    })
}

fn read_public_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the public key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 public key in SPKI PEM", path.display()))
}

/// Writes the public key, `SHA256SUMS` over every other file, and its signature into `dir`.
pub fn sign(dir: &Path) -> anyhow::Result<ExitCode> {
    let key = signing_key()?;
    let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).context("cannot encode the public key")?;
    std::fs::write(dir.join(PUBLIC_KEY), pem).with_context(|| format!("cannot write into {}", dir.display()))?;
    let mut sums = String::new();
    for path in files(dir)?.into_iter().filter(|p| p != SUMS && p != SIGNATURE) {
        sums.push_str(&format!("{}  {path}\n", sha256_file(&dir.join(&path))?));
    }
    std::fs::write(dir.join(SUMS), &sums).with_context(|| format!("cannot write {SUMS}"))?;
    let signature = key.sign(sums.as_bytes());
    std::fs::write(dir.join(SIGNATURE), signature.to_bytes()).with_context(|| format!("cannot write {SIGNATURE}"))?;
    println!(
        "signed {} files in {} with key {}",
        sums.lines().count(),
        dir.display(),
        fingerprint(&key.verifying_key())
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks the signature (with `key`, else the bundle's own public key), every listed checksum, and
/// that no unlisted file was added. Prints one line per problem; exit 1 if there is any.
pub fn verify(dir: &Path, key: Option<&Path>) -> anyhow::Result<ExitCode> {
    let problems = check(dir, key)?;
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("FAILED: {p}");
    }
    eprintln!("the bundle in {} does not verify: do not install it", dir.display());
    Ok(ExitCode::FAILURE)
}

fn check(dir: &Path, key: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let public = match key {
        Some(path) => read_public_key(path)?,
        None => {
            let key = read_public_key(&dir.join(PUBLIC_KEY))?;
            eprintln!(
                "warning: checking against the key inside the bundle ({}); compare it with the fingerprint your release team published, or pass --key",
                fingerprint(&key)
            );
            key
        }
    };
    let sums = std::fs::read(dir.join(SUMS)).with_context(|| format!("{SUMS} is missing in {}", dir.display()))?;
    let signature = std::fs::read(dir.join(SIGNATURE)).with_context(|| format!("{SIGNATURE} is missing"))?;
    let signature = <[u8; 64]>::try_from(signature.as_slice()).map(|b| Signature::from_bytes(&b));
    if signature.is_err() || public.verify_strict(&sums, signature.as_ref().expect("checked")).is_err() {
        // A list that is not signed by the key says nothing about the files: stop here.
        return Ok(vec![format!("{SUMS}: the signature does not verify with key {}", fingerprint(&public))]);
    }
    let listed = parse_sums(&sums)?;
    let mut problems = Vec::new();
    for (path, want) in &listed {
        match sha256_file(&dir.join(path)) {
            Ok(got) if &got == want => {}
            Ok(_) => problems.push(format!("{path}: checksum mismatch (the file was changed)")),
            Err(_) => problems.push(format!("{path}: missing")),
        }
    }
    for path in files(dir)? {
        if path != SUMS && path != SIGNATURE && !listed.contains_key(&path) {
            problems.push(format!("{path}: not listed in {SUMS} (added after signing)"));
        }
    }
    if problems.is_empty() {
        println!("ok: {} files match {SUMS}, signed by {}", listed.len(), fingerprint(&public));
    }
    Ok(problems)
}

/// `<64 hex>  <relative path>` lines; paths must stay inside the bundle.
fn parse_sums(bytes: &[u8]) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::str::from_utf8(bytes).context("SHA256SUMS is not UTF-8")?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || anyhow::anyhow!("{SUMS} line {}: expected `<sha256>  <path>`", i + 1);
        let (hash, path) = line.split_once("  ").ok_or_else(bad)?;
        let path = path.strip_prefix('*').unwrap_or(path);
        let inside = !path.starts_with('/')
            && Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || !inside {
            return Err(bad());
        }
        out.insert(path.to_string(), hash.to_ascii_lowercase());
    }
    Ok(out)
}

/// Every regular file under `dir`, as sorted `/`-separated relative paths. Symbolic links and other
/// special files are refused: a bundle holds plain files only.
fn files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).expect("under dir");
                let rel = rel.to_str().with_context(|| format!("{} has a non-UTF-8 name", path.display()))?;
                out.push(rel.to_string());
            } else {
                bail!("{} is not a regular file (links are not allowed in a bundle)", path.display());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines_are_parsed_and_escapes_refused() {
        let h = "a".repeat(64);
        let ok = parse_sums(format!("{h}  airgate\n{h}  models/m.gguf\n").as_bytes()).unwrap();
        assert_eq!(ok.keys().collect::<Vec<_>>(), ["airgate", "models/m.gguf"]);
        for bad in
            [format!("{h} one-space"), format!("{h}  ../etc/passwd"), format!("{h}  /etc/passwd"), "xyz  a".into()]
        {
            assert!(parse_sums(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_key_file_sits_beside_the_private_one() {
        assert_eq!(public_path(Path::new("/k/release.key")), Path::new("/k/release.key.pub"));
    }
}
