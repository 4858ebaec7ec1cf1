//! How the gateway's own errors look (README "Errors"): `Allow` per face,
//! one `Retry-After` rule, the gateway's own failures as 5xx.

mod common;

use common::*;
use entrust_gateway::allowlist::EntrustPath;
use entrust_gateway::error::Error;
use entrust_gateway::sim::{Fault, FaultRule};
use http::{Method, header};

/// RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" listing the
/// target resource's methods. The probes serve GET and HEAD (README
/// "Operations"); the entrust and OpenIM faces serve POST.
#[tokio::test]
async fn a_405_names_the_methods_of_its_face() {
    let env = Env::start().await;
    let probe = send(Method::POST, &env.url("/healthz"), &[], "").await;
    assert_eq!(probe.status, 405);
    assert_eq!(probe.headers[header::ALLOW], "GET, HEAD");
    let entrust = send(Method::GET, &env.url("/entrust/group/create.json"), &[], "").await;
    assert_eq!(entrust.status, 405);
    assert_eq!(entrust.headers[header::ALLOW], "POST");
    assert_eq!(entrust.json()["code"], 1002);
    // OpenIM's envelope (errCode 1001 ArgsError: OpenIM pkg/common/servererrs).
    let openim = send(
        Method::GET,
        &env.url("/group/create_group"),
        &[("operationID", "op-405")],
        "",
    )
    .await;
    assert_eq!(openim.status, 405);
    assert_eq!(openim.headers[header::ALLOW], "POST");
    assert_eq!(openim.json()["errCode"], 1001);
}

/// `Retry-After` is delay-seconds, a whole number (RFC 9110 §10.2.3); the
/// gateway rounds up so a caller that waits that long is not early. The
/// vendor's 1008 (src/entrust/mod.rs code::RATE_LIMITED) holds the path back
/// for `upstream_backoff_ms` = 1.5 s: Retry-After 2, not 1.
#[tokio::test]
async fn retry_after_rounds_up_on_the_passthrough_too() {
    let env = Env::start_with("", "[rate_limit]\nupstream_backoff_ms = 1500").await;
    env.sim.inject(FaultRule {
        path: None,
        fault: Fault::Code(1008, 429),
        times: Some(1),
    });
    let a = post_form(
        &env.url("/entrust/group/create.json"),
        "groupId=r&name=n&owner=o",
    )
    .await;
    assert_eq!(a.status, 429, "{}", a.text());
    assert_eq!(a.headers[header::RETRY_AFTER], "2");
    // The gateway's own refusal while the path is held back: the same rule.
    let b = post_form(
        &env.url("/entrust/group/create.json"),
        "groupId=r2&name=n&owner=o",
    )
    .await;
    assert_eq!(b.status, 429, "{}", b.text());
    let secs: u64 = b.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
}

/// A call the gateway cannot even address cannot be made: a Call's path is
/// an EntrustPath, which only the allowlist makes. Were
/// one to fail to build anyway, it is the gateway's own failure (500), not
/// the caller's bad input (400).
#[tokio::test]
async fn an_unbuildable_upstream_uri_is_an_internal_error() {
    let env = Env::start().await;
    assert!(EntrustPath::documented("/entrust/not a path.json").is_none());
    assert!(
        env.gw
            .app
            .vendor()
            .routes()
            .entrust("/entrust/not a path.json")
            .is_none()
    );
    let resp = entrust_gateway::server::respond::error(
        entrust_gateway::error::Face::Entrust,
        &Error::Internal("cannot build the upstream URI".into()),
    );
    assert_eq!(resp.status(), 500);
    assert!(env.sim.requests().is_empty());
}
