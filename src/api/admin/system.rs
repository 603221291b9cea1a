//! The dashboard, the GitLab connection page, the request log (recent and live), expanded AI logging, diagnostics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;

use super::{Admin, AdminJson, AdminResult, blocking, store_err};
use crate::activity::{Activity, Entry};
use crate::auth::{ApiKeys, GitlabSlot};
use crate::config::Config;
use crate::engine::ModelRegistry;
use crate::features::routing::{Feature, ModelRequest, OwnAddress, Routing};
use crate::http::JsonBody;
use crate::state::{AppState, ExpandedLogging, Started};
use crate::store::Store;
use crate::store::settings::{EXPANDED_LOGGING, GITLAB_URL};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/dashboard", get(dashboard))
        .route("/api/admin/gitlab", get(gitlab).put(set_gitlab))
        .route("/api/admin/logs", get(logs))
        .route("/api/admin/logs/stream", get(logs_stream))
        .route("/api/admin/logging", get(logging).put(set_logging))
        .route("/api/admin/diagnostics", post(diagnostics))
}

/// The process's resident memory, from `/proc/self/status`.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// What an admin must not miss: the auth bypass, `/v1` opened by the config, GitLab keys over http.
fn warnings(gitlab: &GitlabSlot, api_keys: &ApiKeys) -> Vec<String> {
    let mut out = Vec::new();
    let auth = gitlab.get();
    let bypass = auth.bypass();
    if bypass.active() {
        let until = match bypass.expires_in() {
            Some(s) => format!("it turns itself off in {} minutes", s.div_ceil(60)),
            None => "the configuration pins it on".into(),
        };
        out.push(format!(
            "Authentication bypass is on (auth.bypass): every GitLab API request is accepted without a token; {until}."
        ));
    }
    if api_keys.open_by_config() {
        out.push("/v1 is open ([auth] v1_open): it answers without an API key, whatever keys exist.".into());
    }
    if auth.status().gitlab_url.is_some_and(|u| u.to_ascii_lowercase().starts_with("http://")) {
        out.push("The GitLab URL is http://: GitLab's signing keys travel unprotected; use https://.".into());
    }
    out
}

async fn dashboard(
    State(registry): State<ModelRegistry>,
    State(Started(started)): State<Started>,
    State(activity): State<Arc<Activity>>,
    State(gitlab): State<Arc<GitlabSlot>>,
    State(api_keys): State<Arc<ApiKeys>>,
    _admin: Admin,
) -> Json<Value> {
    let build = crate::engine::llama::build_info();
    let line = |prefix: &str| build.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_default().to_string();
    let not_ready = registry.not_ready_reason();
    let models: Vec<Value> = registry
        .list()
        .into_iter()
        .map(|m| {
            let (status, detail) = crate::models::status_of(&registry, &m.name);
            let memory = registry.get(&m.name).map(|e| e.info().size_bytes);
            json!({ "name": m.name, "status": status, "detail": detail, "default": m.default, "memory_bytes": memory })
        })
        .collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "llama_cpp": line("llama.cpp: "),
        "backend": line("backends: "),
        "uptime_s": started.elapsed().as_secs(),
        "ready": not_ready.is_none(),
        "ready_detail": not_ready.unwrap_or_else(|| "ready".into()),
        "rss_bytes": rss_bytes(),
        "models": models,
        "features": activity.summary(),
        "recent_errors": activity.recent(20, |e| e.status >= 400),
        "warnings": warnings(&gitlab, &api_keys),
    }))
}

/// What the GitLab page shows: the GitLab keys, this airgate's address and models, the endpoints.
#[derive(Clone)]
struct GitlabPage {
    gitlab: Arc<GitlabSlot>,
    store: Store,
    api_keys: Arc<ApiKeys>,
    config: Arc<Config>,
    models: ModelRegistry,
    own: OwnAddress,
}

impl FromRef<AppState> for GitlabPage {
    fn from_ref(s: &AppState) -> Self {
        GitlabPage {
            gitlab: s.gitlab.clone(),
            store: s.store.clone(),
            api_keys: s.api_keys.clone(),
            config: s.config.clone(),
            models: s.models.clone(),
            own: s.own.clone(),
        }
    }
}

/// The host (without port) the admin's browser reached airgate at.
fn own_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get("host").and_then(|h| h.to_str().ok())?;
    let name = match host.rsplit_once(':') {
        // `[::1]:5052` and `name:5052`; a bare IPv6 address has more colons than one.
        Some((name, port))
            if port.chars().all(|c| c.is_ascii_digit()) && (name.ends_with(']') || !name.contains(':')) =>
        {
            name
        }
        _ => host,
    };
    Some(name.to_string())
}

/// The value of GitLab's "Local URL for the GitLab Duo Agent Platform service": host:port, no scheme.
pub fn agent_platform_url(headers: &HeaderMap, agent_port: u16) -> String {
    format!("{}:{agent_port}", own_host(headers).unwrap_or_else(|| "<airgate-host>".into()))
}

/// This airgate's URL as the admin's browser reached it.
fn own_url(page: &GitlabPage, headers: &HeaderMap) -> String {
    let scheme = if page.config.tls.is_some() { "https" } else { "http" };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).map(str::to_string);
    format!("{scheme}://{}", host.unwrap_or_else(|| format!("<airgate-host>:{}", page.own.port)))
}

async fn gitlab(State(page): State<GitlabPage>, _admin: Admin, headers: HeaderMap) -> AdminResult<Json<Value>> {
    gitlab_page(&page, &headers).await
}

async fn gitlab_page(page: &GitlabPage, headers: &HeaderMap) -> AdminResult<Json<Value>> {
    let url = own_url(page, headers);
    let keys = page.gitlab.get().status();
    let store = page.store.clone();
    let (records, endpoints) =
        blocking(move || Ok((store.models().map_err(store_err)?, store.endpoints().map_err(store_err)?))).await?;
    let key_hint = if page.api_keys.enforced() { "an airgate API key (API keys page)" } else { "(leave empty)" };
    let mut rows: Vec<Value> = page
        .models
        .list()
        .into_iter()
        .map(|m| {
            let family = records.iter().find(|r| r.name == m.name).and_then(|r| r.family.clone());
            json!({
                "deployment_name": format!("airgate-{}", m.name),
                "platform": "API",
                "endpoint": format!("{url}/v1"),
                "identifier": format!("custom_openai/{}", m.name),
                "family": family.unwrap_or_else(|| "general".into()),
                "api_key": key_hint,
            })
        })
        .collect();
    rows.extend(endpoints.iter().map(|e| {
        json!({
            "deployment_name": e.name,
            "platform": "API",
            "endpoint": e.url,
            "identifier": format!("custom_openai/{}", e.model),
            "family": e.family.clone().unwrap_or_else(|| "general".into()),
            "api_key": if e.api_key.is_some() { "the endpoint's own API key" } else { "(leave empty)" },
        })
    }));
    let secure = page.config.tls.is_some();
    Ok(Json(json!({
        "gitlab_url": keys.gitlab_url,
        "airgate_url": url,
        "agent_platform_url": agent_platform_url(headers, page.own.agent_port),
        "agent_platform_tls": secure,
        "auth_bypass": bypass_json(page.gitlab.get().bypass()),
        "jwks": { "last_success": keys.last_success, "keys": keys.keys, "last_error": keys.last_error },
        "gitlab_rb": format!(
            "gitlab_rails['env'] = {{ 'AI_GATEWAY_URL' => '{url}', 'DUO_AGENT_PLATFORM_SERVICE_SECURE' => '{secure}' }}\n"
        ),
        "helm": format!(
            "global:\n  extraEnv:\n    AI_GATEWAY_URL: {url}\n    DUO_AGENT_PLATFORM_SERVICE_SECURE: \"{secure}\"\n"
        ),
        "self_hosted_models": rows,
    })))
}

/// The bypass for the admin UI: whether it is on now, and for how long yet.
fn bypass_json(bypass: crate::auth::gitlab::Bypass) -> Value {
    use crate::auth::gitlab::Bypass;
    json!({
        "active": bypass.active(),
        "pinned": bypass == Bypass::Pinned,
        "expires_in_s": bypass.expires_in().filter(|_| bypass.active()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabBody {
    /// `null` or "": trust no GitLab instance (only airgate's own tokens).
    gitlab_url: Option<String>,
}

/// Sets the GitLab instance whose signing keys airgate trusts; takes effect at once and fetches the keys.
async fn set_gitlab(
    State(page): State<GitlabPage>,
    admin: Admin,
    headers: HeaderMap,
    JsonBody(body, _): AdminJson<GitlabBody>,
) -> AdminResult<Json<Value>> {
    let url = body.gitlab_url.as_deref().map(str::trim).unwrap_or_default().trim_end_matches('/').to_string();
    if !url.is_empty() {
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => {
                return Err(crate::http::ApiError::invalid(
                    "gitlab_url",
                    "must be an http:// or https:// URL, e.g. https://gitlab.example.com",
                )
                .into());
            }
        }
    }
    // The bypass window keeps running: a new GitLab URL does not restart it.
    let (dir, bypass, store, u) =
        (page.config.data_dir.clone(), page.gitlab.get().bypass(), page.store.clone(), url.clone());
    let auth = blocking(move || {
        store.set_setting(GITLAB_URL, &u).map_err(store_err)?;
        crate::auth::gitlab::GitlabAuth::new(&dir, Some(u).filter(|u| !u.is_empty()), bypass)
            .map_err(|e| crate::http::ApiError::Internal(e.to_string()))
    })
    .await?;
    page.gitlab.replace(auth);
    if !url.is_empty() {
        // A first fetch right away, so the page shows whether GitLab answers.
        if let Err(e) = page.gitlab.get().refresh_keys().await {
            tracing::warn!(error = %e, "could not fetch GitLab's signing keys");
        }
    }
    admin.audit("gitlab_url", &url, "");
    gitlab_page(&page, &headers).await
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    correlation_id: Option<String>,
}

fn matches(q: &LogQuery, e: &Entry) -> bool {
    q.correlation_id.as_deref().map(str::trim).filter(|c| !c.is_empty()).is_none_or(|c| e.correlation_id.contains(c))
}

async fn logs(State(activity): State<Arc<Activity>>, _admin: Admin, Query(q): Query<LogQuery>) -> Json<Vec<Entry>> {
    Json(activity.recent(200, |e| matches(&q, e)))
}

/// Finished requests as they happen, one SSE `data:` frame each (a comment every 15 s keeps proxies from closing it).
async fn logs_stream(State(activity): State<Arc<Activity>>, _admin: Admin, Query(q): Query<LogQuery>) -> Response {
    let live = BroadcastStream::new(activity.subscribe()).filter_map(move |item| {
        let frame = match item {
            Ok(e) if matches(&q, &e) => {
                Some(Ok::<_, Infallible>(SseEvent::default().json_data(&e).unwrap_or_default()))
            }
            Ok(_) => None,
            // A slow reader missed entries: say so instead of silently skipping.
            Err(_) => Some(Ok(SseEvent::default().event("lagged").data("some entries were skipped"))),
        };
        async move { frame }
    });
    axum::response::IntoResponse::into_response(
        Sse::new(live).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

async fn logging(State(expanded): State<ExpandedLogging>, _admin: Admin) -> Json<Value> {
    Json(json!({ "expanded": expanded.get() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggingBody {
    expanded: bool,
}

async fn set_logging(
    State(store): State<Store>,
    State(expanded): State<ExpandedLogging>,
    admin: Admin,
    JsonBody(body, _): AdminJson<LoggingBody>,
) -> AdminResult<Json<Value>> {
    blocking(move || store.set_setting(EXPANDED_LOGGING, &body.expanded).map_err(store_err)).await?;
    expanded.set(body.expanded);
    admin.audit("expanded_logging", "", if body.expanded { "on" } else { "off" });
    Ok(Json(json!({ "expanded": body.expanded })))
}

/// One check per feature: route it as a GitLab request without a model would be, ask the model for
/// a short answer, time it.
async fn diagnostics(
    State(gitlab): State<Arc<GitlabSlot>>,
    State(routing): State<Routing>,
    admin: Admin,
) -> AdminResult<Json<Value>> {
    let (routes, endpoints) = routing.table().await;
    let mut results = Vec::new();
    let auth = gitlab.get();
    if let Some(url) = auth.status().gitlab_url {
        let started = Instant::now();
        let outcome = auth.refresh_keys().await;
        let (ok, message) = match outcome {
            Ok(n) => (true, format!("fetched {n} signing keys from GitLab")),
            Err(e) => (false, format!("cannot fetch GitLab's signing keys: {e}")),
        };
        results.push(json!({ "feature": "gitlab_keys", "title": "GitLab signing keys", "target": url, "ok": ok,
            "ms": started.elapsed().as_millis() as u64, "message": message }));
    }
    let router = routing.router(&routes, &endpoints);
    for feature in Feature::ALL {
        let started = Instant::now();
        let (target, ok, message) = match router.route(&ModelRequest::default(), feature) {
            Err(crate::features::FeatureError::Disabled(_)) => {
                ("disabled".to_string(), true, "disabled by an administrator; not checked".to_string())
            }
            Err(e) => ("none".to_string(), false, e.to_string()),
            Ok(route) if feature == Feature::EmbeddingsCode => {
                let target = route.engine.info().name.clone();
                let (ok, message) = if route.local && route.engine.embeddings().is_none() {
                    if routes.contains_key(&feature) {
                        (false, format!("model `{target}` does not serve embeddings"))
                    } else {
                        // Nobody chose a model for it: only GitLab's semantic code search would miss it.
                        let m = "not checked: the default model does not serve embeddings (GitLab's semantic code \
                                 search needs an embeddings model routed here)";
                        (true, m.to_string())
                    }
                } else {
                    match crate::models::probe_embeddings(route.engine.as_ref()).await {
                        Ok(m) => (true, m),
                        Err(m) => (false, m),
                    }
                };
                (target, ok, message)
            }
            Ok(route) => {
                let target = route.engine.info().name.clone();
                let (ok, message) = match crate::models::probe(route.engine.as_ref()).await {
                    Ok(m) => (true, m),
                    Err(m) => (false, m),
                };
                (target, ok, message)
            }
        };
        results.push(json!({ "feature": feature.as_str(), "title": feature.title(), "target": target, "ok": ok,
            "ms": started.elapsed().as_millis() as u64, "message": message }));
    }
    let ok = results.iter().all(|r| r["ok"] == true);
    admin.audit("diagnostics", "", if ok { "all checks passed" } else { "some checks failed" });
    Ok(Json(json!({ "ok": ok, "results": results })))
}
