//! Tests of chat fitting against a fake engine: context caps, history dropping, prefills.

use std::sync::Arc;

use super::*;
use crate::engine::fake::Fake;
use crate::engine::{FinishReason, Timings, Usage};
use crate::prompt::Family;
use crate::store::RunawayPolicy;

/// A chat model: `role: content` lines, a token per 4 characters.
fn chat_model(context: u32) -> Arc<Fake> {
    Arc::new(Fake::named("fake", context).chatting())
}

fn route(engine: Arc<Fake>, local: bool) -> Route {
    Route { engine, family: Family::General, local, provider: "litellm".into() }
}

fn plan(messages: Vec<Message>, max_tokens: u32, drop_history: bool) -> ChatPlan {
    ChatPlan {
        messages,
        prefill: Some("Thought:".into()),
        temperature: 0.1,
        max_tokens,
        stop: vec!["Observation:".into()],
        seed: Some(7),
        feature: crate::features::routing::Feature::DuoChat,
        drop_history,
    }
}

fn assistant(content: &str) -> Message {
    Message { role: "assistant".into(), content: content.into() }
}

fn seen_text(fake: &Fake) -> (String, Option<u32>) {
    let req = fake.taken();
    match req.prompt {
        Prompt::Text(text) => (text, req.max_tokens),
        Prompt::Chat(_) => panic!("a local model gets rendered text"),
    }
}

#[tokio::test]
async fn local_output_is_capped_to_the_context_that_is_left() {
    let fake = chat_model(256);
    let messages = vec![Message::system("s".repeat(200)), Message::user("q".repeat(200))];
    let (_, started) =
        run(&route(fake.clone(), true), plan(messages, 8192, false), &RunawayPolicy::default(), false).await.unwrap();
    let (text, max_tokens) = seen_text(&fake);
    assert!(text.ends_with("assistant: Thought:"), "the prefill continues the assistant turn: {text}");
    let prompt_tokens = text.len().div_ceil(4) as u32;
    assert_eq!(started.prompt_tokens, prompt_tokens);
    assert_eq!(max_tokens, Some(256 - prompt_tokens - SPECIAL_MARGIN), "never more than fits, BOS included");
    assert_eq!(started.dropped_turns, 0);
}

#[tokio::test]
async fn a_small_max_tokens_is_kept() {
    let fake = chat_model(4096);
    let (_, started) =
        run(&route(fake.clone(), true), plan(vec![Message::user("hi")], 16, false), &RunawayPolicy::default(), false)
            .await
            .unwrap();
    assert_eq!(seen_text(&fake).1, Some(16));
    assert_eq!(started.max_tokens, 16);
}

#[tokio::test]
async fn oldest_exchanges_are_dropped_until_the_prompt_fits() {
    let fake = chat_model(300);
    let long = "x".repeat(400);
    let messages = vec![
        Message::system("system prompt"),
        Message::user(format!("old question {long}")),
        assistant(&format!("old answer {long}")),
        Message::user("recent question"),
        assistant("recent answer"),
        Message::user("the question"),
    ];
    let (_, started) =
        run(&route(fake.clone(), true), plan(messages, 8192, true), &RunawayPolicy::default(), false).await.unwrap();
    let (text, _) = seen_text(&fake);
    assert_eq!(started.dropped_turns, 2, "one exchange: the old question and its answer");
    assert!(text.starts_with("system: system prompt"), "the system prompt stays: {text}");
    assert!(text.contains("recent question") && text.contains("the question") && !text.contains("old"));
}

#[tokio::test]
async fn a_prompt_that_cannot_fit_is_a_client_error_naming_the_sizes() {
    let fake = chat_model(128);
    let messages = vec![Message::system("s"), Message::user("q".repeat(2000))];
    let err = run(&route(fake, true), plan(messages, 8192, true), &RunawayPolicy::default(), false).await.unwrap_err();
    match err {
        FeatureError::BadInput(message) => {
            assert!(message.contains("128 tokens of context"), "{message}");
            assert!(message.contains("fake"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_upstream_gets_messages_with_the_prefill_as_the_last_assistant_turn() {
    let fake = chat_model(128);
    let messages = vec![Message::system("s"), Message::user("q")];
    run(&route(fake.clone(), false), plan(messages, 8192, true), &RunawayPolicy::default(), false).await.unwrap();
    let req = fake.taken();
    assert_eq!(req.max_tokens, Some(128 - 3), "capped to the upstream's context less the estimated prompt");
    assert_eq!(req.sampling.seed, Some(7));
    assert_eq!(req.stop, vec!["Observation:".to_string()]);
    match req.prompt {
        Prompt::Chat(m) => {
            assert_eq!(m.len(), 3);
            assert_eq!((m[2].role.as_str(), m[2].content.as_str()), ("assistant", "Thought:"));
        }
        Prompt::Text(_) => panic!("an upstream gets messages"),
    }
}

#[tokio::test]
async fn an_upstream_whose_context_seems_full_gets_a_short_answer_budget_not_the_full_request() {
    for (context, prompt_chars, asked, expected) in [
        (100_000, 4_000, 8192, 8192), // plenty of room: what the feature asks for
        (2_000, 4_000, 8192, 1_000),  // capped to the room left
        (1_000, 3_900, 8192, 64),     // 25 tokens left by the estimate: a short answer's budget
        (1_000, 40_000, 8192, 64),    // estimated far over: still a short answer, the upstream decides
        (1_000, 40_000, 16, 16),      // a feature that asks for less keeps its own cap
    ] {
        let fake = chat_model(context);
        let messages = vec![Message::system(""), Message::user("q".repeat(prompt_chars - "Thought:".len()))];
        let (_, started) =
            run(&route(fake.clone(), false), plan(messages, asked, false), &RunawayPolicy::default(), false)
                .await
                .unwrap();
        let req = fake.taken();
        assert_eq!(req.max_tokens, Some(expected), "context {context}, prompt {prompt_chars} chars, asked {asked}");
        assert_eq!(started.max_tokens, expected);
    }
}

#[test]
fn history_is_what_lies_between_system_and_the_last_message() {
    let sys = Message::system("s");
    let user = Message::user("u");
    assert!(!droppable(&[sys.clone(), user.clone()]));
    assert!(!droppable(std::slice::from_ref(&user)));
    assert!(droppable(&[sys.clone(), user.clone(), user.clone()]));
    assert_eq!(first_history_index(&[sys, user.clone()]), 1);
    assert_eq!(first_history_index(&[user.clone(), user]), 0);
}

#[tokio::test]
async fn reasoning_is_taken_out_of_the_stream_for_families_that_strip_it() {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for chunk in ["<thi", "nk>Let me think.</th", "ink>\n\n Thought: I know", " the answer."] {
        tx.send(Event::Text(chunk.into())).await.unwrap();
    }
    let done = Event::Done { finish: FinishReason::Stop, usage: Usage::default(), timings: Timings::default() };
    tx.send(done.clone()).await.unwrap();
    drop(tx);
    let mut out = without_reasoning(rx);
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(event) = out.recv().await {
        if let Event::Text(t) = &event {
            text.push_str(t);
        }
        events.push(event);
    }
    assert_eq!(text, "Thought: I know the answer.");
    assert_eq!(events.last(), Some(&done));
}

#[tokio::test]
async fn text_without_reasoning_keeps_its_leading_space() {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(Event::Text(" I should search.".into())).await.unwrap();
    tx.send(Event::Failed("boom".into())).await.unwrap();
    drop(tx);
    let mut out = without_reasoning(rx);
    assert_eq!(out.recv().await, Some(Event::Text(" I should search.".into())));
    assert_eq!(out.recv().await, Some(Event::Failed("boom".into())));
    assert_eq!(out.recv().await, None);
}

#[test]
fn system_messages_merge_into_one() {
    let merged = single_system(vec![
        Message::system("Policy."),
        Message::user("hi"),
        Message::system("Be brief."),
        assistant("ok"),
    ]);
    let roles: Vec<&str> = merged.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert_eq!(merged[0].content, "Policy.\n\nBe brief.");
    let one = vec![Message::system("Only."), Message::user("hi")];
    assert_eq!(single_system(one.clone()), one);
}

/// The feature's output cap bounds the answer (local or remote), and the guard follows the policy.
#[tokio::test]
async fn the_output_cap_and_the_repetition_guard_apply() {
    let mut policy = RunawayPolicy::default();
    policy.caps.insert(crate::features::routing::Feature::DuoChat, 100);
    for local in [true, false] {
        let fake = chat_model(4096);
        let (_, started) =
            run(&route(fake.clone(), local), plan(vec![Message::user("hi")], 8192, false), &policy, false)
                .await
                .unwrap();
        assert_eq!(started.max_tokens, 100, "local: {local}");
        let seen = fake.taken();
        assert_eq!(seen.max_tokens, Some(100));
        assert!(seen.repetition_guard, "on by default for GitLab features");
    }
    policy.repetition_guard = Some(false);
    let fake = chat_model(4096);
    run(&route(fake.clone(), true), plan(vec![Message::user("hi")], 50, false), &policy, false).await.unwrap();
    let seen = fake.taken();
    assert_eq!((seen.max_tokens, seen.repetition_guard), (Some(50), false), "below the cap: as asked");
}
