//! The request being served: its fields, in a task-local so that no span
//! is entered on every poll, for its log line (`done`) and for events
//! logged while it is served ([`span`], made only when one is logged).
//! Whoever serves the request fills the fields; nothing below the faces
//! writes into them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tracing::Level;

use super::line::Line;
use super::sink::{FORMAT, Format, SINK};

pub(super) const TARGET: &str = "entrust_gateway::server";

/// Whether request lines are on at INFO and at DEBUG, asked once of the
/// global subscriber ([`fix_levels`]). `tracing::enabled!` asks the filter
/// on every call (measurably, BENCHMARKS.md: the callsite's interest is
/// "sometimes"), and the answer can't change: the global subscriber is set
/// once, and its filter is read once. A request line is written outside
/// any span, so span-scoped directives never applied to it.
static LEVELS: OnceLock<[bool; 2]> = OnceLock::new();

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
    /// The caller's verified client certificate's subject (mutual TLS).
    client_subject: Option<Box<str>>,
    /// The app and the caller, once known ([`Request::identified`]).
    who: Option<(Arc<str>, Arc<str>)>,
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
            client_subject: None,
            who: None,
            upstream_path: Mutex::new(None),
            data_center: AtomicUsize::new(usize::MAX),
            refusal: Mutex::new(None),
        }
    }

    /// With the caller's client certificate subject, for its line
    /// (`client_subject`).
    pub fn with_client_subject(mut self, subject: Option<&str>) -> Request {
        self.client_subject = subject.map(Box::from);
        self
    }

    /// The request's app and caller (`-` for none), named on its line.
    pub fn identified(mut self, app: Arc<str>, caller: Arc<str>) -> Request {
        self.who = Some((app, caller));
        self
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
        app = r.who.as_ref().map(|w| &*w.0),
        caller = r.who.as_ref().map(|w| &*w.1),
        upstream_path = tracing::field::Empty,
        data_center = tracing::field::Empty,
        client_subject = tracing::field::Empty,
    );
    if let Some(c) = r.client_subject.as_deref() {
        span.record("client_subject", c);
    }
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
        app: r.who.as_ref().map(|w| &*w.0),
        caller: r.who.as_ref().map(|w| &*w.1),
        upstream_path: upstream_path.as_deref(),
        data_center: data_centers
            .get(r.data_center.load(Ordering::Relaxed))
            .map(|d| d.label.as_str()),
        client_subject: r.client_subject.as_deref(),
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
