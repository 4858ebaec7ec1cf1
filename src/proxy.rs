//! The `/entrust/**.json` passthrough face: the caller's path, query and body
//! bytes go to the vendor, signed; the vendor's status, content type and body
//! come back unchanged.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, header};
use http_body_util::Full;

use crate::error::{Body, Error};
use crate::gateway::{Call, Gateway};
use crate::{headers, route};

pub async fn handle(
    gw: &Gateway,
    parts: &Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    let Some(path) = route::entrust_path(parts.uri.path()) else {
        return Err(Error::NotFound(format!(
            "{} is not served: only normalized /entrust/**.json paths are forwarded",
            route::printable(parts.uri.path())
        )));
    };
    if parts.method != Method::POST {
        return Err(Error::MethodNotAllowed);
    }
    gw.check_auth(parts.headers.get(header::AUTHORIZATION))?;
    let call = Call {
        path,
        query: parts.uri.query(),
        headers: headers::request_headers_for_upstream(&parts.headers),
        body,
        request_id,
    };
    let reply = gw.call(&call).await?;
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = reply.status;
    *resp.headers_mut() = headers::response_headers_for_caller(&reply.headers);
    if let Some(after) = reply.retry_after {
        let secs = after.as_secs().max(1);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(resp)
}
