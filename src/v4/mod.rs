//! The vendor's current server API, v4 (Nexconn), for group channels, as
//! `../shared/reference/nexconn-v4-group-api.md` ("the reference") gives
//! it: header names, paths, per-path rates, codes and HTTP statuses, wire
//! field names and limits. Both the gateway and the simulator use these
//! constants; nothing else is shared between them, so the simulator checks
//! the gateway's behaviour instead of repeating its logic.
//!
//! Every item cites the reference's section. The reference tags what it
//! read (\[PY\] the Python SDK `ncsdk` 0.1.2, \[YAML\] the OpenAPI file, \[DOC\]
//! the vendor's pages, \[RC\] the legacy pages) and what it inferred \[INF\];
//! items that rest on an inference say so. Where the vendor's own sources
//! disagree (§9), both variants are here, each marked with the source that
//! uses it; the one the SDK sends is primary.

/// Signature and tracing headers (§2). The same names, aliases and
/// algorithm as the entrust API: `Signature` = lowercase hex
/// `SHA1(AppSecret + Nonce + Timestamp)`, the body not signed. Only the
/// timestamp's unit ([`limit::TIMESTAMP_MS_DIGITS`]) and the nonce's length
/// ([`limit::NONCE_MAX`]) are stated more tightly on the v4 auth page.
pub mod header {
    pub use crate::entrust::header::{
        APP_KEY, NONCE, RC_APP_KEY, RC_NONCE, RC_SIGNATURE, RC_TIMESTAMP, REQUEST_ID, SIGNATURE,
        SIGNING, TIMESTAMP,
    };
}

/// Endpoint paths: all `POST` with a JSON body, required even when it holds
/// one id (§1; \[YAML\] `requestBody.required: true`).
pub mod path {
    /// Every v4 path starts so (§0, §5).
    pub const PREFIX: &str = "/v4/";
    /// Every group-channel path starts so (§5).
    pub const GROUP_CHANNEL_PREFIX: &str = "/v4/group-channel/";

    // Group-channel management: the 21 paths of §5 rows 1-21 ([YAML]
    // operationIds in the trailing comments), plus the [DOC] spelling of
    // row 5.

    /// §5 row 1, §7.1 (createGroupChannel).
    pub const CREATE: &str = "/v4/group-channel/create";
    /// §5 row 2, §7.2 (updateGroupChannelProfile).
    pub const PROFILE_UPDATE: &str = "/v4/group-channel/profile/update";
    /// §5 row 3, §7.3 (batchGetGroupChannelProfiles).
    pub const PROFILE_LIST: &str = "/v4/group-channel/profile/list";
    /// §5 row 4, §7.4 (transferGroupChannelOwner).
    pub const TRANSFER_OWNER: &str = "/v4/group-channel/transfer/owner";
    /// §5 row 5, §7.5 (quitGroupChannel): the spelling the SDK sends
    /// (\[PY\], \[YAML\]); removes users, covering legacy quit and kick.
    pub const LEAVE: &str = "/v4/group-channel/leave";
    /// §7.5, §9.1: the \[DOC\] page's spelling of [`LEAVE`] (with the
    /// `isDel*` field names). The SDK never sends it.
    pub const QUIT: &str = "/v4/group-channel/quit";
    /// §5 row 6, §7.6 (kickUserFromAllGroupChannels).
    pub const MEMBER_KICKOUT_ALL: &str = "/v4/group-channel/member/kickout-all";
    /// §5 row 7, §7.7 (dismissGroupChannel).
    pub const DISMISS: &str = "/v4/group-channel/dismiss";
    /// §5 row 8, §7.8 (joinGroupChannel).
    pub const JOIN: &str = "/v4/group-channel/join";
    /// §5 row 9, §7.9 (addGroupChannelAdmins).
    pub const ADMIN_ADD: &str = "/v4/group-channel/admin/add";
    /// §5 row 10, §7.10 (removeGroupChannelAdmins).
    pub const ADMIN_REMOVE: &str = "/v4/group-channel/admin/remove";
    /// §5 row 11, §7.11 (listGroupChannelMembers).
    pub const MEMBER_LIST: &str = "/v4/group-channel/member/list";
    /// §5 row 12, §7.12 (batchGetGroupChannelMembers).
    pub const MEMBER_BATCH_GET: &str = "/v4/group-channel/member/batch/get";
    /// §5 row 13, §7.13 (setGroupChannelMember).
    pub const MEMBER_SET: &str = "/v4/group-channel/member/set";
    /// §5 row 14, §7.14 (setGroupChannelAlias).
    pub const ALIAS_SET: &str = "/v4/group-channel/alias/set";
    /// §5 row 15, §7.15 (deleteGroupChannelAlias).
    pub const ALIAS_DELETE: &str = "/v4/group-channel/alias/delete";
    /// §5 row 16, §7.16 (getGroupChannelAlias).
    pub const ALIAS_GET: &str = "/v4/group-channel/alias/get";
    /// §5 row 17, §7.17 (addGroupChannelMemberFavorites).
    pub const FAVORITES_ADD: &str = "/v4/group-channel/member/favorites/add";
    /// §5 row 18, §7.18 (removeGroupChannelMemberFavorites).
    pub const FAVORITES_REMOVE: &str = "/v4/group-channel/member/favorites/remove";
    /// §5 row 19, §7.19 (listGroupChannelMemberFavorites).
    pub const FAVORITES_LIST: &str = "/v4/group-channel/member/favorites/list";
    /// §5 row 20, §7.20 (listGroupChannels).
    pub const LIST: &str = "/v4/group-channel/list";
    /// §5 row 21, §7.21 (listUserJoinedGroupChannels).
    pub const JOINED_LIST: &str = "/v4/group-channel/joined/list";

    // Group-channel moderation: §5 rows M1-M9, §7.M, plus the [YAML]
    // endpoint list's spelling of M3.

    /// §5 M1 (addGroupChannelUserMuteList).
    pub const MUTE_LIST_ADD: &str = "/v4/group-channel/user/mute-list/add";
    /// §5 M2 (removeGroupChannelUserMuteList).
    pub const MUTE_LIST_REMOVE: &str = "/v4/group-channel/user/mute-list/remove";
    /// §5 M3 (getGroupChannelUserMuteList): the spelling the SDK sends
    /// (\[PY\] `resource_path`).
    pub const MUTE_LIST_GET: &str = "/v4/group-channel/user/mute-list/get";
    /// §5 M3, §9.5: the spelling of [`MUTE_LIST_GET`] in the \[YAML\]'s
    /// published endpoint list. The SDK never sends it.
    pub const MUTE_LIST_GET_DASHED: &str = "/v4/group-channel/user/mute-list-get";
    /// §5 M4 (addGroupChannelFreezeList).
    pub const FREEZE_LIST_ADD: &str = "/v4/group-channel/freeze-list/add";
    /// §5 M5 (removeGroupChannelFreezeList).
    pub const FREEZE_LIST_REMOVE: &str = "/v4/group-channel/freeze-list/remove";
    /// §5 M6 (getGroupChannelFreezeList).
    pub const FREEZE_LIST_GET: &str = "/v4/group-channel/freeze-list/get";
    /// §5 M7 (addGroupChannelAllowedSenderList).
    pub const ALLOWED_SENDER_LIST_ADD: &str = "/v4/group-channel/allowed-sender-list/add";
    /// §5 M8 (removeGroupChannelAllowedSenderList).
    pub const ALLOWED_SENDER_LIST_REMOVE: &str = "/v4/group-channel/allowed-sender-list/remove";
    /// §5 M9 (getGroupChannelAllowedSenderList).
    pub const ALLOWED_SENDER_LIST_GET: &str = "/v4/group-channel/allowed-sender-list/get";

    // Outside the documented group paths (§5 X1-X4, A1-A2): listed for the
    // rate exceptions of `rate_per_second`, not in `DOCUMENTED`.

    /// §5 X1, §7.X: 20/s, counted per target group (\[PY\]).
    pub const MESSAGE_SEND: &str = "/v4/group-channel/message/send";
    /// §5 X2, §7.X: 100/s (\[PY\]).
    pub const MESSAGE_STREAM_SEND: &str = "/v4/group-channel/message/stream/send";
    /// §5 X3, §7.X: rate not stated (\[PY\]).
    pub const MESSAGE_UPDATE: &str = "/v4/group-channel/message/update";
    /// §5 X4, §7.X: 10/s, window of at most 14 days (\[PY\]).
    pub const HISTORY_MESSAGE_LIST: &str = "/v4/group-channel/history-message/list";
    /// §5 A1, §7.A: 200/s (\[YAML\]).
    pub const ACCESS_TOKEN_ISSUE: &str = "/v4/auth/access-token/issue";
    /// §5 A2, §7.A: 100/s.
    pub const ACCESS_TOKEN_EXPIRE: &str = "/v4/auth/access-token/expire";

    /// The group-channel management paths: §5's 21 rows, and [`QUIT`].
    pub const MANAGEMENT: [&str; 22] = [
        CREATE,
        PROFILE_UPDATE,
        PROFILE_LIST,
        TRANSFER_OWNER,
        LEAVE,
        QUIT,
        MEMBER_KICKOUT_ALL,
        DISMISS,
        JOIN,
        ADMIN_ADD,
        ADMIN_REMOVE,
        MEMBER_LIST,
        MEMBER_BATCH_GET,
        MEMBER_SET,
        ALIAS_SET,
        ALIAS_DELETE,
        ALIAS_GET,
        FAVORITES_ADD,
        FAVORITES_REMOVE,
        FAVORITES_LIST,
        LIST,
        JOINED_LIST,
    ];

    /// The group-channel moderation paths: §5's 9 rows M1-M9, and
    /// [`MUTE_LIST_GET_DASHED`].
    pub const MODERATION: [&str; 10] = [
        MUTE_LIST_ADD,
        MUTE_LIST_REMOVE,
        MUTE_LIST_GET,
        MUTE_LIST_GET_DASHED,
        FREEZE_LIST_ADD,
        FREEZE_LIST_REMOVE,
        FREEZE_LIST_GET,
        ALLOWED_SENDER_LIST_ADD,
        ALLOWED_SENDER_LIST_REMOVE,
        ALLOWED_SENDER_LIST_GET,
    ];

    /// Every documented v4 group path, both spellings where the sources
    /// disagree (§9.1, §9.5): 30 endpoints, 32 paths.
    pub const ALL: [&str; 32] = [
        CREATE,
        PROFILE_UPDATE,
        PROFILE_LIST,
        TRANSFER_OWNER,
        LEAVE,
        QUIT,
        MEMBER_KICKOUT_ALL,
        DISMISS,
        JOIN,
        ADMIN_ADD,
        ADMIN_REMOVE,
        MEMBER_LIST,
        MEMBER_BATCH_GET,
        MEMBER_SET,
        ALIAS_SET,
        ALIAS_DELETE,
        ALIAS_GET,
        FAVORITES_ADD,
        FAVORITES_REMOVE,
        FAVORITES_LIST,
        LIST,
        JOINED_LIST,
        MUTE_LIST_ADD,
        MUTE_LIST_REMOVE,
        MUTE_LIST_GET,
        MUTE_LIST_GET_DASHED,
        FREEZE_LIST_ADD,
        FREEZE_LIST_REMOVE,
        FREEZE_LIST_GET,
        ALLOWED_SENDER_LIST_ADD,
        ALLOWED_SENDER_LIST_REMOVE,
        ALLOWED_SENDER_LIST_GET,
    ];

    /// The documented paths as a slice: the paths the gateway may forward
    /// and the simulator answers.
    pub const DOCUMENTED: &[&str] = &ALL;

    /// Spelling variants (§9.1, §9.5): (the variant, the path the SDK sends).
    pub const SPELLINGS: [(&str, &str); 2] = [(QUIT, LEAVE), (MUTE_LIST_GET_DASHED, MUTE_LIST_GET)];

    /// The spelling the SDK sends for `path`: `path` itself unless it is a
    /// variant of [`SPELLINGS`].
    pub fn sdk_spelling(path: &str) -> &str {
        SPELLINGS
            .iter()
            .find(|(variant, _)| *variant == path)
            .map_or(path, |(_, sdk)| sdk)
    }

    /// The paths that only read (§5 `R` rows that change nothing), so that a
    /// request that may have reached the server can be sent again safely.
    /// `join` answers a result but writes.
    pub const READ_ONLY: [&str; 11] = [
        PROFILE_LIST,
        MEMBER_LIST,
        MEMBER_BATCH_GET,
        ALIAS_GET,
        FAVORITES_LIST,
        LIST,
        JOINED_LIST,
        MUTE_LIST_GET,
        MUTE_LIST_GET_DASHED,
        FREEZE_LIST_GET,
        ALLOWED_SENDER_LIST_GET,
    ];

    pub fn is_read_only(path: &str) -> bool {
        READ_ONLY.contains(&path)
    }

    /// Paths whose every field is optional (§7.20 `list`, §7.M
    /// `mute-list/get` and `freeze-list/get`): `{}` is a whole request.
    pub const ALL_OPTIONAL: [&str; 4] =
        [LIST, MUTE_LIST_GET, MUTE_LIST_GET_DASHED, FREEZE_LIST_GET];

    /// The documented rate of `path`, per second, per app (§5, §9.7): 100
    /// for every group path; the exceptions are outside them
    /// ([`ACCESS_TOKEN_ISSUE`] 200, [`MESSAGE_SEND`] 20 counted per target
    /// group, [`HISTORY_MESSAGE_LIST`] 10). Unknown paths get the default.
    pub fn rate_per_second(path: &str) -> u32 {
        match path {
            ACCESS_TOKEN_ISSUE => super::limit::ACCESS_TOKEN_ISSUE_RATE,
            MESSAGE_SEND => super::limit::MESSAGE_SEND_RATE_PER_GROUP,
            HISTORY_MESSAGE_LIST => super::limit::HISTORY_MESSAGE_RATE,
            _ => super::limit::RATE_PER_SECOND,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn thirty_endpoints_thirty_two_paths() {
            let mut unique = DOCUMENTED.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 32);
            assert_eq!(MANAGEMENT.len() + MODERATION.len(), ALL.len());
            assert!(
                MANAGEMENT
                    .iter()
                    .chain(&MODERATION)
                    .all(|p| ALL.contains(p))
            );
            let sdk: Vec<&str> = DOCUMENTED
                .iter()
                .map(|p| sdk_spelling(p))
                .filter(|p| !SPELLINGS.iter().any(|(v, _)| v == p))
                .collect();
            let mut sdk_unique = sdk.clone();
            sdk_unique.dedup();
            assert_eq!(sdk_unique.len(), 30, "21 management + 9 moderation");
            assert!(
                DOCUMENTED
                    .iter()
                    .all(|p| p.starts_with(GROUP_CHANNEL_PREFIX))
            );
            assert_eq!(sdk_spelling(QUIT), LEAVE);
            assert_eq!(sdk_spelling(MUTE_LIST_GET_DASHED), MUTE_LIST_GET);
            assert_eq!(sdk_spelling(CREATE), CREATE);
        }

        #[test]
        fn reads_and_rates() {
            assert!(READ_ONLY.iter().all(|p| DOCUMENTED.contains(p)));
            assert!(!is_read_only(JOIN), "join answers a result but writes");
            assert!(is_read_only(MUTE_LIST_GET_DASHED));
            assert!(DOCUMENTED.iter().all(|p| rate_per_second(p) == 100));
            assert_eq!(rate_per_second(ACCESS_TOKEN_ISSUE), 200);
            assert_eq!(rate_per_second(MESSAGE_SEND), 20);
            assert_eq!(rate_per_second(HISTORY_MESSAGE_LIST), 10);
            assert!(ALL_OPTIONAL.iter().all(|p| is_read_only(p)));
        }
    }
}

/// The `code` values of answers (§3). Success is 0, not the entrust 200.
pub mod code {
    /// §3: "`0` indicates success" (\[PY\] `CodeOnlyResponse`).
    pub const OK: i64 = 0;

    // The general codes ([DOC] code page, §3).
    /// §3: "User ID does not exist".
    pub const USER_NOT_FOUND: i64 = 400;
    /// §3: "Endpoint not found".
    pub const NOT_FOUND: i64 = 404;
    /// §3: "Invalid request / internal logic error".
    pub const INTERNAL_ERROR: i64 = 1000;
    /// §3: "Incorrect App Secret" (an unknown App-Key too).
    pub const APP_SECRET_MISMATCH: i64 = 1001;
    /// §3: "Invalid parameter".
    pub const PARAM_ERROR: i64 = 1002;
    /// §3: "Open channel ID empty / `minute` invalid" (not the entrust
    /// "no POST data").
    pub const OPEN_CHANNEL_PARAM: i64 = 1003;
    /// §3, §2: "Signature verification failed".
    pub const SIGNATURE_ERROR: i64 = 1004;
    /// §3: "Parameter too long".
    pub const PARAM_TOO_LONG: i64 = 1005;
    /// §3: "App offline".
    pub const APP_OFFLINE: i64 = 1006;
    /// §3: "IP restricted" (the entrust list calls 1007 "method restricted").
    pub const IP_RESTRICTED: i64 = 1007;
    /// §3, §9.7: "API rate limit exceeded".
    pub const RATE_LIMITED: i64 = 1008;
    /// §3: "Service not enabled".
    pub const SERVICE_NOT_ENABLED: i64 = 1009;
    /// §3: "Allowlist feature off".
    pub const ALLOWLIST_OFF: i64 = 1010;
    /// §3: "Blocklist feature off".
    pub const BLOCKLIST_OFF: i64 = 1011;
    /// §3: "Data to delete does not exist".
    pub const NOTHING_TO_DELETE: i64 = 1015;
    /// §3: "Keep-alive open-channel limit".
    pub const KEEP_ALIVE_LIMIT: i64 = 1016;
    /// §3: "RTC not enabled".
    pub const RTC_NOT_ENABLED: i64 = 1018;
    /// §3: "Internal timeout".
    pub const INTERNAL_TIMEOUT: i64 = 1050;
    /// §3: "Registered-user count …" (the page was cut there).
    pub const REGISTERED_USER_COUNT: i64 = 2007;

    // Group-domain codes: documented in the client UI table only (§3); that
    // the v4 server answers the same numbers is [INF].
    /// §3: "Not in group" (client table).
    pub const NOT_IN_GROUP_CLIENT: i64 = 22406;
    /// §3: "Muted in group".
    pub const MUTED_IN_GROUP: i64 = 22408;
    /// §3: "No permission".
    pub const NO_PERMISSION: i64 = 25405;
    /// §3, §7.1: "Group ID already exists".
    pub const GROUP_EXISTS: i64 = 25409;
    /// §3: "Group ID does not exist".
    pub const GROUP_NOT_FOUND: i64 = 25410;
    /// §3: "Member limit exceeded".
    pub const MEMBER_LIMIT: i64 = 25411;
    /// §3, §7.5: "Owner cannot leave or be kicked".
    pub const OWNER_OPERATION: i64 = 25417;
    /// §3: "User not in group".
    pub const NOT_IN_GROUP: i64 = 25418;
    /// §3, §7.1: "Group name empty".
    pub const EMPTY_NAME: i64 = 25423;

    /// The HTTP status that goes with a code. §3's HTTP table gives the
    /// statuses and their meanings; which code goes with which is not
    /// documented, so this is the reference's suggestion \[INF\]: 400 for
    /// 1002/1005 and the group codes, 401 for 1004, 429 for 1008, 430 for
    /// 1009; and by the table's meanings, 401 for 1001, 403 for the
    /// "rejected" codes (1006, 1007, 1010, 1011), 404 for 404, 500 for
    /// 1000, 504 for 1050. Any other non-zero code: 400.
    pub const fn http_status(c: i64) -> u16 {
        match c {
            OK => super::http::OK,
            NOT_FOUND => super::http::NOT_FOUND,
            APP_SECRET_MISMATCH | SIGNATURE_ERROR => super::http::UNAUTHORIZED,
            APP_OFFLINE | IP_RESTRICTED | ALLOWLIST_OFF | BLOCKLIST_OFF => super::http::FORBIDDEN,
            RATE_LIMITED => super::http::TOO_MANY_REQUESTS,
            SERVICE_NOT_ENABLED => super::http::SERVICE_NOT_ENABLED,
            INTERNAL_ERROR => super::http::INTERNAL_ERROR,
            INTERNAL_TIMEOUT => super::http::GATEWAY_TIMEOUT,
            _ => super::http::BAD_REQUEST,
        }
    }

    /// Codes that say "not done, try again" (§3: 1000 internal error, 1008
    /// rate limit, 1050 internal timeout): an answer with one is not the
    /// vendor's final word on a write.
    pub const fn is_transient(c: i64) -> bool {
        matches!(c, RATE_LIMITED | INTERNAL_ERROR | INTERNAL_TIMEOUT)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn statuses() {
            assert_eq!(http_status(OK), 200);
            assert_eq!(http_status(PARAM_ERROR), 400);
            assert_eq!(http_status(PARAM_TOO_LONG), 400);
            assert_eq!(http_status(GROUP_NOT_FOUND), 400);
            assert_eq!(http_status(SIGNATURE_ERROR), 401);
            assert_eq!(http_status(RATE_LIMITED), 429);
            assert_eq!(http_status(SERVICE_NOT_ENABLED), 430);
            assert_eq!(http_status(NOT_FOUND), 404);
            assert!(is_transient(RATE_LIMITED) && !is_transient(PARAM_ERROR));
        }
    }
}

/// The HTTP statuses of the \[DOC\] code page (§3).
pub mod http {
    pub const OK: u16 = 200;
    /// "Bad request (see error message)".
    pub const BAD_REQUEST: u16 = 400;
    /// "Authentication failed".
    pub const UNAUTHORIZED: u16 = 401;
    /// "Rejected".
    pub const FORBIDDEN: u16 = 403;
    /// "Endpoint does not exist".
    pub const NOT_FOUND: u16 = 404;
    /// "Method not allowed".
    pub const METHOD_NOT_ALLOWED: u16 = 405;
    /// "Rate limit exceeded".
    pub const TOO_MANY_REQUESTS: u16 = 429;
    /// "Service not enabled".
    pub const SERVICE_NOT_ENABLED: u16 = 430;
    /// "Internal error".
    pub const INTERNAL_ERROR: u16 = 500;
    /// "Gateway timeout, retry".
    pub const GATEWAY_TIMEOUT: u16 = 504;
}

/// The media type of requests and answers (§1).
pub mod media {
    /// Requests (\[PY\] `_serialize`, \[DOC\]).
    pub const REQUEST: &str = "application/json";
    /// Answers (\[DOC\], \[PM\] examples).
    pub const RESPONSE: &str = "application/json; charset=utf-8";
}

/// Wire names of fields (the \[PY\] pydantic aliases, §7), and the variants
/// the \[DOC\] pages use where they disagree (§9).
pub mod field {
    // The envelope (§3).
    pub const CODE: &str = "code";
    /// Holds the payload of every read path (§3).
    pub const RESULT: &str = "result";
    /// Errors: `{"code":N,"errorMessage":"…"}` (\[PY\] `ApiException`); there
    /// is no `msg` (§3).
    pub const ERROR_MESSAGE: &str = "errorMessage";

    // Requests (§7).
    /// Legacy `groupId` (§8).
    pub const CHANNEL_ID: &str = "channelId";
    /// Legacy `groupIds` (§7.3, §7.M freeze list).
    pub const CHANNEL_IDS: &str = "channelIds";
    pub const NAME: &str = "name";
    pub const OWNER: &str = "owner";
    pub const USER_ID: &str = "userId";
    pub const USER_IDS: &str = "userIds";
    pub const GROUP_PROFILE: &str = "groupProfile";
    pub const PERMISSIONS: &str = "permissions";
    pub const GROUP_EXT_PROFILE: &str = "groupExtProfile";
    /// §7.4.
    pub const NEW_OWNER: &str = "newOwner";
    /// §7.4, legacy `isQuit`.
    pub const SHOULD_LEAVE: &str = "shouldLeave";
    /// §7.4, §9.2: the \[DOC\] text and example's name for [`SHOULD_LEAVE`].
    pub const SHOULD_QUIT: &str = "shouldQuit";
    /// §7.4, §7.5, legacy `isDelBan`.
    pub const SHOULD_DELETE_MUTE: &str = "shouldDeleteMute";
    /// §7.4, §7.5, legacy `isDelWhite`.
    pub const SHOULD_DELETE_ALLOWED_SENDERS_LIST: &str = "shouldDeleteAllowedSendersList";
    /// §7.4, §7.5, legacy `isDelFollowed`.
    pub const SHOULD_DELETE_FAVORITES: &str = "shouldDeleteFavorites";
    /// §7.5, §9.1: the \[DOC\] `quit` page's names of the three above.
    pub const IS_DEL_BAN: &str = "isDelBan";
    pub const IS_DEL_WHITE: &str = "isDelWhite";
    pub const IS_DEL_FOLLOWED: &str = "isDelFollowed";
    /// (v4 name, \[DOC\] `quit` name) of each cleanup flag on `leave` (§7.5).
    pub const LEAVE_FLAGS: [(&str, &str); 3] = [
        (SHOULD_DELETE_MUTE, IS_DEL_BAN),
        (SHOULD_DELETE_ALLOWED_SENDERS_LIST, IS_DEL_WHITE),
        (SHOULD_DELETE_FAVORITES, IS_DEL_FOLLOWED),
    ];
    /// §7.11, legacy `type`.
    pub const MEMBER_ROLE: &str = "memberRole";
    /// §7.21 filter, and the role in joined-list items.
    pub const ROLE: &str = "role";
    /// §4: opaque; omitted on the first page.
    pub const PAGE_TOKEN: &str = "pageToken";
    /// §4, legacy `size`.
    pub const PAGE_SIZE: &str = "pageSize";
    /// §4: 0 ascending, 1 descending.
    pub const ORDER: &str = "order";
    /// §4, §7.M: the freeze list's page number.
    pub const PAGE: &str = "page";
    /// §7.13.
    pub const NICKNAME: &str = "nickname";
    pub const EXTRA: &str = "extra";
    /// §7.14, legacy `remarkName`.
    pub const ALIAS: &str = "alias";
    /// §7.17, legacy `followUserIds`.
    pub const FAVORITE_IDS: &str = "favoriteIds";
    /// §7.M, legacy `minute`.
    pub const DURATION_MINUTES: &str = "durationMinutes";

    // Answers (§7, [PY] models).
    pub const PROFILES: &str = "profiles";
    pub const MEMBERS: &str = "members";
    pub const GROUPS: &str = "groups";
    /// §7.11; absent from `joined/list` and `list` (§4).
    pub const TOTAL_COUNT: &str = "totalCount";
    /// Integer Unix ms (§6), legacy `time` / `createTime`.
    pub const CREATED_AT: &str = "createdAt";
    /// Integer Unix ms (§6), legacy `time` on members, `joinTime` on groups.
    pub const JOINED_AT: &str = "joinedAt";
    pub const MEMBER_COUNT: &str = "memberCount";
    /// §7.20.
    pub const CREATOR: &str = "creator";
    /// §7.20, §9.3: the \[DOC\] name of `groupProfile` in `list` items, as a
    /// JSON string.
    pub const PROFILE_TEXT: &str = "profile";
    /// §7.19, legacy `followedMembers`.
    pub const FAVORITES: &str = "favorites";
    /// Integer Unix ms (§7.19), legacy `timestamp`.
    pub const FAVORITED_AT: &str = "favoritedAt";
    /// §7.M, legacy `users`.
    pub const MUTED_MEMBERS: &str = "mutedMembers";
    /// `YYYY-MM-DD HH:MM:SS` text, not ms (§6, §7.M), legacy `startTime`.
    pub const MUTED_AT: &str = "mutedAt";
    /// `YYYY-MM-DD HH:MM:SS` text (§6, §7.M), legacy `time`.
    pub const MUTE_EXPIRES_AT: &str = "muteExpiresAt";
    /// §7.M.
    pub const FREEZE_STATUSES: &str = "freezeStatuses";
    /// §7.M: an integer whose values are not documented.
    pub const STATUS: &str = "status";

    /// Keys of `groupProfile` (§6).
    pub const INTRODUCTION: &str = "introduction";
    pub const ANNOUNCEMENT: &str = "announcement";
    pub const PORTRAIT_URL: &str = "portraitUrl";

    /// The `permissions` keys (§6) with their largest value (all start at
    /// 0, the default). The \[DOC\] table was cut after these six, so more may
    /// exist.
    pub const PERMISSION_KEYS: [(&str, i64); 6] = [
        ("joinPerm", 3),
        ("removePerm", 2),
        ("memInvitePerm", 2),
        ("invitePerm", 1),
        ("profilePerm", 2),
        ("memProfilePerm", 2),
    ];
}

/// Member roles (§6): in member items, and as filters where 0 means all.
pub mod role {
    pub const ALL: i64 = 0;
    pub const MEMBER: i64 = 1;
    pub const ADMIN: i64 = 2;
    pub const OWNER: i64 = 3;
}

/// Documented limits. Lengths count characters.
pub mod limit {
    /// Requests per second per API path, per app (§5, §9.7).
    pub const RATE_PER_SECOND: u32 = 100;
    /// §5 A1 (\[YAML\]).
    pub const ACCESS_TOKEN_ISSUE_RATE: u32 = 200;
    /// §5 X1 (\[PY\]): counted by target group.
    pub const MESSAGE_SEND_RATE_PER_GROUP: u32 = 20;
    /// §5 X4 (\[PY\]).
    pub const HISTORY_MESSAGE_RATE: u32 = 10;

    /// `Nonce` (§2 \[DOC\]): at most 18 characters; the SDK sends at most 18
    /// digits.
    pub const NONCE_MAX: usize = 18;
    /// `Timestamp` (§2): Unix milliseconds, 13 digits until 2286.
    pub const TIMESTAMP_MS_DIGITS: usize = 13;
    /// `X-Request-ID` (§2): at most 36 characters.
    pub const REQUEST_ID_MAX: usize = 36;

    /// `channelId` (§6 ID rules, §7.1): at most 64 letters and digits.
    pub const CHANNEL_ID_MAX: usize = 64;
    /// Group name (§7.1, §6 `groupProfile.name`).
    pub const NAME_MAX: usize = 64;
    /// `userIds` on create (§7.1; \[PY\] "The PDF limits this array to 30").
    pub const CREATE_USERS_MAX: usize = 30;
    /// `userIds` on join (§7.8), leave (§7.5) and member/batch/get (§7.12
    /// \[RC\]).
    pub const USERS_PER_CALL_MAX: usize = 100;
    /// `channelIds` on profile/list (§7.3).
    pub const PROFILE_LIST_MAX: usize = 50;
    /// `groupProfile` values (§6).
    pub const INTRODUCTION_MAX: usize = 512;
    pub const ANNOUNCEMENT_MAX: usize = 1024;
    pub const PORTRAIT_URL_MAX: usize = 128;
    /// `groupExtProfile` (§6): keys start with `ext_`, key ≤ 32, value ≤
    /// 256, at most 10 pairs by default.
    pub const EXT_KEY_PREFIX: &str = "ext_";
    pub const EXT_KEY_MAX: usize = 32;
    pub const EXT_VALUE_MAX: usize = 256;
    pub const EXT_PAIRS_MAX: usize = 10;
    /// member/set (§7.13).
    pub const NICKNAME_MAX: usize = 64;
    pub const MEMBER_EXTRA_MAX: usize = 128;
    /// alias/set (§7.14).
    pub const ALIAS_MAX: usize = 64;
    /// `favoriteIds` per request (§7.17, the legacy limit \[RC\]).
    pub const FAVORITES_PER_CALL_MAX: usize = 100;
    /// Admins per group (§7.9): the legacy limit, unverified for v4 \[INF\].
    pub const ADMINS_MAX: usize = 10;
    /// Members per group by default (§3 "Documented limits").
    pub const MEMBERS_MAX: usize = 3000;

    /// `userIds` on mute-list/add (§7.M).
    pub const MUTE_USERS_PER_CALL_MAX: usize = 20;
    /// Users muted in every group at once (§7.M, no `channelId`).
    pub const GLOBAL_MUTED_USERS_MAX: usize = 100;
    /// `durationMinutes` (§7.M): at most 30 days; 0 means permanent.
    pub const MUTE_MINUTES_MAX: i64 = 43_200;

    /// `pageSize` of member/list and joined/list (§4, §7.11, §7.21).
    pub const MEMBER_PAGE_DEFAULT: i64 = 50;
    pub const MEMBER_PAGE_MAX: i64 = 100;
    /// `pageSize` of list (§4, §7.20).
    pub const GROUP_PAGE_DEFAULT: i64 = 50;
    pub const GROUP_PAGE_MAX: i64 = 1000;
    /// `order` default of list (§7.20: 1, newest first); member/list and
    /// joined/list state none in \[PY\] (the legacy default is 1, §7.11).
    pub const ORDER_DEFAULT: i64 = 1;
}

/// Data centers (§1): (region, primary, backup).
pub const DATA_CENTERS: [(&str, &str, &str); 3] = [
    (
        "singapore",
        "https://api.sg-light-api.com",
        "https://api-b.sg-light-api.com",
    ),
    (
        "north-america",
        "https://api.us-light-api.com",
        "https://api-b.us-light-api.com",
    ),
    (
        "saudi-arabia",
        "https://api.sau-light-api.com",
        "https://api-b.sau-light-api.com",
    ),
];
