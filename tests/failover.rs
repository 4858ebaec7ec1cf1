//! Failover across data centers, as the vendor's SDKs do it: a connect
//! error, timeout or 5xx switches the active URL; the failed request is sent
//! again only when that is safe.

mod common;

use common::*;
use entrust_gateway::server::ServerHandle;
use entrust_gateway::sim::{Fault, FaultRule, SimServer, Simulator};

/// A primary and a backup simulator, and a gateway in front of both.
struct TwoDataCenters {
    primary: Simulator,
    backup: Simulator,
    gw: ServerHandle,
    /// The simulators serve while these live.
    _servers: (SimServer, SimServer),
}

async fn two_data_centers(upstream_extra: &str) -> TwoDataCenters {
    let (primary, p) = start_sim().await;
    let (backup, b) = start_sim().await;
    let gw = start_gateway(&config_text(&[p.url(), b.url()], upstream_extra, "")).await;
    TwoDataCenters {
        primary,
        backup,
        gw,
        _servers: (p, b),
    }
}

const QUERY: &str = "/entrust/group/profile/query.json";
const CREATE: &str = "/entrust/group/create.json";

#[tokio::test]
async fn primary_refusing_connections_fails_over_even_for_writes() {
    let dead = closed_port_url().await;
    let (sim, backup) = start_sim().await;
    let gw = start_gateway(&config_text(&[dead, backup.url()], "", "")).await;
    // A write: never sent to the dead primary, so sending it to the backup is safe.
    let a = post_form(
        &format!("{}{CREATE}", gw.url()),
        "groupId=f1&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert_eq!(sim.accepted(CREATE), 1);
    // The backup is now active: the next request goes straight there.
    assert_eq!(gw.gateway.upstream().active(), 1);
    let a = post_form(&format!("{}{QUERY}", gw.url()), "groupIds=f1").await;
    assert_eq!(a.json()["profiles"][0]["groupId"], "f1");
    let m = gw.gateway.metrics().encode();
    assert!(m.contains("entrust_gateway_failovers_total{from="), "{m}");
}

#[tokio::test]
async fn a_5xx_read_is_retried_on_the_backup() {
    let TwoDataCenters {
        primary,
        backup,
        gw,
        _servers,
    } = two_data_centers("").await;
    primary.inject(FaultRule {
        path: None,
        fault: Fault::Status(503),
        times: None,
    });
    let a = post_form(&format!("{}{QUERY}", gw.url()), "groupIds=x").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["code"], 200);
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
}

#[tokio::test]
async fn a_5xx_write_is_not_retried_and_the_answer_comes_back() {
    let TwoDataCenters {
        primary,
        backup,
        gw,
        _servers,
    } = two_data_centers("").await;
    primary.inject(FaultRule {
        path: None,
        fault: Fault::Status(500),
        times: Some(1),
    });
    let a = post_form(&format!("{}{CREATE}", gw.url()), "groupId=w&name=n&owner=o").await;
    assert_eq!(a.status, 500);
    assert_eq!(primary.requests().len(), 1);
    assert!(
        backup.requests().is_empty(),
        "a write that may have arrived was sent twice"
    );
    // But the active data center switched, so the next write goes to the backup.
    let a = post_form(
        &format!("{}{CREATE}", gw.url()),
        "groupId=w2&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(backup.accepted(CREATE), 1);
}

#[tokio::test]
async fn a_timed_out_write_is_not_retried_and_answers_504_1050() {
    let TwoDataCenters {
        primary,
        backup,
        gw,
        _servers,
    } = two_data_centers("timeout_ms = 300").await;
    primary.inject(FaultRule {
        path: None,
        fault: Fault::Hang,
        times: None,
    });
    let a = post_form(&format!("{}{CREATE}", gw.url()), "groupId=t&name=n&owner=o").await;
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["code"], 1050);
    assert!(backup.requests().is_empty());
    // A timed-out read is retried on the backup.
    let TwoDataCenters {
        primary: primary2,
        backup: backup2,
        gw: gw2,
        _servers,
    } = two_data_centers("timeout_ms = 300").await;
    primary2.inject(FaultRule {
        path: None,
        fault: Fault::Hang,
        times: None,
    });
    let a = post_form(&format!("{}{QUERY}", gw2.url()), "groupIds=x").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(backup2.requests().len(), 1);
}

#[tokio::test]
async fn unreachable_upstream_answers_502_1000() {
    let gw = start_gateway(&config_text(&[closed_port_url().await], "", "")).await;
    let a = post_form(&format!("{}{QUERY}", gw.url()), "groupIds=x").await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["code"], 1000);
    let r = send(http::Method::GET, &format!("{}/readyz", gw.url()), &[], "").await;
    assert_eq!(r.status, 503, "readyz must report a known-down upstream");
}

#[tokio::test]
async fn at_most_one_switch_per_cooldown() {
    let TwoDataCenters {
        primary,
        backup,
        gw,
        _servers,
    } = two_data_centers("").await;
    primary.inject(FaultRule {
        path: None,
        fault: Fault::Status(500),
        times: None,
    });
    backup.inject(FaultRule {
        path: None,
        fault: Fault::Status(500),
        times: None,
    });
    let url = format!("{}{CREATE}", gw.url());
    post_form(&url, "groupId=a&name=n&owner=o").await;
    assert_eq!(gw.gateway.upstream().active(), 1);
    // The backup fails too, but within the cooldown: no switch back.
    post_form(&url, "groupId=b&name=n&owner=o").await;
    assert_eq!(gw.gateway.upstream().active(), 1);
    assert_eq!(backup.requests().len(), 1);
}
