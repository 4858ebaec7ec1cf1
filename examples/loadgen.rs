//! An open-loop HTTP/1.1 load generator with a fixed request rate, for
//! "latency at a given throughput" figures (what wrk2 does; wrk2 is not in
//! Debian, and wrk itself is closed-loop: it waits for each answer before
//! sending the next, so a slow answer delays the requests behind it and they
//! never count as slow: "coordinated omission").
//!
//! Request `i` is due at `start + i / rate`, whatever happened to earlier
//! ones. A pacer task waits for each due time precisely (sleeping, then
//! spinning with `yield_now` for the last millisecond, so the I/O of the
//! connections goes on meanwhile) and queues the request; `--connections`
//! keep-alive connections take queued requests in order. Latency is measured
//! from the due time to the last byte of the answer, so time a request spent
//! waiting for a free connection counts (as in wrk2); the time from actually
//! sending is reported too ("service").
//!
//! It runs on one thread and spins: pin it to a core of its own (the
//! benchmark uses `taskset`).
//!
//! ```sh
//! cargo run --release --example loadgen -- --url http://127.0.0.1:18083/entrust/group/profile/query.json \
//!     --rate 5000 --seconds 10 --connections 64 \
//!     --header 'Content-Type: application/x-www-form-urlencoded' --body 'groupIds=g1'
//! ```
//!
//! `--unique-header NAME` sends `NAME: lg-<n>` with a fresh `n` on every
//! request (e.g. OpenIM's `operationID`). The last line of the output is
//! machine-readable: `LOADGEN key=value ...` (latencies in microseconds).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;

struct Args {
    url: Uri,
    rate: f64,
    seconds: f64,
    warmup: f64,
    connections: usize,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    unique_header: Option<HeaderName>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "loadgen: {msg}\nusage: loadgen --url URL --rate PER_SECOND [--seconds S] [--warmup-seconds S] \
         [--connections N] [--method M] [--header 'K: V']... [--body TEXT] [--unique-header NAME]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut rate = None;
    let (mut seconds, mut warmup, mut connections) = (10.0, 1.0, 64);
    let mut method = Method::POST;
    let mut headers = Vec::new();
    let mut body = Bytes::new();
    let mut unique_header = None;
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--url" => {
                url = Some(
                    val()
                        .parse::<Uri>()
                        .unwrap_or_else(|e| usage(&e.to_string())),
                )
            }
            "--rate" => rate = val().parse::<f64>().ok().filter(|r| *r > 0.0),
            "--seconds" => seconds = val().parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--warmup-seconds" => {
                warmup = val()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --warmup-seconds"))
            }
            "--connections" => {
                connections = val().parse().unwrap_or_else(|_| usage("bad --connections"))
            }
            "--method" => method = val().parse().unwrap_or_else(|_| usage("bad --method")),
            "--header" => {
                let h = val();
                let (k, v) = h
                    .split_once(':')
                    .unwrap_or_else(|| usage("--header 'K: V'"));
                headers.push((
                    HeaderName::from_bytes(k.trim().as_bytes())
                        .unwrap_or_else(|_| usage("bad header name")),
                    HeaderValue::from_str(v.trim()).unwrap_or_else(|_| usage("bad header value")),
                ));
            }
            "--body" => body = Bytes::from(val()),
            "--unique-header" => {
                unique_header = Some(
                    HeaderName::from_bytes(val().as_bytes())
                        .unwrap_or_else(|_| usage("bad --unique-header")),
                )
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let url = url.unwrap_or_else(|| usage("--url is required"));
    let rate = rate.unwrap_or_else(|| usage("--rate must be a positive number"));
    if !(seconds > 0.0 && seconds <= 600.0 && (0.0..=60.0).contains(&warmup)) {
        usage("--seconds must be in (0, 600] and --warmup-seconds in [0, 60]");
    }
    if connections == 0 || connections > 10_000 {
        usage("--connections must be in 1..=10000");
    }
    Args {
        url,
        rate,
        seconds,
        warmup,
        connections,
        method,
        headers,
        body,
        unique_header,
    }
}

/// One due request: its number and when it was due.
type Due = (u64, Instant);

struct Shared {
    queue: std::sync::Mutex<VecDeque<Due>>,
    ready: Notify,
    /// Set when the pacer has queued the last request.
    finished: std::sync::atomic::AtomicBool,
    /// Recorded after the warm-up: (latency from due, latency from sent), µs.
    samples: std::sync::Mutex<Vec<(u32, u32)>>,
    errors: std::sync::atomic::AtomicU64,
    non_2xx: std::sync::atomic::AtomicU64,
    measure_from: u64,
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let authority = args
        .url
        .authority()
        .unwrap_or_else(|| usage("--url needs host:port"))
        .clone();
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path = args
        .url
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let warmup_n = (args.rate * args.warmup).round() as u64;
    let total = warmup_n + (args.rate * args.seconds).round() as u64;
    let shared = Arc::new(Shared {
        queue: std::sync::Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        finished: false.into(),
        samples: std::sync::Mutex::new(Vec::with_capacity((total - warmup_n) as usize)),
        errors: 0.into(),
        non_2xx: 0.into(),
        measure_from: warmup_n,
    });
    let template = Arc::new({
        let mut r = Request::new(());
        *r.method_mut() = args.method.clone();
        *r.uri_mut() = path.parse::<Uri>().unwrap_or_else(|_| usage("bad path"));
        r.headers_mut().insert(
            header::HOST,
            HeaderValue::from_str(authority.as_str()).expect("host"),
        );
        for (k, v) in &args.headers {
            r.headers_mut().insert(k.clone(), v.clone());
        }
        r
    });

    // Connect every connection before the clock starts.
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let stream = TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| usage(&format!("cannot connect to {addr}: {e}")));
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| usage(&format!("handshake: {e}")));
        tokio::spawn(conn);
        senders.push(sender);
    }
    let started = Instant::now() + Duration::from_millis(10);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut workers = Vec::new();
    for sender in senders {
        workers.push(tokio::spawn(worker(
            sender,
            shared.clone(),
            template.clone(),
            args.body.clone(),
            args.unique_header.clone(),
        )));
    }
    // The pacer.
    let late = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        loop {
            let now = Instant::now();
            if now >= due {
                if i >= warmup_n {
                    let mut l = late.lock().unwrap_or_else(|e| e.into_inner());
                    l.push((now - due).as_micros().min(u32::MAX as u128) as u32);
                }
                break;
            }
            let left = due - now;
            if left > Duration::from_millis(2) {
                tokio::time::sleep(left - Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((i, due));
        shared.ready.notify_one();
    }
    shared
        .finished
        .store(true, std::sync::atomic::Ordering::Release);
    shared.ready.notify_waiters();
    let measure_start = started + interval.mul_f64(warmup_n as f64);
    // Bounded: a worker gives up on a request after 10 s.
    for w in workers {
        let _ = w.await;
    }
    let wall = measure_start.elapsed();
    report(&args, &shared, &late, total - warmup_n, wall);
}

async fn worker(
    mut sender: http1::SendRequest<Full<Bytes>>,
    shared: Arc<Shared>,
    template: Arc<Request<()>>,
    body: Bytes,
    unique: Option<HeaderName>,
) {
    use std::sync::atomic::Ordering;
    loop {
        let next = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some((i, due)) = next else {
            if shared.finished.load(Ordering::Acquire) {
                return;
            }
            let notified = shared.ready.notified();
            // Re-check after registering, so a wake-up is never lost.
            if !shared
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
                || shared.finished.load(Ordering::Acquire)
            {
                continue;
            }
            notified.await;
            continue;
        };
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = template.method().clone();
        *req.uri_mut() = template.uri().clone();
        *req.headers_mut() = template.headers().clone();
        if let Some(name) = &unique
            && let Ok(v) = HeaderValue::from_str(&format!("lg-{}-{i}", std::process::id()))
        {
            req.headers_mut().insert(name.clone(), v);
        }
        if sender.ready().await.is_err() {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sent = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), async {
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        })
        .await;
        let done = Instant::now();
        match result {
            Ok(Ok(status)) => {
                if !status.is_success() {
                    shared.non_2xx.fetch_add(1, Ordering::Relaxed);
                }
                if i >= shared.measure_from {
                    let us = |d: Duration| d.as_micros().min(u32::MAX as u128) as u32;
                    shared
                        .samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((us(done - due), us(done - sent)));
                }
            }
            _ => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return; // the connection is unusable
            }
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(
    args: &Args,
    shared: &Shared,
    late: &std::sync::Mutex<Vec<u32>>,
    scheduled: u64,
    wall: Duration,
) {
    use std::sync::atomic::Ordering;
    let samples = shared.samples.lock().unwrap_or_else(|e| e.into_inner());
    let mut total: Vec<u32> = samples.iter().map(|s| s.0).collect();
    let mut service: Vec<u32> = samples.iter().map(|s| s.1).collect();
    let mut late = late.lock().unwrap_or_else(|e| e.into_inner()).clone();
    total.sort_unstable();
    service.sort_unstable();
    late.sort_unstable();
    let achieved = total.len() as f64 / wall.as_secs_f64();
    let errors = shared.errors.load(Ordering::Relaxed);
    let non_2xx = shared.non_2xx.load(Ordering::Relaxed);
    println!(
        "target {:.0}/s for {:.1} s (+{:.1} s warm-up) over {} connections: {} scheduled, {} answered, {:.0}/s",
        args.rate,
        args.seconds,
        args.warmup,
        args.connections,
        scheduled,
        total.len(),
        achieved
    );
    println!("errors {errors}, non-2xx {non_2xx}");
    let ms = |us: u32| f64::from(us) / 1000.0;
    for (name, v) in [
        ("latency (from due time)", &total),
        ("service (from sending)", &service),
    ] {
        println!(
            "{name:<25} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(percentile(v, 50.0)),
            ms(percentile(v, 90.0)),
            ms(percentile(v, 99.0)),
            ms(percentile(v, 99.9)),
            ms(percentile(v, 100.0)),
        );
    }
    println!(
        "pacer lateness            p50 {:.3} ms  p99 {:.3} ms  (how late requests were queued; large means the generator itself fell behind)",
        ms(percentile(&late, 50.0)),
        ms(percentile(&late, 99.0)),
    );
    println!(
        "LOADGEN rate={:.0} achieved={achieved:.0} answered={} errors={errors} non2xx={non_2xx} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} svc_p99_us={} late_p99_us={}",
        args.rate,
        total.len(),
        percentile(&total, 50.0),
        percentile(&total, 90.0),
        percentile(&total, 99.0),
        percentile(&total, 99.9),
        percentile(&total, 100.0),
        percentile(&service, 99.0),
        percentile(&late, 99.0),
    );
}
