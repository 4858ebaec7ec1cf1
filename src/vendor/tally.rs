//! What the vendor's replies to one request add up to, reported by the
//! client as it calls and read by whoever serves the request: passed
//! explicitly, so a call moved into another task still reports (or fails to
//! compile), instead of silently reporting nowhere.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One request's vendor calls so far (see the module doc).
#[derive(Debug)]
pub struct Tally {
    all_final: AtomicBool,
    /// The last path called (an index into the allowlist's paths), or
    /// `usize::MAX`.
    path: AtomicUsize,
    /// The last data center sent to, or `usize::MAX`.
    data_center: AtomicUsize,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            all_final: AtomicBool::new(true),
            path: AtomicUsize::new(usize::MAX),
            data_center: AtomicUsize::new(usize::MAX),
        }
    }
}

impl Tally {
    /// Whether every reply so far was the vendor's final answer (see
    /// [`super::Reply::is_final`]); true while there was none.
    pub fn all_final(&self) -> bool {
        self.all_final.load(Ordering::Acquire)
    }

    /// The last path called: its index in the allowlist's paths.
    pub fn path(&self) -> Option<usize> {
        Some(self.path.load(Ordering::Acquire)).filter(|i| *i != usize::MAX)
    }

    /// The last data center sent to: its index in `upstream.urls`.
    pub fn data_center(&self) -> Option<usize> {
        Some(self.data_center.load(Ordering::Acquire)).filter(|i| *i != usize::MAX)
    }

    pub(super) fn calling(&self, path: usize) {
        self.path.store(path, Ordering::Release);
    }

    pub(super) fn sending_to(&self, dc: usize) {
        self.data_center.store(dc, Ordering::Release);
    }

    pub(super) fn observe(&self, is_final: bool) {
        if !is_final {
            self.all_final.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_non_final_reply_makes_the_request_non_final() {
        let t = Tally::default();
        assert!(t.all_final());
        assert_eq!((t.path(), t.data_center()), (None, None));
        t.calling(3);
        t.sending_to(1);
        t.observe(true);
        assert!(t.all_final());
        t.observe(false);
        t.observe(true);
        assert!(!t.all_final());
        assert_eq!((t.path(), t.data_center()), (Some(3), Some(1)));
    }
}
