//! `/monitoring/healthz` (liveness, as GitLab's rake task calls it), `/monitoring/ready` (default model loaded and warm) and `/metrics` (Prometheus).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::engine::{ModelRegistry, ModelStatus};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/monitoring/healthz", get(healthz))
        .route("/monitoring/ready", get(ready))
        .route("/metrics", get(metrics))
}

/// Prometheus text exposition format 0.0.4.
async fn metrics(State(models): State<ModelRegistry>) -> Response {
    for summary in models.list() {
        if let Some(engine) = models.get(&summary.name) {
            metrics::gauge!(crate::metrics::QUEUE_DEPTH, "model" => summary.name.clone())
                .set(engine.queue_depth() as f64);
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::metrics::render())
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({}))
}

async fn ready(State(models): State<ModelRegistry>) -> Response {
    // Unauthenticated: model names and states only, never file paths or load errors (which name them).
    let listed: Vec<_> = models
        .list()
        .into_iter()
        .map(|m| {
            let state = match m.status {
                ModelStatus::Loading => "loading",
                ModelStatus::Ready => "ready",
                ModelStatus::Failed(_) => "failed",
            };
            json!({ "name": m.name, "default": m.default, "status": { "state": state } })
        })
        .collect();
    let failed = models.default_name().filter(|n| matches!(models.status(n), Some(ModelStatus::Failed(_))));
    let reason = match failed {
        Some(name) => Some(format!("default model {name} failed to load (the log and the admin UI say why)")),
        None => models.not_ready_reason(),
    };
    match reason {
        None => (StatusCode::OK, Json(json!({ "status": "ready", "models": listed }))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason, "models": listed })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_names_models_but_shows_no_paths() {
        let models = ModelRegistry::default();
        models.add_loading("coder", "/srv/secret-dir/coder.gguf");
        models.set_failed("coder", "cannot open /srv/secret-dir/coder.gguf: permission denied".into());
        let r = ready(State(models)).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("coder") && text.contains("failed"), "{text}");
        assert!(!text.contains("secret-dir") && !text.contains("permission"), "{text}");
    }
}
