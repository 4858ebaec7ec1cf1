//! Idempotency records in Redis: with `[redis]`, a retry
//! that lands on another gateway of the fleet still gets the first answer.
//!
//! One string per key, `<key_prefix>:<app_key>:idem:<digest>` (the digest
//! is SHA-1 of the caller's credential digest and key, so Redis never sees
//! either), holding either
//!
//! - `inflight:<claim id>:<fingerprint>`: set with `SET NX PX` by the one
//!   claim that wins, for [`LEASE`]; the holder renews it while its write
//!   runs, so a claim whose gateway died expires within the lease, and a
//!   slow write is never done twice;
//! - `done:<fingerprint>:<answer>`: the answer, for `dedup.window_ms` (Redis's
//!   own expiry replaces the local table's eviction). An answer over
//!   [`ANSWER_MAX`] is not kept (logged, counted in
//!   `entrust_gateway_dedup_answers_too_large_total`): the claim is freed and a
//!   retry does the work again.
//!
//! Claiming is one script (`SET NX PX`, else `GET`), atomic. Renewing,
//! finishing and freeing are one compare-and-set script: it acts only while
//! the key still holds this claim, so only its holder ends it.
//!
//! Redis trouble never fails the caller's write: the request uses this
//! gateway's local table instead (the connection, its timeout and its
//! once-logged switch are the fleet quota's: [`crate::redis_link`]; failed
//! calls are counted in `entrust_gateway_dedup_store_errors_total`). What
//! was claimed locally during an outage is still looked up locally first,
//! so the gateway that served a write still recognises its retry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use prometheus_client::metrics::counter::Counter;
use redis::Script;
use sha1::{Digest, Sha1};
use tokio::task::AbortHandle;

use prometheus_client::metrics::family::Family;

use super::local::LocalStore;
use super::state::{ClaimId, Fingerprint, Lookup, Stored};
use crate::metrics::KindLabels;
use crate::redis_link::Link;

/// How long a claim lives unless its holder renews it: how long a retry
/// gets 409 after the gateway running the write died.
pub const LEASE: Duration = Duration::from_secs(10);

/// The holder renews its claim this often (a quarter of the lease, so a
/// renewal or two may fail before the claim lapses).
const RENEW_EVERY: Duration = Duration::from_millis(2500);

/// Largest answer kept in Redis. The vendor's write answers are a few hundred
/// bytes; the bound keeps one record from taking Redis's memory.
pub const ANSWER_MAX: usize = 64 * 1024;

/// KEYS[1]: the record; ARGV: the claim's value, its lease in ms. Returns
/// nil when claimed, else what the key holds.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
";

/// A final record written through after Redis failed when the write ended
/// (the claim may have lapsed meanwhile): KEYS[1] becomes ARGV[1] for ARGV[2]
/// ms unless it already holds a final record. Returns 1 if written.
const WRITE_THROUGH: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 5) == 'done:' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// How often a final record Redis did not take is tried again.
const WRITE_THROUGH_EVERY: Duration = Duration::from_secs(1);

/// Only while KEYS[1] holds claim ARGV[1]: sets it to ARGV[2] for ARGV[3] ms
/// (renew: the same value; finish: the answer), or deletes it when ARGV[2]
/// is empty. Returns 1 if it still held the claim.
const SETTLE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
";

pub struct RedisStore {
    link: Arc<Link>,
    /// `<key_prefix>:<app_key>:idem:`
    prefix: String,
    window: Duration,
    /// While Redis is unreachable (and what was claimed here then).
    local: LocalStore,
    claim: Script,
    settle: Script,
    write_through: Script,
    too_large: Counter,
    errors: Family<KindLabels, Counter>,
    /// This gateway's live claims in Redis: their values and renewal tasks.
    renewals: Mutex<HashMap<u64, (String, AbortHandle)>>,
    warned_corrupt: AtomicBool,
}

impl RedisStore {
    pub fn new(
        link: Arc<Link>,
        prefix: String,
        window: Duration,
        local: LocalStore,
        too_large: Counter,
        errors: Family<KindLabels, Counter>,
    ) -> RedisStore {
        RedisStore {
            link,
            prefix,
            window,
            local,
            claim: Script::new(CLAIM),
            settle: Script::new(SETTLE),
            write_through: Script::new(WRITE_THROUGH),
            too_large,
            errors,
            renewals: Mutex::new(HashMap::new()),
            warned_corrupt: AtomicBool::new(false),
        }
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, hex::encode(Sha1::digest(key)))
    }

    pub async fn claim(&self, key: &str, fingerprint: Fingerprint) -> Lookup {
        if let Some(held) = self.local.peek(key) {
            return held;
        }
        // A Redis whose maxmemory-policy can evict records is not used for
        // them (crate::redis_link, "What Redis keeps"): known once the
        // first connection is made.
        self.link.first_connection().await;
        if !self.link.records_shared() {
            return self.local.claim(key, fingerprint);
        }
        let id = rand::random::<u64>();
        let value = claim_value(id, &fingerprint);
        let rkey = self.redis_key(key);
        let mut call = self.claim.key(&rkey);
        call.arg(&value).arg(millis(LEASE));
        match self.link.run::<Option<Vec<u8>>>(&call, &self.errors).await {
            Some(None) => {
                self.renew(id, rkey, value);
                Lookup::Won(ClaimId::Shared(id))
            }
            Some(Some(held)) => match parse(&held) {
                Some(lookup) => lookup,
                None => {
                    if !self.warned_corrupt.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "an idempotency record in Redis is not the gateway's: using the local table for it"
                        );
                    }
                    self.local.claim(key, fingerprint)
                }
            },
            // Unreachable (counted and logged once by the link).
            None => self.local.claim(key, fingerprint),
        }
    }

    pub async fn finish(&self, key: &str, id: ClaimId, answer: Option<Stored>) {
        let ClaimId::Shared(n) = id else {
            return self.local.finish(key, id, answer);
        };
        let Some(value) = self.stop_renewal(n) else {
            return;
        };
        let fingerprint_hex = value.rsplit(':').next().unwrap_or_default().to_string();
        // This process keeps every final answer it made for the window,
        // whatever befalls Redis (a restart without persistence, a
        // failover, an outage when the write ends): its own retries are
        // answered here first.
        if let (Some(a), Some(fp)) = (&answer, fingerprint(fingerprint_hex.as_bytes())) {
            self.local.put_final(key, fp, Arc::new(a.clone()));
        }
        let done = answer.and_then(|a| {
            let encoded = done_value(&fingerprint_hex, &a);
            if too_large(&encoded) {
                self.too_large.inc();
                tracing::warn!(
                    bytes = a.body.len(),
                    max = ANSWER_MAX,
                    "answer too large to keep in Redis: a retry will do the write again (counted in entrust_gateway_dedup_answers_too_large_total)"
                );
                return None;
            }
            Some(encoded)
        });
        let rkey = self.redis_key(key);
        let mut call = self.settle.key(&rkey);
        call.arg(&value)
            .arg(done.as_deref().unwrap_or_default())
            .arg(millis(self.window));
        if self.link.run::<i64>(&call, &self.errors).await.is_some() {
            return;
        }
        // Redis did not take it. A freed claim lapses within the lease; a
        // final record is written through once Redis answers again, so
        // that the fleet's other gateways get it too.
        if let Some(done) = done {
            self.write_through_later(rkey, done);
        }
    }

    /// Writes `record` to `rkey` once Redis answers, within the window.
    fn write_through_later(&self, rkey: String, record: Vec<u8>) {
        let (link, script, errors) = (
            self.link.clone(),
            self.write_through.clone(),
            self.errors.clone(),
        );
        let until = tokio::time::Instant::now() + self.window;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(WRITE_THROUGH_EVERY);
            loop {
                every.tick().await;
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                let mut call = script.key(&rkey);
                call.arg(&record[..]).arg(millis(left));
                if link.run::<i64>(&call, &errors).await.is_some() {
                    return;
                }
            }
        });
    }

    /// Frees a claim without waiting (its owner was dropped).
    pub fn release(&self, key: &str, id: ClaimId) {
        let ClaimId::Shared(n) = id else {
            return self.local.finish(key, id, None);
        };
        let (Some(value), Ok(rt)) = (self.stop_renewal(n), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let (link, settle, rkey) = (self.link.clone(), self.settle.clone(), self.redis_key(key));
        let errors = self.errors.clone();
        rt.spawn(async move {
            let mut call = settle.key(rkey);
            call.arg(value).arg("").arg(0);
            link.run::<i64>(&call, &errors).await;
        });
    }

    /// Keeps claim `id` alive while its write runs.
    fn renew(&self, id: u64, rkey: String, value: String) {
        let (link, settle, v) = (self.link.clone(), self.settle.clone(), value.clone());
        let errors = self.errors.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let mut call = settle.key(&rkey);
                call.arg(&v).arg(&v).arg(millis(LEASE));
                // 0: no longer ours (it lapsed during an outage).
                if link.run::<i64>(&call, &errors).await == Some(0) {
                    return;
                }
            }
        });
        self.renewals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (value, task.abort_handle()));
    }

    /// Ends claim `id`'s renewal; returns its value.
    fn stop_renewal(&self, id: u64) -> Option<String> {
        let (value, task) = self
            .renewals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)?;
        task.abort();
        Some(value)
    }
}

/// Whether a record is over [`ANSWER_MAX`] (one of exactly that size is kept).
fn too_large(record: &[u8]) -> bool {
    record.len() > ANSWER_MAX
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn claim_value(id: u64, fingerprint: &Fingerprint) -> String {
    format!("inflight:{id:016x}:{}", hex::encode(fingerprint))
}

/// `done:<fingerprint>:<status>\n<name>:<value>\n...\n\n<body>` (header
/// values never hold a newline).
fn done_value(fingerprint_hex: &str, answer: &Stored) -> Vec<u8> {
    let mut v = format!("done:{fingerprint_hex}:{}\n", answer.status.as_u16()).into_bytes();
    for (name, value) in &answer.headers {
        v.extend_from_slice(name.as_str().as_bytes());
        v.push(b':');
        v.extend_from_slice(value.as_bytes());
        v.push(b'\n');
    }
    v.push(b'\n');
    v.extend_from_slice(&answer.body);
    v
}

/// What a record holds; `None` if it is not one this code wrote.
fn parse(record: &[u8]) -> Option<Lookup> {
    let mut parts = record.splitn(3, |b| *b == b':');
    match (parts.next()?, parts.next()?, parts.next()?) {
        (b"inflight", _id, fp) => Some(Lookup::Claimed {
            fingerprint: fingerprint(fp)?,
        }),
        (b"done", fp, answer) => Some(Lookup::Final {
            fingerprint: fingerprint(fp)?,
            answer: Arc::new(answer_from(answer)?),
        }),
        _ => None,
    }
}

fn fingerprint(hex_fp: &[u8]) -> Option<Fingerprint> {
    hex::decode(hex_fp).ok()?.try_into().ok()
}

fn answer_from(bytes: &[u8]) -> Option<Stored> {
    let mut rest = bytes;
    let mut line = || {
        let end = rest.iter().position(|b| *b == b'\n')?;
        let l = &rest[..end];
        rest = &rest[end + 1..];
        Some(l)
    };
    let status = StatusCode::from_bytes(line()?).ok()?;
    let mut headers = HeaderMap::new();
    loop {
        let l = line()?;
        if l.is_empty() {
            break;
        }
        let colon = l.iter().position(|b| *b == b':')?;
        headers.append(
            HeaderName::from_bytes(&l[..colon]).ok()?,
            HeaderValue::from_bytes(&l[colon + 1..]).ok()?,
        );
    }
    Some(Stored {
        status,
        headers,
        body: Bytes::copy_from_slice(rest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-a", HeaderValue::from_static("1: two"));
        headers.append("x-a", HeaderValue::from_static("3"));
        let answer = Stored {
            status: StatusCode::CONFLICT,
            headers,
            body: Bytes::from_static(b"{\"code\":1}\n\nx:y\n"),
        };
        let fp = [7u8; 20];
        let Some(Lookup::Final {
            fingerprint,
            answer: back,
        }) = parse(&done_value(&hex::encode(fp), &answer))
        else {
            panic!("a done record")
        };
        assert_eq!(fingerprint, fp);
        assert_eq!(back.status, answer.status);
        assert_eq!(back.headers, answer.headers);
        assert_eq!(back.body, answer.body);
        let Some(Lookup::Claimed { fingerprint }) = parse(claim_value(9, &fp).as_bytes()) else {
            panic!("a claim")
        };
        assert_eq!(fingerprint, fp);
        assert!(parse(b"something else").is_none());
        assert!(parse(b"done:zz:200\n\n").is_none());
    }

    #[test]
    fn records_up_to_64_kib_are_kept() {
        // README, "Running several gateways": "An answer over 64 KiB is not
        // kept in Redis".
        assert!(!too_large(&vec![b'x'; 64 * 1024]));
        assert!(too_large(&vec![b'x'; 64 * 1024 + 1]));
    }
}
