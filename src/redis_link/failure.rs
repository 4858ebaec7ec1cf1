//! A failed Redis call, and its metric labels.

use super::*;

/// Error replies counted by their code; any other is "other". Each is one
/// a Redis that answers can give the gateway's scripts (redis.io, "Redis
/// error replies" and each command's page).
pub const ERROR_CODES: [&str; 12] = [
    "OOM",
    "READONLY",
    "MISCONF",
    "NOPERM",
    "WRONGTYPE",
    "NOSCRIPT",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "other",
];

/// A failed Redis call: a metric label for its kind, the error reply's code
/// (one of [`ERROR_CODES`], `None` for a timeout or a connection error),
/// and what it said.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub why: String,
}

impl Failure {
    pub(crate) fn of(e: &redis::RedisError) -> Failure {
        let kind = kind_of(e);
        let code = (kind == "reply").then(|| code_of(e));
        Failure {
            kind,
            code,
            why: e.to_string(),
        }
    }

    pub(crate) fn timeout(after: Duration) -> Failure {
        Failure {
            kind: "timeout",
            code: None,
            why: format!("no answer within {after:?}"),
        }
    }
}

/// The bounded label for an error reply's code.
pub(super) fn code_of(e: &redis::RedisError) -> &'static str {
    // A script's error reply carries the command's: "ERR Error running
    // script ... OOM command not allowed ..." on older servers.
    let text = format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""));
    let first = e.code().unwrap_or("");
    ERROR_CODES
        .iter()
        .find(|c| **c == first)
        .or_else(|| {
            ERROR_CODES[..ERROR_CODES.len() - 1].iter().find(|c| {
                text.split(|ch: char| !ch.is_ascii_alphanumeric())
                    .any(|w| w == **c)
            })
        })
        .copied()
        .unwrap_or("other")
}

/// A metric label for a Redis error.
pub(crate) fn kind_of(e: &redis::RedisError) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        "connection"
    } else {
        "reply"
    }
}
