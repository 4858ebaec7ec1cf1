//! The OpenIM face answers as open-im-server answers: key matching, codes
//! and shapes, the vendor-backed extra routes, and the routes the vendor
//! can't back. Each expected answer names the OpenIM source it follows
//! (open-im-server main 7848d7c, protocol 91e8d26).

use crate::common::openim::{Im, both_apis, err, form, pairs, roles, vendor_ok};
use entrust_gateway::entrust::path;
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// A group with owner `own`, admins `a1`, `a2` and members `m1`, `m2`
/// (created members first, so join order alone would not sort by role).
async fn ranked(im: &Im, id: &str) {
    im.ok(
        "/group/create_group",
        json!({"ownerUserID": "own", "memberUserIDs": ["m1", "m2"], "adminUserIDs": ["a1", "a2"],
               "groupInfo": {"groupID": id, "groupName": "ranked", "groupType": 2}}),
    )
    .await;
}

both_apis! {
/// Go's encoding/json matches keys case-insensitively, the exact key first
/// (tools a2r/api2rpc.go decodes with it): `groupIds` and `nickName` work.
#[tokio::test]
async fn keys_match_ignoring_case() {
    let im = Im::start().await;
    im.create("ci1", "own", &["u1"]).await;
    let d = im
        .ok("/group/get_groups_info", json!({"groupIds": ["ci1"]}))
        .await;
    assert_eq!(d["groupInfos"][0]["groupID"], "ci1");
    // OpenIM's own test script sends "nickName" (scripts/install/test.sh at
    // 3c62733, set_group_member_info).
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [{"GroupID": "ci1", "userId": "u1", "nickName": "Nick"}]}),
    )
    .await;
    let set = im.requests_to(path::MEMBER_SET);
    assert_eq!(form(&set[0])["nickname"], "Nick");
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "ci1", "userIDs": ["u1"]}),
        )
        .await;
    assert_eq!(d["members"][0]["nickname"], "Nick");
    // The exact key wins over one that differs only in case.
    let d = im
        .ok(
            "/group/get_groups_info",
            json!({"GROUPIDS": ["nope"], "groupIDs": ["ci1"]}),
        )
        .await;
    assert_eq!(d["groupInfos"][0]["groupID"], "ci1");
}
}

both_apis! {
/// Members come owner, admins, members, each by join time
/// (pkg/common/storage/database/mgo/group_member.go ~line 62 memberSort),
/// with every GroupMemberFullInfo field, appMangerLevel included
/// (pkg/common/convert/group.go ~line 66); pages cut that order.
#[tokio::test]
async fn member_order_and_shape() {
    let im = Im::start().await;
    ranked(&im, "ord1").await;
    let page = |n: i64, s: i64| json!({"groupID": "ord1", "pagination": {"pageNumber": n, "showNumber": s}});
    let d = im.ok("/group/get_group_member_list", page(1, 10)).await;
    let want = pairs(&[("own", 100), ("a1", 60), ("a2", 60), ("m1", 20), ("m2", 20)]);
    assert_eq!(roles(&d["members"]), want);
    assert_eq!(d["total"], 5);
    assert_eq!(d["members"][0]["appMangerLevel"], 0);
    assert_eq!(d["members"][0].as_object().unwrap().len(), 12);
    let d = im.ok("/group/get_group_member_list", page(2, 2)).await;
    assert_eq!(roles(&d["members"]), want[2..4].to_vec());
    assert_eq!(d["total"], 5);
    // filter 0-5 is accepted and, as in GetGroupMemberList (internal/rpc/
    // group/group.go ~line 526), not applied.
    let d = im
        .ok(
            "/group/get_group_member_list",
            json!({"groupID": "ord1", "filter": 3, "pagination": {"pageNumber": 1, "showNumber": 10}}),
        )
        .await;
    assert_eq!(roles(&d["members"]), want);
    // get_group_member_user_id: the same order (GetGroupMemberUserIDs,
    // group.go ~line 1802; FindMemberUserID sorts with memberSort).
    let d = im
        .ok(
            "/group/get_group_member_user_id",
            json!({"groupID": "ord1"}),
        )
        .await;
    assert_eq!(ids(&d["userIDs"]), ["own", "a1", "a2", "m1", "m2"]);
    // Unknown group: errCode 0 and nothing (group.go ~line 662
    // GetGroupMembersInfo reads no members).
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "nope", "userIDs": ["own"]}),
        )
        .await;
    assert_eq!(d, json!({"members": []}));
}
}

both_apis! {
/// keyword keeps members whose nickname holds it (mgo/group_member.go ~line
/// 190 SearchMember), total counting the matches.
#[tokio::test]
async fn member_keyword() {
    let im = Im::start().await;
    ranked(&im, "kw1").await;
    for (u, n) in [("m1", "Alice"), ("a2", "Malice"), ("m2", "Bob")] {
        im.ok(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "kw1", "userID": u, "nickname": n}]}),
        )
        .await;
    }
    let d = im
        .ok(
            "/group/get_group_member_list",
            json!({"groupID": "kw1", "keyword": "lice", "pagination": {"pageNumber": 1, "showNumber": 10}}),
        )
        .await;
    assert_eq!(d["total"], 2);
    assert_eq!(roles(&d["members"]), pairs(&[("a2", 60), ("m1", 20)]));
    let d = im
        .ok(
            "/group/get_group_member_list",
            json!({"groupID": "kw1", "keyword": "lice", "pagination": {"pageNumber": 2, "showNumber": 1}}),
        )
        .await;
    assert_eq!(roles(&d["members"]), pairs(&[("m1", 20)]));
}
}

both_apis! {
/// After a transfer the old owner takes the new owner's former level
/// (pkg/common/storage/controller/group.go ~line 421 TransferGroupOwner,
/// called with newOwner.RoleLevel from internal/rpc/group/group.go ~line
/// 1305).
#[tokio::test]
async fn transfer_to_an_admin_makes_the_old_owner_an_admin() {
    let im = Im::start().await;
    ranked(&im, "tr1").await;
    im.ok(
        "/group/transfer_group",
        json!({"groupID": "tr1", "oldOwnerUserID": "own", "newOwnerUserID": "a1"}),
    )
    .await;
    let d = im.member_page("tr1", 1, 10).await;
    assert_eq!(
        roles(&d["members"]),
        pairs(&[("a1", 100), ("own", 60), ("a2", 60), ("m1", 20), ("m2", 20)])
    );
    // A member taking over leaves the old owner a member.
    im.ok(
        "/group/transfer_group",
        json!({"groupID": "tr1", "oldOwnerUserID": "a1", "newOwnerUserID": "m2"}),
    )
    .await;
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "tr1", "userIDs": ["a1", "m2"]}),
        )
        .await;
    assert_eq!(roles(&d["members"]), pairs(&[("a1", 20), ("m2", 100)]));
    // The old owner must own the group.
    let v = im
        .post(
            "/group/transfer_group",
            json!({"groupID": "tr1", "oldOwnerUserID": "a2", "newOwnerUserID": "m1"}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
}
}

both_apis! {
/// An empty groupName is allowed on create (protocol group/group.go ~line 10
/// CreateGroupReq.Check asks for none) and reads back as "".
#[tokio::test]
async fn empty_group_name_on_create() {
    let im = Im::start().await;
    let d = im
        .ok(
            "/group/create_group",
            json!({"ownerUserID": "own", "groupInfo": {"groupID": "nn1", "groupType": 2}}),
        )
        .await;
    assert_eq!(d["groupInfo"]["groupName"], "");
    assert_eq!(im.info("nn1").await["groupName"], "");
    // The vendor needs a name: it holds the id.
    assert_eq!(im.env.sim.group("nn1").unwrap().name, "nn1");
    im.ok(
        "/group/set_group_info",
        json!({"groupInfoForSet": {"groupID": "nn1", "groupName": "named"}}),
    )
    .await;
    assert_eq!(im.info("nn1").await["groupName"], "named");
}
}

both_apis! {
/// set_group_member_info that changes only ex (or only the role) sends the
/// member's current nickname: group/member/set.json requires it (vendor doc
/// page; Java/PHP verify.json). ex over 128 characters is 1001 before any
/// vendor call.
#[tokio::test]
async fn member_set_always_carries_the_nickname() {
    let im = Im::start().await;
    im.create("ns1", "own", &["u1"]).await;
    // No group nickname yet: the vendor would refuse member/set.json
    // without one, so the face refuses first, naming the field.
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "ns1", "userID": "u1", "ex": "e0"}]}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(
        v["errDlt"]
            .as_str()
            .unwrap()
            .contains("members[0].nickname"),
        "{v}"
    );
    assert!(im.requests_to(path::MEMBER_SET).is_empty());
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [{"groupID": "ns1", "userID": "u1", "nickname": "Uno"}]}),
    )
    .await;
    im.env.sim.clear_requests();
    im.ok(
        "/group/set_group_member_info",
        json!({"members": [{"groupID": "ns1", "userID": "u1", "ex": "e1"}]}),
    )
    .await;
    let set = im.requests_to(path::MEMBER_SET);
    assert_eq!(set.len(), 1);
    let f = form(&set[0]);
    assert_eq!((f["nickname"].as_str(), f["extra"].as_str()), ("Uno", "e1"));
    assert!(
        set[0].code == vendor_ok(),
        "the vendor took it: {}",
        set[0].code
    );
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "ns1", "userIDs": ["u1"]}),
        )
        .await;
    assert_eq!(
        (&d["members"][0]["nickname"], &d["members"][0]["ex"]),
        (&json!("Uno"), &json!("e1"))
    );
    im.env.sim.clear_requests();
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "ns1", "userID": "u1", "ex": "x".repeat(129)}]}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(v["errDlt"].as_str().unwrap().contains("members[0].ex"));
    assert!(im.paths().is_empty(), "{:?}", im.paths());
    // A faceURL is applied as far as the vendor can: the rest is stored and
    // errDlt says what wasn't.
    let v = im
        .post(
            "/group/set_group_member_info",
            json!({"members": [{"groupID": "ns1", "userID": "u1", "nickname": "Dos", "faceURL": "http://f"}]}),
        )
        .await;
    assert_eq!(v["errCode"], 0, "{v}");
    assert!(
        v["errDlt"].as_str().unwrap().contains("faceURL not stored"),
        "{v}"
    );
}
}

both_apis! {
/// groupIDs: letters, digits, `_` and `-`, 1-64; anything else is 1001
/// naming the field, before any vendor call.
#[tokio::test]
async fn group_id_characters() {
    let im = Im::start().await;
    for bad in ["a.b", "a b", "g/1", "é", &"g".repeat(65)] {
        let v = im
            .post("/group/get_groups_info", json!({"groupIDs": [bad]}))
            .await;
        assert_eq!(v["errCode"], 1001, "{bad}: {v}");
        assert!(v["errDlt"].as_str().unwrap().contains("groupIDs[0]"), "{v}");
    }
    assert!(im.paths().is_empty(), "{:?}", im.paths());
    // `_` and `-` pass the face's check and go to the vendor.
    let v = im
        .post(
            "/group/get_groups_info",
            json!({"groupIDs": ["RC_GROUP-1"]}),
        )
        .await;
    assert!(!err(&v).1.contains("groupIDs[0]"), "{v}");
    assert_eq!(im.requests_to(path::PROFILE_QUERY).len(), 1);
}
}

both_apis! {
/// get_full_group_member_user_ids / get_full_join_group_ids
/// (internal/rpc/group/sync.go ~line 20, 44): the ids, and `equal` with
/// no ids when the caller's idHash matches pkg/util/hashutil/id.go IdHash
/// (MD5 over Go's json.Marshal, first 8 bytes big endian).
#[tokio::test]
async fn full_id_sync_routes() {
    let im = Im::start().await;
    im.ok(
        "/group/create_group",
        json!({"ownerUserID": "own", "memberUserIDs": ["m1"], "adminUserIDs": ["a1"],
               "groupInfo": {"groupID": "fs1", "groupName": "n", "groupType": 2}}),
    )
    .await;
    let d = im
        .ok(
            "/group/get_full_group_member_user_ids",
            json!({"groupID": "fs1", "idHash": 0}),
        )
        .await;
    assert_eq!(ids(&d["userIDs"]), ["own", "a1", "m1"]);
    assert_eq!(d["equal"], false);
    // python3: md5(b'["own","a1","m1"]').digest()[:8] as a big-endian int.
    let hash: u64 = 5_128_928_229_843_591_124;
    let d = im
        .ok(
            "/group/get_full_group_member_user_ids",
            json!({"groupID": "fs1", "idHash": hash}),
        )
        .await;
    assert_eq!(d["equal"], true);
    assert_eq!(d["userIDs"], Value::Null);
    im.create("fs2", "m1", &[]).await;
    let d = im
        .ok(
            "/group/get_full_join_group_ids",
            json!({"userID": "m1", "idHash": 0}),
        )
        .await;
    // Owned first (role level descending), then by join time
    // (mgo/group_member.go ~line 195 FindUserJoinedGroupID).
    assert_eq!(ids(&d["groupIDs"]), ["fs2", "fs1"]);
    // get_joined_group_list pages the same order (controller/group.go
    // ~line 326 PageGetJoinGroup over GetJoinedGroupIDs).
    let d = im.joined_page("m1", 1, 10).await;
    assert_eq!(d["total"], 2);
    assert_eq!(d["groups"][0]["groupID"], "fs2");
    assert_eq!(d["groups"][1]["groupID"], "fs1");
    let d = im.joined_page("m1", 2, 1).await;
    assert_eq!(d["groups"][0]["groupID"], "fs1");
    let v = im
        .post(
            "/group/get_full_join_group_ids",
            json!({"userID": "m1", "idHash": -1}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
}
}

both_apis! {
/// get_group_abstract_info (group.go ~line 1745): the member count and a
/// hash that changes with the members; empty or repeated ids 1001, an
/// unknown group 1201.
#[tokio::test]
async fn abstract_info() {
    let im = Im::start().await;
    im.create("ab1", "own", &["m1"]).await;
    let read = || async {
        im.ok(
            "/group/get_group_abstract_info",
            json!({"groupIDs": ["ab1"]}),
        )
        .await
    };
    let d = read().await;
    let info = &d["groupAbstractInfos"][0];
    assert_eq!(
        (&info["groupID"], &info["groupMemberNumber"]),
        (&json!("ab1"), &json!(2))
    );
    let before = info["groupMemberListHash"].as_u64().unwrap();
    assert_eq!(
        read().await["groupAbstractInfos"][0]["groupMemberListHash"],
        before
    );
    im.ok(
        "/group/invite_user_to_group",
        json!({"groupID": "ab1", "invitedUserIDs": ["m2"]}),
    )
    .await;
    let after = read().await["groupAbstractInfos"][0]["groupMemberListHash"].as_u64();
    assert_ne!(after, Some(before));
    for (body, code) in [
        (json!({"groupIDs": []}), 1001),
        (json!({"groupIDs": ["ab1", "ab1"]}), 1001),
        (json!({"groupIDs": ["ab1", "nope"]}), 1201),
    ] {
        let v = im.post("/group/get_group_abstract_info", body).await;
        assert_eq!(v["errCode"], code, "{v}");
    }
}
}

both_apis! {
/// get_groups (group.go ~line 1317 GetGroups): by groupID, or groups whose
/// name holds groupName, paged, with CMSGroup's shape.
#[tokio::test]
async fn get_groups_search() {
    let im = Im::start().await;
    for (id, name) in [("gs1", "red fox"), ("gs2", "blue fox"), ("gs3", "cat")] {
        im.ok(
            "/group/create_group",
            json!({"ownerUserID": "own", "groupInfo": {"groupID": id, "groupName": name, "groupType": 2}}),
        )
        .await;
    }
    let page = json!({"pageNumber": 1, "showNumber": 10});
    let d = im
        .ok(
            "/group/get_groups",
            json!({"groupName": "fox", "pagination": page}),
        )
        .await;
    assert_eq!(d["total"], 2);
    let g = &d["groups"][0];
    assert_eq!(g["groupInfo"]["groupID"], "gs1");
    assert_eq!(g["groupOwnerUserID"], "own");
    assert_eq!(g["groupOwnerUserName"], "");
    assert_eq!(d["groups"][1]["groupInfo"]["groupID"], "gs2");
    let d = im
        .ok(
            "/group/get_groups",
            json!({"pagination": {"pageNumber": 2, "showNumber": 2}}),
        )
        .await;
    assert_eq!(d["total"], 3);
    assert_eq!(d["groups"][0]["groupInfo"]["groupID"], "gs3");
    let d = im
        .ok(
            "/group/get_groups",
            json!({"groupID": "gs3", "pagination": page}),
        )
        .await;
    assert_eq!(d["total"], 1);
    assert_eq!(d["groups"][0]["groupInfo"]["groupName"], "cat");
    // pagination is required (protocol group/group.go ~line 204).
    let v = im
        .post("/group/get_groups", json!({"groupName": "fox"}))
        .await;
    assert_eq!(err(&v), (1001, "pagination is empty".to_string()));
}
}

both_apis! {
/// Routes OpenIM has and the vendor can't back: OpenIM's envelope, 1002,
/// an errDlt that says so, and no vendor call.
#[tokio::test]
async fn routes_the_vendor_cannot_back() {
    let im = Im::start().await;
    for route in [
        "/group/group_application_response",
        "/group/get_recv_group_applicationList",
        "/group/get_user_req_group_applicationList",
        "/group/get_group_users_req_application_list",
        "/group/get_incremental_join_groups",
        "/group/get_incremental_group_members",
        "/group/get_incremental_group_members_batch",
        "/group/get_common_groups_with_friend",
    ] {
        let v = im
            .post(route, json!({"groupID": "g1", "userID": "u"}))
            .await;
        assert_eq!(v["errCode"], 1002, "{route}: {v}");
        assert_eq!(v["errMsg"], "NoPermissionError");
        let dlt = v["errDlt"].as_str().unwrap();
        assert!(
            dlt.contains("not supported") && dlt.contains("vendor"),
            "{dlt}"
        );
    }
    assert!(im.paths().is_empty(), "{:?}", im.paths());
}
}

both_apis! {
/// Every group and auth route open-im-server registers answers OpenIM's
/// envelope, never a bare 404: a client can tell "not served here" (an
/// errCode with an errDlt saying why) from a typo (404). The list is
/// open-im-server's `internal/api/router.go` (08aa307: the `/group` and
/// `/auth` groups; `get_common_groups_with_friend` from main).
#[tokio::test]
async fn every_route_openim_registers_answers_its_envelope() {
    let im = Im::start().await;
    let registered = [
        "/group/create_group",
        "/group/set_group_info",
        "/group/set_group_info_ex",
        "/group/join_group",
        "/group/quit_group",
        "/group/group_application_response",
        "/group/transfer_group",
        "/group/get_recv_group_applicationList",
        "/group/get_user_req_group_applicationList",
        "/group/get_group_users_req_application_list",
        "/group/get_specified_user_group_request_info",
        "/group/get_groups_info",
        "/group/kick_group",
        "/group/get_group_members_info",
        "/group/get_group_member_list",
        "/group/invite_user_to_group",
        "/group/get_joined_group_list",
        "/group/dismiss_group",
        "/group/mute_group_member",
        "/group/cancel_mute_group_member",
        "/group/mute_group",
        "/group/cancel_mute_group",
        "/group/set_group_member_info",
        "/group/get_group_abstract_info",
        "/group/get_groups",
        "/group/get_group_member_user_id",
        "/group/get_incremental_join_groups",
        "/group/get_incremental_group_members",
        "/group/get_incremental_group_members_batch",
        "/group/get_full_group_member_user_ids",
        "/group/get_full_join_group_ids",
        "/group/get_group_application_unhandled_count",
        "/group/get_common_groups_with_friend",
        "/auth/get_admin_token",
        "/auth/get_user_token",
        "/auth/parse_token",
        "/auth/force_logout",
    ];
    for route in registered {
        let a = im.raw(route, &[], "{}").await;
        assert_ne!(a.status, 404, "{route}: {}", a.text());
        let v = a.json();
        assert!(
            v["errCode"].is_i64() && v["errDlt"].is_string(),
            "{route}: {v}"
        );
    }
    // User tokens are served now: get_user_token answers a token
    // (open-im-server internal/rpc/auth/auth.go GetUserToken), force_logout
    // errCode 0 (ForceLogout); tests/it/openim/token.rs has the details.
    let v = im
        .post(
            "/auth/get_user_token",
            json!({"userID": "u1", "platformID": 1}),
        )
        .await;
    assert_eq!(v["errCode"], 0, "{v}");
    assert!(v["data"]["token"].is_string(), "{v}");
    let v = im
        .post(
            "/auth/force_logout",
            json!({"userID": "u1", "platformID": 1}),
        )
        .await;
    assert_eq!(v["errCode"], 0, "{v}");
    assert!(im.paths().is_empty(), "{:?}", im.paths());
}
}
