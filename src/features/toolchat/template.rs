//! A chat rendered for a local model: with the GGUF's own Jinja template when it has one, with llama.cpp's built-in layout for its architecture otherwise.

use serde_json::{Map, Value};

use crate::engine::{ChatMessage, Engine};
use crate::features::FeatureError;
use crate::prompt::chat_template::{ChatTemplate, RenderInput};
use crate::prompt::toolcall::{ToolDef, Turn};

/// The model's compiled template, if it has one. A template that does not compile is the model's
/// fault, named in the error.
pub fn compile(engine: &dyn Engine) -> Result<Option<ChatTemplate>, FeatureError> {
    let Some(source) = engine.template() else { return Ok(None) };
    ChatTemplate::new(&source.text).map(Some).map_err(|e| {
        FeatureError::BadInput(format!("the chat template of model `{}` does not compile: {e}", engine.info().name))
    })
}

/// The conversation as the model's prompt text, ending with the assistant's turn opener. `tools` and
/// `kwargs` reach a Jinja template only; without one, turns must be plain system/user/assistant
/// text.
pub fn render(
    engine: &dyn Engine,
    template: Option<&ChatTemplate>,
    turns: &[Turn],
    tools: &[ToolDef],
    kwargs: &Map<String, Value>,
) -> Result<String, FeatureError> {
    let Some(template) = template else {
        let messages: Vec<ChatMessage> =
            turns.iter().map(|t| ChatMessage::new(t.role.clone(), t.content.clone())).collect();
        return Ok(engine.render_chat(&messages)?);
    };
    let source = engine.template().expect("a compiled template has a source");
    let input = RenderInput {
        messages: turns,
        tools,
        add_generation_prompt: true,
        bos_token: &source.bos,
        eos_token: &source.eos,
        now: crate::unix_now(),
        extra: kwargs,
    };
    template.render(&input).map_err(|e| {
        FeatureError::BadInput(format!(
            "the chat template of model `{}` failed on this conversation: {e}",
            engine.info().name
        ))
    })
}

/// Plain messages rendered the way [`render`] does (the classic chat's path).
pub fn render_messages(engine: &dyn Engine, messages: &[crate::prompt::Message]) -> Result<String, FeatureError> {
    let template = compile(engine)?;
    let turns: Vec<Turn> = messages.iter().map(|m| Turn::new(&m.role, m.content.clone())).collect();
    render(engine, template.as_ref(), &turns, &[], &Map::new())
}
