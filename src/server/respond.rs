//! How an error becomes a response: the one place that picks the renderer
//! by face. The vendor's dialect is the error type's own
//! ([`Error::vendor_response`], entrust or v4 codes by face); OpenIM's envelope is the OpenIM face's
//! ([`crate::openim::errcode::response`]).

use http::Response;

use crate::error::{Body, Error, Face};
use crate::openim;

/// The response `e` makes for a caller of `face`.
pub fn error(face: Face, e: &Error) -> Response<Body> {
    match face {
        Face::OpenIm => openim::errcode::response(e),
        Face::Entrust | Face::Admin => e.vendor_response(face),
        // The vendor's shape with v4's codes (`nexconn-v4-group-api.md` §3).
        Face::V4 => e.vendor_response(Face::V4),
    }
}

/// The caller's answer for an error; the request's log line says "request
/// refused", and why.
pub fn refusal(face: Face, e: &Error) -> Response<Body> {
    crate::logging::refused("request refused", e);
    error(face, e)
}
