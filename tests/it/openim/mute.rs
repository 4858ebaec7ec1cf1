//! OpenIM's mute routes through the vendor's legacy group API
//! (src/openim/mute.rs), and the mute state on reads. Expected answers from
//! open-im-server `internal/rpc/group/group.go` (main 7848d7c; line
//! numbers are that file's) and protocol `group/group.go`.

use crate::common::openim::{Im, both_apis, err};
use entrust_gateway::entrust::path;
use serde_json::json;

async fn group(im: &Im, id: &str) {
    im.ok(
        "/group/create_group",
        json!({"ownerUserID": "own", "memberUserIDs": ["m1", "m2"], "adminUserIDs": ["adm"],
               "groupInfo": {"groupID": id, "groupName": "mute", "groupType": 2}}),
    )
    .await;
}

both_apis! {
/// MuteGroupMember (line 1493) with an admin token: 0; the member reads
/// answer `muteEndTime` (unix ms, convert.Db2PbGroupMember); the vendor
/// got `minute` rounded up; CancelMuteGroupMember (line 1527) lifts it.
/// MuteGroupMemberReq.Check: mutedSeconds <= 0 → 1001 "mutedSeconds is
/// empty"; a non-member → 1004 (TakeGroupMember). Over the vendor's 30 days
/// → 1001, nothing sent.
#[tokio::test]
async fn muting_a_member_and_reading_it_back() {
    let im = Im::start().await;
    group(&im, "mu1").await;
    im.env.sim.clear_requests();
    im.ok(
        "/group/mute_group_member",
        json!({"groupID": "mu1", "userID": "m1", "mutedSeconds": 61}),
    )
    .await;
    let sent = im.requests_to(path::GAG_ADD);
    let f = crate::common::openim::form(&sent[0]);
    assert_eq!(
        (
            f["groupId"].as_str(),
            f["userId"].as_str(),
            f["minute"].as_str()
        ),
        ("mu1", "m1", "2")
    );
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "mu1", "userIDs": ["m1", "m2"]}),
        )
        .await;
    let now = i64::try_from(entrust_gateway::clock::unix_ms()).unwrap();
    let end = d["members"][0]["muteEndTime"].as_i64().unwrap();
    assert!(
        (now + 60_000..=now + 121_000).contains(&end),
        "{end} vs {now}"
    );
    assert_eq!(d["members"][1]["muteEndTime"], 0);
    let d = im.member_page("mu1", 1, 10).await;
    let m1 = d["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userID"] == "m1")
        .unwrap();
    assert_eq!(m1["muteEndTime"].as_i64(), Some(end));
    im.ok(
        "/group/cancel_mute_group_member",
        json!({"groupID": "mu1", "userID": "m1"}),
    )
    .await;
    let d = im
        .ok(
            "/group/get_group_members_info",
            json!({"groupID": "mu1", "userIDs": ["m1"]}),
        )
        .await;
    assert_eq!(d["members"][0]["muteEndTime"], 0);

    im.env.sim.clear_requests();
    for (body, want) in [
        (
            json!({"groupID": "mu1", "userID": "m1", "mutedSeconds": 0}),
            (1001, "mutedSeconds is empty"),
        ),
        (
            json!({"groupID": "mu1", "userID": "", "mutedSeconds": 5}),
            (1001, "userID is empty"),
        ),
    ] {
        let v = im.post("/group/mute_group_member", body).await;
        assert_eq!(err(&v), (want.0, want.1.to_string()));
    }
    let v = im
        .post(
            "/group/mute_group_member",
            json!({"groupID": "mu1", "userID": "m1", "mutedSeconds": 43_200 * 60 + 1}),
        )
        .await;
    assert_eq!(v["errCode"], 1001, "{v}");
    assert!(im.paths().is_empty(), "{:?}", im.paths());
    let v = im
        .post(
            "/group/mute_group_member",
            json!({"groupID": "mu1", "userID": "nobody", "mutedSeconds": 5}),
        )
        .await;
    assert_eq!(v["errCode"], 1004, "{v}");
    assert!(im.requests_to(path::GAG_ADD).is_empty());
}
}

both_apis! {
/// With user tokens, OpenIM's ladder (lines 1501-1516 and 1537-1553):
/// nobody mutes the owner, only the owner mutes an admin, owner or admin
/// an ordinary member.
#[tokio::test]
async fn who_may_mute_whom() {
    let im = Im::start().await;
    group(&im, "mu2").await;
    let (own, adm, m1) = (
        im.user_token("own", 1).await,
        im.user_token("adm", 1).await,
        im.user_token("m1", 1).await,
    );
    let mute = |u: &str| json!({"groupID": "mu2", "userID": u, "mutedSeconds": 60});
    let cancel = |u: &str| json!({"groupID": "mu2", "userID": u});
    let no = |w: &str| (1002, w.to_string());
    let ok = (0, String::new());
    for (t, route, body, want) in [
        (
            &adm,
            "/group/mute_group_member",
            mute("own"),
            no("set group owner mute"),
        ),
        (
            &own,
            "/group/mute_group_member",
            mute("own"),
            no("set group owner mute"),
        ),
        (
            &adm,
            "/group/mute_group_member",
            mute("adm"),
            no("set group admin mute"),
        ),
        (
            &m1,
            "/group/mute_group_member",
            mute("m2"),
            no("set group ordinary users mute"),
        ),
        (&own, "/group/mute_group_member", mute("adm"), ok.clone()),
        (&adm, "/group/mute_group_member", mute("m2"), ok.clone()),
        (
            &m1,
            "/group/cancel_mute_group_member",
            cancel("m2"),
            no("Can not set group ordinary users unmute"),
        ),
        (
            &adm,
            "/group/cancel_mute_group_member",
            cancel("m2"),
            ok.clone(),
        ),
    ] {
        assert_eq!(
            err(&im.post_as(t, route, body.clone()).await),
            want,
            "{route} {body}"
        );
    }
    assert_eq!(im.env.sim.group("mu2").unwrap().muted, ["adm"]);
}
}

both_apis! {
/// MuteGroup (line 1567) / CancelMuteGroup (line 1578): CheckGroupAdmin
/// (line 157: a non-member 1002 "op user not in group", an ordinary member
/// 1002 "no group owner or admin"); the group's status reads 3
/// (constant.GroupStatusMuted) while muted, on get_groups_info and
/// get_joined_group_list.
#[tokio::test]
async fn muting_a_group_and_its_status() {
    let im = Im::start().await;
    group(&im, "mu3").await;
    let m1 = im.user_token("m1", 1).await;
    let out = im.user_token("out", 1).await;
    let body = json!({"groupID": "mu3"});
    assert_eq!(
        err(&im.post_as(&out, "/group/mute_group", body.clone()).await),
        (1002, "op user not in group".to_string())
    );
    assert_eq!(
        err(&im.post_as(&m1, "/group/mute_group", body.clone()).await),
        (1002, "no group owner or admin".to_string())
    );
    assert_eq!(im.info("mu3").await["status"], 0);
    im.ok("/group/mute_group", body.clone()).await;
    assert!(im.env.sim.group("mu3").unwrap().frozen);
    assert_eq!(im.info("mu3").await["status"], 3);
    let d = im.joined_page("m1", 1, 10).await;
    assert_eq!(d["groups"][0]["status"], 3);
    im.ok("/group/cancel_mute_group", body.clone()).await;
    assert_eq!(im.info("mu3").await["status"], 0);
    // An unknown group: the vendor's 25410, OpenIM's 1004.
    let v = im
        .post("/group/mute_group", json!({"groupID": "nope"}))
        .await;
    assert_eq!(v["errCode"], 1004, "{v}");
}
}
