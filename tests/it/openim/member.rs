//! Membership on the OpenIM face: every route, OpenIM's life-cycle end to
//! end, OpenIM's own checks, the upstream codes, paging, and the
//! partial-failure answer.

use std::time::Duration;

use crate::common::openim::{
    ADMIN, Im, both_apis, dialect_path, dialect_paths, err, form, pairs, roles,
};
use entrust_gateway::entrust::path;
use entrust_gateway::sim::{Fault, FaultRule};
use serde_json::{Value, json};

fn users(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

both_apis! {
/// OpenIM's life-cycle: create, invite, transfer, read, kick, dismiss,
/// create again, set info, quit, with read-backs.
#[tokio::test]
async fn life_cycle() {
    let im = Im::start().await;
    im.create("life1", "own", &["m1"]).await;
    im.ok(
        "/group/invite_user_to_group",
        json!({"groupID": "life1", "invitedUserIDs": ["m2", "m3"], "reason": "hi"}),
    )
    .await;
    let d = im.member_page("life1", 1, 100).await;
    assert_eq!(d["total"], 4);
    assert_eq!(
        roles(&d["members"]),
        pairs(&[("own", 100), ("m1", 20), ("m2", 20), ("m3", 20)])
    );
    im.ok(
        "/group/transfer_group",
        json!({"groupID": "life1", "oldOwnerUserID": "own", "newOwnerUserID": "m2"}),
    )
    .await;
    assert_eq!(im.info("life1").await["ownerUserID"], "m2");
    let d = im.member_page("life1", 1, 100).await;
    // OpenIM's order: role level descending, then join time
    // (open-im-server pkg/common/storage/database/mgo/group_member.go ~line 62,
    // memberSort); the old owner takes m2's former level, 20
    // (pkg/common/storage/controller/group.go ~line 421, TransferGroupOwner).
    assert_eq!(
        roles(&d["members"]),
        pairs(&[("m2", 100), ("own", 20), ("m1", 20), ("m3", 20)])
    );
    let m = &d["members"][0];
    assert_eq!(m["groupID"], "life1");
    assert!(m["joinTime"].as_i64().unwrap() > 1_600_000_000_000);
    for k in [
        "nickname",
        "faceURL",
        "joinSource",
        "inviterUserID",
        "operatorUserID",
        "muteEndTime",
        "ex",
        "appMangerLevel",
    ] {
        assert!(m.get(k).is_some(), "{k}");
    }
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "life1", "userIDs": ["m3", "nobody", "m2"]}),
        )
        .await;
    assert_eq!(roles(&d["members"]), pairs(&[("m3", 20), ("m2", 100)]));
    im.ok(
        "/group/kick_group",
        json!({"groupID": "life1", "kickedUserIDs": ["m1", "m3"], "reason": "bye"}),
    )
    .await;
    let d = im.member_page("life1", 1, 100).await;
    assert_eq!(roles(&d["members"]), pairs(&[("m2", 100), ("own", 20)]));
    assert_eq!(im.info("life1").await["memberCount"], 2);
    im.ok(
        "/group/dismiss_group",
        json!({"groupID": "life1", "deleteMember": true}),
    )
    .await;
    assert!(im.env.sim.group("life1").is_none());
    assert_eq!(im.info("life1").await, Value::Null);
    // An unknown group's members: errCode 0, none (open-im-server
    // internal/rpc/group/group.go ~line 526 GetGroupMemberList reads the
    // member ids, an empty list for a group that isn't there).
    let d = im.member_page("life1", 1, 10).await;
    assert_eq!(d, json!({"total": 0, "members": []}));
    // Create the same id again, set its info, and a member quits.
    im.create("life1", "own", &["q1", "q2"]).await;
    im.ok(
        "/group/set_group_info_ex",
        json!({"groupID": "life1", "groupName": "again", "ex": "x"}),
    )
    .await;
    im.ok(
        "/group/quit_group",
        json!({"groupID": "life1", "userID": "q1"}),
    )
    .await;
    let info = im.info("life1").await;
    assert_eq!(info["groupName"], "again");
    assert_eq!(info["ex"], "x");
    assert_eq!(info["memberCount"], 2);
    let d = im.member_page("life1", 1, 100).await;
    assert_eq!(roles(&d["members"]), pairs(&[("own", 100), ("q2", 20)]));
    // The upstream calls, in order, for the last part.
    let tail: Vec<String> = im.paths().into_iter().rev().take(6).collect();
    assert_eq!(
        tail,
        dialect_paths(&[
            // The page's mute ends (src/openim/mute.rs).
            path::GAG_LIST,
            path::MEMBER_QUERY,
            path::MEMBER_QUERY,
            path::MEMBER_QUERY,
            // get_groups_info: whether the group is muted, its profile.
            path::BAN_QUERY,
            path::PROFILE_QUERY,
        ])
    );
}
}

both_apis! {
/// join_group adds inviterUserID and nobody else (open-im-server
/// internal/rpc/group/group.go ~line 924 JoinGroup: the member is
/// req.InviterUserID); joinSource must be 1-4 (protocol group/group.go ~line
/// 89, "joinSource is invalid"); quit without userID is the token's user
/// (group.go ~line 1003).
#[tokio::test]
async fn join_adds_the_inviter_and_quit_defaults_to_the_token_user() {
    let im = Im::start().await;
    im.create("jq1", "own", &[]).await;
    im.ok(
        "/group/set_group_info_ex",
        json!({"groupID": "jq1", "needVerification": 2}),
    )
    .await;
    im.env.sim.clear_requests();
    im.ok(
        "/group/join_group",
        json!({"groupID": "jq1", "reqMessage": "let me in", "joinSource": 3, "inviterUserID": "x1"}),
    )
    .await;
    let joins = im.requests_to(path::GROUP_JOIN);
    assert_eq!(joins.len(), 1);
    assert_eq!(form(&joins[0])["userIds"], "x1");
    let d = im.member_page("jq1", 1, 100).await;
    assert_eq!(roles(&d["members"]), pairs(&[("own", 100), ("x1", 20)]));
    // joinSource 0 (or absent, or 5) → 1001 before any vendor call.
    im.env.sim.clear_requests();
    for body in [
        json!({"groupID": "jq1", "joinSource": 0, "inviterUserID": "x2"}),
        json!({"groupID": "jq1", "inviterUserID": "x2"}),
        json!({"groupID": "jq1", "joinSource": 5, "inviterUserID": "x2"}),
    ] {
        let v = im.post("/group/join_group", body).await;
        assert_eq!(err(&v), (1001, "joinSource is invalid".to_string()), "{v}");
    }
    let v = im
        .post(
            "/group/join_group",
            json!({"groupID": "jq1", "joinSource": 3}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(v["errDlt"].as_str().unwrap().contains("inviterUserID"));
    assert!(im.paths().is_empty(), "{:?}", im.paths());
    // Joining twice: OpenIM's ErrArgs (group.go ~line 952).
    let v = im
        .post(
            "/group/join_group",
            json!({"groupID": "jq1", "joinSource": 3, "inviterUserID": "x1"}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    // An unknown group: TakeGroup's 1004 (group.go ~line 929).
    let v = im
        .post(
            "/group/join_group",
            json!({"groupID": "nope", "joinSource": 3, "inviterUserID": "x1"}),
        )
        .await;
    assert_eq!(v["errCode"], 1004, "{v}");
    // Where OpenIM would record an application (needVerification 0 or 1,
    // group.go ~line 982), the vendor holds none: 1002, nobody joins.
    im.create("jq3", "own", &[]).await;
    im.env.sim.clear_requests();
    let v = im
        .post(
            "/group/join_group",
            json!({"groupID": "jq3", "joinSource": 3, "inviterUserID": "x1"}),
        )
        .await;
    assert_eq!(v["errCode"], 1002, "{v}");
    assert!(v["errDlt"].as_str().unwrap().contains("application"), "{v}");
    assert!(im.requests_to(path::GROUP_JOIN).is_empty());
    im.ok(
        "/group/quit_group",
        json!({"groupID": "jq1", "userID": "x1"}),
    )
    .await;
    let d = im.member_page("jq1", 1, 100).await;
    assert_eq!(roles(&d["members"]), pairs(&[("own", 100)]));
    // The token's user quits when no userID is given.
    im.ok(
        "/group/invite_user_to_group",
        json!({"groupID": "jq1", "invitedUserIDs": [ADMIN]}),
    )
    .await;
    im.ok("/group/quit_group", json!({"groupID": "jq1"})).await;
    let d = im.member_page("jq1", 1, 100).await;
    assert_eq!(roles(&d["members"]), pairs(&[("own", 100)]));
    // Without tokens there is no user to default to.
    let open = Im::start_open().await;
    open.create("jq2", "own", &[]).await;
    let v = open
        .post("/group/quit_group", json!({"groupID": "jq2"}))
        .await;
    assert_eq!(v["errCode"], 1001);
    assert!(v["errDlt"].as_str().unwrap().contains("userID"));
}
}

both_apis! {
#[tokio::test]
async fn member_info_set_and_read_back() {
    let im = Im::start().await;
    im.create("mi1", "own", &["a", "b"]).await;
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [
            {"groupID": "mi1", "userID": "a", "nickname": "Alice", "ex": "{\"k\":1}", "roleLevel": 60},
            {"groupID": "mi1", "userID": "b", "nickname": "Bob", "faceURL": ""}
        ]}),
    )
    .await;
    let set = im.requests_to(path::MEMBER_SET);
    let f = form(&set[0]);
    assert_eq!(
        (
            f["userId"].as_str(),
            f["nickname"].as_str(),
            f["extra"].as_str()
        ),
        ("a", "Alice", "{\"k\":1}")
    );
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "mi1", "userIDs": ["a", "b"]}),
        )
        .await;
    let a = &d["members"][0];
    assert_eq!(
        (&a["nickname"], &a["ex"], &a["roleLevel"]),
        (&json!("Alice"), &json!("{\"k\":1}"), &json!(60))
    );
    assert_eq!(d["members"][1]["nickname"], "Bob");
    assert_eq!(d["members"][1]["ex"], "");
    // Back to member; ex cleared; nickname untouched.
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [{"groupID": "mi1", "userID": "a", "ex": "", "roleLevel": 20}]}),
    )
    .await;
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "mi1", "userIDs": ["a"]}),
        )
        .await;
    let a = &d["members"][0];
    assert_eq!(
        (&a["nickname"], &a["ex"], &a["roleLevel"]),
        (&json!("Alice"), &json!(""), &json!(20))
    );
    // Same level again: no manager call.
    im.env.sim.clear_requests();
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [{"groupID": "mi1", "userID": "a", "roleLevel": 20}]}),
    )
    .await;
    assert_eq!(im.paths(), dialect_paths(&[path::MEMBER_SPECIFIC_QUERY]));
    // The owner's role can't change here.
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "mi1", "userID": "own", "roleLevel": 60}]}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
}
}

both_apis! {
/// Walking a long member list page by page costs linear vendor calls: the
/// face remembers the vendor's page token at each OpenIM page boundary
/// (src/openim/pages.rs), so page N+1 after page N is one call, where each
/// page used to walk the vendor's tokens from the start. Every member comes
/// exactly once, in OpenIM's order (owner, then members by join time).
/// The group has the simulator's most members (3,000); BENCHMARKS.md has
/// the figures for 10,000.
#[tokio::test]
async fn walking_a_member_list_costs_a_call_a_page() {
    let im = Im::start().await;
    let members = users("w", entrust_gateway::sim::MEMBER_MAX - 1);
    im.create("walk1", "own", &[]).await;
    for batch in members.chunks(1000) {
        let invited: Vec<&str> = batch.iter().map(String::as_str).collect();
        im.ok(
            "/group/invite_user_to_group",
            json!({"groupID": "walk1", "invitedUserIDs": invited}),
        )
        .await;
    }
    let mut want = vec!["own".to_string()];
    want.extend(members.iter().cloned());
    im.env.sim.clear_requests();
    let (show, pages) = (100, want.len().div_ceil(100));
    let mut seen = Vec::new();
    for page in 1..=pages {
        let d = im.member_page("walk1", page as i64, show).await;
        assert_eq!(d["total"], want.len(), "page {page}");
        seen.extend(roles(&d["members"]).into_iter().map(|(u, _)| u));
    }
    assert_eq!(seen, want, "every member once, in order");
    let calls = im.requests_to(path::MEMBER_QUERY).len();
    // The owner's and the managers' queries once, then one call a page
    // (the first page may take two).
    assert!(calls <= pages + 3, "{calls} vendor calls for {pages} pages");
}
}

both_apis! {
#[tokio::test]
async fn member_list_pages() {
    let im = Im::start().await;
    let members = users("p", 250);
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    im.create("pg1", "own", &refs).await;
    let mut all = vec!["own".to_string()];
    all.extend(members.iter().cloned());
    let ids =
        |d: &Value| -> Vec<String> { roles(&d["members"]).into_iter().map(|(u, _)| u).collect() };
    im.env.sim.clear_requests();
    let d = im.member_page("pg1", 2, 100).await;
    assert_eq!(d["total"], 251);
    assert_eq!(ids(&d), all[100..200].to_vec());
    // The owner's and the admins' queries, then two pages of members.
    assert_eq!(im.requests_to(path::MEMBER_QUERY).len(), 4);
    let d = im.member_page("pg1", 3, 100).await;
    assert_eq!(ids(&d), all[200..].to_vec());
    let d = im.member_page("pg1", 8, 7).await;
    assert_eq!(ids(&d), all[49..56].to_vec());
    let d = im.member_page("pg1", 9, 100).await;
    assert_eq!(d["members"], json!([]));
    assert_eq!(d["total"], 251);
    // showNumber 0 is an empty page, not an error (open-im-server
    // pkg/common/storage/controller/group.go ~line 341 PageGetGroupMember:
    // datautil.Paginate).
    let d = im.member_page("pg1", 1, 0).await;
    assert_eq!(d, json!({"total": 251, "members": []}));
    // pagination is required (protocol group/group.go ~line 124).
    let v = im
        .post("/group/get_group_member_list", json!({"groupID": "pg1"}))
        .await;
    assert_eq!(err(&v), (1001, "pagination is empty".to_string()));
    let d = im.member_page("pg1", 1, 1000).await;
    assert_eq!(ids(&d), all);
    // get_group_members_info over 100 users: batches of ≤100, order kept.
    im.env.sim.clear_requests();
    let mut want: Vec<String> = members.iter().rev().take(150).cloned().collect();
    want.push("own".into());
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "pg1", "userIDs": want}),
        )
        .await;
    assert_eq!(ids(&d), want);
    assert_eq!(im.requests_to(path::MEMBER_SPECIFIC_QUERY).len(), 2);
}
}

both_apis! {
#[tokio::test]
async fn joined_group_list() {
    let im = Im::start().await;
    for g in ["jg1", "jg2", "jg3"] {
        im.create(g, "own", &["u"]).await;
    }
    im.create("jg4", "other", &[]).await;
    im.ok(
        "/group/set_group_info_ex",
        json!({"groupID": "jg2", "needVerification": 2}),
    )
    .await;
    let d = im.joined_page("u", 1, 10).await;
    assert_eq!(d["total"], 3);
    let groups = d["groups"].as_array().unwrap();
    let ids: Vec<&str> = groups
        .iter()
        .map(|g| g["groupID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["jg1", "jg2", "jg3"]);
    assert_eq!(groups[1], im.info("jg2").await);
    assert_eq!(groups[1]["needVerification"], 2);
    let d = im.joined_page("u", 2, 2).await;
    assert_eq!(d["total"], 3);
    assert_eq!(d["groups"][0]["groupID"], "jg3");
    let d = im.joined_page("nobody", 1, 10).await;
    assert_eq!(d, json!({"total": 0, "groups": []}));
    // pagination is required (protocol group/group.go ~line 162).
    let v = im
        .post("/group/get_joined_group_list", json!({"fromUserID": "u"}))
        .await;
    assert_eq!(err(&v), (1001, "pagination is empty".to_string()));
}
}

both_apis! {
#[tokio::test]
async fn batches_of_one_hundred() {
    let im = Im::start().await;
    im.create("bt1", "own", &[]).await;
    im.env.sim.clear_requests();
    let many = users("i", 250);
    im.ok(
        "/group/invite_user_to_group",
        json!({"groupID": "bt1", "invitedUserIDs": many}),
    )
    .await;
    let sizes: Vec<usize> = im
        .requests_to(path::GROUP_JOIN)
        .iter()
        .map(|r| form(r)["userIds"].split(',').count())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(im.env.sim.group("bt1").unwrap().members.len(), 251);
    im.env.sim.clear_requests();
    im.ok(
        "/group/kick_group",
        json!({"groupID": "bt1", "kickedUserIDs": many[..150]}),
    )
    .await;
    assert_eq!(
        im.paths(),
        dialect_paths(&[path::PROFILE_QUERY, path::MEMBER_KICK, path::MEMBER_KICK])
    );
    assert_eq!(im.env.sim.group("bt1").unwrap().members.len(), 101);
    // Exactly one batch: one call, in which the vendor refuses the owner
    // itself (25417, src/openim/member.rs `kick`); the owner is looked up
    // only before a split.
    im.env.sim.clear_requests();
    im.ok(
        "/group/kick_group",
        json!({"groupID": "bt1", "kickedUserIDs": many[150..]}),
    )
    .await;
    assert_eq!(im.paths(), dialect_paths(&[path::MEMBER_KICK]));
    assert_eq!(im.env.sim.group("bt1").unwrap().members.len(), 1);
}
}

both_apis! {
/// A fault on the second join batch: the first 100 were added; the answer
/// says which users were done and which were not.
#[tokio::test]
async fn partial_failure_names_done_and_pending() {
    let im = Im::start().await;
    im.create("pf1", "own", &[]).await;
    // Rules are taken in order: the first join passes (a zero delay), the
    // second is refused with 25411 (member limit); nothing else is touched.
    im.env.sim.inject(FaultRule {
        path: Some(dialect_path(path::GROUP_JOIN)),
        fault: Fault::Delay(Duration::ZERO),
        times: Some(1),
    });
    im.env.sim.inject(FaultRule {
        path: Some(dialect_path(path::GROUP_JOIN)),
        fault: Fault::Code(25411, 200),
        times: Some(1),
    });
    let many = users("w", 230);
    let v = im
        .post(
            "/group/invite_user_to_group",
            json!({"groupID": "pf1", "invitedUserIDs": many}),
        )
        .await;
    let (code, dlt) = err(&v);
    assert_eq!(code, 1001, "{v}");
    assert!(dlt.contains("25411"), "{dlt}");
    let done = format!("done: [{}]", many[..100].join(","));
    let pending = format!("not done: [{}]", many[100..].join(","));
    assert!(dlt.contains(&done), "{dlt}");
    assert!(dlt.contains(&pending), "{dlt}");
    assert_eq!(im.env.sim.group("pf1").unwrap().members.len(), 101);
    assert_eq!(
        im.requests_to(path::GROUP_JOIN).len(),
        2,
        "no call after the failure"
    );
    // Retrying the pending ones completes the group.
    im.ok(
        "/group/invite_user_to_group",
        json!({"groupID": "pf1", "invitedUserIDs": many[100..]}),
    )
    .await;
    assert_eq!(im.env.sim.group("pf1").unwrap().members.len(), 231);

    // The same in create_group: members past the first 30 fail to join.
    im.env.sim.inject(FaultRule {
        path: Some(dialect_path(path::GROUP_JOIN)),
        fault: Fault::Code(1000, 500),
        times: Some(1),
    });
    let members = users("c", 40);
    let v = im
        .post(
            "/group/create_group",
            json!({"ownerUserID": "own", "memberUserIDs": members,
                "groupInfo": {"groupID": "pf2", "groupName": "n", "groupType": 2}}),
        )
        .await;
    let (code, dlt) = err(&v);
    assert_eq!(code, 500, "{v}");
    assert!(dlt.contains("group pf2 was created"), "{dlt}");
    assert!(
        dlt.contains(&format!("done: [{}]", members[..30].join(","))),
        "{dlt}"
    );
    assert!(
        dlt.contains(&format!("not done: [{}]", members[30..].join(","))),
        "{dlt}"
    );
}
}

both_apis! {
/// OpenIM's own checks answer 1001 before any upstream call.
#[tokio::test]
async fn checks_before_upstream() {
    let im = Im::start().await;
    let many_with_dup: Vec<String> = {
        let mut v = users("d", 150);
        v.push("d3".into());
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/group/invite_user_to_group",
            json!({"groupID": "g", "invitedUserIDs": []}),
            "invitedUserIDs",
        ),
        (
            "/group/invite_user_to_group",
            json!({"groupID": "g"}),
            "invitedUserIDs",
        ),
        (
            "/group/invite_user_to_group",
            json!({"groupID": "g", "invitedUserIDs": ["a", "b", "a"]}),
            "duplicate",
        ),
        (
            "/group/invite_user_to_group",
            json!({"groupID": "g", "invitedUserIDs": many_with_dup}),
            "duplicate",
        ),
        (
            "/group/invite_user_to_group",
            json!({"invitedUserIDs": ["a"]}),
            "groupID",
        ),
        (
            "/group/invite_user_to_group",
            json!({"groupID": "g", "invitedUserIDs": [""]}),
            "invitedUserIDs[0]",
        ),
        (
            "/group/kick_group",
            json!({"groupID": "g", "kickedUserIDs": []}),
            "kickedUserIDs",
        ),
        (
            "/group/kick_group",
            json!({"groupID": "g", "kickedUserIDs": ["a", "a"]}),
            "duplicate",
        ),
        (
            "/group/kick_group",
            json!({"kickedUserIDs": ["a"]}),
            "groupID",
        ),
        (
            "/group/transfer_group",
            json!({"groupID": "g", "oldOwnerUserID": "a", "newOwnerUserID": "a"}),
            "OldOwnerUserID == NewOwnerUserID",
        ),
        (
            "/group/transfer_group",
            json!({"groupID": "g", "oldOwnerUserID": "a"}),
            "newOwnerUserID",
        ),
        (
            "/group/transfer_group",
            json!({"groupID": "g", "newOwnerUserID": "a"}),
            "oldOwnerUserID",
        ),
        (
            "/group/transfer_group",
            json!({"oldOwnerUserID": "a", "newOwnerUserID": "b"}),
            "groupID",
        ),
        ("/group/quit_group", json!({"userID": "a"}), "groupID"),
        ("/group/dismiss_group", json!({}), "groupID"),
        (
            "/group/dismiss_group",
            json!({"groupID": "g", "deleteMember": 1}),
            "deleteMember",
        ),
        ("/group/join_group", json!({}), "groupID"),
        ("/group/get_group_member_list", json!({}), "groupID"),
        (
            "/group/get_group_member_list",
            json!({"groupID": "g", "pagination": {"pageNumber": 0, "showNumber": 10}}),
            "pageNumber is invalid",
        ),
        (
            "/group/get_group_member_list",
            json!({"groupID": "g", "pagination": {"pageNumber": 1, "showNumber": "10"}}),
            "pagination.showNumber",
        ),
        (
            "/group/get_group_member_list",
            json!({"groupID": "g", "filter": 6, "pagination": {"pageNumber": 1, "showNumber": 1}}),
            "filter is invalid",
        ),
        (
            "/group/get_group_members_info",
            json!({"groupID": "g", "userIDs": []}),
            "userIDs",
        ),
        (
            "/group/get_group_members_info",
            json!({"userIDs": ["a"]}),
            "groupID",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": []}),
            "members",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"userID": "a"}]}),
            "members[0].groupID",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g"}]}),
            "members[0].userID",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g", "userID": "a", "nickname": "n".repeat(65)}]}),
            "members[0].nickname",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g", "userID": "a", "ex": "e".repeat(129)}]}),
            "members[0].ex",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g", "userID": "a", "roleLevel": 30}]}),
            "invalid role level",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g", "userID": "a", "roleLevel": {"value": 60}}]}),
            "members[0].roleLevel",
        ),
        (
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "g", "userID": "a"}, {"groupID": "g", "userID": "a"}]}),
            "repeat group g user a",
        ),
        ("/group/get_joined_group_list", json!({}), "pagination"),
        (
            "/group/get_joined_group_list",
            json!({"pagination": {"pageNumber": 1, "showNumber": 1}}),
            "fromUserID",
        ),
    ];
    for (route, body, field) in cases {
        let v = im.post(route, body.clone()).await;
        let (code, dlt) = err(&v);
        assert_eq!(code, 1001, "{route} {body}: {v}");
        assert!(
            dlt.contains(field),
            "{route} {body}: errDlt {dlt:?} should name {field}"
        );
    }
    assert!(im.env.sim.requests().is_empty(), "{:?}", im.paths());
}
}

both_apis! {
/// Kicking the owner, found out either from the profile (before any kick,
/// when the list needs several calls) or from the vendor's 25417.
#[tokio::test]
async fn kicking_the_owner() {
    let im = Im::start().await;
    let members = users("k", 120);
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    im.create("ko1", "own", &refs).await;
    im.env.sim.clear_requests();
    let mut list = members.clone();
    list.push("own".into());
    let v = im
        .post(
            "/group/kick_group",
            json!({"groupID": "ko1", "kickedUserIDs": list}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(v["errDlt"].as_str().unwrap().contains("owner"));
    assert_eq!(
        im.paths(),
        dialect_paths(&[path::PROFILE_QUERY]),
        "nobody was kicked"
    );
    let v = im
        .post(
            "/group/kick_group",
            json!({"groupID": "ko1", "kickedUserIDs": ["k1", "own"]}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(v["errDlt"].as_str().unwrap().contains("25417"), "{v}");
    assert_eq!(im.env.sim.group("ko1").unwrap().members.len(), 121);
}
}

both_apis! {
/// The vendor's membership codes as OpenIM codes.
#[tokio::test]
async fn membership_codes() {
    let im = Im::start().await;
    im.create("mc1", "own", &["a"]).await;
    // 25412 already in the group → 1001.
    let v = im
        .post(
            "/group/invite_user_to_group",
            json!({"groupID": "mc1", "invitedUserIDs": ["a"]}),
        )
        .await;
    assert_eq!(err(&v).0, 1001, "{v}");
    assert!(err(&v).1.contains("25412"));
    // A non-member quitting: 1004 (open-im-server
    // internal/rpc/group/group.go ~line 1010, QuitGroup: TakeGroupMember).
    let v = im
        .post(
            "/group/quit_group",
            json!({"groupID": "mc1", "userID": "stranger"}),
        )
        .await;
    assert_eq!(err(&v).0, 1004, "{v}");
    assert_eq!(v["errMsg"], "RecordNotFoundError");
    // Transfer to a non-member: 1001 "user not in group" (group.go ~line
    // 1279, TransferGroupOwner).
    let v = im
        .post(
            "/group/transfer_group",
            json!({"groupID": "mc1", "oldOwnerUserID": "own", "newOwnerUserID": "stranger"}),
        )
        .await;
    assert_eq!(
        err(&v),
        (1001, "user not in group stranger".to_string()),
        "{v}"
    );
    // The owner quitting: 1002 "group owner can't quit" (group.go ~line 1015).
    let v = im
        .post(
            "/group/quit_group",
            json!({"groupID": "mc1", "userID": "own"}),
        )
        .await;
    assert_eq!(err(&v).0, 1002, "{v}");
    assert!(err(&v).1.contains("25417"));
    // Kicking a non-member: 1101 (group.go ~line 591, KickGroupMember:
    // ErrUserIDNotFound).
    let v = im
        .post(
            "/group/kick_group",
            json!({"groupID": "mc1", "kickedUserIDs": ["stranger"]}),
        )
        .await;
    assert_eq!(err(&v).0, 1101, "{v}");
    assert_eq!(v["errMsg"], "UserIDNotFoundError");
    // roleLevel 100 in set_group_member_info: 1002 (group.go ~line 1603,
    // "cannot set ungroup owner"), before any vendor call.
    im.env.sim.clear_requests();
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "mc1", "userID": "a", "roleLevel": 100}]}),
        )
        .await;
    assert_eq!(err(&v).0, 1002, "{v}");
    assert!(im.paths().is_empty());
    // A non-member in set_group_member_info: 1001 "user not in group"
    // (group.go ~line 1705), nothing written.
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "mc1", "userID": "a", "nickname": "A"},
                               {"groupID": "mc1", "userID": "stranger", "nickname": "S"}]}),
        )
        .await;
    assert_eq!(err(&v).0, 1001, "{v}");
    assert!(err(&v).1.contains("user not in group"), "{v}");
    assert!(im.requests_to(path::MEMBER_SET).is_empty());
    // 25411 member limit (injected) → 1001.
    im.env.sim.inject(FaultRule {
        path: Some(dialect_path(path::GROUP_JOIN)),
        fault: Fault::Code(25411, 200),
        times: Some(1),
    });
    let v = im
        .post(
            "/group/invite_user_to_group",
            json!({"groupID": "mc1", "invitedUserIDs": ["z"]}),
        )
        .await;
    assert_eq!(err(&v).0, 1001, "{v}");
    assert!(err(&v).1.contains("25411"));
    // The old owner must be the owner.
    let v = im
        .post(
            "/group/transfer_group",
            json!({"groupID": "mc1", "oldOwnerUserID": "a", "newOwnerUserID": "own"}),
        )
        .await;
    assert_eq!(err(&v).0, 1001, "{v}");
    // A group that doesn't exist.
    for (route, body) in [
        ("/group/dismiss_group", json!({"groupID": "nosuch"})),
        (
            "/group/transfer_group",
            json!({"groupID": "nosuch", "oldOwnerUserID": "a", "newOwnerUserID": "b"}),
        ),
        (
            "/group/invite_user_to_group",
            json!({"groupID": "nosuch", "invitedUserIDs": ["a"]}),
        ),
    ] {
        let v = im.post(route, body).await;
        assert_eq!(err(&v).0, 1004, "{route}: {v}");
    }
}
}
