//! The local control socket `<data_dir>/admin.sock` (mode 0600): the `airgate admin` commands reach a running server through it.
//!
//! redb lets one process write the database, so while the server runs the CLI cannot open it.
//! Whoever can open this socket can already read the data directory, so the socket needs no other
//! credential; it never listens on the network.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminJson, AdminResult, blocking};
use crate::auth::GitlabSlot;
use crate::auth::admin::{AdminAuth, check_password, check_username};
use crate::engine::ModelRegistry;
use crate::http::{ApiError, JsonBody};
use crate::models::Lifecycle;
use crate::state::AppState;
use crate::store::Store;
use crate::store::settings::{DEFAULT_MODEL, JWT_SIGNING_KEY};

/// The socket's routes; the composition root serves them on `config::admin_socket`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/local/setup-token", get(setup_token))
        .route("/local/users", post(create_user))
        .route("/local/users/{username}/password", put(reset_password))
        .route("/local/status", get(status))
        .route("/local/models", post(add_model))
        .route("/local/models/{name}/probe", post(probe_model))
        .route("/local/backup", post(backup))
        .route("/local/apply", post(super::fleet::apply_local))
        .route("/local/export", get(super::fleet::export_local))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

async fn setup_token(State(accounts): State<Arc<AdminAuth>>) -> AdminResult<Json<Value>> {
    let admin = accounts.clone();
    let token = blocking(move || admin.setup_token().map_err(|e| ApiError::Internal(e.to_string()))).await?;
    let token = token.map(|(token, _)| token);
    Ok(Json(json!({ "setup_token": token })))
}

async fn create_user(
    State(accounts): State<Arc<AdminAuth>>,
    JsonBody(body, _): AdminJson<Credentials>,
) -> AdminResult<StatusCode> {
    check_username(&body.username).map_err(|p| ApiError::invalid("username", p))?;
    check_password(&body.password).map_err(|p| ApiError::invalid("password", p))?;
    let name = body.username.clone();
    let created = accounts.create_user_in_turn(&body.username, &body.password).await.map_err(super::account_err)?;
    if !created {
        return Err(ApiError::Conflict(format!("an admin named `{name}` already exists")).into());
    }
    super::audit(&accounts, &name, "local", "create_admin", &name, "airgate admin create");
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Password {
    password: String,
}

async fn reset_password(
    State(accounts): State<Arc<AdminAuth>>,
    UrlPath(username): UrlPath<String>,
    JsonBody(body, _): AdminJson<Password>,
) -> AdminResult<StatusCode> {
    check_password(&body.password).map_err(|p| ApiError::invalid("password", p))?;
    let done = accounts.set_password_in_turn(&username, &body.password, None).await.map_err(super::account_err)?;
    if !done {
        return Err(ApiError::NotFound(format!("no admin named `{username}`")).into());
    }
    super::audit(&accounts, "local", "local", "reset_password", &username, "airgate admin reset-password");
    Ok(StatusCode::NO_CONTENT)
}

/// The registered models with their state in this server, the default, the GitLab URL in use and a
/// shared signing key file, if one is set.
async fn status(
    State(store): State<Store>,
    State(gitlab): State<Arc<GitlabSlot>>,
    State(registry): State<ModelRegistry>,
) -> AdminResult<Json<Value>> {
    let internal = |e: crate::store::StoreError| ApiError::Internal(e.to_string());
    let (records, signing_key) = blocking(move || {
        Ok((store.models().map_err(internal)?, store.get_setting(JWT_SIGNING_KEY).map_err(internal)?))
    })
    .await?;
    let models: Vec<Value> = records
        .iter()
        .map(|r| {
            let (status, error) = crate::models::status_of(&registry, &r.name);
            json!({ "name": r.name, "path": r.path, "sha256": r.sha256, "size": r.size, "status": status, "error": error })
        })
        .collect();
    let gitlab_url = gitlab.get().status().gitlab_url;
    Ok(Json(json!({
        "models": models,
        "default": registry.default_name(),
        "gitlab_url": gitlab_url,
        "jwt_signing_key": signing_key,
    })))
}

/// `airgate doctor`: one token from a loaded model, straight from its engine.
async fn probe_model(State(models): State<ModelRegistry>, UrlPath(name): UrlPath<String>) -> AdminResult<Json<Value>> {
    let Some(engine) = models.get(&name) else {
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
async fn add_model(
    State(life): State<Lifecycle>,
    State(accounts): State<Arc<AdminAuth>>,
    JsonBody(body, _): AdminJson<AddModel>,
) -> AdminResult<Json<Value>> {
    let models = &life.registry;
    let (store, path, name) = (life.store.clone(), body.path.clone(), body.name.clone());
    let (record, new) =
        blocking(move || crate::models::register(&store, &path, &name).map_err(ApiError::bad_request)).await?;
    if body.default {
        let (store, name) = (life.store.clone(), record.name.clone());
        blocking(move || store.set_setting(DEFAULT_MODEL, &name).map_err(|e| ApiError::Internal(e.to_string())))
            .await?;
    }
    let loaded = if models.get(&record.name).is_none() { crate::models::load(&life, &record).await } else { Ok(()) };
    if body.default {
        models.set_default(&record.name);
    }
    super::audit(&accounts, "local", "local", "add_model", &record.name, "airgate model add");
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
async fn backup(
    State(store): State<Store>,
    State(accounts): State<Arc<AdminAuth>>,
    JsonBody(body, _): AdminJson<BackupTo>,
) -> AdminResult<StatusCode> {
    blocking(move || store.backup_to(&body.path).map_err(|e| ApiError::Internal(e.to_string()))).await?;
    super::audit(&accounts, "local", "local", "backup", "", "airgate backup");
    Ok(StatusCode::NO_CONTENT)
}
