//! What a call on one path needs, made once per path instead of per
//! request: its upstream path per data center and its metric handles.
//! A label lookup hashes the label strings and allocates them on every
//! call; a handle is resolved on first use (so `/metrics` shows the same
//! series as before) and then kept.

use std::sync::OnceLock;

use http::uri::PathAndQuery;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::origin::Origin;
use crate::metrics::{self, Metrics};
use crate::quota::Refusal;

/// The metric families a vendor client writes, as handles (cheap clones of
/// the registry's).
pub(super) struct Meters {
    limiter_wait: metrics::Family<metrics::PathLabels, Histogram>,
    limiter_rejections: metrics::Family<metrics::RejectionLabels, Counter>,
    upstream_duration: metrics::Family<metrics::UpstreamLabels, Histogram>,
    pub(super) upstream_errors: metrics::Family<metrics::UpstreamErrorLabels, Counter>,
    pub(super) failovers: metrics::Family<metrics::FailoverLabels, Counter>,
    caller_rejections: metrics::Family<metrics::CallerRejectionLabels, Counter>,
    /// This client's refusals without a caller, by [`REFUSALS`]' index (the
    /// app is the client's own, fixed for its life).
    no_caller: [OnceLock<Counter>; REFUSALS.len()],
}

impl Meters {
    pub(super) fn new(m: &Metrics) -> Meters {
        Meters {
            limiter_wait: m.limiter_wait.clone(),
            limiter_rejections: m.limiter_rejections.clone(),
            upstream_duration: m.upstream_duration.clone(),
            upstream_errors: m.upstream_errors.clone(),
            failovers: m.failovers.clone(),
            caller_rejections: m.caller_rejections.clone(),
            no_caller: Default::default(),
        }
    }

    /// A quota refusal, by app and caller (`-` for none).
    pub(super) fn refused_for(
        &self,
        app: &str,
        claimant: Option<&crate::quota::Claimant>,
        why: Refusal,
    ) {
        let labels = || metrics::CallerRejectionLabels {
            app: app.to_string(),
            caller: claimant.map_or("-", |c| &c.name).to_string(),
            reason: why.as_str(),
        };
        // Without callers every refusal is this client's, caller `-`: no
        // label lookup (a refusal should cost as little as possible).
        let cached = REFUSALS.iter().position(|r| *r == why);
        match cached.filter(|_| claimant.is_none()) {
            Some(i) => self.no_caller[i]
                .get_or_init(|| self.caller_rejections.get_or_create(&labels()).clone())
                .inc(),
            None => self.caller_rejections.get_or_create(&labels()).inc(),
        };
    }

    pub(super) fn count_error(&self, path_label: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&metrics::UpstreamErrorLabels {
                path: path_label.to_string(),
                kind,
            })
            .inc();
    }
}

const REFUSALS: [Refusal; 4] = [
    Refusal::WaitTooLong,
    Refusal::QueueFull,
    Refusal::UpstreamBackoff,
    Refusal::QuotaStoreDown,
];

/// One path's cached pieces.
pub(super) struct PathSlot {
    /// The metric label: the path when documented, else `other`.
    pub(super) label: &'static str,
    /// Per data center: the upstream path for a call without a query.
    pub(super) pq: Vec<Option<PathAndQuery>>,
    limiter_wait: OnceLock<Histogram>,
    /// Per data center.
    upstream_duration: Vec<OnceLock<Histogram>>,
    /// Per [`Refusal`], in [`REFUSALS`] order.
    rejections: [OnceLock<Counter>; REFUSALS.len()],
}

impl PathSlot {
    pub(super) fn new(label: &'static str, origins: &[Origin], documented: bool) -> PathSlot {
        PathSlot {
            label,
            pq: origins
                .iter()
                .map(|o| {
                    documented
                        .then(|| o.path_and_query(label, None).ok())
                        .flatten()
                })
                .collect(),
            limiter_wait: OnceLock::new(),
            upstream_duration: origins.iter().map(|_| OnceLock::new()).collect(),
            rejections: Default::default(),
        }
    }

    pub(super) fn waited(&self, m: &Meters, secs: f64) {
        self.limiter_wait
            .get_or_init(|| {
                m.limiter_wait
                    .get_or_create(&metrics::PathLabels {
                        path: self.label.to_string(),
                    })
                    .clone()
            })
            .observe(secs);
    }

    pub(super) fn refused(&self, m: &Meters, why: Refusal) {
        let i = REFUSALS.iter().position(|r| *r == why).unwrap_or(0);
        self.rejections[i]
            .get_or_init(|| {
                m.limiter_rejections
                    .get_or_create(&metrics::RejectionLabels {
                        path: self.label.to_string(),
                        reason: why.as_str(),
                    })
                    .clone()
            })
            .inc();
    }

    pub(super) fn sent(&self, m: &Meters, dc: usize, dc_label: &str, secs: f64) {
        self.upstream_duration[dc]
            .get_or_init(|| {
                m.upstream_duration
                    .get_or_create(&metrics::UpstreamLabels {
                        path: self.label.to_string(),
                        data_center: dc_label.to_string(),
                    })
                    .clone()
            })
            .observe(secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const PATH: &str = "/entrust/group/create.json";

    /// README "Operations", the metrics table:
    /// `entrust_gateway_limiter_rejections_total` by `path` and `reason`
    /// (wait_too_long, queue_full, upstream_backoff, quota_store_down;
    /// deploy/alerts.yaml matches on them): each refusal counts under its
    /// own reason, whichever a path saw first.
    #[test]
    fn each_refusal_counts_under_its_own_reason() {
        let m = Metrics::default();
        let meters = Meters::new(&m);
        let slot = PathSlot::new(PATH, &[], true);
        for why in [
            Refusal::UpstreamBackoff,
            Refusal::QueueFull,
            Refusal::QueueFull,
            Refusal::QuotaStoreDown,
            Refusal::WaitTooLong,
        ] {
            slot.refused(&meters, why);
        }
        let count = |reason| {
            m.limiter_rejections
                .get_or_create(&metrics::RejectionLabels {
                    path: PATH.into(),
                    reason,
                })
                .get()
        };
        let counts = REFUSALS.map(|r| count(r.as_str()));
        // In REFUSALS order: wait_too_long, queue_full, upstream_backoff,
        // quota_store_down.
        assert_eq!(counts, [1, 2, 1, 1]);
    }

    /// README "Operations", the metrics table:
    /// `entrust_gateway_upstream_duration_seconds`, "one upstream attempt",
    /// by `path` and `data_center`: each attempt is observed once, under the
    /// data center it went to.
    #[test]
    fn each_attempt_is_timed_under_its_data_center() {
        let c = Config::parse(
            "[upstream]\nurls = [\"http://127.0.0.1:9000\", \"http://127.0.0.1:9001\"]\napp_key = \"key\"\napp_secret = \"s\"\n",
        )
        .unwrap();
        let origins: Vec<Origin> = c
            .base_urls()
            .unwrap()
            .iter()
            .map(|u| Origin::new(u).unwrap())
            .collect();
        let m = Metrics::default();
        let meters = Meters::new(&m);
        let slot = PathSlot::new(PATH, &origins, true);
        slot.sent(&meters, 1, "backup", 0.25);
        slot.sent(&meters, 1, "backup", 0.25);
        slot.sent(&meters, 0, "primary", 0.5);
        let text = m.encode();
        for (dc, n) in [("backup", 2), ("primary", 1)] {
            let line = format!(
                "entrust_gateway_upstream_duration_seconds_count{{path=\"{PATH}\",data_center=\"{dc}\"}} {n}\n"
            );
            assert!(text.contains(&line), "no {line:?} in\n{text}");
        }
    }
}
