//! Inbound TLS: `[server.tls]`'s certificate, key and client CAs loaded
//! into a rustls server config that can be swapped while the gateway runs
//! ([`Inbound`]), and the identity a verified client certificate carries
//! ([`ClientIdentity`]).
//!
//! A swap affects new handshakes only: a connection keeps the config it
//! was accepted with for its life.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::{ConfigError, TlsConfig};

/// Who a caller is, as its verified client certificate says (mutual TLS).
///
/// The subject is the certificate's distinguished name as an RFC 4514
/// string (`CN=billing,O=Example`: the most specific attribute first,
/// special characters escaped, attributes without a short name as
/// `OID=#hex`), so that two certificates with the same common name but
/// different organisations never look alike. The common name is there
/// too, for the common case of matching it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject DN, RFC 4514.
    pub subject: String,
    /// The subject's (most specific) common name, if it has one.
    pub common_name: Option<String>,
    /// The DNS names of the subject alternative names.
    pub dns_names: Vec<String>,
    /// The URIs of the subject alternative names (e.g. SPIFFE IDs).
    pub uris: Vec<String>,
}

impl ClientIdentity {
    /// Every name a `[[callers]] cert_subject` may match: the subject DN,
    /// then the DNS and URI SANs.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.subject.as_str())
            .chain(self.dns_names.iter().map(String::as_str))
            .chain(self.uris.iter().map(String::as_str))
    }

    /// Reads the identity from a DER certificate (one rustls has verified).
    pub fn from_der(der: &[u8]) -> Result<ClientIdentity, String> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
        let subject = cert.subject();
        let rdns: Vec<_> = subject.iter_rdn().collect();
        let mut dn = String::new();
        // RFC 4514 2.1: the last RDN of the sequence first. Within a
        // multi-valued RDN any order is allowed (2.2); the last first, as
        // `openssl x509 -nameopt RFC2253` prints it, so that a subject
        // copied from there matches.
        for (i, rdn) in rdns.iter().rev().enumerate() {
            if i > 0 {
                dn.push(',');
            }
            let attrs: Vec<_> = rdn.iter().collect();
            for (j, attr) in attrs.into_iter().rev().enumerate() {
                if j > 0 {
                    dn.push('+');
                }
                push_attribute(&mut dn, attr);
            }
        }
        let common_name = subject
            .iter_common_name()
            .last()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| format!("cannot parse the client certificate's names: {e}"))?;
        for name in sans.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(n) => dns_names.push(n.to_string()),
                GeneralName::URI(u) => uris.push(u.to_string()),
                _ => {}
            }
        }
        Ok(ClientIdentity {
            subject: dn,
            common_name,
            dns_names,
            uris,
        })
    }
}

/// One `type=value` of a DN, as RFC 4514 2.3 and 2.4 write it.
fn push_attribute(out: &mut String, attr: &x509_parser::x509::AttributeTypeAndValue<'_>) {
    use x509_parser::asn1_rs::ToDer;
    let oid = attr.attr_type().to_id_string();
    // RFC 4514 3: the short names every implementation knows.
    let short = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.6" => Some("C"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (short, attr.as_str()) {
        (Some(name), Ok(value)) => {
            out.push_str(name);
            out.push('=');
            escape_value(out, value);
        }
        // RFC 4514 2.4: a type without a short name, or a value that is not
        // a string, is written as the dotted OID and the value's BER in hex.
        _ => {
            out.push_str(short.unwrap_or(&oid));
            out.push_str("=#");
            match attr.attr_value().to_der_vec() {
                Ok(der) => out.push_str(&hex::encode(der)),
                Err(_) => out.push_str(&hex::encode(attr.attr_value().data)),
            }
        }
    }
}

/// RFC 4514 2.4: the characters that would change a DN's meaning, escaped.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

/// What was read from `[server.tls]`'s files, and the config made of it.
struct Loaded {
    /// The files' bytes, cert, key and client CAs: compared with what is
    /// on disk to see whether they changed.
    files: Vec<Option<Vec<u8>>>,
    config: Arc<rustls::ServerConfig>,
}

/// The inbound TLS config in use, swapped when the files change.
pub struct Inbound {
    keys: TlsConfig,
    loaded: RwLock<Loaded>,
    /// The files as the last failed load saw them: one error line per
    /// change of the files, not one per poll.
    failed: std::sync::Mutex<Option<Vec<Option<Vec<u8>>>>>,
}

impl Inbound {
    /// Loads the files: an error names the key whose file is wrong.
    pub fn new(keys: &TlsConfig) -> Result<Inbound, ConfigError> {
        let files = read_files(keys)?;
        let config = build(keys, &files)?;
        Ok(Inbound {
            keys: keys.clone(),
            loaded: RwLock::new(Loaded { files, config }),
            failed: std::sync::Mutex::new(None),
        })
    }

    /// The config a new connection's handshake uses.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.read().config.clone()
    }

    /// Whether mutual TLS is on (client certificates required).
    pub fn mutual(&self) -> bool {
        self.keys.client_ca_file.is_some()
    }

    /// How often the files are checked for changes.
    pub fn poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.keys.poll_ms)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the files and, if they make a valid config, uses it for new
    /// handshakes; otherwise keeps the old one. `Ok(true)` when the files
    /// differed from those in use.
    pub fn reload(&self) -> Result<bool, ConfigError> {
        let files = read_files(&self.keys);
        let result = files.and_then(|files| {
            // The same files: the config in use (and its session cache) stays.
            if self.read().files == files {
                return Ok(false);
            }
            let config = build(&self.keys, &files)?;
            *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Loaded { files, config };
            Ok(true)
        });
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        *failed = match &result {
            Ok(_) => None,
            Err(_) => Some(raw_files(&self.keys)),
        };
        result
    }

    /// Whether the files on disk differ from those in use and from those a
    /// failed reload last saw (so that a bad file is reported once, not
    /// at every poll).
    pub fn changed_on_disk(&self) -> bool {
        let now = raw_files(&self.keys);
        let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        self.read().files != now && failed.as_ref() != Some(&now)
    }
}

/// The files' paths with their keys, in the order [`Loaded::files`] holds them.
fn paths(keys: &TlsConfig) -> [(&'static str, Option<&Path>); 3] {
    [
        ("server.tls.cert_file", Some(keys.cert_file.as_path())),
        ("server.tls.key_file", Some(keys.key_file.as_path())),
        ("server.tls.client_ca_file", keys.client_ca_file.as_deref()),
    ]
}

/// The files as they are (an unreadable one as `None`).
fn raw_files(keys: &TlsConfig) -> Vec<Option<Vec<u8>>> {
    paths(keys)
        .iter()
        .map(|(_, p)| p.and_then(|p| std::fs::read(p).ok()))
        .collect()
}

fn read_files(keys: &TlsConfig) -> Result<Vec<Option<Vec<u8>>>, ConfigError> {
    paths(keys)
        .iter()
        .map(|(key, path)| {
            path.map(|p| {
                std::fs::read(p)
                    .map_err(|e| ConfigError(format!("{key}: {}: cannot read: {e}", p.display())))
            })
            .transpose()
        })
        .collect()
}

/// The key's message with its file's path. Never the file's content: the
/// messages of PEM parsing are not shown either, as they may quote it.
fn bad(key: &str, path: &Path, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {}: {problem}", path.display()))
}

/// Builds the rustls server config from the files' bytes.
fn build(
    keys: &TlsConfig,
    files: &[Option<Vec<u8>>],
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let empty = Vec::new();
    let bytes = |i: usize| files.get(i).and_then(Option::as_ref).unwrap_or(&empty);
    let chain = certs(bytes(0)).map_err(|p| bad("server.tls.cert_file", &keys.cert_file, p))?;
    let key = PrivateKeyDer::from_pem_slice(bytes(1)).map_err(|_| {
        bad(
            "server.tls.key_file",
            &keys.key_file,
            "no PEM private key (PKCS#8, PKCS#1 or SEC1) could be read",
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("server.tls: {e}")))?;
    let builder = match &keys.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let bad = |p: &dyn std::fmt::Display| bad("server.tls.client_ca_file", path, p);
            let mut roots = RootCertStore::empty();
            for ca in certs(bytes(2)).map_err(|p| bad(&p))? {
                roots.add(ca).map_err(|e| bad(&e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => bad(
            "server.tls.key_file",
            &keys.key_file,
            format!(
                "does not match the certificate in server.tls.cert_file ({})",
                keys.cert_file.display()
            ),
        ),
        e => bad("server.tls.cert_file", &keys.cert_file, e),
    })?;
    // The server speaks HTTP/1.1 only: a client offering h2 as well gets
    // HTTP/1.1; one offering h2 alone is refused at the handshake.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The PEM certificates in `pem` (at least one).
fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "not a PEM certificate file".to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

/// The paths `[server.tls]` reads, for `--check-config`'s report.
pub fn files(keys: &TlsConfig) -> Vec<(&'static str, PathBuf)> {
    paths(keys)
        .into_iter()
        .filter_map(|(k, p)| p.map(|p| (k, p.to_path_buf())))
        .collect()
}

#[cfg(test)]
mod tests;
