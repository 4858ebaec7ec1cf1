//! Group info: `/auth/get_admin_token`, `/group/create_group`,
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
//! | groupType, status | always 2 and 0 |

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::json::{Obj, max_len};
use super::{Ctx, Form, token};
use crate::entrust::profile::Profile;
use crate::entrust::{code, limit, path};
use crate::error::Error;
use crate::gateway::Gateway;

/// groupExtProfile keys holding the OpenIM fields entrust has no place for.
pub const EXT_EX: &str = "ext_openim_ex";
pub const EXT_LOOK: &str = "ext_openim_look";
pub const EXT_APPLY: &str = "ext_openim_apply";

/// OpenIM's `ex` limit, the vendor's ext value limit.
pub const EX_MAX: usize = limit::EXT_VALUE_MAX;
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
    json!({
        "groupID": p.group_id,
        "groupName": s(&p.name),
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
        "notificationUpdateTime": 0,
        "notificationUserID": "",
    })
}

/// A group id: required, at most 64 characters, no comma (ids are sent
/// comma-joined).
pub fn check_group_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::Args(format!("{field} is required")));
    }
    max_len(field, id, limit::GROUP_ID_MAX)?;
    if id.contains(',') {
        return Err(Error::Args(format!("{field} must not contain ','")));
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

/// Constant-time string comparison (for the admin secret).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// `/auth/get_admin_token`: `{"secret","userID"}` →
/// `{"token","expireTimeSeconds"}`.
pub fn get_admin_token(gw: &Gateway, body: &[u8]) -> Result<Value, Error> {
    let req = super::json::parse(body)?;
    let o = Obj::new(&req, "");
    let secret = o.str("secret")?;
    let user = o.str("userID")?;
    let (Some(expected), Some(cfg)) = (gw.openim_secret(), &gw.config().openim) else {
        return Err(Error::NoPermission(
            "no [openim] section is configured: this gateway issues no tokens and needs none"
                .into(),
        ));
    };
    if !same_secret(secret, expected.expose()) {
        return Err(Error::NoPermission("secret invalid".into()));
    }
    if user.is_empty() || !cfg.admin_user_ids.iter().any(|a| a == user) {
        // At most 80 characters of it: the detail is logged and echoed.
        return Err(Error::Args(format!(
            "userID {:?} is not an admin user ID",
            crate::route::printable(user)
        )));
    }
    let expire = cfg.token_expire_seconds;
    let t = token::issue(
        expected,
        user,
        crate::clock::unix_secs().saturating_add(expire),
    )?;
    Ok(json!({"token": t, "expireTimeSeconds": expire}))
}

/// The fields a set call changes (`None` = unchanged).
#[derive(Debug, Default)]
struct InfoSet {
    group_id: String,
    name: Option<String>,
    notification: Option<String>,
    introduction: Option<String>,
    face_url: Option<String>,
    ex: Option<String>,
    need_verification: Option<i64>,
    look_member_info: Option<i64>,
    apply_member_friend: Option<i64>,
}

impl InfoSet {
    /// Reads `o`; `plain` is set_group_info's rule for its five strings
    /// (changed only when non-empty), otherwise set_group_info_ex's (changed
    /// when present).
    fn read(o: &Obj<'_>, plain: bool) -> Result<InfoSet, Error> {
        let s = |key: &str| -> Result<Option<String>, Error> {
            let v = o.opt_str(key)?;
            Ok(if plain {
                v.filter(|s| !s.is_empty()).map(str::to_string)
            } else {
                v.map(str::to_string)
            })
        };
        let set = InfoSet {
            group_id: o.str("groupID")?.to_string(),
            name: s("groupName")?,
            notification: s("notification")?,
            introduction: s("introduction")?,
            face_url: s("faceURL")?,
            ex: o.opt_str("ex")?.map(str::to_string),
            need_verification: o.opt_int("needVerification", 0, 2)?,
            look_member_info: o.opt_int("lookMemberInfo", 0, 1)?,
            apply_member_friend: o.opt_int("applyMemberFriend", 0, 1)?,
        };
        check_group_id(&o.name("groupID"), &set.group_id)?;
        if set.name.as_deref() == Some("") {
            return Err(Error::Args(format!(
                "{} must not be empty: the vendor requires a group name",
                o.name("groupName")
            )));
        }
        for (key, v, max) in [
            ("groupName", &set.name, limit::NAME_MAX),
            ("notification", &set.notification, limit::ANNOUNCEMENT_MAX),
            ("introduction", &set.introduction, limit::INTRODUCTION_MAX),
            ("faceURL", &set.face_url, limit::PORTRAIT_URL_MAX),
            ("ex", &set.ex, EX_MAX),
        ] {
            if let Some(v) = v {
                max_len(&o.name(key), v, max)?;
            }
        }
        Ok(set)
    }

    /// The profile/update.json form, or `None` when nothing changes.
    fn form(&self) -> Option<Form> {
        let mut profile = Map::new();
        for (key, v) in [
            ("name", &self.name),
            ("announcement", &self.notification),
            ("introduction", &self.introduction),
            ("portraitUrl", &self.face_url),
        ] {
            if let Some(v) = v {
                profile.insert(key.into(), Value::from(v.as_str()));
            }
        }
        let mut ext = Map::new();
        // An empty value removes the key at the vendor; a missing key reads
        // back as "", so "set ex to empty" round-trips.
        if let Some(ex) = &self.ex {
            ext.insert(EXT_EX.into(), Value::from(ex.as_str()));
        }
        for (key, v) in [
            (EXT_LOOK, self.look_member_info),
            (EXT_APPLY, self.apply_member_friend),
        ] {
            if let Some(v) = v {
                ext.insert(key.into(), Value::from(v.to_string()));
            }
        }
        let mut form: Form = vec![("groupId", self.group_id.clone())];
        if !profile.is_empty() {
            form.push(("groupProfile", Value::Object(profile).to_string()));
        }
        if let Some(nv) = self.need_verification {
            form.push(("permissions", permissions_json(nv)));
        }
        if !ext.is_empty() {
            form.push(("groupExtProfile", Value::Object(ext).to_string()));
        }
        (form.len() > 1).then_some(form)
    }
}

fn permissions_json(need_verification: i64) -> String {
    let (join, invite) = permissions_for(need_verification);
    json!({"joinPerm": join, "memInvitePerm": invite}).to_string()
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
    let Some(form) = set.form() else {
        // Nothing to change: OpenIM still answers 1004 for an unknown group.
        return ctx.profile(&set.group_id).await.map(drop);
    };
    match ctx.call(path::PROFILE_UPDATE, &form).await {
        // "ex" = "" is sent as an empty ext value, which removes the key. A
        // vendor that refuses to remove a key that isn't there (25415) has
        // refused the whole update; without the key ex already reads "", so
        // the rest is sent again without it.
        Err(Error::Upstream { code, .. })
            if code == code::EXT_KEY_MISSING && set.ex.as_deref() == Some("") =>
        {
            let rest = InfoSet { ex: None, ..set };
            match rest.form() {
                Some(form) => ctx.call(path::PROFILE_UPDATE, &form).await.map(drop),
                None => Ok(()),
            }
        }
        other => other.map(drop),
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
        if c.name.is_empty() {
            return Err(Error::Args(
                "groupInfo.groupName is required: the vendor requires a group name".into(),
            ));
        }
        for (key, v, max) in [
            ("groupInfo.groupName", &c.name, limit::NAME_MAX),
            (
                "groupInfo.notification",
                &c.notification,
                limit::ANNOUNCEMENT_MAX,
            ),
            (
                "groupInfo.introduction",
                &c.introduction,
                limit::INTRODUCTION_MAX,
            ),
            ("groupInfo.faceURL", &c.face_url, limit::PORTRAIT_URL_MAX),
            ("groupInfo.ex", &c.ex, EX_MAX),
        ] {
            max_len(key, v, max)?;
        }
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

    fn form(&self, id: &str) -> Form {
        let users = self.users();
        let first: Vec<&str> = users
            .iter()
            .take(limit::CREATE_USERS_MAX)
            .map(String::as_str)
            .collect();
        let mut form: Form = vec![
            ("groupId", id.to_string()),
            ("name", self.name.clone()),
            ("owner", self.owner.clone()),
        ];
        if !first.is_empty() {
            form.push(("userIds", first.join(",")));
        }
        let mut profile = Map::new();
        for (key, v) in [
            ("announcement", &self.notification),
            ("introduction", &self.introduction),
            ("portraitUrl", &self.face_url),
        ] {
            if !v.is_empty() {
                profile.insert(key.into(), Value::from(v.as_str()));
            }
        }
        if !profile.is_empty() {
            form.push(("groupProfile", Value::Object(profile).to_string()));
        }
        form.push(("permissions", permissions_json(self.need_verification)));
        let mut ext = Map::new();
        if !self.ex.is_empty() {
            ext.insert(EXT_EX.into(), Value::from(self.ex.as_str()));
        }
        for (key, v) in [
            (EXT_LOOK, self.look_member_info),
            (EXT_APPLY, self.apply_member_friend),
        ] {
            if v != 0 {
                ext.insert(key.into(), Value::from(v.to_string()));
            }
        }
        if !ext.is_empty() {
            form.push(("groupExtProfile", Value::Object(ext).to_string()));
        }
        form
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
        let form: Form = vec![
            ("groupId", group_id.to_string()),
            ("userIds", batch.join(",")),
        ];
        if let Err(e) = ctx.call(path::GROUP_JOIN, &form).await {
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
    let mut attempts = 0;
    let id = loop {
        let id = c.group_id.clone().unwrap_or_else(generate_group_id);
        attempts += 1;
        match ctx.call(path::GROUP_CREATE, &c.form(&id)).await {
            Ok(_) => break id,
            // A generated id that happens to exist: OpenIM tries again (10 times).
            Err(Error::Upstream { code, .. })
                if code == code::GROUP_EXISTS && c.group_id.is_none() && attempts < 10 => {}
            Err(e) => return Err(e),
        }
    };
    let users = c.users();
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
        let pending = users
            .iter()
            .filter(|u| !joined.contains(u) || !not_admin(u))
            .cloned()
            .collect();
        return Err(Error::Partial {
            done,
            pending,
            cause: Box::new(noted(cause, &format!("group {id} was created"))),
        });
    }
    let mut promoted: Vec<String> = Vec::new();
    for batch in c.admins.chunks(limit::USERS_PER_CALL_MAX) {
        let form: Form = vec![("groupId", id.clone()), ("userIds", batch.join(","))];
        if let Err(cause) = ctx.call(path::MANAGER_ADD, &form).await {
            let done = users
                .iter()
                .filter(|u| not_admin(u) || promoted.contains(u))
                .cloned()
                .collect();
            let pending = c
                .admins
                .iter()
                .filter(|u| !promoted.contains(u))
                .cloned()
                .collect();
            return Err(Error::Partial {
                done,
                pending,
                cause: Box::new(noted(
                    cause,
                    &format!("group {id} was created with every member; admins not set"),
                )),
            });
        }
        promoted.extend(batch.iter().cloned());
    }
    let info = match ctx.profiles(std::slice::from_ref(&id)).await {
        Ok(list) => match list.first() {
            Some(p) => group_info(p),
            None => c.info(&id),
        },
        Err(e) => {
            tracing::warn!(error = %e, group_id = %id, "created, but cannot read the group back; answering from the request");
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
    let infos: Vec<Value> = ctx
        .profiles(&distinct)
        .await?
        .iter()
        .map(group_info)
        .collect();
    Ok(json!({"groupInfos": infos}))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn secret_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
