//! Duplicate protection for retried writes, by the `Idempotency-Key` request
//! header (IETF draft-ietf-httpapi-idempotency-key-header), on both faces.
//!
//! A write that carries the key header (`[dedup] key_header`, by default
//! `Idempotency-Key`) is claimed under that key, scoped to the caller's
//! credential ([`key`]). A retry with the same key and the same request
//! (method, path, query and body: its fingerprint) within the window gets
//! the first attempt's answer, marked `x-gateway-replayed: true`; while the
//! first is still running it gets 409; the same key with another request
//! gets 422. Trace ids (`X-Request-ID`, OpenIM's `operationID`) are never
//! keys unless a deployment names one as `key_header`.
//!
//! Only final answers are kept: the face's [`Outcome`] says whether its
//! answer is final (every vendor reply it got was, and its own result too);
//! a retry after a non-final answer does the work again.
//!
//! - [`state`]: the states of a key (free, claimed, final) and the answer kept.
//! - [`store`]: the store contract; [`local`] keeps the states in this
//!   process, [`redis`] in Redis for the whole fleet (with `[redis]`), so
//!   that a retry that lands on another gateway still gets the first answer.
//! - [`key`]: the key, its scope and the request's fingerprint.
//! - [`mod@write`]: writes run to completion in their own tasks, tracked for
//!   shutdown.

pub mod key;
pub mod local;
pub mod redis;
pub mod state;
pub mod store;
pub mod write;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::config::{Config, DedupConfig};
use crate::error::{Body, Error};
use crate::metrics::KindLabels;
use crate::redis_link::Link;

pub use key::{KEY_MAX, fingerprint, parse_key, store_key};
pub use local::LocalStore;
pub use state::{ClaimId, Fingerprint, Lookup, Stored};
pub use store::Store;
pub use write::{Kept, Outcome, Writes};

/// Duplicate protection: the store and the header that carries keys.
pub struct Idempotency {
    store: Box<dyn Store>,
    header: HeaderName,
    /// The claims of writes running now, with what their keys keep if the
    /// gateway stops before they end ([`Idempotency::cut_all`]).
    live: Mutex<HashMap<String, (ClaimId, Arc<Stored>)>>,
}

/// What to do with a request.
pub enum Begin<'a> {
    /// First time: do the work, then [`Claim::finish`].
    New(Claim<'a>),
    /// A repeat of a finished request: answer this.
    Replay(Response<Body>),
}

/// The right to do the work for a key. Dropped unfinished (a panic), it
/// frees the key.
pub struct Claim<'a> {
    idempotency: &'a Idempotency,
    key: Option<String>,
    id: ClaimId,
}

impl Claim<'_> {
    /// Ends the claim, keeping `answer` for replay when it is `Some`.
    pub async fn finish(mut self, answer: Option<Stored>) {
        if let Some(key) = self.key.take() {
            self.idempotency.forget(&key, self.id);
            self.idempotency.store.finish(&key, self.id, answer).await;
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.idempotency.forget(&key, self.id);
            self.idempotency.store.release(&key, self.id);
        }
    }
}

impl Idempotency {
    /// Records in this process.
    pub fn new(cfg: &DedupConfig, evictions: Counter) -> Idempotency {
        Idempotency {
            store: Box::new(LocalStore::new(
                Duration::from_millis(cfg.window_ms),
                cfg.max_entries,
                evictions,
            )),
            // Validated at config load; the standard header otherwise.
            header: HeaderName::from_bytes(cfg.key_header.as_bytes())
                .unwrap_or(HeaderName::from_static("idempotency-key")),
            live: Mutex::default(),
        }
    }

    /// With `[redis]`: records in Redis, shared by the fleet ([`redis`]),
    /// on `link`; a local table serves while Redis is unreachable. Failed
    /// Redis calls are counted in `errors`.
    pub fn in_redis(
        cfg: &Config,
        link: Arc<Link>,
        evictions: Counter,
        too_large: Counter,
        errors: Family<KindLabels, Counter>,
    ) -> Idempotency {
        let local = Idempotency::new(&cfg.dedup, evictions.clone());
        let Some(redis) = &cfg.redis else {
            return local;
        };
        Idempotency {
            store: Box::new(redis::RedisStore::new(
                link,
                format!("{}:{}:idem:", redis.key_prefix, cfg.upstream.app_key),
                Duration::from_millis(cfg.dedup.window_ms),
                LocalStore::new(
                    Duration::from_millis(cfg.dedup.window_ms),
                    cfg.dedup.max_entries,
                    evictions,
                ),
                too_large,
                errors,
            )),
            header: local.header,
            live: Mutex::default(),
        }
    }

    /// The request header carrying the key.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ClaimId, Arc<Stored>)>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self, key: &str, id: ClaimId) {
        let mut live = self.live();
        if live.get(key).is_some_and(|(i, _)| *i == id) {
            live.remove(key);
        }
    }

    /// Claims `key` for a request with `fingerprint`, or says why not.
    /// `unknown` is what the key keeps if the gateway stops before the
    /// claim ends ([`Idempotency::cut_all`]).
    pub async fn begin(
        &self,
        key: String,
        fingerprint: Fingerprint,
        unknown: Arc<Stored>,
    ) -> Result<Begin<'_>, Error> {
        match self.store.claim(&key, fingerprint).await {
            Lookup::Won(id) => {
                self.live().insert(key.clone(), (id, unknown));
                Ok(Begin::New(Claim {
                    idempotency: self,
                    key: Some(key),
                    id,
                }))
            }
            Lookup::Claimed { fingerprint: f } | Lookup::Final { fingerprint: f, .. }
                if f != fingerprint =>
            {
                Err(Error::KeyReused(
                    "this Idempotency-Key was already used for a different request (method, path, query or body); use a new key for a new request".into(),
                ))
            }
            Lookup::Claimed { .. } => Err(Error::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later to get its answer".into(),
            )),
            Lookup::Final { answer, .. } => Ok(Begin::Replay(answer.to_response())),
        }
    }

    /// Ends every claim of a write still running with what its key keeps
    /// when the outcome is unknown: the gateway is stopping, and a retry
    /// elsewhere must not send the write again. Returns how many.
    pub async fn cut_all(&self) -> usize {
        let live: Vec<_> = self.live().drain().collect();
        for (key, (id, unknown)) in &live {
            self.store
                .finish(key, *id, Some(Stored::clone(unknown)))
                .await;
        }
        live.len()
    }

    /// Whether the request carries a key (so that [`Idempotency::run`]
    /// will protect it).
    pub fn keyed(&self, headers: &http::HeaderMap) -> bool {
        headers.contains_key(&self.header)
    }

    /// Runs the write `work` under duplicate protection when the request
    /// carries a key: the first time it runs, and its answer is kept when
    /// final ([`Kept`]); a retry is answered from the store without running
    /// it. `unknown` is the answer a key keeps when its write's outcome is
    /// unknown (see [`Idempotency::begin`]).
    pub async fn run(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        unknown: impl FnOnce() -> Response<Body>,
        work: impl Future<Output = Outcome>,
    ) -> Result<Response<Body>, Error> {
        let Some(value) = parts.headers.get(&self.header) else {
            return Ok(work.await.response);
        };
        let key = store_key(&parts.headers, parse_key(value)?);
        let unknown = Arc::new(Stored::collect(unknown()).await);
        let claim = match self.begin(key, fingerprint(parts, body), unknown).await? {
            Begin::Replay(mut resp) => {
                tracing::info!("retry of a finished request: replaying its answer");
                resp.headers_mut()
                    .insert("x-gateway-replayed", HeaderValue::from_static("true"));
                return Ok(resp);
            }
            Begin::New(claim) => claim,
        };
        let outcome = work.await;
        let (head, body) = outcome.response.into_parts();
        let bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(never) => match never {},
        };
        let answer = match outcome.kept {
            Kept::Answer => Some(Stored {
                status: head.status,
                headers: head.headers.clone(),
                body: bytes.clone(),
            }),
            Kept::Free => None,
            Kept::Instead(other) => Some(Stored::collect(other).await),
        };
        claim.finish(answer).await;
        Ok(Response::from_parts(head, Full::new(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim dropped unfinished (its task panicked) frees the key: a
    /// retry does the work again instead of getting 409 for ever.
    #[tokio::test]
    async fn a_claim_dropped_unfinished_frees_its_key() {
        let d = Idempotency::new(&DedupConfig::default(), Counter::default());
        let unknown = Arc::new(Stored::collect(Response::new(Full::default())).await);
        let unknown = || unknown.clone();
        let Ok(Begin::New(claim)) = d.begin("k".into(), [0; 20], unknown()).await else {
            panic!("k is free")
        };
        assert!(matches!(
            d.begin("k".into(), [0; 20], unknown()).await,
            Err(Error::Conflict(_))
        ));
        drop(claim);
        assert!(matches!(
            d.begin("k".into(), [0; 20], unknown()).await,
            Ok(Begin::New(_))
        ));
    }

    /// A finished claim leaves the claims that shutdown cuts: the key
    /// keeps its answer, not the "outcome unknown" one.
    #[tokio::test]
    async fn a_finished_claim_is_not_cut_at_shutdown() {
        let d = Idempotency::new(&DedupConfig::default(), Counter::default());
        let answer = |status| Stored {
            status,
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        };
        let unknown = Arc::new(answer(http::StatusCode::GATEWAY_TIMEOUT));
        let Ok(Begin::New(claim)) = d.begin("k".into(), [0; 20], unknown.clone()).await else {
            panic!("k is free")
        };
        claim.finish(Some(answer(http::StatusCode::OK))).await;
        assert_eq!(d.cut_all().await, 0);
        let Ok(Begin::Replay(resp)) = d.begin("k".into(), [0; 20], unknown).await else {
            panic!("k is finished")
        };
        assert_eq!(resp.status(), http::StatusCode::OK);
    }

    /// Only a request with the configured header is protected.
    #[test]
    fn keyed_is_the_configured_header() {
        let d = Idempotency::new(&DedupConfig::default(), Counter::default());
        let mut headers = http::HeaderMap::new();
        assert!(!d.keyed(&headers));
        headers.insert("idempotency-key", HeaderValue::from_static("a"));
        assert!(d.keyed(&headers));
    }

    /// The entrust API's writes; with the v4 API's at full rate too, the
    /// default does not fit, and docs/duplicate-protection.md says what to
    /// raise it to.
    #[test]
    fn the_default_table_fits_the_window_at_the_quotas_write_rate() {
        let d = DedupConfig::default();
        let r = crate::config::RateLimitConfig::default();
        let writes = crate::entrust::path::ALL
            .iter()
            .filter(|p| !crate::entrust::path::is_read_only(p))
            .count() as u64;
        let per_second = u64::from(r.per_second * (100 - r.headroom_percent) / 100);
        assert!(d.max_entries as u64 >= writes * per_second * d.window_ms / 1000);
        let v4_writes = crate::v4::path::ALL
            .iter()
            .filter(|p| !crate::v4::path::is_read_only(p))
            .count() as u64;
        assert_eq!(writes + v4_writes, 41, "docs/duplicate-protection.md");
        assert!(250_000 >= (writes + v4_writes) * per_second * d.window_ms / 1000);
    }
}
