//! `airgate model inspect | add | list`: GGUF metadata, and the models registered to load at start (on the database, or through the running server).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::admin::{Db, call, database};
use crate::config::{ConfigArgs, parse_model_spec};
use crate::engine::gguf;

pub fn inspect(file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let info = gguf::read(file)?;
    let fim = info.fim_tokens();
    let rows: Vec<(&str, String)> = vec![
        ("file", file.display().to_string()),
        ("architecture", info.architecture().unwrap_or("unknown").to_string()),
        ("name", info.name().unwrap_or("-").to_string()),
        ("parameters", format!("{} ({:.0}M)", info.parameter_count, info.parameter_count as f64 / 1e6)),
        ("quantization", info.quantization()),
        ("file size", format!("{} bytes", info.file_size)),
        ("context length", info.context_length().map(|c| c.to_string()).unwrap_or_else(|| "-".into())),
        ("sliding window", info.sliding_window().map(|c| c.to_string()).unwrap_or_else(|| "-".into())),
        ("chat template", if info.has_chat_template() { "present".into() } else { "absent".into() }),
        (
            "FIM tokens",
            if fim.present() {
                format!("present (prefix {:?}, suffix {:?}, middle {:?})", fim.prefix, fim.suffix, fim.middle)
            } else {
                "absent".into()
            },
        ),
        ("gguf version", info.version.to_string()),
        ("tensors", info.tensor_count.to_string()),
    ];
    if json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| (k.to_lowercase().replace(' ', "_"), serde_json::Value::String(v.clone())))
            .collect();
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        for (k, v) in rows {
            println!("{k:<16} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Registers `file` to load at every start (in place, no copy); with the server running it loads now.
pub fn add(args: &ConfigArgs, file: &Path, name: Option<&str>, make_default: bool) -> anyhow::Result<ExitCode> {
    let name = match name {
        Some(n) => parse_model_spec(&format!("{}:{n}", file.display())),
        None => parse_model_spec(&file.display().to_string()),
    }
    .map_err(anyhow::Error::msg)?
    .name;
    let (_, db) = database(args)?;
    match db {
        Db::Direct(store) => {
            let (record, new) = crate::models::register(&store, file, &name).map_err(anyhow::Error::msg)?;
            if make_default {
                store.set_setting(crate::store::settings::DEFAULT_MODEL, &record.name)?;
            }
            let what = if new { "registered" } else { "already registered" };
            eprintln!("{what}: {} ({}); it loads at the next start", record.path, record.sha256.unwrap_or_default());
        }
        Db::Server(dir) => {
            let body = json!({ "path": file.canonicalize()?, "name": name, "default": make_default });
            let answer = call(&dir, "POST", "/local/models", Some(body))?;
            let what = if answer["new"] == true { "registered" } else { "already registered" };
            match answer["error"].as_str() {
                None => eprintln!("{what} and loaded by the running server"),
                Some(e) => eprintln!("{what}, but the running server could not load it: {e}"),
            }
        }
    }
    println!("{name}");
    Ok(ExitCode::SUCCESS)
}

/// The registered models: name, file, SHA-256 (and state when the server runs).
pub fn list(args: &ConfigArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let (_, db) = database(args)?;
    let answer = match db {
        Db::Direct(store) => {
            let models: Vec<_> = store
                .models()?
                .iter()
                .map(|r| json!({ "name": r.name, "path": r.path, "sha256": r.sha256, "size": r.size, "status": "stopped" }))
                .collect();
            let default = store.get_setting(crate::store::settings::DEFAULT_MODEL)?;
            json!({ "models": models, "default": default })
        }
        Db::Server(dir) => call(&dir, "GET", "/local/status", None)?,
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let default = answer["default"].as_str().unwrap_or("");
    for m in answer["models"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or("");
        let mark = if name == default { "*" } else { " " };
        println!("{mark} {name:<24} {:<9} {}", m["status"].as_str().unwrap_or(""), m["path"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}
