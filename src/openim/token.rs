//! Stateless admin tokens for the OpenIM face.
//!
//! A token is `v1.<hex userID>.<expiry, unix seconds>.<hex tag>`, where the
//! tag is HMAC-SHA1, keyed with `[openim] secret`, over everything before it
//! (with a domain label). Nothing is stored: any gateway sharing the secret
//! accepts the token until it expires, a token cannot be forged or altered
//! without the secret, and changing the secret revokes every token. A token
//! is also refused once its user is no longer in `admin_user_ids`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use serde_json::{Value, json};

use super::State;
use super::errcode;
use super::json::Obj;
use crate::error::Error;
use crate::metrics::ResultLabels;
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
fn configured(state: &State) -> Result<(&Secret, &[String], u64), Error> {
    match (&state.secret, &state.config) {
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
pub fn admin_token(state: &State, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let o = Obj::new(&req, "");
    let secret = o.str("secret")?;
    let user = o.str("userID")?;
    o.opt_int("platformID", i64::from(i32::MIN), i64::from(i32::MAX))?;
    let (expected, admins, expire) = configured(state)?;
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
pub fn parse_token(state: &State, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let token = Obj::new(&req, "").required("token")?;
    let (secret, admins, _) = configured(state)?;
    let (user, expires_at) = verify_claims(secret, token, admins, crate::clock::unix_secs())?;
    Ok(json!({"userID": user, "platformID": ADMIN_PLATFORM_ID, "expireTimeSeconds": expires_at}))
}

/// The caller's credential on the OpenIM face. With `[openim]`, an admin
/// token in the `token` header (its user is returned); the gateway's bearer
/// token is then not asked for, since OpenIM clients send only `token`.
/// Without `[openim]`, the gateway's bearer token when one is configured
/// (`server.auth_tokens_*`): the routes spend the app secret like the
/// entrust face does, and are guarded like it.
pub fn authorize(state: &State, headers: &http::HeaderMap) -> Result<Option<String>, Error> {
    let (Some(secret), Some(cfg)) = (&state.secret, &state.config) else {
        state
            .inbound
            .check(headers.get(http::header::AUTHORIZATION))?;
        return Ok(None);
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
    verify(secret, t, &cfg.admin_user_ids, crate::clock::unix_secs()).map(Some)
}

/// Failed attempts one caller address may make at once, then one more per
/// [`PER_ADDR_EVERY`]: a legitimate client that mistyped gets a few tries,
/// a guesser gets 10 a minute instead of thousands a second.
pub const PER_ADDR_BURST: u32 = 5;
pub const PER_ADDR_EVERY: Duration = Duration::from_secs(6);
/// All callers together (guessing from many addresses): 50 at once, then 5/s.
pub const GLOBAL_BURST: u32 = 50;
pub const GLOBAL_EVERY: Duration = Duration::from_millis(200);
/// Caller addresses tracked at once; full buckets are dropped first, and past
/// it a new address is held to the global bucket only.
const MAX_ADDRS: usize = 4096;
/// How long a wrong (address, user ID, secret) is remembered: sent again
/// meanwhile, it costs no attempt. Repeating one guess teaches a guesser
/// nothing, while a client retrying a stale secret would otherwise spend
/// the attempts of every caller behind the same address (a sidecar's
/// callers are all 127.0.0.1).
pub const GUESS_MEMORY: Duration = Duration::from_secs(60);
/// Wrong guesses remembered at once; past it, a new one is counted as usual.
const MAX_GUESSES: usize = 4096;

/// A digest of one guess: the caller's address, the user ID and the secret
/// tried (never kept as they are).
pub type Guess = [u8; 20];

/// The guess an attempt made, from its body (`userID`, `secret`).
pub fn guess(addr: Option<IpAddr>, body: &[u8]) -> Guess {
    use sha1::Digest;
    let mut d = sha1::Sha1::new();
    match addr {
        Some(IpAddr::V4(a)) => d.update(a.octets()),
        Some(IpAddr::V6(a)) => d.update(a.octets()),
        None => {}
    }
    let fields = super::json::parse(body).ok();
    let field = |name: &str| {
        fields
            .as_ref()
            .and_then(|m| Obj::new(m, "").str(name).ok().map(str::to_string))
            .unwrap_or_default()
    };
    for part in [field("userID"), field("secret")] {
        d.update((part.len() as u64).to_be_bytes());
        d.update(part.as_bytes());
    }
    d.finalize().into()
}

/// Throttles failed credential attempts (wrong secret or user) on the token
/// routes, per caller address and globally. Only failures cost; a refused
/// attempt is answered 429 with Retry-After without checking the secret.
pub struct Throttle {
    state: Mutex<ThrottleState>,
}

struct ThrottleState {
    per_addr: HashMap<IpAddr, Bucket>,
    global: Bucket,
    /// Wrong guesses already counted, and when.
    guesses: HashMap<Guess, Instant>,
}

/// A token bucket counting failures.
#[derive(Clone, Copy)]
struct Bucket {
    left: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            left: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, burst: u32, every: Duration, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() / every.as_secs_f64();
        self.left = (self.left + gained).min(f64::from(burst));
        self.at = now;
    }

    /// `None` when an attempt may go ahead, else how long until one may.
    fn wait(&self, every: Duration) -> Option<Duration> {
        (self.left < 1.0).then(|| every.mul_f64(1.0 - self.left))
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            state: Mutex::new(ThrottleState {
                per_addr: HashMap::new(),
                global: Bucket::full(GLOBAL_BURST, Instant::now()),
                guesses: HashMap::new(),
            }),
        }
    }
}

impl Throttle {
    /// Refuses (429) a caller out of attempts, before its credential is looked at.
    pub fn check(&self, addr: Option<IpAddr>) -> Result<(), Error> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.global.refill(GLOBAL_BURST, GLOBAL_EVERY, now);
        let mut wait = s.global.wait(GLOBAL_EVERY);
        if let Some(b) = addr.and_then(|a| s.per_addr.get_mut(&a)) {
            b.refill(PER_ADDR_BURST, PER_ADDR_EVERY, now);
            wait = wait.max(b.wait(PER_ADDR_EVERY));
        }
        match wait {
            None => Ok(()),
            Some(retry_after) => Err(Error::RateLimited {
                retry_after,
                detail: "too many failed attempts; retry later".into(),
            }),
        }
    }

    /// Counts a failed attempt, unless it repeats a wrong guess counted in
    /// the last [`GUESS_MEMORY`].
    pub fn failed_guess(&self, addr: Option<IpAddr>, guess: Guess) {
        let now = Instant::now();
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = |at: &Instant| now.duration_since(*at) < GUESS_MEMORY;
            if s.guesses.get(&guess).is_some_and(fresh) {
                return;
            }
            if s.guesses.len() >= MAX_GUESSES {
                s.guesses.retain(|_, at| fresh(at));
            }
            if s.guesses.len() < MAX_GUESSES {
                s.guesses.insert(guess, now);
            }
        }
        self.failed(addr);
    }

    /// Counts one failed attempt.
    pub fn failed(&self, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.global.refill(GLOBAL_BURST, GLOBAL_EVERY, now);
        s.global.left = (s.global.left - 1.0).max(0.0);
        let Some(addr) = addr else { return };
        if s.per_addr.len() >= MAX_ADDRS && !s.per_addr.contains_key(&addr) {
            s.per_addr.retain(|_, b| {
                b.refill(PER_ADDR_BURST, PER_ADDR_EVERY, now);
                b.left < f64::from(PER_ADDR_BURST)
            });
            if s.per_addr.len() >= MAX_ADDRS {
                return;
            }
        }
        let b = s
            .per_addr
            .entry(addr)
            .or_insert_with(|| Bucket::full(PER_ADDR_BURST, now));
        b.refill(PER_ADDR_BURST, PER_ADDR_EVERY, now);
        b.left = (b.left - 1.0).max(0.0);
    }
}

/// Runs one token-route attempt under the gateway's throttle: refused at
/// once when the caller (or everyone) is out of attempts, counted when its
/// secret was wrong (1002 NoPermission: with `[openim]` configured, the only
/// refusal that means a guess; a malformed body or a wrong userID with the
/// right secret is not one) and is not a repeat of a guess counted lately. Both outcomes are counted in
/// `openim_admin_token_failures`. Without `[openim]` there is no secret to
/// guess and nothing is throttled.
pub fn throttled<T>(
    state: &State,
    addr: Option<IpAddr>,
    body: &[u8],
    attempt: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    if state.secret.is_none() {
        return attempt();
    }
    let throttle = &state.throttle;
    let count = |result| {
        state.failures.get_or_create(&ResultLabels { result }).inc();
    };
    if let Err(e) = throttle.check(addr) {
        count("throttled");
        return Err(e);
    }
    let r = attempt();
    if matches!(r, Err(Error::NoPermission(_))) {
        throttle.failed_guess(addr, guess(addr, body));
        count("refused");
    }
    r
}

#[cfg(test)]
mod tests;
