//! Group lifecycle and profile: create, import, update, query, dismiss, and
//! the app-wide group list.

use serde_json::Value;

use super::{Ctx, Fields, fields};
use crate::entrust::{code, limit};
use crate::sim::form::Form;
use crate::sim::paging;
use crate::sim::profile::{render, text_fields};
use crate::sim::reply::ApiError;
use crate::sim::validate::{self, profile_params, required_group_id, required_user};

/// group/create.json. More than 30 `userIds`: 1005.
pub(super) fn create(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let name = f.required("name")?;
    validate::name(name)?;
    let owner = required_user(f, "owner")?;
    let users = f.array(&["userIds"]);
    if users.len() > limit::CREATE_USERS_MAX {
        return Err(ApiError::too_long(format!(
            "userIds has more than {} items",
            limit::CREATE_USERS_MAX
        )));
    }
    validate::user_ids("userIds", &users)?;
    let p = profile_params(f, false)?;
    ctx.store().create(id, name, owner, &users, p, ctx.now_ms)?;
    Ok(Fields::new())
}

/// group/import.json: like create; only the owner is a member afterwards.
pub(super) fn import(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let name = f.required("name")?;
    validate::name(name)?;
    let owner = required_user(f, "owner")?;
    let p = profile_params(f, false)?;
    ctx.store().create(id, name, owner, &[], p, ctx.now_ms)?;
    Ok(Fields::new())
}

/// group/profile/update.json. The name may come inside `groupProfile` (as the
/// seed shows) or as a top-level `name`; if both, `groupProfile`'s wins.
pub(super) fn update(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    let name = f.opt("name")?;
    if let Some(n) = name {
        validate::name(n)?;
    }
    let p = profile_params(f, true)?;
    ctx.store().update(id, name, p)?;
    Ok(Fields::new())
}

/// group/profile/query.json: `groupIds` (or the doc's `groupId`, repeated),
/// at most 50 (else 25422). Unknown ids are left out; the rest come in the
/// order asked, each once.
pub(super) fn profile_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let ids = f.required_array(
        &["groupIds", "groupId"],
        limit::PROFILE_QUERY_MAX,
        code::QUERY_COUNT_EXCEEDED,
    )?;
    let store = ctx.store();
    let profiles: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.get(id))
        .map(|g| render(g, ctx.variant))
        .collect();
    Ok(fields([("profiles", Value::Array(profiles))]))
}

/// group/dismiss.json: the group is deleted.
pub(super) fn dismiss(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let id = required_group_id(f)?;
    ctx.store().dismiss(id)?;
    Ok(Fields::new())
}

/// group/query.json: `pageToken`, `size` (default 50, 1-1000), `order` (0
/// oldest first, 1 newest first, default 1) by creation. Answers
/// `pageToken` and `groups: [{groupId, name, groupProfile, creator, owner,
/// time, portraitUrl}]`, no total (doc; Go `PagingQueryGroupsResult`,
/// `EntrustGroupInfo`).
pub(super) fn group_query(ctx: &Ctx<'_>, f: &Form) -> Result<Fields, ApiError> {
    let size = f.int("size", 50, 1..=limit::GROUP_PAGE_MAX as i64)? as usize;
    let asc = f.int("order", 1, 0..=1)? == 0;
    let context = format!("groups|{asc}");
    let cursor = paging::decode(&context, f.opt("pageToken")?)?;
    let store = ctx.store();
    let mut all: Vec<_> = store.groups().collect();
    all.sort_by_key(|g| g.seq);
    if !asc {
        all.reverse();
    }
    let (page, token) = paging::page(all, |g| g.seq, cursor, asc, size, &context);
    let groups: Vec<Value> = page
        .into_iter()
        .map(|g| {
            let [profile, ..] = text_fields(g);
            let portrait = g.profile.get("portraitUrl").cloned();
            Value::Object(fields([
                ("groupId", Value::from(g.id.as_str())),
                ("name", Value::from(g.name.as_str())),
                profile,
                ("creator", Value::from(g.creator.as_str())),
                ("owner", Value::from(g.owner.as_str())),
                ("time", Value::from(g.create_time)),
                ("portraitUrl", portrait.unwrap_or_else(|| Value::from(""))),
            ]))
        })
        .collect();
    Ok(fields([
        ("pageToken", Value::from(token)),
        ("groups", Value::Array(groups)),
    ]))
}
