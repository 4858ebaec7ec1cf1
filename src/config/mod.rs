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

mod apps;
mod secrets;
mod server_tls;
mod validate;

pub use apps::{
    AppConfig, AppRateLimit, AppSpec, CallerConfig, CallerSpec, DEFAULT_APP, SecretRef,
};
pub use secrets::read_secret_file;
pub use server_tls::TlsConfig;
pub use validate::check_range;

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
    /// Redis and app key (the fleet quota's module doc).
    pub redis: Option<RedisConfig>,
    /// Several vendor apps in one gateway; without it, `[upstream]` is the
    /// one app, named `default`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppConfig>,
    /// The services allowed to call, each with its own token and app;
    /// with it, every API request must carry a caller's token.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callers: Vec<CallerConfig>,
}

/// `[redis]`: where the fleet's shared quota lives: one server (`url` or
/// `url_env`), a Sentinel set (`sentinels` and `master_name`) or a Cluster
/// (`cluster_urls`), exactly one of the three.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://` (TLS), inline
    /// or `{ env = "NAME" }` / `{ file = "PATH" }`. It may hold a password,
    /// so it never prints.
    #[serde(skip_serializing)]
    pub url: Option<SecretRef>,
    /// Or the name of an environment variable holding the URL.
    pub url_env: Option<String>,
    /// A Sentinel set's sentinels, `redis://[user:password@]host:26379`:
    /// the gateway asks them for `master_name`'s master at each
    /// connection. The first URL's user, password, database and TLS are
    /// also the master's. Printed without passwords.
    #[serde(serialize_with = "secrets::urls_without_userinfo")]
    pub sentinels: Option<Vec<Secret>>,
    /// The master's name in the Sentinel set (`sentinel monitor <name> ...`).
    pub master_name: Option<String>,
    /// A Redis Cluster's nodes (some of them are enough: the rest are
    /// found from them), `redis://[user:password@]host:7000`. Printed
    /// without passwords.
    #[serde(serialize_with = "secrets::urls_without_userinfo")]
    pub cluster_urls: Option<Vec<Secret>>,
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
            sentinels: None,
            master_name: None,
            cluster_urls: None,
            timeout_ms: 100,
            key_prefix: "entrust-gateway".into(),
        }
    }
}

/// Where Redis is, from `[redis]`, its URLs loaded ([`Config::redis_topology`]).
#[derive(Debug, Clone)]
pub enum RedisTopology {
    Url(Secret),
    Sentinel {
        sentinels: Vec<Secret>,
        master_name: String,
    },
    Cluster(Vec<Secret>),
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

/// Duplicate protection for retried writes (the idempotency module's doc).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long a write's answer is kept for replay; 0 switches it off.
    pub window_ms: u64,
    /// Most answers kept at once; past it the oldest finished are evicted.
    pub max_entries: usize,
    /// The request header holding the caller's key.
    pub key_header: String,
    /// How long a keyed write whose vendor has not answered within
    /// `upstream.timeout_ms` goes on waiting for the answer, in the
    /// background, after its caller got 504: a retry meanwhile gets 409,
    /// and the answer, when it comes, is kept for the key. Past it the
    /// outcome is unknown, and that is kept (0: no waiting beyond
    /// `upstream.timeout_ms`).
    pub outcome_wait_ms: u64,
    /// With `[redis]`: share the records through a Redis whose
    /// `maxmemory-policy` can evict them (`allkeys-*`, `volatile-*`). By
    /// default such a Redis is not used for them: each gateway keeps its
    /// own, and the fleet shares none (logged, and
    /// `entrust_gateway_dedup_records_shared` is 0).
    pub allow_evicting_store: bool,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window_ms: 60_000,
            // 16 write paths x 96/s (the quota less its headroom) x 60 s =
            // 92,160 writes in one window at most, rounded up.
            max_entries: 120_000,
            key_header: "idempotency-key".into(),
            outcome_wait_ms: 30_000,
            allow_evicting_store: false,
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
    /// v4 (`/v4/...`) paths forwarded besides the documented group-channel
    /// ones; anything else under `/v4/` is 404.
    pub extra_v4_paths: Vec<String>,
    /// Request bodies held in memory at once, all connections together;
    /// past it, 503 with Retry-After.
    pub max_body_memory_bytes: usize,
    /// Longest an answer may wait for the caller to take it; past it the
    /// connection is closed (a caller that pipelines and never reads).
    pub write_timeout_ms: u64,
    /// Inbound TLS (and mutual TLS) on `listen`; plain HTTP without it.
    pub tls: Option<TlsConfig>,
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
            extra_v4_paths: Vec::new(),
            max_body_memory_bytes: 64 * 1024 * 1024,
            write_timeout_ms: 10_000,
            tls: None,
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
    /// The app secret: inline (discouraged: it then lives in a file on
    /// disk), `{ env = "NAME" }` or `{ file = "PATH" }`.
    #[serde(skip_serializing)]
    pub app_secret: Option<SecretRef>,
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
    /// The secret `/auth/get_admin_token` checks (OpenIM's `share.secret`):
    /// inline, `{ env = "NAME" }` or `{ file = "PATH" }`.
    #[serde(skip_serializing)]
    pub secret: Option<SecretRef>,
    /// Or the name of an environment variable holding it.
    pub secret_env: Option<String>,
    /// User IDs allowed to get an admin token (OpenIM's `imAdminUserID`).
    pub admin_user_ids: Vec<String>,
    /// Token lifetime; OpenIM's default is 90 days.
    pub token_expire_seconds: u64,
    /// The `[[apps]]` name the OpenIM face's calls go out as (required with
    /// several apps).
    pub app: Option<String>,
    /// Which of the vendor's APIs the face's routes call.
    pub vendor_api: VendorApi,
}

/// `[openim] vendor_api`: the legacy entrust API (form bodies,
/// `/entrust/group/*.json`) or the v4 JSON API (`/v4/group-channel/*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorApi {
    #[default]
    Entrust,
    V4,
}

impl Default for OpenImConfig {
    fn default() -> Self {
        OpenImConfig {
            secret: None,
            secret_env: None,
            admin_user_ids: Vec::new(),
            token_expire_seconds: 90 * 24 * 3600,
            app: None,
            vendor_api: VendorApi::Entrust,
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
}

/// A listen address's parse error with what is expected: an address is
/// parsed, never resolved. The config file's `*.listen` keys and the
/// command line's `--listen` say the same.
pub fn with_listen_hint(problem: impl fmt::Display) -> String {
    format!(
        "{problem}: expected an IP address and port such as \"127.0.0.1:8080\" (host names such as localhost are not resolved)"
    )
}

/// A `--listen` value: an IP address and port, or the hint of
/// [`with_listen_hint`].
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(with_listen_hint)
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
    let message = if key.ends_with("listen") {
        with_listen_hint(message)
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

#[cfg(test)]
mod tests;
