//! Tests of the code-suggestion plan against a fake engine: raw FIM prompts for local models with FIM tokens, family layouts otherwise, budgets and output caps.

use std::sync::Arc;

use super::*;
use crate::engine::EngineError;
use crate::engine::fake::Fake;
use crate::prompt::{FIM_RAW_MAX_TOKENS, FIM_RAW_TEMPERATURE, Family};
use crate::store::RunawayPolicy;

fn route(fake: &Arc<Fake>, family: Family, local: bool) -> Route {
    Route { engine: fake.clone(), family, local, provider: "litellm".into() }
}

/// 1000 characters (= tokens) on each side of the cursor, no newlines: cuts land exactly on the budget.
fn long_input() -> CodeInput {
    CodeInput {
        file_name: "main.py".into(),
        language: "python".into(),
        prefix: "a".repeat(1000),
        suffix: "b".repeat(1000),
        ..CodeInput::default()
    }
}

/// Slot context that leaves a prompt budget of `budget` tokens.
fn context_for(budget: u32) -> u32 {
    budget + OUTPUT_RESERVE + SPECIAL_RESERVE
}

#[tokio::test]
async fn a_local_model_with_fim_tokens_gets_the_raw_fim_prompt_within_its_budget() {
    let fake = Arc::new(Fake::named("coder", context_for(100)).with_fim());
    let (answer, info) = suggest(
        &route(&fake, Family::Codestral, true),
        long_input(),
        Kind::Completion,
        false,
        &RunawayPolicy::default(),
        false,
    )
    .await
    .unwrap();
    let req = fake.taken();
    let Prompt::Text(text) = &req.prompt else { panic!("a raw prompt, no chat template: {:?}", req.prompt) };
    // Markers (15 tokens) + 93 % / 7 % of the 85 left, counted with the model's own tokenizer.
    assert_eq!(*text, format!("<PRE>{}<SUF>{}<MID>", "a".repeat(80), "b".repeat(5)));
    assert_eq!(text.chars().count(), 100, "exactly the prompt budget");
    assert!(!text.contains("[SUFFIX]"), "not the codestral layout");
    assert_eq!(req.stop, ["<PRE>", "<SUF>", "<MID>"]);
    assert_eq!(req.max_tokens, Some(FIM_RAW_MAX_TOKENS.min(OUTPUT_RESERVE)));
    assert_eq!(req.sampling.temperature, FIM_RAW_TEMPERATURE);
    assert_eq!(req.feature, "code_completions");
    assert_eq!(info.max_output_tokens, FIM_RAW_MAX_TOKENS);
    assert!(matches!(answer, Answer::Whole(g) if g.text == "ok"));
}

#[tokio::test]
async fn without_fim_tokens_a_local_model_gets_the_family_layout() {
    let fake = Arc::new(Fake::named("chat-model", context_for(600)));
    suggest(
        &route(&fake, Family::Codestral, true),
        long_input(),
        Kind::Completion,
        false,
        &RunawayPolicy::default(),
        false,
    )
    .await
    .unwrap();
    let req = fake.taken();
    let Prompt::Chat(messages) = &req.prompt else { panic!("the family's messages: {:?}", req.prompt) };
    assert_eq!(messages.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(), ["system", "user"]);
    assert!(messages[1].content.starts_with("<s>[SUFFIX]b"), "{}", messages[1].content);
    assert!(messages[1].content.contains("b[PREFIX]aaaa"), "{}", messages[1].content);
    let prompt_tokens: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    assert_eq!(prompt_tokens, 600, "template text first, then code up to the local budget");
    assert!(req.stop.iter().any(|s| s == "[SUFFIX]"));
    assert_eq!(req.max_tokens, Some(64), "codestral's completion cap");
}

#[tokio::test]
async fn a_remote_model_gets_the_family_layout_even_when_it_reports_fim_tokens() {
    let fake = Arc::new(Fake::named("upstream", 0).with_fim());
    suggest(
        &route(&fake, Family::Codegemma, false),
        long_input(),
        Kind::Completion,
        false,
        &RunawayPolicy::default(),
        false,
    )
    .await
    .unwrap();
    let req = fake.taken();
    let Prompt::Chat(messages) = &req.prompt else { panic!("an upstream gets messages") };
    let user = &messages.last().unwrap().content;
    assert!(user.starts_with("<|fim_prefix|>") && !user.contains("<PRE>"), "{user}");
    assert!(user.contains(&"a".repeat(1000)), "the family's 8k context takes the whole prefix");
    assert_eq!(req.max_tokens, Some(128));
}

#[tokio::test]
async fn generation_output_is_capped_locally_and_not_for_an_upstream() {
    let input = CodeInput { instruction: Some("write a parser".into()), ..long_input() };
    let local = Arc::new(Fake::named("local", 4096));
    let (_, info) = suggest(
        &route(&local, Family::General, true),
        input.clone(),
        Kind::Generation,
        false,
        &RunawayPolicy::default(),
        false,
    )
    .await
    .unwrap();
    let req = local.taken();
    assert!(matches!(req.prompt, Prompt::Chat(_)));
    assert_eq!((req.max_tokens, info.max_output_tokens), (Some(OUTPUT_RESERVE), OUTPUT_RESERVE), "2048 capped");
    assert_eq!(req.feature, "code_generations");

    let remote = Arc::new(Fake::named("remote", 0));
    suggest(&route(&remote, Family::General, false), input, Kind::Generation, false, &RunawayPolicy::default(), false)
        .await
        .unwrap();
    assert_eq!(remote.taken().max_tokens, Some(2048), "the family plan's own cap");
}

#[tokio::test]
async fn streams_are_passed_on_raw_and_failures_are_engine_errors() {
    let fake = Arc::new(Fake::named("m", 4096).with_fim());
    let (answer, _) = suggest(
        &route(&fake, Family::General, true),
        long_input(),
        Kind::Completion,
        true,
        &RunawayPolicy::default(),
        false,
    )
    .await
    .unwrap();
    let Answer::Stream(events) = answer else { panic!("a stream") };
    assert_eq!(crate::engine::collect(events).await.unwrap().text, "ok");

    let failing = Arc::new(Fake::named("m", 4096).failing("decode failed"));
    let result = suggest(
        &route(&failing, Family::General, true),
        long_input(),
        Kind::Completion,
        false,
        &RunawayPolicy::default(),
        false,
    )
    .await;
    assert!(matches!(result, Err(FeatureError::Engine(EngineError::Internal(d))) if d == "decode failed"));
}

/// Code suggestions obey their features' output caps and the guard switch.
#[tokio::test]
async fn output_caps_of_code_features() {
    let mut policy = RunawayPolicy::default();
    policy.caps.insert(crate::features::routing::Feature::CodeGenerations, 40);
    policy.caps.insert(crate::features::routing::Feature::CodeCompletions, 8);
    let fake = Arc::new(Fake::named("fake", 4096));
    let input = CodeInput { instruction: Some("write a parser".into()), ..long_input() };
    suggest(&route(&fake, Family::General, false), input, Kind::Generation, false, &policy, false).await.unwrap();
    let seen = fake.taken();
    assert_eq!((seen.max_tokens, seen.repetition_guard), (Some(40), true));
    policy.repetition_guard = Some(false);
    suggest(&route(&fake, Family::Codestral, true), long_input(), Kind::Completion, false, &policy, false)
        .await
        .unwrap();
    let seen = fake.taken();
    assert_eq!((seen.max_tokens, seen.repetition_guard), (Some(8), false));
}
