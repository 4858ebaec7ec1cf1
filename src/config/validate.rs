//! Validation: every key's range and the rules between keys, each error
//! naming its key.

use super::*;

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let u = &self.upstream;
        if self.has_apps() {
            // [upstream] holds only what the apps share; each app is checked
            // with its own keys.
            self.validate_apps()?;
        } else {
            self.base_urls()?;
            if u.app_key.is_empty() {
                return err("upstream.app_key", "must be set");
            }
            if HeaderValue::from_str(&u.app_key).is_err() || u.app_key.trim() != u.app_key {
                return err("upstream.app_key", "must be printable ASCII without spaces");
            }
            self.secret_source()?;
            self.validate_apps()?;
        }
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
            if crate::allowlist::entrust_path(path).is_none() {
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
        if let Some(tls) = &self.server.tls {
            tls.validate()?;
        }
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
            (
                "dedup.outcome_wait_ms".into(),
                d.outcome_wait_ms,
                0,
                600_000,
            ),
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
        let routes = crate::allowlist::Routes::new(&s.extra_entrust_paths)
            .and_then(|r| r.with_v4(&s.extra_v4_paths))
            .map_err(ConfigError)?;
        // An override for a path that is never forwarded is a typo.
        if let Some(p) = self
            .rate_limit
            .paths
            .keys()
            .find(|p| routes.forwarded(p).is_none())
        {
            return err(
                &format!("rate_limit.paths.\"{p}\""),
                "is not a documented entrust or v4 path or in server.extra_entrust_paths or server.extra_v4_paths",
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
        let single = r.url.is_some() || r.url_env.is_some();
        let set = [single, r.sentinels.is_some(), r.cluster_urls.is_some()];
        if set.iter().filter(|s| **s).count() > 1 {
            let key = if single {
                "redis.url"
            } else {
                "redis.sentinels"
            };
            return err(
                key,
                "set only one of redis.url (or redis.url_env), redis.sentinels (with redis.master_name), redis.cluster_urls",
            );
        }
        if r.master_name.is_some() && r.sentinels.is_none() {
            return err("redis.master_name", "is set only with redis.sentinels");
        }
        if let Some(sentinels) = &r.sentinels {
            if sentinels.is_empty() {
                return err("redis.sentinels", "must list at least one sentinel");
            }
            for (i, u) in sentinels.iter().enumerate() {
                check_redis_url(&format!("redis.sentinels[{i}]"), u)?;
            }
            match &r.master_name {
                None => return err("redis.master_name", "must be set with redis.sentinels"),
                Some(n) if n.is_empty() || n.contains(char::is_whitespace) => {
                    return err("redis.master_name", "must be non-empty, without spaces");
                }
                Some(_) => {}
            }
        } else if let Some(urls) = &r.cluster_urls {
            if urls.is_empty() {
                return err("redis.cluster_urls", "must list at least one node");
            }
            for (i, u) in urls.iter().enumerate() {
                check_redis_url(&format!("redis.cluster_urls[{i}]"), u)?;
            }
        } else {
            match (&r.url, &r.url_env) {
                (Some(_), Some(_)) => {
                    return err(
                        "redis.url",
                        "set either redis.url or redis.url_env, not both",
                    );
                }
                (None, None) => {
                    return err(
                        "redis.url",
                        "must be set (or redis.url_env, redis.sentinels, redis.cluster_urls)",
                    );
                }
                (Some(SecretRef::Inline(url)), None) => check_redis_url("redis.url", url)?,
                (Some(_), None) => {}
                (None, Some(_)) => {}
            }
        }
        // Without braces: a Cluster hashes a key's {tag} alone, and the
        // probe keys put each path's key in braces to share its slot.
        if r.key_prefix.is_empty()
            || r.key_prefix.contains(char::is_whitespace)
            || r.key_prefix.contains(['{', '}'])
        {
            return err(
                "redis.key_prefix",
                "must be non-empty, without spaces or braces",
            );
        }
        Ok(())
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
pub(super) fn without_userinfo(url: &str) -> String {
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
pub(super) fn check_redis_url(key: &str, url: &Secret) -> Result<(), ConfigError> {
    let u = url.expose();
    if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
        return err(key, "must start with redis:// or rediss://");
    }
    redis::Client::open(u)
        .map(drop)
        .or_else(|e| err(key, format!("not a Redis URL ({:?})", e.kind())))
}
