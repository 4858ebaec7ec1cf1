//! Shutdown as the docs describe it (docs/operations.md, "Start, signals and
//! drain"; docs/entrust-face.md, "Errors": 503 code 1000 while shutting
//! down): in-flight requests finish; a request that arrives on a kept-alive
//! connection meanwhile gets 503 code 1000 with
//! `Connection: close`; writes whose callers left still finish; connections
//! still open at `drain_timeout_ms` are cut, counted and logged.

use std::time::Duration;

use crate::common::IDEMPOTENCY_KEY as KEY;
use crate::common::*;
use bytes::Bytes;
use entrust_gateway::idempotency::Begin;
use entrust_gateway::sim::{Fault, FaultRule};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Every wait on the gateway is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

/// Returns once the gateway refuses new connections: its drain has begun
/// (it starts draining before it closes the listener).
async fn until_refusing(addr: std::net::SocketAddr) {
    within("the listener to close", async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn during_the_drain_a_kept_alive_connection_gets_503_1000_and_close() {
    let (upstream, mut arrived, _task) = silent_upstream().await;
    let gw = start_gateway_edited(
        &config_text(&[format!("http://{upstream}")], "timeout_ms = 3000", ""),
        |c| c.server.drain_timeout_ms = 10_000,
    )
    .await;
    let addr = gw.addr;
    let url = gw.url();

    // A caller's kept-alive connection, used once before the shutdown.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut kept, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let probe = Request::get(format!("{url}/healthz"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(kept.send_request(probe).await.unwrap().status(), 200);

    // A write in flight (the data center holds it), so the drain waits.
    let write_url = format!("{url}{CREATE}");
    let in_flight =
        tokio::spawn(async move { post_form(&write_url, "groupId=d&name=n&owner=o").await });
    within("the write to reach the data center", arrived.recv()).await;

    let stopping = tokio::spawn(gw.shutdown());
    until_refusing(addr).await;

    // The next request on the kept-alive connection: refused, not processed.
    let req = Request::post(format!("{url}{CREATE}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from("groupId=e&name=n&owner=o")))
        .unwrap();
    let resp = within("the 503", kept.send_request(req)).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()[header::CONNECTION], "close");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], 1000, "{json}");
    // ... and the gateway closes that connection.
    within("the kept-alive connection to close", conn)
        .await
        .unwrap()
        .unwrap();
    assert!(
        arrived.try_recv().is_err(),
        "the refused request reached the data center"
    );

    // The write in flight still finishes (a timeout: the data center never
    // answers), told to close its connection too.
    let a = within("the in-flight write", in_flight).await.unwrap();
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(a.headers[header::CONNECTION], "close");
    let drained = within("the drain", stopping).await.unwrap();
    assert_eq!(drained.cut, 0);
}

#[tokio::test]
async fn shutdown_waits_for_a_write_whose_caller_left() {
    // A write is never abandoned (common standards), shutdown included:
    // the drain waits for writes running after their callers left.
    let Env {
        sim,
        sim_server,
        gw,
    } = Env::start_with_server("request_timeout_ms = 200", "", "").await;
    let gateway = gw.app.clone();
    sim.inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(600))).limit(1));
    let url = format!("{}{CREATE}", gw.url());
    let a = send(
        Method::POST,
        &url,
        &[FORM, (KEY, "drain-1")],
        "groupId=s1&name=n&owner=o",
    )
    .await;
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(gateway.writes().running(), 1);
    tokio::time::timeout(BOUND, gw.shutdown())
        .await
        .expect("shutdown ends");
    assert_eq!(gateway.writes().running(), 0);
    // Its claim was finished, and its answer kept: the key replays now.
    let key = entrust_gateway::idempotency::store_key(&http::HeaderMap::new(), "drain-1");
    let fingerprint = create_fingerprint("groupId=s1&name=n&owner=o");
    let dedup = gateway.idempotency().expect("dedup on");
    let replay = dedup.begin(key, fingerprint, Default::default()).await;
    assert!(
        matches!(replay, Ok(Begin::Replay(_))),
        "the claim was not finished"
    );
    assert_eq!(sim.accepted(CREATE), 1);
    drop(sim_server);
}

/// A keyed write still waiting for the vendor at drain_timeout_ms is cut
/// with the process, and its key keeps "outcome unknown" (its claim would
/// otherwise lapse, and a retry on another gateway send it again).
#[tokio::test]
async fn a_keyed_write_cut_at_the_drain_timeout_keeps_outcome_unknown() {
    let Env {
        sim,
        sim_server,
        gw,
    } = Env::start_with_server("drain_timeout_ms = 300", "", "").await;
    let app = gw.app.clone();
    sim.inject(FaultRule::on(CREATE, Fault::Hang).limit(1));
    let url = format!("{}{CREATE}", gw.url());
    let caller = tokio::spawn(async move {
        send(
            Method::POST,
            &url,
            &[FORM, (KEY, "drain-cut")],
            "groupId=dc1&name=n&owner=o",
        )
        .await
    });
    until("the vendor has the write", || {
        sim.accepted(CREATE) + sim.requests().len() > 0
    })
    .await;
    let drained = tokio::time::timeout(BOUND, gw.shutdown())
        .await
        .expect("shutdown ends");
    assert_eq!(drained.cut, 1, "the caller's connection was cut");
    caller.abort();
    let key = entrust_gateway::idempotency::store_key(&http::HeaderMap::new(), "drain-cut");
    let fingerprint = create_fingerprint("groupId=dc1&name=n&owner=o");
    let idempotency = app.idempotency().expect("dedup on");
    let Ok(Begin::Replay(kept)) = idempotency
        .begin(key, fingerprint, Default::default())
        .await
    else {
        panic!("the key was freed")
    };
    assert_eq!(kept.status(), 502);
    assert_eq!(kept.headers()["x-gateway-outcome"], "unknown");
    drop(sim_server);
}

#[tokio::test]
async fn connections_still_busy_at_the_drain_timeout_are_cut_and_logged() {
    let logs = capture_logs();
    let (upstream, mut arrived, _task) = silent_upstream().await;
    let gw = start_gateway_edited(
        &config_text(&[format!("http://{upstream}")], "timeout_ms = 30000", ""),
        |c| c.server.drain_timeout_ms = 300,
    )
    .await;
    let url = gw.url();
    let in_flight = tokio::spawn(async move {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{url}{CREATE}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from("groupId=c&name=n&owner=o")))
            .unwrap();
        client().request(req).await
    });
    within("the write to reach the data center", arrived.recv()).await;
    let drained = within("the drain", gw.shutdown()).await;
    assert_eq!(drained.cut, 1);
    // The caller sees its connection close, not an answer.
    let r = within("the cut request", in_flight).await.unwrap();
    assert!(r.is_err(), "{r:?}");
    let text = logs.text();
    assert!(
        text.contains("drain timeout") && text.contains("connections_cut=1"),
        "{text}"
    );
}
