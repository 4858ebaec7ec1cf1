//! Standalone mode: the simulator as a local fake of the vendor's server.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::simulator::{SimConfig, Simulator};

/// Binds `listen`, logs one line with the URL, and serves plain HTTP until
/// ctrl-c.
pub async fn run_standalone(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let app_key = cfg.app_key.clone();
    let strict = cfg.strict;
    let server = Simulator::new(cfg).serve(listener);
    tracing::info!(url = %server.url(), app_key = %app_key, strict, "entrust simulator listening");
    tokio::signal::ctrl_c().await?;
    server.shutdown();
    Ok(())
}
