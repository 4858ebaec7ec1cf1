//! Stateless admin tokens for the OpenIM face.
//!
//! A token is `v1.<hex userID>.<expiry, unix seconds>.<hex tag>`, where the
//! tag is HMAC-SHA1, keyed with `[openim] secret`, over everything before it
//! (with a domain label). Nothing is stored: any gateway sharing the secret
//! accepts the token until it expires, a token cannot be forged or altered
//! without the secret, and changing the secret revokes every token. A token
//! is also refused once its user is no longer in `admin_user_ids`.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use serde_json::{Value, json};

use super::errcode;
use super::json::Obj;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::secret::Secret;

const VERSION: &str = "v1";
const DOMAIN: &[u8] = b"entrust-gateway/openim-admin-token\n";

fn mac(secret: &Secret, payload: &str) -> Result<Hmac<Sha1>, Error> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| Error::Internal("cannot key the token MAC".into()))?;
    mac.update(DOMAIN);
    mac.update(payload.as_bytes());
    Ok(mac)
}

/// A token for `user_id` that expires at `expires_at` (unix seconds).
pub fn issue(secret: &Secret, user_id: &str, expires_at: u64) -> Result<String, Error> {
    let payload = format!("{VERSION}.{}.{expires_at}", hex::encode(user_id));
    let tag = mac(secret, &payload)?.finalize().into_bytes();
    Ok(format!("{payload}.{}", hex::encode(tag)))
}

/// The user a token was issued to, if it is authentic, unexpired at `now`
/// and the user is still an admin. Errors are OpenIM's: 1503 malformed,
/// 1502 invalid (forged, altered, another secret, no longer an admin),
/// 1501 expired.
pub fn verify(secret: &Secret, token: &str, admins: &[String], now: u64) -> Result<String, Error> {
    verify_claims(secret, token, admins, now).map(|(user, _)| user)
}

/// As [`verify`], with the expiry (unix seconds).
pub fn verify_claims(
    secret: &Secret,
    token: &str,
    admins: &[String],
    now: u64,
) -> Result<(String, u64), Error> {
    let malformed = || Error::Token {
        code: errcode::TOKEN_MALFORMED,
        detail: "the token is malformed".into(),
    };
    let invalid = |why: &str| Error::Token {
        code: errcode::TOKEN_INVALID,
        detail: format!("the token is invalid: {why}"),
    };
    let mut parts = token.split('.');
    let (Some(version), Some(user_hex), Some(exp), Some(tag_hex), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    if version != VERSION {
        return Err(malformed());
    }
    let user = hex::decode(user_hex)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let expires_at: u64 = exp.parse().map_err(|_| malformed())?;
    let given = hex::decode(tag_hex).map_err(|_| malformed())?;
    // Everything before the tag is what the tag covers.
    let payload = token.rsplit_once('.').map_or("", |(p, _)| p);
    // Constant-time comparison.
    if mac(secret, payload)?.verify_slice(&given).is_err() {
        return Err(invalid("signature mismatch"));
    }
    if expires_at <= now {
        return Err(Error::Token {
            code: errcode::TOKEN_EXPIRED,
            detail: "the token has expired".into(),
        });
    }
    if !admins.contains(&user) {
        return Err(invalid("its user is no longer an admin"));
    }
    Ok((user, expires_at))
}

/// OpenIM's platform ID for admin tokens (protocol `constant.AdminPlatformID`):
/// every token here is an admin's, whichever platform asked for it.
pub const ADMIN_PLATFORM_ID: i64 = 10;

/// Constant-time string comparison (for the admin secret).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The `[openim]` secret and admins, or 1002 when tokens are off.
fn configured(gw: &Gateway) -> Result<(&Secret, &[String], u64), Error> {
    match (gw.openim_secret(), &gw.config().openim) {
        (Some(s), Some(cfg)) => Ok((s, &cfg.admin_user_ids, cfg.token_expire_seconds)),
        _ => Err(Error::NoPermission(
            "no [openim] section is configured: this gateway issues no tokens and needs none"
                .into(),
        )),
    }
}

/// `/auth/get_admin_token` `{"secret","userID"}` and, for clients before
/// OpenIM v3.8.1, `/auth/user_token` `{"secret","platformID","userID"}`
/// (open-im-server 3c62733 `internal/rpc/auth/auth.go` UserToken): both →
/// `{"token","expireTimeSeconds"}`, for admin user IDs only, the same token.
pub fn admin_token(gw: &Gateway, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let o = Obj::new(&req, "");
    let secret = o.str("secret")?;
    let user = o.str("userID")?;
    o.opt_int("platformID", i64::from(i32::MIN), i64::from(i32::MAX))?;
    let (expected, admins, expire) = configured(gw)?;
    if !same_secret(secret, expected.expose()) {
        return Err(Error::NoPermission("secret invalid".into()));
    }
    if user.is_empty() || !admins.iter().any(|a| a == user) {
        // At most 80 characters of it: the detail is logged and echoed.
        return Err(Error::Args(format!(
            "userID {:?} is not an admin user ID",
            crate::route::printable(user)
        )));
    }
    let t = issue(
        expected,
        user,
        crate::clock::unix_secs().saturating_add(expire),
    )?;
    Ok(json!({"token": t, "expireTimeSeconds": expire}))
}

/// `/auth/parse_token` `{"token"}` → `{"userID","platformID","expireTimeSeconds"}`,
/// where expireTimeSeconds is the expiry as unix seconds (open-im-server
/// `internal/rpc/auth/auth.go` ParseToken: `claims.ExpiresAt.Unix()`).
pub fn parse_token(gw: &Gateway, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let token = Obj::new(&req, "").required("token")?;
    let (secret, admins, _) = configured(gw)?;
    let (user, expires_at) = verify_claims(secret, token, admins, crate::clock::unix_secs())?;
    Ok(json!({"userID": user, "platformID": ADMIN_PLATFORM_ID, "expireTimeSeconds": expires_at}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<String, Error>) -> i64 {
        match r {
            Err(Error::Token { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let s = Secret::new("openIM123".into());
        let admins = vec!["imAdmin".to_string(), "a.b".to_string()];
        let t = issue(&s, "imAdmin", 1000).unwrap();
        assert_eq!(verify(&s, &t, &admins, 999).unwrap(), "imAdmin");
        assert_eq!(code(verify(&s, &t, &admins, 1000)), 1501);
        let other = Secret::new("other".into());
        assert_eq!(code(verify(&other, &t, &admins, 1)), 1502);
        // Altered expiry or user.
        let longer = t.replacen(".1000.", ".9999.", 1);
        assert_eq!(code(verify(&s, &longer, &admins, 1)), 1502);
        let dotted = issue(&s, "a.b", 1000).unwrap();
        assert_eq!(verify(&s, &dotted, &admins, 1).unwrap(), "a.b");
        let forged = format!("v1.{}.1000.{}", hex::encode("a.b"), "00".repeat(20));
        assert_eq!(code(verify(&s, &forged, &admins, 1)), 1502);
        assert_eq!(code(verify(&s, &t, &["x".to_string()], 1)), 1502);
        for bad in [
            "",
            "x",
            "v1.zz.1.00",
            "v2.00.1.00",
            "v1.00.-1.00",
            // Rust's u64 parser takes a leading '+': only the digit check refuses it.
            "v1.00.+1.00",
            "v1.00.1.00.00",
            "v1.00..00",
        ] {
            assert_eq!(code(verify(&s, bad, &admins, 1)), 1503, "{bad}");
        }
        assert!(!t.contains("openIM123"));
    }

    #[test]
    fn secret_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
