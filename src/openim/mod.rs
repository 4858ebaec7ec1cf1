//! The OpenIM face: OpenIM's group admin REST API, translated into the
//! vendor's signed calls: entrust or v4, per `[openim] vendor_api`.
//!
//! Every route is `POST` with a JSON body and answers HTTP 200 with OpenIM's
//! envelope `{"errCode","errMsg","errDlt"[,"data"]}`, errors included
//! ([`errcode::response`]). Every route needs an `operationID` header (it becomes
//! the upstream `X-Request-ID`). When `[openim]` is configured, every route
//! but the three `/auth/` ones also needs a `token` header holding a token
//! from `get_admin_token` or `user_token`; without `[openim]` no token is
//! asked for, but the gateway's bearer token is when `server.auth_tokens_*`
//! is set (see [`token::authorize`]).
//! [`Route`] lists every route; the ones the vendor can't back (join
//! applications, incremental sync, friends) answer 1002 saying so. Answers
//! follow open-im-server's source; the tests cite the lines.
//!
//! - [`group`]: group info (create, set, read, admin search) and the field
//!   mapping.
//! - [`member`]: membership (invite, join, kick, quit, transfer, dismiss,
//!   member lists and member info, joined groups, the id-sync and abstract
//!   routes).
//! - [`mute`]: muting a member or the whole group, through the vendor.
//! - [`perm`]: OpenIM's permission rules for user tokens, route by route.
//! - [`pages`]: the vendor's page tokens remembered per list position.
//! - [`token`]: stateless admin and user tokens (`get_admin_token`,
//!   `get_user_token`, `parse_token`); [`kicks`]: `force_logout`;
//!   [`throttle`]: the limit on failed attempts at the token routes.
//! - [`mod@json`]: strict request parsing with errors that name the field;
//!   keys match ignoring case, as Go's `encoding/json` matches them.
//! - [`errcode`]: OpenIM's codes and the vendor's codes translated, and
//!   errors rendered in OpenIM's envelope.
//! - [`route`]: the routes, which of them write, which the vendor can't back.
//! - [`form`]: the entrust calls' form bodies.
//! - [`dialect`]: every vendor call as one operation, and the entrust and
//!   v4 adapters behind it.

pub mod dialect;
pub mod errcode;
pub mod form;
pub mod group;
pub mod json;
pub mod kicks;
pub mod member;
pub mod mute;
pub mod pages;
pub mod perm;
pub mod route;
pub mod throttle;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::{Value, json};

use crate::auth::Inbound;
use crate::config::{Config, ConfigError, OpenImConfig};
use crate::entrust::profile::{self, Profile};
use crate::entrust::{code, limit, path};
use crate::error::{Body, Error, json_response};
use crate::metrics::{Metrics, ResultLabels};
use crate::secret::Secret;
use crate::vendor::Session;

pub use form::{Form, FormBody};
pub use route::*;

/// What the face keeps between requests: the `[openim]` secret and
/// settings, the token routes' throttle, and the bearer tokens it asks for
/// without `[openim]`.
pub struct State {
    secret: Option<Secret>,
    config: Option<OpenImConfig>,
    /// Kept across reloads (see [`State::carrying`]), as are `kicks`.
    throttle: Arc<throttle::Throttle>,
    /// Where the vendor's paging of recently walked lists stood.
    pages: pages::Pages,
    /// `openim_admin_token_failures`.
    failures: Family<ResultLabels, Counter>,
    inbound: Inbound,
    /// force_logout's record.
    kicks: Arc<kicks::Kicks>,
}

impl State {
    /// With `redis`, force_logout's kicks are shared by the fleet.
    pub fn new(
        config: &Config,
        inbound: Inbound,
        metrics: &Metrics,
        redis: Option<std::sync::Arc<crate::redis_link::Link>>,
    ) -> Result<State, ConfigError> {
        let keep = std::time::Duration::from_secs(
            config.openim.as_ref().map_or(0, |c| c.token_expire_seconds),
        );
        let kicks = match (redis, &config.redis) {
            (Some(link), Some(r)) => kicks::Kicks::shared(
                keep,
                link,
                format!("{}:{}:openim:kick:", r.key_prefix, config.upstream.app_key),
                metrics.openim_kick_store_errors.clone(),
            ),
            _ => kicks::Kicks::local(keep),
        };
        Ok(State {
            kicks: Arc::new(kicks),
            secret: config.load_openim_secret()?,
            config: config.openim.clone(),
            throttle: Arc::default(),
            pages: pages::Pages::default(),
            failures: metrics.admin_token_failures.clone(),
            inbound,
        })
    }

    /// This state with `old`'s memory of kicked tokens and failed logins: a
    /// reload (a new secret, new settings) must not bring a force-logged-out
    /// token back to life, nor forgive a guesser. (Paging cursors are not
    /// carried: the new config may serve another app.)
    pub fn carrying(mut self, old: &State) -> State {
        self.kicks = old.kicks.clone();
        self.throttle = old.throttle.clone();
        self
    }

    /// The OpenIM admin secret, when `[openim]` is configured.
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// Failed `/auth/get_admin_token` attempts, per caller and overall.
    pub fn throttle(&self) -> &throttle::Throttle {
        &self.throttle
    }
}

/// One OpenIM request in progress: its handle on the vendor client, the
/// request id that goes upstream, and the admin the token was issued to
/// (when tokens are on).
pub struct Ctx<'a> {
    pub vendor: Session<'a>,
    /// The face's memory of the vendor's list paging ([`pages`]).
    pub pages: &'a pages::Pages,
    pub request_id: &'a HeaderValue,
    /// The token's user (none without `[openim]`).
    pub user: Option<String>,
    /// Whether the caller has an admin's rights (an admin token, or no
    /// `[openim]`): OpenIM's `authverify.IsAdmin`.
    pub admin: bool,
    /// Which vendor API the calls go to ([`dialect`]).
    pub dialect: dialect::Dialect,
    /// The caller's member record per group, once read ([`perm`]).
    pub seen: std::sync::Mutex<HashMap<String, Option<profile::Member>>>,
}

impl Ctx<'_> {
    /// The caller's member record in `group` if this request read it
    /// (`Some(None)`: not a member).
    pub fn caller_member(&self, group: &str) -> Option<Option<profile::Member>> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(group).cloned()
    }

    /// Keeps the caller's member record in `group` for the rest of the request.
    pub fn remember_caller(&self, group: &str, m: Option<profile::Member>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(group.to_string(), m);
    }

    /// The profiles of `ids` (distinct), in that order, unknown ones left out:
    /// the vendor's profile query in batches of at most 50.
    pub async fn profiles(&self, ids: &[String]) -> Result<Vec<Profile>, Error> {
        let mut found: HashMap<String, Profile> = HashMap::new();
        for batch in ids.chunks(limit::PROFILE_QUERY_MAX) {
            let list = match self.profile_batch(batch).await {
                Ok(l) => l,
                // None of this batch exists.
                Err(Error::Upstream { code, .. }) if code == code::GROUP_NOT_FOUND => continue,
                Err(e) => return Err(e),
            };
            for p in list {
                if batch.contains(&p.group_id) && !found.contains_key(&p.group_id) {
                    found.insert(p.group_id.clone(), p);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// One group's profile; a group the vendor doesn't know is 1004.
    pub async fn profile(&self, id: &str) -> Result<Profile, Error> {
        let mut list = self.profiles(&[id.to_string()]).await?;
        list.pop().ok_or_else(|| not_found(id))
    }
}

/// OpenIM's 1004 RecordNotFoundError for a group the vendor doesn't list.
pub fn not_found(id: &str) -> Error {
    Error::Upstream {
        path: path::PROFILE_QUERY.to_string(),
        code: code::GROUP_NOT_FOUND,
        message: format!("no profile returned: group {id} does not exist"),
    }
}

/// The group and user ids a write names (its group's member lists and its
/// users' group lists are what it may change).
fn touched_ids(req: &serde_json::Map<String, Value>) -> Vec<String> {
    const SCALARS: [&str; 6] = [
        "groupID",
        "userID",
        "ownerUserID",
        "oldOwnerUserID",
        "newOwnerUserID",
        "inviterUserID",
    ];
    const LISTS: [&str; 4] = [
        "invitedUserIDs",
        "kickedUserIDs",
        "memberUserIDs",
        "adminUserIDs",
    ];
    let mut ids = Vec::new();
    let mut scalars = |o: &serde_json::Map<String, Value>| {
        for k in SCALARS {
            if let Some(v) = o.get(k).and_then(Value::as_str) {
                ids.push(v.to_string());
            }
        }
    };
    scalars(req);
    for nested in ["groupInfo", "groupInfoForSet"] {
        if let Some(o) = req.get(nested).and_then(Value::as_object) {
            scalars(o);
        }
    }
    if let Some(members) = req.get("members").and_then(Value::as_array) {
        for o in members.iter().filter_map(Value::as_object) {
            scalars(o);
        }
    }
    for k in LISTS {
        if let Some(list) = req.get(k).and_then(Value::as_array) {
            ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    ids
}

/// OpenIM's success envelope, with `data` when the call returns some.
pub fn ok(data: Option<Value>) -> Response<Body> {
    ok_noted(data, None)
}

/// The success envelope with a note in `errDlt` (something asked for that
/// the vendor could not keep, while the rest was done).
pub fn ok_noted(data: Option<Value>, note: Option<String>) -> Response<Body> {
    if data.is_none() && note.is_none() {
        // The envelope below with nothing in it, as it prints.
        return crate::error::json_bytes_response(
            StatusCode::OK,
            Bytes::from_static(br#"{"errCode":0,"errDlt":"","errMsg":""}"#),
        );
    }
    let mut body = json!({"errCode": 0, "errMsg": "", "errDlt": note.unwrap_or_default()});
    if let (Some(d), Some(m)) = (data, body.as_object_mut()) {
        m.insert("data".into(), d);
    }
    json_response(StatusCode::OK, &body)
}

/// A header's value, trimmed; `None` when absent or blank. Any bytes count
/// (OpenIM reads headers as Go strings): an `operationID` of non-ASCII
/// text is present, not missing.
fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a [u8]> {
    parts
        .headers
        .get(name)
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|v| !v.is_empty())
}

/// Serves one OpenIM request.
pub async fn handle(
    state: &State,
    vendor: Session<'_>,
    peer: Option<IpAddr>,
    parts: &Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    let Some(route) = Route::from_path(parts.uri.path()) else {
        return Err(Error::NotFound(format!(
            "{} is not served",
            crate::allowlist::printable(parts.uri.path())
        )));
    };
    if parts.method != Method::POST {
        return Err(Error::MethodNotAllowed);
    }
    if header(parts, crate::headers::OPERATION_ID).is_none() {
        return Err(Error::Args("header must have operationID".into()));
    }
    // No token needed (open-im-server `internal/api/router.go` Whitelist;
    // user_token was whitelisted before v3.8.1). Failed secret checks are
    // throttled per caller and globally.
    match route {
        Route::GetAdminToken | Route::UserToken => {
            return throttle::throttled(state, peer, &body, || token::admin_token(state, &body))
                .map(|d| ok(Some(d)));
        }
        Route::ParseToken => return token::parse_token(state, &body).await.map(|d| ok(Some(d))),
        _ => {}
    }
    let caller = token::authorize(state, &parts.headers)?;
    if let Some(c) = &caller.claims {
        state.kicks.check(c).await?;
    }
    match route {
        Route::GetUserToken => {
            return token::user_token(state, &caller, &body).map(|d| ok(Some(d)));
        }
        Route::ForceLogout => {
            return token::force_logout(state, &caller, &body)
                .await
                .map(|()| ok(None));
        }
        _ => {}
    }
    let ctx = Ctx {
        vendor,
        pages: &state.pages,
        request_id,
        user: caller.user,
        admin: caller.admin,
        dialect: state
            .config
            .as_ref()
            .map(|c| c.vendor_api)
            .unwrap_or_default(),
        seen: std::sync::Mutex::default(),
    };
    let req = json::parse(&body)?;
    if let Some(why) = route.unsupported() {
        return Err(Error::NoPermission(format!(
            "{} is not supported: {why}",
            route.path()
        )));
    }
    if route.is_write() {
        // The lists this write may change are walked afresh from now on.
        for id in touched_ids(&req) {
            state.pages.forget(&id);
        }
    }
    let data = match route {
        Route::CreateGroup => Some(group::create_group(&ctx, &req).await?),
        Route::GetGroupsInfo => Some(group::get_groups_info(&ctx, &req).await?),
        Route::GetGroups => Some(group::get_groups(&ctx, &req).await?),
        Route::GetGroupMemberList => Some(member::member_list(&ctx, &req).await?),
        Route::GetGroupMembersInfo => Some(member::members_info(&ctx, &req).await?),
        Route::GetJoinedGroupList => Some(member::joined_groups(&ctx, &req).await?),
        Route::GetGroupMemberUserId => Some(member::member_user_ids(&ctx, &req).await?),
        Route::GetFullGroupMemberUserIds => Some(member::full_member_user_ids(&ctx, &req).await?),
        Route::GetFullJoinGroupIds => Some(member::full_join_group_ids(&ctx, &req).await?),
        Route::GetGroupAbstractInfo => Some(member::abstract_info(&ctx, &req).await?),
        Route::SetGroupMemberInfo => {
            let note = member::set_member_info(&ctx, &req).await?;
            return Ok(ok_noted(None, note));
        }
        Route::SetGroupInfo => group::set_group_info(&ctx, &req, true)
            .await
            .map(|()| None)?,
        Route::SetGroupInfoEx => group::set_group_info(&ctx, &req, false)
            .await
            .map(|()| None)?,
        Route::InviteUserToGroup => member::invite(&ctx, &req).await.map(|()| None)?,
        Route::JoinGroup => member::join(&ctx, &req).await.map(|()| None)?,
        Route::KickGroup => member::kick(&ctx, &req).await.map(|()| None)?,
        Route::QuitGroup => member::quit(&ctx, &req).await.map(|()| None)?,
        Route::TransferGroup => member::transfer(&ctx, &req).await.map(|()| None)?,
        Route::DismissGroup => member::dismiss(&ctx, &req).await.map(|()| None)?,
        Route::MuteGroupMember => mute::mute_member(&ctx, &req).await.map(|()| None)?,
        Route::CancelMuteGroupMember => {
            mute::cancel_mute_member(&ctx, &req).await.map(|()| None)?
        }
        Route::MuteGroup => mute::mute_group(&ctx, &req, true).await.map(|()| None)?,
        Route::CancelMuteGroup => mute::mute_group(&ctx, &req, false).await.map(|()| None)?,
        // Answered above; listed so that a new route must be placed here.
        Route::GetAdminToken
        | Route::UserToken
        | Route::ParseToken
        | Route::GroupApplicationResponse
        | Route::GetRecvGroupApplicationList
        | Route::GetUserReqGroupApplicationList
        | Route::GetGroupUsersReqApplicationList
        | Route::GetSpecifiedUserGroupRequestInfo
        | Route::GetGroupApplicationUnhandledCount
        | Route::GetIncrementalJoinGroups
        | Route::GetIncrementalGroupMembers
        | Route::GetIncrementalGroupMembersBatch
        | Route::GetCommonGroupsWithFriend
        | Route::GetUserToken
        | Route::ForceLogout => {
            return Err(Error::Internal(format!("{} has no handler", route.path())));
        }
    };
    Ok(ok(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_envelope_is_the_map_printed() {
        use http_body_util::BodyExt;
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(ok(None).into_body().collect())
            .unwrap()
            .to_bytes();
        let want = json!({"errCode": 0, "errMsg": "", "errDlt": ""}).to_string();
        assert_eq!(body, want.as_bytes());
    }
}
