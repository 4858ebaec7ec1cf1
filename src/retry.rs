//! The failover decision, as a pure function: what a failed upstream attempt
//! means for the data center and whether the request may go to the next one.
//! The README's failover table is this function, row by row (see the test).
//!
//! The rule: a write that may have reached the vendor is never sent twice.
//! A request that never left the gateway can go anywhere; a read can always be
//! sent again. A failure that belongs to the request itself (its body refused,
//! the answer too large) says nothing about the data center.

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

    /// The safety rule on its own, over every combination: a write that may
    /// have reached the vendor is never sent again.
    #[test]
    fn a_write_that_may_have_arrived_is_never_retried() {
        for f in Failure::ALL {
            assert!(!decide(f, Access::Write, Sent::Maybe).retry, "{f:?}");
        }
    }
}
