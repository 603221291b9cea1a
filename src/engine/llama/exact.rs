//! Bit-exactness of prefix reuse on the real model: after keeping what [`Plan`] allows of a cached
//! prompt (and the tokens generated after it), the logits of the prompt and of every generated
//! token equal, bit for bit, those of evaluating the prompt from scratch.

use std::num::NonZeroU32;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

use super::backend;
use super::plan::Plan;

/// Tokens generated after each prompt.
const GENERATED: usize = 8;

/// Evaluates `tokens[from..]` in the plan's batches, then generates greedily the way the worker
/// does (one token per batch); returns the logits of the prompt's last token and of each step.
fn run(ctx: &mut LlamaContext<'_>, plan: Plan, tokens: &[LlamaToken], from: usize) -> Vec<Vec<f32>> {
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
    let mut logits = vec![ctx.get_logits_ith(batch.n_tokens() - 1).to_vec()];
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
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(1024))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_swa_full(true)
        .with_kv_unified(false);
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
