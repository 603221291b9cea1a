//! `/monitoring/healthz` (liveness, as GitLab's rake task calls it), `/monitoring/ready` (default model loaded and warm) and `/metrics` (Prometheus).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::engine::ModelRegistry;
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
    match models.not_ready_reason() {
        None => (StatusCode::OK, Json(json!({ "status": "ready", "models": models.list() }))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason, "models": models.list() })),
        )
            .into_response(),
    }
}
