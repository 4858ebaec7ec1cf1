//! A data center's URL in parts, and the `Host` header it gets.

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

use crate::config::{BaseUrl, ConfigError};

/// A data center's URL in parts, so that an upstream URI is assembled from
/// parts instead of formatted and parsed again per request.
pub(super) struct Origin {
    scheme: Scheme,
    authority: Authority,
    /// The `Host` header, made once: hyper-util's client would format and
    /// insert it on every request (its cost: BENCHMARKS.md).
    pub(super) host: HeaderValue,
    /// The URL's path without its trailing `/` (usually empty).
    prefix: String,
}

impl Origin {
    pub(super) fn new(url: &BaseUrl) -> Result<Origin, ConfigError> {
        let bad = || ConfigError(format!("upstream URL {}: no scheme or host", url.label));
        let scheme = url.uri.scheme().cloned().ok_or_else(bad)?;
        let authority = url.uri.authority().cloned().ok_or_else(bad)?;
        // As hyper-util writes it (`set_host`): the host, and the port
        // unless it is the scheme's default.
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port() {
            Some(port) if port.as_u16() != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_string(),
        };
        Ok(Origin {
            host: HeaderValue::try_from(host).map_err(|_| bad())?,
            scheme,
            authority,
            prefix: url.uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The upstream path and query for `path` (which starts with `/`).
    pub(super) fn path_and_query(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> Result<PathAndQuery, http::uri::InvalidUri> {
        let mut s = String::with_capacity(
            self.prefix.len() + path.len() + query.map_or(0, |q| q.len() + 1),
        );
        s.push_str(&self.prefix);
        s.push_str(path);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        PathAndQuery::try_from(s)
    }

    pub(super) fn uri(&self, pq: PathAndQuery) -> Result<Uri, http::Error> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(pq);
        Ok(Uri::from_parts(parts)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A base URL's path is kept in front of the entrust path (the README's
    /// `upstream.urls`: a data center may sit under a path prefix).
    #[test]
    fn upstream_uris_keep_the_base_path() {
        let c = Config::parse(
            "[upstream]\nurls = [\"https://api.rong-api.com\", \"http://127.0.0.1:9000/base/\"]\napp_key = \"key\"\napp_secret = \"s\"\n",
        )
        .unwrap();
        let urls = c.base_urls().unwrap();
        let at = |i: usize, path: &str, query: Option<&str>| {
            let o = Origin::new(&urls[i]).unwrap();
            o.uri(o.path_and_query(path, query).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            at(0, "/entrust/a.json", Some("x=1")),
            "https://api.rong-api.com/entrust/a.json?x=1"
        );
        assert_eq!(
            at(1, "/entrust/a.json", None),
            "http://127.0.0.1:9000/base/entrust/a.json"
        );
    }

    /// The Host header each data center gets, as hyper-util's `set_host`
    /// wrote it (hyper-util 0.1.21 `client/legacy/client.rs`,
    /// `get_non_default_port`): the port only when not the scheme's default.
    #[test]
    fn host_header_as_hyper_util_wrote_it() {
        let c = Config::parse(
            "[upstream]\nurls = [\"https://api.rong-api.com\", \"https://a.example:443\", \"http://b.example:80/x\", \"http://127.0.0.1:9000\", \"https://[::1]:8443\", \"https://c.example:80\"]\napp_key = \"key\"\napp_secret = \"s\"\n",
        )
        .unwrap();
        let hosts: Vec<_> = c
            .base_urls()
            .unwrap()
            .iter()
            .map(|u| Origin::new(u).unwrap().host)
            .collect();
        assert_eq!(
            hosts,
            [
                "api.rong-api.com",
                "a.example",
                "b.example",
                "127.0.0.1:9000",
                "[::1]:8443",
                "c.example:80"
            ]
        );
    }
}
