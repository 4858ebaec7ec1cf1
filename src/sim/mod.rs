//! Placeholder with the simulator's agreed API; replaced by the real simulator.
#![allow(dead_code, unused_variables)]

use std::net::SocketAddr;

pub struct SimConfig {
    pub app_key: String,
    pub app_secret: String,
    pub rate_per_second: u32,
}
impl SimConfig {
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        SimConfig {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            rate_per_second: 100,
        }
    }
}
#[derive(Clone)]
pub struct Simulator;
pub struct SimServer {
    pub addr: SocketAddr,
}
impl SimServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
impl Simulator {
    pub async fn start(cfg: SimConfig) -> std::io::Result<(Simulator, SimServer)> {
        Err(std::io::Error::other("simulator not merged yet"))
    }
}
pub async fn run_standalone(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<()> {
    Err(std::io::Error::other("simulator not merged yet"))
}
