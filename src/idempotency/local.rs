//! The in-process store: a table with a bound, evicting the oldest final
//! answers (never a claim) when full.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::state::{ClaimId, Fingerprint, Lookup, Stored};

enum Entry {
    Claimed {
        fingerprint: Fingerprint,
        id: ClaimId,
    },
    Final {
        fingerprint: Fingerprint,
        answer: Arc<Stored>,
        at: Instant,
        /// Matches this entry with its place in `LocalStore::finished`.
        seq: u64,
    },
}

struct Table {
    entries: HashMap<String, Entry>,
    /// Finished entries, oldest first (the window is the same for all, so
    /// this is also expiry order): (key, seq).
    finished: VecDeque<(String, u64)>,
    next_seq: u64,
}

/// The in-process store. Contract (any store must keep it):
/// - `claim` is atomic: of concurrent claims on one key exactly one gets
///   `Claimed`, with an id no other claim on that key has had.
/// - `finish` acts only while the key holds that claim.
/// - a finished answer is served for `window` after it was finished, then
///   the key is free again.
/// - past `max_entries`, the oldest finished answers are evicted (counted in
///   `entrust_gateway_dedup_evictions_total`); an in-flight claim is never
///   evicted, so the table may exceed `max_entries` by the writes in flight.
pub struct LocalStore {
    window: Duration,
    max_entries: usize,
    table: Mutex<Table>,
    evictions: Counter,
    warned: AtomicBool,
}

impl LocalStore {
    pub fn new(window: Duration, max_entries: usize, evictions: Counter) -> LocalStore {
        LocalStore {
            window,
            max_entries,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                finished: VecDeque::new(),
                next_seq: 0,
            }),
            evictions,
            warned: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the front of `finished` while `stop` says so; returns how many
    /// entries went.
    fn drop_front(t: &mut Table, mut stop: impl FnMut(&Table, &Entry) -> bool) -> u64 {
        let mut dropped = 0;
        while let Some((key, seq)) = t.finished.front() {
            match t.entries.get(key) {
                Some(e @ Entry::Final { seq: s, .. }) if s == seq => {
                    if stop(t, e) {
                        break;
                    }
                    t.entries.remove(key);
                    dropped += 1;
                }
                // Stale: the key was freed and claimed again since.
                _ => {}
            }
            t.finished.pop_front();
        }
        dropped
    }

    /// Makes room for one more entry by evicting the oldest finished
    /// answers, never a claim.
    fn make_room(&self, t: &mut Table) {
        let max = self.max_entries;
        let evicted = Self::drop_front(t, |t, _| t.entries.len() < max);
        if evicted > 0 {
            self.evictions.inc_by(evicted);
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_entries = max,
                    "idempotency table full: evicting the oldest kept answers before their window ends (counted in entrust_gateway_dedup_evictions_total; raise dedup.max_entries)"
                );
            }
        }
    }

    pub fn claim(&self, key: &str, fingerprint: Fingerprint) -> Lookup {
        let mut t = self.lock();
        self.expire(&mut t);
        if let Some(held) = Self::held(&t, key) {
            return held;
        }
        self.make_room(&mut t);
        // One counter numbers claims and finished answers: both only grow.
        let id = ClaimId::Local(t.next_seq);
        t.next_seq += 1;
        t.entries
            .insert(key.to_string(), Entry::Claimed { fingerprint, id });
        Lookup::Won(id)
    }

    fn held(t: &Table, key: &str) -> Option<Lookup> {
        match t.entries.get(key)? {
            Entry::Claimed { fingerprint, .. } => Some(Lookup::Claimed {
                fingerprint: *fingerprint,
            }),
            Entry::Final {
                fingerprint,
                answer,
                ..
            } => Some(Lookup::Final {
                fingerprint: *fingerprint,
                answer: answer.clone(),
            }),
        }
    }

    /// Drops the answers whose window has ended.
    fn expire(&self, t: &mut Table) {
        let (now, window) = (Instant::now(), self.window);
        Self::drop_front(t, |_, e| match e {
            Entry::Final { at, .. } => now.saturating_duration_since(*at) < window,
            Entry::Claimed { .. } => true,
        });
    }

    /// What is held for `key` now, claiming nothing.
    pub fn peek(&self, key: &str) -> Option<Lookup> {
        let mut t = self.lock();
        self.expire(&mut t);
        Self::held(&t, key)
    }

    pub fn finish(&self, key: &str, id: ClaimId, answer: Option<Stored>) {
        let mut t = self.lock();
        let fingerprint = match t.entries.get(key) {
            Some(Entry::Claimed { fingerprint, id: i }) if *i == id => *fingerprint,
            _ => return,
        };
        match answer {
            Some(answer) => Self::put(&mut t, key, fingerprint, Arc::new(answer)),
            None => {
                t.entries.remove(key);
            }
        }
    }

    /// Keeps `answer` as `key`'s final answer for the window, whatever the
    /// key held here (a copy of a final answer kept in another store, so
    /// that this process answers its own retries whatever befalls that
    /// store). A table already full evicts as a claim would.
    pub fn put_final(&self, key: &str, fingerprint: Fingerprint, answer: Arc<Stored>) {
        let mut t = self.lock();
        self.expire(&mut t);
        if !t.entries.contains_key(key) {
            self.make_room(&mut t);
        }
        Self::put(&mut t, key, fingerprint, answer);
    }

    fn put(t: &mut Table, key: &str, fingerprint: Fingerprint, answer: Arc<Stored>) {
        let seq = t.next_seq;
        t.next_seq += 1;
        t.entries.insert(
            key.to_string(),
            Entry::Final {
                fingerprint,
                answer,
                at: Instant::now(),
                seq,
            },
        );
        t.finished.push_back((key.to_string(), seq));
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    use super::*;

    fn stored() -> Stored {
        Stored {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_finished_never_a_claim() {
        let evictions = Counter::default();
        let s = LocalStore::new(Duration::from_secs(60), 2, evictions.clone());
        assert!(matches!(s.claim("a", [0; 20]), Lookup::Won(_)));
        let Lookup::Won(b) = s.claim("b", [0; 20]) else {
            panic!("b is free")
        };
        s.finish("b", b, Some(stored()));
        // Full: "b" (finished) goes, "a" (in flight) stays.
        assert!(matches!(s.claim("c", [0; 20]), Lookup::Won(_)));
        assert_eq!(evictions.get(), 1);
        assert!(matches!(s.claim("a", [0; 20]), Lookup::Claimed { .. }));
        // Only claims left: the table grows past the bound rather than
        // drop protection.
        assert!(matches!(s.claim("d", [0; 20]), Lookup::Won(_)));
        assert_eq!(s.lock().entries.len(), 3);
        assert_eq!(evictions.get(), 1);
    }

    /// README, "Duplicate protection": evictions are "counted in
    /// `entrust_gateway_dedup_evictions_total`, first one logged as a
    /// warning" (and nothing is logged while nothing is evicted).
    #[test]
    fn the_first_eviction_is_logged_as_a_warning_once() {
        use std::sync::atomic::AtomicUsize;
        // The store logs nothing else: each warning on this thread counts.
        let warnings = Arc::new(AtomicUsize::new(0));
        let w = warnings.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || {
                w.fetch_add(1, Ordering::Relaxed);
                std::io::sink()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let evictions = Counter::default();
        let s = LocalStore::new(Duration::from_secs(60), 1, evictions.clone());
        // "a" evicts nothing; "b" evicts "a"; "c" evicts "b".
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            let Lookup::Won(id) = s.claim(key, [0; 20]) else {
                panic!("{key} is free")
            };
            assert_eq!(evictions.get(), n as u64);
            assert_eq!(warnings.load(Ordering::Relaxed), n.min(1), "after {key}");
            s.finish(key, id, Some(stored()));
        }
    }

    #[test]
    fn answers_expire_after_the_window() {
        let s = LocalStore::new(Duration::ZERO, 10, Counter::default());
        let Lookup::Won(a) = s.claim("a", [0; 20]) else {
            panic!("a is free")
        };
        s.finish("a", a, Some(stored()));
        let Lookup::Won(again) = s.claim("a", [1; 20]) else {
            panic!("expired")
        };
        // The first claim's owner can no longer end the second claim.
        s.finish("a", a, None);
        assert!(matches!(s.claim("a", [1; 20]), Lookup::Claimed { .. }));
        s.finish("a", again, None);
        assert!(matches!(s.claim("a", [1; 20]), Lookup::Won(_)));
    }
}
