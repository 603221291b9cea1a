//! OpenAI-compatible upstream model servers (vLLM and similar), reached over HTTP: the `Engine` for remote endpoints.
