//! One Redis connection for everything the gateway keeps in Redis (the
//! fleet quota and the idempotency records): one server, a Sentinel set or
//! a Cluster ([`Target`], through the `redis` crate's own Sentinel and
//! Cluster clients), connecting with a bound on every step, store health,
//! reconnecting in the background, and Redis's clock mapped onto this
//! instance's. Each user counts its own failed calls in its own metric; the
//! link counts its connection attempts and probes (in the quota store's).
//!
//! # Store health
//!
//! Redis is "up" for the gateway only while it takes writes: a Redis that
//! answers but refuses them (`OOM` under `noeviction`, `READONLY` during a
//! replica promotion, `MISCONF`, `NOPERM`, `WRONGTYPE`, `NOSCRIPT` that
//! cannot be loaded) is as down as one that does not answer. So every check
//! is a *write probe*: the fleet quota's real reservation script run on a
//! probe key of each path's (same slot in a Cluster, a one-second expiry),
//! plus a read of each path's own key: the quota's `Probe`.
//!
//! - **Up → down.** One failed call is not an outage (a slow reply, a
//!   moment's stall): the first failure starts a check that probes every
//!   [`PROBE_EVERY`]. A probe that succeeds ends it (still up). The switch
//!   to down happens only once calls and probes have failed for
//!   [`DOWN_AFTER`] with no probe succeeding, at least [`DOWN_FAILURES`]
//!   of them. Meanwhile a call that failed is refused (429) or, when it
//!   timed out and its caller's wait allows, tried again.
//! - **Down → up.** Reconnecting (backoff `RECONNECT_FIRST` doubling to
//!   `RECONNECT_MAX`) makes a fresh connection (for a Sentinel set: to
//!   the master the sentinels name now; for a Cluster: with its slots read
//!   anew) and probes it; only [`UP_AFTER`] probes in a row, [`PROBE_EVERY`]
//!   apart, switch back. One failed probe starts over.
//!
//! Each switch is logged once (with the error's kind and, for an error
//! reply, its code) and shows in `entrust_gateway_quota_store_up`; error
//! replies are counted by code in
//! `entrust_gateway_quota_store_error_replies_total`.
//!
//! # What Redis keeps
//!
//! At the first connection and each reconnection the link reads Redis's
//! `maxmemory-policy` (`CONFIG GET`, else `INFO memory`, which managed
//! Redis offerings that refuse `CONFIG` still answer) and whether it
//! persists (`INFO persistence` for AOF, `CONFIG GET save` for RDB), logs
//! them and sets `entrust_gateway_quota_store_info{maxmemory_policy,
//! persistence}`. A policy that can evict the gateway's keys (`allkeys-*`;
//! `volatile-*` too, the records having expiries) keeps the idempotency
//! records in each gateway only ([`Link::records_shared`]) unless
//! `dedup.allow_evicting_store = true`. A policy that can't be read is
//! "unknown": logged, and the records shared.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, IntoConnectionInfo, RedisFuture, TlsMode, Value};

use crate::config::{ConfigError, RedisTopology};
use crate::metrics::{CodeLabels, KindLabels, Metrics, StoreInfoLabels, SwitchLabels};

pub(crate) const UNKNOWN: u8 = 0;
pub(crate) const UP: u8 = 1;
pub(crate) const DOWN: u8 = 2;

const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Probes stay frequent so that the fleet's instances switch back close together.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How often a failing link is probed, and the confirming probes' spacing.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long calls must have failed, with no probe succeeding, before the
/// link is down: a 250 ms stall is waited out, a dead or refusing Redis is
/// found within about half a second.
pub const DOWN_AFTER: Duration = Duration::from_millis(500);
/// The fewest failures (calls and probes) that make the link down.
pub const DOWN_FAILURES: u32 = 3;
/// Successful probes in a row that make a down link up again.
pub const UP_AFTER: u32 = 3;
/// How much later than this instance the others may find Redis again: one
/// probe interval, plus a connection attempt (bounded by 3 × `timeout_ms`)
/// and the confirming probes (each bounded by `timeout_ms`), both added per
/// instance.
pub const RESUME_SPREAD: Duration = RECONNECT_MAX;

/// The write that tells whether Redis takes writes: given by the store's
/// user (the fleet quota runs its own reservation script on probe keys).
pub(crate) trait Probe: Send + Sync {
    /// Runs the probe on `conn`, bounded by `timeout`; Redis's clock (µs)
    /// when it succeeded.
    fn run<'a>(
        &'a self,
        conn: &'a Conn,
        timeout: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, Failure>> + Send + 'a>>;
}

mod clock;
mod failure;
mod info;
mod recover;
mod target;

pub(crate) use clock::*;
pub use failure::*;
pub use info::*;
use recover::*;
pub use target::*;

/// A run of failures while the link is up (see "Store health").
struct Failing {
    since: Instant,
    count: u32,
}

/// The link's metrics.
struct LinkMetrics {
    up: Gauge,
    /// Failed connection attempts and probes (the quota store's errors).
    errors: Family<KindLabels, Counter>,
    error_replies: Family<CodeLabels, Counter>,
    info: Family<StoreInfoLabels, Gauge>,
    records_shared: Gauge,
    switches: Family<SwitchLabels, Counter>,
}

/// The connection and its state, shared with the reconnect task and with
/// every user of the same Redis.
pub struct Link {
    target: Target,
    pub(crate) timeout: Duration,
    /// The connection, and which one it is (see `failed`).
    conn: Mutex<Option<(Conn, u64)>>,
    connections: AtomicU64,
    pub(crate) state: AtomicU8,
    /// While up: the current run of failures, if any.
    failing: Mutex<Option<Failing>>,
    /// When this instance last found Redis down.
    down_since: Mutex<Instant>,
    /// When a reservation's reply last arrived (µs after the clock's epoch,
    /// plus 1; 0: never): slots taken in Redis end `max_wait` after it.
    last_reserved: AtomicU64,
    /// After finding Redis again: when (locally), and the earliest shared
    /// slot before `max_wait` is added (µs on Redis's clock).
    resumed: Mutex<Option<(Instant, u64)>>,
    /// The first connection is made by the first caller, not at start-up
    /// (which may run outside the runtime).
    first: tokio::sync::OnceCell<()>,
    probe: Box<dyn Probe>,
    /// What Redis said it keeps at the last connection.
    info: Mutex<Option<StoreInfo>>,
    /// `dedup.allow_evicting_store`.
    allow_evicting: bool,
    /// Whether the idempotency records go to Redis (see the module doc).
    records_shared: AtomicBool,
    metrics: LinkMetrics,
    pub(crate) clock: ClockMap,
}

impl Link {
    /// Not yet connected: the first caller connects. `probe` is the write
    /// probe; `allow_evicting` is `dedup.allow_evicting_store`.
    pub(crate) fn new(
        target: Target,
        timeout: Duration,
        probe: Box<dyn Probe>,
        allow_evicting: bool,
        metrics: &Metrics,
    ) -> Link {
        metrics.quota_store_up.set(0);
        metrics.dedup_records_shared.set(1);
        // Every error reply's series, at zero from start-up.
        for code in ERROR_CODES {
            drop(
                metrics
                    .quota_store_error_replies
                    .get_or_create(&CodeLabels { code }),
            );
        }
        Link {
            target,
            timeout,
            conn: Mutex::new(None),
            connections: AtomicU64::new(0),
            state: AtomicU8::new(UNKNOWN),
            failing: Mutex::new(None),
            down_since: Mutex::new(Instant::now()),
            last_reserved: AtomicU64::new(0),
            resumed: Mutex::new(None),
            first: tokio::sync::OnceCell::new(),
            probe,
            info: Mutex::new(None),
            allow_evicting,
            records_shared: AtomicBool::new(true),
            metrics: LinkMetrics {
                up: metrics.quota_store_up.clone(),
                errors: metrics.quota_store_errors.clone(),
                error_replies: metrics.quota_store_error_replies.clone(),
                info: metrics.quota_store_info.clone(),
                records_shared: metrics.dedup_records_shared.clone(),
                switches: metrics.quota_store_switches.clone(),
            },
            clock: ClockMap {
                epoch: Instant::now(),
                state: Mutex::new(None),
            },
        }
    }

    /// A connection while Redis is up; `None` while it is down.
    pub(crate) async fn connection(self: &Arc<Self>) -> Option<(Conn, u64)> {
        self.first_connection().await;
        if self.state.load(Ordering::Acquire) != UP {
            return None;
        }
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes the first connection, once (what Redis keeps is known after it).
    pub(crate) async fn first_connection(self: &Arc<Self>) {
        self.first
            .get_or_init(|| async {
                let first = async {
                    let (mut conn, _) = connect(&self.target, self.timeout).await?;
                    self.check_store(&mut conn).await;
                    self.probe.run(&conn, self.timeout).await?;
                    Ok::<_, Failure>(conn)
                };
                match first.await {
                    Ok(conn) => self.connected(conn, None),
                    Err(f) => {
                        self.count(&f);
                        self.switch_down(&f);
                    }
                }
            })
            .await;
    }

    /// Counts a failed connection attempt or probe.
    fn count(&self, f: &Failure) {
        self.metrics
            .errors
            .get_or_create(&KindLabels { kind: f.kind })
            .inc();
        self.count_reply(f);
    }

    /// Counts an error reply by its code (the callers count their calls' kinds).
    fn count_reply(&self, f: &Failure) {
        if let Some(code) = f.code {
            self.metrics
                .error_replies
                .get_or_create(&CodeLabels { code })
                .inc();
        }
    }

    /// Reads and reports what Redis keeps; decides whether the idempotency
    /// records may go there.
    async fn check_store(&self, conn: &mut Conn) {
        let found = store_info(conn, self.timeout).await;
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        if info.as_ref() == Some(&found) {
            return;
        }
        if let Some(old) = info.take() {
            self.metrics.info.remove(&StoreInfoLabels::from(&old));
        }
        self.metrics
            .info
            .get_or_create(&StoreInfoLabels::from(&found))
            .set(1);
        let shared = !found.evicts() || self.allow_evicting;
        self.records_shared.store(shared, Ordering::Release);
        self.metrics.records_shared.set(i64::from(shared));
        let (policy, persistence) = (&found.maxmemory_policy, &found.persistence);
        if found.evicts() && !self.allow_evicting {
            tracing::error!(
                maxmemory_policy = %policy,
                persistence = %persistence,
                "Redis's maxmemory-policy can evict the gateway's keys: idempotency records are kept in each gateway only, not shared by the fleet (use a Redis of its own with maxmemory-policy noeviction, or set dedup.allow_evicting_store = true)"
            );
        } else if found.evicts() {
            tracing::warn!(
                maxmemory_policy = %policy,
                persistence = %persistence,
                "Redis's maxmemory-policy can evict idempotency records; sharing them anyway (dedup.allow_evicting_store = true): an evicted record lets a retry on another gateway send its write again"
            );
        } else if policy == "unknown" {
            tracing::warn!(
                persistence = %persistence,
                "Redis would not say its maxmemory-policy (CONFIG GET and INFO refused): make sure it is noeviction"
            );
        } else {
            tracing::info!(maxmemory_policy = %policy, persistence = %persistence, "Redis store");
        }
        *info = Some(found);
    }

    /// What Redis said it keeps at the last connection (`None` before one).
    pub fn store_info(&self) -> Option<StoreInfo> {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether the idempotency records go to Redis: not when its policy
    /// can evict them (unless `dedup.allow_evicting_store`).
    pub fn records_shared(&self) -> bool {
        self.records_shared.load(Ordering::Acquire)
    }

    /// The health for `/readyz`: `connecting` before the first connection,
    /// `up`, `failing` (calls fail; not yet judged down) or `down`.
    pub fn health(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            UP if self
                .failing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some() =>
            {
                "failing"
            }
            UP => "up",
            DOWN => "down",
            _ => "connecting",
        }
    }

    /// `redis_now` (µs) when this follows a time down.
    fn connected(&self, conn: Conn, redis_now: Option<u64>) {
        let id = self.connections.fetch_add(1, Ordering::AcqRel) + 1;
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some((conn, id));
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // It may be another server now, with another clock.
        self.clock.reset();
        if let Some(now) = redis_now {
            self.resume(now);
        }
        if self.state.swap(UP, Ordering::SeqCst) == DOWN {
            self.metrics
                .switches
                .get_or_create(&SwitchLabels { to: "up" })
                .inc();
            tracing::warn!(
                probes = UP_AFTER,
                "Redis answers again and takes writes: the quota is shared by the fleet again"
            );
        }
        self.metrics.up.set(1);
    }

    /// Found Redis again (its clock at `redis_now`, µs) after a time down:
    /// shared slots start `resume_delay` (plus `max_wait`) later.
    fn resume(&self, redis_now: u64) {
        let from = micros(self.resume_delay());
        *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), redis_now + from));
    }

    /// After a time down, shared slots start this much (plus `max_wait`) later.
    fn resume_delay(&self) -> Duration {
        RESUME_SPREAD + self.timeout * (3 + UP_AFTER) + Duration::from_secs(1)
    }

    /// The earliest shared slot for a path with `max_wait` (µs on Redis's
    /// clock), while that is still ahead; else 0.
    pub(crate) fn resume_floor(&self, max_wait: Duration) -> u64 {
        match *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, floor)) if at.elapsed() < self.resume_delay() + max_wait => {
                floor + micros(max_wait)
            }
            _ => 0,
        }
    }

    /// A reservation's reply arrived: whether its slot may be used. Not
    /// once the link is down (the fallback may already be granting
    /// permits): the slot is then lost.
    pub(crate) fn reserved(&self, conn: u64) -> bool {
        let us = micros(Instant::now().duration_since(self.clock.epoch)) + 1;
        self.last_reserved.fetch_max(us, Ordering::SeqCst);
        self.state.load(Ordering::SeqCst) == UP && self.connections.load(Ordering::SeqCst) == conn
    }

    /// Since when the slots taken in Redis are all used (up to `max_wait`
    /// after it): the last reservation's reply, or when the link went down
    /// if none came.
    pub(crate) fn slots_end_from(&self) -> Instant {
        match self.last_reserved.load(Ordering::SeqCst) {
            0 => self.down_since(),
            us => self.clock.epoch + Duration::from_micros(us - 1),
        }
    }

    /// A Redis call on connection `conn` failed (its user counted its
    /// kind): counts a failure toward the switch to down (see "Store
    /// health"). A late failure on a connection already replaced changes
    /// nothing.
    pub(crate) fn failed(self: &Arc<Self>, f: &Failure, conn: Option<u64>) {
        self.count_reply(f);
        self.failure(f, conn);
    }

    fn failure(self: &Arc<Self>, f: &Failure, conn: Option<u64>) {
        if conn.is_some_and(|c| c != self.connections.load(Ordering::Acquire)) {
            return;
        }
        if self.state.load(Ordering::Acquire) == DOWN {
            return;
        }
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *failing {
            None => {
                *failing = Some(Failing {
                    since: Instant::now(),
                    count: 1,
                });
                drop(failing);
                tracing::debug!(
                    kind = f.kind,
                    code = f.code.unwrap_or(""),
                    error = %f.why,
                    "a Redis call failed: probing Redis"
                );
                tokio::spawn(check(Arc::downgrade(self), conn));
            }
            Some(run) => {
                run.count += 1;
                if run.count >= DOWN_FAILURES && run.since.elapsed() >= DOWN_AFTER {
                    drop(failing);
                    self.switch_down(f);
                }
            }
        }
    }

    /// Switches to down (logged once) and starts reconnecting.
    fn switch_down(self: &Arc<Self>, f: &Failure) {
        if self.state.swap(DOWN, Ordering::SeqCst) == DOWN {
            return;
        }
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.metrics.up.set(0);
        self.metrics
            .switches
            .get_or_create(&SwitchLabels { to: "down" })
            .inc();
        tracing::error!(
            kind = f.kind,
            code = f.code.unwrap_or(""),
            error = %f.why,
            "Redis is unreachable or refuses writes: switching to the fallback quota and local idempotency records; probing it in the background"
        );
        tokio::spawn(reconnect(Arc::downgrade(self)));
    }

    /// A probe succeeded while failing: still up.
    fn recovered(&self, conn: Option<u64>) {
        if conn.is_some_and(|c| c != self.connections.load(Ordering::Acquire)) {
            return;
        }
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Runs `call` on the connection, bounded by `timeout_ms`. `None` while
    /// Redis is down or when the call fails (counted in `errors`, the
    /// caller's own, and toward the switch to down).
    pub async fn run<T: redis::FromRedisValue>(
        self: &Arc<Self>,
        call: &redis::ScriptInvocation<'_>,
        errors: &Family<KindLabels, Counter>,
    ) -> Option<T> {
        let (mut conn, conn_id) = self.connection().await?;
        let f = match tokio::time::timeout(self.timeout, call.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(e)) => Failure::of(&e),
            Err(_) => Failure::timeout(self.timeout),
        };
        errors.get_or_create(&KindLabels { kind: f.kind }).inc();
        self.failed(&f, Some(conn_id));
        None
    }

    pub(crate) fn down_since(&self) -> Instant {
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
