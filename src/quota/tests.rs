//! Unit tests of the local quota and the shares between callers.

use super::*;
use crate::entrust::path::{GROUP_CREATE, GROUP_JOIN};

/// The metric's `reason` labels are the README's (its metrics table;
/// deploy/alerts.yaml matches on them).
#[test]
fn refusal_labels_are_the_readme_s() {
    let labels = [
        Refusal::WaitTooLong,
        Refusal::QueueFull,
        Refusal::UpstreamBackoff,
        Refusal::QuotaStoreDown,
    ]
    .map(Refusal::as_str);
    assert_eq!(
        labels,
        [
            "wait_too_long",
            "queue_full",
            "upstream_backoff",
            "quota_store_down"
        ]
    );
}

fn limiter(per_second: u32, max_wait_ms: u64, max_queue: usize) -> Quota {
    let cfg = RateLimitConfig {
        per_second,
        max_wait_ms,
        max_queue,
        ..RateLimitConfig::default()
    };
    Quota::new(cfg, &Routes::new(&[]).unwrap())
}

/// Returns once a waiter is queued on `a()`'s path (a signal, not a sleep).
async fn until_queued(l: &Quota) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while l.queued(GROUP_CREATE) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a waiter queues");
}

fn a() -> EntrustPath<'static> {
    EntrustPath::documented(GROUP_CREATE).unwrap()
}

fn b() -> EntrustPath<'static> {
    EntrustPath::documented(GROUP_JOIN).unwrap()
}

/// A v4 path's quota is its documented rate (§5 of the v4 reference),
/// a lowered `per_second` or a per-path override still applying.
#[test]
fn v4_paths_are_held_to_their_documented_rate() {
    let routes = Routes::new(&[]).unwrap().with_v4(&[]).unwrap();
    let create = routes.v4(crate::v4::path::CREATE).unwrap();
    let join = routes.v4(crate::v4::path::JOIN).unwrap();
    let mut cfg = RateLimitConfig {
        per_second: 500,
        ..RateLimitConfig::default()
    };
    assert_eq!(limit_for(&cfg, create).per_second, 100);
    cfg.per_second = 10;
    assert_eq!(limit_for(&cfg, create).per_second, 10);
    cfg.paths.insert(
        crate::v4::path::JOIN.into(),
        crate::config::PathLimit {
            per_second: Some(300),
            ..Default::default()
        },
    );
    assert_eq!(limit_for(&cfg, join).per_second, 300);
    let l = Quota::new(RateLimitConfig::default(), &routes);
    assert_eq!(l.paths.len(), crate::allowlist::KNOWN);
    assert_eq!(l.paths[create.index()].0, crate::v4::path::CREATE);
}

#[test]
fn every_route_has_its_own_quota_from_the_start() {
    let l = limiter(100, 0, 10);
    assert_eq!(l.paths.len(), crate::allowlist::KNOWN);
}

#[tokio::test]
async fn burst_is_small_and_overflow_is_refused_at_once() {
    let l = limiter(100, 0, 10);
    let mut granted = 0;
    for _ in 0..10 {
        if l.acquire(a()).await.is_ok() {
            granted += 1;
        }
    }
    // headroom 4 of 100 → burst 3: three now, the rest would have to wait.
    assert_eq!(granted, 3);
    // A separate path has its own quota.
    assert!(l.acquire(b()).await.is_ok());
}

#[tokio::test]
async fn queue_bound_refuses_with_retry_after() {
    let l = Arc::new(limiter(1, 60_000, 1));
    l.acquire(a()).await.ok();
    let l2 = l.clone();
    let waiter = tokio::spawn(async move { l2.acquire(a()).await });
    until_queued(&l).await;
    let (why, err) = l.acquire(a()).await.unwrap_err();
    assert_eq!(why, Refusal::QueueFull);
    assert!(matches!(err, Error::RateLimited { retry_after, .. } if retry_after > Duration::ZERO));
    waiter.abort();
}

fn claimant(name: &str, weight: u32, cap: Option<u32>) -> Claimant {
    Claimant {
        name: name.into(),
        weight,
        max_per_second: cap,
    }
}

/// Flooders: `per` tasks for each claimant, each taking permits back to
/// back for `run`; the permits each claimant got.
async fn flood(l: Arc<Quota>, who: Vec<Claimant>, per: usize, run: Duration) -> Vec<usize> {
    let end = Instant::now() + run;
    let mut tasks = Vec::new();
    for c in &who {
        for _ in 0..per {
            let (l, c) = (l.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                let mut got = 0;
                while Instant::now() < end {
                    if l.acquire_as(a(), Some(&c)).await.is_ok() && Instant::now() <= end {
                        got += 1;
                    }
                }
                got
            }));
        }
    }
    let mut out = vec![0; who.len()];
    for (i, t) in tasks.into_iter().enumerate() {
        out[i / per] += t.await.unwrap();
    }
    out
}

/// Two weight-1 callers both flooding get about half each.
#[tokio::test]
async fn two_equal_callers_flooding_share_evenly() {
    let l = Arc::new(limiter(100, 500, 1000));
    let got = flood(
        l,
        vec![claimant("a", 1, None), claimant("b", 1, None)],
        20,
        Duration::from_millis(1500),
    )
    .await;
    let share = got[0] as f64 / (got[0] + got[1]) as f64;
    assert!((0.4..=0.6).contains(&share), "{got:?}");
}

/// Weights 3 and 1: three quarters and one quarter.
#[tokio::test]
async fn weights_divide_the_quota() {
    let l = Arc::new(limiter(100, 500, 1000));
    let got = flood(
        l,
        vec![claimant("a", 3, None), claimant("b", 1, None)],
        20,
        Duration::from_millis(1500),
    )
    .await;
    let share = got[0] as f64 / (got[0] + got[1]) as f64;
    assert!((0.65..=0.85).contains(&share), "{got:?}");
}

/// A caller asking 10/s while another floods gets every one of them.
#[tokio::test]
async fn a_light_caller_is_served_beside_a_flood() {
    let l = Arc::new(limiter(100, 500, 1000));
    let flooding = tokio::spawn(flood(
        l.clone(),
        vec![claimant("flood", 1, None)],
        40,
        Duration::from_millis(1500),
    ));
    let light = claimant("light", 1, None);
    let mut refused = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..12 {
        ticker.tick().await;
        if l.acquire_as(a(), Some(&light)).await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 0);
    assert!(flooding.await.unwrap()[0] > 50);
}

/// A cap holds whatever is free.
#[tokio::test]
async fn a_cap_holds_alone() {
    let l = Arc::new(limiter(100, 500, 1000));
    let got = flood(
        l,
        vec![claimant("capped", 1, Some(10))],
        5,
        Duration::from_millis(1000),
    )
    .await;
    assert!((9..=12).contains(&got[0]), "{got:?}");
}

#[tokio::test]
async fn upstream_backoff_refuses_the_path() {
    let l = limiter(100, 2000, 10);
    l.upstream_limited(GROUP_CREATE);
    let (why, _) = l.acquire(a()).await.unwrap_err();
    assert_eq!(why, Refusal::UpstreamBackoff);
    assert!(l.acquire(b()).await.is_ok());
}

/// A weight is how many permits a caller gets for a weight-1 caller's one.
#[test]
fn a_tag_moves_by_the_inverse_of_the_weight() {
    use super::shares::{TAG_UNIT, step};
    assert_eq!(step(1), TAG_UNIT);
    assert_eq!(step(4), TAG_UNIT / 4);
    assert_eq!(step(1000), TAG_UNIT / 1000);
    // A weight of 0 never reaches here (the config refuses it); it counts as 1.
    assert_eq!(step(0), TAG_UNIT);
}

/// One waiter ahead means two slots to wait (its and ours): refused at
/// once when two slots are over `max_wait_ms`, with those two slots as the
/// hint, not after waiting.
#[tokio::test]
async fn the_wait_counts_the_waiters_ahead_and_the_own_slot() {
    // 1/s less the headroom: a slot of about 1.04 s, a burst of 1.
    let l = Arc::new(limiter(1, 1500, 100));
    let (c1, c2) = (claimant("one", 1, None), claimant("two", 1, None));
    l.acquire_as(a(), Some(&c1)).await.unwrap();
    let (l2, w) = (l.clone(), c1.clone());
    let waiter = tokio::spawn(async move { l2.acquire_as(a(), Some(&w)).await });
    until_queued(&l).await;
    let (why, err) = l.acquire_as(a(), Some(&c2)).await.unwrap_err();
    assert_eq!(why, Refusal::WaitTooLong);
    assert!(
        matches!(err, Error::RateLimited { retry_after, .. } if retry_after > Duration::from_millis(2000)),
        "{err:?}"
    );
    waiter.abort();
}

/// A waiter that callers with smaller tags keep passing is refused at its
/// `max_wait_ms`, never served later than that.
#[tokio::test]
async fn a_waiter_passed_by_smaller_tags_ends_at_its_max_wait() {
    let l = Arc::new(limiter(1, 1500, 100));
    let light = claimant("light", 1, None);
    let heavy = claimant("heavy", 4, None);
    l.acquire_as(a(), Some(&light)).await.unwrap();
    // The light caller's next waiter: one slot ahead of it at most, so it
    // waits (and polls the quota: it is first).
    let (l2, c) = (l.clone(), light.clone());
    let passed = tokio::spawn(async move { l2.acquire_as(a(), Some(&c)).await });
    until_queued(&l).await;
    // A weight-4 caller's tag is smaller: it takes the next slot.
    l.acquire_as(a(), Some(&heavy)).await.unwrap();
    let (why, _) = passed.await.unwrap().unwrap_err();
    assert_eq!(why, Refusal::WaitTooLong);
}
