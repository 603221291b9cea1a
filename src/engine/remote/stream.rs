//! One upstream generation as it streams: the body read as SSE payloads, and the state that turns them into `Event`s (stop strings, usage, timings).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::Response;

use super::sse::SseDecoder;
use super::wire::Payload;
use crate::engine::repeat::{GuardConfig, RepeatGuard, piece_id};
use crate::engine::stop::StopMatcher;
use crate::engine::{Event, FinishReason, Timings, Usage};

/// The upstream body as a sequence of SSE `data` payloads.
pub(super) struct Body {
    bytes: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    decoder: SseDecoder,
    ready: VecDeque<String>,
    ended: bool,
}

impl Body {
    pub(super) fn new(response: Response) -> Self {
        Self {
            bytes: Box::pin(response.bytes_stream()),
            decoder: SseDecoder::default(),
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// The next event's data; `None` at the end of the body.
    pub(super) async fn next_data(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(data) = self.ready.pop_front() {
                return Ok(Some(data));
            }
            if self.ended {
                return Ok(None);
            }
            match self.bytes.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes, &mut self.ready)?,
                Some(Err(e)) => return Err(super::causes(e)),
                None => {
                    self.ended = true;
                    self.decoder.finish(&mut self.ready);
                }
            }
        }
    }
}

/// What the stream brought next.
pub(super) enum Item {
    Payload(Payload),
    /// The body ended (without `[DONE]`).
    End,
    /// Transport error, silence or garbage.
    Broken(String),
}

/// The state of one generation: stop strings, the repetition guard, usage and timing.
pub(super) struct Generation {
    stops: StopMatcher,
    /// Fed one id per streamed piece (an upstream streams about a token per event).
    guard: Option<RepeatGuard>,
    started: Instant,
    pub(super) first_at: Option<Instant>,
    content_chunks: u32,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

impl Generation {
    pub(super) fn new(stop: &[String], repetition_guard: bool, started: Instant) -> Self {
        Self {
            stops: StopMatcher::new(stop),
            guard: repetition_guard.then(|| RepeatGuard::new(GuardConfig::default())),
            started,
            first_at: None,
            content_chunks: 0,
            usage: None,
            finish: None,
        }
    }

    /// Events to pass on (text, reasoning, tool-call pieces), and the final event once the
    /// generation is over.
    pub(super) fn step(&mut self, item: Item) -> (Vec<Event>, Option<Event>) {
        let text = |t: String| if t.is_empty() { Vec::new() } else { vec![Event::Text(t)] };
        match item {
            Item::Payload(Payload::Chunk(chunk)) => {
                if let Some(usage) = chunk.usage {
                    self.usage = Some(usage);
                }
                if let Some(reason) = chunk.finish_reason {
                    self.finish = Some(if reason == "length" { FinishReason::Length } else { FinishReason::Stop });
                }
                let mut events = Vec::new();
                if !chunk.reasoning.is_empty() {
                    events.push(Event::Reasoning(chunk.reasoning));
                }
                for call in chunk.tool_calls {
                    events.push(Event::ToolCall {
                        index: call.index,
                        id: call.id,
                        name: call.name,
                        arguments: call.arguments,
                    });
                }
                if chunk.text.is_empty() {
                    return (events, None);
                }
                self.content_chunks += 1;
                let pushed = self.stops.push(&chunk.text);
                events.extend(text(pushed.emit));
                if pushed.stopped {
                    self.finish = Some(FinishReason::Stop);
                    return (events, Some(self.done()));
                }
                if self.guard.as_mut().and_then(|g| g.push(piece_id(&chunk.text))).is_some() {
                    self.finish = Some(FinishReason::Repetition);
                    return (events, Some(self.done()));
                }
                (events, None)
            }
            Item::Payload(Payload::Done) => (text(self.stops.finish()), Some(self.done())),
            // The answer was complete; only the closing `[DONE]` went missing.
            Item::End | Item::Broken(_) if self.finish.is_some() => (text(self.stops.finish()), Some(self.done())),
            Item::End => (Vec::new(), Some(Event::Failed("the model server ended the stream before finishing".into()))),
            Item::Broken(reason) | Item::Payload(Payload::Error { message: reason, .. }) => {
                (Vec::new(), Some(Event::Failed(reason)))
            }
        }
    }

    fn done(&self) -> Event {
        let now = Instant::now();
        let first = self.first_at.unwrap_or(now);
        let usage = self.usage.unwrap_or(Usage { completion_tokens: self.content_chunks, ..Usage::default() });
        Event::Done {
            finish: self.finish.unwrap_or(FinishReason::Stop),
            usage,
            timings: Timings {
                queued: Duration::ZERO,
                prompt: first.saturating_duration_since(self.started),
                generation: now.saturating_duration_since(first),
            },
        }
    }
}
