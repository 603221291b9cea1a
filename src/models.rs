//! Model lifecycle: the models that load at start, load / unload / reload with new parameters at run time, and GGUF import with SHA-256 verification and progress.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::activity::Tapped;
use crate::config::Config;
use crate::engine::embed::Pooling;
use crate::engine::llama::{EmbedOptions, LlamaEngine, LoadParams, Speculation, Stopping};
use crate::engine::{Engine, ModelRegistry, ModelStatus};
use crate::store::settings::RECORDED_MODEL_PARAMS;
use crate::store::{ModelRecord, RecordedParams, Store};

/// What the model lifecycle needs of the running server (an axum sub-state of the application
/// state): the registry requests find models in, the boot config, the store, the import jobs and
/// the switch that cuts generations at the shutdown deadline.
#[derive(Clone)]
pub struct Lifecycle {
    pub registry: ModelRegistry,
    pub config: Arc<Config>,
    pub store: Store,
    pub jobs: Arc<Jobs>,
    pub stopping: Stopping,
}

impl Lifecycle {
    /// Where imported models are copied: `<data_dir>/models`.
    pub fn models_dir(&self) -> PathBuf {
        self.config.data_dir.join("models")
    }

    /// Load parameters: the record's own, else the boot config's.
    pub fn load_params(&self, m: &ModelRecord) -> LoadParams {
        LoadParams { stopping: self.stopping.clone(), ..load_params_from(&self.config, m) }
    }
}

/// Load parameters from a config (without a running server: `airgate doctor`).
pub fn load_params_from(c: &crate::config::Config, m: &ModelRecord) -> LoadParams {
    LoadParams {
        name: m.name.clone(),
        path: PathBuf::from(&m.path),
        ctx_size: m.ctx_size.unwrap_or(c.ctx_size),
        parallel: m.parallel.unwrap_or(c.parallel),
        threads: m.threads.unwrap_or(c.threads),
        batch_size: c.batch_size,
        queue_depth: c.queue_depth,
        queue_wait: std::time::Duration::from_secs(c.queue_wait_secs),
        max_output_tokens: c.max_output_tokens,
        prefix_reuse: c.prefix_reuse,
        speculation: speculation(c, m),
        mlock: c.mlock,
        gpu_layers: m.gpu_layers.unwrap_or(0),
        stopping: Default::default(),
        embeddings: embed_options(c, m),
    }
}

/// Speculative decoding on the model: the admin's choice in its record, else its boot-config
/// table's, else the default: off on the CPU, where verifying a draft costs about as much per
/// token as decoding it (docs/performance.md has the measurements).
pub fn speculation(c: &crate::config::Config, m: &ModelRecord) -> Speculation {
    let spec = c.models.iter().find(|s| s.name == m.name);
    m.speculation
        .as_deref()
        .or(spec.and_then(|s| s.speculation.as_deref()))
        .and_then(Speculation::parse)
        .unwrap_or_default()
}

/// Embeddings on the model: the admin's choice in its record, else its boot-config table's.
pub fn embed_options(c: &crate::config::Config, m: &ModelRecord) -> EmbedOptions {
    let spec = c.models.iter().find(|s| s.name == m.name);
    let pooling = m.pooling.as_deref().or(spec.and_then(|s| s.pooling.as_deref())).and_then(Pooling::parse);
    EmbedOptions { allow: m.embeddings.unwrap_or(spec.is_some_and(|s| s.embeddings)), pooling }
}

/// A record for a model of the boot config that the store does not know yet.
pub fn new_record(name: &str, path: &str, size: u64) -> ModelRecord {
    ModelRecord {
        name: name.to_string(),
        path: path.to_string(),
        sha256: None,
        size,
        family: None,
        ctx_size: None,
        parallel: None,
        threads: None,
        gpu_layers: None,
        added_at: crate::unix_now(),
        autoload: None,
        embeddings: None,
        pooling: None,
        speculation: None,
    }
}

/// Loads (or reloads) `m`: announced as loading at once, ready or failed when the load ends.
/// A model already loaded keeps serving until the new one is ready, then is replaced.
/// The engine enters the registry wrapped in [`Tapped`], so the request log sees its generations.
pub async fn load(life: &Lifecycle, m: &ModelRecord) -> Result<(), String> {
    let params = life.load_params(m);
    let registry = &life.registry;
    if registry.status(&m.name).is_none() {
        registry.add_loading(&m.name, &m.path);
    }
    let started = Instant::now();
    let loaded = tokio::task::spawn_blocking(move || LlamaEngine::load(params)).await;
    match loaded {
        Ok(Ok(engine)) => {
            let info = engine.info().clone();
            tracing::info!(model = %info.name, architecture = %info.architecture, quantization = %info.quantization,
                slots = info.slots, context_per_slot = info.context_per_slot, load_ms = started.elapsed().as_millis() as u64, "model loaded");
            registry.set_loaded(&m.name, Tapped::wrap(Arc::new(engine)));
            Ok(())
        }
        Ok(Err(e)) => {
            tracing::error!(model = %m.name, error = %e, "model failed to load; the server keeps running without it");
            registry.set_failed(&m.name, e.to_string());
            Err(e.to_string())
        }
        Err(e) => {
            tracing::error!(model = %m.name, error = %e, "model loader crashed");
            registry.set_failed(&m.name, "the loader crashed; see the log".into());
            Err("the loader crashed; see the log".into())
        }
    }
}

/// Brings the running models in line with a newly applied configuration `set` (`before`: the
/// records it replaced): models it loads at start are loaded (or reloaded, when their file or
/// parameters changed), models it dropped or no longer loads are unloaded (unless the boot config
/// names them), and its default model becomes the default. Loads run in the background; returns
/// the models being loaded.
pub async fn reconcile(life: &Lifecycle, before: &[ModelRecord], set: &crate::store::ConfigSet) -> Vec<String> {
    let boot = |name: &str| life.config.models.iter().any(|m| m.name == name);
    for summary in life.registry.list() {
        let kept = set.models.iter().find(|r| r.name == summary.name);
        if kept.is_none_or(|r| r.autoload == Some(false)) && !boot(&summary.name) {
            life.registry.remove(&summary.name);
            tracing::info!(model = %summary.name, "unloaded: the applied configuration does not load it");
        }
    }
    let mut loading = Vec::new();
    for r in set.models.iter().filter(|r| r.autoload != Some(false)) {
        let changed = before.iter().find(|b| b.name == r.name).is_none_or(|b| {
            (&b.path, b.size, b.ctx_size, b.parallel, b.threads, b.gpu_layers)
                != (&r.path, r.size, r.ctx_size, r.parallel, r.threads, r.gpu_layers)
        });
        let absent = life.registry.status(&r.name).is_none();
        if absent || changed {
            if absent {
                // Announced at once; a model already loaded keeps serving until its reload is ready.
                life.registry.add_loading(&r.name, &r.path);
            }
            loading.push(r.name.clone());
            let (life, r) = (life.clone(), r.clone());
            tokio::spawn(async move { load(&life, &r).await });
        }
    }
    if let Some(name) = &set.default_model {
        life.registry.set_default(name);
    }
    loading
}

/// Registers the GGUF at `path` under `name` to load at every start, without copying it: checks the
/// file, hashes it. Registering the same file under the same name again changes nothing (installers
/// rerun); another file under a taken name is refused. Blocking. Returns the record and whether it is new.
pub fn register(store: &Store, path: &Path, name: &str) -> Result<(ModelRecord, bool), String> {
    let path = path.canonicalize().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let shown = path.display().to_string();
    // Opened once: the bytes checked are the bytes hashed.
    let mut file = std::fs::File::open(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let info = crate::engine::gguf::read_open(&file, &shown).map_err(|e| format!("not a usable GGUF file: {e}"))?;
    let sha256 = sha256_of(&mut file).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if let Some(existing) = store.model(name).map_err(|e| e.to_string())? {
        if existing.path == shown && existing.sha256.as_deref() == Some(sha256.as_str()) {
            return Ok((existing, false));
        }
        return Err(format!(
            "a model named `{name}` is registered already (file {}); choose another name",
            existing.path
        ));
    }
    let mut record = new_record(name, &shown, info.file_size);
    record.sha256 = Some(sha256);
    record.autoload = Some(true);
    store.upsert_model(&record).map_err(|e| e.to_string())?;
    Ok((record, true))
}

/// A short greedy generation ("Reply with OK"): the answer's first words when the model produced
/// tokens within a minute, else why not. Used by the admin diagnostics and `airgate doctor`.
pub async fn probe(engine: &dyn Engine) -> Result<String, String> {
    use crate::engine::{ChatMessage, GenerateRequest, Prompt, SamplingParams, collect};
    use std::time::Duration;
    let req = GenerateRequest {
        prompt: Prompt::Chat(vec![ChatMessage::new("user", "Reply with the single word OK.")]),
        max_tokens: Some(8),
        sampling: SamplingParams { temperature: 0.0, ..SamplingParams::default() },
        stop: Vec::new(),
        repetition_guard: false,
        ignore_eos: false,
        speculate: false,
        deadline: Some(Instant::now() + Duration::from_secs(30)),
        feature: "diagnostics",
        constraint: None,
        special_text: Vec::new(),
        upstream_tools: None,
    };
    let run = async {
        let events = engine.generate(req).await?;
        collect(events).await
    };
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Err(_) => Err("no answer within 60 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(g)) if g.usage.completion_tokens == 0 => Err("the model produced no tokens".into()),
        Ok(Ok(g)) => {
            Ok(format!("{} tokens: {:?}", g.usage.completion_tokens, g.text.chars().take(60).collect::<String>()))
        }
    }
}

/// One embedding of a short text: the vector's width when the model answered within a minute,
/// else why not. The admin diagnostics' check of the embeddings feature.
pub async fn probe_embeddings(engine: &dyn Engine) -> Result<String, String> {
    use crate::engine::{EmbedInput, EmbedRequest};
    use std::time::Duration;
    let req = EmbedRequest {
        inputs: vec![EmbedInput::Text("fn add(a: i32, b: i32) -> i32 { a + b }".into())],
        feature: "diagnostics",
    };
    match tokio::time::timeout(Duration::from_secs(60), engine.embed(req)).await {
        Err(_) => Err("no answer within 60 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(e)) => match e.vectors.first() {
            Some(v) if !v.is_empty() => Ok(format!("a {}-dimensional vector ({} tokens)", v.len(), e.prompt_tokens)),
            _ => Err("the model returned no vector".into()),
        },
    }
}

/// The SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_of(&mut std::fs::File::open(path)?)
}

/// The SHA-256 of an open file from its start, lower-case hex.
fn sha256_of(file: &mut std::fs::File) -> std::io::Result<String> {
    use std::io::Seek;
    file.rewind()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The models to load at start, in order: those of the boot config (unless an admin unloaded them),
/// then those an admin loaded. Each is announced as loading before any starts. Parameters that
/// [`remember`] recorded from an earlier boot config (`recorded`) are dropped, so this start's
/// boot config applies to them.
pub fn startup_set(
    config: &Config,
    stored: &[ModelRecord],
    recorded: &BTreeMap<String, RecordedParams>,
) -> Vec<ModelRecord> {
    let mut out = Vec::new();
    for spec in &config.models {
        let path = spec.path.display().to_string();
        let record = match stored.iter().find(|r| r.name == spec.name) {
            Some(r) if r.autoload == Some(false) => continue,
            Some(r) => ModelRecord { path: path.clone(), ..r.clone() },
            None => new_record(&spec.name, &path, std::fs::metadata(&spec.path).map_or(0, |m| m.len())),
        };
        out.push(record);
    }
    for r in stored {
        if r.autoload == Some(true) && !out.iter().any(|o| o.name == r.name) {
            out.push(r.clone());
        }
    }
    for r in &mut out {
        if let Some(p) = recorded.get(&r.name) {
            p.forget_in(r);
        }
    }
    out
}

/// What a model was loaded with: the context per slot it got, its slots and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedParams {
    pub ctx_size: u32,
    pub parallel: u32,
    pub threads: u32,
}

/// Records a model that loaded at start: path, size, the parameters it runs with, and (on a
/// low-priority thread of its own, off the request path and never delaying shutdown) its SHA-256
/// when the record has none for this file. Parameters an admin chose stay as they are. Blocking.
/// Returns the hashing thread, if one was started.
pub fn remember(
    store: &Store,
    name: &str,
    path: &str,
    size: u64,
    used: UsedParams,
) -> Result<Option<std::thread::JoinHandle<()>>, crate::store::StoreError> {
    let previous = store.get_setting(RECORDED_MODEL_PARAMS)?.unwrap_or_default();
    let before = previous.get(name).copied().unwrap_or_default();
    let mut recorded = RecordedParams::default();
    // One transaction: an admin's change to this record meanwhile is never overwritten.
    let record = store.update_model(name, |current| {
        let mut record = match current {
            Some(existing) if existing.path == path && existing.size == size => existing,
            Some(existing) => ModelRecord { path: path.to_string(), size, sha256: None, ..existing },
            None => new_record(name, path, size),
        };
        for (field, was, now, mark) in [
            (&mut record.ctx_size, before.ctx_size, used.ctx_size, &mut recorded.ctx_size),
            (&mut record.parallel, before.parallel, used.parallel, &mut recorded.parallel),
            (&mut record.threads, before.threads, used.threads, &mut recorded.threads),
        ] {
            // Unset, or still what was recorded from the boot config last time: not an admin's choice.
            if field.is_none() || *field == was {
                *field = Some(now);
                *mark = Some(now);
            }
        }
        Some(record)
    })?;
    let Some(record) = record else { return Ok(None) };
    let key = name.to_string();
    store.update_setting(RECORDED_MODEL_PARAMS, move |map| {
        let mut map = map.unwrap_or_default();
        map.insert(key, recorded);
        map
    })?;
    if record.sha256.is_some() {
        return Ok(None);
    }
    let (store, name, path) = (store.clone(), name.to_string(), PathBuf::from(path));
    let hasher = std::thread::Builder::new().name(format!("sha256-{name}")).spawn(move || {
        crate::sys::lower_thread_priority();
        let started = Instant::now();
        let sha256 = match sha256_file(&path) {
            Ok(sha) => sha,
            Err(e) => return tracing::warn!(model = %name, error = %e, "cannot hash the model file"),
        };
        // The record may have changed meanwhile (or been removed): only a record of this very file
        // takes the hash, in one transaction with the check.
        let saved = store.update_model(&name, |r| match r {
            Some(mut r) if r.path == path.display().to_string() && r.size == size && r.sha256.is_none() => {
                r.sha256 = Some(sha256.clone());
                Some(r)
            }
            _ => None,
        });
        match saved {
            Ok(Some(_)) => tracing::info!(model = %name, %sha256, hash_ms = started.elapsed().as_millis() as u64, "model file hashed"),
            Ok(None) => tracing::debug!(model = %name, "model record changed while hashing; hash not recorded"),
            Err(e) => tracing::warn!(model = %name, error = %e, "could not record the model's sha256"),
        }
    });
    match hasher {
        Ok(handle) => Ok(Some(handle)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the thread that hashes the model file");
            Ok(None)
        }
    }
}

/// The status word of a registered model.
pub fn status_of(registry: &ModelRegistry, name: &str) -> (&'static str, Option<String>) {
    match registry.status(name) {
        Some(ModelStatus::Ready) => ("ready", None),
        Some(ModelStatus::Loading) => ("loading", None),
        Some(ModelStatus::Failed(reason)) => ("failed", Some(reason)),
        None => ("unloaded", None),
    }
}

// -- import jobs -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// One import, as the UI polls it.
pub struct Job {
    pub id: String,
    pub state: Mutex<(JobState, String)>,
    pub bytes_done: AtomicU64,
    pub bytes_total: u64,
    pub model: String,
}

impl Job {
    pub fn to_json(&self) -> serde_json::Value {
        let (state, message) = crate::sync::lock(&self.state).clone();
        serde_json::json!({
            "id": self.id,
            "state": state,
            "bytes_done": self.bytes_done.load(Ordering::Relaxed),
            "bytes_total": self.bytes_total,
            "message": message,
            "model": self.model,
        })
    }

    fn finish(&self, state: JobState, message: String) {
        *crate::sync::lock(&self.state) = (state, message);
    }
}

/// Import jobs of this process, by id (the newest 50 are kept).
#[derive(Default)]
pub struct Jobs(Mutex<HashMap<String, Arc<Job>>>);

impl Jobs {
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        crate::sync::lock(&self.0).get(id).cloned()
    }

    fn add(&self, job: Arc<Job>) {
        let mut map = crate::sync::lock(&self.0);
        if map.len() >= 50
            && let Some(oldest) =
                map.values().filter(|j| crate::sync::lock(&j.state).0 != JobState::Running).map(|j| j.id.clone()).next()
        {
            map.remove(&oldest);
        }
        map.insert(job.id.clone(), job);
    }
}

/// What to import.
pub struct ImportRequest {
    pub source: PathBuf,
    pub name: String,
    pub expected_sha256: Option<String>,
    pub load: bool,
}

/// Starts an import in the background; the job reports progress. The source is checked as a GGUF
/// before a byte is copied.
pub fn start_import(life: &Lifecycle, req: ImportRequest) -> Result<Arc<Job>, String> {
    let shown = req.source.display().to_string();
    // Opened once: the handle checked as a GGUF is the one copied and hashed.
    let source = std::fs::File::open(&req.source).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let meta = source.metadata().map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    crate::engine::gguf::read_open(&source, &shown).map_err(|e| format!("not a usable GGUF file: {e}"))?;
    let job = Arc::new(Job {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        state: Mutex::new((JobState::Running, "copying and hashing".into())),
        bytes_done: AtomicU64::new(0),
        bytes_total: meta.len(),
        model: req.name.clone(),
    });
    life.jobs.add(job.clone());
    let (life, running) = (life.clone(), job.clone());
    tokio::spawn(async move {
        let dir = life.models_dir();
        let (j, path, expected) = (running.clone(), req.source.clone(), req.expected_sha256.clone());
        let copied =
            tokio::task::spawn_blocking(move || copy_verified((&path, source), &dir, expected.as_deref(), &j)).await;
        let (path, sha256) = match copied {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return running.finish(JobState::Failed, e),
            Err(e) => return running.finish(JobState::Failed, format!("the import task failed: {e}")),
        };
        let mut record = new_record(&req.name, &path.display().to_string(), running.bytes_total);
        record.sha256 = Some(sha256.clone());
        record.autoload = Some(req.load);
        let store = life.store.clone();
        let r = record.clone();
        let saved = tokio::task::spawn_blocking(move || {
            if store.model(&r.name)?.is_some() {
                return Ok(false);
            }
            store.upsert_model(&r).map(|_| true)
        })
        .await;
        match saved {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                return running.finish(JobState::Failed, format!("a model named `{}` exists already", req.name));
            }
            Ok(Err(e)) => return running.finish(JobState::Failed, e.to_string()),
            Err(e) => return running.finish(JobState::Failed, e.to_string()),
        }
        tracing::info!(model = %req.name, path = %path.display(), %sha256, "model imported");
        if req.load {
            running.finish(JobState::Running, "loading".into());
            if let Err(e) = load(&life, &record).await {
                return running.finish(JobState::Failed, format!("imported, but it failed to load: {e}"));
            }
        }
        running.finish(JobState::Done, format!("imported; sha256 {sha256}"));
    });
    Ok(job)
}

/// Copies `source` (its path, and the file already open and checked) into `dir` (or hashes it in
/// place when it is already there), checking the SHA-256. Reads only the open handle.
fn copy_verified(
    (source, mut input): (&Path, std::fs::File),
    dir: &Path,
    expected: Option<&str>,
    job: &Job,
) -> Result<(PathBuf, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file_name = source.file_name().ok_or("the path names no file")?;
    let target = dir.join(file_name);
    let in_place = source.canonicalize().ok() == target.canonicalize().ok() && target.exists();
    if !in_place && target.exists() {
        return Err(format!("{} exists already; import it from there or rename the source", target.display()));
    }
    std::io::Seek::rewind(&mut input).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let part = dir.join(format!(".{}.part", file_name.to_string_lossy()));
    let mut output = if in_place {
        None
    } else {
        Some(std::fs::File::create(&part).map_err(|e| format!("cannot write {}: {e}", part.display()))?)
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let result = (|| {
        loop {
            let n = input.read(&mut buf).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if let Some(out) = output.as_mut() {
                out.write_all(&buf[..n]).map_err(|e| format!("cannot write {}: {e}", part.display()))?;
            }
            job.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
        }
        let sha = hex::encode(hasher.finalize());
        if let Some(want) = expected.map(|w| w.trim().to_ascii_lowercase())
            && want != sha
        {
            return Err(format!("SHA-256 mismatch: the file has {sha}, expected {want}; nothing was imported"));
        }
        if let Some(out) = output.take() {
            out.sync_all().map_err(|e| format!("cannot write {}: {e}", part.display()))?;
            std::fs::rename(&part, &target).map_err(|e| format!("cannot move into {}: {e}", target.display()))?;
        }
        Ok(sha)
    })();
    match result {
        Ok(sha) => Ok((target, sha)),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
