//! The admin web UI, embedded from `web/` at build time and served under `/admin/`.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::Embed;

use crate::app::AppState;

#[derive(Embed)]
#[folder = "web/"]
struct Assets;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/admin/") }))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|| asset("index.html")))
        .route("/admin/{*path}", get(|Path(path): Path<String>| asset_owned(path)))
}

async fn asset_owned(path: String) -> Response {
    asset(&path).await
}

/// The UI loads nothing but its own files, is never framed, and sends no referrer.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            let headers = [
                (header::CONTENT_TYPE, mime),
                (header::CONTENT_SECURITY_POLICY, CSP.to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::X_FRAME_OPTIONS, "DENY".to_string()),
                (header::REFERRER_POLICY, "no-referrer".to_string()),
                // A new airgate version's UI is picked up at once.
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ];
            (headers, file.data.into_owned()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
