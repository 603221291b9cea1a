//! API keys for the OpenAI-compatible `/v1` API: create (the key is shown once), list, revoke, and whether `/v1` requires one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use std::sync::Arc;

use crate::auth::ApiKeys;
use crate::auth::admin::{digest_hex, random_token};
use crate::http::ApiError;
use crate::http::JsonBody;
use crate::state::AppState;
use crate::store::ApiKeyRecord;
use crate::store::Store;
use crate::store::settings::V1_KEY_REQUIRED;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/api-keys", get(list).post(create))
        .route("/api/admin/api-keys/access", get(access).put(set_access))
        .route("/api/admin/api-keys/{id}", delete(revoke))
}

fn access_json(keys: &ApiKeys) -> Value {
    json!({ "required": keys.required_setting(), "open_by_config": keys.open_by_config(), "enforced": keys.enforced() })
}

/// Whether `/v1` requires a key: the stored setting, the boot config's `v1_open`, and the outcome.
async fn access(State(api_keys): State<Arc<ApiKeys>>, _admin: Admin) -> Json<Value> {
    Json(access_json(&api_keys))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    required: bool,
}

/// An admin's explicit choice; opening `/v1` is audited.
async fn set_access(
    State(store): State<Store>,
    State(api_keys): State<Arc<ApiKeys>>,
    admin: Admin,
    JsonBody(body, _): AdminJson<AccessBody>,
) -> AdminResult<Json<Value>> {
    let on = body.required;
    blocking(move || store.set_setting(V1_KEY_REQUIRED, &on).map_err(store_err)).await?;
    api_keys.set_required(on);
    let detail = if on { "/v1 requires an API key" } else { "/v1 answers without an API key" };
    admin.audit("v1_access", "/v1", detail);
    Ok(Json(access_json(&api_keys)))
}

fn key_json(keys: &ApiKeys, k: &ApiKeyRecord) -> Value {
    let last_used = keys.last_used(&k.id).max(k.last_used_at);
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "created_by": k.created_by,
        "last_used_at": last_used,
    })
}

async fn list(
    State(store): State<Store>,
    State(api_keys): State<Arc<ApiKeys>>,
    _admin: Admin,
) -> AdminResult<Json<Value>> {
    let keys = blocking(move || store.api_keys().map_err(store_err)).await?;
    Ok(Json(keys.iter().map(|k| key_json(&api_keys, k)).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
}

async fn create(
    State(store): State<Store>,
    State(api_keys): State<Arc<ApiKeys>>,
    admin: Admin,
    JsonBody(body, _): AdminJson<CreateBody>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be 1 to 100 printable characters").into());
    }
    let key = format!("ag-{}", random_token());
    let record = ApiKeyRecord {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        name,
        prefix: key[..10].to_string(),
        digest: digest_hex(&key),
        created_at: crate::unix_now(),
        created_by: admin.user().to_string(),
        last_used_at: None,
    };
    let r = record.clone();
    let all = blocking(move || {
        store.put_api_key(&r).map_err(store_err)?;
        // The first key turns the requirement on for good; only an admin turns it off again.
        store.set_setting(V1_KEY_REQUIRED, &true).map_err(store_err)?;
        store.api_keys().map_err(store_err)
    })
    .await?;
    api_keys.set_stored(&all);
    api_keys.set_required(true);
    admin.audit("create_api_key", &record.name, &format!("id {}, prefix {}", record.id, record.prefix));
    let mut out = key_json(&api_keys, &record);
    out["key"] = key.into();
    Ok((StatusCode::CREATED, Json(out)))
}

async fn revoke(
    State(store): State<Store>,
    State(api_keys): State<Arc<ApiKeys>>,
    admin: Admin,
    Path(id): Path<String>,
) -> AdminResult<StatusCode> {
    let key_id = id.clone();
    let (removed, all) = blocking(move || {
        let removed = store.remove_api_key(&key_id).map_err(store_err)?;
        Ok((removed, store.api_keys().map_err(store_err)?))
    })
    .await?;
    api_keys.set_stored(&all);
    if !removed {
        return Err(ApiError::NotFound(format!("no API key with id `{id}`")).into());
    }
    admin.audit("revoke_api_key", &id, "");
    Ok(StatusCode::NO_CONTENT)
}
