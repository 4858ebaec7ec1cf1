//! What a request must meet before its body is read (and before hyper sends
//! `100 Continue`, which it does only once the body is polled): header bytes
//! and `Host`, the path, the method, the caller's credential, the
//! Content-Type and the Content-Length; then room in the gateway-wide budget
//! for bodies in memory. A refused request costs no body buffer at all.

use std::sync::Arc;

use http::{Request, header};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::app::{Apps, Tenant};
use super::{App, respond};
use crate::allowlist::{EntrustPath, printable};
use crate::error::{Error, Face};
use crate::{headers, openim, passthrough};

/// The budget is counted in KiB, so that a semaphore's `u32` permits cover
/// any configured size.
const UNIT: usize = 1024;

/// Bytes of request bodies held in memory at once, all connections together.
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        BodyBudget(Arc::new(Semaphore::new(
            bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS),
        )))
    }

    /// Room for `bytes` now, or `None` (never waits: a caller past the budget
    /// is told to come back rather than queued holding its connection).
    fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        self.0.clone().try_acquire_many_owned(units).ok()
    }
}

/// A body's room in the budget, given back when dropped (the pipeline holds
/// it as long as the body, into a write's own task).
pub struct BodyRoom {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Checks a request on the entrust, v4 or OpenIM face before its body is
/// read, and takes room for its body in the budget. On the entrust and v4
/// faces, the forwarded path the check made.
pub fn admit<'g, B>(
    apps: &Apps,
    tenant: &'g Tenant,
    face: Face,
    req: &Request<B>,
    budget: &BodyBudget,
) -> Result<(BodyRoom, Option<EntrustPath<'g>>), Error> {
    if face == Face::Admin {
        return Ok((BodyRoom { _permit: None }, None));
    }
    headers::check_request(req)?;
    let entrust = match face {
        Face::OpenIm => {
            openim_admit(apps, req)?;
            None
        }
        _ => {
            // The two passthrough faces differ only in their paths and body.
            let passthrough_admit = if face == Face::V4 {
                passthrough::v4::admit
            } else {
                passthrough::admit
            };
            Some(passthrough_admit(
                tenant.vendor().routes(),
                apps.auth(),
                req.method(),
                req.uri().path(),
                req.headers(),
            )?)
        }
    };
    let limit = apps.config().server.max_body_bytes;
    let declared = match req.headers().get(header::CONTENT_LENGTH) {
        // hyper has already refused a malformed or repeated Content-Length.
        Some(v) => v.to_str().ok().and_then(|v| v.parse::<u64>().ok()),
        None => None,
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::PayloadTooLarge { limit });
    }
    // A chunked body may grow to the limit.
    let need = declared.map_or(limit, |n| n as usize);
    if need == 0 {
        return Ok((BodyRoom { _permit: None }, entrust));
    }
    let room = budget.reserve(need).map(|p| BodyRoom { _permit: Some(p) });
    match room {
        Some(room) => Ok((room, entrust)),
        None => Err(Error::Unavailable(
            "too many request bodies in memory at once (server.max_body_memory_bytes); retry shortly"
                .into(),
        )),
    }
}

/// The OpenIM face's route, method, `operationID` and credential, in the
/// order its handler checks them (so the first problem reported is the same).
fn openim_admit<B>(apps: &Apps, req: &Request<B>) -> Result<(), Error> {
    let path = req.uri().path();
    let Some(route) = openim::Route::from_path(path) else {
        return Err(Error::NotFound(format!(
            "{} is not served",
            printable(path)
        )));
    };
    if req.method() != http::Method::POST {
        return Err(Error::MethodNotAllowed);
    }
    let has_op = req
        .headers()
        .get(headers::OPERATION_ID)
        .is_some_and(|v| !v.as_bytes().trim_ascii().is_empty());
    if !has_op {
        return Err(Error::Args("header must have operationID".into()));
    }
    // The token routes check their own secret (and are throttled).
    if !route.needs_token() {
        return Ok(());
    }
    openim::token::authorize(apps.openim(), req.headers()).map(drop)
}

/// A refusal's answer; past the body budget it says when to come back.
pub fn refused(e: Error, face: Face) -> http::Response<crate::error::Body> {
    crate::logging::refused("request refused before its body was read", &e);
    let mut resp = respond::error(face, &e);
    if matches!(e, Error::Unavailable(_)) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from(1u32));
    }
    resp
}

/// The OpenIM project's published default secret: anyone may know it.
const OPENIM_DEFAULT_SECRET: &str = "openIM123";

/// Start-up warnings about who can spend the app secret.
pub fn warn_at_start(app: &App) {
    let cfg = app.config();
    let apps = app.apps();
    if apps
        .openim()
        .secret()
        .is_some_and(|s| s.expose() == OPENIM_DEFAULT_SECRET)
    {
        tracing::warn!(
            "openim.secret is OpenIM's published default: anyone can get an admin token; set your own"
        );
    }
    // Mutual TLS is inbound auth too: only holders of a certificate from
    // server.tls.client_ca_file get a connection.
    let mutual = app.tls().is_some_and(|t| t.mutual());
    if cfg.server.listen.ip().is_loopback()
        || apps.auth().required()
        || apps.callers().required()
        || mutual
    {
        return;
    }
    if cfg.openim.is_none() {
        tracing::warn!(listen = %cfg.server.listen, "LISTENING OFF LOOPBACK WITH NO INBOUND AUTH: anyone who can reach this address can call the vendor with your app's credentials; set server.auth_tokens_env or listen on 127.0.0.1");
    } else {
        tracing::warn!(listen = %cfg.server.listen, "LISTENING OFF LOOPBACK WITHOUT server.auth_tokens_*: the entrust face takes calls from anyone who can reach this address; set server.auth_tokens_env or listen on 127.0.0.1");
    }
}
