//! The v4 (Nexconn) face: `POST /v4/group-channel/*` with JSON bodies,
//! forwarded signed, held to each path's quota, bad input refused in v4's
//! shape before any vendor call. Expected answers cite
//! `../shared/reference/nexconn-v4-group-api.md` ("§n").

use std::time::{Duration, Instant};

use http::Method;

use crate::common::*;
use entrust_gateway::sim::{Fault, FaultRule, SimConfig, Simulator};
use entrust_gateway::v4::path as v4;

/// §1: requests are `application/json`.
const JSON: (&str, &str) = ("content-type", "application/json");

async fn post_json(url: &str, body: impl Into<bytes::Bytes>) -> Answer {
    send(Method::POST, url, &[JSON], body).await
}

/// A v4 error answer (§3: `{"code":N,"errorMessage":"…"}`, no `msg`).
fn assert_v4_error(a: &Answer, status: u16, code: i64, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.text());
    let v = a.json();
    assert_eq!(v["code"], code, "{what}: {v}");
    assert!(v["errorMessage"].is_string(), "{what}: {v}");
    assert_eq!(v.as_object().map(|o| o.len()), Some(2), "{what}: {v}");
}

/// Every bad input gets v4's 1002 (§3 "Invalid parameter") with HTTP 400,
/// and the vendor sees no call.
#[tokio::test]
async fn bad_v4_input_is_refused_in_v4_shape_without_a_vendor_call() {
    let env = Env::start_with_server("max_body_bytes = 2097152", "", "").await;
    let create = env.url(v4::CREATE);
    let mut deep = String::from("{\"channelId\":\"g1\",\"name\":\"n\",\"owner\":\"o\",\"x\":");
    deep.push_str(&"[".repeat(10_000));
    deep.push_str(&"]".repeat(10_000));
    deep.push('}');
    while deep.len() < 1 << 20 {
        deep.push(' ');
    }
    let ids = |n: usize| {
        let v: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
        serde_json::to_string(&v).unwrap()
    };
    let form = ("content-type", "application/x-www-form-urlencoded");
    let cases: Vec<(&str, &str, (&str, &str), String)> = vec![
        // §1: a JSON body, not a form.
        (
            "form body",
            v4::CREATE,
            form,
            "channelId=g1&name=n&owner=o".into(),
        ),
        (
            "text/plain",
            v4::CREATE,
            ("content-type", "text/plain"),
            "{}".into(),
        ),
        ("empty body", v4::DISMISS, JSON, "".into()),
        ("not JSON", v4::DISMISS, JSON, "{channelId: g1}".into()),
        ("an array", v4::DISMISS, JSON, "[\"g1\"]".into()),
        ("a string", v4::DISMISS, JSON, "\"g1\"".into()),
        // The vendor and the gateway could read different values.
        (
            "duplicate key",
            v4::DISMISS,
            JSON,
            r#"{"channelId":"g1","channelId":"g2"}"#.into(),
        ),
        ("deep nesting", v4::CREATE, JSON, deep),
        // §7.1 required fields and types; §6 channelId rules.
        (
            "missing owner",
            v4::CREATE,
            JSON,
            r#"{"channelId":"g1","name":"n"}"#.into(),
        ),
        (
            "channelId a number",
            v4::DISMISS,
            JSON,
            r#"{"channelId":1}"#.into(),
        ),
        (
            "channelId with _",
            v4::DISMISS,
            JSON,
            r#"{"channelId":"g_1"}"#.into(),
        ),
        (
            "channelId of 65",
            v4::DISMISS,
            JSON,
            format!(r#"{{"channelId":"{}"}}"#, "a".repeat(65)),
        ),
        (
            "name of 65",
            v4::CREATE,
            JSON,
            format!(
                r#"{{"channelId":"g1","name":"{}","owner":"o"}}"#,
                "n".repeat(65)
            ),
        ),
        // §7.1: 30 invitees; §7.8: 100 joiners.
        (
            "31 invitees",
            v4::CREATE,
            JSON,
            format!(
                r#"{{"channelId":"g1","name":"n","owner":"o","userIds":{}}}"#,
                ids(31)
            ),
        ),
        (
            "101 joiners",
            v4::JOIN,
            JSON,
            format!(r#"{{"channelId":"g1","userIds":{}}}"#, ids(101)),
        ),
        (
            "userIds a string",
            v4::JOIN,
            JSON,
            r#"{"channelId":"g1","userIds":"u1"}"#.into(),
        ),
        // §6 groupExtProfile keys start with ext_.
        (
            "ext key",
            v4::PROFILE_UPDATE,
            JSON,
            r#"{"channelId":"g1","groupExtProfile":{"k":"v"}}"#.into(),
        ),
        // §4: member/list pageSize 1-100; list up to 1000.
        (
            "pageSize 101",
            v4::MEMBER_LIST,
            JSON,
            r#"{"channelId":"g1","pageSize":101}"#.into(),
        ),
        (
            "pageSize 1001",
            v4::LIST,
            JSON,
            r#"{"pageSize":1001}"#.into(),
        ),
        // §7.M: durationMinutes at most 43200.
        (
            "mute too long",
            v4::MUTE_LIST_ADD,
            JSON,
            r#"{"userIds":["u"],"durationMinutes":43201}"#.into(),
        ),
        // §7.4: 0/1 flags are integers.
        (
            "flag as bool",
            v4::TRANSFER_OWNER,
            JSON,
            r#"{"channelId":"g1","newOwner":"a","shouldLeave":true}"#.into(),
        ),
    ];
    for (what, path, ct, body) in cases {
        let a = send(Method::POST, &env.url(path), &[ct], body).await;
        assert_v4_error(&a, 400, 1002, what);
    }
    // §3 HTTP table: 404 "Endpoint does not exist", 405 "Method not
    // allowed"; a path outside the group API is not served either.
    for path in [
        "/v4/group-channel/invented",
        v4::MESSAGE_SEND,
        "/v4/group-channel/create/",
    ] {
        let a = post_json(&env.url(path), "{}").await;
        assert_v4_error(&a, 404, 404, path);
    }
    let a = send(Method::GET, &create, &[], "").await;
    assert_v4_error(&a, 405, 1002, "GET");
    assert_eq!(a.headers["allow"], "POST");
    // Larger than server.max_body_bytes: §3 1005 "Parameter too long".
    let a = post_json(&create, vec![b' '; 2_097_153]).await;
    assert_v4_error(&a, 413, 1005, "too big");
    assert!(
        env.sim.requests().is_empty(),
        "a refused request reached the vendor: {:?}",
        env.sim
            .requests()
            .iter()
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    // A valid body with unknown fields goes on (§7: unknown fields pass).
    let a = post_json(
        &create,
        r#"{"channelId":"badin1","name":"n","owner":"o","futureField":[1]}"#,
    )
    .await;
    assert_eq!(a.json()["code"], 0, "{}", a.text());
}

/// A JSON body on an entrust path keeps the entrust face's answer:
/// `reference/entrust-api.md` code 1003 ("no POST data"), HTTP 400, no call.
#[tokio::test]
async fn a_json_body_on_an_entrust_path_is_refused_in_entrust_shape() {
    let env = Env::start().await;
    let body = r#"{"groupId":"j1","name":"n","owner":"o"}"#;
    let a = post_json(&env.url(CREATE), body).await;
    assert_eq!(
        (a.status.as_u16(), a.json()["code"].as_i64()),
        (400, Some(1003)),
        "{}",
        a.text()
    );
    let a = send(Method::POST, &env.url(CREATE), &[FORM], body).await;
    assert_eq!(
        (a.status.as_u16(), a.json()["code"].as_i64()),
        (400, Some(1003)),
        "{}",
        a.text()
    );
    assert!(a.text().contains("/v4/"), "{}", a.text());
    assert!(env.sim.requests().is_empty());
}

/// §2: the gateway signs with a millisecond Timestamp and a Nonce of at
/// most 18 characters, which the strict simulator checks; the caller's
/// signing headers (plain and `RC-`) are replaced; its `X-Request-ID` goes
/// on when it has at most 36 characters, else the gateway makes one; the
/// caller's body bytes go on unchanged.
#[tokio::test]
async fn signed_in_milliseconds_accepted_by_the_strict_simulator() {
    let mut cfg = SimConfig::new(APP_KEY, APP_SECRET);
    cfg.strict = true;
    let (sim, sim_server) = Simulator::start(cfg).await.expect("simulator starts");
    let gw = start_gateway(&config_text(&[sim_server.url()], "", "")).await;
    let body =
        "{ \"channelId\" : \"sig1\", \"name\":\"n\",\"owner\":\"o\", \"later\": {\"k\": 1} }";
    let trace = "6f1c2d3e-0000-4000-8000-123456789abc";
    let forged = [
        JSON,
        ("x-request-id", trace),
        ("app-key", "other"),
        ("signature", "forged"),
        ("timestamp", "1"),
        ("nonce", "n"),
        ("rc-app-key", "other"),
        ("rc-signature", "forged"),
        ("rc-nonce", "n"),
        ("rc-timestamp", "1"),
    ];
    let a = send(
        Method::POST,
        &format!("{}{}", gw.url(), v4::CREATE),
        &forged,
        body,
    )
    .await;
    assert_eq!(a.json()["code"], 0, "{}", a.text());
    assert_eq!(a.headers["x-request-id"], trace);
    let r = sim.requests().pop().expect("the vendor saw the call");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.body,
        body.as_bytes(),
        "the caller's bytes go on unchanged"
    );
    let ts = r.headers["timestamp"].to_str().unwrap();
    assert_eq!(ts.len(), 13, "milliseconds (§2): {ts}");
    assert!(r.headers["nonce"].len() <= 18);
    assert_eq!(r.headers["app-key"], APP_KEY);
    for rc in ["rc-app-key", "rc-signature", "rc-nonce", "rc-timestamp"] {
        assert!(!r.headers.contains_key(rc), "{rc} reached the vendor");
    }
    assert_eq!(r.headers["x-request-id"], trace);
    // Too long an id for §2's 36 characters: replaced.
    let long = "x".repeat(40);
    let a = send(
        Method::POST,
        &format!("{}{}", gw.url(), v4::DISMISS),
        &[JSON, ("x-request-id", &long)],
        r#"{"channelId":"sig1"}"#,
    )
    .await;
    assert_eq!(a.json()["code"], 0, "{}", a.text());
    let r = sim.requests().pop().unwrap();
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert!(id.len() <= 36 && id != long, "{id}");
}

/// §5, §9.7: 100 requests a second per path. Flooded at ten times that,
/// the vendor never sees more than 100 in any one second on the path, and
/// the callers turned away get v4's 1008 with HTTP 429 and Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_one_v4_path_never_exceeds_its_quota() {
    let _serial = heavy().await;
    let isolated = on_own_runtimes(|_, rt| rt.block_on(Env::start()));
    let env: &Env = &isolated;
    flood(&[env.url(v4::PROFILE_LIST)], &env.sim, 150, "v4 flood").await;
}

/// The same with two gateways sharing the quota through Redis (as the
/// entrust paths do, docs/fleet.md): together they hold the path to 100
/// a second, and the vendor's 1008 on one holds the path back on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_a_v4_path_s_quota_and_its_hold() {
    let _serial = heavy().await;
    let redis = crate::common::redis_server::RedisServer::start();
    let extra = format!(
        "[rate_limit]\nupstream_backoff_ms = 60000\n[redis]\nurl = {:?}\n",
        redis.url()
    );
    let isolated = on_own_runtimes(move |_, rt| {
        rt.block_on(async {
            let (sim, sim_server) = start_sim().await;
            let text = config_text(&[sim_server.url()], "", &extra);
            let gws = [start_gateway(&text).await, start_gateway(&text).await];
            (sim, sim_server, gws)
        })
    });
    let (sim, _, gws) = &*isolated;
    // The quota is the fleet's once each gateway's /readyz says so.
    for g in gws {
        within("the shared quota", async {
            while get(&format!("{}/readyz", g.url())).await.json()["quota"] != "shared" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    sim.inject(FaultRule {
        path: Some(v4::JOIN.into()),
        fault: Fault::Code(1008, 429),
        times: Some(1),
    });
    let join = r#"{"channelId":"fleet1","userIds":["u1"]}"#;
    let a = post_json(&format!("{}{}", gws[0].url(), v4::JOIN), join).await;
    assert_v4_error(&a, 429, 1008, "the vendor's own answer");
    // The hold is written in the background: wait for it in Redis.
    let key = format!("entrust-gateway:{APP_KEY}:quota:{}", v4::JOIN);
    redis.hold_written(&key).await;
    let b = post_json(&format!("{}{}", gws[1].url(), v4::JOIN), join).await;
    assert_v4_error(&b, 429, 1008, "held back on the other gateway");
    assert_eq!(sim.requests().len(), 1, "a held path reached the vendor");

    sim.clear_requests();
    let urls: Vec<String> = gws
        .iter()
        .map(|g| format!("{}{}", g.url(), v4::PROFILE_LIST))
        .collect();
    // Only the bound is asserted here: the fleet's use of the quota on a
    // loaded machine is tests/it/fleet/quota.rs's subject.
    flood(&urls, sim, 1, "v4 fleet flood").await;
}

/// 1000 requests a second for 2 s on `urls` (in turn), in batches of 10
/// every 10 ms: each answer is the vendor's success or v4's 1008, and the
/// vendor sees at most 100 in any second, all successes.
/// At least `min_ok` must get through (the quota is used).
async fn flood(urls: &[String], sim: &Simulator, min_ok: usize, what: &str) {
    let client = client();
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    for i in 0..2000 {
        if i % 10 == 0 {
            tick.tick().await;
        }
        let (url, client) = (urls[i % urls.len()].clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            send_with(
                &client,
                Method::POST,
                &url,
                &[JSON],
                format!(r#"{{"channelIds":["f{i}"]}}"#),
            )
            .await
        }));
    }
    let offered = 2000.0 / started.elapsed().as_secs_f64();
    assert!(
        offered > 500.0,
        "the load generator fell behind: {offered:.0}/s"
    );
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let a = t.await.expect("caller task");
        match a.status.as_u16() {
            200 => {
                assert_eq!(a.json()["code"], 0);
                ok += 1;
            }
            429 => {
                assert_v4_error(&a, 429, 1008, "quota refusal");
                assert!(a.headers.contains_key("retry-after"));
                limited += 1;
            }
            s => panic!("unexpected status {s}: {}", a.text()),
        }
    }
    let reqs = sim.requests();
    let mut times: Vec<Instant> = reqs.iter().map(|r| r.at).collect();
    let max = max_in_any_second(&mut times);
    let codes: Vec<(u16, i64)> = reqs
        .iter()
        .filter(|r| r.code != 0)
        .map(|r| (r.status, r.code))
        .collect();
    assert!(
        codes.is_empty(),
        "the vendor itself refused {codes:?}; max/s {max}"
    );
    assert_eq!(ok + limited, 2000);
    assert_eq!(reqs.len(), ok);
    assert!(
        max <= 100,
        "{max} requests reached the vendor within one second"
    );
    assert!(ok >= min_ok, "the quota was barely used: {ok} in 2 s");
    eprintln!("{what}: {offered:.0}/s offered; {ok} ok, {limited} limited; max/s {max}");
}

/// §3, §9.7: the vendor's 1008 / HTTP 429 on a v4 path holds that path
/// back (as entrust's 1008 does): the next call is refused by the gateway
/// without reaching the vendor, and another path is not held.
#[tokio::test]
async fn the_vendor_s_rate_limit_holds_the_v4_path_back() {
    let env = Env::start_with("", "[rate_limit]\nupstream_backoff_ms = 60000").await;
    env.sim.inject(FaultRule {
        path: Some(v4::JOIN.into()),
        fault: Fault::Code(1008, 429),
        times: Some(1),
    });
    let join = r#"{"channelId":"held1","userIds":["u1"]}"#;
    let a = post_json(&env.url(v4::JOIN), join).await;
    assert_v4_error(&a, 429, 1008, "the vendor's own answer");
    let seen = env.sim.requests().len();
    let b = post_json(&env.url(v4::JOIN), join).await;
    assert_v4_error(&b, 429, 1008, "held back");
    assert!(b.headers.contains_key("retry-after"));
    assert_eq!(
        env.sim.requests().len(),
        seen,
        "a held path reached the vendor"
    );
    let c = post_json(&env.url(v4::DISMISS), r#"{"channelId":"held1"}"#).await;
    assert_ne!(c.status, 429, "{}", c.text());
}

/// `server.extra_v4_paths`: a configured path is forwarded (the simulator
/// does not know it and answers 404 itself, §3), an unknown one is not.
#[tokio::test]
async fn an_extra_v4_path_is_forwarded_an_unknown_one_is_not() {
    let extra = "/v4/group-channel/newer/thing";
    let env = Env::start_with_server(&format!("extra_v4_paths = [{extra:?}]"), "", "").await;
    let a = post_json(&env.url("/v4/group-channel/other/thing"), "{}").await;
    assert_v4_error(&a, 404, 404, "unknown");
    assert!(a.text().contains("not served"));
    assert!(env.sim.requests().is_empty());
    // Only a JSON object is asked of an extra path's body.
    let a = post_json(&env.url(extra), "[1]").await;
    assert_v4_error(&a, 400, 1002, "extra path, not an object");
    let a = post_json(&env.url(extra), r#"{"anything":1}"#).await;
    assert_eq!(a.status, 404, "the simulator's own answer: {}", a.text());
    let r = env.sim.requests().pop().expect("forwarded");
    assert_eq!(r.path, extra);
}

/// An `Idempotency-Key` on a v4 write: the retry is answered from the
/// first attempt, and the vendor sees the write once (without protection
/// the second create would be 25409 "Group ID already exists", §3).
#[tokio::test]
async fn an_idempotent_v4_write_reaches_the_vendor_once() {
    let env = Env::start().await;
    let body = r#"{"channelId":"idem1","name":"n","owner":"o"}"#;
    let headers = [JSON, (IDEMPOTENCY_KEY, "v4-key-1")];
    let a = send(Method::POST, &env.url(v4::CREATE), &headers, body).await;
    let b = send(Method::POST, &env.url(v4::CREATE), &headers, body).await;
    assert_eq!(a.json()["code"], 0, "{}", a.text());
    assert_eq!(b.json()["code"], 0, "{}", b.text());
    assert_eq!(b.headers["x-gateway-replayed"], "true");
    assert_eq!(env.sim.accepted(v4::CREATE), 1);
    // The same key on another body is a misuse (422), in v4's shape.
    let c = send(
        Method::POST,
        &env.url(v4::CREATE),
        &headers,
        r#"{"channelId":"idem2","name":"n","owner":"o"}"#,
    )
    .await;
    assert_v4_error(&c, 422, 1002, "key reused");
    // A new key is a new write, which the vendor refuses (§3: 25409).
    let d = send(
        Method::POST,
        &env.url(v4::CREATE),
        &[JSON, (IDEMPOTENCY_KEY, "v4-key-2")],
        body,
    )
    .await;
    assert_eq!(d.json()["code"], 25409, "{}", d.text());
}

/// The gateway's own errors on a v4 path are v4-shaped: an inbound
/// credential missing (401, 1004) and a vendor that does not answer in
/// time (504, 1050: §3 "Internal timeout").
#[tokio::test]
async fn auth_and_timeouts_answer_in_v4_shape() {
    let (sim, sim_server) = start_sim().await;
    let tokens = format!("auth_tokens_file = {:?}", tokens_file("v4-auth", "tok-A\n"));
    let gw = start_gateway(&config_with_server(&[sim_server.url()], &tokens, "", "")).await;
    let url = format!("{}{}", gw.url(), v4::DISMISS);
    let a = post_json(&url, r#"{"channelId":"a1"}"#).await;
    assert_v4_error(&a, 401, 1004, "no token");
    assert!(sim.requests().is_empty());
    let b = send(
        Method::POST,
        &url,
        &[JSON, ("authorization", "Bearer tok-A")],
        r#"{"channelId":"a1"}"#,
    )
    .await;
    assert_ne!(b.status, 401, "{}", b.text());

    let (stalled, _arrived, _task) = silent_upstream().await;
    let gw = start_gateway(&config_text(
        &[format!("http://{stalled}")],
        "timeout_ms = 300",
        "",
    ))
    .await;
    let a = post_json(
        &format!("{}{}", gw.url(), v4::DISMISS),
        r#"{"channelId":"t1"}"#,
    )
    .await;
    assert_v4_error(&a, 504, 1050, "timeout");
}

/// Metrics: every documented v4 path has its series from start-up, at
/// zero, and v4 answers are counted under face `v4`.
#[tokio::test]
async fn v4_paths_have_metric_series_from_start_up() {
    let env = Env::start().await;
    let m = metrics(&env.gw).await;
    for path in v4::DOCUMENTED {
        for needle in [
            format!(r#"entrust_gateway_limiter_wait_seconds_count{{path="{path}"}} 0"#),
            format!(
                r#"entrust_gateway_requests_total{{face="v4",route="{path}",status="200",app="default",caller="-"}} 0"#
            ),
        ] {
            assert!(m.contains(&needle), "missing {needle}");
        }
    }
    let a = post_json(&env.url(v4::DISMISS), r#"{"channelId":"m1"}"#).await;
    assert_eq!(
        a.status,
        400,
        "§3: 25410 group not found, HTTP 400: {}",
        a.text()
    );
    let m = metrics(&env.gw).await;
    let n = sample(
        &m,
        "entrust_gateway_upstream_duration_seconds_count",
        &[
            ("path", v4::DISMISS),
            ("data_center", &env.sim_server.url()),
        ],
    );
    assert_eq!(n, Some(1.0), "{m}");
}

/// v4 answers read in v4's terms (§3): 1050 "internal timeout" at HTTP 200
/// is not the vendor's final word, so a keyed retry is sent again; the
/// entrust service's own 25416 is no v4 code, so on a v4 path it is final
/// (replayed to a retry) and does not hold the path back.
#[tokio::test]
async fn keyed_v4_writes_keep_only_final_answers_in_v4_terms() {
    let env = Env::start().await;
    let create = env.url(v4::CREATE);
    let body = r#"{"channelId":"idem3","name":"n","owner":"o"}"#;
    env.sim.inject(FaultRule {
        path: Some(v4::CREATE.into()),
        fault: Fault::Code(1050, 200),
        times: Some(1),
    });
    let headers = [JSON, (IDEMPOTENCY_KEY, "v4-transient")];
    let a = send(Method::POST, &create, &headers, body).await;
    assert_eq!(a.json()["code"], 1050, "{}", a.text());
    let b = send(Method::POST, &create, &headers, body).await;
    assert_eq!(b.json()["code"], 0, "sent again: {}", b.text());
    assert!(!b.headers.contains_key("x-gateway-replayed"));

    let dismiss = env.url(v4::DISMISS);
    let body = r#"{"channelId":"idem3"}"#;
    env.sim.inject(FaultRule {
        path: Some(v4::DISMISS.into()),
        fault: Fault::Code(25416, 400),
        times: Some(1),
    });
    let headers = [JSON, (IDEMPOTENCY_KEY, "v4-final")];
    let c = send(Method::POST, &dismiss, &headers, body).await;
    assert_eq!(
        (c.status.as_u16(), c.json()["code"].as_i64()),
        (400, Some(25416))
    );
    let d = send(Method::POST, &dismiss, &headers, body).await;
    assert_eq!(d.json()["code"], 25416, "{}", d.text());
    assert_eq!(d.headers["x-gateway-replayed"], "true");
    let e = post_json(&dismiss, body).await;
    assert_eq!(e.json()["code"], 0, "not held back: {}", e.text());
}
