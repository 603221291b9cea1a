//! HTTP edge mechanics: the fallbacks, body limit, request ids and access log every route sits behind, JSON
//! extraction with field-naming errors, the error shapes, streams, TLS, the embedded UI, graceful shutdown.
//! Which routes exist is the composition root's business (`app::router`).

mod error;
mod json;
pub mod limits;
mod request_id;
pub mod stream;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::middleware;

pub use error::{ApiError, OpenAiError};
pub use json::{JsonBody, parse as parse_json};
pub use request_id::{RequestId, record_caller};

use std::sync::Arc;

use crate::activity::Activity;
use limits::Capped;

/// Puts `routes` behind the edge: 404/405 answers in the caller's protocol's shape, the body limit
/// (a declared oversize body refused before it is read), and the request id + access log around
/// everything.
pub fn edge<S: Clone + Send + Sync + 'static>(routes: Router<S>, limit: usize, activity: Arc<Activity>) -> Router<S> {
    routes
        .fallback(not_found)
        // After every route is in: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |req, next| reject_declared_oversize(limit, req, next)))
        .layer(middleware::from_fn_with_state(activity, request_id::middleware))
}

/// A body whose Content-Length already exceeds the limit is refused before a byte of it is read
/// (the body limit alone would wait for the upload first).
async fn reject_declared_oversize(
    limit: usize,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let error = ApiError::PayloadTooLarge;
        return if is_openai_path(req.uri().path()) {
            axum::response::IntoResponse::into_response(OpenAiError(error))
        } else {
            axum::response::IntoResponse::into_response(error)
        };
    }
    next.run(req).await
}

/// Paths whose clients expect OpenAI's error shape: `/v1` except GitLab's own `/v1` endpoints
/// (legacy chat, prompts, code tokens, docs search), which answer GitLab's `{"detail"}`.
fn is_openai_path(path: &str) -> bool {
    const GITLAB: [&str; 4] = ["/v1/prompts/", "/v1/code/", "/v1/search/", "/v1/embeddings/"];
    let gitlab_chat = path.strip_prefix("/v1/chat/").is_some_and(|rest| rest != "completions");
    (path == "/v1" || path.starts_with("/v1/")) && !gitlab_chat && !GITLAB.iter().any(|p| path.starts_with(p))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if is_openai_path(path) {
        let message = format!(
            "no route for {method} {path}: airgate's OpenAI-compatible API serves GET /v1/models, POST /v1/chat/completions and POST /v1/completions"
        );
        return openai_route_error(StatusCode::NOT_FOUND, message, "unknown_url");
    }
    axum::response::IntoResponse::into_response(ApiError::NotFound(format!("no route for {path}")))
}

/// A route that exists, asked with a method it does not take (axum adds the `Allow` header).
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    if is_openai_path(path) {
        let message = format!("{path} does not take {method}; see the Allow header for the methods it takes");
        return openai_route_error(StatusCode::METHOD_NOT_ALLOWED, message, "method_not_allowed");
    }
    let body = serde_json::json!({ "detail": format!("{path} does not take {method}") });
    axum::response::IntoResponse::into_response((StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)))
}

/// OpenAI's error shape for a request no handler took (no route, wrong method). The status is the
/// router's verdict, not a handler failure, so it does not go through [`ApiError::status`].
fn openai_route_error(status: StatusCode, message: String, code: &str) -> axum::response::Response {
    crate::activity::note_error(&message);
    let body = serde_json::json!({
        "error": { "message": message, "type": "invalid_request_error", "param": null, "code": code }
    });
    axum::response::IntoResponse::into_response((status, axum::Json(body)))
}

/// Serves `router` on a Unix socket at `path` (mode 0600) until the process ends. A socket left by an
/// earlier run is replaced; a failure to bind is logged, not fatal.
pub async fn serve_unix(path: std::path::PathBuf, router: Router) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the local admin socket; `airgate admin` needs the server stopped");
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot restrict the admin socket; closing it");
        let _ = std::fs::remove_file(&path);
        return;
    }
    if let Err(e) = axum::serve(listener, router).await {
        tracing::warn!(error = %e, "the local admin socket failed");
    }
}

/// The end of the drain that streams cut at the deadline get to send their last frames in: a
/// second, or a quarter of the drain when that is shorter.
fn flush_window(drain: Duration) -> Duration {
    Duration::from_secs(1).min(drain / 4)
}

/// Serves `router` on an already bound listener until `shutdown` resolves, then drains in-flight
/// requests (streams included) for at most `conn.drain`. Shortly before the drain ends (see
/// [`flush_window`]) `at_deadline` runs: it cuts the generations still running, so their streams
/// end well-formed (finish reason `cancelled`) before the remaining connections are closed.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<&crate::config::TlsPaths>,
    tls_handle: std::sync::Arc<tls::TlsHandle>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    conn: ConnectionLimits,
    at_deadline: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let drain = conn.drain;
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(drain_secs = drain.as_secs(), "shutting down: finishing in-flight requests");
        on_signal.graceful_shutdown(Some(drain));
        tokio::time::sleep(drain - flush_window(drain)).await;
        tracing::info!("shutdown deadline: cutting the generations still running");
        at_deadline();
    });
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(paths) => {
            let config = tls::load(paths).await?;
            tls_handle.set(config.clone());
            let mut server = axum_server::from_tcp_rustls(listener, config)?;
            limits::apply_timeouts(server.http_builder(), conn.header_timeout);
            server.map(|tls| Capped::new(tls, conn.max_connections)).handle(handle).serve(service).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?;
            limits::apply_timeouts(server.http_builder(), conn.header_timeout);
            let capped = Capped::new(axum_server::accept::DefaultAcceptor, conn.max_connections);
            server.acceptor(capped).handle(handle).serve(service).await
        }
    }
}

/// What client connections may hold (see [`limits`]), and how long they may finish at shutdown.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub drain: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_window_is_a_second_or_a_quarter_of_the_drain() {
        assert_eq!(flush_window(Duration::from_secs(30)), Duration::from_secs(1));
        assert_eq!(flush_window(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(flush_window(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn openai_paths() {
        assert!(is_openai_path("/v1/embeddings") && is_openai_path("/v1"));
        assert!(!is_openai_path("/v1x") && !is_openai_path("/v2/code/completions"));
        assert!(is_openai_path("/v1/chat/completions") && is_openai_path("/v1/completions"));
        for gitlab in
            ["/v1/chat/agent", "/v1/chat/explain_code", "/v1/prompts/chat/explain_code", "/v1/code/user_access_token"]
        {
            assert!(!is_openai_path(gitlab), "{gitlab}");
        }
    }
}
