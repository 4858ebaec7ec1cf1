//! The entrust dialect: form bodies to `/entrust/group/*.json` and the
//! legacy mute paths (`reference/entrust-api.md`), answers with code 200.

use bytes::Bytes;
use serde_json::Value;

use super::{NewGroup, ProfileChange, answer, bad_answer, permissions_json};
use crate::entrust::profile::{self, JoinedGroup, Member, Page, Profile};
use crate::entrust::{code, path};
use crate::error::Error;
use crate::openim::{Ctx, Form, FormBody};
use crate::vendor::Call;

fn bad(path: &str, e: String) -> Error {
    bad_answer("entrust", path, e)
}

/// Sends one entrust call and returns the body of a code-200 answer
/// ([`answer`]).
async fn call(ctx: &Ctx<'_>, path: &'static str, form: &Form) -> Result<Bytes, Error> {
    call_body(ctx, path, FormBody::from(form)).await
}

/// [`call`] with the form already encoded.
async fn call_body(ctx: &Ctx<'_>, path: &'static str, body: FormBody) -> Result<Bytes, Error> {
    let forwarded = crate::allowlist::EntrustPath::documented(path)
        .ok_or_else(|| Error::Internal(format!("{path} is not a documented entrust path")))?;
    let reply = ctx
        .vendor
        .call(&Call::form(forwarded, body.into_string(), ctx.request_id))
        .await?;
    answer("entrust", path, reply, code::OK, |c| c)
}

/// A JSON object's text from sorted pairs, as a `serde_json` map prints it.
fn object_text<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    let m: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::from(v.as_ref())))
        .collect();
    Value::Object(m).to_string()
}

pub(super) async fn create_group(ctx: &Ctx<'_>, g: &NewGroup<'_>) -> Result<(), Error> {
    let mut form: Form = vec![
        ("groupId", g.id.to_string()),
        ("name", g.name.to_string()),
        ("owner", g.owner.to_string()),
    ];
    if !g.users.is_empty() {
        form.push(("userIds", g.users.join(",")));
    }
    if !g.profile.is_empty() {
        form.push(("groupProfile", object_text(&g.profile)));
    }
    form.push((
        "permissions",
        permissions_json(g.need_verification).to_string(),
    ));
    if !g.ext.is_empty() {
        form.push(("groupExtProfile", object_text(&g.ext)));
    }
    call(ctx, path::GROUP_CREATE, &form).await.map(drop)
}

/// Written straight into one buffer.
pub(super) async fn update_profile(ctx: &Ctx<'_>, c: &ProfileChange<'_>) -> Result<(), Error> {
    let mut form = FormBody::with_capacity(256);
    form.field("groupId", c.group_id);
    if !c.profile.is_empty() {
        form.json_field("groupProfile", &c.profile);
    }
    if let Some(nv) = c.need_verification {
        form.field("permissions", permissions_json(nv));
    }
    if !c.ext.is_empty() {
        form.json_field("groupExtProfile", &c.ext);
    }
    call_body(ctx, path::PROFILE_UPDATE, form).await.map(drop)
}

pub(super) async fn profile_batch(ctx: &Ctx<'_>, ids: &[String]) -> Result<Vec<Profile>, Error> {
    let form: Form = vec![("groupIds", ids.join(","))];
    let body = call(ctx, path::PROFILE_QUERY, &form).await?;
    profile::parse_profiles(&body).map_err(|e| bad(path::PROFILE_QUERY, e))
}

/// `groupId` and `userIds` (comma-separated): join, kick, quit, managers.
async fn users_call(
    ctx: &Ctx<'_>,
    path: &'static str,
    group: &str,
    users: &[String],
) -> Result<(), Error> {
    let form: Form = vec![("groupId", group.to_string()), ("userIds", users.join(","))];
    call(ctx, path, &form).await.map(drop)
}

pub(super) async fn join_users(ctx: &Ctx<'_>, group: &str, users: &[String]) -> Result<(), Error> {
    users_call(ctx, path::GROUP_JOIN, group, users).await
}

pub(super) async fn kick_users(ctx: &Ctx<'_>, group: &str, users: &[String]) -> Result<(), Error> {
    users_call(ctx, path::MEMBER_KICK, group, users).await
}

pub(super) async fn quit_user(ctx: &Ctx<'_>, group: &str, user: &str) -> Result<(), Error> {
    users_call(ctx, path::GROUP_QUIT, group, &[user.to_string()]).await
}

pub(super) async fn set_admins(
    ctx: &Ctx<'_>,
    group: &str,
    users: &[String],
    add: bool,
) -> Result<(), Error> {
    let p = if add {
        path::MANAGER_ADD
    } else {
        path::MANAGER_REMOVE
    };
    users_call(ctx, p, group, users).await
}

pub(super) async fn transfer_owner(ctx: &Ctx<'_>, group: &str, new: &str) -> Result<(), Error> {
    let form: Form = vec![
        ("groupId", group.to_string()),
        ("newOwner", new.to_string()),
    ];
    call(ctx, path::TRANSFER_OWNER, &form).await.map(drop)
}

pub(super) async fn dismiss_group(ctx: &Ctx<'_>, group: &str) -> Result<(), Error> {
    let form: Form = vec![("groupId", group.to_string())];
    call(ctx, path::GROUP_DISMISS, &form).await.map(drop)
}

/// member/set.json requires `nickname`.
pub(super) async fn set_member(
    ctx: &Ctx<'_>,
    group: &str,
    user: &str,
    nickname: &str,
    extra: Option<&str>,
) -> Result<(), Error> {
    let mut form: Form = vec![
        ("groupId", group.to_string()),
        ("userId", user.to_string()),
        ("nickname", nickname.to_string()),
    ];
    if let Some(e) = extra {
        form.push(("extra", e.to_string()));
    }
    call(ctx, path::MEMBER_SET, &form).await.map(drop)
}

/// `size`, `order` 0 (oldest first) and the token, after `head`.
fn paged(mut form: Form, token: Option<String>, size: usize) -> Form {
    form.push(("size", size.to_string()));
    form.push(("order", "0".to_string()));
    if let Some(t) = token {
        form.push(("pageToken", t));
    }
    form
}

pub(super) async fn member_page(
    ctx: &Ctx<'_>,
    group: &str,
    kind: i64,
    token: Option<String>,
    size: usize,
) -> Result<Page<Member>, Error> {
    let form = paged(
        vec![("groupId", group.to_string()), ("type", kind.to_string())],
        token,
        size,
    );
    let body = call(ctx, path::MEMBER_QUERY, &form).await?;
    profile::parse_members(&body).map_err(|e| bad(path::MEMBER_QUERY, e))
}

pub(super) async fn member_batch(
    ctx: &Ctx<'_>,
    group: &str,
    users: &[String],
) -> Result<Page<Member>, Error> {
    let form: Form = vec![("groupId", group.to_string()), ("userIds", users.join(","))];
    let body = call(ctx, path::MEMBER_SPECIFIC_QUERY, &form).await?;
    profile::parse_members(&body).map_err(|e| bad(path::MEMBER_SPECIFIC_QUERY, e))
}

pub(super) async fn joined_page(
    ctx: &Ctx<'_>,
    user: &str,
    kind: i64,
    token: Option<String>,
    size: usize,
) -> Result<Page<JoinedGroup>, Error> {
    let form = paged(
        vec![("userId", user.to_string()), ("role", kind.to_string())],
        token,
        size,
    );
    let body = call(ctx, path::JOINED_GROUP_QUERY, &form).await?;
    profile::parse_joined_groups(&body).map_err(|e| bad(path::JOINED_GROUP_QUERY, e))
}

pub(super) async fn group_page(
    ctx: &Ctx<'_>,
    token: Option<String>,
    size: usize,
) -> Result<Page<JoinedGroup>, Error> {
    let form = paged(Vec::new(), token, size);
    let body = call(ctx, path::GROUP_QUERY, &form).await?;
    profile::parse_joined_groups(&body).map_err(|e| bad(path::GROUP_QUERY, e))
}

/// `/group/user/gag/add.json`.
pub(super) async fn mute_member(
    ctx: &Ctx<'_>,
    group: &str,
    user: &str,
    minutes: i64,
) -> Result<(), Error> {
    let form: Form = vec![
        ("groupId", group.to_string()),
        ("userId", user.to_string()),
        ("minute", minutes.to_string()),
    ];
    call(ctx, path::GAG_ADD, &form).await.map(drop)
}

/// `/group/user/gag/rollback.json`.
pub(super) async fn unmute_member(ctx: &Ctx<'_>, group: &str, user: &str) -> Result<(), Error> {
    let form: Form = vec![("groupId", group.to_string()), ("userId", user.to_string())];
    call(ctx, path::GAG_ROLLBACK, &form).await.map(drop)
}

/// `/group/user/gag/list.json`.
pub(super) async fn mute_list(ctx: &Ctx<'_>, group: &str) -> Result<Vec<(String, i64)>, Error> {
    let form: Form = vec![("groupId", group.to_string())];
    let body = call(ctx, path::GAG_LIST, &form).await?;
    profile::parse_gag_list(&body).map_err(|e| bad(path::GAG_LIST, e))
}

/// `/group/ban/add.json`, `/group/ban/rollback.json`.
pub(super) async fn ban_group(ctx: &Ctx<'_>, group: &str, on: bool) -> Result<(), Error> {
    let form: Form = vec![("groupId", group.to_string())];
    let p = if on {
        path::BAN_ADD
    } else {
        path::BAN_ROLLBACK
    };
    call(ctx, p, &form).await.map(drop)
}

/// `/group/ban/query.json` (`groupId` repeated).
pub(super) async fn ban_query(
    ctx: &Ctx<'_>,
    groups: &[String],
) -> Result<Vec<(String, bool)>, Error> {
    let form: Form = groups.iter().map(|g| ("groupId", g.clone())).collect();
    let body = call(ctx, path::BAN_QUERY, &form).await?;
    profile::parse_ban_query(&body).map_err(|e| bad(path::BAN_QUERY, e))
}
