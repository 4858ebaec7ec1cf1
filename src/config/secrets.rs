//! The secrets a config points at (inline, an environment variable or a
//! file), loaded and checked; what prints of a config leaves them out.

use super::validate::{check_redis_url, without_userinfo};
use super::*;

impl Config {
    /// Where Redis is: `redis.url` or `redis.url_env` loaded, the Sentinel
    /// set or the Cluster, checked (not connected); `None` without `[redis]`.
    pub fn redis_topology(&self) -> Result<Option<RedisTopology>, ConfigError> {
        let Some(r) = &self.redis else {
            return Ok(None);
        };
        if let Some(sentinels) = &r.sentinels {
            let master_name = r.master_name.clone().unwrap_or_default();
            for (i, u) in sentinels.iter().enumerate() {
                check_redis_url(&format!("redis.sentinels[{i}]"), u)?;
            }
            return Ok(Some(RedisTopology::Sentinel {
                sentinels: sentinels.clone(),
                master_name,
            }));
        }
        if let Some(urls) = &r.cluster_urls {
            for (i, u) in urls.iter().enumerate() {
                check_redis_url(&format!("redis.cluster_urls[{i}]"), u)?;
            }
            return Ok(Some(RedisTopology::Cluster(urls.clone())));
        }
        Ok(self.load_redis_url()?.map(RedisTopology::Url))
    }

    /// The Redis URL from `redis.url` or `redis.url_env`, checked (not
    /// connected); `None` without `[redis]` or with a Sentinel set or a
    /// Cluster instead.
    pub fn load_redis_url(&self) -> Result<Option<Secret>, ConfigError> {
        let Some(r) = &self.redis else {
            return Ok(None);
        };
        if r.sentinels.is_some() || r.cluster_urls.is_some() {
            return Ok(None);
        }
        let (key, url) = match (&r.url, &r.url_env) {
            (Some(url), _) => ("redis.url", url.load("redis.url")?),
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
        // `app_secret = { env = ... }` / `{ file = ... }` are the new
        // spellings of app_secret_env / app_secret_file.
        let set = [
            u.app_secret_env.is_some(),
            u.app_secret.is_some(),
            u.app_secret_file.is_some(),
        ];
        match (&u.app_secret, set) {
            (Some(SecretRef::Env { env }), [false, true, false]) => {
                return Ok(SecretSource::Env(env.clone()));
            }
            (Some(SecretRef::File { file }), [false, true, false]) => {
                return Ok(SecretSource::File(file.clone()));
            }
            _ => {}
        }
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

    /// Reads the app secret from its source (with `[[apps]]`, the first
    /// app's). Fails at startup, never later.
    pub fn load_secret(&self) -> Result<Secret, ConfigError> {
        if let Some(a) = self.apps.first() {
            return a.app_secret.load("apps[0].app_secret");
        }
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
            SecretSource::Inline => match &self.upstream.app_secret {
                Some(SecretRef::Inline(s)) => s.expose().to_string(),
                _ => String::new(),
            },
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
            (Some(s), _) => return s.load("openim.secret").map(Some),
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

/// Serializes a list of URLs without their `user:password@`.
pub(super) fn urls_without_userinfo<S: serde::Serializer>(
    urls: &Option<Vec<Secret>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    urls.as_ref()
        .map(|u| {
            u.iter()
                .map(|u| without_userinfo(u.expose()))
                .collect::<Vec<_>>()
        })
        .serialize(s)
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
