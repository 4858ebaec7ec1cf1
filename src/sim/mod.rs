//! A simulator of the vendor's entrust (profile hosting) server API, written
//! from the vendor's docs and what its official SDKs send and read
//! (`../shared/reference/entrust-api.md`): the other side of the wire for
//! integration tests, `--demo` mode, and offline development. It answers
//! every path in [`crate::entrust::path::DOCUMENTED`], and, over the same
//! store, every path in [`crate::v4::path::DOCUMENTED`]: the vendor's v4
//! (Nexconn) group-channel API in its JSON dialect, described in the `v4`
//! submodule (`src/sim/v4/mod.rs`).
//!
//! It shares only `crate::entrust` and `crate::v4` (names, paths, codes,
//! limits) with the gateway, so that it checks the gateway instead of
//! agreeing with it.
//!
//! # Behaviour where the docs are silent
//!
//! Transport and envelope
//! - Unknown path: HTTP 404 `{"code":404,...}`. A known path with a method
//!   other than POST: HTTP 405 with code 1007 (method restricted) and
//!   `Allow: POST`. Both are checked before the signature.
//! - Every answer is `application/json; charset=utf-8` (except the
//!   `NonJson` fault); `X-Request-ID` is echoed when sent.
//! - Entrust codes (25xxx) go out with HTTP 200; the general codes use the
//!   reference's statuses (1002/1003/1005: 400, 1001/1004: 401, 1008: 429,
//!   1000: 500).
//! - Request bodies over 1 MiB: HTTP 400, code 1005.
//!
//! Signature (checked before anything about parameters)
//! - A missing or empty signing header: 401/1004. A header may come under
//!   its plain name or its `RC-` alias, independently of the others; several
//!   copies must all be equal, else 401/1004.
//! - App-Key other than the configured one: 401/1001.
//! - Accepted as the official SDKs send them: Timestamp of 10 digits
//!   (seconds) or 13 (milliseconds); Nonce of 1-64 printable ASCII
//!   characters (the docs say 18; Go sends 19 digits, Java a dotted number).
//!   Anything else, or a signature that is not the exact lowercase hex digest
//!   (uppercase is refused): 401/1004.
//! - Strict mode only ([`SimConfig::strict`], `sim --strict`), the
//!   simulator's own choice since no source documents either: a timestamp
//!   more than 5 minutes from the clock, or a nonce already used with a valid
//!   signature in the last 10 minutes: 401/1004. A refused request does not
//!   use up its nonce. Off by default: the Node SDK reuses one nonce. On v4
//!   paths strict mode also applies the v4 auth page's rules (millisecond
//!   timestamp, nonce of at most 18 characters).
//!
//! Rate limit
//! - Per path, sliding 1 s window over requests with a valid signature,
//!   checked right after it: request 101 in any second gets 429/1008 and is
//!   not counted. Requests that later fail on parameters do count.
//!
//! Form
//! - Content type `application/x-www-form-urlencoded`, any case, parameters
//!   allowed; a charset other than UTF-8: 400/1003. Other types: 400/1003.
//! - Strict decoding: a bad `%` escape or non-UTF-8 bytes: 400/1002.
//! - An empty body where parameters are required: 400/1003 ("no POST data").
//! - A scalar parameter sent twice: 400/1002. Unknown parameters are ignored.
//! - Arrays: comma-joined, repeated keys, or both mixed; empty items and
//!   repeats are dropped. group/profile/query.json also takes `groupId`.
//!
//! Parameters
//! - Missing (or empty) required parameter: 400/1002.
//! - Too long top-level values (groupId, name, owner, user ids, nickname,
//!   extra): 400/1005; too many array items on a write: 400/1005; on a query
//!   (profile/query over 50, member/specific over 100): 25422.
//! - groupId: letters, digits, `_` and `-` (the docs say "alphanumeric", the
//!   vendor's PHP example uses `RC_GROUP_1`), else 25430. User ids are only
//!   length-checked.
//! - An empty group name (top-level or `groupProfile.name`): 25423.
//! - JSON parameters: not a JSON object, an unknown key, or a value of the
//!   wrong type: 25403; a permission that is not an integer: 25408; out of
//!   range: 25403; lengths inside them: 25406; ext key without `ext_`: 25403;
//!   more than 10 ext pairs (after merging): 25406. `name` is a valid
//!   `groupProfile` key on update only. An empty parameter is ignored.
//! - `isDelBan`/`isDelWhite`/`isDelFollowed`/`isQuit` must be 0 or 1 (25403),
//!   0 when missing. `isDelBan=1` and `isDelWhite=1` remove the leaving
//!   users' mute and allowed-sender entries (kept by the v4 moderation
//!   paths); `isDelFollowed=1` forgets their follows both ways.
//! - member/set: `nickname` required (1002), <= 64; `extra` <= 128 (1005).
//! - follow/unfollow: `followUserIds` required, <= 100 (1005);
//!   remarkName 1-64 (1002 / 1005).
//! - `size` out of range: 25403; not a number: 25408. A `pageToken` that is
//!   altered or belongs to another query: 25432.
//!
//! State
//! - Business errors are all or nothing: nothing changes when any listed
//!   user fails a check.
//! - create: the owner joins first as OWNER, `userIds` as MEMBER (the owner
//!   listed again is skipped). import: the owner is the only member. A group
//!   holds at most 3000 members (25411; [`SimConfig::member_max`]) and 10 managers (25419).
//! - update: each `groupProfile`/`permissions` key sent replaces the stored
//!   one (an empty string is stored as empty); `groupExtProfile` keys are set
//!   one by one and an empty value removes the key; the name may come as
//!   `groupProfile.name` or a top-level `name` (the former wins if both).
//! - join: any user already a member: 25412; joinPerm 3: 25414. Answers
//!   the group's info (Go `JoinGroupResult`): groupId, name, owner,
//!   groupProfile/groupExtProfile/permissions as JSON text, remarkName (""),
//!   createTime, memberCount.
//! - quit / kick: the owner listed: 25417; any user not a member: 25418.
//! - kick/all: removes the user from every group they do not own.
//! - transfer: the new owner must be a member (25418); transferring to the
//!   current owner is a no-op; the old owner becomes MEMBER or leaves
//!   (`isQuit=1`).
//! - manager/add: the owner listed: 25417; non-members are skipped and
//!   returned in `userIds`; `managerCount` is the count afterwards; more
//!   than 10 managers: 25419 (doc).
//!   manager/remove: a non-member: 25418; a member who is not a manager
//!   (owner included): 25420.
//! - member/set: the nickname is replaced, `extra` only when sent;
//!   non-member: 25418.
//! - follow: the user and every followed user must be members (25418); a
//!   member follows at most 100 users per group (25419; the number is a
//!   guess). unfollow ignores users not followed. followed/get answers
//!   `{userId, groupId, members:[{userId, timestamp}]}` in follow order;
//!   the user must be a member (25418).
//! - remarkname/set: the user must be a member (25418); delete and query
//!   only need the group (25410); query answers `remarkName` ("" if none).
//!   A remark survives leaving the group (a guess).
//! - profile/query: the ids asked, each once, in the order asked; unknown
//!   ids left out. `permissions` is always present with all six keys (unset
//!   ones 0); see [`ProfileVariant`] for the shapes.
//! - Paged queries page by cursor, ordered by join (or creation) sequence;
//!   `pageToken` is `""` on the last page. group/member/query.json answers
//!   `{totalCount, pageToken, members:[{userId,nickname,role,time,extra}]}`;
//!   joined/group/query.json answers `{totalCount, pageToken,
//!   groups:[{groupId,name,remarkName,groupProfile,groupExtProfile,
//!   permissions,createTime,joinTime,role,count,owner}]}` (Go
//!   `EntrustGroupDetailInfo`; `role` filter 0-3); group/query.json answers
//!   `{pageToken, groups:[{groupId,name,groupProfile,creator,owner,time,
//!   portraitUrl}]}`, no total (Go `EntrustGroupInfo`; size up to 1000).
//!   Default order for all three: 1 (newest first). The JSON fields in these
//!   answers are JSON text, as the Go SDK's string fields expect.
//!
//! - The legacy group API's mute paths (`/group/user/gag/*.json`,
//!   `/group/ban/*.json`) share the v4 mute and freeze lists: see the
//!   `endpoints/legacy.rs` module doc for their shapes and guesses.
//!
//! Where it still guesses (no doc or SDK says): the HTTP status of entrust
//! codes; the member (3000) and follow (100) limits; which checks come
//! first; page token format; whether remark names and follows survive
//! leaving; join's `remarkName`; empty JSON fields given as `"{}"` in join,
//! joined and group queries; the order of group/query.json.
//!
//! Faults: see [`Fault`]. Faults that replace the answer touch no state,
//! rate window or nonce; faults that change delivery handle the request
//! first. `Recorded::status`/`code` are 0 for `Hang` and `Reset`, and `code`
//! is 0 for `NonJson`.

mod auth;
mod endpoints;
mod fault;
mod form;
mod handler;
mod io;
mod paging;
mod profile;
mod rate;
mod record;
mod reply;
mod server;
mod simulator;
mod standalone;
mod store;
mod v4;
mod validate;

use std::sync::{Mutex, MutexGuard};

pub use fault::{Fault, FaultRule};
pub use profile::ProfileVariant;
pub use record::Recorded;
pub use server::{MAX_REQUEST_BODY, SimServer};
pub use simulator::{REQUEST_LOG_MAX, SimConfig, Simulator};
pub use standalone::run_standalone;
pub use store::{GroupSnapshot, MANAGER_MAX, MEMBER_MAX};

/// Which of the vendor's APIs a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `/entrust/*.json`, form bodies.
    Entrust,
    /// `/v4/group-channel/*`, JSON bodies.
    V4,
}

/// Locks a mutex, carrying on with the data if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
