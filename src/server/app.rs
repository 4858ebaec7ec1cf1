//! The application's state, built once at start-up: the configuration, the
//! app's vendor client, duplicate protection, inbound auth, each face's own
//! state, the metrics and the writes in flight. The server hands pieces of
//! it to the faces; nothing below the server sees it whole.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Inbound;
use crate::config::{Config, ConfigError};
use crate::entrust;
use crate::idempotency::{Idempotency, Writes};
use crate::metrics::{self, FaceRoutes, Metrics};
use crate::openim;
use crate::secret::Secret;
use crate::{tls, vendor};

use super::admin;

/// The routes each face answers, registered with the metrics.
const FACES: [FaceRoutes; 4] = [
    ("entrust", entrust::path::DOCUMENTED),
    ("v4", crate::v4::path::DOCUMENTED),
    ("openim", openim::ROUTES),
    ("admin", &admin::ROUTES),
];

pub struct App {
    config: Config,
    vendor: vendor::Client,
    idempotency: Idempotency,
    auth: Inbound,
    openim: openim::State,
    metrics: Metrics,
    writes: Writes,
    /// `[server.tls]`'s config, swapped on reload.
    tls: Option<tls::Inbound>,
}

impl App {
    /// Validates `config` and builds everything; `secret` is the app secret.
    pub fn new(config: Config, secret: Secret) -> Result<App, ConfigError> {
        config.validate()?;
        let labels = config.base_urls()?;
        let labels: Vec<&str> = labels.iter().map(|u| u.label.as_str()).collect();
        let metrics = Metrics::for_data_centers(&labels, &FACES);
        let vendor = vendor::Client::new(&config, secret, &metrics)?;
        let idempotency = match vendor.redis() {
            Some(link) => Idempotency::in_redis(
                &config,
                link,
                metrics.dedup_evictions.clone(),
                metrics.dedup_answers_too_large.clone(),
                metrics.dedup_store_errors.clone(),
            ),
            None => Idempotency::new(&config.dedup, metrics.dedup_evictions.clone()),
        };
        let tokens = config.load_auth_tokens()?;
        let tls = config
            .server
            .tls
            .as_ref()
            .map(tls::Inbound::new)
            .transpose()?;
        Ok(App {
            tls,
            openim: openim::State::new(&config, Inbound::new(&tokens), &metrics, vendor.redis())?,
            auth: Inbound::new(&tokens),
            idempotency,
            vendor,
            metrics,
            writes: Writes::default(),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The app's vendor client.
    pub fn vendor(&self) -> &vendor::Client {
        &self.vendor
    }

    /// Duplicate protection, unless it is off (`dedup.window_ms = 0`).
    pub fn idempotency(&self) -> Option<&Idempotency> {
        (self.config.dedup.window_ms > 0).then_some(&self.idempotency)
    }

    /// The entrust face's inbound auth.
    pub fn auth(&self) -> &Inbound {
        &self.auth
    }

    pub fn openim(&self) -> &openim::State {
        &self.openim
    }

    /// Inbound TLS, when `[server.tls]` is set.
    pub fn tls(&self) -> Option<&tls::Inbound> {
        self.tls.as_ref()
    }

    /// Writes running in their own tasks (shutdown waits for them).
    pub fn writes(&self) -> &Writes {
        &self.writes
    }

    /// Polls `upstream.app_secret_file` and reloads the secret when the
    /// file's secret differs from the one in use (Kubernetes updates mounted
    /// secrets by swapping a symlink, which file-change notifications miss).
    /// Compared with what is loaded, not with what the file held last time:
    /// a SIGHUP that loaded a wrong secret, followed by the file's restore
    /// before the next poll, is still put right. A file that can't be used
    /// (unreadable, empty) is reported once per change of its content. Ends
    /// when the app is dropped.
    pub fn spawn_secret_watcher(self: &Arc<Self>) {
        let Some(path) = self.config.upstream.app_secret_file.clone() else {
            return;
        };
        let every = Duration::from_millis(self.config.upstream.secret_poll_ms);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = std::fs::read(&path).ok();
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(app) = weak.upgrade() else { return };
                let now = std::fs::read(&path).ok();
                let stale = match crate::config::read_secret_file(&path) {
                    Ok(value) => app.vendor.secret().expose() != value,
                    Err(_) => now != last,
                };
                if stale {
                    app.reload_secret();
                }
                last = now;
            }
        });
    }

    /// Re-reads `upstream.app_secret_file` (SIGHUP or a change on disk). A
    /// file that is unreadable or empty keeps the old secret and logs an
    /// error. Other secret sources have nothing to reload.
    pub fn reload_secret(&self) -> bool {
        let Some(path) = &self.config.upstream.app_secret_file else {
            tracing::info!("no upstream.app_secret_file: nothing to reload");
            return false;
        };
        let count = |result| {
            self.metrics
                .secret_reloads
                .get_or_create(&metrics::ResultLabels { result })
                .inc();
        };
        match crate::config::read_secret_file(path) {
            Ok(value) => {
                let changed = self.vendor.secret().expose() != value;
                self.vendor.set_secret(Secret::new(value));
                count("ok");
                tracing::info!(changed, "app secret reloaded");
                true
            }
            Err(e) => {
                count("error");
                tracing::error!(error = %e, "cannot reload the app secret; keeping the old one");
                false
            }
        }
    }

    /// Polls `[server.tls]`'s files every `server.tls.poll_ms` and reloads
    /// them when they differ from those in use (Kubernetes swaps a mounted
    /// secret's symlink, which file-change notifications miss). Files that
    /// failed to load are not tried again until they change. Ends when the
    /// app is dropped.
    pub fn spawn_tls_watcher(self: &Arc<Self>) {
        let Some(every) = self.tls.as_ref().map(tls::Inbound::poll) else {
            return;
        };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(app) = weak.upgrade() else { return };
                if app.tls.as_ref().is_some_and(tls::Inbound::changed_on_disk) {
                    app.reload_tls();
                }
            }
        });
    }

    /// Re-reads `[server.tls]`'s files (SIGHUP or a change on disk): new
    /// handshakes use them, open connections keep what they were accepted
    /// with. A certificate or key that can't be used keeps the old ones
    /// and logs an error naming the key.
    pub fn reload_tls(&self) -> bool {
        let Some(inbound) = &self.tls else {
            return false;
        };
        match inbound.reload() {
            Ok(changed) => {
                tracing::info!(changed, "server.tls certificate reloaded");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload server.tls; new connections keep the certificate in use");
                false
            }
        }
    }
}
