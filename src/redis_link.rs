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
//! plus a read of each path's own key ([`crate::quota::fleet::Probe`]).
//!
//! - **Up → down.** One failed call is not an outage (a slow reply, a
//!   moment's stall): the first failure starts a check that probes every
//!   [`PROBE_EVERY`]. A probe that succeeds ends it (still up). The switch
//!   to down happens only once calls and probes have failed for
//!   [`DOWN_AFTER`] with no probe succeeding, at least [`DOWN_FAILURES`]
//!   of them. Meanwhile a call that failed is refused (429) or, when it
//!   timed out and its caller's wait allows, tried again.
//! - **Down → up.** Reconnecting (backoff [`RECONNECT_FIRST`] doubling to
//!   [`RECONNECT_MAX`]) makes a fresh connection (for a Sentinel set: to
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
use crate::quota::fleet::Probe;

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

/// Where Redis is: one server, the master a Sentinel set names, or a Cluster.
pub enum Target {
    Single(redis::Client),
    /// The client asks the sentinels for the master at each connection.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

impl Target {
    /// The client for `topology`, not connected. Errors name the config key
    /// and never repeat a URL (it may hold a password).
    pub fn open(topology: &RedisTopology) -> Result<Target, ConfigError> {
        let bad = |key: &str, e: redis::RedisError| {
            ConfigError(format!("{key}: not a Redis URL ({:?})", e.kind()))
        };
        match topology {
            RedisTopology::Url(url) => redis::Client::open(url.expose())
                .map(Target::Single)
                .map_err(|e| bad("redis.url", e)),
            RedisTopology::Sentinel {
                sentinels,
                master_name,
            } => {
                let mut infos = Vec::new();
                for s in sentinels {
                    infos.push(
                        s.expose()
                            .into_connection_info()
                            .map_err(|e| bad("redis.sentinels", e))?,
                    );
                }
                // The master is reached with the first sentinel URL's user,
                // password, database and TLS; the sentinels themselves have
                // no databases.
                let first = infos
                    .first()
                    .ok_or_else(|| ConfigError("redis.sentinels: must list a sentinel".into()))?;
                let mut node = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(first.redis_settings().clone());
                if sentinels[0].expose().starts_with("rediss://") {
                    node = node.set_tls_mode(TlsMode::Secure);
                }
                let infos: Vec<_> = infos
                    .into_iter()
                    .map(|i| {
                        let settings = i.redis_settings().clone().set_db(0);
                        i.set_redis_settings(settings)
                    })
                    .collect();
                SentinelClient::build(infos, master_name, Some(node), SentinelServerType::Master)
                    .map(|c| Target::Sentinel(tokio::sync::Mutex::new(c)))
                    .map_err(|e| bad("redis.sentinels", e))
            }
            RedisTopology::Cluster(urls) => {
                let urls: Vec<&str> = urls.iter().map(|u| u.expose()).collect();
                ClusterClient::builder(urls)
                    // Each call is bounded by timeout_ms (the link's); a
                    // redirect after a failover needs a retry or two.
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map(Target::Cluster)
                    .map_err(|e| bad("redis.cluster_urls", e))
            }
        }
    }

    /// A new connection, every step bounded by `timeout`.
    async fn connect(&self, timeout: Duration) -> redis::RedisResult<Conn> {
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        match self {
            Target::Single(client) => client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await
                .map(Conn::Single),
            Target::Sentinel(client) => client
                .lock()
                .await
                .get_async_connection_with_config(&cfg)
                .await
                .map(Conn::Single),
            Target::Cluster(client) => {
                let cfg = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                client
                    .get_async_connection_with_config(cfg)
                    .await
                    .map(Conn::Cluster)
            }
        }
    }
}

/// A connection to one server (also the master a Sentinel set named) or to
/// a Cluster; cheap to clone (both multiplex one socket per server).
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Error replies counted by their code; any other is "other". Each is one
/// a Redis that answers can give the gateway's scripts (redis.io, "Redis
/// error replies" and each command's page).
pub const ERROR_CODES: [&str; 12] = [
    "OOM",
    "READONLY",
    "MISCONF",
    "NOPERM",
    "WRONGTYPE",
    "NOSCRIPT",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "other",
];

/// A failed Redis call: a metric label for its kind, the error reply's code
/// (one of [`ERROR_CODES`], `None` for a timeout or a connection error),
/// and what it said.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub why: String,
}

impl Failure {
    pub(crate) fn of(e: &redis::RedisError) -> Failure {
        let kind = kind_of(e);
        let code = (kind == "reply").then(|| code_of(e));
        Failure {
            kind,
            code,
            why: e.to_string(),
        }
    }

    pub(crate) fn timeout(after: Duration) -> Failure {
        Failure {
            kind: "timeout",
            code: None,
            why: format!("no answer within {after:?}"),
        }
    }
}

/// The bounded label for an error reply's code.
fn code_of(e: &redis::RedisError) -> &'static str {
    // A script's error reply carries the command's: "ERR Error running
    // script ... OOM command not allowed ..." on older servers.
    let text = format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""));
    let first = e.code().unwrap_or("");
    ERROR_CODES
        .iter()
        .find(|c| **c == first)
        .or_else(|| {
            ERROR_CODES[..ERROR_CODES.len() - 1].iter().find(|c| {
                text.split(|ch: char| !ch.is_ascii_alphanumeric())
                    .any(|w| w == **c)
            })
        })
        .copied()
        .unwrap_or("other")
}

/// Maps Redis's clock (µs since the epoch) onto this instance's monotonic
/// clock: `local = redis + offset`, the offset being the smallest
/// `arrival - redis_now` seen (a reply's delay is never negative). It creeps
/// later by 1 ms per second between lower samples, so that clock drift and
/// a changed network path are followed.
pub(crate) struct ClockMap {
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
    pub(crate) fn map(&self, arrived: Instant, redis_now: i64, redis_at: i64) -> Instant {
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
pub(crate) fn kind_of(e: &redis::RedisError) -> &'static str {
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
async fn connect(target: &Target, timeout: Duration) -> Result<(Conn, u64), Failure> {
    let attempt = async {
        let mut conn = target.connect(timeout).await?;
        redis::cmd("TIME")
            .query_async::<(u64, u64)>(&mut conn)
            .await
            .map(|(s, us)| (conn, redis_micros(s, us)))
    };
    // Connecting is a few round trips (a Sentinel set's a few more); bound
    // the whole of it too.
    match tokio::time::timeout(timeout * 3, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Failure::of(&e)),
        Err(_) => Err(Failure::timeout(timeout * 3)),
    }
}

/// Redis's `TIME` reply (seconds, microseconds) in µs.
fn redis_micros(s: u64, us: u64) -> u64 {
    s * 1_000_000 + us
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Tries Redis once (`--check-config`): `Err` says why it did not answer.
pub async fn ping(topology: &RedisTopology, timeout: Duration) -> Result<(), String> {
    let target = Target::open(topology).map_err(|e| e.0)?;
    connect(&target, timeout).await.map(drop).map_err(|e| e.why)
}

/// What Redis says it keeps, read at each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// `noeviction`, `allkeys-lru`, ...; several joined by `,` when a
    /// Cluster's nodes differ; `unknown` when Redis would not say.
    pub maxmemory_policy: String,
    /// `aof`, `rdb`, `aof+rdb`, `none` or `unknown`.
    pub persistence: String,
}

impl StoreInfo {
    /// Whether the policy can evict the gateway's keys: every `allkeys-*`
    /// policy, and every `volatile-*` one (the records and the quota's
    /// keys all have expiries). Redis docs, "Key eviction": `noeviction`
    /// is the only policy that never evicts.
    pub fn evicts(&self) -> bool {
        self.maxmemory_policy
            .split(',')
            .any(|p| p.starts_with("allkeys-") || p.starts_with("volatile-"))
    }
}

/// Every string in a reply (a Cluster's multi-node replies are maps of
/// node to reply), in order.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => out.push(s.clone()),
        Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// `CONFIG GET name`'s values (one per node), `None` if refused.
async fn config_get(conn: &mut Conn, name: &str, timeout: Duration) -> Option<Vec<String>> {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg(name);
    let call = cmd.query_async::<Value>(conn);
    let reply = tokio::time::timeout(timeout, call).await.ok()?.ok()?;
    let mut all = Vec::new();
    strings(&reply, &mut all);
    let values: Vec<String> = all
        .windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// The values of `field:` in `INFO section` (one per node), `None` if refused.
async fn info_field(
    conn: &mut Conn,
    section: &str,
    field: &str,
    timeout: Duration,
) -> Option<Vec<String>> {
    let mut cmd = redis::cmd("INFO");
    cmd.arg(section);
    let call = cmd.query_async::<Value>(conn);
    let reply = tokio::time::timeout(timeout, call).await.ok()?.ok()?;
    let mut texts = Vec::new();
    strings(&reply, &mut texts);
    let prefix = format!("{field}:");
    let values: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Distinct values, sorted, joined by `,`.
fn joined(mut values: Vec<String>) -> String {
    values.sort();
    values.dedup();
    values.join(",")
}

/// Reads what Redis keeps (see the module doc); never fails.
async fn store_info(conn: &mut Conn, timeout: Duration) -> StoreInfo {
    let policy = match config_get(conn, "maxmemory-policy", timeout).await {
        Some(p) => Some(p),
        None => info_field(conn, "memory", "maxmemory_policy", timeout).await,
    };
    let aof = info_field(conn, "persistence", "aof_enabled", timeout).await;
    let save = config_get(conn, "save", timeout).await;
    let aof = aof.map(|v| v.iter().all(|a| a == "1"));
    let rdb = save.map(|v| v.iter().all(|s| !s.trim().is_empty()));
    let persistence = match (aof, rdb) {
        (Some(true), Some(true)) => "aof+rdb",
        (Some(true), _) => "aof",
        (Some(false), Some(true)) => "rdb",
        (Some(false), Some(false)) => "none",
        _ => "unknown",
    };
    StoreInfo {
        maxmemory_policy: policy.map_or_else(|| "unknown".to_string(), joined),
        persistence: persistence.to_string(),
    }
}

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
    probe: Probe,
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
        probe: Probe,
        allow_evicting: bool,
        metrics: &Metrics,
    ) -> Link {
        metrics.quota_store_up.set(0);
        metrics.dedup_records_shared.set(1);
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

/// While the link is up and failing: probes every [`PROBE_EVERY`] until a
/// probe succeeds (still up) or the failures make it down.
async fn check(link: Weak<Link>, conn_id: Option<u64>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(link) = link.upgrade() else { return };
        let current = link.conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((conn, id)) = current else { return };
        if conn_id.is_some_and(|c| c != id)
            || link.state.load(Ordering::Acquire) != UP
            || link
                .failing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        {
            return;
        }
        match link.probe.run(&conn, link.timeout).await {
            Ok(_) => return link.recovered(Some(id)),
            Err(f) => {
                link.count(&f);
                link.failure(&f, Some(id));
            }
        }
    }
}

/// Reconnects with backoff until [`UP_AFTER`] probes in a row succeed (or
/// the gateway is dropped).
async fn reconnect(link: Weak<Link>) {
    let mut backoff = RECONNECT_FIRST;
    let mut confirming: Option<(Conn, u32)> = None;
    loop {
        let wait = if confirming.is_some() {
            PROBE_EVERY
        } else {
            backoff
        };
        tokio::time::sleep(wait).await;
        let Some(link) = link.upgrade() else { return };
        let conn = match confirming.take() {
            Some(c) => Ok(c),
            None => match connect(&link.target, link.timeout).await {
                Ok((mut conn, _)) => {
                    link.check_store(&mut conn).await;
                    Ok((conn, 0))
                }
                Err(f) => Err(f),
            },
        };
        let f = match conn {
            Ok((conn, ok)) => match link.probe.run(&conn, link.timeout).await {
                Ok(redis_now) if ok + 1 >= UP_AFTER => {
                    return link.connected(conn, Some(redis_now));
                }
                Ok(_) => {
                    confirming = Some((conn, ok + 1));
                    continue;
                }
                Err(f) => f,
            },
            Err(f) => f,
        };
        link.count(&f);
        backoff = next_backoff(backoff);
    }
}

/// The wait before the next reconnection attempt: doubling up to [`RECONNECT_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(RECONNECT_MAX)
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
        Link::new(
            Target::Single(client),
            Duration::from_millis(timeout_ms),
            Probe::new(Vec::new()),
            false,
            &Metrics::default(),
        )
    }

    #[test]
    fn shared_slots_resume_2_6_s_plus_max_wait_after_redis_is_found_again() {
        // Module doc, "When Redis is unreachable" (src/quota/fleet.rs):
        // RESUME_SPREAD (1 s) + 1 s + max_wait, plus 3 × timeout_ms for a
        // connection attempt and timeout_ms for each of the 3 confirming
        // probes: 2.6 s with timeout_ms 100.
        let link = link(100);
        assert_eq!(link.resume_delay(), Duration::from_millis(2_600));
        let max_wait = Duration::from_millis(300);
        // Never down: no floor.
        assert_eq!(link.resume_floor(max_wait), 0);
        let redis_now = 1_764_000_000_000_000;
        link.resume(redis_now);
        assert_eq!(link.resume_floor(max_wait), redis_now + 2_900_000);
        // Still ahead 2.6 s after the switch (it lasts 2.9 s)...
        let ago = |d: Duration| Instant::now().checked_sub(d).expect("an earlier instant");
        *link.resumed.lock().unwrap() = Some((ago(Duration::from_millis(2_600)), redis_now));
        assert_eq!(link.resume_floor(max_wait), redis_now + 300_000);
        // ...and no more once it has passed.
        *link.resumed.lock().unwrap() = Some((ago(Duration::from_millis(2_910)), redis_now));
        assert_eq!(link.resume_floor(max_wait), 0);
    }

    #[test]
    fn the_fallback_waits_for_the_last_reserved_slot_not_for_the_switch() {
        // src/quota/fleet.rs, "When Redis is unreachable": the local quota
        // starts max_wait + 1 s after the last reservation's reply; with
        // none, after the switch. A reply that comes once the link is down
        // is not used.
        let link = link(100);
        let down = link.down_since();
        assert_eq!(link.slots_end_from(), down);
        link.state.store(UP, Ordering::SeqCst);
        let id = link.connections.load(Ordering::SeqCst);
        let before = Instant::now();
        assert!(link.reserved(id));
        let last = link.slots_end_from();
        // Kept in whole µs.
        assert!(last + Duration::from_micros(1) >= before && last <= Instant::now());
        // A reply on a connection since replaced, or once down, is lost.
        assert!(!link.reserved(id + 1));
        link.state.store(DOWN, Ordering::SeqCst);
        assert!(!link.reserved(id));
    }

    #[test]
    fn every_evicting_policy_is_refused_and_only_noeviction_is_safe() {
        // Redis docs, "Key eviction", the eight policies: all but
        // noeviction can drop a key with an expiry (the volatile-* ones
        // evict only such keys, and the gateway's all have one).
        let info = |p: &str| StoreInfo {
            maxmemory_policy: p.into(),
            persistence: "none".into(),
        };
        for p in [
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "noeviction,volatile-ttl",
        ] {
            assert!(info(p).evicts(), "{p}");
        }
        assert!(!info("noeviction").evicts());
        assert!(!info("unknown").evicts());
    }

    #[test]
    fn error_replies_are_labelled_by_their_code() {
        // redis.io "Redis error replies": the first word is the code; a
        // script's error carries its command's ("... OOM command not
        // allowed when used memory > 'maxmemory'").
        let reply = |text: &str| {
            let wire = format!("-{text}\r\n");
            let Ok(Value::ServerError(e)) = redis::parse_redis_value(wire.as_bytes()) else {
                panic!("an error reply: {text}")
            };
            Failure::of(&redis::RedisError::from(e)).code
        };
        assert_eq!(reply("OOM command not allowed"), Some("OOM"));
        assert_eq!(
            reply("READONLY You can't write against a read only replica."),
            Some("READONLY")
        );
        assert_eq!(
            reply(
                "ERR Error running script (call to f_x): @user_script:9: OOM command not allowed"
            ),
            Some("OOM")
        );
        assert_eq!(reply("ERR something else"), Some("other"));
        assert_eq!(Failure::timeout(Duration::from_millis(1)).code, None);
    }

    #[test]
    fn policies_and_persistence_are_read_from_any_reply_shape() {
        // CONFIG GET answers [name, value]; a Cluster's INFO answers a map
        // of node to text (redis-rs routes INFO to every primary).
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let mut out = Vec::new();
        strings(
            &Value::Map(vec![
                (
                    bulk("a:1"),
                    bulk("# Memory\r\nmaxmemory_policy:noeviction\r\n"),
                ),
                (bulk("b:2"), bulk("maxmemory_policy:allkeys-lru\r\n")),
            ]),
            &mut out,
        );
        let found: Vec<String> = out
            .iter()
            .flat_map(|t| t.lines())
            .filter_map(|l| l.strip_prefix("maxmemory_policy:").map(str::to_string))
            .collect();
        assert_eq!(joined(found), "allkeys-lru,noeviction");
    }
}
