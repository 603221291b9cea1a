//! Remote endpoints (OpenAI-compatible upstreams, write-only API keys) and the feature → model routes.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint_url::{keep_userinfo, moves_host, redacted, scrub};
use super::runaway::read_policy;
use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use crate::engine::ModelRegistry;
use crate::engine::remote::RemoteClient;
use crate::features::caps::default_cap;
use crate::features::routing::{Feature, FeatureRoutes, RouteTarget, features_routed_to, remote_config, route_of};
use crate::http::ApiError;
use crate::http::JsonBody;
use crate::prompt::Family;
use crate::state::AppState;
use crate::store::settings::FEATURE_ROUTES;
use crate::store::{EndpointRecord, RunawayPolicy, Store};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/endpoints", get(list_endpoints).post(create_endpoint))
        .route("/api/admin/endpoints/{name}", put(update_endpoint).delete(delete_endpoint))
        .route("/api/admin/endpoints/{name}/test", post(test_endpoint))
        .route("/api/admin/features", get(features))
        .route("/api/admin/features/{feature}", put(set_feature))
}

fn endpoint_json(e: &EndpointRecord) -> Value {
    json!({
        "name": e.name,
        "url": redacted(&e.url),
        "model": e.model,
        "family": e.family,
        "has_api_key": e.api_key.as_deref().is_some_and(|k| !k.is_empty()),
        "created_at": e.created_at,
    })
}

async fn list_endpoints(State(store): State<Store>, _admin: Admin) -> AdminResult<Json<Value>> {
    let all = blocking(move || store.endpoints().map_err(store_err)).await?;
    Ok(Json(all.iter().map(endpoint_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    #[serde(default)]
    name: Option<String>,
    url: String,
    model: String,
    #[serde(default)]
    family: Option<String>,
    /// Absent: keep the stored key; empty: remove it.
    #[serde(default)]
    api_key: Option<String>,
}

/// Every field checked at once; the cleaned values.
fn check_endpoint(name: &str, body: &EndpointBody) -> Result<(String, String, Option<String>), ApiError> {
    let mut fields = Vec::new();
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        fields.push(("name".into(), "must be 1 to 64 characters of letters, digits, '.', '_' and '-'".into()));
    }
    let url = body.url.trim().trim_end_matches('/').to_string();
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        _ => fields.push(("url".into(), "must be an http:// or https:// URL, e.g. http://10.0.0.5:8000/v1".into())),
    }
    let model = body.model.trim().to_string();
    if model.is_empty() || model.len() > 256 {
        fields.push(("model".into(), "must name the model the upstream serves (1 to 256 characters)".into()));
    }
    let family = body.family.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(str::to_string);
    if let Some(f) = &family
        && let Err(e) = Family::parse(f)
    {
        fields.push(("family".into(), e.to_string()));
    }
    if body.api_key.as_deref().is_some_and(|k| k.len() > 4096 || k.chars().any(char::is_control)) {
        fields.push(("api_key".into(), "must be at most 4096 printable characters".into()));
    }
    ApiError::check_fields(fields).map(|()| (url, model, family))
}

async fn create_endpoint(
    State(store): State<Store>,
    admin: Admin,
    JsonBody(body, _): AdminJson<EndpointBody>,
) -> AdminResult<(StatusCode, Json<Value>)> {
    let name = body.name.clone().unwrap_or_default().trim().to_string();
    let (url, model, family) = check_endpoint(&name, &body)?;
    let record = EndpointRecord {
        name: name.clone(),
        url,
        model,
        family,
        api_key: body.api_key.filter(|k| !k.is_empty()),
        api_key_ref: None,
        created_at: crate::unix_now(),
    };
    let r = record.clone();
    let created = blocking(move || {
        if store.endpoint(&r.name).map_err(store_err)?.is_some() {
            return Ok(false);
        }
        store.put_endpoint(&r).map_err(store_err).map(|_| true)
    })
    .await?;
    if !created {
        return Err(ApiError::Conflict(format!("an endpoint named `{name}` already exists")).into());
    }
    admin.audit("create_endpoint", &name, &redacted(&record.url));
    Ok((StatusCode::CREATED, Json(endpoint_json(&record))))
}

async fn update_endpoint(
    State(store): State<Store>,
    admin: Admin,
    Path(name): Path<String>,
    JsonBody(body, _): AdminJson<EndpointBody>,
) -> AdminResult<Json<Value>> {
    if body.name.as_deref().is_some_and(|n| n.trim() != name) {
        return Err(ApiError::invalid("name", "cannot be changed; create a new endpoint instead").into());
    }
    let (url, model, family) = check_endpoint(&name, &body)?;
    let (key_change, n) = (body.api_key.clone(), name.clone());
    let updated = blocking(move || {
        let Some(mut e) = store.endpoint(&n).map_err(store_err)? else { return Ok(None) };
        let url = keep_userinfo(&url, &e.url);
        // The stored key never follows the endpoint to another host unasked.
        if key_change.is_none() && e.api_key.is_some() && moves_host(&e.url, &url) {
            return Err(ApiError::invalid(
                "api_key",
                "must be entered again (or removed) when the URL moves to another host, port or scheme",
            ));
        }
        (e.url, e.model, e.family) = (url, model, family);
        if let Some(key) = key_change {
            // Typed in here: no longer the key an applied file referenced.
            (e.api_key, e.api_key_ref) = (Some(key).filter(|k| !k.is_empty()), None);
        }
        store.put_endpoint(&e).map_err(store_err)?;
        Ok(Some(e))
    })
    .await?;
    let Some(e) = updated else {
        return Err(ApiError::NotFound(format!("no endpoint named `{name}`")).into());
    };
    let key_note = match &body.api_key {
        None => "API key unchanged",
        Some(k) if k.is_empty() => "API key removed",
        Some(_) => "API key replaced",
    };
    admin.audit("update_endpoint", &name, &format!("{}; {key_note}", redacted(&e.url)));
    Ok(Json(endpoint_json(&e)))
}

async fn delete_endpoint(
    State(store): State<Store>,
    admin: Admin,
    Path(name): Path<String>,
) -> AdminResult<StatusCode> {
    let n = name.clone();
    let outcome = blocking(move || {
        let routes = store.get_setting(FEATURE_ROUTES).map_err(store_err)?.unwrap_or_default();
        let users = features_routed_to(&routes, &RouteTarget::Remote { endpoint: n.clone() });
        if !users.is_empty() {
            return Ok(Err(users));
        }
        store.remove_endpoint(&n).map_err(store_err).map(Ok)
    })
    .await?;
    match outcome {
        Err(users) => Err(ApiError::Conflict(format!(
            "endpoint `{name}` serves these features: {users}; route them elsewhere first"
        ))
        .into()),
        Ok(false) => Err(ApiError::NotFound(format!("no endpoint named `{name}`")).into()),
        Ok(true) => {
            admin.audit("delete_endpoint", &name, "");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

async fn test_endpoint(
    State(store): State<Store>,
    State(remote): State<RemoteClient>,
    admin: Admin,
    Path(name): Path<String>,
) -> AdminResult<Json<Value>> {
    let n = name.clone();
    let Some(e) = blocking(move || store.endpoint(&n).map_err(store_err)).await? else {
        return Err(ApiError::NotFound(format!("no endpoint named `{name}`")).into());
    };
    let engine = remote.engine(remote_config(&e, Family::General));
    let started = Instant::now();
    let listed = engine.list_models().await;
    let ms = started.elapsed().as_millis() as u64;
    let (ok, message) = match listed {
        Ok(models) if models.contains(&e.model) => (true, format!("reachable; serves `{}`", e.model)),
        Ok(models) if models.is_empty() => (true, "reachable; it lists no models".to_string()),
        Ok(models) => {
            (false, format!("reachable, but it does not serve `{}` (it serves: {})", e.model, models.join(", ")))
        }
        Err(err) => (false, scrub(&err.to_string(), &e.url)),
    };
    admin.audit("test_endpoint", &name, if ok { "ok" } else { "failed" });
    Ok(Json(json!({ "ok": ok, "latency_ms": ms, "message": message })))
}

/// What serves `feature` now, in words.
fn effective(models: &ModelRegistry, routes: &FeatureRoutes, feature: Feature) -> String {
    let route = route_of(routes, feature);
    let via = if route.is_some_and(|(_, inherited)| inherited) { " (as General Chat)" } else { "" };
    match route.map(|(target, _)| target) {
        Some(RouteTarget::Local { model }) => format!("local model {model}{via}"),
        Some(RouteTarget::Remote { endpoint }) => format!("remote endpoint {endpoint}{via}"),
        Some(RouteTarget::Disabled) => format!("disabled{via}"),
        None => match models.default_name() {
            Some(name) => format!("default model ({name})"),
            None => "no model available".into(),
        },
    }
}

/// A feature as the features page shows it: its route, what serves it now, its output cap
/// (`cap`: in force, `cap_default`: GitLab's; both `null` for a feature that generates no text).
pub(super) fn feature_json(
    models: &ModelRegistry,
    routes: &FeatureRoutes,
    policy: &RunawayPolicy,
    f: Feature,
) -> Value {
    let route = match routes.get(&f) {
        Some(target) => serde_json::to_value(target).unwrap_or_default(),
        None => json!({ "kind": "default" }),
    };
    json!({
        "feature": f.as_str(),
        "title": f.title(),
        "group": f.group(),
        "route": route,
        "effective": effective(models, routes, f),
        "cap": policy.cap(f),
        "cap_default": default_cap(f),
    })
}

pub(super) async fn read_routes(store: &Store) -> AdminResult<FeatureRoutes> {
    let store = store.clone();
    blocking(move || Ok(store.get_setting(FEATURE_ROUTES).map_err(store_err)?.unwrap_or_default())).await
}

async fn features(
    State(models): State<ModelRegistry>,
    State(store): State<Store>,
    _admin: Admin,
) -> AdminResult<Json<Value>> {
    let routes = read_routes(&store).await?;
    let policy = read_policy(&store).await?;
    Ok(Json(Feature::ALL.iter().map(|f| feature_json(&models, &routes, &policy, *f)).collect()))
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RouteBody {
    Default,
    Local { model: String },
    Remote { endpoint: String },
    Disabled,
}

async fn set_feature(
    State(models): State<ModelRegistry>,
    State(store): State<Store>,
    admin: Admin,
    Path(key): Path<String>,
    JsonBody(body, _): AdminJson<RouteBody>,
) -> AdminResult<Json<Value>> {
    let Some(feature) = Feature::parse(&key) else {
        return Err(ApiError::NotFound(format!("no feature `{key}`")).into());
    };
    let target = match body {
        RouteBody::Default => None,
        RouteBody::Disabled => Some(RouteTarget::Disabled),
        RouteBody::Local { model } => {
            let known = models.status(&model).is_some() || {
                let (store, m) = (store.clone(), model.clone());
                blocking(move || store.model(&m).map_err(store_err)).await?.is_some()
            };
            if !known {
                return Err(ApiError::invalid("model", format!("no model named `{model}` is registered")).into());
            }
            Some(RouteTarget::Local { model })
        }
        RouteBody::Remote { endpoint } => {
            let (store, e) = (store.clone(), endpoint.clone());
            if blocking(move || store.endpoint(&e).map_err(store_err)).await?.is_none() {
                return Err(ApiError::invalid("endpoint", format!("no endpoint named `{endpoint}`")).into());
            }
            Some(RouteTarget::Remote { endpoint })
        }
    };
    let policy = read_policy(&store).await?;
    let t = target.clone();
    let routes = blocking(move || {
        store
            .update_setting(FEATURE_ROUTES, |routes| {
                let mut routes = routes.unwrap_or_default();
                match t {
                    Some(t) => routes.insert(feature, t),
                    None => routes.remove(&feature),
                };
                routes
            })
            .map_err(store_err)
    })
    .await?;
    let out = feature_json(&models, &routes, &policy, feature);
    admin.audit("route_feature", feature.as_str(), out["effective"].as_str().unwrap_or_default());
    Ok(Json(out))
}
