//! How a request leaves its slot: finished (with its last text, usage and timings), cancelled by its
//! client, or cut at the shutdown deadline; and the UTF-8 assembly of token pieces on the way out.

use std::time::Instant;

use super::{Slot, Usage};
use crate::engine::{Event, FinishReason, Timings};

/// Frees the slots of clients that went away; their evaluated tokens stay cached for reuse.
pub(super) fn drop_cancelled(model: &str, slots: &mut [Slot]) {
    for slot in slots.iter_mut() {
        if let Some(run) = slot.running.as_ref().filter(|r| r.job.events.is_closed()) {
            run.job
                .span
                .in_scope(|| tracing::info!(generated = run.generated, "client went away; generation cancelled"));
            metrics::counter!(crate::metrics::REQUESTS_CANCELLED, "model" => model.to_string(), "feature" => run.job.feature)
                .increment(1);
            slot.running = None;
            // A sampled-but-unfed token is not in the cache, so `cached` stays exact.
        }
    }
}

/// The server's shutdown deadline arrived: every running request ends now, with finish reason
/// `cancelled` (its client, if still connected, gets the text so far and a proper end).
pub(super) fn cut_at_shutdown(model: &str, slots: &mut [Slot]) {
    for slot in slots.iter_mut() {
        if let Some(run) = slot.running.as_ref() {
            run.job.span.in_scope(|| {
                tracing::info!(generated = run.generated, "shutdown deadline reached; generation cancelled")
            });
            metrics::counter!(crate::metrics::REQUESTS_CANCELLED, "model" => model.to_string(), "feature" => run.job.feature)
                .increment(1);
            finish(model, slot, FinishReason::Cancelled);
        }
    }
}

/// Ends the slot's request with the remaining text and a `Done` event.
pub(super) fn finish(model: &str, slot: &mut Slot, finish: FinishReason) {
    let Some(mut run) = slot.running.take() else { return };
    let mut tail = String::from_utf8_lossy(&run.pending_bytes).into_owned();
    tail = {
        let mut held = run.stop.push(&tail);
        if !held.stopped {
            held.emit.push_str(&run.stop.finish());
        }
        held.emit
    };
    if !tail.is_empty() {
        let _ = run.job.events.try_send(Event::Text(tail));
    }
    let now = Instant::now();
    let first = run.first_token.unwrap_or(now);
    let usage = Usage {
        prompt_tokens: run.job.tokens.len() as u32 + run.job.truncated,
        completion_tokens: run.generated,
        truncated_tokens: run.job.truncated,
        cached_tokens: run.cached_tokens as u32,
        draft_tokens: run.draft_tokens,
        draft_accepted: run.draft_accepted,
    };
    let timings = Timings {
        queued: run.started.duration_since(run.job.enqueued),
        prompt: first.duration_since(run.started),
        generation: now.duration_since(first),
    };
    record_done(model, run.job.feature, &usage, &timings);
    let _ = run.job.events.try_send(Event::Done { finish, usage, timings });
}

fn record_done(model: &str, feature: &'static str, usage: &Usage, timings: &Timings) {
    use crate::metrics::*;
    let labels = [("model", model.to_string()), ("feature", feature.to_string())];
    metrics::counter!(PROMPT_TOKENS, &labels).increment(u64::from(usage.prompt_tokens));
    metrics::counter!(PROMPT_TOKENS_CACHED, &labels).increment(u64::from(usage.cached_tokens));
    metrics::counter!(GENERATED_TOKENS, &labels).increment(u64::from(usage.completion_tokens));
    if usage.draft_tokens > 0 {
        metrics::counter!(DRAFT_TOKENS, &labels).increment(u64::from(usage.draft_tokens));
        metrics::counter!(DRAFT_ACCEPTED, &labels).increment(u64::from(usage.draft_accepted));
    }
    // Prompt evaluation ends with the first token: the time to first token is the prompt's duration.
    metrics::histogram!(TIME_TO_FIRST_TOKEN, &labels).record(timings.prompt.as_secs_f64());
    metrics::histogram!(GENERATION_SECONDS, &labels).record(timings.generation.as_secs_f64());
}

/// Takes the longest valid UTF-8 prefix out of `bytes`, leaving an incomplete trailing character behind.
pub(super) fn take_utf8(bytes: &mut Vec<u8>) -> String {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Invalid bytes in the middle: replace them rather than stall the stream.
        Err(_) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            bytes.clear();
            return text;
        }
    };
    let rest = bytes.split_off(valid);
    String::from_utf8(std::mem::replace(bytes, rest)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens() {
        let mut buf = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut buf), "");
        buf.extend(&"é".as_bytes()[1..]);
        buf.extend(b"x");
        assert_eq!(take_utf8(&mut buf), "éx");
        assert!(buf.is_empty());
        let mut bad = vec![b'a', 0xff, b'b'];
        assert_eq!(take_utf8(&mut bad), "a\u{fffd}b");
    }
}
