//! One Redis connection for everything the gateway keeps in Redis (the
//! fleet quota and the idempotency records): connecting with a bound on
//! every step, the switch to "down" on the first failure (logged once),
//! reconnecting in the background, and Redis's clock mapped onto this
//! instance's. Each user counts its own failed calls in its own metric; the
//! link counts only its connection attempts (in the quota store's).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use crate::metrics::KindLabels;
use crate::secret::Secret;

pub(crate) const UNKNOWN: u8 = 0;
pub(crate) const UP: u8 = 1;
pub(crate) const DOWN: u8 = 2;

const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Probes stay frequent so that the fleet's instances switch back close together.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How much later than this instance the others may find Redis again: one
/// probe interval, plus a connection attempt (bounded by 3 × `timeout_ms`,
/// added per instance).
pub const RESUME_SPREAD: Duration = RECONNECT_MAX;

/// The connection and its state, shared with the reconnect task and with
/// every user of the same Redis.
pub struct Link {
    client: redis::Client,
    pub(crate) timeout: Duration,
    /// The connection, and which one it is (see `failed`).
    conn: Mutex<Option<(MultiplexedConnection, u64)>>,
    connections: AtomicU64,
    pub(crate) state: AtomicU8,
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
    pub(crate) clock: ClockMap,
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

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Tries Redis once (`--check-config`): `Err` says why it did not answer.
pub async fn ping(url: &Secret, timeout: Duration) -> Result<(), String> {
    let client = redis::Client::open(url.expose()).map_err(|e| format!("{:?}", e.kind()))?;
    connect(&client, timeout).await.map(drop).map_err(|e| e.1)
}

impl Link {
    /// Not yet connected: the first caller connects.
    /// Not yet connected: the first caller connects. `up` is 1 while Redis
    /// answers; `errors` counts failed connection attempts.
    pub fn new(
        client: redis::Client,
        timeout: Duration,
        up: Gauge,
        errors: Family<KindLabels, Counter>,
    ) -> Link {
        Link {
            client,
            timeout,
            conn: Mutex::new(None),
            connections: AtomicU64::new(0),
            state: AtomicU8::new(UNKNOWN),
            down_since: Mutex::new(Instant::now()),
            resumed: Mutex::new(None),
            first: tokio::sync::OnceCell::new(),
            up,
            errors,
            clock: ClockMap {
                epoch: Instant::now(),
                state: Mutex::new(None),
            },
        }
    }

    /// A connection while Redis answers; `None` while it does not.
    pub(crate) async fn connection(self: &Arc<Self>) -> Option<(MultiplexedConnection, u64)> {
        self.first
            .get_or_init(|| async {
                match connect(&self.client, self.timeout).await {
                    Ok((conn, _)) => self.connected(conn, None),
                    Err((kind, why)) => {
                        self.errors.get_or_create(&KindLabels { kind }).inc();
                        self.failed(kind, &why, None)
                    }
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
    pub(crate) fn resume_floor(&self, max_wait: Duration) -> u64 {
        match *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, floor)) if at.elapsed() < self.resume_delay() + max_wait => {
                floor + micros(max_wait)
            }
            _ => 0,
        }
    }

    /// A Redis call on connection `conn` failed (its user counted it): on
    /// the first failure switch to the fallback (logged once) and start reconnecting.
    /// A late failure on a connection already replaced changes nothing.
    pub(crate) fn failed(self: &Arc<Self>, kind: &'static str, why: &str, conn: Option<u64>) {
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
    /// Redis is unreachable or when the call fails (counted in `errors`, the
    /// caller's own; the first failure switches the link to down).
    pub async fn run<T: redis::FromRedisValue>(
        self: &Arc<Self>,
        call: &redis::ScriptInvocation<'_>,
        errors: &Family<KindLabels, Counter>,
    ) -> Option<T> {
        let (mut conn, conn_id) = self.connection().await?;
        let (kind, why) =
            match tokio::time::timeout(self.timeout, call.invoke_async::<T>(&mut conn)).await {
                Ok(Ok(reply)) => return Some(reply),
                Ok(Err(e)) => (kind_of(&e), e.to_string()),
                Err(_) => ("timeout", "no answer in time".to_string()),
            };
        errors.get_or_create(&KindLabels { kind }).inc();
        self.failed(kind, &why, Some(conn_id));
        None
    }

    pub(crate) fn down_since(&self) -> Instant {
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
            client,
            Duration::from_millis(timeout_ms),
            Gauge::default(),
            Family::default(),
        )
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
}
