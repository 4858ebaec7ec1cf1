//! `force_logout`'s record: for a user and platform, when their tokens were
//! last kicked. A token of that user and platform issued at or before then
//! is refused with OpenIM's 1506 TokenKickedError (open-im-server
//! `internal/rpc/auth/auth.go` parseToken: `constant.KickedToken` →
//! `servererrs.ErrTokenKicked`).
//!
//! OpenIM marks each stored token kicked; tokens here are stateless, so the
//! kick's time is kept instead, for as long as a token issued before it can
//! live (`token_expire_seconds`): afterwards every such token has expired.
//!
//! With `[redis]`, kicks go to Redis, `<key_prefix>:<app_key>:openim:kick:<hex
//! user>:<platform>` holding the kick's time (unix ms, the latest kept) with
//! that expiry, and every request with a token reads its key: a kick on one
//! gateway stops the tokens on all of them from the next request. Each
//! gateway also keeps its own kicks locally. While Redis is unreachable a
//! token is checked against this gateway's kicks only, and a kick is kept
//! locally and answered 500 (ServerInternalError), so that the caller knows
//! to send it again; failed Redis calls are counted in
//! `openim_kick_store_errors`. Without `[redis]`, kicks are local to the
//! gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use redis::Script;

use super::errcode;
use super::token::Claims;
use crate::error::Error;
use crate::metrics::KindLabels;
use crate::redis_link::Link;

/// Kicks held locally at once; a kick past it is refused (500) rather than
/// forgetting one that still stops tokens.
pub const MAX_KICKS: usize = 100_000;

/// Keeps the later of the kick times, with the expiry renewed.
const SET_LATEST: &str = r"
local old = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local new = tonumber(ARGV[1])
if new > old then old = new end
redis.call('SET', KEYS[1], tostring(old), 'PX', ARGV[2])
return 1
";

const GET: &str = r"
return redis.call('GET', KEYS[1])
";

struct Shared {
    link: Arc<Link>,
    /// `<key_prefix>:<app_key>:openim:kick:`
    prefix: String,
    set: Script,
    get: Script,
    errors: Family<KindLabels, Counter>,
}

/// The kicks (see the module doc).
pub struct Kicks {
    /// (user, platform) → (kick time in unix ms, kept until).
    local: Mutex<HashMap<(String, i64), (u64, Instant)>>,
    /// How long a kick is kept: the tokens' lifetime.
    keep: Duration,
    redis: Option<Shared>,
}

impl Kicks {
    /// Local kicks, kept for `keep`.
    pub fn local(keep: Duration) -> Kicks {
        Kicks {
            local: Mutex::new(HashMap::new()),
            keep,
            redis: None,
        }
    }

    /// Kicks shared through Redis on `link`, keys under `prefix`.
    pub fn shared(
        keep: Duration,
        link: Arc<Link>,
        prefix: String,
        errors: Family<KindLabels, Counter>,
    ) -> Kicks {
        Kicks {
            redis: Some(Shared {
                link,
                prefix,
                set: Script::new(SET_LATEST),
                get: Script::new(GET),
                errors,
            }),
            ..Kicks::local(keep)
        }
    }

    fn key(prefix: &str, user: &str, platform: i64) -> String {
        format!("{prefix}{}:{platform}", hex::encode(user))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), (u64, Instant)>> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kicks every token of `user` on `platform` issued at or before `at_ms`.
    pub async fn kick(&self, user: &str, platform: i64, at_ms: u64) -> Result<(), Error> {
        {
            let now = Instant::now();
            let mut map = self.map();
            if map.len() >= MAX_KICKS {
                map.retain(|_, (_, until)| *until > now);
            }
            let k = (user.to_string(), platform);
            if map.len() >= MAX_KICKS && !map.contains_key(&k) {
                return Err(Error::OpenIm {
                    code: errcode::SERVER_INTERNAL,
                    detail: format!(
                        "force_logout not recorded: {MAX_KICKS} kicks are held, none expired yet"
                    ),
                });
            }
            let e = map.entry(k).or_insert((0, now));
            *e = (e.0.max(at_ms), now + self.keep);
        }
        let Some(r) = &self.redis else {
            return Ok(());
        };
        let key = Kicks::key(&r.prefix, user, platform);
        let mut call = r.set.key(&key);
        call.arg(at_ms)
            .arg(u64::try_from(self.keep.as_millis()).unwrap_or(u64::MAX));
        match r.link.run::<i64>(&call, &r.errors).await {
            Some(_) => Ok(()),
            None => Err(Error::OpenIm {
                code: errcode::SERVER_INTERNAL,
                detail: "force_logout recorded on this gateway only: Redis is unreachable, so the other gateways do not know it yet; send it again".into(),
            }),
        }
    }

    /// When `user`'s tokens on `platform` were last kicked (unix ms).
    async fn kicked_at(&self, user: &str, platform: i64) -> Option<u64> {
        let local = {
            let map = self.map();
            map.get(&(user.to_string(), platform))
                .filter(|(_, until)| *until > Instant::now())
                .map(|(at, _)| *at)
        };
        let Some(r) = &self.redis else {
            return local;
        };
        let key = Kicks::key(&r.prefix, user, platform);
        let call = r.get.key(&key);
        let shared = r
            .link
            .run::<Option<String>>(&call, &r.errors)
            .await
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        local.max(shared)
    }

    /// 1506 for a token issued at or before its user and platform's last kick.
    pub async fn check(&self, c: &Claims) -> Result<(), Error> {
        match self.kicked_at(&c.user, c.platform).await {
            Some(at) if c.issued_ms <= at => Err(Error::Token {
                code: errcode::TOKEN_KICKED,
                detail: "the token was kicked: force_logout of its user and platform".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user: &str, platform: i64, issued_ms: u64) -> Claims {
        Claims {
            user: user.into(),
            platform,
            issued_ms,
            expires_at: u64::MAX,
        }
    }

    #[tokio::test]
    async fn a_kick_stops_earlier_tokens_of_that_user_and_platform_only() {
        let k = Kicks::local(Duration::from_secs(60));
        k.kick("u", 1, 1000).await.unwrap();
        let code = |r: Result<(), Error>| match r {
            Err(Error::Token { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(k.check(&claims("u", 1, 999)).await), 1506);
        assert_eq!(code(k.check(&claims("u", 1, 1000)).await), 1506);
        assert!(k.check(&claims("u", 1, 1001)).await.is_ok());
        assert!(k.check(&claims("u", 2, 1)).await.is_ok());
        assert!(k.check(&claims("v", 1, 1)).await.is_ok());
        // An older kick does not move the time back.
        k.kick("u", 1, 10).await.unwrap();
        assert_eq!(code(k.check(&claims("u", 1, 999)).await), 1506);
    }

    /// At most MAX_KICKS are held: past it a new user's kick is refused
    /// (and says so), while a user already held is kicked again as usual.
    #[tokio::test]
    async fn a_full_table_refuses_new_kicks_but_renews_held_ones() {
        let k = Kicks::local(Duration::from_secs(60));
        for i in 0..MAX_KICKS {
            k.kick(&i.to_string(), 1, 1000).await.unwrap();
        }
        k.kick("0", 1, 2000).await.unwrap();
        assert!(matches!(
            k.kick("new", 1, 2000).await,
            Err(Error::OpenIm { .. })
        ));
    }

    #[tokio::test]
    async fn a_kick_is_forgotten_once_the_tokens_it_stops_have_expired() {
        let k = Kicks::local(Duration::ZERO);
        k.kick("u", 1, 1000).await.unwrap();
        assert!(k.check(&claims("u", 1, 1)).await.is_ok());
    }
}
