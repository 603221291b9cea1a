//! `POST /v1/search/gitlab-docs` (§2.7): Duo Chat's documentation tool searches the docs the admin imported with `airgate docs import`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{now_secs, record_caller};
use std::sync::Arc;

use crate::auth::GitlabCaller;
use crate::config::Config;
use crate::docs::DocsIndex;
use crate::features::routing::Feature;
use crate::http::{ApiError, JsonBody};

const MAX_QUERY_CHARS: usize = 400_000;

#[derive(Debug, Deserialize)]
pub struct SearchRequest {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    pub payload: SearchPayload,
}

#[derive(Debug, Deserialize)]
pub struct SearchPayload {
    pub query: String,
    #[serde(default)]
    pub page_size: Option<i64>,
}

pub(super) async fn search(
    State(config): State<Arc<Config>>,
    GitlabCaller(caller): GitlabCaller,
    JsonBody(req, _): JsonBody<SearchRequest>,
) -> Result<Json<Value>, ApiError> {
    record_caller(&caller, Feature::DuoChat);
    if !caller.has_scope("documentation_search") {
        return Err(ApiError::Forbidden("Unauthorized to search documentations".into()));
    }
    let payload = req.payload;
    if payload.query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_param(
            "payload.query",
            format!("`payload.query` is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let page_size = match payload.page_size {
        None => 4,
        Some(n @ 1..=20) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_param("payload.page_size", format!("`payload.page_size` is {n}; send 1 to 20")));
        }
    };
    let version = req.metadata.as_ref().and_then(|m| m["version"].as_str()).unwrap_or("-").to_string();
    tracing::debug!(kind = req.kind.as_deref().unwrap_or("-"), %version, page_size, "docs search");
    let index = DocsIndex::at(&config.data_dir);
    let query = payload.query;
    let hits = tokio::task::spawn_blocking(move || index.search(&query, page_size))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            // A damaged index must not break chat: log it and answer as if nothing matched.
            tracing::error!(error = %e, "documentation search failed");
            e
        })
        .unwrap_or_default();
    // Ids as GitLab's own index names them: paths from the repository root, `doc/…` (Rails turns them
    // into /help links).
    let results: Vec<Value> = hits
        .into_iter()
        .map(|h| {
            let id = doc_path(&h.id);
            json!({ "id": id, "content": h.content, "metadata": { "filename": doc_path(&h.filename) } })
        })
        .collect();
    Ok(Json(json!({
        "response": { "results": results },
        "metadata": { "provider": "sqlite", "timestamp": now_secs() },
    })))
}

fn doc_path(relative: &str) -> String {
    if relative.starts_with("doc/") { relative.to_string() } else { format!("doc/{relative}") }
}
