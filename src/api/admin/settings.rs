//! Settings: listen and storage facts, the TLS certificate (replaced without a restart), backup and restore of the settings database.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminJson, AdminResult, blocking, session_cookie, store_err};
use std::path::Path;
use std::sync::Arc;

use crate::auth::ApiKeys;
use crate::config::Config;
use crate::engine::ModelRegistry;
use crate::http::tls::{self, CertInfo, TlsHandle};
use crate::http::{ApiError, JsonBody};
use crate::state::{AppState, ExpandedLogging};
use crate::store::settings::{DEFAULT_MODEL, EXPANDED_LOGGING};
use crate::store::{BACKUP_FILE, Scratch, Store};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/settings", get(settings))
        .route("/api/admin/settings/tls", put(upload_tls))
        .route("/api/admin/backup", get(backup))
        .route("/api/admin/restore", post(restore))
}

fn tls_json(config: &Config, handle: &TlsHandle, info: Option<CertInfo>) -> Value {
    let uploaded = tls::uploaded_paths(&config.data_dir);
    let source = match &config.tls {
        Some(p) if p.cert == uploaded.cert => "uploaded",
        Some(_) => "config",
        None if uploaded.cert.is_file() => "uploaded (used from the next start)",
        None => "none",
    };
    json!({
        "enabled": handle.active(),
        "subject": info.as_ref().map(|i| i.subject.clone()),
        "not_after": info.map(|i| i.not_after),
        "source": source,
    })
}

/// The certificate in use (or waiting for the next start).
fn current_cert(config: &Config) -> Option<CertInfo> {
    let path = match &config.tls {
        Some(p) => p.cert.clone(),
        None => tls::uploaded_paths(&config.data_dir).cert,
    };
    std::fs::read_to_string(path).ok().and_then(|pem| tls::inspect(&pem).ok())
}

async fn settings(
    State(config): State<Arc<Config>>,
    State(handle): State<Arc<TlsHandle>>,
    _admin: Admin,
) -> Json<Value> {
    Json(json!({
        "listen": config.listen.to_string(),
        "data_dir": config.data_dir.display().to_string(),
        "models_dir": config.data_dir.join("models").display().to_string(),
        "tls": tls_json(&config, &handle, current_cert(&config)),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsBody {
    cert_pem: String,
    key_pem: String,
}

async fn upload_tls(
    State(config): State<Arc<Config>>,
    State(handle): State<Arc<TlsHandle>>,
    admin: Admin,
    JsonBody(body, _): AdminJson<TlsBody>,
) -> AdminResult<Json<Value>> {
    let info = tls::check(&body.cert_pem, &body.key_pem)
        .await
        .map_err(|(field, problem)| ApiError::invalid(field, problem))?;
    let dir = config.data_dir.clone();
    let (cert, key) = (body.cert_pem.clone(), body.key_pem.clone());
    blocking(move || tls::store_upload(&dir, &cert, &key).map(|_| ()).map_err(|e| ApiError::Internal(e.to_string())))
        .await?;
    handle.replace(&body.cert_pem, &body.key_pem).await.map_err(|e| ApiError::invalid("cert_pem", e))?;
    let note =
        if handle.active() { "in use for new connections" } else { "stored; airgate serves TLS from the next start" };
    admin.audit("upload_tls", &info.subject, note);
    let mut out = tls_json(&config, &handle, Some(info));
    out["message"] = note.into();
    Ok(Json(out))
}

/// A scratch dir in the data dir for one backup or restore.
fn scratch(dir: &Path, tag: &str) -> Result<Scratch, ApiError> {
    Scratch::new(dir, tag)
        .map_err(|e| ApiError::Internal(format!("cannot create a scratch dir in {}: {e}", dir.display())))
}

async fn backup(State(store): State<Store>, State(config): State<Arc<Config>>, admin: Admin) -> AdminResult<Response> {
    let dir = config.data_dir.clone();
    let bytes = blocking(move || {
        let scratch = scratch(&dir, "backup")?;
        let file = scratch.0.join(BACKUP_FILE);
        store.backup_to(&file).map_err(store_err)?;
        std::fs::read(&file).map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await?;
    admin.audit("backup", "", &format!("{} bytes", bytes.len()));
    let name = format!("airgate-backup-{}.redb", crate::long_date(crate::unix_now()).replace([' ', ','], ""));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("ASCII file name");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

async fn restore(
    State(store): State<Store>,
    State(api_keys): State<Arc<ApiKeys>>,
    State(config): State<Arc<Config>>,
    State(models): State<ModelRegistry>,
    State(expanded_logging): State<ExpandedLogging>,
    admin: Admin,
    body: Bytes,
) -> AdminResult<Response> {
    if body.is_empty() {
        return Err(ApiError::invalid("file", "is empty; choose a backup file made by airgate").into());
    }
    let (st, dir, size) = (store.clone(), config.data_dir.clone(), body.len());
    let restored = blocking(move || {
        let store = st;
        let scratch = scratch(&dir, "restore")?;
        std::fs::write(scratch.0.join(BACKUP_FILE), &body).map_err(|e| ApiError::Internal(e.to_string()))?;
        match store.restore_from(&scratch.0) {
            Ok(()) => Ok(Ok(store.api_keys().map_err(store_err)?)),
            Err(e @ (crate::store::StoreError::Corrupt { .. } | crate::store::StoreError::NewerSchema { .. })) => {
                Ok(Err(e.to_string().replace(&scratch.0.join(BACKUP_FILE).display().to_string(), "the uploaded file")))
            }
            Err(e) => Err(store_err(e)),
        }
    })
    .await?;
    let keys =
        restored.map_err(|problem| ApiError::invalid("file", format!("is not a usable airgate backup: {problem}")))?;
    api_keys.set_stored(&keys);
    let (expanded, default) = blocking(move || {
        Ok((
            store.get_setting(EXPANDED_LOGGING).map_err(store_err)?,
            store.get_setting(DEFAULT_MODEL).map_err(store_err)?,
        ))
    })
    .await?;
    expanded_logging.set(config.logging_expanded || expanded == Some(true));
    if let Some(name) = default {
        models.set_default(&name);
    }
    admin.audit("restore", "", &format!("{size} bytes; every session ended"));
    let mut response = (
        StatusCode::OK,
        Json(json!({
            "restored": true,
            "message": "settings restored; every session ended, sign in again. Models registered in the backup load at the next start, or from the Models page now.",
        })),
    )
        .into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&config, None));
    Ok(response)
}
