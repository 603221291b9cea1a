//! The prompt registry endpoints `/v1/prompts/{prompt_id}` and `/v2/prompts/{prompt_id}` (§2.6): every Duo feature that is one templated model call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::{
    Gateway, log_request, model_failure, model_for, now_secs, raw_stream, record_caller, route, text_chunks, verbose,
};
use crate::auth::GitlabCaller;
use crate::engine::{Event, EventStream};
use crate::features::chat::{ChatPlan, run};
use crate::features::routing::{Feature, ModelRequest};
use crate::http::stream::streaming_fallible;
use crate::http::{ApiError, JsonBody};
use crate::prompt::registry::{self, RegistryError};

/// No `Debug`: `model_metadata` may carry the upstream's API key.
#[derive(Deserialize)]
pub struct PromptRequest {
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub prompt_version: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub model_metadata: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A bare JSON string; raw text when streaming.
    V1,
    /// `{content, usage}`; NDJSON chunks when streaming.
    V2,
}

pub(super) async fn v1(
    gateway: State<Gateway>,
    id: Path<String>,
    caller: GitlabCaller,
    headers: HeaderMap,
    body: JsonBody<PromptRequest>,
) -> Result<Response, ApiError> {
    invoke(gateway, id, caller, headers, body, Shape::V1).await
}

pub(super) async fn v2(
    gateway: State<Gateway>,
    id: Path<String>,
    caller: GitlabCaller,
    headers: HeaderMap,
    body: JsonBody<PromptRequest>,
) -> Result<Response, ApiError> {
    invoke(gateway, id, caller, headers, body, Shape::V2).await
}

async fn invoke(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    GitlabCaller(caller): GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<PromptRequest>,
    shape: Shape,
) -> Result<Response, ApiError> {
    // `chat/explain_code` arrives as a path, or percent-encoded as one segment (`chat%2Fexplain_code`).
    let id = id.trim_matches('/').to_string();
    // Refused requests' access lines carry the caller too; the feature is refined once the prompt is known.
    record_caller(&caller, Feature::DuoChat);
    let def = registry::resolve(&id, req.prompt_version.as_deref()).map_err(registry_error)?;
    let feature = Feature::for_unit_primitive(def.unit_primitive);
    record_caller(&caller, feature);
    if !caller.has_scope(def.unit_primitive) {
        return Err(ApiError::Forbidden(format!("Unauthorized to access '{id}'")));
    }
    let model = match &req.model_metadata {
        None | Some(Value::Null) => ModelRequest::default(),
        Some(meta) => serde_json::from_value::<ModelRequest>(meta.clone())
            .map_err(|e| ApiError::bad_request(format!("`model_metadata` is not valid: {e}")))?,
    };
    if let Some(name) = model.name.as_deref().filter(|n| !n.trim().is_empty())
        && let Err(e) = crate::prompt::Family::parse(name)
    {
        return Err(ApiError::bad_request(format!("`model_metadata.name`: {e}")));
    }
    let rendered = registry::render(def, &req.inputs, &crate::long_date(now_secs())).map_err(registry_error)?;
    let model = model_for(&caller, model);
    let route = route(&gateway, &model, feature).await?;
    log_request(&caller, feature, &route);
    tracing::debug!(prompt_id = %id, version = rendered.version, "prompt resolved");
    let plan = ChatPlan {
        messages: rendered.messages,
        prefill: rendered.prefill,
        temperature: rendered.temperature,
        max_tokens: rendered.max_tokens,
        stop: rendered.stop,
        seed: None,
        feature,
        drop_history: false,
    };
    let policy = gateway.routing.runaway().await;
    let (events, _) =
        run(&route, plan, &policy, verbose(&gateway, &headers)).await.map_err(|e| model_failure(e.into()))?;
    let usage_key = route.engine.info().name.clone();
    match (req.stream.unwrap_or(false), shape) {
        (true, Shape::V1) => Ok(raw_stream(text_chunks(events, false))),
        (true, Shape::V2) => Ok(streaming_fallible("text/event-stream; charset=utf-8", v2_chunks(events, usage_key))),
        (false, shape) => {
            let generated = crate::engine::collect(events).await.map_err(|e| model_failure(e.into()))?;
            Ok(match shape {
                Shape::V1 => Json(Value::String(generated.text)).into_response(),
                Shape::V2 => Json(json!({
                    "content": generated.text,
                    "usage": usage(&usage_key, generated.usage.prompt_tokens, generated.usage.completion_tokens),
                }))
                .into_response(),
            })
        }
    }
}

fn usage(model: &str, input: u32, output: u32) -> Value {
    json!({ model: { "input_tokens": input, "output_tokens": output } })
}

/// v2 streaming: one JSON line per text delta, the last one carrying `usage`.
fn v2_chunks(events: EventStream, usage_key: String) -> impl futures::Stream<Item = super::Chunk> {
    let span = tracing::Span::current();
    ReceiverStream::new(events).filter_map(move |event| {
        let line = match event {
            Event::Text(text) => Some(Ok(json!({ "content": text }))),
            Event::Reasoning(_) | Event::ToolCall { .. } => None,
            Event::Done { usage: u, .. } => {
                Some(Ok(json!({ "content": "", "usage": usage(&usage_key, u.prompt_tokens, u.completion_tokens) })))
            }
            Event::Expired { waited } => {
                span.in_scope(|| tracing::warn!(waited_ms = waited.as_millis() as u64, "prompt expired in the queue"));
                Some(Err(super::broken("request expired in the queue")))
            }
            Event::Failed(detail) => {
                span.in_scope(|| tracing::error!(%detail, "prompt generation failed mid-stream"));
                Some(Err(super::broken("generation failed")))
            }
        };
        std::future::ready(line.map(|v| v.map(|v| format!("{v}\n"))))
    })
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::UnknownPrompt(_) => ApiError::NotFound(e.to_string()),
        // GitLab's gateway refuses these with its own 400, not as a validation failure.
        RegistryError::BadVersion(m) => ApiError::bad_request(m),
        RegistryError::MissingInputs(_) | RegistryError::Render(_) => ApiError::Unprocessable(e.to_string()),
    }
}
