//! The `/v4/**` passthrough face: the vendor's v4 (Nexconn) group-channel
//! API (`../shared/reference/nexconn-v4-group-api.md`). The caller's JSON
//! body is checked ([`crate::v4::validate`]) and then goes to the vendor
//! byte for byte, signed; the vendor's status, content type and body come
//! back unchanged. The gateway's own errors here are in v4's shape and
//! codes (`{"code":1002,"errorMessage":…}`; see `server::respond`).

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, header};

use crate::allowlist::{EntrustPath, Routes};
use crate::auth::Inbound;
use crate::error::{Body, Error};
use crate::headers;
use crate::vendor::{Call, Session};

/// The checks made before the body is read: the path is a forwarded v4
/// path, the method is POST, the caller's bearer token (when configured),
/// and the Content-Type is JSON (§1; a form body belongs on the entrust
/// paths, and would cost a permit and a call just to be refused there).
pub fn admit<'r>(
    routes: &'r Routes,
    auth: &Inbound,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<EntrustPath<'r>, Error> {
    let path = super::forwarded(
        routes.v4(path),
        path,
        "only the vendor's documented v4 group-channel paths (and server.extra_v4_paths) are forwarded",
        auth,
        method,
        headers,
    )?;
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    match (all.next(), all.next()) {
        (Some(v), None) if is_json(v.as_bytes()) => Ok(path),
        _ => Err(Error::Args(
            "Content-Type must be application/json: v4 paths take a JSON body (form bodies go to the /entrust/ paths)".into(),
        )),
    }
}

/// `application/json`, any case, with no parameter but a UTF-8 charset
/// (JSON is UTF-8).
fn is_json(v: &[u8]) -> bool {
    let mut parts = v.split(|b| *b == b';');
    let media = parts.next().unwrap_or_default().trim_ascii();
    media.eq_ignore_ascii_case(crate::v4::media::REQUEST.as_bytes())
        && parts.all(|p| {
            let p = p.trim_ascii();
            p.is_empty()
                || p.eq_ignore_ascii_case(b"charset=utf-8")
                || p.eq_ignore_ascii_case(b"charset=\"utf-8\"")
        })
}

/// Forwards an admitted request ([`admit`] made `path`) once its body
/// passes the checks: no quota is spent on a body the vendor would refuse.
pub async fn handle(
    vendor: Session<'_>,
    parts: &Parts,
    path: EntrustPath<'_>,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    crate::v4::validate::check(path.as_str(), &body).map_err(Error::Args)?;
    let call = Call {
        path,
        query: parts.uri.query(),
        headers: headers::request_headers_for_upstream(&parts.headers),
        body,
        request_id,
    };
    let reply = vendor.call(&call).await?;
    Ok(super::to_caller(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
        ] {
            assert!(is_json(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "application/x-www-form-urlencoded",
            "text/json",
            "application/json; charset=latin1",
            "application/jsonx",
            "",
        ] {
            assert!(!is_json(bad.as_bytes()), "{bad}");
        }
    }
}
