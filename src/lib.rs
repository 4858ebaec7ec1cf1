//! entrust-gateway: a signing, rate-limiting sidecar for the vendor's entrust
//! (profile hosting) server API, with an OpenIM group API face.
//!
//! Services on the same host send plain, unsigned calls to the gateway on
//! loopback. It keeps every caller together under the vendor's per-API quota,
//! signs each call with the app secret (which lives nowhere else), sends it to
//! the active data center, and fails over when one is down.
//!
//! # Layout
//!
//! Data flows one way: listener → route → (translate) → limiter → signer →
//! upstream → (translate back) → caller.
//!
//! - [`server`]: the listener, routing by face, body and time limits, graceful shutdown.
//! - [`route`]: which paths may be forwarded: the documented entrust paths plus configured ones.
//! - [`proxy`]: the `/entrust/` passthrough face.
//! - [`openim`]: the OpenIM face: routes and the upstream call helper; [`openim::group`]
//!   (group info and the field mapping), [`openim::member`] (membership),
//!   [`openim::token`] (admin tokens), [`openim::json`](mod@openim::json) (strict request parsing),
//!   [`openim::errcode`] (OpenIM's codes, the vendor's translated, and gateway errors in OpenIM's envelope).
//! - [`gateway`]: the pipeline both faces share: quota, signing, sending, failover, retry.
//! - [`retry`]: the failover decision (failure × read/write × sent), a pure function.
//! - [`limit`]: the per-path quota with fair, bounded waiting; [`limit::fleet`]: the same
//!   quota shared by several gateways through Redis, with a local fallback.
//! - [`sign`]: the vendor signature and nonces.
//! - [`upstream`]: the pooled TLS client, the bound on requests in flight, data centers and failover state.
//! - [`dedup`]: duplicate protection: a retried write gets the first attempt's answer;
//!   [`dedup::shared`]: the same records in Redis for the fleet, with `[redis]`.
//! - [`headers`]: hop-by-hop headers, forwarded headers, request ids.
//! - [`error`]: every gateway error, and how it looks in the vendor's dialect; the OpenIM
//!   face renders its own ([`openim::errcode`]), and `Error::to_response` picks by face.
//! - [`entrust`]: the vendor's names, paths, codes and limits (shared with the simulator);
//!   [`entrust::profile`]: the vendor's answers, parsed tolerantly (gateway only).
//! - [`clock`]: the wall clock (Unix milliseconds), for the gateway's modules.
//! - [`config`]: `gateway.toml`: schema, defaults, validation.
//! - [`secret`]: a secret type that never prints.
//! - [`metrics`]: Prometheus metrics.
//! - [`accesslog`]: the per-request log line, and log output written off the event loop.
//! - [`alloc`]: the binary's global allocator (mimalloc, its plain calls where they suffice).
//! - [`logs`]: log output: escaped text, or JSON lines with flat keys.
//! - `text`: numbers and JSON strings written without `fmt` (log lines, error bodies).
//! - [`sim`]: the vendor simulator (tests, `--demo`, `entrust-gateway sim`).

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
pub mod upstream;
pub mod vendor;
