//! Per-member relations in a group: aliases (the entrust remark names) and
//! favorites (the entrust follows), §7.14-7.19.

use serde_json::Value;

use super::render::{Fields, fields};
use super::{Body, Ctx, required_channel};
use crate::sim::reply::ApiError;
use crate::sim::validate;
use crate::v4::{field, limit};

/// §7.14: `alias` 1-64, replacing any; the user must be a member.
pub(super) fn alias_set(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let alias = b.str_req(field::ALIAS)?;
    validate::max_chars(field::ALIAS, alias, limit::ALIAS_MAX)?;
    ctx.store().remark_set(id, user, alias)?;
    Ok(None)
}

/// §7.15: no alias is fine.
pub(super) fn alias_delete(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    ctx.store().remark_delete(id, user)?;
    Ok(None)
}

/// §7.16: `result.alias`, `""` when none.
pub(super) fn alias_get(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let store = ctx.store();
    let g = store
        .get(id)
        .ok_or_else(|| crate::sim::store::not_found(id))?;
    Ok(Some(fields([(field::ALIAS, Value::from(g.remark(user)))])))
}

/// `favoriteIds`: 1-100 (§7.17).
fn favorite_ids(b: &Body) -> Result<Vec<String>, ApiError> {
    b.ids_req(field::FAVORITE_IDS, Some(limit::FAVORITES_PER_CALL_MAX))
}

/// §7.17: the user and every favorite must be members.
pub(super) fn favorites_add(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let ids = favorite_ids(b)?;
    ctx.store().follow(id, user, &ids, ctx.now_ms)?;
    Ok(None)
}

/// §7.18: ids not among the favorites are ignored.
pub(super) fn favorites_remove(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let ids = favorite_ids(b)?;
    ctx.store().unfollow(id, user, &ids)?;
    Ok(None)
}

/// §7.19: `result.{userId, channelId, favorites[{userId, favoritedAt}]}`.
pub(super) fn favorites_list(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let user = b.str_req(field::USER_ID)?;
    let list = ctx.store().followed(id, user)?;
    let favorites: Vec<Value> = list
        .into_iter()
        .map(|(u, at)| {
            Value::Object(fields([
                (field::USER_ID, Value::from(u)),
                (field::FAVORITED_AT, Value::from(at)),
            ]))
        })
        .collect();
    Ok(Some(fields([
        (field::USER_ID, Value::from(user)),
        (field::CHANNEL_ID, Value::from(id)),
        (field::FAVORITES, Value::Array(favorites)),
    ])))
}
