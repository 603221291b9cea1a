//! Streaming response bodies: SSE frames, raw text and NDJSON, each item flushed as it is produced.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use futures::StreamExt;

/// A `text/event-stream` response whose items are already framed (`data: …\n\n`).
pub fn event_stream(frames: impl Stream<Item = String> + Send + 'static) -> Response {
    streaming("text/event-stream; charset=utf-8", frames)
}

/// A streaming body of the given content type; each item is sent as one chunk.
pub fn streaming(content_type: &'static str, chunks: impl Stream<Item = String> + Send + 'static) -> Response {
    unbuffered(content_type, Body::from_stream(chunks.map(|s| Ok::<_, std::convert::Infallible>(Bytes::from(s)))))
}

/// Like [`streaming`], but an `Err` item aborts the response (the connection is reset instead of the
/// body ending cleanly), so a client that reads plain text never takes a broken answer for a whole one.
pub fn streaming_fallible(
    content_type: &'static str,
    chunks: impl Stream<Item = Result<String, std::io::Error>> + Send + 'static,
) -> Response {
    unbuffered(content_type, Body::from_stream(chunks.map(|item| item.map(Bytes::from))))
}

/// The response for a streamed body: its content type, and no caching or proxy buffering on the way.
fn unbuffered(content_type: &'static str, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One SSE `data:` frame of a JSON value.
pub fn sse_data(value: &impl serde::Serialize) -> String {
    format!("data: {}\n\n", serde_json::to_string(value).unwrap_or_else(|_| "{}".into()))
}
