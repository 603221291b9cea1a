//! Bit-exactness on the real model, with the model thread's context settings:
//! - prefix reuse: after keeping what [`Plan`] allows of a cached prompt (and the tokens generated
//!   after it), the logits of the prompt and of every generated token equal, bit for bit, those of
//!   evaluating the prompt from scratch;
//! - speculation: a generated token and up to [`MAX_DRAFT`] draft tokens after it, decoded in one
//!   batch, get the logits each would get decoded one at a time, at short and long contexts.

use std::num::NonZeroU32;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

use super::backend;
use super::plan::Plan;
use super::speculate::MAX_DRAFT;

/// Tokens generated after each prompt.
const GENERATED: usize = 8;

/// Evaluates `tokens[from..]` in the plan's batches, then generates greedily the way the worker
/// does (one token per batch); returns the logits of the prompt's last token and of each step.
fn run(ctx: &mut LlamaContext<'_>, plan: Plan, tokens: &[LlamaToken], from: usize) -> Vec<Vec<f32>> {
    let mut logits = vec![evaluate(ctx, plan, tokens, from)];
    let mut batch = LlamaBatch::new(1, 1);
    for step in 0..GENERATED {
        let last = logits.last().unwrap();
        let next = last.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i32;
        batch.clear();
        batch.add(LlamaToken(next), (tokens.len() + step) as i32, &[0], true).unwrap();
        ctx.decode(&mut batch).unwrap();
        logits.push(ctx.get_logits_ith(0).to_vec());
    }
    logits
}

/// The model thread's context settings (`worker.rs`), for one sequence of `n_ctx` tokens.
fn context_params(n_ctx: u32) -> LlamaContextParams {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as i32;
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_swa_full(true)
        .with_kv_unified(false)
        .with_type_k(KvCacheType::BF16)
        .with_type_v(KvCacheType::BF16)
}

/// Evaluates `tokens[from..]` in the plan's batches; the logits of the last token.
fn evaluate(ctx: &mut LlamaContext<'_>, plan: Plan, tokens: &[LlamaToken], from: usize) -> Vec<f32> {
    let mut batch = LlamaBatch::new(512, 1);
    let mut pos = from;
    while pos < tokens.len() {
        let end = plan.next_batch(pos, tokens.len());
        batch.clear();
        for (i, &token) in tokens.iter().enumerate().take(end).skip(pos) {
            batch.add(token, i as i32, &[0], i + 1 == tokens.len()).unwrap();
        }
        ctx.decode(&mut batch).unwrap();
        pos = end;
    }
    ctx.get_logits_ith(batch.n_tokens() - 1).to_vec()
}

/// A repetitive Python file: the shape of a real completion prompt.
fn python() -> String {
    let mut file = String::from("import os\nimport sys\n\n\n");
    for i in 0..16 {
        file.push_str(&format!(
            "def helper_{i}(path, mode=\"r\"):\n    with open(path, mode) as f:\n        return f.read()\n\n\n"
        ));
    }
    file
}

#[test]
fn reuse_as_planned_gives_bit_identical_logits() {
    let path = crate::engine::test_model_path();
    let backend = backend().unwrap();
    let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default()).unwrap();
    let params = context_params(1024);
    let mut ctx = model.new_context(backend, params).unwrap();
    let vocab = model.vocab();
    let rust = vocab.tokenize(include_str!("worker.rs").as_bytes(), true, false);
    let python = vocab.tokenize(python().as_bytes(), true, true);
    let other = vocab.tokenize(include_str!("mod.rs").as_bytes(), false, false);
    let plan = Plan::new(128);
    // (source, cached length, shared prefix, new length, tokens kept): typing at the end, the
    // tail crossing a chunk line, edits in the body, a short prompt grown long.
    let cases = [
        (&python, 300, 300, 301, 288),
        (&python, 385, 385, 385, 384),
        (&python, 384, 384, 385, 256),
        (&python, 340, 330, 360, 320),
        (&rust, 420, 410, 421, 400),
        (&rust, 250, 200, 420, 128),
        (&rust, 420, 333, 333, 256),
        (&rust, 90, 90, 140, 0),
    ];
    for (source, old_len, shared, new_len, kept) in cases {
        let mut new = source[..shared].to_vec();
        new.extend_from_slice(&other[shared..new_len]);
        ctx.clear_kv_cache();
        let reference = run(&mut ctx, plan, &new, 0);
        ctx.clear_kv_cache();
        run(&mut ctx, plan, &source[..old_len], 0);
        let keep = plan.reusable(shared, old_len, new_len);
        assert_eq!(keep, kept, "{old_len}/{shared}/{new_len}");
        assert!(ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None).unwrap());
        let reused = run(&mut ctx, plan, &new, keep);
        for (step, (a, b)) in reused.iter().zip(&reference).enumerate() {
            assert!(a == b, "{old_len}/{shared}/{new_len}: logits differ at step {step} after keeping {keep} tokens");
        }
    }
}

#[test]
fn verifying_drafts_in_one_batch_gives_bit_identical_logits() {
    let path = crate::engine::test_model_path();
    let backend = backend().unwrap();
    let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default()).unwrap();
    let mut ctx = model.new_context(backend, context_params(2048)).unwrap();
    let vocab = model.vocab();
    let mut text = python();
    text.push_str(include_str!("worker.rs"));
    let source = vocab.tokenize(text.as_bytes(), true, true);
    let plan = Plan::new(128);
    const STEPS: usize = 24;
    // Short and long contexts: flash attention takes another path once the cache holds 512 cells.
    for len in [100, 333, 700] {
        // The reference: greedy, one token per decode.
        ctx.clear_kv_cache();
        let mut logits = vec![evaluate(&mut ctx, plan, &source[..len], 0)];
        let mut tokens = Vec::new();
        let mut batch = LlamaBatch::new(512, 1);
        for step in 0..STEPS {
            let last = logits.last().unwrap();
            let next = LlamaToken(last.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i32);
            tokens.push(next);
            batch.clear();
            batch.add(next, (len + step) as i32, &[0], true).unwrap();
            ctx.decode(&mut batch).unwrap();
            logits.push(ctx.get_logits_ith(0).to_vec());
        }
        // The same tokens, each step a generated token and `drafts` draft tokens in one batch.
        for drafts in 1..=MAX_DRAFT {
            assert!(ctx.clear_kv_cache_seq(Some(0), Some(len as u32), None).unwrap());
            for at in (0..STEPS - drafts).step_by(drafts + 1) {
                batch.clear();
                for row in 0..=drafts {
                    batch.add(tokens[at + row], (len + at + row) as i32, &[0], true).unwrap();
                }
                ctx.decode(&mut batch).unwrap();
                for row in 0..=drafts {
                    let got = ctx.get_logits_ith(row as i32);
                    assert!(
                        got == &logits[at + row + 1][..],
                        "context {len}, {drafts} drafts: logits of row {row} at step {at} differ"
                    );
                }
            }
        }
    }
}
