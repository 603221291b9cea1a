//! Embeddings on a llama.cpp model: a thread of its own owning an embeddings context beside the
//! generation slots (never inside them), packing the inputs of every queued request into shared
//! decodes ([`pack`]).
//!
//! An *embeddings model* (its GGUF declares a pooling type, or its architecture is an encoder)
//! embeds only: llama.cpp pools each input within one decode. A *generation model* embeds when
//! the admin allows it: its token vectors (the final norm's output) are pooled here, mean by
//! default, and a long input is decoded in chunks, so the context stays small. Its decodes stop at
//! the token vectors ([`cut`]): the vocabulary logits llama.cpp would compute for every token cost
//! more than the rest of a small model. llama.cpp still sizes (and copies into) an output buffer of
//! tokens × vocabulary × 4 bytes per decode, so the chunk bounds that memory: [`CHUNK`] tokens, with
//! at most [`CHUNKED_SEQS`] inputs in flight. Measured on Gemma 3 270M (262,144-token vocabulary,
//! 1,024-token context, 16 inputs of ~145 tokens): CPU time per input 661, 513, 511 and 489 ms and
//! the server's RSS 404, 436, 502 and 633 MiB with chunks of 32, 64, 128 and 256 tokens.

#[cfg(test)]
mod bert;
mod cut;
mod pack;

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use crate::engine::EngineError;
use crate::engine::embed::{EmbedInfo, EmbedInput, EmbedRequest, Embedded, Pooling, normalize};
use crate::engine::gguf::{GgufInfo, MetaValue};
use pack::InFlight;
pub(crate) use pack::Limits;

/// Tokens per decode when a generation model embeds (its inputs go in chunks of this size).
pub(super) const CHUNK: usize = 64;
/// Inputs in flight at once when a generation model embeds (llama.cpp sizes its output buffer for
/// at least this many rows).
const CHUNKED_SEQS: usize = 16;
/// Inputs packed into one decode of an embeddings model.
const SEQS: usize = 64;
/// Most inputs one request may carry (OpenAI's limit).
pub(super) const MAX_INPUTS: usize = 2048;

/// Architectures that are encoders: they embed and cannot generate.
const ENCODERS: &[&str] =
    &["bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "modern-bert", "neo-bert", "eurobert"];

/// What the admin chose for a model's embeddings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Let a generation model embed too (an embeddings model always does).
    pub allow: bool,
    /// Pooling instead of the GGUF's (an embeddings model) or mean (a generation model).
    pub pooling: Option<Pooling>,
}

/// How a model embeds, decided at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Setup {
    pub pooling: Pooling,
    /// An embeddings model: llama.cpp pools whole inputs, and the model does not generate.
    pub only: bool,
    pub limits: Limits,
    /// A generation model: stop its decodes at the token vectors, before the logits ([`cut`]).
    pub skip_logits: bool,
}

/// Whether and how the model at `header` embeds. `context` is the per-request context the model
/// was given, `trained` the context it was trained for.
pub(super) fn setup(
    header: &GgufInfo,
    options: EmbedOptions,
    context: u32,
    trained: u32,
) -> Result<Option<Setup>, EngineError> {
    let arch = header.architecture().unwrap_or_default();
    let declared = match header.metadata.get(&format!("{arch}.pooling_type")) {
        Some(MetaValue::U64(v)) => Some(*v),
        Some(MetaValue::I64(v)) => u64::try_from(*v).ok(),
        _ => None,
    };
    let encoder = ENCODERS.contains(&arch);
    if declared == Some(4) {
        return Err(EngineError::InvalidRequest(format!(
            "{arch} model declares rank pooling: it is a reranker, which airgate does not serve"
        )));
    }
    let gguf_pooling = declared.and_then(Pooling::from_gguf);
    if gguf_pooling.is_some() || encoder {
        let pooling = options.pooling.or(gguf_pooling).unwrap_or(Pooling::Cls);
        let max_input = context.min(trained.max(1)) as usize;
        let limits = Limits { batch: max_input, seqs: SEQS, cells: max_input, whole: true };
        return Ok(Some(Setup { pooling, only: true, limits, skip_logits: false }));
    }
    if !options.allow {
        return Ok(None);
    }
    let limits = Limits { batch: CHUNK, seqs: CHUNKED_SEQS, cells: context as usize, whole: false };
    let pooling = options.pooling.unwrap_or(Pooling::Mean);
    Ok(Some(Setup { pooling, only: false, limits, skip_logits: true }))
}

/// One request's inputs, tokenized and checked against the limits.
pub(super) struct Job {
    pub inputs: Vec<Vec<LlamaToken>>,
    pub reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
    pub feature: &'static str,
    pub span: tracing::Span,
}

/// The handle on a model's embeddings thread.
pub(super) struct Embedder {
    jobs: std_mpsc::SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    pub info: EmbedInfo,
    /// Decodes stop before the logits (checked at start: see [`cut`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub skips_logits: bool,
    name: String,
    queue_depth: usize,
}

impl Embedder {
    /// Creates the embeddings context on a thread of its own and warms it up. Blocking.
    pub fn start(
        model: Arc<LlamaModel>,
        backend: &'static LlamaBackend,
        name: &str,
        setup: Setup,
        threads: u32,
        queue_depth: usize,
    ) -> Result<Embedder, EngineError> {
        let info = EmbedInfo {
            dimensions: model.n_embd_out().max(0) as u32,
            pooling: setup.pooling,
            max_input_tokens: setup.limits.max_input() as u32,
            max_inputs: MAX_INPUTS as u32,
        };
        let (jobs, rx) = std_mpsc::sync_channel(queue_depth.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = std_mpsc::channel();
        let worker =
            Worker { model, backend, setup, threads, name: name.to_string(), jobs: rx, queued: queued.clone() };
        std::thread::Builder::new()
            .name(format!("embed-{name}"))
            .spawn(move || {
                crate::sys::set_thread_nice(crate::sys::COMPUTE_NICE);
                worker.run(started_tx)
            })
            .map_err(|e| EngineError::Internal(format!("cannot start the embeddings thread: {e}")))?;
        match started_rx.recv() {
            Ok(Ok(skips_logits)) => {
                tracing::debug!(model = name, skips_logits, "embeddings thread ready");
                Ok(Embedder { jobs, queued, info, skips_logits, name: name.to_string(), queue_depth })
            }
            Ok(Err(message)) => Err(EngineError::Internal(message)),
            Err(_) => Err(EngineError::Internal("the embeddings thread stopped while starting".into())),
        }
    }

    /// Queues a job; a full queue is [`EngineError::QueueFull`].
    pub fn submit(&self, job: Job) -> Result<(), EngineError> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                match err {
                    std_mpsc::TrySendError::Full(_) => {
                        metrics::counter!(crate::metrics::QUEUE_REJECTED, "model" => self.name.clone()).increment(1);
                        Err(EngineError::QueueFull { model: self.name.clone(), depth: self.queue_depth })
                    }
                    std_mpsc::TrySendError::Disconnected(_) => Err(EngineError::Unavailable(self.name.clone())),
                }
            }
        }
    }

    /// Tokenizes and checks the inputs (on a blocking thread), queues them and waits for the vectors.
    pub async fn embed(&self, model: &Arc<LlamaModel>, name: &str, req: EmbedRequest) -> Result<Embedded, EngineError> {
        if req.inputs.len() > MAX_INPUTS {
            return Err(EngineError::InvalidRequest(format!(
                "input has {} items; at most {MAX_INPUTS} are embedded per request",
                req.inputs.len()
            )));
        }
        let (model, name_owned, max) = (model.clone(), name.to_string(), self.info.max_input_tokens as usize);
        let inputs = tokio::task::spawn_blocking(move || tokens_of(&model, &name_owned, req.inputs, max))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        let prompt_tokens = inputs.iter().map(Vec::len).sum::<usize>() as u32;
        let (reply, answer) = oneshot::channel();
        self.submit(Job { inputs, reply, feature: req.feature, span: tracing::Span::current() })?;
        let vectors =
            answer.await.map_err(|_| EngineError::Unavailable(name.to_string()))?.map_err(EngineError::Internal)?;
        Ok(Embedded { vectors, prompt_tokens })
    }

    /// Requests waiting for the embeddings thread.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// The inputs as token ids of the model: texts tokenized as the model expects them (BOS and
/// special tokens as for a prompt), token arrays checked against the vocabulary. Every input must be
/// 1 to `max` tokens long.
fn tokens_of(
    model: &LlamaModel,
    name: &str,
    inputs: Vec<EmbedInput>,
    max: usize,
) -> Result<Vec<Vec<LlamaToken>>, EngineError> {
    let n_vocab = model.n_vocab().max(0) as u32;
    let bad = |message: String| Err(EngineError::InvalidRequest(message));
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let tokens = match input {
            EmbedInput::Text(text) if text.is_empty() => return bad(format!("input[{i}] is an empty string")),
            EmbedInput::Text(text) => super::tokenize(model, &text),
            EmbedInput::Tokens(ids) if ids.is_empty() => return bad(format!("input[{i}] is an empty token array")),
            EmbedInput::Tokens(ids) => match ids.iter().find(|&&t| t >= n_vocab) {
                Some(t) => return bad(format!("input[{i}] has token id {t}, but model `{name}` has {n_vocab} tokens")),
                None => ids.into_iter().map(|t| LlamaToken(t as i32)).collect(),
            },
        };
        if tokens.len() > max {
            return bad(format!(
                "input[{i}] is {} tokens, but model `{name}` embeds at most {max} tokens per input",
                tokens.len()
            ));
        }
        out.push(tokens);
    }
    Ok(out)
}

struct Worker {
    model: Arc<LlamaModel>,
    backend: &'static LlamaBackend,
    setup: Setup,
    threads: u32,
    name: String,
    jobs: std_mpsc::Receiver<Job>,
    queued: Arc<AtomicUsize>,
}

/// One input waiting or in flight.
struct Input {
    job: u64,
    index: usize,
    tokens: Vec<LlamaToken>,
}

/// An input being decoded: its sequence and what its token vectors add up to so far.
struct Running {
    input: Input,
    seq: i32,
    fed: usize,
    pooled: Option<Vec<f32>>,
    sum: Vec<f64>,
    /// A token vector could not be read: the input fails.
    broken: bool,
}

/// A request whose inputs are not all embedded yet.
struct Pending {
    vectors: Vec<Option<Vec<f32>>>,
    left: usize,
    tokens: usize,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
    feature: &'static str,
    span: tracing::Span,
    started: Instant,
}

impl Worker {
    fn run(self, started: std_mpsc::Sender<Result<bool, String>>) {
        let Limits { batch, seqs, cells, .. } = self.setup.limits;
        let pooling = if self.setup.only {
            match self.setup.pooling {
                Pooling::Mean => LlamaPoolingType::Mean,
                Pooling::Cls => LlamaPoolingType::Cls,
                Pooling::Last => LlamaPoolingType::Last,
            }
        } else {
            // Token vectors come out as they are; pooling happens here.
            LlamaPoolingType::None
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(cells as u32))
            .with_n_batch(batch as u32)
            .with_n_ubatch(batch as u32)
            .with_n_seq_max(seqs as u32)
            .with_n_threads(self.threads as i32)
            .with_n_threads_batch(self.threads as i32)
            .with_embeddings(true)
            .with_pooling_type(pooling)
            .with_kv_unified(true);
        // Declared before the context, so it outlives it (the context's callback reads it).
        let cut = cut::Cut::new();
        let params = if self.setup.skip_logits { cut.install(params) } else { params };
        let mut ctx = match self.model.new_context(self.backend, params) {
            Ok(ctx) => ctx,
            Err(e) => {
                let _ = started.send(Err(format!("cannot create an embeddings context of {cells} tokens: {e}")));
                return;
            }
        };
        if let Err(e) = self.warm_up(&mut ctx, &cut) {
            let _ = started.send(Err(format!("embeddings warm-up failed: {e}")));
            return;
        }
        let _ = started.send(Ok(cut.is_on()));
        self.serve(&mut ctx);
        tracing::debug!("embeddings thread stopped");
    }

    /// A short input through the whole path, so the first request does not pay for setup. For a
    /// generation model, twice: in full, then stopped at the token vectors ([`cut`]); the shortcut
    /// stays on only if both give the same vectors.
    fn warm_up(&self, ctx: &mut LlamaContext<'_>, cut: &cut::Cut) -> Result<(), String> {
        if self.setup.only {
            let mut batch = LlamaBatch::new(1, 1);
            batch.add(self.model.vocab().bos(), 0, &[0], true).map_err(|e| e.to_string())?;
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            ctx.embeddings_seq_ith(0).map_err(|e| e.to_string())?;
            let _ = ctx.clear_kv_cache_seq(None, None, None);
            return Ok(());
        }
        let mut tokens = super::tokenize(&self.model, "fn warm_up(x: u32) -> u32 { x + 1 }");
        tokens.truncate(self.setup.limits.batch.min(self.setup.limits.cells));
        let vectors = |ctx: &mut LlamaContext<'_>| -> Result<Vec<f32>, String> {
            let mut batch = LlamaBatch::new(tokens.len(), 1);
            for (pos, token) in tokens.iter().enumerate() {
                batch.add(*token, pos as i32, &[0], true).map_err(|e| e.to_string())?;
            }
            ctx.decode(&mut batch).map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for i in 0..tokens.len() {
                all.extend_from_slice(ctx.embeddings_ith(i as i32).map_err(|e| e.to_string())?);
            }
            let _ = ctx.clear_kv_cache_seq(None, None, None);
            Ok(all)
        };
        let full = vectors(ctx)?;
        if !self.setup.skip_logits {
            return Ok(());
        }
        cut.set(true);
        let cut_short = vectors(ctx)?;
        let same = full.len() == cut_short.len() && full.iter().zip(&cut_short).all(|(a, b)| (a - b).abs() <= 1e-4);
        cut.set(same);
        if !same {
            tracing::warn!(model = %self.name, "embeddings: stopping before the logits changes the vectors; logits stay on");
        }
        Ok(())
    }

    fn serve(&self, ctx: &mut LlamaContext<'_>) {
        let limits = self.setup.limits;
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        let mut waiting: VecDeque<Input> = VecDeque::new();
        let mut running: Vec<Running> = Vec::new();
        let mut free: Vec<i32> = (0..limits.seqs as i32).rev().collect();
        let mut next_job = 0u64;
        let mut batch = LlamaBatch::new(limits.batch, 1);
        loop {
            // Block only when there is nothing to do.
            if running.is_empty() && waiting.is_empty() {
                match self.jobs.recv() {
                    Ok(job) => self.accept(job, &mut next_job, &mut pending, &mut waiting),
                    Err(_) => return,
                }
            }
            while let Ok(job) = self.jobs.try_recv() {
                self.accept(job, &mut next_job, &mut pending, &mut waiting);
            }
            // Requests whose client went away.
            pending.retain(|_, p| !p.reply.is_closed());
            waiting.retain(|i| pending.contains_key(&i.job));
            running.retain(|r| {
                let keep = pending.contains_key(&r.input.job);
                if !keep {
                    let _ = ctx.clear_kv_cache_seq(Some(r.seq as u32), None, None);
                    free.push(r.seq);
                }
                keep
            });

            let flight: Vec<InFlight> =
                running.iter().map(|r| InFlight { len: r.input.tokens.len(), fed: r.fed }).collect();
            let lengths: Vec<usize> = waiting.iter().map(|i| i.tokens.len()).collect();
            let step = pack::step(&flight, &lengths, limits);
            for input in waiting.drain(..step.start) {
                let seq = free.pop().expect("the plan starts no more inputs than there are sequences");
                running.push(Running { input, seq, fed: 0, pooled: None, sum: Vec::new(), broken: false });
            }
            if step.take.is_empty() {
                // Only an input the plan can never start is left (the engine refuses those up front).
                if let Some(input) = waiting.pop_front() {
                    fail(&mut pending, input.job, "the input does not fit the embeddings context".into());
                }
                continue;
            }

            batch.clear();
            for (i, range) in &step.take {
                let r = &running[*i];
                for pos in range.clone() {
                    if let Err(e) = batch.add(r.input.tokens[pos], pos as i32, &[r.seq], true) {
                        tracing::error!(error = %e, "embeddings batch overflow");
                    }
                }
            }
            if let Err(e) = ctx.decode(&mut batch) {
                tracing::error!(error = %e, "embeddings decode failed");
                for r in running.drain(..) {
                    let _ = ctx.clear_kv_cache_seq(Some(r.seq as u32), None, None);
                    free.push(r.seq);
                    fail(&mut pending, r.input.job, format!("decode failed: {e}"));
                }
                continue;
            }
            self.read(ctx, &step.take, &mut running);

            // Finished inputs leave their sequence; finished requests get their answer.
            let mut still = Vec::with_capacity(running.len());
            for r in running.drain(..) {
                if r.fed < r.input.tokens.len() {
                    still.push(r);
                    continue;
                }
                let _ = ctx.clear_kv_cache_seq(Some(r.seq as u32), None, None);
                free.push(r.seq);
                let vector = if r.broken {
                    Err("llama.cpp returned no vector for a token of the input".to_string())
                } else {
                    self.finish(r.pooled, r.sum, r.input.tokens.len())
                };
                deliver(&self.name, &mut pending, r.input.job, r.input.index, vector);
            }
            running = still;
        }
    }

    fn accept(&self, job: Job, next: &mut u64, pending: &mut HashMap<u64, Pending>, waiting: &mut VecDeque<Input>) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        let id = *next;
        *next += 1;
        let count = job.inputs.len();
        let tokens = job.inputs.iter().map(Vec::len).sum();
        if count == 0 {
            let _ = job.reply.send(Ok(Vec::new()));
            return;
        }
        pending.insert(
            id,
            Pending {
                vectors: vec![None; count],
                left: count,
                tokens,
                reply: job.reply,
                feature: job.feature,
                span: job.span,
                started: Instant::now(),
            },
        );
        waiting.extend(job.inputs.into_iter().enumerate().map(|(index, tokens)| Input { job: id, index, tokens }));
    }

    /// Takes the decoded vectors: the pooled one per finished input (llama.cpp pooled), or each
    /// token's (pooled here).
    fn read(&self, ctx: &LlamaContext<'_>, take: &[(usize, std::ops::Range<usize>)], running: &mut [Running]) {
        let mut at = 0i32;
        for (i, range) in take {
            let r = &mut running[*i];
            let len = r.input.tokens.len();
            if self.setup.only {
                r.pooled = ctx.embeddings_seq_ith(r.seq).ok().map(<[f32]>::to_vec);
                at += range.len() as i32;
            } else {
                for pos in range.clone() {
                    let Ok(v) = ctx.embeddings_ith(at) else {
                        r.broken = true;
                        at += 1;
                        continue;
                    };
                    at += 1;
                    match self.setup.pooling {
                        Pooling::Mean => {
                            if r.sum.is_empty() {
                                r.sum = vec![0.0; v.len()];
                            }
                            for (s, x) in r.sum.iter_mut().zip(v) {
                                *s += f64::from(*x);
                            }
                        }
                        Pooling::Cls if pos == 0 => r.pooled = Some(v.to_vec()),
                        Pooling::Last if pos + 1 == len => r.pooled = Some(v.to_vec()),
                        _ => {}
                    }
                }
            }
            r.fed = range.end;
        }
    }

    /// The input's vector, unit length.
    fn finish(&self, pooled: Option<Vec<f32>>, sum: Vec<f64>, len: usize) -> Result<Vec<f32>, String> {
        let mut v = match pooled {
            Some(v) => v,
            None if !sum.is_empty() => sum.iter().map(|s| (s / len.max(1) as f64) as f32).collect(),
            None => return Err("llama.cpp returned no embedding for the input".into()),
        };
        normalize(&mut v);
        Ok(v)
    }
}

/// Files one input's vector; answers the request once all its inputs are in.
fn deliver(model: &str, pending: &mut HashMap<u64, Pending>, job: u64, index: usize, vector: Result<Vec<f32>, String>) {
    let vector = match vector {
        Ok(v) => v,
        Err(e) => return fail(pending, job, e),
    };
    let Some(p) = pending.get_mut(&job) else { return };
    p.vectors[index] = Some(vector);
    p.left -= 1;
    if p.left > 0 {
        return;
    }
    let p = pending.remove(&job).expect("present above");
    let labels = [("model", model.to_string()), ("feature", p.feature.to_string())];
    metrics::counter!(crate::metrics::EMBEDDING_INPUTS, &labels).increment(p.vectors.len() as u64);
    metrics::counter!(crate::metrics::EMBEDDING_TOKENS, &labels).increment(p.tokens as u64);
    metrics::histogram!(crate::metrics::EMBEDDING_SECONDS, &labels).record(p.started.elapsed().as_secs_f64());
    p.span.in_scope(|| tracing::debug!(inputs = p.vectors.len(), tokens = p.tokens, "embedded"));
    let _ = p.reply.send(Ok(p.vectors.into_iter().map(Option::unwrap_or_default).collect()));
}

/// Answers the request with an error and forgets it (its other inputs are skipped).
fn fail(pending: &mut HashMap<u64, Pending>, job: u64, message: String) {
    if let Some(p) = pending.remove(&job) {
        p.span.in_scope(|| tracing::error!(error = %message, "embedding failed"));
        let _ = p.reply.send(Err(message));
    }
}

#[cfg(test)]
mod tests;
