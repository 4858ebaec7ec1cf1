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
use super::app::{Apps, Tenant};
use super::{App, Listener, admin, respond};
use crate::allowlist::{Api, EntrustPath};
use crate::auth::Caller;
use crate::error::{Body, Error, Face};
use crate::idempotency::{Kept, Outcome};
use crate::metrics::InFlight;
use crate::quota::Claimant;
use crate::tls::ClientIdentity;
use crate::vendor::{Permit, Session, Tally};
use crate::{entrust, headers, logging, openim, passthrough};

/// The face a request speaks: by path prefix, and for a path no face
/// serves, by whether it carries OpenIM's `operationID` header, so that an
/// OpenIM caller's typo still gets OpenIM's envelope.
pub fn face_of(path: &str, headers: &http::HeaderMap) -> Face {
    if path.starts_with(crate::v4::path::PREFIX) {
        Face::V4
    } else if path.starts_with(entrust::path::PREFIX) || is_legacy_vendor_path(path) {
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

/// One of the vendor's legacy group mute paths (`/group/....json`, the
/// only `/group/` paths forwarded), served like the entrust paths. Any
/// other `/group/` path stays OpenIM's, so an OpenIM caller's typo still
/// gets OpenIM's envelope.
fn is_legacy_vendor_path(path: &str) -> bool {
    path.ends_with(".json") && crate::allowlist::is_legacy_mute(path)
}

/// A bounded metric label for the route.
fn route_label(face: Face, path: &str) -> &'static str {
    let known: &[&'static str] = match face {
        Face::Entrust => entrust::path::DOCUMENTED,
        Face::V4 => crate::v4::path::DOCUMENTED,
        Face::OpenIm => openim::ROUTES,
        Face::Admin => &admin::ROUTES,
    };
    known
        .iter()
        .find(|p| **p == path)
        .copied()
        .unwrap_or("other")
}

/// One request being served: what each phase needs, passed explicitly (a
/// write's own task gets a clone).
#[derive(Clone)]
struct Exchange {
    app: Arc<App>,
    /// The apps and callers as the request found them: a reload meanwhile
    /// changes nothing under it.
    apps: Arc<Apps>,
    /// The app its calls go out as: its caller's, or the OpenIM face's.
    tenant: Arc<Tenant>,
    /// Who sent it (with `[[callers]]`): its bearer token's caller, or the
    /// one its verified client certificate names (`cert_subject`).
    #[allow(dead_code)] // Carried for the faces and the mTLS step; none reads it yet.
    caller: Option<Arc<Caller>>,
    /// The caller's terms on the app's quota.
    claimant: Option<Claimant>,
    /// What the vendor client reports as the request's calls go: shared
    /// with a write's own task, and read for the log line even when the
    /// request timed out.
    tally: Arc<Tally>,
    face: Face,
    peer: SocketAddr,
    /// Who the caller is, from its client certificate (mutual TLS only).
    peer_identity: Option<Arc<ClientIdentity>>,
    request_id: HeaderValue,
    /// A write under duplicate protection: it carries a key, and
    /// protection is on.
    keyed: bool,
    /// For a keyed write: how long its vendor writes go on waiting for an
    /// answer past `upstream.timeout_ms` (`dedup.outcome_wait_ms`).
    outcome_wait: Option<Duration>,
}

impl Exchange {
    /// The request's handle on the vendor client.
    fn vendor(&self) -> Session<'_> {
        Session {
            client: self.tenant.vendor(),
            tally: &self.tally,
            outcome_wait: self.outcome_wait,
            claimant: self.claimant.as_ref(),
        }
    }

    /// Puts what the vendor client reported into the request's log fields.
    fn record_tally(&self, log: &logging::Request) {
        record_tally(&self.tenant, &self.tally, log);
    }
}

/// Puts what the vendor client reported into the request's log fields: a
/// documented path as the constant it is (its index is its place in the
/// documented lists), another one copied.
fn record_tally(app: &Tenant, tally: &Tally, log: &logging::Request) {
    let Some(i) = tally.path() else { return };
    let path = match crate::allowlist::known_at(i) {
        Some(p) => std::borrow::Cow::Borrowed(p),
        None => match app.vendor().routes().get(i) {
            Some(p) => std::borrow::Cow::Owned(p.as_str().to_string()),
            None => return,
        },
    };
    log.record_upstream(path, tally.data_center());
}

impl Exchange {
    /// The app's duplicate protection, unless it is off.
    fn idempotency(&self) -> Option<&crate::idempotency::Idempotency> {
        (self.apps.config().dedup.window_ms > 0).then(|| self.tenant.idempotency())
    }
}

/// The caller of an API request, with `[[callers]]` (401 without a known
/// token), and whether it may use the face: the OpenIM face serves one app,
/// and a caller of another app is refused there. Without `[[callers]]`,
/// `None` (the old `server.auth_tokens_*` are checked by the faces).
fn identify(
    apps: &Apps,
    face: Face,
    headers: &http::HeaderMap,
    peer_identity: Option<&ClientIdentity>,
) -> Result<Option<Arc<Caller>>, Error> {
    let cert_names = peer_identity.into_iter().flat_map(ClientIdentity::names);
    let caller = apps
        .callers()
        .check(headers.get(http::header::AUTHORIZATION), cert_names)?;
    if face == Face::OpenIm
        && let Some(c) = &caller
        && *c.app != *apps.openim_app().name()
    {
        return Err(Error::Unauthorized(
            "gateway: this caller's app is not the one the OpenIM face serves".into(),
        ));
    }
    Ok(caller)
}

/// Serves one request and writes its log line.
pub async fn handle(
    app: Arc<App>,
    which: Listener,
    budget: Arc<BodyBudget>,
    peer: SocketAddr,
    peer_identity: Option<Arc<ClientIdentity>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    let face = face_of(req.uri().path(), req.headers());
    let route = route_label(face, req.uri().path());
    let misrouted = which == Listener::Admin && face != Face::Admin;
    let request_id = match face {
        _ if misrouted => headers::new_request_id(),
        Face::OpenIm => headers::request_id(req.headers().get(headers::OPERATION_ID)),
        _ => headers::request_id(req.headers().get(entrust::header::REQUEST_ID)),
    };
    let apps = app.apps();
    let timeout = Duration::from_millis(apps.config().server.request_timeout_ms);
    let who = if face == Face::Admin || misrouted {
        Ok(None)
    } else {
        identify(&apps, face, req.headers(), peer_identity.as_deref())
    };
    let (caller, refused) = match who {
        Ok(c) => (c, None),
        Err(e) => (None, Some(e)),
    };
    let tenant = match (&caller, face) {
        (_, Face::OpenIm) => Some(apps.openim_app()),
        (Some(c), _) => apps.get(&c.app),
        (None, _) => apps.for_caller(None),
    };
    let tenant = match tenant {
        Some(t) => t.clone(),
        None => apps.all()[0].clone(),
    };
    // The labels of the request's line and metrics: `-` until known.
    let (app_label, caller_label): (Arc<str>, Arc<str>) = match (face, &refused) {
        (Face::Admin, _) | (_, Some(_)) => ("-".into(), "-".into()),
        _ => (
            tenant.name().into(),
            caller
                .as_ref()
                .map_or_else(|| "-".into(), |c| c.name.clone()),
        ),
    };
    let claimant = caller.as_ref().map(|c| Claimant {
        name: c.name.clone(),
        weight: c.weight,
        max_per_second: c.max_per_second,
    });
    let ex = Exchange {
        app,
        apps,
        tenant,
        caller,
        claimant,
        tally: Arc::new(Tally::default()),
        face,
        peer,
        peer_identity,
        request_id,
        keyed: false,
        outcome_wait: None,
    };
    let _in_flight = InFlight::new(&ex.app.metrics().in_flight);
    if misrouted {
        let mut resp = respond::error(
            Face::Admin,
            &Error::NotFound(
                "the admin listener serves /healthz, /readyz and /metrics only".into(),
            ),
        );
        resp.headers_mut()
            .insert(entrust::header::REQUEST_ID, ex.request_id.clone());
        return Ok(resp);
    }
    let log = logging::Request::new(ex.request_id.clone(), face.as_str(), route)
        .identified(app_label.clone(), caller_label.clone())
        .with_client_subject(ex.peer_identity.as_deref().map(|id| id.subject.as_str()));
    // The request's fields for its log line travel in a task-local: no
    // span is entered on every poll (the logging module's doc); JSON logs
    // print them flat, upstream_path and data_center included.
    let (mut resp, log) = {
        let mut serving = std::pin::pin!(log.scope(async {
            // Checked before the body is read; the body's room in the
            // memory budget goes with the body (dispatch).
            if let Some(e) = refused {
                return admit::refused(e, face);
            }
            let (room, entrust) = match admit::admit(&ex.apps, &ex.tenant, face, &req, &budget) {
                Ok(admitted) => admitted,
                Err(e) => return admit::refused(e, face),
            };
            // Boxed: the pipeline's state is kilobytes, moved on every
            // wrapping otherwise, and held by idle connections.
            let serving = Box::pin(dispatch(&ex, entrust, room, req));
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
        .insert(entrust::header::REQUEST_ID, ex.request_id.clone());
    let Some(log) = log else {
        return Ok(resp);
    };
    ex.record_tally(&log);
    let status = resp.status().as_u16();
    ex.app
        .metrics()
        .count_request(face.as_str(), log.route, status, &app_label, &caller_label);
    // Probes and scrapes come every few seconds: their lines are DEBUG, so
    // INFO logs carry only API traffic.
    let level = if face == Face::Admin {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    logging::done(
        &log,
        ex.tenant.vendor().data_centers(),
        level,
        status,
        start.elapsed(),
    );
    Ok(resp)
}

/// `entrust`: on the entrust face, the path [`admit::admit`] made; `room`:
/// the body's room in the memory budget, held as long as the body is
/// (into a write's own task).
async fn dispatch(
    ex: &Exchange,
    entrust: Option<EntrustPath<'_>>,
    room: BodyRoom,
    req: Request<Incoming>,
) -> Result<Response<Body>, Error> {
    if ex.face == Face::Admin {
        return admin::serve(&ex.app, &req);
    }
    let (parts, body) = req.into_parts();
    let limit = ex.apps.config().server.max_body_bytes;
    // A keyed write's answer must be known before its key is freed: its
    // vendor writes go on waiting past upstream.timeout_ms, and its caller
    // is answered at the usual time meanwhile.
    let keyed = ex.idempotency().is_some_and(|i| i.keyed(&parts.headers));
    // An entrust passthrough call takes its first quota permit before its
    // body is read: over quota, the refusal costs no reading or checking.
    // Not a keyed write: it may be a retry answered from the store, which
    // needs no permit. (On the v4 face the body is checked before any
    // quota is spent.)
    let early = |p: &EntrustPath<'_>| p.api() == Api::Entrust && (!keyed || p.is_read_only());
    let mut permit = None;
    if let Some(path) = entrust.filter(early) {
        match ex
            .tenant
            .vendor()
            .early_permit(path, ex.claimant.as_ref())
            .await
        {
            Ok(p) => permit = Some(p),
            Err(e) => {
                discard_body(body, limit).await;
                return Err(e);
            }
        }
    }
    let body = read_body(body, limit).await?;
    if let Some(path) = entrust.filter(|p| p.api() == Api::Entrust && p.is_read_only()) {
        return passthrough::handle(ex.vendor(), &parts, path, body, &ex.request_id, permit).await;
    }
    // admit() passed: a POST to a forwarded entrust or v4 path or an
    // OpenIM route; the entrust reads went above.
    let writes = match entrust {
        Some(path) => !path.is_read_only(),
        None => openim::is_write(parts.uri.path()),
    };
    if !writes {
        // Boxed: the OpenIM handlers' state (batches of calls) is
        // kilobytes, which every request's pipeline would otherwise hold.
        let reading = Box::pin(route(ex, &parts, body, None));
        return reading.await;
    }
    let started = Instant::now();
    // The task carries the request's log fields.
    let log = logging::current();
    let left = {
        let (app, tally, face, log) = (ex.tenant.clone(), ex.tally.clone(), ex.face, log.clone());
        move |result: Result<Response<Body>, Error>| {
            let (status, error) = match &result {
                Ok(r) => (r.status(), None),
                Err(e) => (respond::error(face, e).status(), Some(e.to_string())),
            };
            if let Some(log) = &log {
                record_tally(&app, &tally, log);
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
    let outcome_wait = Some(Duration::from_millis(
        ex.apps.config().dedup.outcome_wait_ms,
    ))
    .filter(|w| keyed && !w.is_zero());
    // Boxed before it is wrapped and spawned: the write's whole pipeline is
    // inline in this future (kilobytes), copied at every move otherwise.
    let work = {
        let mut ex = ex.clone();
        ex.keyed = keyed;
        ex.outcome_wait = outcome_wait;
        logging::scope(
            log,
            Box::pin(async move {
                let _room = room;
                write(&ex, &parts, body, permit).await
            }),
        )
    };
    let running = ex.app.writes().run(work, left);
    let ended = || Error::Internal("the write ended without an answer".into());
    if outcome_wait.is_none() {
        return running.await.unwrap_or_else(|| Err(ended()));
    }
    tokio::select! {
        biased;
        r = running => r.unwrap_or_else(|| Err(ended())),
        () = ex.tally.overdue() => Err(Error::Timeout(format!(
            "the vendor did not answer within upstream.timeout_ms ({} ms); the gateway goes on waiting for its answer (up to dedup.outcome_wait_ms) and keeps it for this key: a retry with the same key gets 409 until then, then that answer",
            ex.apps.config().upstream.timeout_ms
        ))),
    }
}

/// A write, under duplicate protection when it carries a key (and
/// protection is on).
async fn write(
    ex: &Exchange,
    parts: &http::request::Parts,
    body: Bytes,
    permit: Option<Permit>,
) -> Result<Response<Body>, Error> {
    let Some(idempotency) = ex.idempotency().filter(|_| ex.keyed) else {
        return route(ex, parts, body, permit).await;
    };
    let unknown = || respond::error(ex.face, &outcome_unknown());
    let work = async {
        let result = route(ex, parts, body.clone(), None).await;
        let kept = if ex.tally.unknown() {
            Kept::Instead(unknown())
        } else if ex.tally.all_final() && result.as_ref().map_or_else(Error::is_final, |_| true) {
            // Final only if every vendor reply was, and the face's own result.
            Kept::Answer
        } else {
            Kept::Free
        };
        Outcome {
            response: result.unwrap_or_else(|e| respond::refusal(ex.face, &e)),
            kept,
        }
    };
    idempotency.run(parts, &body, unknown, work).await
}

/// What a key keeps when its write may have reached the vendor and no
/// answer came back (timed out past `dedup.outcome_wait_ms`, the connection
/// cut, or the gateway stopping).
fn outcome_unknown() -> Error {
    Error::OutcomeUnknown(
        "the first request with this Idempotency-Key may have reached the vendor, but no answer came back, so whether it was done is unknown; it is not sent again under this key: check the state (e.g. query the group) before sending it again with a new key".into(),
    )
}

/// The face's call; `permit`: the passthrough's first quota permit, if
/// taken before the body was read.
async fn route(
    ex: &Exchange,
    parts: &http::request::Parts,
    body: Bytes,
    permit: Option<Permit>,
) -> Result<Response<Body>, Error> {
    let request_id = &ex.request_id;
    match ex.face {
        Face::OpenIm => {
            let peer = Some(ex.peer.ip());
            // Boxed: the OpenIM handlers' state (batches of calls, tokens,
            // permissions) is kilobytes; inline, every passthrough write's
            // future would be that size, and moved at every await.
            let handling = Box::pin(openim::handle(
                ex.apps.openim(),
                ex.vendor(),
                peer,
                parts,
                body,
                request_id,
            ));
            handling.await
        }
        Face::V4 => {
            // Checked by admit(), on the caller's side of the spawn.
            let Some(path) = ex.tenant.vendor().routes().v4(parts.uri.path()) else {
                return Err(Error::Internal("an admitted path is not forwarded".into()));
            };
            passthrough::v4::handle(ex.vendor(), parts, path, body, request_id).await
        }
        _ => {
            // Checked by admit(), on the caller's side of the spawn.
            let Some(path) = ex.tenant.vendor().routes().entrust(parts.uri.path()) else {
                return Err(Error::Internal("an admitted path is not forwarded".into()));
            };
            passthrough::handle(ex.vendor(), parts, path, body, request_id, permit).await
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
