//! Shared test harness: a simulated vendor and a gateway, both real servers
//! on 127.0.0.1:0, and a plain HTTP client to talk to them.
#![allow(dead_code)]

pub mod openim;
pub mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use entrust_gateway::config::Config;
use entrust_gateway::server::App;
use entrust_gateway::server::{self, ServerHandle};
use entrust_gateway::sim::{SimConfig, SimServer, Simulator};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const APP_KEY: &str = "test-app-key";
pub const APP_SECRET: &str = "test-app-secret-Zq81";

/// Config text for a gateway in front of `urls`, plus `extra` TOML (which
/// may add keys to `[server]`, `[upstream]`, ... by repeating no header:
/// pass whole sections, e.g. "[rate_limit]\nenabled = false").
pub fn config_text(urls: &[String], upstream_extra: &str, extra: &str) -> String {
    let urls: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[upstream]\nurls = [{}]\napp_key = \"{APP_KEY}\"\napp_secret = \"{APP_SECRET}\"\n{upstream_extra}\n\n{extra}\n",
        urls.join(", ")
    )
}

pub async fn start_gateway(config_text: &str) -> ServerHandle {
    start_gateway_edited(config_text, |_| {}).await
}

/// The same, with `edit` applied to the parsed config (for `[server]` keys,
/// which `config_text` cannot add).
pub async fn start_gateway_edited(
    config_text: &str,
    edit: impl FnOnce(&mut Config),
) -> ServerHandle {
    let mut config = Config::parse(config_text).expect("test config is valid");
    edit(&mut config);
    let secret = config.load_secret().expect("test secret");
    let gw = App::new(config, secret).expect("gateway builds");
    server::start(Arc::new(gw)).await.expect("gateway listens")
}

pub async fn start_sim() -> (Simulator, SimServer) {
    Simulator::start(SimConfig::new(APP_KEY, APP_SECRET))
        .await
        .expect("simulator starts")
}

/// A simulator and a gateway in front of it.
pub struct Env {
    pub sim: Simulator,
    pub sim_server: SimServer,
    pub gw: ServerHandle,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with("", "").await
    }

    pub async fn start_with(upstream_extra: &str, extra: &str) -> Env {
        let (sim, sim_server) = start_sim().await;
        let gw = start_gateway(&config_text(&[sim_server.url()], upstream_extra, extra)).await;
        Env {
            sim,
            sim_server,
            gw,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gw.url())
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a request and reads the whole answer.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    send_with(&client(), method, url, headers, body).await
}

/// The same through a given (pooled) client.
pub async fn send_with(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).expect("valid request");
    let resp = client.request(req).await.expect("request sent");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body read").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// POST a form body through a given (pooled) client.
pub async fn post_form_with(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    form: String,
) -> Answer {
    let content_type = ("content-type", "application/x-www-form-urlencoded");
    send_with(client, Method::POST, url, &[content_type], form).await
}

/// POST a form body.
pub async fn post_form(url: &str, form: &str) -> Answer {
    send(
        Method::POST,
        url,
        &[("content-type", "application/x-www-form-urlencoded")],
        form.to_string(),
    )
    .await
}

/// POST a JSON body with OpenIM's headers.
pub async fn post_openim(
    url: &str,
    operation_id: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Answer {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("operationID", operation_id),
    ];
    if let Some(t) = token {
        headers.push(("token", t));
    }
    send(Method::POST, url, &headers, body.to_string()).await
}

/// An address on which nothing listens: port 1 on loopback refuses at once.
/// (A port bound and released could be handed to a parallel test's server
/// before the gateway connects to it.)
pub async fn closed_port_url() -> String {
    "http://127.0.0.1:1".to_string()
}

/// Most requests in any window [t, t + 1 s) of these arrival times.
pub fn max_in_any_second(times: &mut [Instant]) -> usize {
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// An upstream that accepts connections and never answers: not a TLS
/// handshake, not an HTTP answer. Each connection's first bytes are sent on
/// the channel (the signal that something arrived). Serves while the
/// returned task lives.
pub async fn silent_upstream() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    tokio::task::JoinHandle<()>,
) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(buf[..n].to_vec());
            held.push(s); // open until the task ends
        }
    });
    (addr, rx, task)
}

/// Bounds a test step: panics with `what` if `f` takes longer than 10 s.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
