//! Membership: invite, join, kick, quit, transfer, dismiss, member lists and
//! member info, and the groups a user joined.
//!
//! The vendor paths below are entrust's; with `vendor_api = "v4"` each is
//! its v4 counterpart ([`super::dialect`]).
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
//! | set_group_member_info | group/member/specific/query.json, then group/member/set.json, group/manager/add.json / remove.json |
//! | get_joined_group_list | joined/group/query.json, then group/profile/query.json |
//! | get_group_member_user_id, get_full_group_member_user_ids | group/member/query.json |
//! | get_full_join_group_ids | joined/group/query.json |
//! | get_group_abstract_info | group/profile/query.json, group/member/query.json |
//!
//! GroupMember: userID ↔ userId, nickname ↔ nickname, ex ↔ extra, joinTime
//! ↔ time, roleLevel 100/60/20 ↔ role OWNER/MANAGER/MEMBER. Member lists are
//! in OpenIM's order: role level descending, then join time
//! (`pkg/common/storage/database/mgo/group_member.go` memberSort).

use std::collections::{HashMap, HashSet};

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::errcode;
use super::group::{check_group_id, check_user_id, group_info, join_in_batches, need_verification};
use super::json::{Obj, max_len};
use super::pages::List;
use super::perm;
use crate::entrust::profile::{self, Member, Page};
use crate::entrust::{code, limit, path, role};
use crate::error::Error;

/// The vendor's limit on a member's `extra`, where OpenIM's member `ex`
/// goes (group/member/set.json doc page; Java and PHP `verify.json`).
pub const MEMBER_EX_MAX: usize = 128;

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
        "appMangerLevel": 0,
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

/// A split call's failure: `Partial` once some users were done, else the
/// cause. `pending` is everything in `all` not in `done`.
pub(super) fn partial(all: &[String], done: Vec<String>, cause: Error) -> Error {
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
    // InviteUserToGroup (group.go): members only; an ordinary member's
    // invitation into a group where everyone needs verification
    // (needVerification 1, AllNeedVerification) becomes join applications
    // there, which the vendor does not keep.
    if let Some(me) = perm::in_group(ctx, id).await?
        && role_level(me.role) == ROLE_MEMBER
    {
        let p = ctx.profile(id).await?;
        if need_verification(p.permission("joinPerm"), p.permission("memInvitePerm")) == 1 {
            return Err(Error::OpenIm {
                code: errcode::NO_PERMISSION,
                detail: format!(
                    "group {id} needs verification for every join (needVerification 1): OpenIM would record an application for each invited user, and the vendor keeps none; an owner or admin can invite"
                ),
            });
        }
    }
    join_in_batches(ctx, id, &users)
        .await
        .map_err(|(done, cause)| partial(&users, done, cause))
}

/// `/group/join_group` → group/join.json for `inviterUserID`, the joining
/// user (the OpenIM SDK puts the logged-in user there; open-im-server
/// `internal/rpc/group/group.go` JoinGroup adds `req.InviterUserID`).
/// `joinSource` must be 1-4 (protocol `group/group.go` JoinGroupReq.Check).
/// A group not open to direct joins (needVerification other than 2) is
/// refused with 1002: OpenIM would record an application there, and the
/// vendor holds none.
pub async fn join(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    o.str("reqMessage")?;
    o.str("ex")?;
    let source = o.opt_int("joinSource", i64::from(i32::MIN), i64::from(i32::MAX))?;
    if !(1..=4).contains(&source.unwrap_or(0)) {
        return Err(Error::Args("joinSource is invalid".into()));
    }
    let user = o.str("inviterUserID")?;
    if user.is_empty() {
        return Err(Error::Args(
            "inviterUserID is empty: it names the user who joins".into(),
        ));
    }
    check_user_id("inviterUserID", user)?;
    let p = ctx.profile(id).await?;
    let nv = need_verification(p.permission("joinPerm"), p.permission("memInvitePerm"));
    if nv != 2 {
        return Err(Error::OpenIm {
            code: errcode::NO_PERMISSION,
            detail: format!(
                "group {id} is not open to direct joins (needVerification {nv}): OpenIM would record a join application, and the vendor keeps none; invite the user, or set needVerification 2"
            ),
        });
    }
    ctx.join_users(id, &[user.to_string()]).await
}

/// `/group/kick_group` → group/member/kick.json in batches of ≤100. When
/// the list needs more than one call, the owner is looked up first so that
/// kicking the owner fails before anyone is kicked (in one call the vendor's
/// 25417 does the same). A non-member is 1101, as OpenIM answers
/// (`internal/rpc/group/group.go` KickGroupMember: ErrUserIDNotFound).
pub async fn kick(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let users = user_list(&o, "kickedUserIDs")?;
    o.str("reason")?;
    o.opt_bool("sendMessage")?;
    if !ctx.admin {
        // KickGroupMember (group.go), in its order: the caller among the
        // kicked (1001), the owner among them (1001), a non-member (1101),
        // then the caller's rights (1002).
        if users.iter().any(|u| u == perm::caller(ctx)) {
            return Err(Error::Args("opUserID in KickedUserIDs".into()));
        }
        let found = perm::members(ctx, id, &users).await?;
        let owner_kicked = users.iter().any(|u| {
            found
                .get(u)
                .and_then(Option::as_ref)
                .is_some_and(|m| m.role == role::OWNER)
        });
        if owner_kicked {
            return Err(Error::Args("ownerUID can not Kick".into()));
        }
        perm::may_kick(ctx, &found, &users)?;
    } else if users.len() > limit::USERS_PER_CALL_MAX {
        let p = ctx.profile(id).await?;
        if let Some(owner) = p.owner.filter(|o| users.contains(o)) {
            return Err(Error::Args(format!(
                "kickedUserIDs holds the group owner {owner}, who cannot be kicked"
            )));
        }
    }
    let mut done = Vec::new();
    for batch in users.chunks(limit::USERS_PER_CALL_MAX) {
        if let Err(cause) = ctx.kick_users(id, batch).await {
            let cause = recode(cause, code::NOT_IN_GROUP, errcode::USER_ID_NOT_FOUND);
            return Err(partial(&users, done, cause));
        }
        done.extend(batch.iter().cloned());
    }
    Ok(())
}

/// An upstream `from` code answered as OpenIM's `to` (the vendor's words kept).
fn recode(e: Error, from: i64, to: i64) -> Error {
    match e {
        Error::Upstream {
            path,
            code,
            message,
        } if code == from => Error::OpenIm {
            code: to,
            detail: format!("the vendor's {path} answered code {code}: {message}"),
        },
        other => other,
    }
}

/// `/group/quit_group` → group/quit.json (`userID` empty: the token's user).
/// The owner is 1002 and a non-member 1004, as OpenIM answers
/// (`internal/rpc/group/group.go` QuitGroup: TakeGroupMember, then "group
/// owner can't quit").
pub async fn quit(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let given = o.str("userID")?;
    // QuitGroup (group.go): a named user must be the caller
    // (`authverify.CheckAccess`).
    if !given.is_empty() {
        perm::self_only(ctx, given)?;
    }
    let user = acting_user(ctx, given, "userID")?;
    match ctx.quit_user(id, &user).await {
        Ok(_) => Ok(()),
        Err(e) => Err(recode(
            recode(e, code::OWNER_OPERATION, errcode::NO_PERMISSION),
            code::NOT_IN_GROUP,
            errcode::RECORD_NOT_FOUND,
        )),
    }
}

/// `/group/transfer_group` → group/transfer/owner.json, as OpenIM's
/// TransferGroupOwner (`internal/rpc/group/group.go`): both users must be
/// members (else 1001 "user not in group"), the old one the owner; the old
/// owner then takes the new owner's former role level
/// (`pkg/common/storage/controller/group.go` TransferGroupOwner), so a former
/// admin's place makes the old owner an admin (group/manager/add.json).
pub async fn transfer(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let old = o.str("oldOwnerUserID")?;
    let new = o.str("newOwnerUserID")?;
    check_user_id("oldOwnerUserID", old)?;
    check_user_id("newOwnerUserID", new)?;
    if old == new {
        return Err(Error::Args("OldOwnerUserID == NewOwnerUserID".into()));
    }
    let both = [old.to_string(), new.to_string()];
    let found = specific(ctx, id, &both).await?;
    let role_of = |u: &str| found.iter().find(|m| m.user_id == u).map(|m| m.role);
    let missing: Vec<&str> = [old, new]
        .into_iter()
        .filter(|u| role_of(u).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Args(format!(
            "user not in group {}",
            missing.join(",")
        )));
    }
    // TransferGroupOwner (group.go): with a user token, only the owner
    // transfers.
    let owner_asks = perm::caller(ctx) == old && role_of(old) == Some(role::OWNER);
    if !(ctx.admin || owner_asks) {
        return Err(perm::no_permission("no permission transfer group owner"));
    }
    if role_of(old) != Some(role::OWNER) {
        return Err(Error::Args(format!(
            "oldOwnerUserID {old} is not the owner of group {id}"
        )));
    }
    ctx.transfer_owner(id, new).await?;
    if role_of(new) != Some(role::MANAGER) {
        return Ok(());
    }
    ctx.set_admins(id, &[old.to_string()], true)
        .await
        .map_err(|cause| {
            let steps = [
                format!("{new} owns {id}"),
                format!("{old} is an admin of {id}"),
            ];
            partial(&steps, vec![steps[0].clone()], cause)
        })
}

/// `/group/dismiss_group` → group/dismiss.json (the vendor removes every
/// member with the group, whatever `deleteMember` says).
pub async fn dismiss(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    o.opt_bool("deleteMember")?;
    o.opt_bool("sendMessage")?;
    perm::owner(ctx, id).await?;
    ctx.dismiss_group(id).await
}

/// OpenIM's pagination, required as its protocol requires it (protocol
/// `group/group.go` GetGroupMemberListReq.Check and the other list
/// requests: missing → "pagination is empty", pageNumber < 1 → "pageNumber
/// is invalid"): (offset, count). showNumber 0 (or less) is an empty page,
/// as open-im-server's `datautil.Paginate` answers it.
pub(crate) fn pagination(o: &Obj<'_>) -> Result<(usize, usize), Error> {
    let Some(p) = o.opt_obj("pagination")? else {
        return Err(Error::Args("pagination is empty".into()));
    };
    let p = Obj::new(p, "pagination.");
    let range = (i64::from(i32::MIN), i64::from(i32::MAX));
    let number = p.opt_int("pageNumber", range.0, range.1)?.unwrap_or(0);
    let show = p.opt_int("showNumber", range.0, range.1)?.unwrap_or(0);
    if number < 1 {
        return Err(Error::Args("pageNumber is invalid".into()));
    }
    let number = usize::try_from(number - 1).unwrap_or(0);
    let show = usize::try_from(show).unwrap_or(0);
    Ok((number.saturating_mul(show), show))
}

/// Walks a paged entrust query (pages of 100) and returns the total and
/// the items from `offset`, at most `count` of them (all with `None`). An
/// answer without a total is walked to the end to count it.
pub(crate) async fn walk<T, F, Fut>(
    range: Option<(usize, usize)>,
    fetch: F,
) -> Result<(i64, Vec<T>), Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let mut fetch = fetch;
    walk_from(
        range,
        None,
        (None, None),
        |token, _| fetch(token),
        |_, _, _| {},
    )
    .await
}

/// [`walk`] from a cursor (`from`: the position a token fetches from)
/// with the list's total when known (`totals`: the one to use, and the one
/// remembered to fall back on when the vendor's pages carry none); each token and total the vendor
/// hands out goes to `remember` (position, token, total). `fetch` gets
/// the token and the page size to ask for: no more than reaches the end of
/// the range, so that the next token falls where the next OpenIM page
/// starts (and that page costs one call).
async fn walk_from<T, F, Fut>(
    range: Option<(usize, usize)>,
    from: Option<(usize, String)>,
    totals: (Option<i64>, Option<i64>),
    mut fetch: F,
    mut remember: impl FnMut(usize, Option<&str>, Option<i64>),
) -> Result<(i64, Vec<T>), Error>
where
    F: FnMut(Option<String>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let (offset, count) = range.unwrap_or((0, usize::MAX));
    let (mut seen, mut token) = match from {
        Some((at, t)) => (at, Some(t)),
        None => (0, None),
    };
    let (mut total, fallback) = totals;
    let mut out = Vec::new();
    let at_end = loop {
        let sent = token.clone();
        let to_end = offset.saturating_add(count).saturating_sub(seen);
        // Past the range only to learn the total (a list without one, as
        // v4's joined/list, §7.21): whole pages.
        let size = if to_end == 0 {
            limit::MEMBER_PAGE_MAX
        } else {
            to_end.clamp(1, limit::MEMBER_PAGE_MAX)
        };
        let page = fetch(token.take(), size).await?;
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
        remember(
            seen,
            page.page_token.as_deref().filter(|_| more),
            page.total,
        );
        if !more || (out.len() >= count && total.or(fallback).is_some()) {
            break !more;
        }
        token = page.page_token;
    };
    if total.is_none() && at_end {
        // Walked to the end of a list the vendor gives no total for: its
        // length is the total, kept so that the next page needs no walk.
        let counted = i64::try_from(seen).unwrap_or(i64::MAX);
        remember(seen, None, Some(counted));
        total = Some(counted);
    }
    let total = total
        .or(fallback)
        .unwrap_or_else(|| i64::try_from(seen).unwrap_or(i64::MAX));
    Ok((total, out))
}

/// A paged vendor list walked over `range` from the nearest cursor this
/// face remembers ([`super::pages`]); a range that starts past the list's
/// known total, or asks for nothing of it, costs no call.
async fn cached_walk<T, F, Fut>(
    ctx: &Ctx<'_>,
    list: List,
    range: Option<(usize, usize)>,
    fetch: F,
) -> Result<(i64, Vec<T>), Error>
where
    F: FnMut(Option<String>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, Error>>,
{
    let pages = ctx.pages;
    let total = pages.total(&list);
    let (skip, count) = range.unwrap_or((0, usize::MAX));
    // Nothing of this list is on the page (it is past the end, or the page
    // is already full): its known total is all the answer needs.
    if let Some(t) = total.filter(|t| count == 0 || usize::try_from(*t).is_ok_and(|t| skip >= t)) {
        return Ok((t, Vec::new()));
    }
    let from = range.and_then(|(skip, _)| pages.cursor(&list, skip));
    // Starting mid-list needs the total from memory (a page fetched by
    // token may not carry it); from the start, the vendor's first page
    // tells it afresh, and memory serves only a vendor that never does.
    let (from, totals) = match (from, total) {
        (Some(c), Some(t)) => (Some(c), (Some(t), None)),
        _ => (None, (None, total)),
    };
    walk_from(range, from, totals, fetch, |at, token, total| {
        pages.remember(&list, at, token, total)
    })
    .await
}

/// group/member/query.json of one `type` (0 all, 1 members, 2 managers, 3
/// owner), oldest first: the total and the `range` of it.
async fn query_members(
    ctx: &Ctx<'_>,
    id: &str,
    kind: i64,
    range: Option<(usize, usize)>,
) -> Result<(i64, Vec<Member>), Error> {
    let list = List {
        path: path::MEMBER_QUERY,
        id: id.to_string(),
        kind,
    };
    cached_walk(ctx, list, range, |token, size| {
        ctx.member_page(id, kind, token, size)
    })
    .await
}

/// A role-filtered vendor list in OpenIM's order, role level descending,
/// then join time (`mgo/group_member.go` memberSort, used for a group's
/// members and a user's groups alike): the total and the `range` of it.
/// `query(kind, range)` reads one role (`kind` 3 owner, 2 manager, 1
/// member; 0 all), oldest first. A page costs the owner's and the managers'
/// query and the members' up to the page; everything is one walk of the
/// whole list, sorted here.
async fn by_role<T, F, Fut>(
    range: Option<(usize, usize)>,
    role_of: impl Fn(&T) -> i64,
    query: F,
) -> Result<(i64, Vec<T>), Error>
where
    F: Fn(i64, Option<(usize, usize)>) -> Fut,
    Fut: std::future::Future<Output = Result<(i64, Vec<T>), Error>>,
{
    let Some((mut skip, mut want)) = range else {
        let (_, mut all) = query(0, None).await?;
        // Stable: join order stays within a role.
        all.sort_by_key(|t| std::cmp::Reverse(role_of(t)));
        return Ok((i64::try_from(all.len()).unwrap_or(i64::MAX), all));
    };
    let mut total = 0i64;
    let mut out = Vec::new();
    for kind in [role::OWNER, role::MANAGER, role::MEMBER] {
        let (t, items) = query(kind, Some((skip, want))).await?;
        total = total.saturating_add(t);
        skip = skip.saturating_sub(usize::try_from(t).unwrap_or(usize::MAX));
        want = want.saturating_sub(items.len());
        out.extend(items);
    }
    Ok((total, out))
}

/// A group's members in OpenIM's order (see [`by_role`]).
async fn sorted_members(
    ctx: &Ctx<'_>,
    id: &str,
    range: Option<(usize, usize)>,
) -> Result<(i64, Vec<Member>), Error> {
    by_role(
        range,
        |m: &Member| m.role,
        |kind, r| query_members(ctx, id, kind, r),
    )
    .await
}

/// A group the vendor doesn't know reads as empty (25410 → `Ok(None)`), as
/// OpenIM's member reads answer an unknown group (errCode 0, no members).
pub(super) fn unknown_is_empty<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Upstream { code, .. }) if code == code::GROUP_NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// `/group/get_group_member_list` → group/member/query.json in OpenIM's
/// order; `keyword` keeps members whose nickname holds it (OpenIM:
/// `mgo/group_member.go` SearchMember, a regex on nickname) and walks the
/// whole list; `filter` is checked (0-5, protocol `group/group.go`) and, as
/// in open-im-server's GetGroupMemberList, not applied. An unknown group is
/// `{"total":0,"members":[]}`.
pub async fn member_list(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let (offset, count) = pagination(&o)?;
    let filter = o.opt_int("filter", i64::from(i32::MIN), i64::from(i32::MAX))?;
    if !(0..=5).contains(&filter.unwrap_or(0)) {
        return Err(Error::Args("filter is invalid".into()));
    }
    let keyword = o.str("keyword")?;
    perm::in_group(ctx, id).await?;
    let (total, members) = if keyword.is_empty() {
        unknown_is_empty(sorted_members(ctx, id, Some((offset, count))).await)?.unwrap_or_default()
    } else {
        let all = unknown_is_empty(sorted_members(ctx, id, None).await)?
            .map(|(_, all)| all)
            .unwrap_or_default();
        let found: Vec<Member> = all
            .into_iter()
            .filter(|m| m.nickname.contains(keyword))
            .collect();
        let total = i64::try_from(found.len()).unwrap_or(i64::MAX);
        (total, found.into_iter().skip(offset).take(count).collect())
    };
    let mut members: Vec<Value> = members.iter().map(|m| group_member(id, m)).collect();
    super::mute::fill_mute_end(ctx, id, &mut members).await?;
    Ok(json!({"total": total, "members": members}))
}

/// Members of `id` among `users` (distinct), in that order, non-members
/// left out: group/member/specific/query.json in batches of ≤100.
pub(super) async fn specific(
    ctx: &Ctx<'_>,
    id: &str,
    users: &[String],
) -> Result<Vec<Member>, Error> {
    let mut found: HashMap<String, Member> = HashMap::new();
    for batch in users.chunks(limit::USERS_PER_CALL_MAX) {
        let page = ctx.member_batch(id, batch).await?;
        for m in page.items {
            if batch.contains(&m.user_id) {
                found.entry(m.user_id.clone()).or_insert(m);
            }
        }
    }
    Ok(users.iter().filter_map(|u| found.remove(u)).collect())
}

/// `/group/get_group_members_info` → group/member/specific/query.json; an
/// unknown group answers no members (open-im-server GetGroupMembersInfo).
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
    perm::in_group(ctx, id).await?;
    let mut members: Vec<Value> = unknown_is_empty(specific(ctx, id, &distinct).await)?
        .unwrap_or_default()
        .iter()
        .map(|m| group_member(id, m))
        .collect();
    super::mute::fill_mute_end(ctx, id, &mut members).await?;
    Ok(json!({"members": members}))
}

/// One member's changes in set_group_member_info.
struct MemberSet {
    group_id: String,
    user_id: String,
    nickname: Option<String>,
    ex: Option<String>,
    role_level: Option<i64>,
    /// A non-empty faceURL was sent (the vendor keeps none).
    face_url: bool,
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
        let ex = o.opt_str("ex")?.map(str::to_string);
        if let Some(e) = &ex {
            max_len(&o.name("ex"), e, MEMBER_EX_MAX)?;
        }
        let face_url = o.opt_str("faceURL")?.is_some_and(|f| !f.is_empty());
        // open-im-server `internal/rpc/group/group.go` SetGroupMemberInfo:
        // 100 → ErrNoPermission "cannot set ungroup owner", others but 60
        // and 20 → ErrArgs "invalid role level".
        let role_level = o.opt_int("roleLevel", i64::from(i32::MIN), i64::from(i32::MAX))?;
        match role_level {
            None | Some(ROLE_ADMIN) | Some(ROLE_MEMBER) => {}
            Some(ROLE_OWNER) => {
                return Err(Error::OpenIm {
                    code: errcode::NO_PERMISSION,
                    detail: format!(
                        "cannot set ungroup owner ({}: use transfer_group)",
                        o.name("roleLevel")
                    ),
                });
            }
            Some(_) => {
                return Err(Error::Args(format!(
                    "invalid role level ({}: 60 admin or 20 member)",
                    o.name("roleLevel")
                )));
            }
        }
        Ok(MemberSet {
            group_id,
            user_id,
            nickname,
            ex,
            role_level,
            face_url,
        })
    }

    /// Refuses what can't be done to `current` before anything is sent.
    fn check(&self, current: &Member, i: usize) -> Result<(), Error> {
        // member/set.json needs a non-empty nickname (vendor doc page;
        // Java/PHP verify.json): with none given, the current one is sent.
        let nickname = self.nickname.as_deref().unwrap_or(&current.nickname);
        if (self.nickname.is_some() || self.ex.is_some()) && nickname.is_empty() {
            return Err(Error::Args(format!(
                "members[{i}].nickname is required here: {} has no group nickname, and the vendor stores ex only with a nickname",
                self.user_id
            )));
        }
        let changes_role = self
            .role_level
            .is_some_and(|l| l != role_level(current.role));
        if changes_role && current.role == role::OWNER {
            return Err(Error::Args(format!(
                "{} owns group {}: use transfer_group to change the owner",
                self.user_id, self.group_id
            )));
        }
        Ok(())
    }

    /// member/set.json always carries `nickname` (the vendor requires it):
    /// the one asked for, else the member's current one.
    async fn apply(&self, ctx: &Ctx<'_>, current: &Member) -> Result<(), Error> {
        if self.nickname.is_some() || self.ex.is_some() {
            let nickname = self.nickname.as_ref().unwrap_or(&current.nickname);
            ctx.set_member(&self.group_id, &self.user_id, nickname, self.ex.as_deref())
                .await?;
        }
        let Some(level) = self.role_level else {
            return Ok(());
        };
        if role_level(current.role) == level {
            return Ok(());
        }
        ctx.set_admins(
            &self.group_id,
            std::slice::from_ref(&self.user_id),
            level == ROLE_ADMIN,
        )
        .await
    }
}

/// `/group/set_group_member_info`: every member is read first
/// (group/member/specific/query.json, per group) and checked before the
/// first write, as OpenIM checks them all (a non-member: 1001 "user not in
/// group"); then nickname and ex → group/member/set.json (with the current
/// nickname when none is given), roleLevel 60/20 → group/manager/add.json /
/// remove.json. A failure part-way is `Partial`, naming members as
/// `groupID/userID`. Answers a note (the success's errDlt) when a faceURL
/// was not stored.
pub async fn set_member_info(
    ctx: &Ctx<'_>,
    req: &Map<String, Value>,
) -> Result<Option<String>, Error> {
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
    let mut by_group: Vec<(&str, Vec<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for s in &sets {
        if !seen.insert((s.group_id.as_str(), s.user_id.as_str())) {
            return Err(Error::Args(format!(
                "repeat group {} user {}",
                s.group_id, s.user_id
            )));
        }
        match by_group.iter_mut().find(|(g, _)| *g == s.group_id) {
            Some((_, users)) => users.push(s.user_id.clone()),
            None => by_group.push((&s.group_id, vec![s.user_id.clone()])),
        }
    }
    let mut current: HashMap<(String, String), Member> = HashMap::new();
    let mut mine: HashMap<String, Option<Member>> = HashMap::new();
    for (gid, users) in &by_group {
        let found: Vec<Member> = if ctx.admin {
            unknown_is_empty(specific(ctx, gid, users).await)?.unwrap_or_default()
        } else {
            // The caller is read with the members (one call for both).
            let all = perm::members(ctx, gid, users).await?;
            mine.insert(
                gid.to_string(),
                all.get(perm::caller(ctx)).cloned().flatten(),
            );
            all.into_values().flatten().collect()
        };
        for m in found {
            current.insert((gid.to_string(), m.user_id.clone()), m);
        }
        let missing: Vec<&str> = users
            .iter()
            .filter(|u| !current.contains_key(&(gid.to_string(), u.to_string())))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Args(format!(
                "user not in group {gid}: {}",
                missing.join(",")
            )));
        }
    }
    let mut work = Vec::with_capacity(sets.len());
    for (i, s) in sets.iter().enumerate() {
        let key = (s.group_id.clone(), s.user_id.clone());
        let Some(m) = current.get(&key) else {
            return Err(Error::Internal(format!(
                "{}/{} was read but not kept",
                s.group_id, s.user_id
            )));
        };
        s.check(m, i)?;
        work.push((s, m));
    }
    if !ctx.admin {
        for (gid, _) in &by_group {
            let me = mine.get(*gid).cloned().flatten();
            let mut targets: Vec<&Member> = Vec::new();
            let mut asked: HashMap<String, Option<i64>> = HashMap::new();
            for (s, m) in work.iter().filter(|(s, _)| s.group_id == *gid) {
                targets.push(m);
                asked.insert(s.user_id.clone(), s.role_level);
            }
            perm::may_set_members(ctx, me.as_ref(), &targets, &asked)?;
        }
    }
    let names: Vec<String> = sets
        .iter()
        .map(|s| format!("{}/{}", s.group_id, s.user_id))
        .collect();
    let mut done = Vec::new();
    for ((s, m), name) in work.into_iter().zip(&names) {
        if let Err(cause) = s.apply(ctx, m).await {
            return Err(partial(&names, done, cause));
        }
        done.push(name.clone());
    }
    let faces: Vec<&str> = sets
        .iter()
        .zip(&names)
        .filter(|(s, _)| s.face_url)
        .map(|(_, n)| n.as_str())
        .collect();
    Ok((!faces.is_empty()).then(|| {
        format!(
            "faceURL not stored for {}: the vendor keeps no member face URL (the rest was applied)",
            faces.join(",")
        )
    }))
}

/// The groups' IDs, each once, in the vendor's order.
fn distinct_group_ids(groups: Vec<profile::JoinedGroup>) -> Vec<String> {
    let mut seen = HashSet::new();
    groups
        .into_iter()
        .map(|g| g.group_id)
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// The groups a user joined in OpenIM's order (see [`by_role`]:
/// `mgo/group_member.go` FindUserJoinedGroupID sorts with memberSort).
async fn joined(
    ctx: &Ctx<'_>,
    user: &str,
    range: Option<(usize, usize)>,
) -> Result<(i64, Vec<profile::JoinedGroup>), Error> {
    let role_of = |g: &profile::JoinedGroup| g.role;
    by_role(range, role_of, |kind, r| joined_of_role(ctx, user, kind, r)).await
}

/// joined/group/query.json for one `role` (0 all), oldest first, walked
/// over `range`.
async fn joined_of_role(
    ctx: &Ctx<'_>,
    user: &str,
    kind: i64,
    range: Option<(usize, usize)>,
) -> Result<(i64, Vec<profile::JoinedGroup>), Error> {
    let list = List {
        path: path::JOINED_GROUP_QUERY,
        id: user.to_string(),
        kind,
    };
    cached_walk(ctx, list, range, |token, size| {
        ctx.joined_page(user, kind, token, size)
    })
    .await
}

/// `/group/get_joined_group_list` → joined/group/query.json (owned groups
/// first, then managed, then the rest, each by join time), then
/// group/profile/query.json for the page's GroupInfo.
pub async fn joined_groups(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let user = o.str("fromUserID")?;
    let range = pagination(&o)?;
    check_user_id("fromUserID", user)?;
    // GetJoinedGroupList (group.go): `authverify.CheckAccess(fromUserID)`.
    perm::self_only(ctx, user)?;
    let (total, groups) = joined(ctx, user, Some(range)).await?;
    let ids = distinct_group_ids(groups);
    let mut infos: Vec<Value> = if ids.is_empty() {
        Vec::new()
    } else {
        ctx.profiles(&ids).await?.iter().map(group_info).collect()
    };
    super::mute::fill_group_status(ctx, &mut infos).await?;
    Ok(json!({"total": total, "groups": infos}))
}

/// open-im-server `pkg/util/hashutil/id.go` IdHash: the first 8 bytes (big
/// endian) of MD5 over Go's `json.Marshal` of the list; 0 for none. Go's
/// encoder escapes `<`, `>`, `&`, U+2028 and U+2029, which serde_json does
/// not.
pub fn id_hash(ids: &[String]) -> u64 {
    if ids.is_empty() {
        return 0;
    }
    let text = Value::from(ids.to_vec())
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    md5_u64(text.as_bytes())
}

/// The first 8 bytes of MD5, big endian (OpenIM's hashes).
fn md5_u64(data: &[u8]) -> u64 {
    let sum = Md5::digest(data);
    let mut first = [0u8; 8];
    first.copy_from_slice(&sum[..8]);
    u64::from_be_bytes(first)
}

/// The `idHash` a sync request carries (a uint64; 0 when absent).
fn id_hash_of(o: &Obj<'_>) -> Result<u64, Error> {
    Ok(o.opt_u64("idHash")?.unwrap_or(0))
}

/// The answer of the full-id sync routes (open-im-server
/// `internal/rpc/group/sync.go`): the ids, or null when the caller's
/// idHash already matches. The vendor keeps no version log: version 0 and
/// versionID "".
fn full_ids(key: &str, ids: Vec<String>, asked: u64) -> Value {
    let equal = asked == id_hash(&ids);
    let mut v = json!({"version": 0, "versionID": "", "equal": equal});
    if let Some(m) = v.as_object_mut() {
        m.insert(
            key.into(),
            if equal { Value::Null } else { Value::from(ids) },
        );
    }
    v
}

/// The user ids of a group in OpenIM's order; none for an unknown group.
async fn member_ids(ctx: &Ctx<'_>, id: &str) -> Result<Vec<String>, Error> {
    Ok(unknown_is_empty(sorted_members(ctx, id, None).await)?
        .map(|(_, all)| all.into_iter().map(|m| m.user_id).collect())
        .unwrap_or_default())
}

/// `/group/get_group_member_user_id` `{"groupID"}` → `{"userIDs"}`
/// (open-im-server GetGroupMemberUserIDs).
pub async fn member_user_ids(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let id = group_id(&Obj::new(req, ""))?;
    let ids = member_ids(ctx, id).await?;
    // GetGroupMemberUserIDs (group.go): `authverify.CheckAccessIn`.
    perm::among(ctx, &ids)?;
    Ok(json!({"userIDs": ids}))
}

/// `/group/get_full_group_member_user_ids` `{"groupID","idHash"}`.
pub async fn full_member_user_ids(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let id = group_id(&o)?;
    let asked = id_hash_of(&o)?;
    let ids = member_ids(ctx, id).await?;
    // GetFullGroupMemberUserIDs (sync.go): `authverify.CheckAccessIn`.
    perm::among(ctx, &ids)?;
    Ok(full_ids("userIDs", ids, asked))
}

/// `/group/get_full_join_group_ids` `{"userID","idHash"}`: the user's
/// groups ordered as OpenIM orders them (`mgo/group_member.go`
/// FindUserJoinedGroupID: role level descending, then join time).
pub async fn full_join_group_ids(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let user = o.str("userID")?;
    if user.is_empty() {
        return Err(Error::Args("userID is empty".into()));
    }
    check_user_id("userID", user)?;
    let asked = id_hash_of(&o)?;
    // GetFullJoinGroupIDs (sync.go): `authverify.CheckAccess(userID)`.
    perm::self_only(ctx, user)?;
    let (_, groups) = joined(ctx, user, None).await?;
    let ids = distinct_group_ids(groups);
    Ok(full_ids("groupIDs", ids, asked))
}

/// `/group/get_group_abstract_info` `{"groupIDs"}` →
/// `{"groupAbstractInfos":[{"groupID","groupMemberNumber","groupMemberListHash"}]}`
/// (open-im-server GetGroupAbstractInfo: empty or duplicate ids 1001, an
/// unknown group 1201). The hash is MD5 (first 8 bytes) over the members
/// as this face answers them, sorted by userID: it changes when they
/// change, but is not OpenIM's own value.
pub async fn abstract_info(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<Value, Error> {
    let o = Obj::new(req, "");
    let ids = o.strings("groupIDs")?;
    if ids.is_empty() {
        return Err(Error::Args("groupIDs empty".into()));
    }
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        check_group_id(&format!("groupIDs[{i}]"), id)?;
        if !seen.insert(id.as_str()) {
            return Err(Error::Args("groupIDs duplicate".into()));
        }
    }
    let found: HashSet<String> = ctx
        .profiles(&ids)
        .await?
        .into_iter()
        .map(|p| p.group_id)
        .collect();
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.contains(*id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::OpenIm {
            code: errcode::GROUP_ID_NOT_FOUND,
            detail: format!("not found group {}", missing.join(",")),
        });
    }
    // GetGroupAbstractInfo (group.go): `checkAdminOrInGroup` per group.
    for id in &ids {
        perm::in_group(ctx, id).await?;
    }
    let mut infos = Vec::with_capacity(ids.len());
    for id in &ids {
        let (_, mut all) = sorted_members(ctx, id, None).await?;
        all.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let members: Vec<Value> = all.iter().map(|m| group_member(id, m)).collect();
        let hash = md5_u64(Value::from(members).to_string().as_bytes());
        infos.push(json!({"groupID": id, "groupMemberNumber": all.len(),
                          "groupMemberListHash": hash}));
    }
    Ok(json!({"groupAbstractInfos": infos}))
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
        assert_eq!(v.as_object().map(|m| m.len()), Some(12));
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
