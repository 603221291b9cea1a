//! GitLab AI Gateway API: the endpoints GitLab Rails, Workhorse and the IDE extensions call (§2), authenticated with GitLab tokens.

mod chat;
mod code;
mod docs;
mod embeddings;
pub mod fuzz;
mod prompts;
mod types;

use axum::Router;
use axum::extract::FromRef;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::gitlab::Principal;
use crate::auth::{GitlabCaller, GitlabSlot};
use crate::engine::{Event, EventStream};
use crate::features::routing::{Feature, ModelRequest, Route, Routing};
use crate::http::ApiError;
use crate::http::stream::streaming_fallible;
use crate::prompt::LineCutter;
use crate::state::{AppState, ExpandedLogging};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/code/completions", post(code::completions))
        .route("/v2/completions", post(code::completions))
        .route("/v3/code/completions", post(code::v3))
        .route("/v4/code/suggestions", post(code::v4))
        .route("/v2/code/generations", post(code::legacy_generations))
        .route("/v1/code/user_access_token", post(user_access_token))
        .route("/v2/chat/agent", post(chat::agent))
        .route("/v1/chat/{invokable}", post(chat::legacy))
        .route("/v1/prompts/{*prompt_id}", post(prompts::v1))
        .route("/v2/prompts/{*prompt_id}", post(prompts::v2))
        .route("/v1/search/gitlab-docs", post(docs::search))
        .route("/v1/embeddings/code_embeddings", post(embeddings::code_embeddings))
        .route("/v1/embeddings/code_embeddings/index", post(embeddings::code_embeddings))
        .route("/v1/embeddings/code_embeddings/search", post(embeddings::code_embeddings))
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
fn verbose(gateway: &Gateway, headers: &HeaderMap) -> bool {
    gateway.expanded.get()
        || headers
            .get("x-gitlab-enabled-instance-verbose-ai-logs")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What the AI Gateway's handlers need of the server: model routing and the expanded-logging switch.
#[derive(Clone)]
struct Gateway {
    routing: Routing,
    expanded: ExpandedLogging,
}

impl FromRef<AppState> for Gateway {
    fn from_ref(s: &AppState) -> Self {
        Gateway { routing: Routing::from_ref(s), expanded: s.expanded_logging.clone() }
    }
}

/// Routes the request to a model (see `features::routing::Routing::route`).
async fn route(gateway: &Gateway, model: &ModelRequest, feature: Feature) -> Result<Route, ApiError> {
    Ok(gateway.routing.route(model, feature).await?)
}

/// Model failures as GitLab's gateway reports them: an upstream status → 421 (kept), rate limits → 429,
/// anything else → 503 "Inference failed" (the detail goes to the log, not to the caller).
fn model_failure(e: ApiError) -> ApiError {
    match e {
        ApiError::Internal(detail) => {
            tracing::error!(%detail, "inference failed");
            ApiError::Unavailable { message: "Inference failed".into(), retry_after: std::time::Duration::from_secs(5) }
        }
        other => other,
    }
}

use crate::unix_now as now_secs;

/// Tokens airgate minted for the IDE's direct connection may not choose a model endpoint: that would
/// let any Duo user make airgate fetch arbitrary URLs. They get the model mapped to the feature.
/// Under `auth.bypass` nobody is authenticated: a request may name only a registered endpoint.
fn model_for(caller: &crate::auth::gitlab::Principal, requested: ModelRequest) -> ModelRequest {
    if caller.gateway_issued {
        ModelRequest { name: requested.name, ..ModelRequest::default() }
    } else {
        ModelRequest { registered_only: caller.bypass, ..requested }
    }
}

/// Puts the caller on the request span, so even refused requests' access lines carry it.
fn record_caller(caller: &crate::auth::gitlab::Principal, feature: Feature) {
    crate::http::record_caller(feature.as_str(), caller.instance_id.as_deref(), caller.global_user_id.as_deref());
}

fn log_request(caller: &crate::auth::gitlab::Principal, feature: Feature, route: &Route) {
    tracing::info!(
        feature = feature.as_str(),
        instance_id = caller.instance_id.as_deref().unwrap_or("-"),
        user_id = caller.global_user_id.as_deref().unwrap_or("-"),
        model = %route.engine.info().name,
        local = route.local,
        family = route.family.as_str(),
        "gitlab request"
    );
}

/// A stream item that aborts the response: the model failed after the headers were sent.
type Chunk = Result<String, std::io::Error>;

fn broken(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

/// Generated text as it arrives; generations are re-cut into whole lines with Markdown fences removed.
/// A failure mid-stream aborts the body, so the client never takes half an answer for a whole one.
fn text_chunks(events: EventStream, cut_lines: bool) -> impl Stream<Item = Chunk> + Send {
    let mut cutter = cut_lines.then(LineCutter::new);
    // The body is polled after the handler returned: log inside the request's span.
    let span = tracing::Span::current();
    ReceiverStream::new(events).flat_map(move |event| {
        let out: Vec<Chunk> = match event {
            Event::Text(t) => match cutter.as_mut() {
                Some(c) => c.push(&t).into_iter().map(Ok).collect(),
                None => vec![Ok(t)],
            },
            Event::Done { .. } => cutter.as_mut().and_then(LineCutter::finish).into_iter().map(Ok).collect(),
            Event::Reasoning(_) | Event::ToolCall { .. } => Vec::new(),
            Event::Expired { waited } => {
                span.in_scope(|| tracing::warn!(waited_ms = waited.as_millis() as u64, "request expired in the queue"));
                vec![Err(broken("request expired in the queue"))]
            }
            Event::Failed(detail) => {
                span.in_scope(|| tracing::error!(%detail, "generation failed mid-stream"));
                vec![Err(broken("generation failed"))]
            }
        };
        stream::iter(out.into_iter().filter(|c| c.as_ref().map_or(true, |s| !s.is_empty())))
    })
}

/// GitLab's "event-stream" that is really raw text deltas (§2.2).
fn raw_stream(chunks: impl Stream<Item = Chunk> + Send + 'static) -> Response {
    streaming_fallible("text/event-stream; charset=utf-8", chunks)
}

/// `POST /v1/code/user_access_token`: a short-lived token for the IDE's direct connection (§2.4).
async fn user_access_token(
    axum::extract::State(gitlab): axum::extract::State<std::sync::Arc<GitlabSlot>>,
    GitlabCaller(caller): GitlabCaller,
) -> Result<axum::Json<Value>, ApiError> {
    // With auth.bypass nobody is authenticated: minting real tokens then would hand out credentials.
    let allowed = (caller.has_scope("complete_code") || caller.has_scope("ai_gateway_model_provider_proxy"))
        && !caller.gateway_issued
        && !caller.bypass;
    if !allowed {
        return Err(ApiError::Forbidden("Unauthorized to create user access token".into()));
    }
    let (token, expires_at) = gitlab.get().mint_user_token(&caller).map_err(|e| match e {
        // The caller's headers do not say who the token is for (no X-Gitlab-Global-User-Id).
        crate::auth::gitlab::AuthError::Unauthorized(message) => ApiError::Unprocessable(message),
        crate::auth::gitlab::AuthError::Setup(detail) => {
            tracing::error!(%detail, "could not mint a user access token");
            ApiError::Internal("Failed to generate JWT".into())
        }
    })?;
    Ok(axum::Json(json!({ "token": token, "expires_at": expires_at })))
}
