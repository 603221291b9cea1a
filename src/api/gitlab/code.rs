//! Code suggestions endpoints: `/v2/code/completions` (+ `/v2/completions`), `/v3/code/completions`, `/v4/code/suggestions`, `/v2/code/generations`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};

use super::types::{Component, ComponentsRequest, FlatRequest};
use super::{
    Gateway, feature_flags, log_request, model_failure, model_for, now_secs, raw_stream, record_caller, require, route,
    text_chunks, verbose,
};
use crate::auth::GitlabCaller;
use crate::features::code::{Answer, CodeInput, Kind, PlanInfo, suggest};
use crate::features::routing::{Feature, ModelRequest, Route};
use crate::http::stream::streaming_fallible;
use crate::http::{ApiError, JsonBody};
use crate::prompt;
use crate::store::RunawayPolicy;

const REGION: &str = "us-central1";

/// `POST /v2/code/completions` and `/v2/completions` (§2.2).
pub(super) async fn completions(
    gateway: State<Gateway>,
    caller: GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<FlatRequest>,
) -> Result<Response, ApiError> {
    flat(gateway, caller, headers, req, Kind::Completion).await
}

/// `POST /v2/code/generations` (legacy flat schema, §2.3.2; GitLab's troubleshooting script sends it).
pub(super) async fn legacy_generations(
    gateway: State<Gateway>,
    caller: GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<FlatRequest>,
) -> Result<Response, ApiError> {
    flat(gateway, caller, headers, req, Kind::Generation).await
}

/// The flat-schema endpoints: completion (gateway-issued tokens welcome) or legacy generation (not).
async fn flat(
    State(gateway): State<Gateway>,
    GitlabCaller(caller): GitlabCaller,
    headers: HeaderMap,
    req: FlatRequest,
    kind: Kind,
) -> Result<Response, ApiError> {
    let feature = match kind {
        Kind::Completion => {
            require(&caller, "complete_code", true, "code completions")?;
            Feature::CodeCompletions
        }
        Kind::Generation => {
            require(&caller, "generate_code", false, "code generations")?;
            Feature::CodeGenerations
        }
    };
    record_caller(&caller, feature);
    req.validate(kind)?;
    let file = &req.current_file;
    let flags = feature_flags(&headers);
    let model = model_for(&caller, req.model());
    let lang = prompt::language(&file.file_name, file.language_identifier.as_deref());
    let lang = match (lang, kind) {
        (Some(lang), _) => lang,
        // GitLab's gateway makes no model call when it cannot tell the language of a completion.
        (None, Kind::Completion) => {
            return Ok(Json(v2_body(&model, None, "", PlanInfo::default(), None, &flags)).into_response());
        }
        (None, Kind::Generation) => "text".into(),
    };
    let route = route(&gateway, &model, feature).await?;
    let input = CodeInput {
        file_name: file.file_name.clone(),
        language: lang.clone(),
        prefix: file.content_above_cursor.clone(),
        suffix: file.content_below_cursor.clone(),
        context: req.context.iter().map(|c| (c.name.clone(), c.content.clone())).collect(),
        instruction: if kind == Kind::Generation { req.prompt_text() } else { None },
        enhancer: None,
    };
    log_request(&caller, feature, &route);
    let policy = gateway.routing.runaway().await;
    let (answer, info) = run(&route, input, kind, req.stream, &policy, verbose(&gateway, &headers)).await?;
    Ok(match answer {
        Answer::Stream(events) => raw_stream(text_chunks(events, false)),
        Answer::Whole(g) => {
            let usage = (g.usage.prompt_tokens, g.usage.completion_tokens);
            Json(v2_body(&model, Some(&route), &lang, info, Some((&g.text, usage)), &flags)).into_response()
        }
    })
}

/// `POST /v3/code/completions`: completion or generation, raw text stream (§2.3.1).
pub(super) async fn v3(
    gateway: State<Gateway>,
    caller: GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<ComponentsRequest>,
) -> Result<Response, ApiError> {
    components(gateway, caller, headers, req, false).await
}

/// `POST /v4/code/suggestions`: the same, streamed as Server-Sent Events (§2.3.1).
pub(super) async fn v4(
    gateway: State<Gateway>,
    caller: GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<ComponentsRequest>,
) -> Result<Response, ApiError> {
    components(gateway, caller, headers, req, true).await
}

async fn components(
    State(gateway): State<Gateway>,
    GitlabCaller(caller): GitlabCaller,
    headers: HeaderMap,
    req: ComponentsRequest,
    sse: bool,
) -> Result<Response, ApiError> {
    let (kind, payload) = match req.prompt_components.first() {
        Some(Component::EditorCompletion { payload }) => {
            require(&caller, "complete_code", false, "code completions")?;
            (Kind::Completion, payload)
        }
        Some(Component::EditorGeneration { payload }) => {
            require(&caller, "generate_code", true, "code generations")?;
            (Kind::Generation, payload)
        }
        None => {
            return Err(ApiError::bad_param(
                "prompt_components",
                "`prompt_components` is empty; send at least one component",
            ));
        }
        Some(Component::Context { .. }) => {
            return Err(ApiError::bad_param(
                "prompt_components",
                "the first of `prompt_components` must be code_editor_completion or code_editor_generation",
            ));
        }
    };
    let feature = if kind == Kind::Completion { Feature::CodeCompletions } else { Feature::CodeGenerations };
    record_caller(&caller, feature);
    req.validate()?;
    let flags = feature_flags(&headers);
    let model = req.model_metadata().unwrap_or_else(|| ModelRequest {
        provider: payload.flat.model_provider.clone(),
        name: payload.flat.model_name.clone(),
        ..ModelRequest::default()
    });
    let model = model_for(&caller, model);
    let lang = prompt::language(&payload.file_name, payload.language_identifier.as_deref());
    let stream = payload.stream.unwrap_or(false);
    if kind == Kind::Completion && lang.is_none() {
        let model_json = json!({ "engine": model.provider.clone().unwrap_or_else(|| "litellm".into()), "name": model.name.clone().unwrap_or_default(), "lang": "" });
        return Ok(Json(components_body(model_json, None, &flags)).into_response());
    }
    let lang = lang.unwrap_or_else(|| "text".into());
    let route = route(&gateway, &model, feature).await?;
    let instruction = payload
        .prompt_enhancer
        .as_ref()
        .and_then(|e| e["user_instruction"].as_str())
        .or_else(|| payload.prompt.as_ref().and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string);
    let input = CodeInput {
        file_name: payload.file_name.clone(),
        language: lang.clone(),
        prefix: payload.content_above_cursor.clone(),
        suffix: payload.content_below_cursor.clone(),
        context: req.context(),
        instruction,
        enhancer: payload.prompt_enhancer.clone(),
    };
    let model_json = match kind {
        Kind::Completion => json!({ "engine": route.provider, "name": route.family.as_str(), "lang": lang }),
        Kind::Generation => {
            json!({ "engine": "agent", "name": format!("Code Generations Agent ({})", route.family.as_str()), "lang": lang })
        }
    };
    log_request(&caller, feature, &route);
    let policy = gateway.routing.runaway().await;
    let (answer, _) = run(&route, input, kind, stream, &policy, verbose(&gateway, &headers)).await?;
    Ok(match answer {
        Answer::Whole(g) => Json(components_body(model_json, Some(&g.text), &flags)).into_response(),
        Answer::Stream(events) => {
            let chunks = text_chunks(events, kind == Kind::Generation);
            if sse { sse_stream(model_json, &flags, chunks) } else { raw_stream(chunks) }
        }
    })
}

/// Runs the suggestion; a failing model is reported as GitLab's gateway reports it (§2.10): an
/// upstream status → 421, rate limits → 429, anything else → 503 "Inference failed", never a 500.
async fn run(
    route: &Route,
    input: CodeInput,
    kind: Kind,
    stream: bool,
    policy: &RunawayPolicy,
    verbose: bool,
) -> Result<(Answer, PlanInfo), ApiError> {
    suggest(route, input, kind, stream, policy, verbose).await.map_err(|e| model_failure(e.into()))
}

/// The §2.2 response: `choices` is empty when there is no text.
fn v2_body(
    model: &ModelRequest,
    route: Option<&Route>,
    lang: &str,
    info: PlanInfo,
    output: Option<(&str, (u32, u32))>,
    flags: &[String],
) -> Value {
    let engine =
        route.map(|r| r.provider.clone()).or_else(|| model.provider.clone()).unwrap_or_else(|| "litellm".into());
    let name = route.map(|r| r.family.as_str().to_string()).or_else(|| model.name.clone()).unwrap_or_default();
    let (text, (input_tokens, output_tokens)) = output.unwrap_or(("", (0, 0)));
    let choices =
        if text.is_empty() { json!([]) } else { json!([{ "text": text, "index": 0, "finish_reason": "length" }]) };
    json!({
        "id": "id",
        "model": {
            "engine": engine,
            "name": name,
            "lang": lang,
            "tokens_consumption_metadata": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "max_output_tokens_used": info.max_output_tokens > 0 && output_tokens >= info.max_output_tokens,
                "context_tokens_sent": info.context_tokens_sent,
                "context_tokens_used": info.context_tokens_used,
            },
            "region": REGION,
        },
        "experiments": [],
        "object": "text_completion",
        "created": now_secs(),
        "choices": choices,
        "metadata": { "enabled_feature_flags": flags },
    })
}

/// The v3/v4 non-stream response.
fn components_body(model: Value, text: Option<&str>, flags: &[String]) -> Value {
    let choices = match text {
        Some(t) if !t.is_empty() => json!([{ "text": t, "index": 0, "finish_reason": "length" }]),
        _ => json!([]),
    };
    json!({
        "choices": choices,
        "model": model,
        "metadata": { "model": model, "timestamp": now_secs(), "enabled_feature_flags": flags },
    })
}

/// v4 Server-Sent Events: one `stream_start` with metadata, `content_chunk`s, one `stream_end` with `null`; CRLF line ends.
fn sse_stream(model: Value, flags: &[String], chunks: impl Stream<Item = super::Chunk> + Send + 'static) -> Response {
    let frame = |event: &str, data: &Value| format!("event: {event}\r\ndata: {data}\r\n\r\n");
    let start = frame(
        "stream_start",
        &json!({ "metadata": { "model": model, "timestamp": now_secs(), "enabled_feature_flags": flags, "region": REGION } }),
    );
    let body = stream::once(async move { Ok(start) })
        .chain(chunks.map(move |text| {
            text.map(|text| {
                format!(
                    "event: content_chunk\r\ndata: {}\r\n\r\n",
                    json!({ "choices": [{ "delta": { "content": text }, "index": 0 }] })
                )
            })
        }))
        .chain(stream::once(async { Ok("event: stream_end\r\ndata: null\r\n\r\n".to_string()) }));
    let mut response = streaming_fallible("text/event-stream; charset=utf-8", body);
    response.headers_mut().insert("x-streaming-format", HeaderValue::from_static("sse"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::EngineError;
    use crate::engine::fake::Fake;
    use crate::prompt::Family;

    fn input() -> CodeInput {
        CodeInput {
            file_name: "main.py".into(),
            language: "python".into(),
            prefix: "def f(".into(),
            ..CodeInput::default()
        }
    }

    async fn status_of(fake: Fake, kind: Kind, stream: bool) -> (u16, String, Option<std::time::Duration>) {
        let route = Route { engine: Arc::new(fake), family: Family::General, local: true, provider: "litellm".into() };
        let e =
            run(&route, input(), kind, stream, &RunawayPolicy::default(), false).await.err().expect("the model failed");
        (e.status().as_u16(), e.public_message(), e.retry_after())
    }

    #[tokio::test]
    async fn model_failures_are_503_inference_failed_not_500() {
        for kind in [Kind::Completion, Kind::Generation] {
            let (status, message, retry) = status_of(Fake::named("m", 4096).failing("decode: -3"), kind, false).await;
            assert_eq!((status, message.as_str()), (503, "Inference failed"), "{kind:?}");
            assert!(retry.is_some(), "503 carries Retry-After");
            let refused = Fake::named("m", 4096).refusing(EngineError::Internal("worker gone".into()));
            assert_eq!(status_of(refused, kind, true).await.0, 503, "{kind:?}, refused before streaming");
        }
    }

    #[tokio::test]
    async fn upstream_statuses_and_rate_limits_keep_their_codes() {
        let upstream = EngineError::Upstream { status: 404, message: "no such model".into(), retry_after: None };
        assert_eq!(status_of(Fake::named("m", 4096).refusing(upstream), Kind::Completion, false).await.0, 421);
        let busy = EngineError::QueueFull { model: "m".into(), depth: 8 };
        assert_eq!(status_of(Fake::named("m", 4096).refusing(busy), Kind::Generation, false).await.0, 429);
    }
}
