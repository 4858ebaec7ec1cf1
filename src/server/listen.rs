//! Listening and draining: accepts connections on a listener (with TLS on
//! the main one when `[server.tls]` is set), serves each with hyper under
//! the server-wide limits, and on shutdown drains the
//! requests and writes in flight.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::admit::BodyBudget;
use super::{App, deadline, dispatch, respond};
use crate::entrust;
use crate::error::{Body, Error};
use crate::headers;
use crate::tls::ClientIdentity;

/// Listen backlog: std's (and so tokio's `bind`) is 128, which a burst of
/// new connections overflows into SYN retransmits (1 s, then 3 s); the
/// kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// A listener on `addr` with [`BACKLOG`] (`SO_REUSEADDR` as std sets it).
pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Every route.
    Main,
    /// Only `/healthz`, `/readyz`, `/metrics`.
    Admin,
}

impl Listener {
    /// The config key that sets its address.
    pub fn config_key(self) -> &'static str {
        match self {
            Listener::Main => "server.listen",
            Listener::Admin => "admin.listen",
        }
    }
}

/// How a listener's drain ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open at `drain_timeout_ms`, closed mid-request.
    pub cut: usize,
}

/// Serves until `shutdown` completes, then drains: no new connections;
/// requests in flight finish (answered with `Connection: close`); a request
/// that arrives on a kept-alive connection meanwhile gets 503 code 1000 with
/// `Connection: close`; at `drain_timeout_ms` the rest are cut and counted.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    which: Listener,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let cfg = app.config().server.clone();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let budget = Arc::new(BodyBudget::new(cfg.max_body_memory_bytes));
    let write_timeout = Duration::from_millis(cfg.write_timeout_ms);
    let drain = Arc::new(Drain::default());
    let mut accept_failures = LogEvery::new(Duration::from_secs(1));
    // Owned here, so that connections left at the drain timeout can be cut.
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning, and log a line a second at most.
                    if let Some(n) = accept_failures.failed(std::time::Instant::now()) {
                        tracing::warn!(
                            error = %e,
                            failures_since_last_line = n,
                            "accept failed (one line a second at most)"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            app: app.clone(),
            which,
            budget: budget.clone(),
            drain: drain.clone(),
            peer,
            identity: None,
        };
        let io = deadline::WriteDeadline::new(stream, write_timeout);
        let watcher = graceful.watcher();
        // The admin listener stays plain: kubelet probes and scrapers reach
        // it on the pod's own address (docs/security.md).
        let tls = match which {
            Listener::Main => app.tls().map(|t| t.current()),
            Listener::Admin => None,
        };
        let handshake_timeout = Duration::from_millis(cfg.header_read_timeout_ms);
        let http = (cfg.header_read_timeout_ms, cfg.max_header_bytes);
        conns.spawn(async move {
            match tls {
                None => conn.serve(io, http, watcher).await,
                // Boxed: a plain connection's task then holds a pointer,
                // not the TLS session's state inline.
                Some(tls) => {
                    Box::pin(async move {
                        if let Some((io, conn)) = conn.handshake(io, tls, handshake_timeout).await {
                            conn.serve(io, http, watcher).await;
                        }
                    })
                    .await
                }
            }
            drop(permit);
        });
    }
    if which == Listener::Admin {
        // Probes answered until the main listener drained; nothing to wait for.
        return Drained::default();
    }
    // Draining before the listener closes: a caller refused a connection
    // knows that requests on its open ones get 503.
    drain.start();
    drop(listener);
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(cfg.drain_timeout_ms);
    // In-flight requests first; then idle connections are closed.
    let drained = async {
        drain.idle().await;
        graceful.shutdown().await;
        // Writes still running after their callers left.
        app.writes().idle().await;
    };
    if tokio::time::timeout_at(deadline, drained).await.is_ok() {
        tracing::info!("drained");
        return Drained::default();
    }
    while conns.try_join_next().is_some() {}
    let cut = conns.len();
    tracing::warn!(
        drain_timeout_ms = cfg.drain_timeout_ms,
        connections_cut = cut,
        requests_cut = drain.busy(),
        writes_cut = app.writes().running(),
        "drain timeout: closing the remaining connections"
    );
    // Keyed writes still running are cut with the process: their keys
    // keep "outcome unknown", so that a retry on another gateway is not
    // sent again (their claims would otherwise lapse).
    let apps = app.apps();
    let on = apps.config().dedup.window_ms > 0;
    for t in apps.all().iter().filter(|_| on) {
        let recorded = t.idempotency().cut_all().await;
        if recorded > 0 {
            tracing::warn!(
                keys = recorded,
                "drain timeout: keyed writes still running are recorded as outcome unknown"
            );
        }
    }
    conns.shutdown().await;
    Drained { cut }
}

/// One accepted connection: what its requests are served with.
struct Conn {
    app: Arc<App>,
    which: Listener,
    budget: Arc<BodyBudget>,
    drain: Arc<Drain>,
    peer: SocketAddr,
    /// Who the caller is, from its verified client certificate (mutual TLS).
    identity: Option<Arc<ClientIdentity>>,
}

impl Conn {
    /// The TLS handshake within `timeout` (as a request head's, a
    /// slow-loris guard); `None` when it failed (logged at DEBUG: scanners
    /// and plain HTTP callers make them all day). With mutual TLS the
    /// connection's identity is its verified certificate's.
    async fn handshake<IO>(
        mut self,
        io: IO,
        tls: Arc<rustls::ServerConfig>,
        timeout: Duration,
    ) -> Option<(tokio_rustls::server::TlsStream<IO>, Conn)>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(io);
        let stream = match tokio::time::timeout(timeout, accept).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                return None;
            }
        };
        // Present only when a client CA verified it.
        if let Some(cert) = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
        {
            match ClientIdentity::from_der(cert) {
                Ok(id) => self.identity = Some(Arc::new(id)),
                Err(e) => {
                    // Verified, yet unreadable: served without an identity
                    // it would be a caller no mapping could name.
                    tracing::warn!(peer = %self.peer, error = %e, "closing a connection whose verified client certificate cannot be read");
                    return None;
                }
            }
        }
        Some((stream, self))
    }

    /// Serves the connection's requests with hyper until it closes;
    /// `http`: `server.header_read_timeout_ms` and `server.max_header_bytes`.
    async fn serve<IO>(self, io: IO, http: (u64, usize), watcher: Watcher)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            app,
            which,
            budget,
            drain,
            peer,
            identity,
        } = self;
        let service = service_fn(move |req: Request<Incoming>| {
            let (app, budget, identity) = (app.clone(), budget.clone(), identity.clone());
            drained(drain.clone(), app, which, budget, peer, identity, req)
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(http.0))
            .max_header_size(http.1)
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// A failure repeated many times a second, logged once per `period` at
/// most: each line carries how many failures it stands for.
#[derive(Debug)]
pub(crate) struct LogEvery {
    period: Duration,
    /// When the last line was logged.
    last: Option<std::time::Instant>,
    /// Failures since the last line, not yet logged.
    unlogged: u64,
}

impl LogEvery {
    pub(crate) fn new(period: Duration) -> Self {
        LogEvery {
            period,
            last: None,
            unlogged: 0,
        }
    }

    /// Counts one failure at `now`; `Some(n)` when a line is due, `n` the
    /// failures since the last line, this one included. The first failure
    /// is logged at once.
    pub(crate) fn failed(&mut self, now: std::time::Instant) -> Option<u64> {
        self.unlogged += 1;
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.period)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// The main listener's shutdown state: whether it is draining, and how many
/// requests are being served.
#[derive(Default)]
struct Drain {
    draining: std::sync::atomic::AtomicBool,
    busy: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Drain {
    fn start(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// Returns once no request is being served.
    async fn idle(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.busy() == 0 {
                return;
            }
            changed.await;
        }
    }
}

/// One request counted as in flight while it lives.
struct Busy(Arc<Drain>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

/// Serves one request under the drain rules of [`serve`].
async fn drained(
    drain: Arc<Drain>,
    app: Arc<App>,
    which: Listener,
    budget: Arc<BodyBudget>,
    peer: SocketAddr,
    identity: Option<Arc<ClientIdentity>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // Counted before the check, so that the drain never misses a request
    // that got past it.
    drain.busy.fetch_add(1, Ordering::SeqCst);
    let _busy = Busy(drain.clone());
    let mut resp = if drain.draining() {
        let face = dispatch::face_of(req.uri().path(), req.headers());
        tracing::info!(
            face = face.as_str(),
            "shutting down: refused a request on a kept-alive connection"
        );
        let mut resp = respond::error(
            face,
            &Error::Unavailable(
                "the gateway is shutting down; send the request again (it was not processed)"
                    .into(),
            ),
        );
        resp.headers_mut()
            .insert(entrust::header::REQUEST_ID, headers::new_request_id());
        resp
    } else {
        dispatch::handle(app, which, budget, peer, identity, req).await?
    };
    if drain.draining() {
        // The caller opens a new connection (to another instance) next time.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures every 50 ms for three seconds: the first is logged at
    /// once, then one line a second, each counting the failures since the
    /// line before.
    #[test]
    fn repeated_failures_make_one_line_a_second_with_their_count() {
        let start = std::time::Instant::now();
        let mut log = LogEvery::new(Duration::from_secs(1));
        let mut lines = Vec::new();
        for i in 0..60u32 {
            let at = start + Duration::from_millis(50) * i;
            if let Some(n) = log.failed(at) {
                lines.push((at - start, n));
            }
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            lines,
            [(ms(0), 1), (ms(1000), 20), (ms(2000), 20)],
            "every failure is counted once"
        );
        // 19 failures (2050..=2950 ms) are not logged yet; a failure after
        // a quiet spell is logged at once, with them.
        assert_eq!(log.failed(start + ms(9000)), Some(20));
        assert_eq!(log.failed(start + ms(9001)), None);
    }
}
