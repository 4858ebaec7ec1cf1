//! Mutes: OpenIM's mute_group_member, cancel_mute_group_member, mute_group
//! and cancel_mute_group through the vendor's mutes (entrust: the legacy
//! paths in `entrust::path::LEGACY_MUTE`; v4: `user/mute-list/*` and
//! `freeze-list/*`, see [`super::dialect`]), and the mute state on reads: a
//! member's `muteEndTime` from the mute list, a group's `status` 3
//! (protocol `constant.GroupStatusMuted`) from the ban (freeze) query.
//!
//! Vendor access is in the functions at the top (one vendor call each);
//! the routes below them hold OpenIM's rules only.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::Ctx;
use super::errcode;
use super::group::{check_group_id, check_user_id};
use super::json::Obj;
use super::member::unknown_is_empty;
use super::perm;
use crate::entrust::limit;
use crate::error::Error;

/// OpenIM's `GroupInfo.status` for a muted group (protocol
/// `constant/constant.go` GroupStatusMuted).
pub const GROUP_STATUS_MUTED: i64 = 3;

/// Mutes `user` in `group` for `minutes`.
async fn gag(ctx: &Ctx<'_>, group: &str, user: &str, minutes: i64) -> Result<(), Error> {
    ctx.mute_member(group, user, minutes).await
}

/// Lifts `user`'s mute in `group`.
async fn ungag(ctx: &Ctx<'_>, group: &str, user: &str) -> Result<(), Error> {
    ctx.unmute_member(group, user).await
}

/// The muted members of `group` and when each mute ends (unix ms), those
/// still in force; none for an unknown group.
pub(super) async fn gagged(ctx: &Ctx<'_>, group: &str) -> Result<HashMap<String, i64>, Error> {
    let Some(list) = unknown_is_empty(ctx.mute_list(group).await)? else {
        return Ok(HashMap::new());
    };
    let now = i64::try_from(crate::clock::unix_ms()).unwrap_or(i64::MAX);
    Ok(list.into_iter().filter(|(_, until)| *until > now).collect())
}

/// Mutes (or unmutes) every member of `group`.
async fn ban(ctx: &Ctx<'_>, group: &str, on: bool) -> Result<(), Error> {
    ctx.ban_group(group, on).await
}

/// Which of `groups` have every member muted (at most 20 groups a call).
pub(super) async fn banned(ctx: &Ctx<'_>, groups: &[String]) -> Result<HashSet<String>, Error> {
    let mut out = HashSet::new();
    for batch in groups.chunks(limit::BAN_GROUPS_MAX) {
        let Some(found) = unknown_is_empty(ctx.ban_query(batch).await)? else {
            continue;
        };
        out.extend(
            found
                .into_iter()
                .filter(|(g, on)| *on && batch.contains(g))
                .map(|(g, _)| g),
        );
    }
    Ok(out)
}

/// Sets `muteEndTime` (unix ms, OpenIM's `convert.Db2PbGroupMember`) on
/// OpenIM GroupMember objects of `group` from the vendor's mute list.
pub async fn fill_mute_end(ctx: &Ctx<'_>, group: &str, members: &mut [Value]) -> Result<(), Error> {
    if members.is_empty() {
        return Ok(());
    }
    let muted = gagged(ctx, group).await?;
    for m in members.iter_mut().filter_map(Value::as_object_mut) {
        let until = m
            .get("userID")
            .and_then(Value::as_str)
            .and_then(|u| muted.get(u));
        if let Some(until) = until {
            m.insert("muteEndTime".into(), Value::from(*until));
        }
    }
    Ok(())
}

/// Sets `status` 3 on OpenIM GroupInfo objects whose group is muted.
pub async fn fill_group_status(ctx: &Ctx<'_>, infos: &mut [Value]) -> Result<(), Error> {
    let ids: Vec<String> = infos
        .iter()
        .filter_map(|g| g.get("groupID").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let muted = banned(ctx, &ids).await?;
    for g in infos.iter_mut().filter_map(Value::as_object_mut) {
        let on = g
            .get("groupID")
            .and_then(Value::as_str)
            .is_some_and(|id| muted.contains(id));
        if on {
            g.insert("status".into(), Value::from(GROUP_STATUS_MUTED));
        }
    }
    Ok(())
}

/// `groupID` and `userID` of the member mute routes (protocol
/// `group/group.go` MuteGroupMemberReq.Check: "groupID is empty" is our
/// "groupID is required", then "userID is empty").
fn group_and_user<'a>(o: &Obj<'a>) -> Result<(&'a str, &'a str), Error> {
    let group = o.str("groupID")?;
    check_group_id("groupID", group)?;
    let user = o.str("userID")?;
    if user.is_empty() {
        return Err(Error::Args("userID is empty".into()));
    }
    check_user_id("userID", user)?;
    Ok((group, user))
}

/// The member to (un)mute, checked as open-im-server
/// `internal/rpc/group/group.go` MuteGroupMember / CancelMuteGroupMember
/// check it: `TakeGroupMember` (a non-member: 1004), then the caller's
/// rights ([`perm::may_mute`]). One vendor call (the caller read with it).
async fn target(ctx: &Ctx<'_>, group: &str, user: &str, unmute: bool) -> Result<(), Error> {
    let found = perm::members(ctx, group, &[user.to_string()]).await?;
    let Some(m) = found.get(user).cloned().flatten() else {
        return Err(Error::OpenIm {
            code: errcode::RECORD_NOT_FOUND,
            detail: format!("user {user} is not a member of group {group}"),
        });
    };
    perm::may_mute(ctx, group, &m, unmute).await
}

/// `/group/mute_group_member` `{groupID, userID, mutedSeconds}`:
/// mutedSeconds must be positive (MuteGroupMemberReq.Check: "mutedSeconds
/// is empty") and at most the vendor's 30 days (43,200 minutes); it is
/// rounded up to whole minutes, the vendor's unit.
pub async fn mute_member(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let (group, user) = group_and_user(&o)?;
    let seconds = o.opt_int("mutedSeconds", i64::MIN, i64::MAX)?.unwrap_or(0);
    if seconds <= 0 {
        return Err(Error::Args("mutedSeconds is empty".into()));
    }
    let max = limit::GAG_MINUTES_MAX * 60;
    if seconds > max {
        return Err(Error::Args(format!(
            "mutedSeconds is over {max}: the vendor mutes for at most {} minutes (30 days)",
            limit::GAG_MINUTES_MAX
        )));
    }
    target(ctx, group, user, false).await?;
    gag(ctx, group, user, (seconds + 59) / 60).await
}

/// `/group/cancel_mute_group_member` `{groupID, userID}`.
pub async fn cancel_mute_member(ctx: &Ctx<'_>, req: &Map<String, Value>) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let (group, user) = group_and_user(&o)?;
    target(ctx, group, user, true).await?;
    ungag(ctx, group, user).await
}

/// `/group/mute_group` and `/group/cancel_mute_group` `{groupID}`
/// (group.go MuteGroup / CancelMuteGroup: CheckGroupAdmin, then the
/// group's status).
pub async fn mute_group(ctx: &Ctx<'_>, req: &Map<String, Value>, on: bool) -> Result<(), Error> {
    let o = Obj::new(req, "");
    let group = o.str("groupID")?;
    check_group_id("groupID", group)?;
    perm::group_admin(ctx, group).await?;
    ban(ctx, group, on).await
}
