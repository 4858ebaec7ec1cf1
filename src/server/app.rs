//! The application's state: the configuration, the vendor apps (each with
//! its vendor client and duplicate protection), the callers, each face's
//! own state, the metrics and the writes in flight. The server hands pieces
//! of it to the faces; nothing below the server sees it whole.
//!
//! What a reload may change lives in one [`Apps`] set behind a lock; each
//! request takes an `Arc` of the set when it starts and keeps it to its
//! end, so a reload never changes an app, a caller or a secret under a
//! request (a request already signed keeps its secret anyway). An app whose
//! key, data centers and limits are unchanged is carried into the new set
//! as it is: its quota, failover state and records go on, and only its
//! secret is read again.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::auth::{Caller, Callers, Inbound};
use crate::config::{AppSpec, Config, ConfigError, SecretRef};
use crate::entrust;
use crate::idempotency::{Idempotency, Writes};
use crate::metrics::{FaceRoutes, Metrics};
use crate::openim;
use crate::secret::Secret;
use crate::{tls, vendor};

use super::admin;

mod reload;

/// The routes each face answers, registered with the metrics.
const FACES: [FaceRoutes; 4] = [
    ("entrust", entrust::path::DOCUMENTED),
    ("v4", crate::v4::path::DOCUMENTED),
    ("openim", openim::ROUTES),
    ("admin", &admin::ROUTES),
];

/// One vendor app: its vendor client and its duplicate protection (its
/// Redis keys carry its app key).
pub struct Tenant {
    spec: AppSpec,
    vendor: vendor::Client,
    idempotency: Idempotency,
}

impl Tenant {
    fn new(
        config: &Config,
        spec: &AppSpec,
        secret: Secret,
        m: &Metrics,
    ) -> Result<Tenant, ConfigError> {
        let config = config.for_app(spec);
        let vendor = vendor::Client::new(&config, secret, m)?.named(&spec.name);
        let idempotency = match vendor.redis() {
            Some(link) => Idempotency::in_redis(
                &config,
                link,
                m.dedup_evictions.clone(),
                m.dedup_answers_too_large.clone(),
                m.dedup_store_errors.clone(),
            ),
            None => Idempotency::new(&config.dedup, m.dedup_evictions.clone()),
        };
        Ok(Tenant {
            spec: spec.clone(),
            vendor,
            idempotency,
        })
    }

    /// The app's name (`default` without `[[apps]]`).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn vendor(&self) -> &vendor::Client {
        &self.vendor
    }

    /// Its duplicate protection (whether it is on is the config's).
    pub fn idempotency(&self) -> &Idempotency {
        &self.idempotency
    }

    /// Whether `spec` can be served by this app's client as it is: the
    /// same key, data centers and limits (the secret may differ).
    fn serves(&self, spec: &AppSpec) -> bool {
        self.spec.name == spec.name
            && self.spec.app_key == spec.app_key
            && self.spec.urls == spec.urls
            && self.spec.rate_limit == spec.rate_limit
    }
}

/// What a reload may change: the config, the apps, the callers, the
/// OpenIM face's state. Requests hold an `Arc` of it to their end.
pub struct Apps {
    config: Arc<Config>,
    apps: Vec<Arc<Tenant>>,
    callers: Callers,
    /// Each caller's token as loaded, to keep when its file can't be read.
    tokens: Vec<(Caller, SecretRef, Secret)>,
    /// The callers a client certificate's name identifies.
    certified: Vec<(Caller, String)>,
    /// `server.auth_tokens_*` (without `[[callers]]`).
    auth: Inbound,
    openim: Arc<openim::State>,
    /// Index of the app the OpenIM face serves.
    openim_app: usize,
}

impl Apps {
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The apps, in config order.
    pub fn all(&self) -> &[Arc<Tenant>] {
        &self.apps
    }

    /// The app named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.apps.iter().find(|a| a.name() == name)
    }

    /// The app a request goes to: its caller's, or without `[[callers]]`
    /// the first (the only one: several apps need callers).
    pub fn for_caller(&self, caller: Option<&Caller>) -> Option<&Arc<Tenant>> {
        match caller {
            Some(c) => self.get(&c.app),
            None => self.apps.first(),
        }
    }

    /// The app the OpenIM face serves (`openim.app`).
    pub fn openim_app(&self) -> &Arc<Tenant> {
        &self.apps[self.openim_app]
    }

    pub fn callers(&self) -> &Callers {
        &self.callers
    }

    /// The entrust face's inbound auth without `[[callers]]`.
    pub fn auth(&self) -> &Inbound {
        &self.auth
    }

    pub fn openim(&self) -> &openim::State {
        &self.openim
    }

    /// The file the OpenIM face's secret is kept in, if any.
    fn openim_secret_file(&self) -> Option<&std::path::Path> {
        self.config.openim.as_ref()?.secret.as_ref()?.file()
    }

    /// Builds the set `config` describes, carrying over from `old` every
    /// app it serves unchanged (its secret read again).
    fn build(
        config: Config,
        old: Option<&Apps>,
        metrics: &Metrics,
        first_secret: Option<Secret>,
    ) -> Result<Apps, ConfigError> {
        config.validate()?;
        let mut first_secret = first_secret;
        let mut apps = Vec::new();
        for spec in config.app_specs()? {
            let secret = match first_secret.take() {
                Some(s) if !config.has_apps() => s,
                _ => spec.secret.load(&spec.secret_key)?,
            };
            let kept = old.and_then(|o| o.apps.iter().find(|t| t.serves(&spec)));
            let tenant = match kept {
                Some(t) => {
                    let changed = t.vendor.secret().expose() != secret.expose();
                    t.vendor.set_secret(secret);
                    if spec.secret.file().is_some() {
                        tracing::info!(app = t.name(), changed, "app secret reloaded");
                    }
                    t.clone()
                }
                None => Arc::new(Tenant::new(&config, &spec, secret, metrics)?),
            };
            apps.push(tenant);
        }
        let mut tokens = Vec::new();
        let mut certified = Vec::new();
        for spec in config.caller_specs()? {
            let caller = Caller {
                name: spec.name.as_str().into(),
                app: spec.app.as_str().into(),
                weight: spec.weight,
                max_per_second: spec.max_per_second,
            };
            if let Some(subject) = spec.cert_subject {
                certified.push((caller.clone(), subject));
            }
            let Some(token_ref) = spec.token else {
                continue;
            };
            let token = token_ref.load(&spec.token_key)?;
            if let Some((other, _, _)) = tokens
                .iter()
                .find(|(_, _, t): &&(Caller, SecretRef, Secret)| t.expose() == token.expose())
            {
                return Err(ConfigError(format!(
                    "{}: holds the same token as caller {:?}: each caller needs its own",
                    spec.token_key, other.name
                )));
            }
            tokens.push((caller, token_ref, token));
        }
        let legacy = config.load_auth_tokens()?;
        let callers = callers_of(&tokens, &certified);
        let openim_app = config.openim_app();
        let openim_app = apps
            .iter()
            .position(|a| a.name() == openim_app)
            .unwrap_or(0);
        let openim = openim_state(
            &config,
            &apps[openim_app],
            &legacy,
            metrics,
            old.map(|o| &*o.openim),
        )?;
        Ok(Apps {
            openim: Arc::new(openim),
            auth: Inbound::new(&legacy),
            callers,
            tokens,
            certified,
            apps,
            openim_app,
            config: Arc::new(config),
        })
    }

    /// The same set with every secret kept in a file read again: a file
    /// that can't be read (missing, empty) keeps its old secret, logged.
    /// `Err` lists the keys that failed.
    fn reread_files(&self, metrics: &Metrics) -> (Option<Apps>, Vec<String>) {
        let mut failed = Vec::new();
        let mut any = false;
        for (t, spec) in self.apps.iter().map(|t| (t, &t.spec)) {
            if spec.secret.file().is_none() {
                continue;
            }
            any = true;
            match spec.secret.load(&spec.secret_key) {
                Ok(s) => {
                    let changed = t.vendor.secret().expose() != s.expose();
                    t.vendor.set_secret(s);
                    tracing::info!(app = t.name(), changed, "app secret reloaded");
                }
                Err(e) => {
                    tracing::error!(app = t.name(), error = %e, "cannot reload the app secret; keeping the old one");
                    failed.push(spec.secret_key.clone());
                }
            }
        }
        let mut tokens = Vec::new();
        let mut changed = false;
        for (i, (caller, r, old)) in self.tokens.iter().enumerate() {
            let token = if r.file().is_some() {
                any = true;
                match r.load(&format!("callers[{i}].token")) {
                    Ok(t) => {
                        changed |= t.expose() != old.expose();
                        t
                    }
                    Err(e) => {
                        tracing::error!(caller = &*caller.name, error = %e, "cannot reload the caller's token; keeping the old one");
                        failed.push(format!("callers[{i}].token"));
                        old.clone()
                    }
                }
            } else {
                old.clone()
            };
            tokens.push((caller.clone(), r.clone(), token));
        }
        // The OpenIM face's secret, when kept in a file.
        let mut openim = self.openim.clone();
        if let Some(file) = self.openim_secret_file() {
            any = true;
            match crate::config::read_secret_file(file) {
                Ok(v) if self.openim.secret().is_some_and(|s| s.expose() == v) => {}
                Ok(_) => {
                    let legacy = self.config.load_auth_tokens().unwrap_or_default();
                    let tenant = &self.apps[self.openim_app];
                    match openim_state(&self.config, tenant, &legacy, metrics, Some(&self.openim)) {
                        Ok(state) => {
                            openim = Arc::new(state);
                            changed = true;
                            tracing::info!("openim secret reloaded");
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot reload the openim secret; keeping the old one");
                            failed.push("openim.secret".into());
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reload the openim secret; keeping the old one");
                    failed.push("openim.secret".into());
                }
            }
        }
        if !any {
            return (None, vec![]);
        }
        if !changed {
            return (None, failed);
        }
        let callers = callers_of(&tokens, &self.certified);
        let next = Apps {
            certified: self.certified.clone(),
            config: self.config.clone(),
            apps: self.apps.clone(),
            callers,
            tokens,
            auth: Inbound::new(&self.config.load_auth_tokens().unwrap_or_default()),
            openim,
            openim_app: self.openim_app,
        };
        (Some(next), failed)
    }
}

/// The OpenIM face's state for `tenant` (the app it serves: its key names
/// the face's Redis records), keeping `old`'s kicks and login throttle.
fn openim_state(
    config: &Config,
    tenant: &Tenant,
    legacy: &[Secret],
    metrics: &Metrics,
    old: Option<&openim::State>,
) -> Result<openim::State, ConfigError> {
    let state = openim::State::new(
        &config.for_app(&tenant.spec),
        Inbound::new(legacy),
        metrics,
        tenant.vendor.redis(),
    )?;
    Ok(match old {
        Some(old) => state.carrying(old),
        None => state,
    })
}

/// The callers' registry from each caller's token and certificate name.
fn callers_of(tokens: &[(Caller, SecretRef, Secret)], certified: &[(Caller, String)]) -> Callers {
    let subject = |c: &Caller| {
        certified
            .iter()
            .find(|(o, _)| o.name == c.name)
            .map(|(_, s)| s.clone())
    };
    let with_token = tokens
        .iter()
        .map(|(c, _, t)| (c.clone(), Some(t.clone()), subject(c)));
    let cert_only = certified
        .iter()
        .filter(|(c, _)| !tokens.iter().any(|(o, _, _)| o.name == c.name))
        .map(|(c, s)| (c.clone(), None, Some(s.clone())));
    Callers::new(with_token.chain(cert_only).collect())
}

pub struct App {
    /// The config the gateway started with: the listeners and Redis are
    /// its for good (a reload that changes them says a restart is needed).
    config: Config,
    /// The file a reload reads, when started from one.
    path: Option<PathBuf>,
    /// `--listen`, which a reload keeps over the file's `server.listen`.
    listen: Option<std::net::SocketAddr>,
    live: RwLock<Arc<Apps>>,
    /// The first app as started (for callers that know one app).
    first: Arc<Tenant>,
    metrics: Metrics,
    writes: Writes,
    /// `[server.tls]`'s certificate, swapped on reload (a restart is
    /// needed to turn it on or off: the listener is the started config's).
    tls: Option<tls::Inbound>,
}

impl App {
    /// Validates `config` and builds everything; `secret` is the app secret
    /// of a config without `[[apps]]` (every other secret is loaded here).
    pub fn new(config: Config, secret: Secret) -> Result<App, ConfigError> {
        config.validate()?;
        let mut labels = Vec::new();
        for spec in config.app_specs()? {
            for u in config.for_app(&spec).base_urls()? {
                if !labels.contains(&u.label) {
                    labels.push(u.label);
                }
            }
        }
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        // One app and no callers: every API request's labels are known.
        let specs = config.app_specs()?;
        let default_app = match specs.as_slice() {
            [only] if config.callers.is_empty() => only.name.as_str(),
            _ => "-",
        };
        let metrics = Metrics::for_data_centers(&labels, &FACES, default_app);
        let apps = Apps::build(config.clone(), None, &metrics, Some(secret))?;
        let tls = config
            .server
            .tls
            .as_ref()
            .map(tls::Inbound::new)
            .transpose()?;
        Ok(App {
            tls,
            first: apps.apps[0].clone(),
            live: RwLock::new(Arc::new(apps)),
            path: None,
            listen: None,
            metrics,
            writes: Writes::default(),
            config,
        })
    }

    /// Every app secret and token loaded from the config's own references.
    pub fn from_config(config: Config) -> Result<App, ConfigError> {
        let secret = config.load_secret()?;
        App::new(config, secret)
    }

    /// The file SIGHUP reloads the config from, and the command line's
    /// `--listen` (kept over the file's at each reload).
    pub fn with_path(mut self, path: PathBuf, listen: Option<std::net::SocketAddr>) -> App {
        self.path = Some(path);
        self.listen = listen;
        self
    }

    /// The config as started (listeners, server limits).
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The apps and callers now; a request keeps this to its end.
    pub fn apps(&self) -> Arc<Apps> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first app's vendor client as started (the only one without
    /// `[[apps]]`).
    pub fn vendor(&self) -> &vendor::Client {
        &self.first.vendor
    }

    /// The first app's duplicate protection, unless it is off.
    pub fn idempotency(&self) -> Option<&Idempotency> {
        (self.config.dedup.window_ms > 0).then_some(&self.first.idempotency)
    }

    /// Writes running in their own tasks (shutdown waits for them).
    pub fn writes(&self) -> &Writes {
        &self.writes
    }

    /// Inbound TLS, when `[server.tls]` is set.
    pub fn tls(&self) -> Option<&tls::Inbound> {
        self.tls.as_ref()
    }
}
