//! Membership changes: join, quit, kick, transfer, managers, member fields.

use serde_json::Value;

use super::{Ctx, Fields, fields};
use crate::entrust::limit;
use crate::sim::form::Form;
use crate::sim::reply::ApiError;
use crate::sim::validate::{self, required_group_id, required_user};

/// Extra data a member may carry in group/member/set.json. Not documented;
/// 1024 characters assumed.
pub const MEMBER_EXTRA_MAX: usize = 1024;

/// `userIds` for a write: required, at most 100 (else 1005), each <= 64.
fn write_users(f: &Form) -> Result<Vec<String>, ApiError> {
    let users = f.required_array(
        &["userIds"],
        limit::USERS_PER_CALL_MAX,
        crate::entrust::code::PARAM_TOO_LONG,
    )?;
    validate::user_ids("userIds", &users)?;
    Ok(users)
}

/// isDelBan / isDelWhite / isDelFollowed: must be 0 or 1; the simulator
/// keeps no ban, white or follow lists, so they change nothing else.
fn cleanup_flags(f: &Form) -> Result<(), ApiError> {
    for k in ["isDelBan", "isDelWhite", "isDelFollowed"] {
        f.flag(k)?;
    }
    Ok(())
}

pub(super) fn join(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f)?;
    ctx.store().join(id, &users, ctx.now_ms)?;
    Ok(Fields::new())
}

pub(super) fn quit(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f)?;
    cleanup_flags(f)?;
    ctx.store().remove(id, &users)?;
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
    cleanup_flags(f)?;
    let quit = f.flag("isQuit")?;
    ctx.store().transfer(id, new_owner, quit)?;
    Ok(Fields::new())
}

/// Answers `userIds` (those not in the group, skipped) and `managerCount`.
pub(super) fn manager_add(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f)?;
    let (absent, count) = ctx.store().manager_add(id, &users)?;
    Ok(fields([
        ("userIds", Value::from(absent)),
        ("managerCount", Value::from(count)),
    ]))
}

pub(super) fn manager_remove(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = write_users(f)?;
    ctx.store().manager_remove(id, &users)?;
    Ok(Fields::new())
}

/// `nickname` (<= 64, else 1005) and `extra` (<= 1024, else 1005): only the
/// ones sent change; an empty value clears the field.
pub(super) fn member_set(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let user = required_user(f, "userId")?;
    let nickname = f.opt("nickname")?;
    if nickname.is_some_and(|n| n.chars().count() > limit::NICKNAME_MAX) {
        return Err(ApiError::too_long(format!(
            "nickname longer than {} characters",
            limit::NICKNAME_MAX
        )));
    }
    let extra = f.opt("extra")?;
    if extra.is_some_and(|e| e.chars().count() > MEMBER_EXTRA_MAX) {
        return Err(ApiError::too_long(format!(
            "extra longer than {MEMBER_EXTRA_MAX} characters"
        )));
    }
    ctx.store().member_set(id, user, nickname, extra)?;
    Ok(Fields::new())
}
