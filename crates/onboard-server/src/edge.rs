//! The listening edge (CONTRACT §11): connections are accepted here and served by
//! hyper with clocks of our own, so that nothing without a key can hold a node's
//! resources for long.
//!
//! `axum::serve` builds hyper's connection builder without a timer, so hyper's
//! header-read timeout never fires there; and hyper's own timer, where it runs,
//! starts as soon as it waits for a request head, which makes "idle between
//! requests" and "slow headers" one clock. Here every connection's socket is
//! wrapped in a [`Guarded`] stream that knows which phase the connection is in:
//!
//! - accepted, nothing read yet: the first request's head must be complete within
//!   `header_timeout`;
//! - between requests (keep-alive): the next request must start within
//!   `idle_timeout`, then its head must be complete within `header_timeout`;
//! - serving a request: its body must arrive within `body_timeout` of its head
//!   ([`TimedBody`], answered 408), and a response write that makes no progress
//!   for `idle_timeout` closes the connection;
//! - upgraded to a WebSocket: the feed session keeps its own clocks.
//!
//! At most `max_connections` are open at once (a WebSocket holds its place); the
//! next one is answered `503` and closed at once. On shutdown the listener closes,
//! requests in flight may finish, idle connections close, WebSockets are closed
//! with 1001 by the feed, and whatever is left after `shutdown_timeout` is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;
use crate::state::AppState;
pub use crate::state::EdgeLimits;

/// A connection's place under `max_connections`, held by every request of the
/// connection and by the WebSocket session it may become; the place is given back
/// when the last holder goes.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<Held>);

/// The permit itself, and the gauge of open connections it keeps right.
pub struct Held {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves the application on `listener` until `shutdown` resolves, then shuts down
/// within [`EdgeLimits::shutdown_timeout`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(state.edge.clone());
    let tasks = state.tasks.clone();
    let metrics = state.metrics.clone();
    let tls = state.tls.clone();
    if let Some(tls) = &tls {
        tasks
            .tracker
            .spawn(Arc::clone(tls).keep_fresh(tasks.shutdown.clone()));
    }
    let router = crate::app(state);

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = CancellationToken::new();
    let hard = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
            // A TLS client could not read a plain answer: it is only closed.
            if tls.is_none() {
                refuse(stream);
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot(Arc::new(Held {
            _permit: permit,
            metrics: metrics.clone(),
        }));
        let (limits, router) = (limits.clone(), router.clone());
        let stop = Stop {
            graceful: graceful.clone(),
            hard: hard.clone(),
        };
        let tls = tls.as_ref().map(|tls| tls.acceptor());
        let served = Served {
            peer,
            router,
            limits,
            slot,
            stop,
        };
        connections.spawn(connection(stream, tls, served));
    }
    drop(listener);
    tracing::info!("stopped accepting connections; finishing the open ones");
    tasks.shutdown.cancel();
    graceful.cancel();
    connections.close();
    tasks.tracker.close();
    let everything = async {
        connections.wait().await;
        tasks.tracker.wait().await;
    };
    if tokio::time::timeout(limits.shutdown_timeout, everything)
        .await
        .is_err()
    {
        let left = connections.len();
        tracing::warn!(
            connections = left,
            "shutdown deadline reached; dropping the connections left"
        );
        hard.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
    }
    Ok(())
}

/// Errors of one connection that say nothing about the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What a connection over the cap reads before it is closed.
static BUSY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = r#"{"error":"this server has too many open connections; try again shortly"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Answers 503 if the socket takes it without waiting, and closes: refusing costs
/// no task and no timer.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(&BUSY);
}

struct Stop {
    /// Finish what is in flight, close the rest.
    graceful: CancellationToken,
    /// Drop the connection now.
    hard: CancellationToken,
}

/// What serving one connection needs besides its socket.
struct Served {
    peer: SocketAddr,
    router: axum::Router,
    limits: Arc<EdgeLimits>,
    slot: ConnectionSlot,
    stop: Stop,
}

/// One connection: plain, or TLS first (CONTRACT §13). The handshake runs under
/// the header clock: the [`Guarded`] socket is under it (a first byte starts the
/// head), and the whole handshake must end within `header_timeout` too, so a
/// client that starts one and stalls is dropped like one that sends half a head.
async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, served: Served) {
    let watch = Arc::new(Watch::new());
    let guarded = Guarded::new(stream, watch.clone(), &served.limits);
    let Some(acceptor) = tls else {
        return http(TokioIo::new(guarded), watch, served).await;
    };
    let handshake = tokio::time::timeout(served.limits.header_timeout, acceptor.accept(guarded));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
        () = served.stop.graceful.cancelled() => return,
    };
    http(TokioIo::new(stream), watch, served).await;
}

/// HTTP/1.1 (and its upgrades) over `io`, under the connection's clocks.
async fn http<I>(io: TokioIo<I>, watch: Arc<Watch>, served: Served)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Served {
        peer,
        router,
        limits,
        slot,
        stop,
    } = served;
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        let watch = watch.clone();
        watch.enter(Phase::Busy);
        let mut request = request.map(|body| Body::new(TimedBody::new(body, body_timeout)));
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(slot.clone());
        async move {
            let response = tower_service::Service::call(&mut router, request)
                .await
                .unwrap_or_else(|never| match never {});
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                watch.enter(Phase::Upgraded);
            }
            Ok::<_, Infallible>(response.map(|body| Done { body, watch }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Hyper's own head timer is only a backstop here: it starts when hyper waits
    // for a head, so it covers the idle wait and the head together.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout + limits.idle_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = stop.graceful.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                served = conn.as_mut() => served,
                () = stop.hard.cancelled() => return,
            }
        }
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Where a connection is in its life; decides which clock its reads run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Accepted; nothing read yet.
    Fresh = 0,
    /// Between requests.
    Idle = 1,
    /// Bytes of a request head arrived; the head is not complete.
    Head = 2,
    /// A request is being served.
    Busy = 3,
    /// A WebSocket now.
    Upgraded = 4,
}

/// A connection's phase and when it began, shared by its socket and its service.
struct Watch {
    born: Instant,
    phase: AtomicU8,
    /// Milliseconds from `born` to the start of the phase.
    since: AtomicU64,
}

impl Watch {
    fn new() -> Self {
        Watch {
            born: Instant::now(),
            phase: AtomicU8::new(Phase::Fresh as u8),
            since: AtomicU64::new(0),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Fresh,
            1 => Phase::Idle,
            2 => Phase::Head,
            3 => Phase::Busy,
            _ => Phase::Upgraded,
        }
    }

    fn enter(&self, phase: Phase) {
        if self.phase() == Phase::Upgraded {
            return;
        }
        let since = self.born.elapsed().as_millis() as u64;
        self.since.store(since, Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Bytes arrived: between requests, that starts a head.
    fn on_read(&self) {
        if matches!(self.phase(), Phase::Fresh | Phase::Idle) {
            self.enter(Phase::Head);
        }
    }

    /// When a read still waiting must give up, if it must.
    fn read_deadline(&self, limits: &Clocks) -> Option<Instant> {
        let phase = self.phase();
        let since = self.born + Duration::from_millis(self.since.load(Ordering::Acquire));
        match phase {
            Phase::Fresh | Phase::Head => Some(since + limits.header),
            Phase::Idle => Some(since + limits.idle),
            Phase::Busy | Phase::Upgraded => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Clocks {
    header: Duration,
    idle: Duration,
}

/// A socket that ends reads and writes which waited past the phase's deadline.
struct Guarded {
    inner: TcpStream,
    watch: Arc<Watch>,
    clocks: Clocks,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// Since when writes have made no progress.
    write_stalled: Option<Instant>,
}

impl Guarded {
    fn new(inner: TcpStream, watch: Arc<Watch>, limits: &EdgeLimits) -> Self {
        Guarded {
            inner,
            watch,
            clocks: Clocks {
                header: limits.header_timeout,
                idle: limits.idle_timeout,
            },
            read_timer: None,
            write_timer: None,
            write_stalled: None,
        }
    }

    /// A write is pending: has it been pending too long?
    fn write_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.watch.phase() == Phase::Upgraded {
            // The feed session times its own writes.
            return false;
        }
        let stalled = *self.write_stalled.get_or_insert_with(Instant::now);
        expired(&mut self.write_timer, stalled + self.clocks.idle, cx)
    }

    fn wrote<T>(
        &mut self,
        polled: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending if self.write_expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has not read the response for too long",
            ))),
            Poll::Pending => Poll::Pending,
            ready => {
                self.write_stalled = None;
                ready
            }
        }
    }
}

/// Polls a timer set to `deadline` (created or moved as needed).
fn expired(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.watch.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.watch.read_deadline(&this.clocks) else {
                    return Poll::Pending;
                };
                if !expired(&mut this.read_timer, deadline, cx) {
                    return Poll::Pending;
                }
                match this.watch.phase() {
                    // Nothing of a request: end the connection as if the client had.
                    Phase::Fresh | Phase::Idle => Poll::Ready(Ok(())),
                    _ => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    ))),
                }
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.wrote(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body that must be complete within a deadline.
pub struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        TimedBody {
            inner,
            deadline: Instant::now() + limit,
            limit,
            timer: None,
        }
    }
}

/// A request body did not arrive in time (the request is answered 408).
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} ms",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyTimeout {}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending if expired(&mut this.timer, this.deadline, cx) => {
                Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that marks its connection idle once written (or dropped).
struct Done {
    body: Body,
    watch: Arc<Watch>,
}

impl Drop for Done {
    fn drop(&mut self) {
        if self.watch.phase() == Phase::Busy {
            self.watch.enter(Phase::Idle);
        }
    }
}

impl http_body::Body for Done {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
