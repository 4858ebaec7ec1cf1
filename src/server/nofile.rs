//! The open-file limit (`RLIMIT_NOFILE`): every connection, listener and
//! file the gateway holds is a descriptor. Past the soft limit `accept`
//! fails (EMFILE), new callers wait in the kernel's queue and `/healthz`
//! stops answering; nothing else says why. So at start the soft limit is
//! raised to the hard one (which only the operator can raise), and a
//! warning with the numbers is logged when it is still too low for the
//! config.

use crate::config::Config;

/// Descriptors kept for what is neither a caller's connection nor a
/// vendor's: stdin/stdout/stderr, the two listeners, the runtime's own
/// (epoll, its waker, the signal pipe), Redis (one multiplexed connection,
/// and a second while it is re-made), DNS look-ups, and the secret, token
/// and CA files read at start or on reload. About twenty at most; 64
/// leaves room for the transient ones.
pub const MARGIN_FIXED: u64 = 64;

/// The soft and hard open-file limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub soft: u64,
    pub hard: u64,
}

/// Descriptors `cfg` may need besides callers' connections: one per
/// request in flight to the vendor (`upstream.max_in_flight`; idle pooled
/// connections are ones not in flight) plus [`MARGIN_FIXED`].
pub fn margin(cfg: &Config) -> u64 {
    (cfg.upstream.max_in_flight as u64).saturating_add(MARGIN_FIXED)
}

/// Raises the soft limit to the hard one (as far as the system allows);
/// the limits in force afterwards. `None` where there are no such limits.
#[cfg(unix)]
pub fn raise() -> std::io::Result<Option<Limits>> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(Some(Limits { soft, hard }))
}

#[cfg(not(unix))]
pub fn raise() -> std::io::Result<Option<Limits>> {
    Ok(None)
}

/// The start-up warning's fields when `limits.soft` is below
/// `server.max_connections` plus [`margin`]: (descriptors needed, the
/// most connections that fit).
pub fn shortfall(limits: Limits, cfg: &Config) -> Option<(u64, u64)> {
    let margin = margin(cfg);
    let needed = (cfg.server.max_connections as u64).saturating_add(margin);
    (limits.soft < needed).then(|| (needed, limits.soft.saturating_sub(margin)))
}

/// Raises the limit and warns when it is still too low for `cfg`.
pub fn at_start(cfg: &Config) {
    let limits = match raise() {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit (RLIMIT_NOFILE)");
            return;
        }
    };
    tracing::debug!(soft = limits.soft, hard = limits.hard, "open-file limit");
    if let Some((needed, fits)) = shortfall(limits, cfg) {
        tracing::warn!(
            soft = limits.soft,
            hard = limits.hard,
            max_connections = cfg.server.max_connections,
            margin = margin(cfg),
            needed,
            max_connections_that_fit = fits,
            "open-file limit (RLIMIT_NOFILE) below server.max_connections plus a margin \
             (upstream.max_in_flight + {MARGIN_FIXED}): past it connections are not accepted \
             and /healthz stops answering; raise the hard limit (ulimit -Hn, systemd \
             LimitNOFILE=, the container runtime's nofile ulimit) or lower server.max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfall_counts_connections_in_flight_and_the_fixed_margin() {
        let mut cfg = Config::default();
        cfg.server.max_connections = 4096;
        cfg.upstream.max_in_flight = 256;
        assert_eq!(margin(&cfg), 320);
        let at = |soft| Limits { soft, hard: soft };
        assert_eq!(shortfall(at(256), &cfg), Some((4416, 0)));
        assert_eq!(shortfall(at(1024), &cfg), Some((4416, 704)));
        assert_eq!(shortfall(at(4415), &cfg), Some((4416, 4095)));
        assert_eq!(shortfall(at(4416), &cfg), None);
        assert_eq!(shortfall(at(1 << 20), &cfg), None);
    }

    /// Raising never lowers the soft limit and never goes past the hard one.
    #[cfg(unix)]
    #[test]
    fn raise_leaves_soft_between_its_old_value_and_hard() {
        let (before, _) = rlimit::Resource::NOFILE.get().unwrap();
        let after = raise().unwrap().unwrap();
        assert!(
            after.soft >= before && after.soft <= after.hard,
            "{after:?}"
        );
    }
}
