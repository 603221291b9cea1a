//! Duo Chat ReAct (`/v2/chat/agent`): the request shapes, the prompt builder and the output parser.
//!
//! Rails drives the loop: each step it posts the whole conversation, we build one prompt whose
//! assistant answer starts with a prefill (the steps so far, then `Thought:`), run the model once, and
//! [`ReactParser`] turns its output into a streamed final answer or one tool call.

pub mod parse;
pub mod tools;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use serde::Deserialize;

use crate::prompt::{Family, Message};

pub use parse::{ParsedEvent, ReactParser};
pub use tools::{TOOLS, Tool, offered_tools};

/// Who wrote a chat turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
}

/// One entry of the request's `messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatTurn {
    pub role: Role,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub context: Option<PageContext>,
    #[serde(default)]
    pub current_file: Option<CurrentFile>,
    #[serde(default)]
    pub additional_context: Option<Vec<AdditionalContext>>,
    #[serde(default)]
    pub agent_scratchpad: Option<Vec<ScratchpadEntry>>,
}

/// The page the user is on: `{type, title}`, `{type: "build"}`, or the pre-17.9 `{type, content}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PageContext {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

/// The file open in the editor, or the code selected in it.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrentFile {
    pub file_path: String,
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub selected_code: bool,
}

/// Extra context the editor attached (a file, a snippet, an issue…).
#[derive(Debug, Clone, Deserialize)]
pub struct AdditionalContext {
    pub category: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// One finished step of an assistant turn: the tool call and what the tool returned.
#[derive(Debug, Clone, Deserialize)]
pub struct ScratchpadEntry {
    pub action: ScratchpadAction,
    #[serde(default)]
    pub observation: String,
}

/// The tool call of a [`ScratchpadEntry`].
#[derive(Debug, Clone, Deserialize)]
pub struct ScratchpadAction {
    #[serde(default)]
    pub thought: String,
    pub tool: String,
    #[serde(default)]
    pub tool_input: String,
}

/// The legacy top-level `options`.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyOptions {
    #[serde(default)]
    pub agent_scratchpad: Option<LegacyScratchpad>,
}

/// `options.agent_scratchpad`.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyScratchpad {
    #[serde(default)]
    pub agent_type: Option<String>,
    #[serde(default)]
    pub steps: Vec<LegacyStep>,
}

/// One step of `options.agent_scratchpad.steps`.
#[derive(Debug, Clone, Deserialize)]
pub struct LegacyStep {
    #[serde(default)]
    pub thought: String,
    pub tool: String,
    #[serde(default)]
    pub tool_input: String,
    #[serde(default)]
    pub observation: String,
}

/// The additional-context categories GitLab sends; each needs scope `include_<category>_context`.
pub const CONTEXT_CATEGORIES: &[&str] = &[
    "file",
    "snippet",
    "merge_request",
    "issue",
    "dependency",
    "local_git",
    "terminal",
    "repository",
    "directory",
    "os_information",
    "agent_user_environment",
];

/// Page-context types of the current (`{type, title}`) form.
const PAGE_TYPES: &[&str] = &["issue", "epic", "merge_request", "commit", "work_item", "build"];

impl ChatTurn {
    /// `include_<category>_context` for each additional-context entry (deduplicated, in order).
    pub fn context_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        for entry in self.additional_context.iter().flatten() {
            let scope = format!("include_{}_context", entry.category);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes
    }
}

/// Everything [`build`] needs.
pub struct ReactInput<'a> {
    pub turns: &'a [ChatTurn],
    pub legacy_steps: &'a [LegacyStep],
    pub tools: &'a [&'static tools::Tool],
    pub unavailable_resources: &'a [String],
    /// "November 22, 2026" style
    pub date: &'a str,
}

/// The prompt for one ReAct step.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactPrompt {
    /// system first, then user/assistant turns, last one is a user message
    pub messages: Vec<Message>,
    /// rendered scratchpad followed by "Thought:" — the start of the assistant's answer that the model continues
    pub prefill: String,
}

/// Why a request cannot be turned into a prompt (a 400 for the caller).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReactError {
    #[error("{0}")]
    Invalid(String),
}

/// Sampling for the ReAct prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactParams {
    pub temperature: f32,
    pub max_tokens: u32,
    pub stop: Vec<String>,
}

/// Stops a small model that finished its answer and starts inventing the next question.
const QUESTION_STOP: &str = "\nQuestion:";

/// Sampling per family (§3.6), plus "\nQuestion:" as a stop string for every family.
pub fn params(family: Family) -> ReactParams {
    let (max_tokens, observation_stop) = match family {
        Family::Gpt => (8192, false),
        Family::Llama3 => (4096, true),
        _ => (8192, true),
    };
    let mut stop = Vec::new();
    if observation_stop {
        stop.push("Observation:".to_string());
    }
    stop.push(QUESTION_STOP.to_string());
    ReactParams { temperature: 0.1, max_tokens, stop }
}

/// Builds the ReAct prompt for one step, validating the conversation.
pub fn build(input: &ReactInput) -> Result<ReactPrompt, ReactError> {
    validate(input.turns)?;
    let last_user = input.turns.iter().rposition(|t| t.role == Role::User);
    // The conversation must end with a user message once unanswered assistant turns are dropped.
    let last_kept = input.turns.iter().rposition(|t| !(t.role == Role::Assistant && t.content.is_none()));
    match (last_kept, last_user) {
        (Some(kept), Some(user)) if kept == user => {}
        (Some(kept), _) => {
            return Err(invalid(format!(
                "messages[{kept}]: the conversation must end with a user message; \
                 only assistant messages with null content may follow it"
            )));
        }
        (None, _) => {
            return Err(invalid("messages: the conversation has no user message".to_string()));
        }
    }
    let last_user = last_user.unwrap_or_default();

    let mut messages = vec![Message::system(system_prompt(input))];
    for turn in input.turns {
        let message = match (turn.role, &turn.content) {
            (Role::User, _) => Message::user(user_message(turn)),
            (Role::Assistant, Some(content)) => assistant_message(turn, content),
            _ => continue,
        };
        // Chat templates want alternating roles; two turns in a row from one side become one message.
        let system_only = messages.len() == 1;
        match messages.last_mut() {
            Some(last) if !system_only && last.role == message.role => {
                last.content.push_str("\n\n");
                last.content.push_str(&message.content);
            }
            _ => messages.push(message),
        }
    }

    // The in-progress step: the last unanswered assistant turn after the question.
    let in_progress = input.turns[last_user..]
        .iter()
        .rev()
        .filter(|t| t.role == Role::Assistant && t.content.is_none())
        .find_map(|t| t.agent_scratchpad.as_deref().filter(|steps| !steps.is_empty()));
    let mut prefill = String::new();
    match in_progress {
        Some(steps) => {
            for step in steps {
                push_step(
                    &mut prefill,
                    &step.action.thought,
                    &step.action.tool,
                    &step.action.tool_input,
                    &step.observation,
                );
            }
        }
        None => {
            for step in input.legacy_steps {
                push_step(&mut prefill, &step.thought, &step.tool, &step.tool_input, &step.observation);
            }
        }
    }
    prefill.push_str("Thought:");
    Ok(ReactPrompt { messages, prefill })
}

fn invalid(message: String) -> ReactError {
    ReactError::Invalid(message)
}

/// The per-turn rules; the end-of-conversation rule is checked in [`build`].
fn validate(turns: &[ChatTurn]) -> Result<(), ReactError> {
    if turns.is_empty() {
        return Err(invalid("messages: at least one message is required".to_string()));
    }
    for (i, turn) in turns.iter().enumerate() {
        if turn.role == Role::System {
            return Err(invalid(format!(
                "messages[{i}]: role `system` is not accepted; send user and assistant messages only"
            )));
        }
        if turn.role == Role::User && turn.agent_scratchpad.is_some() {
            return Err(invalid(format!(
                "messages[{i}].agent_scratchpad: only assistant messages may carry a scratchpad"
            )));
        }
        for (j, extra) in turn.additional_context.iter().flatten().enumerate() {
            if !CONTEXT_CATEGORIES.contains(&extra.category.as_str()) {
                return Err(invalid(format!(
                    "messages[{i}].additional_context[{j}].category: `{}` is not supported; expected one of {}",
                    extra.category,
                    CONTEXT_CATEGORIES.join(", ")
                )));
            }
        }
        if let Some(page) = &turn.context
            && page.content.is_none()
            && !PAGE_TYPES.contains(&page.kind.as_str())
        {
            return Err(invalid(format!(
                "messages[{i}].context.type: `{}` is not supported; expected one of {}",
                page.kind,
                PAGE_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// Appends one scratchpad step in the Thought/Action/Action Input/Observation format.
fn push_step(out: &mut String, thought: &str, tool: &str, tool_input: &str, observation: &str) {
    out.push_str(&format!(
        "Thought: {thought}\nAction: {tool}\nAction Input: {tool_input}\nObservation: {observation}\n"
    ));
}

/// The system prompt: identity, date, rules, tools, formats, resources and a worked example.
fn system_prompt(input: &ReactInput) -> String {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
        env.set_syntax(syntax.expect("default delimiters are valid"));
        env.add_template("react_system", include_str!("system.jinja")).expect("system.jinja is a valid template");
        env
    });
    let tools: Vec<minijinja::Value> = input
        .tools
        .iter()
        .map(|t| minijinja::context! { name => t.name, description => t.description, example => t.example })
        .collect();
    let mut resources: Vec<&str> = Vec::new();
    for tool in input.tools {
        if !resources.contains(&tool.resource) {
            resources.push(tool.resource);
        }
    }
    let unavailable: Vec<&str> =
        input.unavailable_resources.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    let ctx = minijinja::context! {
        date => input.date,
        tools => tools,
        resources => resources.join(", "),
        unavailable => unavailable.join(", "),
    };
    let template = env.get_template("react_system").expect("template was added");
    template.render(ctx).expect("the system template renders with every field it uses").trim().to_string()
}

/// A user turn: page context, current file, additional context, then the question.
fn user_message(turn: &ChatTurn) -> String {
    let mut blocks: Vec<String> = Vec::new();
    if let Some(page) = &turn.context {
        blocks.push(page_block(page));
    }
    if let Some(file) = &turn.current_file {
        blocks.push(if file.selected_code {
            format!("The user selected this code in {}:\n<code>\n{}\n</code>", file.file_path, file.data)
        } else {
            format!("The user has {} open:\n<content>\n{}\n</content>", file.file_path, file.data)
        });
    }
    for extra in turn.additional_context.iter().flatten() {
        let id = match &extra.id {
            Some(id) => format!(" id=\"{}\"", attribute(id)),
            None => String::new(),
        };
        blocks.push(format!(
            "<additional_context{id} category=\"{}\">\n{}\n</additional_context>",
            attribute(&extra.category),
            extra.content.as_deref().unwrap_or("")
        ));
    }
    blocks.push(format!("Question: {}", turn.content.as_deref().unwrap_or("")));
    blocks.join("\n\n")
}

/// The page the user is looking at, as a sentence (or the legacy `<context>` block).
fn page_block(page: &PageContext) -> String {
    if let Some(content) = &page.content {
        return format!("<context type=\"{}\">\n{content}\n</context>", attribute(&page.kind));
    }
    let (noun, article) = match page.kind.as_str() {
        "issue" => ("issue", "an"),
        "epic" => ("epic", "an"),
        "merge_request" => ("merge request", "a"),
        "commit" => ("commit", "a"),
        "work_item" => ("work item", "a"),
        _ => {
            return match page.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                Some(title) => format!("The user is looking at the log of CI job \"{title}\"."),
                None => "The user is looking at a CI job log.".to_string(),
            };
        }
    };
    match page.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(title) => format!("The user is looking at {noun} \"{title}\"."),
        None => format!("The user is looking at {article} {noun}."),
    }
}

/// An assistant turn with content; earlier tool steps of that turn come first.
fn assistant_message(turn: &ChatTurn, content: &str) -> Message {
    let steps = turn.agent_scratchpad.as_deref().unwrap_or_default();
    let text = if steps.is_empty() {
        content.to_string()
    } else {
        let mut text = String::new();
        for step in steps {
            push_step(&mut text, &step.action.thought, &step.action.tool, &step.action.tool_input, &step.observation);
        }
        text.push_str("Final Answer: ");
        text.push_str(content);
        text
    };
    Message { role: "assistant".to_string(), content: text }
}

/// Text for a double-quoted attribute value.
fn attribute(value: &str) -> String {
    value.replace('&', "&amp;").replace('"', "&quot;")
}
