//! The fleet quota: every gateway that shares an app key and a Redis holds
//! the vendor's per-path quota together.
//!
//! # Guarantee
//!
//! The same as the local quota's (see [`crate::quota`]), for the whole fleet:
//! **at most `per_second` requests of one path reach the vendor in any
//! sliding one-second window, across all instances.** Each permit is one
//! GCRA reservation (the generic cell rate algorithm in its virtual
//! scheduling form, as governor and redis-cell implement it), made by one
//! atomic Lua script on Redis's own clock (`TIME`), so instance clocks don't
//! matter and nothing is read, changed and written back across round trips.
//! The pacing is the local quota's, derived by the same code: rate
//! `r = per_second * (100 - headroom_percent) / 100` and burst `b`, so at
//! most `floor(r) + b` requests reach the vendor in any one-second interval
//! (96/s with a burst of 3, at most 99, for the vendor's 100/s). The local
//! quota spends the burst also on waiters' late wake-ups; a fleet slot is
//! fixed in advance, so there the burst is spent on that lateness up front
//! (reserved with burst `b - 2`, at least 1: see `LATE_PERIODS`).
//!
//! The script gives the caller the earliest free slot, or, when that slot is
//! more than `max_wait_ms` away, refuses without reserving anything (429 +
//! Retry-After at once). A caller whose slot is in the future waits locally
//! until then, so the order of slots is the order in which the fleet's
//! callers reached Redis: first come, first served across instances. A
//! caller waits at most `max_wait_ms` plus a Redis round trip. Each
//! instance maps Redis's clock onto its own through the smallest reply
//! delay it has seen, so a waiter wakes at its slot however late its reply
//! came: replies late by varying amounts would otherwise bunch slots
//! together at the vendor.
//!
//! # Keys
//!
//! One hash per path, `<key_prefix>:<app_key>:quota:<path>`, with the
//! theoretical arrival time of the next free slot (`tat`, µs on Redis's
//! clock) and, after the vendor answered 1008 on the path, the end of the
//! fleet-wide backoff (`hold`). Every script touches only that key, so the
//! scripts work on a Redis Cluster (`[redis] cluster_urls`) as on one
//! server: no two keys ever meet in one call. The store-health probe keys
//! are `{<the path's key>}:probe`, in the path key's own slot (the braces
//! are a Cluster hash tag). Keys expire one second after their last slot.
//!
//! # When Redis is unreachable or refuses writes
//!
//! Every call is bounded by `timeout_ms`. One failed call is not an
//! outage ([`crate::redis_link`], "Store health"): a call that timed out is
//! tried again while its caller's `max_wait_ms` allows (so a stall shorter
//! than that delays callers instead of refusing them), any other failure
//! is 429 with Retry-After 1 s. Once calls have failed for half a second
//! with no write probe succeeding, the instance switches (and logs it
//! once) to a local quota of `fallback_per_second` per path
//! (`on_redis_error = "local"`) or to 429 (`"reject"`), reconnects in the
//! background (backoff 100 ms doubling to 1 s), and switches back once
//! three write probes in a row succeed. Neither switch may let the two
//! quotas share a window at the vendor:
//!
//! - Slots the fleet reserved in Redis before it went away are still being
//!   used for up to `max_wait_ms` after the last reservation's reply, so
//!   the local quota starts `max_wait_ms` + 1 s after that reply (429 with
//!   Retry-After until then). A reply that comes after the switch is not
//!   used.
//! - Local permits already granted go out for up to `max_wait_ms`, and the
//!   other instances find Redis again up to [`crate::redis_link::RESUME_SPREAD`] later (their
//!   probes are at most a second apart), still granting local permits
//!   until then. So an instance that finds Redis again asks for shared
//!   slots no earlier than `RESUME_SPREAD + 1 s + 6 × timeout_ms +
//!   max_wait_ms` from then (on Redis's clock): about 2.6 s + `max_wait_ms`
//!   of 429 with Retry-After.
//!
//! This assumes the fleet loses Redis together; an instance cut off from it
//! alone adds its fallback quota to the fleet's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use redis::Script;

use super::{PathQuota, QueueSlot, Quota, Refusal, refuse};
use crate::allowlist::{EntrustPath, Routes};
use crate::config::{ConfigError, OnRedisError, RateLimitConfig, RedisConfig, RedisTopology};
use crate::error::Error;
use crate::metrics::{KindLabels, Metrics};
use crate::redis_link::{Conn, DOWN, Failure, Link, Target, micros};

/// One GCRA reservation. KEYS[1]: the path's hash. ARGV: the period, the
/// burst tolerance (`(burst - 1) * period`), max_wait, all in µs, and the
/// earliest slot to give (µs on Redis's clock; 0 for none).
/// Returns `{0, wait, now}` (reserved: go after `wait` µs), `{1, wait, now}`
/// (refused: the free slot is `wait` µs away) or `{2, wait, now}` (the
/// vendor's 1008 backoff holds the path for `wait` µs), `now` being Redis's
/// clock. Numbers are written with `%.0f`
/// because Lua would print µs timestamps in exponent notation.
const PERMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 'tat', 'hold')
local hold = tonumber(v[2]) or 0
if hold > now then return {2, hold - now, now} end
local tat = math.max(tonumber(v[1]) or 0, now, tonumber(ARGV[4]))
local wait = math.max(tat - tonumber(ARGV[2]) - now, 0)
if wait > tonumber(ARGV[3]) then return {1, wait, now} end
tat = tat + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000) + 1000)
return {0, wait, now}
";

/// The vendor answered 1008: hold the path fleet-wide. KEYS[1]: the path's
/// hash; ARGV[1]: the backoff in ms.
const HOLD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local hold = now + ms * 1000
if hold > (tonumber(redis.call('HGET', KEYS[1], 'hold')) or 0) then
  redis.call('HSET', KEYS[1], 'hold', string.format('%.0f', hold))
end
if redis.call('PTTL', KEYS[1]) < ms + 1000 then
  redis.call('PEXPIRE', KEYS[1], ms + 1000)
end
return 1
";

/// The store-health probe ([`crate::redis_link`], "Store health"): for
/// each path, [`PERMIT`] on its probe key, `{<path key>}:probe` (the path
/// key's Cluster slot), with a 1 µs period, no burst, no bound on the wait
/// and no floor, so that it always reserves: a write, expiring a second
/// later; and [`PERMIT`] on the path's own key with a negative `max_wait`,
/// so that it reads the key and never writes it (a key of the wrong type,
/// or one the ACL forbids, fails it).
pub(crate) struct Probe {
    permit: Script,
    /// The paths' keys.
    keys: Vec<String>,
}

/// The probe key for `key`: in its slot, unless `key` has braces of its own
/// (the prefix can't; an app key could).
fn probe_key(key: &str) -> String {
    if key.contains(['{', '}']) {
        format!("{key}:probe")
    } else {
        format!("{{{key}}}:probe")
    }
}

impl Probe {
    pub(crate) fn new(keys: Vec<String>) -> Probe {
        Probe {
            permit: Script::new(PERMIT),
            keys,
        }
    }

    /// Runs every path's probes at once, bounded by `timeout` as a whole;
    /// Redis's clock (µs) when all succeeded.
    async fn run_all(&self, conn: &Conn, timeout: Duration) -> Result<u64, Failure> {
        let all = async {
            // The script loaded once, first: on a fresh Redis every call
            // below would otherwise find none and load its own (three round
            // trips each, two calls per path at once), which with both
            // APIs' paths no longer fits the probe's bound on a busy host.
            self.permit
                .load_async(&mut conn.clone())
                .await
                .map_err(|e| Failure::of(&e))?;
            let mut calls = tokio::task::JoinSet::new();
            for key in &self.keys {
                for (key, max_wait) in [(probe_key(key), i64::MAX / 2), (key.clone(), -1)] {
                    let (script, mut conn) = (self.permit.clone(), conn.clone());
                    calls.spawn(async move {
                        let mut call = script.key(key);
                        call.arg(1).arg(0).arg(max_wait).arg(0);
                        call.invoke_async::<(i64, i64, i64)>(&mut conn).await
                    });
                }
            }
            let mut now = 0;
            while let Some(done) = calls.join_next().await {
                match done {
                    Ok(Ok((_, _, t))) => now = now.max(t),
                    Ok(Err(e)) => return Err(Failure::of(&e)),
                    Err(e) => {
                        return Err(Failure {
                            kind: "reply",
                            code: None,
                            why: e.to_string(),
                        });
                    }
                }
            }
            Ok(now.unsigned_abs())
        };
        match tokio::time::timeout(timeout, all).await {
            Ok(r) => r,
            Err(_) => Err(Failure::timeout(timeout)),
        }
    }
}

impl crate::redis_link::Probe for Probe {
    fn run<'a>(
        &'a self,
        conn: &'a Conn,
        timeout: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, Failure>> + Send + 'a>>
    {
        Box::pin(self.run_all(conn, timeout))
    }
}

/// What the fleet quota says about the quota now (for `/readyz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Held in Redis for the fleet.
    Shared,
    /// Redis is unreachable: this instance's fallback quota.
    Local,
    /// Redis is unreachable and `on_redis_error = "reject"`.
    Reject,
}

impl From<&Fleet> for Store {
    fn from(f: &Fleet) -> Store {
        f.store()
    }
}

impl Store {
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Shared => "shared",
            Store::Local => "local",
            Store::Reject => "reject",
        }
    }
}

/// The shared quota (see the module doc).
pub(super) struct Fleet {
    link: Arc<Link>,
    /// `<key_prefix>:<app_key>:quota:`
    key_prefix: String,
    on_error: OnRedisError,
    /// Used while Redis is unreachable (`on_redis_error = "local"`).
    fallback: Quota,
    /// Failed Redis calls of the quota, by kind.
    errors: Family<KindLabels, Counter>,
    permit: Script,
    hold: Script,
}

/// Periods by which a caller may send later than its slot and the window
/// still hold. The local quota grants at the moment of sending, so a late
/// wake-up only loses quota; a fleet slot is fixed in advance, so a late
/// caller can land in the same window as the next ones. Replies, timers and
/// a busy CPU can make it late by a few ms; this many periods of the burst
/// are kept for it.
const LATE_PERIODS: u32 = 2;

/// The burst the fleet reserves with: the local quota's, less what is kept
/// for lateness, so the bound `floor(r) + b` holds with callers up to
/// [`LATE_PERIODS`] late.
fn fleet_burst(burst: u32) -> u32 {
    burst.saturating_sub(LATE_PERIODS).max(1)
}

impl Fleet {
    /// `allow_evicting` is `dedup.allow_evicting_store` (the records share
    /// the link).
    pub(super) fn new(
        redis: &RedisConfig,
        topology: &RedisTopology,
        app_key: &str,
        rate_limit: &RateLimitConfig,
        allow_evicting: bool,
        routes: &Routes,
        metrics: &Metrics,
    ) -> Result<Fleet, ConfigError> {
        let target = Target::open(topology)?;
        // The fallback is the local quota at fallback_per_second on every path.
        let mut local = rate_limit.clone();
        local.per_second = rate_limit.fallback_per_second;
        for o in local.paths.values_mut() {
            o.per_second = None;
        }
        let key_prefix = format!("{}:{app_key}:quota:", redis.key_prefix);
        let keys = routes
            .all()
            .map(|p| format!("{key_prefix}{}", p.as_str()))
            .collect();
        Ok(Fleet {
            link: Arc::new(Link::new(
                target,
                Duration::from_millis(redis.timeout_ms),
                Box::new(Probe::new(keys)),
                allow_evicting,
                metrics,
            )),
            key_prefix,
            on_error: rate_limit.on_redis_error,
            fallback: Quota::new(local, routes),
            errors: metrics.quota_store_errors.clone(),
            permit: Script::new(PERMIT),
            hold: Script::new(HOLD),
        })
    }

    fn store(&self) -> Store {
        match (self.link.state.load(Ordering::Acquire), self.on_error) {
            (DOWN, OnRedisError::Local) => Store::Local,
            (DOWN, OnRedisError::Reject) => Store::Reject,
            _ => Store::Shared,
        }
    }

    /// One permit from the shared quota, or from the fallback while Redis
    /// is unreachable.
    pub(super) async fn acquire(
        &self,
        path: EntrustPath<'_>,
        q: &PathQuota,
        start: Instant,
    ) -> Result<Duration, (Refusal, Error)> {
        let Some((mut conn, conn_id)) = self.link.connection().await else {
            return self.degraded(path, q).await;
        };
        let reply = {
            let ahead = q.queued.fetch_add(1, Ordering::AcqRel);
            let _slot = QueueSlot(&q.queued);
            if ahead >= q.limit.max_queue {
                return Err(refuse(
                    Refusal::QueueFull,
                    q.slot.saturating_mul(ahead as u32 + 1),
                    format!("{ahead} requests already waiting for {path}"),
                ));
            }
            let late_allowed = q.pacing.period * LATE_PERIODS;
            loop {
                // What is left of max_wait: a retry never extends the wait.
                let budget = q.limit.max_wait.saturating_sub(start.elapsed());
                match self.reserve(&mut conn, path.as_str(), q, budget).await {
                    Ok((0, wait, now)) => {
                        let arrived = Instant::now();
                        if !self.link.reserved(conn_id) {
                            // The link went down meanwhile: the fallback
                            // may be granting permits; this slot is lost.
                            break Err(None);
                        }
                        // Our slot: wait for it here, still counted as queued.
                        let at = self.link.clock.map(arrived, now, now + wait);
                        // Only when it is ahead: tokio's timer would round even
                        // a past deadline up to its next 1 ms tick.
                        if at > Instant::now() {
                            tokio::time::sleep_until(at.into()).await;
                        }
                        if Instant::now().saturating_duration_since(at) <= late_allowed {
                            return Ok(start.elapsed());
                        }
                        // Woken too late (a busy CPU): sending now could crowd
                        // the next slots into one window. The slot is lost;
                        // ask for another.
                    }
                    Ok(other) => break Ok(other),
                    Err(f) => {
                        self.errors
                            .get_or_create(&KindLabels { kind: f.kind })
                            .inc();
                        self.link.failed(&f, Some(conn_id));
                        // A slow reply (a stall) is tried again while the
                        // caller's wait allows; its slot, if Redis took
                        // it, is lost. Any other failure is not waited on.
                        let left = q.limit.max_wait.saturating_sub(start.elapsed());
                        if f.kind != "timeout"
                            || left.is_zero()
                            || self.link.state.load(Ordering::Acquire) == DOWN
                        {
                            break Err(Some(f));
                        }
                    }
                }
            }
        };
        match reply {
            Ok((1, wait, _)) => Err(refuse(
                Refusal::WaitTooLong,
                Duration::from_micros(wait.unsigned_abs()),
                format!(
                    "the fleet's quota for {path} is {}/s; the wait ({} ms) would exceed {} ms",
                    q.limit.per_second,
                    wait / 1000,
                    q.limit.max_wait.as_millis()
                ),
            )),
            Ok((_, wait, _)) => Err(refuse(
                Refusal::UpstreamBackoff,
                Duration::from_micros(wait.unsigned_abs()),
                format!("the vendor rate-limited {path}; retry shortly"),
            )),
            Err(_) if self.link.state.load(Ordering::Acquire) == DOWN => {
                self.degraded(path, q).await
            }
            Err(f) => Err(refuse(
                Refusal::QuotaStoreDown,
                Duration::from_secs(1),
                format!(
                    "the fleet's shared quota (Redis) failed for {path} ({}); retry shortly",
                    f.map_or("down", |f| f.kind)
                ),
            )),
        }
    }

    /// One run of the permit script, bounded by `timeout_ms`: `(code, wait,
    /// redis_now)` as [`PERMIT`] returns them.
    async fn reserve(
        &self,
        conn: &mut Conn,
        path: &str,
        q: &PathQuota,
        max_wait: Duration,
    ) -> Result<(i64, i64, i64), Failure> {
        let period = micros(q.pacing.period);
        let mut call = self.permit.key(format!("{}{path}", self.key_prefix));
        call.arg(period)
            .arg(period * u64::from(fleet_burst(q.pacing.burst) - 1))
            .arg(micros(max_wait))
            .arg(self.link.resume_floor(q.limit.max_wait));
        match tokio::time::timeout(self.link.timeout, call.invoke_async(conn)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(Failure::of(&e)),
            Err(_) => Err(Failure::timeout(self.link.timeout)),
        }
    }

    /// Redis is unreachable: the fallback, or 429.
    async fn degraded(
        &self,
        path: EntrustPath<'_>,
        q: &PathQuota,
    ) -> Result<Duration, (Refusal, Error)> {
        let detail = "the fleet's shared quota (Redis) is unreachable";
        if self.on_error == OnRedisError::Reject {
            return Err(refuse(
                Refusal::QuotaStoreDown,
                Duration::from_secs(1),
                detail,
            ));
        }
        // Slots reserved in Redis before it went away drain first.
        let local_from = self.link.slots_end_from() + q.limit.max_wait + Duration::from_secs(1);
        let now = Instant::now();
        if now < local_from {
            return Err(refuse(
                Refusal::QuotaStoreDown,
                local_from - now,
                format!("{detail}; the local quota starts shortly"),
            ));
        }
        // Boxed: the fallback is a Quota too (recursion in an async fn).
        Box::pin(self.fallback.acquire(path)).await
    }

    /// The vendor answered 1008 on `path`: hold it fleet-wide (in the
    /// background; the local hold is the caller's).
    pub(super) fn upstream_limited(&self, path: &str, backoff: Duration) {
        self.fallback.upstream_limited(path);
        let link = self.link.clone();
        let errors = self.errors.clone();
        let hold = self.hold.clone();
        let key = format!("{}{path}", self.key_prefix);
        let ms = micros(backoff) / 1000;
        tokio::spawn(async move {
            let mut call = hold.key(key);
            call.arg(ms);
            link.run::<i64>(&call, &errors).await;
        });
    }

    /// The Redis connection, for the idempotency records.
    pub(super) fn link(&self) -> Arc<Link> {
        self.link.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis Cluster hashes only a key's first `{...}` (the Cluster
    /// specification, "Hash tags"): the probe key wraps the path's key in
    /// one, so that a probe tests the node that holds the path's key.
    #[test]
    fn a_probe_key_is_in_its_paths_slot() {
        assert_eq!(probe_key("gw:quota:k:/p"), "{gw:quota:k:/p}:probe");
        // A key with braces of its own keeps them: its tag is already set.
        assert_eq!(probe_key("gw:quota:{k}:/p"), "gw:quota:{k}:/p:probe");
    }

    #[test]
    fn the_fleet_keeps_two_periods_of_burst_for_lateness() {
        assert_eq!(fleet_burst(3), 1);
        assert_eq!(fleet_burst(1), 1);
        assert_eq!(fleet_burst(7), 5);
    }
}
