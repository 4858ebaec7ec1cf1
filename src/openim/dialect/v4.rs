//! The v4 dialect: JSON bodies to `/v4/group-channel/*`
//! (`reference/nexconn-v4-group-api.md` §7, §7.M), answers with code 0 and
//! their payload under `result`.
//!
//! An answer is read by renaming its v4 keys back to the legacy ones (§8,
//! the cheat-sheet read backwards) and handing it to the same readers the
//! entrust dialect uses, so both dialects read a member, a profile or a
//! page one way. Codes are translated into the entrust vocabulary
//! (`to_entrust`): v4 keeps the group codes' numbers (§3).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value, json};

use super::{NewGroup, ProfileChange, answer, bad_answer};
use crate::entrust::code as e;
use crate::entrust::profile::{self, JoinedGroup, Member, Page, Profile};
use crate::error::Error;
use crate::openim::Ctx;
use crate::v4::{code, field, path};
use crate::vendor::Call;

pub(super) const JOIN: &str = path::JOIN;
pub(super) const LEAVE: &str = path::LEAVE;

fn bad(path: &str, e: String) -> Error {
    bad_answer("v4", path, e)
}

/// The entrust code with a v4 code's meaning (§3): success and the
/// codes whose numbers differ; the rest share their numbers.
fn to_entrust(c: i64) -> i64 {
    match c {
        code::OK => e::OK,
        code::OPEN_CHANNEL_PARAM => e::PARAM_ERROR,
        code::NOT_IN_GROUP_CLIENT => e::NOT_IN_GROUP,
        other => other,
    }
}

/// Sends one v4 call and returns the answer's `result` in the legacy
/// shape ([`legacy`]); codes translated ([`answer`]).
async fn call(ctx: &Ctx<'_>, p: &'static str, body: &Value) -> Result<Bytes, Error> {
    let forwarded = ctx
        .vendor
        .client
        .routes()
        .v4(p)
        .ok_or_else(|| Error::Internal(format!("{p} is not a forwarded v4 path")))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::v4::media::REQUEST),
    );
    let call = Call {
        path: forwarded,
        query: None,
        headers,
        body: Bytes::from(body.to_string()),
        request_id: ctx.request_id,
    };
    let reply = ctx.vendor.call(&call).await?;
    let body = answer("v4", p, reply, code::OK, to_entrust)?;
    legacy(&body).map_err(|e| bad(p, e))
}

/// v4 keys and their legacy names (§8), as they appear in `result` and in
/// its lists' items.
const RENAMES: [(&str, &str); 6] = [
    (field::CHANNEL_ID, "groupId"),
    (field::JOINED_AT, "time"),
    (field::CREATED_AT, "createTime"),
    (field::MUTED_MEMBERS, "users"),
    (field::FREEZE_STATUSES, "groupinfo"),
    (field::STATUS, "stat"),
];

fn rename(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let k = RENAMES
                .iter()
                .find(|(from, _)| *from == k)
                .map_or(k, |(_, to)| (*to).to_string());
            (k, v)
        })
        .collect()
}

/// `result` with its keys and its lists' items' keys renamed; a mute with
/// no `muteExpiresAt` (permanent, §7.M) ends never.
fn legacy(body: &[u8]) -> Result<Bytes, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "the answer is not JSON")?;
    let result = match v.get(field::RESULT) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut out = Map::new();
    for (k, v) in rename(result) {
        let v = match v {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(o) => {
                            let mut o = rename(o);
                            if o.contains_key(field::MUTED_AT)
                                && !o.contains_key(field::MUTE_EXPIRES_AT)
                            {
                                o.insert("time".into(), Value::from(i64::MAX));
                            }
                            Value::Object(o)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        };
        out.insert(k, v);
    }
    Ok(Bytes::from(Value::Object(out).to_string()))
}

fn object<V: AsRef<str>>(pairs: &[(&str, V)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(v.as_ref())))
            .collect(),
    )
}

fn permissions(need_verification: i64) -> Value {
    let (join, invite) = crate::openim::group::permissions_for(need_verification);
    json!({"joinPerm": join, "memInvitePerm": invite})
}

/// §7.1.
pub(super) async fn create_group(ctx: &Ctx<'_>, g: &NewGroup<'_>) -> Result<(), Error> {
    let mut body = json!({
        field::CHANNEL_ID: g.id,
        field::NAME: g.name,
        field::OWNER: g.owner,
        field::PERMISSIONS: permissions(g.need_verification),
    });
    if let Some(m) = body.as_object_mut() {
        if !g.users.is_empty() {
            m.insert(field::USER_IDS.into(), json!(g.users));
        }
        if !g.profile.is_empty() {
            m.insert(field::GROUP_PROFILE.into(), object(&g.profile));
        }
        if !g.ext.is_empty() {
            m.insert(field::GROUP_EXT_PROFILE.into(), object(&g.ext));
        }
    }
    call(ctx, path::CREATE, &body).await.map(drop)
}

/// §7.2: a rename is `groupProfile.name`, as in entrust.
pub(super) async fn update_profile(ctx: &Ctx<'_>, c: &ProfileChange<'_>) -> Result<(), Error> {
    let mut m = Map::new();
    m.insert(field::CHANNEL_ID.into(), Value::from(c.group_id));
    if !c.profile.is_empty() {
        m.insert(field::GROUP_PROFILE.into(), object(&c.profile));
    }
    if let Some(nv) = c.need_verification {
        m.insert(field::PERMISSIONS.into(), permissions(nv));
    }
    if !c.ext.is_empty() {
        m.insert(field::GROUP_EXT_PROFILE.into(), object(&c.ext));
    }
    call(ctx, path::PROFILE_UPDATE, &Value::Object(m))
        .await
        .map(drop)
}

/// §7.3.
pub(super) async fn profile_batch(ctx: &Ctx<'_>, ids: &[String]) -> Result<Vec<Profile>, Error> {
    let body = call(ctx, path::PROFILE_LIST, &json!({field::CHANNEL_IDS: ids})).await?;
    profile::parse_profiles(&body).map_err(|e| bad(path::PROFILE_LIST, e))
}

/// §7.8 join, §7.5 leave (kick and quit alike; the `should*` flags at
/// their defaults, as the legacy calls left `isDel*`).
pub(super) async fn leave_or_join(
    ctx: &Ctx<'_>,
    p: &'static str,
    group: &str,
    users: &[String],
) -> Result<(), Error> {
    let body = json!({field::CHANNEL_ID: group, field::USER_IDS: users});
    call(ctx, p, &body).await.map(drop)
}

/// §7.9, §7.10.
pub(super) async fn set_admins(
    ctx: &Ctx<'_>,
    group: &str,
    users: &[String],
    add: bool,
) -> Result<(), Error> {
    let p = if add {
        path::ADMIN_ADD
    } else {
        path::ADMIN_REMOVE
    };
    leave_or_join(ctx, p, group, users).await
}

/// §7.4.
pub(super) async fn transfer_owner(ctx: &Ctx<'_>, group: &str, new: &str) -> Result<(), Error> {
    let body = json!({field::CHANNEL_ID: group, field::NEW_OWNER: new});
    call(ctx, path::TRANSFER_OWNER, &body).await.map(drop)
}

/// §7.7.
pub(super) async fn dismiss_group(ctx: &Ctx<'_>, group: &str) -> Result<(), Error> {
    call(ctx, path::DISMISS, &json!({field::CHANNEL_ID: group}))
        .await
        .map(drop)
}

/// §7.13.
pub(super) async fn set_member(
    ctx: &Ctx<'_>,
    group: &str,
    user: &str,
    nickname: &str,
    extra: Option<&str>,
) -> Result<(), Error> {
    let mut body = json!({
        field::CHANNEL_ID: group,
        field::USER_ID: user,
        field::NICKNAME: nickname,
    });
    if let (Some(x), Some(m)) = (extra, body.as_object_mut()) {
        m.insert(field::EXTRA.into(), Value::from(x));
    }
    call(ctx, path::MEMBER_SET, &body).await.map(drop)
}

/// `pageSize`, `order` 0 (oldest first) and the token added to `m`.
fn paged(mut m: Map<String, Value>, token: Option<String>, size: usize) -> Value {
    m.insert(field::PAGE_SIZE.into(), Value::from(size));
    m.insert(field::ORDER.into(), Value::from(0));
    if let Some(t) = token {
        m.insert(field::PAGE_TOKEN.into(), Value::from(t));
    }
    Value::Object(m)
}

/// §7.11 (`memberRole` is the legacy `type`, same values).
pub(super) async fn member_page(
    ctx: &Ctx<'_>,
    group: &str,
    kind: i64,
    token: Option<String>,
    size: usize,
) -> Result<Page<Member>, Error> {
    let mut m = Map::new();
    m.insert(field::CHANNEL_ID.into(), Value::from(group));
    m.insert(field::MEMBER_ROLE.into(), Value::from(kind));
    let body = call(ctx, path::MEMBER_LIST, &paged(m, token, size)).await?;
    profile::parse_members(&body).map_err(|e| bad(path::MEMBER_LIST, e))
}

/// §7.12.
pub(super) async fn member_batch(
    ctx: &Ctx<'_>,
    group: &str,
    users: &[String],
) -> Result<Page<Member>, Error> {
    let body = json!({field::CHANNEL_ID: group, field::USER_IDS: users});
    let body = call(ctx, path::MEMBER_BATCH_GET, &body).await?;
    profile::parse_members(&body).map_err(|e| bad(path::MEMBER_BATCH_GET, e))
}

/// §7.21.
pub(super) async fn joined_page(
    ctx: &Ctx<'_>,
    user: &str,
    kind: i64,
    token: Option<String>,
    size: usize,
) -> Result<Page<JoinedGroup>, Error> {
    let mut m = Map::new();
    m.insert(field::USER_ID.into(), Value::from(user));
    m.insert(field::ROLE.into(), Value::from(kind));
    let body = call(ctx, path::JOINED_LIST, &paged(m, token, size)).await?;
    profile::parse_joined_groups(&body).map_err(|e| bad(path::JOINED_LIST, e))
}

/// §7.20.
pub(super) async fn group_page(
    ctx: &Ctx<'_>,
    token: Option<String>,
    size: usize,
) -> Result<Page<JoinedGroup>, Error> {
    let body = call(ctx, path::LIST, &paged(Map::new(), token, size)).await?;
    profile::parse_joined_groups(&body).map_err(|e| bad(path::LIST, e))
}

/// §7.M `user/mute-list/add` (legacy gag/add: `userId` → `userIds`,
/// `minute` → `durationMinutes`).
pub(super) async fn mute_member(
    ctx: &Ctx<'_>,
    group: &str,
    user: &str,
    minutes: i64,
) -> Result<(), Error> {
    let body = json!({
        field::CHANNEL_ID: group,
        field::USER_IDS: [user],
        field::DURATION_MINUTES: minutes,
    });
    call(ctx, path::MUTE_LIST_ADD, &body).await.map(drop)
}

/// §7.M `user/mute-list/remove`.
pub(super) async fn unmute_member(ctx: &Ctx<'_>, group: &str, user: &str) -> Result<(), Error> {
    let body = json!({field::CHANNEL_ID: group, field::USER_IDS: [user]});
    call(ctx, path::MUTE_LIST_REMOVE, &body).await.map(drop)
}

/// §7.M `user/mute-list/get` (`mutedMembers[].muteExpiresAt`).
pub(super) async fn mute_list(ctx: &Ctx<'_>, group: &str) -> Result<Vec<(String, i64)>, Error> {
    let body = call(ctx, path::MUTE_LIST_GET, &json!({field::CHANNEL_ID: group})).await?;
    profile::parse_gag_list(&body).map_err(|e| bad(path::MUTE_LIST_GET, e))
}

/// §7.M `freeze-list/add|remove`: the whole group muted (legacy ban).
pub(super) async fn ban_group(ctx: &Ctx<'_>, group: &str, on: bool) -> Result<(), Error> {
    let p = if on {
        path::FREEZE_LIST_ADD
    } else {
        path::FREEZE_LIST_REMOVE
    };
    call(ctx, p, &json!({field::CHANNEL_IDS: [group]}))
        .await
        .map(drop)
}

/// §7.M `freeze-list/get`: `freezeStatuses[].status` 1 is frozen (the
/// value is undocumented; 1 is the legacy ban query's `stat`).
pub(super) async fn ban_query(
    ctx: &Ctx<'_>,
    groups: &[String],
) -> Result<Vec<(String, bool)>, Error> {
    let body = json!({field::CHANNEL_IDS: groups, field::PAGE_SIZE: groups.len().max(1)});
    let body = call(ctx, path::FREEZE_LIST_GET, &body).await?;
    profile::parse_ban_query(&body).map_err(|e| bad(path::FREEZE_LIST_GET, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_in_the_legacy_shape() {
        let body = br#"{"code":0,"result":{"totalCount":2,"pageToken":"t","members":[{"userId":"u","role":3,"joinedAt":5}]}}"#;
        let page = profile::parse_members(&legacy(body).unwrap()).unwrap();
        assert_eq!(page.total, Some(2));
        assert_eq!(page.page_token.as_deref(), Some("t"));
        assert_eq!(page.items[0].time, 5);
        assert_eq!(page.items[0].role, 3);
        let body = br#"{"code":0,"result":{"mutedMembers":[{"userId":"a","mutedAt":"2015-09-25 16:12:38"}]}}"#;
        assert_eq!(
            profile::parse_gag_list(&legacy(body).unwrap()).unwrap(),
            [("a".to_string(), i64::MAX)]
        );
        let body = br#"{"code":0,"result":{"freezeStatuses":[{"channelId":"g","status":1}]}}"#;
        assert_eq!(
            profile::parse_ban_query(&legacy(body).unwrap()).unwrap(),
            [("g".to_string(), true)]
        );
    }
}
