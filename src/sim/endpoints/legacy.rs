//! The vendor's legacy group API's mute paths, over the same store as the
//! v4 mute and freeze lists (a gag is a group mute, a ban a frozen group).
//! Parameters and answers as the Go SDK `sdk/group.go` sends and reads
//! them: GroupMuteMembersAdd (`groupId`, `userId` repeated, `minute`),
//! GroupMuteMembersRemove, GroupMuteMembersGetList (`{users:[{userId,
//! time}]}`, the Go `Group`/`GroupUser` structs, `time` a string),
//! GroupMuteAllMembersAdd/Remove (`groupId` repeated),
//! GroupMuteAllMembersGetList (`groupId` repeated or `page`/`size` →
//! `{groupinfo:[{groupId, stat}]}`, Go `GroupInfo`/`GroupForQuery`).
//!
//! Guesses (no source says): the group must exist (25410); a gag of a
//! non-member is kept like any other; `startTime` is sent too (the v4
//! reference names it as the legacy field behind `mutedAt`); times are
//! UTC; `minute` 1-43200 (the SDK refuses 0; out of range: 1002), at most
//! 20 users and 20 groups a call (1005); `ban/query` by ids answers each
//! existing group asked, with `stat` 0 or 1, and by page the muted groups.

use serde_json::{Value, json};

use super::{Ctx, Fields, fields};
use crate::entrust::{code, limit};
use crate::sim::form::Form;
use crate::sim::reply::ApiError;
use crate::sim::v4::datetime_utc;
use crate::sim::validate::{self, required_group_id};

fn gag_users(f: &Form) -> Result<Vec<String>, ApiError> {
    let users = f.required_array(&["userId"], limit::GAG_USERS_MAX, code::PARAM_TOO_LONG)?;
    validate::user_ids("userId", &users)?;
    Ok(users)
}

pub(super) fn gag_add(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = gag_users(f)?;
    let minute = f.required("minute")?;
    let minutes: i64 = minute
        .parse()
        .ok()
        .filter(|m| (1..=limit::GAG_MINUTES_MAX).contains(m))
        .ok_or_else(|| {
            ApiError::param(format!("minute must be 1 to {}", limit::GAG_MINUTES_MAX))
        })?;
    ctx.store()
        .mute_add(Some(id), &users, minutes, ctx.now_ms, usize::MAX)?;
    Ok(Fields::new())
}

pub(super) fn gag_rollback(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = gag_users(f)?;
    ctx.store().mute_remove(Some(id), &users)?;
    Ok(Fields::new())
}

pub(super) fn gag_list(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let mutes = ctx.store().mutes(Some(id), ctx.now_ms)?;
    let users: Vec<Value> = mutes
        .iter()
        .map(|m| {
            // A mute without an end (v4's permanent ones) reads as the
            // longest the legacy API grants.
            let until = m.until.unwrap_or(m.since + limit::GAG_MINUTES_MAX * 60_000);
            json!({"userId": m.user_id, "startTime": datetime_utc(m.since),
                   "time": datetime_utc(until)})
        })
        .collect();
    Ok(fields([("users", Value::Array(users))]))
}

fn ban_groups(f: &Form) -> Result<Vec<String>, ApiError> {
    let ids = f.required_array(&["groupId"], limit::BAN_GROUPS_MAX, code::PARAM_TOO_LONG)?;
    for id in &ids {
        validate::group_id(id)?;
    }
    Ok(ids)
}

pub(super) fn ban_add(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let ids = ban_groups(f)?;
    ctx.store().freeze(&ids, true)?;
    Ok(Fields::new())
}

pub(super) fn ban_rollback(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let ids = ban_groups(f)?;
    ctx.store().freeze(&ids, false)?;
    Ok(Fields::new())
}

pub(super) fn ban_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let ids = f.array(&["groupId"]);
    if ids.len() > limit::BAN_GROUPS_MAX {
        return Err(ApiError::too_long(format!(
            "groupId has more than {} items",
            limit::BAN_GROUPS_MAX
        )));
    }
    let store = ctx.store();
    let info: Vec<Value> = if ids.is_empty() {
        let page = f.int("page", 1, 1..=i64::from(i32::MAX))?;
        let size = f.int("size", 50, 1..=200)?;
        let skip = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
        store
            .frozen()
            .into_iter()
            .skip(skip)
            .take(usize::try_from(size).unwrap_or(0))
            .map(|g| json!({"groupId": g.id, "stat": 1}))
            .collect()
    } else {
        ids.iter()
            .filter_map(|id| store.get(id))
            .map(|g| json!({"groupId": g.id, "stat": i64::from(g.frozen.is_some())}))
            .collect()
    };
    Ok(fields([("groupinfo", Value::Array(info))]))
}
