//! README "Duplicate protection": the window itself. A retry with the same
//! `Idempotency-Key` is answered from the first attempt only within
//! `dedup.window_ms`; `window_ms = 0` switches protection off. (Replay, 409,
//! 422 and `max_entries` are in tests/dedup.rs.)

mod common;

use std::time::Duration;

use common::*;
use entrust_gateway::sim::{Fault, FaultRule};
use http::Method;

const CREATE: &str = "/entrust/group/create.json";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const KEY: &str = "idempotency-key";

async fn create(env: &Env, key: &str, group: &str) -> Answer {
    send(
        Method::POST,
        &env.url(CREATE),
        &[FORM, (KEY, key)],
        format!("groupId={group}&name=n&owner=o"),
    )
    .await
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
    let first = {
        let url = env.url(CREATE);
        tokio::spawn(async move {
            send(
                Method::POST,
                &url,
                &[FORM, (KEY, "off-1")],
                "groupId=w0&name=n&owner=o",
            )
            .await
        })
    };
    within("the first at the vendor", async {
        while env.sim.requests().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let during = create(&env, "off-1", "w0").await;
    assert_ne!(during.status, 409, "{}", during.text());
    let a = within("the first answer", first).await.expect("first");
    assert!(a.status.is_success(), "{}", a.text());
    let after = create(&env, "off-1", "w0").await;
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
    let a = create(&env, "exp-1", "we").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let b = create(&env, "exp-1", "we").await;
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    assert_eq!(env.sim.requests().len(), 1);
    // Expiry is time itself: nothing to await but its passing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = create(&env, "exp-1", "we").await;
    assert!(
        !c.headers.contains_key("x-gateway-replayed"),
        "{:?}",
        c.headers
    );
    assert_eq!(c.json()["code"], 25409, "{}", c.text());
    assert_eq!(env.sim.requests().len(), 2);
}
