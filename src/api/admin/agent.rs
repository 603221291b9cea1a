//! The Agent Platform page: the gRPC service's address, transport and limits, the value for GitLab's setting, the live sessions, and stopping one.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Admin, AdminResult};
use crate::config::Config;
use crate::features::agent::sessions::Sessions;
use crate::features::routing::OwnAddress;
use crate::http::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/admin/agent", get(overview)).route("/api/admin/agent/sessions/{id}/stop", post(stop))
}

#[derive(Clone)]
struct AgentPage {
    config: Arc<Config>,
    sessions: Arc<Sessions>,
    own: OwnAddress,
}

impl FromRef<AppState> for AgentPage {
    fn from_ref(s: &AppState) -> Self {
        AgentPage { config: s.config.clone(), sessions: s.agent_sessions.clone(), own: s.own.clone() }
    }
}

async fn overview(State(page): State<AgentPage>, _admin: Admin, headers: HeaderMap) -> AdminResult<Json<Value>> {
    let agent = &page.config.agent;
    let listen = std::net::SocketAddr::new(page.config.dws_listen.ip(), page.own.agent_port);
    Ok(Json(json!({
        "listen": listen.to_string(),
        "gitlab_setting": super::system::agent_platform_url(&headers, page.own.agent_port),
        "tls": page.config.tls.is_some(),
        "max_sessions": agent.max_sessions,
        "idle_timeout_secs": agent.idle_timeout_secs,
        "max_iterations": agent.max_iterations,
        "chat_scope": agent.chat_scope,
        "active": page.sessions.active(),
        "sessions": page.sessions.list(),
    })))
}

/// Asks a live session to stop, as a user stop: GitLab is told and shows it stopped.
async fn stop(State(page): State<AgentPage>, admin: Admin, Path(id): Path<u64>) -> AdminResult<Json<Value>> {
    let Some(session) = page.sessions.list().into_iter().find(|s| s.id == id) else {
        return Err(ApiError::NotFound(format!("no Agent Platform session {id} is running")).into());
    };
    page.sessions.stop(id);
    admin.audit("agent.session.stop", &session.workflow_id, &format!("user {}", session.user));
    tracing::info!(workflow_id = %session.workflow_id, admin = admin.user(), "an admin stopped an Agent Platform session");
    Ok(Json(json!({ "stopping": true, "workflow_id": session.workflow_id })))
}
