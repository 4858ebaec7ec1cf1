//! Inbound auth: the bearer tokens (`server.auth_tokens_*`) a caller must
//! present, compared as digests in constant time; and with `[[callers]]`,
//! which caller a request comes from ([`Callers`]), which decides the app
//! its calls go out as.

use std::sync::Arc;

use http::HeaderValue;

use crate::error::Error;
use crate::secret::Secret;

/// The tokens callers may present; none configured means none is asked for.
#[derive(Default)]
pub struct Inbound {
    /// SHA-1 digests of the tokens.
    tokens: Vec<[u8; 20]>,
}

fn token_digest(token: &str) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(token.as_bytes()).into()
}

/// The credential of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Inbound {
    pub fn new(tokens: &[Secret]) -> Inbound {
        Inbound {
            tokens: tokens.iter().map(|t| token_digest(t.expose())).collect(),
        }
    }

    /// Whether callers need a bearer token.
    pub fn required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks an `Authorization` header against the tokens. The comparison
    /// is over fixed-size digests, in constant time.
    pub fn check(&self, authorization: Option<&HeaderValue>) -> Result<(), Error> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        let presented = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .map(token_digest);
        let Some(presented) = presented else {
            return Err(Error::Unauthorized(
                "gateway: missing Authorization: Bearer token".into(),
            ));
        };
        let mut ok = subtle::Choice::from(0);
        for t in &self.tokens {
            ok |= subtle::ConstantTimeEq::ct_eq(&t[..], &presented[..]);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Error::Unauthorized("gateway: invalid bearer token".into()))
        }
    }
}

/// A caller, as its credential resolved it: who it is, the app its calls
/// go out as, and its terms on that app's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `[[callers]] name`: its label in logs and metrics.
    pub name: Arc<str>,
    /// The `[[apps]]` name its calls go out as.
    pub app: Arc<str>,
    pub weight: u32,
    pub max_per_second: Option<u32>,
}

/// How a request says who sent it. Only a bearer token today; the inbound
/// TLS listener will add the peer certificate's subject, looked up by
/// [`Callers::by_cert_subject`] (the seam for it).
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// A verified client certificate's subject (or SAN).
    CertSubject(&'a str),
}

/// The `[[callers]]`: each token's digest and the caller it names.
#[derive(Default)]
pub struct Callers {
    tokens: Vec<([u8; 20], Arc<Caller>)>,
}

impl Callers {
    /// `callers`: each caller with its token, loaded.
    pub fn new(callers: Vec<(Caller, Secret)>) -> Callers {
        Callers {
            tokens: callers
                .into_iter()
                .map(|(c, t)| (token_digest(t.expose()), Arc::new(c)))
                .collect(),
        }
    }

    /// Whether callers are configured (and so every API request needs one).
    pub fn required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The callers, in config order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Caller>> {
        self.tokens.iter().map(|(_, c)| c)
    }

    /// The caller a credential names. Every token is compared, in constant
    /// time over fixed-size digests, whichever matches.
    pub fn identify(&self, credential: Credential<'_>) -> Option<Arc<Caller>> {
        match credential {
            Credential::Bearer(token) => {
                let presented = token_digest(token);
                let mut found = None;
                for (digest, caller) in &self.tokens {
                    let eq = subtle::ConstantTimeEq::ct_eq(&digest[..], &presented[..]);
                    if bool::from(eq) {
                        found = Some(caller.clone());
                    }
                }
                found
            }
            Credential::CertSubject(subject) => self.by_cert_subject(subject),
        }
    }

    /// The caller a client certificate's subject names. No caller names one
    /// yet: when `[[callers]]` gains a `cert_subject`, it is matched here,
    /// and dispatch passes the listener's verified peer subject.
    pub fn by_cert_subject(&self, _subject: &str) -> Option<Arc<Caller>> {
        None
    }

    /// The caller of a request from its `Authorization` header: `Ok(None)`
    /// without `[[callers]]`, 401 when they are configured and none matches.
    pub fn check(&self, authorization: Option<&HeaderValue>) -> Result<Option<Arc<Caller>>, Error> {
        if !self.required() {
            return Ok(None);
        }
        let Some(token) = authorization.and_then(|v| v.to_str().ok()).and_then(bearer) else {
            return Err(Error::Unauthorized(
                "gateway: missing Authorization: Bearer token".into(),
            ));
        };
        match self.identify(Credential::Bearer(token)) {
            Some(c) => Ok(Some(c)),
            None => Err(Error::Unauthorized("gateway: invalid bearer token".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_caller_and_no_other() {
        let caller = |name: &str, app: &str| Caller {
            name: name.into(),
            app: app.into(),
            weight: 1,
            max_per_second: None,
        };
        let callers = Callers::new(vec![
            (caller("a", "one"), Secret::new("tok-a".into())),
            (caller("b", "two"), Secret::new("tok-b".into())),
        ]);
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        let found = callers.check(h("Bearer tok-b").as_ref()).unwrap().unwrap();
        assert_eq!((&*found.name, &*found.app), ("b", "two"));
        assert!(callers.check(h("Bearer tok-c").as_ref()).is_err());
        assert!(callers.check(None).is_err());
        assert!(callers.by_cert_subject("CN=a").is_none());
        assert!(Callers::default().check(None).unwrap().is_none());
    }

    #[test]
    fn a_bearer_token_is_checked_whatever_the_scheme_s_case() {
        let auth = Inbound::new(&[Secret::new("tok".into())]);
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        assert!(auth.check(h("Bearer tok").as_ref()).is_ok());
        assert!(auth.check(h("bearer  tok ").as_ref()).is_ok());
        assert!(auth.check(h("Bearer other").as_ref()).is_err());
        assert!(auth.check(h("Basic tok").as_ref()).is_err());
        assert!(auth.check(None).is_err());
        assert!(Inbound::default().check(None).is_ok());
    }
}
