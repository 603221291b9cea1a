//! Chat-shaped model calls shared by Duo Chat and the feature prompts: fit the messages into the routed model's context, run them, optionally continuing an assistant prefill; families that want it get one system message and answers without reasoning.

use std::time::{Duration, Instant};

use super::FeatureError;
use super::routing::Route;
use tokio::sync::mpsc;

use crate::engine::{ChatMessage, EngineError, Event, EventStream, GenerateRequest, Prompt, SamplingParams};
use crate::prompt::Message;
use crate::prompt::toolcall::{Parser, Piece, Syntax, THINK};
use crate::store::RunawayPolicy;

/// A chat prompt and how to run it.
#[derive(Debug, Clone)]
pub struct ChatPlan {
    /// System first (if any), ending with a user message.
    pub messages: Vec<Message>,
    /// The start of the assistant's reply that the model continues (ReAct's `Thought:`).
    pub prefill: Option<String>,
    pub temperature: f32,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    pub seed: Option<u32>,
    /// Who asks (metrics label).
    pub feature: super::routing::Feature,
    /// Drop the oldest history turns (everything between the system message and the last user
    /// message) when the prompt does not fit the context, instead of failing.
    pub drop_history: bool,
}

/// GitLab's Workhorse gives up on a gateway request after about a minute: a chat or prompt request
/// still waiting for a slot by then is dropped without running.
pub const GITLAB_DEADLINE: Duration = Duration::from_secs(55);

/// Tokens the engine may add around the rendered text (BOS) that `count_tokens` does not see.
const SPECIAL_MARGIN: u32 = 2;

/// The smallest answer worth running a local model for; a prompt that leaves less is refused.
const MIN_ANSWER_TOKENS: u32 = 64;

/// What a started chat call reports besides its event stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Started {
    /// Prompt tokens (exact for a local model, estimated for an upstream).
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    /// History turns dropped to make the prompt fit.
    pub dropped_turns: usize,
}

/// Runs `plan` on `route`. A local model gets the messages rendered with its chat template, the
/// prefill appended, and `max_tokens` capped to what is left of its context; an upstream gets the
/// messages (plus the prefill as a final assistant message, as GitLab's gateway sends it). Either
/// way the feature's output cap applies and the repetition guard watches, as `policy` says.
pub async fn run(
    route: &Route,
    mut plan: ChatPlan,
    policy: &RunawayPolicy,
    verbose: bool,
) -> Result<(EventStream, Started), FeatureError> {
    if route.family.requires_single_system_message() {
        plan.messages = single_system(plan.messages);
    }
    plan.max_tokens = policy.capped(plan.feature, plan.max_tokens);
    let guard = policy.guard();
    let (request, started) = if route.local {
        local_request(route, plan, guard).await?
    } else {
        remote_request(plan, route.engine.info().context_per_slot, guard)
    };
    if verbose {
        let prompt = match &request.prompt {
            Prompt::Text(text) => text.clone(),
            Prompt::Chat(messages) => serde_json::to_string(messages).unwrap_or_default(),
        };
        tracing::info!(target: "airgate::expanded", %prompt, stop = ?request.stop, "model request");
    }
    let events = route.engine.generate(request).await?;
    let events = if route.family.strip_reasoning() { without_reasoning(events) } else { events };
    Ok((events, started))
}

/// Every system message joined into one, first (the family accepts only one).
fn single_system(messages: Vec<Message>) -> Vec<Message> {
    let (system, rest): (Vec<Message>, Vec<Message>) = messages.into_iter().partition(|m| m.role == "system");
    if system.len() <= 1 {
        return system.into_iter().chain(rest).collect();
    }
    let joined = system.iter().map(|m| m.content.as_str()).filter(|c| !c.is_empty()).collect::<Vec<_>>().join("\n\n");
    std::iter::once(Message::system(joined)).chain(rest).collect()
}

/// The stream with the model's `<think>…</think>` reasoning (or what precedes a leaked `</think>`)
/// taken out of its text. Dropping the returned stream drops the model's, which cancels it.
fn without_reasoning(mut events: EventStream) -> EventStream {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut parser = Parser::new(Syntax::Json, false, Some(THINK), false).keep_whitespace();
        let text = |pieces: Vec<Piece>| -> String {
            pieces.into_iter().filter_map(|p| if let Piece::Content(t) = p { Some(t) } else { None }).collect()
        };
        loop {
            let event = tokio::select! {
                () = tx.closed() => return,
                event = events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
            };
            let (before, event) = match event {
                Event::Text(t) => (text(parser.push(&t)), None),
                end => (text(parser.finish()), Some(end)),
            };
            if !before.is_empty() && tx.send(Event::Text(before)).await.is_err() {
                return;
            }
            if let Some(end) = event {
                let _ = tx.send(end).await;
                return;
            }
        }
    });
    rx
}

fn sampling(plan: &ChatPlan) -> SamplingParams {
    SamplingParams { temperature: plan.temperature, seed: plan.seed, ..SamplingParams::default() }
}

fn remote_request(plan: ChatPlan, context: u32, guard: bool) -> (GenerateRequest, Started) {
    let mut messages: Vec<ChatMessage> =
        plan.messages.iter().map(|m| ChatMessage::new(m.role.clone(), m.content.clone())).collect();
    if let Some(prefill) = &plan.prefill {
        messages.push(ChatMessage::new("assistant", prefill.clone()));
    }
    let chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    let prompt_tokens = chars.div_ceil(4) as u32;
    // GitLab's chat asks for 8192 tokens; an upstream with a smaller context would refuse that outright.
    // The prompt size is only estimated, so when it seems to leave less than a short answer's room the
    // upstream still gets a short answer's worth to try (and its own error if the prompt truly
    // does not fit), never the full 8192.
    let room = context.saturating_sub(prompt_tokens);
    let max_tokens = plan.max_tokens.min(room.max(MIN_ANSWER_TOKENS));
    let started = Started { prompt_tokens, max_tokens, dropped_turns: 0 };
    let request = GenerateRequest {
        sampling: sampling(&plan),
        max_tokens: Some(max_tokens),
        stop: plan.stop,
        repetition_guard: guard,
        ignore_eos: false,
        deadline: Some(Instant::now() + GITLAB_DEADLINE),
        ..GenerateRequest::new(Prompt::Chat(messages), plan.feature.as_str())
    };
    (request, started)
}

async fn local_request(
    route: &Route,
    mut plan: ChatPlan,
    guard: bool,
) -> Result<(GenerateRequest, Started), FeatureError> {
    let engine = route.engine.clone();
    let context = engine.info().context_per_slot;
    let model = engine.info().name.clone();
    let fitted = tokio::task::spawn_blocking(move || {
        let mut dropped = 0;
        loop {
            let (text, tokens) = render(engine.as_ref(), &plan)?;
            let room = context.saturating_sub(tokens as u32 + SPECIAL_MARGIN);
            if room >= MIN_ANSWER_TOKENS.min(plan.max_tokens) {
                return Ok((text, tokens as u32, room.min(plan.max_tokens), dropped, plan));
            }
            if plan.drop_history && droppable(&plan.messages) {
                // Drop a whole exchange: the oldest user turn and the assistant turns answering it.
                let first = first_history_index(&plan.messages);
                plan.messages.remove(first);
                dropped += 1;
                while droppable(&plan.messages) && plan.messages[first].role == "assistant" {
                    plan.messages.remove(first);
                    dropped += 1;
                }
                continue;
            }
            return Err(FeatureError::BadInput(format!(
                "the prompt is {tokens} tokens but model `{model}` has {context} tokens of context per request; \
                 send less text or give the model a larger ctx_size"
            )));
        }
    })
    .await
    .map_err(|e| FeatureError::Engine(EngineError::Internal(e.to_string())))??;
    let (text, prompt_tokens, max_tokens, dropped_turns, plan) = fitted;
    if dropped_turns > 0 {
        tracing::info!(dropped_turns, prompt_tokens, context, "older chat turns dropped to fit the model's context");
    }
    let request = GenerateRequest {
        sampling: sampling(&plan),
        max_tokens: Some(max_tokens),
        stop: plan.stop,
        repetition_guard: guard,
        ignore_eos: false,
        deadline: Some(Instant::now() + GITLAB_DEADLINE),
        ..GenerateRequest::new(Prompt::Text(text), plan.feature.as_str())
    };
    Ok((request, Started { prompt_tokens, max_tokens, dropped_turns }))
}

/// The local prompt text (the model's own template, else llama.cpp's layout) and its exact token count.
fn render(engine: &dyn crate::engine::Engine, plan: &ChatPlan) -> Result<(String, usize), FeatureError> {
    let mut text = super::toolchat::template::render_messages(engine, &plan.messages)?;
    if let Some(prefill) = &plan.prefill {
        text.push_str(prefill);
    }
    let tokens = engine.count_tokens(&text).unwrap_or_else(|| text.chars().count().div_ceil(4));
    Ok((text, tokens))
}

/// Index of the oldest history message: the first one that is not the system prompt.
fn first_history_index(messages: &[Message]) -> usize {
    usize::from(messages.first().is_some_and(|m| m.role == "system"))
}

/// True while there is history besides the system prompt and the last user message.
fn droppable(messages: &[Message]) -> bool {
    messages.len() > first_history_index(messages) + 1
}

#[cfg(test)]
mod tests;
