//! The signature check, written from the vendor's signing page.
//!
//! `Signature` = lowercase hex SHA1(AppSecret + Nonce + Timestamp). Order of
//! checks: a missing header, then the App-Key, then the nonce's form, the
//! timestamp's form, the signature itself, and in strict mode last the clock
//! window and the replay cache, so that a request with a wrong signature
//! never uses up a nonce.
//!
//! What is accepted follows what the official SDKs send (reference
//! `entrust-api.md`, "Signing"): Timestamp in seconds (Go `sdk/rongcloud.go`,
//! Java `util/HttpUtil.java`, PHP `Lib/Request.php`, Node, Python
//! `rc-server-sdk`) or milliseconds (the docs, the gateway); a Nonce of up to
//! 64 printable ASCII characters (Go: 19 digits, Java: `123456.789`). The
//! Node SDK reuses one nonce and timestamp for its whole life, so neither a
//! replay check nor a clock window can be on by default: they are the
//! simulator's own stricter choice (`strict`).
//!
//! The v4 paths are signed the same way (`nexconn-v4-group-api.md` §2). Its
//! auth page states two rules more, which `strict` also applies on v4 paths
//! (before the clock window): a Timestamp of milliseconds (13 digits) and a
//! Nonce of at most 18 characters. The v4 SDK (`ncsdk`) keeps both.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use http::HeaderMap;
use sha1::{Digest, Sha1};

use super::Dialect;
use super::reply::ApiError;
use crate::entrust::{code, header, limit};
use crate::v4;

/// How far a timestamp may be from the simulator's clock.
pub(crate) const TIMESTAMP_SKEW_MS: i64 = 5 * 60 * 1000;
/// How long a used nonce is remembered.
pub(crate) const NONCE_TTL: Duration = Duration::from_secs(10 * 60);

/// Lowercase hex SHA1 of `secret + nonce + timestamp`.
pub(crate) fn signature_hex(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut h = Sha1::new();
    h.update(secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    hex::encode(h.finalize())
}

/// One signing header, read from its plain name or its `RC-` alias.
///
/// Several copies (under either name) are accepted only if they are all
/// equal: a client that appends instead of replacing is caught here.
fn signing_header(headers: &HeaderMap, plain: &str, alias: &str) -> Result<String, ApiError> {
    let mut found: Option<&str> = None;
    for v in headers
        .get_all(plain)
        .iter()
        .chain(headers.get_all(alias).iter())
    {
        let v = v
            .to_str()
            .map_err(|_| ApiError::signature(format!("{plain}: not visible ASCII")))?;
        match found {
            Some(prev) if prev != v => {
                return Err(ApiError::signature(format!(
                    "{plain}: conflicting values were sent"
                )));
            }
            _ => found = Some(v),
        }
    }
    match found {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::signature(format!("{plain} header missing"))),
    }
}

/// Nonces seen with a valid signature in the last [`NONCE_TTL`].
#[derive(Default)]
pub(crate) struct NonceCache {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl NonceCache {
    /// Remembers `nonce`; false if it was already used within the TTL.
    pub fn insert(&mut self, nonce: &str, now: Instant) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < NONCE_TTL {
                break;
            }
            if let Some((t, n)) = self.order.pop_front()
                && self.seen.get(&n) == Some(&t)
            {
                self.seen.remove(&n);
            }
        }
        if self.seen.contains_key(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_owned(), now);
        self.order.push_back((now, nonce.to_owned()));
        true
    }
}

/// Checks the four signing headers. With `strict`, also the v4 auth page's
/// forms (on v4 paths), the clock window and replays; then on success the
/// nonce is used up.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify(
    app_key: &str,
    secret: &str,
    headers: &HeaderMap,
    now_ms: i64,
    now: Instant,
    nonces: &std::sync::Mutex<NonceCache>,
    strict: bool,
    dialect: Dialect,
) -> Result<(), ApiError> {
    let key = signing_header(headers, header::APP_KEY, header::RC_APP_KEY)?;
    let nonce = signing_header(headers, header::NONCE, header::RC_NONCE)?;
    let ts = signing_header(headers, header::TIMESTAMP, header::RC_TIMESTAMP)?;
    let sig = signing_header(headers, header::SIGNATURE, header::RC_SIGNATURE)?;

    if key != app_key {
        return Err(ApiError::new(
            code::APP_SECRET_MISMATCH,
            "App-Key is not known to this server",
        ));
    }
    if nonce.len() > limit::NONCE_ACCEPTED_MAX || !nonce.bytes().all(|b| (b' '..=b'~').contains(&b))
    {
        return Err(ApiError::signature(format!(
            "Nonce must be 1-{} printable ASCII characters",
            limit::NONCE_ACCEPTED_MAX
        )));
    }
    let ts_ms = timestamp_ms(&ts)?;
    let want = signature_hex(secret, &nonce, &ts);
    if !constant_time_eq(want.as_bytes(), sig.as_bytes()) {
        return Err(ApiError::signature("Signature does not match"));
    }
    if !strict {
        return Ok(());
    }
    if dialect == Dialect::V4 {
        v4_forms(&nonce, &ts)?;
    }
    if (ts_ms - now_ms).abs() > TIMESTAMP_SKEW_MS {
        return Err(ApiError::signature(
            "Timestamp is more than 5 minutes away from the server's clock (strict mode)",
        ));
    }
    let fresh = nonces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(&nonce, now);
    if !fresh {
        return Err(ApiError::signature(
            "Nonce already used within the last 10 minutes (strict mode)",
        ));
    }
    Ok(())
}

/// The v4 auth page's forms (`nexconn-v4-group-api.md` §2): a Nonce of at
/// most 18 characters, a Timestamp of milliseconds.
fn v4_forms(nonce: &str, ts: &str) -> Result<(), ApiError> {
    if nonce.chars().count() > v4::limit::NONCE_MAX {
        return Err(ApiError::signature(format!(
            "Nonce longer than {} characters (v4 auth page, strict mode)",
            v4::limit::NONCE_MAX
        )));
    }
    if ts.len() != v4::limit::TIMESTAMP_MS_DIGITS {
        return Err(ApiError::signature(
            "Timestamp must be milliseconds, 13 digits (v4 auth page, strict mode)",
        ));
    }
    Ok(())
}

/// A Timestamp of 10 digits (seconds) or 13 (milliseconds), in ms.
fn timestamp_ms(ts: &str) -> Result<i64, ApiError> {
    let scale = match ts.len() {
        10 => 1000,
        13 => 1,
        _ => 0,
    };
    match ts.parse::<i64>() {
        Ok(n) if scale > 0 && ts.bytes().all(|b| b.is_ascii_digit()) => Ok(n * scale),
        _ => Err(ApiError::signature(
            "Timestamp must be 10 digits of seconds or 13 of milliseconds",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::sync::Mutex;

    #[test]
    fn published_test_vector() {
        assert_eq!(
            signature_hex("Y1W2MeFwwwRxa0", "14314", "1408710653000"),
            "30be0bbca9c9b2e27578701e9fda2358a814c88f"
        );
    }

    fn signed(now_ms: i64, nonce: &str) -> HeaderMap {
        let ts = now_ms.to_string();
        let mut h = HeaderMap::new();
        h.insert("app-key", HeaderValue::from_static("key"));
        h.insert("nonce", HeaderValue::from_str(nonce).unwrap());
        h.insert("timestamp", HeaderValue::from_str(&ts).unwrap());
        let sig = signature_hex("secret", nonce, &ts);
        h.insert("signature", HeaderValue::from_str(&sig).unwrap());
        h
    }

    fn check_dialect(
        h: &HeaderMap,
        now_ms: i64,
        cache: &Mutex<NonceCache>,
        strict: bool,
        dialect: Dialect,
    ) -> Result<(), i64> {
        verify(
            "key",
            "secret",
            h,
            now_ms,
            Instant::now(),
            cache,
            strict,
            dialect,
        )
        .map_err(|e| e.code)
    }

    fn check_mode(
        h: &HeaderMap,
        now_ms: i64,
        cache: &Mutex<NonceCache>,
        strict: bool,
    ) -> Result<(), i64> {
        check_dialect(h, now_ms, cache, strict, Dialect::Entrust)
    }

    fn check(h: &HeaderMap, now_ms: i64, cache: &Mutex<NonceCache>) -> Result<(), i64> {
        check_mode(h, now_ms, cache, false)
    }

    fn strict(h: &HeaderMap, now_ms: i64, cache: &Mutex<NonceCache>) -> Result<(), i64> {
        check_mode(h, now_ms, cache, true)
    }

    /// Signed with a timestamp given as text (seconds or ms).
    fn signed_ts(ts: &str, nonce: &str) -> HeaderMap {
        let mut h = signed(0, nonce);
        h.insert("timestamp", HeaderValue::from_str(ts).unwrap());
        let sig = signature_hex("secret", nonce, ts);
        h.insert("signature", HeaderValue::from_str(&sig).unwrap());
        h
    }

    #[test]
    fn replay_refused_only_when_strict() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        let h = signed(now, "abc");
        assert_eq!(check(&h, now, &cache), Ok(()));
        assert_eq!(check(&h, now, &cache), Ok(()));
        assert_eq!(strict(&h, now, &cache), Ok(()));
        assert_eq!(strict(&h, now, &cache), Err(1004));
    }

    #[test]
    fn bad_signature_does_not_use_nonce() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        let mut h = signed(now, "n1");
        h.insert("signature", HeaderValue::from_static("00"));
        assert_eq!(strict(&h, now, &cache), Err(1004));
        assert_eq!(strict(&signed(now, "n1"), now, &cache), Ok(()));
    }

    #[test]
    fn uppercase_signature_rejected() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        let mut h = signed(now, "n1");
        let up = h["signature"].to_str().unwrap().to_uppercase();
        h.insert("signature", HeaderValue::from_str(&up).unwrap());
        assert_eq!(check(&h, now, &cache), Err(1004));
    }

    #[test]
    fn timestamp_rules() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        // The clock window is strict mode's.
        assert_eq!(strict(&signed(now - 301_000, "a"), now, &cache), Err(1004));
        assert_eq!(check(&signed(now - 301_000, "a"), now, &cache), Ok(()));
        assert_eq!(strict(&signed(now + 299_000, "b"), now, &cache), Ok(()));
        // Seconds, as every current SDK sends (Go `time.Now().Unix()`).
        assert_eq!(strict(&signed_ts("1700000000", "c"), now, &cache), Ok(()));
        assert_eq!(
            strict(&signed_ts("1699999000", "c2"), now, &cache),
            Err(1004)
        );
        for bad in [
            "170000000",
            "17000000000",
            "1700000000000x",
            "-700000000",
            "",
        ] {
            assert_eq!(check(&signed_ts(bad, "d"), now, &cache), Err(1004), "{bad}");
        }
    }

    #[test]
    fn sdk_nonces() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        // Go: strconv.Itoa(rand.Int()), 19 digits; Java: Math.random()*1000000.
        for n in ["8674665223082153551", "123456.78901234", &"n".repeat(64)] {
            assert_eq!(
                check(&signed_ts("1700000000", n), now, &cache),
                Ok(()),
                "{n}"
            );
        }
        assert_eq!(check(&signed(now, &"n".repeat(65)), now, &cache), Err(1004));
    }

    #[test]
    fn key_nonce_and_aliases() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        let mut h = signed(now, "k");
        h.insert("app-key", HeaderValue::from_static("other"));
        assert_eq!(check(&h, now, &cache), Err(1001));
        // Aliases only.
        let plain = signed(now, "alias");
        let mut h = HeaderMap::new();
        for (k, v) in &plain {
            h.insert(
                http::HeaderName::from_bytes(format!("rc-{k}").as_bytes()).unwrap(),
                v.clone(),
            );
        }
        assert_eq!(check(&h, now, &cache), Ok(()));
        // Missing header.
        let mut h = signed(now, "m");
        h.remove("nonce");
        assert_eq!(check(&h, now, &cache), Err(1004));
        // Conflicting copies.
        let mut h = signed(now, "dup");
        h.append("rc-nonce", HeaderValue::from_static("other"));
        assert_eq!(check(&h, now, &cache), Err(1004));
    }

    /// nexconn-v4-group-api.md §2: the v4 auth page asks for a millisecond
    /// Timestamp and a Nonce of at most 18 characters; strict mode holds v4
    /// paths to both, and only v4 paths.
    #[test]
    fn v4_strict_forms() {
        let cache = Mutex::new(NonceCache::default());
        let now = 1_700_000_000_000;
        let v4 = |h: &HeaderMap, strict| check_dialect(h, now, &cache, strict, Dialect::V4);
        // What ncsdk sends: up to 18 digits, milliseconds.
        assert_eq!(v4(&signed(now, "999999999999999999"), true), Ok(()));
        assert_eq!(v4(&signed(now, &"7".repeat(19)), true), Err(1004));
        assert_eq!(v4(&signed_ts("1700000000", "s1"), true), Err(1004));
        // Not strict: as on entrust paths.
        assert_eq!(v4(&signed(now, &"7".repeat(19)), false), Ok(()));
        assert_eq!(v4(&signed_ts("1700000000", "s2"), false), Ok(()));
        // Strict entrust paths keep taking seconds and long nonces.
        assert_eq!(strict(&signed_ts("1700000000", "s3"), now, &cache), Ok(()));
        assert_eq!(strict(&signed(now, &"8".repeat(19)), now, &cache), Ok(()));
        // A refused form uses up no nonce.
        assert_eq!(v4(&signed_ts("1700000000", "s4"), true), Err(1004));
        assert_eq!(v4(&signed(now, "s4"), true), Ok(()));
    }

    #[test]
    fn nonce_cache_expires() {
        let mut c = NonceCache::default();
        let t0 = Instant::now();
        assert!(c.insert("a", t0));
        assert!(!c.insert("a", t0 + Duration::from_secs(599)));
        assert!(c.insert("a", t0 + NONCE_TTL + Duration::from_secs(1)));
    }
}
