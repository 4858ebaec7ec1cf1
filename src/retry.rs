//! The failover decision, as a pure function: what a failed upstream attempt
//! means for the data center and whether the request may go to the next one.
//! The README's failover table is this function, row by row (see the test).
//!
//! The rule: a write that may have reached the vendor is never sent twice.
//! A request that never left the gateway can go anywhere; a read can always be
//! sent again. A failure that belongs to the request itself (its body refused,
//! the answer too large) says nothing about the data center.

use crate::allowlist::Api;

/// What an answer the vendor gave means, in its API's dialect: whether it
/// rate-limited the path (hold the path back), and whether it is the
/// vendor's final word on the request (a retried write may be given it
/// instead of being done again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub rate_limited: bool,
    pub is_final: bool,
}

/// The verdict on an answer with HTTP `status` and body `code` (`None`:
/// not a JSON object with an integer `code`) on a path of `api`. A 5xx,
/// a 429 or a code that says "not done, try again" is not final; the
/// codes differ by dialect (entrust: 1000, 1008, 1050 and the entrust
/// service's own 25416; v4: 1000, 1008, 1050).
pub fn judge(api: Api, status: u16, code: Option<i64>) -> Verdict {
    let (limited_code, transient) = match (api, code) {
        (_, None) => (false, false),
        (Api::Entrust, Some(c)) => (
            matches!(
                c,
                crate::entrust::code::RATE_LIMITED | crate::entrust::code::ENTRUST_RATE_LIMIT
            ),
            crate::entrust::code::is_transient(c),
        ),
        (Api::V4, Some(c)) => (
            c == crate::v4::code::RATE_LIMITED,
            crate::v4::code::is_transient(c),
        ),
    };
    let rate_limited = status == 429 || limited_code;
    Verdict {
        rate_limited,
        is_final: status < 500 && !rate_limited && !transient,
    }
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect, TLS handshake (failed or stalled past
    /// `connect_timeout_ms`), or a pooled connection found closed before the
    /// request was written.
    Connect,
    /// No complete answer within `upstream.timeout_ms`.
    Timeout,
    /// The connection broke after the request was written.
    Broken,
    /// The data center answered 5xx.
    Status5xx,
    /// The data center closed the connection while the body was still being
    /// sent: it refused this request's body, typically over its size limit.
    BodyRefused,
    /// The answer was larger than `upstream.max_response_bytes`.
    AnswerTooLarge,
}

impl Failure {
    pub const ALL: [Failure; 6] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::Broken,
        Failure::Status5xx,
        Failure::BodyRefused,
        Failure::AnswerTooLarge,
    ];
}

/// Whether the endpoint only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether any of the request may have reached the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Not one byte was written: safe to send anywhere.
    Never,
    /// Written, in part or whole: the vendor may have acted on it.
    Maybe,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Count it against the data center (readiness, failover).
    pub mark_failed: bool,
    /// Send the request again to the next data center (when there is one
    /// and this is the first attempt).
    pub retry: bool,
}

/// The decision for one failed attempt.
pub fn decide(failure: Failure, access: Access, sent: Sent) -> Decision {
    let mark_failed = !matches!(failure, Failure::BodyRefused | Failure::AnswerTooLarge);
    Decision {
        mark_failed,
        retry: mark_failed && (sent == Sent::Never || access == Access::Read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's failover table (section "Failover"), row by row:
    /// (failure, sent, read retried?, write retried?, data center marked failed?).
    #[test]
    fn the_readme_failover_table() {
        use Failure::*;
        let table = [
            // connect error, TLS handshake failure or stall, pooled connection found closed
            (Connect, Sent::Never, true, true, true),
            // timeout before the request was written (connecting)
            (Timeout, Sent::Never, true, true, true),
            // timeout after the request was written
            (Timeout, Sent::Maybe, true, false, true),
            // connection broken mid-answer
            (Broken, Sent::Maybe, true, false, true),
            // HTTP 5xx: the vendor's answer goes back for a write
            (Status5xx, Sent::Maybe, true, false, true),
            // the body refused: the request's own failure, not the data center's
            (BodyRefused, Sent::Maybe, false, false, false),
            // the answer over max_response_bytes: likewise
            (AnswerTooLarge, Sent::Maybe, false, false, false),
        ];
        for (failure, sent, read, write, failed) in table {
            let r = decide(failure, Access::Read, sent);
            let w = decide(failure, Access::Write, sent);
            assert_eq!(r.retry, read, "{failure:?} {sent:?} read");
            assert_eq!(w.retry, write, "{failure:?} {sent:?} write");
            assert_eq!(r.mark_failed, failed, "{failure:?} read");
            assert_eq!(w.mark_failed, failed, "{failure:?} write");
        }
    }

    /// Entrust answers (`reference/entrust-api.md` "Codes"): success is
    /// 200; (status, code, rate-limited?, final?).
    #[test]
    fn the_entrust_answer_table() {
        let table = [
            (200, Some(200), false, true),
            (200, Some(1002), false, true),
            (200, Some(25410), false, true),
            (200, Some(1008), true, false),
            (200, Some(25416), true, false),
            (429, Some(1008), true, false),
            (429, None, true, false),
            (200, Some(1000), false, false),
            (200, Some(1050), false, false),
            (500, Some(1000), false, false),
            (502, None, false, false),
            // The first 5xx is not final: the boundary.
            (500, None, false, false),
            (499, None, false, true),
            (200, None, false, true),
            // v4's success code is not entrust's: 0 is an ordinary code here.
            (200, Some(0), false, true),
        ];
        for (status, code, limited, fin) in table {
            let v = judge(Api::Entrust, status, code);
            assert_eq!(v.rate_limited, limited, "{status} {code:?}");
            assert_eq!(v.is_final, fin, "{status} {code:?}");
        }
    }

    /// v4 answers (`nexconn-v4-group-api.md` §3): success is 0, errors
    /// carry HTTP 4xx; 1008 and HTTP 429 are the rate limit (§9.7), 1000
    /// and 1050 say "try again"; the entrust service's 25416 is no v4 code.
    #[test]
    fn the_v4_answer_table() {
        let table = [
            (200, Some(0), false, true),
            (400, Some(1002), false, true),
            (400, Some(1005), false, true),
            (400, Some(25410), false, true),
            (401, Some(1004), false, true),
            (429, Some(1008), true, false),
            (200, Some(1008), true, false),
            (429, None, true, false),
            (500, Some(1000), false, false),
            (200, Some(1000), false, false),
            (504, Some(1050), false, false),
            (400, Some(25416), false, true),
            (503, None, false, false),
            (500, None, false, false),
            (499, None, false, true),
            (200, None, false, true),
        ];
        for (status, code, limited, fin) in table {
            let v = judge(Api::V4, status, code);
            assert_eq!(v.rate_limited, limited, "{status} {code:?}");
            assert_eq!(v.is_final, fin, "{status} {code:?}");
        }
    }

    /// The safety rule on its own, over every combination: a write that may
    /// have reached the vendor is never sent again.
    #[test]
    fn a_write_that_may_have_arrived_is_never_retried() {
        for f in Failure::ALL {
            assert!(!decide(f, Access::Write, Sent::Maybe).retry, "{f:?}");
        }
    }
}
