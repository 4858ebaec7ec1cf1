//! The request log behind `Simulator::requests()`: a ring of the newest
//! requests, so that `entrust-gateway sim` and `--demo` stay bounded.

use std::collections::VecDeque;
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

pub(crate) struct RequestLog {
    /// (id, the request, whether it was answered with success).
    entries: VecDeque<(u64, Recorded, bool)>,
    next_id: u64,
    max: usize,
}

impl RequestLog {
    /// Keeps at most `max` entries (0 keeps none).
    pub fn new(max: usize) -> Self {
        RequestLog {
            entries: VecDeque::new(),
            next_id: 0,
            max,
        }
    }

    /// Records an arrival, dropping the oldest entry when full; the answer is
    /// filled in by [`RequestLog::finish`].
    pub fn start(&mut self, r: Recorded) -> u64 {
        self.next_id += 1;
        if self.max == 0 {
            return self.next_id;
        }
        while self.entries.len() >= self.max {
            self.entries.pop_front();
        }
        self.entries.push_back((self.next_id, r, false));
        self.next_id
    }

    /// Fills in the answer (`ok`: a success of either dialect); nothing if
    /// the entry was already dropped.
    pub fn finish(&mut self, id: u64, status: u16, code: i64, ok: bool) {
        if let Some((_, r, done)) = self.entries.iter_mut().rev().find(|(i, ..)| *i == id) {
            r.status = status;
            r.code = code;
            *done = ok;
        }
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.entries.iter().map(|(_, r, _)| r.clone()).collect()
    }

    /// Requests for `path` answered with success (entrust code 200, v4 0).
    pub fn accepted(&self, path: &str) -> usize {
        self.entries
            .iter()
            .filter(|(_, r, ok)| *ok && r.path == path)
            .count()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str) -> Recorded {
        Recorded {
            at: Instant::now(),
            method: "POST".into(),
            path: path.into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            status: 0,
            code: 0,
        }
    }

    #[test]
    fn keeps_the_newest() {
        let mut log = RequestLog::new(3);
        let ids: Vec<u64> = (0..5).map(|i| log.start(rec(&format!("/p{i}")))).collect();
        let paths: Vec<String> = log.all().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/p2", "/p3", "/p4"]);
        // A finished request that was already dropped changes nothing.
        log.finish(ids[0], 200, 200, true);
        log.finish(ids[4], 200, 200, true);
        assert_eq!(log.accepted("/p4"), 1);
        assert_eq!(log.accepted("/p0"), 0);
        let mut none = RequestLog::new(0);
        none.start(rec("/x"));
        assert!(none.all().is_empty());
    }
}
