//! Shared test harness: a simulated vendor and a gateway, both real servers
//! on 127.0.0.1:0, a plain HTTP client to talk to them, and what several
//! behaviours check alike (metrics, health, logs, memory).

pub mod openim;
pub mod redis_server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The gateway binary, for the tests that run it as a process.
pub const BIN: &str = env!("CARGO_BIN_EXE_entrust-gateway");

pub const APP_KEY: &str = "test-app-key";
pub const APP_SECRET: &str = "test-app-secret-Zq81";

/// The write and the read most tests send.
pub const CREATE: &str = "/entrust/group/create.json";
pub const QUERY: &str = "/entrust/group/profile/query.json";
/// A form body's Content-Type, as the entrust face wants it.
pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
/// The header duplicate protection is keyed by.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

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

/// The same with `server_keys` in `[server]` (which holds only `listen`
/// in the test config).
pub fn config_with_server(
    urls: &[String],
    server_keys: &str,
    upstream_extra: &str,
    extra: &str,
) -> String {
    config_text(urls, upstream_extra, extra)
        .replace("[server]\n", &format!("[server]\n{server_keys}\n"))
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
        Env::start_with_server("", upstream_extra, extra).await
    }

    /// With `server_keys` in `[server]` too.
    pub async fn start_with_server(server_keys: &str, upstream_extra: &str, extra: &str) -> Env {
        let (sim, sim_server) = start_sim().await;
        Env::on_sim(sim, sim_server, server_keys, upstream_extra, extra).await
    }

    /// In front of a simulator configured by `edit` (bigger groups, no
    /// rate limit, a longer request log).
    pub async fn start_with_sim(edit: impl FnOnce(&mut SimConfig), extra: &str) -> Env {
        let mut cfg = SimConfig::new(APP_KEY, APP_SECRET);
        edit(&mut cfg);
        let (sim, sim_server) = Simulator::start(cfg).await.expect("simulator starts");
        Env::on_sim(sim, sim_server, "", "", extra).await
    }

    async fn on_sim(
        sim: Simulator,
        sim_server: SimServer,
        server_keys: &str,
        upstream_extra: &str,
        extra: &str,
    ) -> Env {
        let text = config_with_server(&[sim_server.url()], server_keys, upstream_extra, extra);
        let gw = start_gateway(&text).await;
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

pub async fn get(url: &str) -> Answer {
    send(Method::GET, url, &[], "").await
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

/// POSTs a form `body` to the gateway's `path`, with `headers` too.
pub async fn post_form_at(env: &Env, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut h = vec![FORM];
    h.extend_from_slice(headers);
    send(Method::POST, &env.url(path), &h, body.to_string()).await
}

/// POSTs a form body to `gw`'s create.json.
pub async fn post_create(gw: &ServerHandle, form: &str) -> Answer {
    post_form(&format!("{}{CREATE}", gw.url()), form).await
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

/// Polls `done` (yielding between tries) until it holds: for a state the
/// code under test offers no signal for. Bounded like [`within`].
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    within(what, async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await
}

/// Polls the async `done` every 20 ms until it holds: for a state outside
/// the process (Redis, another gateway) that offers no signal. Bounded like
/// [`within`].
pub async fn poll_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    within(what, async {
        while !done().await {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// The gateway's `/metrics` text, scraped over HTTP as Prometheus does (so
/// the scrape itself is one request in flight).
pub async fn metrics(gw: &ServerHandle) -> String {
    get(&format!("{}/metrics", gw.url())).await.text()
}

/// The value of the sample `name{labels}` in a `/metrics` text, the labels
/// in the order the gateway writes them (none: `name value`); `None` when
/// there is no such sample.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{name}{{{}}} ", labels.join(","))
    };
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

pub const IN_FLIGHT: &str = "entrust_gateway_in_flight_requests";

/// `/healthz` answers 200 `{"status": "ok"}`.
pub async fn healthy(env: &Env) {
    let h = get(&env.url("/healthz")).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
}

/// The in-flight gauge as `/metrics` reports it, less the scrape itself.
pub async fn in_flight(env: &Env) -> i64 {
    let m = metrics(&env.gw).await;
    sample(&m, IN_FLIGHT, &[]).expect("in-flight gauge") as i64 - 1
}

/// A fresh directory for this test process's files named `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("entrust-gw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` to `dir/name`; its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A tokens file for `server.auth_tokens_file` holding `tokens` (one a
/// line); its path.
pub fn tokens_file(name: &str, tokens: &str) -> String {
    let f = write_file(&temp_dir(name), "tokens", tokens);
    f.display().to_string()
}

/// Log output captured from the current thread while it lives (the
/// gateway's tasks log there too on a `#[tokio::test]` runtime, which runs
/// on the test's thread).
pub struct Logs {
    out: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Starts capturing this thread's log output.
pub fn capture_logs() -> Logs {
    let out = Arc::new(Mutex::new(Vec::new()));
    let writer = Captured(out.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    Logs {
        out,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl Logs {
    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }
}

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// This process's resident memory, in KiB (0 where /proc is not there).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Serializes the heavy tests: those that measure the process (load and
/// timing at the vendor, memory) and those heavy enough to be in such a
/// measurement (megabyte bodies, floods of connections). They share the
/// machine's two cores and one process: one's load or memory would be in
/// another's measurement.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

/// Runs `start` on runtimes of its own in a thread of its own (as a
/// separate process would): a load generator's thousands of tasks then
/// can't delay its servers' timers or the simulator's arrival timestamps.
/// `start` gets a one-thread runtime (for the simulator) and a two-thread
/// one. Serves until the returned [`Serving`] is dropped.
pub fn on_own_runtimes<T: Send + 'static>(
    start: impl FnOnce(&tokio::runtime::Runtime, &tokio::runtime::Runtime) -> T + Send + 'static,
) -> Serving<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, rx_stop) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = |threads| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .expect("runtime")
        };
        let (rt_sim, rt) = (runtime(1), runtime(2));
        tx.send(start(&rt_sim, &rt)).expect("send what started");
        // Serve until the test is done.
        let _ = rx_stop.recv();
    });
    let started = rx.recv().expect("servers start on their own runtimes");
    Serving {
        started: Some(started),
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// What [`on_own_runtimes`] started, served while this lives.
pub struct Serving<T> {
    started: Option<T>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T> std::ops::Deref for Serving<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.started.as_ref().expect("serving")
    }
}

impl<T> Drop for Serving<T> {
    fn drop(&mut self) {
        // The servers' handles first, then their runtimes.
        self.started.take();
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The request bodies `sim` received that start with `prefix`, in the
/// order they arrived.
pub fn bodies_starting(sim: &Simulator, prefix: &str) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|b| b.starts_with(prefix))
        .collect()
}

/// Writes raw bytes on a fresh connection and reads what comes back until
/// the gateway closes it, one whole answer has come, or 10 s pass.
pub async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                // One whole answer is enough.
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    });
                    if len.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A private CA, and a certificate it signed for `name` with its key.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

pub fn private_ca(name: &str) -> Pki {
    let ca = TestCa::new();
    let leaf = ca.server(name);
    Pki {
        ca_pem: ca.pem.clone(),
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
        cert_der: leaf.cert_der,
        key_der: leaf.key_der,
    }
}

/// A private CA that issues as many certificates as a test needs.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate a [`TestCa`] issued, with its key.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa {
            pem: issuer.pem(),
            issuer,
        }
    }

    /// A certificate for `params`, with a new key.
    pub fn issue(&self, params: rcgen::CertificateParams) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A server certificate for the DNS name `name`.
    pub fn server(&self, name: &str) -> Leaf {
        self.issue(rcgen::CertificateParams::new(vec![name.to_string()]).unwrap())
    }

    /// A client certificate: subject `CN=<cn>,O=<org>`, and `uri` as its
    /// one subject alternative name.
    pub fn client(&self, cn: &str, org: &str, uri: &str) -> Leaf {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .subject_alt_names
            .push(rcgen::SanType::URI(uri.try_into().unwrap()));
        self.issue(params)
    }
}

/// The fingerprint the gateway takes of a create.json with `body`.
pub fn create_fingerprint(body: &str) -> entrust_gateway::idempotency::Fingerprint {
    let (parts, ()) = http::Request::post(CREATE).body(()).unwrap().into_parts();
    entrust_gateway::idempotency::fingerprint(&parts, body.as_bytes())
}

/// How much of the vendor's 100 a second these arrival times (sorted) used,
/// from the first to the last; and that span, in seconds.
pub fn utilisation(times: &[Instant]) -> (f64, f64) {
    let span = times.last().unwrap().duration_since(times[0]).as_secs_f64();
    ((times.len() - 1) as f64 / span / 100.0, span)
}

/// `f` of each item of a JSON list, in order.
pub fn each<T>(list: &serde_json::Value, f: impl Fn(&serde_json::Value) -> T) -> Vec<T> {
    list.as_array().unwrap().iter().map(f).collect()
}

/// A string field of a JSON object.
pub fn text(v: &serde_json::Value, key: &str) -> String {
    v[key].as_str().unwrap().to_string()
}

/// A gateway whose primary data center refuses connections, in front of a
/// simulator as its backup.
pub async fn dead_primary(
    upstream_extra: &str,
    extra: &str,
) -> (Simulator, SimServer, ServerHandle) {
    let dead = closed_port_url().await;
    let (sim, backup) = start_sim().await;
    let gw = start_gateway(&config_text(&[dead, backup.url()], upstream_extra, extra)).await;
    (sim, backup, gw)
}

/// The `gateway.toml` a Kubernetes manifest carries in a ConfigMap (the
/// block under `gateway.toml: |`, its indentation removed), if any.
pub fn configmap_toml(yaml: &str) -> Option<String> {
    let toml: String = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("gateway.toml: |"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    (!toml.trim().is_empty()).then_some(toml)
}
