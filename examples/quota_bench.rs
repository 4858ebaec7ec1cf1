//! Measures the quota: the vendor simulator and a gateway in front of it, in
//! this process, driven open-loop at a multiple of the per-path limit.
//!
//! ```sh
//! cargo run --release --example quota_bench -- --multiple 10 --seconds 5
//! cargo run --release --example quota_bench -- --multiple 3 --seconds 10 --per-second 50 \
//!     --path /entrust/group/profile/query.json --sim-unlimited
//! ```
//!
//! Request `i` is sent at `start + i / (multiple × per_second)`, each from
//! its own task, whatever happened to the earlier ones (open loop), with
//! body `--body` (`{i}` is replaced by `i`; default `groupIds=g{i}`, a read
//! the simulator answers 200 for any id). It prints what the vendor saw (the
//! most requests in any sliding one-second window, from the simulator's
//! arrival times; the sustained rate; the utilisation of the quota) and what
//! the callers saw (p50/p99 wait of the successful ones, 429s), and the
//! vendor's own refusals (code 1008), which must be 0.
//!
//! The simulator enforces `--per-second` itself (as the vendor does) unless
//! `--sim-unlimited`: then it counts but never refuses, so an overshoot by
//! the gateway would show in the window count instead of as 1008s.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{max_in_any_second, percentile};
use entrust_gateway::config::Config;
use entrust_gateway::server;
use entrust_gateway::server::App;
use entrust_gateway::sim::{SimConfig, Simulator};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Demo credentials, not a secret.
const APP_KEY: &str = "quota-bench-key";
const APP_SECRET: &str = "quota-bench-secret";

struct Args {
    multiple: f64,
    seconds: f64,
    per_second: u32,
    path: String,
    body: String,
    sim_unlimited: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "quota_bench: {msg}\nusage: quota_bench [--multiple X] [--seconds S] [--per-second N] \
         [--path /entrust/...json] [--body 'k=v{{i}}'] [--sim-unlimited]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        multiple: 10.0,
        seconds: 5.0,
        per_second: 100,
        path: "/entrust/group/profile/query.json".into(),
        body: "groupIds=g{i}".into(),
        sim_unlimited: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--multiple" => a.multiple = val().parse().unwrap_or_else(|_| usage("bad --multiple")),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--per-second" => {
                a.per_second = val().parse().unwrap_or_else(|_| usage("bad --per-second"))
            }
            "--path" => a.path = val(),
            "--body" => a.body = val(),
            "--sim-unlimited" => a.sim_unlimited = true,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    // Bounded: at most 60 s and 20 000 requests/s offered.
    if !(a.multiple > 0.0 && a.seconds > 0.0 && a.seconds <= 60.0) {
        usage("--multiple must be > 0 and --seconds in (0, 60]");
    }
    if a.per_second == 0 || a.multiple * f64::from(a.per_second) > 20_000.0 {
        usage("--per-second must be > 0 and multiple × per-second at most 20000");
    }
    a
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let mut sim_cfg = SimConfig::new(APP_KEY, APP_SECRET);
    // The report reads every request the vendor saw, not only the newest.
    sim_cfg.request_log_max = usize::MAX;
    sim_cfg.rate_per_second = if args.sim_unlimited {
        0
    } else {
        args.per_second
    };
    let (sim, sim_server) = Simulator::start(sim_cfg)
        .await
        .unwrap_or_else(|e| usage(&format!("cannot start the simulator: {e}")));
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[upstream]\nurls = [\"{}\"]\napp_key = \"{APP_KEY}\"\napp_secret = \"{APP_SECRET}\"\n\n[rate_limit]\nper_second = {}\n\n[log]\nlevel = \"warn\"\n",
        sim_server.url(),
        args.per_second
    );
    let config = Config::parse(&toml).unwrap_or_else(|e| usage(&e.to_string()));
    let secret = config
        .load_secret()
        .unwrap_or_else(|e| usage(&e.to_string()));
    let gateway = App::new(config, secret).unwrap_or_else(|e| usage(&e.to_string()));
    let handle = server::start(Arc::new(gateway))
        .await
        .unwrap_or_else(|e| usage(&format!("cannot start the gateway: {e}")));
    let url = format!("{}{}", handle.url(), args.path);

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build_http();
    let rate = args.multiple * f64::from(args.per_second);
    let total = (rate * args.seconds).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    println!(
        "quota {}/s on {}; offering {rate:.0}/s ({}x) for {} s: {total} requests, open loop; simulator {}",
        args.per_second,
        args.path,
        args.multiple,
        args.seconds,
        if args.sim_unlimited {
            "not rate-limiting (counts only)".to_string()
        } else {
            format!("enforcing {}/s itself", args.per_second)
        }
    );
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let req = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(
                args.body.replace("{i}", &i.to_string()),
            )))
            .expect("valid request");
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(30), async {
                let resp = client.request(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
            })
            .await;
            (r, sent.elapsed())
        }));
    }
    let offered_for = started.elapsed();
    let (mut ok, mut limited, mut other, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut waits = Vec::new();
    for t in tasks {
        let Ok((r, took)) = t.await else {
            failed += 1;
            continue;
        };
        match r {
            Ok(Ok((StatusCode::OK, _))) => {
                ok += 1;
                waits.push(took);
            }
            Ok(Ok((StatusCode::TOO_MANY_REQUESTS, _))) => limited += 1,
            Ok(Ok((s, body))) => {
                if other == 0 {
                    eprintln!(
                        "first unexpected answer: {s} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                other += 1;
            }
            _ => failed += 1,
        }
    }
    waits.sort();

    let reqs = sim.requests();
    let mut times: Vec<Instant> = reqs
        .iter()
        .filter(|r| r.path == args.path)
        .map(|r| r.at)
        .collect();
    times.sort();
    let accepted = reqs
        .iter()
        .filter(|r| r.path == args.path && r.code == 200)
        .count();
    let vendor_1008 = reqs.iter().filter(|r| r.code == 1008).count();
    let span = match (times.first(), times.last()) {
        (Some(a), Some(b)) => b.duration_since(*a).as_secs_f64(),
        _ => 0.0,
    };
    let max_window = max_in_any_second(&times);
    let sustained = if span > 0.0 {
        accepted as f64 / span
    } else {
        0.0
    };
    let utilisation = sustained / f64::from(args.per_second);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    println!(
        "offered:   {total} requests in {:.2} s ({:.0}/s)",
        offered_for.as_secs_f64(),
        total as f64 / offered_for.as_secs_f64()
    );
    println!(
        "callers:   {ok} x 200, {limited} x 429, {other} other, {failed} failed; wait of the 200s p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&waits, 50.0)),
        ms(percentile(&waits, 99.0)),
        ms(percentile(&waits, 100.0))
    );
    println!(
        "vendor:    {} requests, {accepted} accepted over {span:.2} s; max in any 1 s window {max_window} (limit {}); sustained {sustained:.1}/s; utilisation {:.1}% (accepted / (span x per_second)); vendor 1008s {vendor_1008}",
        times.len(),
        args.per_second,
        utilisation * 100.0
    );
    println!(
        "QUOTA multiple={} seconds={} per_second={} offered={total} ok={ok} r429={limited} other={other} failed={failed} max_window={max_window} sustained={sustained:.1} utilisation={utilisation:.4} wait_p50_ms={:.1} wait_p99_ms={:.1} vendor_1008={vendor_1008}",
        args.multiple,
        args.seconds,
        args.per_second,
        ms(percentile(&waits, 50.0)),
        ms(percentile(&waits, 99.0)),
    );
    handle.shutdown().await;
    let fine = vendor_1008 == 0
        && max_window <= args.per_second as usize
        && other == 0
        && failed == 0
        && ok as usize == accepted;
    if !fine {
        eprintln!(
            "quota_bench: FAILED: the vendor saw more than the limit, refused, or a caller got an unexpected answer"
        );
        std::process::exit(1);
    }
}
