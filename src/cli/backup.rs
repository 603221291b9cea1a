//! `airgate backup FILE` / `airgate restore FILE`: the settings database (a consistent snapshot) plus the signing key and uploaded TLS files, in one tar archive readable only by its owner.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use super::admin::{Db, call, database};
use crate::config::ConfigArgs;
use crate::store::Scratch;

const DATABASE: &str = "airgate.redb";
const MANIFEST: &str = "MANIFEST.json";
/// Files of the data dir a backup carries besides the database (when they exist).
const KEY_FILES: [&str; 3] = ["jwt_signing_key.pem", "tls/cert.pem", "tls/key.pem"];

pub fn backup(args: &ConfigArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let (config, db) = database(args)?;
    let scratch = Scratch::new(&config.data_dir, "backup")
        .with_context(|| format!("cannot create a scratch dir in {}", config.data_dir.display()))?;
    let snapshot = scratch.0.join(DATABASE);
    let schema = match db {
        Db::Direct(store) => {
            store.backup_to(&snapshot)?;
            store.schema_version()?
        }
        Db::Server(dir) => {
            call(&dir, "POST", "/local/backup", Some(json!({ "path": snapshot })))?;
            crate::store::SCHEMA_VERSION
        }
    };
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {} (an existing file is never overwritten)", file.display()))?;
    let written = (|| -> anyhow::Result<usize> {
        let mut tar = tar::Builder::new(out);
        let manifest = json!({ "airgate": env!("CARGO_PKG_VERSION"), "schema": schema, "created": crate::unix_now() });
        append_bytes(&mut tar, MANIFEST, manifest.to_string().as_bytes())?;
        tar.append_path_with_name(&snapshot, DATABASE)?;
        let mut count = 1;
        for name in KEY_FILES {
            let path = config.data_dir.join(name);
            if path.is_file() {
                tar.append_path_with_name(&path, name).with_context(|| format!("cannot read {}", path.display()))?;
                count += 1;
            }
        }
        tar.into_inner()?.sync_all()?;
        Ok(count)
    })();
    match written {
        Ok(count) => {
            println!("backed up the settings database and {} key file(s) to {}", count - 1, file.display());
            eprintln!("the file holds airgate's private keys: keep it as safe as the server itself");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let _ = fs::remove_file(file);
            Err(e)
        }
    }
}

fn append_bytes<W: std::io::Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(crate::unix_now());
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
}

/// Replaces the settings and keys with those of a backup. The server must be stopped: it holds the
/// database and its keys in memory. A backup of a newer schema is refused; an older one is migrated.
pub fn restore(args: &ConfigArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let (config, db) = database(args)?;
    let store = match db {
        Db::Direct(store) => store,
        Db::Server(_) => bail!(
            "airgate is running on {}: stop it first (`systemctl stop airgate`), restore, then start it",
            config.data_dir.display()
        ),
    };
    // Extracted into a scratch dir the CLI's user (root, in a package install) owns, mode 0700,
    // that the service account cannot enter; only regular files, written by this process.
    let scratch = Scratch::private(&config.data_dir, "restore")
        .with_context(|| format!("cannot create a scratch dir in {}", config.data_dir.display()))?;
    let owner = fs::metadata(&config.data_dir)?;
    let input = fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut archive = tar::Archive::new(input);
    let mut found = Vec::new();
    for entry in archive.entries().with_context(|| format!("{} is not a backup made by airgate", file.display()))? {
        let mut entry = entry.with_context(|| format!("{} is damaged", file.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name != DATABASE && name != MANIFEST && !KEY_FILES.contains(&name.as_str()) {
            bail!("{} holds an unexpected file `{name}`: not a backup made by airgate", file.display());
        }
        let kind = entry.header().entry_type();
        // (the database may be written sparse: its holes read back as zeros)
        if !(kind.is_file() || kind.is_gnu_sparse()) {
            bail!("{} holds `{name}` as a {}: only regular files are restored", file.display(), kind_name(kind));
        }
        if found.contains(&name) {
            bail!("{} holds `{name}` twice: not a backup made by airgate", file.display());
        }
        let mut out = create_private(&scratch.0.join(&name))?;
        std::io::copy(&mut entry, &mut out).with_context(|| format!("{} is damaged", file.display()))?;
        // On the open file (never through a path a link could redirect): owned like the data dir.
        let _ = std::os::unix::fs::fchown(&out, Some(owner.uid()), Some(owner.gid()));
        out.sync_all()?;
        found.push(name);
    }
    if !found.iter().any(|n| n == DATABASE) {
        bail!("{} has no settings database: not a backup made by airgate", file.display());
    }
    let keys_found: Vec<&str> = KEY_FILES.into_iter().filter(|n| found.iter().any(|f| f == n)).collect();
    for name in &keys_found {
        if let Some(parent) = config.data_dir.join(name).parent().filter(|p| *p != config.data_dir) {
            real_dir(parent, &owner)?;
        }
    }
    // Opens the copy first (integrity and schema checked, a newer schema refused), then swaps it in.
    store.restore_from(&scratch.0).with_context(|| format!("{} cannot be restored", file.display()))?;
    drop(store);
    let mut keys = 0;
    for name in keys_found {
        let (from, to) = (scratch.0.join(name), config.data_dir.join(name));
        // rename replaces a link at `to` itself, never what it points to.
        fs::rename(&from, &to).with_context(|| format!("cannot replace {}", to.display()))?;
        keys += 1;
    }
    println!(
        "restored the settings database and {keys} key file(s) from {}; every admin session ended",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Directory => "directory",
        _ => "special file",
    }
}

/// A new file, mode 0600, never through a link (`O_EXCL` and `O_NOFOLLOW`); parent dirs made 0700.
fn create_private(path: &Path) -> anyhow::Result<fs::File> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// `dir` (inside the data dir) is a directory, not a link to one elsewhere: made 0700 and owned like
/// the data dir when missing.
fn real_dir(dir: &Path, owner: &fs::Metadata) -> anyhow::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory (a link?): refusing to write through it", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new().mode(0o700).create(dir)?;
            let _ = std::os::unix::fs::lchown(dir, Some(owner.uid()), Some(owner.gid()));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
