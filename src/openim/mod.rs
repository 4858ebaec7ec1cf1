//! The OpenIM face: OpenIM's group admin REST API, translated into the
//! vendor's signed entrust calls.
//!
//! Every route is `POST` with a JSON body and answers HTTP 200 with OpenIM's
//! envelope `{"errCode","errMsg","errDlt"[,"data"]}`; errors are rendered by
//! [`crate::error`]. Every route needs an `operationID` header (it becomes
//! the upstream `X-Request-ID`). When `[openim]` is configured, every route
//! but `/auth/get_admin_token` also needs a `token` header holding a token
//! from that route; without `[openim]` no token is asked for, but the
//! gateway's bearer token is when `server.auth_tokens_*` is set (see
//! [`token::authorize`]).
//!
//! - [`group`]: group info (create, set, read) and the field mapping.
//! - [`member`]: membership (invite, join, kick, quit, transfer, dismiss,
//!   member lists and member info, joined groups).
//! - [`token`]: stateless admin tokens.
//! - [`mod@json`]: strict request parsing with errors that name the field.
//! - [`errcode`]: OpenIM's codes and the vendor's codes translated.

pub mod errcode;
pub mod group;
pub mod json;
pub mod member;
pub mod token;

use std::collections::HashMap;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::entrust::profile::{self, Profile};
use crate::entrust::{code, limit, path};
use crate::error::{Body, Error, json_response};
use crate::gateway::{Call, Gateway};

pub const GET_ADMIN_TOKEN: &str = "/auth/get_admin_token";
pub const CREATE_GROUP: &str = "/group/create_group";
pub const SET_GROUP_INFO: &str = "/group/set_group_info";
pub const SET_GROUP_INFO_EX: &str = "/group/set_group_info_ex";
pub const GET_GROUPS_INFO: &str = "/group/get_groups_info";
pub const INVITE_USER_TO_GROUP: &str = "/group/invite_user_to_group";
pub const JOIN_GROUP: &str = "/group/join_group";
pub const KICK_GROUP: &str = "/group/kick_group";
pub const QUIT_GROUP: &str = "/group/quit_group";
pub const TRANSFER_GROUP: &str = "/group/transfer_group";
pub const DISMISS_GROUP: &str = "/group/dismiss_group";
pub const GET_GROUP_MEMBER_LIST: &str = "/group/get_group_member_list";
pub const GET_GROUP_MEMBERS_INFO: &str = "/group/get_group_members_info";
pub const SET_GROUP_MEMBER_INFO: &str = "/group/set_group_member_info";
pub const GET_JOINED_GROUP_LIST: &str = "/group/get_joined_group_list";

/// Routes served on this face (metric label values).
pub const ROUTES: &[&str] = &[
    GET_ADMIN_TOKEN,
    CREATE_GROUP,
    SET_GROUP_INFO,
    SET_GROUP_INFO_EX,
    GET_GROUPS_INFO,
    INVITE_USER_TO_GROUP,
    JOIN_GROUP,
    KICK_GROUP,
    QUIT_GROUP,
    TRANSFER_GROUP,
    DISMISS_GROUP,
    GET_GROUP_MEMBER_LIST,
    GET_GROUP_MEMBERS_INFO,
    SET_GROUP_MEMBER_INFO,
    GET_JOINED_GROUP_LIST,
];

/// One OpenIM request in progress: the gateway, the request id that goes
/// upstream, and the admin the token was issued to (when tokens are on).
pub struct Ctx<'a> {
    pub gw: &'a Gateway,
    pub request_id: &'a HeaderValue,
    pub user: Option<String>,
}

/// A form to send: (key, value) pairs.
pub type Form = Vec<(&'static str, String)>;

impl Ctx<'_> {
    /// Sends one entrust call and returns the body of a code-200 answer.
    /// Any other code is [`Error::Upstream`]; an answer without a JSON code is
    /// [`Error::BadUpstream`], except HTTP 401, which means the gateway's
    /// credentials are at fault.
    pub async fn call(&self, path: &'static str, form: &Form) -> Result<Bytes, Error> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| Error::Internal(format!("cannot encode the form for {path}: {e}")))?;
        let forwarded = crate::route::EntrustPath::documented(path)
            .ok_or_else(|| Error::Internal(format!("{path} is not a documented entrust path")))?;
        let reply = self
            .gw
            .call(&Call::form(forwarded, body, self.request_id))
            .await?;
        let status = profile::status(&reply.body);
        // The vendor rate-limited this path: tell the caller when to come back.
        if let Some(retry_after) = reply.retry_after {
            let (code, message) = status.unwrap_or((code::RATE_LIMITED, String::new()));
            return Err(Error::RateLimited {
                retry_after,
                detail: format!("entrust {path} answered code {code}: {message}"),
            });
        }
        match status {
            Some((code::OK, _)) => Ok(reply.body),
            Some((code, message)) => Err(Error::Upstream {
                path: path.to_string(),
                code,
                message,
            }),
            None if reply.status == StatusCode::UNAUTHORIZED => Err(Error::Upstream {
                path: path.to_string(),
                code: 401,
                message: "HTTP 401 without a JSON code".into(),
            }),
            None => Err(Error::BadUpstream(format!(
                "entrust {path} answered HTTP {} without a JSON code",
                reply.status.as_u16()
            ))),
        }
    }

    /// The profiles of `ids` (distinct), in that order, unknown ones left out:
    /// `group/profile/query.json` in batches of at most 50.
    pub async fn profiles(&self, ids: &[String]) -> Result<Vec<Profile>, Error> {
        let mut found: HashMap<String, Profile> = HashMap::new();
        for batch in ids.chunks(limit::PROFILE_QUERY_MAX) {
            let form: Form = vec![("groupIds", batch.join(","))];
            let body = match self.call(path::PROFILE_QUERY, &form).await {
                Ok(b) => b,
                // None of this batch exists.
                Err(Error::Upstream { code, .. }) if code == code::GROUP_NOT_FOUND => continue,
                Err(e) => return Err(e),
            };
            let list = profile::parse_profiles(&body)
                .map_err(|e| Error::BadUpstream(format!("entrust {}: {e}", path::PROFILE_QUERY)))?;
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

/// OpenIM's success envelope, with `data` when the call returns some.
pub fn ok(data: Option<Value>) -> Response<Body> {
    let mut body = json!({"errCode": 0, "errMsg": "", "errDlt": ""});
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
    gw: &Gateway,
    parts: &Parts,
    body: Bytes,
    request_id: &HeaderValue,
) -> Result<Response<Body>, Error> {
    let Some(route) = ROUTES.iter().copied().find(|r| *r == parts.uri.path()) else {
        return Err(Error::NotFound(format!(
            "{} is not served",
            crate::route::printable(parts.uri.path())
        )));
    };
    if parts.method != Method::POST {
        return Err(Error::MethodNotAllowed);
    }
    if header(parts, crate::headers::OPERATION_ID).is_none() {
        return Err(Error::Args("header must have operationID".into()));
    }
    if route == GET_ADMIN_TOKEN {
        return token::throttled(gw, parts, || group::get_admin_token(gw, &body))
            .map(|d| ok(Some(d)));
    }
    let user = token::authorize(gw, &parts.headers)?;
    let ctx = Ctx {
        gw,
        request_id,
        user,
    };
    let req = json::parse(&body)?;
    let data = match route {
        CREATE_GROUP => Some(group::create_group(&ctx, &req).await?),
        GET_GROUPS_INFO => Some(group::get_groups_info(&ctx, &req).await?),
        GET_GROUP_MEMBER_LIST => Some(member::member_list(&ctx, &req).await?),
        GET_GROUP_MEMBERS_INFO => Some(member::members_info(&ctx, &req).await?),
        GET_JOINED_GROUP_LIST => Some(member::joined_groups(&ctx, &req).await?),
        _ => {
            match route {
                SET_GROUP_INFO => group::set_group_info(&ctx, &req, true).await?,
                SET_GROUP_INFO_EX => group::set_group_info(&ctx, &req, false).await?,
                INVITE_USER_TO_GROUP => member::invite(&ctx, &req).await?,
                JOIN_GROUP => member::join(&ctx, &req).await?,
                KICK_GROUP => member::kick(&ctx, &req).await?,
                QUIT_GROUP => member::quit(&ctx, &req).await?,
                TRANSFER_GROUP => member::transfer(&ctx, &req).await?,
                DISMISS_GROUP => member::dismiss(&ctx, &req).await?,
                SET_GROUP_MEMBER_INFO => member::set_member_info(&ctx, &req).await?,
                _ => return Err(Error::NotFound(format!("{route} is not served"))),
            }
            None
        }
    };
    Ok(ok(data))
}
