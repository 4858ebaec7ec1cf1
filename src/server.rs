//! The listener: accepts connections, routes each request to its face,
//! applies the server-wide limits, and shuts down gracefully.
//!
//! Routing is by path prefix: `/entrust/` → [`crate::proxy`], `/group/` and
//! `/auth/` → [`crate::openim`], `/healthz`, `/readyz`, `/metrics` → admin.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::dedup::{Begin, Dedup, Stored};
use crate::entrust;
use crate::error::{Body, Error, Face, json_response};
use crate::gateway::Gateway;
use crate::metrics::InFlight;
use crate::route::EntrustPath;
use crate::{accesslog, headers, openim, proxy};

mod admit;
mod deadline;

pub use admit::{BodyBudget, BodyRoom};

/// The caller's address, in an OpenIM request's extensions (for per-caller
/// throttles such as [`crate::openim::token::throttled`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A running gateway.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The admin listener's address, when `[admin] listen` is set.
    pub admin_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Drained>,
}

impl ServerHandle {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain
    /// timeout), and returns when the server has stopped.
    pub async fn shutdown(mut self) -> Drained {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or_default()
    }

    /// Returns when the server stops (after a shutdown signal).
    pub async fn wait(mut self) -> Drained {
        (&mut self.task).await.unwrap_or_default()
    }

    /// A sender that starts the shutdown (for signal handlers).
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Binds `server.listen` (and `admin.listen`) and serves in a background task.
pub async fn start(gateway: Arc<Gateway>) -> io::Result<ServerHandle> {
    let listener = bind(gateway.config().server.listen)?;
    let addr = listener.local_addr()?;
    let admin = match gateway.config().admin.listen {
        Some(a) => Some(bind(a)?),
        None => None,
    };
    let admin_addr = admin.as_ref().map(|l| l.local_addr()).transpose()?;
    admit::warn_at_start(&gateway);
    gateway.spawn_secret_watcher();
    let (tx, rx) = oneshot::channel();
    let gw = gateway.clone();
    let task = tokio::spawn(async move {
        let (stop_admin, admin_rx) = oneshot::channel::<()>();
        let admin_task = admin.map(|l| {
            tokio::spawn(serve(l, gw.clone(), Listener::Admin, async {
                let _ = admin_rx.await;
            }))
        });
        let drained = serve(listener, gw, Listener::Main, async {
            let _ = rx.await;
        })
        .await;
        // Probes keep answering until the main listener has drained.
        let _ = stop_admin.send(());
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        drained
    });
    Ok(ServerHandle {
        addr,
        admin_addr,
        gateway,
        shutdown: Some(tx),
        task,
    })
}

/// Listen backlog: std's (and so tokio's `bind`) is 128, which a burst of
/// new connections overflows into SYN retransmits (1 s, then 3 s); the
/// kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 4096;

/// A listener on `addr` with [`BACKLOG`] (`SO_REUSEADDR` as std sets it).
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
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
    gw: Arc<Gateway>,
    which: Listener,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let cfg = gw.config().server.clone();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let budget = Arc::new(BodyBudget::new(cfg.max_body_memory_bytes));
    let write_timeout = Duration::from_millis(cfg.write_timeout_ms);
    let drain = Arc::new(Drain::default());
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
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let budget = budget.clone();
        let drain = drain.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            drained(drain.clone(), gw.clone(), which, budget.clone(), peer, req)
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(cfg.header_read_timeout_ms))
            .max_header_size(cfg.max_header_bytes)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(deadline::WriteDeadline::new(stream, write_timeout)),
                service,
            );
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
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
        gw.writes().idle().await;
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
        writes_cut = gw.writes().running(),
        "drain timeout: closing the remaining connections"
    );
    conns.shutdown().await;
    Drained { cut }
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
    gw: Arc<Gateway>,
    which: Listener,
    budget: Arc<BodyBudget>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // Counted before the check, so that the drain never misses a request
    // that got past it.
    drain.busy.fetch_add(1, Ordering::SeqCst);
    let _busy = Busy(drain.clone());
    let mut resp = if drain.draining() {
        let face = face_of(req.uri().path(), req.headers());
        tracing::info!(
            face = face.as_str(),
            "shutting down: refused a request on a kept-alive connection"
        );
        let mut resp = Error::Unavailable(
            "the gateway is shutting down; send the request again (it was not processed)".into(),
        )
        .to_response(face);
        resp.headers_mut()
            .insert(entrust::header::REQUEST_ID, headers::new_request_id());
        resp
    } else {
        handle(gw, which, budget, peer, req).await?
    };
    if drain.draining() {
        // The caller opens a new connection (to another instance) next time.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

/// The face a request speaks: by path prefix, and for a path no face
/// serves, by whether it carries OpenIM's `operationID` header, so that an
/// OpenIM caller's typo still gets OpenIM's envelope.
fn face_of(path: &str, headers: &http::HeaderMap) -> Face {
    if path.starts_with(entrust::path::PREFIX) {
        Face::Entrust
    } else if path.starts_with("/group/") || path.starts_with("/auth/") {
        Face::OpenIm
    } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        Face::Admin
    } else if headers.contains_key(headers::OPERATION_ID) {
        Face::OpenIm
    } else {
        Face::Entrust
    }
}

/// A bounded metric label for the route.
fn route_label(face: Face, path: &str) -> &'static str {
    let known = match face {
        Face::Entrust => entrust::path::DOCUMENTED,
        Face::OpenIm => openim::ROUTES,
        Face::Admin => &["/healthz", "/readyz", "/metrics"],
    };
    known
        .iter()
        .find(|p| **p == path)
        .copied()
        .unwrap_or("other")
}

async fn handle(
    gw: Arc<Gateway>,
    which: Listener,
    budget: Arc<BodyBudget>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let metrics = gw.metrics();
    let _in_flight = InFlight::new(&metrics.in_flight);
    let start = Instant::now();
    let face = face_of(req.uri().path(), req.headers());
    let route = route_label(face, req.uri().path());
    if face == Face::OpenIm {
        // Only the OpenIM token routes throttle by address.
        req.extensions_mut().insert(ClientAddr(peer));
    }
    if which == Listener::Admin && face != Face::Admin {
        let mut resp =
            Error::NotFound("the admin listener serves /healthz, /readyz and /metrics only".into())
                .to_response(Face::Admin);
        resp.headers_mut()
            .insert(entrust::header::REQUEST_ID, headers::new_request_id());
        return Ok(resp);
    }
    let request_id = match face {
        Face::OpenIm => headers::request_id(req.headers().get(headers::OPERATION_ID)),
        _ => headers::request_id(req.headers().get(entrust::header::REQUEST_ID)),
    };
    let log = accesslog::Request::new(request_id.clone(), face.as_str(), route);
    let timeout = Duration::from_millis(gw.config().server.request_timeout_ms);
    let data_centers = gw.upstream().urls();
    // The request's fields for its log line travel in a task-local: no
    // span is entered on every poll (accesslog's module doc); JSON logs
    // print them flat, upstream_path and data_center included.
    let (mut resp, log) = {
        let mut serving = std::pin::pin!(log.scope(async {
            // Checked before the body is read; the body's room in the
            // memory budget goes with the body (dispatch).
            let (room, entrust) = match admit::admit(&gw, face, &req, &budget) {
                Ok(admitted) => admitted,
                Err(e) => return admit::refused(e, face),
            };
            // Boxed: the pipeline's state is kilobytes, moved on every
            // wrapping otherwise, and held by idle connections.
            let serving = Box::pin(dispatch(&gw, face, entrust, room, req, request_id.clone()));
            match tokio::time::timeout(timeout, serving).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => refusal(face, &e),
                Err(_) => Error::Timeout(format!(
                    "the request took longer than server.request_timeout_ms ({} ms)",
                    timeout.as_millis()
                ))
                .to_response(face),
            }
        }));
        let resp = serving.as_mut().await;
        (resp, serving.as_mut().take_value())
    };
    resp.headers_mut()
        .insert(entrust::header::REQUEST_ID, request_id);
    let Some(log) = log else {
        return Ok(resp);
    };
    let status = resp.status().as_u16();
    gw.count_request(face.as_str(), log.route, status);
    // Probes and scrapes come every few seconds: their lines are DEBUG, so
    // INFO logs carry only API traffic.
    let level = if face == Face::Admin {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    accesslog::done(&log, data_centers, level, status, start.elapsed());
    Ok(resp)
}

/// `entrust`: on the entrust face, the path [`admit::admit`] made; `room`:
/// the body's room in the memory budget, held as long as the body is
/// (into a write's own task).
async fn dispatch(
    gw: &Arc<Gateway>,
    face: Face,
    entrust: Option<EntrustPath<'_>>,
    room: BodyRoom,
    req: Request<Incoming>,
    request_id: HeaderValue,
) -> Result<Response<Body>, Error> {
    if face == Face::Admin {
        return admin(gw, &req);
    }
    let (parts, body) = req.into_parts();
    let limit = gw.config().server.max_body_bytes;
    // A passthrough read takes its first quota permit before its body is
    // read: over quota, the refusal costs no reading or checking. (Writes
    // wait for their body: one may be a retry answered from the store.)
    if let Some(path) = entrust.filter(|p| entrust::path::is_read_only(p.as_str())) {
        let permit = match gw.early_permit(path).await {
            Ok(p) => p,
            Err(e) => {
                discard_body(body, limit).await;
                return Err(e);
            }
        };
        let body = read_body(body, limit).await?;
        return proxy::handle(gw, &parts, path, body, &request_id, Some(permit)).await;
    }
    let body = read_body(body, limit).await?;
    // admit() passed: a POST to a forwarded entrust path or an OpenIM
    // route; the entrust reads went above.
    let writes = face == Face::Entrust || openim::is_write(parts.uri.path());
    if !writes {
        // Boxed: the OpenIM handlers' state (batches of calls) is
        // kilobytes, which every request's pipeline would otherwise hold.
        let reading = Box::pin(route(gw, face, &parts, body, &request_id));
        return reading.await;
    }
    let gw = gw.clone();
    // A write runs in its own task, which owns what it needs: hyper drops
    // this future when the caller disconnects, and request_timeout_ms drops
    // it too, but a write the vendor may have received must still finish,
    // keep its answer for its key and get its log line.
    let (tx, rx) = oneshot::channel();
    let started = Instant::now();
    let running = gw.writes().start();
    // The task carries the request's log fields (the pipeline records the
    // upstream path and data center into them).
    let log = accesslog::current();
    // Boxed before it is wrapped and spawned: the write's whole pipeline is
    // inline in this future (kilobytes), copied at every move otherwise.
    tokio::spawn(accesslog::scope(
        log,
        Box::pin(async move {
            let (_running, _room) = (running, room);
            let result = write(&gw, face, &parts, body, &request_id).await;
            if let Err(result) = tx.send(result) {
                let (status, error) = match &result {
                    Ok(r) => (r.status(), None),
                    Err(e) => (e.to_response(face).status(), Some(e.to_string())),
                };
                accesslog::span(gw.upstream().urls()).in_scope(|| {
                    tracing::info!(
                        status = status.as_u16(),
                        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                        error = error.as_deref(),
                        "done after the caller left (disconnected or request_timeout_ms)"
                    )
                });
            }
        }),
    ));
    rx.await
        .unwrap_or_else(|_| Err(Error::Internal("the write ended without an answer".into())))
}

/// Writes running in their own tasks, so that shutdown can wait for those
/// whose callers have left (within `drain_timeout_ms`).
#[derive(Default)]
pub struct Writes(Arc<tokio::sync::watch::Sender<usize>>);

/// One write running; dropped when it ends.
pub struct Running(Arc<tokio::sync::watch::Sender<usize>>);

impl Writes {
    fn start(&self) -> Running {
        self.0.send_modify(|n| *n += 1);
        Running(self.0.clone())
    }

    /// How many are running now.
    pub fn running(&self) -> usize {
        *self.0.borrow()
    }

    /// Returns when none is running.
    pub async fn idle(&self) {
        let _ = self.0.subscribe().wait_for(|n| *n == 0).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// The caller's answer for an error; the request's log line says "request
/// refused", and why (a keyed write's errors too).
fn refusal(face: Face, e: &Error) -> Response<Body> {
    accesslog::refused("request refused", e);
    e.to_response(face)
}

/// A write, under duplicate protection when it carries a key.
async fn write(
    gw: &Gateway,
    face: Face,
    parts: &http::request::Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    let Some((dedup, key)) = dedup_key(gw, parts)? else {
        return route(gw, face, parts, body, request_id).await;
    };
    let fingerprint = crate::dedup::fingerprint(parts, &body);
    let claim = match dedup.begin(key, fingerprint).await? {
        Begin::Replay(mut resp) => {
            accesslog::span(gw.upstream().urls())
                .in_scope(|| tracing::info!("retry of a finished request: replaying its answer"));
            resp.headers_mut()
                .insert("x-gateway-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
        Begin::New(claim) => claim,
    };
    let (result, keep) = crate::dedup::tracked(route(gw, face, parts, body, request_id)).await;
    let resp = result.unwrap_or_else(|e| refusal(face, &e));
    let (head, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(never) => match never {},
    };
    let answer = keep.then(|| Stored {
        status: head.status,
        headers: head.headers.clone(),
        body: bytes.clone(),
    });
    claim.finish(answer).await;
    Ok(Response::from_parts(head, Full::new(bytes)))
}

async fn route(
    gw: &Gateway,
    face: Face,
    parts: &http::request::Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    match face {
        Face::OpenIm => openim::handle(gw, parts, body, request_id).await,
        _ => {
            // Checked by admit(), on the caller's side of the spawn.
            let Some(path) = gw.routes().entrust(parts.uri.path()) else {
                return Err(Error::Internal("an admitted path is not forwarded".into()));
            };
            proxy::handle(gw, parts, path, body, request_id, None).await
        }
    }
}

/// The store key of a write whose caller sent the key header (by default
/// `Idempotency-Key`); `None` when it sent none or protection is off.
fn dedup_key<'a>(
    gw: &'a Gateway,
    parts: &http::request::Parts,
) -> Result<Option<(&'a Dedup, String)>, Error> {
    let Some(dedup) = gw.dedup() else {
        return Ok(None);
    };
    let Some(value) = parts.headers.get(dedup.header()) else {
        return Ok(None);
    };
    let key = crate::dedup::parse_key(value)?;
    Ok(Some((dedup, Dedup::store_key(&parts.headers, key))))
}

/// Reads and drops a body that will not be used, so that the connection
/// stays usable for the caller's next request; past `limit` it stops (and
/// hyper closes the connection).
async fn discard_body(mut body: Incoming, limit: usize) {
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > limit {
            return;
        }
    }
}

/// The whole request body, or 413 past `limit` (without reading further).
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Error> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Error::PayloadTooLarge { limit })
        }
        Err(e) => Err(Error::Args(format!("cannot read the request body: {e}"))),
    }
}

fn admin(gw: &Gateway, req: &Request<Incoming>) -> Result<Response<Body>, Error> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(Error::MethodNotAllowed);
    }
    Ok(match req.uri().path() {
        "/healthz" => json_response(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" => {
            let up = gw.upstream();
            let active = &up.urls()[up.active()].label;
            let mut resp = if up.any_healthy() {
                json!({"status": "ready", "upstream": active})
            } else {
                json!({"status": "upstream down", "upstream": active})
            };
            // With [redis]: shared, local or reject. Not a reason to be unready.
            if let Some(store) = gw.limiter().store() {
                resp["quota"] = store.as_str().into();
            }
            let status = if up.any_healthy() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json_response(status, &resp)
        }
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from(gw.metrics().encode())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
    })
}

impl Error {
    /// The response this error makes for a caller of `face`: each face
    /// renders its own dialect, so the error map knows none of them.
    pub fn to_response(&self, face: Face) -> Response<Body> {
        match face {
            Face::OpenIm => openim::errcode::response(self),
            Face::Entrust | Face::Admin => self.vendor_response(face),
        }
    }
}
