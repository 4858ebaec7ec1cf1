//! Per-path quota: keeps all callers together under the vendor's limit.
//!
//! Each upstream API path has its own governor limiter (GCRA). The guarantee
//! is that no path is granted more than `per_second` permits in any sliding
//! one-second window. GCRA with rate `r` and burst `b` grants at most
//! `floor(r) + b` in any closed one-second interval, so the gateway paces at
//! `r = per_second * (100 - headroom_percent) / 100` with
//! `b = max(1, headroom - 1)`: for the vendor's 100/s that is 96/s with a
//! burst of 3, at most 99 in any second, leaving margin for jitter on the way
//! to the vendor, while still using 96% of the quota. The burst also absorbs
//! a waiter's late wake-up (up to two periods), which would otherwise push
//! every later slot back and waste quota.
//!
//! Waiting is fair and bounded: governor's own waiters are not FIFO, so
//! waiters queue on a tokio mutex (which is FIFO) and only the head of the
//! queue polls governor. A caller whose wait would exceed `max_wait`, or who
//! finds `max_queue` callers ahead, is refused at once with a retry hint,
//! never after waiting.
//!
//! With `[redis]` the quota is the fleet's, held in Redis ([`fleet`]), behind
//! the same [`Quota::acquire`].
//!
//! # Shares between callers
//!
//! When several callers of one app ([`Claimant`]s) wait on one path, the
//! permits go by weight: weighted fair queuing over the same bounded
//! wait. Each waiter gets a tag, `max(V, its caller's last tag) + 1/weight`
//! (`V`: the tag of the last permit given), and the next permit goes to the
//! smallest tag, so a caller flooding the path queues behind itself while
//! a caller asking less than its share is served within a slot or two. A
//! waiter is refused at once when the waiters ahead of its tag would take
//! it past `max_wait_ms`; a waiter pushed back past `max_wait_ms` by
//! callers with smaller tags arriving later (a caller over its share) is
//! refused then: no one waits longer than `max_wait_ms`. Without contention
//! a caller may use the whole quota; one caller alone is served in arrival
//! order, as before. A caller's `max_per_second` is a bound of its own on
//! each path, checked before it queues (per instance).
//!
//! Across a fleet (`[redis]`) the quota stays one per app and path, held in
//! Redis and given first come, first served. On each instance, callers of
//! the app take turns to reserve a slot there, one at a time, handed on in
//! tag order: each instance shares its own admission fairly, so shares hold
//! approximately across the fleet (exactly when every caller spreads its
//! calls evenly over the instances). The caps hold on each instance.

pub mod fleet;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota as Gcra, RateLimiter};

use crate::allowlist::{Api, EntrustPath, Routes};
use crate::config::{Config, ConfigError, EffectiveLimit, RateLimitConfig};
use crate::error::{Error, RateNote};
use crate::metrics::Metrics;
use crate::redis_link::Link;

/// Why a caller was refused (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WaitTooLong,
    QueueFull,
    UpstreamBackoff,
    /// `[redis]` is unreachable and the local fallback is not (yet) in use.
    QuotaStoreDown,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::WaitTooLong => "wait_too_long",
            Refusal::QueueFull => "queue_full",
            Refusal::UpstreamBackoff => "upstream_backoff",
            Refusal::QuotaStoreDown => "quota_store_down",
        }
    }
}

/// Who a permit is for, when several callers share an app: its weight
/// among the callers waiting on a path, and its own cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// The caller's name (bounded by the config).
    pub name: Arc<str>,
    /// 1..=1000.
    pub weight: u32,
    /// Its most permits a second on any one path.
    pub max_per_second: Option<u32>,
}

/// A tag's unit: a weight-1 waiter's tag is this far past its start.
const TAG_UNIT: u64 = 1_000_000;

/// The waiters of one path in tag order, and each caller's last tag.
#[derive(Default)]
struct Sched {
    /// The tag of the last permit given.
    vtime: u64,
    last: HashMap<Arc<str>, u64>,
    /// Waiters by (tag, arrival); the sender hands one its permit.
    waiting: BTreeMap<(u64, u64), tokio::sync::oneshot::Sender<()>>,
    seq: u64,
    /// Each capped caller's own limiter, with the cap it was made for.
    caps: HashMap<Arc<str>, (u32, DefaultDirectRateLimiter)>,
    /// With `[redis]`: a caller is reserving its fleet slot and waiting
    /// for it (the turn, handed on in tag order: [`Quota::fleet_turn`]).
    busy: bool,
}

/// With `[redis]`: the turn to reserve a fleet slot, handed to the
/// smallest tag waiting when dropped (the slot reached, refused, or the
/// caller gone).
struct Turn<'a> {
    sched: &'a Mutex<Sched>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        pass_turn(self.sched);
    }
}

/// Hands the turn to the smallest tag waiting, or frees it.
fn pass_turn(sched: &Mutex<Sched>) {
    let mut s = lock(sched);
    while let Some((k, tx)) = s.waiting.pop_first() {
        s.vtime = s.vtime.max(k.0);
        if tx.send(()).is_ok() {
            return;
        }
    }
    s.busy = false;
}

/// A fleet waiter's place: taken out of the order when it leaves; a turn
/// handed to it and never taken is handed on.
struct Ticket<'a> {
    entry: Entry<'a>,
    rx: tokio::sync::oneshot::Receiver<()>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.rx.try_recv().is_ok() {
            pass_turn(self.entry.sched);
        }
    }
}

/// Puts a waiter of `name` in the order, tagged `max(V, its last tag) +
/// step`; its key and how many wait ahead of it.
fn enqueue(
    s: &mut Sched,
    name: &Arc<str>,
    step: u64,
    tx: tokio::sync::oneshot::Sender<()>,
) -> ((u64, u64), usize) {
    let before = s.last.get(name).copied().unwrap_or(0);
    let tag = s.vtime.max(before) + step;
    s.seq += 1;
    let key = (tag, s.seq);
    let position = s.waiting.range(..key).count();
    s.waiting.insert(key, tx);
    s.last.insert(name.clone(), tag);
    (key, position)
}

/// Takes a waiter out of the order however its wait ends. A waiter that
/// leaves without its permit (refused, or its caller gone) gives its
/// caller's tag back one step: a caller refused for being over its share
/// would otherwise fall further behind with every refusal.
struct Entry<'a> {
    sched: &'a Mutex<Sched>,
    key: (u64, u64),
    name: Arc<str>,
    step: u64,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut s = lock(self.sched);
        if s.waiting.remove(&self.key).is_some() {
            let floor = s.vtime;
            if let Some(last) = s.last.get_mut(&self.name) {
                *last = last.saturating_sub(self.step).max(floor);
            }
        }
    }
}

fn lock(m: &Mutex<Sched>) -> std::sync::MutexGuard<'_, Sched> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Quota {
    cfg: RateLimitConfig,
    clock: DefaultClock,
    /// One quota per forwarded path, all made at start-up, in
    /// [`Routes::all`]'s order (an [`EntrustPath`]'s index): the paths are
    /// a closed set, so no caller can add one.
    paths: Vec<(String, PathQuota)>,
    /// The fleet's shared quota, with `[redis]`.
    fleet: Option<Box<fleet::Fleet>>,
}

/// How a path's quota is paced: one permit per `period`, `burst` at once
/// (see the module doc for why these values).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pacing {
    period: Duration,
    burst: u32,
}

impl Pacing {
    fn new(per_second: u32, headroom_percent: u32) -> Pacing {
        let n = f64::from(per_second);
        let headroom = n * f64::from(headroom_percent) / 100.0;
        let rate = (n - headroom).max(0.1);
        Pacing {
            period: Duration::from_secs_f64(1.0 / rate),
            burst: (headroom.floor() as u32).saturating_sub(1).max(1),
        }
    }
}

struct PathQuota {
    limit: EffectiveLimit,
    pacing: Pacing,
    /// What one caller ahead costs a waiter: the time between permits, plus, when the
    /// burst is 1 (nothing absorbs a late wake-up), the timer's granularity
    /// (tokio sleeps round up to the next millisecond), so that the upfront
    /// estimate never promises a wait the queue then overruns.
    slot: Duration,
    gov: DefaultDirectRateLimiter,
    /// Only the holder polls governor, and hands each permit to the
    /// smallest tag in `sched`.
    turn: tokio::sync::Mutex<()>,
    sched: Mutex<Sched>,
    /// Callers waiting (holding or queued on `turn`).
    queued: AtomicUsize,
    /// Set when the vendor itself answered 1008 on this path.
    paused_until: Mutex<Option<Instant>>,
    /// The refusals' details, made once: a refusal formats nothing.
    said: Said,
}

/// What a refusal on one path tells the caller.
struct Said {
    queue_full: RateNote,
    wait_too_long: RateNote,
    backoff: RateNote,
}

/// Decrements the queue count however the wait ends (granted, refused, or
/// the caller went away and the future was dropped).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PathQuota {
    fn new(path: &str, limit: EffectiveLimit, headroom_percent: u32) -> PathQuota {
        let pacing = Pacing::new(limit.per_second, headroom_percent);
        let Pacing { period, burst } = pacing;
        let quota = Gcra::with_period(period)
            .unwrap_or_else(|| Gcra::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let slot = if burst == 1 {
            period + Duration::from_millis(1)
        } else {
            period
        };
        let said = Said {
            queue_full: format!(
                "{path}: rate_limit.max_queue ({}) callers already waiting",
                limit.max_queue
            )
            .into(),
            wait_too_long: format!(
                "quota for {path} is {}/s; the wait would exceed {} ms",
                limit.per_second,
                limit.max_wait.as_millis()
            )
            .into(),
            backoff: format!("the vendor rate-limited {path}; retry shortly").into(),
        };
        PathQuota {
            limit,
            pacing,
            said,
            slot,
            gov: RateLimiter::direct(quota),
            turn: tokio::sync::Mutex::new(()),
            sched: Mutex::new(Sched::default()),
            queued: AtomicUsize::new(0),
            paused_until: Mutex::new(None),
        }
    }
}

impl Quota {
    pub fn new(cfg: RateLimitConfig, routes: &Routes) -> Quota {
        let paths = routes
            .all()
            .map(|p| {
                let q = PathQuota::new(p.as_str(), limit_for(&cfg, p), cfg.headroom_percent);
                (p.as_str().to_string(), q)
            })
            .collect();
        Quota {
            cfg,
            clock: DefaultClock::default(),
            paths,
            fleet: None,
        }
    }

    /// The local quota, or with `[redis]` the fleet's.
    pub fn from_config(
        config: &Config,
        routes: &Routes,
        metrics: &Metrics,
    ) -> Result<Quota, ConfigError> {
        let mut limiter = Quota::new(config.rate_limit.clone(), routes);
        if let (Some(redis), Some(topology)) = (&config.redis, config.redis_topology()?) {
            limiter.fleet = Some(Box::new(fleet::Fleet::new(
                redis,
                &topology,
                &config.upstream.app_key,
                &config.rate_limit,
                config.dedup.allow_evicting_store,
                routes,
                metrics,
            )?));
        }
        Ok(limiter)
    }

    /// Where the quota is held now, with `[redis]` (`None` without).
    pub fn store(&self) -> Option<fleet::Store> {
        self.fleet.as_deref().map(fleet::Store::from)
    }

    /// With `[redis]`: the fleet's Redis connection (the idempotency
    /// records share it).
    pub fn redis(&self) -> Option<Arc<Link>> {
        self.fleet.as_deref().map(fleet::Fleet::link)
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    fn quota(&self, path: &str) -> Option<&PathQuota> {
        self.paths.iter().find(|(p, _)| p == path).map(|(_, q)| q)
    }

    /// Waits for this path's next permit, or refuses at once. Returns how
    /// long the caller waited.
    pub async fn acquire(&self, path: EntrustPath<'_>) -> Result<Duration, (Refusal, Error)> {
        self.acquire_as(path, None).await
    }

    /// [`Quota::acquire`] for `claimant`: its share when callers contend,
    /// and its cap (see the module doc).
    pub async fn acquire_as(
        &self,
        path: EntrustPath<'_>,
        claimant: Option<&Claimant>,
    ) -> Result<Duration, (Refusal, Error)> {
        if !self.cfg.enabled {
            return Ok(Duration::ZERO);
        }
        let Some((_, q)) = self.paths.get(path.index()) else {
            // Unreachable: every EntrustPath comes from the Routes the
            // limiter was made from.
            return Err(refuse(
                Refusal::QueueFull,
                Duration::from_secs(1),
                format!("{path} has no quota"),
            ));
        };
        let start = Instant::now();
        if let Some(until) = *q.paused_until.lock().unwrap_or_else(|e| e.into_inner())
            && until > start
        {
            return Err(refuse(
                Refusal::UpstreamBackoff,
                until - start,
                q.said.backoff.clone(),
            ));
        }
        if let Some(c) = claimant
            && let Some(cap) = c.max_per_second
        {
            self.capped(q, c, cap, start).await?;
        }
        if let Some(fleet) = &self.fleet {
            // Callers of the app take their turns to reserve a fleet slot
            // in tag order (one at a time on this instance and path).
            let _turn = match claimant {
                Some(c) => Some(self.fleet_turn(q, c, start).await?),
                None => None,
            };
            // Boxed: the Redis round trips' state is kilobytes, which every
            // caller's future (and every request waiting for a permit)
            // would otherwise hold, fleet or not.
            let shared = Box::pin(fleet.acquire(path, q, start));
            return shared.await;
        }
        // Fast path: nobody is waiting and a permit is free now.
        if q.queued.load(Ordering::Acquire) == 0 && q.gov.check().is_ok() {
            return Ok(Duration::ZERO);
        }
        let ahead = q.queued.fetch_add(1, Ordering::AcqRel);
        let _slot = QueueSlot(&q.queued);
        if ahead >= q.limit.max_queue {
            return Err(refuse(
                Refusal::QueueFull,
                q.slot.saturating_mul(ahead as u32 + 1),
                q.said.queue_full.clone(),
            ));
        }
        // Without a caller every waiter is the same one, so the order is
        // first come, first served and those ahead are all queued: an
        // over-long wait is refused before the order is touched (a refusal
        // should cost as little as possible).
        if claimant.is_none() {
            let estimate = q.slot.saturating_mul(ahead as u32 + 1);
            if estimate > q.limit.max_wait {
                return Err(refuse(
                    Refusal::WaitTooLong,
                    estimate,
                    q.said.wait_too_long.clone(),
                ));
            }
        }
        let (name, weight) = match claimant {
            Some(c) => (c.name.clone(), c.weight.max(1)),
            None => (Arc::from("-"), 1),
        };
        let step = TAG_UNIT / u64::from(weight);
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let (key, position) = enqueue(&mut lock(&q.sched), &name, step, tx);
        let entry = Entry {
            sched: &q.sched,
            key,
            name,
            step,
        };
        // Each waiter ahead of our tag takes one slot; ours comes within one more.
        let estimate = q.slot.saturating_mul(position as u32 + 1);
        if estimate > q.limit.max_wait {
            // Refused at once: the tag is given back (Entry's drop).
            drop(entry);
            return Err(refuse(
                Refusal::WaitTooLong,
                estimate,
                q.said.wait_too_long.clone(),
            ));
        }
        let deadline = tokio::time::Instant::from_std(start + q.limit.max_wait);
        let late = || refuse(Refusal::WaitTooLong, q.slot, q.said.wait_too_long.clone());
        let _turn = tokio::select! {
            biased;
            granted = &mut rx => {
                return match granted {
                    Ok(()) => Ok(start.elapsed()),
                    Err(_) => Err(late()),
                };
            }
            turn = q.turn.lock() => turn,
            () = tokio::time::sleep_until(deadline) => return Err(late()),
        };
        // Our turn to poll governor: each permit goes to the smallest tag
        // waiting, until it is ours.
        loop {
            if rx.try_recv().is_ok() {
                return Ok(start.elapsed());
            }
            while let Err(not_until) = q.gov.check() {
                let at = tokio::time::Instant::now() + not_until.wait_time_from(self.clock.now());
                if at > deadline {
                    // Smaller tags keep coming: this waiter is over its share.
                    tokio::time::sleep_until(deadline).await;
                    return Err(late());
                }
                tokio::time::sleep_until(at).await;
            }
            loop {
                let next = {
                    let mut s = lock(&q.sched);
                    let next = s.waiting.pop_first();
                    if let Some((k, _)) = &next {
                        s.vtime = s.vtime.max(k.0);
                    }
                    next
                };
                match next {
                    Some((k, _)) if k == key => return Ok(start.elapsed()),
                    // Handed over; or that waiter left: the permit goes to the next.
                    Some((_, tx)) => {
                        if tx.send(()).is_ok() {
                            break;
                        }
                    }
                    None => return Ok(start.elapsed()),
                }
            }
        }
    }

    /// With `[redis]`: waits for this instance's turn to reserve a fleet
    /// slot, handed on in tag order, so that its callers reach Redis by
    /// their shares; refused as the local wait is (see the module doc).
    async fn fleet_turn<'q>(
        &self,
        q: &'q PathQuota,
        c: &Claimant,
        start: Instant,
    ) -> Result<Turn<'q>, (Refusal, Error)> {
        let step = TAG_UNIT / u64::from(c.weight.max(1));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (key, position) = {
            let mut s = lock(&q.sched);
            if !s.busy {
                s.busy = true;
                return Ok(Turn { sched: &q.sched });
            }
            enqueue(&mut s, &c.name, step, tx)
        };
        let mut ticket = Ticket {
            entry: Entry {
                sched: &q.sched,
                key,
                name: c.name.clone(),
                step,
            },
            rx,
        };
        // Each turn ahead takes at least one slot.
        let estimate = q.slot.saturating_mul(position as u32 + 2);
        let refused = |wait| refuse(Refusal::WaitTooLong, wait, q.said.wait_too_long.clone());
        if estimate > q.limit.max_wait {
            return Err(refused(estimate));
        }
        let deadline = tokio::time::Instant::from_std(start + q.limit.max_wait);
        tokio::select! {
            biased;
            got = &mut ticket.rx => match got {
                Ok(()) => Ok(Turn { sched: &q.sched }),
                Err(_) => Err(refused(q.slot)),
            },
            // The ticket's drop hands on a turn that came meanwhile.
            () = tokio::time::sleep_until(deadline) => Err(refused(q.slot)),
        }
    }

    /// Waits until `claimant`'s own cap on this path allows a permit, or
    /// refuses when that is past `max_wait_ms`.
    async fn capped(
        &self,
        q: &PathQuota,
        c: &Claimant,
        cap: u32,
        start: Instant,
    ) -> Result<(), (Refusal, Error)> {
        loop {
            let wait = {
                let mut s = lock(&q.sched);
                let fresh = s.caps.get(&c.name).is_none_or(|(n, _)| *n != cap);
                if fresh {
                    let gcra = Gcra::per_second(NonZeroU32::new(cap).unwrap_or(NonZeroU32::MIN))
                        .allow_burst(NonZeroU32::MIN);
                    s.caps
                        .insert(c.name.clone(), (cap, RateLimiter::direct(gcra)));
                }
                match s.caps.get(&c.name).map(|(_, l)| l.check()) {
                    Some(Err(not_until)) => not_until.wait_time_from(self.clock.now()),
                    _ => return Ok(()),
                }
            };
            if start.elapsed() + wait > q.limit.max_wait {
                return Err(refuse(
                    Refusal::WaitTooLong,
                    wait,
                    format!(
                        "caller {} may make {cap} calls a second on this path (max_per_second)",
                        c.name
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Callers waiting for a permit on `path` now.
    pub fn queued(&self, path: &str) -> usize {
        self.quota(path)
            .map_or(0, |q| q.queued.load(Ordering::Acquire))
    }

    /// The vendor answered 1008 on `path`: refuse it for a moment, rather
    /// than hammer it. Returns how long.
    pub fn upstream_limited(&self, path: &str) -> Duration {
        let backoff = Duration::from_millis(self.cfg.upstream_backoff_ms);
        if self.cfg.enabled
            && let Some(q) = self.quota(path)
        {
            *q.paused_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Instant::now() + backoff);
            if let Some(fleet) = &self.fleet {
                fleet.upstream_limited(path, backoff);
            }
        }
        backoff
    }
}

/// The limits of `path`: the configured ones; on a v4 path without a
/// per-path `per_second`, no more than the rate the v4 reference documents
/// for it (§5: 100/s for every group path), so the fallback's and a lowered
/// `per_second` still apply and a raised one never takes a v4 path past
/// its documented rate.
fn limit_for(cfg: &RateLimitConfig, path: EntrustPath<'_>) -> EffectiveLimit {
    let mut limit = cfg.for_path(path.as_str());
    let overridden = cfg
        .paths
        .get(path.as_str())
        .is_some_and(|o| o.per_second.is_some());
    if path.api() == Api::V4 && !overridden {
        limit.per_second = limit
            .per_second
            .min(crate::v4::path::rate_per_second(path.as_str()));
    }
    limit
}

fn refuse(why: Refusal, retry_after: Duration, detail: impl Into<RateNote>) -> (Refusal, Error) {
    (
        why,
        Error::RateLimited {
            retry_after,
            detail: detail.into(),
        },
    )
}

#[cfg(test)]
mod tests {
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
        // Wait until the first waiter is queued (a signal, not a sleep).
        tokio::time::timeout(Duration::from_secs(10), async {
            while l.queued(GROUP_CREATE) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the waiter queues");
        let (why, err) = l.acquire(a()).await.unwrap_err();
        assert_eq!(why, Refusal::QueueFull);
        assert!(
            matches!(err, Error::RateLimited { retry_after, .. } if retry_after > Duration::ZERO)
        );
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
}
