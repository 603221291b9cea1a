//! The request activity log: the last hour of finished requests (correlation id, feature, model, status, latency, tokens), live for the admin UI's log page and summed up for its dashboard.
//!
//! The HTTP edge opens a [`Call`] per request (a task-local the handler's code runs under); engines
//! wrapped in [`Tapped`] (where they enter the model registry, or where a request is routed to an
//! upstream) add the model and token counts to it; error responses add their message. When the
//! response body is finished, the edge turns the call into an [`Entry`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::engine::{
    ChatMessage, EmbedInfo, EmbedRequest, Embedded, Engine, EngineError, Event, EventStream, FimTokens,
    GenerateRequest, ModelInfo, TemplateSource,
};

/// Entries older than this leave the log.
const KEEP: Duration = Duration::from_secs(3600);
/// At most this many entries are kept, whatever their age…
const KEEP_MAX: usize = 20_000;
/// …and at most about this many bytes of them.
const KEEP_BYTES: usize = 4 << 20;
/// Paths are kept up to this many bytes (a 30 KB unknown path costs no more than a short one).
pub const PATH_MAX: usize = 256;

/// What a request's handlers learned about it.
#[derive(Default)]
pub struct Call {
    inner: Mutex<CallInfo>,
}

#[derive(Default, Clone)]
struct CallInfo {
    model: Option<String>,
    tokens_in: u64,
    tokens_out: u64,
    message: Option<String>,
    /// An auth check passed (GitLab token, `/v1` key, admin session).
    authenticated: bool,
}

impl Call {
    fn with(&self, f: impl FnOnce(&mut CallInfo)) {
        f(&mut crate::sync::lock(&self.inner));
    }
}

tokio::task_local! {
    static CALL: Arc<Call>;
}

/// Runs `fut` with `call` as the current request's call.
pub async fn scope<F: std::future::Future>(call: Arc<Call>, fut: F) -> F::Output {
    CALL.scope(call, fut).await
}

fn current() -> Option<Arc<Call>> {
    CALL.try_with(Arc::clone).ok()
}

/// Notes that the current request's caller passed an auth check.
pub fn note_authenticated() {
    if let Some(call) = current() {
        call.with(|c| c.authenticated = true);
    }
}

/// `path` cut to [`PATH_MAX`] bytes on a character boundary, marked with `…` when cut.
pub fn short_path(path: &str) -> String {
    if path.len() <= PATH_MAX {
        return path.to_string();
    }
    let mut end = PATH_MAX;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

/// Notes the message of an error response on the current request.
pub fn note_error(message: &str) {
    if let Some(call) = current() {
        call.with(|c| c.message = Some(message.chars().take(500).collect()));
    }
}

/// Passes a model's events through, adding the model and its token counts to the current request
/// when the generation ends. Dropping the returned stream cancels the generation at once.
fn tap(model: &str, events: EventStream) -> EventStream {
    let Some(call) = current() else { return events };
    call.with(|c| c.model = Some(model.to_string()));
    let (tx, rx) = mpsc::channel(events.max_capacity().max(1));
    tokio::spawn(async move {
        let mut events = events;
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                _ = tx.closed() => return,
            };
            let Some(event) = event else { return };
            if let Event::Done { usage, .. } = &event {
                call.with(|c| {
                    c.tokens_in += u64::from(usage.prompt_tokens);
                    c.tokens_out += u64::from(usage.completion_tokens);
                });
            }
            if tx.send(event).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// An engine whose generations are noted on the request that asked for them ([`tap`]). Every
/// `Engine` method is passed through explicitly (a provided method left to its default would answer
/// for the wrapped engine wrongly).
pub struct Tapped(pub Arc<dyn Engine>);

impl Tapped {
    pub fn wrap(engine: Arc<dyn Engine>) -> Arc<dyn Engine> {
        Arc::new(Tapped(engine))
    }
}

#[async_trait::async_trait]
impl Engine for Tapped {
    fn info(&self) -> &ModelInfo {
        self.0.info()
    }

    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    async fn generate(&self, req: GenerateRequest) -> Result<EventStream, EngineError> {
        let events = self.0.generate(req).await?;
        Ok(tap(&self.0.info().name, events))
    }

    async fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.0.tokenize(text).await
    }

    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        self.0.render_chat(messages)
    }

    fn fim_tokens(&self) -> Option<&FimTokens> {
        self.0.fim_tokens()
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.0.count_tokens(text)
    }

    fn queue_depth(&self) -> usize {
        self.0.queue_depth()
    }

    fn template(&self) -> Option<&TemplateSource> {
        self.0.template()
    }

    fn is_remote(&self) -> bool {
        self.0.is_remote()
    }

    fn embeddings(&self) -> Option<EmbedInfo> {
        self.0.embeddings()
    }

    async fn embed(&self, req: EmbedRequest) -> Result<Embedded, EngineError> {
        let embedded = self.0.embed(req).await?;
        if let Some(call) = current() {
            call.with(|c| {
                c.model = Some(self.0.info().name.clone());
                c.tokens_in += u64::from(embedded.prompt_tokens);
            });
        }
        Ok(embedded)
    }
}

/// One finished request.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: u64,
    pub correlation_id: String,
    pub method: String,
    pub path: String,
    pub feature: String,
    pub model: Option<String>,
    pub status: u16,
    pub latency_ms: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub message: Option<String>,
    /// The caller passed an auth check.
    #[serde(skip)]
    pub authenticated: bool,
}

impl Entry {
    /// The entry for a finished request; the call adds what the handlers noted.
    pub fn new(
        call: &Call,
        correlation_id: &str,
        method: &str,
        path: &str,
        feature: &str,
        status: u16,
        latency: Duration,
    ) -> Entry {
        let info = crate::sync::lock(&call.inner).clone();
        Entry {
            at: crate::unix_now(),
            correlation_id: correlation_id.to_string(),
            method: method.to_string(),
            path: short_path(path),
            feature: feature.to_string(),
            model: info.model,
            status,
            latency_ms: latency.as_millis() as u64,
            tokens_in: info.tokens_in,
            tokens_out: info.tokens_out,
            message: info.message,
            authenticated: info.authenticated,
        }
    }
}

/// Per-feature figures over the kept hour.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeatureStats {
    pub feature: String,
    pub requests: u64,
    pub errors: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

impl Entry {
    /// About what the entry holds in memory.
    fn size(&self) -> usize {
        let texts = [&self.correlation_id, &self.method, &self.path, &self.feature];
        std::mem::size_of::<Entry>()
            + texts.iter().map(|t| t.len()).sum::<usize>()
            + self.model.as_ref().map_or(0, String::len)
            + self.message.as_ref().map_or(0, String::len)
    }
}

/// The log itself: a ring bounded by age, count and bytes, and a broadcast to live subscribers.
pub struct Activity {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Entry>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { ring: Mutex::new(Ring::default()), live: broadcast::channel(1024).0 }
    }
}

impl Activity {
    /// Lists a finished request; a 404 whose caller passed no auth check is not listed (anyone
    /// could fill the log with unknown paths).
    pub fn push(&self, entry: Entry) {
        if entry.status == 404 && !entry.authenticated {
            return;
        }
        let _ = self.live.send(entry.clone());
        let mut ring = crate::sync::lock(&self.ring);
        ring.bytes += entry.size();
        ring.entries.push_back(entry);
        let oldest = crate::unix_now().saturating_sub(KEEP.as_secs());
        while ring.entries.front().is_some_and(|e| e.at < oldest)
            || ring.entries.len() > KEEP_MAX
            || ring.bytes > KEEP_BYTES
        {
            let Some(gone) = ring.entries.pop_front() else { break };
            ring.bytes -= gone.size();
        }
    }

    /// Entries and bytes kept.
    pub fn kept(&self) -> (usize, usize) {
        let ring = crate::sync::lock(&self.ring);
        (ring.entries.len(), ring.bytes)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.live.subscribe()
    }

    /// The newest `n` entries that pass `keep`, newest first.
    pub fn recent(&self, n: usize, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let ring = crate::sync::lock(&self.ring);
        ring.entries.iter().rev().filter(|e| keep(e)).take(n).cloned().collect()
    }

    /// Requests, errors (status ≥ 400), tokens and latency percentiles per feature over the last hour.
    pub fn summary(&self) -> Vec<FeatureStats> {
        let ring = crate::sync::lock(&self.ring);
        let oldest = crate::unix_now().saturating_sub(KEEP.as_secs());
        let mut by: BTreeMap<&str, (FeatureStats, Vec<u64>)> = BTreeMap::new();
        for e in ring.entries.iter().filter(|e| e.at >= oldest) {
            let (s, lat) = by.entry(&e.feature).or_insert_with(|| {
                let zero = FeatureStats {
                    feature: e.feature.clone(),
                    requests: 0,
                    errors: 0,
                    tokens_in: 0,
                    tokens_out: 0,
                    p50_ms: 0,
                    p95_ms: 0,
                };
                (zero, Vec::new())
            });
            s.requests += 1;
            s.errors += u64::from(e.status >= 400);
            s.tokens_in += e.tokens_in;
            s.tokens_out += e.tokens_out;
            lat.push(e.latency_ms);
        }
        by.into_values()
            .map(|(mut s, mut lat)| {
                lat.sort_unstable();
                s.p50_ms = percentile(&lat, 50);
                s.p95_ms = percentile(&lat, 95);
                s
            })
            .collect()
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(feature: &str, status: u16, ms: u64) -> Entry {
        Entry {
            at: crate::unix_now(),
            correlation_id: format!("c{ms}"),
            method: "POST".into(),
            path: "/x".into(),
            feature: feature.into(),
            model: None,
            status,
            latency_ms: ms,
            tokens_in: 2,
            tokens_out: 3,
            message: None,
            authenticated: true,
        }
    }

    #[test]
    fn summary_counts_errors_tokens_and_percentiles_per_feature() {
        let a = Activity::default();
        for ms in 1..=100 {
            a.push(entry("code_completions", if ms % 10 == 0 { 503 } else { 200 }, ms));
        }
        a.push(entry("duo_chat", 200, 7));
        let s = a.summary();
        assert_eq!(s.len(), 2);
        let cc = &s[0];
        assert_eq!((cc.requests, cc.errors, cc.tokens_in, cc.tokens_out), (100, 10, 200, 300));
        assert_eq!((cc.p50_ms, cc.p95_ms), (50, 95));
        assert_eq!((s[1].p50_ms, s[1].p95_ms), (7, 7));
        let recent = a.recent(3, |e| e.feature == "code_completions");
        assert_eq!(recent.iter().map(|e| e.latency_ms).collect::<Vec<_>>(), [100, 99, 98]);
    }

    #[test]
    fn old_entries_leave() {
        let a = Activity::default();
        let mut old = entry("x", 200, 1);
        old.at -= KEEP.as_secs() + 5;
        a.push(old);
        a.push(entry("x", 200, 2));
        assert_eq!(a.recent(10, |_| true).len(), 1);
    }

    #[test]
    fn the_log_is_bounded_by_bytes_paths_are_cut_and_anonymous_404s_are_not_listed() {
        let a = Activity::default();
        let long = format!("/{}", "é".repeat(20_000));
        let call = Call::default();
        let anonymous = Entry::new(&call, "id", "GET", &long, "gitlab", 404, Duration::ZERO);
        assert!(anonymous.path.len() <= PATH_MAX + '…'.len_utf8() && anonymous.path.ends_with('…'));
        a.push(anonymous);
        assert_eq!(a.kept().0, 0, "an unauthenticated 404 is not listed");
        call.with(|c| c.authenticated = true);
        for _ in 0..KEEP_MAX {
            let mut e = Entry::new(&call, "id", "GET", &long, "gitlab", 404, Duration::ZERO);
            e.message = Some("m".repeat(500));
            a.push(e);
        }
        let (entries, bytes) = a.kept();
        assert!(bytes <= KEEP_BYTES, "{bytes} bytes");
        assert!(entries < KEEP_MAX, "{entries} entries: the byte bound comes first for big entries");
    }

    #[tokio::test]
    async fn tap_adds_usage_to_the_call_and_passes_events_through() {
        let call = Arc::new(Call::default());
        let (tx, rx) = mpsc::channel(4);
        let tapped = scope(call.clone(), async { tap("gemma", rx) }).await;
        tx.send(Event::Text("hi".into())).await.unwrap();
        let usage = crate::engine::Usage { prompt_tokens: 5, completion_tokens: 1, ..Default::default() };
        let done = Event::Done { finish: crate::engine::FinishReason::Stop, usage, timings: Default::default() };
        tx.send(done).await.unwrap();
        drop(tx);
        let mut tapped = tapped;
        assert_eq!(tapped.recv().await, Some(Event::Text("hi".into())));
        assert!(matches!(tapped.recv().await, Some(Event::Done { .. })));
        assert_eq!(tapped.recv().await, None);
        let e = Entry::new(&call, "id", "POST", "/p", "duo_chat", 200, Duration::from_millis(12));
        assert_eq!((e.model.as_deref(), e.tokens_in, e.tokens_out, e.latency_ms), (Some("gemma"), 5, 1, 12));
    }

    #[tokio::test]
    async fn dropping_the_tapped_stream_closes_the_source() {
        let call = Arc::new(Call::default());
        let (tx, rx) = mpsc::channel::<Event>(4);
        let tapped = scope(call, async { tap("m", rx) }).await;
        drop(tapped);
        tokio::time::timeout(Duration::from_secs(2), tx.closed()).await.expect("the source is closed");
    }
}
