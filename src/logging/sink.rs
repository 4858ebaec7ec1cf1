//! Log output that does not block the event loop: every line is appended
//! to the sink, and a thread writes it to stderr. The thread gathers
//! lines for up to 10 ms (`GATHER`) before it writes them (as nginx's
//! `access_log ... buffer= flush=` does): woken and writing once per line,
//! it cost a fifth of the passthrough's throughput on one core
//! (BENCHMARKS.md).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The log layout [`install`] was given.
pub(super) static FORMAT: OnceLock<Format> = OnceLock::new();
pub(super) static SINK: Sink = Sink::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Starts the thread that writes [`writer`]'s output to stderr, and with
/// `Some(format)` makes [`super::done`] and [`super::refused`] format their own lines in
/// that layout (`None`: through `tracing`, e.g. for colours on a terminal).
/// Call once, with the subscriber that writes through [`writer`].
pub fn install(format: Option<Format>) {
    if SINK.running.load(Ordering::Acquire) {
        return;
    }
    if let Some(f) = format {
        let _ = FORMAT.set(f);
    }
    // Without the thread, lines are written by whoever logs them.
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(|| SINK.run(std::io::stderr()));
    SINK.running.store(spawned.is_ok(), Ordering::Release);
}

/// Writes what is buffered; returns when it is out (or after a second).
/// Call before the process exits.
pub fn flush() {
    SINK.flush();
}

/// Waits on `cv` until notified or `until`: `Err` (with the guard) once
/// `until` has passed.
fn wait_until<'a>(
    cv: &Condvar,
    st: MutexGuard<'a, State>,
    until: std::time::Instant,
) -> Result<MutexGuard<'a, State>, MutexGuard<'a, State>> {
    let left = until.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        return Err(st);
    }
    Ok(match cv.wait_timeout(st, left) {
        Ok((g, _)) => g,
        Err(e) => e.into_inner().0,
    })
}

/// The `tracing_subscriber` writer for every log line: appends to the sink.
pub fn writer() -> SinkWriter {
    SinkWriter
}

#[derive(Clone, Copy, Debug)]
pub struct SinkWriter;

impl std::io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinkWriter {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter
    }
}

/// Log output waiting for the writer thread.
pub(super) struct Sink {
    /// Set once the writer thread runs; until then lines are written at once.
    running: AtomicBool,
    state: Mutex<State>,
    /// The writer thread waits here for output.
    wake: Condvar,
    /// Loggers wait here while the buffer is full, and [`flush`] until empty.
    drained: Condvar,
}

struct State {
    buf: Vec<u8>,
    /// The writer thread holds a batch it is writing.
    writing: bool,
    /// [`flush`] waits: write what is gathered now.
    now: bool,
}

/// Past this, a logger waits for the writer (as a blocking write would).
const SINK_MAX: usize = 1 << 20;
/// How long the writer gathers lines after the first one before it writes
/// them: a line is late by at most this much.
const GATHER: Duration = Duration::from_millis(10);
/// Gathered bytes that are written at once, without waiting out [`GATHER`].
const BATCH: usize = 64 * 1024;

impl Sink {
    const fn new() -> Sink {
        Sink {
            running: AtomicBool::new(false),
            state: Mutex::new(State {
                buf: Vec::new(),
                writing: false,
                now: false,
            }),
            wake: Condvar::new(),
            drained: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn append(&self, bytes: &[u8]) {
        if !self.running.load(Ordering::Acquire) {
            let _ = std::io::stderr().write_all(bytes);
            return;
        }
        let mut st = self.lock();
        while st.buf.len() > SINK_MAX {
            st = self.drained.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let before = st.buf.len();
        st.buf.extend_from_slice(bytes);
        let after = st.buf.len();
        drop(st);
        // The writer checks the buffer before it waits: it needs waking only
        // when it may have found it empty, or to end its gathering early
        // once a batch is full.
        if before == 0 || (before < BATCH && after >= BATCH) {
            self.wake.notify_one();
        }
    }

    /// The writer thread: writes what is appended to `out`, in batches.
    fn run(&self, mut out: impl std::io::Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut st = self.lock();
                st.writing = false;
                self.drained.notify_all();
                while st.buf.is_empty() {
                    st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                // Gather more lines for a while: one wake-up and one write
                // for all of them.
                let until = std::time::Instant::now() + GATHER;
                while st.buf.len() < BATCH && !st.now {
                    match wait_until(&self.wake, st, until) {
                        Ok(g) => st = g,
                        Err(g) => {
                            st = g;
                            break;
                        }
                    }
                }
                st.now = false;
                std::mem::swap(&mut st.buf, &mut batch);
                st.writing = true;
            }
            let _ = out.write_all(&batch);
            batch.clear();
            if batch.capacity() > SINK_MAX {
                batch = Vec::new();
            }
        }
    }

    /// [`flush`], for this sink.
    fn flush(&self) {
        if !self.running.load(Ordering::Acquire) {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let mut st = self.lock();
        // Written now, not after the writer's gathering.
        st.now = true;
        self.wake.notify_one();
        while !st.buf.is_empty() || st.writing {
            match wait_until(&self.drained, st, deadline) {
                Ok(g) => st = g,
                Err(_) => return,
            }
        }
    }
}

/// What a writer wrote, shared with the test that reads it (log output
/// in unit tests).
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer gathers lines for up to 10 ms, but `flush` (exit, panic)
    /// returns only once every line appended is written, in order.
    #[test]
    fn flush_returns_once_every_line_is_written() {
        let sink: &'static Sink = Box::leak(Box::new(Sink::new()));
        let out = Captured::default();
        let to = out.clone();
        std::thread::spawn(move || sink.run(to));
        sink.running.store(true, Ordering::Release);
        let mut want = String::new();
        for i in 0..100 {
            let line = format!("line {i}\n");
            sink.append(line.as_bytes());
            want.push_str(&line);
        }
        sink.flush();
        assert_eq!(String::from_utf8_lossy(&out.0.lock().unwrap()), want);
    }
}
