//! Models over HTTP: the models directory, import with progress, per-model parameters, load / unload / reload, the default, "try it".

use std::path::PathBuf;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use crate::engine::embed::Pooling;
use crate::engine::{ChatMessage, Event, GenerateRequest, Prompt, SamplingParams};
use crate::features::routing::{RouteTarget, features_routed_to};
use crate::http::stream::{event_stream, sse_data};
use crate::http::{ApiError, JsonBody};
use crate::models::{ImportRequest, Lifecycle, status_of};
use crate::prompt::Family;
use crate::state::AppState;
use crate::store::ModelRecord;
use crate::store::settings::{DEFAULT_MODEL, FEATURE_ROUTES};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/models", get(list))
        .route("/api/admin/families", get(families))
        .route("/api/admin/models/import", post(import))
        .route("/api/admin/jobs/{id}", get(job))
        .route("/api/admin/models/{name}", put(update).delete(remove))
        .route("/api/admin/models/{name}/load", post(load))
        .route("/api/admin/models/{name}/reload", post(load))
        .route("/api/admin/models/{name}/unload", post(unload))
        .route("/api/admin/models/{name}/default", post(make_default))
        .route("/api/admin/models/{name}/try", post(try_it))
}

fn model_json(life: &Lifecycle, m: &ModelRecord) -> Value {
    let (status, detail) = status_of(&life.registry, &m.name);
    let memory = life.registry.get(&m.name).map(|e| e.info().size_bytes);
    json!({
        "name": m.name,
        "path": m.path,
        "size": m.size,
        "sha256": m.sha256,
        "family": m.family,
        "ctx_size": m.ctx_size,
        "parallel": m.parallel,
        "threads": m.threads,
        "gpu_layers": m.gpu_layers,
        "status": status,
        "detail": detail,
        "default": life.registry.default_name().as_deref() == Some(&m.name),
        "autoload": m.autoload.unwrap_or(status != "unloaded"),
        "memory_bytes": memory,
        "added_at": m.added_at,
        "embeddings": m.embeddings,
        "pooling": m.pooling,
        "speculation": m.speculation,
        // What the loaded model serves now: its vectors' width, pooling and input limit.
        "embedding": life.registry.get(&m.name).and_then(|e| e.embeddings()),
    })
}

/// Every model the store or this process knows, by name.
async fn all_models(life: &Lifecycle) -> AdminResult<Vec<ModelRecord>> {
    let store = life.store.clone();
    let mut records = blocking(move || store.models().map_err(store_err)).await?;
    for summary in life.registry.list() {
        if !records.iter().any(|r| r.name == summary.name) {
            let size = std::fs::metadata(&summary.path).map_or(0, |m| m.len());
            records.push(crate::models::new_record(&summary.name, &summary.path, size));
        }
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

async fn record(life: &Lifecycle, name: &str) -> AdminResult<ModelRecord> {
    all_models(life)
        .await?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no model named `{name}`")).into())
}

async fn save(life: &Lifecycle, m: &ModelRecord) -> AdminResult<()> {
    let (store, m) = (life.store.clone(), m.clone());
    blocking(move || store.upsert_model(&m).map_err(store_err)).await
}

async fn list(State(life): State<Lifecycle>, _admin: Admin) -> AdminResult<Json<Value>> {
    let models = all_models(&life).await?;
    let dir = life.models_dir();
    let files = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || gguf_files(&dir)).await.unwrap_or_default()
    };
    let files: Vec<Value> = files
        .into_iter()
        .map(|(path, size)| {
            let path = path.display().to_string();
            let registered = models.iter().find(|m| m.path == path).map(|m| m.name.clone());
            json!({ "path": path, "size": size, "registered_as": registered })
        })
        .collect();
    Ok(Json(json!({
        "models_dir": dir.display().to_string(),
        "files": files,
        "models": models.iter().map(|m| model_json(&life, m)).collect::<Vec<_>>(),
    })))
}

/// GitLab's model families, the choices of a model's or an endpoint's family field.
async fn families(_admin: Admin) -> Json<Vec<&'static str>> {
    Json(Family::ALL.iter().map(|f| f.as_str()).collect())
}

/// `*.gguf` files directly in `dir`, sorted.
fn gguf_files(dir: &std::path::Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")))
        .filter_map(|e| Some((e.path(), e.metadata().ok().filter(|m| m.is_file())?.len())))
        .collect();
    out.sort();
    out
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(ApiError::invalid("name", "must be 1 to 128 characters of letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    path: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    load: Option<bool>,
}

async fn import(
    State(life): State<Lifecycle>,
    admin: Admin,
    JsonBody(body, _): AdminJson<ImportBody>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    let source = PathBuf::from(body.path.trim());
    if !source.is_absolute() {
        return Err(ApiError::invalid(
            "path",
            "must be an absolute path on the airgate host, e.g. /media/usb/model.gguf",
        )
        .into());
    }
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = body.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map_or(stem, str::to_string);
    check_name(&name)?;
    let expected = body.sha256.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_ascii_lowercase);
    if expected.as_ref().is_some_and(|s| s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(ApiError::invalid("sha256", "must be 64 hexadecimal characters").into());
    }
    if all_models(&life).await?.iter().any(|m| m.name == name) {
        return Err(ApiError::Conflict(format!("a model named `{name}` exists already; choose another name")).into());
    }
    let req = ImportRequest {
        source: source.clone(),
        name: name.clone(),
        expected_sha256: expected,
        load: body.load.unwrap_or(true),
    };
    let st = life.clone();
    let job = tokio::task::spawn_blocking(move || crate::models::start_import(&st, req))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::invalid("path", e))?;
    admin.audit("import_model", &name, &source.display().to_string());
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": job.id }))))
}

async fn job(State(life): State<Lifecycle>, _admin: Admin, Path(id): Path<String>) -> AdminResult<Json<Value>> {
    match life.jobs.get(&id) {
        Some(job) => Ok(Json(job.to_json())),
        None => Err(ApiError::NotFound(format!("no import job `{id}`")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsBody {
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    ctx_size: Option<u32>,
    #[serde(default)]
    parallel: Option<u32>,
    #[serde(default)]
    threads: Option<u32>,
    #[serde(default)]
    gpu_layers: Option<u32>,
    /// Let a generation model serve embeddings (empty: the boot config's choice, else off).
    #[serde(default)]
    embeddings: Option<bool>,
    /// `mean`, `cls` or `last` (empty: the model's own, else mean).
    #[serde(default)]
    pooling: Option<String>,
    /// Speculative decoding for code completions and generations: `off`, `exact` or `fast` (empty:
    /// the boot config's choice, else the default).
    #[serde(default)]
    speculation: Option<String>,
}

fn check_params(p: &ParamsBody) -> Result<(), ApiError> {
    let mut fields = Vec::new();
    let mut range = |field: &str, v: Option<u32>, lo: u32, hi: u32| {
        if v.is_some_and(|v| v < lo || v > hi) {
            fields.push((field.to_string(), format!("must be between {lo} and {hi} (empty: automatic)")));
        }
    };
    range("ctx_size", p.ctx_size, 256, 1 << 20);
    range("parallel", p.parallel, 1, 64);
    range("threads", p.threads, 1, 1024);
    range("gpu_layers", p.gpu_layers, 0, 1000);
    if let Some(p) = p.pooling.as_deref().map(str::trim).filter(|p| !p.is_empty())
        && Pooling::parse(p).is_none()
    {
        fields.push(("pooling".into(), "must be mean, cls or last (empty: automatic)".into()));
    }
    if let Some(s) = p.speculation.as_deref().map(str::trim).filter(|s| !s.is_empty())
        && !crate::config::SPECULATION_NAMES.contains(&s)
    {
        fields.push(("speculation".into(), "must be off, exact or fast (empty: as configured)".into()));
    }
    if let Some(f) = p.family.as_deref().filter(|f| !f.trim().is_empty())
        && let Err(e) = Family::parse(f)
    {
        fields.push(("family".into(), e.to_string()));
    }
    ApiError::check_fields(fields)
}

async fn update(
    State(life): State<Lifecycle>,
    admin: Admin,
    Path(name): Path<String>,
    JsonBody(body, _): AdminJson<ParamsBody>,
) -> AdminResult<Json<Value>> {
    check_params(&body)?;
    let mut m = record(&life, &name).await?;
    m.family = body.family.map(|f| f.trim().to_string()).filter(|f| !f.is_empty());
    (m.ctx_size, m.parallel, m.threads, m.gpu_layers) = (body.ctx_size, body.parallel, body.threads, body.gpu_layers);
    m.embeddings = body.embeddings;
    m.pooling = body.pooling.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    m.speculation = body.speculation.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    save(&life, &m).await?;
    let detail = format!(
        "ctx_size {:?}, parallel {:?}, threads {:?}, gpu_layers {:?}, family {:?}, embeddings {:?}, pooling {:?}, speculation {:?}",
        m.ctx_size, m.parallel, m.threads, m.gpu_layers, m.family, m.embeddings, m.pooling, m.speculation
    );
    admin.audit("update_model", &name, &detail);
    if life.registry.status(&name).is_some() {
        let _ = crate::models::load(&life, &m).await;
    }
    Ok(Json(model_json(&life, &m)))
}

/// Load, or reload with the stored parameters; answers when the model is ready or failed.
async fn load(State(life): State<Lifecycle>, admin: Admin, Path(name): Path<String>) -> AdminResult<Json<Value>> {
    let mut m = record(&life, &name).await?;
    m.autoload = Some(true);
    save(&life, &m).await?;
    let result = crate::models::load(&life, &m).await;
    admin.audit("load_model", &name, result.as_ref().err().map_or("loaded", String::as_str));
    Ok(Json(model_json(&life, &m)))
}

async fn unload(State(life): State<Lifecycle>, admin: Admin, Path(name): Path<String>) -> AdminResult<Json<Value>> {
    let mut m = record(&life, &name).await?;
    m.autoload = Some(false);
    save(&life, &m).await?;
    life.registry.remove(&name);
    admin.audit("unload_model", &name, "");
    Ok(Json(model_json(&life, &m)))
}

async fn make_default(
    State(life): State<Lifecycle>,
    admin: Admin,
    Path(name): Path<String>,
) -> AdminResult<Json<Value>> {
    let m = record(&life, &name).await?;
    if !life.registry.set_default(&name) {
        return Err(ApiError::Conflict(format!("model `{name}` is not loaded; load it first")).into());
    }
    let (store, n) = (life.store.clone(), name.clone());
    blocking(move || store.set_setting(DEFAULT_MODEL, &n).map_err(store_err)).await?;
    admin.audit("default_model", &name, "");
    Ok(Json(model_json(&life, &m)))
}

async fn remove(State(life): State<Lifecycle>, admin: Admin, Path(name): Path<String>) -> AdminResult<StatusCode> {
    record(&life, &name).await?;
    let (store, n) = (life.store.clone(), name.clone());
    let routed = blocking(move || {
        let routes = store.get_setting(FEATURE_ROUTES).map_err(store_err)?.unwrap_or_default();
        Ok(features_routed_to(&routes, &RouteTarget::Local { model: n }))
    })
    .await?;
    if !routed.is_empty() {
        return Err(ApiError::Conflict(format!(
            "model `{name}` serves these features: {routed}; route them elsewhere first"
        ))
        .into());
    }
    life.registry.remove(&name);
    let (store, n) = (life.store.clone(), name.clone());
    blocking(move || store.remove_model(&n).map_err(store_err)).await?;
    admin.audit("remove_model", &name, "the file stays on disk");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TryBody {
    prompt: String,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// Streams the model's reply to one user message as SSE.
async fn try_it(
    State(life): State<Lifecycle>,
    _admin: Admin,
    Path(name): Path<String>,
    JsonBody(body, _): AdminJson<TryBody>,
) -> AdminResult<Response> {
    if body.prompt.trim().is_empty() || body.prompt.len() > 100_000 {
        return Err(ApiError::invalid("prompt", "must be 1 to 100,000 characters").into());
    }
    if body.max_tokens.is_some_and(|n| n == 0 || n > 4096) {
        return Err(ApiError::invalid("max_tokens", "must be between 1 and 4096").into());
    }
    let Some(engine) = life.registry.get(&name) else {
        return Err(ApiError::Conflict(format!("model `{name}` is not loaded")).into());
    };
    let req = GenerateRequest {
        prompt: Prompt::Chat(vec![ChatMessage::new("user", body.prompt)]),
        max_tokens: Some(body.max_tokens.unwrap_or(256)),
        sampling: SamplingParams { temperature: 0.7, ..SamplingParams::default() },
        stop: Vec::new(),
        repetition_guard: false,
        ignore_eos: false,
        speculate: false,
        deadline: None,
        feature: "admin_try",
        constraint: None,
        special_text: Vec::new(),
        upstream_tools: None,
    };
    let started = Instant::now();
    let events = engine.generate(req).await?;
    let frames = ReceiverStream::new(events).map(move |event| match event {
        Event::Text(text) => sse_data(&json!({ "text": text })),
        Event::Done { usage, .. } => {
            sse_data(&json!({ "done": true, "usage": usage, "ms": started.elapsed().as_millis() as u64 }))
        }
        Event::Failed(message) => sse_data(&json!({ "error": message })),
        Event::Expired { .. } => sse_data(&json!({ "error": "the request waited too long for a free slot" })),
        Event::Reasoning(_) | Event::ToolCall { .. } => String::new(),
    });
    Ok(event_stream(frames))
}
