//! The per-request log line (`done`), made cheaply, and the log output that
//! does not block the event loop.
//!
//! Through `tracing` the line cost a span per request (created, its fields
//! formatted, entered and left on every poll of the request) and then an
//! event formatted field by field: about a fifth of a proxied request's
//! instructions. Here the request's fields live in a task-local
//! ([`Request`]), the line is formatted once into a reused buffer, in the
//! same text or JSON layout `tracing` printed it, and appended to the
//! [`Sink`] that every log line goes through; a thread writes the sink to
//! stderr, so no request waits for a `write`. The thread gathers lines for
//! up to 10 ms (`GATHER`) before it writes them (as nginx's `access_log ...
//! buffer= flush=` does): woken and writing once per line, it cost a fifth
//! of the passthrough's throughput on one core (BENCHMARKS.md, issue 16).
//! Events inside a request
//! ([`span`]) still get the `request` span, made only when one is logged.
//!
//! Without [`install`] (a gateway run in-process, as the tests do) the line
//! goes through `tracing` as before.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Level;

use crate::text::{json_str, push_u64, quoted};

const TARGET: &str = "entrust_gateway::server";

/// The log layout [`install`] was given.
static FORMAT: OnceLock<Format> = OnceLock::new();
static SINK: Sink = Sink::new();
/// Whether request lines are on at INFO and at DEBUG, asked once of the
/// global subscriber ([`fix_levels`]). `tracing::enabled!` asks the filter
/// on every call (~100 instructions each here: the callsite's interest is
/// "sometimes"), and the answer can't change: the global subscriber is set
/// once, and its filter is read once. A request line is written outside
/// any span, so span-scoped directives never applied to it.
static LEVELS: OnceLock<[bool; 2]> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Starts the thread that writes [`writer`]'s output to stderr, and with
/// `Some(format)` makes [`done`] and [`refused`] format their own lines in
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
struct Sink {
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

    fn append(&self, bytes: &[u8]) {
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

/// Call once the global subscriber is installed: [`done`] and [`refused`]
/// use its answer from then on (without it, they ask `tracing` each time,
/// as tests with their own subscribers need).
pub fn fix_levels() {
    let _ = LEVELS.set([
        tracing::enabled!(target: TARGET, Level::INFO),
        tracing::enabled!(target: TARGET, Level::DEBUG),
    ]);
}

/// Whether a request line at `level` (INFO or DEBUG) is written.
fn line_enabled(level: Level) -> bool {
    let info = level == Level::INFO;
    match LEVELS.get() {
        Some(on) => on[usize::from(!info)],
        None if info => tracing::enabled!(target: TARGET, Level::INFO),
        None => tracing::enabled!(target: TARGET, Level::DEBUG),
    }
}

/// The fields of the request being served, for its log line and for events
/// logged while it is served.
#[derive(Debug)]
pub struct Request {
    pub request_id: http::HeaderValue,
    pub face: &'static str,
    pub route: &'static str,
    upstream_path: Mutex<Option<std::borrow::Cow<'static, str>>>,
    /// An index into `upstream.urls`; `usize::MAX` until sent.
    data_center: AtomicUsize,
    /// Set when the request was refused: its line says so, and why.
    refusal: Mutex<Option<Refusal>>,
}

/// Why a request was refused, for its line.
#[derive(Debug)]
struct Refusal {
    message: &'static str,
    error: String,
}

tokio::task_local! {
    // Behind a pointer: the value moves in and out of the task-local on
    // every poll. Shared: a write's own task carries it too.
    static REQUEST: Arc<Request>;
}

impl Request {
    pub fn new(request_id: http::HeaderValue, face: &'static str, route: &'static str) -> Request {
        Request {
            request_id,
            face,
            route,
            upstream_path: Mutex::new(None),
            data_center: AtomicUsize::new(usize::MAX),
            refusal: Mutex::new(None),
        }
    }

    fn refusal(&self) -> std::sync::MutexGuard<'_, Option<Refusal>> {
        self.refusal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn upstream_path(&self) -> std::sync::MutexGuard<'_, Option<std::borrow::Cow<'static, str>>> {
        self.upstream_path.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the entrust path the request called last and the data center
    /// (an index into `upstream.urls`) it went to, for its line. Called by
    /// whoever serves the request, from what the vendor client reported.
    pub fn record_upstream(
        &self,
        path: std::borrow::Cow<'static, str>,
        data_center: Option<usize>,
    ) {
        *self.upstream_path() = Some(path);
        if let Some(i) = data_center {
            self.data_center.store(i, Ordering::Relaxed);
        }
    }

    /// Runs `fut` with this request as the current one.
    pub fn scope<F: std::future::Future>(
        self,
        fut: F,
    ) -> tokio::task::futures::TaskLocalFuture<Arc<Request>, F> {
        REQUEST.scope(Arc::new(self), fut)
    }
}

/// The current request, to carry into a task it spawns ([`scope`]).
pub fn current() -> Option<Arc<Request>> {
    REQUEST.try_with(Arc::clone).ok()
}

/// Runs `fut` with `request` (from [`current`]) as the current request.
pub async fn scope<F: std::future::Future>(request: Option<Arc<Request>>, fut: F) -> F::Output {
    match request {
        Some(r) => REQUEST.scope(r, fut).await,
        None => fut.await,
    }
}

/// Runs `f` with `request` (from [`current`]) as the current request.
pub fn in_request<R>(request: Option<Arc<Request>>, f: impl FnOnce() -> R) -> R {
    match request {
        Some(r) => REQUEST.sync_scope(r, f),
        None => f(),
    }
}

/// Runs `f` with the current request, if any.
pub fn with<R>(f: impl FnOnce(&Request) -> R) -> Option<R> {
    REQUEST.try_with(|r| f(r)).ok()
}

/// The `request` span of the current request, made now with the fields
/// known so far, for an event logged while it is served (`data_centers`:
/// the labels of `upstream.urls`). Outside a request, the current span.
pub fn span(data_centers: &[crate::config::BaseUrl]) -> tracing::Span {
    REQUEST
        .try_with(|r| make_span(r, data_centers))
        .unwrap_or_else(|_| tracing::Span::current())
}

/// The `request` span of the current request for an event about one
/// vendor call: the call's path and data center given here, the rest as
/// [`span`] has them.
pub fn span_at(upstream_path: &str, data_center: &str) -> tracing::Span {
    let span = span(&[]);
    span.record("upstream_path", upstream_path);
    span.record("data_center", data_center);
    span
}

fn make_span(r: &Request, data_centers: &[crate::config::BaseUrl]) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        request_id = r.request_id.to_str().unwrap_or(""),
        face = r.face,
        route = %r.route,
        upstream_path = tracing::field::Empty,
        data_center = tracing::field::Empty,
    );
    if let Some(p) = r.upstream_path().as_deref() {
        span.record("upstream_path", p);
    }
    if let Some(dc) = data_centers.get(r.data_center.load(Ordering::Relaxed)) {
        span.record("data_center", dc.label.as_str());
    }
    span
}

/// The request's line: `done`, or when it was [`refused`] the refusal's
/// message and its `error`; at INFO, or DEBUG for probes and scrapes. One
/// line a request, refused or not.
pub fn done(
    r: &Request,
    data_centers: &[crate::config::BaseUrl],
    level: Level,
    status: u16,
    latency: Duration,
) {
    // Whole microseconds: `0.062`, not `0.06151499999999999`.
    let latency_ms = latency.as_micros() as f64 / 1000.0;
    if line_enabled(level) {
        let refusal = r.refusal();
        let refused = refusal.as_ref().map(|f| (f.message, f.error.as_str()));
        emit(r, data_centers, level, status, latency_ms, refused);
    }
}

/// Marks the current request refused (`message`), and why: its line
/// ([`done`]) says so.
pub fn refused(message: &'static str, error: &crate::error::Error) {
    let _ = REQUEST.try_with(|r| {
        if line_enabled(Level::INFO) {
            *r.refusal() = Some(Refusal {
                message,
                error: error.message(),
            });
        }
    });
}

fn emit(
    r: &Request,
    data_centers: &[crate::config::BaseUrl],
    level: Level,
    status: u16,
    latency_ms: f64,
    refused: Option<(&'static str, &str)>,
) {
    let Some(format) = FORMAT.get() else {
        // In-process (tests): through tracing, as the subscriber in use wants it.
        make_span(r, data_centers).in_scope(|| match (refused, level == Level::INFO) {
            (None, true) => tracing::info!(target: TARGET, status, latency_ms, "done"),
            (None, false) => tracing::debug!(target: TARGET, status, latency_ms, "done"),
            (Some((message, error)), true) => {
                tracing::info!(target: TARGET, status, latency_ms, error, "{message}")
            }
            (Some((message, error)), false) => {
                tracing::debug!(target: TARGET, status, latency_ms, error, "{message}")
            }
        });
        return;
    };
    let upstream_path = r.upstream_path();
    let line = Line {
        request_id: r.request_id.to_str().unwrap_or(""),
        face: r.face,
        route: r.route,
        upstream_path: upstream_path.as_deref(),
        data_center: data_centers
            .get(r.data_center.load(Ordering::Relaxed))
            .map(|d| d.label.as_str()),
        level,
        status,
        latency_ms,
        refused,
    };
    thread_local! {
        static BUF: RefCell<String> = RefCell::new(String::with_capacity(512));
    }
    BUF.with(|buf| {
        let Ok(mut buf) = buf.try_borrow_mut() else {
            return;
        };
        buf.clear();
        match format {
            Format::Text => line.text(&mut buf, SystemTime::now()),
            Format::Json => line.json(&mut buf, SystemTime::now()),
        }
        SINK.append(buf.as_bytes());
    });
}

/// One line's fields: the request span's, then the event's.
struct Line<'a> {
    request_id: &'a str,
    face: &'a str,
    route: &'a str,
    upstream_path: Option<&'a str>,
    data_center: Option<&'a str>,
    level: Level,
    status: u16,
    latency_ms: f64,
    /// The refusal's message and error.
    refused: Option<(&'static str, &'a str)>,
}

impl Line<'_> {
    /// As `tracing_subscriber`'s full text format printed it, with the
    /// fields as [`crate::logs`] writes them (`Debug`, which escapes
    /// control characters; the route, a bounded label, and the error, by
    /// `Display` with control characters escaped).
    fn text(&self, out: &mut String, now: SystemTime) {
        timestamp(out, now);
        out.push_str(if self.level == Level::INFO {
            "  INFO request{request_id="
        } else {
            " DEBUG request{request_id="
        });
        debug_str(out, self.request_id);
        out.push_str(" face=");
        debug_str(out, self.face);
        out.push_str(" route=");
        push_escaped(out, self.route);
        if let Some(p) = self.upstream_path {
            out.push_str(" upstream_path=");
            debug_str(out, p);
        }
        if let Some(d) = self.data_center {
            out.push_str(" data_center=");
            debug_str(out, d);
        }
        out.push_str("}: ");
        out.push_str(TARGET);
        out.push_str(": ");
        out.push_str(self.refused.map_or("done", |(m, _)| m));
        out.push_str(" status=");
        push_u64(out, u64::from(self.status));
        out.push_str(" latency_ms=");
        push_ms(out, self.latency_ms);
        if let Some((_, error)) = self.refused {
            out.push_str(" error=");
            push_escaped(out, error);
        }
        out.push('\n');
    }

    /// As [`crate::logs`]' flat JSON lines: one object, keys sorted (as a
    /// `serde_json` map prints them).
    fn json(&self, out: &mut String, now: SystemTime) {
        out.push('{');
        if let Some(d) = self.data_center {
            out.push_str("\"data_center\":");
            json_str(out, d);
            out.push(',');
        }
        if let Some((_, error)) = self.refused {
            out.push_str("\"error\":");
            json_str(out, error);
            out.push(',');
        }
        out.push_str("\"face\":");
        json_str(out, self.face);
        out.push_str(",\"latency_ms\":");
        push_ms(out, self.latency_ms);
        out.push_str(if self.level == Level::INFO {
            ",\"level\":\"INFO\",\"message\":"
        } else {
            ",\"level\":\"DEBUG\",\"message\":"
        });
        json_str(out, self.refused.map_or("done", |(m, _)| m));
        out.push_str(",\"request_id\":");
        json_str(out, self.request_id);
        out.push_str(",\"route\":");
        json_str(out, self.route);
        out.push_str(",\"status\":");
        push_u64(out, u64::from(self.status));
        out.push_str(",\"target\":\"");
        out.push_str(TARGET);
        out.push_str("\",\"timestamp\":\"");
        timestamp(out, now);
        out.push('"');
        if let Some(p) = self.upstream_path {
            out.push_str(",\"upstream_path\":");
            json_str(out, p);
        }
        out.push_str("}\n");
    }
}

/// `s` as `{:?}` prints it.
fn debug_str(out: &mut String, s: &str) {
    quoted(out, s, |out, s| {
        let _ = write!(out, "{s:?}");
    });
}

/// Milliseconds with at most three decimals (whole microseconds) as both
/// `{:?}` and `serde_json` print such an `f64`: `0.062`, `1.5`, `2.0`.
fn push_ms(out: &mut String, ms: f64) {
    let us = (ms * 1000.0).round();
    if !(0.0..1e15).contains(&us) {
        let _ = write!(out, "{ms:?}");
        return;
    }
    let us = us as u64;
    push_u64(out, us / 1000);
    out.push('.');
    let frac = us % 1000;
    if frac == 0 {
        out.push('0');
        return;
    }
    let digits = [frac / 100, frac / 10 % 10, frac % 10];
    let n = if digits[2] != 0 {
        3
    } else if digits[1] != 0 {
        2
    } else {
        1
    };
    out.extend(digits[..n].iter().map(|&d| (b'0' + d as u8) as char));
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` with control characters written as Rust escapes (a route is a
/// bounded label, but it is printed as it is).
fn push_escaped(out: &mut String, s: &str) {
    if crate::text::visible(s.as_bytes(), false) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// RFC 3339 in UTC with microseconds, as `tracing_subscriber`'s
/// `SystemTime` writes it: `2026-11-29T11:05:26.123456Z`. The date and time
/// to the second are made once a second per thread.
fn timestamp(out: &mut String, now: SystemTime) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    SECOND.with(|cell| {
        let Ok(mut cached) = cell.try_borrow_mut() else {
            return;
        };
        if cached.0 != secs {
            let (y, m, day) = civil_from_days((secs / 86_400) as i64);
            let rem = secs % 86_400;
            cached.1.clear();
            let _ = write!(
                cached.1,
                "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            cached.0 = secs;
        }
        out.push_str(&cached.1);
    });
    out.push('.');
    let us = d.subsec_micros();
    let mut div = 100_000;
    while div > 0 {
        out.push((b'0' + (us / div % 10) as u8) as char);
        div /= 10;
    }
    out.push('Z');
}

/// Days since 1970-01-01 as (year, month, day): Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What a writer wrote, shared with the test that reads it (log output
/// in unit tests).
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

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

    fn line() -> Line<'static> {
        Line {
            request_id: "r1",
            face: "entrust",
            route: "/entrust/group/create.json",
            upstream_path: Some("/entrust/group/create.json"),
            data_center: Some("http://127.0.0.1:1"),
            level: Level::INFO,
            status: 200,
            latency_ms: 0.062,
            refused: None,
        }
    }

    #[test]
    fn timestamps_as_tracing_subscriber_writes_them() {
        let mut s = String::new();
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        timestamp(&mut s, t);
        // date -u -d @1795000000
        assert_eq!(s, "2026-11-18T11:06:40.123456Z");
        s.clear();
        timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(s, "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn numbers_and_strings_as_debug_and_serde_json_print_them() {
        for us in [0u64, 1, 10, 60, 62, 100, 999, 1000, 1500, 123_456_789] {
            let ms = us as f64 / 1000.0;
            let mut s = String::new();
            push_ms(&mut s, ms);
            assert_eq!(s, format!("{ms:?}"), "{us}");
            assert_eq!(s, serde_json::Value::from(ms).to_string(), "{us}");
        }
        for v in ["plain", "a\"b", "a\\b", "tab\t", "é", "\u{1b}[2J", ""] {
            let mut s = String::new();
            debug_str(&mut s, v);
            assert_eq!(s, format!("{v:?}"));
            s.clear();
            json_str(&mut s, v);
            assert_eq!(s, serde_json::to_string(v).unwrap());
        }
    }

    #[test]
    fn text_line_as_the_span_and_event_printed_it() {
        let mut s = String::new();
        line().text(&mut s, UNIX_EPOCH);
        assert_eq!(
            s,
            "1970-01-01T00:00:00.000000Z  INFO request{request_id=\"r1\" face=\"entrust\" route=/entrust/group/create.json upstream_path=\"/entrust/group/create.json\" data_center=\"http://127.0.0.1:1\"}: entrust_gateway::server: done status=200 latency_ms=0.062\n"
        );
    }

    #[test]
    fn json_line_is_flat_with_sorted_keys() {
        let mut s = String::new();
        let mut l = line();
        l.request_id = "a\"\n";
        l.latency_ms = 1.0;
        l.json(&mut s, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["request_id"], "a\"\n");
        assert_eq!(v["status"], 200);
        assert!(v["latency_ms"].is_f64());
        assert_eq!(v["message"], "done");
        assert_eq!(v["upstream_path"], "/entrust/group/create.json");
        // Byte for byte what serializing the map would give.
        assert_eq!(s.trim_end(), serde_json::to_string(&v).unwrap());
        let e = crate::error::Error::Args("bad\n\u{1b}x".into()).to_string();
        l.refused = Some(("request refused", &e));
        l.status = 400;
        s.clear();
        l.json(&mut s, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["message"], "request refused");
        assert_eq!(v["error"], e);
        assert_eq!(v["status"], 400);
        assert_eq!(s.trim_end(), serde_json::to_string(&v).unwrap());
        s.clear();
        l.text(&mut s, UNIX_EPOCH);
        // The refusal's line: status and latency, then the error's Display,
        // control characters escaped.
        assert!(
            s.contains(": request refused status=400 latency_ms=1.0 error=args: bad"),
            "{s}"
        );
        assert!(s.ends_with("bad\\n\\u{1b}x\n"), "{s}");
    }
}
