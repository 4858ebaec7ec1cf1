//! The `/entrust/**.json` passthrough face: the caller's path, query and body
//! bytes go to the vendor, signed; the vendor's status, content type and body
//! come back unchanged. [`v4`]: the same for the `/v4/**` JSON paths.

pub mod v4;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, header};
use http_body_util::Full;

use crate::allowlist::{self, EntrustPath, Routes};
use crate::auth::Inbound;
use crate::error::{Body, Error};
use crate::headers;
use crate::vendor::{Call, Permit, Session};

/// The checks made before the body is read: the path is forwarded, the
/// method is POST, the caller's bearer token (when configured) and the
/// Content-Type is a form (the vendor takes only UTF-8 form bodies; anything
/// else would cost a permit and an upstream call just to be refused there).
pub fn admit<'r>(
    routes: &'r Routes,
    auth: &Inbound,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<EntrustPath<'r>, Error> {
    let path = forwarded(
        routes.entrust(path),
        path,
        "only the vendor's documented entrust paths (and server.extra_entrust_paths) are forwarded",
        auth,
        method,
        headers,
    )?;
    // The media type, before any parameters; compared as bytes (ASCII
    // case-insensitive), so a value that isn't UTF-8 is simply not a form.
    let is_form = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let media = v.iter().position(|b| *b == b';').map_or(v, |i| &v[..i]);
        media
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(Error::NoPostData(
            "Content-Type must be application/x-www-form-urlencoded".into(),
        ));
    }
    Ok(path)
}

/// The checks both passthrough faces make first, in this order: the path
/// is forwarded (`found`; else 404 saying `which` are), the method is POST,
/// and the caller's bearer token (when configured).
fn forwarded<'r>(
    found: Option<EntrustPath<'r>>,
    path: &str,
    which: &str,
    auth: &Inbound,
    method: &Method,
    headers: &HeaderMap,
) -> Result<EntrustPath<'r>, Error> {
    let Some(found) = found else {
        return Err(Error::NotFound(format!(
            "{} is not served: {which}",
            allowlist::printable(path)
        )));
    };
    if method != Method::POST {
        return Err(Error::MethodNotAllowed);
    }
    auth.check(headers.get(header::AUTHORIZATION))?;
    Ok(found)
}

/// Forwards an admitted request ([`admit`] made `path`).
pub async fn handle(
    vendor: Session<'_>,
    parts: &Parts,
    path: EntrustPath<'_>,
    body: Bytes,
    request_id: &HeaderValue,
    permit: Option<Permit>,
) -> Result<Response<Body>, Error> {
    check_form(&body, path.as_str())?;
    let call = Call {
        path,
        query: parts.uri.query(),
        headers: headers::request_headers_for_upstream(&parts.headers),
        body,
        request_id,
    };
    let reply = match permit {
        Some(p) => vendor.call_permitted(&call, p).await?,
        None => vendor.call(&call).await?,
    };
    Ok(to_caller(reply))
}

/// The vendor's answer as the caller gets it: status, content type and
/// body unchanged, and `Retry-After` when the vendor rate-limited the path.
fn to_caller(reply: crate::vendor::Reply) -> Response<Body> {
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = reply.status;
    *resp.headers_mut() = headers::response_headers_for_caller(&reply.headers);
    if let Some(after) = reply.retry_after {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::retry_after_secs(after)),
        );
    }
    resp
}

/// The body of a form: non-empty (every parameter of group/query.json is
/// optional; all others need some), UTF-8, well-formed percent-escapes.
fn check_form(body: &[u8], path: &str) -> Result<(), Error> {
    if body.is_empty() && path != crate::entrust::path::GROUP_QUERY {
        return Err(Error::NoPostData("the request body is empty".into()));
    }
    // A JSON body labelled a form: a form encoder escapes `{` and `[`, so
    // the vendor would read one key made of the whole object. The v4 paths
    // take JSON.
    if matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')) {
        return Err(Error::NoPostData(
            "the body is JSON, but /entrust/ paths take a form (application/x-www-form-urlencoded); JSON bodies go to the /v4/ paths".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::Args(format!("the body is not UTF-8 (byte {})", e.valid_up_to())))?;
    if let Some(bad) = bad_percent_escape(text) {
        return Err(Error::Args(format!(
            "malformed percent-escape at byte {bad}"
        )));
    }
    Ok(())
}

/// Position of a `%` not followed by two hex digits, if any. The `%`s are
/// found with `memchr`: a byte-by-byte scan cost more per form than the
/// rest of the check (BENCHMARKS.md).
fn bad_percent_escape(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    memchr::memchr_iter(b'%', b).find(|&i| {
        !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_body_is_not_a_form() {
        let path = crate::entrust::path::GROUP_CREATE;
        for json in [&b"{\"groupId\":\"g\"}"[..], b"  [1]"] {
            assert!(matches!(check_form(json, path), Err(Error::NoPostData(_))));
        }
        assert!(check_form(b"groupId=g&name=%7B", path).is_ok());
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(bad_percent_escape("a=%41&b=%e4%b8%ad"), None);
        assert_eq!(bad_percent_escape("a=%4"), Some(2));
        assert_eq!(bad_percent_escape("a=%zz"), Some(2));
        assert_eq!(bad_percent_escape("%"), Some(0));
    }
}
