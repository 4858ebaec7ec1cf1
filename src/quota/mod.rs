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
mod shares;

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
use shares::{Entry, Sched, Ticket, Turn, enqueue, lock, step};

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
        let step = step(weight);
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
        let step = step(c.weight);
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
mod tests;
