//! Several gateways with one app key behind a load balancer, sharing a real
//! redis-server (no mock): the vendor's quota, idempotency records, and the
//! Redis connection itself.

/// Idempotency records shared through Redis: a retry may land on another
/// instance.
mod idempotency;
/// The fleet quota: the vendor's per-path limit held together.
mod quota;
/// The Redis connection: --check-config, TLS, the sidecar manifest.
mod redis;
/// The Redis scripts' guards, one test each.
mod scripts;
/// Store health: stalls, refused writes, evicting and failing-over Redis.
mod store;
/// Sentinel and Cluster, each failing over under load.
mod topology;
