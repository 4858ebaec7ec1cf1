//! The shares between callers on one path: weighted fair queuing over
//! the quota's bounded wait (the rules are in the [`super`] module's
//! documentation). A waiter's place in the order ([`Entry`]), the fleet
//! turn ([`Turn`], [`Ticket`]) and the order itself ([`Sched`]); the RAII
//! guards keep the order right however a wait ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use governor::DefaultDirectRateLimiter;

/// A tag's unit: a weight-1 waiter's tag is this far past its start.
pub(super) const TAG_UNIT: u64 = 1_000_000;

/// How far a permit moves its caller's tag: a caller of weight `w` is
/// served `w` times for a weight-1 caller's once.
pub(super) fn step(weight: u32) -> u64 {
    TAG_UNIT / u64::from(weight.max(1))
}

/// The waiters of one path in tag order, and each caller's last tag.
#[derive(Default)]
pub(super) struct Sched {
    /// The tag of the last permit given.
    pub(super) vtime: u64,
    pub(super) last: HashMap<Arc<str>, u64>,
    /// Waiters by (tag, arrival); the sender hands one its permit.
    pub(super) waiting: BTreeMap<(u64, u64), tokio::sync::oneshot::Sender<()>>,
    pub(super) seq: u64,
    /// Each capped caller's own limiter, with the cap it was made for.
    pub(super) caps: HashMap<Arc<str>, (u32, DefaultDirectRateLimiter)>,
    /// With `[redis]`: a caller is reserving its fleet slot and waiting
    /// for it (the turn, handed on in tag order: [`Quota::fleet_turn`]).
    pub(super) busy: bool,
}

/// With `[redis]`: the turn to reserve a fleet slot, handed to the
/// smallest tag waiting when dropped (the slot reached, refused, or the
/// caller gone).
pub(super) struct Turn<'a> {
    pub(super) sched: &'a Mutex<Sched>,
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
pub(super) struct Ticket<'a> {
    pub(super) entry: Entry<'a>,
    pub(super) rx: tokio::sync::oneshot::Receiver<()>,
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
pub(super) fn enqueue(
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
pub(super) struct Entry<'a> {
    pub(super) sched: &'a Mutex<Sched>,
    pub(super) key: (u64, u64),
    pub(super) name: Arc<str>,
    pub(super) step: u64,
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

pub(super) fn lock(m: &Mutex<Sched>) -> std::sync::MutexGuard<'_, Sched> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
