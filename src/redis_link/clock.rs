//! Redis's clock mapped onto this instance's.

use super::*;

/// Maps Redis's clock (µs since the epoch) onto this instance's monotonic
/// clock: `local = redis + offset`, the offset being the smallest
/// `arrival - redis_now` seen (a reply's delay is never negative). It creeps
/// later by 1 ms per second between lower samples, so that clock drift and
/// a changed network path are followed.
pub(crate) struct ClockMap {
    pub(super) epoch: Instant,
    /// (offset µs, local µs when it was last lowered)
    pub(super) state: Mutex<Option<(i64, i64)>>,
}

/// The offset creeps later by 1 µs every this many µs.
pub(super) const CLOCK_CREEP: i64 = 1000;

impl ClockMap {
    pub(super) fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(super) fn local_us(&self, t: Instant) -> i64 {
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
