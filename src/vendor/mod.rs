//! A vendor client per app: everything a call to one app at the vendor
//! needs, and one job, [`Client::call`]: wait for the path's quota, sign,
//! send to the active data center, fail over, and give back the vendor's
//! [`Reply`] (which says whether it is final and which data center gave it)
//! or an [`Error`]. How either looks to a caller is the face's business.
//!
//! The client owns its signer and secret, its quota ([`crate::quota`]), its
//! data centers and failover state ([`crate::upstream`]) and its per-path
//! slots; it knows no face, no server and no idempotency, and
//! of the metrics only the handles it is given.
//!
//! A request's calls report to its [`Tally`], passed explicitly: whether
//! every reply was final (the idempotency layer keeps only final answers)
//! and the last path and data center (the request's log line).

mod origin;
mod slots;
mod tally;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use serde::Deserialize;

use crate::allowlist::{self, Api, EntrustPath, Routes};
use crate::config::{BaseUrl, Config, ConfigError};
use crate::entrust;
use crate::error::Error;
use crate::metrics::{self, Metrics};
use crate::quota::{Claimant, Quota};
use crate::redis_link::Link;
use crate::retry::{self, Access, Failure, Sent};
use crate::secret::Secret;
use crate::sign::Signer;
use crate::upstream::{SendError, Upstream};

use origin::Origin;
use slots::{Meters, PathSlot};
pub use tally::Tally;

/// One entrust API call.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// A forwarded path (only [`crate::allowlist`] makes one).
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

/// A quota permit already taken for a call's first attempt
/// ([`Client::early_permit`]).
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
    /// Which data center answered (an index into `upstream.urls`).
    pub data_center: usize,
    /// The dialect it answered in (its path's API).
    pub api: Api,
}

impl Reply {
    /// Whether this is the vendor's definitive answer, which a retry of the
    /// same write may be given instead of doing it again: not a 5xx, a 429,
    /// or a code that says "not done, try again" (in the path's dialect:
    /// [`retry::judge`]).
    pub fn is_final(&self) -> bool {
        self.retry_after.is_none()
            && retry::judge(self.api, self.status.as_u16(), self.code).is_final
    }
}

#[derive(Deserialize)]
struct CodeOnly {
    code: i64,
}

/// One request's handle on its app's vendor client: the calls it makes
/// report to its tally.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub client: &'a Client,
    pub tally: &'a Tally,
    /// For a request whose writes must not be left with an unknown outcome
    /// (a keyed write): how long a write attempt goes on waiting for the
    /// vendor's answer past `upstream.timeout_ms`. The tally says when it
    /// passes `timeout_ms` ([`Tally::overdue`]), so that the caller can be
    /// answered then.
    pub outcome_wait: Option<Duration>,
    /// The caller the calls are made for (with `[[callers]]`): its share
    /// of the app's quota.
    pub claimant: Option<&'a Claimant>,
}

impl Session<'_> {
    /// [`Client::call`], reported to this request's tally.
    pub async fn call(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let inner = Box::pin(self.client.call_inner(
            self.tally,
            call,
            None,
            self.outcome_wait,
            self.claimant,
        ));
        inner.await
    }

    /// [`Client::call_permitted`], reported to this request's tally.
    pub async fn call_permitted(&self, call: &Call<'_>, permit: Permit) -> Result<Reply, Error> {
        let inner = Box::pin(self.client.call_inner(
            self.tally,
            call,
            Some(permit),
            self.outcome_wait,
            self.claimant,
        ));
        inner.await
    }

    /// The data centers, in failover order (for log lines).
    pub fn data_centers(&self) -> &[BaseUrl] {
        self.client.data_centers()
    }
}

/// The vendor client of one app (see the module doc).
pub struct Client {
    /// The app's name (`default` without `[[apps]]`), for metric labels.
    app: Arc<str>,
    signer: Signer,
    secret: RwLock<Arc<Secret>>,
    routes: Routes,
    quota: Quota,
    upstream: Upstream,
    meters: Meters,
    /// Per documented path (and a last one for any other).
    paths: Vec<PathSlot>,
    /// Per data center.
    origins: Vec<Origin>,
    timeout_ms: u64,
    max_response_bytes: usize,
}

impl Client {
    /// The client of the app `config.upstream` describes, signing with
    /// `secret`; its metrics go to `metrics`' families.
    pub fn new(config: &Config, secret: Secret, metrics: &Metrics) -> Result<Client, ConfigError> {
        let app_key = HeaderValue::from_str(&config.upstream.app_key)
            .map_err(|_| ConfigError("upstream.app_key: not a valid header value".into()))?;
        let routes = Routes::new(&config.server.extra_entrust_paths)
            .and_then(|r| r.with_v4(&config.server.extra_v4_paths))
            .map_err(ConfigError)?;
        let origins = config
            .base_urls()?
            .iter()
            .map(Origin::new)
            .collect::<Result<Vec<_>, _>>()?;
        let paths = allowlist::known()
            .map(|p| PathSlot::new(p, &origins, true))
            .chain([PathSlot::new("other", &origins, false)])
            .collect();
        Ok(Client {
            app: Arc::from(crate::config::DEFAULT_APP),
            quota: Quota::from_config(config, &routes, metrics)?,
            upstream: Upstream::new(config)?,
            signer: Signer::new(app_key),
            secret: RwLock::new(Arc::new(secret)),
            meters: Meters::new(metrics),
            routes,
            paths,
            origins,
            timeout_ms: config.upstream.timeout_ms,
            max_response_bytes: config.upstream.max_response_bytes,
        })
    }

    /// The same client labelled with its app's name.
    pub fn named(mut self, app: &str) -> Client {
        self.app = Arc::from(app);
        self
    }

    /// The app's name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The entrust paths this client forwards.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The data centers, in failover order.
    pub fn data_centers(&self) -> &[BaseUrl] {
        self.upstream.urls()
    }

    /// With `[redis]`: the connection the fleet quota uses, for the other
    /// users of the same Redis (the idempotency records).
    pub fn redis(&self) -> Option<Arc<Link>> {
        self.quota.redis()
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
    /// safe (it never left, or the endpoint only reads). Each reply is
    /// reported to `tally`.
    pub async fn call(&self, tally: &Tally, call: &Call<'_>) -> Result<Reply, Error> {
        // Boxed: the attempt's state (the pooled client's futures) is
        // kilobytes, otherwise copied into every future that awaits a call.
        // Boxed in a statement of its own: a temporary in the statement
        // that awaits would keep its room in this future's state anyway.
        let inner = Box::pin(self.call_inner(tally, call, None, None, None));
        inner.await
    }

    /// Takes the quota permit for a call's first attempt on `path` now,
    /// before its body is read: over quota, the caller is refused having
    /// cost nothing more (the body is neither read nor checked).
    pub async fn early_permit(
        &self,
        path: EntrustPath<'_>,
        claimant: Option<&Claimant>,
    ) -> Result<Permit, Error> {
        self.permit(path, self.slot(path), claimant).await?;
        Ok(Permit(()))
    }

    /// [`Client::call`] whose first attempt uses `permit`.
    pub async fn call_permitted(
        &self,
        tally: &Tally,
        call: &Call<'_>,
        permit: Permit,
    ) -> Result<Reply, Error> {
        let inner = Box::pin(self.call_inner(tally, call, Some(permit), None, None));
        inner.await
    }

    async fn call_inner(
        &self,
        tally: &Tally,
        call: &Call<'_>,
        mut permit: Option<Permit>,
        outcome_wait: Option<Duration>,
        claimant: Option<&Claimant>,
    ) -> Result<Reply, Error> {
        let path = call.path.as_str();
        let slot = self.slot(call.path);
        tally.calling(call.path.index());
        let access = if call.path.is_read_only() {
            Access::Read
        } else {
            Access::Write
        };
        // Only a write's outcome can be unknown.
        let wait = outcome_wait.filter(|_| access == Access::Write);
        let mut dc = self.upstream.active();
        let mut retried = false;
        loop {
            if permit.take().is_none() {
                self.permit(call.path, slot, claimant).await?;
            }
            tally.sending_to(dc);
            let (failure, answer) = match self.attempt(call, dc, slot, tally, wait).await? {
                Ok(reply) => {
                    tally.observe(reply.is_final());
                    return Ok(reply);
                }
                Err(failed) => failed,
            };
            let label = &self.upstream.urls()[dc].label;
            self.meters.count_error(slot.label, failure.kind());
            let span = crate::logging::span_at(path, label);
            span.in_scope(|| tracing::warn!(error = ?failure, "upstream attempt failed"));
            let decision = retry::decide(failure.failure, access, failure.sent);
            if decision.mark_failed {
                self.failed(dc, path);
            }
            if decision.retry && !retried && self.upstream.urls().len() > 1 {
                retried = true;
                dc = self.upstream.next(dc);
                span.in_scope(|| tracing::warn!(to = %self.upstream.urls()[dc].label, "sending again to the next data center"));
                continue;
            }
            // Whatever the caller is told, this was not the vendor's
            // definitive answer; for a write that may have reached the
            // vendor with no answer back, nobody knows whether it was done.
            tally.observe(false);
            let unknown = access == Access::Write
                && failure.sent == Sent::Maybe
                && answer.is_none()
                && matches!(
                    failure.failure,
                    Failure::Timeout | Failure::Broken | Failure::AnswerTooLarge
                );
            if unknown {
                tally.mark_unknown();
            }
            // A 5xx is the vendor's own answer, and goes back unchanged.
            return match answer {
                Some(reply) => Ok(reply),
                None => Err(self.send_error(failure, label, wait)),
            };
        }
    }

    /// The cached pieces for `path` (the last slot for an undocumented one:
    /// the documented paths of both APIs come first in an [`EntrustPath`]'s
    /// index).
    fn slot(&self, path: EntrustPath<'_>) -> &PathSlot {
        &self.paths[path.index().min(allowlist::KNOWN)]
    }

    /// One quota permit for `path` (every attempt takes one).
    async fn permit(
        &self,
        path: EntrustPath<'_>,
        slot: &PathSlot,
        claimant: Option<&Claimant>,
    ) -> Result<(), Error> {
        match self.quota.acquire_as(path, claimant).await {
            Ok(waited) => {
                if self.quota.enabled() {
                    slot.waited(&self.meters, waited.as_secs_f64());
                }
                Ok(())
            }
            Err((why, err)) => {
                slot.refused(&self.meters, why);
                self.meters.refused_for(&self.app, claimant, why);
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
        tally: &Tally,
        wait: Option<Duration>,
    ) -> Result<Result<Reply, (SendError, Option<Reply>)>, Error> {
        let label = &self.upstream.urls()[dc].label;
        let req = self.build(call, dc, slot)?;
        let _sending = self.upstream.slot().await;
        let started = Instant::now();
        let timeout = self.upstream.timeout();
        let result = match wait {
            None => self.upstream.send(req, timeout).await,
            Some(wait) => {
                // The answer may still come: go on waiting for it, but let
                // the caller be answered at the usual time.
                let send = self.upstream.send(req, timeout + wait);
                tokio::pin!(send);
                tokio::select! {
                    biased;
                    r = &mut send => r,
                    () = tokio::time::sleep(timeout) => {
                        tally.mark_overdue();
                        send.await
                    }
                }
            }
        };
        slot.sent(&self.meters, dc, label, started.elapsed().as_secs_f64());
        Ok(match result {
            Ok(resp) if resp.status().is_server_error() => {
                let status = resp.status();
                Err((
                    SendError {
                        failure: Failure::Status5xx,
                        sent: Sent::Maybe,
                        detail: format!("answered HTTP {}", status.as_u16()),
                    },
                    Some(self.reply(call.path, slot.label, dc, resp)),
                ))
            }
            Ok(resp) => {
                self.upstream.mark_ok(dc);
                Ok(self.reply(call.path, slot.label, dc, resp))
            }
            Err(e) => Err((e, None)),
        })
    }

    /// The caller's error for an attempt that got no usable answer.
    fn send_error(&self, e: SendError, label: &str, waited: Option<Duration>) -> Error {
        let timeout_ms = self.timeout_ms + waited.map_or(0, |w| w.as_millis() as u64);
        match e.failure {
            Failure::Connect => Error::Unreachable(format!("cannot reach {label}: {}", e.detail)),
            Failure::Timeout if e.sent == Sent::Never => Error::Unreachable(format!(
                "cannot reach {label}: no connection within {timeout_ms} ms"
            )),
            Failure::Timeout => {
                Error::Timeout(format!("{label} did not answer within {timeout_ms} ms"))
            }
            Failure::Broken | Failure::Status5xx => {
                Error::Unreachable(format!("{label} failed: {}", e.detail))
            }
            Failure::BodyRefused => {
                Error::BodyRefused(format!("{label} refused the request body: {}", e.detail))
            }
            Failure::AnswerTooLarge => Error::BadUpstream(format!(
                "{label} answered more than {} bytes",
                self.max_response_bytes
            )),
        }
    }

    fn failed(&self, dc: usize, path: &str) {
        if let Some(next) = self.upstream.mark_failed(dc) {
            let urls = self.upstream.urls();
            crate::logging::span_at(path, &urls[dc].label).in_scope(|| tracing::warn!(from = %urls[dc].label, to = %urls[next].label, "failing over to the next data center"));
            self.meters
                .failovers
                .get_or_create(&metrics::FailoverLabels {
                    from: urls[dc].label.clone(),
                    to: urls[next].label.clone(),
                })
                .inc();
        }
    }

    /// The signed request for data center `dc`.
    fn build(&self, call: &Call<'_>, dc: usize, slot: &PathSlot) -> Result<Request<Bytes>, Error> {
        let origin = &self.origins[dc];
        // The path passed the allowlist: a failure here is ours.
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
        // and rebuilt its index once (BENCHMARKS.md).
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

    fn reply(
        &self,
        route: EntrustPath<'_>,
        path_label: &str,
        dc: usize,
        resp: http::Response<Bytes>,
    ) -> Reply {
        let path = route.as_str();
        let (parts, body) = resp.into_parts();
        let code = serde_json::from_slice::<CodeOnly>(&body)
            .ok()
            .map(|c| c.code);
        // HTTP 429, or the dialect's rate-limit codes (entrust: 1008 and
        // the entrust service's own 25416; v4: 1008).
        let limited = retry::judge(route.api(), parts.status.as_u16(), code).rate_limited;
        let retry_after = limited.then(|| {
            self.meters.count_error(path_label, "rate_limited");
            crate::logging::span_at(path, &self.upstream.urls()[dc].label).in_scope(|| {
                tracing::warn!(path, "the vendor rate-limited this path; backing off")
            });
            self.quota.upstream_limited(path)
        });
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            code,
            retry_after,
            data_center: dc,
            api: route.api(),
        }
    }
}
