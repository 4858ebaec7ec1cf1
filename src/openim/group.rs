//! Group info: `/group/create_group`, `/group/get_groups`,
//! `/group/set_group_info`, `/group/set_group_info_ex`,
//! `/group/get_groups_info`, and the mapping between OpenIM's GroupInfo and
//! the vendor's profile.
//!
//! | OpenIM GroupInfo | entrust |
//! |---|---|
//! | groupID | groupId |
//! | groupName | name (create), groupProfile.name (update), groupName/name (query) |
//! | notification | groupProfile.announcement |
//! | introduction | groupProfile.introduction |
//! | faceURL | groupProfile.portraitUrl |
//! | ownerUserID | owner |
//! | createTime, memberCount | createTime, memberCount |
//! | needVerification | permissions.joinPerm + memInvitePerm (see [`permissions_for`]) |
//! | ex | groupExtProfile.ext_openim_ex |
//! | lookMemberInfo | groupExtProfile.ext_openim_look |
//! | applyMemberFriend | groupExtProfile.ext_openim_apply |
//! | notificationUserID, notificationUpdateTime | groupExtProfile.ext_openim_notif_user, ext_openim_notif_time |
//! | groupName "" | name = groupID, groupExtProfile.ext_openim_noname = "1" (the vendor requires a name) |
//! | groupType, status | always 2 and 0 |

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::Ctx;
use super::dialect::{NewGroup, ProfileChange};
use super::json::{Obj, max_len};
use super::member::partial;
use crate::entrust::code;
use crate::entrust::limit;
use crate::entrust::profile::Profile;
use crate::error::Error;

/// groupExtProfile keys holding the OpenIM fields entrust has no place for.
pub const EXT_EX: &str = "ext_openim_ex";
pub const EXT_LOOK: &str = "ext_openim_look";
pub const EXT_APPLY: &str = "ext_openim_apply";
pub const EXT_NOTIF_USER: &str = "ext_openim_notif_user";
pub const EXT_NOTIF_TIME: &str = "ext_openim_notif_time";
/// "1" while the group's OpenIM name is "": the vendor needs a name, so it
/// holds the group id instead.
pub const EXT_NO_NAME: &str = "ext_openim_noname";

/// OpenIM's `ex` limit, the vendor's ext value limit.
pub const EX_MAX: usize = limit::EXT_VALUE_MAX;

/// The one table of GroupInfo string fields and the vendor's limits
/// (characters) that bound them, for create and both set routes.
const FIELD_LIMITS: [(&str, usize); 5] = [
    ("groupName", limit::NAME_MAX),
    ("notification", limit::ANNOUNCEMENT_MAX),
    ("introduction", limit::INTRODUCTION_MAX),
    ("faceURL", limit::PORTRAIT_URL_MAX),
    ("ex", EX_MAX),
];

/// `Err(ArgsError)` for the first field (in [`FIELD_LIMITS`] order; `None`
/// = not sent) longer than its limit.
fn check_limits(o: &Obj<'_>, values: [Option<&str>; 5]) -> Result<(), Error> {
    for ((key, max), v) in FIELD_LIMITS.iter().zip(values) {
        // Bytes bound characters: the field's name is made only when needed.
        if let Some(v) = v
            && v.len() > *max
        {
            max_len(&o.name(key), v, *max)?;
        }
    }
    Ok(())
}

/// OpenIM's only supported group type (working group).
pub const WORKING_GROUP: i64 = 2;

/// needVerification as entrust permissions (joinPerm, memInvitePerm):
/// 0 (apply to join, invitees join directly) → admin approval, everyone
/// may invite; 1 (everyone needs approval except those invited by owner or
/// admin) → admin approval, owner and admins invite; 2 (join directly) →
/// no approval, everyone may invite.
pub fn permissions_for(need_verification: i64) -> (i64, i64) {
    match need_verification {
        0 => (2, 2),
        1 => (2, 1),
        _ => (1, 2),
    }
}

/// needVerification from entrust permissions: joinPerm 1 → 2; joinPerm 0
/// or 2 with memInvitePerm 2 → 0; anything else → 1.
pub fn need_verification(join_perm: i64, mem_invite_perm: i64) -> i64 {
    match (join_perm, mem_invite_perm) {
        (1, _) => 2,
        (0 | 2, 2) => 0,
        _ => 1,
    }
}

/// A 0/1 flag kept in an ext value; anything else reads as 0.
fn flag(p: &Profile, key: &str) -> i64 {
    match p.ext.get(key).map(|s| s.trim()) {
        Some("1") => 1,
        _ => 0,
    }
}

/// OpenIM's GroupInfo for a profile, every field present.
pub fn group_info(p: &Profile) -> Value {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let name = if flag(p, EXT_NO_NAME) == 1 {
        String::new()
    } else {
        s(&p.name)
    };
    let ext = |key: &str| p.ext.get(key).cloned().unwrap_or_default();
    json!({
        "groupID": p.group_id,
        "groupName": name,
        "notification": s(&p.announcement),
        "introduction": s(&p.introduction),
        "faceURL": s(&p.portrait_url),
        "ownerUserID": s(&p.owner),
        "createTime": p.create_time.unwrap_or(0),
        "memberCount": p.member_count.unwrap_or(0).clamp(0, i64::from(u32::MAX)),
        "ex": p.ext.get(EXT_EX).cloned().unwrap_or_default(),
        "status": 0,
        "creatorUserID": "",
        "groupType": WORKING_GROUP,
        "needVerification": need_verification(p.permission("joinPerm"), p.permission("memInvitePerm")),
        "lookMemberInfo": flag(p, EXT_LOOK),
        "applyMemberFriend": flag(p, EXT_APPLY),
        "notificationUpdateTime": ext(EXT_NOTIF_TIME).trim().parse::<i64>().unwrap_or(0),
        "notificationUserID": ext(EXT_NOTIF_USER),
    })
}

/// A group id: required, 1-64 letters, digits, `_` and `-` (what the vendor
/// takes: `../shared/reference/entrust-api.md`; OpenIM
/// deployments migrating here use `_`, `-` and UUIDs).
pub fn check_group_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::Args(format!("{field} is required")));
    }
    max_len(field, id, limit::GROUP_ID_MAX)?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Args(format!(
            "{field} {:?} may hold only letters, digits, '_' and '-'",
            crate::allowlist::printable(id)
        )));
    }
    Ok(())
}

/// A user id: non-empty, at most 64 characters, no comma.
pub fn check_user_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::Args(format!("{field} must not be empty")));
    }
    max_len(field, id, limit::USER_ID_MAX)?;
    if id.contains(',') {
        return Err(Error::Args(format!("{field} must not contain ','")));
    }
    Ok(())
}

/// The fields a set call changes (`None` = unchanged), borrowed from the
/// request.
#[derive(Debug, Default)]
struct InfoSet<'a> {
    group_id: &'a str,
    name: Option<&'a str>,
    notification: Option<&'a str>,
    introduction: Option<&'a str>,
    face_url: Option<&'a str>,
    ex: Option<&'a str>,
    need_verification: Option<i64>,
    look_member_info: Option<i64>,
    apply_member_friend: Option<i64>,
}

impl<'a> InfoSet<'a> {
    /// Reads `o`; `plain` is set_group_info's rule for its five strings
    /// (changed only when non-empty), otherwise set_group_info_ex's (changed
    /// when present).
    fn read(o: &Obj<'a>, plain: bool) -> Result<InfoSet<'a>, Error> {
        let s = |key: &str| -> Result<Option<&'a str>, Error> {
            let v = o.opt_str(key)?;
            Ok(if plain {
                v.filter(|s| !s.is_empty())
            } else {
                v
            })
        };
        let set = InfoSet {
            group_id: o.str("groupID")?,
            name: s("groupName")?,
            // set_group_info_ex trims it (db_map.go UpdateGroupInfoExMap).
            notification: s("notification")?.map(|n| if plain { n } else { n.trim() }),
            introduction: s("introduction")?,
            face_url: s("faceURL")?,
            ex: o.opt_str("ex")?,
            need_verification: o.opt_int("needVerification", 0, 2)?,
            look_member_info: o.opt_int("lookMemberInfo", 0, 1)?,
            apply_member_friend: o.opt_int("applyMemberFriend", 0, 1)?,
        };
        check_group_id(&o.name("groupID"), set.group_id)?;
        // set_group_info_ex refuses a blank name (db_map.go
        // UpdateGroupInfoExMap: "group name is empty"); set_group_info
        // leaves an empty one unchanged.
        if !plain && set.name.is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::Args(format!(
                "group name is empty ({})",
                o.name("groupName")
            )));
        }
        check_limits(
            o,
            [
                set.name,
                set.notification,
                set.introduction,
                set.face_url,
                set.ex,
            ],
        )?;
        Ok(set)
    }

    /// The profile update, or `None` when nothing changes. A changed
    /// notification records `caller` and `time`, as OpenIM does (db_map.go
    /// UpdateGroupInfoMap). The JSON objects' keys in sorted order, as a
    /// `serde_json` map prints them.
    fn changes<'b>(&'b self, caller: &'b str, time: &'b str) -> Option<ProfileChange<'b>> {
        let mut profile: Vec<(&'static str, &'b str)> = Vec::with_capacity(4);
        // Sorted by key.
        for (key, v) in [
            ("announcement", self.notification),
            ("introduction", self.introduction),
            ("name", self.name),
            ("portraitUrl", self.face_url),
        ] {
            if let Some(v) = v {
                profile.push((key, v));
            }
        }
        // Both were read as 0 or 1.
        let flag = |v: i64| if v == 0 { "0" } else { "1" };
        let look = self.look_member_info.map(flag);
        let apply = self.apply_member_friend.map(flag);
        // An empty value removes the key at the vendor; a missing key reads
        // back as "", so "set ex to empty" round-trips. A name set records
        // "0" (a value, not a removal: the key may not exist, 25415). Without
        // tokens there is no caller, and "" would remove a key that may not
        // exist (25415).
        let mut ext: Vec<(&'static str, &'b str)> = [
            (EXT_EX, self.ex),
            (EXT_LOOK, look),
            (EXT_APPLY, apply),
            (EXT_NO_NAME, self.name.map(|_| "0")),
            (
                EXT_NOTIF_USER,
                self.notification
                    .and(Some(caller))
                    .filter(|c| !c.is_empty()),
            ),
            (EXT_NOTIF_TIME, self.notification.map(|_| time)),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        ext.sort_unstable_by_key(|(k, _)| *k);
        if profile.is_empty() && self.need_verification.is_none() && ext.is_empty() {
            return None;
        }
        Some(ProfileChange {
            group_id: self.group_id,
            profile,
            need_verification: self.need_verification,
            ext,
        })
    }
}

/// `/group/set_group_info` (`old` = true: `{"groupInfoForSet":{...}}`, plain
/// strings change only when non-empty) and `/group/set_group_info_ex` (flat,
/// every field but groupID changes when present).
pub async fn set_group_info(
    ctx: &Ctx<'_>,
    req: &Map<String, Value>,
    old: bool,
) -> Result<(), Error> {
    let top = Obj::new(req, "");
    let set = if old {
        let Some(inner) = top.opt_obj("groupInfoForSet")? else {
            return Err(Error::Args("groupInfoForSet is required".into()));
        };
        InfoSet::read(&Obj::new(inner, "groupInfoForSet."), true)?
    } else {
        InfoSet::read(&top, false)?
    };
    super::perm::owner_or_admin(ctx, set.group_id).await?;
    let caller = ctx.user.clone().unwrap_or_default();
    let time = crate::clock::unix_ms().to_string();
    let Some(change) = set.changes(&caller, &time) else {
        // Nothing to change: OpenIM still answers 1004 for an unknown group.
        return ctx.profile(set.group_id).await.map(drop);
    };
    match ctx.update_profile(&change).await {
        // "ex" = "" is sent as an empty ext value, which removes the key. A
        // vendor that refuses to remove a key that isn't there (25415) has
        // refused the whole update; without the key ex already reads "", so
        // the rest is sent again without it.
        Err(Error::Upstream { code, .. })
            if code == code::EXT_KEY_MISSING && set.ex == Some("") =>
        {
            let rest = InfoSet { ex: None, ..set };
            match rest.changes(&caller, &time) {
                Some(change) => ctx.update_profile(&change).await,
                None => Ok(()),
            }
        }
        other => other,
    }
}

/// A numeric group id as OpenIM makes them (a 32-bit number in decimal).
fn generate_group_id() -> String {
    rand::random::<u32>().to_string()
}

/// What create_group was asked for.
struct Create {
    group_id: Option<String>,
    name: String,
    notification: String,
    introduction: String,
    face_url: String,
    ex: String,
    need_verification: i64,
    look_member_info: i64,
    apply_member_friend: i64,
    owner: String,
    members: Vec<String>,
    admins: Vec<String>,
}

impl Create {
    fn read(req: &Map<String, Value>) -> Result<Create, Error> {
        let top = Obj::new(req, "");
        let members = top.strings("memberUserIDs")?;
        let admins = top.strings("adminUserIDs")?;
        let owner = top.str("ownerUserID")?.to_string();
        top.opt_bool("sendMessage")?;
        let Some(info) = top.opt_obj("groupInfo")? else {
            return Err(Error::Args("groupInfo is required".into()));
        };
        if owner.is_empty() {
            return Err(Error::Args("ownerUserID is required".into()));
        }
        let g = Obj::new(info, "groupInfo.");
        let group_type = g.opt_int("groupType", i64::from(i32::MIN), i64::from(i32::MAX))?;
        if group_type != Some(WORKING_GROUP) {
            return Err(Error::Args(format!(
                "group type only supports {WORKING_GROUP} (groupInfo.groupType)"
            )));
        }
        let c = Create {
            group_id: Some(g.str("groupID")?.to_string()).filter(|s| !s.is_empty()),
            name: g.str("groupName")?.to_string(),
            notification: g.str("notification")?.to_string(),
            introduction: g.str("introduction")?.to_string(),
            face_url: g.str("faceURL")?.to_string(),
            ex: g.str("ex")?.to_string(),
            need_verification: g.opt_int("needVerification", 0, 2)?.unwrap_or(0),
            look_member_info: g.opt_int("lookMemberInfo", 0, 1)?.unwrap_or(0),
            apply_member_friend: g.opt_int("applyMemberFriend", 0, 1)?.unwrap_or(0),
            owner,
            members,
            admins,
        };
        if let Some(id) = &c.group_id {
            check_group_id("groupInfo.groupID", id)?;
        }
        // An empty groupName is allowed (protocol group/group.go
        // CreateGroupReq.Check asks none); see [`EXT_NO_NAME`].
        check_limits(
            &g,
            [
                Some(&c.name),
                Some(&c.notification),
                Some(&c.introduction),
                Some(&c.face_url),
                Some(&c.ex),
            ],
        )?;
        check_user_id("ownerUserID", &c.owner)?;
        let mut seen = HashSet::new();
        seen.insert(c.owner.as_str());
        for (key, list) in [("memberUserIDs", &c.members), ("adminUserIDs", &c.admins)] {
            for (i, u) in list.iter().enumerate() {
                check_user_id(&format!("{key}[{i}]"), u)?;
                if !seen.insert(u.as_str()) {
                    return Err(Error::Args(format!("group member repeated: {u}")));
                }
            }
        }
        Ok(c)
    }

    /// Every user besides the owner: members, then admins.
    fn users(&self) -> Vec<String> {
        self.members.iter().chain(&self.admins).cloned().collect()
    }

    /// The create call for `id`: the owner and the first 30 users.
    fn new_group<'b>(&'b self, id: &'b str, users: &'b [String]) -> NewGroup<'b> {
        let name = if self.name.is_empty() { id } else { &self.name };
        let profile = [
            ("announcement", self.notification.as_str()),
            ("introduction", self.introduction.as_str()),
            ("portraitUrl", self.face_url.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let mut ext: Vec<(&'static str, String)> = Vec::new();
        if !self.ex.is_empty() {
            ext.push((EXT_EX, self.ex.clone()));
        }
        if self.name.is_empty() {
            ext.push((EXT_NO_NAME, "1".into()));
        }
        for (key, v) in [
            (EXT_LOOK, self.look_member_info),
            (EXT_APPLY, self.apply_member_friend),
        ] {
            if v != 0 {
                ext.push((key, v.to_string()));
            }
        }
        ext.sort_unstable_by_key(|(k, _)| *k);
        NewGroup {
            id,
            name,
            owner: &self.owner,
            users: users.get(..limit::CREATE_USERS_MAX).unwrap_or(users),
            profile,
            need_verification: self.need_verification,
            ext,
        }
    }

    /// GroupInfo built from the request (when the read-back fails).
    fn info(&self, id: &str) -> Value {
        let mut p = Profile {
            group_id: id.to_string(),
            name: Some(self.name.clone()),
            owner: Some(self.owner.clone()),
            introduction: Some(self.introduction.clone()),
            announcement: Some(self.notification.clone()),
            portrait_url: Some(self.face_url.clone()),
            create_time: Some(i64::try_from(crate::clock::unix_ms()).unwrap_or(i64::MAX)),
            member_count: i64::try_from(1 + self.members.len() + self.admins.len()).ok(),
            ..Profile::default()
        };
        let (join, invite) = permissions_for(self.need_verification);
        p.permissions.insert("joinPerm".into(), join);
        p.permissions.insert("memInvitePerm".into(), invite);
        p.ext.insert(EXT_EX.into(), self.ex.clone());
        p.ext
            .insert(EXT_LOOK.into(), self.look_member_info.to_string());
        p.ext
            .insert(EXT_APPLY.into(), self.apply_member_friend.to_string());
        group_info(&p)
    }
}

/// Adds `to_add` to the group in join.json batches of at most 100. On a
/// failure: the users added so far and the cause.
pub async fn join_in_batches(
    ctx: &Ctx<'_>,
    group_id: &str,
    to_add: &[String],
) -> Result<(), (Vec<String>, Error)> {
    let mut done = Vec::new();
    for batch in to_add.chunks(limit::USERS_PER_CALL_MAX) {
        if let Err(e) = ctx.join_users(group_id, batch).await {
            return Err((done, e));
        }
        done.extend(batch.iter().cloned());
    }
    Ok(())
}

/// Adds a note to an upstream error's message (e.g. that the group was
/// created although a later step failed).
fn noted(e: Error, note: &str) -> Error {
    match e {
        Error::Upstream {
            path,
            code,
            message,
        } => Error::Upstream {
            path,
            code,
            message: format!("{message} ({note})"),
        },
        Error::Unreachable(d) => Error::Unreachable(format!("{d} ({note})")),
        Error::Timeout(d) => Error::Timeout(format!("{d} ({note})")),
        Error::BadUpstream(d) => Error::BadUpstream(format!("{d} ({note})")),
        other => other,
    }
}

/// `/group/create_group` → group/create.json (owner and the first 30 users),
/// group/join.json for the rest (batches of ≤100), group/manager/add.json for
/// the admins; answers `{"groupInfo"}` read back from group/profile/query.json
/// (or, if that read fails, built from the request).
pub async fn create_group(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let c = Create::read(req)?;
    // CreateGroup (group.go): `authverify.CheckAccess(ownerUserID)`.
    super::perm::self_only(ctx, &c.owner)?;
    let users = c.users();
    let mut attempts = 0;
    let id = loop {
        let id = c.group_id.clone().unwrap_or_else(generate_group_id);
        attempts += 1;
        match ctx.create_group(&c.new_group(&id, &users)).await {
            Ok(_) => break id,
            // A generated id that happens to exist: OpenIM tries again (10 times).
            Err(Error::Upstream { code, .. })
                if code == code::GROUP_EXISTS && c.group_id.is_none() && attempts < 10 => {}
            Err(e) => return Err(e),
        }
    };
    let admins: HashSet<&str> = c.admins.iter().map(String::as_str).collect();
    let not_admin = |u: &&String| !admins.contains(u.as_str());
    let rest = users.get(limit::CREATE_USERS_MAX..).unwrap_or_default();
    if let Err((mut joined, cause)) = join_in_batches(ctx, &id, rest).await {
        joined.extend(users.iter().take(limit::CREATE_USERS_MAX).cloned());
        let joined: HashSet<&String> = joined.iter().collect();
        let done: Vec<String> = users
            .iter()
            .filter(|u| joined.contains(u) && not_admin(u))
            .cloned()
            .collect();
        // Admins count as pending until they are made admins.
        let cause = noted(cause, &format!("group {id} was created"));
        return Err(partial(&users, done, cause));
    }
    let mut promoted: Vec<String> = Vec::new();
    for batch in c.admins.chunks(limit::USERS_PER_CALL_MAX) {
        if let Err(cause) = ctx.set_admins(&id, batch, true).await {
            let done = users
                .iter()
                .filter(|u| not_admin(u) || promoted.contains(u))
                .cloned()
                .collect();
            let note = format!("group {id} was created with every member; admins not set");
            return Err(partial(&users, done, noted(cause, &note)));
        }
        promoted.extend(batch.iter().cloned());
    }
    let info = match ctx.profiles(std::slice::from_ref(&id)).await {
        Ok(list) => match list.first() {
            Some(p) => group_info(p),
            None => c.info(&id),
        },
        Err(e) => {
            crate::logging::span(ctx.vendor.data_centers()).in_scope(|| tracing::warn!(error = %e, group_id = %id, "created, but cannot read the group back; answering from the request"));
            c.info(&id)
        }
    };
    Ok(json!({"groupInfo": info}))
}

/// `/group/get_groups_info`: `{"groupIDs":[..]}` → `{"groupInfos":[..]}` in
/// request order (duplicates once), unknown groups left out.
pub async fn get_groups_info(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let top = Obj::new(req, "");
    let ids = top.strings("groupIDs")?;
    if ids.is_empty() {
        return Err(Error::Args("groupIDs is empty".into()));
    }
    let mut seen = HashSet::new();
    let mut distinct = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        check_group_id(&format!("groupIDs[{i}]"), id)?;
        if seen.insert(id.as_str()) {
            distinct.push(id.clone());
        }
    }
    let mut infos: Vec<Value> = ctx
        .profiles(&distinct)
        .await?
        .iter()
        .map(group_info)
        .collect();
    super::mute::fill_group_status(ctx, &mut infos).await?;
    Ok(json!({"groupInfos": infos}))
}

/// Most pages of group/query.json (1000 groups each) one get_groups
/// request reads: OpenIM searches its database, the gateway can only walk
/// the vendor's list and filter it here.
pub const GROUP_QUERY_PAGES_MAX: usize = 10;

/// `/group/get_groups` (admin search, open-im-server
/// `internal/rpc/group/group.go` GetGroups): `{"pagination","groupName","groupID"}`
/// → `{"total","groups":[{"groupInfo","groupOwnerUserName","groupOwnerUserID"}]}`.
/// With a groupID: that group (total 0 or 1). Otherwise the groups whose
/// name holds `groupName`, walking group/query.json (at most
/// [`GROUP_QUERY_PAGES_MAX`] pages, else 1001) and reading the page's
/// profiles. groupOwnerUserName is always "" (it would cost a member read
/// per group).
pub async fn get_groups(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let (offset, count) = super::member::pagination(&o)?;
    let name = o.str("groupName")?;
    let id = o.str("groupID")?;
    let cms = |p: &Profile| {
        json!({"groupInfo": group_info(p), "groupOwnerUserName": "",
               "groupOwnerUserID": p.owner.clone().unwrap_or_default()})
    };
    if !id.is_empty() {
        check_group_id("groupID", id)?;
        let found = ctx.profiles(&[id.to_string()]).await?;
        let groups: Vec<Value> = found.iter().map(cms).collect();
        return Ok(json!({"total": groups.len(), "groups": groups}));
    }
    let mut pages = 0;
    let (_, all) = super::member::walk(None, |token| {
        pages += 1;
        let over = pages > GROUP_QUERY_PAGES_MAX;
        async move {
            if over {
                return Err(Error::Args(format!(
                    "get_groups reads at most {} groups from the vendor and this app has more: ask by groupID",
                    GROUP_QUERY_PAGES_MAX * limit::GROUP_PAGE_MAX
                )));
            }
            ctx.group_page(token, limit::GROUP_PAGE_MAX).await
        }
    })
    .await?;
    let matching: Vec<String> = all
        .into_iter()
        .filter(|g| name.is_empty() || g.name.as_deref().is_some_and(|n| n.contains(name)))
        .map(|g| g.group_id)
        .collect();
    let page: Vec<String> = matching.iter().skip(offset).take(count).cloned().collect();
    let groups: Vec<Value> = if page.is_empty() {
        Vec::new()
    } else {
        ctx.profiles(&page).await?.iter().map(cms).collect()
    };
    Ok(json!({"total": matching.len(), "groups": groups}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_as_the_map_printed() {
        for nv in -1..=3 {
            let (join, invite) = permissions_for(nv);
            assert_eq!(
                super::super::dialect::permissions_json(nv),
                json!({"joinPerm": join, "memInvitePerm": invite}).to_string()
            );
        }
    }

    #[test]
    fn need_verification_round_trips() {
        for nv in 0..=2 {
            let (j, i) = permissions_for(nv);
            assert_eq!(need_verification(j, i), nv);
        }
        assert_eq!(need_verification(0, 2), 0);
        assert_eq!(need_verification(0, 0), 1);
        assert_eq!(need_verification(3, 2), 1);
        assert_eq!(need_verification(2, 0), 1);
    }

    #[test]
    fn every_field_present() {
        let v = group_info(&Profile {
            group_id: "g".into(),
            ..Profile::default()
        });
        let m = v.as_object().unwrap();
        for k in [
            "groupID",
            "groupName",
            "notification",
            "introduction",
            "faceURL",
            "ownerUserID",
            "createTime",
            "memberCount",
            "ex",
            "status",
            "creatorUserID",
            "groupType",
            "needVerification",
            "lookMemberInfo",
            "applyMemberFriend",
            "notificationUpdateTime",
            "notificationUserID",
        ] {
            assert!(m.contains_key(k), "{k}");
        }
        assert_eq!(m.len(), 17);
    }
}
