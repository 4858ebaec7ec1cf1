//! Store health: what the gateway does when its Redis stalls, refuses
//! writes or can evict its keys. Each case is one the fleet meets in
//! production (a real redis-server each; no mock): the expected behaviour
//! is the fleet quota's module doc (src/quota/fleet.rs, "When Redis is
//! unreachable or refuses writes") and the Redis link's
//! (src/redis_link/mod.rs, "Store health").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::quota::{Fleet, check_outcomes, offer, wait_quota};
use crate::common::redis_server::RedisServer;
use crate::common::*;

/// A Redis stall of 250 ms (SIGSTOP, then SIGCONT: a slow fork, a paused
/// VM) is one slow reply, not an outage: a caller at 20/s, far under the
/// quota, waits a little longer instead of being refused. Before, the first
/// timeout switched the instance to its fallback and back, about 2.5 s of
/// 429 on every path (47 of 134 calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_250_ms_stall_is_waited_out_not_refused() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let fleet = Fleet::start(1, &redis.url(), "");
    let stop = Arc::new(AtomicBool::new(false));
    // 134 calls at 20/s: 6.7 s.
    let load = tokio::spawn(offer(fleet.urls(), 20, 134, stop.clone()));
    let seen = |n: usize| {
        let sim = fleet.sim.clone();
        async move {
            while sim.requests().len() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    within("the shared quota serves", seen(20)).await;
    redis.pause();
    let paused = Instant::now();
    tokio::time::sleep(Duration::from_millis(250)).await;
    redis.resume();
    let stalled = paused.elapsed();
    let (_, outcomes) = load.await.expect("load");
    check_outcomes(&outcomes);
    let refused = outcomes.iter().filter(|o| o.status == 429).count();
    let m = metrics(&fleet.gws[0]).await;
    eprintln!(
        "a {} ms stall: {refused} of {} calls refused (429)",
        stalled.as_millis(),
        outcomes.len()
    );
    // The stall shows where an operator looks: calls that timed out.
    let timeouts = sample(
        &m,
        "entrust_gateway_quota_store_errors_total",
        &[("kind", "timeout")],
    );
    assert!(timeouts.is_some_and(|n| n >= 1.0), "{m}");
    assert_eq!(
        sample(&m, "entrust_gateway_quota_store_up", &[]),
        Some(1.0),
        "{m}"
    );
    // A margin for a busy machine: a call can be late on its own.
    assert!(refused <= 5, "{refused} of {} refused", outcomes.len());
    let mut times = fleet.arrivals();
    assert!(max_in_any_second(&mut times) <= 100);
}

/// What one gateway did while its Redis refused writes and then took them
/// again.
struct Refusal {
    /// Statuses of the calls made meanwhile, in order.
    statuses: Vec<u16>,
    /// From the first refused write to /readyz saying "local".
    to_local: Duration,
    metrics_down: String,
    metrics_end: String,
    readyz_down: serde_json::Value,
    receipts: usize,
}

/// Starts a gateway on `redis` (max_wait_ms 300), calls QUERY at 20/s,
/// makes Redis refuse writes with `refuse` (which returns once a write of
/// its own was refused), keeps calling for 2 s after the switch to the
/// fallback, with one keyed write and its retry, then `accept`s writes
/// again and calls until the quota is shared again.
async fn through_refused_writes<R, A>(redis: &RedisServer, refuse: R, accept: A) -> Refusal
where
    R: AsyncFnOnce(&RedisServer),
    A: AsyncFnOnce(&RedisServer),
{
    let (sim, sim_server) = start_sim().await;
    let extra = format!(
        "[rate_limit]\nmax_wait_ms = 300\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let gw = start_gateway(&config_text(&[sim_server.url()], "", &extra)).await;
    let url = format!("{}{QUERY}", gw.url());
    assert_eq!(post_form(&url, "groupIds=first").await.status, 200);
    // Callers at 20/s until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = {
        let (stop, url) = (stop.clone(), url.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut calls = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                tick.tick().await;
                let url = url.clone();
                calls.push(tokio::spawn(async move {
                    post_form(&url, &format!("groupIds=r{i}"))
                        .await
                        .status
                        .as_u16()
                }));
                i += 1;
            }
            let mut statuses = Vec::new();
            for c in calls {
                statuses.push(c.await.expect("a call"));
            }
            statuses
        })
    };
    refuse(redis).await;
    let refused = Instant::now();
    let gws = [gw];
    wait_quota(&gws, "local").await;
    let to_local = refused.elapsed();
    let readyz_down = get(&format!("{}/readyz", gws[0].url())).await.json();
    // A keyed write meanwhile: its record is this gateway's, and a retry
    // is answered from it.
    let body = "groupId=refused-1&name=n&owner=o";
    let headers = [FORM, (IDEMPOTENCY_KEY, "refused-1")];
    let create = format!("{}{CREATE}", gws[0].url());
    // The fallback starts max_wait_ms + 1 s after the last shared slot.
    let write = within("the write is served by the fallback", async {
        loop {
            let a = send(http::Method::POST, &create, &headers, body).await;
            if a.status != 429 {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(write.json()["code"], 200, "{}", write.text());
    replayed(&send(http::Method::POST, &create, &headers, body).await);
    // Two more seconds of refused writes: the fallback holds, no flapping.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics_down = metrics(&gws[0]).await;
    accept(redis).await;
    wait_quota(&gws, "shared").await;
    within("a shared permit again", async {
        while post_form(&url, "groupIds=again").await.status != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    stop.store(true, Ordering::Release);
    let statuses = calls.await.expect("callers");
    let metrics_end = metrics(&gws[0]).await;
    let receipts = sim.requests().iter().filter(|r| r.path == CREATE).count();
    let mut times: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    assert!(max_in_any_second(&mut times) <= 100);
    Refusal {
        statuses,
        to_local,
        metrics_down,
        metrics_end,
        readyz_down,
        receipts,
    }
}

/// What every refused-writes case asserts: no 5xx, the switch within
/// max_wait_ms + 1 s of the refusal (plus the half second that makes a
/// failure an outage, and a margin for a busy machine), one switch each
/// way (a probe that writes does not flap; each switch is also logged
/// once, "Redis is unreachable or refuses writes" and "Redis answers
/// again"), the error code counted, the record kept, /readyz 200 saying
/// "down".
fn check_refusal(r: &Refusal, code: &str) {
    assert!(
        r.statuses.iter().all(|s| *s == 200 || *s == 429),
        "{:?}",
        r.statuses
    );
    assert!(
        r.to_local <= Duration::from_millis(300 + 1000 + 500 + 1500),
        "the fallback after {:?}",
        r.to_local
    );
    let switches = |to| {
        sample(
            &r.metrics_end,
            "entrust_gateway_quota_store_switches_total",
            &[("to", to)],
        )
    };
    assert_eq!(
        (switches("down"), switches("up")),
        (Some(1.0), Some(1.0)),
        "{}",
        r.metrics_end
    );
    let refused = sample(
        &r.metrics_down,
        "entrust_gateway_quota_store_error_replies_total",
        &[("code", code)],
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{}", r.metrics_down);
    assert_eq!(
        sample(&r.metrics_down, "entrust_gateway_quota_store_up", &[]),
        Some(0.0)
    );
    assert_eq!(r.readyz_down["quota"], "local", "{}", r.readyz_down);
    assert_eq!(r.readyz_down["store"], "down", "{}", r.readyz_down);
    assert_eq!(r.receipts, 1, "one vendor receipt for the keyed write");
    let served = r.statuses.iter().filter(|s| **s == 200).count();
    eprintln!(
        "{code}: the fallback after {:?}; {served} of {} calls served",
        r.to_local,
        r.statuses.len()
    );
}

/// Case 3 of the store-health rules: `OOM command not allowed when used
/// memory > 'maxmemory'` under `noeviction` (Redis's default policy; Redis
/// docs, "Key eviction": "New values aren't saved when memory limit is
/// reached ... an error is returned"). Before, the reconnect probe (`TIME`)
/// succeeded and the gateway flipped back every ~100 ms: 429 for all.
#[tokio::test]
async fn a_redis_out_of_memory_is_down_until_it_takes_writes_again() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let r = through_refused_writes(
        &redis,
        async |redis| {
            // 2 MiB of data, then a limit 1 MiB under what Redis uses: full
            // whatever its own buffers and the keys expiring meanwhile do
            // (a Redis just at its limit takes some writes and refuses
            // others; the gateway's hysteresis then keeps using it).
            redis
                .cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
                .await;
            let mut conn = redis.connection().await;
            let mut pipe = redis::pipe();
            for i in 0..2048 {
                pipe.cmd("SET")
                    .arg(format!("filler:{i}"))
                    .arg(vec![b'x'; 1024])
                    .ignore();
            }
            let _: () = pipe.query_async(&mut conn).await.unwrap();
            let used: u64 = redis.info("memory", "used_memory").await.parse().unwrap();
            let max = (used - 1024 * 1024).to_string();
            redis.cmd(&["CONFIG", "SET", "maxmemory", &max]).await;
            assert_set_refused(&mut conn, "OOM").await;
        },
        async |redis| {
            redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]).await;
        },
    )
    .await;
    check_refusal(&r, "OOM");
}

/// src/redis_link/mod.rs, "Store health": while the link is up, "a call
/// that failed is refused (429) or, when it timed out and its caller's
/// wait allows, tried again". An error reply (here `READONLY`) is no
/// timeout: the call is refused at once, after one Redis call, however
/// much of `max_wait_ms` is left; tried again, it would hammer the failing
/// Redis until the link went down (hundreds of calls in half a second).
#[tokio::test]
async fn a_call_redis_refuses_is_refused_at_once_not_tried_again() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let other = RedisServer::start();
    let (_sim, sim_server) = start_sim().await;
    let extra = format!(
        "[rate_limit]\nmax_wait_ms = 5000\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let gw = start_gateway(&config_text(&[sim_server.url()], "", &extra)).await;
    let url = format!("{}{QUERY}", gw.url());
    assert_eq!(post_form(&url, "groupIds=first").await.status, 200);
    let port = other.port.to_string();
    redis.cmd(&["REPLICAOF", "127.0.0.1", &port]).await;
    assert_set_refused(&mut redis.connection().await, "READONLY").await;
    let a = post_form(&url, "groupIds=refused").await;
    assert_eq!(a.status, 429, "{}", a.text());
    // The call's one error, and the link's probes since (one per 100 ms).
    let m = metrics(&gw).await;
    let errors = sample(
        &m,
        "entrust_gateway_quota_store_errors_total",
        &[("kind", "reply")],
    );
    assert!(errors.is_some_and(|n| (1.0..=5.0).contains(&n)), "{m}");
}

/// `READONLY You can't write against a read only replica`: what a
/// managed Redis answers while a replica is promoted, or an old master
/// demoted (Redis docs, "Replication": replicas are read-only by default).
/// Forced here with `REPLICAOF`.
#[tokio::test]
async fn a_read_only_replica_is_down_until_it_is_a_master_again() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let other = RedisServer::start();
    let r = through_refused_writes(
        &redis,
        async |redis| {
            let port = other.port.to_string();
            redis.cmd(&["REPLICAOF", "127.0.0.1", &port]).await;
            assert_set_refused(&mut redis.connection().await, "READONLY").await;
        },
        async |redis| {
            redis.cmd(&["REPLICAOF", "NO", "ONE"]).await;
        },
    )
    .await;
    check_refusal(&r, "READONLY");
}

/// Case 4: a Redis whose `maxmemory-policy` can evict keys (`allkeys-lru`
/// here; Redis docs, "Key eviction") would drop idempotency records
/// silently, and a retry on another gateway would be sent again. The
/// gateway reads the policy at connection, keeps the records in each
/// gateway instead, logs it and says so in /readyz and its metrics;
/// `dedup.allow_evicting_store = true` shares them anyway. This Redis also
/// refuses `CONFIG` (renamed away, as managed offerings do): the policy is
/// read from `INFO memory`, and persistence, whose RDB schedule only
/// `CONFIG GET save` tells, is "unknown".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_can_evict_keeps_the_records_in_each_gateway() {
    let redis = RedisServer::start_with(&[
        "--maxmemory",
        "8mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--rename-command",
        "CONFIG",
        "",
    ]);
    let (sim, sim_server) = start_sim().await;
    let extra = format!("[redis]\nurl = \"{}\"\n", redis.url());
    let text = config_text(&[sim_server.url()], "", &extra);
    let a = start_gateway(&text).await;
    let allowed = start_gateway(&format!("{text}\n[dedup]\nallow_evicting_store = true\n")).await;
    let body = "groupId=ev1&name=n&owner=o";
    let headers = [FORM, (IDEMPOTENCY_KEY, "evict-1")];
    let create = format!("{}{CREATE}", a.url());
    let first = send(http::Method::POST, &create, &headers, body).await;
    assert_eq!(first.json()["code"], 200, "{}", first.text());
    let ready = get(&format!("{}/readyz", a.url())).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["records"], "local", "{}", ready.text());
    assert_eq!(ready.json()["store"], "up", "{}", ready.text());
    assert_eq!(ready.json()["quota"], "shared", "{}", ready.text());
    let m = metrics(&a).await;
    let info = sample(
        &m,
        "entrust_gateway_quota_store_info",
        &[
            ("maxmemory_policy", "allkeys-lru"),
            ("persistence", "unknown"),
        ],
    );
    assert_eq!(info, Some(1.0), "{m}");
    assert_eq!(
        sample(&m, "entrust_gateway_dedup_records_shared", &[]),
        Some(0.0),
        "{m}"
    );
    let mut conn = redis.connection().await;
    let records: Vec<String> = redis::cmd("KEYS")
        .arg("entrust-gateway:test-app-key:idem:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        records.is_empty(),
        "no record in an evicting Redis: {records:?}"
    );
    // Filler keys past maxmemory: Redis evicts; the record was never there.
    let filler = vec![b'x'; 64 * 1024];
    for i in 0..256 {
        let _: () = redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg(&filler)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let evicted: u64 = redis.info("stats", "evicted_keys").await.parse().unwrap();
    assert!(evicted > 0, "Redis evicted nothing");
    replayed(&send(http::Method::POST, &create, &headers, body).await);
    // With dedup.allow_evicting_store = true the records are shared.
    let b = send(
        http::Method::POST,
        &format!("{}{CREATE}", allowed.url()),
        &[FORM, (IDEMPOTENCY_KEY, "evict-2")],
        "groupId=ev2&name=n&owner=o",
    )
    .await;
    assert_eq!(b.json()["code"], 200, "{}", b.text());
    let ready = get(&format!("{}/readyz", allowed.url())).await;
    assert_eq!(ready.json()["records"], "shared", "{}", ready.text());
    let records: Vec<String> = redis::cmd("KEYS")
        .arg("entrust-gateway:test-app-key:idem:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let receipts = sim.requests().iter().filter(|r| r.path == CREATE).count();
    assert_eq!(receipts, 2, "one vendor receipt per key");
}

/// A plain `SET` on `conn` is refused with the Redis error `code`: the
/// state the test forced is the one production meets.
async fn assert_set_refused(conn: &mut redis::aio::MultiplexedConnection, code: &str) {
    let set: redis::RedisResult<()> = redis::cmd("SET")
        .arg("probe")
        .arg(1)
        .query_async(conn)
        .await;
    assert_eq!(
        set.map_err(|e| e.code().map(str::to_string)),
        Err(Some(code.to_string()))
    );
}

/// An answer the gateway replayed from its records, not a new vendor call.
fn replayed(a: &Answer) {
    assert_eq!(a.headers["x-gateway-replayed"], "true", "{}", a.text());
}
