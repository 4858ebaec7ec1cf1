//! Probing a failing link, and reconnecting a down one.

use super::*;

/// While the link is up and failing: probes every [`PROBE_EVERY`] until a
/// probe succeeds (still up) or the failures make it down.
pub(super) async fn check(link: Weak<Link>, conn_id: Option<u64>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(link) = link.upgrade() else { return };
        let current = link.conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((conn, id)) = current else { return };
        if conn_id.is_some_and(|c| c != id)
            || link.state.load(Ordering::Acquire) != UP
            || link
                .failing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        {
            return;
        }
        match link.probe.run(&conn, link.timeout).await {
            Ok(_) => return link.recovered(Some(id)),
            Err(f) => {
                link.count(&f);
                link.failure(&f, Some(id));
            }
        }
    }
}

/// Reconnects with backoff until [`UP_AFTER`] probes in a row succeed (or
/// the gateway is dropped).
pub(super) async fn reconnect(link: Weak<Link>) {
    let mut backoff = RECONNECT_FIRST;
    let mut confirming: Option<(Conn, u32)> = None;
    loop {
        let wait = if confirming.is_some() {
            PROBE_EVERY
        } else {
            backoff
        };
        tokio::time::sleep(wait).await;
        let Some(link) = link.upgrade() else { return };
        let conn = match confirming.take() {
            Some(c) => Ok(c),
            None => match connect(&link.target, link.timeout).await {
                Ok((mut conn, _)) => {
                    link.check_store(&mut conn).await;
                    Ok((conn, 0))
                }
                Err(f) => Err(f),
            },
        };
        let f = match conn {
            Ok((conn, ok)) => match link.probe.run(&conn, link.timeout).await {
                Ok(redis_now) if ok + 1 >= UP_AFTER => {
                    return link.connected(conn, Some(redis_now));
                }
                Ok(_) => {
                    confirming = Some((conn, ok + 1));
                    continue;
                }
                Err(f) => f,
            },
            Err(f) => f,
        };
        link.count(&f);
        backoff = next_backoff(backoff);
    }
}

/// The wait before the next reconnection attempt: doubling up to [`RECONNECT_MAX`].
pub(super) fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(RECONNECT_MAX)
}
