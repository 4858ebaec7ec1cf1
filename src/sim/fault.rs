//! Fault injection: rules checked in order before any other handling.
//!
//! A fault that replaces the answer (`Status`, `Code`, `Hang`, `Reset`,
//! `NonJson`) never touches state, the rate limit or the nonce cache: it
//! stands for a failure in front of the vendor's application. A fault that
//! changes delivery (`Delay`, `Trickle`, `Truncated`, `HugeBody`) handles
//! the request normally first, so its effects happen even when the client
//! never reads a usable answer.

use std::time::Duration;

/// One fault rule. `path: None` matches every path; otherwise the request's
/// path must be equal (e.g. `entrust::path::GROUP_CREATE`).
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub path: Option<String>,
    pub fault: Fault,
    /// `Some(n)`: used for n requests, then dropped. `None`: kept.
    pub times: Option<usize>,
}

impl FaultRule {
    /// A rule for every path, kept until cleared.
    pub fn any(fault: Fault) -> Self {
        FaultRule {
            path: None,
            fault,
            times: None,
        }
    }

    /// A rule for one path, kept until cleared.
    pub fn on(path: impl Into<String>, fault: Fault) -> Self {
        FaultRule {
            path: Some(path.into()),
            fault,
            times: None,
        }
    }

    /// The same rule, used for `n` requests only.
    pub fn limit(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with `{"code":1000,"errorMessage":"injected"}`.
    Status(u16),
    /// `{"code":N,"errorMessage":"injected"}` with this HTTP status.
    Code(i64, u16),
    /// Sleep, then handle normally.
    Delay(Duration),
    /// Never answer; the connection stays open until the client closes it
    /// (or the server shuts down).
    Hang,
    /// Read the request, then drop the connection without answering (with
    /// SO_LINGER 0, so the client sees a TCP reset).
    Reset,
    /// HTTP 200 with a `text/html` body (a proxy's error page).
    NonJson,
    /// Handle normally, promise the full `Content-Length`, send half the
    /// body, then close the connection.
    Truncated,
    /// Handle normally; the JSON answer gets a `"padding"` string so the body
    /// is about this many bytes.
    HugeBody(usize),
    /// Handle normally, then send the whole answer (status line and headers
    /// included) one byte per interval, waiting before each byte; the
    /// connection closes afterwards.
    Trickle(Duration),
}

#[derive(Default)]
pub(crate) struct FaultList {
    rules: Vec<FaultRule>,
}

impl FaultList {
    pub fn push(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The first rule matching `path`, counting one use of it.
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        self.rules.retain(|r| r.times != Some(0));
        let i = self
            .rules
            .iter()
            .position(|r| r.path.as_deref().is_none_or(|p| p == path))?;
        let rule = &mut self.rules[i];
        let fault = rule.fault.clone();
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(i);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_counts() {
        let mut l = FaultList::default();
        l.push(FaultRule::on("/a", Fault::Status(500)).limit(2));
        l.push(FaultRule::any(Fault::NonJson));
        l.push(FaultRule::on("/b", Fault::Hang).limit(0));
        assert_eq!(l.take("/a"), Some(Fault::Status(500)));
        assert_eq!(l.take("/b"), Some(Fault::NonJson));
        assert_eq!(l.take("/a"), Some(Fault::Status(500)));
        assert_eq!(l.take("/a"), Some(Fault::NonJson));
        l.clear();
        assert_eq!(l.take("/a"), None);
    }
}
