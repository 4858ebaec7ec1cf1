//! The link's rules, one by one.

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
    // docs/fleet.md "When Redis stalls, refuses writes or goes away": the metric
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
    // docs/fleet.md "When Redis stalls, refuses writes or goes away": "It reconnects in the background
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
        Box::new(NoProbe),
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
        reply("ERR Error running script (call to f_x): @user_script:9: OOM command not allowed"),
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

/// A probe that always succeeds (the link's rules here need none).
struct NoProbe;

impl Probe for NoProbe {
    fn run<'a>(
        &'a self,
        _conn: &'a Conn,
        _timeout: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, Failure>> + Send + 'a>>
    {
        Box::pin(std::future::ready(Ok(0)))
    }
}

/// `CONFIG GET` answers an array of name and value (RESP2), and a reply
/// gathered from a Cluster's nodes nests such replies in a map of node to
/// reply: every string is read, in order, whatever the nesting (without
/// the arrays, `save` went unread and persistence was "unknown").
#[test]
fn every_string_of_a_reply_is_read_however_it_nests() {
    use redis::Value;
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    let mut out = Vec::new();
    info::strings(
        &Value::Array(vec![bulk("maxmemory-policy"), bulk("noeviction")]),
        &mut out,
    );
    assert_eq!(out, ["maxmemory-policy", "noeviction"]);
    let mut out = Vec::new();
    info::strings(
        &Value::Map(vec![(
            Value::SimpleString("127.0.0.1:7000".into()),
            Value::Set(vec![bulk("save"), bulk("")]),
        )]),
        &mut out,
    );
    assert_eq!(out, ["127.0.0.1:7000", "save", ""]);
}
