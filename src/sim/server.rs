//! The transport: accepting connections (plain or TLS), HTTP/1.1 with
//! keep-alive through hyper, and turning outcomes into bytes on the wire.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::handler::{self, Outcome, RawRequest};
use super::io::{ConnCtl, Linger, SimIo};
use super::reply::{ApiError, Reply};
use super::simulator::Inner;

/// Largest request body taken in; a larger one answers 400 with code 1005.
pub const MAX_REQUEST_BODY: usize = crate::entrust::limit::BODY_MAX;

/// A running server. Dropping it (or [`SimServer::shutdown`]) stops
/// accepting and closes every open connection; [`SimServer::drain`] lets
/// the requests in flight finish first.
pub struct SimServer {
    pub addr: SocketAddr,
    scheme: &'static str,
    task: JoinHandle<usize>,
    /// Starts the drain, bounded by the duration sent.
    drain: Option<oneshot::Sender<Duration>>,
}

impl SimServer {
    /// `http://127.0.0.1:PORT`, or `https://...` when serving TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting and closes all connections. The listener is closed as
    /// soon as the runtime drops the server's task (at its next turn).
    pub fn shutdown(self) {}

    /// Stops accepting, lets the requests in flight finish (each answered
    /// with `Connection: close`) and closes idle connections; at `timeout`
    /// the rest are closed. Returns how many were closed mid-request.
    pub async fn drain(mut self, timeout: Duration) -> usize {
        if let Some(tx) = self.drain.take() {
            let _ = tx.send(timeout);
        }
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts serving on `listener` in a background task (needs a Tokio runtime).
pub(crate) fn spawn(
    inner: Arc<Inner>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
) -> SimServer {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (drain, drain_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(inner, listener, tls, drain_rx));
    SimServer {
        addr,
        scheme,
        task,
        drain: Some(drain),
    }
}

/// Serves until a drain starts, then drains; returns the connections cut
/// at the drain's timeout.
async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    drain: oneshot::Receiver<Duration>,
) -> usize {
    // Owned here, so aborting this task also ends every connection.
    let mut conns = JoinSet::new();
    let graceful = GracefulShutdown::new();
    tokio::pin!(drain);
    let timeout = loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = listener.accept() => r,
            t = &mut drain => match t {
                Ok(t) => break t,
                // The server was dropped: the task is being aborted.
                Err(_) => std::future::pending().await,
            },
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let watcher = graceful.watcher();
                conns.spawn(connection(inner.clone(), stream, tls.clone(), watcher));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(error = %e, "simulator: accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    drop(listener);
    tracing::info!("simulator: shutting down: no new connections; draining in-flight requests");
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_ok()
    {
        tracing::info!("simulator: drained");
        return 0;
    }
    while conns.try_join_next().is_some() {}
    let cut = conns.len();
    tracing::warn!(
        connections_cut = cut,
        "simulator: drain timeout: closing the remaining connections"
    );
    conns.shutdown().await;
    cut
}

async fn connection(
    inner: Arc<Inner>,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
) {
    match tls {
        None => serve_io(inner, stream, watcher).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(s) => serve_io(inner, s, watcher).await,
            Err(e) => tracing::debug!(error = %e, "simulator: TLS handshake failed"),
        },
    }
}

async fn serve_io<S>(inner: Arc<Inner>, stream: S, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Linger + Unpin + Send + 'static,
{
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(SimIo::new(stream, ctl.clone()));
    let svc_ctl = ctl.clone();
    let svc = service_fn(move |req| respond(inner.clone(), svc_ctl.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, svc);
    let conn = watcher.watch(conn);
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "simulator: connection ended with an error");
            }
        }
        () = ctl.killed() => {}
    }
}

async fn respond(
    inner: Arc<Inner>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let (body, body_error) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(c) => (c.to_bytes(), None),
        Err(e) if e.is::<LengthLimitError>() => (
            Bytes::new(),
            Some(ApiError::too_long(format!(
                "request body larger than {MAX_REQUEST_BODY} bytes"
            ))),
        ),
        Err(_) => {
            // The client went away mid-body: nothing to answer.
            ctl.kill();
            return std::future::pending().await;
        }
    };
    let raw = RawRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        body_error,
    };
    match handler::handle(&inner, raw).await {
        Outcome::Reply(r) => {
            let body = SimBody::full(r.body.clone());
            Ok(response(r, body))
        }
        Outcome::Hang => std::future::pending().await,
        Outcome::Reset => {
            ctl.reset();
            std::future::pending().await
        }
        Outcome::Truncated(r) => {
            let full = r.body.len();
            let body = SimBody::truncated(r.body.slice(..full / 2), ctl);
            let mut resp = response(r, body);
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            Ok(resp)
        }
        Outcome::Trickle(every, r) => {
            ctl.trickle(every);
            let body = SimBody::full(r.body.clone());
            let mut resp = response(r, body);
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(resp)
        }
    }
}

fn response(r: Reply, body: SimBody) -> Response<SimBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    for (k, v) in r.headers {
        h.append(k, v);
    }
    resp
}

/// A response body: whole, or cut short (after its one chunk the connection
/// is killed instead of the body ending).
pub(crate) struct SimBody {
    data: Option<Bytes>,
    then_kill: Option<Arc<ConnCtl>>,
    len: u64,
}

impl SimBody {
    fn full(b: Bytes) -> Self {
        let len = b.len() as u64;
        SimBody {
            data: Some(b).filter(|b| !b.is_empty()),
            then_kill: None,
            len,
        }
    }

    fn truncated(part: Bytes, ctl: Arc<ConnCtl>) -> Self {
        SimBody {
            len: part.len() as u64,
            data: Some(part).filter(|b| !b.is_empty()),
            then_kill: Some(ctl),
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(d) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match &this.then_kill {
            // hyper flushes what it has before polling again, so the part
            // sent is on the wire by now; the connection task drops the
            // connection, and this body is never polled again.
            Some(ctl) => {
                ctl.kill();
                Poll::Pending
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.then_kill.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.then_kill {
            None => SizeHint::with_exact(self.len),
            Some(_) => SizeHint::default(),
        }
    }
}
