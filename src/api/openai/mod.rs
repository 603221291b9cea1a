//! OpenAI-compatible API under `/v1`: models, chat completions (tools, structured output, reasoning), text completions (with fill-in-the-middle), streaming or not, and embeddings.

mod chat;
mod embeddings;
pub mod fuzz;
pub mod types;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::engine::{
    Engine, EngineError, Event, EventStream, FinishReason, GenerateRequest, Generated, ModelRegistry, ModelStatus,
    Prompt, Usage, collect,
};
use crate::http::stream::{event_stream, sse_data};
use crate::http::{ApiError, JsonBody, OpenAiError};
use crate::state::AppState;
use types::{GenerationRequest, PromptIn, UsageOut};

type OpenAiResult<T> = Result<T, OpenAiError>;

/// OpenAI's default `max_tokens` for text completions.
const COMPLETIONS_DEFAULT_MAX_TOKENS: u32 = 16;

pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models))
        // GitLab's verify_self_hosted_setup appends /v1/models to an endpoint that already ends in /v1.
        .route("/v1/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route_layer(middleware::from_fn_with_state(state.api_keys.clone(), crate::auth::require_api_key))
}

use crate::unix_now as now_secs;

async fn models(State(models): State<ModelRegistry>) -> Json<Value> {
    let created = now_secs();
    let data: Vec<Value> = models
        .list()
        .into_iter()
        .map(|m| {
            json!({
                "id": m.name,
                "object": "model",
                "created": created,
                "owned_by": "airgate",
                "status": m.status,
                "default": m.default,
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// The engine for the requested model (the default model when none is named).
fn resolve_model(models: &ModelRegistry, requested: Option<&str>) -> Result<Arc<dyn Engine>, ApiError> {
    let name = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => name.to_string(),
        None => models.default_name().ok_or_else(|| ApiError::Unavailable {
            message: "no model is configured".into(),
            retry_after: std::time::Duration::from_secs(30),
        })?,
    };
    match models.status(&name) {
        None => {
            let known: Vec<String> = models.list().into_iter().map(|m| m.name).collect();
            Err(ApiError::NotFound(format!("model `{name}` does not exist; available models: {}", known.join(", "))))
        }
        Some(ModelStatus::Loading) => Err(ApiError::Unavailable {
            message: format!("model `{name}` is still loading"),
            retry_after: std::time::Duration::from_secs(5),
        }),
        Some(ModelStatus::Failed(reason)) => Err(ApiError::Unavailable {
            message: format!("model `{name}` failed to load: {reason}"),
            retry_after: std::time::Duration::from_secs(60),
        }),
        Some(ModelStatus::Ready) => models.get(&name).ok_or_else(|| ApiError::Unavailable {
            message: format!("model `{name}` is not available"),
            retry_after: std::time::Duration::from_secs(5),
        }),
    }
}

fn generate_request(
    req: &GenerationRequest,
    prompt: Prompt,
    default_max: Option<u32>,
) -> Result<GenerateRequest, ApiError> {
    req.check_n()?;
    Ok(GenerateRequest {
        prompt,
        max_tokens: req.max_tokens()?.or(default_max),
        sampling: req.sampling(),
        stop: req.stop_strings()?,
        repetition_guard: req.repetition_guard,
        ignore_eos: req.ignore_eos,
        speculate: req.speculative,
        // No deadline of its own: the engine's queue wait (`queue_wait_secs`, then 503) bounds it.
        deadline: None,
        feature: "openai",
        constraint: None,
        special_text: Vec::new(),
        upstream_tools: None,
    })
}

/// A refused generation; the engine's `max_tokens` verdict names the field the client actually sent.
fn generate_error(e: EngineError, req: &GenerationRequest) -> OpenAiError {
    match e {
        EngineError::InvalidRequest(message) if message.starts_with("max_tokens ") => {
            let field = if req.max_completion_tokens.is_some() { "max_completion_tokens" } else { "max_tokens" };
            let message = format!("{field}{}", &message["max_tokens".len()..]);
            ApiError::bad_param(field, message).into()
        }
        other => other.into(),
    }
}

async fn chat_completions(
    State(models): State<ModelRegistry>,
    JsonBody(req, _): JsonBody<GenerationRequest, OpenAiError>,
) -> OpenAiResult<Response> {
    let engine = resolve_model(&models, req.model.as_deref())?;
    chat::complete(engine, req).await
}

async fn completions(
    State(models): State<ModelRegistry>,
    JsonBody(req, _): JsonBody<GenerationRequest, OpenAiError>,
) -> OpenAiResult<Response> {
    let prompt = match &req.prompt {
        Some(PromptIn::One(p)) => p.clone(),
        Some(PromptIn::Many(v)) if v.len() == 1 => v[0].clone(),
        Some(PromptIn::Many(v)) => {
            return Err(ApiError::bad_param(
                "prompt",
                format!("`prompt` has {} strings; airgate completes one prompt per request", v.len()),
            )
            .into());
        }
        None => return Err(ApiError::bad_param("prompt", "missing field `prompt`").into()),
    };
    let engine = resolve_model(&models, req.model.as_deref())?;
    let prompt = match &req.suffix {
        None => prompt,
        Some(suffix) => {
            let Some(fim) = engine.fim_tokens() else {
                return Err(ApiError::bad_param(
                    "suffix",
                    format!(
                        "model `{}` has no fill-in-the-middle tokens, so `suffix` cannot be used with it",
                        engine.info().name
                    ),
                )
                .into());
            };
            format!("{}{prompt}{}{suffix}{}", fim.prefix, fim.suffix, fim.middle)
        }
    };
    let gen_req = generate_request(&req, Prompt::Text(prompt), Some(COMPLETIONS_DEFAULT_MAX_TOKENS))?;
    let events = engine.generate(gen_req).await.map_err(|e| generate_error(e, &req))?;
    let meta = Meta {
        id: format!("cmpl-{}", uuid::Uuid::new_v4().simple()),
        created: now_secs(),
        model: engine.info().name.clone(),
    };
    if req.stream {
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        return Ok(event_stream(completion_stream(meta, events, include_usage)));
    }
    let Generated { text, finish, usage } = collect(events).await?;
    Ok(Json(json!({
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish.as_str() }],
        "usage": UsageOut::from(usage),
    }))
    .into_response())
}

/// Identity fields repeated on every chunk of one response.
struct Meta {
    id: String,
    created: u64,
    model: String,
}

fn error_frame(detail: &str) -> String {
    sse_data(
        &json!({ "error": { "message": format!("inference failed: {detail}"), "type": "server_error", "param": null, "code": null } }),
    )
}

/// One chunk of a streamed response, before it is shaped as chat or text completion.
enum Piece {
    Text(String),
    Finish(FinishReason),
    Usage(Usage),
}

/// SSE body: a frame per piece, usage when asked for, an error frame on failure, then `[DONE]`.
fn sse_body(
    events: EventStream,
    include_usage: bool,
    render: impl Fn(Piece) -> Value + Send + 'static,
) -> impl Stream<Item = String> + Send {
    ReceiverStream::new(events)
        .flat_map(move |event| {
            let pieces = match event {
                Event::Text(t) => vec![Piece::Text(t)],
                // Only upstream chats carry these; text completions have none.
                Event::Reasoning(_) | Event::ToolCall { .. } => vec![],
                Event::Done { finish, usage, .. } if include_usage => vec![Piece::Finish(finish), Piece::Usage(usage)],
                Event::Done { finish, .. } => vec![Piece::Finish(finish)],
                Event::Failed(detail) => return stream::iter(vec![error_frame(&detail)]),
                Event::Expired { waited } => {
                    return stream::iter(vec![error_frame(
                        &crate::engine::EngineError::Expired { waited }.to_string(),
                    )]);
                }
            };
            stream::iter(pieces.into_iter().map(|p| sse_data(&render(p))).collect::<Vec<_>>())
        })
        .chain(stream::once(async { "data: [DONE]\n\n".to_string() }))
}

fn completion_stream(meta: Meta, events: EventStream, include_usage: bool) -> impl Stream<Item = String> + Send {
    let frame = move |text: &str, finish: Option<&str>| {
        json!({
            "id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model,
            "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish }],
        })
    };
    sse_body(events, include_usage, move |piece| match piece {
        Piece::Text(t) => frame(&t, None),
        Piece::Finish(f) => frame("", Some(f.as_str())),
        Piece::Usage(u) => {
            let mut v = frame("", None);
            v["choices"] = json!([]);
            v["usage"] = json!(UsageOut::from(u));
            v
        }
    })
}
