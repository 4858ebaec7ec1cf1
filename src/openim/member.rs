//! Membership: invite, join, kick, quit, transfer, dismiss, member lists and
//! member info, and the groups a user joined.
//!
//! | OpenIM route | entrust |
//! |---|---|
//! | invite_user_to_group | group/join.json (batches of ≤100) |
//! | join_group | group/join.json |
//! | kick_group | group/member/kick.json (batches of ≤100) |
//! | quit_group | group/quit.json |
//! | transfer_group | group/transfer/owner.json |
//! | dismiss_group | group/dismiss.json |
//! | get_group_member_list | group/member/query.json (paged by pageToken) |
//! | get_group_members_info | group/member/specific/query.json (batches of ≤100) |
//! | set_group_member_info | group/member/set.json, group/manager/add.json / remove.json |
//! | get_joined_group_list | joined/group/query.json, then group/profile/query.json |
//!
//! GroupMember: userID ↔ userId, nickname ↔ nickname, ex ↔ extra, joinTime
//! ↔ time, roleLevel 100/60/20 ↔ role OWNER/MANAGER/MEMBER.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::group::{check_group_id, check_user_id, group_info, join_in_batches};
use super::json::{Obj, max_len};
use super::{Ctx, Form};
use crate::entrust::profile::{self, Member, Page};
use crate::entrust::{limit, path, role};
use crate::error::Error;

/// OpenIM's role levels.
pub const ROLE_OWNER: i64 = 100;
pub const ROLE_ADMIN: i64 = 60;
pub const ROLE_MEMBER: i64 = 20;

/// OpenIM's roleLevel for an entrust role (anything unknown is a member).
pub fn role_level(entrust_role: i64) -> i64 {
    match entrust_role {
        role::OWNER => ROLE_OWNER,
        role::MANAGER => ROLE_ADMIN,
        _ => ROLE_MEMBER,
    }
}

/// OpenIM's GroupMember, every field present.
pub fn group_member(group_id: &str, m: &Member) -> Value {
    json!({
        "groupID": group_id,
        "userID": m.user_id,
        "nickname": m.nickname,
        "faceURL": "",
        "roleLevel": role_level(m.role),
        "joinTime": m.time,
        "joinSource": 0,
        "inviterUserID": "",
        "operatorUserID": "",
        "muteEndTime": 0,
        "ex": m.extra,
    })
}

/// The required `groupID`.
fn group_id<'a>(o: &Obj<'a>) -> Result<&'a str, Error> {
    let id = o.str("groupID")?;
    check_group_id(&o.name("groupID"), id)?;
    Ok(id)
}

/// A user list that must be non-empty and without duplicates.
fn user_list(o: &Obj<'_>, key: &str) -> Result<Vec<String>, Error> {
    let users = o.strings(key)?;
    if users.is_empty() {
        return Err(Error::Args(format!("{} is empty", o.name(key))));
    }
    let mut seen = HashSet::new();
    for (i, u) in users.iter().enumerate() {
        check_user_id(&format!("{}[{i}]", o.name(key)), u)?;
        if !seen.insert(u.as_str()) {
            return Err(Error::Args(format!("{} has a duplicate: {u}", o.name(key))));
        }
    }
    Ok(users)
}

/// The user a call acts for when the body names none: the token's admin.
fn acting_user(ctx: &Ctx<'_>, given: &str, field: &str) -> Result<String, Error> {
    if !given.is_empty() {
        check_user_id(field, given)?;
        return Ok(given.to_string());
    }
    ctx.user.clone().ok_or_else(|| {
        Error::Args(format!(
            "{field} is required (there is no token user to default to)"
        ))
    })
}

/// A split call's failure: `Partial` once some users were done, else the cause.
fn partial(all: &[String], done: Vec<String>, cause: Error) -> Error {
    if done.is_empty() {
        return cause;
    }
    let finished: HashSet<&String> = done.iter().collect();
    let pending = all
        .iter()
        .filter(|u| !finished.contains(u))
        .cloned()
        .collect();
    Error::Partial {
        done,
        pending,
        cause: Box::new(cause),
    }
}

/// `/group/invite_user_to_group` → group/join.json in batches of ≤100.
pub async fn invite(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let users = user_list(&o, "invitedUserIDs")?;
    o.str("reason")?;
    o.opt_bool("sendMessage")?;
    join_in_batches(ctx, id, &users)
        .await
        .map_err(|(done, cause)| partial(&users, done, cause))
}

/// `/group/join_group` → group/join.json for the joining user: the token's
/// user, as in OpenIM (or `userID`, a gateway extension for setups without
/// tokens).
pub async fn join(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    o.str("reqMessage")?;
    o.opt_int("joinSource", i64::from(i32::MIN), i64::from(i32::MAX))?;
    o.str("inviterUserID")?;
    o.str("ex")?;
    let user = acting_user(ctx, o.str("userID")?, "userID")?;
    let form: Form = vec![("groupId", id.to_string()), ("userIds", user)];
    ctx.call(path::GROUP_JOIN, &form).await.map(drop)
}

/// `/group/kick_group` → group/member/kick.json in batches of ≤100. When
/// the list needs more than one call, the owner is looked up first so that
/// kicking the owner fails before anyone is kicked (in one call the vendor's
/// 25417 does the same).
pub async fn kick(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let users = user_list(&o, "kickedUserIDs")?;
    o.str("reason")?;
    o.opt_bool("sendMessage")?;
    if users.len() > limit::USERS_PER_CALL_MAX {
        let p = ctx.profile(id).await?;
        if let Some(owner) = p.owner.filter(|o| users.contains(o)) {
            return Err(Error::Args(format!(
                "kickedUserIDs holds the group owner {owner}, who cannot be kicked"
            )));
        }
    }
    let mut done = Vec::new();
    for batch in users.chunks(limit::USERS_PER_CALL_MAX) {
        let form: Form = vec![("groupId", id.to_string()), ("userIds", batch.join(","))];
        if let Err(cause) = ctx.call(path::MEMBER_KICK, &form).await {
            return Err(partial(&users, done, cause));
        }
        done.extend(batch.iter().cloned());
    }
    Ok(())
}

/// `/group/quit_group` → group/quit.json (`userID` empty: the token's user).
pub async fn quit(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let user = acting_user(ctx, o.str("userID")?, "userID")?;
    let form: Form = vec![("groupId", id.to_string()), ("userIds", user)];
    ctx.call(path::GROUP_QUIT, &form).await.map(drop)
}

/// `/group/transfer_group` → group/transfer/owner.json; the old owner stays
/// as a member. The old owner must be the group's owner (checked on the
/// profile first, as OpenIM does).
pub async fn transfer(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let old = o.str("oldOwnerUserID")?;
    let new = o.str("newOwnerUserID")?;
    check_user_id("oldOwnerUserID", old)?;
    check_user_id("newOwnerUserID", new)?;
    if old == new {
        return Err(Error::Args(
            "oldOwnerUserID and newOwnerUserID are the same".into(),
        ));
    }
    let p = ctx.profile(id).await?;
    if let Some(owner) = p.owner.as_deref().filter(|o| !o.is_empty() && *o != old) {
        return Err(Error::Args(format!(
            "oldOwnerUserID {old} is not the owner of group {id} ({owner} is)"
        )));
    }
    let form: Form = vec![("groupId", id.to_string()), ("newOwner", new.to_string())];
    ctx.call(path::TRANSFER_OWNER, &form).await.map(drop)
}

/// `/group/dismiss_group` → group/dismiss.json (the vendor removes every
/// member with the group, whatever `deleteMember` says).
pub async fn dismiss(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    o.opt_bool("deleteMember")?;
    o.opt_bool("sendMessage")?;
    let form: Form = vec![("groupId", id.to_string())];
    ctx.call(path::GROUP_DISMISS, &form).await.map(drop)
}

/// OpenIM's pagination: (offset, count); `None` = everything.
fn pagination(o: &Obj<'_>) -> Result<Option<(usize, usize)>, Error> {
    let Some(p) = o.opt_obj("pagination")? else {
        return Ok(None);
    };
    let p = Obj::new(p, "pagination.");
    let max = i64::from(i32::MAX);
    let number = p.opt_int("pageNumber", 1, max)?;
    let show = p.opt_int("showNumber", 1, max)?;
    let (Some(number), Some(show)) = (number, show) else {
        return Err(Error::Args(
            "pagination.pageNumber and pagination.showNumber are required".into(),
        ));
    };
    let number = usize::try_from(number - 1).unwrap_or(0);
    let show = usize::try_from(show).unwrap_or(usize::MAX);
    Ok(Some((number.saturating_mul(show), show)))
}

/// Walks a paged entrust query (pages of 100) and returns the total and
/// the items from `offset`, at most `count` of them (all with `None`).
async fn walk<T, F, Fut>(
    range: Option<(usize, usize)>,
    mut fetch: F,
) -> Result<(i64, Vec<T>), Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let (offset, count) = range.unwrap_or((0, usize::MAX));
    let mut seen = 0usize;
    let mut total = None;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let sent = token.clone();
        let page = fetch(token.take()).await?;
        total = total.or(page.total);
        // A vendor answering an empty page, or the same token again, would
        // otherwise be asked forever.
        let more = page.has_more() && !page.items.is_empty() && page.page_token != sent;
        for item in page.items {
            if seen >= offset && out.len() < count {
                out.push(item);
            }
            seen += 1;
        }
        if !more || out.len() >= count {
            break;
        }
        token = page.page_token;
    }
    let total = total.unwrap_or_else(|| i64::try_from(seen).unwrap_or(i64::MAX));
    Ok((total, out))
}

fn bad_answer(path: &str, e: String) -> Error {
    Error::BadUpstream(format!("entrust {path}: {e}"))
}

/// `/group/get_group_member_list` → group/member/query.json, oldest member
/// first; OpenIM's pageNumber/showNumber over the vendor's pageToken/size.
pub async fn member_list(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let range = pagination(&o)?;
    if o.opt_int("filter", i64::from(i32::MIN), i64::from(i32::MAX))?
        .is_some_and(|f| f != 0)
    {
        return Err(Error::Args(
            "filter is not supported by the gateway (only 0, all members)".into(),
        ));
    }
    if !o.str("keyword")?.is_empty() {
        return Err(Error::Args(
            "keyword is not supported by the gateway".into(),
        ));
    }
    let (total, members) = walk(range, |token| async move {
        let mut form: Form = vec![
            ("groupId", id.to_string()),
            ("size", limit::MEMBER_PAGE_MAX.to_string()),
            ("order", "0".to_string()),
        ];
        if let Some(t) = token {
            form.push(("pageToken", t));
        }
        let body = ctx.call(path::MEMBER_QUERY, &form).await?;
        profile::parse_members(&body).map_err(|e| bad_answer(path::MEMBER_QUERY, e))
    })
    .await?;
    let members: Vec<Value> = members.iter().map(|m| group_member(id, m)).collect();
    Ok(json!({"total": total, "members": members}))
}

/// Members of `id` among `users` (distinct), in that order, non-members
/// left out: group/member/specific/query.json in batches of ≤100.
async fn specific(ctx: &Ctx<'_>, id: &str, users: &[String]) -> Result<Vec<Member>, Error> {
    let mut found: HashMap<String, Member> = HashMap::new();
    for batch in users.chunks(limit::USERS_PER_CALL_MAX) {
        let form: Form = vec![("groupId", id.to_string()), ("userIds", batch.join(","))];
        let body = ctx.call(path::MEMBER_SPECIFIC_QUERY, &form).await?;
        let page = profile::parse_members(&body)
            .map_err(|e| bad_answer(path::MEMBER_SPECIFIC_QUERY, e))?;
        for m in page.items {
            if batch.contains(&m.user_id) {
                found.entry(m.user_id.clone()).or_insert(m);
            }
        }
    }
    Ok(users.iter().filter_map(|u| found.remove(u)).collect())
}

/// `/group/get_group_members_info` → group/member/specific/query.json.
pub async fn members_info(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let users = o.strings("userIDs")?;
    if users.is_empty() {
        return Err(Error::Args("userIDs is empty".into()));
    }
    let mut seen = HashSet::new();
    let mut distinct = Vec::new();
    for (i, u) in users.iter().enumerate() {
        check_user_id(&format!("userIDs[{i}]"), u)?;
        if seen.insert(u.as_str()) {
            distinct.push(u.clone());
        }
    }
    let members: Vec<Value> = specific(ctx, id, &distinct)
        .await?
        .iter()
        .map(|m| group_member(id, m))
        .collect();
    Ok(json!({"members": members}))
}

/// One member's changes in set_group_member_info.
struct MemberSet {
    group_id: String,
    user_id: String,
    nickname: Option<String>,
    ex: Option<String>,
    role_level: Option<i64>,
}

impl MemberSet {
    fn read(m: &Map<String, Value>, i: usize) -> Result<MemberSet, Error> {
        let prefix = format!("members[{i}].");
        let o = Obj::new(m, &prefix);
        let group_id = group_id(&o)?.to_string();
        let user_id = o.str("userID")?.to_string();
        check_user_id(&o.name("userID"), &user_id)?;
        let nickname = o.opt_str("nickname")?.map(str::to_string);
        if let Some(n) = &nickname {
            max_len(&o.name("nickname"), n, limit::NICKNAME_MAX)?;
        }
        if o.opt_str("faceURL")?.is_some_and(|f| !f.is_empty()) {
            return Err(Error::Args(format!(
                "{}: the vendor keeps no member face URL; only \"\" is accepted",
                o.name("faceURL")
            )));
        }
        let role_level = o.opt_int("roleLevel", i64::from(i32::MIN), i64::from(i32::MAX))?;
        match role_level {
            None | Some(ROLE_ADMIN) | Some(ROLE_MEMBER) => {}
            Some(ROLE_OWNER) => {
                return Err(Error::Args(format!(
                    "{}: 100 (owner) cannot be set here; use transfer_group",
                    o.name("roleLevel")
                )));
            }
            Some(other) => {
                return Err(Error::Args(format!(
                    "{} must be 60 (admin) or 20 (member), not {other}",
                    o.name("roleLevel")
                )));
            }
        }
        Ok(MemberSet {
            group_id,
            user_id,
            nickname,
            ex: o.opt_str("ex")?.map(str::to_string),
            role_level,
        })
    }

    async fn apply(&self, ctx: &Ctx<'_>) -> Result<(), Error> {
        if self.nickname.is_some() || self.ex.is_some() {
            let mut form: Form = vec![
                ("groupId", self.group_id.clone()),
                ("userId", self.user_id.clone()),
            ];
            if let Some(n) = &self.nickname {
                form.push(("nickname", n.clone()));
            }
            if let Some(e) = &self.ex {
                form.push(("extra", e.clone()));
            }
            ctx.call(path::MEMBER_SET, &form).await?;
        }
        let Some(level) = self.role_level else {
            return Ok(());
        };
        let users = [self.user_id.clone()];
        let current = specific(ctx, &self.group_id, &users).await?;
        let Some(m) = current.first() else {
            return Err(Error::Upstream {
                path: path::MEMBER_SPECIFIC_QUERY.to_string(),
                code: crate::entrust::code::NOT_IN_GROUP,
                message: format!(
                    "{} is not a member of group {}",
                    self.user_id, self.group_id
                ),
            });
        };
        let now = role_level(m.role);
        if now == level {
            return Ok(());
        }
        if now == ROLE_OWNER {
            return Err(Error::Args(format!(
                "{} owns group {}: use transfer_group to change the owner",
                self.user_id, self.group_id
            )));
        }
        let to = if level == ROLE_ADMIN {
            path::MANAGER_ADD
        } else {
            path::MANAGER_REMOVE
        };
        let form: Form = vec![
            ("groupId", self.group_id.clone()),
            ("userIds", self.user_id.clone()),
        ];
        ctx.call(to, &form).await.map(drop)
    }
}

/// `/group/set_group_member_info`: nickname and ex → group/member/set.json;
/// roleLevel 60/20 → group/manager/add.json / remove.json. Every member is
/// checked before the first call; a failure part-way is `Partial`, naming
/// members as `groupID/userID`.
pub async fn set_member_info(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let list = o.objects("members")?;
    if list.is_empty() {
        return Err(Error::Args("members is empty".into()));
    }
    let sets = list
        .iter()
        .enumerate()
        .map(|(i, m)| MemberSet::read(m, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    for s in &sets {
        if !seen.insert((s.group_id.as_str(), s.user_id.as_str())) {
            return Err(Error::Args(format!(
                "members lists {} in group {} twice",
                s.user_id, s.group_id
            )));
        }
    }
    let names: Vec<String> = sets
        .iter()
        .map(|s| format!("{}/{}", s.group_id, s.user_id))
        .collect();
    let mut done = Vec::new();
    for (s, name) in sets.iter().zip(&names) {
        if let Err(cause) = s.apply(ctx).await {
            return Err(partial(&names, done, cause));
        }
        done.push(name.clone());
    }
    Ok(())
}

/// `/group/get_joined_group_list` → joined/group/query.json (oldest first),
/// then group/profile/query.json for the page's GroupInfo.
pub async fn joined_groups(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let user = o.str("fromUserID")?;
    check_user_id("fromUserID", user)?;
    let range = pagination(&o)?;
    let (total, groups) = walk(range, |token| async move {
        let mut form: Form = vec![
            ("userId", user.to_string()),
            ("size", limit::MEMBER_PAGE_MAX.to_string()),
            ("order", "0".to_string()),
        ];
        if let Some(t) = token {
            form.push(("pageToken", t));
        }
        let body = ctx.call(path::JOINED_GROUP_QUERY, &form).await?;
        profile::parse_joined_groups(&body).map_err(|e| bad_answer(path::JOINED_GROUP_QUERY, e))
    })
    .await?;
    let mut seen = HashSet::new();
    let ids: Vec<String> = groups
        .into_iter()
        .map(|g| g.group_id)
        .filter(|id| seen.insert(id.clone()))
        .collect();
    let infos: Vec<Value> = if ids.is_empty() {
        Vec::new()
    } else {
        ctx.profiles(&ids).await?.iter().map(group_info).collect()
    };
    Ok(json!({"total": total, "groups": infos}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(role_level(role::OWNER), 100);
        assert_eq!(role_level(role::MANAGER), 60);
        assert_eq!(role_level(role::MEMBER), 20);
        assert_eq!(role_level(0), 20);
    }

    #[test]
    fn member_fields() {
        let v = group_member("g", &Member::default());
        assert_eq!(v.as_object().map(|m| m.len()), Some(11));
    }

    #[tokio::test]
    async fn walk_stops_on_a_stuck_vendor() {
        let mut calls = 0;
        let (total, items) = walk::<i32, _, _>(None, |_| {
            calls += 1;
            async {
                Ok(Page {
                    total: None,
                    page_token: Some("same".into()),
                    items: vec![1],
                })
            }
        })
        .await
        .unwrap();
        assert_eq!((total, items.len(), calls), (2, 2, 2));
        let (_, items) = walk::<i32, _, _>(Some((1, 2)), |t| async move {
            let n: i32 = t.as_deref().unwrap_or("0").parse().unwrap();
            Ok(Page {
                total: Some(9),
                page_token: Some((n + 1).to_string()),
                items: vec![n * 10, n * 10 + 1],
            })
        })
        .await
        .unwrap();
        assert_eq!(items, [1, 10]);
    }

    #[test]
    fn partial_lists() {
        let all: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let cause = Error::Unreachable("x".into());
        assert_eq!(partial(&all, vec![], cause.clone()), cause);
        match partial(&all, vec!["a".into()], cause) {
            Error::Partial { done, pending, .. } => {
                assert_eq!(done, ["a"]);
                assert_eq!(pending, ["b", "c"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
