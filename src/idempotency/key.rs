//! What identifies a keyed write: the caller's key, scoped to its
//! credential, and the request's fingerprint.

use http::{HeaderMap, HeaderValue};
use sha1::{Digest, Sha1};

use super::state::Fingerprint;
use crate::error::Error;

/// The longest key accepted (the draft sets no bound; UUIDs are 36).
pub const KEY_MAX: usize = 255;

/// The store key: a digest of the caller's credential, so that only the
/// same caller can get a kept answer back, and the caller's key. The
/// credential is what authenticated it, not the header's spelling: a
/// bearer token is the same whatever the scheme's case or the spaces
/// around it (`Bearer tok`, `bearer  tok`), as the inbound check reads it;
/// OpenIM's `token` header is taken trimmed. Each part is length-prefixed,
/// so no two credentials share a digest.
pub fn store_key(headers: &HeaderMap, key: &str) -> String {
    let mut d = Sha1::new();
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let bearer = v.to_str().ok().and_then(crate::auth::bearer);
        let (kind, value): (&[u8], &[u8]) = match bearer {
            Some(token) => (b"bearer", token.as_bytes()),
            None => (b"authorization", v.as_bytes()),
        };
        field(&mut d, kind);
        field(&mut d, value);
    }
    if let Some(v) = headers.get(crate::headers::TOKEN) {
        field(&mut d, b"token");
        field(&mut d, v.as_bytes().trim_ascii());
    }
    format!("{}:{key}", hex::encode(d.finalize()))
}

/// One length-prefixed field of a digest.
fn field(d: &mut Sha1, bytes: &[u8]) {
    d.update((bytes.len() as u64).to_be_bytes());
    d.update(bytes);
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

    /// One caller, one scope: however the scheme and spaces are written,
    /// the same bearer token is the same caller; another token is not.
    #[test]
    fn a_bearer_token_scopes_keys_whatever_its_spelling() {
        let with = |auth: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, HeaderValue::from_static(auth));
            store_key(&h, "k")
        };
        let a = with("Bearer tokA");
        for same in [
            "bearer tokA",
            "BEARER tokA",
            "Bearer  tokA",
            " Bearer tokA ",
        ] {
            assert_eq!(with(same), a, "{same}");
        }
        assert_ne!(with("Bearer tokB"), a);
        assert_ne!(with("Basic tokA"), a);
        assert_ne!(store_key(&HeaderMap::new(), "k"), a);
        // Fields can't run into each other.
        let mut h = HeaderMap::new();
        h.insert(crate::headers::TOKEN, HeaderValue::from_static(" t "));
        let mut h2 = HeaderMap::new();
        h2.insert(crate::headers::TOKEN, HeaderValue::from_static("t"));
        assert_eq!(store_key(&h, "k"), store_key(&h2, "k"));
    }

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
