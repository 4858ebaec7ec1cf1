//! Inbound auth: the bearer tokens (`server.auth_tokens_*`) a caller must
//! present, compared as digests in constant time.

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

#[cfg(test)]
mod tests {
    use super::*;

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
