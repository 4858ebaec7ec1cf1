//! The fleet demo and measurement (issue 14): N gateways sharing one app
//! key through one Redis, in front of the vendor simulator, driven open-loop
//! at a multiple of the vendor's limit. Prints, per second, what the vendor
//! saw, then the most requests in any sliding second, the utilisation, and
//! the permit latency the Redis round trip adds.
//!
//! ```sh
//! cargo run --release --example fleet -- --instances 8 --multiple 10 --seconds 5
//! cargo run --release --example fleet -- --instances 16 --redis redis://127.0.0.1:6379/0
//! cargo run --release --example fleet -- --instances 8 --topology sentinel
//! cargo run --release --example fleet -- --instances 8 --topology cluster
//! ```
//!
//! Without `--redis` it starts its own Redis on free loopback ports:
//! `--topology single` (the default) one `redis-server`; `sentinel` a master,
//! two replicas and three `redis-sentinel`s (`[redis] sentinels`,
//! `master_name`); `cluster` three masters with a replica each, made with
//! `redis-cli --cluster create` (`[redis] cluster_urls`). They must be on
//! PATH (`scripts/test.sh` installs them). The
//! simulator runs on its own thread and runtime (its arrival times are the
//! measurement), the gateways on another (two worker threads, like a small
//! pod each would get less), the load generator on a third. The simulator
//! enforces 100/s itself, as the vendor does: an overshoot shows as 1008s.
//! Exits 1 if the vendor saw more than 100 in any second, refused anything,
//! or a caller got anything but 200 or 429.
//!
//! Permit latency: before the load, each gateway takes permits on another
//! path well under its quota (so no caller waits for a slot), timed around
//! `Limiter::acquire`: that is the time the Redis reservation adds to a call.
//! The same is measured on a gateway without `[redis]` for comparison.

mod common;
#[allow(dead_code)]
#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{max_in_any_second, percentile};
use entrust_gateway::config::Config;
use entrust_gateway::server::App;
use entrust_gateway::server::{self, ServerHandle};
use entrust_gateway::sim::{SimConfig, Simulator};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Demo credentials, not a secret.
const APP_KEY: &str = "fleet-demo-key";
const APP_SECRET: &str = "fleet-demo-secret";
const LOAD_PATH: &str = "/entrust/group/profile/query.json";
const PROBE_PATH: &str = "/entrust/group/create.json";
const PER_SECOND: u32 = 100;

struct Args {
    instances: usize,
    multiple: f64,
    seconds: f64,
    redis: Option<String>,
    topology: Topology,
}

/// The Redis the example starts when `--redis` is not given.
#[derive(Clone, Copy, PartialEq)]
enum Topology {
    Single,
    Sentinel,
    Cluster,
}

/// The Redis it started, served while this lives.
enum OwnRedis {
    Single(redis_server::RedisServer),
    Sentinel(redis_server::SentinelSet),
    Cluster(redis_server::Cluster),
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "fleet: {msg}\nusage: fleet [--instances N] [--multiple X] [--seconds S] [--redis redis://... | --topology single|sentinel|cluster]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        instances: 8,
        multiple: 10.0,
        seconds: 5.0,
        redis: None,
        topology: Topology::Single,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--instances" => {
                a.instances = val().parse().unwrap_or_else(|_| usage("bad --instances"))
            }
            "--multiple" => a.multiple = val().parse().unwrap_or_else(|_| usage("bad --multiple")),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--redis" => a.redis = Some(val()),
            "--topology" => {
                a.topology = match val().as_str() {
                    "single" => Topology::Single,
                    "sentinel" => Topology::Sentinel,
                    "cluster" => Topology::Cluster,
                    _ => usage("--topology is single, sentinel or cluster"),
                }
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if !((1..=64).contains(&a.instances) && a.multiple > 0.0 && a.multiple <= 50.0) {
        usage("--instances in 1..=64 and --multiple in (0, 50]");
    }
    if !(a.seconds > 0.0 && a.seconds <= 60.0) {
        usage("--seconds in (0, 60]");
    }
    if a.redis.is_some() && a.topology != Topology::Single {
        usage("--redis or --topology, not both");
    }
    a
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage(&format!("cannot start a runtime: {e}")))
}

/// A gateway in front of `sim_url`, with `redis` (a whole `[redis]`
/// section) if any.
async fn start_gateway(sim_url: &str, redis: Option<&str>) -> ServerHandle {
    let redis = redis.unwrap_or_default();
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[upstream]\nurls = [\"{sim_url}\"]\napp_key = \"{APP_KEY}\"\napp_secret = \"{APP_SECRET}\"\n\n[log]\nlevel = \"warn\"\n\n{redis}"
    );
    let config = Config::parse(&toml).unwrap_or_else(|e| usage(&e.to_string()));
    let secret = config
        .load_secret()
        .unwrap_or_else(|e| usage(&e.to_string()));
    let gateway = App::new(config, secret).unwrap_or_else(|e| usage(&e.to_string()));
    server::start(Arc::new(gateway))
        .await
        .unwrap_or_else(|e| usage(&format!("cannot start a gateway: {e}")))
}

/// Times `n` permits on PROBE_PATH, round robin over `gws`, at 50/s (well
/// under the quota, so none waits for a slot): p50 and p99.
async fn permit_latency(gws: &[Arc<App>], n: usize) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..n {
        tick.tick().await;
        let started = Instant::now();
        let gw = &gws[i % gws.len()];
        let Some(path) = gw.vendor().routes().entrust(PROBE_PATH) else {
            usage("the probe path is not forwarded");
        };
        if gw.vendor().quota().acquire(path).await.is_err() {
            usage("a probe permit was refused: is the Redis shared with another fleet?");
        }
        took.push(started.elapsed());
    }
    took.sort();
    (percentile(&took, 50.0), percentile(&took, 99.0))
}

fn main() {
    let args = parse_args();
    let own_redis = match (&args.redis, args.topology) {
        (Some(_), _) => None,
        (None, Topology::Single) => Some(OwnRedis::Single(redis_server::RedisServer::start())),
        (None, Topology::Sentinel) => Some(OwnRedis::Sentinel(redis_server::SentinelSet::start(2))),
        (None, Topology::Cluster) => Some(OwnRedis::Cluster(redis_server::Cluster::start(3))),
    };
    let redis_section = match (&args.redis, &own_redis) {
        (Some(url), _) => format!("[redis]\nurl = \"{url}\"\n"),
        (None, Some(OwnRedis::Single(r))) => format!("[redis]\nurl = \"{}\"\n", r.url()),
        (None, Some(OwnRedis::Sentinel(set))) => set.config(),
        (None, Some(OwnRedis::Cluster(c))) => c.config(),
        (None, None) => usage("no Redis"),
    };
    let (rt_sim, rt_gw, rt_load) = (runtime(1), runtime(2), runtime(2));
    let (sim, sim_server) = rt_sim
        .block_on(Simulator::start(SimConfig::new(APP_KEY, APP_SECRET)))
        .unwrap_or_else(|e| usage(&format!("cannot start the simulator: {e}")));
    let sim_url = sim_server.url();
    let (handles, local) = rt_gw.block_on(async {
        let mut handles = Vec::new();
        for _ in 0..args.instances {
            handles.push(start_gateway(&sim_url, Some(&redis_section)).await);
        }
        (handles, start_gateway(&sim_url, None).await)
    });
    let gws: Vec<Arc<App>> = handles.iter().map(|h| h.app.clone()).collect();
    let ((p50, p99), (l50, l99)) = rt_gw.block_on(async {
        // One permit each first, so that connecting is not measured.
        permit_latency(&gws, gws.len()).await;
        (
            permit_latency(&gws, 200).await,
            permit_latency(std::slice::from_ref(&local.app), 200).await,
        )
    });
    let urls: Vec<String> = handles
        .iter()
        .map(|h| format!("{}{LOAD_PATH}", h.url()))
        .collect();
    let rate = args.multiple * f64::from(PER_SECOND);
    let total = (rate * args.seconds).round() as u64;
    println!(
        "{} gateways sharing {redis}, vendor limit {PER_SECOND}/s on {LOAD_PATH}; offering {rate:.0}/s ({}x) for {} s, open loop, round robin",
        args.instances,
        args.multiple,
        args.seconds,
        redis = match &own_redis {
            None => "the given Redis",
            Some(OwnRedis::Single(_)) => "their own redis-server",
            Some(OwnRedis::Sentinel(_)) => "their own Sentinel set (a master, 2 replicas)",
            Some(OwnRedis::Cluster(_)) => "their own Redis Cluster (3 masters, 3 replicas)",
        },
    );
    let (answers, offered_for) = rt_load.block_on(offer(&urls, &sim, rate, total));
    let reqs = sim.requests();
    let mut times: Vec<Instant> = reqs.iter().map(|r| r.at).collect();
    times.sort();
    let max = max_in_any_second(&times);
    let refused = reqs.iter().filter(|r| r.code != 200).count();
    let accepted: Vec<Instant> = reqs
        .iter()
        .filter(|r| r.code == 200)
        .map(|r| r.at)
        .collect();
    let span = match (accepted.iter().min(), accepted.iter().max()) {
        (Some(a), Some(b)) => b.duration_since(*a).as_secs_f64(),
        _ => 0.0,
    };
    let utilisation = if span > 0.0 {
        (accepted.len() - 1) as f64 / span / f64::from(PER_SECOND)
    } else {
        0.0
    };
    let [ok, limited, other] = answers;
    println!(
        "offered {:.0}/s; answers: {ok} ok, {limited} 429, {other} other\n\
         vendor: max {max} in any sliding second; utilisation {:.1}% over {span:.2} s; {refused} refused by the vendor (1008)\n\
         permit latency, Redis reservation: p50 {:.2} ms, p99 {:.2} ms (local quota: p50 {:.3} ms, p99 {:.3} ms)",
        total as f64 / offered_for.as_secs_f64(),
        utilisation * 100.0,
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        l50.as_secs_f64() * 1000.0,
        l99.as_secs_f64() * 1000.0,
    );
    // The servers' tasks live on their runtimes; dropping these ends them.
    drop((handles, local));
    drop(rt_gw);
    drop(own_redis);
    if max > PER_SECOND as usize || refused > 0 || other > 0 {
        eprintln!(
            "fleet: the vendor saw more than its limit, refused calls, or a caller got an error"
        );
        std::process::exit(1);
    }
}

/// Sends `total` requests at `rate`, round robin over `urls`, printing each
/// second what the vendor saw. Returns [200s, 429s, other] and how long
/// offering took.
async fn offer(urls: &[String], sim: &Simulator, rate: f64, total: u64) -> ([u64; 3], Duration) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build_http();
    let started = Instant::now();
    let printer = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let (mut seen, mut refused, mut second) = (0, 0, 0);
            loop {
                tick.tick().await;
                second += 1;
                let reqs = sim.requests();
                let now_refused = reqs.iter().filter(|r| r.code != 200).count();
                println!(
                    "  second {second:>2}: the vendor saw {:>3} ({} refused)",
                    reqs.len() - seen,
                    now_refused - refused
                );
                (seen, refused) = (reqs.len(), now_refused);
            }
        })
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(i as f64)).into()).await;
        let req = Request::builder()
            .method(Method::POST)
            .uri(&urls[i as usize % urls.len()])
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!("groupIds=g{i}"))))
            .expect("valid request");
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req)).await;
            match resp {
                Ok(Ok(r)) => {
                    let status = r.status();
                    let _ = r.into_body().collect().await;
                    status
                }
                _ => StatusCode::BAD_GATEWAY,
            }
        }));
    }
    let offered_for = started.elapsed();
    let mut answers = [0u64; 3];
    for t in tasks {
        match t.await {
            Ok(StatusCode::OK) => answers[0] += 1,
            Ok(StatusCode::TOO_MANY_REQUESTS) => answers[1] += 1,
            _ => answers[2] += 1,
        }
    }
    printer.abort();
    (answers, offered_for)
}
