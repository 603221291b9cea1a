//! Fuzz entry point for the `/v1` bodies (`airgate::fuzz::openai_body`): the same JSON reader and the checks `/v1/chat/completions` (its tool chat) and `/v1/completions` run before a model is asked; a refusal must be a 4xx in OpenAI's shape.

use axum::response::IntoResponse;

use super::types::GenerationRequest;
use crate::engine::Prompt;
use crate::http::{OpenAiError, parse_json};

/// The body of either endpoint. Panics on a defect: a panic inside, or a refusal that is not a 4xx.
pub fn body(data: &[u8]) {
    let outcome = parse_json::<GenerationRequest>(data).and_then(|req| {
        let _ = req.stream_options.as_ref().map(|o| o.include_usage);
        let chat = super::chat::tool_chat(&req);
        let text = super::generate_request(&req, Prompt::Text(String::new()), Some(16));
        chat.and(text).map(|_| ())
    });
    if let Err(e) = outcome {
        let status = OpenAiError(e).into_response().status();
        assert!(status.is_client_error(), "a body was refused with {status}");
    }
}
