//! The floor for `bench/cost.sh`: the least a proxy built on the gateway's own
//! stack (hyper 1 server, hyper-util's pooled client, tokio) can spend per
//! request. It buffers the request body, sends the request on to the upstream
//! with four static headers (where the gateway would sign), buffers the answer
//! and returns it. No routing, no quota, no signing, no logs, no metrics: what
//! the gateway spends beyond this is its own work.
//!
//! ```sh
//! cargo run --release --example bare_proxy -- --listen 18084 --upstream 127.0.0.1:18081
//! cargo run --release --example bare_proxy -- --listen 18084 --upstream 127.0.0.1:18081 --current-thread
//! ```
//!
//! The runtime is multi-threaded (as the gateway's is) unless
//! `--current-thread`: both are measured, to see what the work-stealing
//! runtime's wake-ups cost.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

type Upstream = Client<HttpConnector, Full<Bytes>>;

/// The same four headers nginx sets in the benchmark: a signature's shape
/// without its cost.
const STATIC_HEADERS: [(&str, &str); 4] = [
    ("app-key", "bench-app-key"),
    ("nonce", "123456789012345678"),
    ("timestamp", "1408710653000"),
    ("signature", "30be0bbca9c9b2e27578701e9fda2358a814c88f"),
];

fn usage(msg: &str) -> ! {
    eprintln!(
        "bare_proxy: {msg}\nusage: bare_proxy --listen PORT --upstream HOST:PORT [--current-thread]   \
         (listens on 127.0.0.1:PORT)"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut port, mut upstream, mut current_thread) = (None::<u16>, None::<Authority>, false);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => port = Some(val().parse().unwrap_or_else(|_| usage("bad --listen"))),
            "--upstream" => {
                upstream = Some(val().parse().unwrap_or_else(|_| usage("bad --upstream")))
            }
            "--current-thread" => current_thread = true,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let port = port.unwrap_or_else(|| usage("--listen is required"));
    let upstream = upstream.unwrap_or_else(|| usage("--upstream is required"));
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = runtime.unwrap_or_else(|e| {
        eprintln!("bare_proxy: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = runtime.block_on(serve(SocketAddr::from(([127, 0, 0, 1], port)), upstream)) {
        eprintln!("bare_proxy: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, upstream: Authority) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    // As the gateway's client: no Nagle delay, the same idle pool size.
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(256)
        .build(http);
    // Exits on SIGINT/SIGTERM (as the gateway does), so that a profiler
    // running it (callgrind) sees a normal exit and writes its counts.
    let (mut int, mut term) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
        };
        let (stream, _) = match accepted {
            Ok(c) => c,
            Err(_) => {
                // Out of file descriptors: back off rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: Upstream,
    upstream: Authority,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTP);
    uri.authority = Some(upstream);
    uri.path_and_query = parts.uri.path_and_query().cloned();
    let Ok(uri) = Uri::from_parts(uri) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    parts.headers.remove(http::header::HOST);
    for (name, value) in STATIC_HEADERS {
        parts.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let answer = match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(a) => a,
        Err(_) => return Ok(status(StatusCode::BAD_GATEWAY)),
    };
    let (parts, body) = answer.into_parts();
    match body.collect().await {
        Ok(b) => Ok(Response::from_parts(parts, Full::new(b.to_bytes()))),
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}
