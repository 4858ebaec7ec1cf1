//! `gateway.toml`: schema, defaults and validation.
//!
//! Every key has a default except `upstream.urls` and `upstream.app_key`.
//! Unknown keys are errors, so a typo never silently falls back to a default.
//! [`Config::load`] returns one message that names the key and the problem.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderValue, Uri};
use serde::{Deserialize, Serialize};

use crate::entrust::limit;
use crate::secret::Secret;

/// A configuration problem: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(key: &str, problem: impl fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("{key}: {problem}")))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub rate_limit: RateLimitConfig,
    /// The OpenIM face's admin credentials; without this section OpenIM
    /// routes need no token.
    pub openim: Option<OpenImConfig>,
    pub admin: AdminConfig,
    pub dedup: DedupConfig,
    pub log: LogConfig,
    /// With this section the quota is shared by every gateway using the same
    /// Redis and app key (see [`crate::limit::fleet`]).
    pub redis: Option<RedisConfig>,
}

/// `[redis]`: where the fleet's shared quota lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://` (TLS). It may
    /// hold a password, so it never prints; prefer `url_env`.
    #[serde(skip_serializing)]
    pub url: Option<Secret>,
    /// Or the name of an environment variable holding the URL.
    pub url_env: Option<String>,
    /// Bound on every Redis call (connecting included).
    pub timeout_ms: u64,
    /// Keys are `<key_prefix>:<app_key>:quota:<path>`.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            url_env: None,
            timeout_ms: 100,
            key_prefix: "entrust-gateway".into(),
        }
    }
}

/// What the quota does while Redis is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRedisError {
    /// A local quota of `fallback_per_second` per path, per instance.
    #[default]
    Local,
    /// 429 for every call until Redis answers again.
    Reject,
}

/// Duplicate protection for retried writes (see [`crate::dedup`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long a write's answer is kept for replay; 0 switches it off.
    pub window_ms: u64,
    /// Most answers kept at once; past it the oldest finished are evicted.
    pub max_entries: usize,
    /// The request header holding the caller's key.
    pub key_header: String,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window_ms: 60_000,
            // 16 write paths x 96/s (the quota less its headroom) x 60 s =
            // 92,160 writes in one window at most, rounded up.
            max_entries: 100_000,
            key_header: "idempotency-key".into(),
        }
    }
}

impl DedupConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if http::HeaderName::from_bytes(self.key_header.as_bytes()).is_err() {
            return err("dedup.key_header", "is not a valid header name");
        }
        Ok(())
    }
}

/// An optional second listener serving only `/healthz`, `/readyz` and
/// `/metrics`, e.g. on the pod IP for kubelet probes and scrapers while the
/// API stays on loopback.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// Time a client has to send its request headers (slow-loris guard).
    /// It also closes keep-alive connections idle this long, so callers'
    /// connection pools should drop idle connections sooner.
    pub header_read_timeout_ms: u64,
    /// Time a request may take from its headers to its answer, waiting included.
    pub request_timeout_ms: u64,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub drain_timeout_ms: u64,
    /// Name of an environment variable holding bearer tokens (comma-separated)
    /// that callers of the entrust face (and of the OpenIM face when there is
    /// no `[openim]` section) must send as `Authorization: Bearer`.
    pub auth_tokens_env: Option<String>,
    /// Or a file holding them, one per line.
    pub auth_tokens_file: Option<PathBuf>,
    /// Entrust paths forwarded besides the vendor's documented ones (e.g. an
    /// endpoint the vendor added after this release); anything else is 404.
    pub extra_entrust_paths: Vec<String>,
    /// Request bodies held in memory at once, all connections together;
    /// past it, 503 with Retry-After.
    pub max_body_memory_bytes: usize,
    /// Longest an answer may wait for the caller to take it; past it the
    /// connection is closed (a caller that pipelines and never reads).
    pub write_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // See the README's limits section for the arithmetic.
            max_body_bytes: 128 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout_ms: 30_000,
            request_timeout_ms: 60_000,
            max_connections: 4096,
            drain_timeout_ms: 30_000,
            auth_tokens_env: None,
            auth_tokens_file: None,
            extra_entrust_paths: Vec::new(),
            max_body_memory_bytes: 64 * 1024 * 1024,
            write_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Data-center base URLs in failover order, primary first.
    pub urls: Vec<String>,
    pub app_key: String,
    /// Name of the environment variable holding the app secret.
    pub app_secret_env: Option<String>,
    /// The app secret inline (discouraged: it then lives in a file on disk).
    #[serde(skip_serializing)]
    pub app_secret: Option<Secret>,
    /// A file holding the app secret (e.g. a mounted Kubernetes secret).
    pub app_secret_file: Option<PathBuf>,
    /// How often `app_secret_file` is checked for changes (SIGHUP also reloads it).
    pub secret_poll_ms: u64,
    /// Whole-request timeout for one upstream attempt.
    pub timeout_ms: u64,
    /// TCP connect and TLS handshake together (the request was never sent).
    pub connect_timeout_ms: u64,
    /// Extra PEM roots trusted besides the public web roots.
    pub ca_file: Option<PathBuf>,
    /// At most one data-center switch per this period (the Go SDK uses 30 s).
    pub failover_cooldown_ms: u64,
    /// Idle pooled connections are closed after this (the vendor asks < 55 s).
    pub pool_idle_timeout_ms: u64,
    pub pool_max_idle_per_host: usize,
    /// Requests being sent to or answered by the vendor at once, every data
    /// center together; more wait for a slot (never sent meanwhile).
    pub max_in_flight: usize,
    /// Largest upstream answer accepted.
    pub max_response_bytes: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            urls: Vec::new(),
            app_key: String::new(),
            app_secret_env: None,
            app_secret: None,
            app_secret_file: None,
            secret_poll_ms: 5_000,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            ca_file: None,
            failover_cooldown_ms: 30_000,
            pool_idle_timeout_ms: 50_000,
            pool_max_idle_per_host: 256,
            max_in_flight: 256,
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

/// One quota per upstream API path.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Off only for benchmarks: the vendor then answers 1008 past its limit.
    pub enabled: bool,
    pub per_second: u32,
    /// Longest a caller is made to wait for its turn; past it, 429 at once.
    pub max_wait_ms: u64,
    /// Most callers waiting on one path; past it, 429 at once.
    pub max_queue: usize,
    /// Percent of the quota kept unused, so jitter on the way to the vendor
    /// can't push a one-second window over its limit.
    pub headroom_percent: u32,
    /// After the vendor itself answers 1008 on a path, refuse that path for this long.
    pub upstream_backoff_ms: u64,
    /// Per-path overrides, keyed by the full path (`/entrust/group/create.json`).
    pub paths: BTreeMap<String, PathLimit>,
    /// With `[redis]`: what to do while Redis is unreachable.
    pub on_redis_error: OnRedisError,
    /// With `[redis]`: each path's quota per instance while Redis is
    /// unreachable (`on_redis_error = "local"`); set it to per_second / instances.
    pub fallback_per_second: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            per_second: limit::RATE_PER_SECOND,
            max_wait_ms: 2_000,
            max_queue: 1_000,
            headroom_percent: 4,
            upstream_backoff_ms: 1_000,
            paths: BTreeMap::new(),
            on_redis_error: OnRedisError::Local,
            fallback_per_second: 10,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathLimit {
    pub per_second: Option<u32>,
    pub max_wait_ms: Option<u64>,
    pub max_queue: Option<usize>,
}

/// The limits that apply to one path, overrides folded in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveLimit {
    pub per_second: u32,
    pub max_wait: Duration,
    pub max_queue: usize,
}

impl RateLimitConfig {
    pub fn for_path(&self, path: &str) -> EffectiveLimit {
        let o = self.paths.get(path);
        EffectiveLimit {
            per_second: o.and_then(|o| o.per_second).unwrap_or(self.per_second),
            max_wait: Duration::from_millis(
                o.and_then(|o| o.max_wait_ms).unwrap_or(self.max_wait_ms),
            ),
            max_queue: o.and_then(|o| o.max_queue).unwrap_or(self.max_queue),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenImConfig {
    /// The secret `/auth/get_admin_token` checks (OpenIM's `share.secret`).
    #[serde(skip_serializing)]
    pub secret: Option<Secret>,
    /// Or the name of an environment variable holding it.
    pub secret_env: Option<String>,
    /// User IDs allowed to get an admin token (OpenIM's `imAdminUserID`).
    pub admin_user_ids: Vec<String>,
    /// Token lifetime; OpenIM's default is 90 days.
    pub token_expire_seconds: u64,
}

impl Default for OpenImConfig {
    fn default() -> Self {
        OpenImConfig {
            secret: None,
            secret_env: None,
            admin_user_ids: Vec::new(),
            token_expire_seconds: 90 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `entrust_gateway=debug`); `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A parsed upstream base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub uri: Uri,
    /// The URL as written, for logs and metric labels (it holds no secret).
    pub label: String,
}

/// Where the app secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    Inline,
    File(PathBuf),
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(text, "", &e))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            parse_error(text, &key, e.inner())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let u = &self.upstream;
        self.base_urls()?;
        if u.app_key.is_empty() {
            return err("upstream.app_key", "must be set");
        }
        if HeaderValue::from_str(&u.app_key).is_err() || u.app_key.trim() != u.app_key {
            return err("upstream.app_key", "must be printable ASCII without spaces");
        }
        self.secret_source()?;
        if u.pool_idle_timeout_ms >= 55_000 {
            return err(
                "upstream.pool_idle_timeout_ms",
                "must be under 55000: the vendor closes keep-alive connections idle for 55 s",
            );
        }
        // Every number's bounds, zero included (one table: check_ranges).
        self.check_ranges()?;
        if let Some(ca) = &u.ca_file
            && !ca.is_file()
        {
            return err(
                "upstream.ca_file",
                format!("{} is not a readable file", ca.display()),
            );
        }
        let r = &self.rate_limit;
        for path in r.paths.keys() {
            if crate::route::entrust_path(path).is_none() {
                return err(
                    &format!("rate_limit.paths.\"{path}\""),
                    "is not an /entrust/....json path",
                );
            }
        }
        if let Some(o) = &self.openim {
            match (&o.secret, &o.secret_env) {
                (Some(_), Some(_)) => {
                    return err(
                        "openim.secret",
                        "set either openim.secret or openim.secret_env, not both",
                    );
                }
                (None, None) => return err("openim.secret", "must be set (or openim.secret_env)"),
                _ => {}
            }
            if o.admin_user_ids.is_empty() {
                return err("openim.admin_user_ids", "must list at least one user ID");
            }
        }
        self.dedup.validate()?;
        self.validate_edge()?;
        check_log_level(&self.log.level)?;
        self.validate_redis()?;
        Ok(())
    }

    /// Upper (and lower) bounds for every number, so that no value can
    /// overflow a timer (`Instant + Duration` panics) or a semaphore
    /// (`max_connections` above 2^61 panics), or pass as nonsense.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        const GIB: u64 = 1 << 30;
        let (s, u, r, d) = (&self.server, &self.upstream, &self.rate_limit, &self.dedup);
        let n = |v: usize| v as u64;
        let mut checks: Vec<(String, u64, u64, u64)> = vec![
            ("server.max_body_bytes".into(), n(s.max_body_bytes), 1, GIB),
            (
                "server.max_header_bytes".into(),
                n(s.max_header_bytes),
                8192,
                1 << 20,
            ),
            (
                "server.header_read_timeout_ms".into(),
                s.header_read_timeout_ms,
                1,
                DAY_MS,
            ),
            (
                "server.request_timeout_ms".into(),
                s.request_timeout_ms,
                1,
                DAY_MS,
            ),
            (
                "server.max_connections".into(),
                n(s.max_connections),
                1,
                1_000_000,
            ),
            (
                "server.drain_timeout_ms".into(),
                s.drain_timeout_ms,
                0,
                DAY_MS,
            ),
            (
                "upstream.secret_poll_ms".into(),
                u.secret_poll_ms,
                1,
                DAY_MS,
            ),
            ("upstream.timeout_ms".into(), u.timeout_ms, 1, DAY_MS),
            (
                "upstream.connect_timeout_ms".into(),
                u.connect_timeout_ms,
                1,
                DAY_MS,
            ),
            (
                "upstream.failover_cooldown_ms".into(),
                u.failover_cooldown_ms,
                0,
                DAY_MS,
            ),
            (
                "upstream.pool_idle_timeout_ms".into(),
                u.pool_idle_timeout_ms,
                1,
                54_999,
            ),
            (
                "upstream.pool_max_idle_per_host".into(),
                n(u.pool_max_idle_per_host),
                0,
                100_000,
            ),
            (
                "upstream.max_in_flight".into(),
                n(u.max_in_flight),
                1,
                100_000,
            ),
            (
                "upstream.max_response_bytes".into(),
                n(u.max_response_bytes),
                1,
                GIB,
            ),
            (
                "rate_limit.per_second".into(),
                r.per_second.into(),
                1,
                1_000_000,
            ),
            ("rate_limit.max_wait_ms".into(), r.max_wait_ms, 0, DAY_MS),
            ("rate_limit.max_queue".into(), n(r.max_queue), 1, 1_000_000),
            (
                "rate_limit.headroom_percent".into(),
                r.headroom_percent.into(),
                0,
                49,
            ),
            (
                "rate_limit.upstream_backoff_ms".into(),
                r.upstream_backoff_ms,
                0,
                DAY_MS,
            ),
            (
                "rate_limit.fallback_per_second".into(),
                r.fallback_per_second.into(),
                1,
                1_000_000,
            ),
            ("dedup.window_ms".into(), d.window_ms, 0, DAY_MS),
            ("dedup.max_entries".into(), n(d.max_entries), 1, 100_000_000),
        ];
        for (path, o) in &r.paths {
            let key = |k: &str| format!("rate_limit.paths.\"{path}\".{k}");
            if let Some(v) = o.per_second {
                checks.push((key("per_second"), v.into(), 1, 1_000_000));
            }
            if let Some(v) = o.max_wait_ms {
                checks.push((key("max_wait_ms"), v, 0, DAY_MS));
            }
            if let Some(v) = o.max_queue {
                checks.push((key("max_queue"), n(v), 1, 1_000_000));
            }
        }
        if let Some(redis) = &self.redis {
            checks.push(("redis.timeout_ms".into(), redis.timeout_ms, 1, DAY_MS));
        }
        if let Some(o) = &self.openim {
            // Ten years: an expiry time far past that overflows nothing but
            // means a token that never ends.
            let max = 3650 * 24 * 3600;
            checks.push((
                "openim.token_expire_seconds".into(),
                o.token_expire_seconds,
                1,
                max,
            ));
        }
        for (key, v, min, max) in checks {
            check_range(&key, v, min, max)?;
        }
        Ok(())
    }

    /// The keys of the edge limits (paths, body memory, write deadline).
    fn validate_edge(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        let routes = crate::route::Routes::new(&s.extra_entrust_paths)?;
        // An override for a path that is never forwarded is a typo.
        if let Some(p) = self
            .rate_limit
            .paths
            .keys()
            .find(|p| routes.entrust(p).is_none())
        {
            return err(
                &format!("rate_limit.paths.\"{p}\""),
                "is not a documented entrust path or in server.extra_entrust_paths",
            );
        }
        if s.write_timeout_ms == 0 {
            return err("server.write_timeout_ms", "must be greater than 0");
        }
        if s.max_body_memory_bytes < s.max_body_bytes {
            return err(
                "server.max_body_memory_bytes",
                "must be at least server.max_body_bytes",
            );
        }
        Ok(())
    }

    /// `[redis]`, `rate_limit.on_redis_error` and `rate_limit.fallback_per_second`.
    fn validate_redis(&self) -> Result<(), ConfigError> {
        let Some(r) = &self.redis else {
            return Ok(());
        };
        match (&r.url, &r.url_env) {
            (Some(_), Some(_)) => {
                return err(
                    "redis.url",
                    "set either redis.url or redis.url_env, not both",
                );
            }
            (None, None) => return err("redis.url", "must be set (or redis.url_env)"),
            (Some(url), None) => check_redis_url("redis.url", url)?,
            (None, Some(_)) => {}
        }
        if r.key_prefix.is_empty() || r.key_prefix.contains(char::is_whitespace) {
            return err("redis.key_prefix", "must be non-empty, without spaces");
        }
        Ok(())
    }

    /// The Redis URL from `redis.url` or `redis.url_env`, checked (not
    /// connected); `None` without `[redis]`.
    pub fn load_redis_url(&self) -> Result<Option<Secret>, ConfigError> {
        let Some(r) = &self.redis else {
            return Ok(None);
        };
        let (key, url) = match (&r.url, &r.url_env) {
            (Some(url), _) => ("redis.url", url.clone()),
            (None, Some(name)) => match std::env::var(name) {
                Ok(v) => ("redis.url_env", Secret::new(v.trim().to_string())),
                Err(_) => {
                    return err(
                        "redis.url_env",
                        format!("environment variable {name} is not set"),
                    );
                }
            },
            (None, None) => return err("redis.url", "must be set (or redis.url_env)"),
        };
        check_redis_url(key, &url)?;
        Ok(Some(url))
    }

    /// The upstream URLs, parsed, in failover order.
    pub fn base_urls(&self) -> Result<Vec<BaseUrl>, ConfigError> {
        if self.upstream.urls.is_empty() {
            return err("upstream.urls", "must list at least one data-center URL");
        }
        self.upstream
            .urls
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = format!("upstream.urls[{i}]");
                let shown = without_userinfo(s);
                if shown != *s {
                    // Never used for signing, and it would show in /readyz,
                    // metric labels and logs.
                    return err(
                        &key,
                        format!("{shown:?} must not hold user:password@ (the vendor authenticates by signature)"),
                    );
                }
                let uri: Uri = match s.parse() {
                    Ok(u) => u,
                    Err(e) => return err(&key, format!("{s:?} is not a URL: {e}")),
                };
                match uri.scheme_str() {
                    Some("http") | Some("https") => {}
                    _ => return err(&key, format!("{s:?} must start with http:// or https://")),
                }
                if uri.host().is_none_or(str::is_empty) {
                    return err(&key, format!("{s:?} has no host"));
                }
                if uri.query().is_some() {
                    return err(&key, format!("{s:?} must not have a query"));
                }
                Ok(BaseUrl {
                    uri,
                    label: s.trim_end_matches('/').to_string(),
                })
            })
            .collect()
    }

    /// Exactly one of `app_secret_env`, `app_secret`, `app_secret_file`.
    pub fn secret_source(&self) -> Result<SecretSource, ConfigError> {
        let u = &self.upstream;
        let set = [
            u.app_secret_env.is_some(),
            u.app_secret.is_some(),
            u.app_secret_file.is_some(),
        ];
        match set {
            [true, false, false] => Ok(SecretSource::Env(
                u.app_secret_env.clone().unwrap_or_default(),
            )),
            [false, true, false] => Ok(SecretSource::Inline),
            [false, false, true] => Ok(SecretSource::File(
                u.app_secret_file.clone().unwrap_or_default(),
            )),
            [false, false, false] => err(
                "upstream.app_secret_env",
                "must be set (or upstream.app_secret_file, or upstream.app_secret)",
            ),
            _ => err(
                "upstream.app_secret_env",
                "set only one of upstream.app_secret_env, upstream.app_secret_file, upstream.app_secret",
            ),
        }
    }

    /// Reads the app secret from its source. Fails at startup, never later.
    pub fn load_secret(&self) -> Result<Secret, ConfigError> {
        let value = match self.secret_source()? {
            SecretSource::Env(name) => match std::env::var(&name) {
                Ok(v) => v,
                Err(_) => {
                    return err(
                        "upstream.app_secret_env",
                        format!("environment variable {name} is not set"),
                    );
                }
            },
            SecretSource::Inline => self
                .upstream
                .app_secret
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
            SecretSource::File(path) => {
                read_secret_file(&path).or_else(|e| err("upstream.app_secret_file", e))?
            }
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            // Name the key the operator set, not a generic one.
            return match self.secret_source()? {
                SecretSource::Env(name) => err(
                    "upstream.app_secret_env",
                    format!("environment variable {name} is empty"),
                ),
                SecretSource::File(_) => err("upstream.app_secret_file", "the file is empty"),
                SecretSource::Inline => err("upstream.app_secret", "is empty"),
            };
        }
        Ok(Secret::new(value))
    }

    /// Inbound bearer tokens for the entrust face; empty when none is configured.
    pub fn load_auth_tokens(&self) -> Result<Vec<Secret>, ConfigError> {
        let s = &self.server;
        let text = match (&s.auth_tokens_env, &s.auth_tokens_file) {
            (Some(_), Some(_)) => {
                return err(
                    "server.auth_tokens_env",
                    "set either auth_tokens_env or auth_tokens_file, not both",
                );
            }
            (Some(name), None) => std::env::var(name).or_else(|_| {
                err(
                    "server.auth_tokens_env",
                    format!("environment variable {name} is not set"),
                )
            })?,
            (None, Some(path)) => std::fs::read_to_string(path).or_else(|e| {
                err(
                    "server.auth_tokens_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
            (None, None) => return Ok(Vec::new()),
        };
        let tokens: Vec<Secret> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Secret::new(t.to_string()))
            .collect();
        if tokens.is_empty() {
            return err("server.auth_tokens_env", "no token found");
        }
        Ok(tokens)
    }

    /// The OpenIM admin secret, if `[openim]` is configured.
    pub fn load_openim_secret(&self) -> Result<Option<Secret>, ConfigError> {
        let Some(o) = &self.openim else {
            return Ok(None);
        };
        let value = match (&o.secret, &o.secret_env) {
            (Some(s), _) => s.expose().to_string(),
            (None, Some(name)) => std::env::var(name).or_else(|_| {
                err(
                    "openim.secret_env",
                    format!("environment variable {name} is not set"),
                )
            })?,
            (None, None) => return err("openim.secret", "must be set"),
        };
        if value.is_empty() {
            return err("openim.secret", "is empty");
        }
        Ok(Some(Secret::new(value)))
    }

    /// The effective config as TOML, with every secret left out.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// One line naming the dotted key (when known) and the line number, built
/// from toml's bare message: toml's own rendering quotes the offending source
/// line, which may hold an inline secret.
fn parse_error(text: &str, key: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    // serde's messages quote the offending value; a secret's must not be
    // shown. An unknown key's message quotes only key names.
    let message = if key.contains("secret") && !e.message().starts_with("unknown field") {
        "invalid value (not shown: the key holds a secret)".to_string()
    } else {
        e.message().split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // An address is parsed, never resolved: say what is expected.
    let message = if key.ends_with("listen") {
        format!(
            "{message}: expected an IP address and port such as \"127.0.0.1:8080\" (host names such as localhost are not resolved)"
        )
    } else {
        message
    };
    let key = match key {
        "" | "." | "?" => String::new(),
        k => format!("{k}: "),
    };
    match line {
        Some(n) => ConfigError(format!("{key}{message} (line {n})")),
        None => ConfigError(format!("{key}{message}")),
    }
}

/// `Err` naming `key` unless `min <= v <= max`. Every number in the config
/// goes through this, so no value can overflow a timer or a semaphore later.
pub fn check_range(key: &str, v: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if v < min || v > max {
        return err(key, format!("{v} is out of range ({min}..={max})"));
    }
    Ok(())
}

/// Checks a `log.level` filter. `EnvFilter` reads a bare word as a target
/// name, so `"loud"` would parse and then silence every log line; here a bare
/// word must be a level, and a target is written `target=level`.
fn check_log_level(filter: &str) -> Result<(), ConfigError> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |w: &str| LEVELS.contains(&w.trim().to_ascii_lowercase().as_str());
    if filter.trim().is_empty() {
        return err("log.level", "must be set (e.g. \"info\")");
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let ok = match directive.rsplit_once('=') {
            // `target[span{field=value}]=level` and the like: the level is last.
            Some((_, level)) => is_level(level),
            None => is_level(directive),
        };
        if !ok {
            return err(
                "log.level",
                format!(
                    "{directive:?} is not a level ({}) or a target=level directive",
                    LEVELS.join(", ")
                ),
            );
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .or_else(|e| err("log.level", e))
}

/// A URL for an error message, any `user:password@` left out.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// A Redis URL the client accepts. The message never repeats the URL: it
/// may hold a password.
fn check_redis_url(key: &str, url: &Secret) -> Result<(), ConfigError> {
    let u = url.expose();
    if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
        return err(key, "must start with redis:// or rediss://");
    }
    redis::Client::open(u)
        .map(drop)
        .or_else(|e| err(key, format!("not a Redis URL ({:?})", e.kind())))
}

/// A secret file's trimmed content; an empty file is an error.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[upstream]
urls = ["https://api.rong-api.com", "http://127.0.0.1:9000/base/"]
app_key = "key"
app_secret = "s"
"#;

    #[test]
    fn defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_urls().unwrap().len(), 2);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[upstream]\napp_key='k'\napp_secret='s'", "upstream.urls"),
            (
                "[upstream]\nurls=['ftp://x']\napp_key='k'\napp_secret='s'",
                "upstream.urls[0]",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_secret='s'",
                "upstream.app_key",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'",
                "upstream.app_secret_env",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\ntimeout_ms=0",
                "upstream.timeout_ms",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\nbogus=1",
                "bogus",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\n[rate_limit]\nper_second=0",
                "rate_limit.per_second",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret_env='ENTRUST_GW_TEST_UNSET_VAR'",
                "ENTRUST_GW_TEST_UNSET_VAR",
            ),
            (
                "[server]\nextra_entrust_paths=['/user/x.json']\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
                "server.extra_entrust_paths[0]",
            ),
            (
                "[server]\nwrite_timeout_ms=0\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
                "server.write_timeout_ms",
            ),
            (
                "[server]\nmax_body_memory_bytes=1\n[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'",
                "server.max_body_memory_bytes",
            ),
            (
                "[upstream]\nurls=['http://x']\napp_key='k'\napp_secret='s'\n[rate_limit.paths.\"/entrust/typo.json\"]\nper_second=5",
                "rate_limit.paths",
            ),
        ];
        for (text, key) in cases {
            let e = Config::parse(text).and_then(|c| c.load_secret().map(|_| c));
            let msg = e.expect_err(text).0;
            assert!(msg.contains(key), "{msg:?} should name {key}");
        }
    }

    #[test]
    fn debug_output_has_no_secret() {
        let text = GOOD.replace("app_secret = \"s\"", "app_secret = \"hunter2-secret\"")
            + "[openim]\nsecret = \"openim-secret-9\"\nadmin_user_ids = [\"a\"]\n";
        let c = Config::parse(&text).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2-secret") && !debug.contains("openim-secret-9"));
        assert_eq!(c.load_secret().unwrap().expose(), "hunter2-secret");
    }

    #[test]
    fn redacted_config_has_no_secret() {
        let c =
            Config::parse(&GOOD.replace("app_secret = \"s\"", "app_secret = \"hunter2-secret\""))
                .unwrap();
        assert!(!c.redacted_toml().contains("hunter2-secret"));
    }

    #[test]
    fn redis_keys_are_checked_and_the_url_never_prints() {
        let with = |extra: &str| format!("{GOOD}{extra}");
        let c = Config::parse(&with(
            "[redis]\nurl = \"redis://:pw-Xy7@127.0.0.1:6379/0\"\n",
        ))
        .unwrap();
        let r = c.redis.as_ref().unwrap();
        assert_eq!(
            (r.timeout_ms, r.key_prefix.as_str()),
            (100, "entrust-gateway")
        );
        assert_eq!(c.rate_limit.on_redis_error, OnRedisError::Local);
        assert_eq!(c.rate_limit.fallback_per_second, 10);
        assert!(!format!("{c:?}").contains("pw-Xy7"));
        assert!(!c.redacted_toml().contains("pw-Xy7"));
        for (extra, key) in [
            ("[redis]\ntimeout_ms = 5\n", "redis.url"),
            (
                "[redis]\nurl = \"redis://h\"\nurl_env = \"X\"\n",
                "redis.url",
            ),
            ("[redis]\nurl = \"http://h:pw-Xy7@x\"\n", "redis.url"),
            (
                "[redis]\nurl = \"redis://h\"\ntimeout_ms = 0\n",
                "redis.timeout_ms",
            ),
            (
                "[redis]\nurl = \"redis://h\"\nkey_prefix = \"\"\n",
                "redis.key_prefix",
            ),
            (
                "[rate_limit]\nfallback_per_second = 0\n",
                "rate_limit.fallback_per_second",
            ),
            (
                "[rate_limit]\non_redis_error = \"ignore\"\n",
                "on_redis_error",
            ),
        ] {
            let msg = Config::parse(&with(extra)).expect_err(extra).0;
            assert!(msg.contains(key), "{msg:?} should name {key}");
            assert!(!msg.contains("pw-Xy7"), "{msg:?}");
        }
        let c = Config::parse(&with(
            "[redis]\nurl_env = \"ENTRUST_GW_TEST_UNSET_REDIS\"\n",
        ))
        .unwrap();
        let msg = c.load_redis_url().unwrap_err().0;
        assert!(msg.contains("ENTRUST_GW_TEST_UNSET_REDIS"), "{msg}");
    }
}
