//! Per-member relations inside a group: follows and remark names
//! (reference `entrust-api.md` table; Go `sdk/entrustgroup.go`
//! `FollowedMemberResult`, `RemarkNameResult`).

use serde_json::Value;

use super::members::write_users;
use super::{Ctx, Fields, fields};
use crate::entrust::limit;
use crate::sim::form::Form;
use crate::sim::reply::ApiError;
use crate::sim::validate::{self, required_group_id, required_user};

/// group/member/follow.json: groupId, userId, followUserIds (<= 100).
pub(super) fn follow(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let user = required_user(f, "userId")?;
    let targets = write_users(f, "followUserIds")?;
    ctx.store().follow(id, user, &targets, ctx.now_ms)?;
    Ok(Fields::new())
}

/// group/member/unfollow.json: the same parameters.
pub(super) fn unfollow(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let user = required_user(f, "userId")?;
    let targets = write_users(f, "followUserIds")?;
    ctx.store().unfollow(id, user, &targets)?;
    Ok(Fields::new())
}

/// group/member/followed/get.json: answers `userId`, `groupId` and
/// `members: [{userId, timestamp}]` in follow order.
pub(super) fn followed(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let user = required_user(f, "userId")?;
    let list = ctx.store().followed(id, user)?;
    let members: Vec<Value> = list
        .into_iter()
        .map(|(u, t)| {
            Value::Object(fields([
                ("userId", Value::from(u)),
                ("timestamp", Value::from(t)),
            ]))
        })
        .collect();
    Ok(fields([
        ("userId", Value::from(user)),
        ("groupId", Value::from(id)),
        ("members", Value::Array(members)),
    ]))
}

/// group/remarkname/set.json: userId, groupId, remarkName (1-64, else
/// 1002 / 1005).
pub(super) fn remark_set(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let user = required_user(f, "userId")?;
    let id = required_group_id(f)?;
    let remark = f.required("remarkName")?;
    validate::max_chars("remarkName", remark, limit::REMARK_NAME_MAX)?;
    ctx.store().remark_set(id, user, remark)?;
    Ok(Fields::new())
}

/// group/remarkname/delete.json: userId, groupId.
pub(super) fn remark_delete(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let user = required_user(f, "userId")?;
    let id = required_group_id(f)?;
    ctx.store().remark_delete(id, user)?;
    Ok(Fields::new())
}

/// group/remarkname/query.json: answers `remarkName` ("" when none).
pub(super) fn remark_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let user = required_user(f, "userId")?;
    let id = required_group_id(f)?;
    let store = ctx.store();
    let g = store.get(id).ok_or_else(|| super::not_found(id))?;
    Ok(fields([("remarkName", Value::from(g.remark(user)))]))
}
