//! Redis as production runs it: a Sentinel set and a Cluster, each losing
//! its master under load (the master process killed: an unplanned
//! failover). The gateways find the new master through the `redis`
//! crate's own Sentinel and Cluster clients (`[redis] sentinels`,
//! `cluster_urls`). What must hold (the fleet quota's module doc,
//! src/quota/fleet.rs): no write sent twice, no 5xx (429 from the fallback
//! while it lasts), never more than the vendor's 100/s on a path, and the
//! switches visible in the metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::Method;

use super::quota::{Fleet, KEY as QUOTA_KEY, check_outcomes, offer, wait_quota_within};
use crate::common::IDEMPOTENCY_KEY as KEY;
use crate::common::redis_server::{Cluster, SentinelSet};
use crate::common::*;

/// The gateways' config besides `[redis]`: a short max_wait_ms, so that
/// the fallback starts soon (max_wait_ms + 1 s after the last shared slot).
const LIMITS: &str = "[rate_limit]\nmax_wait_ms = 300\n";

/// Keyed writes, one key at a time per writer, each retried (on the next
/// gateway, as a load balancer would) on 409 and 429 until it succeeds.
/// Returns each key's final answer.
async fn writer(
    urls: Vec<String>,
    name: &'static str,
    stop: Arc<AtomicBool>,
) -> Vec<(String, u16, serde_json::Value)> {
    let mut done = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        let key = format!("{name}-{i}");
        let body = format!("groupId={key}&name=n&owner=o");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut attempt = 0;
        let (status, code) = loop {
            let url = &urls[(i + attempt) % urls.len()];
            let a = send(Method::POST, url, &[FORM, (KEY, &key)], body.clone()).await;
            let code = a.json()["code"].clone();
            if !matches!(a.status.as_u16(), 409 | 429) || Instant::now() > deadline {
                break (a.status.as_u16(), code);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        done.push((key, status, code));
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done
}

/// Runs reads at 1.5× the vendor's limit and two keyed writers through
/// `fleet`, calls `fail` once the shared quota serves, waits for every
/// gateway to be back on the shared quota, and checks what must hold.
async fn through_a_failover(fleet: &Fleet, fail: impl FnOnce()) {
    let stop = Arc::new(AtomicBool::new(false));
    let reads = tokio::spawn(offer(fleet.urls(), 150, 100_000, stop.clone()));
    let creates: Vec<String> = fleet
        .gws
        .iter()
        .map(|g| format!("{}{CREATE}", g.url()))
        .collect();
    let writers: Vec<_> = ["wa", "wb"]
        .into_iter()
        .map(|name| tokio::spawn(writer(creates.clone(), name, stop.clone())))
        .collect();
    within("the shared quota serves", async {
        while fleet.sim.requests().len() < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let failed = Instant::now();
    fail();
    // The gateways find the master gone (within half a second of calls
    // failing), and the new one once it takes writes.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let m = metrics(&fleet.gws[0]).await;
            if sample(&m, "entrust_gateway_quota_store_up", &[]) == Some(0.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the gateways see the master gone");
    wait_quota_within(&fleet.gws, "shared", Duration::from_secs(30)).await;
    let back = failed.elapsed();
    // Two more seconds on the new master.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let (_, outcomes) = reads.await.expect("reads");
    check_outcomes(&outcomes);
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.expect("a writer"));
    }
    // Every keyed write succeeded, and reached the vendor exactly once.
    let mut receipts: HashMap<String, usize> = HashMap::new();
    for r in fleet.sim.requests().iter().filter(|r| r.path == CREATE) {
        let body = String::from_utf8_lossy(&r.body);
        let id = body
            .split('&')
            .find_map(|f| f.strip_prefix("groupId="))
            .unwrap_or_default()
            .to_string();
        *receipts.entry(id).or_default() += 1;
    }
    for (key, status, code) in &written {
        assert_eq!((*status, code), (200, &serde_json::json!(200)), "{key}");
        assert_eq!(receipts.get(key), Some(&1), "{key}: vendor receipts");
    }
    assert_eq!(receipts.len(), written.len(), "{receipts:?}");
    // The vendor never saw more than its limit on a path, nor refused.
    let reqs = fleet.sim.requests();
    assert!(
        reqs.iter().all(|r| r.code == 200),
        "the vendor rate-limited"
    );
    for path in [QUERY, CREATE] {
        let mut times: Vec<Instant> = reqs
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.at)
            .collect();
        let max = max_in_any_second(&mut times);
        assert!(max <= 100, "{max} in one second on {path}");
    }
    // What an operator sees: calls that failed, refusals while the
    // fallback was not yet serving, and the store up again.
    let (mut errors, mut refused) = (0.0, 0.0);
    for g in &fleet.gws {
        let m = metrics(g).await;
        assert_eq!(sample(&m, "entrust_gateway_quota_store_up", &[]), Some(1.0));
        errors += m
            .lines()
            .filter(|l| l.starts_with("entrust_gateway_quota_store_errors_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        refused += sample(
            &m,
            "entrust_gateway_limiter_rejections_total",
            &[("path", QUERY), ("reason", "quota_store_down")],
        )
        .unwrap_or(0.0);
    }
    assert!(
        errors > 0.0 && refused > 0.0,
        "{errors} errors, {refused} refusals"
    );
    let ok = outcomes.iter().filter(|o| o.status == 200).count();
    eprintln!(
        "failover: shared again after {back:?}; reads {ok} ok of {}; {} keyed writes, each sent once; {errors} store errors",
        outcomes.len(),
        written.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_set_losing_its_master_under_load() {
    let _serial = heavy().await;
    let mut set = SentinelSet::start(2);
    let fleet = Fleet::start_with(4, &format!("{LIMITS}{}", set.config()));
    let old = set.master_port();
    through_a_failover(&fleet, || set.master().kill()).await;
    assert_ne!(set.master_port(), old, "the sentinels promoted a replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_losing_a_master_under_load() {
    let _serial = heavy().await;
    let mut cluster = Cluster::start(3);
    let fleet = Fleet::start_with(4, &format!("{LIMITS}{}", cluster.config()));
    let victim = cluster.master_of(QUOTA_KEY);
    through_a_failover(&fleet, || cluster.nodes[victim].kill()).await;
    assert_ne!(cluster.master_of(QUOTA_KEY), victim, "a replica took over");
}
