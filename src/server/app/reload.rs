//! Reloads: SIGHUP (the whole config, or a secret), secrets and tokens
//! kept in files (polled), and `[server.tls]`'s certificate. A reload
//! builds a new [`Apps`] set beside the one in use and swaps it in whole;
//! one that fails keeps the set in use and says why.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::metrics;
use crate::secret::Secret;
use crate::tls;

use super::{App, Apps};

impl App {
    /// Polls the secrets kept in files (apps' secrets, callers' tokens)
    /// and reloads them when a file's secret differs from the one in use
    /// (Kubernetes updates mounted secrets by swapping a symlink, which
    /// file-change notifications miss). Compared with what is loaded, not
    /// with what the file held last time: a SIGHUP that loaded a wrong
    /// secret, followed by the file's restore before the next poll, is
    /// still put right. A file that can't be used (unreadable, empty) is
    /// reported once per change of its content. Ends when the app is dropped.
    pub fn spawn_secret_watcher(self: &Arc<Self>) {
        let every = Duration::from_millis(self.config.upstream.secret_poll_ms);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last: Vec<Option<Vec<u8>>> = Vec::new();
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(app) = weak.upgrade() else { return };
                let live = app.apps();
                let files: Vec<(&std::path::Path, Option<Arc<Secret>>)> = live
                    .apps
                    .iter()
                    .filter_map(|t| Some((t.spec.secret.file()?, Some(t.vendor.secret()))))
                    .chain(
                        live.tokens
                            .iter()
                            .filter_map(|(_, r, t)| Some((r.file()?, Some(Arc::new(t.clone()))))),
                    )
                    .chain(
                        live.openim_secret_file()
                            .map(|f| (f, live.openim.secret().map(|s| Arc::new(s.clone())))),
                    )
                    .collect();
                if files.is_empty() {
                    continue;
                }
                let now: Vec<Option<Vec<u8>>> =
                    files.iter().map(|(p, _)| std::fs::read(p).ok()).collect();
                let stale = files.iter().enumerate().any(|(i, (p, loaded))| {
                    match crate::config::read_secret_file(p) {
                        Ok(v) => loaded.as_ref().is_some_and(|l| l.expose() != v),
                        Err(_) => now.get(i) != last.get(i),
                    }
                });
                if stale {
                    app.reload_secret();
                }
                last = now;
            }
        });
    }

    /// Re-reads every secret kept in a file (SIGHUP or a change on disk).
    /// A file that is unreadable or empty keeps the old secret and logs an
    /// error. Other secret sources have nothing to reload. Whether every
    /// file was read.
    pub fn reload_secret(&self) -> bool {
        let live = self.apps();
        let (next, failed) = live.reread_files(&self.metrics);
        let any = next.is_some()
            || !failed.is_empty()
            || live.apps.iter().any(|t| t.spec.secret.file().is_some())
            || live.tokens.iter().any(|(_, r, _)| r.file().is_some())
            || live.openim_secret_file().is_some();
        if !any {
            tracing::info!("no secret kept in a file: nothing to reload");
            return false;
        }
        if let Some(next) = next {
            *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        }
        let result = if failed.is_empty() { "ok" } else { "error" };
        self.metrics
            .secret_reloads
            .get_or_create(&metrics::ResultLabels { result })
            .inc();
        failed.is_empty()
    }

    /// SIGHUP: reads the config file again and applies it
    /// ([`App::reload`]); without a file (or when it fails), re-reads the
    /// secret files.
    pub fn reload_from_file(&self) -> bool {
        let Some(path) = &self.path else {
            return self.reload_secret();
        };
        let load = Config::load(path).map(|mut c| {
            if let Some(listen) = self.listen {
                c.server.listen = listen;
            }
            c
        });
        let result = match load {
            Ok(c) => self.reload(c),
            Err(e) => Err(self.refused(e)),
        };
        if result.is_err() {
            // The old config stays; its secret files may still have been
            // rotated.
            self.reload_secret();
        }
        result.is_ok()
    }

    /// A reload refused: counted and logged, naming the key.
    fn refused(&self, e: ConfigError) -> ConfigError {
        self.metrics
            .config_reloads
            .get_or_create(&metrics::ResultLabels { result: "error" })
            .inc();
        tracing::error!(error = %e, "config reload refused; keeping the running config");
        e
    }

    /// Applies a new config without a restart: apps and callers added,
    /// removed or changed, every secret and token read again. A config
    /// that fails validation, or whose secrets can't be loaded, is refused
    /// and the old one kept (an ERROR line naming the key). Listener,
    /// admin and Redis changes need a restart: they are kept as started,
    /// with a WARN.
    pub fn reload(&self, config: Config) -> Result<(), ConfigError> {
        let mut config = config;
        let started = &self.config;
        let restart = [
            (
                "server.listen",
                config.server.listen != started.server.listen,
            ),
            ("admin.listen", config.admin.listen != started.admin.listen),
            (
                "redis",
                toml::to_string(&config.redis).ok() != toml::to_string(&started.redis).ok()
                    || config.redis.as_ref().map(|r| &r.url)
                        != started.redis.as_ref().map(|r| &r.url),
            ),
        ];
        for (key, changed) in restart {
            if changed {
                tracing::warn!(
                    key,
                    "config reload: this key changed and needs a restart to take effect; kept as started"
                );
            }
        }
        config.server.listen = started.server.listen;
        config.admin.listen = started.admin.listen;
        config.redis = started.redis.clone();
        let old = self.apps();
        match Apps::build(config, Some(&old), &self.metrics, None) {
            Ok(next) => {
                let names: Vec<&str> = next.apps.iter().map(|t| t.name()).collect();
                tracing::info!(apps = ?names, callers = next.tokens.len(), "config reloaded");
                *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
                self.metrics
                    .config_reloads
                    .get_or_create(&metrics::ResultLabels { result: "ok" })
                    .inc();
                Ok(())
            }
            Err(e) => Err(self.refused(e)),
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
