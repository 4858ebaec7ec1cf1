//! Standalone mode: the simulator as a local fake of the vendor's server.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use super::simulator::{SimConfig, Simulator};

/// How long requests in flight may take to finish on SIGTERM/SIGINT.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `listen`, logs one line with the URL, the app key and where the
/// secret came from (`secret_source`, never the secret), and serves plain
/// HTTP until SIGTERM or SIGINT; then drains (up to `DRAIN_TIMEOUT`).
pub async fn run_standalone(
    listen: SocketAddr,
    cfg: SimConfig,
    secret_source: &str,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("--listen: cannot listen on {listen}: {e}"),
        )
    })?;
    let app_key = cfg.app_key.clone();
    let strict = cfg.strict;
    let stop = stop_signal()?;
    let server = Simulator::new(cfg).serve(listener);
    tracing::info!(
        url = %server.url(),
        app_key = app_key.as_str(),
        app_secret_from = secret_source,
        strict,
        "entrust simulator listening"
    );
    stop.await;
    server.drain(DRAIN_TIMEOUT).await;
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT (ctrl-c elsewhere), logging
/// which; the handlers are installed before this returns.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM"),
                _ = int.recv() => tracing::info!("SIGINT"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("ctrl-c");
        })
    }
}
