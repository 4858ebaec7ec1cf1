//! The request pipeline both faces share: limiter → signer → upstream, with
//! failover and the one safe retry. A face builds a [`Call`] and gets back
//! the vendor's [`Reply`] or an [`Error`]; how either looks to its caller is
//! the face's (and [`crate::error`]'s) business.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use serde::Deserialize;

use crate::config::{Config, ConfigError};
use crate::entrust::{self, code};
use crate::error::Error;
use crate::limit::Limiter;
use crate::metrics::{self, Metrics};
use crate::retry::{self, Access, Failure, Sent};
use crate::route::{EntrustPath, Routes};
use crate::secret::Secret;
use crate::sign::Signer;
use crate::upstream::{SendError, Upstream};

/// One entrust API call.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// A forwarded path (only [`crate::route`] makes one).
    pub path: EntrustPath<'a>,
    pub query: Option<&'a str>,
    /// End-to-end headers to send, `Content-Type` included.
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: &'a HeaderValue,
}

impl<'a> Call<'a> {
    /// A form-encoded call, as the OpenIM face makes them.
    pub fn form(path: EntrustPath<'a>, body: String, request_id: &'a HeaderValue) -> Call<'a> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        Call {
            path,
            query: None,
            headers,
            body: Bytes::from(body),
            request_id,
        }
    }
}

/// The vendor's answer, whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body's `code`, when it is a JSON object with one.
    pub code: Option<i64>,
    /// Set when the vendor rate-limited this path (1008).
    pub retry_after: Option<Duration>,
}

fn token_digest(token: &str) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(token.as_bytes()).into()
}

/// The credential of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[derive(Deserialize)]
struct CodeOnly {
    code: i64,
}

pub struct Gateway {
    config: Config,
    signer: Signer,
    secret: RwLock<Arc<Secret>>,
    openim_secret: Option<Secret>,
    /// SHA-1 digests of the inbound bearer tokens (entrust face; OpenIM face
    /// without `[openim]`).
    auth_tokens: Vec<[u8; 20]>,
    routes: Routes,
    admin_token_throttle: crate::openim::token::Throttle,
    limiter: Limiter,
    upstream: Upstream,
    metrics: Metrics,
    dedup: crate::dedup::Dedup,
    writes: crate::server::Writes,
}

impl Gateway {
    pub fn new(config: Config, secret: Secret) -> Result<Gateway, ConfigError> {
        config.validate()?;
        let app_key = HeaderValue::from_str(&config.upstream.app_key)
            .map_err(|_| ConfigError("upstream.app_key: not a valid header value".into()))?;
        let routes = Routes::new(&config.server.extra_entrust_paths)?;
        let metrics = Metrics::for_data_centers(
            &config
                .base_urls()?
                .iter()
                .map(|u| u.label.as_str())
                .collect::<Vec<_>>(),
        );
        let limiter = Limiter::from_config(&config, &routes, &metrics)?;
        let mut dedup = crate::dedup::Dedup::new(&config.dedup, metrics.dedup_evictions.clone());
        if let Some(link) = limiter.redis() {
            dedup = dedup.in_redis(link, &config, metrics.dedup_answers_too_large.clone());
        }
        Ok(Gateway {
            dedup,
            limiter,
            metrics,
            signer: Signer::new(app_key),
            secret: RwLock::new(Arc::new(secret)),
            openim_secret: config.load_openim_secret()?,
            auth_tokens: config
                .load_auth_tokens()?
                .iter()
                .map(|t| token_digest(t.expose()))
                .collect(),
            routes,
            admin_token_throttle: crate::openim::token::Throttle::default(),
            upstream: Upstream::new(&config)?,
            writes: Default::default(),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn dedup(&self) -> Option<&crate::dedup::Dedup> {
        (self.config.dedup.window_ms > 0).then_some(&self.dedup)
    }

    /// Writes running in their own tasks (shutdown waits for them).
    pub fn writes(&self) -> &crate::server::Writes {
        &self.writes
    }

    /// The entrust paths this gateway forwards.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Failed `/auth/get_admin_token` attempts, per caller and overall.
    pub fn admin_token_throttle(&self) -> &crate::openim::token::Throttle {
        &self.admin_token_throttle
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The OpenIM admin secret, when `[openim]` is configured.
    pub fn openim_secret(&self) -> Option<&Secret> {
        self.openim_secret.as_ref()
    }

    /// Whether the entrust face needs a bearer token.
    pub fn requires_auth(&self) -> bool {
        !self.auth_tokens.is_empty()
    }

    /// Checks an `Authorization` header against the inbound tokens. The
    /// comparison is over fixed-size digests, in constant time.
    pub fn check_auth(&self, authorization: Option<&HeaderValue>) -> Result<(), Error> {
        if self.auth_tokens.is_empty() {
            return Ok(());
        }
        let presented = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .map(token_digest);
        let Some(presented) = presented else {
            return Err(Error::Unauthorized(
                "gateway: missing Authorization: Bearer token".into(),
            ));
        };
        let mut ok = subtle::Choice::from(0);
        for t in &self.auth_tokens {
            ok |= subtle::ConstantTimeEq::ct_eq(&t[..], &presented[..]);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Error::Unauthorized("gateway: invalid bearer token".into()))
        }
    }

    /// The app secret new requests are signed with.
    pub fn secret(&self) -> Arc<Secret> {
        self.secret
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the app secret; requests already signed keep the old one.
    pub fn set_secret(&self, secret: Secret) {
        *self.secret.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(secret);
    }

    /// Sends one entrust call: waits for a quota permit, signs, sends to the
    /// active data center, and fails over. A failed attempt is sent again
    /// once, to the next data center, when [`retry::decide`] says that is
    /// safe (it never left, or the endpoint only reads).
    pub async fn call(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let path = call.path.as_str();
        let path_label = metrics::path_label(path);
        tracing::Span::current().record("upstream_path", path);
        let access = if entrust::path::is_read_only(path) {
            Access::Read
        } else {
            Access::Write
        };
        let mut dc = self.upstream.active();
        let mut retried = false;
        loop {
            self.permit(call.path, &path_label).await?;
            let (failure, answer) = match self.attempt(call, dc, &path_label).await? {
                Ok(reply) => return Ok(reply),
                Err(failed) => failed,
            };
            let label = &self.upstream.urls()[dc].label;
            self.count_error(&path_label, failure.kind());
            tracing::warn!(error = ?failure, data_center = %label, "upstream attempt failed");
            let decision = retry::decide(failure.failure, access, failure.sent);
            if decision.mark_failed {
                self.failed(dc);
            }
            if decision.retry && !retried && self.upstream.urls().len() > 1 {
                retried = true;
                dc = self.upstream.next(dc);
                tracing::warn!(to = %self.upstream.urls()[dc].label, "sending again to the next data center");
                continue;
            }
            // A 5xx is the vendor's own answer, and goes back unchanged.
            return match answer {
                Some(reply) => Ok(reply),
                None => Err(self.send_error(failure, label)),
            };
        }
    }

    /// One quota permit for `path` (every attempt takes one).
    async fn permit(&self, path: EntrustPath<'_>, path_label: &str) -> Result<(), Error> {
        match self.limiter.acquire(path).await {
            Ok(waited) => {
                if self.limiter.enabled() {
                    self.metrics
                        .limiter_wait
                        .get_or_create(&metrics::PathLabels {
                            path: path_label.to_string(),
                        })
                        .observe(waited.as_secs_f64());
                }
                Ok(())
            }
            Err((why, err)) => {
                self.metrics
                    .limiter_rejections
                    .get_or_create(&metrics::RejectionLabels {
                        path: path_label.to_string(),
                        reason: why.as_str(),
                    })
                    .inc();
                Err(err)
            }
        }
    }

    /// One attempt on data center `dc`: the vendor's answer, or why there is
    /// none (with the vendor's 5xx answer, to give back if not retried).
    async fn attempt(
        &self,
        call: &Call<'_>,
        dc: usize,
        path_label: &str,
    ) -> Result<Result<Reply, (SendError, Option<Reply>)>, Error> {
        let label = &self.upstream.urls()[dc].label;
        tracing::Span::current().record("data_center", label.as_str());
        let req = self.build(call, dc)?;
        let started = Instant::now();
        let result = self.upstream.send(req).await;
        self.metrics
            .upstream_duration
            .get_or_create(&metrics::UpstreamLabels {
                path: path_label.to_string(),
                data_center: label.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        Ok(match result {
            Ok(resp) if resp.status().is_server_error() => {
                let status = resp.status();
                Err((
                    SendError {
                        failure: Failure::Status5xx,
                        sent: Sent::Maybe,
                        detail: format!("answered HTTP {}", status.as_u16()),
                    },
                    Some(self.reply(call.path.as_str(), path_label, resp)),
                ))
            }
            Ok(resp) => {
                self.upstream.mark_ok(dc);
                Ok(self.reply(call.path.as_str(), path_label, resp))
            }
            Err(e) => Err((e, None)),
        })
    }

    /// The caller's error for an attempt that got no usable answer.
    fn send_error(&self, e: SendError, label: &str) -> Error {
        let u = &self.config.upstream;
        match e.failure {
            Failure::Connect => Error::Unreachable(format!("cannot reach {label}: {}", e.detail)),
            Failure::Timeout if e.sent == Sent::Never => Error::Unreachable(format!(
                "cannot reach {label}: no connection within {} ms",
                u.timeout_ms
            )),
            Failure::Timeout => {
                Error::Timeout(format!("{label} did not answer within {} ms", u.timeout_ms))
            }
            Failure::Broken | Failure::Status5xx => {
                Error::Unreachable(format!("{label} failed: {}", e.detail))
            }
            Failure::BodyRefused => {
                Error::BodyRefused(format!("{label} refused the request body: {}", e.detail))
            }
            Failure::AnswerTooLarge => Error::BadUpstream(format!(
                "{label} answered more than {} bytes",
                u.max_response_bytes
            )),
        }
    }

    fn failed(&self, dc: usize) {
        if let Some(next) = self.upstream.mark_failed(dc) {
            let urls = self.upstream.urls();
            tracing::warn!(from = %urls[dc].label, to = %urls[next].label, "failing over to the next data center");
            self.metrics
                .failovers
                .get_or_create(&metrics::FailoverLabels {
                    from: urls[dc].label.clone(),
                    to: urls[next].label.clone(),
                })
                .inc();
        }
    }

    fn count_error(&self, path_label: &str, kind: &'static str) {
        self.metrics
            .upstream_errors
            .get_or_create(&metrics::UpstreamErrorLabels {
                path: path_label.to_string(),
                kind,
            })
            .inc();
    }

    /// The signed request for data center `dc`.
    fn build(&self, call: &Call<'_>, dc: usize) -> Result<Request<Bytes>, Error> {
        let pq = match call.query {
            Some(q) => format!("{}?{q}", call.path),
            None => call.path.to_string(),
        };
        let uri = self.upstream.urls()[dc]
            .join(&pq)
            // The path passed the route check: a failure here is ours.
            .map_err(|e| Error::Internal(format!("cannot build the upstream URI: {e}")))?;
        let mut headers = call.headers.clone();
        self.signer.sign(&self.secret(), &mut headers);
        headers.insert(entrust::header::REQUEST_ID, call.request_id.clone());
        let mut req = Request::new(call.body.clone());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        Ok(req)
    }

    fn reply(&self, path: &str, path_label: &str, resp: http::Response<Bytes>) -> Reply {
        let (parts, body) = resp.into_parts();
        let code = serde_json::from_slice::<CodeOnly>(&body)
            .ok()
            .map(|c| c.code);
        // 1008 (the general limit) or 25416 (the entrust service's own).
        let limited = parts.status == StatusCode::TOO_MANY_REQUESTS
            || matches!(code, Some(code::RATE_LIMITED | code::ENTRUST_RATE_LIMIT));
        let retry_after = limited.then(|| {
            self.count_error(path_label, "rate_limited");
            tracing::warn!(path, "the vendor rate-limited this path; backing off");
            self.limiter.upstream_limited(path)
        });
        let reply = Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            code,
            retry_after,
        };
        // Every vendor reply, before a face renders it: decides whether a
        // protected write's answer may be kept for replay.
        crate::dedup::observe(&reply);
        reply
    }
}

impl Gateway {
    /// Polls `upstream.app_secret_file` and reloads the secret when the
    /// file's content changes (Kubernetes updates mounted secrets by swapping
    /// a symlink, which file-change notifications miss). Ends when the
    /// gateway is dropped.
    pub fn spawn_secret_watcher(self: &Arc<Self>) {
        let Some(path) = self.config.upstream.app_secret_file.clone() else {
            return;
        };
        let every = Duration::from_millis(self.config.upstream.secret_poll_ms);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = std::fs::read(&path).ok();
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(gw) = weak.upgrade() else { return };
                let now = std::fs::read(&path).ok();
                if now != last {
                    gw.reload_secret();
                    last = now;
                }
            }
        });
    }

    /// Re-reads `upstream.app_secret_file` (SIGHUP or a change on disk). A
    /// file that is unreadable or empty keeps the old secret and logs an
    /// error. Other secret sources have nothing to reload.
    pub fn reload_secret(&self) -> bool {
        let Some(path) = &self.config.upstream.app_secret_file else {
            tracing::info!("no upstream.app_secret_file: nothing to reload");
            return false;
        };
        match crate::config::read_secret_file(path) {
            Ok(value) => {
                let changed = self.secret().expose() != value;
                self.set_secret(Secret::new(value));
                self.metrics
                    .secret_reloads
                    .get_or_create(&metrics::ResultLabels { result: "ok" })
                    .inc();
                tracing::info!(changed, "app secret reloaded");
                true
            }
            Err(e) => {
                self.metrics
                    .secret_reloads
                    .get_or_create(&metrics::ResultLabels { result: "error" })
                    .inc();
                tracing::error!(error = %e, "cannot reload the app secret; keeping the old one");
                false
            }
        }
    }
}
