//! What the vendor's replies to one request add up to, reported by the
//! client as it calls and read by whoever serves the request: passed
//! explicitly, so a call moved into another task still reports (or fails to
//! compile), instead of silently reporting nowhere.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// One request's vendor calls so far (see the module doc).
#[derive(Debug)]
pub struct Tally {
    all_final: AtomicBool,
    /// A write may have reached the vendor, and no answer came.
    unknown: AtomicBool,
    /// A write waiting past `upstream.timeout_ms` for its answer (see
    /// [`super::Session::outcome_wait`]): its caller is answered now.
    overdue: AtomicBool,
    overdue_changed: Notify,
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
            unknown: AtomicBool::new(false),
            overdue: AtomicBool::new(false),
            overdue_changed: Notify::new(),
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

    /// Whether a write may have reached the vendor without an answer coming
    /// back (timed out or cut after it was sent): its outcome is unknown.
    pub fn unknown(&self) -> bool {
        self.unknown.load(Ordering::Acquire)
    }

    /// Returns once a write has waited past `upstream.timeout_ms` for its
    /// answer, or ended with its outcome unknown: the caller should be
    /// answered now, while the write goes on.
    pub async fn overdue(&self) {
        loop {
            let changed = self.overdue_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.overdue.load(Ordering::Acquire) {
                return;
            }
            changed.await;
        }
    }

    pub(super) fn mark_overdue(&self) {
        self.overdue.store(true, Ordering::Release);
        self.overdue_changed.notify_waiters();
    }

    pub(super) fn mark_unknown(&self) {
        self.unknown.store(true, Ordering::Release);
        self.observe(false);
        self.mark_overdue();
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
        assert!(!t.unknown());
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_not_final_and_answers_the_caller() {
        let t = Tally::default();
        let waiting = t.overdue();
        tokio::pin!(waiting);
        assert!(futures_now(waiting.as_mut()).is_none());
        t.mark_unknown();
        assert!(futures_now(waiting.as_mut()).is_some());
        assert!(t.unknown() && !t.all_final());
        // Already overdue: returns at once.
        assert!(futures_now(std::pin::pin!(t.overdue())).is_some());
    }

    /// Polls `f` once.
    fn futures_now<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
