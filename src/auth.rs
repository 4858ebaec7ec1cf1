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

/// How a request says who sent it.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// A name from a verified client certificate (its subject DN, a DNS or
    /// URI SAN), looked up by [`Callers::by_cert_name`].
    CertName(&'a str),
}

/// The `[[callers]]`: each token's digest and the caller it names, and
/// the certificate names (`cert_subject`) that name a caller.
#[derive(Default)]
pub struct Callers {
    tokens: Vec<([u8; 20], Arc<Caller>)>,
    subjects: Vec<(String, Arc<Caller>)>,
    /// In config order, each once.
    all: Vec<Arc<Caller>>,
}

impl Callers {
    /// `callers`: each caller with its token (loaded) and its certificate
    /// name, either or both.
    pub fn new(callers: Vec<(Caller, Option<Secret>, Option<String>)>) -> Callers {
        let mut c = Callers::default();
        for (caller, token, subject) in callers {
            let caller = Arc::new(caller);
            if let Some(t) = token {
                c.tokens.push((token_digest(t.expose()), caller.clone()));
            }
            if let Some(s) = subject {
                c.subjects.push((s, caller.clone()));
            }
            c.all.push(caller);
        }
        c
    }

    /// Whether callers are configured (and so every API request needs one).
    pub fn required(&self) -> bool {
        !self.all.is_empty()
    }

    /// The callers, in config order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Caller>> {
        self.all.iter()
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
            Credential::CertName(name) => self.by_cert_name(name),
        }
    }

    /// The caller whose `cert_subject` is `name` (not a secret: a
    /// certificate's names are public, and the listener verified it).
    pub fn by_cert_name(&self, name: &str) -> Option<Arc<Caller>> {
        self.subjects
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, c)| c.clone())
    }

    /// The caller of a request from its `Authorization` header and the
    /// names of its verified client certificate (mutual TLS): `Ok(None)`
    /// without `[[callers]]`; 401 when they are configured and neither
    /// names one, or when the two name different callers.
    pub fn check<'n>(
        &self,
        authorization: Option<&HeaderValue>,
        cert_names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Option<Arc<Caller>>, Error> {
        if !self.required() {
            return Ok(None);
        }
        let by_cert = cert_names
            .into_iter()
            .find_map(|n| self.identify(Credential::CertName(n)));
        let token = authorization.and_then(|v| v.to_str().ok()).and_then(bearer);
        match (token, by_cert) {
            (None, Some(c)) => Ok(Some(c)),
            (None, None) => Err(Error::Unauthorized(
                "gateway: missing Authorization: Bearer token".into(),
            )),
            (Some(token), by_cert) => match self.identify(Credential::Bearer(token)) {
                None => Err(Error::Unauthorized("gateway: invalid bearer token".into())),
                Some(c) if by_cert.as_ref().is_some_and(|b| b.name != c.name) => {
                    Err(Error::Unauthorized(
                        "gateway: the bearer token and the client certificate name different callers"
                            .into(),
                    ))
                }
                Some(c) => Ok(Some(c)),
            },
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
            (caller("a", "one"), Some(Secret::new("tok-a".into())), None),
            (caller("b", "two"), Some(Secret::new("tok-b".into())), None),
        ]);
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        let none = std::iter::empty::<&str>;
        let found = callers
            .check(h("Bearer tok-b").as_ref(), none())
            .unwrap()
            .unwrap();
        assert_eq!((&*found.name, &*found.app), ("b", "two"));
        assert!(callers.check(h("Bearer tok-c").as_ref(), none()).is_err());
        assert!(callers.check(None, none()).is_err());
        assert!(callers.by_cert_name("CN=a").is_none());
        assert!(callers.check(None, ["CN=a"]).is_err());
        assert!(Callers::default().check(None, none()).unwrap().is_none());
    }

    #[test]
    fn a_certificate_names_its_caller_alone_or_beside_a_matching_token() {
        let caller = |name: &str| Caller {
            name: name.into(),
            app: "one".into(),
            weight: 1,
            max_per_second: None,
        };
        let callers = Callers::new(vec![
            // Known by its certificate only.
            (
                caller("billing"),
                None,
                Some("spiffe://corp/billing".into()),
            ),
            // By either.
            (
                caller("search"),
                Some(Secret::new("tok-s".into())),
                Some("CN=search,O=Corp".into()),
            ),
        ]);
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        // Any of the certificate's names (subject, SANs) may be the one.
        let names = ["CN=billing,O=Corp", "billing.corp", "spiffe://corp/billing"];
        let found = callers.check(None, names).unwrap().unwrap();
        assert_eq!(&*found.name, "billing");
        let found = callers.check(None, ["CN=search,O=Corp"]).unwrap().unwrap();
        assert_eq!(&*found.name, "search");
        // Token and certificate agree: fine; disagree: refused.
        let t = h("Bearer tok-s");
        let found = callers
            .check(t.as_ref(), ["CN=search,O=Corp"])
            .unwrap()
            .unwrap();
        assert_eq!(&*found.name, "search");
        assert!(callers.check(t.as_ref(), names).is_err());
        // A certificate no caller names is no credential; a token still is.
        assert_eq!(
            &*callers
                .check(t.as_ref(), ["CN=other"])
                .unwrap()
                .unwrap()
                .name,
            "search"
        );
        assert!(callers.check(None, ["CN=other"]).is_err());
        assert_eq!(callers.all().count(), 2);
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
