//! Stateless tokens for the OpenIM face: admin tokens and user tokens.
//!
//! A token is `v2.<hex userID>.<platformID>.<issued, unix ms>.<expiry, unix
//! seconds>.<hex tag>`, where the tag is HMAC-SHA1, keyed with `[openim]
//! secret`, over everything before it (with a domain label). Tokens issued
//! before user tokens existed, `v1.<hex userID>.<expiry>.<hex tag>`, are
//! still accepted as admin tokens. Nothing is stored per token: any gateway
//! sharing the secret accepts a token until it expires, a token cannot be
//! forged or altered without the secret, and changing the secret revokes
//! every token. An admin token (platform 10) is refused once its user is no
//! longer in `admin_user_ids`; a token of a user and platform issued before
//! that user and platform's last `force_logout` is refused as kicked
//! ([`super::kicks`]).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use serde_json::{Value, json};

use super::State;
use super::errcode;
use super::json::Obj;
use crate::error::Error;
use crate::secret::Secret;

const VERSION: &str = "v1";
const VERSION_2: &str = "v2";
const DOMAIN: &[u8] = b"entrust-gateway/openim-admin-token\n";

fn mac(secret: &Secret, payload: &str) -> Result<Hmac<Sha1>, Error> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| Error::Internal("cannot key the token MAC".into()))?;
    mac.update(DOMAIN);
    mac.update(payload.as_bytes());
    Ok(mac)
}

fn sign(secret: &Secret, payload: String) -> Result<String, Error> {
    let tag = mac(secret, &payload)?.finalize().into_bytes();
    Ok(format!("{payload}.{}", hex::encode(tag)))
}

/// A `v1` admin token for `user_id` that expires at `expires_at` (unix
/// seconds): the format before user tokens, still accepted.
pub fn issue(secret: &Secret, user_id: &str, expires_at: u64) -> Result<String, Error> {
    sign(
        secret,
        format!("{VERSION}.{}.{expires_at}", hex::encode(user_id)),
    )
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user: String,
    /// OpenIM's platform ID; [`ADMIN_PLATFORM_ID`] for an admin token.
    pub platform: i64,
    /// When it was issued (unix ms): a `force_logout` at or after it stops it.
    pub issued_ms: u64,
    /// When it expires (unix seconds).
    pub expires_at: u64,
}

/// A `v2` token saying `claims`.
pub fn issue_claims(secret: &Secret, claims: &Claims) -> Result<String, Error> {
    sign(
        secret,
        format!(
            "{VERSION_2}.{}.{}.{}.{}",
            hex::encode(&claims.user),
            claims.platform,
            claims.issued_ms,
            claims.expires_at
        ),
    )
}

/// The admin a token was issued to, if it is an authentic, unexpired admin
/// token at `now` whose user is still an admin. Errors are OpenIM's: 1503
/// malformed, 1502 invalid (forged, altered, another secret, no longer an
/// admin), 1501 expired.
pub fn verify(secret: &Secret, token: &str, admins: &[String], now: u64) -> Result<String, Error> {
    let c = verify_claims(secret, token, admins, 0, now)?;
    if c.platform != ADMIN_PLATFORM_ID {
        return Err(Error::Token {
            code: errcode::TOKEN_INVALID,
            detail: "the token is invalid: not an admin token".into(),
        });
    }
    Ok(c.user)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A token's claims, if it is authentic and unexpired at `now` and, for an
/// admin token, its user is still in `admins`. `expire_seconds` is the
/// configured lifetime: a `v1` token's issue time is its expiry less it.
pub fn verify_claims(
    secret: &Secret,
    token: &str,
    admins: &[String],
    expire_seconds: u64,
    now: u64,
) -> Result<Claims, Error> {
    let malformed = || Error::Token {
        code: errcode::TOKEN_MALFORMED,
        detail: "the token is malformed".into(),
    };
    let invalid = |why: &str| Error::Token {
        code: errcode::TOKEN_INVALID,
        detail: format!("the token is invalid: {why}"),
    };
    let parts: Vec<&str> = token.split('.').collect();
    let (user_hex, platform, issued_ms, exp, tag_hex) = match parts.as_slice() {
        [v, user, exp, tag] if *v == VERSION => {
            let exp = digits(exp).ok_or_else(malformed)?;
            let issued = exp.saturating_sub(expire_seconds).saturating_mul(1000);
            (*user, ADMIN_PLATFORM_ID, issued, exp, *tag)
        }
        [v, user, platform, issued, exp, tag] if *v == VERSION_2 => {
            let platform = digits(platform)
                .and_then(|p| i64::try_from(p).ok())
                .ok_or_else(malformed)?;
            let issued = digits(issued).ok_or_else(malformed)?;
            (
                *user,
                platform,
                issued,
                digits(exp).ok_or_else(malformed)?,
                *tag,
            )
        }
        _ => return Err(malformed()),
    };
    let user = hex::decode(user_hex)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    let given = hex::decode(tag_hex).map_err(|_| malformed())?;
    // Everything before the tag is what the tag covers.
    let payload = token.rsplit_once('.').map_or("", |(p, _)| p);
    // Constant-time comparison.
    if mac(secret, payload)?.verify_slice(&given).is_err() {
        return Err(invalid("signature mismatch"));
    }
    if exp <= now {
        return Err(Error::Token {
            code: errcode::TOKEN_EXPIRED,
            detail: "the token has expired".into(),
        });
    }
    if platform == ADMIN_PLATFORM_ID && !admins.contains(&user) {
        return Err(invalid("its user is no longer an admin"));
    }
    Ok(Claims {
        user,
        platform,
        issued_ms,
        expires_at: exp,
    })
}

/// OpenIM's platform ID for admin tokens (protocol
/// `constant/platform_id_to_name.go` AdminPlatformID).
pub const ADMIN_PLATFORM_ID: i64 = 10;
/// The platform IDs OpenIM names (protocol `constant/platform_id_to_name.go`:
/// 1 iOS .. 9 iPad, 10 admin, 11 HarmonyOS).
pub const PLATFORM_IDS: std::ops::RangeInclusive<i64> = 1..=11;

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
fn configured(state: &State) -> Result<(&Secret, &[String], u64), Error> {
    match (&state.secret, &state.config) {
        (Some(s), Some(cfg)) => Ok((s, &cfg.admin_user_ids, cfg.token_expire_seconds)),
        _ => Err(Error::NoPermission(
            "no [openim] section is configured: this gateway issues no tokens and needs none"
                .into(),
        )),
    }
}

/// A fresh token for `user` on `platform`, and its lifetime in seconds.
fn fresh(state: &State, user: &str, platform: i64) -> Result<Value, Error> {
    let (secret, _, expire) = configured(state)?;
    let claims = Claims {
        user: user.to_string(),
        platform,
        issued_ms: crate::clock::unix_ms(),
        expires_at: crate::clock::unix_secs().saturating_add(expire),
    };
    let t = issue_claims(secret, &claims)?;
    Ok(json!({"token": t, "expireTimeSeconds": expire}))
}

/// `/auth/get_admin_token` `{"secret","userID"}` and, for clients before
/// OpenIM v3.8.1, `/auth/user_token` `{"secret","platformID","userID"}`
/// (open-im-server 3c62733 `internal/rpc/auth/auth.go` UserToken): both →
/// `{"token","expireTimeSeconds"}`, for admin user IDs only, an admin token.
pub fn admin_token(state: &State, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let o = Obj::new(&req, "");
    let secret = o.str("secret")?;
    let user = o.str("userID")?;
    o.opt_int("platformID", i64::from(i32::MIN), i64::from(i32::MAX))?;
    let (expected, admins, _) = configured(state)?;
    if !same_secret(secret, expected.expose()) {
        return Err(Error::NoPermission("secret invalid".into()));
    }
    if user.is_empty() || !admins.iter().any(|a| a == user) {
        // At most 80 characters of it: the detail is logged and echoed.
        return Err(Error::Args(format!(
            "userID {:?} is not an admin user ID",
            crate::allowlist::printable(user)
        )));
    }
    fresh(state, user, ADMIN_PLATFORM_ID)
}

/// OpenIM's refusal of a route for admins only (open-im-server
/// `pkg/authverify/token.go` CheckAdmin: ErrNoPermission "user %s is not
/// admin userID").
fn check_admin(caller: &Caller) -> Result<(), Error> {
    if caller.admin {
        return Ok(());
    }
    Err(Error::NoPermission(format!(
        "user {} is not admin userID",
        caller.user.as_deref().unwrap_or("")
    )))
}

/// The `{"userID","platformID"}` of get_user_token and force_logout
/// (platformID 0 when absent).
fn user_and_platform(body: &[u8]) -> Result<(String, i64), Error> {
    let req = super::json::parse(body)?;
    let o = Obj::new(&req, "");
    let user = o.str("userID")?.to_string();
    let platform = o
        .opt_int("platformID", i64::from(i32::MIN), i64::from(i32::MAX))?
        .unwrap_or(0);
    Ok((user, platform))
}

/// `/auth/get_user_token` `{"platformID","userID"}` →
/// `{"token","expireTimeSeconds"}`, as open-im-server
/// `internal/rpc/auth/auth.go` GetUserToken: admins only (1002), never for
/// the admin platform (1002 "platformID invalid. platformID must not be
/// adminPlatformID") nor for an admin user ID (1002 "don't get Admin
/// token"). The vendor keeps no user accounts to look the user up in, so
/// any other user ID gets a token; an empty one, or a platform OpenIM does
/// not name, is 1001.
pub fn user_token(state: &State, caller: &Caller, body: &[u8]) -> Result<Value, Error> {
    let (user, platform) = user_and_platform(body)?;
    let user = user.as_str();
    let (_, admins, _) = configured(state)?;
    check_admin(caller)?;
    if platform == ADMIN_PLATFORM_ID {
        return Err(Error::NoPermission(
            "platformID invalid. platformID must not be adminPlatformID".into(),
        ));
    }
    if admins.iter().any(|a| a == user) {
        return Err(Error::NoPermission("don't get Admin token".into()));
    }
    if user.is_empty() {
        return Err(Error::Args("userID is empty".into()));
    }
    super::group::check_user_id("userID", user)?;
    if !PLATFORM_IDS.contains(&platform) {
        return Err(Error::Args("platformID is invalid".into()));
    }
    fresh(state, user, platform)
}

/// `/auth/force_logout` `{"platformID","userID"}` (open-im-server
/// `internal/rpc/auth/auth.go` ForceLogout, checked first by protocol
/// `auth/auth.go` ForceLogoutReq.Check: userID empty 1001 "userID is
/// empty", platformID outside 1..10 1001 "platformID is invalidate"; then
/// admins only, 1002): every token of that user and platform issued until
/// now is refused from now on (1506), on every gateway of the fleet when
/// `[redis]` is configured ([`super::kicks`]).
pub async fn force_logout(state: &State, caller: &Caller, body: &[u8]) -> Result<(), Error> {
    let (user, platform) = user_and_platform(body)?;
    let user = user.as_str();
    configured(state)?;
    if user.is_empty() {
        return Err(Error::Args("userID is empty".into()));
    }
    if !(1..=ADMIN_PLATFORM_ID).contains(&platform) {
        return Err(Error::Args("platformID is invalidate".into()));
    }
    super::group::check_user_id("userID", user)?;
    check_admin(caller)?;
    state
        .kicks
        .kick(user, platform, crate::clock::unix_ms())
        .await
}

/// `/auth/parse_token` `{"token"}` → `{"userID","platformID","expireTimeSeconds"}`,
/// where expireTimeSeconds is the expiry as unix seconds (open-im-server
/// `internal/rpc/auth/auth.go` ParseToken: `claims.ExpiresAt.Unix()`); a
/// kicked token is 1506, as parseToken answers it.
pub async fn parse_token(state: &State, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let token = Obj::new(&req, "").required("token")?;
    let (secret, admins, expire) = configured(state)?;
    let c = verify_claims(secret, token, admins, expire, crate::clock::unix_secs())?;
    state.kicks.check(&c).await?;
    Ok(json!({"userID": c.user, "platformID": c.platform, "expireTimeSeconds": c.expires_at}))
}

/// Who calls: the token's user and whether it holds an admin token. Without
/// `[openim]` nobody is named and every caller is treated as an admin
/// (the gateway's bearer token, when set, guards the face instead).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<String>,
    pub admin: bool,
    /// The token's claims (for the kick check).
    pub claims: Option<Claims>,
}

impl Caller {
    /// Nobody in particular, with an admin's rights (no `[openim]`).
    pub fn open() -> Caller {
        Caller {
            user: None,
            admin: true,
            claims: None,
        }
    }
}

/// The caller's credential on the OpenIM face. With `[openim]`, a token in
/// the `token` header (an admin's or a user's; the gateway's bearer token
/// is then not asked for, since OpenIM clients send only `token`). Without
/// `[openim]`, the gateway's bearer token when one is configured
/// (`server.auth_tokens_*`): the routes spend the app secret like the
/// entrust face does, and are guarded like it. Whether a token was kicked
/// is asked afterwards ([`super::kicks::Kicks::check`]: it may ask Redis).
pub fn authorize(state: &State, headers: &http::HeaderMap) -> Result<Caller, Error> {
    let (Some(secret), Some(cfg)) = (&state.secret, &state.config) else {
        state
            .inbound
            .check(headers.get(http::header::AUTHORIZATION))?;
        return Ok(Caller::open());
    };
    let Some(t) = headers
        .get(crate::headers::TOKEN)
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|v| !v.is_empty())
    else {
        return Err(Error::Token {
            code: errcode::ARGS,
            detail: "header must have token".into(),
        });
    };
    // A token is ASCII; anything else is malformed.
    let t = std::str::from_utf8(t).map_err(|_| Error::Token {
        code: errcode::TOKEN_MALFORMED,
        detail: "the token is malformed".into(),
    })?;
    let c = verify_claims(
        secret,
        t,
        &cfg.admin_user_ids,
        cfg.token_expire_seconds,
        crate::clock::unix_secs(),
    )?;
    Ok(Caller {
        user: Some(c.user.clone()),
        admin: c.platform == ADMIN_PLATFORM_ID,
        claims: Some(c),
    })
}

#[cfg(test)]
mod tests;
