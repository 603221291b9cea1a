//! Code suggestions: code completion and code generation on a routed model: budgets, prompt plan, generation, clean-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::FeatureError;
use super::routing::{Feature, Route};
use crate::engine::{ChatMessage, Engine, EventStream, GenerateRequest, Generated, Prompt, SamplingParams, collect};
use crate::prompt::{self, Built, CompletionInput, Estimate, GenerationInput, PromptPlan, TokenCount};
use crate::store::RunawayPolicy;

/// A code-suggestion request, owned so it can move onto a blocking thread for prompt building.
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    pub file_name: String,
    pub language: String,
    pub prefix: String,
    pub suffix: String,
    /// Extra snippets (open tabs, related files): (name, content).
    pub context: Vec<(String, String)>,
    /// Generation only: what the user asked for.
    pub instruction: Option<String>,
    /// Generation only: `prompt_enhancer` as GitLab sent it.
    pub enhancer: Option<serde_json::Value>,
}

/// What a suggestion produced: the whole answer, or a stream of it.
pub enum Answer {
    Whole(Generated),
    Stream(EventStream),
}

/// Accounting GitLab reports back in `tokens_consumption_metadata`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanInfo {
    pub max_output_tokens: u32,
    pub context_tokens_sent: usize,
    pub context_tokens_used: usize,
}

/// Counts with the model's own tokenizer when it is local.
struct EngineTokens(Arc<dyn Engine>);

impl TokenCount for EngineTokens {
    fn count(&self, text: &str) -> usize {
        self.0.count_tokens(text).unwrap_or_else(|| Estimate.count(text))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Completion,
    Generation,
}

/// Context kept free for the answer when budgeting a local prompt: the largest output any family plan asks for.
const OUTPUT_RESERVE: u32 = 512;
/// Context kept free for the special tokens (BOS, template markers) a local model adds around the prompt.
const SPECIAL_RESERVE: u32 = 16;

/// Builds the prompt for `route` (on a blocking thread: local budgets use the real tokenizer).
async fn plan(route: &Route, input: CodeInput, kind: Kind) -> Result<PromptPlan, FeatureError> {
    let engine = route.engine.clone();
    let (family, local) = (route.family, route.local);
    tokio::task::spawn_blocking(move || {
        let info = engine.info().clone();
        let tokens = EngineTokens(engine.clone());
        let budget = if local {
            info.context_per_slot.saturating_sub(OUTPUT_RESERVE + SPECIAL_RESERVE) as usize
        } else {
            family.max_context_tokens()
        };
        let as_completion = CompletionInput {
            file_name: &input.file_name,
            language: &input.language,
            prefix: &input.prefix,
            suffix: &input.suffix,
            context: &input.context,
        };
        match kind {
            Kind::Completion => match (local, engine.fim_tokens()) {
                (true, Some(fim)) => {
                    let mut plan =
                        prompt::fim_raw(&fim.prefix, &fim.suffix, &fim.middle, &as_completion, budget, &tokens);
                    // The gateway's stop set of a named completion model (codestral-2501, qwen2p5-coder-7b…).
                    plan.stop.extend(prompt::fim_stops(family).iter().map(|s| s.to_string()));
                    plan
                }
                _ => prompt::completion(family, &as_completion, budget, &tokens),
            },
            Kind::Generation => {
                let gen_input = GenerationInput {
                    file_name: &input.file_name,
                    language: &input.language,
                    prefix: &input.prefix,
                    suffix: &input.suffix,
                    instruction: input.instruction.as_deref(),
                    enhancer: input.enhancer.as_ref(),
                };
                prompt::generation(family, &gen_input, budget, &tokens)
            }
        }
    })
    .await
    .map_err(|e| FeatureError::Engine(crate::engine::EngineError::Internal(e.to_string())))
}

/// A completion is worthless once the developer typed on (the editor has sent the next request by
/// then); a generation is waited for like any GitLab request.
const COMPLETION_DEADLINE: Duration = Duration::from_secs(10);

fn to_request(plan: &PromptPlan, kind: Kind, policy: &RunawayPolicy) -> GenerateRequest {
    let feature = match kind {
        Kind::Completion => Feature::CodeCompletions,
        Kind::Generation => Feature::CodeGenerations,
    };
    let deadline = match kind {
        Kind::Completion => COMPLETION_DEADLINE,
        Kind::Generation => super::chat::GITLAB_DEADLINE,
    };
    let prompt = match &plan.prompt {
        Built::Raw(text) => Prompt::Text(text.clone()),
        Built::Chat(messages) => {
            Prompt::Chat(messages.iter().map(|m| ChatMessage::new(m.role.clone(), m.content.clone())).collect())
        }
    };
    GenerateRequest {
        max_tokens: Some(policy.capped(feature, plan.max_tokens)),
        sampling: SamplingParams { temperature: plan.temperature, ..SamplingParams::default() },
        stop: plan.stop.clone(),
        repetition_guard: policy.guard(),
        deadline: Some(Instant::now() + deadline),
        // Code copies from its own file: drafts from the prompt are often right.
        speculate: true,
        ..GenerateRequest::new(prompt, feature.as_str())
    }
}

/// Runs a code completion or generation. Whole answers are cleaned (GitLab's own gateway returns raw
/// self-hosted output; airgate trims echoes, duplicated block ends and fences); streams are raw. The
/// feature's output cap applies and the repetition guard watches, as `policy` says.
pub async fn suggest(
    route: &Route,
    input: CodeInput,
    kind: Kind,
    stream: bool,
    policy: &RunawayPolicy,
    verbose: bool,
) -> Result<(Answer, PlanInfo), FeatureError> {
    let (prefix, suffix) = (input.prefix.clone(), input.suffix.clone());
    let plan = plan(route, input, kind).await?;
    if verbose {
        tracing::info!(target: "airgate::expanded", prompt = ?plan.prompt, stop = ?plan.stop, "model request");
    }
    let mut request = to_request(&plan, kind, policy);
    if route.local {
        // Family plans ask for up to 4096 tokens (sized for large remote models); a local slot keeps
        // OUTPUT_RESERVE free for the answer.
        request.max_tokens = request.max_tokens.map(|m| m.min(OUTPUT_RESERVE));
        // A chat layout goes through the model's own template when it has one.
        if let (Built::Chat(messages), Some(_)) = (&plan.prompt, route.engine.template()) {
            request.prompt = Prompt::Text(super::toolchat::template::render_messages(route.engine.as_ref(), messages)?);
        }
    }
    let info = PlanInfo {
        max_output_tokens: request.max_tokens.unwrap_or(plan.max_tokens),
        context_tokens_sent: plan.context_tokens_sent,
        context_tokens_used: plan.context_tokens_used,
    };
    let events = route.engine.generate(request).await?;
    if stream {
        return Ok((Answer::Stream(events), info));
    }
    let mut generated = collect(events).await?;
    if verbose {
        tracing::info!(target: "airgate::expanded", output = %generated.text, "model response");
    }
    generated.text = match kind {
        Kind::Completion => prompt::clean_completion(&generated.text, &prefix, &suffix, Some(route.family)),
        Kind::Generation => prompt::clean_generation(&generated.text, &prefix),
    };
    Ok((Answer::Whole(generated), info))
}

/// Its tests, against the shared fake engine (`engine::fake`).
#[cfg(test)]
mod tests;
