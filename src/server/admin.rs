//! The admin endpoints: liveness, readiness and metrics. Served on the main
//! listener and, with `[admin] listen`, on a listener of their own.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;

use super::App;
use crate::error::{Body, Error, json_response};

/// The admin routes (also their metric labels).
pub const ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Whether `path` is an admin route.
pub fn is_admin(path: &str) -> bool {
    ROUTES.contains(&path)
}

pub fn serve<B>(app: &App, req: &Request<B>) -> Result<Response<Body>, Error> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(Error::MethodNotAllowed);
    }
    Ok(match req.uri().path() {
        "/healthz" => json_response(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" => ready(app),
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from(app.metrics().encode())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
    })
}

/// Ready while a data center is healthy; says which is active and, with
/// `[redis]`, where the quota is held (shared, local or reject), Redis's
/// health (connecting, up, failing or down) and where the idempotency
/// records are kept (shared or local): none is a reason to be unready.
fn ready(app: &App) -> Response<Body> {
    let up = app.vendor().upstream();
    let active = &up.urls()[up.active()].label;
    let mut resp = if up.any_healthy() {
        json!({"status": "ready", "upstream": active})
    } else {
        json!({"status": "upstream down", "upstream": active})
    };
    if let Some(store) = app.vendor().quota().store() {
        resp["quota"] = store.as_str().into();
    }
    // With [redis]: its health for the gateway (see src/redis_link.rs,
    // "Store health") and where the idempotency records are kept.
    if let Some(link) = app.vendor().quota().redis() {
        resp["store"] = link.health().into();
        resp["records"] = if link.records_shared() {
            "shared"
        } else {
            "local"
        }
        .into();
    }
    let status = if up.any_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &resp)
}
