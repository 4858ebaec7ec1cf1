//! Membership changes: join, quit, kick, transfer, managers, member fields.

use serde_json::Value;

use super::{Ctx, Fields, fields};
use crate::entrust::{code, limit};
use crate::sim::form::Form;
use crate::sim::profile::text_fields;
use crate::sim::reply::ApiError;
use crate::sim::store::Cleanup;
use crate::sim::validate::{self, required_group_id, required_user};

/// A required user list for a write (`userIds`, `followUserIds`): at most
/// 100 (else 1005), each <= 64.
pub(super) fn write_users(f: &Form, key: &str) -> Result<Vec<String>, ApiError> {
    let users = f.required_array(&[key], limit::USERS_PER_CALL_MAX, code::PARAM_TOO_LONG)?;
    validate::user_ids(key, &users)?;
    Ok(users)
}

/// isDelBan / isDelWhite / isDelFollowed: 0 or 1, 0 when missing. They
/// remove the leaving users' mute and allowed-sender entries (kept by the
/// v4 moderation paths, over the same store) and their follows.
fn cleanup_flags(f: &Form) -> Result<Cleanup, ApiError> {
    Ok(Cleanup {
        mute: f.flag("isDelBan")?,
        allowed: f.flag("isDelWhite")?,
        favorites: f.flag("isDelFollowed")?,
    })
}

/// Answers the group's info (doc; Go/Java `JoinGroupResult`): groupId,
/// name, owner, the three JSON fields as text, remarkName ("": the joiners
/// have none yet), createTime, memberCount (after the join).
pub(super) fn join(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f, "userIds")?;
    let mut store = ctx.store();
    let g = store.join(id, &users, ctx.now_ms)?;
    let mut out = fields([
        ("groupId", Value::from(g.id.as_str())),
        ("name", Value::from(g.name.as_str())),
        ("owner", Value::from(g.owner.as_str())),
        ("remarkName", Value::from("")),
        ("createTime", Value::from(g.create_time)),
        ("memberCount", Value::from(g.members.len())),
    ]);
    out.extend(text_fields(g).map(|(k, v)| (k.to_owned(), v)));
    Ok(out)
}

pub(super) fn quit(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f, "userIds")?;
    let cleanup = cleanup_flags(f)?;
    ctx.store().remove(id, &users, cleanup)?;
    Ok(Fields::new())
}

pub(super) fn kick(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    quit(ctx, f)
}

pub(super) fn kick_all(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let user = required_user(f, "userId")?;
    ctx.store().kick_all(user);
    Ok(Fields::new())
}

pub(super) fn transfer(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let new_owner = required_user(f, "newOwner")?;
    let cleanup = cleanup_flags(f)?;
    let quit = f.flag("isQuit")?;
    ctx.store().transfer(id, new_owner, quit, cleanup)?;
    Ok(Fields::new())
}

/// Answers `userIds` (those not in the group, skipped) and `managerCount`.
pub(super) fn manager_add(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f, "userIds")?;
    let (absent, count) = ctx.store().manager_add(id, &users)?;
    Ok(fields([
        ("userIds", Value::from(absent)),
        ("managerCount", Value::from(count)),
    ]))
}

pub(super) fn manager_remove(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f, "userIds")?;
    ctx.store().manager_remove(id, &users)?;
    Ok(Fields::new())
}

/// `nickname` is required (1002 when missing or empty; <= 64, else 1005)
/// and `extra` optional (<= 128, else 1005; an empty value clears it): the
/// doc page and the Java/PHP SDKs' `verify.json`.
pub(super) fn member_set(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let user = required_user(f, "userId")?;
    let nickname = f.required("nickname")?;
    validate::max_chars("nickname", nickname, limit::NICKNAME_MAX)?;
    let extra = f.opt("extra")?;
    if let Some(e) = extra {
        validate::max_chars("extra", e, limit::MEMBER_EXTRA_MAX)?;
    }
    ctx.store().member_set(id, user, Some(nickname), extra)?;
    Ok(Fields::new())
}
