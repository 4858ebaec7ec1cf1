//! The vendor signature: `Signature = hex(SHA1(secret + Nonce + Timestamp))`.
//!
//! A [`Signer`] makes the four signing headers for one request. Nonces are
//! unique for the life of the process: a random per-process prefix followed by
//! a counter, so two requests never share one even under load.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use sha1::{Digest, Sha1};

use crate::entrust::{header, limit};
use crate::secret::Secret;

/// Lowercase hex SHA1 of `secret + nonce + timestamp`, joined with no separator.
pub fn signature(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut h = Sha1::new();
    h.update(secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    hex::encode(h.finalize())
}

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const PREFIX_LEN: usize = 8;
const COUNTER_LEN: usize = limit::NONCE_MAX - PREFIX_LEN;

/// Makes signing headers; cheap to share between tasks.
#[derive(Debug)]
pub struct Signer {
    app_key: HeaderValue,
    prefix: [u8; PREFIX_LEN],
    counter: AtomicU64,
    /// `header::SIGNING` as header names, made once: a `&str` name is
    /// parsed and validated again on every insert and remove.
    signing: [HeaderName; 8],
    /// App-Key, Nonce, Timestamp, Signature, likewise.
    set: [HeaderName; 4],
}

impl Signer {
    /// `app_key` must already be a valid header value (config validation checks it).
    pub fn new(app_key: HeaderValue) -> Self {
        let mut prefix = [0u8; PREFIX_LEN];
        for b in prefix.iter_mut() {
            *b = ALPHABET[rand::random_range(0..ALPHABET.len())];
        }
        Signer {
            app_key,
            prefix,
            counter: AtomicU64::new(0),
            signing: header::SIGNING.map(HeaderName::from_static),
            set: [
                header::APP_KEY,
                header::NONCE,
                header::TIMESTAMP,
                header::SIGNATURE,
            ]
            .map(HeaderName::from_static),
        }
    }

    /// A nonce of exactly 18 characters, never repeated by this signer.
    pub fn nonce(&self) -> String {
        let mut n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut out = [b'0'; limit::NONCE_MAX];
        out[..PREFIX_LEN].copy_from_slice(&self.prefix);
        // 36^10 values: at a million requests a second, over a hundred years.
        for slot in out[PREFIX_LEN..].iter_mut().rev() {
            *slot = ALPHABET[(n % 36) as usize];
            n /= 36;
        }
        debug_assert_eq!(COUNTER_LEN, 10);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Removes any signing header (and `RC-` alias) the caller sent, then sets
    /// fresh `App-Key`, `Nonce`, `Timestamp` (ms) and `Signature`.
    pub fn sign(&self, secret: &Secret, headers: &mut HeaderMap) {
        for name in &self.signing {
            headers.remove(name);
        }
        let nonce = self.nonce();
        let timestamp = crate::clock::unix_ms().to_string();
        let sig = signature(secret.expose(), &nonce, &timestamp);
        let [app_key, nonce_name, timestamp_name, signature_name] = &self.set;
        headers.insert(app_key.clone(), self.app_key.clone());
        // Nonce, timestamp and hex signature are ASCII alphanumerics: always valid.
        for (name, value) in [
            (nonce_name, nonce),
            (timestamp_name, timestamp),
            (signature_name, sig),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name.clone(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_vector() {
        assert_eq!(
            signature("Y1W2MeFwwwRxa0", "14314", "1408710653000"),
            "30be0bbca9c9b2e27578701e9fda2358a814c88f"
        );
    }

    #[test]
    fn nonces_are_unique_and_short() {
        let s = Signer::new(HeaderValue::from_static("k"));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let n = s.nonce();
            assert_eq!(n.len(), limit::NONCE_MAX, "{n}");
            assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(seen.insert(n));
        }
    }

    #[test]
    fn caller_signing_headers_are_replaced() {
        let s = Signer::new(HeaderValue::from_static("key"));
        let mut h = HeaderMap::new();
        h.insert("signature", HeaderValue::from_static("forged"));
        h.insert("rc-nonce", HeaderValue::from_static("1"));
        h.insert("rc-app-key", HeaderValue::from_static("other"));
        s.sign(&Secret::new("sec".into()), &mut h);
        assert!(h.get("rc-nonce").is_none() && h.get("rc-app-key").is_none());
        assert_eq!(h["app-key"], "key");
        let (n, t) = (
            h["nonce"].to_str().unwrap(),
            h["timestamp"].to_str().unwrap(),
        );
        assert_eq!(t.len(), 13);
        assert_eq!(h["signature"], signature("sec", n, t).as_str());
    }
}
