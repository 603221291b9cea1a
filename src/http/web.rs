//! The admin web UI, embedded from `web/` at build time and served under `/admin/`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "web/"]
struct Assets;

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/admin/") }))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|headers: HeaderMap| asset("index.html", headers)))
        .route("/admin/{*path}", get(|Path(path): Path<String>, headers: HeaderMap| asset_owned(path, headers)))
}

async fn asset_owned(path: String, headers: HeaderMap) -> Response {
    asset(&path, headers).await
}

/// The UI loads nothing but its own files, is never framed, and sends no referrer.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The file's entity tag: its SHA-256 (computed at build time), shortened.
fn etag(file: &rust_embed::EmbeddedFile) -> String {
    format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]))
}

/// Serves an embedded file. The browser revalidates every time (`no-cache`, so a new airgate
/// version's UI is picked up at once) and gets a 304 without the body while its copy is current.
async fn asset(path: &str, request: HeaderMap) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let tag = etag(&file);
            let current = request
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
            if current {
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
            }
            let mime = file.metadata.mimetype().to_string();
            let headers = [
                (header::CONTENT_TYPE, mime),
                (header::CONTENT_SECURITY_POLICY, CSP.to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::X_FRAME_OPTIONS, "DENY".to_string()),
                (header::REFERRER_POLICY, "no-referrer".to_string()),
                (header::CACHE_CONTROL, "no-cache".to_string()),
                (header::ETAG, tag),
            ];
            (headers, file.data.into_owned()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
