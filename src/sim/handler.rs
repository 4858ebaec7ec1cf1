//! The request pipeline, independent of the transport.
//!
//! Order: record the arrival; apply an injected fault; route (unknown path:
//! 404); method (not POST: 405); signature (401); rate limit (429); body
//! size (400 1005); then per dialect. Entrust: content type (400 1003),
//! form decoding (400 1002), an empty body where parameters are required
//! (400 1003), the endpoint. v4 (`super::v4`): content type, JSON, the
//! endpoint, each mistake 400 1002 or 1005.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};

use super::endpoints::{Ctx, Handler, all_optional, route};
use super::fault::Fault;
use super::form::{Form, check_content_type};
use super::record::Recorded;
use super::reply::{ApiError, Reply};
use super::simulator::Inner;
use super::{Dialect, auth, lock, v4};
use crate::entrust::{code, header as hdr};

/// A request as read off the wire.
pub(crate) struct RawRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Set when the body could not be taken in whole (too large).
    pub body_error: Option<ApiError>,
}

/// What the transport must do.
pub(crate) enum Outcome {
    Reply(Reply),
    Hang,
    Reset,
    Truncated(Reply),
    Trickle(Duration, Reply),
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) async fn handle(inner: &Inner, req: RawRequest) -> Outcome {
    let id = lock(&inner.log).start(Recorded {
        at: Instant::now(),
        method: req.method.to_string(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
        status: 0,
        code: 0,
    });
    let fault = lock(&inner.faults).take(&req.path);
    let outcome = match fault {
        None => Outcome::Reply(process(inner, &req)),
        Some(Fault::Status(s)) => Outcome::Reply(Reply::code(code::INTERNAL_ERROR, s, "injected")),
        Some(Fault::Code(c, s)) if c == crate::v4::code::OK && is_v4(&req.path) => {
            Outcome::Reply(Reply::v4_ok(None).with_status(s))
        }
        Some(Fault::Code(c, s)) => Outcome::Reply(Reply::code(c, s, "injected")),
        Some(Fault::Hang) => Outcome::Hang,
        Some(Fault::Reset) => Outcome::Reset,
        Some(Fault::NonJson) => Outcome::Reply(Reply::html(
            200,
            "<html><head><title>502 Bad Gateway</title></head>\
             <body><h1>Bad Gateway</h1></body></html>",
        )),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            Outcome::Reply(process(inner, &req))
        }
        Some(Fault::Truncated) => Outcome::Truncated(process(inner, &req)),
        Some(Fault::HugeBody(n)) => Outcome::Reply(process(inner, &req).padded(n)),
        Some(Fault::Trickle(d)) => Outcome::Trickle(d, process(inner, &req)),
    };
    let request_id = req.headers.get(hdr::REQUEST_ID).cloned();
    let echo = |r: Reply| match &request_id {
        Some(v) => r.with_header(header::HeaderName::from_static(hdr::REQUEST_ID), v.clone()),
        None => r,
    };
    let outcome = match outcome {
        Outcome::Reply(r) => Outcome::Reply(echo(r)),
        Outcome::Truncated(r) => Outcome::Truncated(echo(r)),
        Outcome::Trickle(d, r) => Outcome::Trickle(d, echo(r)),
        other => other,
    };
    if let Outcome::Reply(r) | Outcome::Truncated(r) | Outcome::Trickle(_, r) = &outcome {
        lock(&inner.log).finish(id, r.status, r.code, r.ok);
    }
    outcome
}

fn process(inner: &Inner, req: &RawRequest) -> Reply {
    match process_checked(inner, req) {
        Ok(r) => r,
        Err(e) => Reply::error(&e),
    }
}

/// A path under `/v4/`.
fn is_v4(path: &str) -> bool {
    path.starts_with(crate::v4::path::PREFIX)
}

/// A known path's endpoint, in its dialect.
enum Endpoint {
    Entrust(Handler),
    V4(v4::Handler),
}

fn process_checked(inner: &Inner, req: &RawRequest) -> Result<Reply, ApiError> {
    let endpoint = match (route(&req.path), v4::route(&req.path)) {
        (Some(h), _) => Endpoint::Entrust(h),
        (None, Some(h)) => Endpoint::V4(h),
        (None, None) => return Err(ApiError::new(404, format!("no such API: {}", req.path))),
    };
    let dialect = match endpoint {
        Endpoint::Entrust(_) => Dialect::Entrust,
        Endpoint::V4(_) => Dialect::V4,
    };
    if req.method != Method::POST {
        // v4 has no code for it (its 1007 is "IP restricted"): 1002.
        let c = match dialect {
            Dialect::Entrust => code::METHOD_RESTRICTED,
            Dialect::V4 => crate::v4::code::PARAM_ERROR,
        };
        let e = ApiError::new(c, "only POST is allowed").with_status(405);
        return Ok(Reply::error(&e).with_header(header::ALLOW, HeaderValue::from_static("POST")));
    }
    // The vendor keeps one quota per app and path: another app's calls
    // are counted apart (the first app's under the path alone, as before).
    let presented = req
        .headers
        .get(crate::entrust::header::APP_KEY)
        .or_else(|| req.headers.get(crate::entrust::header::RC_APP_KEY))
        .and_then(|v| v.to_str().ok());
    let (app_key, app_secret) = inner.cfg.credentials(presented);
    let limit_key = if app_key == inner.cfg.app_key {
        std::borrow::Cow::Borrowed(req.path.as_str())
    } else {
        std::borrow::Cow::Owned(format!("{app_key} {}", req.path))
    };
    auth::verify(
        app_key,
        app_secret,
        &req.headers,
        now_ms(),
        Instant::now(),
        &inner.nonces,
        inner.cfg.strict,
        dialect,
    )?;
    if !lock(&inner.limiter).admit(&limit_key, Instant::now()) {
        return Err(ApiError::new(
            code::RATE_LIMITED,
            "too many requests for this API in the last second",
        ));
    }
    if let Some(e) = &req.body_error {
        return Err(e.clone());
    }
    let endpoint = match endpoint {
        Endpoint::Entrust(h) => h,
        Endpoint::V4(h) => {
            let ctx = v4::Ctx {
                store: &inner.store,
                now_ms: now_ms(),
                strict: inner.cfg.strict,
            };
            return v4::serve(h, &ctx, &req.headers, &req.body);
        }
    };
    check_content_type(&req.headers)?;
    let form = Form::parse(&req.body)?;
    if form.is_empty() && !all_optional(&req.path) {
        return Err(ApiError::new(code::NO_POST_DATA, "no POST data"));
    }
    let variant = *lock(&inner.variant);
    let ctx = Ctx {
        store: &inner.store,
        variant,
        now_ms: now_ms(),
    };
    Ok(Reply::ok(endpoint(&ctx, &form)?))
}
