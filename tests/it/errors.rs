//! How the gateway's own errors look (docs/entrust-face.md, "Errors"): `Allow` per face,
//! one `Retry-After` rule, the gateway's own failures as 5xx; bad input and
//! upstream faults on the entrust face each get a clear error in the
//! caller's dialect, never reach the vendor, and leave the gateway healthy
//! with nothing stuck in flight. (The OpenIM face's half: `openim::hardening`.)

use std::time::Duration;

use crate::common::*;
use entrust_gateway::allowlist::EntrustPath;
use entrust_gateway::error::Error;
use entrust_gateway::sim::{Fault, FaultRule};
use http::{Method, header};

/// A request to send: method, URL, headers, body.
type Req<'a> = (Method, String, Vec<(&'a str, &'a str)>, Vec<u8>);
/// A request and the status and code it must get.
type Case<'a> = (Method, String, Vec<(&'a str, &'a str)>, Vec<u8>, u16, i64);

/// RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" listing the
/// target resource's methods. The probes serve GET and HEAD
/// (docs/operations.md, "Probes"); the entrust and OpenIM faces serve POST.
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
/// an EntrustPath, which only the allowlist makes. Were one to fail to build anyway, it is the gateway's own failure (500), not
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

#[tokio::test]
async fn bad_input_on_the_entrust_face() {
    let env = Env::start().await;
    let url = env.url(CREATE);
    let cases: Vec<Case> = vec![
        (Method::GET, url.clone(), vec![], vec![], 405, 1002),
        (
            Method::PUT,
            url.clone(),
            vec![FORM],
            b"groupId=a".to_vec(),
            405,
            1002,
        ),
        (Method::DELETE, url.clone(), vec![], vec![], 405, 1002),
        (
            Method::POST,
            url.clone(),
            vec![],
            b"groupId=a&name=n&owner=o".to_vec(),
            400,
            1003,
        ),
        (
            Method::POST,
            url.clone(),
            vec![("content-type", "application/json")],
            br#"{"groupId":"a"}"#.to_vec(),
            400,
            1003,
        ),
        (Method::POST, url.clone(), vec![FORM], vec![], 400, 1003),
        (
            Method::POST,
            url.clone(),
            vec![FORM],
            b"groupId=\xff\xfe&name=n".to_vec(),
            400,
            1002,
        ),
        (
            Method::POST,
            url.clone(),
            vec![FORM],
            b"groupId=%zz&name=n".to_vec(),
            400,
            1002,
        ),
        (
            Method::POST,
            url.clone(),
            vec![FORM],
            b"groupId=%4".to_vec(),
            400,
            1002,
        ),
        (
            Method::POST,
            env.url("/entrust/group/create.json%00"),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
        (
            Method::POST,
            env.url("/entrust/group%2fcreate.json"),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
        (
            Method::POST,
            env.url("/entrust/group/%2e%2e/%2e%2e/user/getToken.json"),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
        (
            Method::POST,
            env.url("/entrust/./group/create.json"),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
        (
            Method::POST,
            env.url(&format!("/entrust/{}.json", "a".repeat(5000))),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
        (
            Method::POST,
            env.url("/nope"),
            vec![FORM],
            b"a=1".to_vec(),
            404,
            404,
        ),
    ];
    for (method, url, headers, body, status, code) in cases {
        let a = send(method.clone(), &url, &headers, body.clone()).await;
        let what = format!(
            "{method} {} {:?}",
            &url[..url.len().min(80)],
            String::from_utf8_lossy(&body)
        );
        assert_eq!(a.status.as_u16(), status, "{what}: {}", a.text());
        assert_eq!(a.json()["code"], code, "{what}");
        assert!(
            a.json()["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(a.headers.contains_key("x-request-id"));
    }
    // Duplicate keys are legal in forms (arrays as repeated keys): forwarded.
    let a = send(
        Method::POST,
        &url,
        &[FORM],
        "groupId=a1&name=n&owner=o&userIds=x&userIds=y",
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    assert_eq!(
        env.sim.requests().len(),
        1,
        "only the valid request reached the vendor"
    );
    healthy(&env).await;
}

// Header values outside visible ASCII and tab (RFC 9110 §5.5) are refused
// in the caller's dialect; HTTP/1.1 needs exactly one Host (RFC 9112 §3.2:
// "a server MUST respond with a 400").
#[tokio::test]
async fn raw_bytes_in_headers_and_host_count_are_refused() {
    let env = Env::start().await;
    let body = "groupId=edgeg&name=n&owner=o";
    let form = "content-type: application/x-www-form-urlencoded";
    let mut bad_byte =
        format!("POST {CREATE} HTTP/1.1\r\nhost: gw\r\n{form}\r\nx-note: caf").into_bytes();
    bad_byte.extend_from_slice(b"\xc3\xa9\r\n");
    bad_byte.extend_from_slice(format!("content-length: {}\r\n\r\n{body}", body.len()).as_bytes());
    let no_host = format!(
        "POST {CREATE} HTTP/1.1\r\n{form}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let two_hosts = format!(
        "POST {CREATE} HTTP/1.1\r\nhost: a\r\nhost: b\r\n{form}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    for req in [bad_byte, no_host.into_bytes(), two_hosts.into_bytes()] {
        let got = raw_exchange(env.gw.addr, &req).await;
        assert!(got.starts_with("HTTP/1.1 400"), "{got}");
        // The vendor's shape: code 1002 parameter error (reference/entrust-api.md
        // "Status codes").
        assert!(got.contains("\"code\":1002"), "{got}");
    }
    // OpenIM's dialect: errCode 1001 ArgsError.
    let req = b"POST /group/get_groups_info HTTP/1.1\r\nhost: gw\r\noperationID: op\xff1\r\ncontent-length: 2\r\n\r\n{}".to_vec();
    let got = raw_exchange(env.gw.addr, &req).await;
    assert!(got.contains("\"errCode\":1001"), "{got}");
    assert!(env.sim.requests().is_empty());
}

#[tokio::test]
async fn upstream_faults_get_clear_errors_and_leave_nothing_in_flight() {
    let _serial = heavy().await;
    let env = Env::start_with("timeout_ms = 500\nmax_response_bytes = 65536", "").await;
    let (sim, gw) = (&env.sim, &env.gw);
    let env_url = |p: &str| env.url(p);
    let cases: Vec<(Fault, u16, Option<i64>)> = vec![
        (Fault::Reset, 502, Some(1000)),
        (Fault::Hang, 504, Some(1050)),
        (Fault::Truncated, 502, Some(1000)),
        (Fault::HugeBody(1024 * 1024), 502, Some(1000)),
        (Fault::Trickle(Duration::from_millis(100)), 504, Some(1050)),
        // A non-JSON answer is the vendor's: passed through unchanged.
        (Fault::NonJson, 200, None),
        // Last: it holds the path back for upstream_backoff_ms.
        (Fault::Code(1008, 429), 429, Some(1008)),
    ];
    for (fault, status, code) in cases {
        sim.clear_faults();
        sim.inject(FaultRule {
            path: None,
            fault: fault.clone(),
            times: Some(1),
        });
        let a = post_form(&env_url(CREATE), "groupId=f&name=n&owner=o").await;
        assert_eq!(a.status.as_u16(), status, "{fault:?}: {}", a.text());
        match code {
            Some(c) => assert_eq!(a.json()["code"], c, "{fault:?}"),
            None => assert!(
                a.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            ),
        }
    }
    let h = get(&env_url("/healthz")).await;
    assert_eq!(h.status, 200);
    let m = metrics(gw).await;
    assert_eq!(
        sample(&m, IN_FLIGHT, &[]),
        Some(1.0),
        "only the scrape itself in flight:\n{m}"
    );
}

/// README "Errors (entrust face)": 502 code 1000 when "no data center could
/// be reached", 504 code 1050 when "the vendor did not answer within
/// `upstream.timeout_ms`". A data center whose TLS handshake stalls, with
/// `timeout_ms` shorter than `connect_timeout_ms`, was never reached: the
/// request never left the gateway (README "Failover": "timeout before the
/// request got a connection (never sent)"), so it is a 502.
#[tokio::test]
async fn a_data_center_not_reached_within_timeout_ms_is_502_not_504() {
    let (stalled, mut arrived, _task) = silent_upstream().await;
    let gw = start_gateway(&config_text(
        &[format!("https://{stalled}")],
        "timeout_ms = 300\nconnect_timeout_ms = 10000",
        "",
    ))
    .await;
    let a = post_form(&format!("{}{CREATE}", gw.url()), "groupId=t&name=n&owner=o").await;
    assert_eq!(a.status, 502, "{}", a.text());
    assert_eq!(a.json()["code"], 1000);
    assert!(
        a.text().contains("no connection within 300 ms"),
        "{}",
        a.text()
    );
    // All that reached it was the start of a TLS handshake (a record of
    // type 22, RFC 8446 §5.1), no request.
    let hello = within("the TLS hello", arrived.recv()).await;
    assert_eq!(hello.and_then(|h| h.first().copied()), Some(22));
}

#[tokio::test]
async fn thousands_of_bad_requests_leave_the_gateway_healthy_and_flat() {
    let _serial = heavy().await;
    let env = Env::start().await;
    let gw = env.gw.url();
    let bad: Vec<Req> = vec![
        (Method::GET, format!("{gw}{CREATE}"), vec![], vec![]),
        (
            Method::POST,
            format!("{gw}/entrust/../user/getToken.json"),
            vec![FORM],
            b"a=1".to_vec(),
        ),
        (
            Method::POST,
            format!("{gw}{CREATE}"),
            vec![("content-type", "text/plain")],
            b"x".to_vec(),
        ),
        (
            Method::POST,
            format!("{gw}{CREATE}"),
            vec![FORM],
            b"\xff\xff".to_vec(),
        ),
        (Method::POST, format!("{gw}{CREATE}"), vec![FORM], vec![]),
        (
            Method::POST,
            format!("{gw}/user/getToken.json"),
            vec![FORM],
            b"userId=u".to_vec(),
        ),
        (
            Method::POST,
            format!("{gw}{CREATE}"),
            vec![FORM],
            vec![b'a'; 5 * 1024 * 1024],
        ),
    ];
    let mut after_warmup = 0;
    for round in 0..3000usize {
        let (m, u, h, b) = &bad[round % bad.len()];
        let a = send(m.clone(), u, h, b.clone()).await;
        assert!(a.status.is_client_error(), "{m} {u}: {}", a.status);
        if round == 500 {
            after_warmup = rss_kib();
        }
    }
    let grown_kib = rss_kib().saturating_sub(after_warmup);
    assert!(
        env.sim.requests().is_empty(),
        "a bad request reached the vendor"
    );
    assert_eq!(in_flight(&env).await, 0);
    healthy(&env).await;
    // Memory is flat: no per-request leak (test process included, so a loose bound).
    assert!(
        grown_kib < 16 * 1024,
        "RSS grew {grown_kib} KiB over 2500 bad requests"
    );
}
