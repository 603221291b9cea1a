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

async fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            ([(header::CONTENT_TYPE, mime)], file.data.into_owned()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
