//! The embeddings thread on the real default model (a generation model, so airgate pools its
//! token vectors): setup rules, determinism, packing and chunking, pooling, limits, the queue.

use std::sync::{Arc, OnceLock};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use super::*;
use crate::engine::embed::cosine;

fn model() -> Arc<LlamaModel> {
    static MODEL: OnceLock<Arc<LlamaModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = crate::engine::test_model_path();
            Arc::new(
                LlamaModel::load_from_file(super::super::backend().unwrap(), &path, &LlamaModelParams::default())
                    .unwrap(),
            )
        })
        .clone()
}

fn header() -> GgufInfo {
    crate::engine::gguf::read(&crate::engine::test_model_path()).unwrap()
}

fn start(pooling: Pooling, batch: usize, cells: usize) -> Embedder {
    let setup =
        Setup { pooling, only: false, limits: Limits { batch, seqs: 8, cells, whole: false }, skip_logits: true };
    Embedder::start(model(), super::super::backend().unwrap(), "test", setup, 1, 16).unwrap()
}

fn texts(items: &[&str]) -> EmbedRequest {
    EmbedRequest { inputs: items.iter().map(|s| EmbedInput::Text(s.to_string())).collect(), feature: "test" }
}

async fn embed(e: &Embedder, items: &[&str]) -> Vec<Vec<f32>> {
    e.embed(&model(), "test", texts(items)).await.unwrap().vectors
}

#[test]
fn setup_follows_the_gguf_and_the_admin() {
    let h = header();
    // The default model is a generation model: it embeds only when allowed, with mean pooling.
    assert_eq!(setup(&h, EmbedOptions::default(), 1024, 32768).unwrap(), None);
    let s = setup(&h, EmbedOptions { allow: true, pooling: None }, 1024, 32768).unwrap().unwrap();
    assert_eq!(
        (s.pooling, s.only, s.limits.whole, s.limits.batch, s.limits.max_input()),
        (Pooling::Mean, false, false, CHUNK, 1024)
    );
    let s = setup(&h, EmbedOptions { allow: true, pooling: Some(Pooling::Last) }, 1024, 32768).unwrap().unwrap();
    assert_eq!(s.pooling, Pooling::Last);

    // A GGUF that declares pooling is an embeddings model: whole inputs, llama.cpp pools, no generation.
    let mut h = header();
    h.metadata.insert("gemma3.pooling_type".into(), MetaValue::U64(2));
    let s = setup(&h, EmbedOptions::default(), 4096, 512).unwrap().unwrap();
    assert_eq!((s.pooling, s.only, s.limits.whole, s.limits.max_input()), (Pooling::Cls, true, true, 512));
    let s = setup(&h, EmbedOptions { allow: false, pooling: Some(Pooling::Mean) }, 256, 512).unwrap().unwrap();
    assert_eq!((s.pooling, s.limits.max_input()), (Pooling::Mean, 256));
    // A reranker is refused.
    h.metadata.insert("gemma3.pooling_type".into(), MetaValue::U64(4));
    assert!(setup(&h, EmbedOptions::default(), 1024, 512).unwrap_err().to_string().contains("reranker"));
    // An encoder without a declared pooling type embeds with CLS pooling.
    let mut h = header();
    h.metadata.insert("general.architecture".into(), MetaValue::Str("bert".into()));
    assert_eq!(setup(&h, EmbedOptions::default(), 512, 512).unwrap().unwrap().pooling, Pooling::Cls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_text_same_vector_and_texts_differ() {
    let e = start(Pooling::Mean, CHUNK, 1024);
    assert_eq!(e.info.dimensions, 640, "Gemma 3 270M has 640-wide vectors");
    let v = embed(
        &e,
        &["fn main() { println!(\"hi\"); }", "The weather is nice today.", "fn main() { println!(\"hi\"); }"],
    )
    .await;
    assert_eq!(v.len(), 3);
    for x in &v {
        assert_eq!(x.len(), 640);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
    }
    assert!(cosine(&v[0], &v[2]) > 0.999, "the same text twice in one batch");
    assert!(cosine(&v[0], &v[1]) < 0.99, "different texts: {}", cosine(&v[0], &v[1]));
    // Alone, in another request: the same vector (a different batch shape or KV layout moves the
    // last bits: 0.9999 measured).
    let alone = embed(&e, &["fn main() { println!(\"hi\"); }"]).await;
    assert!(cosine(&v[0], &alone[0]) > 0.999, "{}", cosine(&v[0], &alone[0]));
}

/// A long input decoded in chunks of 16 tokens gets the vector it gets in one decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_equals_whole() {
    let long = "Rust is a systems programming language focused on safety, speed and concurrency. ".repeat(6);
    let one = embed(&start(Pooling::Mean, 512, 512), &[&long]).await;
    let chunked = embed(&start(Pooling::Mean, 16, 512), &[&long, "a short one"]).await;
    let c = cosine(&one[0], &chunked[0]);
    assert!(c > 0.999, "mean pooling over chunks: {c}");
    // The last token's vector moves a little with the batch shape (llama.cpp's matrix kernels for
    // a 16-row and a 100-row batch round differently; measured 0.99956), far less than between texts.
    let last_one = embed(&start(Pooling::Last, 512, 512), &[&long, "another text entirely"]).await;
    let last_chunked = embed(&start(Pooling::Last, 16, 512), &[&long]).await;
    let same = cosine(&last_one[0], &last_chunked[0]);
    let other = cosine(&last_one[0], &last_one[1]);
    assert!(same > 0.999 && other < 0.99, "last pooling over chunks: {same}; another text: {other}");
}

/// CLS pooling takes the first token: on a causal model that is BOS, whatever follows; last pooling
/// differs per text; both differ from mean pooling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooling_kinds() {
    let items = ["first text about parsers", "second text about the sea"];
    let cls = embed(&start(Pooling::Cls, CHUNK, 512), &items).await;
    assert!(cosine(&cls[0], &cls[1]) > 0.999, "both start with BOS");
    let last = embed(&start(Pooling::Last, CHUNK, 512), &items).await;
    assert!(cosine(&last[0], &last[1]) < 0.999);
    let mean = embed(&start(Pooling::Mean, CHUNK, 512), &items).await;
    assert!(cosine(&mean[0], &last[0]) < 0.999 && cosine(&mean[0], &cls[0]) < 0.999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_checked() {
    let e = start(Pooling::Mean, CHUNK, 64);
    let err = |r: Result<Embedded, EngineError>| r.unwrap_err().to_string();
    let long = "word ".repeat(100);
    let m = err(e.embed(&model(), "test", texts(&["ok", &long])).await);
    assert!(m.contains("input[1]") && m.contains("at most 64 tokens"), "{m}");
    let m = err(e.embed(&model(), "test", texts(&[""])).await);
    assert!(m.contains("input[0] is an empty string"), "{m}");
    let tokens = |ids: Vec<u32>| EmbedRequest { inputs: vec![EmbedInput::Tokens(ids)], feature: "test" };
    let m = err(e.embed(&model(), "test", tokens(vec![2, 300_000])).await);
    assert!(m.contains("token id 300000"), "{m}");
    let many = EmbedRequest { inputs: vec![EmbedInput::Text("x".into()); MAX_INPUTS + 1], feature: "test" };
    assert!(err(e.embed(&model(), "test", many).await).contains("at most 2048"));
    // Token arrays embed like the text they spell.
    let ids: Vec<u32> = super::super::tokenize(&model(), "hello world").iter().map(|t| t.0 as u32).collect();
    let by_ids = e.embed(&model(), "test", tokens(ids)).await.unwrap();
    let by_text = embed(&e, &["hello world"]).await;
    assert!(cosine(&by_ids.vectors[0], &by_text[0]) > 0.999);
    assert_eq!(by_ids.prompt_tokens as usize, super::super::tokenize(&model(), "hello world").len());
}

/// Many requests at once: every answer matches the vector of its text asked alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_packed_and_answered_in_order() {
    let e = Arc::new(start(Pooling::Mean, CHUNK, 512));
    let words = ["alpha", "beta gamma", "delta epsilon zeta", "eta", "theta iota kappa lambda"];
    let mut alone = Vec::new();
    for w in words {
        alone.push(embed(&e, &[w]).await.remove(0));
    }
    let mut tasks = Vec::new();
    for i in 0..6 {
        let e = e.clone();
        let items: Vec<&str> = words.iter().cycle().skip(i).take(5).copied().collect();
        tasks.push(tokio::spawn(async move {
            let owned: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            (i, embed(&e, &refs).await)
        }));
    }
    for t in tasks {
        let (i, vectors) = t.await.unwrap();
        for (k, v) in vectors.iter().enumerate() {
            let c = cosine(v, &alone[(i + k) % words.len()]);
            assert!(c > 0.999, "request {i} input {k}: {c}");
        }
    }
}

/// A tiny BERT written for the test (random weights, letters as word pieces), loaded like any model.
fn load_bert(dir: &std::path::Path, pooling: u32, options: EmbedOptions) -> super::super::LlamaEngine {
    let path = dir.join(format!("bert-{pooling}.gguf"));
    bert::write(&path, pooling);
    let params = super::super::LoadParams {
        name: "tiny-bert".into(),
        path,
        ctx_size: 1024,
        parallel: 1,
        threads: 1,
        batch_size: 512,
        queue_depth: 8,
        queue_wait: std::time::Duration::from_secs(60),
        max_output_tokens: 0,
        prefix_reuse: false,
        speculation: Default::default(),
        mlock: false,
        gpu_layers: 0,
        stopping: Default::default(),
        embeddings: options,
    };
    super::super::LlamaEngine::load(params).unwrap()
}

/// An embeddings model: the GGUF's pooling, whole inputs up to its trained context, pooled by llama.cpp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embeddings_model_from_its_gguf() {
    use crate::engine::Engine;
    let dir = tempfile::tempdir().unwrap();
    let e = load_bert(dir.path(), 2, EmbedOptions::default());
    let info = e.embeddings().expect("an embeddings model embeds");
    assert_eq!((info.dimensions, info.pooling, info.max_input_tokens), (32, Pooling::Cls, bert::CONTEXT as u32));
    assert!(e.is_ready());

    let v = e.embed(texts(&["hello world", "the sea is calm", "hello world"])).await.unwrap();
    assert!(cosine(&v.vectors[0], &v.vectors[2]) > 0.99999);
    // Random weights keep [CLS] close to itself whatever follows (measured 0.994), but not equal.
    assert!(cosine(&v.vectors[0], &v.vectors[1]) < 0.999, "{}", cosine(&v.vectors[0], &v.vectors[1]));
    // [CLS] h ##e ##l ##l ##o w ##o ##r ##l ##d [SEP]: word pieces of single letters.
    assert_eq!(v.prompt_tokens, 12 + 14 + 12, "{v:?}");

    // 40 inputs in one request, packed into shared decodes: each as it is alone.
    let words: Vec<String> = (0..40).map(|i| format!("item {} of the list", "x".repeat(1 + i % 7))).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let packed = e.embed(texts(&refs)).await.unwrap().vectors;
    for i in [0, 13, 39] {
        let alone = e.embed(texts(&[refs[i]])).await.unwrap().vectors;
        assert!(cosine(&packed[i], &alone[0]) > 0.9999, "input {i}");
    }

    let long = "a ".repeat(bert::CONTEXT);
    let m = e.embed(texts(&[&long])).await.unwrap_err().to_string();
    assert!(m.contains("at most 64 tokens per input"), "{m}");

    // The admin's pooling wins over the GGUF's.
    let mean = load_bert(dir.path(), 2, EmbedOptions { allow: false, pooling: Some(Pooling::Mean) });
    assert_eq!(mean.embeddings().unwrap().pooling, Pooling::Mean);
    let m = mean.embed(texts(&["hello world"])).await.unwrap().vectors;
    assert!(cosine(&m[0], &v.vectors[0]) < 0.999, "mean and cls pooling differ");
    let gguf_mean = load_bert(dir.path(), 1, EmbedOptions::default());
    let g = gguf_mean.embed(texts(&["hello world"])).await.unwrap().vectors;
    assert!(cosine(&m[0], &g[0]) > 0.99999, "mean from the GGUF = mean by override");
}

/// Code chunks of very different lengths (3 to ~150 tokens), as GitLab's indexing sends them.
fn uneven_inputs() -> Vec<String> {
    let body = |n: usize| (0..n).map(|i| format!("    total += values[{i}] * {};\n", i * 7 % 13)).collect::<String>();
    vec![
        "hi".to_string(),
        "def f(x):\n    return x + 1\n".to_string(),
        format!("def weighted(values):\n    total = 0\n{}    return total\n", body(12)),
        format!("fn parse(line: &str) -> Option<u32> {{\n{}}}\n", body(7)),
        format!("class Stack:\n    def push(self, item):\n{}", body(10)),
    ]
}

/// A request's inputs come out as each does alone, however uneven their lengths. llama-server
/// breaks this with its default KV layout for several slots (non-unified): a micro-batch takes the
/// same number of tokens from every sequence, so a long input spans several, and its mean pooling
/// keeps only the last piece (cosines 0.59-0.89 against the input alone on the B10 bench).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uneven_inputs_together_equal_each_alone() {
    let e = start(Pooling::Mean, CHUNK, 1024);
    let inputs = uneven_inputs();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let lengths: Vec<usize> = inputs.iter().map(|s| super::super::tokenize(&model(), s).len()).collect();
    assert!(lengths[0] <= 3 && lengths[2] > CHUNK, "inputs shorter and longer than a chunk: {lengths:?}");
    let together = embed(&e, &refs).await;
    // llama.cpp's matrix kernels round a little differently for other batch shapes, which shows
    // most on short inputs (measured: 2 tokens 0.9986, 14 tokens 0.9994, longer ones 0.9999).
    for (i, text) in refs.iter().enumerate() {
        let alone = embed(&e, &[text]).await;
        let c = cosine(&together[i], &alone[0]);
        let floor = if lengths[i] < 32 { 0.998 } else { 0.9995 };
        assert!(c > floor, "input {i} ({} tokens): {c}", lengths[i]);
    }
    // and the inputs differ from one another
    assert!(cosine(&together[2], &together[4]) < 0.99);
}

/// Decodes stopped at the token vectors (no logits) give the vectors of full decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_before_the_logits_changes_no_vector() {
    let cut = start(Pooling::Mean, CHUNK, 1024);
    assert!(cut.skips_logits, "the default model's decodes stop at the token vectors");
    let limits = Limits { batch: CHUNK, seqs: 8, cells: 1024, whole: false };
    let setup = Setup { pooling: Pooling::Mean, only: false, limits, skip_logits: false };
    let full = Embedder::start(model(), super::super::backend().unwrap(), "full", setup, 1, 16).unwrap();
    assert!(!full.skips_logits);
    let inputs = uneven_inputs();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let (a, b) = (embed(&cut, &refs).await, embed(&full, &refs).await);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(cosine(x, y) > 0.99999, "input {i}: {}", cosine(x, y));
    }
}
