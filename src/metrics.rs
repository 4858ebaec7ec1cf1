//! Prometheus metrics (text format on `GET /metrics`). Label values are
//! bounded: entrust and v4 paths outside the documented lists are reported
//! as `other`, so no caller can grow the label set. Each face registers its
//! routes ([`FaceRoutes`]) when the metrics are made; this module knows
//! no face.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub face: &'static str,
    pub route: String,
    pub status: u16,
    /// The app's name; `-` when none (admin routes, refused before one was known).
    pub app: String,
    /// The caller's name; `-` when none (no `[[callers]]`, or not identified).
    pub caller: String,
}

/// A quota refusal, by app and caller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallerRejectionLabels {
    pub app: String,
    pub caller: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub path: String,
    pub data_center: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub path: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailoverLabels {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    pub path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    pub path: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwitchLabels {
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: &'static str,
}

/// What Redis said it keeps: its eviction policy and persistence.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreInfoLabels {
    pub maxmemory_policy: String,
    pub persistence: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Label values known before any traffic. Every family has its series from
/// start-up, at zero, so `rate()` and `absent()` in alert rules see them.
/// Keep these in step with `SendError::kind` (upstream.rs) plus
/// `rate_limited` (gateway.rs), and with `Refusal::as_str` (limit.rs).
pub const UPSTREAM_ERROR_KINDS: [&str; 7] = [
    "connect",
    "timeout",
    "io",
    "status_5xx",
    "body_refused",
    "too_large",
    "rate_limited",
];
pub const REJECTION_REASONS: [&str; 3] = ["wait_too_long", "queue_full", "upstream_backoff"];
pub const SECRET_RELOAD_RESULTS: [&str; 2] = ["ok", "error"];

/// A face's name and its routes: the values its `route` label takes
/// (besides `other`).
pub type FaceRoutes = (&'static str, &'static [&'static str]);

/// Every value the `path` label can take: the documented paths (entrust
/// and v4) and `other`.
fn path_labels() -> impl Iterator<Item = String> {
    crate::allowlist::known()
        .map(|p| p.to_string())
        .chain(std::iter::once("other".to_string()))
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub in_flight: Gauge,
    pub upstream_duration: Family<UpstreamLabels, Histogram>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub failovers: Family<FailoverLabels, Counter>,
    pub limiter_wait: Family<PathLabels, Histogram>,
    pub limiter_rejections: Family<RejectionLabels, Counter>,
    pub secret_reloads: Family<ResultLabels, Counter>,
    /// Config reloads (SIGHUP), by result.
    pub config_reloads: Family<ResultLabels, Counter>,
    /// Quota refusals by app and caller.
    pub caller_rejections: Family<CallerRejectionLabels, Counter>,
    pub dedup_evictions: Counter,
    /// Answers not kept in Redis: over `dedup::shared::ANSWER_MAX`.
    pub dedup_answers_too_large: Counter,
    pub admin_token_failures: Family<ResultLabels, Counter>,
    /// With `[redis]`: failed Redis calls of OpenIM's force_logout record.
    pub openim_kick_store_errors: Family<KindLabels, Counter>,
    /// 1 while the shared quota's Redis answers (0 without `[redis]`).
    pub quota_store_up: Gauge,
    pub quota_store_errors: Family<KindLabels, Counter>,
    /// Switches of the Redis link to down and back up.
    pub quota_store_switches: Family<SwitchLabels, Counter>,
    /// Redis error replies (to both users), by code.
    pub quota_store_error_replies: Family<CodeLabels, Counter>,
    /// 1, labelled with what Redis said it keeps at the last connection.
    pub quota_store_info: Family<StoreInfoLabels, Gauge>,
    /// 1 while the idempotency records are shared through Redis.
    pub dedup_records_shared: Gauge,
    /// Failed Redis calls of the idempotency records.
    pub dedup_store_errors: Family<KindLabels, Counter>,
    /// `requests` counters of the common answers, per (face, route label),
    /// for the `app` label below and no caller.
    by_route: Vec<RouteCounters>,
    /// The app label API requests carry when one app serves them all and no
    /// callers are configured (`-` otherwise): its series start at zero.
    default_app: String,
}

/// One route's `entrust_gateway_requests` counters for the statuses most
/// answers have, resolved on first use.
struct RouteCounters {
    face: &'static str,
    route: &'static str,
    /// 200, 429.
    by_status: [OnceLock<Counter>; 2],
}

/// The app label a face's requests carry by default: admin requests
/// belong to no app.
fn app_label<'a>(face: &str, default_app: &'a str) -> &'a str {
    if face == "admin" { "-" } else { default_app }
}

/// Equal strings; the same constant (a route handed around from one table)
/// is recognised by its address without comparing bytes.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(&[], "-")
    }
}

impl Metrics {
    /// The registry, with a zero series for every route of `faces`.
    /// `default_app`: the app label API requests carry when one app serves
    /// them all and no callers are configured (`-` otherwise).
    pub fn new(faces: &[FaceRoutes], default_app: &str) -> Metrics {
        let mut registry = Registry::with_prefix("entrust_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by face (entrust, openim, admin), route and HTTP status",
            requests.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_requests",
            "Requests being served now",
            in_flight.clone(),
        );
        let upstream_duration = Family::<UpstreamLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "upstream_duration_seconds",
            "Time for one upstream attempt, by entrust path and data center",
            upstream_duration.clone(),
        );
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream attempts that failed, by path and kind (connect, timeout, io, status_5xx, body_refused, too_large, rate_limited)",
            upstream_errors.clone(),
        );
        let failovers = Family::<FailoverLabels, Counter>::default();
        registry.register(
            "failovers",
            "Switches of the active data center",
            failovers.clone(),
        );
        let limiter_wait = Family::<PathLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "limiter_wait_seconds",
            "Time callers waited for a quota permit, by path",
            limiter_wait.clone(),
        );
        let limiter_rejections = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "limiter_rejections",
            "Requests refused with 429 by the quota, by path and reason (wait_too_long, queue_full, upstream_backoff, quota_store_down)",
            limiter_rejections.clone(),
        );
        let secret_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "secret_reloads",
            "Reloads of the secrets kept in files (apps' secrets, callers' tokens), by result (ok, error)",
            secret_reloads.clone(),
        );
        let config_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads (SIGHUP), by result (ok; error: refused, the running config kept)",
            config_reloads.clone(),
        );
        let caller_rejections = Family::<CallerRejectionLabels, Counter>::default();
        registry.register(
            "caller_rejections",
            "Requests refused with 429 by the quota, by app, caller (- without [[callers]]) and reason",
            caller_rejections.clone(),
        );
        let dedup_evictions = Counter::default();
        registry.register(
            "dedup_evictions",
            "Kept answers evicted from a full duplicate-protection table before their window ended",
            dedup_evictions.clone(),
        );
        let dedup_answers_too_large = Counter::default();
        registry.register(
            "dedup_answers_too_large",
            "Answers not kept in Redis for replay because they exceed its bound (a retry does the write again)",
            dedup_answers_too_large.clone(),
        );
        let admin_token_failures = Family::<ResultLabels, Counter>::default();
        registry.register(
            "openim_admin_token_failures",
            "Failed OpenIM token requests, by result (refused: wrong secret; throttled: too many failures, not checked)",
            admin_token_failures.clone(),
        );
        let openim_kick_store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "openim_kick_store_errors",
            "Redis calls of the OpenIM force_logout record that failed, by kind (timeout, connection, reply): tokens are then checked against this gateway's kicks only",
            openim_kick_store_errors.clone(),
        );
        let quota_store_up = Gauge::default();
        registry.register(
            "quota_store_up",
            "1 while the shared quota's Redis answers; 0 while the local fallback is used or without [redis]",
            quota_store_up.clone(),
        );
        let quota_store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "quota_store_errors",
            "Redis calls of the shared quota that failed, and failed connection attempts, by kind (timeout, connection, reply)",
            quota_store_errors.clone(),
        );
        let quota_store_switches = Family::<SwitchLabels, Counter>::default();
        registry.register(
            "quota_store_switches",
            "Switches of the Redis store to down (calls failing for half a second, the fallback quota and local records) and back up (three write probes in a row), by direction (down, up)",
            quota_store_switches.clone(),
        );
        for to in ["down", "up"] {
            drop(quota_store_switches.get_or_create(&SwitchLabels { to }));
        }
        let quota_store_error_replies = Family::<CodeLabels, Counter>::default();
        registry.register(
            "quota_store_error_replies",
            "Error replies from Redis (both the quota's and the idempotency records' calls, and the probes), by code (OOM, READONLY, MISCONF, NOPERM, WRONGTYPE, NOSCRIPT, CLUSTERDOWN, MASTERDOWN, LOADING, BUSY, TRYAGAIN, other)",
            quota_store_error_replies.clone(),
        );
        let quota_store_info = Family::<StoreInfoLabels, Gauge>::default();
        registry.register(
            "quota_store_info",
            "Always 1: what Redis said at the last connection about its maxmemory_policy and persistence (aof, rdb, aof+rdb, none; unknown when it would not say)",
            quota_store_info.clone(),
        );
        let dedup_records_shared = Gauge::default();
        registry.register(
            "dedup_records_shared",
            "1 while the idempotency records are shared through Redis; 0 without [redis] or while Redis's maxmemory-policy can evict them (see dedup.allow_evicting_store)",
            dedup_records_shared.clone(),
        );
        let dedup_store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "dedup_store_errors",
            "Redis calls of the idempotency records that failed, by kind (timeout, connection, reply)",
            dedup_store_errors.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "Always 1; the version is a label", build);
        // Zero series for every known label value (see UPSTREAM_ERROR_KINDS).
        // requests: status 200 per known route; other statuses appear as they happen.
        for path in path_labels() {
            for kind in UPSTREAM_ERROR_KINDS {
                drop(upstream_errors.get_or_create(&UpstreamErrorLabels {
                    path: path.clone(),
                    kind,
                }));
            }
            for reason in REJECTION_REASONS {
                drop(limiter_rejections.get_or_create(&RejectionLabels {
                    path: path.clone(),
                    reason,
                }));
            }
            drop(limiter_wait.get_or_create(&PathLabels { path: path.clone() }));
        }
        for result in SECRET_RELOAD_RESULTS {
            drop(secret_reloads.get_or_create(&ResultLabels { result }));
            drop(config_reloads.get_or_create(&ResultLabels { result }));
        }
        let by_route: Vec<RouteCounters> = faces
            .iter()
            .flat_map(|(face, routes)| {
                routes.iter().chain(&["other"]).map(|route| RouteCounters {
                    face,
                    route,
                    by_status: Default::default(),
                })
            })
            .collect();
        for r in &by_route {
            // Only the routes a face serves start at zero (not `other`).
            if r.route != "other" || r.face == "entrust" {
                drop(requests.get_or_create(&RequestLabels {
                    face: r.face,
                    route: r.route.to_string(),
                    status: 200,
                    app: app_label(r.face, default_app).into(),
                    caller: "-".into(),
                }));
            }
        }
        Metrics {
            registry,
            requests,
            in_flight,
            upstream_duration,
            upstream_errors,
            failovers,
            limiter_wait,
            limiter_rejections,
            secret_reloads,
            config_reloads,
            caller_rejections,
            dedup_evictions,
            dedup_answers_too_large,
            admin_token_failures,
            openim_kick_store_errors,
            quota_store_up,
            quota_store_errors,
            quota_store_switches,
            quota_store_error_replies,
            quota_store_info,
            dedup_records_shared,
            dedup_store_errors,
            by_route,
            default_app: default_app.to_string(),
        }
    }

    /// Counts an answer in `entrust_gateway_requests` (`route`: a bounded
    /// label); the common ones without a label lookup.
    /// `app` and `caller`: names from the config (bounded), or `-`; only
    /// the default app's answers without a caller use the cached counters.
    pub fn count_request(
        &self,
        face: &'static str,
        route: &'static str,
        status: u16,
        app: &str,
        caller: &str,
    ) {
        let i = match status {
            200 => Some(0),
            429 => Some(1),
            _ => None,
        }
        .filter(|_| caller == "-" && app == app_label(face, &self.default_app));
        let cached = i.and_then(|i| {
            let r = self
                .by_route
                .iter()
                .find(|r| same(r.route, route) && r.face == face)?;
            Some(&r.by_status[i])
        });
        let labels = || RequestLabels {
            face,
            route: route.to_string(),
            status,
            app: app.to_string(),
            caller: caller.to_string(),
        };
        match cached {
            Some(c) => c
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }

    /// Metrics with the series that depend on the configured data centers
    /// (`labels`, in failover order) present at zero too.
    pub fn for_data_centers(labels: &[&str], faces: &[FaceRoutes], default_app: &str) -> Metrics {
        let m = Metrics::new(faces, default_app);
        for (i, dc) in labels.iter().enumerate() {
            for path in path_labels() {
                drop(m.upstream_duration.get_or_create(&UpstreamLabels {
                    path,
                    data_center: dc.to_string(),
                }));
            }
            // Failover goes to the next data center in the list (upstream.rs).
            if labels.len() > 1 {
                drop(m.failovers.get_or_create(&FailoverLabels {
                    from: dc.to_string(),
                    to: labels[(i + 1) % labels.len()].to_string(),
                }));
            }
        }
        m
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// A bounded label for an entrust or v4 path: the path itself when documented.
pub fn path_label(path: &str) -> String {
    if crate::allowlist::known().any(|p| p == path) {
        path.to_string()
    } else {
        "other".to_string()
    }
}

/// Counts a request in flight until dropped (also when the caller goes away).
pub struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    pub fn new(g: &'a Gauge) -> Self {
        g.inc();
        InFlight(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
