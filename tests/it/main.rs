//! The integration tests, one binary, a module for each behaviour: real
//! servers (the gateway, the vendor simulator, redis-server, the binary
//! itself) on 127.0.0.1, driven over HTTP.

#[path = "../common/mod.rs"]
mod common;

/// Probes, metrics, the admin listener, secret rotation, deploy files.
mod admin;
/// Several vendor apps and callers in one gateway: signing, shares, reloads.
mod apps;
/// Who may call: inbound bearer tokens, OpenIM's token, start-up warnings.
mod auth;
/// The binary as an operator runs it: configs, logs, signals.
mod cli;
/// The vendor's own SDKs against the simulator and the gateway.
mod clients;
/// The Kubernetes manifests: hardening, memory budgets, secrets.
mod deploy;
/// The docs held to the code: the rules each test holds, and the text.
mod docs;
/// How the gateway's errors look, and bad input on the entrust face.
mod errors;
/// Failover across data centers.
mod failover;
/// Several gateways sharing Redis: the fleet quota and idempotency records.
mod fleet;
/// Duplicate protection by `Idempotency-Key`.
mod idempotency;
/// Inbound TLS and mutual TLS on the main listener.
mod inbound_tls;
/// What the server bounds: connections, header and body sizes and times.
mod limits;
/// The OpenIM face.
mod openim;
/// The entrust passthrough: signing, forwarding, headers, routes.
mod passthrough;
/// Properties of the OpenIM face and the vendor-answer parsers.
mod properties;
/// The per-path quota.
mod quota;
/// Shutdown and its drain.
mod shutdown;
/// The vendor simulator on its own.
mod sim;
/// An HTTPS upstream.
mod tls;
/// The v4 (Nexconn) face: JSON group-channel paths, checked, signed, held
/// to quota.
mod v4;
