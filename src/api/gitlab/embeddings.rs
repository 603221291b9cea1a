//! GitLab's code embeddings (§2.9): `POST /v1/embeddings/code_embeddings`, `…/index` and `…/search`,
//! which Rails calls to index a repository for semantic code search and to embed a query. Unit
//! primitive `generate_embeddings_codebase`; the model is GitLab's (`provider: gitlab`, served by
//! the model the admin routed the embeddings feature to) or a self-hosted one (`provider: litellm`,
//! named `embedding`, with its endpoint).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Gateway, log_request, model_failure, model_for, record_caller, route};
use crate::auth::GitlabCaller;
use crate::engine::EmbedInput;
use crate::features::embeddings::{GITLAB_EMBEDDING_ENGINE, check_gitlab_model, embed};
use crate::features::routing::{Feature, ModelRequest};
use crate::http::{ApiError, JsonBody};

/// The unit primitive a caller needs.
const SCOPE: &str = "generate_embeddings_codebase";

/// No `Debug`: `model_metadata` may carry the upstream's API key.
#[derive(Deserialize)]
pub struct CodeEmbeddingsRequest {
    pub model_metadata: EmbeddingModel,
    pub contents: Vec<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
    // `litellm_drop_params` (LiteLLM's "drop what the provider does not take") is accepted and
    // ignored: airgate takes every field it knows.
}

#[derive(Deserialize)]
pub struct EmbeddingModel {
    pub provider: String,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
}

/// The three paths do the same; GitLab tells indexing and searching apart for its own accounting.
pub(super) async fn code_embeddings(
    State(gateway): State<Gateway>,
    GitlabCaller(caller): GitlabCaller,
    JsonBody(req, _): JsonBody<CodeEmbeddingsRequest>,
) -> Result<Json<Value>, ApiError> {
    record_caller(&caller, Feature::EmbeddingsCode);
    if !caller.has_scope(SCOPE) {
        return Err(ApiError::Forbidden("Unauthorized to access 'embeddings_code'".into()));
    }
    let meta = req.model_metadata;
    let identifier = match meta.identifier {
        Some(id) => id,
        None => return Err(ApiError::Unprocessable("model_metadata.identifier: Field required".into())),
    };
    check_gitlab_model(&meta.provider, meta.name.as_deref(), meta.endpoint.as_deref())
        .map_err(ApiError::Unprocessable)?;
    // GitLab's own model (`gitlab`) is whatever the admin routed the feature to; a self-hosted one
    // (`litellm`) is one of airgate's models by identifier, airgate itself, or an upstream. The
    // family is never a prompt family here (`embedding`), so it does not take part.
    let requested = match meta.provider.as_str() {
        "litellm" => ModelRequest {
            provider: Some(meta.provider.clone()),
            name: None,
            endpoint: meta.endpoint,
            api_key: meta.api_key,
            identifier: Some(identifier.clone()),
            registered_only: false,
        },
        _ => ModelRequest { provider: Some(meta.provider.clone()), ..ModelRequest::default() },
    };
    let route = route(&gateway, &model_for(&caller, requested), Feature::EmbeddingsCode).await?;
    log_request(&caller, Feature::EmbeddingsCode, &route);
    let inputs = req.contents.into_iter().map(EmbedInput::Text).collect();
    let embedded = embed(route.engine.as_ref(), route.local, inputs, req.dimensions, Feature::EmbeddingsCode.as_str())
        .await
        .map_err(|e| model_failure(e.into()))?;
    let name = match meta.provider.as_str() {
        "litellm" => meta.name.unwrap_or_default(),
        _ => route.engine.info().name.clone(),
    };
    let predictions: Vec<Value> = embedded
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| json!({ "embedding": embedding, "index": index }))
        .collect();
    Ok(Json(json!({
        "model": { "engine": GITLAB_EMBEDDING_ENGINE, "name": name, "identifier": identifier },
        "predictions": predictions,
    })))
}
