//! Prometheus metrics (`GET /metrics`): the process-wide recorder, the metric names, and their help texts.
//!
//! Recording goes through the `metrics` facade (`metrics::counter!` …) from wherever the event
//! happens: the access log (requests by feature and status), the model threads (queue, slots, KV
//! cache, tokens, time to first token). Tokens per second: `rate(airgate_prompt_tokens_total)` over
//! `rate(airgate_time_to_first_token_seconds_sum)` (prompt evaluation ends with the first token), and
//! `rate(airgate_generated_tokens_total)` over `rate(airgate_generation_duration_seconds_sum)`.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "airgate_http_requests_total";
pub const CONNECTIONS_REFUSED: &str = "airgate_connections_refused_total";
pub const HTTP_DURATION: &str = "airgate_http_request_duration_seconds";
pub const HTTP_FIRST_BYTE: &str = "airgate_http_time_to_first_byte_seconds";
pub const QUEUE_DEPTH: &str = "airgate_queue_depth";
pub const QUEUE_WAIT: &str = "airgate_queue_wait_seconds";
pub const QUEUE_REJECTED: &str = "airgate_queue_rejected_total";
pub const REQUESTS_EXPIRED: &str = "airgate_requests_expired_total";
pub const REQUESTS_CANCELLED: &str = "airgate_requests_cancelled_total";
pub const TIME_TO_FIRST_TOKEN: &str = "airgate_time_to_first_token_seconds";
pub const PROMPT_TOKENS: &str = "airgate_prompt_tokens_total";
pub const PROMPT_TOKENS_CACHED: &str = "airgate_prompt_tokens_cached_total";
pub const GENERATED_TOKENS: &str = "airgate_generated_tokens_total";
pub const GENERATION_SECONDS: &str = "airgate_generation_duration_seconds";
pub const SLOTS: &str = "airgate_slots";
pub const SLOTS_BUSY: &str = "airgate_slots_busy";
pub const KV_CACHE_TOKENS: &str = "airgate_kv_cache_tokens";
pub const KV_CACHE_CAPACITY: &str = "airgate_kv_cache_capacity_tokens";
pub const TOOL_CALLS: &str = "airgate_tool_calls_total";
pub const REPETITION_STOPS: &str = "airgate_repetition_stops_total";
pub const DRAFT_TOKENS: &str = "airgate_draft_tokens_total";
pub const DRAFT_ACCEPTED: &str = "airgate_draft_tokens_accepted_total";
pub const EMBEDDING_INPUTS: &str = "airgate_embedding_inputs_total";
pub const EMBEDDING_TOKENS: &str = "airgate_embedding_tokens_total";
pub const EMBEDDING_SECONDS: &str = "airgate_embedding_request_duration_seconds";
pub const AGENT_SESSIONS_ACTIVE: &str = "airgate_agent_sessions_active";
pub const AGENT_SESSIONS: &str = "airgate_agent_sessions_total";
pub const AGENT_TOOL_CALLS: &str = "airgate_agent_tool_calls_total";
pub const AGENT_MODEL_CALLS: &str = "airgate_agent_model_calls_total";
pub const AGENT_TURN_SECONDS: &str = "airgate_agent_turn_duration_seconds";

/// Seconds: from a millisecond completion to a minute-long chat step.
const BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder, installed on first use (once per process, like the llama.cpp backend): `/metrics` renders it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).expect("the bucket list is not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                // Another recorder owns the process (an embedding program): serve an empty page.
                tracing::warn!(error = %e, "metrics recorder not installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        handle
    })
}

/// The Prometheus text page.
pub fn render() -> String {
    handle().render()
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by feature (or API surface) and status code.");
    describe_counter!(CONNECTIONS_REFUSED, "Client connections closed at once because max_connections were open.");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request duration until the last byte, by feature.");
    describe_histogram!(HTTP_FIRST_BYTE, Unit::Seconds, "Time to the first response body byte, by feature.");
    describe_gauge!(QUEUE_DEPTH, "Requests waiting for a slot, by model.");
    describe_histogram!(QUEUE_WAIT, Unit::Seconds, "Time requests waited for a slot, by model and feature.");
    describe_counter!(QUEUE_REJECTED, "Requests refused because the model's queue was full (429), by model.");
    describe_counter!(REQUESTS_EXPIRED, "Requests dropped unrun because their deadline passed in the queue.");
    describe_counter!(REQUESTS_CANCELLED, "Generations stopped because the client went away.");
    describe_histogram!(TIME_TO_FIRST_TOKEN, Unit::Seconds, "From slot assignment to the first token.");
    describe_counter!(PROMPT_TOKENS, "Prompt tokens of finished requests (evaluated or served from cache).");
    describe_counter!(PROMPT_TOKENS_CACHED, "Prompt tokens served from a slot's KV cache instead of evaluated.");
    describe_counter!(GENERATED_TOKENS, "Tokens generated.");
    describe_histogram!(GENERATION_SECONDS, Unit::Seconds, "Time spent generating, first token to last.");
    describe_gauge!(SLOTS, "Sequence slots of the model.");
    describe_gauge!(SLOTS_BUSY, "Slots running a request.");
    describe_gauge!(KV_CACHE_TOKENS, "Tokens held in the model's KV cache over all slots.");
    describe_gauge!(KV_CACHE_CAPACITY, "Tokens the model's KV cache can hold over all slots.");
    describe_counter!(
        TOOL_CALLS,
        "Tool calls a model wrote, by result: valid, malformed (returned as text), cut (the output ended inside it), repaired (an upstream's, asked for again)."
    );
    describe_counter!(DRAFT_TOKENS, "Speculative decoding: draft tokens (looked up in the prompt) the model verified.");
    describe_counter!(
        DRAFT_ACCEPTED,
        "Speculative decoding: draft tokens the model confirmed (each one a decoding step saved)."
    );
    describe_counter!(REPETITION_STOPS, "Generations the repetition guard stopped because they repeated themselves.");
    describe_counter!(EMBEDDING_INPUTS, "Inputs embedded, by model and feature.");
    describe_counter!(EMBEDDING_TOKENS, "Tokens of embedded inputs, by model and feature.");
    describe_histogram!(
        EMBEDDING_SECONDS,
        Unit::Seconds,
        "From a model's embeddings thread taking a request to its answer."
    );
    describe_gauge!(AGENT_SESSIONS_ACTIVE, "Agent Platform sessions running now, by flow.");
    describe_counter!(AGENT_SESSIONS, "Agent Platform sessions ended, by flow and gRPC status.");
    describe_counter!(AGENT_TOOL_CALLS, "Tool calls the agents made, by tool and outcome.");
    describe_counter!(AGENT_MODEL_CALLS, "Model calls of the agents, by model and outcome.");
    describe_histogram!(
        AGENT_TURN_SECONDS,
        Unit::Seconds,
        "Duration of an agent turn (first model call to answer or approval request), by flow."
    );
}

/// Counts one tool call by its result (`valid`, `malformed`, `cut`, `repaired`).
pub fn tool_call(result: &'static str) {
    metrics::counter!(TOOL_CALLS, "result" => result).increment(1);
}

/// The label for requests no GitLab feature claimed: the API surface their path belongs to.
pub fn surface(path: &str) -> &'static str {
    if path.starts_with("/v1/chat/completions")
        || path.starts_with("/v1/completions")
        || path == "/v1/embeddings"
        || path.contains("/models")
    {
        "openai"
    } else if path.starts_with("/monitoring") || path == "/metrics" {
        "monitoring"
    } else if path.starts_with("/admin") || path.starts_with("/api/admin") {
        "admin"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces() {
        assert_eq!(surface("/v1/chat/completions"), "openai");
        assert_eq!(surface("/v1/v1/models"), "openai");
        assert_eq!(surface("/v1/embeddings"), "openai");
        assert_eq!(surface("/monitoring/healthz"), "monitoring");
        assert_eq!(surface("/admin/"), "admin");
        assert_eq!(surface("/nope"), "other");
    }
}
