//! One request, from its head to its answer: which face it speaks, what it
//! must meet before its body is read, the body, the face's call (a write in
//! a task of its own, under duplicate protection), and its log line.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::admit::{self, BodyBudget, BodyRoom};
use super::{App, Listener, admin, respond};
use crate::allowlist::EntrustPath;
use crate::error::{Body, Error, Face};
use crate::idempotency::Outcome;
use crate::metrics::InFlight;
use crate::vendor::{Session, Tally};
use crate::{entrust, headers, logging, openim, passthrough};

/// The face a request speaks: by path prefix, and for a path no face
/// serves, by whether it carries OpenIM's `operationID` header, so that an
/// OpenIM caller's typo still gets OpenIM's envelope.
pub fn face_of(path: &str, headers: &http::HeaderMap) -> Face {
    if path.starts_with(entrust::path::PREFIX) {
        Face::Entrust
    } else if path.starts_with("/group/") || path.starts_with("/auth/") {
        Face::OpenIm
    } else if admin::is_admin(path) {
        Face::Admin
    } else if headers.contains_key(headers::OPERATION_ID) {
        Face::OpenIm
    } else {
        Face::Entrust
    }
}

/// A bounded metric label for the route.
fn route_label(face: Face, path: &str) -> &'static str {
    let known: &[&'static str] = match face {
        Face::Entrust => entrust::path::DOCUMENTED,
        Face::OpenIm => openim::ROUTES,
        Face::Admin => &admin::ROUTES,
    };
    known
        .iter()
        .find(|p| **p == path)
        .copied()
        .unwrap_or("other")
}

/// Serves one request and writes its log line.
pub async fn handle(
    app: Arc<App>,
    which: Listener,
    budget: Arc<BodyBudget>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let metrics = app.metrics();
    let _in_flight = InFlight::new(&metrics.in_flight);
    let start = Instant::now();
    let face = face_of(req.uri().path(), req.headers());
    let route = route_label(face, req.uri().path());
    if which == Listener::Admin && face != Face::Admin {
        let mut resp = respond::error(
            Face::Admin,
            &Error::NotFound(
                "the admin listener serves /healthz, /readyz and /metrics only".into(),
            ),
        );
        resp.headers_mut()
            .insert(entrust::header::REQUEST_ID, headers::new_request_id());
        return Ok(resp);
    }
    let request_id = match face {
        Face::OpenIm => headers::request_id(req.headers().get(headers::OPERATION_ID)),
        _ => headers::request_id(req.headers().get(entrust::header::REQUEST_ID)),
    };
    let log = logging::Request::new(request_id.clone(), face.as_str(), route);
    let timeout = Duration::from_millis(app.config().server.request_timeout_ms);
    // What the vendor client reports as the request's calls go: shared
    // with a write's own task, and read here for the log line even when
    // the request timed out.
    let tally = Arc::new(Tally::default());
    // The request's fields for its log line travel in a task-local: no
    // span is entered on every poll (the logging module's doc); JSON logs
    // print them flat, upstream_path and data_center included.
    let (mut resp, log) = {
        let mut serving = std::pin::pin!(log.scope(async {
            // Checked before the body is read; the body's room in the
            // memory budget goes with the body (dispatch).
            let (room, entrust) = match admit::admit(&app, face, &req, &budget) {
                Ok(admitted) => admitted,
                Err(e) => return admit::refused(e, face),
            };
            // Boxed: the pipeline's state is kilobytes, moved on every
            // wrapping otherwise, and held by idle connections.
            let serving = Box::pin(dispatch(
                &app,
                &tally,
                face,
                entrust,
                room,
                peer,
                req,
                request_id.clone(),
            ));
            match tokio::time::timeout(timeout, serving).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => respond::refusal(face, &e),
                Err(_) => respond::error(
                    face,
                    &Error::Timeout(format!(
                        "the request took longer than server.request_timeout_ms ({} ms)",
                        timeout.as_millis()
                    )),
                ),
            }
        }));
        let resp = serving.as_mut().await;
        (resp, serving.as_mut().take_value())
    };
    resp.headers_mut()
        .insert(entrust::header::REQUEST_ID, request_id);
    let Some(log) = log else {
        return Ok(resp);
    };
    record_tally(&app, &log, &tally);
    let status = resp.status().as_u16();
    metrics.count_request(face.as_str(), log.route, status);
    // Probes and scrapes come every few seconds: their lines are DEBUG, so
    // INFO logs carry only API traffic.
    let level = if face == Face::Admin {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    logging::done(
        &log,
        app.vendor().data_centers(),
        level,
        status,
        start.elapsed(),
    );
    Ok(resp)
}

/// Puts what the vendor client reported into the request's log fields.
fn record_tally(app: &App, log: &logging::Request, tally: &Tally) {
    let Some(path) = tally.path().and_then(|i| app.vendor().routes().get(i)) else {
        return;
    };
    let path = match EntrustPath::documented(path.as_str()) {
        Some(p) => std::borrow::Cow::Borrowed(p.as_str()),
        None => std::borrow::Cow::Owned(path.as_str().to_string()),
    };
    log.record_upstream(path, tally.data_center());
}

/// `entrust`: on the entrust face, the path [`admit::admit`] made; `room`:
/// the body's room in the memory budget, held as long as the body is
/// (into a write's own task).
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    app: &Arc<App>,
    tally: &Arc<Tally>,
    face: Face,
    entrust: Option<EntrustPath<'_>>,
    room: BodyRoom,
    peer: SocketAddr,
    req: Request<Incoming>,
    request_id: HeaderValue,
) -> Result<Response<Body>, Error> {
    if face == Face::Admin {
        return admin::serve(app, &req);
    }
    let (parts, body) = req.into_parts();
    let limit = app.config().server.max_body_bytes;
    let vendor = Session {
        client: app.vendor(),
        tally,
    };
    // A passthrough read takes its first quota permit before its body is
    // read: over quota, the refusal costs no reading or checking. (Writes
    // wait for their body: one may be a retry answered from the store.)
    if let Some(path) = entrust.filter(|p| entrust::path::is_read_only(p.as_str())) {
        let permit = match app.vendor().early_permit(path).await {
            Ok(p) => p,
            Err(e) => {
                discard_body(body, limit).await;
                return Err(e);
            }
        };
        let body = read_body(body, limit).await?;
        return passthrough::handle(vendor, &parts, path, body, &request_id, Some(permit)).await;
    }
    let body = read_body(body, limit).await?;
    // admit() passed: a POST to a forwarded entrust path or an OpenIM
    // route; the entrust reads went above.
    let writes = face == Face::Entrust || openim::is_write(parts.uri.path());
    if !writes {
        // Boxed: the OpenIM handlers' state (batches of calls) is
        // kilobytes, which every request's pipeline would otherwise hold.
        let reading = Box::pin(route(app, vendor, face, peer, &parts, body, &request_id));
        return reading.await;
    }
    let started = Instant::now();
    // The task carries the request's log fields.
    let log = logging::current();
    let left = {
        let (app, tally, log) = (app.clone(), tally.clone(), log.clone());
        move |result: Result<Response<Body>, Error>| {
            let (status, error) = match &result {
                Ok(r) => (r.status(), None),
                Err(e) => (respond::error(face, e).status(), Some(e.to_string())),
            };
            if let Some(log) = &log {
                record_tally(&app, log, &tally);
            }
            logging::in_request(log, || {
                logging::span(app.vendor().data_centers()).in_scope(|| {
                    tracing::info!(
                        status = status.as_u16(),
                        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                        error = error.as_deref(),
                        "done after the caller left (disconnected or request_timeout_ms)"
                    )
                })
            });
        }
    };
    // Boxed before it is wrapped and spawned: the write's whole pipeline is
    // inline in this future (kilobytes), copied at every move otherwise.
    let work = {
        let (app, tally) = (app.clone(), tally.clone());
        logging::scope(
            log,
            Box::pin(async move {
                let _room = room;
                write(&app, &tally, face, peer, &parts, body, &request_id).await
            }),
        )
    };
    app.writes()
        .run(work, left)
        .await
        .unwrap_or_else(|| Err(Error::Internal("the write ended without an answer".into())))
}

/// A write, under duplicate protection when it carries a key (and
/// protection is on).
async fn write(
    app: &App,
    tally: &Tally,
    face: Face,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    let vendor = Session {
        client: app.vendor(),
        tally,
    };
    let Some(idempotency) = app.idempotency() else {
        return route(app, vendor, face, peer, parts, body, request_id).await;
    };
    let work = async {
        let result = route(app, vendor, face, peer, parts, body.clone(), request_id).await;
        // Final only if every vendor reply was, and the face's own result.
        let is_final = tally.all_final() && result.as_ref().map_or_else(Error::is_final, |_| true);
        Outcome {
            response: result.unwrap_or_else(|e| respond::refusal(face, &e)),
            is_final,
        }
    };
    idempotency.run(parts, &body, work).await
}

/// The face's call.
async fn route(
    app: &App,
    vendor: Session<'_>,
    face: Face,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    match face {
        Face::OpenIm => {
            openim::handle(
                app.openim(),
                vendor,
                Some(peer.ip()),
                parts,
                body,
                request_id,
            )
            .await
        }
        _ => {
            // Checked by admit(), on the caller's side of the spawn.
            let Some(path) = app.vendor().routes().entrust(parts.uri.path()) else {
                return Err(Error::Internal("an admitted path is not forwarded".into()));
            };
            passthrough::handle(vendor, parts, path, body, request_id, None).await
        }
    }
}

/// Reads and drops a body that will not be used, so that the connection
/// stays usable for the caller's next request; past `limit` it stops (and
/// hyper closes the connection).
async fn discard_body(mut body: Incoming, limit: usize) {
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > limit {
            return;
        }
    }
}

/// The whole request body, or 413 past `limit` (without reading further).
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Error> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Error::PayloadTooLarge { limit })
        }
        Err(e) => Err(Error::Args(format!("cannot read the request body: {e}"))),
    }
}
