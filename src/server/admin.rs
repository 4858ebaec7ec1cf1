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
    let apps = app.apps();
    let Some(first) = apps.all().first() else {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "no app"}),
        );
    };
    let up = first.vendor().upstream();
    let active = &up.urls()[up.active()].label;
    let mut resp = if up.any_healthy() {
        json!({"status": "ready", "upstream": active})
    } else {
        json!({"status": "upstream down", "upstream": active})
    };
    // Each app's own upstream state: ready while every app has a healthy
    // data center.
    let mut all_up = true;
    let mut each = serde_json::Map::new();
    for t in apps.all() {
        let up = t.vendor().upstream();
        all_up &= up.any_healthy();
        let mut a = json!({
            "status": if up.any_healthy() { "ready" } else { "upstream down" },
            "upstream": up.urls()[up.active()].label,
        });
        if let Some(store) = t.vendor().quota().store() {
            a["quota"] = store.as_str().into();
        }
        each.insert(t.name().to_string(), a);
    }
    resp["apps"] = each.into();
    if !all_up {
        resp["status"] = "upstream down".into();
    }
    let vendor = first.vendor();
    if let Some(store) = vendor.quota().store() {
        resp["quota"] = store.as_str().into();
    }
    // With [redis]: its health for the gateway (see src/redis_link/mod.rs,
    // "Store health") and where the idempotency records are kept.
    if let Some(link) = vendor.quota().redis() {
        resp["store"] = link.health().into();
        resp["records"] = if link.records_shared() {
            "shared"
        } else {
            "local"
        }
        .into();
    }
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &resp)
}
