//! The in-process llama.cpp engine: the only module that names `llama_cpp_2`. One worker thread per model owns its context.
// llama.cpp's FFI: every unsafe block below carries a SAFETY comment (clippy checks).
#![allow(unsafe_code)]

mod embed;
#[cfg(test)]
mod exact;
mod pages;
mod plan;
mod queue;
mod sample;
mod schedule;
mod speculate;
mod worker;

use std::ffi::{CStr, c_char, c_void};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llama_cpp_2::context::params::KvCacheType;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, oneshot};

use super::{
    ChatMessage, Constraint, EmbedInfo, EmbedRequest, Embedded, Engine, EngineError, EventStream, FimTokens,
    GenerateRequest, ModelInfo, Prompt, SamplingParams, TemplateSource, gguf,
};
pub use embed::EmbedOptions;
pub use speculate::Speculation;

/// Capacity of one request's event channel; the worker skips a slot whose client is this far behind.
const EVENT_CHANNEL: usize = 64;

/// How a model is loaded and run.
#[derive(Debug, Clone)]
pub struct LoadParams {
    pub name: String,
    pub path: PathBuf,
    /// Context tokens per slot (prompt + output of one request).
    pub ctx_size: u32,
    pub parallel: u32,
    pub threads: u32,
    pub batch_size: u32,
    pub queue_depth: usize,
    /// The longest a request waits for a slot before it is refused ([`EngineError::Expired`]).
    pub queue_wait: Duration,
    /// Most tokens one request may generate; 0 = bounded only by the context.
    pub max_output_tokens: u32,
    /// Reuse a slot's cached prompt prefix.
    pub prefix_reuse: bool,
    /// Speculative decoding for requests that ask for it (prompt lookup, [`speculate`]).
    pub speculation: Speculation,
    /// Lock the weights in RAM.
    pub mlock: bool,
    pub gpu_layers: u32,
    /// The server's shutdown deadline: once it is reached, the model thread cuts every request.
    pub stopping: Stopping,
    /// Embeddings on a generation model, and the pooling (an embeddings model always embeds).
    pub embeddings: EmbedOptions,
}

/// Set when the server's shutdown deadline arrives, shared by every model thread: each then ends its
/// running requests with finish reason `cancelled`, so a client still connected gets a well-formed
/// last chunk instead of a cut connection, and ends requests that arrive later the same way.
#[derive(Debug, Clone, Default)]
pub struct Stopping(Arc<AtomicBool>);

impl Stopping {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The process-wide llama.cpp backend, initialised on first use.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // SAFETY: the callback is a plain function that only reads the C string it is given.
            unsafe { llama_cpp_sys_2::llama_log_set(Some(log_to_tracing), std::ptr::null_mut()) };
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Internal(format!("llama.cpp backend: {e}")))
}

/// llama.cpp's own log lines, routed into tracing: errors as warnings, everything else at debug.
unsafe extern "C" fn log_to_tracing(level: llama_cpp_sys_2::ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a valid NUL-terminated string for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    if level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR {
        tracing::warn!(target: "llama.cpp", "{text}");
    } else {
        tracing::debug!(target: "llama.cpp", "{text}");
    }
}

/// The llama.cpp build this binary carries and the backends it can run on.
pub fn build_info() -> String {
    // SAFETY: returns a pointer to a static string owned by llama.cpp.
    let system = unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
    let devices: Vec<String> = llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| format!("{} ({})", d.name, d.description))
        .collect();
    format!(
        "llama.cpp: vendored by llama-cpp-sys-2 {LLAMA_CPP_SYS_VERSION} (llama-cpp-2 {LLAMA_CPP_2_VERSION})\nbackends: {}\nsystem: {}",
        if devices.is_empty() { "none found".to_string() } else { devices.join(", ") },
        system.to_string_lossy().trim()
    )
}

/// Pinned in Cargo.toml; the llama.cpp sources come from the sys crate.
const LLAMA_CPP_2_VERSION: &str = "0.1.160";
const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";

pub struct LlamaEngine {
    info: ModelInfo,
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    /// The GGUF's own Jinja template, when it has one.
    source: Option<TemplateSource>,
    fim: Option<FimTokens>,
    queue: queue::Queue,
    ready: Arc<AtomicBool>,
    max_output_tokens: u32,
    speculation: Speculation,
    /// The embeddings thread, when the model embeds.
    embedder: Option<embed::Embedder>,
    /// False for an embeddings model: it has no generation thread.
    generates: bool,
}

impl LlamaEngine {
    /// Validates the file, loads the model, starts its worker (and its embeddings thread, for an
    /// embeddings model or when `params.embeddings` allows it) and waits for the warm-up.
    /// Blocking: call from a blocking thread.
    pub fn load(params: LoadParams) -> Result<LlamaEngine, EngineError> {
        let header = gguf::read(&params.path).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        let backend = backend()?;
        let model_params =
            LlamaModelParams::default().with_n_gpu_layers(params.gpu_layers).with_use_mlock(params.mlock);
        let model = LlamaModel::load_from_file(backend, &params.path, &model_params).map_err(|e| {
            EngineError::InvalidRequest(format!("{}: llama.cpp could not load it: {e}", params.path.display()))
        })?;
        if !params.mlock {
            let released = pages::release_mapped(&params.path);
            tracing::debug!(bytes = released, "model file pages released after loading");
        }
        let model = Arc::new(model);
        let template = chat_template(&model, header.architecture().unwrap_or_default())?;
        let source = template_source(&model);
        let fim = fim_tokens(&model);
        let info = ModelInfo {
            name: params.name.clone(),
            path: params.path.display().to_string(),
            architecture: header.architecture().unwrap_or("unknown").to_string(),
            parameters: model.n_params(),
            size_bytes: header.file_size,
            quantization: header.quantization(),
            context_train: model.n_ctx_train(),
            context_per_slot: params.ctx_size.min(model.n_ctx_train().max(256)),
            slots: params.parallel,
            has_chat_template: header.has_chat_template(),
            has_fim: fim.is_some(),
        };
        let embed_setup = embed::setup(&header, params.embeddings, info.context_per_slot, model.n_ctx_train())?;
        let embedder = match embed_setup {
            Some(setup) => Some(embed::Embedder::start(
                model.clone(),
                backend,
                &params.name,
                setup,
                params.threads,
                params.queue_depth,
            )?),
            None => None,
        };
        let generates = !embed_setup.is_some_and(|s| s.only);
        let (queue, job_rx) = queue::Queue::new(&params.name, params.queue_depth, params.queue_wait);
        let ready = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = std_mpsc::channel();
        let worker = worker::Worker {
            model: model.clone(),
            backend,
            ctx_per_slot: info.context_per_slot,
            slots: params.parallel,
            threads: params.threads,
            batch_size: params.batch_size,
            prefix_reuse: params.prefix_reuse,
            // A model that speculates on the CPU keeps batched and one-token logits equal with BF16
            // ([`speculate`]); otherwise F16, llama.cpp's default, which every backend supports.
            kv_type: if params.gpu_layers == 0 && params.speculation != Speculation::Off {
                KvCacheType::BF16
            } else {
                KvCacheType::F16
            },
            name: params.name.clone(),
            jobs: job_rx,
            queued: queue.queued.clone(),
            ready: ready.clone(),
            stopping: params.stopping.clone(),
        };
        if generates {
            std::thread::Builder::new()
                .name(format!("llama-{}", params.name))
                .spawn(move || worker.run(started_tx))
                .map_err(|e| EngineError::Internal(format!("cannot start the model thread: {e}")))?;
            match started_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(EngineError::Internal(message)),
                Err(_) => return Err(EngineError::Internal("the model thread stopped while starting".into())),
            }
        } else {
            // An embeddings model: its embeddings thread warmed up; no generation thread (the job
            // channel's receiver goes with the unused worker).
            ready.store(true, Ordering::Release);
        }
        Ok(LlamaEngine {
            info,
            model,
            template,
            source,
            fim,
            queue,
            ready,
            max_output_tokens: params.max_output_tokens,
            speculation: params.speculation,
            embedder,
            generates,
        })
    }
}

/// Tokens of a prompt, special tokens parsed, BOS added once.
fn tokenize(model: &LlamaModel, text: &str) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(text.as_bytes(), true, true);
    // A rendered chat template may already start with BOS; never feed it twice.
    if tokens.len() >= 2 && tokens[0] == tokens[1] && tokens[0] == vocab.bos() {
        tokens.remove(0);
    }
    tokens
}

/// The model's own chat template, or llama.cpp's built-in one for its architecture.
fn chat_template(model: &LlamaModel, architecture: &str) -> Result<LlamaChatTemplate, EngineError> {
    if let Ok(template) = model.chat_template(None) {
        return Ok(template);
    }
    let name = if architecture.starts_with("gemma") {
        "gemma"
    } else if architecture.starts_with("llama") {
        "llama3"
    } else if architecture.starts_with("mistral") {
        "mistral-v7"
    } else {
        "chatml"
    };
    LlamaChatTemplate::new(name).map_err(|e| EngineError::Internal(e.to_string()))
}

/// The GGUF's own chat template text with the texts of BOS and EOS (what a Jinja rendering needs).
fn template_source(model: &LlamaModel) -> Option<TemplateSource> {
    let text = model.chat_template(None).ok()?.to_string().ok()?;
    let vocab = model.vocab();
    let piece = |token: LlamaToken| -> String {
        if token.0 < 0 {
            return String::new();
        }
        String::from_utf8(vocab.token_to_piece(token, true, None)).unwrap_or_default()
    };
    Some(TemplateSource { text, bos: piece(vocab.bos()), eos: piece(vocab.eos()) })
}

/// A JSON schema as a GBNF grammar (llama.cpp's converter; the entry rule is `root`).
pub fn schema_grammar(schema: &serde_json::Value) -> Result<String, EngineError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|e| EngineError::InvalidRequest(format!("the JSON schema cannot be turned into a grammar ({e})")))
}

/// The grammar sampler of a constraint (lazy when it has triggers).
fn grammar_sampler(model: &LlamaModel, c: &Constraint) -> Result<LlamaSampler, EngineError> {
    let sampler = if c.triggers.is_empty() {
        LlamaSampler::grammar(model, &c.grammar, &c.root)
    } else {
        LlamaSampler::grammar_lazy_patterns(model, &c.grammar, &c.root, &c.triggers, &[])
    };
    sampler.map_err(|e| EngineError::InvalidRequest(format!("the output grammar does not compile: {e}")))
}

/// The single special tokens among `texts`: the output shows their text.
fn special_tokens(model: &LlamaModel, texts: &[String]) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    texts
        .iter()
        .filter_map(|t| match vocab.tokenize(t.as_bytes(), false, true).as_slice() {
            [one] => Some(*one),
            _ => None,
        })
        .collect()
}

/// Chat messages in the template's layout, ending with the assistant turn's opener.
fn render_chat(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    messages: &[ChatMessage],
) -> Result<String, EngineError> {
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| EngineError::InvalidRequest("message content must not contain NUL characters".into()))?;
    model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| EngineError::InvalidRequest(format!("cannot render the chat template: {e}")))
}

fn fim_tokens(model: &LlamaModel) -> Option<FimTokens> {
    let vocab = model.vocab();
    let render = |token: LlamaToken| -> Option<String> {
        if token.0 < 0 {
            return None;
        }
        String::from_utf8(vocab.token_to_piece(token, true, None)).ok().filter(|s| !s.is_empty())
    };
    Some(FimTokens {
        prefix: render(vocab.fim_pre())?,
        suffix: render(vocab.fim_suf())?,
        middle: render(vocab.fim_mid())?,
    })
}

/// Prompt tokens after fitting them into the context, and how many output tokens remain allowed.
fn fit_context(
    mut tokens: Vec<LlamaToken>,
    max_tokens: Option<u32>,
    ctx: u32,
    bos: LlamaToken,
) -> Result<(Vec<LlamaToken>, u32, u32), EngineError> {
    let ctx = ctx as usize;
    let max_out = match max_tokens {
        Some(m) if m as usize >= ctx => {
            return Err(EngineError::InvalidRequest(format!(
                "max_tokens is {m}, but this model holds at most {ctx} tokens per request (prompt and output together): ask for at most {}",
                ctx.saturating_sub(1)
            )));
        }
        Some(m) => m as usize,
        None if tokens.len() < ctx => ctx - tokens.len(),
        None => ctx / 2,
    };
    let keep = ctx - max_out;
    let mut truncated = 0;
    if tokens.len() > keep {
        truncated = tokens.len() - keep;
        let keeps_bos = tokens.first() == Some(&bos) && keep >= 2;
        if keeps_bos {
            tokens.drain(1..=truncated);
        } else {
            tokens.drain(..truncated);
        }
    }
    if tokens.is_empty() {
        tokens.push(bos);
    }
    Ok((tokens, max_out as u32, truncated as u32))
}

#[async_trait]
impl Engine for LlamaEngine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        if !self.generates {
            return Err(EngineError::InvalidRequest(format!(
                "model `{}` is an embeddings model: it does not generate text",
                self.info.name
            )));
        }
        let (model, template) = (self.model.clone(), self.template.clone());
        let (prompt, constraint, special_text) = (req.prompt, req.constraint.clone(), req.special_text.clone());
        // Templating, tokenizing and grammar building are CPU work: off the async threads.
        let (tokens, grammar, special) = tokio::task::spawn_blocking(move || {
            let prompt = match prompt {
                Prompt::Text(text) => text,
                Prompt::Chat(messages) => render_chat(&model, &template, &messages)?,
            };
            let grammar = constraint.map(|c| grammar_sampler(&model, &c)).transpose()?;
            Ok::<_, EngineError>((tokenize(&model, &prompt), grammar, special_tokens(&model, &special_text)))
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))??;
        let bos = self.model.vocab().bos();
        let cap = self.max_output_tokens;
        let requested = req.max_tokens.map(|m| if cap > 0 { m.min(cap) } else { m });
        let (tokens, max_tokens, truncated) = fit_context(tokens, requested, self.info.context_per_slot, bos)?;
        let max_tokens = if cap > 0 { max_tokens.min(cap) } else { max_tokens };
        if truncated > 0 {
            tracing::info!(model = %self.info.name, truncated, "prompt longer than the context: dropped tokens from the start");
        }
        check_sampling(&req.sampling)?;
        let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
        let (admit, admitted) = oneshot::channel();
        let job = worker::Job {
            tokens,
            max_tokens,
            truncated,
            sampling: req.sampling,
            grammar,
            special,
            stop: req.stop,
            repetition_guard: req.repetition_guard,
            ignore_eos: req.ignore_eos,
            max_draft: if req.speculate { self.speculation.max_draft() } else { 0 },
            deadline: Some(self.queue.deadline(req.deadline)),
            feature: req.feature,
            events: tx,
            admit: Some(admit),
            enqueued: Instant::now(),
            span: tracing::Span::current(),
        };
        self.queue.submit(job, rx, admitted).await
    }

    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        let model = self.model.clone();
        let text = text.to_string();
        let tokens = tokio::task::spawn_blocking(move || tokenize(&model, &text))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(tokens.into_iter().map(|t| t.0 as u32).collect())
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        render_chat(&self.model, &self.template, messages)
    }

    fn fim_tokens(&self) -> Option<&FimTokens> {
        self.fim.as_ref()
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(self.model.vocab().tokenize(text.as_bytes(), false, true).len())
    }

    fn queue_depth(&self) -> usize {
        self.queue.waiting() + self.embedder.as_ref().map_or(0, embed::Embedder::queue_depth)
    }

    fn embeddings(&self) -> Option<EmbedInfo> {
        self.embedder.as_ref().map(|e| e.info)
    }

    async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
        match &self.embedder {
            Some(embedder) => embedder.embed(&self.model, &self.info.name, req).await,
            None => Err(EngineError::InvalidRequest(format!(
                "model `{}` does not serve embeddings (an administrator can allow it in the model's settings)",
                self.info.name
            ))),
        }
    }

    fn template(&self) -> Option<&TemplateSource> {
        self.source.as_ref()
    }
}

fn check_sampling(s: &SamplingParams) -> Result<(), EngineError> {
    let bad = |field: &str, rule: &str| Err(EngineError::InvalidRequest(format!("{field} {rule}")));
    if !(0.0..=5.0).contains(&s.temperature) {
        return bad("temperature", "must be between 0 and 5");
    }
    if !(0.0..=1.0).contains(&s.top_p) {
        return bad("top_p", "must be between 0 and 1");
    }
    if !(0.0..=1.0).contains(&s.min_p) {
        return bad("min_p", "must be between 0 and 1");
    }
    if s.top_k < 0 {
        return bad("top_k", "must not be negative");
    }
    if !(s.repeat_penalty > 0.0 && s.repeat_penalty <= 10.0) {
        return bad("repeat_penalty", "must be above 0 and at most 10");
    }
    if !(-2.0..=2.0).contains(&s.frequency_penalty) {
        return bad("frequency_penalty", "must be between -2 and 2");
    }
    if !(-2.0..=2.0).contains(&s.presence_penalty) {
        return bad("presence_penalty", "must be between -2 and 2");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(n: i32) -> Vec<LlamaToken> {
        (0..n).map(LlamaToken).collect()
    }

    #[test]
    fn fit_context_cases() {
        let bos = LlamaToken(0);
        // fits
        let (t, m, tr) = fit_context(toks(10), Some(5), 100, bos).unwrap();
        assert_eq!((t.len(), m, tr), (10, 5, 0));
        // no max_tokens: the rest of the context
        let (_, m, _) = fit_context(toks(10), None, 100, bos).unwrap();
        assert_eq!(m, 90);
        // too long: left-truncated, BOS kept
        let (t, m, tr) = fit_context(toks(100), Some(20), 100, bos).unwrap();
        assert_eq!((t.len(), m, tr), (80, 20, 20));
        assert_eq!(t[0], bos);
        assert_eq!(t[1], LlamaToken(21));
        // max_tokens alone does not fit
        let err = fit_context(toks(1), Some(100), 100, bos).unwrap_err();
        assert!(err.to_string().contains("max_tokens is 100"), "{err}");
        assert!(err.to_string().contains("at most 100 tokens") && err.to_string().contains("at most 99"), "{err}");
        // prompt longer than context and no max_tokens: half of it for output
        let (t, m, _) = fit_context(toks(300), None, 100, bos).unwrap();
        assert_eq!((t.len(), m), (50, 50));
    }

    /// The default model's GGUF carries no chat template: llama.cpp's built-in `gemma` one is used.
    #[test]
    fn gemma_without_a_template_gets_the_builtin_one() {
        let path = crate::engine::test_model_path();
        let header = gguf::read(&path).unwrap();
        assert!(!header.has_chat_template());
        let model = LlamaModel::load_from_file(backend().unwrap(), &path, &LlamaModelParams::default()).unwrap();
        assert!(model.chat_template(None).is_err(), "the test model should have no template of its own");
        let template = chat_template(&model, header.architecture().unwrap()).unwrap();
        let chat = |role: &str, content: &str| ChatMessage::new(role, content);
        let text =
            render_chat(&model, &template, &[chat("user", "Hi"), chat("assistant", "Hello"), chat("user", "Why?")])
                .unwrap();
        assert_eq!(
            text,
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n"
        );
        // A system message has no turn of its own in gemma's layout: it leads the first user turn.
        let text = render_chat(&model, &template, &[chat("system", "Be brief."), chat("user", "Hi")]).unwrap();
        assert!(text.starts_with("<start_of_turn>user\nBe brief."), "{text:?}");
        assert!(text.ends_with("Hi<end_of_turn>\n<start_of_turn>model\n"), "{text:?}");
        // The markers are the model's special tokens, one token each.
        let tokens = tokenize(&model, "<start_of_turn>user\n");
        assert_eq!(tokens.len(), 4, "BOS, <start_of_turn>, user, newline: {tokens:?}");
    }

    #[test]
    fn sampling_bounds() {
        assert!(check_sampling(&SamplingParams::default()).is_ok());
        let s = SamplingParams { temperature: -1.0, ..Default::default() };
        assert!(check_sampling(&s).unwrap_err().to_string().contains("temperature"));
        let s = SamplingParams { top_p: 2.0, ..Default::default() };
        assert!(check_sampling(&s).unwrap_err().to_string().contains("top_p"));
    }
}
