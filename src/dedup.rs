//! Duplicate protection for retried writes.
//!
//! A caller that retries a write with the same request id (`X-Request-ID` on
//! the entrust face, `operationID` on the OpenIM face) and the same body
//! within the window gets the stored answer of the first attempt instead of
//! a second upstream call; a retry that arrives while the first is still
//! running waits for it. The same id with a different body is refused.
//!
//! Only answers the vendor actually gave are stored (successes and vendor
//! errors): a gateway-made error such as a 429 or an unreachable upstream is
//! not, so retrying after one still does the work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use sha1::{Digest, Sha1};
use tokio::sync::watch;

use crate::entrust;
use crate::error::{Body, Error};

/// An answer kept for replay.
#[derive(Debug, Clone)]
pub struct Stored {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Stored {
    pub fn to_response(&self) -> Response<Body> {
        let mut resp = Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

type Digest20 = [u8; 20];

enum Entry {
    Running {
        body: Digest20,
        done: watch::Receiver<Option<Arc<Stored>>>,
    },
    Done {
        body: Digest20,
        answer: Arc<Stored>,
        at: Instant,
    },
}

pub struct Dedup {
    window: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<(String, String), Entry>>,
    /// No stored answer expires before this (set by the last sweep of a
    /// full map): until then a sweep would remove nothing, so it is skipped.
    /// Locked only while `entries` is.
    next_expiry: Mutex<Option<Instant>>,
}

/// What to do with a request.
pub enum Begin<'a> {
    /// First time: do the work, then [`Claim::finish`].
    New(Claim<'a>),
    /// A repeat: answer this.
    Replay(Response<Body>),
}

/// The right to do the work for a key; dropping it unfinished (an error, or
/// the caller went away) lets a waiting duplicate try again.
pub struct Claim<'a> {
    dedup: &'a Dedup,
    key: Option<(String, String)>,
    body: Digest20,
    tx: Option<watch::Sender<Option<Arc<Stored>>>>,
}

impl Claim<'_> {
    /// Stores `resp` for replay if it is the vendor's answer.
    pub fn finish(mut self, resp: &Response<Body>, from_vendor: bool, body: Bytes) {
        let (Some(key), Some(tx)) = (self.key.take(), self.tx.take()) else {
            return;
        };
        let mut entries = self.dedup.lock();
        if from_vendor {
            let answer = Arc::new(Stored {
                status: resp.status(),
                headers: resp.headers().clone(),
                body,
            });
            entries.insert(
                key,
                Entry::Done {
                    body: self.body,
                    answer: answer.clone(),
                    at: Instant::now(),
                },
            );
            let _ = tx.send(Some(answer));
        } else {
            entries.remove(&key);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.dedup.lock().remove(&key);
        }
    }
}

impl Dedup {
    pub fn new(window: Duration, max_entries: usize) -> Dedup {
        Dedup {
            window,
            max_entries,
            entries: Mutex::new(HashMap::new()),
            next_expiry: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes expired answers from a full map. Entries are added with
    /// `at` = now, so none can expire before the earliest expiry seen by the
    /// last sweep: until then the map is not walked again (a full map of
    /// live entries would otherwise cost a walk of every entry per request).
    fn sweep(&self, entries: &mut HashMap<(String, String), Entry>) {
        let mut next_expiry = self.next_expiry.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if next_expiry.is_some_and(|t| now < t) {
            return;
        }
        let window = self.window;
        let Some(mut next) = now.checked_add(window) else {
            // A window too long to represent: nothing ever expires.
            return;
        };
        entries.retain(|_, e| match e {
            Entry::Done { at, .. } => {
                let live = now.saturating_duration_since(*at) < window;
                if live {
                    next = next.min(*at + window);
                }
                live
            }
            Entry::Running { .. } => true,
        });
        *next_expiry = Some(next);
    }

    /// Looks the request up; `scope` separates faces and routes.
    pub async fn begin(&self, scope: &str, id: &str, body: &[u8]) -> Result<Begin<'_>, Error> {
        let digest: Digest20 = Sha1::digest(body).into();
        let key = (scope.to_string(), id.to_string());
        loop {
            let mut done = {
                let mut entries = self.lock();
                match entries.get(&key) {
                    Some(Entry::Done { body, answer, at }) if at.elapsed() < self.window => {
                        if *body != digest {
                            return Err(conflict(id));
                        }
                        return Ok(Begin::Replay(answer.to_response()));
                    }
                    Some(Entry::Running { body, done }) => {
                        if *body != digest {
                            return Err(conflict(id));
                        }
                        done.clone()
                    }
                    _ => {
                        if entries.len() >= self.max_entries {
                            self.sweep(&mut entries);
                        }
                        if entries.len() >= self.max_entries {
                            // Full of live entries: serve without protection
                            // rather than refuse.
                            return Ok(Begin::New(Claim {
                                dedup: self,
                                key: None,
                                body: digest,
                                tx: None,
                            }));
                        }
                        let (tx, rx) = watch::channel(None);
                        entries.insert(
                            key.clone(),
                            Entry::Running {
                                body: digest,
                                done: rx,
                            },
                        );
                        return Ok(Begin::New(Claim {
                            dedup: self,
                            key: Some(key),
                            body: digest,
                            tx: Some(tx),
                        }));
                    }
                }
            };
            // A duplicate of a request still running: wait for its answer.
            match done.wait_for(Option::is_some).await {
                Ok(answer) => {
                    if let Some(a) = answer.as_ref() {
                        return Ok(Begin::Replay(a.to_response()));
                    }
                }
                // The first attempt ended without an answer to share: try again.
                Err(_) => continue,
            }
        }
    }
}

impl Dedup {
    /// The key's scope: face, path, and a digest of the caller's credential
    /// (`Authorization`, OpenIM's `token`), so that only the same caller,
    /// not one without a valid token, can get a stored answer back.
    pub fn scope(face: &str, path: &str, headers: &HeaderMap) -> String {
        let credential = [http::header::AUTHORIZATION.as_str(), "token"]
            .iter()
            .filter_map(|h| headers.get(*h))
            .fold(Sha1::new(), |d, v| d.chain_update(v.as_bytes()))
            .finalize();
        format!("{face}:{path}:{}", hex::encode(credential))
    }
}

/// Whether an answer is the vendor's definitive one, worth replaying to a
/// retry: not a 5xx or a 429 (which a retry should try again), and not an
/// error the gateway made itself.
pub fn replayable(result: &Result<Response<Body>, Error>) -> bool {
    match result {
        Ok(r) => !r.status().is_server_error() && r.status() != StatusCode::TOO_MANY_REQUESTS,
        Err(Error::Upstream { code, .. }) => !matches!(
            *code,
            entrust::code::RATE_LIMITED | entrust::code::ENTRUST_RATE_LIMIT
        ),
        Err(_) => false,
    }
}

fn conflict(id: &str) -> Error {
    Error::Conflict(format!(
        "request id {id:?} was already used with a different body; use a new id for a new request"
    ))
}
