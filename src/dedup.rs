//! Duplicate protection for retried writes, by the `Idempotency-Key` request
//! header (IETF draft-ietf-httpapi-idempotency-key-header), on both faces.
//!
//! A write that carries the key header (`[dedup] key_header`, by default
//! `Idempotency-Key`) is claimed under that key, scoped to the caller's
//! credential. A retry with the same key and the same request (method, path,
//! query and body: its fingerprint) within the window gets the first
//! attempt's answer, marked `x-gateway-replayed: true`; while the first is
//! still running it gets 409; the same key with another request gets 422.
//! Trace ids (`X-Request-ID`, OpenIM's `operationID`) are never keys unless
//! a deployment names one as `key_header`.
//!
//! Only final answers are kept ([`is_final`]: not a 5xx, a 429 or a
//! transport failure): a retry after one of those does the work again.
//!
//! The table lives behind [`Store`]: in this process ([`LocalStore`]), or,
//! with `[redis]`, in Redis for the whole fleet ([`RedisStore`]), so that a
//! retry that lands on another gateway still gets the first answer.

pub mod shared;

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use prometheus_client::metrics::counter::Counter;
use sha1::{Digest, Sha1};
use tokio::sync::watch;

use crate::config::DedupConfig;
use crate::entrust::code;
use crate::error::{Body, Error};
use crate::gateway::Reply;

/// The longest key accepted (the draft sets no bound; UUIDs are 36).
pub const KEY_MAX: usize = 255;

/// A digest of what makes a request the same request: method, path, query
/// and body.
pub type Fingerprint = [u8; 20];

/// An answer kept for replay.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Stored {
    pub fn to_response(&self) -> Response<Body> {
        let mut resp = Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

/// Names one claim, so that finishing it can't touch a later claim on the
/// same key (a shared store's claims expire; a crashed owner's may be
/// re-claimed), and says which store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimId {
    /// In this process's table.
    Local(u64),
    /// In Redis: random, so that no two gateways' claims share an id.
    Shared(u64),
}

/// What the store holds for a key when a request claims it.
pub enum Lookup {
    /// Nothing live: the key is now claimed (in flight) by this request.
    Claimed(ClaimId),
    /// Another request holds the claim and has not finished.
    InFlight { fingerprint: Fingerprint },
    /// A finished request's answer, within the window.
    Done {
        fingerprint: Fingerprint,
        answer: Arc<Stored>,
    },
}

/// Where claims and answers live: both variants keep [`LocalStore`]'s
/// contract (a Redis answer's own expiry replaces eviction).
pub enum Store {
    Local(LocalStore),
    Redis(Box<shared::RedisStore>),
}

impl Store {
    /// Atomically: claims `key` for `fingerprint` when nothing live is held
    /// for it, else says what is held.
    pub async fn claim(&self, key: &str, fingerprint: Fingerprint) -> Result<Lookup, Error> {
        match self {
            Store::Local(s) => Ok(s.claim(key, fingerprint)),
            Store::Redis(s) => Ok(s.claim(key, fingerprint).await),
        }
    }

    /// Ends claim `id` on `key` (if it still holds it): keeps `answer` for
    /// the window, or (`None`) frees the key so that a retry does the work
    /// again.
    pub async fn finish(&self, key: &str, id: ClaimId, answer: Option<Stored>) {
        match self {
            Store::Local(s) => s.finish(key, id, answer),
            Store::Redis(s) => s.finish(key, id, answer).await,
        }
    }

    /// Frees an unfinished claim without waiting (its owner was dropped,
    /// e.g. its task panicked).
    fn release(&self, key: &str, id: ClaimId) {
        match self {
            Store::Local(s) => s.finish(key, id, None),
            Store::Redis(s) => s.release(key, id),
        }
    }
}

enum Entry {
    InFlight {
        fingerprint: Fingerprint,
        id: ClaimId,
    },
    Done {
        fingerprint: Fingerprint,
        answer: Arc<Stored>,
        at: Instant,
        /// Matches this entry with its place in `LocalStore::finished`.
        seq: u64,
    },
}

struct Table {
    entries: HashMap<String, Entry>,
    /// Finished entries, oldest first (the window is the same for all, so
    /// this is also expiry order): (key, seq).
    finished: VecDeque<(String, u64)>,
    next_seq: u64,
}

/// The in-process store. Contract (any store must keep it):
/// - `claim` is atomic: of concurrent claims on one key exactly one gets
///   `Claimed`, with an id no other claim on that key has had.
/// - `finish` acts only while the key holds that claim.
/// - a finished answer is served for `window` after it was finished, then
///   the key is free again.
/// - past `max_entries`, the oldest finished answers are evicted (counted in
///   `entrust_gateway_dedup_evictions_total`); an in-flight claim is never
///   evicted, so the table may exceed `max_entries` by the writes in flight.
pub struct LocalStore {
    window: Duration,
    max_entries: usize,
    table: Mutex<Table>,
    evictions: Counter,
    warned: AtomicBool,
}

impl LocalStore {
    pub fn new(window: Duration, max_entries: usize, evictions: Counter) -> LocalStore {
        LocalStore {
            window,
            max_entries,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                finished: VecDeque::new(),
                next_seq: 0,
            }),
            evictions,
            warned: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the front of `finished` while `stop` says so; returns how many
    /// entries went.
    fn drop_front(t: &mut Table, mut stop: impl FnMut(&Table, &Entry) -> bool) -> u64 {
        let mut dropped = 0;
        while let Some((key, seq)) = t.finished.front() {
            match t.entries.get(key) {
                Some(e @ Entry::Done { seq: s, .. }) if s == seq => {
                    if stop(t, e) {
                        break;
                    }
                    t.entries.remove(key);
                    dropped += 1;
                }
                // Stale: the key was freed and claimed again since.
                _ => {}
            }
            t.finished.pop_front();
        }
        dropped
    }

    pub fn claim(&self, key: &str, fingerprint: Fingerprint) -> Lookup {
        let mut t = self.lock();
        self.expire(&mut t);
        if let Some(held) = Self::held(&t, key) {
            return held;
        }
        // Make room by evicting the oldest finished answers, never a claim.
        let max = self.max_entries;
        let evicted = Self::drop_front(&mut t, |t, _| t.entries.len() < max);
        if evicted > 0 {
            self.evictions.inc_by(evicted);
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_entries = max,
                    "dedup table full: evicting the oldest kept answers before their window ends (counted in entrust_gateway_dedup_evictions_total; raise dedup.max_entries)"
                );
            }
        }
        // One counter numbers claims and finished answers: both only grow.
        let id = ClaimId::Local(t.next_seq);
        t.next_seq += 1;
        t.entries
            .insert(key.to_string(), Entry::InFlight { fingerprint, id });
        Lookup::Claimed(id)
    }

    fn held(t: &Table, key: &str) -> Option<Lookup> {
        match t.entries.get(key)? {
            Entry::InFlight { fingerprint, .. } => Some(Lookup::InFlight {
                fingerprint: *fingerprint,
            }),
            Entry::Done {
                fingerprint,
                answer,
                ..
            } => Some(Lookup::Done {
                fingerprint: *fingerprint,
                answer: answer.clone(),
            }),
        }
    }

    /// Drops the answers whose window has ended.
    fn expire(&self, t: &mut Table) {
        let (now, window) = (Instant::now(), self.window);
        Self::drop_front(t, |_, e| match e {
            Entry::Done { at, .. } => now.saturating_duration_since(*at) < window,
            Entry::InFlight { .. } => true,
        });
    }

    /// What is held for `key` now, claiming nothing.
    pub fn peek(&self, key: &str) -> Option<Lookup> {
        let mut t = self.lock();
        self.expire(&mut t);
        Self::held(&t, key)
    }

    pub fn finish(&self, key: &str, id: ClaimId, answer: Option<Stored>) {
        let mut t = self.lock();
        let fingerprint = match t.entries.get(key) {
            Some(Entry::InFlight { fingerprint, id: i }) if *i == id => *fingerprint,
            _ => return,
        };
        match answer {
            Some(answer) => {
                let seq = t.next_seq;
                t.next_seq += 1;
                t.entries.insert(
                    key.to_string(),
                    Entry::Done {
                        fingerprint,
                        answer: Arc::new(answer),
                        at: Instant::now(),
                        seq,
                    },
                );
                t.finished.push_back((key.to_string(), seq));
            }
            None => {
                t.entries.remove(key);
            }
        }
    }
}

pub struct Dedup {
    store: Store,
    header: HeaderName,
    /// Counts finished claims, so that a test can await one.
    finishes: watch::Sender<u64>,
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
    dedup: &'a Dedup,
    key: Option<String>,
    id: ClaimId,
}

impl Claim<'_> {
    /// Ends the claim, keeping `answer` for replay when it is `Some`.
    pub async fn finish(mut self, answer: Option<Stored>) {
        if let Some(key) = self.key.take() {
            self.dedup.store.finish(&key, self.id, answer).await;
            self.dedup.finishes.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.dedup.store.release(&key, self.id);
        }
    }
}

impl Dedup {
    pub fn new(cfg: &DedupConfig, evictions: Counter) -> Dedup {
        Dedup {
            store: Store::Local(LocalStore::new(
                Duration::from_millis(cfg.window_ms),
                cfg.max_entries,
                evictions,
            )),
            // Validated at config load; the standard header otherwise.
            header: HeaderName::from_bytes(cfg.key_header.as_bytes())
                .unwrap_or(HeaderName::from_static("idempotency-key")),
            finishes: watch::channel(0).0,
        }
    }

    /// With `[redis]`: the records live in Redis, shared by the fleet
    /// ([`shared`]), on the quota's connection (`link`); this table serves
    /// while Redis is unreachable.
    pub fn in_redis(
        mut self,
        link: Arc<crate::limit::fleet::Link>,
        config: &crate::config::Config,
        too_large: Counter,
    ) -> Dedup {
        let Some(redis) = &config.redis else {
            return self;
        };
        let Store::Local(local) = self.store else {
            return self;
        };
        self.store = Store::Redis(Box::new(shared::RedisStore::new(
            link,
            format!("{}:{}:idem:", redis.key_prefix, config.upstream.app_key),
            Duration::from_millis(config.dedup.window_ms),
            local,
            too_large,
        )));
        self
    }

    /// The request header carrying the key.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Finished claims so far (changes on each).
    pub fn finishes(&self) -> watch::Receiver<u64> {
        self.finishes.subscribe()
    }

    /// Claims `key` for a request with `fingerprint`, or says why not.
    pub async fn begin(&self, key: String, fingerprint: Fingerprint) -> Result<Begin<'_>, Error> {
        match self.store.claim(&key, fingerprint).await? {
            Lookup::Claimed(id) => Ok(Begin::New(Claim {
                dedup: self,
                key: Some(key),
                id,
            })),
            Lookup::InFlight { fingerprint: f } | Lookup::Done { fingerprint: f, .. }
                if f != fingerprint =>
            {
                Err(Error::KeyReused(
                    "this Idempotency-Key was already used for a different request (method, path, query or body); use a new key for a new request".into(),
                ))
            }
            Lookup::InFlight { .. } => Err(Error::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later to get its answer".into(),
            )),
            Lookup::Done { answer, .. } => Ok(Begin::Replay(answer.to_response())),
        }
    }

    /// The store key: a digest of the caller's credential (`Authorization`,
    /// OpenIM's `token`), so that only the same caller can get a kept answer
    /// back, and the caller's key.
    pub fn store_key(headers: &HeaderMap, key: &str) -> String {
        let credential = [http::header::AUTHORIZATION.as_str(), crate::headers::TOKEN]
            .iter()
            .filter_map(|h| headers.get(*h))
            .fold(Sha1::new(), |d, v| d.chain_update(v.as_bytes()))
            .finalize();
        format!("{}:{key}", hex::encode(credential))
    }
}

/// The caller's key from the header value: a Structured Field string
/// (`"..."`, as the draft writes it) or the bare token many clients send;
/// 1..=[`KEY_MAX`] visible ASCII characters.
pub fn parse_key(value: &HeaderValue) -> Result<&str, Error> {
    let raw = value.as_bytes();
    let inner = raw
        .strip_prefix(b"\"")
        .and_then(|r| r.strip_suffix(b"\""))
        .unwrap_or(raw);
    let ok = !inner.is_empty()
        && inner.len() <= KEY_MAX
        && inner.iter().all(|b| b.is_ascii_graphic() && *b != b'"');
    match std::str::from_utf8(inner) {
        Ok(k) if ok => Ok(k),
        _ => Err(Error::Args(format!(
            "Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters (optionally in double quotes)"
        ))),
    }
}

/// The request's fingerprint: method, path, query and body, each
/// length-prefixed so that no two requests share an encoding.
pub fn fingerprint(parts: &http::request::Parts, body: &[u8]) -> Fingerprint {
    let query = parts.uri.query().unwrap_or("");
    let mut d = Sha1::new();
    for field in [
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        query.as_bytes(),
        body,
    ] {
        d.update((field.len() as u64).to_be_bytes());
        d.update(field);
    }
    d.finalize().into()
}

/// The one rule for what may be kept for replay, on both faces: a vendor
/// reply or an error is final unless it is a 5xx, a 429 (or the vendor's
/// rate-limit and internal-error codes), or a failure of the gateway or the
/// transport. A retry after a non-final answer does the work again.
pub fn is_final(outcome: Result<&Reply, &Error>) -> bool {
    match outcome {
        Ok(r) => {
            !r.status.is_server_error()
                && r.status != StatusCode::TOO_MANY_REQUESTS
                && r.retry_after.is_none()
                && !r.code.is_some_and(transient_code)
        }
        Err(Error::Upstream { code, .. }) => !transient_code(*code),
        // The vendor's answer (or state) in OpenIM's words: as final as it.
        Err(Error::OpenIm { .. }) => true,
        // Made by the gateway (bad input, quota, transport): not the vendor's
        // definitive answer.
        Err(_) => false,
    }
}

/// Vendor codes that say "not done, try again": rate limits, internal
/// error and timeout.
fn transient_code(c: i64) -> bool {
    matches!(
        c,
        code::RATE_LIMITED
            | code::ENTRUST_RATE_LIMIT
            | code::INTERNAL_ERROR
            | code::INTERNAL_TIMEOUT
    )
}

tokio::task_local! {
    /// Within [`tracked`]: whether every vendor reply so far was final.
    static ALL_FINAL: Cell<bool>;
}

/// Records a vendor reply for [`tracked`] (the pipeline calls this for every
/// reply, so a face's rendering can't hide a 5xx). Outside `tracked`, a no-op.
pub fn observe(reply: &Reply) {
    let _ = ALL_FINAL.try_with(|f| {
        if !is_final(Ok(reply)) {
            f.set(false);
        }
    });
}

/// Runs the routed work of a protected write; returns its result and whether
/// it may be kept: every vendor reply it got and its own result are final.
pub async fn tracked<F>(work: F) -> (Result<Response<Body>, Error>, bool)
where
    F: Future<Output = Result<Response<Body>, Error>>,
{
    let (result, replies_final) = ALL_FINAL
        .scope(Cell::new(true), async {
            let r = work.await;
            (r, ALL_FINAL.with(Cell::get))
        })
        .await;
    let keep = replies_final && result.as_ref().map_or_else(|e| is_final(Err(e)), |_| true);
    (result, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Stored {
        Stored {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_finished_never_a_claim() {
        let evictions = Counter::default();
        let s = LocalStore::new(Duration::from_secs(60), 2, evictions.clone());
        assert!(matches!(s.claim("a", [0; 20]), Lookup::Claimed(_)));
        let Lookup::Claimed(b) = s.claim("b", [0; 20]) else {
            panic!("b is free")
        };
        s.finish("b", b, Some(stored()));
        // Full: "b" (finished) goes, "a" (in flight) stays.
        assert!(matches!(s.claim("c", [0; 20]), Lookup::Claimed(_)));
        assert_eq!(evictions.get(), 1);
        assert!(matches!(s.claim("a", [0; 20]), Lookup::InFlight { .. }));
        // Only claims left: the table grows past the bound rather than
        // drop protection.
        assert!(matches!(s.claim("d", [0; 20]), Lookup::Claimed(_)));
        assert_eq!(s.lock().entries.len(), 3);
        assert_eq!(evictions.get(), 1);
    }

    /// README, "Duplicate protection": evictions are "counted in
    /// `entrust_gateway_dedup_evictions_total`, first one logged as a
    /// warning" (and nothing is logged while nothing is evicted).
    #[test]
    fn the_first_eviction_is_logged_as_a_warning_once() {
        use std::sync::atomic::AtomicUsize;
        // The store logs nothing else: each warning on this thread counts.
        let warnings = Arc::new(AtomicUsize::new(0));
        let w = warnings.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || {
                w.fetch_add(1, Ordering::Relaxed);
                std::io::sink()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let evictions = Counter::default();
        let s = LocalStore::new(Duration::from_secs(60), 1, evictions.clone());
        // "a" evicts nothing; "b" evicts "a"; "c" evicts "b".
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            let Lookup::Claimed(id) = s.claim(key, [0; 20]) else {
                panic!("{key} is free")
            };
            assert_eq!(evictions.get(), n as u64);
            assert_eq!(warnings.load(Ordering::Relaxed), n.min(1), "after {key}");
            s.finish(key, id, Some(stored()));
        }
    }

    /// A claim dropped unfinished (its task panicked) frees the key: a
    /// retry does the work again instead of getting 409 for ever.
    #[tokio::test]
    async fn a_claim_dropped_unfinished_frees_its_key() {
        let d = Dedup::new(&DedupConfig::default(), Counter::default());
        let Ok(Begin::New(claim)) = d.begin("k".into(), [0; 20]).await else {
            panic!("k is free")
        };
        assert!(matches!(
            d.begin("k".into(), [0; 20]).await,
            Err(Error::Conflict(_))
        ));
        drop(claim);
        assert!(matches!(
            d.begin("k".into(), [0; 20]).await,
            Ok(Begin::New(_))
        ));
    }

    #[test]
    fn answers_expire_after_the_window() {
        let s = LocalStore::new(Duration::ZERO, 10, Counter::default());
        let Lookup::Claimed(a) = s.claim("a", [0; 20]) else {
            panic!("a is free")
        };
        s.finish("a", a, Some(stored()));
        let Lookup::Claimed(again) = s.claim("a", [1; 20]) else {
            panic!("expired")
        };
        // The first claim's owner can no longer end the second claim.
        s.finish("a", a, None);
        assert!(matches!(s.claim("a", [1; 20]), Lookup::InFlight { .. }));
        s.finish("a", again, None);
        assert!(matches!(s.claim("a", [1; 20]), Lookup::Claimed(_)));
    }

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
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        let ok = |v: &'static str| parse_key(&HeaderValue::from_static(v)).map(str::to_string);
        assert_eq!(ok("\"8e03978e-40d5\"").as_deref(), Ok("8e03978e-40d5"));
        assert_eq!(ok("abc").as_deref(), Ok("abc"));
        assert!(ok("").is_err());
        assert!(ok("\"\"").is_err());
        assert!(ok("a b").is_err());
        let long = "k".repeat(KEY_MAX + 1);
        assert!(parse_key(&HeaderValue::from_str(&long).unwrap()).is_err());
        assert!(parse_key(&HeaderValue::from_bytes(b"k\xff").unwrap()).is_err());
    }
}
