//! OpenIM's error codes, and the translation of the vendor's codes into them.

use http::{Response, StatusCode};
use serde_json::json;

use crate::entrust::code as e;
use crate::error::{Body, Error, Face};

pub const SERVER_INTERNAL: i64 = 500;
pub const ARGS: i64 = 1001;
pub const NO_PERMISSION: i64 = 1002;
pub const DUPLICATE_KEY: i64 = 1003;
pub const RECORD_NOT_FOUND: i64 = 1004;
pub const USER_ID_NOT_FOUND: i64 = 1101;
pub const GROUP_ID_NOT_FOUND: i64 = 1201;
pub const GROUP_ID_EXISTED: i64 = 1202;
pub const NOT_IN_GROUP_YET: i64 = 1203;
pub const DISMISSED_ALREADY: i64 = 1204;
pub const TOKEN_EXPIRED: i64 = 1501;
pub const TOKEN_INVALID: i64 = 1502;
pub const TOKEN_MALFORMED: i64 = 1503;
pub const TOKEN_NOT_VALID_YET: i64 = 1504;
pub const TOKEN_UNKNOWN: i64 = 1505;
pub const TOKEN_KICKED: i64 = 1506;
pub const TOKEN_NOT_EXIST: i64 = 1507;
pub const TOO_MANY_REQUESTS: i64 = 429;
pub const NETWORK: i64 = 90004;

/// OpenIM's name for a code (its `errMsg`).
pub fn name(code: i64) -> &'static str {
    match code {
        SERVER_INTERNAL => "ServerInternalError",
        ARGS => "ArgsError",
        NO_PERMISSION => "NoPermissionError",
        DUPLICATE_KEY => "DuplicateKeyError",
        RECORD_NOT_FOUND => "RecordNotFoundError",
        USER_ID_NOT_FOUND => "UserIDNotFoundError",
        GROUP_ID_NOT_FOUND => "GroupIDNotFoundError",
        GROUP_ID_EXISTED => "GroupIDExisted",
        NOT_IN_GROUP_YET => "NotInGroupYetError",
        DISMISSED_ALREADY => "DismissedAlreadyError",
        TOKEN_EXPIRED => "TokenExpiredError",
        TOKEN_INVALID => "TokenInvalidError",
        TOKEN_MALFORMED => "TokenMalformedError",
        TOKEN_NOT_VALID_YET => "TokenNotValidYetError",
        TOKEN_UNKNOWN => "TokenUnknownError",
        TOKEN_KICKED => "TokenKickedError",
        TOKEN_NOT_EXIST => "TokenNotExistError",
        TOO_MANY_REQUESTS => "TooManyRequests",
        NETWORK => "NetworkError",
        _ => "ServerInternalError",
    }
}

/// The OpenIM code for a vendor code other than 200.
pub fn from_entrust(code: i64) -> i64 {
    match code {
        e::PARAM_ERROR
        | e::PARAM_TOO_LONG
        | e::NO_POST_DATA
        | e::ENTRUST_PARAM_ERROR
        | e::LENGTH_EXCEEDED
        | e::ILLEGAL_CHARACTERS
        | e::NOT_A_NUMBER
        | e::EMPTY_NAME
        | e::INVALID_GROUP_ID
        | e::OWNER_OPERATION
        | e::ALREADY_IN_GROUP
        | e::MEMBER_LIMIT
        | e::MANAGER_LIMIT
        | e::NO_ONE_CAN_JOIN
        | e::QUERY_COUNT_EXCEEDED
        | e::BAD_PAGE_TOKEN => ARGS,
        e::ILLEGAL_PERMISSION_CHANGE | e::NO_PERMISSION | e::NOT_ALLOWED => NO_PERMISSION,
        e::GROUP_EXISTS => GROUP_ID_EXISTED,
        e::GROUP_NOT_FOUND => RECORD_NOT_FOUND,
        e::NOT_IN_GROUP | e::NOT_A_MANAGER => NOT_IN_GROUP_YET,
        e::RATE_LIMITED | e::ENTRUST_RATE_LIMIT => TOO_MANY_REQUESTS,
        // 1001, 1004, 1006, 1007, 1009, 25421 and anything unknown: the
        // gateway's credentials or the vendor's service are at fault, not
        // the caller.
        _ => SERVER_INTERNAL,
    }
}

/// An error in OpenIM's envelope: `{"errCode","errMsg","errDlt"}`.
pub fn response(err: &Error) -> Response<Body> {
    let (status, code, name) = status(err);
    err.response(
        Face::OpenIm,
        status,
        &json!({"errCode": code, "errMsg": name, "errDlt": detail(err)}),
    )
}

/// HTTP status, errCode and errMsg for a gateway error.
fn status(err: &Error) -> (StatusCode, i64, &'static str) {
    let ok = StatusCode::OK;
    match err {
        Error::Args(_) | Error::NoPostData(_) => (ok, ARGS, "ArgsError"),
        // Idempotency-Key: the draft's statuses; errCode in OpenIM's
        // vocabulary where it has one.
        Error::Conflict(_) => (StatusCode::CONFLICT, 409, "Conflict"),
        Error::KeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, ARGS, "ArgsError"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, 404, "NotFound"),
        Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ARGS, "ArgsError"),
        Error::PayloadTooLarge { .. } | Error::BodyRefused(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, ARGS, "ArgsError")
        }
        Error::Unauthorized(_) => (ok, ARGS, "ArgsError"),
        Error::Token { code, .. } | Error::OpenIm { code, .. } => (ok, *code, name(*code)),
        Error::NoPermission(_) => (ok, NO_PERMISSION, "NoPermissionError"),
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, 429, "TooManyRequests"),
        Error::Upstream { code, .. } => {
            let c = from_entrust(*code);
            if c == TOO_MANY_REQUESTS {
                (StatusCode::TOO_MANY_REQUESTS, c, "TooManyRequests")
            } else {
                (ok, c, name(c))
            }
        }
        Error::Unreachable(_) | Error::Timeout(_) => (ok, NETWORK, "NetworkError"),
        // Not a network error to retry: the caller must look before acting.
        Error::OutcomeUnknown(_) => (
            StatusCode::BAD_GATEWAY,
            SERVER_INTERNAL,
            "ServerInternalError",
        ),
        Error::Partial { cause, .. } => status(cause),
        Error::BadUpstream(_) | Error::Unavailable(_) | Error::Internal(_) => {
            (ok, SERVER_INTERNAL, "ServerInternalError")
        }
    }
}

/// The detail as the OpenIM caller sees it: credential problems upstream
/// are the gateway operator's to fix, and say so.
fn detail(err: &Error) -> std::borrow::Cow<'_, str> {
    match err {
        Error::Upstream { code, .. } if from_entrust(*code) == SERVER_INTERNAL => format!(
            "{} (the gateway's vendor credentials or service are at fault)",
            err.detail()
        )
        .into(),
        Error::MethodNotAllowed => {
            format!("method not allowed; use {}", Face::OpenIm.allow()).into()
        }
        _ => err.detail(),
    }
}
