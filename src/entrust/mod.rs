//! The vendor's entrust API as the docs describe it: header names, paths,
//! status codes and limits. Both the gateway and the simulator use these
//! constants; nothing else is shared between them, so the simulator checks
//! the gateway's behaviour instead of repeating its logic.

pub mod profile;

/// Signature and tracing headers.
pub mod header {
    pub const APP_KEY: &str = "app-key";
    pub const NONCE: &str = "nonce";
    pub const TIMESTAMP: &str = "timestamp";
    pub const SIGNATURE: &str = "signature";
    /// `RC-` aliases the server also accepts, for platforms that filter headers.
    pub const RC_APP_KEY: &str = "rc-app-key";
    pub const RC_NONCE: &str = "rc-nonce";
    pub const RC_TIMESTAMP: &str = "rc-timestamp";
    pub const RC_SIGNATURE: &str = "rc-signature";
    /// Every signing header and alias; a caller's copies are always removed.
    pub const SIGNING: [&str; 8] = [
        APP_KEY,
        NONCE,
        TIMESTAMP,
        SIGNATURE,
        RC_APP_KEY,
        RC_NONCE,
        RC_TIMESTAMP,
        RC_SIGNATURE,
    ];
    pub const REQUEST_ID: &str = "x-request-id";
}

/// Endpoint paths (all `POST`, form-encoded body).
pub mod path {
    pub const PREFIX: &str = "/entrust/";
    pub const GROUP_CREATE: &str = "/entrust/group/create.json";
    pub const GROUP_IMPORT: &str = "/entrust/group/import.json";
    pub const PROFILE_UPDATE: &str = "/entrust/group/profile/update.json";
    pub const PROFILE_QUERY: &str = "/entrust/group/profile/query.json";
    pub const GROUP_JOIN: &str = "/entrust/group/join.json";
    pub const GROUP_QUIT: &str = "/entrust/group/quit.json";
    pub const MEMBER_KICK: &str = "/entrust/group/member/kick.json";
    pub const MEMBER_KICK_ALL: &str = "/entrust/group/member/kick/all.json";
    pub const GROUP_DISMISS: &str = "/entrust/group/dismiss.json";
    pub const TRANSFER_OWNER: &str = "/entrust/group/transfer/owner.json";
    pub const MANAGER_ADD: &str = "/entrust/group/manager/add.json";
    pub const MANAGER_REMOVE: &str = "/entrust/group/manager/remove.json";
    pub const MEMBER_QUERY: &str = "/entrust/group/member/query.json";
    pub const MEMBER_SPECIFIC_QUERY: &str = "/entrust/group/member/specific/query.json";
    pub const MEMBER_SET: &str = "/entrust/group/member/set.json";
    pub const GROUP_QUERY: &str = "/entrust/group/query.json";
    pub const JOINED_GROUP_QUERY: &str = "/entrust/joined/group/query.json";
    pub const MEMBER_FOLLOW: &str = "/entrust/group/member/follow.json";
    pub const MEMBER_UNFOLLOW: &str = "/entrust/group/member/unfollow.json";
    pub const MEMBER_FOLLOWED_GET: &str = "/entrust/group/member/followed/get.json";
    pub const REMARK_NAME_SET: &str = "/entrust/group/remarkname/set.json";
    pub const REMARK_NAME_DELETE: &str = "/entrust/group/remarkname/delete.json";
    pub const REMARK_NAME_QUERY: &str = "/entrust/group/remarkname/query.json";

    // The vendor's legacy group API's mute paths, outside `/entrust/`
    // (forwarded for OpenIM's mute routes): parameters and answers as the
    // Go SDK `sdk/group.go` sends and reads them (GroupMuteMembersAdd,
    // GroupMuteMembersRemove, GroupMuteMembersGetList,
    // GroupMuteAllMembersAdd/Remove/GetList).
    /// `groupId`, `userId` (repeated), `minute` → `{code}`.
    pub const GAG_ADD: &str = "/group/user/gag/add.json";
    /// `groupId`, `userId` (repeated) → `{code}`.
    pub const GAG_ROLLBACK: &str = "/group/user/gag/rollback.json";
    /// `groupId` → `{code, users:[{userId, time}]}` (`time`: when the mute
    /// ends, `YYYY-MM-DD HH:MM:SS`).
    pub const GAG_LIST: &str = "/group/user/gag/list.json";
    /// `groupId` (repeated) → `{code}`: every member muted.
    pub const BAN_ADD: &str = "/group/ban/add.json";
    /// `groupId` (repeated) → `{code}`.
    pub const BAN_ROLLBACK: &str = "/group/ban/rollback.json";
    /// `groupId` (repeated, <= 20), or `page`/`size` → `{code,
    /// groupinfo:[{groupId, stat}]}` (`stat` 1: muted).
    pub const BAN_QUERY: &str = "/group/ban/query.json";
    /// The legacy mute paths.
    pub const LEGACY_MUTE: [&str; 6] = [
        GAG_ADD,
        GAG_ROLLBACK,
        GAG_LIST,
        BAN_ADD,
        BAN_ROLLBACK,
        BAN_QUERY,
    ];

    /// Every documented endpoint (used to bound metric label values).
    /// The reference's endpoint table (the Go SDK's `sdk/entrustgroup.go`
    /// covers the same 23 paths), then the 6 [`LEGACY_MUTE`] paths.
    pub const ALL: [&str; 29] = [
        GROUP_CREATE,
        GROUP_IMPORT,
        PROFILE_UPDATE,
        PROFILE_QUERY,
        GROUP_JOIN,
        GROUP_QUIT,
        MEMBER_KICK,
        MEMBER_KICK_ALL,
        GROUP_DISMISS,
        TRANSFER_OWNER,
        MANAGER_ADD,
        MANAGER_REMOVE,
        MEMBER_QUERY,
        MEMBER_SPECIFIC_QUERY,
        MEMBER_SET,
        GROUP_QUERY,
        JOINED_GROUP_QUERY,
        MEMBER_FOLLOW,
        MEMBER_UNFOLLOW,
        MEMBER_FOLLOWED_GET,
        REMARK_NAME_SET,
        REMARK_NAME_DELETE,
        REMARK_NAME_QUERY,
        GAG_ADD,
        GAG_ROLLBACK,
        GAG_LIST,
        BAN_ADD,
        BAN_ROLLBACK,
        BAN_QUERY,
    ];

    /// The documented endpoints as a slice: the paths the gateway forwards
    /// and the simulator answers.
    pub const DOCUMENTED: &[&str] = &ALL;

    /// Whether an endpoint only reads, so that a request that may have reached
    /// the server can still be sent again safely.
    pub fn is_read_only(path: &str) -> bool {
        path.ends_with("/query.json") || path.ends_with("/get.json") || path == GAG_LIST
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn read_only_paths() {
            let reads: Vec<&str> = DOCUMENTED
                .iter()
                .copied()
                .filter(|p| is_read_only(p))
                .collect();
            assert_eq!(
                reads,
                [
                    PROFILE_QUERY,
                    MEMBER_QUERY,
                    MEMBER_SPECIFIC_QUERY,
                    GROUP_QUERY,
                    JOINED_GROUP_QUERY,
                    MEMBER_FOLLOWED_GET,
                    REMARK_NAME_QUERY,
                    GAG_LIST,
                    BAN_QUERY,
                ]
            );
            let mut unique = DOCUMENTED.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 29);
        }
    }
}

/// Status codes carried in the body's `code` field.
pub mod code {
    pub const OK: i64 = 200;
    pub const INTERNAL_ERROR: i64 = 1000;
    pub const APP_SECRET_MISMATCH: i64 = 1001;
    pub const PARAM_ERROR: i64 = 1002;
    pub const NO_POST_DATA: i64 = 1003;
    pub const SIGNATURE_ERROR: i64 = 1004;
    pub const PARAM_TOO_LONG: i64 = 1005;
    pub const APP_LOCKED: i64 = 1006;
    pub const METHOD_RESTRICTED: i64 = 1007;
    pub const RATE_LIMITED: i64 = 1008;
    pub const SERVICE_NOT_ENABLED: i64 = 1009;
    pub const INTERNAL_TIMEOUT: i64 = 1050;

    pub const HOSTING_ERROR: i64 = 25402;
    pub const ENTRUST_PARAM_ERROR: i64 = 25403;
    pub const ILLEGAL_PERMISSION_CHANGE: i64 = 25404;
    pub const NO_PERMISSION: i64 = 25405;
    pub const LENGTH_EXCEEDED: i64 = 25406;
    pub const ILLEGAL_CHARACTERS: i64 = 25407;
    pub const NOT_A_NUMBER: i64 = 25408;
    pub const GROUP_EXISTS: i64 = 25409;
    pub const GROUP_NOT_FOUND: i64 = 25410;
    pub const MEMBER_LIMIT: i64 = 25411;
    pub const ALREADY_IN_GROUP: i64 = 25412;
    pub const NOT_ALLOWED: i64 = 25413;
    pub const NO_ONE_CAN_JOIN: i64 = 25414;
    pub const EXT_KEY_MISSING: i64 = 25415;
    pub const ENTRUST_RATE_LIMIT: i64 = 25416;
    pub const OWNER_OPERATION: i64 = 25417;
    pub const NOT_IN_GROUP: i64 = 25418;
    pub const MANAGER_LIMIT: i64 = 25419;
    pub const NOT_A_MANAGER: i64 = 25420;
    pub const APP_NOT_FOUND: i64 = 25421;
    pub const QUERY_COUNT_EXCEEDED: i64 = 25422;
    pub const EMPTY_NAME: i64 = 25423;
    pub const INVALID_GROUP_ID: i64 = 25430;
    pub const BAD_PAGE_TOKEN: i64 = 25432;

    /// Codes that say "not done, try again": the rate limits, internal
    /// error and timeout. An answer with one is not the vendor's final word
    /// on a write.
    pub const fn is_transient(c: i64) -> bool {
        matches!(
            c,
            RATE_LIMITED | ENTRUST_RATE_LIMIT | INTERNAL_ERROR | INTERNAL_TIMEOUT
        )
    }
}

/// Member roles in group/member/query.json answers; the same numbers as the
/// query's `type` filter (0 = all).
pub mod role {
    pub const MEMBER: i64 = 1;
    pub const MANAGER: i64 = 2;
    pub const OWNER: i64 = 3;
}

/// Documented limits.
pub mod limit {
    /// Legacy group API: users per gag/add.json call (the v4 successor's
    /// documented 20), groups per ban call, and a gag's longest duration
    /// (Go SDK `sdk/group.go` GroupMuteMembersAdd: "maximum value of 43200
    /// minutes"; GroupMuteAllMembersGetList: "maximum of 20 groups").
    pub const GAG_USERS_MAX: usize = 20;
    pub const BAN_GROUPS_MAX: usize = 20;
    pub const GAG_MINUTES_MAX: i64 = 43_200;
    /// Requests per second per API path, per app.
    pub const RATE_PER_SECOND: u32 = 100;
    /// What the docs allow and the gateway sends.
    pub const NONCE_MAX: usize = 18;
    /// What the official SDKs send and the real server takes (Go sends 19
    /// digits, Java a dotted decimal); the simulator accepts up to this.
    pub const NONCE_ACCEPTED_MAX: usize = 64;
    pub const REQUEST_ID_MAX: usize = 36;
    pub const GROUP_ID_MAX: usize = 64;
    pub const NAME_MAX: usize = 64;
    pub const USER_ID_MAX: usize = 64;
    pub const INTRODUCTION_MAX: usize = 512;
    pub const ANNOUNCEMENT_MAX: usize = 1024;
    pub const PORTRAIT_URL_MAX: usize = 128;
    pub const EXT_KEY_PREFIX: &str = "ext_";
    pub const EXT_KEY_MAX: usize = 32;
    pub const EXT_VALUE_MAX: usize = 256;
    pub const EXT_PAIRS_MAX: usize = 10;
    pub const NICKNAME_MAX: usize = 64;
    pub const REMARK_NAME_MAX: usize = 64;
    /// `extra` on group/member/set.json (doc page; Java/PHP `verify.json`).
    pub const MEMBER_EXTRA_MAX: usize = 128;
    /// Managers per group (doc: manager/add.json).
    pub const MANAGERS_MAX: usize = 10;
    /// `followUserIds` on follow/unfollow.json.
    pub const FOLLOW_USERS_MAX: usize = 100;
    /// `userIds` on group/create.json.
    pub const CREATE_USERS_MAX: usize = 30;
    /// `userIds` on join, kick, quit, manager and specific member calls.
    pub const USERS_PER_CALL_MAX: usize = 100;
    /// `groupIds` on group/profile/query.json.
    pub const PROFILE_QUERY_MAX: usize = 50;
    pub const MEMBER_PAGE_DEFAULT: usize = 50;
    pub const MEMBER_PAGE_MAX: usize = 100;
    pub const GROUP_PAGE_MAX: usize = 1000;
    /// Largest request body. The docs state none; the largest documented
    /// call (a full profile with 10 ext pairs, or 100 user ids) needs a few
    /// KiB (at worst about 85 KB percent-encoded: the README's limits
    /// section). 1 MiB is the simulator's limit; the gateway's default
    /// `server.max_body_bytes` is 128 KiB, below it, so that a body the
    /// vendor side would refuse never leaves the gateway.
    pub const BODY_MAX: usize = 1 << 20;
}

/// Data centers: (region, primary, backup), in the vendor's order.
pub const DATA_CENTERS: [(&str, &str, &str); 5] = [
    (
        "china",
        "https://api.rong-api.com",
        "https://api-b.rong-api.com",
    ),
    (
        "singapore",
        "https://api.sg-light-api.com",
        "https://api-b.sg-light-api.com",
    ),
    (
        "singapore-b",
        "https://api.sg-b-light-api.com",
        "https://api-b.sg-b-light-api.com",
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
