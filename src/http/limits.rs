//! What one client may hold of the server: a cap on connections open at once (a connection past it is closed at once), and hyper's timer for the header-read timeout, which also ends connections that sit idle between requests.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a client may take to send a request's headers, counted from when the server starts
/// waiting for them: on a new connection, and between the requests of a kept-alive one.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies the header-read timeout (and HTTP/2 keep-alive pings) to a server's connection builder.
pub fn apply_timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header: Duration,
) {
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(header))
        .keep_alive_timeout(header / 3);
}

/// An acceptor that lets at most `max` connections be open at once; past that, a new connection
/// is closed before anything is read from it (no TLS handshake, no request).
#[derive(Clone)]
pub struct Capped<A> {
    inner: A,
    open: Arc<Semaphore>,
}

impl<A> Capped<A> {
    pub fn new(inner: A, max: usize) -> Self {
        Capped { inner, open: Arc::new(Semaphore::new(max)) }
    }
}

impl<I, S, A> Accept<I, S> for Capped<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.open.clone().try_acquire_owned() else {
            drop(stream);
            metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
            tracing::debug!("connection limit reached: a new connection was closed");
            return Box::pin(std::future::ready(Err(io::Error::other("connection limit reached"))));
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((Counted { inner: stream, _open: permit }, service))
        })
    }
}

/// A connection holding one of the cap's places until it is dropped.
pub struct Counted<T> {
    inner: T,
    _open: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
