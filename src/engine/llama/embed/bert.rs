//! A tiny BERT embeddings model written as a GGUF file for tests: 2 layers, 32 wide, a word-piece
//! vocabulary of single letters, random weights. llama.cpp loads and runs it like any encoder, so the
//! embeddings-model path (pooling from the GGUF, whole inputs, no generation) is tested for real.

use std::path::Path;

const EMBD: usize = 32;
const HEADS: u32 = 2;
const FF: usize = 64;
const LAYERS: usize = 2;
/// Context the model was "trained" for: the longest input it embeds.
pub(super) const CONTEXT: usize = 64;

/// `[PAD] [UNK] [CLS] [SEP] [MASK]`, then every letter as a word start and as a continuation, `.`
/// and `,`. As in converted BERT vocabularies, a word-start piece carries `▁` and a continuation
/// piece drops its `##`.
fn vocabulary() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    v.extend(('a'..='z').map(|c| format!("\u{2581}{c}")));
    v.extend(('a'..='z').map(|c| c.to_string()));
    v.extend(["\u{2581}.".to_string(), "\u{2581},".to_string()]);
    v
}

struct Writer {
    kv: Vec<u8>,
    kv_count: u64,
    infos: Vec<u8>,
    data: Vec<u8>,
    tensors: u64,
    /// A fixed pseudo-random sequence: the same file every time.
    seed: u64,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl Writer {
    fn key(&mut self, key: &str, ty: u32) {
        string(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        self.kv_count += 1;
    }
    fn u32(&mut self, key: &str, v: u32) {
        self.key(key, 4);
        self.kv.extend(v.to_le_bytes());
    }
    fn f32(&mut self, key: &str, v: f32) {
        self.key(key, 6);
        self.kv.extend(v.to_le_bytes());
    }
    fn bool(&mut self, key: &str, v: bool) {
        self.key(key, 7);
        self.kv.push(u8::from(v));
    }
    fn str(&mut self, key: &str, v: &str) {
        self.key(key, 8);
        string(&mut self.kv, v);
    }
    fn strs(&mut self, key: &str, items: &[String]) {
        self.key(key, 9);
        self.kv.extend(8u32.to_le_bytes());
        self.kv.extend((items.len() as u64).to_le_bytes());
        items.iter().for_each(|s| string(&mut self.kv, s));
    }
    fn i32s(&mut self, key: &str, items: &[i32]) {
        self.key(key, 9);
        self.kv.extend(5u32.to_le_bytes());
        self.kv.extend((items.len() as u64).to_le_bytes());
        items.iter().for_each(|v| self.kv.extend(v.to_le_bytes()));
    }

    fn next(&mut self) -> f32 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
    }

    /// An F32 tensor of `dims` (llama.cpp order: the fastest dimension first) filled by `fill`.
    fn tensor(&mut self, name: &str, dims: &[usize], fill: Fill) {
        string(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| self.infos.extend((*d as u64).to_le_bytes()));
        self.infos.extend(0u32.to_le_bytes());
        self.infos.extend((self.data.len() as u64).to_le_bytes());
        for _ in 0..dims.iter().product::<usize>() {
            let v = match fill {
                Fill::Random => self.next(),
                Fill::Ones => 1.0,
                Fill::Zeros => 0.0,
            };
            self.data.extend(v.to_le_bytes());
        }
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        self.tensors += 1;
    }
}

#[derive(Clone, Copy)]
enum Fill {
    Random,
    Ones,
    Zeros,
}

/// Writes the model to `path`; `pooling` is llama.cpp's pooling number (1 mean, 2 cls).
pub(super) fn write(path: &Path, pooling: u32) {
    let vocab = vocabulary();
    let mut w = Writer { kv: Vec::new(), kv_count: 0, infos: Vec::new(), data: Vec::new(), tensors: 0, seed: 7 };
    w.str("general.architecture", "bert");
    w.str("general.name", "tiny test bert");
    w.u32("general.file_type", 0);
    w.u32("bert.context_length", CONTEXT as u32);
    w.u32("bert.embedding_length", EMBD as u32);
    w.u32("bert.feed_forward_length", FF as u32);
    w.u32("bert.block_count", LAYERS as u32);
    w.u32("bert.attention.head_count", HEADS);
    w.f32("bert.attention.layer_norm_epsilon", 1e-12);
    w.bool("bert.attention.causal", false);
    w.u32("bert.pooling_type", pooling);
    w.str("tokenizer.ggml.model", "bert");
    w.strs("tokenizer.ggml.tokens", &vocab);
    let types: Vec<i32> = (0..vocab.len()).map(|i| if i < 5 { 3 } else { 1 }).collect();
    w.i32s("tokenizer.ggml.token_type", &types);
    w.u32("tokenizer.ggml.token_type_count", 2);
    w.u32("tokenizer.ggml.padding_token_id", 0);
    w.u32("tokenizer.ggml.unknown_token_id", 1);
    w.u32("tokenizer.ggml.cls_token_id", 2);
    w.u32("tokenizer.ggml.bos_token_id", 2);
    w.u32("tokenizer.ggml.seperator_token_id", 3);
    w.u32("tokenizer.ggml.mask_token_id", 4);

    let n_vocab = vocab.len();
    w.tensor("token_embd.weight", &[EMBD, n_vocab], Fill::Random);
    w.tensor("token_types.weight", &[EMBD, 2], Fill::Random);
    w.tensor("position_embd.weight", &[EMBD, CONTEXT], Fill::Random);
    w.tensor("token_embd_norm.weight", &[EMBD], Fill::Ones);
    w.tensor("token_embd_norm.bias", &[EMBD], Fill::Zeros);
    for i in 0..LAYERS {
        for part in ["attn_q", "attn_k", "attn_v", "attn_output"] {
            w.tensor(&format!("blk.{i}.{part}.weight"), &[EMBD, EMBD], Fill::Random);
            w.tensor(&format!("blk.{i}.{part}.bias"), &[EMBD], Fill::Random);
        }
        w.tensor(&format!("blk.{i}.attn_output_norm.weight"), &[EMBD], Fill::Ones);
        w.tensor(&format!("blk.{i}.attn_output_norm.bias"), &[EMBD], Fill::Zeros);
        w.tensor(&format!("blk.{i}.ffn_up.weight"), &[EMBD, FF], Fill::Random);
        w.tensor(&format!("blk.{i}.ffn_up.bias"), &[FF], Fill::Random);
        w.tensor(&format!("blk.{i}.ffn_down.weight"), &[FF, EMBD], Fill::Random);
        w.tensor(&format!("blk.{i}.ffn_down.bias"), &[EMBD], Fill::Random);
        w.tensor(&format!("blk.{i}.layer_output_norm.weight"), &[EMBD], Fill::Ones);
        w.tensor(&format!("blk.{i}.layer_output_norm.bias"), &[EMBD], Fill::Zeros);
    }

    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(w.tensors.to_le_bytes());
    out.extend(w.kv_count.to_le_bytes());
    out.extend(&w.kv);
    out.extend(&w.infos);
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out.extend(&w.data);
    std::fs::write(path, out).unwrap();
}
