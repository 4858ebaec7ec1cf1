//! OpenIM's permission rules for user tokens (`/auth/get_user_token`),
//! route by route as open-im-server `internal/rpc/group/group.go` (main
//! 7848d7c) checks them; line numbers are that file's. Admin tokens keep
//! passing every check (`authverify.IsAdmin`), as before.
//!
//! Every group here: owner `own`, admins `adm` and `adm2`, members `m1`,
//! `m2`; `out` is in no group.

use crate::common::openim::{Im, both_apis, err};
use entrust_gateway::entrust::path;
use serde_json::{Value, json};

/// A group with an owner, two admins and two members, and a user token
/// for each of them and for an outsider.
struct Cast {
    im: Im,
    own: String,
    adm: String,
    m1: String,
    out: String,
}

async fn cast(group: &str) -> Cast {
    let im = Im::start().await;
    im.ok(
        "/group/create_group",
        json!({"ownerUserID": "own", "memberUserIDs": ["m1", "m2"],
               "adminUserIDs": ["adm", "adm2"],
               "groupInfo": {"groupID": group, "groupName": "perm", "groupType": 2}}),
    )
    .await;
    let own = im.user_token("own", 1).await;
    let adm = im.user_token("adm", 1).await;
    let m1 = im.user_token("m1", 1).await;
    let out = im.user_token("out", 1).await;
    Cast {
        im,
        own,
        adm,
        m1,
        out,
    }
}

impl Cast {
    async fn as_(&self, token: &str, route: &str, body: Value) -> (i64, String) {
        err(&self.im.post_as(token, route, body).await)
    }
}

fn ok() -> (i64, String) {
    (0, String::new())
}

fn no(why: &str) -> (i64, String) {
    (1002, why.to_string())
}

both_apis! {
/// SetGroupInfo (line 1047) / SetGroupInfoEx (line 1140): TakeGroupMember
/// (a non-member: 1004 RecordNotFound), then owner or admin (line 1056 /
/// 1152: 1002 "no group owner or admin").
#[tokio::test]
async fn set_group_info_needs_the_owner_or_an_admin() {
    let c = cast("p1").await;
    let set = json!({"groupInfoForSet": {"groupID": "p1", "introduction": "x"}});
    assert_eq!(
        c.as_(&c.m1, "/group/set_group_info", set.clone()).await,
        no("no group owner or admin")
    );
    assert_eq!(
        c.as_(&c.out, "/group/set_group_info", set.clone()).await.0,
        1004
    );
    let ex = json!({"groupID": "p1", "introduction": "y"});
    assert_eq!(
        c.as_(&c.m1, "/group/set_group_info_ex", ex.clone()).await,
        no("no group owner or admin")
    );
    assert_eq!(c.as_(&c.adm, "/group/set_group_info", set).await, ok());
    assert_eq!(c.as_(&c.own, "/group/set_group_info_ex", ex).await, ok());
}
}

both_apis! {
/// KickGroupMember (line 552): the caller among the kicked 1001 (line
/// 565), the owner 1001 (line 572), a non-member 1101 (line 591), a caller
/// outside the group 1002 (line 595), an admin kicking an admin 1002 (line
/// 601), an ordinary member 1002 (line 604).
#[tokio::test]
async fn kick_follows_the_role_ladder() {
    let c = cast("p2").await;
    let kick = |users: &[&str]| json!({"groupID": "p2", "kickedUserIDs": users});
    let cases: [(&str, &[&str], (i64, String)); 7] = [
        (&c.adm, &["adm"], (1001, "opUserID in KickedUserIDs".into())),
        (&c.adm, &["own"], (1001, "ownerUID can not Kick".into())),
        (&c.adm, &["nobody"], (1101, "nobody".into())),
        (&c.out, &["m1"], no("opUserID no in group")),
        (
            &c.adm,
            &["adm2"],
            no("group admins cannot remove the group owner and other admins"),
        ),
        (&c.m1, &["m2"], no("opUserID no permission")),
        (&c.adm, &["m2"], ok()),
    ];
    for (token, users, want) in cases {
        assert_eq!(
            c.as_(token, "/group/kick_group", kick(users)).await,
            want,
            "{users:?}"
        );
    }
    assert_eq!(
        c.as_(&c.own, "/group/kick_group", kick(&["adm2"])).await,
        ok()
    );
    let members: Vec<String> =
        c.im.env
            .sim
            .group("p2")
            .unwrap()
            .members
            .into_iter()
            .map(|(u, _)| u)
            .collect();
    assert_eq!(members, ["own", "m1", "adm"]);
}
}

both_apis! {
/// TransferGroupOwner (line 1254, check at 1294: 1002 "no permission
/// transfer group owner"); DismissGroup (line 1439, check at 1446: 1002
/// "not group owner"); QuitGroup (line 1002, CheckAccess at 1006: another
/// user's quit is 1002).
#[tokio::test]
async fn transfer_and_dismiss_are_the_owners_and_quit_is_ones_own() {
    let c = cast("p3").await;
    let transfer = json!({"groupID": "p3", "oldOwnerUserID": "own", "newOwnerUserID": "adm"});
    assert_eq!(
        c.as_(&c.adm, "/group/transfer_group", transfer.clone())
            .await,
        no("no permission transfer group owner")
    );
    let dismiss = json!({"groupID": "p3"});
    assert_eq!(
        c.as_(&c.adm, "/group/dismiss_group", dismiss.clone()).await,
        no("not group owner")
    );
    assert_eq!(
        c.as_(&c.out, "/group/dismiss_group", dismiss.clone()).await,
        no("not group owner")
    );
    assert_eq!(
        c.as_(
            &c.m1,
            "/group/quit_group",
            json!({"groupID": "p3", "userID": "m2"})
        )
        .await,
        no("ownerUserID m2")
    );
    assert_eq!(
        c.as_(&c.m1, "/group/quit_group", json!({"groupID": "p3"}))
            .await,
        ok()
    );
    assert_eq!(c.as_(&c.own, "/group/transfer_group", transfer).await, ok());
    // The owner now is adm: own may no longer dismiss, adm may.
    assert_eq!(
        c.as_(&c.own, "/group/dismiss_group", dismiss.clone()).await,
        no("not group owner")
    );
    assert_eq!(c.as_(&c.adm, "/group/dismiss_group", dismiss).await, ok());
}
}

both_apis! {
/// InviteUserToGroup (line 363): checkAdminOrInGroup (line 379: 1002 "op
/// user not in group"); with needVerification 1 (AllNeedVerification,
/// line 410) an ordinary member's invitation becomes applications, which
/// the vendor keeps none of: 1002.
#[tokio::test]
async fn invite_needs_a_member() {
    let c = cast("p4").await;
    let invite = |u: &str| json!({"groupID": "p4", "invitedUserIDs": [u]});
    assert_eq!(
        c.as_(&c.out, "/group/invite_user_to_group", invite("x1"))
            .await,
        no("op user not in group")
    );
    assert_eq!(
        c.as_(&c.m1, "/group/invite_user_to_group", invite("x2"))
            .await,
        ok()
    );
    c.im.ok(
        "/group/set_group_info_ex",
        json!({"groupID": "p4", "needVerification": 1}),
    )
    .await;
    assert_eq!(
        c.as_(&c.m1, "/group/invite_user_to_group", invite("x3"))
            .await
            .0,
        1002
    );
    assert_eq!(
        c.as_(&c.adm, "/group/invite_user_to_group", invite("x3"))
            .await,
        ok()
    );
}
}

both_apis! {
/// SetGroupMemberInfo (line 1589): an admin can't change the owner (line
/// 1657) or another admin (line 1660), an ordinary member only themself
/// (line 1669), nobody raises their own level (line 1690), a caller outside
/// the group: 1002 "user not in group" (line 1702).
#[tokio::test]
async fn set_member_info_is_for_oneself_or_those_below() {
    let c = cast("p5").await;
    let set = |u: &str, extra: Value| {
        let mut m = json!({"groupID": "p5", "userID": u});
        if let (Some(o), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        json!({"members": [m]})
    };
    let nick = json!({"nickname": "n"});
    let cases: Vec<(&str, Value, (i64, String))> = vec![
        (
            &c.adm,
            set("own", nick.clone()),
            no("admin can not change group owner"),
        ),
        (
            &c.adm,
            set("adm2", nick.clone()),
            no("admin can not change other group admin"),
        ),
        (
            &c.m1,
            set("m2", nick.clone()),
            no("ordinary users can not change other role level"),
        ),
        (
            &c.m1,
            set("m1", json!({"roleLevel": 60})),
            no("can not improve role level by self"),
        ),
        (&c.out, set("m1", nick.clone()), no("user not in group")),
        (&c.m1, set("m1", nick.clone()), ok()),
        (&c.adm, set("m2", json!({"roleLevel": 60})), ok()),
        (&c.own, set("adm2", json!({"roleLevel": 20})), ok()),
    ];
    for (token, body, want) in cases {
        assert_eq!(
            c.as_(token, "/group/set_group_member_info", body.clone())
                .await,
            want,
            "{body}"
        );
    }
}
}

both_apis! {
/// Reading members is for members: GetGroupMemberList (line 526) and
/// GetGroupMembersInfo (line 662) through checkAdminOrInGroup (1002 "op
/// user not in group"), GetGroupMemberUserIDs (line 1802, CheckAccessIn at
/// 1807: 1002 "opUser in ownerUserIDs"). A user's joined groups are their
/// own: GetJoinedGroupList (line 317, CheckAccess at 318). The membership
/// read costs one group/member/specific/query.json call for a user token,
/// none for an admin token.
#[tokio::test]
async fn member_lists_are_for_members_and_joined_groups_for_oneself() {
    let c = cast("p6").await;
    let list = json!({"groupID": "p6", "pagination": {"pageNumber": 1, "showNumber": 10}});
    assert_eq!(
        c.as_(&c.out, "/group/get_group_member_list", list.clone())
            .await,
        no("op user not in group")
    );
    let info = json!({"groupID": "p6", "userIDs": ["m1"]});
    assert_eq!(
        c.as_(&c.out, "/group/get_group_members_info", info.clone())
            .await,
        no("op user not in group")
    );
    assert_eq!(
        c.as_(
            &c.out,
            "/group/get_group_member_user_id",
            json!({"groupID": "p6"})
        )
        .await,
        no("opUser in ownerUserIDs")
    );
    c.im.env.sim.clear_requests();
    assert_eq!(
        c.as_(&c.m1, "/group/get_group_member_list", list.clone())
            .await,
        ok()
    );
    let with_user = c.im.requests_to(path::MEMBER_SPECIFIC_QUERY).len();
    c.im.env.sim.clear_requests();
    c.im.ok("/group/get_group_member_list", list).await;
    let with_admin = c.im.requests_to(path::MEMBER_SPECIFIC_QUERY).len();
    assert_eq!((with_user, with_admin), (1, 0));
    assert_eq!(
        c.as_(&c.m1, "/group/get_group_members_info", info).await,
        ok()
    );
    let joined =
        |u: &str| json!({"fromUserID": u, "pagination": {"pageNumber": 1, "showNumber": 10}});
    assert_eq!(
        c.as_(&c.m1, "/group/get_joined_group_list", joined("m2"))
            .await,
        no("ownerUserID m2")
    );
    assert_eq!(
        c.as_(&c.m1, "/group/get_joined_group_list", joined("m1"))
            .await,
        ok()
    );
}
}
