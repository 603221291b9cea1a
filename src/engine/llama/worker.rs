//! The model thread: owns the llama context, assigns requests to sequence slots and decodes every active slot in one batch per step.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use tokio::sync::{mpsc, oneshot};

use super::plan::Plan;
use super::sample::{build_sampler, constrained};
use super::schedule::{self, Waiting};
use super::speculate;
use crate::engine::repeat::{GuardConfig, RepeatGuard};
use crate::engine::stop::StopMatcher;
use crate::engine::{Event, FinishReason, SamplingParams, Usage};
use ending::{cut_at_shutdown, drop_cancelled, finish, take_utf8};

mod ending;

/// Shortest cached prefix worth reusing.
const MIN_REUSE: usize = 32;

/// The largest batch of one long prompt, evaluated between two generation steps: this bounds how
/// long other slots' streams wait for a long prompt. [`plan`](super::plan) decides where batches
/// start and end, [`schedule`] which prompts go next.
const PROMPT_CHUNK: usize = 128;

/// One request, tokenized and fitted to the context.
pub(super) struct Job {
    pub tokens: Vec<LlamaToken>,
    pub max_tokens: u32,
    pub truncated: u32,
    pub sampling: SamplingParams,
    /// Holds the output to a grammar (taken into the slot's state when the job starts).
    pub grammar: Option<LlamaSampler>,
    /// Special tokens whose text the output shows.
    pub special: Vec<LlamaToken>,
    pub stop: Vec<String>,
    /// Stop the generation when it starts repeating itself ([`RepeatGuard`]).
    pub repetition_guard: bool,
    pub ignore_eos: bool,
    /// Most draft tokens (from the prompt, [`speculate`]) a step verifies; 0: no speculation.
    pub max_draft: usize,
    pub deadline: Option<Instant>,
    /// The GitLab feature (or API surface) the request serves: a metrics label.
    pub feature: &'static str,
    pub events: mpsc::Sender<Event>,
    /// Fired when a slot takes the job: `generate` answers then ([`Queue::submit`](super::queue::Queue::submit)).
    pub admit: Option<oneshot::Sender<()>>,
    pub enqueued: Instant,
    /// The request's span: what the model thread logs about this request carries its correlation id.
    pub span: tracing::Span,
}

pub(super) struct Worker {
    /// The model's name: the metrics label.
    pub name: String,
    pub model: Arc<LlamaModel>,
    pub backend: &'static LlamaBackend,
    pub ctx_per_slot: u32,
    pub slots: u32,
    pub threads: u32,
    pub batch_size: u32,
    pub prefix_reuse: bool,
    /// The KV cache's element type ([`speculate`] says why BF16 on the CPU).
    pub kv_type: KvCacheType,
    pub jobs: std_mpsc::Receiver<Job>,
    pub queued: Arc<AtomicUsize>,
    pub ready: Arc<AtomicBool>,
    pub stopping: super::Stopping,
}

/// A request occupying a slot.
struct Running {
    job: Job,
    sampler: LlamaSampler,
    grammar: Option<LlamaSampler>,
    /// The candidate buffer constrained sampling reuses (one entry per vocabulary token).
    candidates: Vec<LlamaTokenData>,
    /// Prompt tokens already in the KV cache.
    evaluated: usize,
    cached_tokens: usize,
    /// The last sampled token, not yet fed to the model.
    next: Option<LlamaToken>,
    /// The draft tokens fed after `next` in the current batch, awaiting verification.
    drafted: Vec<LlamaToken>,
    /// Draft tokens verified so far, and how many of them the model confirmed.
    draft_tokens: u32,
    draft_accepted: u32,
    generated: u32,
    pending_bytes: Vec<u8>,
    stop: StopMatcher,
    guard: Option<RepeatGuard>,
    /// Index in the current batch whose logits belong to this slot.
    logits_at: Option<i32>,
    started: Instant,
    first_token: Option<Instant>,
}

struct Slot {
    seq: i32,
    /// Tokens whose keys and values this sequence holds, in position order.
    cached: Vec<LlamaToken>,
    /// How many of `cached`, from the start, were evaluated as prompt (not generated one by one).
    prompt_cached: usize,
    /// The length of the prompt last assigned: its [`Plan`] laid out the batches that are cached.
    prompt_len: usize,
    running: Option<Running>,
}

impl Worker {
    /// Creates the context, warms it up, reports back on `started`, then serves jobs until the engine is dropped.
    pub fn run(self, started: std_mpsc::Sender<Result<(), String>>) {
        // Before llama.cpp starts its compute threads: they inherit it.
        crate::sys::set_thread_nice(crate::sys::COMPUTE_NICE);
        let n_ctx = self.ctx_per_slot.saturating_mul(self.slots);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(self.batch_size)
            .with_n_ubatch(self.batch_size)
            .with_n_seq_max(self.slots)
            .with_n_threads(self.threads as i32)
            .with_n_threads_batch(self.threads as i32)
            .with_swa_full(true)
            .with_kv_unified(false)
            .with_type_k(self.kv_type)
            .with_type_v(self.kv_type);
        let mut ctx = match self.model.new_context(self.backend, params) {
            Ok(ctx) => ctx,
            Err(e) => {
                let _ = started.send(Err(format!("cannot create a llama context of {n_ctx} tokens: {e}")));
                return;
            }
        };
        if let Err(e) = warm_up(&self.model, &mut ctx) {
            let _ = started.send(Err(format!("warm-up failed: {e}")));
            return;
        }
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only returns free heap pages to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
        metrics::gauge!(crate::metrics::SLOTS, "model" => self.name.clone()).set(f64::from(self.slots));
        metrics::gauge!(crate::metrics::KV_CACHE_CAPACITY, "model" => self.name.clone()).set(f64::from(n_ctx));
        self.ready.store(true, Ordering::Release);
        let _ = started.send(Ok(()));
        self.serve(&mut ctx);
        tracing::debug!("model thread stopped");
    }

    fn serve(&self, ctx: &mut LlamaContext<'_>) {
        let mut slots: Vec<Slot> = (0..self.slots as i32)
            .map(|seq| Slot { seq, cached: Vec::new(), prompt_cached: 0, prompt_len: 0, running: None })
            .collect();
        let mut batch = LlamaBatch::new(self.batch_size as usize, 1);
        loop {
            if !self.intake(ctx, &mut slots) {
                return;
            }
            drop_cancelled(&self.name, &mut slots);
            if self.stopping.is_stopped() {
                cut_at_shutdown(&self.name, &mut slots);
            }
            self.record_slots(&slots);
            // Prompt batches first ([`schedule`]), each decoded alone: every short prompt and one batch
            // of the oldest long prompt, up to a full batch of tokens; then one generation step
            // carries every stream.
            let mut prompt_step = false;
            let mut budget = self.batch_size as usize;
            let mut long_chunk = true;
            loop {
                batch.clear();
                let Some(long) = self.fill_prompt(&mut slots, &mut batch, budget, long_chunk) else {
                    break;
                };
                long_chunk &= !long;
                budget -= batch.n_tokens() as usize;
                if !self.decode(ctx, &mut batch, &mut slots) {
                    break;
                }
                prompt_step = true;
            }
            batch.clear();
            self.fill_generation(&mut slots, &mut batch);
            let generation_step = batch.n_tokens() > 0 && self.decode(ctx, &mut batch, &mut slots);
            if !prompt_step && !generation_step && slots.iter().any(|s| s.running.is_some()) {
                // Every active client is behind on reading its stream: give them a moment.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// The batch plan: chunks of [`PROMPT_CHUNK`], or of the batch size when that is smaller.
    fn plan(&self) -> Plan {
        Plan::new(PROMPT_CHUNK.min(self.batch_size as usize))
    }

    /// Slot and KV-cache gauges, once per step.
    fn record_slots(&self, slots: &[Slot]) {
        let busy = slots.iter().filter(|s| s.running.is_some()).count();
        let cached: usize = slots.iter().map(|s| s.cached.len()).sum();
        metrics::gauge!(crate::metrics::SLOTS_BUSY, "model" => self.name.clone()).set(busy as f64);
        metrics::gauge!(crate::metrics::KV_CACHE_TOKENS, "model" => self.name.clone()).set(cached as f64);
    }

    /// Decodes the batch and samples every slot that has logits in it. False when the decode failed
    /// (the affected requests are told and their slots freed).
    fn decode(&self, ctx: &mut LlamaContext<'_>, batch: &mut LlamaBatch, slots: &mut [Slot]) -> bool {
        if let Err(e) = ctx.decode(batch) {
            tracing::error!(error = %e, "llama decode failed");
            for slot in slots.iter_mut().filter(|s| s.running.is_some()) {
                let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
                slot.cached.clear();
                slot.prompt_cached = 0;
                if let Some(run) = slot.running.take() {
                    run.job
                        .span
                        .in_scope(|| tracing::warn!(generated = run.generated, "request ended by the failed decode"));
                    let _ = run.job.events.try_send(Event::Failed(format!("decode failed: {e}")));
                }
            }
            return false;
        }
        for slot in slots.iter_mut() {
            let rejected = self.sample(ctx, slot);
            if rejected > 0 {
                // The draft tokens after the first the model disagreed with leave the cache.
                let from = slot.cached.len() - rejected;
                if !matches!(ctx.clear_kv_cache_seq(Some(slot.seq as u32), Some(from as u32), None), Ok(true)) {
                    let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
                    slot.cached.clear();
                    slot.prompt_cached = 0;
                    if let Some(run) = slot.running.take() {
                        let _ = run.job.events.try_send(Event::Failed("the KV cache refused a removal".into()));
                    }
                } else {
                    slot.cached.truncate(from);
                }
            }
        }
        true
    }

    /// Moves queued jobs into free slots. Blocks when nothing is running. False when the engine is gone.
    fn intake(&self, ctx: &mut LlamaContext<'_>, slots: &mut [Slot]) -> bool {
        while slots.iter().any(|s| s.running.is_none()) {
            let busy = slots.iter().any(|s| s.running.is_some());
            let mut job = if busy {
                match self.jobs.try_recv() {
                    Ok(job) => job,
                    Err(std_mpsc::TryRecvError::Empty) => return true,
                    Err(std_mpsc::TryRecvError::Disconnected) => return true,
                }
            } else {
                match self.jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return false,
                }
            };
            self.queued.fetch_sub(1, Ordering::AcqRel);
            if job.events.is_closed() {
                job.span.in_scope(|| tracing::info!(generated = 0, "client went away; generation cancelled"));
                metrics::counter!(crate::metrics::REQUESTS_CANCELLED, "model" => self.name.clone(), "feature" => job.feature)
                    .increment(1);
                continue;
            }
            if job.deadline.is_some_and(|d| Instant::now() >= d) {
                let waited = job.enqueued.elapsed();
                job.span.in_scope(|| {
                    tracing::warn!(waited_ms = waited.as_millis() as u64, "request expired in the queue; dropped unrun")
                });
                let _ = job.events.try_send(Event::Expired { waited });
                metrics::counter!(crate::metrics::REQUESTS_EXPIRED, "model" => self.name.clone(), "feature" => job.feature)
                    .increment(1);
                continue;
            }
            if let Some(admit) = job.admit.take() {
                let _ = admit.send(());
            }
            let slot = best_slot(slots, &job.tokens);
            metrics::histogram!(crate::metrics::QUEUE_WAIT, "model" => self.name.clone(), "feature" => job.feature)
                .record(job.enqueued.elapsed().as_secs_f64());
            assign(ctx, &self.model, slot, job, self.plan(), self.prefix_reuse);
        }
        true
    }

    /// The next token of every generating slot whose client keeps up, and the draft tokens after it
    /// when one slot generates alone and speculates ([`speculate`]: the batch stays within the rows
    /// whose logits equal those of decoding one token at a time).
    fn fill_generation(&self, slots: &mut [Slot], batch: &mut LlamaBatch) {
        let generating = slots
            .iter()
            .filter_map(|s| s.running.as_ref())
            .filter(|r| r.next.is_some() && r.job.events.capacity() >= 2)
            .count();
        for slot in slots.iter_mut() {
            let Some(run) = slot.running.as_mut() else { continue };
            let Some(token) = run.next else { continue };
            if batch.n_tokens() as usize >= self.batch_size as usize || run.job.events.capacity() < 2 {
                continue;
            }
            let at = batch.n_tokens();
            if batch.add(token, slot.cached.len() as i32, &[slot.seq], true).is_err() {
                continue;
            }
            slot.cached.push(token);
            run.next = None;
            run.logits_at = Some(at);
            if generating == 1 && run.job.max_draft > 0 {
                let room = (self.batch_size as usize - batch.n_tokens() as usize)
                    .min(run.job.max_tokens.saturating_sub(run.generated + 1) as usize)
                    .min((self.ctx_per_slot as usize).saturating_sub(slot.cached.len() + 2))
                    .min(run.job.events.capacity() - 2)
                    .min(run.job.max_draft);
                let draft = speculate::draft(&slot.cached, room);
                for &token in &draft {
                    if batch.add(token, slot.cached.len() as i32, &[slot.seq], true).is_err() {
                        break;
                    }
                    slot.cached.push(token);
                    run.drafted.push(token);
                }
                run.draft_tokens += run.drafted.len() as u32;
            }
        }
    }

    /// Fills `batch` with the next prompt batch ([`schedule::pick`]) of at most `budget` tokens.
    /// `Some(long)` when a batch was added (`long`: of a long prompt).
    fn fill_prompt(
        &self,
        slots: &mut [Slot],
        batch: &mut LlamaBatch,
        budget: usize,
        long_allowed: bool,
    ) -> Option<bool> {
        let plan = self.plan();
        // Slots whose prompt is not evaluated yet and whose client keeps up with its stream.
        let (indices, waiting): (Vec<usize>, Vec<Waiting>) = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let run =
                    s.running.as_ref().filter(|r| r.evaluated < r.job.tokens.len() && r.job.events.capacity() >= 2)?;
                let (len, at) = (run.job.tokens.len(), run.evaluated);
                Some((
                    i,
                    Waiting { remaining: len - at, next_batch: plan.next_batch(at, len) - at, since: run.started },
                ))
            })
            .unzip();
        let (index, long) = schedule::pick(&waiting, plan.chunk(), budget, long_allowed)?;
        let slot = &mut slots[indices[index]];
        let run = slot.running.as_mut().expect("waiting slots run");
        let end = run.evaluated + waiting[index].next_batch;
        for i in run.evaluated..end {
            let last = i + 1 == run.job.tokens.len();
            if batch.add(run.job.tokens[i], slot.cached.len() as i32, &[slot.seq], last).is_err() {
                break;
            }
            slot.cached.push(run.job.tokens[i]);
            if last {
                run.logits_at = Some(batch.n_tokens() - 1);
            }
        }
        run.evaluated = slot.cached.len();
        slot.prompt_cached = slot.cached.len();
        Some(long)
    }

    /// Samples the slot's next token if the last decode produced its logits, and streams the text;
    /// with draft tokens in the batch, goes on row by row while the sampled token confirms the
    /// draft. Returns how many draft tokens were not confirmed (their cache entries must go).
    fn sample(&self, ctx: &LlamaContext<'_>, slot: &mut Slot) -> usize {
        let Some(run) = slot.running.as_mut() else { return 0 };
        let Some(first) = run.logits_at.take() else { return 0 };
        let drafted = std::mem::take(&mut run.drafted);
        let mut confirmed = 0;
        for (row, at) in (first..).take(drafted.len() + 1).enumerate() {
            let Some(token) = self.sample_row(ctx, slot, at, drafted.len() - row) else { break };
            let Some(run) = slot.running.as_mut() else { break };
            if drafted.get(row) == Some(&token) {
                confirmed += 1;
                run.draft_accepted += 1;
            } else {
                run.next = Some(token);
                break;
            }
        }
        drafted.len() - confirmed
    }

    /// Samples one row of the last batch for the slot and streams its text; `unverified` draft
    /// tokens follow the row's in the cache. The token when the request goes on (not yet fed to the
    /// model), `None` when it finished.
    fn sample_row(&self, ctx: &LlamaContext<'_>, slot: &mut Slot, idx: i32, unverified: usize) -> Option<LlamaToken> {
        let run = slot.running.as_mut()?;
        let token = match run.grammar.as_mut() {
            None => Some(run.sampler.sample(ctx, idx)),
            Some(grammar) => constrained(ctx, idx, &mut run.sampler, grammar, &mut run.candidates),
        };
        let Some(token) = token else {
            run.job.span.in_scope(|| tracing::warn!("the output grammar allows no next token: request ended"));
            finish(&self.name, slot, FinishReason::Stop);
            return None;
        };
        let vocab = self.model.vocab();
        if let Some(grammar) = run.grammar.as_mut()
            && (!vocab.is_eog(token) || run.job.ignore_eos)
            && grammar.try_accept(token).is_err()
        {
            // llama.cpp refused its own choice; the rest of the answer goes unconstrained.
            run.job.span.in_scope(|| tracing::warn!("the output grammar broke; generating unconstrained"));
            run.grammar = None;
        }
        let now = Instant::now();
        run.first_token.get_or_insert(now);
        if vocab.is_eog(token) && !run.job.ignore_eos {
            finish(&self.name, slot, FinishReason::Stop);
            return None;
        }
        run.generated += 1;
        let cycle = run.guard.as_mut().and_then(|g| g.push(token.0 as u32));
        let special = run.job.special.contains(&token);
        run.pending_bytes.extend(vocab.token_to_piece(token, special, None));
        let text = take_utf8(&mut run.pending_bytes);
        let pushed = run.stop.push(&text);
        if !pushed.emit.is_empty() {
            let _ = run.job.events.try_send(Event::Text(pushed.emit));
        }
        if pushed.stopped {
            run.pending_bytes.clear();
            run.stop = StopMatcher::default();
            finish(&self.name, slot, FinishReason::Stop);
        } else if let Some(cycle) = cycle {
            run.job.span.in_scope(|| {
                tracing::info!(
                    generated = run.generated,
                    period = cycle.period,
                    repeats = cycle.repeats,
                    "the answer repeats itself; generation stopped"
                )
            });
            metrics::counter!(crate::metrics::REPETITION_STOPS, "model" => self.name.clone(), "feature" => run.job.feature)
                .increment(1);
            finish(&self.name, slot, FinishReason::Repetition);
        } else if run.generated >= run.job.max_tokens
            || slot.cached.len() - unverified + 1 >= self.ctx_per_slot as usize
        {
            finish(&self.name, slot, FinishReason::Length);
        } else {
            return Some(token);
        }
        None
    }
}

/// Decodes one token so the first real request does not pay for lazy initialisation.
fn warm_up(model: &LlamaModel, ctx: &mut LlamaContext<'_>) -> Result<(), String> {
    let mut batch = LlamaBatch::new(1, 1);
    batch.add(model.vocab().bos(), 0, &[0], true).map_err(|e| e.to_string())?;
    ctx.decode(&mut batch).map_err(|e| e.to_string())?;
    let mut sampler = LlamaSampler::greedy();
    let _ = sampler.sample(ctx, 0);
    ctx.clear_kv_cache();
    Ok(())
}

/// The free slot whose cache shares the longest prefix with `tokens` (the first free one when none does).
fn best_slot<'a>(slots: &'a mut [Slot], tokens: &[LlamaToken]) -> &'a mut Slot {
    let best = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.running.is_none())
        .max_by_key(|(i, s)| (common_prefix(&s.cached[..s.prompt_cached], tokens), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
        .expect("intake only assigns when a slot is free");
    &mut slots[best]
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Puts a job into a slot, keeping as much of the cached prefix it shares with the prompt as
/// [`Plan::reusable`] allows (none when `reuse` is off).
fn assign(ctx: &mut LlamaContext<'_>, model: &LlamaModel, slot: &mut Slot, mut job: Job, plan: Plan, reuse: bool) {
    let common = common_prefix(&slot.cached[..slot.prompt_cached], &job.tokens);
    let mut keep = if reuse { plan.reusable(common, slot.prompt_len, job.tokens.len()) } else { 0 };
    if keep < MIN_REUSE {
        // Too short to be worth a slot switch's bookkeeping.
        keep = 0;
    }
    if keep < slot.cached.len() {
        let removed = ctx.clear_kv_cache_seq(Some(slot.seq as u32), Some(keep as u32), None);
        if !matches!(removed, Ok(true)) {
            let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
            keep = 0;
        }
        slot.cached.truncate(keep);
        slot.prompt_cached = slot.prompt_cached.min(keep);
    }
    slot.prompt_len = job.tokens.len();
    let sampler = build_sampler(model, &job.sampling);
    let grammar = job.grammar.take();
    let started = Instant::now();
    slot.running = Some(Running {
        stop: StopMatcher::new(&job.stop),
        guard: job.repetition_guard.then(|| RepeatGuard::new(GuardConfig::default())),
        job,
        sampler,
        grammar,
        candidates: Vec::new(),
        evaluated: keep,
        cached_tokens: keep,
        next: None,
        drafted: Vec::new(),
        draft_tokens: 0,
        draft_accepted: 0,
        generated: 0,
        pending_bytes: Vec::new(),
        logits_at: None,
        started,
        first_token: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_length() {
        let a = [LlamaToken(1), LlamaToken(2), LlamaToken(3)];
        assert_eq!(common_prefix(&a, &a[..2]), 2);
        assert_eq!(common_prefix(&a, &[LlamaToken(9)]), 0);
    }
}
