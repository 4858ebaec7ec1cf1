//! The per-path rate limit: a sliding one-second window over the requests
//! that passed the signature check. Requests refused by the limit are not
//! counted, so a client that keeps trying does not lock itself out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

pub(crate) struct RateLimiter {
    per_second: u32,
    windows: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// `per_second == 0` disables the limit.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second,
            windows: HashMap::new(),
        }
    }

    /// Counts one request for `path`; false if it is over the limit.
    pub fn admit(&mut self, path: &str, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let w = self.windows.entry(path.to_owned()).or_default();
        while w.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            w.pop_front();
        }
        if w.len() >= self.per_second as usize {
            return false;
        }
        w.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let mut r = RateLimiter::new(3);
        let t = Instant::now();
        assert!(r.admit("/a", t));
        assert!(r.admit("/a", t + Duration::from_millis(100)));
        assert!(r.admit("/a", t + Duration::from_millis(200)));
        assert!(!r.admit("/a", t + Duration::from_millis(900)));
        assert!(r.admit("/b", t + Duration::from_millis(900)));
        // The first one left the window; one slot frees up.
        assert!(r.admit("/a", t + Duration::from_millis(1000)));
        assert!(!r.admit("/a", t + Duration::from_millis(1050)));
        assert!(r.admit("/a", t + Duration::from_millis(1100)));
    }

    #[test]
    fn zero_disables() {
        let mut r = RateLimiter::new(0);
        let t = Instant::now();
        assert!((0..1000).all(|_| r.admit("/a", t)));
    }
}
