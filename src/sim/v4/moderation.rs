//! Group moderation (§7.M): the user mute list, the freeze list and the
//! allowed-sender list.

use serde_json::Value;

use super::render::{Fields, fields, mute_item};
use super::{Body, Ctx, channel_id, required_channel};
use crate::sim::reply::ApiError;
use crate::v4::{field, limit};

/// An optional `channelId`, checked; empty counts as left out ("empty
/// means every group the user is in", §7.M).
fn optional_channel<'a>(ctx: &Ctx<'_>, b: &'a Body) -> Result<Option<&'a str>, ApiError> {
    match b.str_opt(field::CHANNEL_ID)? {
        None | Some("") => Ok(None),
        Some(id) => {
            channel_id(ctx, field::CHANNEL_ID, id)?;
            Ok(Some(id))
        }
    }
}

/// A required `channelIds`, each checked.
fn channel_ids(ctx: &Ctx<'_>, b: &Body) -> Result<Vec<String>, ApiError> {
    let ids = b.ids_req(field::CHANNEL_IDS, None)?;
    for id in &ids {
        channel_id(ctx, field::CHANNEL_IDS, id)?;
    }
    Ok(ids)
}

/// M1: `userIds` 1-20, `durationMinutes` 0-43200 (0: permanent),
/// `channelId` optional (none: every group; at most 100 users so).
pub(super) fn mute_add(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let users = b.ids_req(field::USER_IDS, Some(limit::MUTE_USERS_PER_CALL_MAX))?;
    let minutes = b.int_req(field::DURATION_MINUTES, 0..=limit::MUTE_MINUTES_MAX)?;
    let channel = optional_channel(ctx, b)?;
    ctx.store().mute_add(
        channel,
        &users,
        minutes,
        ctx.now_ms,
        limit::GLOBAL_MUTED_USERS_MAX,
    )?;
    Ok(None)
}

/// M2.
pub(super) fn mute_remove(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let users = b.ids_req(field::USER_IDS, None)?;
    let channel = optional_channel(ctx, b)?;
    ctx.store().mute_remove(channel, &users)?;
    Ok(None)
}

/// M3, both spellings (§9.5): `result.mutedMembers`.
pub(super) fn mute_get(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let channel = optional_channel(ctx, b)?;
    let mutes = ctx.store().mutes(channel, ctx.now_ms)?;
    let items: Vec<Value> = mutes.iter().map(mute_item).collect();
    Ok(Some(fields([(field::MUTED_MEMBERS, Value::Array(items))])))
}

/// M4.
pub(super) fn freeze_add(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let ids = channel_ids(ctx, b)?;
    ctx.store().freeze(&ids, true)?;
    Ok(None)
}

/// M5.
pub(super) fn freeze_remove(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let ids = channel_ids(ctx, b)?;
    ctx.store().freeze(&ids, false)?;
    Ok(None)
}

/// Freeze `status` values (undocumented, §7.M): the simulator's.
const FROZEN: i64 = 1;
const NOT_FROZEN: i64 = 0;
/// `pageSize` of freeze-list/get: undocumented; the simulator's choice.
const FREEZE_PAGE_DEFAULT: i64 = 50;
const FREEZE_PAGE_MAX: i64 = 100;

/// M6: page-number paging (§4); `result.freezeStatuses`.
pub(super) fn freeze_get(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let asked = b.ids_opt(field::CHANNEL_IDS, None)?.unwrap_or_default();
    for id in &asked {
        channel_id(ctx, field::CHANNEL_IDS, id)?;
    }
    let page = b.int_opt(field::PAGE, 1, 1..=i64::from(u32::MAX))?;
    let size = b.int_opt(field::PAGE_SIZE, FREEZE_PAGE_DEFAULT, 1..=FREEZE_PAGE_MAX)?;
    let store = ctx.store();
    let all: Vec<(&str, i64)> = if asked.is_empty() {
        store
            .frozen()
            .into_iter()
            .map(|g| (g.id.as_str(), FROZEN))
            .collect()
    } else {
        asked
            .iter()
            .filter_map(|id| store.get(id))
            .map(|g| {
                let status = if g.frozen.is_some() {
                    FROZEN
                } else {
                    NOT_FROZEN
                };
                (g.id.as_str(), status)
            })
            .collect()
    };
    let skip = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let items: Vec<Value> = all
        .into_iter()
        .skip(skip)
        .take(size as usize)
        .map(|(id, status)| {
            Value::Object(fields([
                (field::CHANNEL_ID, Value::from(id)),
                (field::STATUS, Value::from(status)),
            ]))
        })
        .collect();
    Ok(Some(fields([(
        field::FREEZE_STATUSES,
        Value::Array(items),
    )])))
}

/// M7.
pub(super) fn allowed_add(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, None)?;
    ctx.store().allowed_add(id, &users)?;
    Ok(None)
}

/// M8.
pub(super) fn allowed_remove(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let users = b.ids_req(field::USER_IDS, None)?;
    ctx.store().allowed_remove(id, &users)?;
    Ok(None)
}

/// M9: `result.userIds`, in the order added.
pub(super) fn allowed_get(ctx: &Ctx<'_>, b: &Body) -> Result<Option<Fields>, ApiError> {
    let id = required_channel(ctx, b)?;
    let store = ctx.store();
    let g = store
        .get(id)
        .ok_or_else(|| crate::sim::store::not_found(id))?;
    Ok(Some(fields([(
        field::USER_IDS,
        Value::from(g.allowed_senders.clone()),
    )])))
}
