//! A minimal, fast stand-in for the vendor, for benchmarks: every `POST`
//! (any path) is answered `{"code":200}` as JSON, at once, without checking
//! anything. It counts requests per path and keeps the last body of each, so
//! a benchmark can check what a proxy really sent: `GET /__stats` answers
//! `{"POST /path": {"count": N, "last_body": "..."}, ...}`.
//!
//! ```sh
//! cargo run --release --example upstream_stub -- 18081          # 127.0.0.1:18081
//! cargo run --release --example upstream_stub -- 18081 --threads 2
//! cargo run --release --example upstream_stub -- 18081 --delay-ms 2000   # a slow upstream
//! ```
//!
//! `--delay-ms` holds every `POST` that long before answering (a slow
//! vendor: `bench/cost.sh` uses it to keep requests in flight).
//!
//! One thread (a current-thread runtime) by default: the benchmark pins the
//! stub next to the proxy under test, on one core.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const ANSWER: &[u8] = br#"{"code":200}"#;

#[derive(Default)]
struct PathStats {
    count: u64,
    last_body: Bytes,
}

type Stats = Arc<Mutex<BTreeMap<String, PathStats>>>;

fn usage() -> ! {
    eprintln!(
        "usage: upstream_stub PORT [--threads N] [--delay-ms MS]   (listens on 127.0.0.1:PORT)"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut port: Option<u16> = None;
    let mut threads = 1usize;
    let mut delay_ms = 0u64;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--delay-ms" => {
                delay_ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            p => port = Some(p.parse().unwrap_or_else(|_| usage())),
        }
    }
    let Some(port) = port else { usage() };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = runtime.unwrap_or_else(|e| {
        eprintln!("upstream_stub: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = runtime.block_on(serve(
        SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(delay_ms),
    )) {
        eprintln!("upstream_stub: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, delay: std::time::Duration) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("upstream_stub: listening on {}", listener.local_addr()?);
    let stats: Stats = Arc::default();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors: back off rather than spin.
                eprintln!("upstream_stub: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stats = stats.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(stats.clone(), delay, req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    stats: Stats,
    delay: std::time::Duration,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    // Read the whole body, as a real server would.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if parts.method == Method::GET && parts.uri.path() == "/__stats" {
        return Ok(json(StatusCode::OK, Bytes::from(stats_json(&stats))));
    }
    if parts.method == Method::POST && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if parts.method != Method::POST {
        return Ok(json(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(br#"{"code":405}"#),
        ));
    }
    {
        let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
        let path = parts.uri.path();
        // No allocation once a path has been seen.
        if !s.contains_key(path) {
            s.insert(path.to_string(), PathStats::default());
        }
        if let Some(entry) = s.get_mut(path) {
            entry.count += 1;
            entry.last_body = body;
        }
    }
    Ok(json(StatusCode::OK, Bytes::from_static(ANSWER)))
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn stats_json(stats: &Stats) -> String {
    let s = stats.lock().unwrap_or_else(|e| e.into_inner());
    let map: serde_json::Map<String, serde_json::Value> = s
        .iter()
        .map(|(k, v)| {
            (
                format!("POST {k}"),
                serde_json::json!({
                    "count": v.count,
                    "last_body": String::from_utf8_lossy(&v.last_body),
                }),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}
