//! HTTP edge: router, body limit, request ids and access log, JSON extraction with field-naming errors, TLS, graceful shutdown.

mod error;
mod json;
mod request_id;
pub mod stream;
mod tls;
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
        .merge(web::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Serves `router` on an already bound listener until `shutdown` resolves, then drains in-flight
/// requests (streams included) for at most `drain`.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<&crate::config::TlsPaths>,
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
            axum_server::from_tcp_rustls(listener, config)?.handle(handle).serve(service).await
        }
        None => axum_server::from_tcp(listener)?.handle(handle).serve(service).await,
    }
}
