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
