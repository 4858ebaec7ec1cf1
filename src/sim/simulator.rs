//! The `Simulator` handle: configuration, shared state, and the test-facing
//! controls (request log, faults, profile variant, group snapshots).

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::auth::NonceCache;
use super::fault::{FaultList, FaultRule};
use super::lock;
use super::profile::ProfileVariant;
use super::rate::RateLimiter;
use super::record::{Recorded, RequestLog};
use super::server::{self, SimServer};
use super::store::{GroupSnapshot, MEMBER_MAX, Store};
use crate::entrust::limit;

/// The simulator's app credentials and limits.
#[derive(Clone)]
pub struct SimConfig {
    pub app_key: String,
    pub app_secret: String,
    /// More apps it knows, `(app_key, app_secret)`: the vendor serves many
    /// apps, each signing with its own secret and with its own quota per path.
    pub more_apps: Vec<(String, String)>,
    /// Per-path limit; 0 disables it. Default `entrust::limit::RATE_PER_SECOND`.
    pub rate_per_second: u32,
    /// The simulator's own stricter checks, which no vendor source documents:
    /// a nonce used twice within 10 minutes, or a timestamp more than 5
    /// minutes from the clock, is refused (401/1004). Off by default, since
    /// the official Node SDK reuses one nonce and timestamp for its life.
    /// On v4 paths it also holds requests to the v4 docs where the platform
    /// is laxer: a millisecond timestamp, a nonce of at most 18 characters
    /// (401/1004), a `channelId` of letters and digits only (400/1002).
    pub strict: bool,
    /// How many requests [`Simulator::requests`] keeps (the newest); older
    /// ones are dropped so a long-running simulator stays bounded.
    pub request_log_max: usize,
    /// Members a group may hold (owner included); past it create and join
    /// answer 25411. Default [`MEMBER_MAX`], the simulator's guess at the
    /// vendor's usual group size; tests that need a bigger group raise it.
    pub member_max: usize,
}

/// Default for [`SimConfig::request_log_max`].
pub const REQUEST_LOG_MAX: usize = 10_000;

impl SimConfig {
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        SimConfig {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            more_apps: Vec::new(),
            rate_per_second: limit::RATE_PER_SECOND,
            strict: false,
            request_log_max: REQUEST_LOG_MAX,
            member_max: MEMBER_MAX,
        }
    }
}

impl SimConfig {
    /// The same, knowing one more app.
    pub fn with_app(mut self, app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        self.more_apps.push((app_key.into(), app_secret.into()));
        self
    }

    /// The app key and secret a request's `App-Key` names: one of the
    /// apps', or the first app's (whose check then refuses a stranger).
    pub(crate) fn credentials(&self, presented: Option<&str>) -> (&str, &str) {
        presented
            .and_then(|k| self.more_apps.iter().find(|(key, _)| key == k))
            .map_or((&self.app_key, &self.app_secret), |(k, s)| (k, s))
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field(
                "more_apps",
                &self.more_apps.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("rate_per_second", &self.rate_per_second)
            .field("strict", &self.strict)
            .field("request_log_max", &self.request_log_max)
            .field("member_max", &self.member_max)
            .finish()
    }
}

pub(crate) struct Inner {
    pub cfg: SimConfig,
    pub log: Mutex<RequestLog>,
    pub faults: Mutex<FaultList>,
    pub variant: Mutex<ProfileVariant>,
    pub store: Mutex<Store>,
    pub nonces: Mutex<NonceCache>,
    pub limiter: Mutex<RateLimiter>,
}

/// The vendor's entrust server, in memory. Cheap to clone; every clone (and
/// every server started from it) shares one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        let limiter = RateLimiter::new(cfg.rate_per_second);
        let log = RequestLog::new(cfg.request_log_max);
        let store = Store::with_member_max(cfg.member_max);
        Simulator {
            inner: Arc::new(Inner {
                cfg,
                log: Mutex::new(log),
                faults: Mutex::default(),
                variant: Mutex::default(),
                store: Mutex::new(store),
                nonces: Mutex::default(),
                limiter: Mutex::new(limiter),
            }),
        }
    }

    /// Serve plain HTTP/1.1 on an already-bound listener, in a background
    /// task. Must be called inside a Tokio runtime.
    pub fn serve(&self, listener: TcpListener) -> SimServer {
        server::spawn(self.inner.clone(), listener, None)
    }

    /// Same over TLS (HTTP/1.1 only, whatever ALPN the config offers).
    pub fn serve_tls(&self, listener: TcpListener, tls: Arc<rustls::ServerConfig>) -> SimServer {
        server::spawn(self.inner.clone(), listener, Some(TlsAcceptor::from(tls)))
    }

    /// Convenience: bind 127.0.0.1:0 and serve plain HTTP.
    pub async fn start(cfg: SimConfig) -> std::io::Result<(Simulator, SimServer)> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let sim = Simulator::new(cfg);
        let server = sim.serve(listener);
        Ok((sim, server))
    }

    /// The requests that reached the handler, in arrival order (including
    /// rejected and faulted ones): the newest `request_log_max`.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.log).all()
    }

    /// Requests for one path that were answered with success (code 200 on
    /// an entrust path, code 0 on a v4 path).
    pub fn accepted(&self, path: &str) -> usize {
        lock(&self.inner.log).accepted(path)
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Adds a fault rule; rules are checked in the order added.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.inner.faults).push(rule);
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// How group/profile/query.json shapes each profile from now on.
    pub fn set_profile_variant(&self, v: ProfileVariant) {
        *lock(&self.inner.variant) = v;
    }

    /// Group state for assertions: None if the group does not exist.
    pub fn group(&self, group_id: &str) -> Option<GroupSnapshot> {
        lock(&self.inner.store)
            .get(group_id)
            .map(GroupSnapshot::from)
    }
}
