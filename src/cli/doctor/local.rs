//! Doctor checks on this host: config, data dir, database, each model (file, checksum, GGUF, one token), memory and disk, TLS files, GitLab's keys.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Check;
use crate::config::{Config, ConfigArgs};
use crate::store::{ModelRecord, Store, StoreError};

/// What the later checks need to know.
pub(super) struct Env {
    pub config: Config,
    /// The running server's `/local/status` answer; `None` when no server holds the database.
    pub server: Option<Value>,
    /// Models to check: the boot config's and the registered ones, by name.
    pub models: Vec<ModelRecord>,
    pub gitlab_url: Option<String>,
    /// A signing key file a fleet shares (`jwt_signing_key` of an applied file), else the data dir's.
    pub signing_key: Option<String>,
}

const FIX_CONFIG: &str = "correct the file and check it with `airgate config check`";

/// Config, data dir and database; `None` when the rest cannot run.
pub(super) async fn environment(args: &ConfigArgs, checks: &mut Vec<Check>) -> Option<Env> {
    let mut config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail("config", e.to_string(), FIX_CONFIG));
            return None;
        }
    };
    let source = config.config_file.as_ref().map_or("built-in defaults".into(), |p| p.display().to_string());
    checks.push(Check::pass("config", format!("valid: {source}")));
    if let Err(e) = config.resolve_data_dir() {
        checks.push(Check::fail(
            "data dir",
            e.to_string(),
            "create it and give it to the service user (`chown airgate: DIR`)",
        ));
        return None;
    }
    if config.data_dir_fallback {
        checks.push(Check::fail(
            "data dir",
            format!("{} is not writable by this user", crate::config::DEFAULT_DATA_DIR),
            "run the doctor as root or as the service user (`sudo -u airgate airgate doctor`), or pass --data-dir",
        ));
        return None;
    }
    let dir = config.data_dir.clone();
    checks.push(Check::pass("data dir", format!("{} is writable", dir.display())));
    let (server, mut models, stored_url, signing_key) = match Store::open(&dir) {
        Ok(store) => {
            let schema = store.schema_version().unwrap_or_default();
            checks.push(Check::pass("database", format!("schema {schema}; no server is running on this data dir")));
            let url = store.get_setting(crate::store::settings::GITLAB_URL).ok().flatten();
            let key = store.get_setting(crate::store::settings::JWT_SIGNING_KEY).ok().flatten();
            (None, store.models().unwrap_or_default(), url, key)
        }
        Err(StoreError::Locked { .. }) => match local_status(&dir).await {
            Ok(status) => {
                checks.push(Check::pass("database", "in use by the running server"));
                let models = status["models"].as_array().into_iter().flatten().filter_map(record_of).collect();
                let url = status["gitlab_url"].as_str().map(str::to_string);
                let key = status["jwt_signing_key"].as_str().map(str::to_string);
                (Some(status), models, url, key)
            }
            Err(e) => {
                checks.push(Check::fail("database", e, "restart the service (`systemctl restart airgate`)"));
                return None;
            }
        },
        Err(e) => {
            checks.push(Check::fail(
                "database",
                e.to_string(),
                "restore a backup (`airgate restore FILE`) or move the file aside to start afresh",
            ));
            return None;
        }
    };
    for spec in &config.models {
        if !models.iter().any(|m| m.name == spec.name) {
            models.push(crate::models::new_record(&spec.name, &spec.path.display().to_string(), 0));
        }
    }
    let gitlab_url = if server.is_some() { stored_url } else { stored_url.or(config.gitlab_url.clone()) };
    Some(Env { config, server, models, gitlab_url, signing_key })
}

fn record_of(v: &Value) -> Option<ModelRecord> {
    let mut r = crate::models::new_record(v["name"].as_str()?, v["path"].as_str()?, v["size"].as_u64().unwrap_or(0));
    r.sha256 = v["sha256"].as_str().map(str::to_string);
    Some(r)
}

async fn local_status(dir: &Path) -> Result<Value, String> {
    crate::cli::local::request(dir, "GET", "/local/status", None).await
}

async fn probe(dir: &Path, model: &str) -> Result<Value, String> {
    crate::cli::local::request(dir, "POST", &format!("/local/models/{model}/probe"), None).await
}

/// Per model: the file, its checksum, the GGUF header, and one generated token.
pub(super) async fn models(env: &Env, checks: &mut Vec<Check>) {
    if env.models.is_empty() {
        checks.push(Check::warn(
            "models",
            "no model is configured or registered",
            "import one on the admin UI's Models page or run `airgate model add FILE`",
        ));
    }
    for m in &env.models {
        let name = format!("model {}", m.name);
        let path = PathBuf::from(&m.path);
        if !path.is_file() {
            checks.push(Check::fail(
                format!("{name}: file"),
                format!("{} does not exist", path.display()),
                "copy the file back, or remove the model on the admin UI's Models page",
            ));
            continue;
        }
        let mut ok = true;
        if let Some(want) = &m.sha256 {
            let (p, want) = (path.clone(), want.clone());
            let got = tokio::task::spawn_blocking(move || crate::models::sha256_file(&p)).await;
            match got {
                Ok(Ok(got)) if got == want => {
                    checks.push(Check::pass(format!("{name}: sha256"), "matches the registered checksum"))
                }
                Ok(Ok(got)) => {
                    ok = false;
                    checks.push(Check::fail(
                        format!("{name}: sha256"),
                        format!("the file changed since it was registered (sha256 {got}, registered {want})"),
                        "copy the original file back (from the bundle or your model store)",
                    ));
                }
                _ => {
                    ok = false;
                    checks.push(Check::fail(
                        format!("{name}: sha256"),
                        "cannot read the file",
                        "check its permissions",
                    ));
                }
            }
        }
        match crate::engine::gguf::read(&path) {
            Ok(info) => checks.push(Check::pass(
                format!("{name}: gguf"),
                format!(
                    "{} {}, {}",
                    info.architecture().unwrap_or("unknown"),
                    info.quantization(),
                    human(info.file_size)
                ),
            )),
            Err(e) => {
                ok = false;
                checks.push(Check::fail(
                    format!("{name}: gguf"),
                    e.to_string(),
                    "replace the file with a complete GGUF model",
                ));
            }
        }
        if ok {
            checks.push(answer(env, m).await);
        }
    }
}

/// One token: from the running server's engine, or from a load here when no server runs.
async fn answer(env: &Env, m: &ModelRecord) -> Check {
    let name = format!("model {}: answers", m.name);
    if let Some(status) = &env.server {
        let state = status["models"].as_array().into_iter().flatten().find(|v| v["name"] == m.name.as_str());
        return match state.and_then(|v| v["status"].as_str()) {
            Some("ready") => match probe(&env.config.data_dir, &m.name).await {
                Ok(v) if v["ok"] == true => Check::pass(name, v["message"].as_str().unwrap_or("answered")),
                Ok(v) => Check::fail(name, v["message"].as_str().unwrap_or("no answer"), "see `journalctl -u airgate`"),
                Err(e) => Check::fail(name, e, "see `journalctl -u airgate`"),
            },
            Some("loading") => Check::warn(name, "still loading", "run the doctor again in a minute"),
            Some("failed") => Check::fail(
                name,
                state.and_then(|v| v["error"].as_str()).unwrap_or("failed to load").to_string(),
                "see `journalctl -u airgate`; check memory and the model file",
            ),
            _ => Check::skip(name, "not loaded by the server (load it on the Models page)"),
        };
    }
    let mut params = crate::models::load_params_from(&env.config, m);
    params.ctx_size = params.ctx_size.min(1024);
    params.parallel = 1;
    let loaded = tokio::task::spawn_blocking(move || crate::engine::llama::LlamaEngine::load(params)).await;
    match loaded {
        Ok(Ok(engine)) => match crate::models::probe(&engine).await {
            Ok(message) => Check::pass(name, format!("loaded here; {message}")),
            Err(e) => Check::fail(name, e, "try another model file; see the log above"),
        },
        Ok(Err(e)) => Check::fail(name, format!("does not load: {e}"), "check memory and the model file"),
        Err(_) => Check::fail(name, "the loader crashed", "check memory and the model file"),
    }
}

/// Available memory vs the models still to load; free disk in the data dir vs the largest model.
pub(super) fn resources(env: &Env, checks: &mut Vec<Check>) {
    let loaded = |m: &ModelRecord| {
        env.server.as_ref().is_some_and(|s| {
            s["models"].as_array().into_iter().flatten().any(|v| v["name"] == m.name.as_str() && v["status"] == "ready")
        })
    };
    let size = |m: &ModelRecord| std::fs::metadata(&m.path).map_or(0, |md| md.len());
    let need: u64 = env.models.iter().filter(|m| !loaded(m)).map(|m| size(m) + size(m) / 5).sum();
    match mem_available() {
        Some(free) if free >= need => checks.push(Check::pass(
            "memory",
            format!("{} available, {} needed for the models not loaded yet", human(free), human(need)),
        )),
        Some(free) => checks.push(Check::fail(
            "memory",
            format!("{} available, {} needed for the models not loaded yet", human(free), human(need)),
            "free memory, or use smaller (more quantised) models",
        )),
        None => checks.push(Check::skip("memory", "cannot read /proc/meminfo")),
    }
    let largest = env.models.iter().map(size).max().unwrap_or(0).max(1 << 30);
    match crate::sys::disk_free(&env.config.data_dir) {
        Some(free) if free >= largest => {
            checks.push(Check::pass("disk", format!("{} free in the data dir", human(free))))
        }
        Some(free) => checks.push(Check::warn(
            "disk",
            format!("{} free in the data dir; importing a model needs {}", human(free), human(largest)),
            "free disk space under the data dir",
        )),
        None => checks.push(Check::skip("disk", "cannot read the file system's free space")),
    }
}

fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

pub(super) fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b => format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

/// The certificate the server uses (an uploaded one wins, as at start): readable, fits the key, not expiring.
pub(super) async fn tls(env: &Env, checks: &mut Vec<Check>) {
    let uploaded = crate::http::tls::uploaded_paths(&env.config.data_dir);
    let paths = if uploaded.cert.is_file() && uploaded.key.is_file() { Some(uploaded) } else { env.config.tls.clone() };
    let Some(paths) = paths else {
        checks.push(Check::skip("tls", "not configured: airgate serves plain HTTP"));
        return;
    };
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let pair = read(&paths.cert).and_then(|c| read(&paths.key).map(|k| (c, k)));
    let fix = "install a valid certificate and key (admin UI Settings page, or tls.cert / tls.key in the config)";
    let (cert, key) = match pair {
        Ok(pair) => pair,
        Err(e) => return checks.push(Check::fail("tls", e, fix)),
    };
    let info = match crate::http::tls::check(&cert, &key).await {
        Ok(info) => info,
        Err((_, e)) => return checks.push(Check::fail("tls", format!("{}: {e}", paths.cert.display()), fix)),
    };
    let days = (info.not_after - crate::unix_now() as i64) / 86_400;
    let detail = format!("{} ({}), valid for {days} more days", info.subject, paths.cert.display());
    checks.push(match days {
        d if d < 0 => Check::fail("tls", format!("{} expired", info.subject), fix),
        d if d < 14 => Check::fail("tls", detail, "renew the certificate now"),
        d if d < 30 => Check::warn("tls", detail, "renew the certificate soon"),
        _ => Check::pass("tls", detail),
    });
}

/// GitLab's OIDC discovery and key set, fetched as the server does.
pub(super) async fn gitlab(env: &Env, checks: &mut Vec<Check>) {
    let Some(url) = &env.gitlab_url else {
        checks.push(Check::warn(
            "gitlab",
            "no GitLab URL is set: tokens from GitLab cannot be verified",
            "set it on the admin UI's GitLab page or as gitlab_url in the config",
        ));
        return;
    };
    if url.to_ascii_lowercase().starts_with("http://") {
        checks.push(Check::warn("gitlab-https", crate::config::plain_http_warning(url), "serve GitLab over https://"));
    }
    checks.push(match crate::auth::gitlab::probe_gitlab_keys(url).await {
        Ok(n) => Check::pass("gitlab", format!("{url}: fetched {n} signing keys")),
        Err(e) => Check::fail(
            "gitlab",
            format!("{url}: {e}"),
            format!("check the URL, DNS and firewall from this host (`curl {url}/.well-known/openid-configuration`)"),
        ),
    });
}
