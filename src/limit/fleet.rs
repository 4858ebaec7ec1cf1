//! The fleet quota: every gateway that shares an app key and a Redis holds
//! the vendor's per-path quota together.
//!
//! # Guarantee
//!
//! The same as the local quota's (see [`crate::limit`]), for the whole fleet:
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
//! scripts are ready for Redis Cluster; the client, though, talks to one
//! server (a cluster client is redis-rs's `cluster-async` feature, not
//! enabled). Keys expire one second after their last slot.
//!
//! # When Redis is unreachable
//!
//! Every call is bounded by `timeout_ms`. On an error or a timeout the
//! instance switches (and logs it once) to a local quota of
//! `fallback_per_second` per path (`on_redis_error = "local"`) or to 429
//! (`"reject"`), reconnects in the background (backoff 100 ms doubling to
//! 1 s), and switches back when Redis answers. Neither switch may let the
//! two quotas share a window at the vendor:
//!
//! - Slots the fleet reserved in Redis before it went away are still being
//!   used for up to `max_wait_ms`, so the local quota starts `max_wait_ms`
//!   + 1 s after the switch (429 with Retry-After until then).
//! - Local permits already granted go out for up to `max_wait_ms`, and the
//!   other instances find Redis again up to [`RESUME_SPREAD`] later (their
//!   probes are at most a second apart), still granting local permits
//!   until then. So an instance that finds Redis again asks for shared
//!   slots no earlier than `RESUME_SPREAD + 1 s + max_wait_ms` from then (on
//!   Redis's clock): about 2 s of 429 with Retry-After.
//!
//! This assumes the fleet loses Redis together; an instance cut off from it
//! alone adds its fallback quota to the fleet's.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use super::{Limiter, PathQuota, QueueSlot, Refusal, refuse};
use crate::config::{ConfigError, OnRedisError, RateLimitConfig, RedisConfig};
use crate::error::Error;
use crate::metrics::{KindLabels, Metrics};
use crate::route::{EntrustPath, Routes};
use crate::secret::Secret;

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

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Probes stay frequent so that the fleet's instances switch back close together.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How much later than this instance the others may find Redis again: one
/// probe interval, plus a connection attempt (bounded by 3 × `timeout_ms`,
/// added per instance).
pub const RESUME_SPREAD: Duration = RECONNECT_MAX;

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
    fallback: Limiter,
    permit: Script,
    hold: Script,
}

/// The connection and its state, shared with the reconnect task and with
/// the idempotency records ([`crate::dedup`]), which use the same
/// connection, timeout, error counting and switch.
pub struct Link {
    client: redis::Client,
    timeout: Duration,
    /// The connection, and which one it is (see `failed`).
    conn: Mutex<Option<(MultiplexedConnection, u64)>>,
    connections: AtomicU64,
    state: AtomicU8,
    /// When this instance last found Redis unreachable.
    down_since: Mutex<Instant>,
    /// After finding Redis again: when (locally), and the earliest shared
    /// slot before `max_wait` is added (µs on Redis's clock).
    resumed: Mutex<Option<(Instant, u64)>>,
    /// The first connection is made by the first caller, not at start-up
    /// (which may run outside the runtime).
    first: tokio::sync::OnceCell<()>,
    up: Gauge,
    errors: Family<KindLabels, Counter>,
    clock: ClockMap,
}

/// Maps Redis's clock (µs since the epoch) onto this instance's monotonic
/// clock: `local = redis + offset`, the offset being the smallest
/// `arrival - redis_now` seen (a reply's delay is never negative). It creeps
/// later by 1 ms per second between lower samples, so that clock drift and
/// a changed network path are followed.
struct ClockMap {
    epoch: Instant,
    /// (offset µs, local µs when it was last lowered)
    state: Mutex<Option<(i64, i64)>>,
}

/// The offset creeps later by 1 µs every this many µs.
const CLOCK_CREEP: i64 = 1000;

impl ClockMap {
    fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn local_us(&self, t: Instant) -> i64 {
        i64::try_from(t.duration_since(self.epoch).as_micros()).unwrap_or(i64::MAX)
    }

    /// A reply saying Redis's clock was `redis_now` arrived at `arrived`:
    /// the local instant of Redis time `redis_at`.
    fn map(&self, arrived: Instant, redis_now: i64, redis_at: i64) -> Instant {
        let local = self.local_us(arrived);
        let sample = local - redis_now;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let offset = match *st {
            Some((offset, since)) if sample > offset + (local - since) / CLOCK_CREEP => {
                offset + (local - since) / CLOCK_CREEP
            }
            _ => {
                *st = Some((sample, local));
                sample
            }
        };
        let at = (redis_at + offset).max(0);
        self.epoch + Duration::from_micros(at.unsigned_abs())
    }
}

/// A metric label for a Redis error.
fn kind_of(e: &redis::RedisError) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        "connection"
    } else {
        "reply"
    }
}

/// Connects with `timeout` on every step and checks that Redis answers;
/// returns the connection and Redis's clock (µs).
async fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> Result<(MultiplexedConnection, u64), (&'static str, String)> {
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let attempt = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await?;
        redis::cmd("TIME")
            .query_async::<(u64, u64)>(&mut conn)
            .await
            .map(|(s, us)| (conn, redis_micros(s, us)))
    };
    // Connecting is a few round trips; bound the whole of it too.
    match tokio::time::timeout(timeout * 3, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err((kind_of(&e), e.to_string())),
        Err(_) => Err(("timeout", "no answer in time".into())),
    }
}

/// Redis's `TIME` reply (seconds, microseconds) in µs.
fn redis_micros(s: u64, us: u64) -> u64 {
    s * 1_000_000 + us
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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Tries Redis once (`--check-config`): `Err` says why it did not answer.
pub async fn ping(url: &Secret, timeout: Duration) -> Result<(), String> {
    let client = redis::Client::open(url.expose()).map_err(|e| format!("{:?}", e.kind()))?;
    connect(&client, timeout).await.map(drop).map_err(|e| e.1)
}

impl Link {
    /// Not yet connected: the first caller connects.
    fn new(client: redis::Client, timeout: Duration, metrics: &Metrics) -> Link {
        Link {
            client,
            timeout,
            conn: Mutex::new(None),
            connections: AtomicU64::new(0),
            state: AtomicU8::new(UNKNOWN),
            down_since: Mutex::new(Instant::now()),
            resumed: Mutex::new(None),
            first: tokio::sync::OnceCell::new(),
            up: metrics.quota_store_up.clone(),
            errors: metrics.quota_store_errors.clone(),
            clock: ClockMap {
                epoch: Instant::now(),
                state: Mutex::new(None),
            },
        }
    }

    /// A connection while Redis answers; `None` while it does not.
    async fn connection(self: &Arc<Self>) -> Option<(MultiplexedConnection, u64)> {
        self.first
            .get_or_init(|| async {
                match connect(&self.client, self.timeout).await {
                    Ok((conn, _)) => self.connected(conn, None),
                    Err((kind, why)) => self.failed(kind, &why, None),
                }
            })
            .await;
        if self.state.load(Ordering::Acquire) != UP {
            return None;
        }
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `redis_now` (µs) when this follows a time on the fallback.
    fn connected(&self, conn: MultiplexedConnection, redis_now: Option<u64>) {
        let id = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some((conn, id));
        // It may be another server now, with another clock.
        self.clock.reset();
        if let Some(now) = redis_now {
            self.resume(now);
        }
        if self.state.swap(UP, Ordering::AcqRel) == DOWN {
            tracing::warn!("Redis answers again: the quota is shared by the fleet again");
        }
        self.up.set(1);
    }

    /// Found Redis again (its clock at `redis_now`, µs) after a time on the
    /// fallback: shared slots start `resume_delay` (plus `max_wait`) later.
    fn resume(&self, redis_now: u64) {
        let from = micros(self.resume_delay());
        *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), redis_now + from));
    }

    /// After the fallback, shared slots start this much (plus `max_wait`) later.
    fn resume_delay(&self) -> Duration {
        RESUME_SPREAD + self.timeout * 3 + Duration::from_secs(1)
    }

    /// The earliest shared slot for a path with `max_wait` (µs on Redis's
    /// clock), while that is still ahead; else 0.
    fn resume_floor(&self, max_wait: Duration) -> u64 {
        match *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, floor)) if at.elapsed() < self.resume_delay() + max_wait => {
                floor + micros(max_wait)
            }
            _ => 0,
        }
    }

    /// A Redis call on connection `conn` failed: count it, and on the first
    /// failure switch to the fallback (logged once) and start reconnecting.
    /// A late failure on a connection already replaced changes nothing.
    fn failed(self: &Arc<Self>, kind: &'static str, why: &str, conn: Option<u64>) {
        self.errors.get_or_create(&KindLabels { kind }).inc();
        if conn.is_some_and(|c| c != self.connections.load(Ordering::Acquire)) {
            return;
        }
        if self.state.swap(DOWN, Ordering::AcqRel) == DOWN {
            return;
        }
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.up.set(0);
        tracing::error!(
            kind,
            error = why,
            "Redis is unreachable: switching to the fallback quota and local idempotency records; reconnecting in the background"
        );
        let weak = Arc::downgrade(self);
        tokio::spawn(reconnect(weak));
    }

    /// Runs `call` on the connection, bounded by `timeout_ms`. `None` while
    /// Redis is unreachable or when the call fails (counted; the first
    /// failure switches to the fallback).
    pub(crate) async fn run<T: redis::FromRedisValue>(
        self: &Arc<Self>,
        call: &redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        let (mut conn, conn_id) = self.connection().await?;
        match tokio::time::timeout(self.timeout, call.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(reply)) => Some(reply),
            Ok(Err(e)) => {
                self.failed(kind_of(&e), &e.to_string(), Some(conn_id));
                None
            }
            Err(_) => {
                self.failed("timeout", "no answer in time", Some(conn_id));
                None
            }
        }
    }

    fn down_since(&self) -> Instant {
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Retries with backoff until Redis answers (or the gateway is dropped).
async fn reconnect(link: Weak<Link>) {
    let mut backoff = RECONNECT_FIRST;
    loop {
        tokio::time::sleep(backoff).await;
        let Some(link) = link.upgrade() else { return };
        match connect(&link.client, link.timeout).await {
            Ok((conn, now)) => return link.connected(conn, Some(now)),
            Err((kind, _)) => {
                link.errors.get_or_create(&KindLabels { kind }).inc();
            }
        }
        backoff = next_backoff(backoff);
    }
}

/// The wait before the next reconnection attempt: doubling up to [`RECONNECT_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(RECONNECT_MAX)
}

impl Fleet {
    pub(super) fn new(
        redis: &RedisConfig,
        url: &Secret,
        app_key: &str,
        rate_limit: &RateLimitConfig,
        routes: &Routes,
        metrics: &Metrics,
    ) -> Result<Fleet, ConfigError> {
        let client = redis::Client::open(url.expose())
            .map_err(|e| ConfigError(format!("redis.url: not a Redis URL ({:?})", e.kind())))?;
        // The fallback is the local quota at fallback_per_second on every path.
        let mut local = rate_limit.clone();
        local.per_second = rate_limit.fallback_per_second;
        for o in local.paths.values_mut() {
            o.per_second = None;
        }
        metrics.quota_store_up.set(0);
        Ok(Fleet {
            link: Arc::new(Link::new(
                client,
                Duration::from_millis(redis.timeout_ms),
                metrics,
            )),
            key_prefix: format!("{}:{app_key}:quota:", redis.key_prefix),
            on_error: rate_limit.on_redis_error,
            fallback: Limiter::new(local, routes),
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
                        // Our slot: wait for it here, still counted as queued.
                        let at = self.link.clock.map(Instant::now(), now, now + wait);
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
                    other => break other,
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
            Err((kind, why)) => {
                self.link.failed(kind, &why, Some(conn_id));
                self.degraded(path, q).await
            }
        }
    }

    /// One run of the permit script, bounded by `timeout_ms`: `(code, wait,
    /// redis_now)` as [`PERMIT`] returns them.
    async fn reserve(
        &self,
        conn: &mut MultiplexedConnection,
        path: &str,
        q: &PathQuota,
        max_wait: Duration,
    ) -> Result<(i64, i64, i64), (&'static str, String)> {
        let period = micros(q.pacing.period);
        let mut call = self.permit.key(format!("{}{path}", self.key_prefix));
        call.arg(period)
            .arg(period * u64::from(fleet_burst(q.pacing.burst) - 1))
            .arg(micros(max_wait))
            .arg(self.link.resume_floor(q.limit.max_wait));
        match tokio::time::timeout(self.link.timeout, call.invoke_async(conn)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err((kind_of(&e), e.to_string())),
            Err(_) => Err((
                "timeout",
                format!("no answer within {:?}", self.link.timeout),
            )),
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
        let local_from = self.link.down_since() + q.limit.max_wait + Duration::from_secs(1);
        let now = Instant::now();
        if now < local_from {
            return Err(refuse(
                Refusal::QuotaStoreDown,
                local_from - now,
                format!("{detail}; the local quota starts shortly"),
            ));
        }
        // Boxed: the fallback is a Limiter too (recursion in an async fn).
        Box::pin(self.fallback.acquire(path)).await
    }

    /// The vendor answered 1008 on `path`: hold it fleet-wide (in the
    /// background; the local hold is the caller's).
    pub(super) fn upstream_limited(&self, path: &str, backoff: Duration) {
        self.fallback.upstream_limited(path);
        let link = self.link.clone();
        let hold = self.hold.clone();
        let key = format!("{}{path}", self.key_prefix);
        let ms = micros(backoff) / 1000;
        tokio::spawn(async move {
            let mut call = hold.key(key);
            call.arg(ms);
            link.run::<i64>(&call).await;
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

    /// A fresh clock map, and the local instant `us` µs after its epoch.
    fn clock_map() -> (ClockMap, impl Fn(u64) -> Instant) {
        let epoch = Instant::now();
        let clock = ClockMap {
            epoch,
            state: Mutex::new(None),
        };
        (clock, move |us| epoch + Duration::from_micros(us))
    }

    /// Redis's clock at the clock map's epoch, in µs.
    const REDIS: i64 = 5_000_000_000;

    #[test]
    fn the_clock_map_follows_the_fastest_reply_and_creeps_later() {
        let (clock, at) = clock_map();
        let redis = REDIS;
        // A reply 2 ms on its way: slot 10 ms after its "now" is 12 ms after it.
        let now = redis + 100_000;
        assert_eq!(clock.map(at(102_000), now, now + 10_000), at(112_000));
        // A reply 30 ms late maps its slot as the 2 ms one did (plus the
        // creep: 128 ms later, 128 µs), not 28 ms later.
        let now = redis + 200_000;
        assert_eq!(clock.map(at(230_000), now, now + 10_000), at(212_128));
        // A faster reply (1 ms) lowers the offset.
        let now = redis + 300_000;
        assert_eq!(clock.map(at(301_000), now, now + 10_000), at(311_000));
        // Without faster replies it creeps later: 1 ms per second.
        let now = redis + 2_301_000;
        assert_eq!(clock.map(at(2_331_000), now, now), at(2_304_030));
        clock.reset();
        assert_eq!(clock.map(at(2_400_000), redis, redis), at(2_400_000));
    }

    #[test]
    fn the_clock_map_lowers_only_below_the_crept_offset_and_creeps_from_the_last_lowering() {
        // Module doc, "Each instance maps Redis's clock onto its own through
        // the smallest reply delay it has seen", and `ClockMap`'s doc: the
        // offset creeps later by 1 ms per second between lower samples.
        let (clock, at) = clock_map();
        // A reply `delay` µs on its way, arriving at `local` µs: where does
        // its own "now" map?
        let map = |local: i64, delay: i64| {
            let now = REDIS + local - delay;
            clock.map(at(local.unsigned_abs()), now, now)
        };
        // 2 ms on its way: the first sample.
        assert_eq!(map(1_000_000, 2_000), at(1_000_000));
        // A second later the offset has crept to 3 ms; a 2.5 ms reply is
        // lower than that, so it is the new offset (not the crept 3 ms).
        assert_eq!(map(2_000_000, 2_500), at(2_000_000));
        // A second after that: crept to 3.5 ms, counted from the 2.5 ms
        // sample's arrival; a slower 4.5 ms reply maps 1 ms earlier.
        assert_eq!(map(3_000_000, 4_500), at(2_999_000));
        // 1.0015 s after the 2.5 ms sample the offset has crept by 1001 µs;
        // a reply that late exactly is no higher than it, so it takes over
        // and the creep starts again from here...
        assert_eq!(map(3_001_500, 3_501), at(3_001_500));
        // ...so 1.5 ms later it has crept by 1 µs (3502), not by the
        // 1003 µs counted from the 2.5 ms sample (3503).
        assert_eq!(map(3_003_000, 10_000), at(3_003_000 - 10_000 + 3_502));
    }

    #[test]
    fn redis_errors_are_labelled_timeout_connection_or_reply() {
        // README "When Redis is down": the metric
        // `entrust_gateway_quota_store_errors_total{kind="timeout"|"connection"|"reply"}`.
        use std::io::{Error as IoError, ErrorKind as Io};
        let io = |kind| kind_of(&redis::RedisError::from(IoError::new(kind, "x")));
        assert_eq!(io(Io::TimedOut), "timeout");
        assert_eq!(io(Io::ConnectionRefused), "connection");
        assert_eq!(io(Io::ConnectionReset), "connection");
        // An I/O error that is neither a refusal nor a dropped connection.
        assert_eq!(io(Io::PermissionDenied), "connection");
        let reply = redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "x"));
        assert_eq!(kind_of(&reply), "reply");
    }

    #[test]
    fn redis_time_is_seconds_and_microseconds() {
        // Redis `TIME`: "unix time in seconds" and "microseconds"
        // (redis.io/commands/time); the PERMIT script reads it the same way.
        assert_eq!(redis_micros(1_764_000_000, 123_456), 1_764_000_000_123_456);
    }

    #[test]
    fn reconnecting_backs_off_from_100_ms_doubling_to_1_s() {
        // README "When Redis is down": "It reconnects in the background
        // (every 100 ms, backing off to 1 s)".
        let mut b = RECONNECT_FIRST;
        let mut seen = vec![b];
        for _ in 0..5 {
            b = next_backoff(b);
            seen.push(b);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    }

    fn link(timeout_ms: u64) -> Link {
        let client = redis::Client::open("redis://127.0.0.1:1/0").expect("a Redis URL");
        Link::new(client, Duration::from_millis(timeout_ms), &Metrics::new())
    }

    #[test]
    fn shared_slots_resume_2_3_s_plus_max_wait_after_redis_is_found_again() {
        // Module doc, "When Redis is unreachable": RESUME_SPREAD (1 s) + 1 s
        // + max_wait, plus 3 × timeout_ms for a connection attempt; README:
        // "no earlier than about max_wait_ms + 2.3 s later" (timeout_ms 100).
        let link = link(100);
        assert_eq!(link.resume_delay(), Duration::from_millis(2_300));
        let max_wait = Duration::from_millis(300);
        // Never on the fallback: no floor.
        assert_eq!(link.resume_floor(max_wait), 0);
        let redis_now = 1_764_000_000_000_000;
        link.resume(redis_now);
        assert_eq!(link.resume_floor(max_wait), redis_now + 2_600_000);
        // Still ahead 2.3 s after the switch (it lasts 2.6 s)...
        let ago = |d: Duration| Instant::now().checked_sub(d).expect("an earlier instant");
        *link.resumed.lock().unwrap() = Some((ago(Duration::from_millis(2_300)), redis_now));
        assert_eq!(link.resume_floor(max_wait), redis_now + 300_000);
        // ...and no more once it has passed.
        *link.resumed.lock().unwrap() = Some((ago(Duration::from_millis(2_610)), redis_now));
        assert_eq!(link.resume_floor(max_wait), 0);
    }

    #[test]
    fn the_fleet_keeps_two_periods_of_burst_for_lateness() {
        assert_eq!(fleet_burst(3), 1);
        assert_eq!(fleet_burst(1), 1);
        assert_eq!(fleet_burst(7), 5);
    }
}
