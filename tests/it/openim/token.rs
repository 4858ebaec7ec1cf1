//! OpenIM's tokens: `/auth/get_admin_token` and the pre-3.8.1 routes
//! (`/auth/user_token`, `/auth/parse_token`), which tokens are refused and
//! how, and failed attempts throttled per caller.

use crate::common::openim::{
    ADMIN, Im, SECRET, admin_login, both_apis, dialect_path, err, operation_id,
};
use crate::common::*;
use entrust_gateway::entrust::path;
use entrust_gateway::openim::token;
use entrust_gateway::secret::Secret;
use serde_json::json;

both_apis! {
#[tokio::test]
async fn token_flow() {
    let im = Im::start().await;
    let a = im.post("/auth/get_admin_token", admin_login()).await;
    assert_eq!(a["errCode"], 0);
    assert_eq!(a["data"]["expireTimeSeconds"], 3600);
    let t = a["data"]["token"].as_str().unwrap();
    assert!(!t.contains(SECRET));

    // Wrong secret, not an admin.
    let v = im
        .post(
            "/auth/get_admin_token",
            json!({"secret": "nope", "userID": ADMIN}),
        )
        .await;
    assert_eq!(err(&v), (1002, "secret invalid".into()));
    assert_eq!(v["errMsg"], "NoPermissionError");
    let v = im
        .post(
            "/auth/get_admin_token",
            json!({"secret": SECRET, "userID": "someone"}),
        )
        .await;
    assert_eq!(v["errCode"], 1001);

    im.create("tok1", "owner", &[]).await;
    let body = r#"{"groupIDs":["tok1"]}"#;
    let ct = ("content-type", "application/json");
    let op = ("operationID", "op1");
    // Missing token.
    let v = im
        .raw("/group/get_groups_info", &[ct, op], body)
        .await
        .json();
    assert_eq!(err(&v), (1001, "header must have token".into()));
    // Forged (right shape, wrong tag), signed with another secret, expired, malformed.
    let forged = format!("v1.{}.99999999999.{}", hex::encode(ADMIN), "ab".repeat(20));
    let other = token::issue(&Secret::new("other".into()), ADMIN, 99_999_999_999).unwrap();
    let expired = token::issue(&Secret::new(SECRET.into()), ADMIN, 1).unwrap();
    for (tok, code) in [
        (forged.as_str(), 1502),
        (other.as_str(), 1502),
        (expired.as_str(), 1501),
        ("garbage", 1503),
    ] {
        let v = im
            .raw("/group/get_groups_info", &[ct, op, ("token", tok)], body)
            .await;
        assert_eq!(v.status, 200);
        assert_eq!(v.json()["errCode"], code, "{tok}: {}", v.text());
    }
    // Missing operationID, even with a good token.
    let v = im
        .raw("/group/get_groups_info", &[ct, ("token", t)], body)
        .await
        .json();
    assert_eq!(err(&v), (1001, "header must have operationID".into()));
    let v = im
        .raw("/auth/get_admin_token", &[ct], r#"{"secret":"x"}"#)
        .await
        .json();
    assert_eq!(err(&v), (1001, "header must have operationID".into()));
    // The good token works.
    let v = im
        .raw("/group/get_groups_info", &[ct, op, ("token", t)], body)
        .await
        .json();
    assert_eq!(v["errCode"], 0, "{v}");
    assert_eq!(v["data"]["groupInfos"][0]["groupID"], "tok1");
    // Only the one good call reached the vendor's profile/query.
    assert_eq!(im.env.sim.accepted(&dialect_path(path::PROFILE_QUERY)), 2);
}
}

// Without [openim] there is no vendor_api to set: the entrust face only.
#[tokio::test]
async fn no_openim_section_needs_no_token() {
    let im = Im::start_open().await;
    let g = im.create("open1", "o", &["a"]).await;
    assert_eq!(g["groupID"], "open1");
    assert_eq!(im.info("open1").await["memberCount"], 2);
    // The operationID is still required.
    let v = im
        .raw("/group/get_groups_info", &[], r#"{"groupIDs":["open1"]}"#)
        .await
        .json();
    assert_eq!(err(&v), (1001, "header must have operationID".into()));
    // And no token can be had.
    let v = im.post("/auth/get_admin_token", admin_login()).await;
    assert_eq!(v["errCode"], 1002);
}

both_apis! {
/// `/auth/user_token` (clients before v3.8.1; open-im-server 3c62733
/// internal/rpc/auth/auth.go UserToken) issues the same admin tokens, and
/// `/auth/parse_token` reads them (auth.go ParseToken: userID, platformID,
/// expireTimeSeconds = the expiry's unix time). Neither needs a token
/// (internal/api/router.go Whitelist).
#[tokio::test]
async fn pre_3_8_1_token_routes() {
    let mut im = Im::start().await;
    let d = im
        .ok(
            "/auth/user_token",
            json!({"secret": SECRET, "platformID": 1, "userID": ADMIN}),
        )
        .await;
    let t = d["token"].as_str().unwrap().to_string();
    assert!(d["expireTimeSeconds"].as_i64().unwrap() > 0);
    let v = im
        .post(
            "/auth/user_token",
            json!({"secret": "wrong", "platformID": 1, "userID": ADMIN}),
        )
        .await;
    assert_eq!(err(&v), (1002, "secret invalid".to_string()));
    let v = im
        .post(
            "/auth/user_token",
            json!({"secret": SECRET, "platformID": 1, "userID": "someone"}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    im.token = None;
    let d = im.ok("/auth/parse_token", json!({"token": t})).await;
    assert_eq!(d["userID"], ADMIN);
    assert_eq!(d["platformID"], 10);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(d["expireTimeSeconds"].as_u64().unwrap() > now);
    let v = im
        .post("/auth/parse_token", json!({"token": "v1.zz"}))
        .await;
    assert_eq!(v["errCode"], 1503, "{v}");
    // The token from user_token works on the group routes.
    im.token = Some(t);
    im.ok("/group/get_groups_info", json!({"groupIDs": ["x"]}))
        .await;
}
}

// Failed /auth/get_admin_token attempts are throttled per caller (5, then
// one per 6 s) and counted. OpenIM answers a wrong secret with errCode 1002
// "secret invalid" (reference/openim-api.md, get_admin_token); its own
// limiter answers HTTP 429 errCode 429 ("Envelope and conventions").
both_apis! {
#[tokio::test]
async fn failed_admin_token_attempts_are_throttled_and_counted() {
    let im = Im::start().await;
    let url = im.env.url("/auth/get_admin_token");
    for i in 0..5 {
        let a = post_openim(
            &url,
            &operation_id(),
            None,
            &json!({"secret": format!("guess-{i}"), "userID": ADMIN}),
        )
        .await;
        assert_eq!(a.json()["errCode"], 1002, "{}", a.text());
    }
    // Out of attempts: refused before the secret is looked at, even the right one.
    let a = post_openim(&url, &operation_id(), None, &admin_login()).await;
    assert_eq!(a.status, 429, "{}", a.text());
    assert!(a.headers.contains_key("retry-after"));
    let m = metrics(&im.env.gw).await;
    let failures = |result| {
        let name = "entrust_gateway_openim_admin_token_failures_total";
        sample(&m, name, &[("result", result)])
    };
    assert_eq!(failures("refused"), Some(5.0), "{m}");
    assert_eq!(failures("throttled"), Some(1.0), "{m}");
}
}

// A client that keeps retrying one stale secret spends one attempt, not
// every caller's: the sidecar's callers all come from 127.0.0.1, and the
// right secret must still get a token. (Each retry is still answered 1002
// and counted as refused; repeating a guess teaches a guesser nothing.)
both_apis! {
#[tokio::test]
async fn one_stale_secret_retried_does_not_lock_out_the_right_one() {
    let im = Im::start().await;
    let url = im.env.url("/auth/get_admin_token");
    for _ in 0..20 {
        let a = post_openim(
            &url,
            &operation_id(),
            None,
            &json!({"secret": "last-year's", "userID": ADMIN}),
        )
        .await;
        assert_eq!(a.json()["errCode"], 1002, "{}", a.text());
    }
    let a = post_openim(&url, &operation_id(), None, &admin_login()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    let m = metrics(&im.env.gw).await;
    let name = "entrust_gateway_openim_admin_token_failures_total";
    assert_eq!(
        sample(&m, name, &[("result", "refused")]),
        Some(20.0),
        "{m}"
    );
    let throttled = sample(&m, name, &[("result", "throttled")]);
    assert_eq!(throttled.unwrap_or(0.0), 0.0, "{m}");
}
}

both_apis! {
/// `/auth/get_user_token` as open-im-server `internal/rpc/auth/auth.go`
/// GetUserToken answers it: admins only (`authverify.CheckAdmin`, 1002
/// "user %s is not admin userID"), never the admin platform (1002
/// "platformID invalid. platformID must not be adminPlatformID"), never an
/// admin user ID (1002 "don't get Admin token"); `{token,
/// expireTimeSeconds}`. `/auth/parse_token` (ParseToken) reads either kind:
/// `{userID, platformID, expireTimeSeconds}` (the expiry, unix seconds).
#[tokio::test]
async fn user_tokens_as_open_im_issues_and_parses_them() {
    let im = Im::start().await;
    let d = im
        .ok(
            "/auth/get_user_token",
            json!({"userID": "u1", "platformID": 5}),
        )
        .await;
    assert_eq!(d["expireTimeSeconds"], 3600);
    let t = d["token"].as_str().unwrap().to_string();
    let p = im.ok("/auth/parse_token", json!({"token": t})).await;
    assert_eq!((&p["userID"], &p["platformID"]), (&json!("u1"), &json!(5)));
    let exp = p["expireTimeSeconds"].as_u64().unwrap();
    let now = entrust_gateway::clock::unix_secs();
    assert!((now + 3500..=now + 3601).contains(&exp), "{exp} vs {now}");
    // The admin's own token parses as platform 10 (constant.AdminPlatformID).
    let admin = im.token.clone().unwrap();
    let p = im.ok("/auth/parse_token", json!({"token": admin})).await;
    assert_eq!(
        (&p["userID"], &p["platformID"]),
        (&json!(ADMIN), &json!(10))
    );

    for (body, want) in [
        (
            json!({"userID": "u1", "platformID": 10}),
            (
                1002,
                "platformID invalid. platformID must not be adminPlatformID",
            ),
        ),
        (
            json!({"userID": ADMIN, "platformID": 1}),
            (1002, "don't get Admin token"),
        ),
        (
            json!({"userID": "imAdmin2", "platformID": 1}),
            (1002, "don't get Admin token"),
        ),
        (
            json!({"userID": "", "platformID": 1}),
            (1001, "userID is empty"),
        ),
        (
            json!({"userID": "u1", "platformID": 0}),
            (1001, "platformID is invalid"),
        ),
    ] {
        let v = im.post("/auth/get_user_token", body.clone()).await;
        assert_eq!(err(&v), (want.0, want.1.to_string()), "{body}");
    }
    // A user token is no admin's: it gets no token for anyone.
    let v = im
        .post_as(
            &t,
            "/auth/get_user_token",
            json!({"userID": "u2", "platformID": 1}),
        )
        .await;
    assert_eq!(err(&v), (1002, "user u1 is not admin userID".to_string()));
    let v = im
        .post_as(
            &t,
            "/auth/force_logout",
            json!({"userID": "u2", "platformID": 1}),
        )
        .await;
    assert_eq!(err(&v), (1002, "user u1 is not admin userID".to_string()));
    assert!(im.paths().is_empty(), "{:?}", im.paths());
}
}

/// Waits until the wall clock's millisecond has moved past `t` (a token
/// issued in the kick's own millisecond counts as issued before it).
async fn clock_past(t: u64) {
    while entrust_gateway::clock::unix_ms() <= t {
        tokio::task::yield_now().await;
    }
}

both_apis! {
/// `/auth/force_logout` (auth.go ForceLogout → forceKickOff marks every
/// token of the user and platform `constant.KickedToken`; parseToken then
/// answers `servererrs.ErrTokenKicked`, 1506, pkg/common/servererrs/code.go
/// TokenKickedError). Tokens of other platforms and later tokens work.
/// ForceLogoutReq.Check (protocol auth/auth.go): userID empty 1001,
/// platformID outside 1..10 1001 "platformID is invalidate".
#[tokio::test]
async fn force_logout_kicks_that_user_and_platforms_earlier_tokens() {
    let im = Im::start().await;
    im.create("fl1", "u1", &[]).await;
    let web = im.user_token("u1", 5).await;
    let web2 = im.user_token("u1", 5).await;
    let ios = im.user_token("u1", 1).await;
    let read = json!({"groupID": "fl1", "userIDs": ["u1"]});
    let v = im
        .post_as(&web, "/group/get_group_members_info", read.clone())
        .await;
    assert_eq!(v["errCode"], 0, "{v}");
    im.ok(
        "/auth/force_logout",
        json!({"userID": "u1", "platformID": 5}),
    )
    .await;
    let kicked = entrust_gateway::clock::unix_ms();
    for t in [&web, &web2] {
        let v = im
            .post_as(t, "/group/get_group_members_info", read.clone())
            .await;
        assert_eq!(v["errCode"], 1506, "{v}");
        let v = im.post("/auth/parse_token", json!({"token": t})).await;
        assert_eq!(v["errCode"], 1506, "{v}");
    }
    let v = im
        .post_as(&ios, "/group/get_group_members_info", read.clone())
        .await;
    assert_eq!(v["errCode"], 0, "another platform: {v}");
    clock_past(kicked).await;
    let fresh = im.user_token("u1", 5).await;
    let v = im
        .post_as(&fresh, "/group/get_group_members_info", read.clone())
        .await;
    assert_eq!(v["errCode"], 0, "a token issued after: {v}");
    for (body, want) in [
        (json!({"userID": "", "platformID": 1}), "userID is empty"),
        (
            json!({"userID": "u1", "platformID": 11}),
            "platformID is invalidate",
        ),
        (
            json!({"userID": "u1", "platformID": 0}),
            "platformID is invalidate",
        ),
    ] {
        let v = im.post("/auth/force_logout", body).await;
        assert_eq!(err(&v), (1001, want.to_string()));
    }
}
}

both_apis! {
/// With `[redis]`, a force_logout on one gateway stops the tokens on every
/// gateway sharing the Redis (src/openim/kicks.rs), from the next request.
#[tokio::test]
async fn force_logout_is_fleet_wide_through_redis() {
    let redis = crate::common::redis_server::RedisServer::start();
    let (sim, sim_server) = start_sim().await;
    let extra = format!(
        "{}\n[redis]\nurl = \"{}\"\n",
        crate::common::openim::section(3600),
        redis.url()
    );
    let text = config_text(&[sim_server.url()], "", &extra);
    let (a, b) = (start_gateway(&text).await, start_gateway(&text).await);
    let call = |gw: &entrust_gateway::server::ServerHandle,
                route: &str,
                token: Option<&str>,
                body: serde_json::Value| {
        let url = format!("{}{route}", gw.url());
        let token = token.map(str::to_string);
        async move {
            post_openim(&url, &operation_id(), token.as_deref(), &body)
                .await
                .json()
        }
    };
    let v = call(&a, "/auth/get_admin_token", None, admin_login()).await;
    let admin = v["data"]["token"].as_str().unwrap().to_string();
    let v = call(
        &a,
        "/auth/get_user_token",
        Some(&admin),
        json!({"userID": "u9", "platformID": 2}),
    )
    .await;
    let user = v["data"]["token"].as_str().unwrap().to_string();
    // Another user's token, and the same user's on another platform: the
    // kick is that user's and platform's only, on every gateway.
    let mut others = Vec::new();
    for (who, platform) in [("u8", 2), ("u9", 3)] {
        let v = call(
            &a,
            "/auth/get_user_token",
            Some(&admin),
            json!({"userID": who, "platformID": platform}),
        )
        .await;
        others.push(json!({"token": v["data"]["token"]}));
    }
    let parse = json!({"token": user});
    assert_eq!(
        call(&b, "/auth/parse_token", None, parse.clone()).await["errCode"],
        0
    );
    let v = call(
        &a,
        "/auth/force_logout",
        Some(&admin),
        json!({"userID": "u9", "platformID": 2}),
    )
    .await;
    assert_eq!(v["errCode"], 0, "{v}");
    // Gateway b never saw the force_logout: it reads it from Redis.
    let v = call(&b, "/auth/parse_token", None, parse.clone()).await;
    assert_eq!(v["errCode"], 1506, "{v}");
    for other in others {
        let v = call(&b, "/auth/parse_token", None, other).await;
        assert_eq!(v["errCode"], 0, "{v}");
    }
    let v = call(
        &b,
        "/group/get_joined_group_list",
        Some(&user),
        json!({"fromUserID": "u9", "pagination": {"pageNumber": 1, "showNumber": 10}}),
    )
    .await;
    assert_eq!(v["errCode"], 1506, "{v}");
    drop(sim);
}
}
