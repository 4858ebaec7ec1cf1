//! OpenIM's permission rules for callers holding a user token, route by
//! route as open-im-server `internal/rpc/group/group.go` checks them
//! (`authverify.IsAdmin`: an admin token passes every check, as before).
//!
//! The membership facts come from the vendor: the caller's own member
//! record in the group (group/member/specific/query.json), read at most
//! once per request and kept in the request's [`Ctx`]; routes that read
//! members anyway (transfer_group, set_group_member_info, kick_group) fold
//! the caller into that read. The cost, for a user token only: one vendor
//! call on set_group_info(_ex), dismiss_group, invite_user_to_group (plus
//! group/profile/query.json when the inviter is an ordinary member, to see
//! whether the group takes invitations directly), get_group_member_list,
//! get_group_members_info and the mute routes; none on the others.

use std::collections::HashMap;

use super::Ctx;
use super::errcode;
use super::member::{ROLE_ADMIN, ROLE_OWNER, role_level, specific};
use crate::entrust::code;
use crate::entrust::profile::Member;
use crate::error::Error;

/// OpenIM's ErrNoPermission with `why` (its `WrapMsg`).
pub fn no_permission(why: impl Into<String>) -> Error {
    Error::OpenIm {
        code: errcode::NO_PERMISSION,
        detail: why.into(),
    }
}

/// The caller's user ID; a user token always names one.
pub fn caller<'c>(ctx: &'c Ctx<'_>) -> &'c str {
    ctx.user.as_deref().unwrap_or("")
}

/// `users`' member records in `group` (None: not a member), the caller's
/// included and kept for the rest of the request. An unknown group has no
/// members.
pub async fn members(
    ctx: &Ctx<'_>,
    group: &str,
    users: &[String],
) -> Result<HashMap<String, Option<Member>>, Error> {
    let me = caller(ctx).to_string();
    let mut ask: Vec<String> = users.to_vec();
    let known = ctx.caller_member(group);
    if known.is_none() && !me.is_empty() && !ask.contains(&me) {
        ask.push(me.clone());
    }
    let found = match specific(ctx, group, &ask).await {
        Ok(f) => f,
        Err(Error::Upstream { code, .. }) if code == code::GROUP_NOT_FOUND => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut out: HashMap<String, Option<Member>> = ask.iter().map(|u| (u.clone(), None)).collect();
    for m in found {
        out.insert(m.user_id.clone(), Some(m));
    }
    match known {
        Some(k) => {
            out.insert(me, k);
        }
        None if !me.is_empty() => ctx.remember_caller(group, out.get(&me).cloned().flatten()),
        None => {}
    }
    Ok(out)
}

/// The caller's member record in `group` (None: not a member).
pub async fn me_in(ctx: &Ctx<'_>, group: &str) -> Result<Option<Member>, Error> {
    if let Some(k) = ctx.caller_member(group) {
        return Ok(k);
    }
    let me = caller(ctx).to_string();
    Ok(members(ctx, group, &[]).await?.remove(&me).flatten())
}

/// The caller's role level in `group`, or OpenIM's answer for a
/// non-member where it takes the member (`TakeGroupMember`: 1004).
async fn my_level_taken(ctx: &Ctx<'_>, group: &str) -> Result<i64, Error> {
    match me_in(ctx, group).await? {
        Some(m) => Ok(role_level(m.role)),
        None => Err(Error::OpenIm {
            code: errcode::RECORD_NOT_FOUND,
            detail: format!("{} is not a member of group {group}", caller(ctx)),
        }),
    }
}

/// `checkAdminOrInGroup` (group.go): members only, else 1002 "op user not
/// in group". get_group_member_list, get_group_members_info,
/// invite_user_to_group.
pub async fn in_group(ctx: &Ctx<'_>, group: &str) -> Result<Option<Member>, Error> {
    if ctx.admin {
        return Ok(None);
    }
    match me_in(ctx, group).await? {
        Some(m) => Ok(Some(m)),
        None => Err(no_permission("op user not in group")),
    }
}

/// SetGroupInfo / SetGroupInfoEx (group.go): `TakeGroupMember` (a
/// non-member: 1004), then owner or admin, else 1002 "no group owner or
/// admin".
pub async fn owner_or_admin(ctx: &Ctx<'_>, group: &str) -> Result<(), Error> {
    if ctx.admin {
        return Ok(());
    }
    let level = my_level_taken(ctx, group).await?;
    if level == ROLE_OWNER || level == ROLE_ADMIN {
        Ok(())
    } else {
        Err(no_permission("no group owner or admin"))
    }
}

/// DismissGroup (group.go): the owner only, else 1002 "not group owner".
pub async fn owner(ctx: &Ctx<'_>, group: &str) -> Result<(), Error> {
    if ctx.admin {
        return Ok(());
    }
    match me_in(ctx, group).await? {
        Some(m) if role_level(m.role) == ROLE_OWNER => Ok(()),
        _ => Err(no_permission("not group owner")),
    }
}

/// `authverify.CheckAccess` (pkg/authverify/token.go): the user themself,
/// else 1002 ("ownerUserID"). QuitGroup with a userID, GetJoinedGroupList,
/// GetFullJoinGroupIDs (sync.go), CreateGroup's owner.
pub fn self_only(ctx: &Ctx<'_>, user: &str) -> Result<(), Error> {
    if ctx.admin || caller(ctx) == user {
        return Ok(());
    }
    Err(no_permission(format!("ownerUserID {user}")))
}

/// `authverify.CheckAccessIn` (GetGroupMemberUserIDs, sync.go
/// GetFullGroupMemberUserIDs): the caller must be among `ids`, else 1002
/// "opUser in ownerUserIDs".
pub fn among(ctx: &Ctx<'_>, ids: &[String]) -> Result<(), Error> {
    if ctx.admin || ids.iter().any(|u| u == caller(ctx)) {
        return Ok(());
    }
    Err(no_permission("opUser in ownerUserIDs"))
}

/// KickGroupMember (group.go, after its argument and owner checks): every
/// kicked user must be a member (1101 UserIDNotFound), and a caller with a
/// user token must be a member (1002 "opUserID no in group"), the owner,
/// or an admin kicking ordinary members only (1002 "group admins cannot
/// remove the group owner and other admins"); an ordinary member may not
/// kick (1002 "opUserID no permission").
pub fn may_kick(
    ctx: &Ctx<'_>,
    found: &HashMap<String, Option<Member>>,
    kicked: &[String],
) -> Result<(), Error> {
    let me = found.get(caller(ctx)).cloned().flatten();
    for u in kicked {
        let Some(m) = found.get(u).cloned().flatten() else {
            return Err(Error::OpenIm {
                code: errcode::USER_ID_NOT_FOUND,
                detail: u.clone(),
            });
        };
        if ctx.admin {
            continue;
        }
        let Some(op) = &me else {
            return Err(no_permission("opUserID no in group"));
        };
        match role_level(op.role) {
            ROLE_OWNER => {}
            ROLE_ADMIN => {
                let level = role_level(m.role);
                if level == ROLE_OWNER || level == ROLE_ADMIN {
                    return Err(no_permission(
                        "group admins cannot remove the group owner and other admins",
                    ));
                }
            }
            _ => return Err(no_permission("opUserID no permission")),
        }
    }
    Ok(())
}

/// SetGroupMemberInfo (group.go), for one group: `current` holds the
/// members to change, `me` the caller's record, `asked` the role levels
/// asked for per user. The owner may change anyone; an admin not the owner
/// (1002 "admin can not change group owner") nor another admin (1002
/// "admin can not change other group admin"); an ordinary member only
/// themself (1002 "ordinary users can not change other role level"); nobody
/// raises their own level (1002 "can not improve role level by self"). A
/// caller outside the group: 1002 "user not in group".
pub fn may_set_members(
    ctx: &Ctx<'_>,
    me: Option<&Member>,
    current: &[&Member],
    asked: &HashMap<String, Option<i64>>,
) -> Result<(), Error> {
    if ctx.admin {
        return Ok(());
    }
    let Some(me) = me else {
        return Err(no_permission("user not in group"));
    };
    let mine = role_level(me.role);
    for m in current.iter().copied().chain(std::iter::once(me)) {
        let level = role_level(m.role);
        let is_me = m.user_id == me.user_id;
        match mine {
            ROLE_OWNER => {}
            ROLE_ADMIN if level == ROLE_OWNER => {
                return Err(no_permission("admin can not change group owner"));
            }
            ROLE_ADMIN if level == ROLE_ADMIN && !is_me => {
                return Err(no_permission("admin can not change other group admin"));
            }
            ROLE_ADMIN => {}
            _ if !is_me => {
                return Err(no_permission(
                    "ordinary users can not change other role level",
                ));
            }
            _ => {}
        }
    }
    if let Some(Some(want)) = asked.get(&me.user_id)
        && *want > mine
    {
        return Err(no_permission("can not improve role level by self"));
    }
    Ok(())
}

/// MuteGroupMember / CancelMuteGroupMember (group.go): with a user token,
/// the caller must be a member (`TakeGroupMember`: 1004); nobody mutes the
/// owner (1002 "set group owner mute"), only the owner mutes an admin (1002
/// "set group admin mute"), owner or admin an ordinary member (1002 "set
/// group ordinary users mute"). `unmute` words them as CancelMute does.
pub async fn may_mute(
    ctx: &Ctx<'_>,
    group: &str,
    target: &Member,
    unmute: bool,
) -> Result<(), Error> {
    if ctx.admin {
        return Ok(());
    }
    let mine = my_level_taken(ctx, group).await?;
    let why = match role_level(target.role) {
        ROLE_OWNER => Some(if unmute {
            "Can not set group owner unmute"
        } else {
            "set group owner mute"
        }),
        ROLE_ADMIN if mine != ROLE_OWNER => Some(if unmute {
            "Can not set group admin unmute"
        } else {
            "set group admin mute"
        }),
        ROLE_ADMIN => None,
        _ if mine != ROLE_OWNER && mine != ROLE_ADMIN => Some(if unmute {
            "Can not set group ordinary users unmute"
        } else {
            "set group ordinary users mute"
        }),
        _ => None,
    };
    match why {
        Some(w) => Err(no_permission(w)),
        None => Ok(()),
    }
}

/// MuteGroup / CancelMuteGroup (group.go `CheckGroupAdmin`): a member
/// (1002 "op user not in group") who is the owner or an admin (1002 "no
/// group owner or admin").
pub async fn group_admin(ctx: &Ctx<'_>, group: &str) -> Result<(), Error> {
    if ctx.admin {
        return Ok(());
    }
    match me_in(ctx, group).await? {
        None => Err(no_permission("op user not in group")),
        Some(m) if matches!(role_level(m.role), ROLE_OWNER | ROLE_ADMIN) => Ok(()),
        Some(_) => Err(no_permission("no group owner or admin")),
    }
}
