//! The pooled HTTPS client to the vendor's data centers, and failover.
//!
//! One hyper-util client serves every data center; its pool closes idle
//! connections before the vendor's 55 s. The URLs are tried in the order the
//! config gives; the active one changes after a connect error, a timeout or a
//! 5xx, at most once per cooldown (as the vendor's Go SDK does). Whether the
//! failed request is sent again is the caller's decision ([`crate::gateway`]),
//! which knows whether that is safe.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::{BaseUrl, Config, ConfigError};

/// Why an attempt failed.
#[derive(Debug)]
pub enum SendError {
    /// The connection could not be made: the request was never sent.
    Connect(String),
    /// No complete answer within the timeout: the request may have arrived.
    Timeout,
    /// The connection failed after the request may have been sent.
    Io(String),
    /// The answer was larger than `max_response_bytes`.
    TooLarge,
}

impl SendError {
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Connect(_) => "connect",
            SendError::Timeout => "timeout",
            SendError::Io(_) => "io",
            SendError::TooLarge => "too_large",
        }
    }
}

pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    urls: Vec<BaseUrl>,
    active: AtomicUsize,
    /// Per data center: did its last attempt get an answer (any non-5xx)?
    healthy: Vec<AtomicBool>,
    last_switch: Mutex<Option<Instant>>,
    cooldown: Duration,
    timeout: Duration,
    max_response_bytes: usize,
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
        http.set_connect_timeout(Some(Duration::from_millis(u.connect_timeout_ms)));
        http.set_keepalive(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_millis(u.pool_idle_timeout_ms))
            .pool_max_idle_per_host(u.pool_max_idle_per_host)
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

    /// One attempt: sends `req` and reads the whole answer, within the timeout.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, SendError> {
        let attempt = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    SendError::Connect(error_chain(&e))
                } else {
                    SendError::Io(error_chain(&e))
                }
            })?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, self.max_response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        SendError::TooLarge
                    } else {
                        SendError::Io(format!("reading the answer: {e}"))
                    }
                })?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        }
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
