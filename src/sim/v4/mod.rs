//! The vendor's v4 (Nexconn) group-channel API, simulated from
//! `../shared/reference/nexconn-v4-group-api.md` (cited "§n" below) and
//! what its official SDK, `ncsdk` 0.1.2, sends and reads. It answers every
//! path in [`crate::v4::path::DOCUMENTED`]: the 21 management and 9
//! moderation endpoints, and the other spelling of the two the sources
//! spell two ways (`quit` for `leave`, `user/mute-list-get` for
//! `user/mute-list/get`, §9.1, §9.5), each of those its own path.
//!
//! # Shared with the entrust paths
//!
//! The v4 paths work on the same store as the entrust paths: a group made
//! through one is seen, changed and dismissed through the other, members,
//! roles, follows (favorites) and remark names (aliases) included, and the
//! same group rules apply (all or nothing, 3000 members, 10 admins, an
//! owner who cannot leave). This is the simulator's choice: whether the
//! real platform shares groups between its two APIs is not documented.
//! Paging tokens are not shared: each API's tokens page only its own
//! queries. The signature check, nonce cache and per-path rate limit are
//! the same ones (see the parent module).
//!
//! # Transport and envelope (§1, §3)
//! - `POST` only; another method: HTTP 405, code 1002, `Allow: POST` (no
//!   code is documented for it; the v4 code 1007 means "IP restricted").
//!   Unknown paths under `/v4/`: HTTP 404, code 404.
//! - Success: HTTP 200 `{"code":0}` on writes, `{"code":0,"result":{…}}`
//!   on reads and join. Errors: `{"code":N,"errorMessage":"…"}` with the
//!   status of [`crate::v4::code::http_status`]: 400 for parameter and
//!   group errors (25xxx) alike, 401 for the signature, 429 for the rate
//!   limit (the reference's suggestion; the pairing is undocumented).
//!   Unlike the entrust paths, group errors are not HTTP 200: the SDK
//!   raises on them.
//! - Group-rule codes are the entrust numbers (the client table of §3 lists
//!   those it has: 25409, 25410, 25411, 25417, 25418, 25423); the entrust
//!   parameter codes become 1002 (25403, 25408, 25430, a bad page token's
//!   25432) and 1005 (25406).
//!
//! # Signature (§2)
//! As on the entrust paths. `strict` (`sim --strict`) adds, on v4 paths
//! only, the v4 auth page's rules: a millisecond Timestamp (13 digits) and
//! a Nonce of at most 18 characters; and in strict mode `channelId` must be
//! letters and digits only (§6).
//!
//! # Body
//! - `Content-Type: application/json` (charset UTF-8 if given), else 1002.
//! - A JSON object, else 1002; `{}` where every field is optional (list,
//!   mute-list get, freeze-list get), an empty body never. A key repeated
//!   in any object: 1002. Nesting deeper than 128: 1002. Over 1 MiB: 1005.
//! - Unknown fields are ignored; a field sent as `null` counts as left out.
//! - Types are strict as the SDK's models: strings are JSON strings,
//!   numbers and 0/1 flags JSON integers (not `"1"`, not `true`), id lists
//!   arrays of non-empty strings (repeats dropped). Wrong type or a
//!   required field missing or empty: 1002.
//!
//! # Limits (§6, §7)
//! - `channelId` at most 64 characters (1005) of letters, digits, `_` and
//!   `-` (1002): the docs say letters and digits, yet the platform's own
//!   examples use `_` (the entrust reference), so `_` and `-` are accepted
//!   unless strict.
//! - 1005 for too many items: create `userIds` 30, join/leave/batch get
//!   `userIds` 100, profile/list `channelIds` 50, favorites `favoriteIds`
//!   100, mute-list add `userIds` 20; and for too long a value: name 64,
//!   introduction 512, announcement 1024, portraitUrl 128, ext keys 32 and
//!   values 256, nickname 64, extra 128, alias 64; more than 10 ext pairs
//!   after merging.
//! - 1002: an ext key without `ext_`, an unknown `groupProfile` or
//!   `permissions` key (the simulator's choice, as on the entrust paths),
//!   `name` in `groupProfile` on create, a permission out of its range,
//!   `pageSize` outside 1-100 (member/list, joined/list) or 1-1000 (list),
//!   `order` not 0/1, roles not 0-3, `durationMinutes` outside 0-43200.
//! - User ids are not checked beyond being non-empty strings (§7 gives no
//!   limit).
//!
//! # Paths (§7), where the docs leave the choice
//! - create: owner first as owner (3), `userIds` as members; 25409 when
//!   the id exists, 25423 for an empty name.
//! - profile/update: `groupProfile` (may carry `name`), `permissions`,
//!   `groupExtProfile` (an empty value removes the key). A top-level `name`
//!   is an unknown field, ignored (§7.2).
//! - profile/list: the ids asked, each once, in the order asked, unknown
//!   ones left out.
//! - transfer/owner: `shouldLeave` (or the \[DOC\] `shouldQuit`, §9.2;
//!   disagreeing values: 1002), default 0; the three `shouldDelete*`
//!   flags default to 1 and apply to the old owner when leaving.
//! - leave and quit: the same endpoint; both take the `shouldDelete*` and
//!   the \[DOC\] `isDel*` names (§9.1), default 1: the leaving users' mute in
//!   the group, their allowed-sender entry, their favorites both ways.
//!   The owner listed: 25417; a non-member: 25418.
//! - kickout-all: the user leaves every group they do not own.
//! - join: all or nothing (25412 for a member, 25414 when joinPerm is 3);
//!   answers the group's profile item (no `extra`, §9.4).
//! - admin/add: non-members are skipped; more than 10 admins: 25419.
//!   admin/remove: a non-member 25418, a non-admin 25420.
//! - member/list: `memberRole` filter, `totalCount` of the filter;
//!   member/batch/get: members in the order asked, non-members left out,
//!   no paging fields. member/set: `nickname` and `extra` replaced when
//!   sent (both optional in v4).
//! - alias/get: `""` when none; alias/set needs a member (25418).
//! - favorites: the owner of the list and every favorite must be members
//!   (25418); at most 100 per member (25419); list in the order added.
//! - list, joined/list, member/list: default order 1 (newest first),
//!   `pageToken` left out on the last page (§4: "only present if there
//!   are more results"); joined/list and list carry no `totalCount`.
//! - mute-list add: with `channelId` the group must exist (25410); the
//!   users need not be members (§7.M: a mute survives leaving); muting
//!   again restarts the mute; without `channelId` the mute is global, at
//!   most 100 users (1005). `durationMinutes` 0 is permanent: no
//!   `muteExpiresAt`. Times are UTC text. get (either spelling) answers
//!   the mutes in force, in mute order: the group's, or without
//!   `channelId` the global ones. remove ignores users not muted.
//! - freeze-list: add/remove need every group to exist (25410, all or
//!   nothing). get: `status` 1 frozen, 0 not (undocumented values); with
//!   `channelIds` each existing group asked, in that order; without, the
//!   frozen groups in freeze order; `page` (from 1, default 1) and
//!   `pageSize` (1-100, default 50) slice that list.
//! - allowed-sender-list: the group must exist; users need not be members;
//!   get answers `userIds` in the order added.
//! - dismiss removes the group with its lists; global mutes stay.

mod body;
mod groups;
mod members;
mod moderation;
mod render;
mod social;

use std::sync::{Mutex, MutexGuard};

use http::HeaderMap;

pub(crate) use body::Body;
use render::Fields;
pub(crate) use render::datetime_utc;

use super::reply::{ApiError, Reply};
use super::store::Store;
use crate::entrust::code as entrust_code;
use crate::v4::{code, limit, path};

/// What a v4 endpoint can see.
pub(crate) struct Ctx<'a> {
    pub store: &'a Mutex<Store>,
    pub now_ms: i64,
    /// `SimConfig::strict`: the docs' rules where the platform is laxer.
    pub strict: bool,
}

impl Ctx<'_> {
    fn store(&self) -> MutexGuard<'_, Store> {
        super::lock(self.store)
    }
}

/// An endpoint: the answer's `result`, or `None` for `{"code":0}`.
pub(crate) type Handler = fn(&Ctx<'_>, &Body) -> Result<Option<Fields>, ApiError>;

/// The endpoint for `p`, if it is a documented v4 path.
pub(crate) fn route(p: &str) -> Option<Handler> {
    let h: Handler = match p {
        path::CREATE => groups::create,
        path::PROFILE_UPDATE => groups::profile_update,
        path::PROFILE_LIST => groups::profile_list,
        path::TRANSFER_OWNER => groups::transfer_owner,
        path::DISMISS => groups::dismiss,
        path::LIST => groups::list,
        path::LEAVE | path::QUIT => members::leave,
        path::MEMBER_KICKOUT_ALL => members::kickout_all,
        path::JOIN => members::join,
        path::ADMIN_ADD => members::admin_add,
        path::ADMIN_REMOVE => members::admin_remove,
        path::MEMBER_LIST => members::member_list,
        path::MEMBER_BATCH_GET => members::member_batch_get,
        path::MEMBER_SET => members::member_set,
        path::JOINED_LIST => members::joined_list,
        path::ALIAS_SET => social::alias_set,
        path::ALIAS_DELETE => social::alias_delete,
        path::ALIAS_GET => social::alias_get,
        path::FAVORITES_ADD => social::favorites_add,
        path::FAVORITES_REMOVE => social::favorites_remove,
        path::FAVORITES_LIST => social::favorites_list,
        path::MUTE_LIST_ADD => moderation::mute_add,
        path::MUTE_LIST_REMOVE => moderation::mute_remove,
        path::MUTE_LIST_GET | path::MUTE_LIST_GET_DASHED => moderation::mute_get,
        path::FREEZE_LIST_ADD => moderation::freeze_add,
        path::FREEZE_LIST_REMOVE => moderation::freeze_remove,
        path::FREEZE_LIST_GET => moderation::freeze_get,
        path::ALLOWED_SENDER_LIST_ADD => moderation::allowed_add,
        path::ALLOWED_SENDER_LIST_REMOVE => moderation::allowed_remove,
        path::ALLOWED_SENDER_LIST_GET => moderation::allowed_get,
        _ => return None,
    };
    Some(h)
}

/// The body's checks, the endpoint, and the v4 envelope; errors in v4's
/// codes and statuses.
pub(crate) fn serve(
    endpoint: Handler,
    ctx: &Ctx<'_>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let run = || {
        body::check_content_type(headers)?;
        let b = Body::parse(bytes)?;
        endpoint(ctx, &b)
    };
    run().map(Reply::v4_ok).map_err(to_v4)
}

/// An error in v4's terms: the entrust parameter codes the shared checks
/// and store give become 1002 or 1005; the HTTP status is v4's.
pub(crate) fn to_v4(mut e: ApiError) -> ApiError {
    e.code = match e.code {
        entrust_code::ENTRUST_PARAM_ERROR
        | entrust_code::NOT_A_NUMBER
        | entrust_code::INVALID_GROUP_ID
        | entrust_code::BAD_PAGE_TOKEN
        | entrust_code::NO_POST_DATA => code::PARAM_ERROR,
        entrust_code::LENGTH_EXCEEDED => code::PARAM_TOO_LONG,
        c => c,
    };
    e.status = code::http_status(e.code);
    e
}

/// A `channelId` (or an item of `channelIds`): at most 64 characters
/// (1005) of letters and digits (§6), plus `_` and `-` unless strict (1002).
fn channel_id(ctx: &Ctx<'_>, key: &str, v: &str) -> Result<(), ApiError> {
    if v.chars().count() > limit::CHANNEL_ID_MAX {
        return Err(body::too_long(format!(
            "{key} longer than {} characters",
            limit::CHANNEL_ID_MAX
        )));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || (!ctx.strict && (b == b'_' || b == b'-'));
    if !v.bytes().all(allowed) {
        return Err(body::param(if ctx.strict {
            format!("{key} may only hold letters and digits")
        } else {
            format!("{key} may only hold letters, digits, _ and -")
        }));
    }
    Ok(())
}

/// The required `channelId`, checked.
fn required_channel<'a>(ctx: &Ctx<'_>, b: &'a Body) -> Result<&'a str, ApiError> {
    let id = b.str_req(crate::v4::field::CHANNEL_ID)?;
    channel_id(ctx, crate::v4::field::CHANNEL_ID, id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::validate::PERMISSIONS;
    use crate::{entrust, v4};

    #[test]
    fn every_documented_path_is_served() {
        for p in v4::path::DOCUMENTED {
            assert!(route(p).is_some(), "{p}");
        }
        assert!(route(v4::path::MESSAGE_SEND).is_none());
        assert!(route(entrust::path::GROUP_CREATE).is_none());
    }

    /// The checks shared with the entrust paths use entrust's numbers; v4
    /// documents the same ones (§6, §7).
    #[test]
    fn shared_limits_agree() {
        use entrust::limit as e;
        use v4::limit as l;
        assert_eq!(
            [
                e::NAME_MAX,
                e::INTRODUCTION_MAX,
                e::ANNOUNCEMENT_MAX,
                e::PORTRAIT_URL_MAX,
                e::EXT_KEY_MAX,
                e::EXT_VALUE_MAX,
                e::EXT_PAIRS_MAX,
                e::MANAGERS_MAX,
                e::FOLLOW_USERS_MAX,
                e::GROUP_ID_MAX,
            ],
            [
                l::NAME_MAX,
                l::INTRODUCTION_MAX,
                l::ANNOUNCEMENT_MAX,
                l::PORTRAIT_URL_MAX,
                l::EXT_KEY_MAX,
                l::EXT_VALUE_MAX,
                l::EXT_PAIRS_MAX,
                l::ADMINS_MAX,
                l::FAVORITES_PER_CALL_MAX,
                l::CHANNEL_ID_MAX,
            ]
        );
        assert_eq!(e::EXT_KEY_PREFIX, l::EXT_KEY_PREFIX);
        assert_eq!(PERMISSIONS, v4::field::PERMISSION_KEYS);
        assert_eq!(crate::sim::MEMBER_MAX, l::MEMBERS_MAX);
        assert_eq!(crate::sim::reply::JSON, v4::media::RESPONSE);
    }

    #[test]
    fn entrust_codes_become_v4() {
        let e = to_v4(ApiError::new(25403, "x"));
        assert_eq!((e.code, e.status), (1002, 400));
        let e = to_v4(ApiError::new(25406, "x"));
        assert_eq!((e.code, e.status), (1005, 400));
        let e = to_v4(ApiError::new(25410, "x"));
        assert_eq!((e.code, e.status), (25410, 400), "§3: 400 for 25xxx");
    }

    #[test]
    fn channel_ids() {
        let store = Mutex::default();
        let lax = Ctx {
            store: &store,
            now_ms: 0,
            strict: false,
        };
        let strict = Ctx {
            store: &store,
            now_ms: 0,
            strict: true,
        };
        let c =
            |ctx: &Ctx<'_>, v: &str| channel_id(ctx, "channelId", v).err().map_or(0, |e| e.code);
        assert_eq!(c(&strict, &"a1".repeat(32)), 0);
        assert_eq!(c(&strict, &"a".repeat(65)), 1005);
        assert_eq!(c(&lax, "RC_GROUP-1"), 0);
        assert_eq!(c(&strict, "RC_GROUP-1"), 1002);
        for bad in ["a.b", "a b", "grüppe"] {
            assert_eq!(c(&lax, bad), 1002, "{bad}");
        }
    }
}
