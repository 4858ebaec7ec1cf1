//! The throttle on the OpenIM face's token routes: failed credential
//! attempts (a wrong secret) are limited per caller address and for all
//! callers together, and a wrong guess sent again lately costs nothing
//! more. Nothing here reads a token; [`throttled`] wraps one attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::State;
use super::json::Obj;
use crate::error::Error;
use crate::metrics::ResultLabels;

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
