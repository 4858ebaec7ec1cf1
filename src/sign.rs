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
        String::from_utf8_lossy(&self.nonce_bytes()).into_owned()
    }

    fn nonce_bytes(&self) -> [u8; limit::NONCE_MAX] {
        let mut n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut out = [b'0'; limit::NONCE_MAX];
        out[..PREFIX_LEN].copy_from_slice(&self.prefix);
        // 36^10 values: at a million requests a second, over a hundred years.
        for slot in out[PREFIX_LEN..].iter_mut().rev() {
            *slot = ALPHABET[(n % 36) as usize];
            n /= 36;
        }
        debug_assert_eq!(COUNTER_LEN, 10);
        out
    }

    /// Removes any signing header (and `RC-` alias) the caller sent, then sets
    /// fresh `App-Key`, `Nonce`, `Timestamp` (ms) and `Signature`. The values
    /// are made on the stack: no string is allocated for them.
    pub fn sign(&self, secret: &Secret, headers: &mut HeaderMap) {
        // A removal hashes the name even when absent: look first (callers'
        // maps hold a header or two).
        if headers.keys().any(|k| self.signing.contains(k)) {
            for name in &self.signing {
                headers.remove(name);
            }
        }
        let nonce = self.nonce_bytes();
        let mut ts_buf = [0u8; 20];
        let timestamp = decimal(crate::clock::unix_ms(), &mut ts_buf);
        let mut h = Sha1::new();
        h.update(secret.expose().as_bytes());
        h.update(nonce);
        h.update(timestamp);
        let mut sig = [0u8; 40];
        // 20 bytes into 40 hex digits: the sizes match, so this cannot fail.
        let _ = hex::encode_to_slice(h.finalize(), &mut sig);
        let [app_key, nonce_name, timestamp_name, signature_name] = &self.set;
        headers.reserve(4);
        headers.insert(app_key.clone(), self.app_key.clone());
        // Nonce, timestamp and hex signature are ASCII alphanumerics: always valid.
        for (name, value) in [
            (nonce_name, &nonce[..]),
            (timestamp_name, timestamp),
            (signature_name, &sig[..]),
        ] {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                headers.insert(name.clone(), v);
            }
        }
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
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

    #[test]
    fn decimals() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 1408710653000, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
