//! Duplicate protection by `Idempotency-Key` (IETF
//! draft-ietf-httpapi-idempotency-key-header, section 2 and "Error
//! Scenarios": a finished retry gets the first answer, one still in flight
//! gets 409, the key reused for another request gets 422), on both faces,
//! within `dedup.window_ms`; trace ids (`X-Request-ID`, OpenIM's
//! `operationID`) are never keys. Across gateways sharing Redis: `fleet`.

use std::time::Duration;

use crate::common::IDEMPOTENCY_KEY as KEY;
use crate::common::openim::{Im, form};
use crate::common::*;
use entrust_gateway::sim::{Fault, FaultRule};
use http::Method;
use serde_json::json;
use tokio::task::JoinHandle;

/// Every wait on the gateway is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

async fn create(env: &Env, headers: &[(&str, &str)], body: &str) -> Answer {
    post_form_at(env, CREATE, headers, body).await
}

fn receipts(env: &Env, path: &str) -> usize {
    env.sim.requests().iter().filter(|r| r.path == path).count()
}

/// A keyed create.json sent from its own task (so that it can be abandoned).
fn spawn_create(env: &Env, key: &'static str, body: &'static str) -> JoinHandle<Answer> {
    let url = env.url(CREATE);
    tokio::spawn(async move { send(Method::POST, &url, &[FORM, (KEY, key)], body).await })
}

/// Returns once the simulator has recorded a request's arrival (it records
/// before it applies a fault).
pub async fn vendor_has_a_request(env: &Env) {
    until("a request reaches the vendor", || {
        !env.sim.requests().is_empty()
    })
    .await
}

/// A create.json of `group` with `key`.
async fn create_keyed(env: &Env, key: &str, group: &str) -> Answer {
    send(
        Method::POST,
        &env.url(CREATE),
        &[FORM, (KEY, key)],
        format!("groupId={group}&name=n&owner=o"),
    )
    .await
}

#[tokio::test]
async fn a_retried_write_is_answered_from_the_first_attempt() {
    let env = Env::start().await;
    let a = create(&env, &[(KEY, "retry-1")], "groupId=d1&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    assert!(!a.headers.contains_key("x-gateway-replayed"));
    // Without protection the vendor would answer 25409 (group exists): entrust-api.md, codes.
    let b = create(&env, &[(KEY, "\"retry-1\"")], "groupId=d1&name=n&owner=o").await;
    assert_eq!(b.json()["code"], 200);
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    assert_eq!(receipts(&env, CREATE), 1);
    // A new key is a new request.
    let c = create(&env, &[(KEY, "retry-2")], "groupId=d1&name=n&owner=o").await;
    assert_eq!(c.json()["code"], 25409);
}

#[tokio::test]
async fn request_ids_are_trace_ids_not_keys() {
    // Meshes and clients reuse X-Request-ID as a trace id.
    let env = Env::start().await;
    let trace = [("x-request-id", "trace-1")];
    let a = create(&env, &trace, "groupId=t1&name=n&owner=o").await;
    let b = create(&env, &trace, "groupId=t2&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(b.json()["code"], 200, "{}", b.text());
    assert_eq!(env.sim.accepted(CREATE), 2);
}

#[tokio::test]
async fn openim_scripts_with_a_fixed_operation_id_run_unchanged() {
    // OpenIM's scripts/install/test.sh (open-im-server 3c62733) sends
    // operationID 1646445464564 on every call; OpenIM treats it as a trace
    // id (openim-api.md, "operationID is a trace id"), so both creates run.
    let im = Im::start_open().await;
    let create = |id: &str| {
        json!({"ownerUserID": "u1", "memberUserIDs": ["u2"],
               "groupInfo": {"groupID": id, "groupName": "g", "groupType": 2}})
    };
    let url = im.env.url("/group/create_group");
    for id in ["fixeda", "fixedb"] {
        let a = post_openim(&url, "1646445464564", None, &create(id)).await;
        assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    }
    assert!(im.env.sim.group("fixeda").is_some());
    assert!(im.env.sim.group("fixedb").is_some());

    // With an Idempotency-Key the OpenIM face replays too.
    let h = [
        ("content-type", "application/json"),
        ("operationID", "1646445464564"),
        (KEY, "im-1"),
    ];
    let body = create("fixedc").to_string();
    let a = im.raw("/group/create_group", &h, &body).await;
    let b = im.raw("/group/create_group", &h, &body).await;
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    assert_eq!(b.json()["errCode"], 0, "{}", b.text());
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    let creates: Vec<_> = im
        .requests_to(entrust_gateway::entrust::path::GROUP_CREATE)
        .into_iter()
        .filter(|r| form(r).get("groupId").map(String::as_str) == Some("fixedc"))
        .collect();
    assert_eq!(creates.len(), 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422() {
    let env = Env::start().await;
    create(&env, &[(KEY, "reuse-1")], "groupId=d3&name=n&owner=o").await;
    // Another body.
    let b = create(&env, &[(KEY, "reuse-1")], "groupId=d4&name=n&owner=o").await;
    assert_eq!(b.status, 422);
    assert_eq!(b.json()["code"], 1002);
    // Another query (`?v=2` must not get the replay of `?v=1`).
    let q = format!("{CREATE}?v=2");
    let c = post_form_at(&env, &q, &[(KEY, "reuse-1")], "groupId=d3&name=n&owner=o").await;
    assert_eq!(c.status, 422, "{}", c.text());
    // Another path.
    let d = post_form_at(
        &env,
        "/entrust/group/dismiss.json",
        &[(KEY, "reuse-1")],
        "groupId=d3&name=n&owner=o",
    )
    .await;
    assert_eq!(d.status, 422);
    assert_eq!(env.sim.requests().len(), 1);

    // OpenIM's envelope: HTTP 422, errCode 1001 ArgsError.
    let im = Im::start_open().await;
    let h = [
        ("content-type", "application/json"),
        ("operationID", "op"),
        (KEY, "im-reuse"),
    ];
    let body = |id: &str| {
        json!({"ownerUserID": "u1", "groupInfo": {"groupID": id, "groupName": "g", "groupType": 2}})
            .to_string()
    };
    im.raw("/group/create_group", &h, &body("r1")).await;
    let a = im.raw("/group/create_group", &h, &body("r2")).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["errCode"], 1001);
}

#[tokio::test]
async fn a_retry_while_the_first_is_in_flight_is_409() {
    let env = Env::start().await;
    env.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(800))).limit(1));
    let first = spawn_create(&env, "conc-1", "groupId=d2&name=n&owner=o");
    // Once the vendor has the first, the duplicate is in flight.
    vendor_has_a_request(&env).await;
    let b = create(&env, &[(KEY, "conc-1")], "groupId=d2&name=n&owner=o").await;
    assert_eq!(b.status, 409, "{}", b.text());
    assert_eq!(b.json()["code"], 409);
    assert_eq!(b.headers["retry-after"], "1");
    let a = first.await.expect("first");
    assert_eq!(a.json()["code"], 200);
    // A keyed write's claim is finished before its task ends.
    tokio::time::timeout(BOUND, env.gw.app.writes().idle())
        .await
        .expect("finished");
    assert_eq!(receipts(&env, CREATE), 1);
}

#[tokio::test]
async fn a_write_whose_caller_gives_up_is_finished_and_kept() {
    // The caller times out (request_timeout_ms) or
    // disconnects; the write still completes once, and a retry gets its answer.
    let env = Env::start_with_server("request_timeout_ms = 300", "", "").await;
    let writes = env.gw.app.writes();

    // 1. request_timeout_ms fires while the vendor is slow.
    env.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(1500))).limit(1));
    let a = create(&env, &[(KEY, "gone-1")], "groupId=g1&name=n&owner=o").await;
    assert_eq!(a.status, 504, "{}", a.text());
    let b = create(&env, &[(KEY, "gone-1")], "groupId=g1&name=n&owner=o").await;
    assert_eq!(b.status, 409, "still in flight: {}", b.text());
    tokio::time::timeout(BOUND, writes.idle())
        .await
        .expect("the abandoned write finishes");
    let c = create(&env, &[(KEY, "gone-1")], "groupId=g1&name=n&owner=o").await;
    assert_eq!(c.json()["code"], 200, "{}", c.text());
    assert_eq!(c.headers["x-gateway-replayed"], "true");
    assert_eq!(receipts(&env, CREATE), 1);

    // 2. The caller disconnects once the vendor has the write.
    env.sim.clear_requests();
    env.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(250))).limit(1));
    let caller = spawn_create(&env, "gone-2", "groupId=g2&name=n&owner=o");
    vendor_has_a_request(&env).await;
    caller.abort();
    let _ = caller.await;
    tokio::time::timeout(BOUND, writes.idle())
        .await
        .expect("the abandoned write finishes");
    let d = create(&env, &[(KEY, "gone-2")], "groupId=g2&name=n&owner=o").await;
    assert_eq!(d.json()["code"], 200, "{}", d.text());
    assert_eq!(d.headers["x-gateway-replayed"], "true");
    assert_eq!(receipts(&env, CREATE), 1);
}

#[tokio::test]
async fn a_deployment_may_key_by_x_request_id() {
    let env = Env::start_with("", "[dedup]\nkey_header = \"X-Request-ID\"\n").await;
    let rid = [("x-request-id", "rid-1")];
    let a = create(&env, &rid, "groupId=x1&name=n&owner=o").await;
    let b = create(&env, &rid, "groupId=x1&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    // Idempotency-Key then means nothing.
    let keyed = |rid| [(KEY, "k"), ("x-request-id", rid)];
    let c = create(&env, &keyed("rid-2"), "groupId=x2&name=n&owner=o").await;
    let d = create(&env, &keyed("rid-3"), "groupId=x2&name=n&owner=o").await;
    assert_eq!(c.json()["code"], 200);
    assert_eq!(d.json()["code"], 25409);
}

#[tokio::test]
async fn a_malformed_key_is_refused_without_a_vendor_call() {
    let env = Env::start().await;
    let long = "k".repeat(256);
    for key in ["", "\"\"", "a b", long.as_str()] {
        let a = create(&env, &[(KEY, key)], "groupId=m1&name=n&owner=o").await;
        assert_eq!(a.status, 400, "{key:?}: {}", a.text());
        assert_eq!(a.json()["code"], 1002);
        assert!(a.text().contains("Idempotency-Key"));
    }
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn a_full_table_evicts_the_oldest_and_keeps_protecting() {
    // A full table evicts its oldest entry: it never stops protecting.
    let env = Env::start_with("", "[dedup]\nmax_entries = 2\n").await;
    for (k, g) in [("e1", "f1"), ("e2", "f2"), ("e3", "f3")] {
        let a = create(&env, &[(KEY, k)], &format!("groupId={g}&name=n&owner=o")).await;
        assert_eq!(a.json()["code"], 200);
    }
    let again = create(&env, &[(KEY, "e3")], "groupId=f3&name=n&owner=o").await;
    assert_eq!(again.headers["x-gateway-replayed"], "true");
    assert_eq!(env.sim.accepted(CREATE), 3);
    let m = metrics(&env.gw).await;
    assert_eq!(
        sample(&m, "entrust_gateway_dedup_evictions_total", &[]),
        Some(1.0)
    );
}

#[tokio::test]
async fn reads_and_non_final_answers_are_not_replayed() {
    // With the quota on, a vendor 1008 closes the path for upstream_backoff_ms.
    let env = Env::start_with("", "[rate_limit]\nenabled = false\n").await;
    let q = "/entrust/group/profile/query.json";
    for _ in 0..2 {
        post_form_at(&env, q, &[(KEY, "read-1")], "groupIds=x").await;
    }
    assert_eq!(env.sim.requests().len(), 2, "reads are always sent");

    // A 5xx and a 429 are never kept (a connection cut after the write was
    // sent is another matter: outcome_unknown_is_kept_and_never_resent).
    for (n, fault) in [
        Fault::Status(503),
        Fault::Code(1008, 429),
        Fault::Code(25409, 500),
        // The vendor's internal error and timeout in an HTTP 200
        // (docs/duplicate-protection.md: never 1000, 1050; codes in
        // /work/shared/reference/entrust-api.md): only the code says so.
        Fault::Code(1000, 200),
        Fault::Code(1050, 200),
    ]
    .into_iter()
    .enumerate()
    {
        env.sim
            .inject(FaultRule::on(CREATE, fault.clone()).limit(1));
        let key = format!("fail-{n}");
        let body = format!("groupId=d5{n}&name=n&owner=o");
        let a = create(&env, &[(KEY, &key)], &body).await;
        assert_ne!(a.json()["code"], 200, "{fault:?}");
        let b = create(&env, &[(KEY, &key)], &body).await;
        assert_eq!(b.json()["code"], 200, "{fault:?}: {}", b.text());
        assert!(!b.headers.contains_key("x-gateway-replayed"));
    }
}

#[tokio::test]
async fn openim_never_keeps_a_vendor_5xx() {
    // The OpenIM face renders a vendor 5xx as an envelope with HTTP 200:
    // that envelope is not final either.
    let im = Im::start_open().await;
    let h = [("content-type", "application/json"), ("operationID", "op")];
    for (n, fault) in [Fault::Status(503), Fault::Code(25409, 500)]
        .into_iter()
        .enumerate()
    {
        let key = format!("im-5xx-{n}");
        let headers = [h[0], h[1], (KEY, key.as_str())];
        let id = format!("im5xx{n}");
        let body = json!({"ownerUserID": "u1",
                          "groupInfo": {"groupID": id, "groupName": "g", "groupType": 2}})
        .to_string();
        im.env.sim.inject(
            FaultRule::on(entrust_gateway::entrust::path::GROUP_CREATE, fault.clone()).limit(1),
        );
        let a = im.raw("/group/create_group", &headers, &body).await;
        assert_ne!(a.json()["errCode"], 0, "{fault:?}: {}", a.text());
        let b = im.raw("/group/create_group", &headers, &body).await;
        assert_eq!(b.json()["errCode"], 0, "{fault:?}: {}", b.text());
        assert!(im.env.sim.group(&id).is_some());
    }
}

#[tokio::test]
async fn openim_keeps_a_final_vendor_refusal() {
    // docs/duplicate-protection.md: only final answers are kept, on either
    // face. The vendor's 25409 (group exists, in an HTTP 200:
    // /work/shared/reference/entrust-api.md, codes) is final: the OpenIM
    // face answers it as an error envelope (1202 GroupIDExisted,
    // src/openim/errcode.rs) and a retry gets that envelope back, replayed.
    let im = Im::start_open().await;
    let headers = [
        ("content-type", "application/json"),
        ("operationID", "op"),
        (KEY, "im-final-1"),
    ];
    let body = json!({"ownerUserID": "u1",
                      "groupInfo": {"groupID": "imfinal1", "groupName": "g", "groupType": 2}})
    .to_string();
    im.env.sim.inject(
        FaultRule::on(
            entrust_gateway::entrust::path::GROUP_CREATE,
            Fault::Code(25409, 200),
        )
        .limit(1),
    );
    let a = im.raw("/group/create_group", &headers, &body).await;
    assert_ne!(a.json()["errCode"], 0, "{}", a.text());
    let b = im.raw("/group/create_group", &headers, &body).await;
    assert_eq!(b.headers["x-gateway-replayed"], "true", "{}", b.text());
    assert_eq!(b.status, a.status);
    assert_eq!(b.body, a.body);
    assert_eq!(
        im.requests_to(entrust_gateway::entrust::path::GROUP_CREATE)
            .len(),
        1,
        "no second vendor call"
    );
    assert!(im.env.sim.group("imfinal1").is_none());
}

#[tokio::test]
async fn a_replay_needs_the_same_credential() {
    // Gateway with inbound auth: a caller without the token gets 401, not the stored answer.
    let (sim, sim_server) = start_sim().await;
    let tokens = tokens_file("dedup", "tok-A\ntok-B\n");
    let text = config_with_server(
        &[sim_server.url()],
        &format!("auth_tokens_file = {tokens:?}"),
        "",
        "",
    );
    let gw = start_gateway(&text).await;
    let url = format!("{}{CREATE}", gw.url());
    let body = "groupId=d6&name=n&owner=o";
    let a = send(
        Method::POST,
        &url,
        &[FORM, (KEY, "auth-1"), ("authorization", "Bearer tok-A")],
        body,
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    let b = send(Method::POST, &url, &[FORM, (KEY, "auth-1")], body).await;
    assert_eq!(b.status, 401);
    assert!(b.text().contains("gateway:"));
    let c = send(
        Method::POST,
        &url,
        &[FORM, (KEY, "auth-1"), ("authorization", "Bearer wrong")],
        body,
    )
    .await;
    assert_eq!(c.status, 401);
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn openim_answers_409_in_its_envelope_while_the_first_runs() {
    let im = Im::start_open().await;
    im.env.sim.inject(
        FaultRule::on(
            entrust_gateway::entrust::path::GROUP_CREATE,
            Fault::Delay(Duration::from_millis(800)),
        )
        .limit(1),
    );
    let body = json!({"ownerUserID": "u1",
                      "groupInfo": {"groupID": "imconc", "groupName": "g", "groupType": 2}})
    .to_string();
    let url = im.env.url("/group/create_group");
    let h = [
        ("content-type", "application/json"),
        ("operationID", "op"),
        (KEY, "im-conc"),
    ];
    let first = {
        let body = body.clone();
        tokio::spawn(async move { send(Method::POST, &url, &h, body).await })
    };
    vendor_has_a_request(&im.env).await;
    let b = im.raw("/group/create_group", &h, &body).await;
    assert_eq!(b.status, 409, "{}", b.text());
    assert_eq!(b.json()["errCode"], 409);
    let a = first.await.expect("first");
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
}

/// `window_ms = 0`: nothing is kept and nothing is claimed. A retry after
/// the first finished goes to the vendor, which answers 25409 (the group
/// exists: reference/entrust-api.md, codes); a retry while the first is still
/// at the vendor is sent too, where protection would answer 409.
#[tokio::test]
async fn window_ms_zero_switches_protection_off() {
    let env = Env::start_with("", "[dedup]\nwindow_ms = 0\n").await;
    env.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(500))).limit(1));
    let first = spawn_create(&env, "off-1", "groupId=w0&name=n&owner=o");
    vendor_has_a_request(&env).await;
    let during = create_keyed(&env, "off-1", "w0").await;
    assert_ne!(during.status, 409, "{}", during.text());
    let a = within("the first answer", first).await.expect("first");
    assert!(a.status.is_success(), "{}", a.text());
    let after = create_keyed(&env, "off-1", "w0").await;
    assert!(
        !after.headers.contains_key("x-gateway-replayed"),
        "{:?}",
        after.headers
    );
    assert_eq!(after.json()["code"], 25409, "{}", after.text());
    assert_eq!(env.sim.requests().len(), 3);
}

/// Within the window the retry is replayed; after it, the key is forgotten
/// and the retry is a new request to the vendor.
#[tokio::test]
async fn an_answer_is_replayed_only_within_the_window() {
    let env = Env::start_with("", "[dedup]\nwindow_ms = 300\n").await;
    let a = create_keyed(&env, "exp-1", "we").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let b = create_keyed(&env, "exp-1", "we").await;
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    assert_eq!(env.sim.requests().len(), 1);
    // Expiry is time itself: nothing to await but its passing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = create_keyed(&env, "exp-1", "we").await;
    assert!(
        !c.headers.contains_key("x-gateway-replayed"),
        "{:?}",
        c.headers
    );
    assert_eq!(c.json()["code"], 25409, "{}", c.text());
    assert_eq!(env.sim.requests().len(), 2);
}

/// The answer a key keeps when its write's outcome is unknown: 502 with
/// `x-gateway-outcome: unknown` and code 502 on the entrust face (README,
/// "Duplicate protection").
fn assert_outcome_unknown(a: &Answer) {
    assert_eq!(a.status, 502, "{}", a.text());
    assert_eq!(a.headers["x-gateway-outcome"], "unknown", "{}", a.text());
    assert_eq!(a.json()["code"], 502, "{}", a.text());
    assert_eq!(a.headers["x-gateway-replayed"], "true");
}

/// A write cut after it was sent (the vendor read it, then reset the
/// connection): nobody knows whether it was done, so the key is not freed
/// for the retry to send it again: the retry gets "outcome unknown".
#[tokio::test]
async fn outcome_unknown_is_kept_and_never_resent() {
    let env = Env::start().await;
    env.sim.inject(FaultRule::on(CREATE, Fault::Reset).limit(1));
    let body = "groupId=u1&name=n&owner=o";
    let a = create(&env, &[(KEY, "cut-1")], body).await;
    assert_eq!(a.status, 502, "{}", a.text());
    for _ in 0..2 {
        let b = create(&env, &[(KEY, "cut-1")], body).await;
        assert_outcome_unknown(&b);
    }
    assert_eq!(receipts(&env, CREATE), 1, "never sent twice under one key");
    // Without a key nothing is kept: the caller decides.
    env.sim.inject(FaultRule::on(CREATE, Fault::Reset).limit(1));
    let c = create(&env, &[], "groupId=u2&name=n&owner=o").await;
    assert_eq!(c.status, 502, "{}", c.text());
    let d = create(&env, &[], "groupId=u2&name=n&owner=o").await;
    assert_eq!(d.json()["code"], 200, "{}", d.text());
}

/// The vendor slower than upstream.timeout_ms: the caller gets 504 at the
/// usual time, the gateway goes on waiting for the answer (up to
/// dedup.outcome_wait_ms), a retry meanwhile gets 409, and once the answer
/// comes the retry gets it: one receipt, where freeing the key sent it
/// twice (and answered the retry "group exists").
#[tokio::test]
async fn a_slow_vendor_s_answer_is_waited_for_and_kept() {
    let env = Env::start_with("timeout_ms = 300", "").await;
    env.sim
        .inject(FaultRule::on(CREATE, Fault::Delay(Duration::from_millis(1200))).limit(1));
    let body = "groupId=s1&name=n&owner=o";
    let started = std::time::Instant::now();
    let a = create(&env, &[(KEY, "slow-1")], body).await;
    assert_eq!(a.status, 504, "{}", a.text());
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "answered at timeout_ms"
    );
    let b = create(&env, &[(KEY, "slow-1")], body).await;
    assert_eq!(b.status, 409, "still waiting for the vendor: {}", b.text());
    tokio::time::timeout(BOUND, env.gw.app.writes().idle())
        .await
        .expect("the vendor's answer came");
    let c = create(&env, &[(KEY, "slow-1")], body).await;
    assert_eq!(c.json()["code"], 200, "{}", c.text());
    assert_eq!(c.headers["x-gateway-replayed"], "true");
    assert_eq!(receipts(&env, CREATE), 1);
}

/// Past dedup.outcome_wait_ms without an answer the outcome is unknown, and
/// that is what the key keeps.
#[tokio::test]
async fn past_outcome_wait_the_outcome_is_unknown() {
    let env = Env::start_with("timeout_ms = 200", "[dedup]\noutcome_wait_ms = 300\n").await;
    env.sim.inject(FaultRule::on(CREATE, Fault::Hang).limit(1));
    let body = "groupId=h1&name=n&owner=o";
    let a = create(&env, &[(KEY, "hang-1")], body).await;
    assert_eq!(a.status, 504, "{}", a.text());
    tokio::time::timeout(BOUND, env.gw.app.writes().idle())
        .await
        .expect("the wait ends");
    let b = create(&env, &[(KEY, "hang-1")], body).await;
    assert_outcome_unknown(&b);
    assert_eq!(receipts(&env, CREATE), 1);
}

/// One caller, one scope: the key is scoped to the credential that
/// authenticated the caller, not to how its header is spelled (the inbound
/// check takes `bearer tokA`, `BEARER  tokA` alike).
#[tokio::test]
async fn a_retry_spelled_differently_is_the_same_caller() {
    let tokens = tokens_file("scope", "tokA\ntokB\n");
    let env = Env::start_with_server(&format!("auth_tokens_file = {tokens:?}"), "", "").await;
    let body = "groupId=sc1&name=n&owner=o";
    let mut answers = Vec::new();
    for auth in ["Bearer tokA", "bearer tokA", "BEARER  tokA", "Bearer tokA "] {
        answers.push(create(&env, &[(KEY, "scope-1"), ("authorization", auth)], body).await);
    }
    for a in &answers {
        assert_eq!(a.json()["code"], 200, "{}", a.text());
    }
    assert_eq!(receipts(&env, CREATE), 1, "one caller, one write");
    // Another token is another caller: not the first one's answer.
    let other = create(
        &env,
        &[(KEY, "scope-1"), ("authorization", "Bearer tokB")],
        body,
    )
    .await;
    assert!(
        !other.headers.contains_key("x-gateway-replayed"),
        "{}",
        other.text()
    );
}
