//! Speculation on the real model, through the engine: greedy answers are byte-for-byte the answers
//! without it, drafts are actually made and confirmed, and sampled answers still finish normally.
//! This guards the model thread's bookkeeping (rows, confirmation, cache removal); the numbers
//! themselves are guarded bit for bit by `exact.rs` (a wider draft still passes here: its rounding
//! differences rarely flip a greedy pick in 64 tokens, which is why they are checked on logits).

use super::super::{LlamaEngine, LoadParams, Stopping};
use super::Speculation;
use crate::engine::{Engine, GenerateRequest, Generated, Prompt, SamplingParams, collect};

fn engine(speculation: Speculation) -> LlamaEngine {
    LlamaEngine::load(LoadParams {
        name: "spec".into(),
        path: crate::engine::test_model_path(),
        ctx_size: 2048,
        parallel: 1,
        threads: 2,
        batch_size: 512,
        queue_depth: 4,
        queue_wait: std::time::Duration::from_secs(60),
        max_output_tokens: 0,
        prefix_reuse: false,
        speculation,
        mlock: false,
        gpu_layers: 0,
        stopping: Stopping::default(),
        embeddings: Default::default(),
    })
    .unwrap()
}

async fn run(engine: &LlamaEngine, prompt: &str, speculate: bool, temperature: f32) -> Generated {
    let req = GenerateRequest {
        max_tokens: Some(64),
        sampling: SamplingParams { temperature, seed: Some(7), ..SamplingParams::default() },
        speculate,
        ..GenerateRequest::new(Prompt::Text(prompt.into()), "test")
    };
    collect(engine.generate(req).await.unwrap()).await.unwrap()
}

/// Code prompts that copy from themselves, short and long (past 512 cached tokens).
fn prompts() -> Vec<String> {
    let mut helpers = String::from("import os\n\n");
    for name in ["read", "write", "append", "remove", "exists", "size", "stat", "touch"] {
        helpers.push_str(&format!(
            "def {name}_file(path, mode=\"r\"):\n    \"\"\"{name} the file at path.\"\"\"\n    with open(path, mode) as f:\n        return f.{name}()\n\n\n"
        ));
    }
    let long = format!("{helpers}{helpers}def copy_file(path, mode=\"r\"):\n");
    vec![
        "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\nfn sub(a: i32, b: i32) -> i32 {\n".to_string(),
        format!("{helpers}def move_file(path, mode=\"r\"):\n"),
        long,
        include_str!("../plan.rs")[..1500].to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_answers_are_the_same_with_and_without_speculation() {
    let engine = engine(Speculation::Exact);
    let (mut drafted, mut accepted) = (0, 0);
    for prompt in prompts() {
        let plain = run(&engine, &prompt, false, 0.0).await;
        let fast = run(&engine, &prompt, true, 0.0).await;
        assert_eq!(plain.usage.draft_tokens, 0);
        assert_eq!(fast.text, plain.text, "prompt ending {:?}", &prompt[prompt.len() - 40..]);
        assert_eq!(
            (fast.finish, fast.usage.completion_tokens),
            (plain.finish, plain.usage.completion_tokens),
            "{prompt:?}"
        );
        assert!(fast.usage.draft_accepted <= fast.usage.draft_tokens);
        drafted += fast.usage.draft_tokens;
        accepted += fast.usage.draft_accepted;
    }
    // The comparison means something only if drafts were made and taken.
    assert!(drafted >= 20 && accepted >= 10, "drafted {drafted}, accepted {accepted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_and_fast_answers_speculate_and_finish() {
    let prompt = &prompts()[1];
    for (mode, temperature) in [(Speculation::Exact, 0.7), (Speculation::Fast, 0.0), (Speculation::Fast, 0.7)] {
        let engine = engine(mode);
        let mut drafted = 0;
        for _ in 0..3 {
            let out = run(&engine, prompt, true, temperature).await;
            assert!(out.usage.completion_tokens > 0 && !out.text.is_empty(), "{mode:?}");
            assert!(out.usage.completion_tokens <= 64, "{mode:?}");
            drafted += out.usage.draft_tokens;
        }
        assert!(drafted > 0, "{mode:?}");
    }
}
