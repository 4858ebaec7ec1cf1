//! Failover across data centers, as the vendor's SDKs do it: a connect
//! error, timeout or 5xx switches the active URL; the failed request is sent
//! again only when that is safe.

use crate::common::*;
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

/// Two data centers; the primary fails `times` times (None: always).
async fn primary_failing(
    upstream_extra: &str,
    fault: Fault,
    times: Option<usize>,
) -> TwoDataCenters {
    let dcs = two_data_centers(upstream_extra).await;
    dcs.primary.inject(FaultRule {
        path: None,
        fault,
        times,
    });
    dcs
}

async fn two_data_centers(upstream_extra: &str) -> TwoDataCenters {
    two_data_centers_with(upstream_extra, |_| {}).await
}

async fn two_data_centers_with(
    upstream_extra: &str,
    edit: impl FnOnce(&mut entrust_gateway::config::Config),
) -> TwoDataCenters {
    let (primary, p) = start_sim().await;
    let (backup, b) = start_sim().await;
    let gw =
        start_gateway_edited(&config_text(&[p.url(), b.url()], upstream_extra, ""), edit).await;
    TwoDataCenters {
        primary,
        backup,
        gw,
        _servers: (p, b),
    }
}

#[tokio::test]
async fn primary_refusing_connections_fails_over_even_for_writes() {
    let (sim, _backup, gw) = dead_primary("", "").await;
    // A write: never sent to the dead primary, so sending it to the backup is safe.
    let a = post_create(&gw, "groupId=f1&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert_eq!(sim.accepted(CREATE), 1);
    // The backup is now active: the next request goes straight there.
    assert_eq!(gw.app.vendor().upstream().active(), 1);
    let a = post_form(&format!("{}{QUERY}", gw.url()), "groupIds=f1").await;
    assert_eq!(a.json()["profiles"][0]["groupId"], "f1");
    let m = metrics(&gw).await;
    assert!(m.contains("entrust_gateway_failovers_total{from="), "{m}");
}

/// README "Failover": the failed request is sent again, once, "to the next
/// data center". With one data center there is no next one: a read the
/// vendor answered 503 is sent once, and the vendor's answer goes back.
#[tokio::test]
async fn with_one_data_center_a_failed_read_is_not_sent_again() {
    let env = Env::start().await;
    env.sim
        .inject(FaultRule::on(QUERY, Fault::Status(503)).limit(1));
    let a = post_form(&env.url(QUERY), "groupIds=x").await;
    assert_eq!(a.status, 503, "{}", a.text());
    assert_eq!(env.sim.requests().len(), 1);
}

#[tokio::test]
async fn a_5xx_read_is_retried_on_the_backup() {
    let dcs = primary_failing("", Fault::Status(503), None).await;
    let a = post_form(&format!("{}{QUERY}", dcs.gw.url()), "groupIds=x").await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["code"], 200);
    assert_eq!(dcs.primary.requests().len(), 1);
    assert_eq!(dcs.backup.requests().len(), 1);
}

#[tokio::test]
async fn a_5xx_write_is_not_retried_and_the_answer_comes_back() {
    let dcs = primary_failing("", Fault::Status(500), Some(1)).await;
    let a = post_create(&dcs.gw, "groupId=w&name=n&owner=o").await;
    assert_eq!(a.status, 500);
    assert_eq!(dcs.primary.requests().len(), 1);
    assert!(
        dcs.backup.requests().is_empty(),
        "a write that may have arrived was sent twice"
    );
    // But the active data center switched, so the next write goes to the backup.
    let a = post_create(&dcs.gw, "groupId=w2&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(dcs.backup.accepted(CREATE), 1);
}

#[tokio::test]
async fn a_timed_out_write_is_not_retried_and_answers_504_1050() {
    let dcs = primary_failing("timeout_ms = 300", Fault::Hang, None).await;
    let a = post_create(&dcs.gw, "groupId=t&name=n&owner=o").await;
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["code"], 1050);
    assert!(dcs.backup.requests().is_empty());
    // A timed-out read is retried on the backup.
    let dcs = primary_failing("timeout_ms = 300", Fault::Hang, None).await;
    let a = post_form(&format!("{}{QUERY}", dcs.gw.url()), "groupIds=x").await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(dcs.backup.requests().len(), 1);
}

#[tokio::test]
async fn unreachable_upstream_answers_502_1000() {
    let gw = start_gateway(&config_text(&[closed_port_url().await], "", "")).await;
    let a = post_form(&format!("{}{QUERY}", gw.url()), "groupIds=x").await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["code"], 1000);
    let r = get(&format!("{}/readyz", gw.url())).await;
    assert_eq!(r.status, 503, "readyz must report a known-down upstream");
}

#[tokio::test]
async fn at_most_one_switch_per_cooldown() {
    let dcs = primary_failing("", Fault::Status(500), None).await;
    dcs.backup.inject(FaultRule {
        path: None,
        fault: Fault::Status(500),
        times: None,
    });
    let url = format!("{}{CREATE}", dcs.gw.url());
    post_form(&url, "groupId=a&name=n&owner=o").await;
    assert_eq!(dcs.gw.app.vendor().upstream().active(), 1);
    // The backup fails too, but within the cooldown: no switch back.
    post_form(&url, "groupId=b&name=n&owner=o").await;
    assert_eq!(dcs.gw.app.vendor().upstream().active(), 1);
    assert_eq!(dcs.backup.requests().len(), 1);
}

/// A data center that accepts the TCP connection and then
/// stalls the TLS handshake never got the request, so even a write moves to
/// the backup (docs/failover.md: connect error, TLS handshake failure or
/// stall → retried), and the answer is the backup's, not a 504.
#[tokio::test]
async fn a_stalled_tls_handshake_is_never_sent_and_a_write_moves_to_the_backup() {
    let (stalled, mut arrived, _task) = silent_upstream().await;
    let (sim, backup) = start_sim().await;
    let gw = start_gateway(&config_text(
        &[format!("https://{stalled}"), backup.url()],
        "connect_timeout_ms = 300\ntimeout_ms = 8000",
        "",
    ))
    .await;
    let a = within("the write", post_create(&gw, "groupId=hs&name=n&owner=o")).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["code"], 200);
    assert_eq!(sim.accepted(CREATE), 1);
    // What the stalled data center got was a TLS ClientHello (record type
    // 0x16, RFC 8446 §5.1), never the request.
    let hello = arrived.try_recv().expect("the gateway connected");
    assert_eq!(hello.first(), Some(&0x16));
    assert_eq!(gw.app.vendor().upstream().active(), 1);
}

/// A body over the data center's limit is that request's
/// failure. The simulator reads at most 1 MiB (src/sim/server.rs
/// MAX_REQUEST_BODY) and closes; the gateway (its limit raised to 4 MiB)
/// answers a clear error, keeps the data center in service, and /readyz
/// stays 200.
#[tokio::test]
async fn a_body_the_data_center_refuses_fails_only_that_request() {
    let _serial = heavy().await;
    let TwoDataCenters {
        primary,
        backup,
        gw,
        _servers,
    } = two_data_centers_with("", |c| c.server.max_body_bytes = 4 << 20).await;
    // Just under the gateway's limit: the simulator has stopped reading
    // long before the gateway has finished sending. Whether the vendor's
    // answer arrives before the closed connection is a race, so try a few.
    let big = format!(
        "groupId=big&name=n&owner=o&groupProfile={}",
        "x".repeat(4000 << 10)
    );
    for _ in 0..6 {
        let a = within("the big write", post_create(&gw, &big)).await;
        // Either the vendor's own refusal got through (400 code 1005, its
        // "parameter too long": src/entrust/mod.rs code::PARAM_TOO_LONG), or
        // the gateway's: 413 code 1005, saying the body was refused.
        let refused_here = a.status == 413 && a.text().contains("refused the request body");
        assert!(
            (a.status == 400 || refused_here) && a.json()["code"] == 1005,
            "{} {}",
            a.status,
            a.text()
        );
        let r = get(&format!("{}/readyz", gw.url())).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        backup.requests().is_empty(),
        "a refused body is not sent again"
    );
    assert_eq!(gw.app.vendor().upstream().active(), 0, "no failover");
    // The data center still serves everyone else.
    let a = post_create(&gw, "groupId=ok&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    assert_eq!(primary.accepted(CREATE), 1);
}

/// The same when the data center answers nothing at all: it reads the
/// request head and some of the body, then closes the connection (a proxy
/// in front of the vendor enforcing its own limit). The gateway's answer
/// says the body was refused; the data center stays in service.
#[tokio::test]
async fn a_data_center_closing_mid_body_refuses_the_body_not_the_service() {
    let _serial = heavy().await;
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _upstream = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 << 10];
            let mut got = 0;
            while got < buf.len() {
                match s.read(&mut buf[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            drop(s); // unread data left: the kernel answers with a reset
        }
    });
    let gw = start_gateway_edited(&config_text(&[url], "", ""), |c| {
        c.server.max_body_bytes = 4 << 20
    })
    .await;
    let big = format!(
        "groupId=big&name=n&owner=o&groupProfile={}",
        "x".repeat(4000 << 10)
    );
    let a = within("the big write", post_create(&gw, &big)).await;
    assert_eq!(a.status, 413, "{}", a.text());
    assert_eq!(a.json()["code"], 1005);
    assert!(
        a.text().contains("refused the request body"),
        "{}",
        a.text()
    );
    let r = get(&format!("{}/readyz", gw.url())).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// docs/failover.md's table, "connection broken after the request was
/// written": the simulator reads the request, then resets the connection
/// (src/sim/fault.rs Fault::Reset). The vendor may have acted on a write, so
/// it is not sent again (502 code 1000); a read is.
#[tokio::test]
async fn a_write_whose_connection_broke_after_sending_is_not_resent() {
    for (path, form, resent) in [
        (CREATE, "groupId=rs&name=n&owner=o", false),
        (QUERY, "groupIds=x", true),
    ] {
        let dcs = primary_failing("", Fault::Reset, Some(1)).await;
        let a = post_form(&format!("{}{path}", dcs.gw.url()), form).await;
        assert_eq!(dcs.primary.requests().len(), 1);
        if resent {
            assert_eq!(a.json()["code"], 200, "{}", a.text());
            assert_eq!(dcs.backup.requests().len(), 1);
        } else {
            assert_eq!(a.status, 502, "{}", a.text());
            assert_eq!(a.json()["code"], 1000);
            assert!(
                dcs.backup.requests().is_empty(),
                "a write that may have arrived was sent twice"
            );
        }
    }
}

/// A data center that closes kept-alive connections as soon as it has
/// answered (as a server with a short idle timeout does). The gateway's
/// next write must not land on the closed connection and fail: hyper sees
/// the close before writing (or hands the unwritten request back, and it is
/// sent on another connection). Each write reaches the vendor exactly once.
#[tokio::test]
async fn a_data_center_closing_idle_connections_costs_no_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let _upstream = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // One whole request: the head, then Content-Length bytes.
            let complete = |got: &[u8]| {
                let text = String::from_utf8_lossy(got);
                let Some(end) = text.find("\r\n\r\n") else {
                    return false;
                };
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                got.len() >= end + 4 + len
            };
            while !complete(&got) {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"code":200}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
            drop(s); // no "Connection: close": the client thinks it may reuse it
            let _ = closed_tx.send(got);
        }
    });
    let gw = start_gateway(&config_text(&[url], "", "")).await;
    // Back to back, so that a write often follows the close closely.
    const WRITES: usize = 50;
    for i in 0..WRITES {
        let a = within(
            "a write",
            post_create(&gw, &format!("groupId=k{i}&name=n&owner=o")),
        )
        .await;
        assert_eq!(a.status, 200, "write {i}: {}", a.text());
    }
    let mut seen = Vec::new();
    for _ in 0..WRITES {
        let got = within("the upstream to close", closed.recv())
            .await
            .unwrap();
        seen.push(String::from_utf8_lossy(&got).into_owned());
    }
    for i in 0..WRITES {
        let id = format!("groupId=k{i}&");
        assert_eq!(
            seen.iter().filter(|r| r.contains(&id)).count(),
            1,
            "write {i}"
        );
    }
    assert!(closed.try_recv().is_err(), "a write was sent twice");
}

/// A data center answering 413 is answering. Its answer
/// goes back unchanged (docs/entrust-face.md: the vendor's status and
/// body come back), nothing is resent, and it stays in service.
#[tokio::test]
async fn a_data_center_answering_413_stays_in_service() {
    let dcs = primary_failing("", Fault::Code(1005, 413), Some(1)).await;
    let a = post_create(&dcs.gw, "groupId=t4&name=n&owner=o").await;
    assert_eq!(a.status, 413, "{}", a.text());
    assert_eq!(a.json()["code"], 1005);
    assert!(dcs.backup.requests().is_empty());
    assert_eq!(dcs.gw.app.vendor().upstream().active(), 0);
    let r = get(&format!("{}/readyz", dcs.gw.url())).await;
    assert_eq!(r.status, 200, "{}", r.text());
}
