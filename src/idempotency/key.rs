//! What identifies a keyed write: the caller's key, scoped to its
//! credential, and the request's fingerprint.

use http::{HeaderMap, HeaderValue};
use sha1::{Digest, Sha1};

use super::state::Fingerprint;
use crate::error::Error;

/// The longest key accepted (the draft sets no bound; UUIDs are 36).
pub const KEY_MAX: usize = 255;

/// The store key: a digest of the caller's credential (`Authorization`,
/// OpenIM's `token`), so that only the same caller can get a kept answer
/// back, and the caller's key.
pub fn store_key(headers: &HeaderMap, key: &str) -> String {
    let credential = [http::header::AUTHORIZATION.as_str(), crate::headers::TOKEN]
        .iter()
        .filter_map(|h| headers.get(*h))
        .fold(Sha1::new(), |d, v| d.chain_update(v.as_bytes()))
        .finalize();
    format!("{}:{key}", hex::encode(credential))
}

/// The caller's key from the header value: a Structured Field string
/// (`"..."`, as the draft writes it) or the bare token many clients send;
/// 1..=[`KEY_MAX`] visible ASCII characters.
pub fn parse_key(value: &HeaderValue) -> Result<&str, Error> {
    let raw = value.as_bytes();
    let inner = raw
        .strip_prefix(b"\"")
        .and_then(|r| r.strip_suffix(b"\""))
        .unwrap_or(raw);
    let ok = !inner.is_empty()
        && inner.len() <= KEY_MAX
        && inner.iter().all(|b| b.is_ascii_graphic() && *b != b'"');
    match std::str::from_utf8(inner) {
        Ok(k) if ok => Ok(k),
        _ => Err(Error::Args(format!(
            "Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters (optionally in double quotes)"
        ))),
    }
}

/// The request's fingerprint: method, path, query and body, each
/// length-prefixed so that no two requests share an encoding.
pub fn fingerprint(parts: &http::request::Parts, body: &[u8]) -> Fingerprint {
    let query = parts.uri.query().unwrap_or("");
    let mut d = Sha1::new();
    for field in [
        parts.method.as_str().as_bytes(),
        parts.uri.path().as_bytes(),
        query.as_bytes(),
        body,
    ] {
        d.update((field.len() as u64).to_be_bytes());
        d.update(field);
    }
    d.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        let ok = |v: &'static str| parse_key(&HeaderValue::from_static(v)).map(str::to_string);
        assert_eq!(ok("\"8e03978e-40d5\"").as_deref(), Ok("8e03978e-40d5"));
        assert_eq!(ok("abc").as_deref(), Ok("abc"));
        assert!(ok("").is_err());
        assert!(ok("\"\"").is_err());
        assert!(ok("a b").is_err());
        let long = "k".repeat(KEY_MAX + 1);
        assert!(parse_key(&HeaderValue::from_str(&long).unwrap()).is_err());
        assert!(parse_key(&HeaderValue::from_bytes(b"k\xff").unwrap()).is_err());
    }
}
