//! The request pipeline both faces share: limiter → signer → upstream, with
//! failover and the one safe retry. A face builds a [`Call`] and gets back
//! the vendor's [`Reply`] or an [`Error`]; how either looks to its caller is
//! the face's (and [`crate::error`]'s) business.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use serde::Deserialize;

use crate::config::{Config, ConfigError};
use crate::entrust::{self, code};
use crate::error::Error;
use crate::limit::{Limiter, Refusal};
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

/// Equal strings; the same constant (a path or label handed around from
/// one table) is recognised by its address without comparing bytes.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// A quota permit already taken for a call's first attempt
/// ([`Gateway::early_permit`]).
#[derive(Debug)]
pub struct Permit(());

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
    /// Per documented path (and a last one for any other): what a call on
    /// it needs, made once instead of per request.
    paths: Vec<PathSlot>,
    /// Per data center: scheme, authority and path prefix of its URL.
    origins: Vec<Origin>,
    /// `requests` counters of the common answers, per (face, route label).
    requests: Vec<RouteCounters>,
    writes: crate::server::Writes,
}

/// One route's `entrust_gateway_requests` counters for the statuses most
/// answers have, resolved on first use.
struct RouteCounters {
    face: &'static str,
    route: &'static str,
    /// 200, 429.
    by_status: [OnceLock<Counter>; 2],
}

impl RouteCounters {
    fn new(face: &'static str, route: &'static str) -> RouteCounters {
        RouteCounters {
            face,
            route,
            by_status: Default::default(),
        }
    }
}

/// A data center's URL in parts, so that an upstream URI is assembled from
/// parts instead of formatted and parsed again per request.
struct Origin {
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header, made once: hyper-util's client would format and
    /// insert it on every request (~3,000 instructions; BENCHMARKS.md).
    host: HeaderValue,
    /// The URL's path without its trailing `/` (usually empty).
    prefix: String,
}

impl Origin {
    fn new(url: &crate::config::BaseUrl) -> Result<Origin, ConfigError> {
        let bad = || ConfigError(format!("upstream URL {}: no scheme or host", url.label));
        let scheme = url.uri.scheme().cloned().ok_or_else(bad)?;
        let authority = url.uri.authority().cloned().ok_or_else(bad)?;
        // As hyper-util writes it (`set_host`): the host, and the port
        // unless it is the scheme's default.
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port() {
            Some(port) if port.as_u16() != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_string(),
        };
        Ok(Origin {
            host: HeaderValue::try_from(host).map_err(|_| bad())?,
            scheme,
            authority,
            prefix: url.uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The upstream path and query for `path` (which starts with `/`).
    fn path_and_query(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<PathAndQuery, http::uri::InvalidUri> {
        let mut s = String::with_capacity(
            self.prefix.len() + path.len() + query.map_or(0, |q| q.len() + 1),
        );
        s.push_str(&self.prefix);
        s.push_str(path);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        PathAndQuery::try_from(s)
    }

    fn uri(&self, pq: PathAndQuery) -> Result<Uri, http::Error> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(pq);
        Ok(Uri::from_parts(parts)?)
    }
}

/// One path's cached pieces. Metric handles are resolved on first use (so
/// `/metrics` shows the same series as before) and then kept: a label
/// lookup hashes the label strings and allocates them on every call.
struct PathSlot {
    /// The metric label: the path when documented, else `other`.
    label: &'static str,
    /// Per data center: the upstream path for a call without a query.
    pq: Vec<Option<PathAndQuery>>,
    limiter_wait: OnceLock<Histogram>,
    /// Per data center.
    upstream_duration: Vec<OnceLock<Histogram>>,
    /// Per [`Refusal`], in [`REFUSALS`] order.
    rejections: [OnceLock<Counter>; REFUSALS.len()],
}

const REFUSALS: [Refusal; 4] = [
    Refusal::WaitTooLong,
    Refusal::QueueFull,
    Refusal::UpstreamBackoff,
    Refusal::QuotaStoreDown,
];

impl PathSlot {
    fn new(label: &'static str, origins: &[Origin], documented: bool) -> PathSlot {
        PathSlot {
            label,
            pq: origins
                .iter()
                .map(|o| {
                    documented
                        .then(|| o.path_and_query(label, None).ok())
                        .flatten()
                })
                .collect(),
            limiter_wait: OnceLock::new(),
            upstream_duration: origins.iter().map(|_| OnceLock::new()).collect(),
            rejections: Default::default(),
        }
    }
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
        let origins = config
            .base_urls()?
            .iter()
            .map(Origin::new)
            .collect::<Result<Vec<_>, _>>()?;
        let paths = entrust::path::ALL
            .iter()
            .map(|p| PathSlot::new(p, &origins, true))
            .chain([PathSlot::new("other", &origins, false)])
            .collect();
        let requests = entrust::path::DOCUMENTED
            .iter()
            .chain(&["other"])
            .map(|r| RouteCounters::new("entrust", r))
            .chain(
                crate::openim::ROUTES
                    .iter()
                    .chain(&["other"])
                    .map(|r| RouteCounters::new("openim", r)),
            )
            .chain(
                ["/healthz", "/readyz", "/metrics"]
                    .into_iter()
                    .map(|r| RouteCounters::new("admin", r)),
            )
            .collect();
        let limiter = Limiter::from_config(&config, &routes, &metrics)?;
        let mut dedup = crate::dedup::Dedup::new(&config.dedup, metrics.dedup_evictions.clone());
        if let Some(link) = limiter.redis() {
            dedup = dedup.in_redis(link, &config, metrics.dedup_answers_too_large.clone());
        }
        Ok(Gateway {
            paths,
            origins,
            requests,
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
        // Boxed: the attempt's state (the pooled client's futures) is
        // kilobytes, otherwise copied into every future that awaits a call.
        // Boxed in a statement of its own: a temporary in the statement
        // that awaits would keep its room in this future's state anyway.
        let inner = Box::pin(self.call_inner(call, None));
        inner.await
    }

    /// Takes the quota permit for a call's first attempt on `path` now,
    /// before its body is read: over quota, the caller is refused having
    /// cost nothing more (the body is neither read nor checked).
    pub async fn early_permit(&self, path: EntrustPath<'_>) -> Result<Permit, Error> {
        self.permit(path, self.slot(path)).await?;
        Ok(Permit(()))
    }

    /// [`Gateway::call`] whose first attempt uses `permit`.
    pub async fn call_permitted(&self, call: &Call<'_>, permit: Permit) -> Result<Reply, Error> {
        let inner = Box::pin(self.call_inner(call, Some(permit)));
        inner.await
    }

    async fn call_inner(
        &self,
        call: &Call<'_>,
        mut permit: Option<Permit>,
    ) -> Result<Reply, Error> {
        let path = call.path.as_str();
        let slot = self.slot(call.path);
        crate::accesslog::record_upstream_path(path, (slot.label != "other").then_some(slot.label));
        let access = if entrust::path::is_read_only(path) {
            Access::Read
        } else {
            Access::Write
        };
        let mut dc = self.upstream.active();
        let mut retried = false;
        loop {
            if permit.take().is_none() {
                self.permit(call.path, slot).await?;
            }
            let (failure, answer) = match self.attempt(call, dc, slot).await? {
                Ok(reply) => return Ok(reply),
                Err(failed) => failed,
            };
            let label = &self.upstream.urls()[dc].label;
            self.count_error(slot.label, failure.kind());
            let span = crate::accesslog::span(self.upstream.urls());
            span.in_scope(|| tracing::warn!(error = ?failure, data_center = %label, "upstream attempt failed"));
            let decision = retry::decide(failure.failure, access, failure.sent);
            if decision.mark_failed {
                self.failed(dc);
            }
            if decision.retry && !retried && self.upstream.urls().len() > 1 {
                retried = true;
                dc = self.upstream.next(dc);
                span.in_scope(|| tracing::warn!(to = %self.upstream.urls()[dc].label, "sending again to the next data center"));
                continue;
            }
            // A 5xx is the vendor's own answer, and goes back unchanged.
            return match answer {
                Some(reply) => Ok(reply),
                None => Err(self.send_error(failure, label)),
            };
        }
    }

    /// Counts an answer in `entrust_gateway_requests` (`route`: a bounded
    /// label); the common ones without a label lookup.
    pub fn count_request(&self, face: &'static str, route: &'static str, status: u16) {
        let i = match status {
            200 => Some(0),
            429 => Some(1),
            _ => None,
        };
        let cached = i.and_then(|i| {
            let r = self
                .requests
                .iter()
                .find(|r| same(r.route, route) && r.face == face)?;
            Some(&r.by_status[i])
        });
        let labels = || metrics::RequestLabels {
            face,
            route: route.to_string(),
            status,
        };
        match cached {
            Some(c) => c
                .get_or_init(|| self.metrics.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.metrics.requests.get_or_create(&labels()).inc(),
        };
    }

    /// The cached pieces for `path` (the last slot for an undocumented one:
    /// the documented paths come first in an [`EntrustPath`]'s index).
    fn slot(&self, path: EntrustPath<'_>) -> &PathSlot {
        &self.paths[path.index().min(entrust::path::ALL.len())]
    }

    /// One quota permit for `path` (every attempt takes one).
    async fn permit(&self, path: EntrustPath<'_>, slot: &PathSlot) -> Result<(), Error> {
        match self.limiter.acquire(path).await {
            Ok(waited) => {
                if self.limiter.enabled() {
                    slot.limiter_wait
                        .get_or_init(|| {
                            self.metrics
                                .limiter_wait
                                .get_or_create(&metrics::PathLabels {
                                    path: slot.label.to_string(),
                                })
                                .clone()
                        })
                        .observe(waited.as_secs_f64());
                }
                Ok(())
            }
            Err((why, err)) => {
                let i = REFUSALS.iter().position(|r| *r == why).unwrap_or(0);
                slot.rejections[i]
                    .get_or_init(|| {
                        self.metrics
                            .limiter_rejections
                            .get_or_create(&metrics::RejectionLabels {
                                path: slot.label.to_string(),
                                reason: why.as_str(),
                            })
                            .clone()
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
        slot: &PathSlot,
    ) -> Result<Result<Reply, (SendError, Option<Reply>)>, Error> {
        let label = &self.upstream.urls()[dc].label;
        crate::accesslog::record_data_center(dc);
        let req = self.build(call, dc, slot)?;
        let _sending = self.upstream.slot().await;
        let started = Instant::now();
        let result = self.upstream.send(req).await;
        slot.upstream_duration[dc]
            .get_or_init(|| {
                self.metrics
                    .upstream_duration
                    .get_or_create(&metrics::UpstreamLabels {
                        path: slot.label.to_string(),
                        data_center: label.clone(),
                    })
                    .clone()
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
                    Some(self.reply(call.path.as_str(), slot.label, resp)),
                ))
            }
            Ok(resp) => {
                self.upstream.mark_ok(dc);
                Ok(self.reply(call.path.as_str(), slot.label, resp))
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
            crate::accesslog::span(urls).in_scope(|| tracing::warn!(from = %urls[dc].label, to = %urls[next].label, "failing over to the next data center"));
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
    fn build(&self, call: &Call<'_>, dc: usize, slot: &PathSlot) -> Result<Request<Bytes>, Error> {
        let origin = &self.origins[dc];
        // The path passed the route check: a failure here is ours.
        let internal = |e: &dyn std::fmt::Display| {
            Error::Internal(format!("cannot build the upstream URI: {e}"))
        };
        let pq = match (call.query, &slot.pq[dc]) {
            (None, Some(pq)) => pq.clone(),
            (query, _) => origin
                .path_and_query(call.path.as_str(), query)
                .map_err(|e| internal(&e))?,
        };
        let uri = origin.uri(pq).map_err(|e| internal(&e))?;
        // Room for the caller's headers and the seven added here, made once:
        // a clone has no spare room, and the inserts below grew it twice
        // and rebuilt its index once (~800 instructions a call).
        let mut headers = HeaderMap::with_capacity(call.headers.len() + 7);
        for (name, value) in &call.headers {
            headers.append(name.clone(), value.clone());
        }
        self.signer.sign(&self.secret(), &mut headers);
        headers.insert(entrust::header::REQUEST_ID, call.request_id.clone());
        headers.insert(http::header::HOST, origin.host.clone());
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
            crate::accesslog::span(self.upstream.urls()).in_scope(|| {
                tracing::warn!(path, "the vendor rate-limited this path; backing off")
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A base URL's path is kept in front of the entrust path (the README's
    /// `upstream.urls`: a data center may sit under a path prefix).
    #[test]
    fn upstream_uris_keep_the_base_path() {
        let c = Config::parse(
            "[upstream]\nurls = [\"https://api.rong-api.com\", \"http://127.0.0.1:9000/base/\"]\napp_key = \"key\"\napp_secret = \"s\"\n",
        )
        .unwrap();
        let urls = c.base_urls().unwrap();
        let at = |i: usize, path: &str, query: Option<&str>| {
            let o = Origin::new(&urls[i]).unwrap();
            o.uri(o.path_and_query(path, query).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            at(0, "/entrust/a.json", Some("x=1")),
            "https://api.rong-api.com/entrust/a.json?x=1"
        );
        assert_eq!(
            at(1, "/entrust/a.json", None),
            "http://127.0.0.1:9000/base/entrust/a.json"
        );
    }

    /// The Host header each data center gets, as hyper-util's `set_host`
    /// wrote it (hyper-util 0.1.21 `client/legacy/client.rs`,
    /// `get_non_default_port`): the port only when not the scheme's default.
    #[test]
    fn host_header_as_hyper_util_wrote_it() {
        let c = Config::parse(
            "[upstream]\nurls = [\"https://api.rong-api.com\", \"https://a.example:443\", \"http://b.example:80/x\", \"http://127.0.0.1:9000\", \"https://[::1]:8443\", \"https://c.example:80\"]\napp_key = \"key\"\napp_secret = \"s\"\n",
        )
        .unwrap();
        let hosts: Vec<_> = c
            .base_urls()
            .unwrap()
            .iter()
            .map(|u| Origin::new(u).unwrap().host)
            .collect();
        assert_eq!(
            hosts,
            [
                "api.rong-api.com",
                "a.example",
                "b.example",
                "127.0.0.1:9000",
                "[::1]:8443",
                "c.example:80"
            ]
        );
    }
}
