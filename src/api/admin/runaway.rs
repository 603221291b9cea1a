//! Runaway answers in the admin API: a feature's output cap (`PUT /api/admin/features/{feature}/cap`)
//! and the repetition guard on GitLab features (`/api/admin/repetition-guard`).

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::routing::{feature_json, read_routes};
use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use crate::engine::ModelRegistry;
use crate::features::caps::check_cap;
use crate::features::routing::Feature;
use crate::http::{ApiError, JsonBody};
use crate::state::AppState;
use crate::store::settings::RUNAWAY_ANSWERS;
use crate::store::{RunawayPolicy, Store};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/features/{feature}/cap", put(set_cap))
        .route("/api/admin/repetition-guard", get(guard).put(set_guard))
}

/// The admin's caps and guard switch (GitLab's caps, guard on, when none were set).
pub(super) async fn read_policy(store: &Store) -> AdminResult<RunawayPolicy> {
    let store = store.clone();
    blocking(move || Ok(store.get_setting(RUNAWAY_ANSWERS).map_err(store_err)?.unwrap_or_default())).await
}

async fn write_policy(
    store: &Store,
    change: impl FnOnce(&mut RunawayPolicy) + Send + 'static,
) -> AdminResult<RunawayPolicy> {
    let store = store.clone();
    blocking(move || {
        store
            .update_setting(RUNAWAY_ANSWERS, |p| {
                let mut p = p.unwrap_or_default();
                change(&mut p);
                p
            })
            .map_err(store_err)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapBody {
    /// Tokens; `null` = GitLab's cap again.
    tokens: Option<u32>,
}

async fn set_cap(
    State(models): State<ModelRegistry>,
    State(store): State<Store>,
    admin: Admin,
    Path(key): Path<String>,
    JsonBody(body, _): AdminJson<CapBody>,
) -> AdminResult<Json<Value>> {
    let Some(feature) = Feature::parse(&key) else {
        return Err(ApiError::NotFound(format!("no feature `{key}`")).into());
    };
    if let Some(tokens) = body.tokens {
        check_cap(feature, tokens).map_err(|m| ApiError::invalid("tokens", m))?;
    } else if crate::features::caps::default_cap(feature).is_none() {
        return Err(ApiError::invalid(
            "tokens",
            format!("{} generates no text: it has no output cap", feature.as_str()),
        )
        .into());
    }
    let policy = write_policy(&store, move |p| match body.tokens {
        Some(t) => {
            p.caps.insert(feature, t);
        }
        None => {
            p.caps.remove(&feature);
        }
    })
    .await?;
    let routes = read_routes(&store).await?;
    let out = feature_json(&models, &routes, &policy, feature);
    admin.audit("feature_cap", feature.as_str(), &out["cap"].to_string());
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardBody {
    on: bool,
}

async fn guard(State(store): State<Store>, _admin: Admin) -> AdminResult<Json<Value>> {
    Ok(Json(json!({ "on": read_policy(&store).await?.guard() })))
}

async fn set_guard(
    State(store): State<Store>,
    admin: Admin,
    JsonBody(body, _): AdminJson<GuardBody>,
) -> AdminResult<Json<Value>> {
    let policy = write_policy(&store, move |p| p.repetition_guard = Some(body.on)).await?;
    admin.audit("repetition_guard", "", if policy.guard() { "on" } else { "off" });
    Ok(Json(json!({ "on": policy.guard() })))
}
