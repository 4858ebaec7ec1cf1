//! Where the states of keys live: one contract, two stores. The local
//! store ([`LocalStore`]) keeps them in this process; the Redis store
//! ([`RedisStore`]) keeps them for the fleet, and falls back to a local
//! table of its own while Redis is unreachable.
//!
//! Contract (any store must keep it):
//! - `claim` is atomic: of concurrent claims on one free key exactly one
//!   wins, with an id no other claim on that key has had.
//! - `finish` and `release` act only while the key holds that claim.
//! - a final answer is served for the window after it was finished, then the
//!   key is free again.

use std::future::Future;
use std::pin::Pin;

use super::local::LocalStore;
use super::redis::RedisStore;
use super::state::{ClaimId, Fingerprint, Lookup, Stored};

/// A store's future (boxed: the stores are used through `dyn Store`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Store: Send + Sync {
    /// Claims `key` for `fingerprint` when it is free, else says what it holds.
    fn claim<'a>(&'a self, key: &'a str, fingerprint: Fingerprint) -> StoreFuture<'a, Lookup>;

    /// Ends claim `id` on `key`: keeps `answer` for the window (final), or
    /// with `None` frees the key so that a retry does the work again.
    fn finish<'a>(
        &'a self,
        key: &'a str,
        id: ClaimId,
        answer: Option<Stored>,
    ) -> StoreFuture<'a, ()>;

    /// Frees an unfinished claim without waiting (its owner was dropped).
    fn release(&self, key: &str, id: ClaimId);
}

impl Store for LocalStore {
    fn claim<'a>(&'a self, key: &'a str, fingerprint: Fingerprint) -> StoreFuture<'a, Lookup> {
        let lookup = LocalStore::claim(self, key, fingerprint);
        Box::pin(std::future::ready(lookup))
    }

    fn finish<'a>(
        &'a self,
        key: &'a str,
        id: ClaimId,
        answer: Option<Stored>,
    ) -> StoreFuture<'a, ()> {
        LocalStore::finish(self, key, id, answer);
        Box::pin(std::future::ready(()))
    }

    fn release(&self, key: &str, id: ClaimId) {
        LocalStore::finish(self, key, id, None);
    }
}

impl Store for RedisStore {
    fn claim<'a>(&'a self, key: &'a str, fingerprint: Fingerprint) -> StoreFuture<'a, Lookup> {
        Box::pin(RedisStore::claim(self, key, fingerprint))
    }

    fn finish<'a>(
        &'a self,
        key: &'a str,
        id: ClaimId,
        answer: Option<Stored>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(RedisStore::finish(self, key, id, answer))
    }

    fn release(&self, key: &str, id: ClaimId) {
        RedisStore::release(self, key, id);
    }
}
