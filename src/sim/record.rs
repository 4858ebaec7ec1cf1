//! The request log behind `Simulator::requests()`.

use std::time::Instant;

use bytes::Bytes;

/// One request that reached the handler, and what the simulator answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// When the request (head and body) had been read.
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// As received (names are lowercase, as `HeaderMap` keeps them).
    pub headers: http::HeaderMap,
    /// The raw body bytes.
    pub body: Bytes,
    /// HTTP status answered; 0 while no answer has been produced, and for
    /// `Hang` and `Reset`.
    pub status: u16,
    /// The body's `code`; 0 when none was answered or the body was not JSON
    /// (`NonJson`).
    pub code: i64,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    entries: Vec<(u64, Recorded)>,
    next_id: u64,
}

impl RequestLog {
    /// Records an arrival; the answer is filled in by [`RequestLog::finish`].
    pub fn start(&mut self, r: Recorded) -> u64 {
        self.next_id += 1;
        self.entries.push((self.next_id, r));
        self.next_id
    }

    pub fn finish(&mut self, id: u64, status: u16, code: i64) {
        if let Some((_, r)) = self.entries.iter_mut().rev().find(|(i, _)| *i == id) {
            r.status = status;
            r.code = code;
        }
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.entries.iter().map(|(_, r)| r.clone()).collect()
    }

    pub fn accepted(&self, path: &str) -> usize {
        self.entries
            .iter()
            .filter(|(_, r)| r.path == path && r.code == crate::entrust::code::OK)
            .count()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
