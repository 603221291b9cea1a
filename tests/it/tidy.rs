//! Keeps the docs and the layering honest: ARCHITECTURE.md's codemap names every source file, every module starts with `//!`, and crate boundaries hold.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/")
}

#[test]
fn codemap_names_every_source_file_and_nothing_else() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let files: Vec<String> = rust_files(&root().join("src")).iter().map(|p| rel(p)).collect();
    let missing: Vec<&String> = files.iter().filter(|f| !doc.contains(&format!("`{f}`"))).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md codemap does not mention: {missing:?}");
    // Every `src/...rs` path the doc names must exist.
    let stale: Vec<String> = doc
        .split('`')
        .filter(|s| s.starts_with("src/") && s.ends_with(".rs"))
        .filter(|s| !root().join(s).is_file())
        .map(str::to_string)
        .collect();
    assert!(stale.is_empty(), "ARCHITECTURE.md names files that do not exist: {stale:?}");
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let mut bad = Vec::new();
    for file in rust_files(&root().join("src")).into_iter().chain(rust_files(&root().join("tests/it"))) {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("//!") {
            bad.push(rel(&file));
        }
    }
    assert!(bad.is_empty(), "files without a leading //! line: {bad:?}");
}

/// Only the named module trees may mention a crate.
#[test]
fn crate_boundaries_hold() {
    let rules: &[(&str, &[&str])] = &[
        ("llama_cpp_2", &["src/engine/llama/"]),
        ("llama_cpp_sys_2", &["src/engine/llama/"]),
        ("redb", &["src/store/"]),
        ("rusqlite", &["src/docs/"]),
        ("minijinja", &["src/prompt/"]),
        // The composition root composes routers; the state hands out axum sub-states.
        ("axum", &["src/http/", "src/api/", "src/auth/", "src/app.rs", "src/state.rs"]),
        // The CLI's admin-socket client speaks HTTP/1 over a Unix socket.
        ("hyper", &["src/http/", "src/api/", "src/auth/", "src/cli/local.rs"]),
        ("rustls", &["src/http/", "src/auth/", "src/engine/remote/"]),
        ("tonic", &["src/agent/"]),
    ];
    let mut violations = Vec::new();
    for file in rust_files(&root().join("src")) {
        let path = rel(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        for (krate, allowed) in rules {
            if allowed.iter().any(|a| path.starts_with(a)) {
                continue;
            }
            let named = text.lines().any(|l| {
                let l = l.trim_start();
                !l.starts_with("//") && (l.contains(&format!("{krate}::")) || l.contains(&format!("use {krate}")))
            });
            if named {
                violations.push(format!("{path} names {krate}"));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn no_source_file_grows_past_the_limit() {
    // 600 lines is the house limit; a file may pass it only with a reason written next to this list.
    let allowed_longer: &[&str] = &[];
    let mut long = Vec::new();
    for file in rust_files(&root().join("src")) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let path = rel(&file);
        if lines > 600 && !allowed_longer.contains(&path.as_str()) {
            long.push(format!("{path}: {lines} lines"));
        }
    }
    assert!(long.is_empty(), "{long:?}");
}

/// The top-level modules of the crate (`src/<name>.rs` or `src/<name>/`), without the crate root.
fn top_level_modules() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            match name.strip_suffix(".rs") {
                Some(stem) => Some(stem.to_string()),
                None if p.is_dir() => Some(name),
                None => None,
            }
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The top-level modules a piece of Rust names through `crate::` paths, grouped imports
/// (`use crate::{a, b::c}`) included; comment lines are skipped.
fn crate_references(text: &str, modules: &[String]) -> std::collections::BTreeSet<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The first segment of every item at the group's own depth.
            let (mut depth, mut item_start) = (0usize, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && !c.is_whitespace() => {
                        names.push(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            names.push(ident(after));
        }
        rest = after;
    }
    names.into_iter().filter(|n| modules.contains(n)).collect()
}

/// `module -> modules it imports`, over every file of `src/`.
fn import_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let modules = top_level_modules();
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        modules.iter().map(|m| (m.clone(), Default::default())).collect();
    for file in rust_files(&root().join("src")) {
        let path = rel(&file);
        let first = path.trim_start_matches("src/").split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if !modules.contains(&first) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_references(&text, &modules) {
            if used != first {
                graph.get_mut(&first).unwrap().insert(used);
            }
        }
    }
    graph
}

#[test]
fn crate_references_see_grouped_imports() {
    let modules: Vec<String> = ["api", "engine", "store", "http"].map(String::from).into();
    let text = "use crate::{api::x, engine::{a, b}, store};\n// crate::http::never\nlet y = crate::http::z;";
    let found: Vec<String> = crate_references(text, &modules).into_iter().collect();
    assert_eq!(found, ["api", "engine", "http", "store"]);
    assert!(crate_references("use crate::unix_now;", &modules).is_empty());
}

/// Imports run one way: lower layers never name the layers above them.
#[test]
fn layers_never_import_upward() {
    const NEVER: &[(&[&str], &[&str])] = &[
        (
            &["engine", "prompt", "store", "config", "docs", "metrics", "telemetry"],
            &["api", "http", "app", "auth", "cli", "state"],
        ),
        (&["features"], &["agent", "api", "http", "app", "auth", "cli", "state"]),
        (&["http"], &["api", "app", "agent"]),
        (&["api"], &["app", "cli", "agent"]),
        (&["agent"], &["api", "http", "app", "cli"]),
    ];
    let graph = import_graph();
    let mut violations = Vec::new();
    for (lower, upper) in NEVER {
        for module in *lower {
            let imports = graph.get(*module).unwrap_or_else(|| panic!("no module `{module}` in src/"));
            for up in upper.iter().filter(|u| imports.contains(**u)) {
                violations.push(format!("{module} imports {up}"));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

/// No two top-level modules import each other, directly or around a loop.
#[test]
fn top_level_modules_have_no_import_cycle() {
    let graph = import_graph();
    // Repeatedly remove modules that import nothing still left: what remains sits on a cycle.
    let mut left = graph.clone();
    loop {
        let leaves: Vec<String> = left
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !left.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for m in leaves {
            left.remove(&m);
        }
    }
    let cycle: Vec<String> = left
        .iter()
        .map(|(m, deps)| format!("{m} -> {:?}", deps.iter().filter(|d| left.contains_key(*d)).collect::<Vec<_>>()))
        .collect();
    assert!(cycle.is_empty(), "import cycle among: {cycle:#?}");
}

/// `unsafe` is allowed in two places only: llama.cpp's module and the small libc module.
#[test]
fn unsafe_code_is_allowed_only_in_engine_llama_and_sys() {
    let allowed = ["src/engine/llama/mod.rs", "src/sys.rs"];
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("unsafe_code = \"deny\""), "Cargo.toml must deny unsafe_code");
    let mut stray = Vec::new();
    for file in rust_files(&root().join("src")) {
        let path = rel(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("allow(unsafe_code)") && !allowed.contains(&path.as_str()) {
            stray.push(path);
        }
    }
    assert!(stray.is_empty(), "unsafe allowed outside engine::llama and sys: {stray:?}");
}

/// One lock-poisoning policy: std locks are taken through `crate::sync`, which takes a poisoned
/// lock over, never through ad-hoc `lock().unwrap…`/`if let Ok(..) = lock()` handling.
#[test]
fn std_locks_go_through_the_one_poisoning_policy() {
    let ad_hoc = [
        ".lock().unwrap",
        ".lock().expect",
        ".lock().ok()",
        ".lock().map(",
        ".lock().is_ok",
        ".read().expect",
        ".read().unwrap_or",
        ".write().expect",
        ".write().unwrap_or",
        "= self.ring.lock()",
        "PoisonError",
    ];
    let mut found = Vec::new();
    for file in rust_files(&root().join("src")) {
        let path = rel(&file);
        // Tests may unwrap a lock: a poisoned one there is a failed test.
        if path == "src/sync.rs" || path.ends_with("tests.rs") || path.contains("/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            let lock_in_let =
                (line.starts_with("if let Ok(") || line.starts_with("let Ok(")) && line.contains(".lock()");
            if !line.starts_with("//") && (lock_in_let || ad_hoc.iter().any(|p| line.contains(p))) {
                found.push(format!("{path}:{}: {line}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "use crate::sync::{{lock, read, write}}: {found:#?}");
}
