//! Duo Chat endpoints: `/v2/chat/agent` (one ReAct step, NDJSON events, §2.5.2) and the legacy `/v1/chat/{invokable}` (a plain chat call, §2.5.1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::types::{FlatModel, lenient_metadata};
use super::{
    Gateway, log_request, model_failure, model_for, now_secs, raw_stream, record_caller, route, text_chunks, verbose,
};
use crate::auth::GitlabCaller;
use crate::auth::gitlab::Principal;
use crate::engine::{EngineError, Event, EventStream};
use crate::features::FeatureError;
use crate::features::chat::{ChatPlan, run};
use crate::features::routing::{Feature, ModelRequest};
use crate::http::stream::streaming;
use crate::http::{ApiError, JsonBody};
use crate::prompt::Message;
use crate::prompt::react::{self, ChatTurn, LegacyOptions, ParsedEvent, ReactInput, ReactParser, Role};

/// One ReAct step is reproducible: the same conversation gives the same step (the families' 0.1
/// temperature leaves little room anyway), which keeps support cases explainable.
const REACT_SEED: u32 = 0x5EED;

/// At most this many messages in one chat request.
const MAX_MESSAGES: usize = 200;

/// No `Debug`: `model_metadata` may carry the upstream's API key.
#[derive(Deserialize)]
pub struct AgentRequest {
    pub messages: Vec<ChatTurn>,
    #[serde(default)]
    pub model_metadata: Option<Value>,
    #[serde(default)]
    pub unavailable_resources: Option<Vec<String>>,
    #[serde(default)]
    pub options: Option<LegacyOptions>,
}

/// `POST /v2/chat/agent`: builds the ReAct prompt, runs one model call and streams the parsed step.
pub(super) async fn agent(
    State(gateway): State<Gateway>,
    GitlabCaller(caller): GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<AgentRequest>,
) -> Result<Response, ApiError> {
    record_caller(&caller, Feature::DuoChat);
    authorize_agent(&caller, &req.messages)?;
    if req.messages.len() > MAX_MESSAGES {
        return Err(ApiError::bad_param(
            "messages",
            format!("`messages` has {} items; at most {MAX_MESSAGES} are accepted", req.messages.len()),
        ));
    }
    let gitlab_version = headers.get("x-gitlab-version").and_then(|v| v.to_str().ok());
    let tools = react::offered_tools(|scope| caller.has_scope(scope), gitlab_version);
    let unavailable = req
        .unavailable_resources
        .clone()
        .unwrap_or_else(|| vec!["Merge Requests, Pipelines, Vulnerabilities".to_string()]);
    let legacy_steps = req.options.as_ref().and_then(|o| o.agent_scratchpad.as_ref()).map(|s| s.steps.as_slice());
    let today = crate::long_date(now_secs());
    let built = react::build(&ReactInput {
        turns: &req.messages,
        legacy_steps: legacy_steps.unwrap_or_default(),
        tools: &tools,
        unavailable_resources: &unavailable,
        date: &today,
    })
    // The gateway's own 400s (a system message, a scratchpad on a user turn), not validation.
    .map_err(|e| ApiError::bad_request(e.to_string()))?;

    let model = model_for(&caller, lenient_metadata(req.model_metadata.as_ref()).unwrap_or_default());
    let route = route(&gateway, &model, Feature::DuoChat).await?;
    log_request(&caller, Feature::DuoChat, &route);
    let params = react::params(route.family);
    let plan = ChatPlan {
        messages: built.messages,
        prefill: Some(built.prefill),
        temperature: params.temperature,
        max_tokens: params.max_tokens,
        stop: params.stop,
        seed: Some(REACT_SEED),
        feature: Feature::DuoChat,
        drop_history: true,
    };
    let policy = gateway.routing.runaway().await;
    let events = match run(&route, plan, &policy, verbose(&gateway, &headers)).await {
        Ok((events, _)) => events,
        Err(e) => {
            // Status 200 and an `error` line, as GitLab's gateway answers a model that fails once the
            // step has begun (§2.5.2); Rails retries the step when the line says it may.
            let line = failure_line(e)?;
            return Ok(streaming("application/x-ndjson; charset=utf-8", stream::iter([line])));
        }
    };
    let parser = ReactParser::new(tools.iter().map(|t| t.name.to_string()).collect());
    let usage_key = route.engine.info().name.clone();
    Ok(streaming("application/x-ndjson; charset=utf-8", agent_lines(events, parser, usage_key)))
}

/// `duo_classic_chat`, or `duo_chat` when the user addressed `@GitLabDuo` (merge request reviews);
/// then `include_<category>_context` for every additional context sent.
fn authorize_agent(caller: &Principal, messages: &[ChatTurn]) -> Result<(), ApiError> {
    let last_user = messages.iter().rev().find(|m| m.role == Role::User);
    let mentions_duo = last_user.and_then(|m| m.content.as_deref()).is_some_and(|c| c.contains("@GitLabDuo"));
    if !(caller.has_scope("duo_classic_chat") || (caller.has_scope("duo_chat") && mentions_duo)) {
        return Err(ApiError::Forbidden("Unauthorized to access duo_classic_chat".into()));
    }
    for scope in messages.iter().flat_map(ChatTurn::context_scopes) {
        if !caller.has_scope(&scope) {
            return Err(ApiError::Forbidden(format!("Unauthorized to access {scope}")));
        }
    }
    Ok(())
}

/// The model's events as GitLab's NDJSON lines: answer deltas while they grow, then the action,
/// unknown or error line, then `usage`.
fn agent_lines(events: EventStream, parser: ReactParser, usage_key: String) -> impl futures::Stream<Item = String> {
    let span = tracing::Span::current();
    let mut parser = Some(parser);
    ReceiverStream::new(events).flat_map(move |event| {
        let lines: Vec<String> = match event {
            Event::Text(text) => parser.as_mut().map(|p| p.push(&text)).unwrap_or_default().iter().map(line).collect(),
            Event::Reasoning(_) | Event::ToolCall { .. } => Vec::new(),
            Event::Done { finish, usage, .. } => {
                let mut out: Vec<String> =
                    parser.take().map(|p| p.finish(finish.as_str())).unwrap_or_default().iter().map(line).collect();
                let usage = json!({ usage_key.clone(): {
                    "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens } });
                out.push(ndjson("usage", json!({ "usage": usage })));
                out
            }
            Event::Expired { waited } => {
                span.in_scope(|| {
                    tracing::warn!(waited_ms = waited.as_millis() as u64, "chat step expired in the queue")
                });
                parser = None;
                vec![ndjson("error", json!({ "message": "The model is overloaded; try again", "retryable": true }))]
            }
            Event::Failed(detail) => {
                span.in_scope(|| tracing::error!(%detail, "chat generation failed mid-stream"));
                parser = None;
                vec![ndjson("error", json!({ "message": "Inference failed", "retryable": false }))]
            }
        };
        stream::iter(lines)
    })
}

/// A model failure before the first token as the step's `error` line; a request the model cannot
/// take as asked (too long, unknown model) stays an HTTP error. A full queue, a request that
/// expired in it, a model still loading and an upstream's rate limit or overload are retryable;
/// a failed model and an unreachable or failing model server are not.
fn failure_line(e: FeatureError) -> Result<String, ApiError> {
    let retryable = match &e {
        FeatureError::Loading(_) => true,
        FeatureError::Engine(engine) => match engine {
            EngineError::QueueFull { .. } | EngineError::Expired { .. } => true,
            EngineError::Upstream { status, .. } => matches!(status, 429 | 503 | 529),
            EngineError::Unavailable(_) | EngineError::Unreachable(_) | EngineError::Internal(_) => false,
            EngineError::InvalidRequest(_) => return Err(e.into()),
        },
        _ => return Err(e.into()),
    };
    let message = match model_failure(e.into()) {
        ApiError::ModelServer { status, message } => format!("model server returned code {status}: {message}"),
        other => other.to_string(),
    };
    Ok(ndjson("error", json!({ "message": message, "retryable": retryable })))
}

fn line(event: &ParsedEvent) -> String {
    match event {
        ParsedEvent::FinalAnswerDelta { text, finish_reason } => {
            ndjson("final_answer_delta", json!({ "text": text, "finish_reason": finish_reason }))
        }
        ParsedEvent::Action { tool, tool_input, thought } => {
            ndjson("action", json!({ "tool": tool, "tool_input": tool_input, "thought": thought }))
        }
        ParsedEvent::Unknown { text } => ndjson("unknown", json!({ "text": text })),
        ParsedEvent::Error { message, retryable } => {
            ndjson("error", json!({ "message": message, "retryable": retryable }))
        }
    }
}

fn ndjson(kind: &str, data: Value) -> String {
    let mut line = json!({ "type": kind, "data": data }).to_string();
    line.push('\n');
    line
}

// ---------------------------------------------------------------------------------------------
// Legacy `/v1/chat/{invokable}`
// ---------------------------------------------------------------------------------------------

/// No `Debug` on the legacy wire types: the payload carries `model_api_key`.
#[derive(Deserialize)]
pub struct LegacyChatRequest {
    pub prompt_components: Vec<LegacyComponent>,
    #[serde(default)]
    pub stream: bool,
}

#[derive(Deserialize)]
pub struct LegacyComponent {
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata: ComponentMetadata,
    pub payload: LegacyPayload,
}

#[derive(Debug, Deserialize)]
pub struct ComponentMetadata {
    pub source: String,
    pub version: String,
}

#[derive(Deserialize)]
pub struct LegacyPayload {
    pub content: LegacyContent,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Its `model_endpoint`, `model_api_key` and `model_identifier` (provider and family come in
    /// `provider` and `model`).
    #[serde(flatten)]
    pub flat: FlatModel,
    #[serde(default)]
    pub params: Option<LegacyParams>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LegacyContent {
    Text(String),
    Messages(Vec<LegacyMessage>),
}

#[derive(Debug, Deserialize)]
pub struct LegacyMessage {
    pub role: LegacyRole,
    pub content: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegacyRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Default, Deserialize)]
pub struct LegacyParams {
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens_to_sample: Option<u32>,
}

const MAX_CONTENT_CHARS: usize = 400_000;

impl LegacyChatRequest {
    pub(super) fn validate(&self) -> Result<&LegacyComponent, ApiError> {
        let bad = |m: String| ApiError::bad_param("prompt_components", m);
        let [component] = self.prompt_components.as_slice() else {
            return Err(bad(format!(
                "`prompt_components` must hold exactly one component; it holds {}",
                self.prompt_components.len()
            )));
        };
        for (field, value) in [
            ("type", &component.kind),
            ("metadata.source", &component.metadata.source),
            ("metadata.version", &component.metadata.version),
        ] {
            if value.chars().count() > 100 {
                return Err(bad(format!("`prompt_components[0].{field}` is longer than 100 characters")));
            }
        }
        match &component.payload.content {
            LegacyContent::Text(text) if text.chars().count() > MAX_CONTENT_CHARS => Err(bad(format!(
                "`prompt_components[0].payload.content` is longer than {MAX_CONTENT_CHARS} characters"
            ))),
            LegacyContent::Messages(list) if list.is_empty() || list.len() > 100 => Err(bad(format!(
                "`prompt_components[0].payload.content` must hold 1 to 100 messages; it holds {}",
                list.len()
            ))),
            _ => Ok(()),
        }?;
        if let Some(p) = &component.payload.params {
            if p.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                return Err(bad("`prompt_components[0].payload.params.temperature` must be between 0 and 1".into()));
            }
            if p.max_tokens_to_sample.is_some_and(|n| !(1..=8192).contains(&n)) {
                return Err(bad(
                    "`prompt_components[0].payload.params.max_tokens_to_sample` must be between 1 and 8192".into(),
                ));
            }
            if p.stop_sequences.as_ref().is_some_and(|s| s.is_empty() || s.len() > 10) {
                return Err(bad(
                    "`prompt_components[0].payload.params.stop_sequences` must hold 1 to 10 strings".into()
                ));
            }
        }
        Ok(component)
    }
}

/// The unit primitive each legacy invokable needs (§2.5.1).
fn invokable_scope(invokable: &str) -> Option<&'static str> {
    Some(match invokable {
        "agent" | "explain_code" | "write_tests" | "refactor_code" => "duo_chat",
        "explain_vulnerability" => "explain_vulnerability",
        "summarize_comments" => "summarize_comments",
        "troubleshoot_job" => "troubleshoot_job",
        _ => return None,
    })
}

/// `POST /v1/chat/{invokable}`: the messages go to the model as they are (no templates).
pub(super) async fn legacy(
    State(gateway): State<Gateway>,
    Path(invokable): Path<String>,
    GitlabCaller(caller): GitlabCaller,
    headers: HeaderMap,
    JsonBody(req, _): JsonBody<LegacyChatRequest>,
) -> Result<Response, ApiError> {
    let scope = invokable_scope(&invokable).ok_or_else(|| ApiError::NotFound("Not found".into()))?;
    let feature = Feature::for_unit_primitive(if invokable == "agent" { "duo_chat" } else { &invokable });
    record_caller(&caller, feature);
    if !caller.has_scope(scope) {
        return Err(ApiError::Forbidden(format!("Unauthorized to access {invokable}")));
    }
    let component = req.validate()?;
    let payload = &component.payload;
    let model = model_for(
        &caller,
        ModelRequest {
            provider: payload.provider.clone(),
            name: payload.model.clone().filter(|m| crate::prompt::Family::parse(m).is_ok()),
            ..payload.flat.request()
        },
    );
    let route = route(&gateway, &model, feature).await?;
    log_request(&caller, feature, &route);
    let messages = match &payload.content {
        LegacyContent::Text(text) => vec![Message::user(text.clone())],
        LegacyContent::Messages(list) => list
            .iter()
            .map(|m| Message {
                role: match m.role {
                    LegacyRole::System => "system",
                    LegacyRole::User => "user",
                    LegacyRole::Assistant => "assistant",
                }
                .into(),
                content: m.content.clone(),
            })
            .collect(),
    };
    let params = payload.params.as_ref();
    let family_stop: &[&str] = if route.family == crate::prompt::Family::Mistral { &["</new_code>"] } else { &[] };
    let plan = ChatPlan {
        messages,
        prefill: None,
        temperature: params.and_then(|p| p.temperature).unwrap_or(0.2),
        max_tokens: params.and_then(|p| p.max_tokens_to_sample).unwrap_or(2048),
        stop: params
            .and_then(|p| p.stop_sequences.clone())
            .unwrap_or_else(|| family_stop.iter().map(|s| s.to_string()).collect()),
        seed: None,
        feature,
        drop_history: true,
    };
    let policy = gateway.routing.runaway().await;
    let (events, _) =
        run(&route, plan, &policy, verbose(&gateway, &headers)).await.map_err(|e| model_failure(e.into()))?;
    if req.stream {
        return Ok(raw_stream(text_chunks(events, false)));
    }
    let generated = crate::engine::collect(events).await.map_err(|e| model_failure(e.into()))?;
    let provider = payload.provider.clone().unwrap_or_else(|| route.provider.clone());
    let model_name = payload.model.clone().unwrap_or_else(|| route.family.as_str().to_string());
    Ok(Json(json!({
        "response": generated.text,
        "metadata": { "provider": provider, "model": model_name, "timestamp": now_secs() },
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_invokable_has_its_scope() {
        for (name, scope) in [
            ("agent", "duo_chat"),
            ("explain_code", "duo_chat"),
            ("write_tests", "duo_chat"),
            ("refactor_code", "duo_chat"),
            ("explain_vulnerability", "explain_vulnerability"),
            ("summarize_comments", "summarize_comments"),
            ("troubleshoot_job", "troubleshoot_job"),
        ] {
            assert_eq!(invokable_scope(name), Some(scope));
        }
        assert_eq!(invokable_scope("nope"), None);
    }
}
