//! The simulator's v4 (Nexconn) group-channel paths over real HTTP, each
//! expected answer cited from `../shared/reference/nexconn-v4-group-api.md`
//! ("§n"), or named as the simulator's own choice (`src/sim/v4/mod.rs`).

use entrust_gateway::v4::{code as v4code, path as v4path};
use serde_json::{Value, json};

use super::*;

impl Req {
    /// A signed v4 POST with a JSON body (§1, §2).
    fn v4(path: &str, body: &Value) -> Req {
        Req::signed(path, body.to_string()).set("Content-Type", "application/json")
    }
}

impl T {
    async fn v4(&self, p: &str, body: Value) -> Resp {
        self.send(&Req::v4(p, &body)).await
    }

    /// A v4 call that must succeed (§3: HTTP 200, `code` 0); its JSON.
    async fn v4_ok(&self, p: &str, body: Value) -> Value {
        let r = self.v4(p, body).await;
        let v = r.json();
        assert_eq!((r.status, v["code"].as_i64()), (200, Some(0)), "{p}: {v}");
        v
    }

    /// A v4 call that must fail with `want` and HTTP `status`, in the error
    /// shape `{"code":N,"errorMessage":"…"}` and nothing else (§3).
    async fn v4_fails(&self, p: &str, body: Value, want: i64, status: u16) {
        let r = self.v4(p, body.clone()).await;
        let v = r.json();
        assert_eq!(
            (r.status, v["code"].as_i64()),
            (status, Some(want)),
            "{p} {body}: {v}"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "errorMessage"], "{v}");
        assert!(!v["errorMessage"].as_str().unwrap().is_empty());
    }

    async fn v4_create(&self, id: &str, owner: &str, users: &[&str]) {
        self.v4_ok(
            v4path::CREATE,
            json!({"channelId": id, "name": "Name", "owner": owner, "userIds": users}),
        )
        .await;
    }
}

const BAD: u16 = 400;

// ---------------------------------------------------------------- envelope

/// §3: writes answer `{"code":0}`, reads `{"code":0,"result":{…}}`, as
/// `application/json; charset=utf-8` (§1).
#[tokio::test]
async fn envelope() {
    let t = T::new().await;
    let r = t
        .v4(
            v4path::CREATE,
            json!({"channelId": "g1", "name": "G", "owner": "o", "userIds": ["a"]}),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"code": 0})));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let v = t
        .v4_ok(v4path::PROFILE_LIST, json!({"channelIds": ["g1", "nope"]}))
        .await;
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "result"]);
    let p = &v["result"]["profiles"][0];
    assert_eq!(
        (&p["channelId"], &p["name"], &p["owner"], &p["memberCount"]),
        (&json!("g1"), &json!("G"), &json!("o"), &json!(2))
    );
    // §6: objects, and integer Unix ms.
    assert!(p["groupProfile"].is_object() && p["permissions"].is_object());
    assert!(p["createdAt"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(v["result"]["profiles"].as_array().unwrap().len(), 1);
    // The request log counts v4 successes (code 0) as accepted.
    assert_eq!(t.sim.accepted(v4path::CREATE), 1);
    assert_eq!(t.sim.accepted(v4path::PROFILE_LIST), 1);
}

/// §3: errors are `{"code":N,"errorMessage":"…"}` with a non-2xx status:
/// 400 for parameters and group rules (the reference's suggested pairing),
/// 401 for the signature, 404 for an unknown path; a method other than POST
/// (§1) is 405 with `Allow: POST` (its code, 1002, the simulator's choice).
#[tokio::test]
async fn error_shapes_and_statuses() {
    let t = T::new().await;
    t.v4_create("g1", "o", &["a"]).await;
    let dup = json!({"channelId": "g1", "name": "G", "owner": "o"});
    t.v4_fails(v4path::CREATE, dup, v4code::GROUP_EXISTS, BAD)
        .await;
    t.v4_fails(
        v4path::DISMISS,
        json!({"channelId": "nope"}),
        v4code::GROUP_NOT_FOUND,
        BAD,
    )
    .await;
    t.v4_fails(
        v4path::LEAVE,
        json!({"channelId": "g1", "userIds": ["o"]}),
        v4code::OWNER_OPERATION,
        BAD,
    )
    .await;
    t.v4_fails(
        v4path::LEAVE,
        json!({"channelId": "g1", "userIds": ["z"]}),
        v4code::NOT_IN_GROUP,
        BAD,
    )
    .await;
    let r = t
        .send(&Req::v4(v4path::LIST, &json!({})).set("Signature", &"0".repeat(40)))
        .await;
    assert_eq!((r.status, r.code()), (401, v4code::SIGNATURE_ERROR));
    let r = t
        .send(&Req::v4(v4path::LIST, &json!({})).set("App-Key", "other"))
        .await;
    assert_eq!((r.status, r.code()), (401, v4code::APP_SECRET_MISMATCH));
    let r = t.v4("/v4/group-channel/nothing", json!({})).await;
    assert_eq!((r.status, r.code()), (404, v4code::NOT_FOUND));
    let mut get = Req::v4(v4path::LIST, &json!({}));
    get.method = "GET".into();
    let r = t.send(&get).await;
    assert_eq!((r.status, r.code()), (405, v4code::PARAM_ERROR));
    assert_eq!(r.header("allow"), Some("POST"));
    // X-Request-ID is echoed (§2).
    let r = t
        .send(&Req::v4(v4path::LIST, &json!({})).set("X-Request-ID", "trace-v4"))
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-v4"));
}

/// Fault rules work on v4 paths; `Code(0, 200)` is v4's success envelope.
#[tokio::test]
async fn faults_on_v4_paths() {
    let t = T::new().await;
    t.sim
        .inject(FaultRule::on(v4path::CREATE, Fault::Code(0, 200)).limit(1));
    let r = t
        .v4(
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o"}),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, json!({"code": 0})));
    assert!(t.sim.group("g").is_none(), "the fault touched no state");
    t.sim
        .inject(FaultRule::on(v4path::LIST, Fault::Code(1008, 429)).limit(1));
    let r = t.v4(v4path::LIST, json!({})).await;
    assert_eq!(
        (r.status, r.json()),
        (429, json!({"code": 1008, "errorMessage": "injected"}))
    );
}

// ---------------------------------------------------------------- bodies

/// §1: a JSON object body, `Content-Type: application/json`; anything else
/// is 400/1002 and changes nothing. A repeated key and deep nesting are
/// refused (the simulator's choice); over 1 MiB is 400/1005.
#[tokio::test]
async fn bad_bodies() {
    let t = T::new().await;
    let create =
        |body: &str, ct: &str| Req::signed(v4path::CREATE, body.to_owned()).set("Content-Type", ct);
    let json_ct = "application/json";
    let good = r#"{"channelId":"g","name":"n","owner":"o"}"#;
    let deep = format!(
        r#"{{"channelId":"g","name":"n","owner":"o","groupProfile":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(&str, Req)> = vec![
        ("not JSON", create("{channelId:g}", json_ct)),
        ("an array", create("[1,2]", json_ct)),
        ("a string", create("\"g\"", json_ct)),
        ("empty", create("", json_ct)),
        (
            "a form body",
            create(
                "channelId=g&name=n&owner=o",
                "application/x-www-form-urlencoded",
            ),
        ),
        (
            "JSON as a form",
            create(good, "application/x-www-form-urlencoded"),
        ),
        ("JSON as text", create(good, "text/plain")),
        (
            "no content type",
            create(good, json_ct).without("Content-Type"),
        ),
        (
            "latin-1",
            create(good, "application/json; charset=iso-8859-1"),
        ),
        (
            "a repeated key",
            create(
                r#"{"channelId":"g","channelId":"h","name":"n","owner":"o"}"#,
                json_ct,
            ),
        ),
        ("nested 10,000 deep", create(&deep, json_ct)),
        (
            "channelId a number",
            create(r#"{"channelId":7,"name":"n","owner":"o"}"#, json_ct),
        ),
        (
            "owner missing",
            create(r#"{"channelId":"g","name":"n"}"#, json_ct),
        ),
        (
            "name missing",
            create(r#"{"channelId":"g","owner":"o"}"#, json_ct),
        ),
        (
            "userIds a string",
            create(
                r#"{"channelId":"g","name":"n","owner":"o","userIds":"a,b"}"#,
                json_ct,
            ),
        ),
        (
            "groupProfile as JSON text",
            create(
                r#"{"channelId":"g","name":"n","owner":"o","groupProfile":"{\"introduction\":\"x\"}"}"#,
                json_ct,
            ),
        ),
    ];
    for (what, req) in cases {
        let r = t.send(&req).await;
        assert_eq!((r.status, r.code()), (BAD, v4code::PARAM_ERROR), "{what}");
    }
    assert!(t.sim.group("g").is_none(), "nothing was created");
    // The nesting answer came from a bounded parser: the server still serves.
    let big = format!(
        r#"{{"channelId":"g","name":"n","owner":"o","pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let r = t.send(&create(&big, json_ct)).await;
    assert_eq!((r.status, r.code()), (BAD, v4code::PARAM_TOO_LONG));
    // Unknown fields pass; null counts as left out.
    let r = t
        .send(&create(
            r#"{"channelId":"g","name":"n","owner":"o","newerField":{"x":1},"userIds":null}"#,
            json_ct,
        ))
        .await;
    assert_eq!((r.status, r.code()), (200, 0));
}

/// §6 and §7's limits: too many items or too long a value is 1005, another
/// invalid value 1002, both HTTP 400; group rules keep their codes.
#[tokio::test]
async fn documented_limits() {
    let t = T::new().await;
    let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("u{i}")).collect() };
    let cases: Vec<(&str, Value, i64)> = vec![
        // §6: channelId <= 64 letters and digits (`_`/`-` accepted unless strict).
        (
            v4path::CREATE,
            json!({"channelId": "a".repeat(65), "name": "n", "owner": "o"}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "a.b", "name": "n", "owner": "o"}),
            1002,
        ),
        // §7.1: name <= 64, empty is 25423; userIds <= 30.
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n".repeat(65), "owner": "o"}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "", "owner": "o"}),
            25423,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o", "userIds": ids(31)}),
            1005,
        ),
        // §6: groupProfile lengths, name only on update; permissions ranges;
        // ext keys start with ext_, key <= 32, value <= 256, <= 10 pairs.
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupProfile": {"introduction": "i".repeat(513)}}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupProfile": {"announcement": "a".repeat(1025)}}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupProfile": {"portraitUrl": "p".repeat(129)}}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupProfile": {"name": "x"}}),
            1002,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "permissions": {"joinPerm": 4}}),
            1002,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "permissions": {"joinPerm": "1"}}),
            1002,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupExtProfile": {"level": "1"}}),
            1002,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupExtProfile": {format!("ext_{}", "k".repeat(29)): "1"}}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupExtProfile": {"ext_a": "v".repeat(257)}}),
            1005,
        ),
        (
            v4path::CREATE,
            json!({"channelId": "g", "name": "n", "owner": "o",
            "groupExtProfile": (0..11).map(|i| (format!("ext_{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            1005,
        ),
        // §7.3: channelIds <= 50; §7.8, §7.5, §7.12: userIds <= 100.
        (v4path::PROFILE_LIST, json!({"channelIds": ids(51)}), 1005),
        (v4path::PROFILE_LIST, json!({"channelIds": []}), 1002),
        (
            v4path::JOIN,
            json!({"channelId": "g0", "userIds": ids(101)}),
            1005,
        ),
        (
            v4path::LEAVE,
            json!({"channelId": "g0", "userIds": ids(101)}),
            1005,
        ),
        (
            v4path::MEMBER_BATCH_GET,
            json!({"channelId": "g0", "userIds": ids(101)}),
            1005,
        ),
        // §7.13: nickname <= 64, extra <= 128; §7.14: alias <= 64.
        (
            v4path::MEMBER_SET,
            json!({"channelId": "g0", "userId": "o", "nickname": "n".repeat(65)}),
            1005,
        ),
        (
            v4path::MEMBER_SET,
            json!({"channelId": "g0", "userId": "o", "extra": "e".repeat(129)}),
            1005,
        ),
        (
            v4path::ALIAS_SET,
            json!({"channelId": "g0", "userId": "o", "alias": "a".repeat(65)}),
            1005,
        ),
        (
            v4path::ALIAS_SET,
            json!({"channelId": "g0", "userId": "o", "alias": ""}),
            1002,
        ),
        // §7.17: favoriteIds <= 100.
        (
            v4path::FAVORITES_ADD,
            json!({"channelId": "g0", "userId": "o", "favoriteIds": ids(101)}),
            1005,
        ),
        // §4: pageSize 1-100 (member/list, joined/list), 1-1000 (list).
        (
            v4path::MEMBER_LIST,
            json!({"channelId": "g0", "pageSize": 0}),
            1002,
        ),
        (
            v4path::MEMBER_LIST,
            json!({"channelId": "g0", "pageSize": 101}),
            1002,
        ),
        (
            v4path::MEMBER_LIST,
            json!({"channelId": "g0", "memberRole": 4}),
            1002,
        ),
        (
            v4path::JOINED_LIST,
            json!({"userId": "o", "pageSize": 101}),
            1002,
        ),
        (v4path::LIST, json!({"pageSize": 1001}), 1002),
        (v4path::LIST, json!({"order": 2}), 1002),
        // §7.M: mute userIds <= 20, durationMinutes 0-43200.
        (
            v4path::MUTE_LIST_ADD,
            json!({"channelId": "g0", "userIds": ids(21), "durationMinutes": 1}),
            1005,
        ),
        (
            v4path::MUTE_LIST_ADD,
            json!({"channelId": "g0", "userIds": ["a"], "durationMinutes": 43_201}),
            1002,
        ),
        (
            v4path::MUTE_LIST_ADD,
            json!({"channelId": "g0", "userIds": ["a"]}),
            1002,
        ),
        // §7.6: userId required.
        (v4path::MEMBER_KICKOUT_ALL, json!({}), 1002),
    ];
    t.v4_create("g0", "o", &[]).await;
    for (p, body, want) in cases {
        t.v4_fails(p, body, want, BAD).await;
    }
    // The edges themselves are fine.
    t.v4_ok(
        v4path::CREATE,
        json!({"channelId": "a".repeat(64), "name": "n".repeat(64), "owner": "o", "userIds": ids(30),
            "groupExtProfile": (0..10).map(|i| (format!("ext_{i}"), json!("v".repeat(256)))).collect::<serde_json::Map<_, _>>()}),
    )
    .await;
    t.v4_ok(v4path::LIST, json!({"pageSize": 1000})).await;
    t.v4_ok(v4path::PROFILE_LIST, json!({"channelIds": ids(50)}))
        .await;
    t.v4_ok(
        v4path::MUTE_LIST_ADD,
        json!({"channelId": "g0", "userIds": ids(20), "durationMinutes": 43_200}),
    )
    .await;
    assert!(t.sim.group("g").is_none(), "nothing refused was created");
}

// ---------------------------------------------------------------- paging

/// §4: `pageToken` is opaque, omitted on the first page, and in the answer
/// only while more results follow; `totalCount` on member/list only.
#[tokio::test]
async fn paging() {
    let t = T::new().await;
    t.v4_create("g", "o", &["a", "b", "c", "d"]).await;
    let page = |token: Option<&str>| {
        let mut b = json!({"channelId": "g", "pageSize": 2, "order": 0});
        if let Some(tok) = token {
            b["pageToken"] = json!(tok);
        }
        b
    };
    let users = |v: &Value, key: &str| -> Vec<String> {
        v["result"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["userId"]
                    .as_str()
                    .or(m["channelId"].as_str())
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let p1 = t.v4_ok(v4path::MEMBER_LIST, page(None)).await;
    assert_eq!(users(&p1, "members"), ["o", "a"]);
    assert_eq!(p1["result"]["totalCount"], 5);
    let tok1 = p1["result"]["pageToken"].as_str().unwrap().to_owned();
    let p2 = t.v4_ok(v4path::MEMBER_LIST, page(Some(&tok1))).await;
    assert_eq!(users(&p2, "members"), ["b", "c"]);
    let tok2 = p2["result"]["pageToken"].as_str().unwrap().to_owned();
    let p3 = t.v4_ok(v4path::MEMBER_LIST, page(Some(&tok2))).await;
    assert_eq!(users(&p3, "members"), ["d"]);
    assert!(p3["result"].get("pageToken").is_none(), "last page: {p3}");
    // Default order 1 (newest first) and size 50 (§7.11, §4); role filter.
    let all = t
        .v4_ok(v4path::MEMBER_LIST, json!({"channelId": "g"}))
        .await;
    assert_eq!(users(&all, "members"), ["d", "c", "b", "a", "o"]);
    let owners = t
        .v4_ok(
            v4path::MEMBER_LIST,
            json!({"channelId": "g", "memberRole": 3}),
        )
        .await;
    assert_eq!(
        (users(&owners, "members"), &owners["result"]["totalCount"]),
        (vec!["o".to_owned()], &json!(1))
    );
    // A token belongs to its query; an altered one is invalid (1002).
    let mut other = page(Some(&tok1));
    other["order"] = json!(1);
    t.v4_fails(v4path::MEMBER_LIST, other, 1002, BAD).await;
    t.v4_fails(v4path::MEMBER_LIST, page(Some("garbage")), 1002, BAD)
        .await;

    // list (§7.20): by creation, no totalCount.
    for i in 0..3 {
        t.v4_create(&format!("h{i}"), "o", &[]).await;
    }
    let l1 = t
        .v4_ok(v4path::LIST, json!({"pageSize": 3, "order": 0}))
        .await;
    assert_eq!(users(&l1, "groups"), ["g", "h0", "h1"]);
    assert!(l1["result"].get("totalCount").is_none());
    let tok = l1["result"]["pageToken"].as_str().unwrap();
    let l2 = t
        .v4_ok(
            v4path::LIST,
            json!({"pageSize": 3, "order": 0, "pageToken": tok}),
        )
        .await;
    assert_eq!(users(&l2, "groups"), ["h2"]);
    assert!(l2["result"].get("pageToken").is_none());

    // joined/list (§7.21): by the user's join time, no totalCount.
    let j1 = t
        .v4_ok(v4path::JOINED_LIST, json!({"userId": "o", "pageSize": 3}))
        .await;
    assert_eq!(users(&j1, "groups"), ["h2", "h1", "h0"]);
    assert!(j1["result"].get("totalCount").is_none());
    let g = &j1["result"]["groups"][0];
    assert_eq!((&g["role"], &g["memberCount"]), (&json!(3), &json!(1)));
    let tok = j1["result"]["pageToken"].as_str().unwrap();
    let j2 = t
        .v4_ok(
            v4path::JOINED_LIST,
            json!({"userId": "o", "pageSize": 3, "pageToken": tok}),
        )
        .await;
    assert_eq!(users(&j2, "groups"), ["g"]);

    // freeze-list/get (§4): page numbers.
    t.v4_ok(
        v4path::FREEZE_LIST_ADD,
        json!({"channelIds": ["h1", "g", "h0"]}),
    )
    .await;
    let f = t
        .v4_ok(v4path::FREEZE_LIST_GET, json!({"page": 2, "pageSize": 2}))
        .await;
    assert_eq!(
        f["result"]["freezeStatuses"],
        json!([{"channelId": "h0", "status": 1}])
    );
}

// ---------------------------------------------------------------- spellings

/// §9.1: `leave` (the SDK's, with `shouldDelete*`) and `quit` (the doc
/// page's, with `isDel*`) are the same endpoint, each taking both field
/// sets; defaults 1 (§7.5). §9.2: `shouldQuit` for `shouldLeave`.
#[tokio::test]
async fn leave_and_quit() {
    let t = T::new().await;
    t.v4_create("g", "o", &["a", "b", "c", "d"]).await;
    let mute = |users: &[&str]| json!({"channelId": "g", "userIds": users, "durationMinutes": 0});
    t.v4_ok(v4path::MUTE_LIST_ADD, mute(&["a", "b", "c", "d"]))
        .await;
    t.v4_ok(v4path::LEAVE, json!({"channelId": "g", "userIds": ["a"]}))
        .await;
    t.v4_ok(
        v4path::QUIT,
        json!({"channelId": "g", "userIds": ["b"], "isDelBan": 0}),
    )
    .await;
    t.v4_ok(
        v4path::LEAVE,
        json!({"channelId": "g", "userIds": ["c"], "isDelBan": 0}),
    )
    .await;
    t.v4_ok(
        v4path::QUIT,
        json!({"channelId": "g", "userIds": ["d"], "shouldDeleteMute": 1}),
    )
    .await;
    let g = t.sim.group("g").unwrap();
    assert_eq!(g.members, m(&[("o", 3)]));
    assert_eq!(g.muted, ["b", "c"], "kept only where asked");
    // The two names disagreeing: 1002.
    t.v4_create("h", "o", &["a"]).await;
    t.v4_fails(
        v4path::QUIT,
        json!({"channelId": "h", "userIds": ["a"], "isDelBan": 1, "shouldDeleteMute": 0}),
        1002,
        BAD,
    )
    .await;
    // transfer/owner with the doc's shouldQuit.
    t.v4_ok(
        v4path::TRANSFER_OWNER,
        json!({"channelId": "h", "newOwner": "a", "shouldQuit": 1}),
    )
    .await;
    assert_eq!(t.sim.group("h").unwrap().members, m(&[("a", 3)]));
}

/// §9.5: `user/mute-list/get` (the SDK's) and `user/mute-list-get` (the
/// endpoint list's) answer alike; §7.M: times are `YYYY-MM-DD HH:MM:SS`, a
/// permanent mute has no end, no `channelId` means every group.
#[tokio::test]
async fn mute_list_spellings() {
    let t = T::new().await;
    t.v4_create("g", "o", &["a"]).await;
    t.v4_ok(
        v4path::MUTE_LIST_ADD,
        json!({"channelId": "g", "userIds": ["a"], "durationMinutes": 10}),
    )
    .await;
    t.v4_ok(
        v4path::MUTE_LIST_ADD,
        json!({"channelId": "g", "userIds": ["x"], "durationMinutes": 0}),
    )
    .await;
    let slash = t
        .v4_ok(v4path::MUTE_LIST_GET, json!({"channelId": "g"}))
        .await;
    let dash = t
        .v4_ok(v4path::MUTE_LIST_GET_DASHED, json!({"channelId": "g"}))
        .await;
    assert_eq!(slash, dash);
    let list = slash["result"]["mutedMembers"].as_array().unwrap();
    assert_eq!(
        (&list[0]["userId"], &list[1]["userId"]),
        (&json!("a"), &json!("x"))
    );
    let at = list[0]["mutedAt"].as_str().unwrap();
    assert!(
        at.len() == 19 && at.as_bytes()[4] == b'-' && at.as_bytes()[10] == b' ',
        "{at}"
    );
    assert!(list[0]["muteExpiresAt"].is_string());
    assert!(list[1].get("muteExpiresAt").is_none(), "permanent");
    // Global (no channelId), kept apart from the group's.
    t.v4_ok(
        v4path::MUTE_LIST_ADD,
        json!({"userIds": ["a"], "durationMinutes": 5}),
    )
    .await;
    let global = t.v4_ok(v4path::MUTE_LIST_GET_DASHED, json!({})).await;
    assert_eq!(
        global["result"]["mutedMembers"].as_array().unwrap().len(),
        1
    );
    t.v4_ok(
        v4path::MUTE_LIST_REMOVE,
        json!({"channelId": "g", "userIds": ["a", "x"]}),
    )
    .await;
    let after = t
        .v4_ok(v4path::MUTE_LIST_GET, json!({"channelId": "g"}))
        .await;
    assert_eq!(after["result"]["mutedMembers"], json!([]));
    t.v4_fails(
        v4path::MUTE_LIST_GET,
        json!({"channelId": "nope"}),
        25410,
        BAD,
    )
    .await;
}

/// §7.M: the freeze and allowed-sender lists (status values are the
/// simulator's: 1 frozen, 0 not).
#[tokio::test]
async fn freeze_and_allowed_senders() {
    let t = T::new().await;
    t.v4_create("g", "o", &[]).await;
    t.v4_create("h", "o", &[]).await;
    t.v4_fails(
        v4path::FREEZE_LIST_ADD,
        json!({"channelIds": ["g", "nope"]}),
        25410,
        BAD,
    )
    .await;
    assert!(!t.sim.group("g").unwrap().frozen, "all or nothing");
    t.v4_ok(v4path::FREEZE_LIST_ADD, json!({"channelIds": ["g"]}))
        .await;
    let f = t
        .v4_ok(
            v4path::FREEZE_LIST_GET,
            json!({"channelIds": ["h", "g", "nope"]}),
        )
        .await;
    assert_eq!(
        f["result"]["freezeStatuses"],
        json!([{"channelId": "h", "status": 0}, {"channelId": "g", "status": 1}])
    );
    t.v4_ok(v4path::FREEZE_LIST_REMOVE, json!({"channelIds": ["g"]}))
        .await;
    let f = t.v4_ok(v4path::FREEZE_LIST_GET, json!({})).await;
    assert_eq!(f["result"]["freezeStatuses"], json!([]));

    t.v4_ok(
        v4path::ALLOWED_SENDER_LIST_ADD,
        json!({"channelId": "g", "userIds": ["b", "a"]}),
    )
    .await;
    t.v4_ok(
        v4path::ALLOWED_SENDER_LIST_REMOVE,
        json!({"channelId": "g", "userIds": ["b"]}),
    )
    .await;
    let a = t
        .v4_ok(v4path::ALLOWED_SENDER_LIST_GET, json!({"channelId": "g"}))
        .await;
    assert_eq!(a["result"], json!({"userIds": ["a"]}));
    t.v4_fails(
        v4path::ALLOWED_SENDER_LIST_GET,
        json!({"channelId": "nope"}),
        25410,
        BAD,
    )
    .await;
}

// ---------------------------------------------------------------- auth

/// §2: the same signature as entrust, under plain or `RC-` names; strict
/// mode adds the v4 auth page's rules on v4 paths only: a millisecond
/// Timestamp and a Nonce of at most 18 characters (and channelId letters
/// and digits only, §6).
#[tokio::test]
async fn strict_auth() {
    let list = || Req::v4(v4path::LIST, &json!({}));
    // Not strict: seconds and long nonces pass, as on entrust paths.
    let t = T::new().await;
    let lax = resigned(list(), &"7".repeat(19), &now_s());
    assert_eq!(t.send(&lax).await.code(), 0);
    // RC- aliases (§2).
    let r = list();
    let mut aliased = r.clone();
    for h in ["App-Key", "Nonce", "Timestamp", "Signature"] {
        let v = r.header(h);
        aliased = aliased.without(h).set(&format!("RC-{h}"), &v);
    }
    assert_eq!(t.send(&aliased).await.code(), 0);

    let mut cfg = SimConfig::new(KEY, SECRET);
    cfg.strict = true;
    let t = T::with(cfg).await;
    let ms = || now_ms().to_string();
    let cases = [
        ("seconds", resigned(list(), "s1", &now_s()), 1004),
        (
            "19-char nonce",
            resigned(list(), &"7".repeat(19), &ms()),
            1004,
        ),
        ("18-char nonce", resigned(list(), &"8".repeat(18), &ms()), 0),
        (
            "a replay of it",
            resigned(list(), &"8".repeat(18), &ms()),
            1004,
        ),
    ];
    for (what, req, want) in cases {
        let r = t.send(&req).await;
        let status = if want == 0 { 200 } else { 401 };
        assert_eq!((r.status, r.code()), (status, want), "{what}");
    }
    // Entrust paths keep their rules in strict mode.
    let entrust = resigned(Req::form(path::GROUP_QUERY, &[]), &"9".repeat(19), &now_s());
    assert_eq!(t.send(&entrust).await.code(), 200);
    // §6: channelId letters and digits only.
    t.v4_fails(
        v4path::CREATE,
        json!({"channelId": "RC_GROUP_1", "name": "n", "owner": "o"}),
        1002,
        BAD,
    )
    .await;
    t.v4_ok(
        v4path::CREATE,
        json!({"channelId": "RCGROUP1", "name": "n", "owner": "o"}),
    )
    .await;
}

// ---------------------------------------------------------------- store

/// The simulator's choice (src/sim/v4/mod.rs): one store for both APIs,
/// a group made through one seen and changed through the other (§5 maps
/// each v4 path to its entrust path; §8 the renamed fields).
#[tokio::test]
async fn one_store_for_both_dialects() {
    let t = T::new().await;
    // entrust → v4.
    t.create("eg", "o", "a,b").await;
    let v = t
        .v4_ok(v4path::PROFILE_LIST, json!({"channelIds": ["eg"]}))
        .await;
    assert_eq!(v["result"]["profiles"][0]["memberCount"], 3);
    t.v4_ok(v4path::JOIN, json!({"channelId": "eg", "userIds": ["c"]}))
        .await;
    let q = t
        .ok(path::MEMBER_QUERY, &[("groupId", "eg"), ("order", "0")])
        .await;
    assert_eq!(q["members"].as_array().unwrap().len(), 4);
    // v4 → entrust: profile objects come back as entrust's JSON text.
    t.v4_ok(
        v4path::CREATE,
        json!({"channelId": "vg", "name": "V", "owner": "o", "userIds": ["a"],
            "groupProfile": {"introduction": "hi"}, "groupExtProfile": {"ext_k": "v"}}),
    )
    .await;
    let p = t.ok(path::PROFILE_QUERY, &[("groupIds", "vg")]).await;
    let prof = &p["profiles"][0];
    assert_eq!(prof["groupName"], "V");
    let gp: Value = serde_json::from_str(prof["groupProfile"].as_str().unwrap()).unwrap();
    assert_eq!(gp, json!({"introduction": "hi"}));
    // Aliases are remark names (§8).
    t.v4_ok(
        v4path::ALIAS_SET,
        json!({"channelId": "vg", "userId": "a", "alias": "mine"}),
    )
    .await;
    let r = t
        .ok(
            path::REMARK_NAME_QUERY,
            &[("groupId", "vg"), ("userId", "a")],
        )
        .await;
    assert_eq!(r["remarkName"], "mine");
    // Favorites are follows (§8).
    t.ok(
        path::MEMBER_FOLLOW,
        &[("groupId", "vg"), ("userId", "a"), ("followUserIds", "o")],
    )
    .await;
    let f = t
        .v4_ok(
            v4path::FAVORITES_LIST,
            json!({"channelId": "vg", "userId": "a"}),
        )
        .await;
    assert_eq!(f["result"]["favorites"][0]["userId"], "o");
    // entrust's isDelBan clears a v4 mute; dismissing ends both views.
    t.v4_ok(
        v4path::MUTE_LIST_ADD,
        json!({"channelId": "vg", "userIds": ["a"], "durationMinutes": 0}),
    )
    .await;
    t.ok(
        path::GROUP_QUIT,
        &[("groupId", "vg"), ("userIds", "a"), ("isDelBan", "1")],
    )
    .await;
    assert!(t.sim.group("vg").unwrap().muted.is_empty());
    t.ok(path::GROUP_DISMISS, &[("groupId", "vg")]).await;
    t.v4_fails(v4path::DISMISS, json!({"channelId": "vg"}), 25410, BAD)
        .await;
    // Two APIs, one id space: 25409 across them.
    t.v4_fails(
        v4path::CREATE,
        json!({"channelId": "eg", "name": "n", "owner": "o"}),
        25409,
        BAD,
    )
    .await;
}

// ---------------------------------------------------------------- rate

/// §5, §9.7: 100 requests per second per path; past that 1008 with HTTP
/// 429. Each path (each spelling too) has its own window.
#[tokio::test]
async fn rate_limit_per_v4_path() {
    let t = T::new().await;
    let req = Req::v4(v4path::MUTE_LIST_GET, &json!({}));
    assert_eq!(t.flood(&req, 150, 0).await, (100, 50));
    assert_eq!(t.sim.accepted(v4path::MUTE_LIST_GET), 100);
    let r = t.v4(v4path::MUTE_LIST_GET, json!({})).await;
    assert_eq!(
        (r.status, r.json()),
        (
            429,
            json!({"code": 1008, "errorMessage": "too many requests for this API in the last second"})
        )
    );
    // Other paths, the other spelling and the entrust paths are not held.
    t.v4_ok(v4path::MUTE_LIST_GET_DASHED, json!({})).await;
    t.v4_ok(v4path::LIST, json!({})).await;
    t.ok(path::GROUP_QUERY, &[]).await;
}

/// Every documented path answers (§5): a smoke pass over all 32, each with
/// a body that its endpoint accepts.
#[tokio::test]
async fn every_documented_path_answers() {
    let t = T::new().await;
    t.v4_create("g", "o", &["a", "b", "c"]).await;
    let calls: Vec<(&str, Value)> = vec![
        (
            v4path::PROFILE_UPDATE,
            json!({"channelId": "g", "groupProfile": {"name": "R"}}),
        ),
        (v4path::PROFILE_LIST, json!({"channelIds": ["g"]})),
        (
            v4path::JOIN,
            json!({"channelId": "g", "userIds": ["d", "e"]}),
        ),
        (
            v4path::ADMIN_ADD,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (
            v4path::ADMIN_REMOVE,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (v4path::MEMBER_LIST, json!({"channelId": "g"})),
        (
            v4path::MEMBER_BATCH_GET,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (
            v4path::MEMBER_SET,
            json!({"channelId": "g", "userId": "a", "nickname": "A"}),
        ),
        (
            v4path::ALIAS_SET,
            json!({"channelId": "g", "userId": "a", "alias": "x"}),
        ),
        (v4path::ALIAS_GET, json!({"channelId": "g", "userId": "a"})),
        (
            v4path::ALIAS_DELETE,
            json!({"channelId": "g", "userId": "a"}),
        ),
        (
            v4path::FAVORITES_ADD,
            json!({"channelId": "g", "userId": "a", "favoriteIds": ["b"]}),
        ),
        (
            v4path::FAVORITES_LIST,
            json!({"channelId": "g", "userId": "a"}),
        ),
        (
            v4path::FAVORITES_REMOVE,
            json!({"channelId": "g", "userId": "a", "favoriteIds": ["b"]}),
        ),
        (v4path::LIST, json!({})),
        (v4path::JOINED_LIST, json!({"userId": "a"})),
        (
            v4path::MUTE_LIST_ADD,
            json!({"channelId": "g", "userIds": ["a"], "durationMinutes": 1}),
        ),
        (v4path::MUTE_LIST_GET, json!({})),
        (v4path::MUTE_LIST_GET_DASHED, json!({"channelId": "g"})),
        (
            v4path::MUTE_LIST_REMOVE,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (v4path::FREEZE_LIST_ADD, json!({"channelIds": ["g"]})),
        (v4path::FREEZE_LIST_GET, json!({})),
        (v4path::FREEZE_LIST_REMOVE, json!({"channelIds": ["g"]})),
        (
            v4path::ALLOWED_SENDER_LIST_ADD,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (v4path::ALLOWED_SENDER_LIST_GET, json!({"channelId": "g"})),
        (
            v4path::ALLOWED_SENDER_LIST_REMOVE,
            json!({"channelId": "g", "userIds": ["a"]}),
        ),
        (v4path::LEAVE, json!({"channelId": "g", "userIds": ["b"]})),
        (v4path::QUIT, json!({"channelId": "g", "userIds": ["c"]})),
        (
            v4path::TRANSFER_OWNER,
            json!({"channelId": "g", "newOwner": "a"}),
        ),
        (v4path::MEMBER_KICKOUT_ALL, json!({"userId": "d"})),
        (v4path::DISMISS, json!({"channelId": "g"})),
    ];
    for (p, body) in calls {
        t.v4_ok(p, body).await;
    }
    let missed: Vec<&str> = v4path::DOCUMENTED
        .iter()
        .copied()
        .filter(|p| t.sim.accepted(p) == 0)
        .collect();
    assert!(missed.is_empty(), "{missed:?}");
}
