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
pub mod path;

/// The `code` values of answers (§3). Success is 0, not the entrust 200.
pub mod code;

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

/// The gateway's checks of a v4 request body before it spends quota on it
/// (§1, §6, §7). Not shared with the simulator, which checks with its own
/// code.
pub mod validate;

/// Wire names of fields (the \[PY\] pydantic aliases, §7), and the variants
/// the \[DOC\] pages use where they disagree (§9).
pub mod field;

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
