//! The fleet quota: several gateways with one app key share the vendor's
//! per-path quota through a real redis-server, and keep working when Redis
//! goes away. The limit they must hold is the vendor's: 100 requests per
//! second per API per app key (vendor doc
//! /work/shared/seeds/entrust-group-profile-query.txt line 17, "Rate Limit:
//! 100 requests per second"; `entrust::limit::RATE_PER_SECOND`), which the
//! simulator enforces with a sliding one-second window (src/sim/rate.rs).
//! These tests run one at a time (they measure load).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::redis_server::RedisServer;
use crate::common::*;
use entrust_gateway::server::ServerHandle;
use entrust_gateway::sim::{Fault, FaultRule, SimServer, Simulator};

pub(super) const KEY: &str = "entrust-gateway:test-app-key:quota:/entrust/group/profile/query.json";

/// A simulator and `n` gateways sharing one Redis, on runtimes and a thread
/// of their own (as separate processes would be), so that the load
/// generator can't delay their timers or the simulator's arrival timestamps.
pub(super) struct Fleet {
    pub(super) gws: Vec<ServerHandle>,
    pub(super) sim: Simulator,
    _sim_server: SimServer,
}

impl Fleet {
    pub(super) fn start(n: usize, redis_url: &str, extra: &str) -> Serving<Fleet> {
        Fleet::start_with(n, &format!("{extra}\n[redis]\nurl = \"{redis_url}\"\n"))
    }

    /// `extra` holds the `[redis]` section (Sentinel, Cluster).
    pub(super) fn start_with(n: usize, extra: &str) -> Serving<Fleet> {
        let extra = extra.to_string();
        on_own_runtimes(move |rt_sim, rt| {
            // The vendor stand-in on its own thread: its arrival timestamps
            // are the measurement.
            let (sim, sim_server) = rt_sim.block_on(start_sim());
            let text = config_text(&[sim_server.url()], "", &extra);
            let gws = rt.block_on(async {
                let mut gws = Vec::new();
                for _ in 0..n {
                    gws.push(start_gateway(&text).await);
                }
                gws
            });
            Fleet {
                gws,
                sim,
                _sim_server: sim_server,
            }
        })
    }

    pub(super) fn urls(&self) -> Vec<String> {
        self.gws
            .iter()
            .map(|g| format!("{}{QUERY}", g.url()))
            .collect()
    }

    pub(super) fn arrivals(&self) -> Vec<Instant> {
        self.sim.requests().iter().map(|r| r.at).collect()
    }

    pub(super) async fn wait_quota(&self, quota: &str) {
        wait_quota(&self.gws, quota).await
    }
}

/// Waits (bounded) until every instance's /readyz says `"quota": quota`,
/// with status 200: a degraded quota never makes a pod unready.
pub(super) async fn wait_quota(gws: &[ServerHandle], quota: &str) {
    wait_quota_within(gws, quota, Duration::from_secs(10)).await
}

/// The same, bounded by `bound`.
pub(super) async fn wait_quota_within(gws: &[ServerHandle], quota: &str, bound: Duration) {
    let all = async {
        for g in gws {
            loop {
                let a = send(http::Method::GET, &format!("{}/readyz", g.url()), &[], "").await;
                assert_eq!(a.status, 200, "{}", a.text());
                if a.json()["quota"] == quota {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    tokio::time::timeout(bound, all)
        .await
        .unwrap_or_else(|_| panic!("the fleet did not say quota {quota:?} in time"));
}

/// What one caller got: which instance, the status, the vendor-dialect code.
pub(super) struct Outcome {
    pub(super) instance: usize,
    pub(super) status: u16,
    pub(super) code: serde_json::Value,
    pub(super) retry_after: Option<u64>,
}

/// Offers `per_second` requests per second to QUERY, round robin over
/// `urls`, from one task each, until `stop` is set (or `limit` requests).
pub(super) async fn offer(
    urls: Vec<String>,
    per_second: u32,
    limit: usize,
    stop: Arc<AtomicBool>,
) -> (f64, Vec<Outcome>) {
    let started = Instant::now();
    let client = client();
    let batch = (per_second / 100).max(1) as usize;
    let mut tick =
        tokio::time::interval(Duration::from_millis(10) * batch as u32 * 100 / per_second);
    let mut tasks = Vec::new();
    let mut i = 0;
    while i < limit && !stop.load(Ordering::Acquire) {
        tick.tick().await;
        for _ in 0..batch {
            let instance = i % urls.len();
            let (url, client) = (urls[instance].clone(), client.clone());
            tasks.push(tokio::spawn(async move {
                let a = post_form_with(&client, &url, format!("groupIds=g{i}")).await;
                Outcome {
                    instance,
                    status: a.status.as_u16(),
                    code: a.json()["code"].clone(),
                    retry_after: a
                        .headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok()),
                }
            }));
            i += 1;
        }
    }
    let offered = i as f64 / started.elapsed().as_secs_f64();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("caller task"));
    }
    (offered, out)
}

/// Every answer is a success or the gateway's own 429 in the vendor's
/// dialect (code 1008 with Retry-After): never a 5xx.
pub(super) fn check_outcomes(outcomes: &[Outcome]) {
    for o in outcomes {
        match o.status {
            200 => assert_eq!(o.code, 200),
            429 => {
                assert_eq!(o.code, 1008, "429 in the vendor's dialect");
                assert!(
                    o.retry_after.is_some_and(|s| s >= 1),
                    "429 without Retry-After"
                );
            }
            s => panic!("unexpected status {s} (code {})", o.code),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_instances_under_ten_times_overload_hold_the_vendor_limit_together() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let fleet = Fleet::start(8, &redis.url(), "");
    // 1000 requests/s (10x the vendor's limit) for 3 s, spread over 8 gateways
    // that each hold their own 100/s without Redis.
    let (offered, outcomes) =
        offer(fleet.urls(), 1000, 3000, Arc::new(AtomicBool::new(false))).await;
    assert!(
        offered > 500.0,
        "the load generator fell behind: {offered:.0}/s offered"
    );
    check_outcomes(&outcomes);
    let reqs = fleet.sim.requests();
    let mut times = fleet.arrivals();
    let max = max_in_any_second(&mut times);
    assert!(
        reqs.iter().all(|r| r.code == 200),
        "the vendor itself rate-limited (max/s by arrival {max})"
    );
    let ok = outcomes.iter().filter(|o| o.status == 200).count();
    assert_eq!(reqs.len(), ok, "every vendor success went back to a caller");
    assert!(
        max <= 100,
        "{max} requests reached the vendor within one second"
    );
    let (utilisation, span) = utilisation(&times);
    assert!(
        utilisation >= 0.9,
        "utilisation {utilisation:.3} over {span:.2} s"
    );
    // First come, first served across the fleet: every instance gets a share.
    let per_instance: Vec<usize> = (0..8)
        .map(|i| {
            outcomes
                .iter()
                .filter(|o| o.instance == i && o.status == 200)
                .count()
        })
        .collect();
    let fair = ok / 8;
    assert!(
        per_instance.iter().all(|&n| n * 3 >= fair),
        "an instance was starved: {per_instance:?}"
    );
    eprintln!(
        "fleet of 8: {offered:.0}/s offered; {ok} ok; max/s {max}; utilisation {utilisation:.3}; per instance {per_instance:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_to_the_local_quota_and_comes_back() {
    let _serial = heavy().await;
    let mut redis = RedisServer::start();
    // 4 instances; while Redis is down each may send 10/s (4 x 9.6/s at the
    // vendor), far from the shared 96/s, so the two are told apart.
    let fleet = Fleet::start(
        4,
        &redis.url(),
        "[rate_limit]\nmax_wait_ms = 300\nfallback_per_second = 10",
    );
    let stop = Arc::new(AtomicBool::new(false));
    // 1.5x the vendor's limit until told to stop (at most 20 s).
    let load = tokio::spawn(offer(fleet.urls(), 150, 3000, stop.clone()));
    let seen = |n: usize| {
        let sim = fleet.sim.clone();
        async move {
            while sim.requests().len() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    within("shared quota serves", seen(50)).await;
    redis.kill();
    let killed = Instant::now();
    fleet.wait_quota("local").await;
    // The fallback serves once the slots reserved before the switch are
    // used: max_wait_ms + 1 s after the switch (src/quota/fleet.rs).
    tokio::time::sleep_until((killed + Duration::from_millis(1300)).into()).await;
    let before_fallback = fleet.sim.requests().len();
    within("fallback serves", seen(before_fallback + 5)).await;
    // Measure the fallback over more than a second of overload.
    let fallback_from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let m = metrics(&fleet.gws[0]).await;
    let up = sample(&m, "entrust_gateway_quota_store_up", &[]);
    assert_eq!(up, Some(0.0), "{m}");
    assert!(
        m.contains("entrust_gateway_quota_store_errors_total{kind="),
        "{m}"
    );
    redis.restart();
    let restarted = Instant::now();
    fleet.wait_quota("shared").await;
    // The shared quota resumes: more than the fallback could give in one second.
    let resumed = async {
        loop {
            let mut after: Vec<Instant> = fleet
                .arrivals()
                .into_iter()
                .filter(|t| *t > restarted)
                .collect();
            if max_in_any_second(&mut after) >= 80 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within("shared quota resumes", resumed).await;
    // It is held in the restarted Redis, under the documented key.
    let mut conn = redis.connection().await;
    let exists: u32 = redis::cmd("EXISTS")
        .arg(KEY)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 1, "no {KEY} in Redis");
    stop.store(true, Ordering::Release);
    let (_, outcomes) = load.await.expect("load");
    check_outcomes(&outcomes);
    assert!(
        fleet.sim.requests().iter().all(|r| r.code == 200),
        "the vendor itself rate-limited (a switch let the two quotas overlap)"
    );
    let mut times = fleet.arrivals();
    let max = max_in_any_second(&mut times);
    assert!(
        max <= 100,
        "{max} requests reached the vendor within one second"
    );
    let mut fallback: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| *t >= fallback_from && *t < restarted)
        .collect();
    let fallback_max = max_in_any_second(&mut fallback);
    assert!(
        (10..=4 * 11).contains(&fallback_max),
        "{fallback_max} in one second on the fallback (4 instances x 10/s)"
    );
    eprintln!(
        "redis down: {} answers; max/s {max}; on the fallback max/s {fallback_max}",
        outcomes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_is_first_come_first_served_across_the_fleet() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let fleet = Fleet::start(
        2,
        &redis.url(),
        "[rate_limit]\nper_second = 20\nmax_wait_ms = 60000",
    );
    let urls = fleet.urls();
    let mut conn = redis.connection().await;
    // The next free slot in Redis: it moves on with every reservation.
    let mut tat = async || -> Option<String> {
        redis::cmd("HGET")
            .arg(KEY)
            .arg("tat")
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(post_form(&urls[0], "groupIds=warmup").await.status, 200);
    // Twelve callers, alternating between the two gateways, each sent once
    // the one before holds its slot in Redis.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let before = tat().await;
        let url = urls[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            post_form(&url, &format!("groupIds=fifo{i}")).await
        }));
        within("the caller reserves its slot", async {
            while tat().await == before {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
    }
    for t in tasks {
        assert_eq!(within("a caller is served", t).await.unwrap().status, 200);
    }
    let order = bodies_starting(&fleet.sim, "groupIds=fifo");
    let expected: Vec<String> = (0..12).map(|i| format!("groupIds=fifo{i}")).collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_1008_holds_the_path_back_fleet_wide() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let fleet = Fleet::start(2, &redis.url(), "[rate_limit]\nupstream_backoff_ms = 60000");
    fleet.sim.inject(FaultRule {
        path: Some(QUERY.into()),
        fault: Fault::Code(1008, 429),
        times: Some(1),
    });
    let urls = fleet.urls();
    let a = post_form(&urls[0], "groupIds=a").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.json()["code"], 1008);
    // The hold is written in the background: wait for it in Redis.
    redis.hold_written(KEY).await;
    // The other instance holds the path back too, without calling the vendor.
    let b = post_form(&urls[1], "groupIds=b").await;
    assert_eq!(b.status, 429);
    assert_eq!(b.json()["code"], 1008);
    let after: u64 = b.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // docs/fleet.md, "The shared quota": held "for the whole fleet for upstream_backoff_ms".
    assert!(
        (51..=60).contains(&after),
        "Retry-After {after} s: the 60 s hold"
    );
    assert_eq!(fleet.sim.requests().len(), 1);
}

/// `n` callers at once, each posting `groupIds=<name><i>` to `url`.
fn spawn_posts(url: &str, name: &str, n: usize) -> Vec<tokio::task::JoinHandle<Answer>> {
    (0..n)
        .map(|i| {
            let (url, form) = (url.to_string(), format!("groupIds={name}{i}"));
            tokio::spawn(async move { post_form(&url, &form).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_fleet_queue_is_refused_with_a_retry_after_counting_the_callers_ahead() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    let fleet = Fleet::start(
        1,
        &redis.url(),
        "[rate_limit]\nper_second = 1\nmax_wait_ms = 60000\nmax_queue = 2",
    );
    let url = fleet.urls()[0].clone();
    assert_eq!(post_form(&url, "groupIds=a").await.status, 200);
    // Two callers wait for their slots (about 1 s and 2 s away).
    let waiting = spawn_posts(&url, "w", 2);
    let limiter = fleet.gws[0].app.vendor().quota();
    until("two callers wait", || limiter.queued(QUERY) >= 2).await;
    let a = post_form(&url, "groupIds=third").await;
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.json()["code"], 1008);
    // docs/quota.md, "Waiting": the queue is full, 429 with Retry-After at once. Its
    // value is the local quota's estimate (src/quota/mod.rs, "Each waiter ahead
    // of our tag takes one slot; ours comes within one more"): 3 slots of 1/0.96 s
    // (per_second 1 less the 4% headroom) + 1 ms (burst 1) = 3.13 s, so 4.
    assert_eq!(a.headers["retry-after"], "4");
    let m = metrics(&fleet.gws[0]).await;
    assert!(m.contains("reason=\"queue_full\""), "{m}");
    for w in waiting {
        assert_eq!(within("a waiter is served", w).await.unwrap().status, 200);
    }
}

/// Neither switch lets the two quotas share a window (src/quota/fleet.rs
/// module doc, docs/fleet.md, "When Redis stalls, refuses writes or goes away"): the local
/// quota starts max_wait_ms + 1 s after the last shared slot's reply, and
/// after Redis comes back shared slots start only `RESUME_SPREAD` (1 s) +
/// 1 s + 6 x timeout_ms (100 ms: a connection and three probes) +
/// max_wait_ms later (429 with Retry-After meanwhile). One log line for
/// each switch says which way it went. One gateway on this test's own
/// thread, so that its log is this thread's.
#[tokio::test]
async fn switching_to_the_fallback_and_back_waits_for_the_other_quotas_permits() {
    let _serial = heavy().await;
    let logs = capture_logs();
    let mut redis = RedisServer::start();
    let (sim, sim_server) = start_sim().await;
    let extra = format!(
        "[rate_limit]\nmax_wait_ms = 2000\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let gw = start_gateway(&config_text(&[sim_server.url()], "", &extra)).await;
    let url = format!("{}{QUERY}", gw.url());
    assert_eq!(post_form(&url, "groupIds=a").await.status, 200);
    redis.kill();
    let killed = std::time::Instant::now();
    // The first call after the kill fails: not yet an outage (one failure
    // is not; src/redis_link/mod.rs, "Store health"), so 429 with Retry-After
    // 1 s, and probing starts.
    let b = post_form(&url, "groupIds=b").await;
    assert_eq!(b.status, 429, "{}", b.text());
    assert_eq!(b.headers["retry-after"], "1");
    let gws = [gw];
    wait_quota(&gws, "local").await;
    // Down within half a second of failing (plus a margin for a busy
    // machine); the local quota starts max_wait_ms + 1 s after a's slot,
    // 429 until then: a Retry-After of 3 s less the time since, rounded up.
    assert!(killed.elapsed() < Duration::from_millis(2000));
    let c = post_form(&url, "groupIds=c").await;
    assert_eq!(c.status, 429, "{}", c.text());
    let after = c.headers["retry-after"].to_str().unwrap();
    assert!(after == "3" || after == "2", "Retry-After {after}");
    redis.restart();
    wait_quota(&gws, "shared").await;
    let served = sim.requests().len();
    let a = post_form(&url, "groupIds=c").await;
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.json()["code"], 1008);
    // The first shared slot is 4.6 s after Redis was found again, less the
    // moments since (a few ms; up to 0.6 s on a loaded machine): 5 s
    // rounded up, or 4.
    let after = a.headers["retry-after"].to_str().unwrap();
    assert!(after == "5" || after == "4", "Retry-After {after}");
    assert_eq!(sim.requests().len(), served, "the vendor was not called");
    let log = logs.text();
    let down = log
        .find("Redis is unreachable")
        .unwrap_or_else(|| panic!("the switch is logged: {log}"));
    let up = log
        .find("Redis answers again")
        .unwrap_or_else(|| panic!("the switch back is logged: {log}"));
    assert!(down < up, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_bursts_two_fewer_than_the_local_quota() {
    let _serial = heavy().await;
    let redis = RedisServer::start();
    // 13/s less 49% headroom: a period of 1/6.63 s (151 ms) and a local burst
    // of 6 - 1 = 5 (src/quota/mod.rs, `Pacing::new`); the fleet reserves with a
    // burst 2 smaller, 3 (docs/fleet.md, "The shared quota"). With max_wait_ms = 0 a
    // caller either goes at once or is refused.
    let fleet = Fleet::start(
        1,
        &redis.url(),
        "[rate_limit]\nper_second = 13\nheadroom_percent = 49\nmax_wait_ms = 0",
    );
    let url = fleet.urls()[0].clone();
    let calls = spawn_posts(&url, "b", 4);
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(within("a burst call", c).await.unwrap().status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(fleet.sim.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_mode_answers_429_while_redis_is_down() {
    let _serial = heavy().await;
    let mut redis = RedisServer::start();
    let fleet = Fleet::start(1, &redis.url(), "[rate_limit]\non_redis_error = \"reject\"");
    let url = &fleet.urls()[0];
    assert_eq!(post_form(url, "groupIds=a").await.status, 200);
    redis.kill();
    let a = post_form(url, "groupIds=b").await;
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.json()["code"], 1008);
    assert!(a.headers.contains_key("retry-after"));
    fleet.wait_quota("reject").await;
    assert_eq!(fleet.sim.requests().len(), 1);
    let m = metrics(&fleet.gws[0]).await;
    assert!(m.contains("reason=\"quota_store_down\""), "{m}");
}
