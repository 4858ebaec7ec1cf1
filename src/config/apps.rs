//! Several vendor apps in one gateway (`[[apps]]`), the services that call
//! it (`[[callers]]`), and the one way every secret is given
//! ([`SecretRef`]).
//!
//! A config without `[[apps]]` is one app named `default`, made of
//! `[upstream]` and `[rate_limit]` as before: [`Config::app_specs`] gives
//! every app the same shape either way, and [`Config::for_app`] the config
//! its vendor client is built from (its key, data centers and limits in
//! place of the top-level ones), so the vendor client, its quota and its
//! Redis keys need to know nothing of apps.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, PathLimit, RateLimitConfig, err};
use crate::secret::Secret;

/// The name of the one app a config without `[[apps]]` has.
pub const DEFAULT_APP: &str = "default";

/// Where a secret comes from: inline in the config (accepted, and warned
/// about: it then lives in the file), an environment variable
/// (`{ env = "NAME" }`) or a file (`{ file = "PATH" }`, re-read on SIGHUP
/// and when it changes). Printed without the inline value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Inline(Secret),
    Env { env: String },
    File { file: PathBuf },
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            SecretRef::Inline(_) => m.serialize_entry("inline", "[redacted]")?,
            SecretRef::Env { env } => m.serialize_entry("env", env)?,
            SecretRef::File { file } => m.serialize_entry("file", file)?,
        }
        m.end()
    }
}

impl SecretRef {
    /// Reads the secret now (trimmed); `key` names it in the error. The
    /// message never holds the value.
    pub fn load(&self, key: &str) -> Result<Secret, ConfigError> {
        let value = match self {
            SecretRef::Inline(s) => s.expose().to_string(),
            SecretRef::Env { env } => match std::env::var(env) {
                Ok(v) => v,
                Err(_) => return err(key, format!("environment variable {env} is not set")),
            },
            SecretRef::File { file } => super::read_secret_file(file).or_else(|e| err(key, e))?,
        };
        let value = value.trim();
        if value.is_empty() {
            return match self {
                SecretRef::Env { env } => err(key, format!("environment variable {env} is empty")),
                _ => err(key, "is empty"),
            };
        }
        Ok(Secret::new(value.to_string()))
    }

    /// The file to watch, for a secret kept in one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            SecretRef::File { file } => Some(file),
            _ => None,
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, SecretRef::Inline(_))
    }
}

/// `[[apps]]`: one vendor app.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// `[a-z0-9-]`, unique: the app's label in logs and metrics.
    pub name: String,
    pub app_key: String,
    pub app_secret: SecretRef,
    /// Its own data centers, in failover order; default `upstream.urls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Its own quota settings; each one unset is `[rate_limit]`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<AppRateLimit>,
}

/// `[apps.rate_limit]`: an app's overrides of `[rate_limit]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppRateLimit {
    pub per_second: Option<u32>,
    pub max_wait_ms: Option<u64>,
    pub max_queue: Option<usize>,
    /// Per-path overrides, as `rate_limit.paths`, replacing them for this app.
    pub paths: Option<BTreeMap<String, PathLimit>>,
}

/// `[[callers]]`: a service allowed to call the gateway, and the app its
/// calls are made as.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// `[a-z0-9-]`, unique: the caller's label in logs and metrics.
    pub name: String,
    /// The bearer token it sends (`Authorization: Bearer <token>`); unset
    /// for a caller known only by its client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// A name of its client certificate (the subject DN as RFC 4514 prints
    /// it, or a DNS or URI SAN) that identifies it under mutual TLS
    /// (`server.tls.client_ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
    /// The `[[apps]]` name its calls go out as (`default` without `[[apps]]`).
    pub app: String,
    /// Its share of each path's quota when callers of its app contend, relative
    /// to the others' (1..=1000).
    #[serde(default = "one")]
    pub weight: i64,
    /// Its most permits per second on any one path, whatever is free (unset: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<i64>,
}

fn one() -> i64 {
    1
}

/// One app as the gateway runs it, from `[[apps]]` or from `[upstream]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub name: String,
    pub app_key: String,
    pub secret: SecretRef,
    /// The config key naming the secret, for errors.
    pub secret_key: String,
    pub urls: Vec<String>,
    pub rate_limit: RateLimitConfig,
}

/// A caller's quota terms, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerSpec {
    pub name: String,
    pub token: Option<SecretRef>,
    pub token_key: String,
    pub cert_subject: Option<String>,
    pub app: String,
    pub weight: u32,
    pub max_per_second: Option<u32>,
}

impl PartialEq for RateLimitConfig {
    fn eq(&self, o: &Self) -> bool {
        // Compared through their printed form: every field is plain data.
        toml::to_string(self).ok() == toml::to_string(o).ok()
    }
}

fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        err(key, format!("{name:?} must be 1-64 of a-z, 0-9 and -"))
    }
}

impl Config {
    /// Whether the config lists its apps (`[[apps]]`), rather than the one
    /// `[upstream]` describes.
    pub fn has_apps(&self) -> bool {
        !self.apps.is_empty()
    }

    /// Every app, in config order: `[[apps]]`, or `default` from `[upstream]`.
    pub fn app_specs(&self) -> Result<Vec<AppSpec>, ConfigError> {
        if self.apps.is_empty() {
            let (secret, secret_key) = self.upstream_secret_ref()?;
            return Ok(vec![AppSpec {
                name: DEFAULT_APP.into(),
                app_key: self.upstream.app_key.clone(),
                secret,
                secret_key,
                urls: self.upstream.urls.clone(),
                rate_limit: self.rate_limit.clone(),
            }]);
        }
        Ok(self
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut rl = self.rate_limit.clone();
                if let Some(o) = &a.rate_limit {
                    rl.per_second = o.per_second.unwrap_or(rl.per_second);
                    rl.max_wait_ms = o.max_wait_ms.unwrap_or(rl.max_wait_ms);
                    rl.max_queue = o.max_queue.unwrap_or(rl.max_queue);
                    if let Some(p) = &o.paths {
                        rl.paths = p.clone();
                    }
                }
                AppSpec {
                    name: a.name.clone(),
                    app_key: a.app_key.clone(),
                    secret: a.app_secret.clone(),
                    secret_key: format!("apps[{i}].app_secret"),
                    urls: a.urls.clone().unwrap_or_else(|| self.upstream.urls.clone()),
                    rate_limit: rl,
                }
            })
            .collect())
    }

    /// The config one app's vendor client is built from: the app's key,
    /// data centers and limits in `[upstream]` and `[rate_limit]`.
    pub fn for_app(&self, app: &AppSpec) -> Config {
        let mut c = self.clone();
        c.upstream.app_key = app.app_key.clone();
        c.upstream.urls = app.urls.clone();
        c.rate_limit = app.rate_limit.clone();
        c.apps = Vec::new();
        c.callers = Vec::new();
        c
    }

    /// Every caller, checked against the apps.
    pub fn caller_specs(&self) -> Result<Vec<CallerSpec>, ConfigError> {
        self.callers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Ok(CallerSpec {
                    name: c.name.clone(),
                    token: c.token.clone(),
                    token_key: format!("callers[{i}].token"),
                    cert_subject: c.cert_subject.clone(),
                    app: c.app.clone(),
                    weight: u32::try_from(c.weight).unwrap_or(1),
                    max_per_second: c.max_per_second.and_then(|m| u32::try_from(m).ok()),
                })
            })
            .collect()
    }

    /// `[[apps]]` and `[[callers]]`: names, keys, references, ranges.
    pub(super) fn validate_apps(&self) -> Result<(), ConfigError> {
        let u = &self.upstream;
        if self.has_apps() {
            if !u.app_key.is_empty() {
                return err(
                    "upstream.app_key",
                    "must not be set with [[apps]]: each app has its own app_key",
                );
            }
            if u.app_secret.is_some() || u.app_secret_env.is_some() || u.app_secret_file.is_some() {
                return err(
                    "upstream.app_secret",
                    "must not be set with [[apps]]: each app has its own app_secret",
                );
            }
        }
        let mut names = HashSet::new();
        let mut keys: BTreeMap<&str, &str> = BTreeMap::new();
        for (i, a) in self.apps.iter().enumerate() {
            check_name(&format!("apps[{i}].name"), &a.name)?;
            if !names.insert(a.name.as_str()) {
                return err(
                    &format!("apps[{i}].name"),
                    format!("{:?} names two apps: app names must be unique", a.name),
                );
            }
            if a.app_key.is_empty()
                || http::HeaderValue::from_str(&a.app_key).is_err()
                || a.app_key.trim() != a.app_key
            {
                return err(
                    &format!("apps[{i}].app_key"),
                    "must be set, printable ASCII without spaces",
                );
            }
            if let Some(other) = keys.insert(&a.app_key, &a.name) {
                return err(
                    &format!("apps[{i}].app_key"),
                    format!(
                        "is also apps {other:?}'s: one app_key under two names would share its quota and Redis keys"
                    ),
                );
            }
            if let Some(r) = &a.rate_limit {
                let key = |k: &str| format!("apps[{i}].rate_limit.{k}");
                if let Some(v) = r.per_second {
                    super::check_range(&key("per_second"), v.into(), 1, 1_000_000)?;
                }
                if let Some(v) = r.max_wait_ms {
                    super::check_range(&key("max_wait_ms"), v, 0, 24 * 3600 * 1000)?;
                }
                if let Some(v) = r.max_queue {
                    super::check_range(&key("max_queue"), v as u64, 1, 1_000_000)?;
                }
            }
        }
        for (i, spec) in self.app_specs()?.iter().enumerate() {
            // Each app's data centers are parsed with the top-level rules.
            let c = self.for_app(spec);
            c.base_urls().map_err(|e| {
                if self.has_apps() {
                    ConfigError(format!("apps[{i}].urls (or upstream.urls): {e}"))
                } else {
                    e
                }
            })?;
            if let Some(p) = c.rate_limit.paths.keys().find(|p| {
                crate::allowlist::Routes::new(&self.server.extra_entrust_paths)
                    .ok()
                    .and_then(|r| r.entrust(p).map(drop))
                    .is_none()
            }) {
                return err(
                    &format!("apps[{i}].rate_limit.paths.\"{p}\""),
                    "is not a documented entrust path or in server.extra_entrust_paths",
                );
            }
        }
        let apps: Vec<String> = if self.has_apps() {
            self.apps.iter().map(|a| a.name.clone()).collect()
        } else {
            vec![DEFAULT_APP.to_string()]
        };
        let mut callers = HashSet::new();
        let mut refs: Vec<(&SecretRef, usize)> = Vec::new();
        let mut subjects: Vec<(&String, usize)> = Vec::new();
        for (i, c) in self.callers.iter().enumerate() {
            check_name(&format!("callers[{i}].name"), &c.name)?;
            if !callers.insert(c.name.as_str()) {
                return err(
                    &format!("callers[{i}].name"),
                    format!(
                        "{:?} names two callers: caller names must be unique",
                        c.name
                    ),
                );
            }
            if !apps.contains(&c.app) {
                return err(
                    &format!("callers[{i}].app"),
                    format!("{:?} is not an app (the apps: {})", c.app, apps.join(", ")),
                );
            }
            if !(1..=1000).contains(&c.weight) {
                return err(
                    &format!("callers[{i}].weight"),
                    format!("{} is out of range (1..=1000)", c.weight),
                );
            }
            if let Some(m) = c.max_per_second
                && !(1..=1_000_000).contains(&m)
            {
                return err(
                    &format!("callers[{i}].max_per_second"),
                    format!("{m} is out of range (1..=1000000)"),
                );
            }
            if let Some(token) = &c.token {
                if let Some((_, j)) = refs.iter().find(|(r, _)| *r == token) {
                    return err(
                        &format!("callers[{i}].token"),
                        format!("is also callers[{j}]'s: each caller needs its own token"),
                    );
                }
                refs.push((token, i));
            }
            match &c.cert_subject {
                None if c.token.is_none() => {
                    return err(
                        &format!("callers[{i}].token"),
                        "must be set (or callers[].cert_subject, for a caller known by its client certificate)",
                    );
                }
                None => {}
                Some(sub) if sub.trim().is_empty() => {
                    return err(&format!("callers[{i}].cert_subject"), "must not be empty");
                }
                Some(sub) => {
                    let mutual = self
                        .server
                        .tls
                        .as_ref()
                        .is_some_and(|t| t.client_ca_file.is_some());
                    if !mutual {
                        return err(
                            &format!("callers[{i}].cert_subject"),
                            "needs mutual TLS (server.tls.client_ca_file): without it no request carries a verified certificate",
                        );
                    }
                    if let Some((_, j)) = subjects.iter().find(|(s, _)| *s == sub) {
                        return err(
                            &format!("callers[{i}].cert_subject"),
                            format!("{sub:?} is also callers[{j}]'s: identity would be ambiguous"),
                        );
                    }
                    subjects.push((sub, i));
                }
            }
        }
        if !self.callers.is_empty()
            && (self.server.auth_tokens_env.is_some() || self.server.auth_tokens_file.is_some())
        {
            return err(
                "server.auth_tokens_env",
                "must not be set with [[callers]]: give each service a [[callers]] token instead",
            );
        }
        if self.apps.len() > 1
            && (self.server.auth_tokens_env.is_some() || self.server.auth_tokens_file.is_some())
        {
            return err(
                "server.auth_tokens_env",
                "cannot choose between several apps: list [[callers]], each naming its app",
            );
        }
        if let Some(o) = &self.openim {
            match &o.app {
                Some(a) if !apps.contains(a) => {
                    return err(
                        "openim.app",
                        format!("{a:?} is not an app (the apps: {})", apps.join(", ")),
                    );
                }
                None if apps.len() > 1 => {
                    return err(
                        "openim.app",
                        "must name the app the OpenIM face serves when there are several apps",
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The app the OpenIM face serves: `openim.app`, or the only one.
    pub fn openim_app(&self) -> String {
        match self.openim.as_ref().and_then(|o| o.app.clone()) {
            Some(a) => a,
            None => self
                .apps
                .first()
                .map_or_else(|| DEFAULT_APP.to_string(), |a| a.name.clone()),
        }
    }

    /// Without `[[apps]]`: where `[upstream]`'s secret comes from, the old
    /// spellings (`app_secret_env`, `app_secret_file`) included.
    fn upstream_secret_ref(&self) -> Result<(SecretRef, String), ConfigError> {
        let u = &self.upstream;
        Ok(match self.secret_source()? {
            super::SecretSource::Env(env) => (
                SecretRef::Env { env },
                if u.app_secret_env.is_some() {
                    "upstream.app_secret_env"
                } else {
                    "upstream.app_secret"
                }
                .into(),
            ),
            super::SecretSource::File(file) => (
                SecretRef::File { file },
                if u.app_secret_file.is_some() {
                    "upstream.app_secret_file"
                } else {
                    "upstream.app_secret"
                }
                .into(),
            ),
            super::SecretSource::Inline => (
                u.app_secret
                    .clone()
                    .unwrap_or(SecretRef::Inline(Secret::new(String::new()))),
                "upstream.app_secret".into(),
            ),
        })
    }
}
