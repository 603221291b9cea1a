//! HTTP edge: router, body limit, request ids and access log, JSON extraction with field-naming errors, TLS, graceful shutdown.

mod error;
mod json;
mod request_id;
pub mod stream;
pub mod tls;
mod web;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

pub use error::{ApiError, OpenAiError};
pub use json::JsonBody;
pub use request_id::{RequestId, record_caller};

use crate::app::AppState;

/// Every route airgate serves.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(crate::api::monitoring::routes())
        .merge(crate::api::openai::routes(state.clone()))
        .merge(crate::api::gitlab::routes())
        .merge(crate::api::admin::routes())
        .merge(web::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |req, next| reject_declared_oversize(limit, req, next)))
        .layer(middleware::from_fn_with_state(state.activity.clone(), request_id::middleware))
        .with_state(state)
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
        let openai =
            matches!(req.uri().path(), "/v1/chat/completions" | "/v1/completions" | "/v1/models" | "/v1/v1/models");
        return if openai {
            axum::response::IntoResponse::into_response(OpenAiError(error))
        } else {
            axum::response::IntoResponse::into_response(error)
        };
    }
    next.run(req).await
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Serves `router` on an already bound listener until `shutdown` resolves, then drains in-flight
/// requests (streams included) for at most `drain`.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<&crate::config::TlsPaths>,
    tls_handle: std::sync::Arc<tls::TlsHandle>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(drain_secs = drain.as_secs(), "shutting down: finishing in-flight requests");
        on_signal.graceful_shutdown(Some(drain));
    });
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(paths) => {
            let config = tls::load(paths).await?;
            tls_handle.set(config.clone());
            axum_server::from_tcp_rustls(listener, config)?.handle(handle).serve(service).await
        }
        None => axum_server::from_tcp(listener)?.handle(handle).serve(service).await,
    }
}
