//! Member and joined-group queries.

use serde_json::Value;

use super::{Ctx, Fields, fields};
use crate::entrust::{code, limit};
use crate::sim::form::Form;
use crate::sim::paging;
use crate::sim::profile::text_fields;
use crate::sim::reply::ApiError;
use crate::sim::store::{Group, Member};
use crate::sim::validate::{self, required_group_id, required_user};

fn member_json(m: &Member) -> Value {
    Value::Object(fields([
        ("userId", Value::from(m.user_id.as_str())),
        ("nickname", Value::from(m.nickname.as_str())),
        ("role", Value::from(m.role)),
        ("time", Value::from(m.time)),
        ("extra", Value::from(m.extra.as_str())),
    ]))
}

/// `size` (default 50, 1-100) and `order` (0 ascending, 1 descending by join
/// time, default 1).
fn size_and_order(f: &Form) -> Result<(usize, bool), ApiError> {
    let size = f.int(
        "size",
        limit::MEMBER_PAGE_DEFAULT as i64,
        1..=limit::MEMBER_PAGE_MAX as i64,
    )? as usize;
    let asc = f.int("order", 1, 0..=1)? == 0;
    Ok((size, asc))
}

/// group/member/query.json: `type` 0 all, 1 members, 2 managers, 3 owner.
/// Answers `totalCount` (of the filter), `pageToken` ("" on the last page)
/// and `members`.
pub(super) fn member_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let kind = f.int("type", 0, 0..=3)?;
    let (size, asc) = size_and_order(f)?;
    let context = format!("members|{id}|{kind}|{asc}");
    let cursor = paging::decode(&context, f.opt("pageToken")?)?;
    let store = ctx.store();
    let g = store.get(id).ok_or_else(|| super::not_found(id))?;
    let mut chosen: Vec<&Member> = g
        .members
        .iter()
        .filter(|m| kind == 0 || m.role == kind)
        .collect();
    if !asc {
        chosen.reverse();
    }
    let total = chosen.len();
    let (page, token) = paging::page(chosen, |m| m.seq, cursor, asc, size, &context);
    Ok(fields([
        ("totalCount", Value::from(total)),
        ("pageToken", Value::from(token)),
        (
            "members",
            Value::Array(page.into_iter().map(member_json).collect()),
        ),
    ]))
}

/// group/member/specific/query.json: at most 100 `userIds` (else 25422);
/// members in the order asked, non-members left out.
pub(super) fn specific_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let users = f.required_array(
        &["userIds"],
        limit::USERS_PER_CALL_MAX,
        code::QUERY_COUNT_EXCEEDED,
    )?;
    validate::user_ids("userIds", &users)?;
    let store = ctx.store();
    let g = store.get(id).ok_or_else(|| super::not_found(id))?;
    let members: Vec<Value> = users
        .iter()
        .filter_map(|u| g.member(u))
        .map(member_json)
        .collect();
    Ok(fields([("members", Value::Array(members))]))
}

/// joined/group/query.json: `userId`, `role` (0 all, 1 member, 2 manager,
/// 3 owner), `pageToken`, `size` (default 50, 1-100), `order` (by the
/// user's join time, default 1 = newest first). Answers `totalCount`,
/// `pageToken` and `groups: [{groupId, name, remarkName, groupProfile,
/// groupExtProfile, permissions, createTime, joinTime, role, count, owner}]`
/// (doc; Go `PagingQueryJoinedGroupsResult`, `EntrustGroupDetailInfo`).
pub(super) fn joined_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let user = required_user(f, "userId")?;
    let role = f.int("role", 0, 0..=3)?;
    let (size, asc) = size_and_order(f)?;
    let context = format!("joined|{user}|{role}|{asc}");
    let cursor = paging::decode(&context, f.opt("pageToken")?)?;
    let store = ctx.store();
    let mut joined: Vec<(&Group, &Member)> = store
        .groups()
        .filter_map(|g| g.member(user).map(|m| (g, m)))
        .filter(|(_, m)| role == 0 || m.role == role)
        .collect();
    joined.sort_by_key(|(_, m)| m.seq);
    if !asc {
        joined.reverse();
    }
    let total = joined.len();
    let (page, token) = paging::page(joined, |(_, m)| m.seq, cursor, asc, size, &context);
    let groups: Vec<Value> = page
        .into_iter()
        .map(|(g, m)| {
            let mut o = fields([
                ("groupId", Value::from(g.id.as_str())),
                ("name", Value::from(g.name.as_str())),
                ("remarkName", Value::from(g.remark(user))),
                ("createTime", Value::from(g.create_time)),
                ("joinTime", Value::from(m.time)),
                ("role", Value::from(m.role)),
                ("count", Value::from(g.members.len())),
                ("owner", Value::from(g.owner.as_str())),
            ]);
            o.extend(text_fields(g).map(|(k, v)| (k.to_owned(), v)));
            Value::Object(o)
        })
        .collect();
    Ok(fields([
        ("totalCount", Value::from(total)),
        ("pageToken", Value::from(token)),
        ("groups", Value::Array(groups)),
    ]))
}
