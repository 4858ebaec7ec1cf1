//! Group lifecycle and profile: create, profile/update, profile/list,
//! transfer/owner, dismiss, and the app-wide list (§7.1-7.4, 7.7, 7.20).

use serde_json::Value;

use super::render::{Fields, fields, profile_item, summary_item};
use super::{Body, Ctx, channel_id, required_channel};
use crate::sim::paging;
use crate::sim::reply::ApiError;
use crate::sim::store::Cleanup;
use crate::sim::validate::{self, ProfileParams};
use crate::v4::{field, limit};

/// The three optional objects of create and update (§6): each checked by
/// the documented table; `name` inside `groupProfile` on update only.
fn profile_params(b: &Body, allow_name: bool) -> Result<ProfileParams, ApiError> {
    let mut p = ProfileParams::default();
    if let Some(m) = b.obj_opt(field::GROUP_PROFILE)? {
        validate::check_group_profile(m, allow_name)?;
        p.profile = m.clone();
    }
    if let Some(m) = b.obj_opt(field::PERMISSIONS)? {
        validate::check_permissions(m)?;
        p.permissions = m.clone();
    }
    if let Some(m) = b.obj_opt(field::GROUP_EXT_PROFILE)? {
        validate::check_ext_profile(m)?;
        p.ext = m.clone();
    }
    Ok(p)
}

/// §7.1: `channelId`, `name`, `owner` required; `userIds` at most 30.
pub(super) fn create(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    // Left out: 1002; empty: 25423 (§3 "Group name empty").
    let name = b
        .str_opt(field::NAME)?
        .ok_or_else(|| super::body::param("name is required"))?;
    validate::name(name)?;
    let owner = b.str_req(field::OWNER)?;
    let users = b
        .ids_opt(field::USER_IDS, Some(limit::CREATE_USERS_MAX))?
        .unwrap_or_default();
    let p = profile_params(b, false)?;
    ctx.store().create(id, name, owner, &users, p, ctx.now_ms)?;
    Ok(None)
}

/// §7.2: no top-level `name`; a rename is `groupProfile.name`.
pub(super) fn profile_update(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let p = profile_params(b, true)?;
    ctx.store().update(id, None, p)?;
    Ok(None)
}

/// §7.3: `channelIds` (1-50); `result.profiles` in the order asked.
pub(super) fn profile_list(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let ids = b.ids_req(field::CHANNEL_IDS, Some(limit::PROFILE_LIST_MAX))?;
    for id in &ids {
        channel_id(ctx, field::CHANNEL_IDS, id)?;
    }
    let store = ctx.store();
    let profiles: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.get(id))
        .map(profile_item)
        .collect();
    Ok(Some(fields([(field::PROFILES, Value::Array(profiles))])))
}

/// The cleanup flags of leave and transfer (§7.4, §7.5): the SDK's
/// `shouldDelete*` or the \[DOC\] `isDel*` names, default 1.
pub(super) fn cleanup(b: &Body) -> Result<Cleanup, ApiError> {
    let [mute, allowed, favorites] = field::LEAVE_FLAGS;
    Ok(Cleanup {
        mute: b.flag(&[mute.0, mute.1], true)?,
        allowed: b.flag(&[allowed.0, allowed.1], true)?,
        favorites: b.flag(&[favorites.0, favorites.1], true)?,
    })
}

/// §7.4: `shouldLeave` (or `shouldQuit`, §9.2), default 0.
pub(super) fn transfer_owner(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let new_owner = b.str_req(field::NEW_OWNER)?;
    let leave = b.flag(&[field::SHOULD_LEAVE, field::SHOULD_QUIT], false)?;
    let cleanup = cleanup(b)?;
    ctx.store().transfer(id, new_owner, leave, cleanup)?;
    Ok(None)
}

/// §7.7.
pub(super) fn dismiss(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    ctx.store().dismiss(id)?;
    Ok(None)
}

/// §7.20, §4: `pageSize` 1-1000 (default 50), `order` by creation (default
/// 1, newest first); `result.pageToken` only when more follow.
pub(super) fn list(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let size = b.int_opt(
        field::PAGE_SIZE,
        limit::GROUP_PAGE_DEFAULT,
        1..=limit::GROUP_PAGE_MAX,
    )? as usize;
    let asc = b.int_opt(field::ORDER, limit::ORDER_DEFAULT, 0..=1)? == 0;
    let context = format!("v4-groups|{asc}");
    let cursor = paging::decode(&context, b.str_opt(field::PAGE_TOKEN)?)?;
    let store = ctx.store();
    let mut all: Vec<_> = store.groups().collect();
    all.sort_by_key(|g| g.seq);
    if !asc {
        all.reverse();
    }
    let (page, token) = paging::page(all, |g| g.seq, cursor, asc, size, &context);
    let mut out = fields([(
        field::GROUPS,
        Value::Array(page.into_iter().map(summary_item).collect()),
    )]);
    with_token(&mut out, token);
    Ok(Some(out))
}

/// Adds `pageToken` unless this is the last page (§4).
pub(super) fn with_token(out: &mut Fields, token: String) {
    if !token.is_empty() {
        out.insert(field::PAGE_TOKEN.into(), Value::from(token));
    }
}
