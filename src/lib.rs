//! entrust-gateway: a signing, rate-limiting gateway for the vendor's server
//! APIs (the entrust "profile hosting" form API and the v4 JSON API), with an
//! OpenIM group API face, for one vendor app or several.
//!
//! Services send plain, unsigned calls to the gateway. It keeps every caller
//! together under the vendor's per-API quota, signs each call with the app
//! secret (which lives nowhere else), sends it to the active data center,
//! fails over when one is down, and answers a retried write from the first
//! attempt's answer instead of sending it twice.
//!
//! # Layout
//!
//! Dependencies point one way, down; no module imports one above it, and
//! the server is the only one that knows the faces:
//!
//! ```text
//! main ─► server ─► faces: passthrough, openim
//!            │         │
//!            ▼         ▼
//!        idempotency   vendor (one client per app) ─► quota, sign, upstream, retry
//!            │                                           │
//!            └──────────► redis_link ◄───────────────────┘
//!                 entrust, v4 (the vendor models), allowlist, config, error, metrics, logging
//! ```
//!
//! A request flows: listener → dispatch (face, admission before the body,
//! body) → for a write, its own task → idempotency (claim, or replay) →
//! face (translate) → vendor client (quota → sign → upstream → failover) →
//! face (translate back) → idempotency (keep the answer if final) → caller.
//! Decisions travel as return values: the vendor client's [`vendor::Reply`]
//! says whether it is final and which data center answered, and a
//! request's calls report to its [`vendor::Tally`], passed explicitly.
//!
//! - [`server`]: listening and drain ([`server::listen`]), dispatch
//!   ([`server::dispatch`], [`server::admit`]), the admin endpoints
//!   ([`server::admin`]), errors to responses per face ([`server::respond`]),
//!   and the application's state ([`server::App`]: the apps, each with its
//!   vendor client and idempotency, and the callers, swapped whole on
//!   reload, in `server::app`'s `reload`; a request keeps the set it
//!   started with).
//! - [`passthrough`]: the `/entrust/` face: the caller's call, signed;
//!   [`passthrough::v4`]: the `/v4/` face, its JSON body checked first.
//! - [`openim`]: the OpenIM face: routes, translation, tokens and OpenIM's
//!   permission rules, OpenIM's envelope; [`openim::dialect`]: every vendor
//!   call it makes, one adapter per vendor API (entrust, v4).
//! - [`idempotency`]: duplicate protection: the states of a key, the store
//!   trait with a local and a Redis store, writes run to completion.
//! - [`vendor`]: the vendor client of one app: quota, signing, sending,
//!   failover; its [`vendor::Tally`].
//! - [`quota`]: the per-path quota with fair, bounded waiting; [`quota::fleet`]:
//!   the same quota shared by several gateways through Redis, with a local fallback.
//! - [`redis_link`]: the Redis connection the fleet quota and the idempotency
//!   store share.
//! - [`sign`]: the vendor signature and nonces.
//! - [`tls`]: inbound TLS (`[server.tls]`), swapped on reload, and the
//!   [`tls::ClientIdentity`] of a caller's verified certificate (mutual TLS).
//! - [`upstream`]: the pooled TLS client, the bound on requests in flight,
//!   data centers and failover state.
//! - [`retry`]: the failover decision (failure × read/write × sent), a pure function.
//! - [`allowlist`]: which entrust and v4 paths may be forwarded (an
//!   [`allowlist::EntrustPath`] is made only here).
//! - [`auth`]: inbound credentials: bearer tokens, and the `[[callers]]`
//!   a token or a client certificate names.
//! - [`headers`]: hop-by-hop headers, forwarded headers, request ids.
//! - [`error`]: every gateway error, and how it looks in the vendor's dialect.
//! - [`entrust`]: the vendor's names, paths, codes and limits (shared with the simulator);
//!   [`entrust::profile`]: the vendor's answers, parsed tolerantly (gateway only).
//! - [`v4`]: the same for the vendor's v4 (Nexconn) group-channel API: paths
//!   (both spellings where its sources disagree), rates, codes and HTTP
//!   statuses, wire names, limits (shared with the simulator);
//!   [`v4::validate`]: the checks a v4 body passes before any quota is spent
//!   (gateway only).
//! - [`config`]: `gateway.toml`: schema, validation, secret references,
//!   `[[apps]]` and `[[callers]]`.
//! - [`metrics`]: Prometheus metrics; faces register their routes.
//! - [`logging`]: the request's log context and line, and log output written
//!   off the event loop.
//! - [`clock`], [`secret`], `text`: the wall clock, a secret that never prints,
//!   numbers and JSON strings written without `fmt`.
//! - [`alloc`]: the binary's global allocator (mimalloc, its plain calls where they suffice).
//! - [`sim`]: the vendor simulator (tests, `--demo`, `entrust-gateway sim`); it
//!   shares only the vendor's names and constants ([`entrust`], [`v4`]) with the gateway.

pub mod alloc;
pub mod allowlist;
pub mod auth;
pub mod clock;
pub mod config;
pub mod entrust;
pub mod error;
pub mod headers;
pub mod idempotency;
pub mod logging;
pub mod metrics;
pub mod openim;
pub mod passthrough;
pub mod quota;
pub mod redis_link;
pub mod retry;
pub mod secret;
pub mod server;
pub mod sign;
pub mod sim;
mod text;
pub mod tls;
pub mod upstream;
pub mod v4;
pub mod vendor;
