//! OpenAI-compatible upstream model servers (vLLM and similar), reached over HTTP: the `Engine` for remote endpoints.

mod embed;
mod sse;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, Response, header};
use tokio::sync::mpsc;
use tokio::time::{Instant as Deadline, timeout, timeout_at};

use super::{
    ChatMessage, EmbedRequest, Embedded, Engine, EngineError, Event, EventStream, FimTokens, GenerateRequest,
    ModelInfo, Prompt,
};
use stream::{Body, Generation, Item};
use wire::Payload;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Context assumed when the admin did not say (what vLLM and llama-server commonly run with).
pub const DEFAULT_CONTEXT_TOKENS: u32 = 8192;

const EVENT_CHANNEL: usize = 64;
/// How much of an error body is read for its message.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// A non-streamed answer or a model list larger than this is refused.
const JSON_BODY_LIMIT: usize = 16 << 20;
const USER_AGENT: &str = concat!("airgate/", env!("CARGO_PKG_VERSION"));

/// One upstream model: where it is and what it is called there.
#[derive(Clone)]
pub struct RemoteConfig {
    /// How airgate refers to it (logs, `ModelInfo.name`).
    pub name: String,
    /// E.g. `http://vllm:8000/v1`; a trailing slash is removed.
    pub base_url: String,
    /// The served model name sent as `"model"` (GitLab's identifier `custom_openai/<model>`).
    pub model: String,
    /// Sent as `Authorization: Bearer`; never logged, never part of an error message.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    /// Connecting, the response head and the first event must fit in it; after that it is the longest
    /// wait for each next event (a long answer may stream for longer in total).
    pub request_timeout: Duration,
    /// What this model is assumed to accept (`ModelInfo.context_per_slot`).
    pub context_tokens: u32,
}

impl RemoteConfig {
    /// A config with the default timeouts and context size, and no API key.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            context_tokens: DEFAULT_CONTEXT_TOKENS,
        }
    }
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("name", &self.name)
            .field("base_url", &redact_url(&self.base_url))
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("context_tokens", &self.context_tokens)
            .finish()
    }
}

/// The HTTP client all remote engines share (one connection pool per distinct connect timeout).
#[derive(Clone)]
pub struct RemoteClient {
    clients: Arc<Mutex<Vec<(Duration, reqwest::Client)>>>,
}

impl fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteClient")
    }
}

impl RemoteClient {
    pub fn new() -> Result<Self, EngineError> {
        // reqwest is built without a bundled crypto provider; the server side uses ring too.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = build_client(DEFAULT_CONNECT_TIMEOUT)
            .map_err(|e| EngineError::Internal(format!("cannot set up the HTTP client for model servers: {e}")))?;
        Ok(Self { clients: Arc::new(Mutex::new(vec![(DEFAULT_CONNECT_TIMEOUT, client)])) })
    }

    /// An engine for one upstream model; cheap enough to make per request.
    pub fn engine(&self, mut cfg: RemoteConfig) -> RemoteEngine {
        cfg.base_url = cfg.base_url.trim().trim_end_matches('/').to_string();
        let shown_url = redact_url(&cfg.base_url);
        let info = ModelInfo {
            name: cfg.name.clone(),
            path: shown_url.clone(),
            architecture: "remote".into(),
            parameters: 0,
            size_bytes: 0,
            quantization: String::new(),
            context_train: 0,
            context_per_slot: cfg.context_tokens,
            slots: 0,
            has_chat_template: false,
            has_fim: false,
        };
        let http = self.client_for(cfg.connect_timeout);
        RemoteEngine { inner: Arc::new(Inner { http, cfg, info, shown_url }) }
    }

    fn client_for(&self, connect_timeout: Duration) -> reqwest::Client {
        let mut clients = crate::sync::lock(&self.clients);
        if let Some((_, client)) = clients.iter().find(|(t, _)| *t == connect_timeout) {
            return client.clone();
        }
        match build_client(connect_timeout) {
            Ok(client) => {
                clients.push((connect_timeout, client.clone()));
                client
            }
            Err(e) => {
                tracing::warn!(error = %e, ?connect_timeout, "cannot build an HTTP client: using the default connect timeout");
                clients[0].1.clone()
            }
        }
    }
}

fn build_client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().user_agent(USER_AGENT).connect_timeout(connect_timeout).build()
}

/// A model served by an OpenAI-compatible server. Clones share everything.
#[derive(Clone)]
pub struct RemoteEngine {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    cfg: RemoteConfig,
    info: ModelInfo,
    /// `base_url` with any password in it replaced, for messages.
    shown_url: String,
}

impl fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteEngine").field("name", &self.inner.cfg.name).field("url", &self.inner.shown_url).finish()
    }
}

impl RemoteEngine {
    pub fn config(&self) -> &RemoteConfig {
        &self.inner.cfg
    }

    /// `GET {base_url}/models`: the model ids the upstream serves (diagnostics, "test connection").
    pub async fn list_models(&self) -> Result<Vec<String>, EngineError> {
        let this = &self.inner;
        let deadline = Deadline::now() + this.cfg.request_timeout;
        let request = this.request(Method::GET, "models").header(header::ACCEPT, "application/json");
        let response = this.send(request, deadline).await?;
        if !response.status().is_success() {
            return Err(this.status_error(response, deadline).await);
        }
        let body = this.read_body(response, JSON_BODY_LIMIT, deadline).await?;
        wire::model_ids(&body).ok_or_else(|| {
            let start = this.scrub(&String::from_utf8_lossy(&body));
            EngineError::Internal(format!(
                "{}/models did not answer with an OpenAI model list: {}",
                this.shown_url,
                wire::snippet(&start, 200)
            ))
        })
    }
}

#[async_trait]
impl Engine for RemoteEngine {
    fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    fn is_ready(&self) -> bool {
        true
    }

    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        self.inner.generate(req).await
    }

    async fn tokenize(&self, _text: &str) -> Result<Vec<u32>, EngineError> {
        Err(EngineError::InvalidRequest(format!(
            "model {} is served by a remote model server: its tokenizer is not available here",
            self.inner.cfg.name
        )))
    }

    fn render_chat(&self, _messages: &[ChatMessage]) -> Result<String, EngineError> {
        Err(EngineError::InvalidRequest(format!(
            "model {} is served by a remote model server: remote models take chat messages, not a rendered prompt",
            self.inner.cfg.name
        )))
    }

    fn fim_tokens(&self) -> Option<&FimTokens> {
        None
    }

    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }

    fn is_remote(&self) -> bool {
        true
    }

    async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
        self.inner.embed(req).await
    }
}

impl Inner {
    async fn generate(self: &Arc<Self>, req: GenerateRequest) -> Result<EventStream, EngineError> {
        wire::check_sampling(&req.sampling)?;
        let started = Instant::now();
        let deadline = Deadline::now() + self.cfg.request_timeout;
        let path = match req.prompt {
            Prompt::Chat(_) => "chat/completions",
            Prompt::Text(_) => "completions",
        };
        let mut include_usage = true;
        let response = loop {
            let body = wire::RequestBody::new(&self.cfg.model, &req, include_usage);
            let request = self.request(Method::POST, path).header(header::ACCEPT, "text/event-stream").json(&body);
            let response = self.send(request, deadline).await?;
            if response.status().is_success() {
                break response;
            }
            match self.status_error(response, deadline).await {
                // A strict server that does not know `stream_options`: ask again without (usage is then counted).
                EngineError::Upstream { status: 400 | 422, message, .. }
                    if include_usage && message.contains("stream_options") =>
                {
                    tracing::debug!(model = %self.cfg.name, "upstream refuses stream_options: retrying without");
                    include_usage = false;
                }
                error => return Err(error),
            }
        };
        tracing::debug!(model = %self.cfg.name, url = %self.shown_url, path, "upstream answered");
        let mut generation = Generation::new(&req.stop, req.repetition_guard, started);
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            // The server ignored `"stream": true` and sent the whole answer at once.
            let body = self.read_body(response, JSON_BODY_LIMIT, deadline).await?;
            let payload = self.first_payload(&String::from_utf8_lossy(&body))?;
            generation.first_at = Some(Instant::now());
            let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
            for item in [Item::Payload(payload), Item::Payload(Payload::Done)] {
                let (events, end) = generation.step(item);
                for event in events {
                    let _ = tx.try_send(event);
                }
                if let Some(end) = end {
                    let _ = tx.try_send(end);
                    break;
                }
            }
            return Ok(rx);
        }
        let mut body = Body::new(response);
        let first = match timeout_at(deadline, body.next_data()).await {
            Err(_) => return Err(self.timed_out()),
            Ok(Err(e)) => {
                return Err(EngineError::Unreachable(self.scrub(&format!("{} broke off: {e}", self.shown_url))));
            }
            Ok(Ok(None)) => {
                return Err(EngineError::Unreachable(format!(
                    "{} ended the stream without sending data",
                    self.shown_url
                )));
            }
            Ok(Ok(Some(data))) => data,
        };
        generation.first_at = Some(Instant::now());
        let first = self.first_payload(&first)?;
        let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
        tokio::spawn(Arc::clone(self).forward(body, first, generation, tx, req.feature));
        Ok(rx)
    }

    /// The first payload decides between a stream and an error `generate` still returns itself.
    fn first_payload(&self, data: &str) -> Result<Payload, EngineError> {
        match wire::parse_payload(data) {
            Ok(Payload::Error { status, message }) => Err(EngineError::Upstream {
                status: status.unwrap_or(500),
                message: self.scrub(&message),
                retry_after: None,
            }),
            Ok(payload) => Ok(payload),
            Err(e) => Err(EngineError::Unreachable(self.scrub(&format!("{}: {e}", self.shown_url)))),
        }
    }

    /// Passes the stream on as events until it ends, fails or the receiver goes away (which drops the
    /// response and so closes the upstream connection).
    async fn forward(
        self: Arc<Self>,
        mut body: Body,
        first: Payload,
        mut generation: Generation,
        tx: mpsc::Sender<Event>,
        feature: &'static str,
    ) {
        let idle = self.cfg.request_timeout;
        let mut item = Item::Payload(first);
        loop {
            let (events, end) = generation.step(item);
            for event in events {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            if let Some(end) = end {
                if let Event::Failed(reason) = &end {
                    tracing::warn!(model = %self.cfg.name, %reason, "upstream stream failed");
                }
                if let Event::Done { finish: crate::engine::FinishReason::Repetition, usage, .. } = &end {
                    tracing::info!(model = %self.cfg.name, generated = usage.completion_tokens, "the answer repeats itself; the upstream request is closed");
                    metrics::counter!(crate::metrics::REPETITION_STOPS, "model" => self.cfg.name.clone(), "feature" => feature)
                        .increment(1);
                }
                let _ = tx.send(end).await;
                return;
            }
            let next = tokio::select! {
                biased;
                () = tx.closed() => {
                    tracing::debug!(model = %self.cfg.name, "receiver dropped: closing the upstream request");
                    return;
                }
                next = timeout(idle, body.next_data()) => next,
            };
            item = match next {
                Err(_) => Item::Broken(format!("{} sent nothing for {idle:?}", self.shown_url)),
                Ok(Err(e)) => Item::Broken(self.scrub(&format!("the stream from {} broke off: {e}", self.shown_url))),
                Ok(Ok(None)) => Item::End,
                Ok(Ok(Some(data))) => match wire::parse_payload(&data) {
                    Ok(payload) => Item::Payload(payload),
                    Err(e) => Item::Broken(self.scrub(&e)),
                },
            };
            if let Item::Payload(Payload::Error { message, .. }) = &mut item {
                *message = self.scrub(message);
            }
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}/{path}", self.cfg.base_url));
        match self.cfg.api_key.as_deref() {
            Some(key) if !key.is_empty() => request.bearer_auth(key),
            _ => request,
        }
    }

    /// Sends and waits for the response head; every failure is `Unreachable`.
    async fn send(&self, request: RequestBuilder, deadline: Deadline) -> Result<Response, EngineError> {
        match timeout_at(deadline, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                let what = if e.is_builder() {
                    "cannot build a request for"
                } else if e.is_connect() {
                    "cannot connect to"
                } else {
                    "request failed to"
                };
                Err(EngineError::Unreachable(self.scrub(&format!("{what} {}: {}", self.shown_url, causes(e)))))
            }
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> EngineError {
        EngineError::Unreachable(format!("{} did not answer within {:?}", self.shown_url, self.cfg.request_timeout))
    }

    /// An HTTP error status as `Upstream`, with the upstream's own message.
    async fn status_error(&self, response: Response, deadline: Deadline) -> EngineError {
        let status = response.status();
        let retry_after =
            response.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(wire::parse_retry_after);
        let body = self.read_body(response, ERROR_BODY_LIMIT, deadline).await.unwrap_or_default();
        let mut message = wire::error_message(&String::from_utf8_lossy(&body), |s| self.scrub(s));
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_string();
        }
        EngineError::Upstream { status: status.as_u16(), message, retry_after }
    }

    /// Up to `limit` bytes of a body (the rest is not read).
    async fn read_body(
        &self,
        mut response: Response,
        limit: usize,
        deadline: Deadline,
    ) -> Result<Vec<u8>, EngineError> {
        let mut body = Vec::new();
        while body.len() < limit {
            match timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(self.timed_out()),
                Ok(Err(e)) => {
                    let reason = format!("reading the answer of {} failed: {}", self.shown_url, causes(e));
                    return Err(EngineError::Unreachable(self.scrub(&reason)));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(bytes))) => body.extend_from_slice(&bytes),
            }
        }
        body.truncate(limit);
        Ok(body)
    }

    /// Removes the API key from text that may reach a log or a client.
    fn scrub(&self, text: &str) -> String {
        match self.cfg.api_key.as_deref() {
            Some(key) if !key.is_empty() => text.replace(key, "***"),
            _ => text.to_string(),
        }
    }
}

/// A reqwest error and its causes, without the URL (which may carry credentials).
fn causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = next {
        let part = err.to_string();
        if !parts.iter().any(|p| p.contains(&part)) {
            parts.push(part);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// `scheme://user:password@host/…` shown as `scheme://user:***@host/…`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else { return url.to_string() };
    match url[scheme_end..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..scheme_end + colon], &url[at..]),
        None => url.to_string(),
    }
}
