//! The /entrust passthrough face: signing, byte-exact forwarding, which
//! headers go each way, which paths are forwarded. Every forwarded request
//! is verified by the simulator.

use std::collections::BTreeSet;

use crate::common::*;
use entrust_gateway::sign::signature;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn forwards_signed_and_the_simulator_accepts() {
    let env = Env::start().await;
    let a = post_form(
        &env.url(CREATE),
        "groupId=g1&name=Group&owner=alice&userIds=bob,carol",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["code"], 200);
    let g = env.sim.group("g1").expect("group created upstream");
    assert_eq!(g.owner, "alice");
    let reqs = env.sim.requests();
    assert_eq!(reqs.len(), 1);
    let h = &reqs[0].headers;
    assert_eq!(h["app-key"], APP_KEY);
    let (nonce, ts) = (
        h["nonce"].to_str().unwrap(),
        h["timestamp"].to_str().unwrap(),
    );
    // Exactly 18: the vendor's limit (reference/entrust-api.md, Nonce), and
    // the signer always fills it (a shorter nonce means a lost digit).
    assert_eq!(nonce.len(), 18, "{nonce}");
    assert_eq!(ts.len(), 13, "timestamp in milliseconds");
    assert_eq!(h["signature"], signature(APP_SECRET, nonce, ts).as_str());
    // One Host, the data center's (as hyper-util's client wrote it: host
    // and non-default port), never the caller's (the gateway's address).
    let upstream = env.sim_server.url();
    let host = upstream.trim_start_matches("http://").trim_end_matches('/');
    assert_eq!(h.get_all("host").iter().count(), 1);
    assert_eq!(h["host"], host);
}

#[tokio::test]
async fn caller_signing_headers_are_replaced() {
    let env = Env::start().await;
    let forged = [
        ("App-Key", "evil"),
        ("Nonce", "1"),
        ("Timestamp", "1408710653000"),
        ("Signature", "30be0bbca9c9b2e27578701e9fda2358a814c88f"),
        ("RC-App-Key", "evil"),
        ("RC-Nonce", "1"),
        ("RC-Timestamp", "1"),
        ("RC-Signature", "forged"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let a = send(
        Method::POST,
        &env.url(CREATE),
        &forged,
        "groupId=g2&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let h = &env.sim.requests()[0].headers;
    assert_eq!(h["app-key"], APP_KEY);
    assert_eq!(h.get_all("signature").iter().count(), 1);
    assert_ne!(h["signature"], "30be0bbca9c9b2e27578701e9fda2358a814c88f");
    for alias in ["rc-app-key", "rc-nonce", "rc-timestamp", "rc-signature"] {
        assert!(h.get(alias).is_none(), "{alias} forwarded");
    }
}

#[tokio::test]
async fn nonces_never_repeat_across_many_requests() {
    let env = Env::start_with("", "[rate_limit]\nenabled = false").await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let url = env.url("/entrust/group/profile/query.json");
        tasks.push(tokio::spawn(async move {
            post_form(&url, &format!("groupIds=g{i}")).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().json()["code"], 200);
    }
    let mut nonces: Vec<String> = env
        .sim
        .requests()
        .iter()
        .map(|r| r.headers["nonce"].to_str().unwrap().to_string())
        .collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 60);
}

#[tokio::test]
async fn bodies_are_forwarded_byte_exact() {
    let _serial = heavy().await;
    // The default max_body_bytes (128 KiB) is what the vendor's largest call
    // can need; this test raises it to send the simulator's own largest body.
    let env = Env::start_with_server("max_body_bytes = 1048576", "", "").await;
    // Non-ASCII, percent-encoded and raw UTF-8 both, and a 1 MiB body.
    let small = "groupId=g%E4%B8%AD&name=%F0%9F%98%80+x&owner=\u{4e2d}\u{6587}&extra=a%26b%3Dc";
    // Exactly 1 MiB in all: the vendor's (and the simulator's) largest body.
    let prefix = "groupId=big&groupProfile=";
    let big = format!("{prefix}{}", "x".repeat(1024 * 1024 - prefix.len()));
    for body in [small.to_string(), big] {
        env.sim.clear_requests();
        let a = post_form(&env.url("/entrust/group/profile/update.json"), &body).await;
        assert!(a.status.as_u16() < 500, "{}", a.status);
        let got = &env.sim.requests()[0].body;
        assert_eq!(got.len(), body.len());
        assert!(got == body.as_bytes(), "body changed on the way");
    }
}

#[tokio::test]
async fn query_string_and_content_type_are_forwarded() {
    let env = Env::start().await;
    let a = send(
        Method::POST,
        &env.url("/entrust/group/profile/query.json?trace=1&x=%20y"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )],
        "groupIds=a",
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    let r = &env.sim.requests()[0];
    assert_eq!(r.path, "/entrust/group/profile/query.json");
    assert_eq!(r.query.as_deref(), Some("trace=1&x=%20y"));
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded; charset=UTF-8"
    );
}

/// Of the caller's Content-Type only the media type and its charset reach
/// the vendor: any other parameter (a stray `boundary`, half quoted) is
/// not the vendor's to read, and a form has none.
#[tokio::test]
async fn content_type_parameters_other_than_charset_stay_behind() {
    let env = Env::start().await;
    let a = send(
        Method::POST,
        &env.url("/entrust/group/profile/query.json"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded; boundary=\"x; charset=utf-8",
        )],
        "groupIds=a",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = &env.sim.requests()[0];
    assert_eq!(
        r.headers.get_all("content-type").iter().collect::<Vec<_>>(),
        ["application/x-www-form-urlencoded; charset=utf-8"]
    );
}

#[tokio::test]
async fn upstream_status_content_type_and_body_come_back_unchanged() {
    let env = Env::start().await;
    post_form(&env.url(CREATE), "groupId=dup&name=n&owner=o").await;
    let a = post_form(&env.url(CREATE), "groupId=dup&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 25409);
    let r = env.sim.requests();
    assert_eq!(a.status.as_u16(), r[1].status);
    assert_eq!(a.headers["content-type"], "application/json; charset=utf-8");
    // An upstream 401 (e.g. wrong credentials) is passed through as such.
    env.sim.inject(entrust_gateway::sim::FaultRule {
        path: None,
        fault: entrust_gateway::sim::Fault::Code(1004, 401),
        times: Some(1),
    });
    let a = post_form(&env.url(CREATE), "groupId=x&name=n&owner=o").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["code"], 1004);
}

#[tokio::test]
async fn request_id_is_kept_when_safe_generated_otherwise_and_echoed() {
    let env = Env::start().await;
    let url = env.url("/entrust/group/profile/query.json");
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let a = send(
        Method::POST,
        &url,
        &[ct, ("x-request-id", "req-123_abc")],
        "groupIds=a",
    )
    .await;
    assert_eq!(a.headers["x-request-id"], "req-123_abc");
    assert_eq!(env.sim.requests()[0].headers["x-request-id"], "req-123_abc");

    let unsafe_id = "has spaces and/slashes";
    let a = send(
        Method::POST,
        &url,
        &[ct, ("x-request-id", unsafe_id)],
        "groupIds=a",
    )
    .await;
    let echoed = a.headers["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(echoed, unsafe_id);
    assert_eq!(echoed.len(), 32);
    assert_eq!(
        env.sim.requests()[1].headers["x-request-id"],
        echoed.as_str()
    );

    let a = send(Method::POST, &url, &[ct], "groupIds=a").await;
    assert_eq!(
        a.headers["x-request-id"],
        env.sim.requests()[2].headers["x-request-id"]
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let env = Env::start().await;
    let a = post_form_at(
        &env,
        QUERY,
        &[
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "secret-ish"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("authorization", "Bearer for-the-gateway"),
            ("x-end-to-end", "kept"),
        ],
        "groupIds=a",
    )
    .await;
    assert_eq!(a.json()["code"], 200);
    let h = &env.sim.requests()[0].headers;
    for gone in [
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "te",
        "authorization",
        // Only the allowlist reaches the vendor.
        "x-end-to-end",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded");
    }
}

// RFC 9110 §7.6.1: Connection names hop-by-hop fields only, so the
// Content-Type the form check passed still reaches the vendor.
#[tokio::test]
async fn connection_cannot_remove_a_checked_header() {
    let env = Env::start().await;
    let connection = ("connection", "content-type, content-length, x-request-id");
    let a = post_form_at(&env, CREATE, &[connection], "groupId=edgee&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let r = &env.sim.requests()[0];
    assert_eq!(
        r.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
}

// Only what the vendor documents (reference/entrust-api.md
// "Signing (every request)": App-Key, Nonce, Timestamp, Signature, optional
// X-Request-ID, a form body) reaches it.
#[tokio::test]
async fn only_allowlisted_headers_reach_the_vendor() {
    let env = Env::start().await;
    let a = post_form_at(
        &env,
        CREATE,
        &[
            ("x-original-url", "/user/getToken.json"),
            ("x-rewrite-url", "/user/getToken.json"),
            ("x-http-method-override", "GET"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-host", "evil"),
            ("App_Key", "other"),
            ("RC_Signature", "0"),
            ("token", "t"),
            ("accept-encoding", "gzip"),
            ("cookie", "a=b"),
            ("x-request-id", "edge-f-1"),
        ],
        "groupId=edgef&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let got: BTreeSet<String> = env.sim.requests()[0]
        .headers
        .keys()
        .map(|k| k.to_string())
        .collect();
    let allowed: BTreeSet<String> = [
        "host",
        "content-type",
        "content-length",
        "x-request-id",
        "app-key",
        "nonce",
        "timestamp",
        "signature",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(got.is_subset(&allowed), "{:?}", got.difference(&allowed));
}

// The response direction: hop-by-hop headers in the vendor's answer (RFC
// 9110 §7.6.1), including any its Connection names, never reach the caller.
#[tokio::test]
async fn hop_by_hop_headers_from_the_vendor_are_stripped() {
    let vendor = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor_url = format!("http://{}", vendor.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = vendor.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and the body the Content-Length announces.
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break;
                        }
                    }
                }
                let body = r#"{"code":200}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: x-vendor-private\r\nx-vendor-private: 1\r\nkeep-alive: timeout=5\r\nproxy-connection: keep-alive\r\nproxy-authenticate: Basic\r\nupgrade: h2c\r\nx-vendor-kept: 1\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    let gw = start_gateway(&config_text(&[vendor_url], "", "")).await;
    let a = post_create(&gw, "groupId=edgeh&name=n&owner=o").await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    for gone in [
        "x-vendor-private",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "upgrade",
    ] {
        assert!(
            !a.headers.contains_key(gone),
            "{gone} reached the caller: {:?}",
            a.headers
        );
    }
    assert_eq!(a.headers["x-vendor-kept"], "1");
}

#[tokio::test]
async fn paths_outside_entrust_json_are_refused_and_never_forwarded() {
    let env = Env::start().await;
    let gw = env.gw.url();
    for path in [
        "/user/getToken.json",
        "/entrust/../user/getToken.json",
        "/entrust/group/..%2F..%2Fuser/getToken.json",
        "/entrust//group/create.json",
        "/entrust/group/%2e%2e/create.json",
        "/entrust/group/create",
        "/entrust/group/create.json.bak",
        "/message/private/publish.json",
        "/",
    ] {
        let a = post_form(&format!("{gw}{path}"), "groupId=x&name=n&owner=o").await;
        assert_eq!(a.status, 404, "{path}: {}", a.text());
        assert_eq!(a.json()["code"], 404, "{path}");
        assert!(
            a.json()["errorMessage"]
                .as_str()
                .unwrap()
                .contains("not served")
        );
    }
    let long = format!("{gw}/entrust/{}.json", "a/".repeat(200));
    assert_eq!(post_form(&long, "").await.status, 404);
    let a = send(Method::GET, &env.url(CREATE), &[], "").await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");
    assert!(
        env.sim.requests().is_empty(),
        "a refused request reached the vendor"
    );
}

// reference/entrust-api.md "Endpoints under /entrust/": the 23
// documented paths; anything else is 404 without a vendor call, so junk
// paths never share (and starve) a quota with documented ones.
#[tokio::test]
async fn only_documented_and_configured_paths_are_forwarded() {
    let extra_path = "extra_entrust_paths = [\"/entrust/group/newer/thing.json\"]";
    let env = Env::start_with_server(extra_path, "", "").await;
    let (sim, gw) = (&env.sim, &env.gw);
    let c = client();
    for i in 0..600 {
        let a = send_with(
            &c,
            Method::POST,
            &format!("{}/entrust/group/invented{i}.json", gw.url()),
            &[FORM],
            "groupId=x",
        )
        .await;
        assert_eq!(a.status, 404);
        assert_eq!(a.json()["code"], 404);
    }
    assert!(
        sim.requests().is_empty(),
        "an invented path was signed and sent"
    );
    for i in 0..10 {
        let a = send_with(
            &c,
            Method::POST,
            &format!("{}{CREATE}", gw.url()),
            &[FORM],
            format!("groupId=edgec{i}&name=n&owner=o"),
        )
        .await;
        assert_eq!(a.json()["code"], 200, "{}", a.text());
    }
    // A configured extra path is forwarded (the simulator has no such
    // endpoint and answers for itself).
    let a = post_form(
        &format!("{}/entrust/group/newer/thing.json", gw.url()),
        "x=1",
    )
    .await;
    // The simulator's own answer for a path it does not know.
    assert!(a.text().contains("no such API"), "{}", a.text());
    assert_eq!(
        sim.requests().last().unwrap().path,
        "/entrust/group/newer/thing.json"
    );
}

/// The vendor's legacy group mute paths are forwarded as they are, signed,
/// each with its own quota series; the simulator answers them with the
/// shapes the Go SDK (`sdk/group.go`) sends and reads: GroupMuteMembersAdd
/// (`groupId`, `userId` repeated, `minute`), GroupMuteMembersGetList
/// (`users[{userId, time}]`), GroupMuteMembersRemove,
/// GroupMuteAllMembersAdd/Remove (`groupId` repeated),
/// GroupMuteAllMembersGetList (`groupinfo[{groupId, stat}]`). Other
/// `/group/....json` paths are not forwarded.
#[tokio::test]
async fn the_legacy_group_mute_paths_are_forwarded() {
    use entrust_gateway::entrust::path;
    let env = Env::start().await;
    let ok = |a: &Answer| {
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["code"], 200, "{}", a.text());
        a.json()
    };
    ok(&post_form_at(&env, CREATE, &[], "groupId=lg1&name=n&owner=o&userIds=a,b").await);
    ok(&post_form_at(
        &env,
        path::GAG_ADD,
        &[],
        "groupId=lg1&userId=a&userId=b&minute=10",
    )
    .await);
    let v = ok(&post_form_at(&env, path::GAG_LIST, &[], "groupId=lg1").await);
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["a", "b"]);
    // `time`: when the mute ends, `YYYY-MM-DD HH:MM:SS`.
    assert_eq!(v["users"][0]["time"].as_str().unwrap().len(), 19, "{v}");
    ok(&post_form_at(&env, path::GAG_ROLLBACK, &[], "groupId=lg1&userId=a").await);
    assert_eq!(env.sim.group("lg1").unwrap().muted, ["b"]);
    ok(&post_form_at(&env, path::BAN_ADD, &[], "groupId=lg1").await);
    let v = ok(&post_form_at(&env, path::BAN_QUERY, &[], "groupId=lg1").await);
    assert_eq!(
        v["groupinfo"],
        serde_json::json!([{"groupId": "lg1", "stat": 1}])
    );
    ok(&post_form_at(&env, path::BAN_ROLLBACK, &[], "groupId=lg1").await);
    assert!(!env.sim.group("lg1").unwrap().frozen);
    // The SDK refuses minute 0; so does the vendor (1002).
    let a = post_form_at(&env, path::GAG_ADD, &[], "groupId=lg1&userId=a&minute=0").await;
    assert_eq!(a.json()["code"], 1002, "{}", a.text());
    for p in entrust_gateway::entrust::path::LEGACY_MUTE {
        assert!(env.sim.accepted(p) >= 1, "{p}");
    }
    // Not a forwarded path: the entrust face's 404, nothing sent.
    env.sim.clear_requests();
    let a = post_form_at(
        &env,
        "/group/user/ban/whitelist/add.json",
        &[],
        "groupId=lg1",
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.text());
    assert!(env.sim.requests().is_empty());
}
