//! Membership: join, leave (and quit), kickout-all, admins, member fields,
//! and the member and joined-group queries (§7.5, 7.6, 7.8-7.13, 7.21).

use serde_json::Value;

use super::groups::{cleanup, with_token};
use super::render::{Fields, fields, joined_item, member_item, profile_fields};
use super::{Body, Ctx, required_channel};
use crate::sim::paging;
use crate::sim::reply::ApiError;
use crate::sim::store::{Group, Member};
use crate::sim::validate;
use crate::v4::{field, limit};

/// §7.8: `userIds` 1-100, all or nothing; `result` is the group's profile
/// item afterwards (\[PY\] `GroupChannelJoinResponse`).
pub(super) fn join(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, Some(limit::USERS_PER_CALL_MAX))?;
    let mut store = ctx.store();
    let g = store.join(id, &users, ctx.now_ms)?;
    Ok(Some(profile_fields(g)))
}

/// §7.5, both spellings (§9.1): `userIds` 1-100 and the cleanup flags.
pub(super) fn leave(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, Some(limit::USERS_PER_CALL_MAX))?;
    let cleanup = cleanup(b)?;
    ctx.store().remove(id, &users, cleanup)?;
    Ok(None)
}

/// §7.6: out of every group the user does not own.
pub(super) fn kickout_all(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let user = b.str_req(field::USER_ID)?;
    ctx.store().kick_all(user);
    Ok(None)
}

/// §7.9: no per-call limit is documented; a group has at most 10 admins.
pub(super) fn admin_add(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, None)?;
    ctx.store().manager_add(id, &users)?;
    Ok(None)
}

/// §7.10.
pub(super) fn admin_remove(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, None)?;
    ctx.store().manager_remove(id, &users)?;
    Ok(None)
}

/// `pageSize` 1-100 (default 50) and `order` (default 1) of member/list and
/// joined/list (§4).
fn size_and_order(b: &Body) -> Result<(usize, bool), ApiError> {
    let size = b.int_opt(
        field::PAGE_SIZE,
        limit::MEMBER_PAGE_DEFAULT,
        1..=limit::MEMBER_PAGE_MAX,
    )? as usize;
    let asc = b.int_opt(field::ORDER, limit::ORDER_DEFAULT, 0..=1)? == 0;
    Ok((size, asc))
}

/// §7.11: `memberRole` 0-3; `result.totalCount` (of the filter),
/// `pageToken` while more follow, `members`.
pub(super) fn member_list(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let role = b.int_opt(field::MEMBER_ROLE, 0, 0..=3)?;
    let (size, asc) = size_and_order(b)?;
    let context = format!("v4-members|{id}|{role}|{asc}");
    let cursor = paging::decode(&context, b.str_opt(field::PAGE_TOKEN)?)?;
    let store = ctx.store();
    let g = store
        .get(id)
        .ok_or_else(|| crate::sim::store::not_found(id))?;
    let mut chosen: Vec<&Member> = g
        .members
        .iter()
        .filter(|m| role == 0 || m.role == role)
        .collect();
    if !asc {
        chosen.reverse();
    }
    let total = chosen.len();
    let (page, token) = paging::page(chosen, |m| m.seq, cursor, asc, size, &context);
    let mut out = fields([
        (field::TOTAL_COUNT, Value::from(total)),
        (
            field::MEMBERS,
            Value::Array(page.into_iter().map(member_item).collect()),
        ),
    ]);
    with_token(&mut out, token);
    Ok(Some(out))
}

/// §7.12: `userIds` 1-100; the members among them, in the order asked.
pub(super) fn member_batch_get(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, Some(limit::USERS_PER_CALL_MAX))?;
    let store = ctx.store();
    let g = store
        .get(id)
        .ok_or_else(|| crate::sim::store::not_found(id))?;
    let members: Vec<Value> = users
        .iter()
        .filter_map(|u| g.member(u))
        .map(member_item)
        .collect();
    Ok(Some(fields([(field::MEMBERS, Value::Array(members))])))
}

/// §7.13: `nickname` (≤ 64) and `extra` (≤ 128), each optional.
pub(super) fn member_set(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let nickname = b.str_opt(field::NICKNAME)?;
    if let Some(n) = nickname {
        validate::max_chars(field::NICKNAME, n, limit::NICKNAME_MAX)?;
    }
    let extra = b.str_opt(field::EXTRA)?;
    if let Some(e) = extra {
        validate::max_chars(field::EXTRA, e, limit::MEMBER_EXTRA_MAX)?;
    }
    ctx.store().member_set(id, user, nickname, extra)?;
    Ok(None)
}

/// §7.21: `role` 0-3, paged by the user's join time; no `totalCount`.
pub(super) fn joined_list(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let user = b.str_req(field::USER_ID)?;
    let role = b.int_opt(field::ROLE, 0, 0..=3)?;
    let (size, asc) = size_and_order(b)?;
    let context = format!("v4-joined|{user}|{role}|{asc}");
    let cursor = paging::decode(&context, b.str_opt(field::PAGE_TOKEN)?)?;
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
    let (page, token) = paging::page(joined, |(_, m)| m.seq, cursor, asc, size, &context);
    let groups: Vec<Value> = page.into_iter().map(|(g, m)| joined_item(g, m)).collect();
    let mut out = fields([(field::GROUPS, Value::Array(groups))]);
    with_token(&mut out, token);
    Ok(Some(out))
}
