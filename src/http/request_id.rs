//! Request ids and the access log: echo `X-Request-ID` or make one, carry it as `correlation_id` on every log
//! line of the request, and write one access-log line when the response body is finished (or abandoned).

use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use tracing::Instrument;
use tracing::field::Empty;

use crate::activity::{Activity, Call, Entry};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's correlation id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming id is kept if it is short printable ASCII; anything else is replaced.
fn accept(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

tokio::task_local! {
    /// The feature a handler claimed the request for, read back by the access log for metrics.
    static FEATURE: std::cell::Cell<Option<&'static str>>;
}

/// Handlers fill these fields of the request span; the access-log line and the metrics carry them.
pub fn record_caller(feature: &'static str, instance_id: Option<&str>, user_id: Option<&str>) {
    let _ = FEATURE.try_with(|f| f.set(Some(feature)));
    let span = tracing::Span::current();
    span.record("feature", feature);
    if let Some(id) = instance_id {
        span.record("instance_id", id);
    }
    if let Some(id) = user_id {
        span.record("user_id", id);
    }
}

pub(super) async fn middleware(State(activity): State<Arc<Activity>>, mut req: Request, next: Next) -> Response {
    let id =
        req.headers().get(&X_REQUEST_ID).and_then(accept).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = crate::activity::short_path(req.uri().path());
    let span =
        tracing::info_span!("request", correlation_id = %id, feature = Empty, instance_id = Empty, user_id = Empty);
    let started = Instant::now();
    let call = Arc::new(Call::default());
    let handler = next.run(req).instrument(span.clone());
    let (mut response, feature) = FEATURE
        .scope(std::cell::Cell::new(None), async {
            let response = crate::activity::scope(call.clone(), handler).await;
            (response, FEATURE.with(std::cell::Cell::get))
        })
        .await;
    let feature = feature.unwrap_or_else(|| crate::metrics::surface(&path));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let status = response.status().as_u16();
    let headers_at = started.elapsed();
    let (parts, body) = response.into_parts();
    // The admin UI's own calls and its files would drown the requests an admin looks for.
    let listed = !(path.starts_with("/api/admin/") || path.starts_with("/admin"));
    let activity = listed.then_some((activity, call, id));
    let mut log = AccessLog { span, method, path, feature, status, started, headers_at, first_chunk: None, activity };
    let body = body.into_data_stream().map(move |chunk| {
        log.on_chunk();
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// Written when the response body is dropped: after the last byte, or when the client went away.
struct AccessLog {
    span: tracing::Span,
    method: Method,
    path: String,
    feature: &'static str,
    status: u16,
    started: Instant,
    headers_at: Duration,
    first_chunk: Option<Duration>,
    /// Where the finished request is listed, with what its handlers noted and its correlation id.
    activity: Option<(Arc<Activity>, Arc<Call>, String)>,
}

impl AccessLog {
    /// Called for every body chunk (a method, so the closure owns the whole log and drops it with the body).
    fn on_chunk(&mut self) {
        let started = self.started;
        self.first_chunk.get_or_insert_with(|| started.elapsed());
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let elapsed = self.started.elapsed();
        let status = self.status.to_string();
        metrics::counter!(crate::metrics::HTTP_REQUESTS, "feature" => self.feature, "status" => status).increment(1);
        metrics::histogram!(crate::metrics::HTTP_DURATION, "feature" => self.feature).record(elapsed.as_secs_f64());
        if let Some(first) = self.first_chunk {
            metrics::histogram!(crate::metrics::HTTP_FIRST_BYTE, "feature" => self.feature).record(first.as_secs_f64());
        }
        if let Some((activity, call, id)) = &self.activity {
            let (method, path) = (self.method.as_str(), self.path.as_str());
            activity.push(Entry::new(call, id, method, path, self.feature, self.status, elapsed));
        }
        self.span.in_scope(|| {
            tracing::info!(
                target: "airgate::access",
                method = %self.method,
                path = %self.path,
                status = self.status,
                duration_ms = ms(elapsed),
                response_start_ms = ms(self.headers_at),
                first_chunk_ms = self.first_chunk.map(ms),
                "request"
            );
        });
    }
}
