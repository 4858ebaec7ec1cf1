//! `[server.tls]`: inbound TLS on `server.listen`, and mutual TLS with
//! `client_ca_file`. Only the schema and its checks live here; the files
//! are read (and re-read) by the top-level `tls` module.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err, validate::check_range};

/// `[server.tls]`: without it `server.listen` speaks plain HTTP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server's certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates: when set, every caller must present a
    /// certificate that chains to one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes (SIGHUP also reloads them).
    pub poll_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client_ca_file: None,
            poll_ms: 5_000,
        }
    }
}

impl TlsConfig {
    /// The keys' shapes; whether the files hold what they should is
    /// checked when they are loaded (`Inbound::new` there), at start and by
    /// `--check-config`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cert_file.as_os_str().is_empty() {
            return err("server.tls.cert_file", "must be set");
        }
        if self.key_file.as_os_str().is_empty() {
            return err("server.tls.key_file", "must be set");
        }
        if self
            .client_ca_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return err("server.tls.client_ca_file", "must not be empty");
        }
        check_range("server.tls.poll_ms", self.poll_ms, 1, 24 * 3600 * 1000)
    }
}
