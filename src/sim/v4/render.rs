//! The shapes of v4 answers' items, as the SDK's pydantic models read them
//! (`nexconn-v4-group-api.md` §7, \[PY\] models): JSON objects where entrust
//! answers JSON text, integer Unix ms for times, except the mute list's
//! `YYYY-MM-DD HH:MM:SS` strings (§6).

use serde_json::{Map, Value};

use crate::sim::profile::effective_permissions;
use crate::sim::store::{Group, Member, Mute};
use crate::v4::field;

pub(crate) type Fields = Map<String, Value>;

pub(crate) fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `GroupChannelProfileItem` (§7.3; also join's result, §7.8): every field,
/// `groupProfile` and `groupExtProfile` as objects (`{}` when empty),
/// `permissions` with all six keys (unset ones at their default, 0).
pub(crate) fn profile_item(g: &Group) -> Value {
    Value::Object(profile_fields(g))
}

/// The fields of [`profile_item`].
pub(crate) fn profile_fields(g: &Group) -> Fields {
    fields([
        (field::CHANNEL_ID, Value::from(g.id.as_str())),
        (field::NAME, Value::from(g.name.as_str())),
        (field::GROUP_PROFILE, Value::Object(g.profile.clone())),
        (field::GROUP_EXT_PROFILE, Value::Object(g.ext.clone())),
        (field::PERMISSIONS, Value::Object(effective_permissions(g))),
        (field::OWNER, Value::from(g.owner.as_str())),
        (field::CREATED_AT, Value::from(g.create_time)),
        (field::MEMBER_COUNT, Value::from(g.members.len())),
    ])
}

/// `GroupChannelMemberItem` (§7.11, §7.12).
pub(crate) fn member_item(m: &Member) -> Value {
    Value::Object(fields([
        (field::USER_ID, Value::from(m.user_id.as_str())),
        (field::ROLE, Value::from(m.role)),
        (field::NICKNAME, Value::from(m.nickname.as_str())),
        (field::EXTRA, Value::from(m.extra.as_str())),
        (field::JOINED_AT, Value::from(m.time)),
    ]))
}

/// `GroupChannelSummaryItem` (§7.20), the \[PY\] shape: `groupProfile` an
/// object (the \[DOC\] `profile` JSON text is not sent, §9.3).
pub(crate) fn summary_item(g: &Group) -> Value {
    Value::Object(fields([
        (field::CHANNEL_ID, Value::from(g.id.as_str())),
        (field::NAME, Value::from(g.name.as_str())),
        (field::GROUP_PROFILE, Value::Object(g.profile.clone())),
        (field::CREATOR, Value::from(g.creator.as_str())),
        (field::OWNER, Value::from(g.owner.as_str())),
        (field::CREATED_AT, Value::from(g.create_time)),
    ]))
}

/// `GroupChannelJoinedItem` (§7.21): the group as `m.user_id` sees it.
pub(crate) fn joined_item(g: &Group, m: &Member) -> Value {
    Value::Object(fields([
        (field::CHANNEL_ID, Value::from(g.id.as_str())),
        (field::NAME, Value::from(g.name.as_str())),
        (field::GROUP_PROFILE, Value::Object(g.profile.clone())),
        (field::GROUP_EXT_PROFILE, Value::Object(g.ext.clone())),
        (field::PERMISSIONS, Value::Object(effective_permissions(g))),
        (field::ALIAS, Value::from(g.remark(&m.user_id))),
        (field::OWNER, Value::from(g.owner.as_str())),
        (field::MEMBER_COUNT, Value::from(g.members.len())),
        (field::JOINED_AT, Value::from(m.time)),
        (field::ROLE, Value::from(m.role)),
        (field::CREATED_AT, Value::from(g.create_time)),
    ]))
}

/// `GroupChannelMutedMemberItem` (§7.M): times as UTC text; a permanent
/// mute has no `muteExpiresAt`.
pub(crate) fn mute_item(m: &Mute) -> Value {
    let mut o = fields([
        (field::USER_ID, Value::from(m.user_id.as_str())),
        (field::MUTED_AT, Value::from(datetime_utc(m.since))),
    ]);
    if let Some(until) = m.until {
        o.insert(
            field::MUTE_EXPIRES_AT.into(),
            Value::from(datetime_utc(until)),
        );
    }
    Value::Object(o)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (§6: the legacy API used UTC for the
/// global data centers) for `ms` since the epoch.
pub(crate) fn datetime_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(datetime_utc(0), "1970-01-01 00:00:00");
        assert_eq!(datetime_utc(1_408_710_653_491), "2014-08-22 12:30:53");
        assert_eq!(datetime_utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(datetime_utc(4_102_444_799_000), "2099-12-31 23:59:59");
    }
}
