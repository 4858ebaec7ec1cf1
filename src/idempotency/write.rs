//! A write runs in its own task, which owns what it needs: hyper drops a
//! request's future when its caller disconnects, and `request_timeout_ms`
//! drops it too, but a write the vendor may have received must still
//! finish, keep its answer for its key and get its log line. [`Writes`]
//! counts the ones running, so that shutdown can wait for them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Response;
use tokio::sync::{Notify, oneshot};

use crate::error::Body;

/// What a face made of a write: its answer, and what is kept for the key.
pub struct Outcome {
    pub response: Response<Body>,
    pub kept: Kept,
}

/// What a write leaves for its key.
pub enum Kept {
    /// The answer itself: it is final (every vendor reply was, and so was
    /// the face's own result). A retry gets it back.
    Answer,
    /// Nothing: the write was not done (refused before it was sent, or the
    /// vendor said "not now"). A retry does it again.
    Free,
    /// This instead of the answer: the write may have been done, but how is
    /// unknown, so a retry must not send it again.
    Instead(Response<Body>),
}

/// Writes running in their own tasks: a count, and a wake-up for whoever
/// waits for it to reach zero (shutdown). (A `watch` channel cost twice the
/// instructions of a write's whole bookkeeping: BENCHMARKS.md.)
#[derive(Default)]
pub struct Writes(Arc<Count>);

#[derive(Default)]
struct Count {
    running: AtomicUsize,
    idle: Notify,
}

/// One write running; dropped when it ends.
pub struct Running(Arc<Count>);

impl Writes {
    fn start(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        Running(self.0.clone())
    }

    /// How many are running now.
    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Returns when none is running.
    pub async fn idle(&self) {
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Runs `work` in a task of its own, counted as running until it ends,
    /// and returns its output, or `None` if it ended without one (it
    /// panicked). When the caller has gone by the time it ends (the
    /// returned future was dropped), its output goes to `left` instead.
    pub fn run<T, W, L>(&self, work: W, left: L) -> impl Future<Output = Option<T>> + use<T, W, L>
    where
        T: Send + 'static,
        W: Future<Output = T> + Send + 'static,
        L: FnOnce(T) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let running = self.start();
        // Boxed: the task's state is moved once, as a pointer.
        tokio::spawn(Box::pin(async move {
            let _running = running;
            if let Err(output) = tx.send(work.await) {
                left(output);
            }
        }));
        async move { rx.await.ok() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_whose_caller_left_still_ends_and_is_counted_until_then() {
        let writes = Writes::default();
        let (go, wait) = oneshot::channel::<()>();
        let (left_tx, left_rx) = oneshot::channel();
        let caller = writes.run(
            async move {
                let _ = wait.await;
                7
            },
            move |n| {
                let _ = left_tx.send(n);
            },
        );
        assert_eq!(writes.running(), 1);
        drop(caller);
        let _ = go.send(());
        assert_eq!(left_rx.await.ok(), Some(7));
        writes.idle().await;
        assert_eq!(writes.running(), 0);
    }
}
