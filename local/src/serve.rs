//! The local server's accept loop, in place of `axum::serve` (which has no connection timeouts
//! and accepts until the process runs out of file descriptors): hyper's HTTP/1 server, with
//!
//! - a header-read timeout: a client has `header_timeout` to send a whole request head, from
//!   the connection's accept (first request) or the first byte of a later one;
//! - an idle timeout: a connection with no request in flight and no new request started for
//!   `idle_timeout` is closed;
//! - a cap on open connections below the descriptor limit: at the cap the loop stops accepting
//!   (new connections wait in the kernel's listen backlog) and warns, at most every 10 s.
//!
//! hyper's own `header_read_timeout` is not used: hyper 1.x starts it whenever it begins waiting
//! for a request head, which on a keep-alive connection is right after each response, so it
//! would also be the idle timeout. Both are kept here by a watchdog per connection.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Descriptors kept for everything but client connections: the SQLite database and its WAL and
/// shared-memory files, the data-directory lock, stdio, the runtime's own, outgoing TUNE calls.
const RESERVED_DESCRIPTORS: u64 = 64;
/// The default cap however high the descriptor limit: one SQLite writer is busy long before.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// How long shutdown waits for the requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// At most one "connection cap reached" warning per this long.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where allowed; the soft limit then in force
/// (`None` where there is no such limit).
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(soft) => Some(soft),
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the file-descriptor limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap: `configured` (`AFFNET_MAX_CONNECTIONS`) or the default, never more than
/// the descriptor limit leaves after the reserve.
pub fn connection_cap(configured: Option<usize>, descriptors: Option<u64>) -> usize {
    let budget = descriptors.map_or(u64::MAX, |limit| {
        if limit > 2 * RESERVED_DESCRIPTORS {
            limit - RESERVED_DESCRIPTORS
        } else {
            limit / 2
        }
    });
    let wanted = configured.map_or(DEFAULT_MAX_CONNECTIONS, |n| n as u64);
    if let Some(n) = configured.filter(|&n| n as u64 > budget) {
        tracing::warn!(
            "AFFNET_MAX_CONNECTIONS={n} leaves too few of the {} file descriptors for the store and the log; using {budget}",
            descriptors.unwrap_or_default()
        );
    }
    wanted.min(budget).max(1) as usize
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish (for at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(());
    let mut cap = CapWarning::default();
    tokio::pin!(shutdown);
    loop {
        let (permit, stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots, &mut cap, limits.max_connections) => accepted,
        };
        let (router, stopped) = (router.clone(), stopped.clone());
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stopped).await;
            drop(permit);
        });
    }
    drop(listener);
    stop.send_replace(());
    drain(&slots, limits.max_connections).await;
}

/// Waits for a free slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    cap: &mut CapWarning,
    max: usize,
) -> (OwnedSemaphorePermit, TcpStream, SocketAddr) {
    let permit = match slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            cap.hit(max);
            let permit = slots.clone().acquire_owned().await;
            permit.expect("the connection semaphore is never closed")
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (permit, stream, peer),
            Err(e) => accept_error(e).await,
        }
    }
}

/// A failed accept: a connection the client gave up on is nothing; anything else (such as
/// running out of descriptors after all) is logged, and the loop waits a second.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The rate-limited warning at the cap.
#[derive(Default)]
struct CapWarning {
    last: Option<Instant>,
    /// Times the cap was hit since the last warning.
    hits: u64,
}

impl CapWarning {
    fn hit(&mut self, max: usize) {
        self.hits += 1;
        if self.last.is_some_and(|at| at.elapsed() < CAP_WARNING_EVERY) {
            return;
        }
        tracing::warn!(
            max_connections = max,
            times = self.hits,
            "connection cap reached: new connections wait until one closes (AFFNET_MAX_CONNECTIONS)"
        );
        self.last = Some(Instant::now());
        self.hits = 0;
    }
}

/// Waits until every connection has closed, or [`SHUTDOWN_GRACE`] has passed.
async fn drain(slots: &Semaphore, max: usize) {
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        let open = max - slots.available_permits();
        tracing::warn!(
            open,
            "connections still open after {SHUTDOWN_GRACE:?}; closing them"
        );
    }
}

/// One connection: served until it ends, its watchdog fires, or (after shutdown began) its
/// request in flight is answered.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request| handle(request, router.clone(), peer, activity.clone())
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    let expired = activity.expired(limits);
    tokio::pin!(conn, expired);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            () = &mut expired => {
                tracing::debug!(%peer, "connection timed out");
                return;
            }
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// One request: the router's answer, with the client's address where handlers find it
/// (`ConnectInfo<SocketAddr>`, as `into_make_service_with_connect_info` put it), and the
/// connection busy until the response body is written or dropped.
async fn handle(
    mut request: hyper::Request<Incoming>,
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> Result<axum::response::Response, Infallible> {
    request.extensions_mut().insert(ConnectInfo(peer));
    let busy = activity.request_started();
    let response = router.oneshot(request).await?;
    Ok(response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _busy = &busy;
            frame
        }))
    }))
}

/// What a connection's watchdog needs to know: requests in flight, since when it has been idle,
/// since when a request head has been arriving.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    in_flight: usize,
    idle_since: Instant,
    /// Accept for the first request; the first byte read while idle for later ones.
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: now,
                head_started: Some(now),
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: while idle, the start of a request head.
    fn bytes_read(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A whole request head arrived; the connection is busy until the guard is dropped.
    fn request_started(self: &Arc<Self>) -> Busy {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_started = None;
        Busy(self.clone())
    }

    /// When the connection is to be closed as it is now; `None` while a request is in flight.
    fn deadline(&self, limits: Limits) -> Option<Instant> {
        let state = self.state();
        match (state.in_flight, state.head_started) {
            (0, Some(started)) => Some(started + limits.header_timeout),
            (0, None) => Some(state.idle_since + limits.idle_timeout),
            _ => None,
        }
    }

    /// Resolves when the connection has idled, or taken to send a request head, too long.
    async fn expired(&self, limits: Limits) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                None => changed.await,
                Some(at) if at <= Instant::now() => return,
                Some(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                },
            }
        }
    }
}

/// A request in flight on its connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            self.0.changed.notify_one();
        }
    }
}

/// The client's socket, telling its [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::connection_cap;

    #[test]
    fn the_cap_keeps_descriptors_for_the_store_and_the_log() {
        assert_eq!(connection_cap(None, Some(256)), 192);
        assert_eq!(connection_cap(None, Some(1024)), 960);
        assert_eq!(connection_cap(None, Some(1_048_576)), 10_000);
        assert_eq!(connection_cap(None, Some(100)), 50);
        assert_eq!(connection_cap(None, None), 10_000);
        assert_eq!(connection_cap(Some(50_000), Some(1_048_576)), 50_000);
        assert_eq!(connection_cap(Some(5_000), Some(1024)), 960);
        assert_eq!(connection_cap(Some(10), Some(1024)), 10);
    }
}
