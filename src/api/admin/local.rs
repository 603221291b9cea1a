//! The local control socket `<data_dir>/admin.sock` (mode 0600): the `airgate admin` commands reach a running server through it.
//!
//! redb lets one process write the database, so while the server runs the CLI cannot open it.
//! Whoever can open this socket can already read the data directory, so the socket needs no other
//! credential; it never listens on the network.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminJson, AdminResult, blocking};
use crate::app::AppState;
use crate::auth::admin::{check_password, check_username};
use crate::http::{ApiError, JsonBody};

pub const SOCKET_NAME: &str = "admin.sock";

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/local/setup-token", get(setup_token))
        .route("/local/users", post(create_user))
        .route("/local/users/{username}/password", put(reset_password))
        .route("/local/status", get(status))
        .route("/local/models", post(add_model))
        .route("/local/models/{name}/probe", post(probe_model))
        .route("/local/backup", post(backup))
}

/// Serves the control socket until the process ends. A failure to bind is logged, not fatal.
pub async fn serve(state: AppState) {
    let path = socket_path(&state.config.data_dir);
    // The database lock makes this the only server on this data dir: a leftover socket is stale.
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the local admin socket; `airgate admin` needs the server stopped");
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot restrict the admin socket; closing it");
        let _ = std::fs::remove_file(&path);
        return;
    }
    let app = routes().with_state(state);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "the local admin socket failed");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

async fn setup_token(State(state): State<AppState>) -> AdminResult<Json<Value>> {
    let admin = state.admin.clone();
    let token = blocking(move || admin.setup_token().map_err(|e| ApiError::Internal(e.to_string()))).await?;
    Ok(Json(json!({ "setup_token": token })))
}

async fn create_user(
    State(state): State<AppState>,
    JsonBody(body, _): AdminJson<Credentials>,
) -> AdminResult<StatusCode> {
    check_username(&body.username).map_err(|p| ApiError::invalid("username", p))?;
    check_password(&body.password).map_err(|p| ApiError::invalid("password", p))?;
    let (admin, name) = (state.admin.clone(), body.username.clone());
    let created =
        blocking(move || admin.create_user(&body.username, &body.password).map_err(ApiError::Internal)).await?;
    if !created {
        return Err(ApiError::Conflict(format!("an admin named `{name}` already exists")).into());
    }
    super::audit(&state, &name, "local", "create_admin", &name, "airgate admin create");
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Password {
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    UrlPath(username): UrlPath<String>,
    JsonBody(body, _): AdminJson<Password>,
) -> AdminResult<StatusCode> {
    check_password(&body.password).map_err(|p| ApiError::invalid("password", p))?;
    let (admin, name) = (state.admin.clone(), username.clone());
    let done = blocking(move || admin.set_password(&name, &body.password, None).map_err(ApiError::Internal)).await?;
    if !done {
        return Err(ApiError::NotFound(format!("no admin named `{username}`")).into());
    }
    super::audit(&state, "local", "local", "reset_password", &username, "airgate admin reset-password");
    Ok(StatusCode::NO_CONTENT)
}

/// The registered models with their state in this server, the default, and the GitLab URL in use.
async fn status(State(state): State<AppState>) -> AdminResult<Json<Value>> {
    let store = state.store.clone();
    let records = blocking(move || store.models().map_err(|e| ApiError::Internal(e.to_string()))).await?;
    let models: Vec<Value> = records
        .iter()
        .map(|r| {
            let (status, error) = crate::models::status_of(&state, &r.name);
            json!({ "name": r.name, "path": r.path, "sha256": r.sha256, "size": r.size, "status": status, "error": error })
        })
        .collect();
    let gitlab_url = state.gitlab.get().status().gitlab_url;
    Ok(Json(json!({ "models": models, "default": state.models.default_name(), "gitlab_url": gitlab_url })))
}

/// `airgate doctor`: one token from a loaded model, straight from its engine.
async fn probe_model(State(state): State<AppState>, UrlPath(name): UrlPath<String>) -> AdminResult<Json<Value>> {
    let Some(engine) = state.models.get(&name) else {
        return Err(ApiError::NotFound(format!("model `{name}` is not loaded")).into());
    };
    let answer = crate::models::probe(engine.as_ref()).await;
    Ok(Json(json!({ "ok": answer.is_ok(), "message": answer.unwrap_or_else(|e| e) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddModel {
    path: PathBuf,
    name: String,
    #[serde(default)]
    default: bool,
}

/// `airgate model add` while the server runs: registers the file in place and loads it now.
async fn add_model(State(state): State<AppState>, JsonBody(body, _): AdminJson<AddModel>) -> AdminResult<Json<Value>> {
    let (store, path, name) = (state.store.clone(), body.path.clone(), body.name.clone());
    let (record, new) =
        blocking(move || crate::models::register(&store, &path, &name).map_err(ApiError::bad_request)).await?;
    if body.default {
        let (store, name) = (state.store.clone(), record.name.clone());
        blocking(move || {
            store.set_setting(crate::models::DEFAULT_MODEL_KEY, &name).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    }
    let loaded =
        if state.models.get(&record.name).is_none() { crate::models::load(&state, &record).await } else { Ok(()) };
    if body.default {
        state.models.set_default(&record.name);
    }
    super::audit(&state, "local", "local", "add_model", &record.name, "airgate model add");
    Ok(Json(
        json!({ "name": record.name, "new": new, "sha256": record.sha256, "loaded": loaded.is_ok(), "error": loaded.err() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupTo {
    path: PathBuf,
}

/// `airgate backup` while the server runs: a consistent copy of the database at `path` (a new file).
async fn backup(State(state): State<AppState>, JsonBody(body, _): AdminJson<BackupTo>) -> AdminResult<StatusCode> {
    let store = state.store.clone();
    blocking(move || store.backup_to(&body.path).map_err(|e| ApiError::Internal(e.to_string()))).await?;
    super::audit(&state, "local", "local", "backup", "", "airgate backup");
    Ok(StatusCode::NO_CONTENT)
}

/// [`call`] with a failure status turned into an error carrying the server's message.
pub async fn request(data_dir: &Path, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let (status, value) = call(data_dir, method, path, body).await?;
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let message = value["error"]["message"].as_str().or(value["detail"].as_str()).unwrap_or("no detail");
    Err(format!("the server refused ({status}): {message}"))
}

/// One request to the running server's control socket: status and JSON answer (`null` when empty).
pub async fn call(data_dir: &Path, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
    let socket = socket_path(data_dir);
    let stream = tokio::net::UnixStream::connect(&socket).await.map_err(|e| {
        format!(
            "the database is in use by a running airgate, and its admin socket {} cannot be reached: {e}",
            socket.display()
        )
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("admin socket: {e}"))?;
    tokio::spawn(conn);
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| format!("admin socket: {e}"))?;
    let status = response.status().as_u16();
    let raw = response.into_body().collect().await.map_err(|e| format!("admin socket: {e}"))?.to_bytes();
    let value = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    Ok((status, value))
}
