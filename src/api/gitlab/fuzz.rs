//! Fuzz entry point for the GitLab request bodies (`airgate::fuzz::gitlab_body`): the same JSON reader, checks and prompt building the handlers run, without a server; a refusal must be a 4xx in GitLab's shape.

use axum::response::IntoResponse;

use super::chat::{AgentRequest, LegacyChatRequest};
use super::docs::SearchRequest;
use super::prompts::PromptRequest;
use super::types::{ComponentsRequest, FlatRequest};
use crate::features::code::Kind;
use crate::http::{ApiError, parse_json};
use crate::prompt::{self, react, registry};

/// The first byte picks the body type (v2 flat, v3/v4 components, v2 chat agent, legacy chat,
/// prompts, docs search); the rest is the body. Panics on a defect: a panic inside, or a refusal
/// that is not a 4xx.
pub fn body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    let outcome = match pick % 6 {
        0 => parse_json::<FlatRequest>(body).and_then(|r| {
            let _ = (r.model(), r.prompt_text());
            let _ = prompt::language(&r.current_file.file_name, r.current_file.language_identifier.as_deref());
            r.validate(Kind::Completion).and(r.validate(Kind::Generation))
        }),
        1 => parse_json::<ComponentsRequest>(body).and_then(|r| {
            let _ = r.model_metadata();
            r.validate()
        }),
        2 => parse_json::<AgentRequest>(body).and_then(|r| agent(&r)),
        3 => parse_json::<LegacyChatRequest>(body).and_then(|r| r.validate().map(|_| ())),
        4 => parse_json::<PromptRequest>(body).and_then(|r| prompts(&r)),
        _ => parse_json::<SearchRequest>(body).map(|_| ()),
    };
    if let Err(e) = outcome {
        let status = e.into_response().status();
        assert!(status.is_client_error(), "a body was refused with {status}");
    }
}

/// The ReAct prompt of one chat step, with every tool offered.
fn agent(r: &AgentRequest) -> Result<(), ApiError> {
    let tools = react::offered_tools(|_| true, None);
    let legacy = r.options.as_ref().and_then(|o| o.agent_scratchpad.as_ref()).map(|s| s.steps.as_slice());
    let unavailable = r.unavailable_resources.clone().unwrap_or_default();
    react::build(&react::ReactInput {
        turns: &r.messages,
        legacy_steps: legacy.unwrap_or_default(),
        tools: &tools,
        unavailable_resources: &unavailable,
        date: "May 1, 2026",
    })
    .map(|_| ())
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Every registry prompt rendered with the body's inputs and version constraint.
fn prompts(r: &PromptRequest) -> Result<(), ApiError> {
    for id in registry::ids() {
        if let Ok(def) = registry::resolve(id, r.prompt_version.as_deref()) {
            let _ = registry::render(def, &r.inputs, "May 1, 2026");
        }
    }
    Ok(())
}
