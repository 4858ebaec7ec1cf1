//! Duplicate protection: a write retried with the same request id and body
//! gets the first attempt's answer; the vendor is called once.

mod common;

use std::time::Duration;

use common::*;
use entrust_gateway::sim::{Fault, FaultRule};
use http::Method;

const CREATE: &str = "/entrust/group/create.json";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn create(env: &Env, id: &str, body: &str) -> Answer {
    send(
        Method::POST,
        &env.url(CREATE),
        &[FORM, ("x-request-id", id)],
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_retried_write_is_answered_from_the_first_attempt() {
    let env = Env::start().await;
    let a = create(&env, "retry-1", "groupId=d1&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    // Without protection the vendor would answer 25409 (group exists).
    let b = create(&env, "retry-1", "groupId=d1&name=n&owner=o").await;
    assert_eq!(b.json()["code"], 200);
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    assert_eq!(env.sim.accepted(CREATE), 1);
    // A new id is a new request.
    let c = create(&env, "retry-2", "groupId=d1&name=n&owner=o").await;
    assert_eq!(c.json()["code"], 25409);
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_first() {
    let env = Env::start().await;
    env.sim.inject(FaultRule {
        path: None,
        fault: Fault::Delay(Duration::from_millis(300)),
        times: Some(1),
    });
    let (a, b) = tokio::join!(
        create(&env, "conc-1", "groupId=d2&name=n&owner=o"),
        create(&env, "conc-1", "groupId=d2&name=n&owner=o"),
    );
    assert_eq!(a.json()["code"], 200);
    assert_eq!(b.json()["code"], 200);
    assert_eq!(env.sim.requests().len(), 1);
}

#[tokio::test]
async fn the_same_id_with_another_body_is_refused() {
    let env = Env::start().await;
    create(&env, "reuse-1", "groupId=d3&name=n&owner=o").await;
    let b = create(&env, "reuse-1", "groupId=d4&name=n&owner=o").await;
    assert_eq!(b.status, 400);
    assert_eq!(b.json()["code"], 1002);
    assert!(b.text().contains("different body"));
    assert_eq!(env.sim.requests().len(), 1);
}

#[tokio::test]
async fn reads_and_gateway_errors_are_not_replayed() {
    let env = Env::start().await;
    let q = "/entrust/group/profile/query.json";
    for _ in 0..2 {
        send(
            Method::POST,
            &env.url(q),
            &[FORM, ("x-request-id", "read-1")],
            "groupIds=x",
        )
        .await;
    }
    assert_eq!(env.sim.requests().len(), 2, "reads are always sent");

    env.sim.clear_requests();
    env.sim.inject(FaultRule {
        path: None,
        fault: Fault::Status(503),
        times: Some(1),
    });
    let a = create(&env, "fail-1", "groupId=d5&name=n&owner=o").await;
    assert_eq!(a.status, 503);
    let b = create(&env, "fail-1", "groupId=d5&name=n&owner=o").await;
    assert_eq!(
        b.json()["code"],
        200,
        "a failed attempt must not be replayed"
    );
    assert_eq!(env.sim.requests().len(), 2);
}

#[tokio::test]
async fn a_replay_needs_the_same_credential() {
    // Gateway with inbound auth: a caller without the token gets 401, not the stored answer.
    let (sim, sim_server) = start_sim().await;
    let text = config_text(&[sim_server.url()], "", "")
        .replace("[server]\n", "[server]\nauth_tokens_file = \"TOKENS\"\n");
    let dir = std::env::temp_dir().join(format!("entrust-gw-dedup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "tok-A\ntok-B\n").unwrap();
    let gw = start_gateway(&text.replace("TOKENS", &tokens.display().to_string())).await;
    let url = format!("{}{CREATE}", gw.url());
    let body = "groupId=d6&name=n&owner=o";
    let a = send(
        Method::POST,
        &url,
        &[
            FORM,
            ("x-request-id", "auth-1"),
            ("authorization", "Bearer tok-A"),
        ],
        body,
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    let b = send(
        Method::POST,
        &url,
        &[FORM, ("x-request-id", "auth-1")],
        body,
    )
    .await;
    assert_eq!(b.status, 401);
    assert!(b.text().contains("gateway:"));
    let c = send(
        Method::POST,
        &url,
        &[
            FORM,
            ("x-request-id", "auth-1"),
            ("authorization", "Bearer wrong"),
        ],
        body,
    )
    .await;
    assert_eq!(c.status, 401);
    assert_eq!(sim.requests().len(), 1);
}
