//! `/monitoring/healthz` (liveness, as GitLab's rake task calls it) and `/monitoring/ready` (default model loaded and warm).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/monitoring/healthz", get(healthz)).route("/monitoring/ready", get(ready))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({}))
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.models.not_ready_reason() {
        None => (StatusCode::OK, Json(json!({ "status": "ready", "models": state.models.list() }))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason, "models": state.models.list() })),
        )
            .into_response(),
    }
}
