//! `airgate apply FILE [--dry-run]` and `airgate export [FILE]`: configuration as code, on the
//! database directly when no server runs, else through the running server's admin socket (which
//! then also loads, reloads and unloads models and swaps keys at once).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::admin::{Db, call, database};
use crate::config::ConfigArgs;
use crate::fleet::{Document, ProcessEnv, Secrets};
use crate::store::SecretRef;

pub(super) fn apply(args: &ConfigArgs, file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let doc = Document::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let source = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string();
    let (changes, note) = match database(args)?.1 {
        Db::Direct(store) => {
            let current = store.config_set()?;
            let plan = crate::fleet::plan(&current, &doc, &text, &source, &ProcessEnv)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if !dry_run {
                store.replace_config_set(&plan.set)?;
            }
            (
                plan.changes.iter().map(ToString::to_string).collect(),
                "no server is running: it applies at the next start",
            )
        }
        Db::Server(dir) => {
            let body = json!({ "document": text, "source": source, "secrets": secrets_for(&doc), "dry_run": dry_run });
            let answer = call(&dir, "POST", "/local/apply", Some(body))?;
            let changes = answer["changes"].as_array().into_iter().flatten().filter_map(|c| c.as_str());
            let loading: Vec<&str> =
                answer["loading"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
            if !loading.is_empty() {
                eprintln!("loading: {}", loading.join(", "));
            }
            (changes.map(str::to_string).collect::<Vec<_>>(), "the running server uses it now")
        }
    };
    let mut out = std::io::stdout().lock();
    for change in &changes {
        writeln!(out, "{change}")?;
    }
    let summary = match (changes.len(), dry_run) {
        (0, _) => "no changes: the node already holds this configuration".to_string(),
        (n, true) => format!("dry run: {n} change{} planned, nothing written", plural(n)),
        (n, false) => format!("{n} change{} applied; {note}", plural(n)),
    };
    writeln!(out, "{summary}")?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn export(args: &ConfigArgs, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (text, warnings) = match database(args)?.1 {
        Db::Direct(store) => {
            let (doc, warnings) = crate::fleet::export(&store.config_set()?);
            (doc.render(), warnings)
        }
        Db::Server(dir) => {
            let answer = call(&dir, "GET", "/local/export", None)?;
            let warnings = answer["warnings"].as_array().into_iter().flatten().filter_map(|w| w.as_str());
            (answer["document"].as_str().unwrap_or_default().to_string(), warnings.map(str::to_string).collect())
        }
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    match file {
        Some(path) => std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The secrets the document references, read here (the operator's environment and files) for the
/// server, whose own environment does not hold them: `env:NAME` / `file:/path` → value.
fn secrets_for(doc: &Document) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for reference in doc.endpoints.iter().filter_map(|e| e.api_key.as_ref()) {
        match reference {
            SecretRef::Env(name) => {
                if let Some(v) = ProcessEnv.env(name) {
                    out.insert(format!("env:{name}"), v);
                }
            }
            SecretRef::File(path) => {
                if let Ok(v) = ProcessEnv.file(path) {
                    out.insert(format!("file:{path}"), v);
                }
            }
        }
    }
    out
}
