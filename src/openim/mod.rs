//! The OpenIM face (placeholder until the routes land).

pub mod errcode;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response};

use crate::error::{Body, Error};
use crate::gateway::Gateway;

/// Routes served on this face (metric label values).
pub const ROUTES: &[&str] = &[];

pub async fn handle(
    _gw: &Gateway,
    parts: &Parts,
    _body: Bytes,
    _request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    Err(Error::NotFound(format!(
        "{} is not served",
        crate::route::printable(parts.uri.path())
    )))
}
