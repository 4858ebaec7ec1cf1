//! The pooled HTTPS client to the vendor's data centers, and failover.
//!
//! One hyper-util client serves every data center; its pool closes idle
//! connections before the vendor's 55 s. The URLs are tried in the order the
//! config gives; the active one changes after a connect error, a timeout or a
//! 5xx, at most once per cooldown (as the vendor's Go SDK does). Whether the
//! failed request is sent again is the caller's decision (the vendor client),
//! which knows whether that is safe.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{BaseUrl, Config, ConfigError};
use crate::retry::{Failure, Sent};

/// Why an attempt failed, and whether the request may have reached the
/// vendor; [`crate::retry::decide`] turns that into what to do.
#[derive(Debug)]
pub struct SendError {
    pub failure: Failure,
    pub sent: Sent,
    pub detail: String,
}

impl SendError {
    fn new(failure: Failure, sent: Sent, detail: impl Into<String>) -> SendError {
        SendError {
            failure,
            sent,
            detail: detail.into(),
        }
    }

    /// The metric label (`entrust_gateway_upstream_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self.failure {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Broken => "io",
            Failure::Status5xx => "status_5xx",
            Failure::BodyRefused => "body_refused",
            Failure::AnswerTooLarge => "too_large",
        }
    }
}

pub struct Upstream {
    client: Client<Handshake<HttpsConnector<HttpConnector>>, OutBody>,
    urls: Vec<BaseUrl>,
    active: AtomicUsize,
    /// Per data center: did its last attempt get an answer (any non-5xx)?
    healthy: Vec<AtomicBool>,
    last_switch: Mutex<Option<Instant>>,
    cooldown: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    /// `upstream.max_in_flight`: each request being sent holds one, so
    /// that a slow vendor costs a bounded number of connections (and their
    /// buffers) however many callers wait.
    in_flight: tokio::sync::Semaphore,
}

impl Upstream {
    pub fn new(cfg: &Config) -> Result<Upstream, ConfigError> {
        let u = &cfg.upstream;
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &u.ca_file {
            let bad = |e: &dyn std::fmt::Display| {
                ConfigError(format!("upstream.ca_file: {}: {e}", path.display()))
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            if certs.is_empty() {
                return Err(bad(&"no PEM certificate found"));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(&e))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError(format!("upstream: TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        // The TCP connect alone; `Handshake` bounds connect and TLS together.
        http.set_connect_timeout(Some(Duration::from_millis(u.connect_timeout_ms)));
        http.set_keepalive(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let https = Handshake {
            inner: https,
            timeout: Duration::from_millis(u.connect_timeout_ms),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_millis(u.pool_idle_timeout_ms))
            .pool_max_idle_per_host(u.pool_max_idle_per_host)
            // The pipeline sets Host from a value made once per data center.
            .set_host(false)
            .build(https);
        let urls = cfg.base_urls()?;
        Ok(Upstream {
            client,
            healthy: urls.iter().map(|_| AtomicBool::new(true)).collect(),
            urls,
            active: AtomicUsize::new(0),
            last_switch: Mutex::new(None),
            cooldown: Duration::from_millis(u.failover_cooldown_ms),
            timeout: Duration::from_millis(u.timeout_ms),
            max_response_bytes: u.max_response_bytes,
            in_flight: tokio::sync::Semaphore::new(u.max_in_flight),
        })
    }

    pub fn urls(&self) -> &[BaseUrl] {
        &self.urls
    }

    /// Index of the data center new requests go to.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The data center after `i`, in failover order.
    pub fn next(&self, i: usize) -> usize {
        (i + 1) % self.urls.len()
    }

    /// False only when every data center's last attempt failed (readiness).
    pub fn any_healthy(&self) -> bool {
        self.healthy.iter().any(|h| h.load(Ordering::Relaxed))
    }

    /// Data center `i` answered.
    pub fn mark_ok(&self, i: usize) {
        self.healthy[i].store(true, Ordering::Relaxed);
    }

    /// Data center `i` failed. If it is the active one and the cooldown has
    /// passed, the next one becomes active; returns the new index if so.
    pub fn mark_failed(&self, i: usize) -> Option<usize> {
        self.healthy[i].store(false, Ordering::Relaxed);
        if self.urls.len() < 2 {
            return None;
        }
        let mut last = self.last_switch.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if self.active() != i || last.is_some_and(|t| now.duration_since(t) < self.cooldown) {
            return None;
        }
        let next = self.next(i);
        self.active.store(next, Ordering::Release);
        *last = Some(now);
        Some(next)
    }

    /// A slot among `upstream.max_in_flight`, held for one attempt. Waiting
    /// sends nothing, and is bounded by the caller's `request_timeout_ms`;
    /// the attempt's own timeout starts once it has its slot.
    pub async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed.
        self.in_flight.acquire().await.ok()
    }

    /// `upstream.timeout_ms`: how long one attempt may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One attempt: sends `req` and reads the whole answer, within
    /// `timeout`. The error says whether any of the request may have
    /// reached the vendor.
    pub async fn send(
        &self,
        req: Request<Bytes>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, SendError> {
        let (parts, body) = req.into_parts();
        let body_len = body.len();
        let body = OutBody::new(body);
        let body_taken = body.taken.clone();
        let mut req = Request::from_parts(parts, body);
        // Set once the pool hands the request a connection, i.e. once it
        // can start being written; before that, nothing has left.
        let connection = capture_connection(&mut req);
        let attempt = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| classify(&e, body_taken.load(Ordering::Acquire), body_len))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, self.max_response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        SendError::new(Failure::AnswerTooLarge, Sent::Maybe, "")
                    } else {
                        SendError::new(
                            Failure::Broken,
                            Sent::Maybe,
                            format!("reading the answer: {e}"),
                        )
                    }
                })?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => {
                let sent = if connection.connection_metadata().is_some() {
                    Sent::Maybe
                } else {
                    Sent::Never
                };
                Err(SendError::new(Failure::Timeout, sent, ""))
            }
        }
    }
}

/// What a client error means for the request.
fn classify(e: &hyper_util::client::legacy::Error, body_taken: bool, body_len: usize) -> SendError {
    let detail = error_chain(e);
    // Connect covers TCP, the TLS handshake and its timeout (`Handshake`).
    if e.is_connect() {
        return SendError::new(Failure::Connect, Sent::Never, detail);
    }
    let hyper_err = std::error::Error::source(e).and_then(|s| s.downcast_ref::<hyper::Error>());
    // hyper hands back a request it never started writing as "canceled"
    // (a pooled connection found closed); hyper-util resends those itself
    // on a reused connection, and reports the rest to us.
    if hyper_err.is_some_and(|h| h.is_canceled()) {
        return SendError::new(Failure::Connect, Sent::Never, detail);
    }
    // The connection ended with no answer while the body was being sent:
    // the data center stopped reading it. Signs: hyper was still taking the
    // body, or a body larger than any documented call needs (kernel buffers
    // can take all of a large body before the data center stops reading).
    // Then it is this request's failure, not the data center's.
    if !body_taken || body_len > LARGE_BODY {
        return SendError::new(
            Failure::BodyRefused,
            Sent::Maybe,
            format!(
                "it closed the connection while the {body_len}-byte body was being sent ({detail})"
            ),
        );
    }
    SendError::new(Failure::Broken, Sent::Maybe, detail)
}

/// The request body, handed to hyper in slices so that hyper's bounded
/// write buffer paces it: while `taken` is false, the connection was still
/// sending the body.
pub struct OutBody {
    rest: Bytes,
    taken: Arc<AtomicBool>,
}

/// A body larger than any documented call needs (the largest, a full
/// profile or 100 user ids, is a few KiB).
const LARGE_BODY: usize = 64 * 1024;

/// hyper buffers at most about 400 KiB of body; slices this size keep that.
const BODY_SLICE: usize = 64 * 1024;

impl OutBody {
    fn new(body: Bytes) -> OutBody {
        OutBody {
            taken: Arc::new(AtomicBool::new(body.is_empty())),
            rest: body,
        }
    }
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        let slice = this.rest.split_to(this.rest.len().min(BODY_SLICE));
        if this.rest.is_empty() {
            this.taken.store(true, Ordering::Release);
        }
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// A connector whose timeout covers the TCP connect and the TLS handshake
/// together: a data center that accepts and then stalls the handshake has
/// not received the request, and must fail as a connect error (retried on
/// the backup, writes included), not as a timeout after sending.
#[derive(Clone)]
pub struct Handshake<C> {
    inner: C,
    timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<C> tower_service::Service<Uri> for Handshake<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let timeout = self.timeout;
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(format!(
                    "connect and TLS handshake took longer than {} ms",
                    timeout.as_millis()
                )
                .into()),
            }
        })
    }
}

/// An error and its sources on one line (hyper's top-level message alone is
/// often just "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
