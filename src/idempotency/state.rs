//! The states of an idempotency key, and what a store holds for one.
//!
//! A key is **free** (nothing kept), **claimed** (a request is doing the
//! work: retries get 409), or **final** (the work's final answer is kept for
//! the window: retries get it back). Claiming is atomic: of concurrent
//! requests for a free key exactly one wins. A claim ends either final (its
//! answer kept) or released (the key is free again: the work gave no final
//! answer, so a retry does it again).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use crate::error::Body;

/// A digest of what makes a request the same request: method, path, query
/// and body.
pub type Fingerprint = [u8; 20];

/// An answer kept for replay.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Stored {
    /// The whole of a response whose body is in memory already.
    pub async fn collect(resp: Response<Body>) -> Stored {
        use http_body_util::BodyExt;
        let (head, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(never) => match never {},
        };
        Stored {
            status: head.status,
            headers: head.headers,
            body,
        }
    }

    pub fn to_response(&self) -> Response<Body> {
        let mut resp = Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp
    }
}

/// Names one claim, so that finishing it can't touch a later claim on the
/// same key (a shared store's claims expire; a crashed owner's may be
/// re-claimed), and says which store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimId {
    /// In this process's table.
    Local(u64),
    /// In Redis: random, so that no two gateways' claims share an id.
    Shared(u64),
}

/// What a key holds when a request asks for it.
pub enum Lookup {
    /// It was free: now claimed by the asking request.
    Won(ClaimId),
    /// Claimed by another request that has not finished.
    Claimed { fingerprint: Fingerprint },
    /// A final answer, within the window.
    Final {
        fingerprint: Fingerprint,
        answer: Arc<Stored>,
    },
}
