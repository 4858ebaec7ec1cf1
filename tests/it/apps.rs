//! Several vendor apps and several callers in one gateway: each caller's
//! token decides the app its calls are signed as; the apps' quotas are
//! independent; callers of one app share its quota by weight; tokens,
//! apps and callers change by reload without a restart.
//!
//! The vendor's limit is per app key and API: "Rate limit: 100 requests per
//! second" (../shared/seeds/entrust-group-create.txt line 15), and a call is
//! signed with its app's `App-Key` header (the same file, line 71; the
//! simulator's `src/sim/auth.rs` checks it and the signature against that
//! app's secret).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use entrust_gateway::config::Config;
use entrust_gateway::entrust::header::APP_KEY as APP_KEY_HEADER;
use entrust_gateway::server::ServerHandle;
use entrust_gateway::sim::{SimConfig, SimServer, Simulator};

use crate::common::redis_server::RedisServer;
use crate::common::*;

const B_KEY: &str = "second-app-key";
const B_SECRET: &str = "second-app-secret-Hd72";
const C_KEY: &str = "third-app-key";
const C_SECRET: &str = "third-app-secret-Pw40";

async fn sim_of_apps() -> (Simulator, SimServer) {
    Simulator::start(
        SimConfig::new(APP_KEY, APP_SECRET)
            .with_app(B_KEY, B_SECRET)
            .with_app(C_KEY, C_SECRET),
    )
    .await
    .expect("simulator starts")
}

/// Apps `a` (the common test app) and `b`; `extra` goes before them (whole
/// sections), `callers` after.
fn two_apps(url: &str, extra: &str, callers: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[upstream]\nurls = [{url:?}]\n\n{extra}\n\n\
         [[apps]]\nname = \"a\"\napp_key = \"{APP_KEY}\"\napp_secret = \"{APP_SECRET}\"\n\n\
         [[apps]]\nname = \"b\"\napp_key = \"{B_KEY}\"\napp_secret = \"{B_SECRET}\"\n\n{callers}\n"
    )
}

fn caller(name: &str, token: &str, app: &str, more: &str) -> String {
    format!("[[callers]]\nname = \"{name}\"\ntoken = {token}\napp = \"{app}\"\n{more}\n")
}

/// Three callers: x and y of app a, z of app b.
fn three_callers() -> String {
    [
        caller("x", "\"tok-x\"", "a", ""),
        caller("y", "\"tok-y\"", "a", ""),
        caller("z", "\"tok-z\"", "b", ""),
    ]
    .concat()
}

async fn create_as(gw: &ServerHandle, token: &str, group: &str) -> Answer {
    let auth = format!("Bearer {token}");
    send(
        http::Method::POST,
        &format!("{}{CREATE}", gw.url()),
        &[FORM, ("authorization", &auth)],
        format!("groupId={group}&name=n&owner=o"),
    )
    .await
}

async fn query_as(client: &HttpClient, gw: &str, token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    send_with(
        client,
        http::Method::POST,
        &format!("{gw}{QUERY}"),
        &[FORM, ("authorization", &auth)],
        "groupIds=g1",
    )
    .await
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// The app key the simulator saw on its last request.
fn last_app_key(sim: &Simulator) -> String {
    let r = sim.requests();
    let last = r.last().expect("a request reached the simulator");
    last.headers
        .get(APP_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn each_call_goes_out_signed_as_its_callers_app() {
    let (sim, s) = sim_of_apps().await;
    let gw = start_gateway(&two_apps(&s.url(), "", &three_callers())).await;
    for (token, key, group) in [
        ("tok-x", APP_KEY, "gx"),
        ("tok-y", APP_KEY, "gy"),
        ("tok-z", B_KEY, "gz"),
    ] {
        let a = create_as(&gw, token, group).await;
        // The simulator answers 200 only to a call signed with the secret of
        // the app its App-Key names (src/sim/auth.rs `verify`).
        assert_eq!(a.json()["code"], 200, "{token}: {}", a.text());
        assert_eq!(last_app_key(&sim), key, "{token}");
    }
    let before = sim.requests().len();
    // No token, or an unknown one: 401 in the vendor's shape, nothing sent.
    let none = send(
        http::Method::POST,
        &format!("{}{CREATE}", gw.url()),
        &[FORM],
        "groupId=g&name=n&owner=o",
    )
    .await;
    assert_eq!(none.status, 401, "{}", none.text());
    assert!(none.json()["code"].is_number(), "{}", none.text());
    let wrong = create_as(&gw, "tok-nobody", "gw").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    // On the OpenIM face: OpenIM's envelope (errCode), nothing sent.
    let openim = send(
        http::Method::POST,
        &format!("{}/group/get_groups_info", gw.url()),
        &[("operationID", "op1"), ("content-type", "application/json")],
        r#"{"groupIDs":["gx"]}"#,
    )
    .await;
    assert!(
        openim.json()["errCode"].as_i64().is_some_and(|c| c != 0),
        "{}",
        openim.text()
    );
    assert_eq!(
        sim.requests().len(),
        before,
        "refused calls never reach the vendor"
    );
    // The request metrics name the app and the caller.
    let m = metrics(&gw).await;
    let labels = [
        ("face", "entrust"),
        ("route", CREATE),
        ("status", "200"),
        ("app", "b"),
        ("caller", "z"),
    ];
    assert_eq!(
        sample(&m, "entrust_gateway_requests_total", &labels),
        Some(1.0),
        "{m}"
    );
    // /readyz reports each app's upstream state.
    let ready = get(&format!("{}/readyz", gw.url())).await;
    assert_eq!(
        ready.json()["apps"]["a"]["status"],
        "ready",
        "{}",
        ready.text()
    );
    assert_eq!(
        ready.json()["apps"]["b"]["status"],
        "ready",
        "{}",
        ready.text()
    );
}

/// The OpenIM face is served for one app; with several, `openim.app` names
/// it, and its calls go out as that app.
#[tokio::test]
async fn the_openim_face_serves_its_one_app() {
    let (sim, s) = sim_of_apps().await;
    let text = two_apps(
        &s.url(),
        "[openim]\napp = \"b\"\nsecret = \"s3cret-1\"\nadmin_user_ids = [\"imAdmin\"]\n",
        &three_callers(),
    );
    let gw = start_gateway(&text).await;
    // A caller of app b gets an admin token and calls as app b
    // (open-im-server internal/api/auth.go GetAdminToken: secret and userID).
    let got = send(
        http::Method::POST,
        &format!("{}/auth/get_admin_token", gw.url()),
        &[
            ("operationID", "op1"),
            ("content-type", "application/json"),
            ("authorization", "Bearer tok-z"),
        ],
        r#"{"secret":"s3cret-1","userID":"imAdmin"}"#,
    )
    .await;
    assert_eq!(got.json()["errCode"], 0, "{}", got.text());
    let token = got.json()["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let q = send(
        http::Method::POST,
        &format!("{}/group/get_groups_info", gw.url()),
        &[
            ("operationID", "op2"),
            ("content-type", "application/json"),
            ("token", &token),
            ("authorization", "Bearer tok-z"),
        ],
        r#"{"groupIDs":["g1"]}"#,
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.text());
    assert_eq!(last_app_key(&sim), B_KEY);
    // A caller of app a is refused there, in OpenIM's envelope.
    let refused = send(
        http::Method::POST,
        &format!("{}/group/get_groups_info", gw.url()),
        &[
            ("operationID", "op3"),
            ("content-type", "application/json"),
            ("token", &token),
            ("authorization", "Bearer tok-x"),
        ],
        r#"{"groupIDs":["g1"]}"#,
    )
    .await;
    assert!(
        refused.json()["errCode"].as_i64().is_some_and(|c| c != 0),
        "{}",
        refused.text()
    );
}

/// Flooding app a's quota doesn't slow app b: each app has its own quota
/// per path, as the vendor has one per app key.
#[tokio::test]
async fn flooding_one_app_does_not_slow_the_other() {
    let _heavy = heavy().await;
    let (_sim, s) = sim_of_apps().await;
    let gw = start_gateway(&two_apps(
        &s.url(),
        "[rate_limit]\nmax_wait_ms = 100\n",
        &three_callers(),
    ))
    .await;
    let url = gw.url();
    let stop = Arc::new(AtomicBool::new(false));
    let refused_a = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..30 {
        let (url, stop, refused_a) = (url.clone(), stop.clone(), refused_a.clone());
        flood.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                if query_as(&c, &url, "tok-x").await.status == 429 {
                    refused_a.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Wait until app a is over its quota (a signal: its first 429).
    until("app a refuses past its quota", || {
        refused_a.load(Ordering::Relaxed) > 0
    })
    .await;
    let apps = gw.app.apps();
    let quota = |app: &str| {
        apps.get(app)
            .expect("the app")
            .vendor()
            .quota()
            .queued(QUERY)
    };
    let c = client();
    let mut a_queued = 0;
    for _ in 0..10 {
        a_queued = a_queued.max(quota("a"));
        let a = query_as(&c, &url, "tok-z").await;
        assert_eq!(a.status, 200, "{}", a.text());
        // App b's quota has nobody waiting: its calls never queue behind a's.
        assert_eq!(quota("b"), 0);
    }
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        let _ = t.await;
    }
    assert!(a_queued > 0, "app a's callers were queued meanwhile");
    let m = metrics(&gw).await;
    let refused_b = sample(
        &m,
        "entrust_gateway_caller_rejections_total",
        &[("app", "b"), ("caller", "z"), ("reason", "wait_too_long")],
    );
    assert_eq!(refused_b, None, "{m}");
    let refused_a = sample(
        &m,
        "entrust_gateway_caller_rejections_total",
        &[("app", "a"), ("caller", "x"), ("reason", "wait_too_long")],
    );
    assert!(refused_a.is_some_and(|n| n > 0.0), "{m}");
}

/// Callers of one app flooding one path share its quota by weight
/// (weights 3 and 1: about three quarters and one quarter).
#[tokio::test]
async fn callers_of_one_app_share_its_quota_by_weight() {
    let _heavy = heavy().await;
    let (_sim, s) = sim_of_apps().await;
    let callers = [
        caller("x", "\"tok-x\"", "a", "weight = 3"),
        caller("y", "\"tok-y\"", "a", ""),
        caller("z", "\"tok-z\"", "b", ""),
    ]
    .concat();
    let gw = start_gateway(&two_apps(
        &s.url(),
        "[rate_limit]\nmax_wait_ms = 500\n",
        &callers,
    ))
    .await;
    let got = flood_shares(
        &gw.url(),
        &["tok-x", "tok-y"],
        20,
        Duration::from_millis(2000),
    )
    .await;
    let share = got[0] as f64 / (got[0] + got[1]) as f64;
    assert!((0.6..=0.9).contains(&share), "x {} y {}", got[0], got[1]);
}

/// `per` tasks for each token sending queries back to back for `run`; the
/// 200s each token got.
async fn flood_shares(url: &str, tokens: &[&str], per: usize, run: Duration) -> Vec<usize> {
    let end = Instant::now() + run;
    let mut tasks = Vec::new();
    for t in tokens {
        for _ in 0..per {
            let (url, t) = (url.to_string(), t.to_string());
            tasks.push(tokio::spawn(async move {
                let c = client();
                let mut ok = 0;
                while Instant::now() < end {
                    if query_as(&c, &url, &t).await.status == 200 {
                        ok += 1;
                    }
                }
                ok
            }));
        }
    }
    let mut out = vec![0; tokens.len()];
    for (i, t) in tasks.into_iter().enumerate() {
        out[i / per] += t.await.expect("flooder");
    }
    out
}

/// A caller's token kept in a file is rotated (the file rewritten, then
/// what SIGHUP does) while the others keep going: the old token is refused,
/// the new one accepted, and no other caller sees an error.
#[tokio::test]
async fn a_token_rotated_by_file_leaves_the_others_going() {
    let (_sim, s) = sim_of_apps().await;
    let file = write_file(&temp_dir("apps-rotate"), "token", "tok-old\n");
    let callers = [
        caller(
            "x",
            &format!("{{ file = {:?} }}", file.display().to_string()),
            "a",
            "",
        ),
        caller("y", "\"tok-y\"", "a", ""),
        caller("z", "\"tok-z\"", "b", ""),
    ]
    .concat();
    let gw = start_gateway(&two_apps(&s.url(), "", &callers)).await;
    let url = gw.url();
    let stop = Arc::new(AtomicBool::new(false));
    let mut others = Vec::new();
    for t in ["tok-y", "tok-z"] {
        let (url, stop) = (url.clone(), stop.clone());
        others.push(tokio::spawn(async move {
            let c = client();
            let mut bad = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n == 0 {
                let a = query_as(&c, &url, t).await;
                n += 1;
                if a.status != 200 {
                    bad.push(a.text());
                }
            }
            bad
        }));
    }
    assert_eq!(query_as(&client(), &url, "tok-old").await.status, 200);
    std::fs::write(&file, "tok-new\n").unwrap();
    assert!(gw.app.reload_secret(), "the token file is read");
    assert_eq!(query_as(&client(), &url, "tok-old").await.status, 401);
    assert_eq!(query_as(&client(), &url, "tok-new").await.status, 200);
    // An emptied file keeps the token in use, and says so.
    std::fs::write(&file, "").unwrap();
    assert!(!gw.app.reload_secret(), "an empty token file is refused");
    assert_eq!(query_as(&client(), &url, "tok-new").await.status, 200);
    stop.store(true, Ordering::Relaxed);
    for t in others {
        assert_eq!(t.await.unwrap(), Vec::<String>::new());
    }
}

/// A reload without restart: an app added, a caller removed; a reload
/// that fails validation is refused and the running config kept.
#[tokio::test]
async fn a_reload_adds_an_app_and_removes_a_caller() {
    let (sim, s) = sim_of_apps().await;
    let gw = start_gateway(&two_apps(&s.url(), "", &three_callers())).await;
    let c = client();
    assert_eq!(query_as(&c, &gw.url(), "tok-y").await.status, 200);
    // A request in flight keeps the set it started with: it holds an Arc
    // of it (server::app's doc); here, the set taken before the reload
    // still has caller y.
    let before = gw.app.apps();
    let callers = [
        caller("x", "\"tok-x\"", "a", ""),
        caller("z", "\"tok-z\"", "b", ""),
        caller("w", "\"tok-w\"", "c", ""),
    ]
    .concat();
    let text = two_apps(&s.url(), "", "")
        + &format!(
            "[[apps]]\nname = \"c\"\napp_key = \"{C_KEY}\"\napp_secret = \"{C_SECRET}\"\n\n"
        )
        + &callers;
    gw.app
        .reload(Config::parse(&text).expect("valid"))
        .expect("reloaded");
    assert!(before.callers().all().any(|c| &*c.name == "y"));
    assert_eq!(
        query_as(&c, &gw.url(), "tok-y").await.status,
        401,
        "caller y removed"
    );
    let w = query_as(&c, &gw.url(), "tok-w").await;
    assert_eq!(w.status, 200, "{}", w.text());
    assert_eq!(last_app_key(&sim), C_KEY);
    // A caller naming an unknown app: refused, the running config kept.
    let bad = text.replace("app = \"c\"", "app = \"nope\"");
    let e = Config::parse(&bad).expect_err("an unknown app is refused");
    assert!(e.to_string().contains("callers[2].app"), "{e}");
    // Through reload: a config that parses but whose token file is missing.
    let missing = text.replace(
        "token = \"tok-w\"",
        "token = { file = \"/nonexistent/token\" }",
    );
    assert!(
        gw.app
            .reload(Config::parse(&missing).expect("parses"))
            .is_err()
    );
    assert_eq!(
        query_as(&c, &gw.url(), "tok-w").await.status,
        200,
        "old config kept"
    );
    let m = metrics(&gw).await;
    assert_eq!(
        sample(
            &m,
            "entrust_gateway_config_reloads_total",
            &[("result", "error")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "entrust_gateway_config_reloads_total",
            &[("result", "ok")]
        ),
        Some(1.0)
    );
}

/// Bad `[[apps]]` / `[[callers]]` are refused at start, naming the key.
#[test]
fn bad_apps_and_callers_are_refused_naming_the_key() {
    let base = |apps: &str, callers: &str| {
        format!("[upstream]\nurls = [\"http://127.0.0.1:1\"]\n\n{apps}\n{callers}")
    };
    let app = |name: &str, key: &str| {
        format!("[[apps]]\nname = \"{name}\"\napp_key = \"{key}\"\napp_secret = \"s\"\n")
    };
    let two = app("a", "k1") + &app("b", "k2");
    let cases = [
        (
            base(&(app("a", "k1") + &app("a", "k2")), ""),
            "apps[1].name",
            "unique",
        ),
        (
            base(&(app("a", "k1") + &app("b", "k1")), ""),
            "apps[1].app_key",
            "two names",
        ),
        (base(&app("A b", "k1"), ""), "apps[0].name", "a-z"),
        (
            base(&two, &caller("x", "\"t\"", "c", "")),
            "callers[0].app",
            "not an app",
        ),
        (
            base(
                &two,
                &(caller("x", "\"t\"", "a", "") + &caller("y", "\"t\"", "b", "")),
            ),
            "callers[1].token",
            "own token",
        ),
        (
            base(&two, &caller("x", "\"t\"", "a", "weight = 0")),
            "callers[0].weight",
            "(1..=1000)",
        ),
        (
            base(&two, &caller("x", "\"t\"", "a", "weight = 1001")),
            "callers[0].weight",
            "(1..=1000)",
        ),
        (
            base(&two, &caller("x", "\"t\"", "a", "max_per_second = -1")),
            "callers[0].max_per_second",
            "(1..=1000000)",
        ),
        (
            base(
                &two,
                &(caller("x", "\"t\"", "a", "") + &caller("x", "\"u\"", "b", "")),
            ),
            "callers[1].name",
            "unique",
        ),
        // A caller needs a token or a certificate name; a certificate
        // name needs mutual TLS, and names one caller only.
        (
            base(&two, "[[callers]]\nname = \"x\"\napp = \"a\"\n"),
            "callers[0].token",
            "cert_subject",
        ),
        (
            base(&two, &caller("x", "\"t\"", "a", "cert_subject = \"CN=x\"")),
            "callers[0].cert_subject",
            "client_ca_file",
        ),
        (
            base(
                &two,
                &format!(
                    "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nclient_ca_file = \"ca\"\n{}{}",
                    caller("x", "\"t\"", "a", "cert_subject = \"CN=x\""),
                    caller("y", "\"u\"", "b", "cert_subject = \"CN=x\"")
                ),
            ),
            "callers[1].cert_subject",
            "ambiguous",
        ),
        (
            base(&two, "[openim]\nsecret = \"s\"\nadmin_user_ids = [\"a\"]\n"),
            "openim.app",
            "several apps",
        ),
        (
            format!("[upstream]\nurls = [\"http://127.0.0.1:1\"]\napp_key = \"k\"\n\n{two}"),
            "upstream.app_key",
            "[[apps]]",
        ),
        (
            format!(
                "[server]\nauth_tokens_env = \"T\"\n[upstream]\nurls = [\"http://127.0.0.1:1\"]\n{two}"
            ),
            "server.auth_tokens_env",
            "",
        ),
    ];
    // --check-config's print: the apps and callers, their secrets left out.
    let printed = Config::parse(&base(&two, &caller("x", "\"tok-secret-9\"", "a", "")))
        .expect("valid")
        .redacted_toml();
    assert!(
        printed.contains("[[apps]]") && printed.contains("[[callers]]"),
        "{printed}"
    );
    assert!(!printed.contains("tok-secret-9"), "{printed}");
    for (text, key, says) in cases {
        let e = Config::parse(&text).expect_err(&text).to_string();
        assert!(
            e.starts_with(&format!("{key}: ")) && e.contains(says),
            "{key}: {e}"
        );
    }
    // The same token value under two references is found when loaded.
    // SAFETY: tests in this binary read no variable of this name.
    unsafe { std::env::set_var("APPS_TEST_TOKEN_DUP", "t") };
    let text = base(
        &two,
        &(caller("x", "\"t\"", "a", "")
            + &caller("y", "{ env = \"APPS_TEST_TOKEN_DUP\" }", "b", "")),
    );
    let cfg = Config::parse(&text).expect("parses");
    let secret = cfg.load_secret().expect("secret");
    let e = entrust_gateway::server::App::new(cfg, secret)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.starts_with("callers[1].token: ") && e.contains("same token"),
        "{e}"
    );
}

/// Two apps on four gateways sharing one Redis, every gateway flooding
/// both: each app's path stays within the vendor's 100/s at the vendor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_quota_is_per_app_per_path() {
    let _heavy = heavy().await;
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let fleet = on_own_runtimes(move |rt_sim, rt| {
        let (sim, sim_server) = rt_sim.block_on(sim_of_apps());
        let text = two_apps(
            &sim_server.url(),
            &format!("[redis]\nurl = \"{redis_url}\"\n"),
            &three_callers(),
        );
        let gws = rt.block_on(async {
            let mut gws = Vec::new();
            for _ in 0..4 {
                gws.push(start_gateway(&text).await);
            }
            gws
        });
        (sim, sim_server, gws)
    });
    let (sim, _server, gws) = &*fleet;
    let end = Instant::now() + Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for gw in gws {
        for token in ["tok-x", "tok-z"] {
            for _ in 0..3 {
                let (url, token) = (gw.url(), token.to_string());
                tasks.push(tokio::spawn(async move {
                    let c = client();
                    while Instant::now() < end {
                        query_as(&c, &url, &token).await;
                    }
                }));
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for key in [APP_KEY, B_KEY] {
        let mut at: Vec<Instant> = sim
            .requests()
            .iter()
            .filter(|r| r.path == QUERY && r.headers.get(APP_KEY_HEADER).is_some_and(|v| v == key))
            .map(|r| r.at)
            .collect();
        let n = at.len();
        let max = max_in_any_second(&mut at);
        assert!(max <= 100, "{key}: {max} in one second");
        assert!(n > 150, "{key}: only {n} calls reached the vendor");
    }
}

/// The shares benchmark (`bench/shares.sh`; figures in BENCHMARKS.md):
/// callers of one app flooding one path through one gateway for `SECONDS`
/// each scenario, two and four callers, equal and unequal weights, and a
/// caller at 10/s beside a flood. Prints each caller's share of the
/// permits and the most calls the vendor saw in any one second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/shares.sh runs it"]
async fn shares_benchmark() {
    let seconds: u64 = std::env::var("SECONDS_EACH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let run = Duration::from_secs(seconds);
    let scenarios: [&[u32]; 4] = [&[1, 1], &[3, 1], &[1, 1, 1, 1], &[1, 2, 3, 4]];
    println!("| weights | callers' shares (ideal) | calls at the vendor | max in any 1 s |");
    println!("|---|---|---:|---:|");
    for weights in scenarios {
        let names: Vec<String> = (0..weights.len()).map(|i| format!("c{i}")).collect();
        let callers: String = names
            .iter()
            .zip(weights)
            .map(|(n, w)| caller(n, &format!("\"tok-{n}\""), "a", &format!("weight = {w}")))
            .collect();
        let served = serve_apps(callers);
        let (sim, _server, gw) = &*served;
        let tokens: Vec<String> = names.iter().map(|n| format!("tok-{n}")).collect();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let got = flood_shares(&gw.url(), &tokens, 16, run).await;
        let total: usize = got.iter().sum();
        let sum_w: u32 = weights.iter().sum();
        let shares: Vec<String> = got
            .iter()
            .zip(weights)
            .map(|(g, w)| {
                format!(
                    "{:.1}% ({:.1}%)",
                    100.0 * *g as f64 / total as f64,
                    100.0 * f64::from(*w) / f64::from(sum_w)
                )
            })
            .collect();
        let mut at: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
        let n = at.len();
        let max = max_in_any_second(&mut at);
        println!("| {weights:?} | {} | {n} | {max} |", shares.join(", "));
    }
    // A caller at 10/s beside a flood: every one of its calls served.
    let callers =
        caller("flood", "\"tok-flood\"", "a", "") + &caller("light", "\"tok-light\"", "a", "");
    let served = serve_apps(callers);
    let (sim, _server, gw) = &*served;
    let url = gw.url();
    let flood = tokio::spawn(async move { flood_shares(&url, &["tok-flood"], 32, run).await });
    let c = client();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let (mut ok, mut sent, mut slowest) = (0, 0, Duration::ZERO);
    let end = Instant::now() + run;
    while Instant::now() < end {
        tick.tick().await;
        let started = Instant::now();
        sent += 1;
        if query_as(&c, &gw.url(), "tok-light").await.status == 200 {
            ok += 1;
        }
        slowest = slowest.max(started.elapsed());
    }
    let flooded = flood.await.expect("flood")[0];
    let mut at: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    let max = max_in_any_second(&mut at);
    println!(
        "\nlight caller at 10/s beside a flood: {ok}/{sent} served, slowest {} ms; flood got {flooded}; max in any 1 s at the vendor {max}",
        slowest.as_millis()
    );
}

/// A simulator and a gateway of apps a and b with `callers`, on runtimes
/// of their own (the load generator can't delay their timers).
fn serve_apps(callers: String) -> Serving<(Simulator, SimServer, ServerHandle)> {
    on_own_runtimes(move |rt_sim, rt| {
        let (sim, server) = rt_sim.block_on(sim_of_apps());
        let text = two_apps(&server.url(), "", &callers);
        let gw = rt.block_on(start_gateway(&text));
        (sim, server, gw)
    })
}

/// Across a fleet, each instance hands its turns to reserve slots by the
/// callers' weights: callers spread evenly over two gateways on one Redis
/// share the app's path by weight (3 and 1) there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_hold_across_a_fleet() {
    let _heavy = heavy().await;
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let fleet = on_own_runtimes(move |rt_sim, rt| {
        let (sim, sim_server) = rt_sim.block_on(sim_of_apps());
        let callers = [
            caller("x", "\"tok-x\"", "a", "weight = 3"),
            caller("y", "\"tok-y\"", "a", ""),
        ]
        .concat();
        let text = two_apps(
            &sim_server.url(),
            &format!("[rate_limit]\nmax_wait_ms = 500\n[redis]\nurl = \"{redis_url}\"\n"),
            &callers,
        );
        let gws = rt.block_on(async {
            let mut gws = Vec::new();
            for _ in 0..2 {
                gws.push(start_gateway(&text).await);
            }
            gws
        });
        (sim, sim_server, gws)
    });
    let (_sim, _server, gws) = &*fleet;
    let run = Duration::from_millis(2500);
    let (u0, u1) = (gws[0].url(), gws[1].url());
    let (a, b) = tokio::join!(
        flood_shares(&u0, &["tok-x", "tok-y"], 10, run),
        flood_shares(&u1, &["tok-x", "tok-y"], 10, run),
    );
    let (x, y) = (a[0] + b[0], a[1] + b[1]);
    let share = x as f64 / (x + y) as f64;
    assert!((0.6..=0.9).contains(&share), "x {x} y {y}");
}

/// The binary on SIGHUP: a caller added by editing the config file is let
/// in without a restart; a config naming an unknown app is refused (the
/// ERROR line names the key, the running config kept); a changed admin
/// listener needs a restart, and the reload says so.
#[tokio::test]
async fn sighup_reloads_the_config_file() {
    let (_sim, s) = sim_of_apps().await;
    let dir = temp_dir("apps-sighup");
    let x = caller("x", "\"tok-x\"", "a", "");
    let y = caller("y", "\"tok-y\"", "b", "");
    let cfg = write_file(&dir, "gw.toml", &two_apps(&s.url(), "", &x));
    let (mut p, gw) = crate::cli::Proc::start(&cfg, &[]);
    let c = client();
    assert_eq!(query_as(&c, &gw, "tok-x").await.status, 200);
    assert_eq!(query_as(&c, &gw, "tok-y").await.status, 401);
    std::fs::write(&cfg, two_apps(&s.url(), "", &(x.clone() + &y))).unwrap();
    p.signal("HUP");
    p.wait_for(|l| l.contains("config reloaded"));
    assert_eq!(query_as(&c, &gw, "tok-y").await.status, 200);
    let bad = x.clone() + &y.replace("app = \"b\"", "app = \"nope\"");
    std::fs::write(&cfg, two_apps(&s.url(), "", &bad)).unwrap();
    p.signal("HUP");
    let line = p.wait_for(|l| l.contains("ERROR"));
    assert!(line.contains("callers[1].app"), "{line}");
    assert_eq!(
        query_as(&c, &gw, "tok-y").await.status,
        200,
        "old config kept"
    );
    let moved = two_apps(&s.url(), "[admin]\nlisten = \"127.0.0.1:0\"\n", &(x + &y));
    std::fs::write(&cfg, moved).unwrap();
    p.signal("HUP");
    let line = p.wait_for(|l| l.contains("needs a restart"));
    assert!(
        line.contains("WARN") && line.contains("admin.listen"),
        "{line}"
    );
    p.signal("TERM");
    let (code, _) = p.finish();
    assert_eq!(code, 0);
}

/// The OpenIM secret kept in a file is re-read like the others: after the
/// rotation, `/auth/get_admin_token` takes the new secret and not the old
/// (open-im-server internal/api/auth.go GetAdminToken checks the secret).
#[tokio::test]
async fn the_openim_secret_file_is_rotated_too() {
    let (_sim, s) = sim_of_apps().await;
    let file = write_file(&temp_dir("apps-openim"), "secret", "first-Ow1\n");
    let openim = format!(
        "[openim]\napp = \"a\"\nsecret = {{ file = {:?} }}\nadmin_user_ids = [\"imAdmin\"]\n",
        file.display().to_string()
    );
    let gw = start_gateway(&two_apps(&s.url(), &openim, &three_callers())).await;
    let token = |secret: &'static str| {
        let url = format!("{}/auth/get_admin_token", gw.url());
        async move {
            let body = format!(r#"{{"secret":"{secret}","userID":"imAdmin"}}"#);
            let headers = [
                ("operationID", "op1"),
                ("content-type", "application/json"),
                ("authorization", "Bearer tok-x"),
            ];
            send(http::Method::POST, &url, &headers, body).await.json()["errCode"].clone()
        }
    };
    assert_eq!(token("first-Ow1").await, 0);
    std::fs::write(&file, "second-Ow2\n").unwrap();
    assert!(gw.app.reload_secret());
    assert_eq!(token("second-Ow2").await, 0);
    assert_ne!(token("first-Ow1").await, 0);
}
