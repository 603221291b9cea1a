//! GitLab AI Gateway API: the endpoints GitLab Rails, Workhorse and the IDE extensions call (spec §2), authenticated with GitLab tokens.

mod code;
mod types;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::GitlabCaller;
use crate::auth::gitlab::Principal;
use crate::features::routing::{FeatureRoutes, Router as ModelRouter};
use crate::http::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/code/completions", post(code::completions))
        .route("/v2/completions", post(code::completions))
        .route("/v3/code/completions", post(code::v3))
        .route("/v4/code/suggestions", post(code::v4))
        .route("/v2/code/generations", post(code::legacy_generations))
        .route("/v1/code/user_access_token", post(user_access_token))
}

/// 403 unless the caller's token carries `scope` (and, where GitLab's gateway refuses them, is not one airgate minted).
fn require(caller: &Principal, scope: &str, allow_gateway_issued: bool, what: &str) -> Result<(), ApiError> {
    if caller.has_scope(scope) && (allow_gateway_issued || !caller.gateway_issued) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("Unauthorized to access {what}")))
    }
}

/// `x-gitlab-enabled-feature-flags`, echoed in code-suggestion metadata.
fn feature_flags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get("x-gitlab-enabled-feature-flags")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Prompts and model output are logged only when GitLab's "Enable AI logs" header arrives or `logging.expanded` is on.
fn verbose(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.logging_expanded
        || headers
            .get("x-gitlab-enabled-instance-verbose-ai-logs")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The model router over this server's models, remote client and the admin's feature routes.
async fn with_router<T>(state: &AppState, f: impl FnOnce(&ModelRouter<'_>) -> T) -> T {
    let store = state.store.clone();
    let read =
        tokio::task::spawn_blocking(move || store.get_setting(crate::features::routing::FEATURE_ROUTES_KEY)).await;
    let routes: FeatureRoutes = match read {
        Ok(Ok(routes)) => routes.unwrap_or_default(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the feature routes; using the default model");
            FeatureRoutes::default()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the feature routes; using the default model");
            FeatureRoutes::default()
        }
    };
    let router = ModelRouter {
        models: &state.models,
        remote: &state.remote,
        routes: &routes,
        own_port: state.own_port,
        own_hosts: &state.own_hosts,
    };
    f(&router)
}

use crate::unix_now as now_secs;

/// `POST /v1/code/user_access_token`: a short-lived token for the IDE's direct connection (spec §2.4).
async fn user_access_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    GitlabCaller(caller): GitlabCaller,
) -> Result<axum::Json<Value>, ApiError> {
    // With auth.bypass nobody is authenticated: minting real tokens then would hand out credentials.
    let allowed = (caller.has_scope("complete_code") || caller.has_scope("ai_gateway_model_provider_proxy"))
        && !caller.gateway_issued
        && !caller.bypass;
    if !allowed {
        return Err(ApiError::Forbidden("Unauthorized to create user access token".into()));
    }
    let (token, expires_at) = state.gitlab.mint_user_token(&caller).map_err(|e| match e {
        // The caller's headers do not say who the token is for (no X-Gitlab-Global-User-Id).
        crate::auth::gitlab::AuthError::Unauthorized(message) => ApiError::Unprocessable(message),
        crate::auth::gitlab::AuthError::Setup(detail) => {
            tracing::error!(%detail, "could not mint a user access token");
            ApiError::Internal("Failed to generate JWT".into())
        }
    })?;
    Ok(axum::Json(json!({ "token": token, "expires_at": expires_at })))
}
