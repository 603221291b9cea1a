//! `POST /v1/embeddings` in OpenAI's shape: `input` as a string, strings, token ids or arrays of
//! them; `encoding_format` float or base64; `dimensions`; `usage`. A named model is one of
//! airgate's own; without `model`, the model the admin routed GitLab's code embeddings to.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OpenAiResult, resolve_model};
use crate::engine::{EmbedInput, ModelRegistry};
use crate::features::FeatureError;
use crate::features::embeddings::embed;
use crate::features::routing::{Feature, ModelRequest, Routing};
use crate::http::{ApiError, JsonBody, OpenAiError};

#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub input: InputIn,
    /// `float` (default) or `base64` (little-endian f32, as OpenAI sends it).
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InputIn {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    ManyTokens(Vec<Vec<u32>>),
}

impl InputIn {
    fn inputs(self) -> Vec<EmbedInput> {
        match self {
            InputIn::One(s) => vec![EmbedInput::Text(s)],
            InputIn::Many(v) => v.into_iter().map(EmbedInput::Text).collect(),
            InputIn::Tokens(ids) => vec![EmbedInput::Tokens(ids)],
            InputIn::ManyTokens(v) => v.into_iter().map(EmbedInput::Tokens).collect(),
        }
    }
}

pub(super) async fn embeddings(
    State(models): State<ModelRegistry>,
    State(routing): State<Routing>,
    JsonBody(req, _): JsonBody<EmbeddingsRequest, OpenAiError>,
) -> OpenAiResult<Json<Value>> {
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            let m = format!("encoding_format is `{other}`; expected `float` or `base64`");
            return Err(ApiError::bad_param("encoding_format", m).into());
        }
    };
    let (engine, local) = match req.model.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(name) => (resolve_model(&models, Some(name))?, true),
        None => {
            let route = routing.route(&ModelRequest::default(), Feature::EmbeddingsCode).await?;
            (route.engine, route.local)
        }
    };
    let embedded =
        embed(engine.as_ref(), local, req.input.inputs(), req.dimensions, "openai").await.map_err(refused)?;
    let data: Vec<Value> = embedded
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 { json!(encode(v)) } else { json!(v) };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let tokens = embedded.prompt_tokens;
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": engine.info().name,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })))
}

/// A refused embedding names the field it is about.
fn refused(e: FeatureError) -> OpenAiError {
    match e {
        FeatureError::BadInput(m) => {
            let param = if m.starts_with("dimensions") { "dimensions" } else { "input" };
            ApiError::bad_param(param, m).into()
        }
        FeatureError::Unprocessable(m) => ApiError::bad_param("model", m).into(),
        other => other.into(),
    }
}

/// The vector as OpenAI's base64: its f32 values, little-endian, one after another.
fn encode(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        // 1.0 = 0x3f800000, -2.0 = 0xc0000000
        assert_eq!(
            encode(&[1.0, -2.0]),
            base64::engine::general_purpose::STANDARD.encode([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0])
        );
    }

    #[test]
    fn every_input_shape() {
        let parse =
            |v: Value| serde_json::from_value::<EmbeddingsRequest>(json!({ "input": v })).map(|r| r.input.inputs());
        assert_eq!(parse(json!("a")).unwrap(), [EmbedInput::Text("a".into())]);
        assert_eq!(parse(json!(["a", "b"])).unwrap().len(), 2);
        assert_eq!(parse(json!([1, 2])).unwrap(), [EmbedInput::Tokens(vec![1, 2])]);
        assert_eq!(parse(json!([[1], [2, 3]])).unwrap(), [EmbedInput::Tokens(vec![1]), EmbedInput::Tokens(vec![2, 3])]);
        assert_eq!(parse(json!([])).unwrap(), []);
        assert!(parse(json!(["a", 1])).is_err());
        assert!(parse(json!({"text": "a"})).is_err());
        assert!(serde_json::from_value::<EmbeddingsRequest>(json!({ "model": "m" })).is_err(), "input is required");
    }
}
