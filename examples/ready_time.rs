//! Time from start to ready: spawns a command, polls `GET /healthz` on the
//! given address in a tight loop (a blocking connect and request, no sleep)
//! until it answers 200, and reports the time from the spawn. Repeats, and
//! prints each run and the median. Also reports the resident memory (VmRSS)
//! once ready and after a short idle pause.
//!
//! ```sh
//! cargo run --release --example ready_time -- --runs 9 --addr 127.0.0.1:18083 -- \
//!     target/release/entrust-gateway --config /tmp/gw.toml
//! ```
//!
//! The last line is machine-readable: `READY median_ms=... min_ms=... max_ms=... idle_rss_kb=...`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn usage(msg: &str) -> ! {
    eprintln!(
        "ready_time: {msg}\nusage: ready_time [--runs N] --addr HOST:PORT -- COMMAND [ARGS...]"
    );
    std::process::exit(2);
}

fn healthy(addr: &SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut runs, mut addr) = (9usize, None);
    let mut command = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| (1..=100).contains(n))
                    .unwrap_or_else(|| usage("--runs 1..=100"))
            }
            "--addr" => {
                addr = Some(
                    args.next()
                        .and_then(|v| v.parse::<SocketAddr>().ok())
                        .unwrap_or_else(|| usage("--addr HOST:PORT")),
                )
            }
            "--" => {
                command.extend(args.by_ref());
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let addr = addr.unwrap_or_else(|| usage("--addr is required"));
    if command.is_empty() {
        usage("no command given");
    }
    if healthy(&addr) {
        usage(&format!("something already answers on {addr}"));
    }
    let mut times = Vec::new();
    let mut idle = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| usage(&format!("cannot run {}: {e}", command[0])));
        let deadline = started + Duration::from_secs(10);
        let mut ready = None;
        while Instant::now() < deadline {
            if healthy(&addr) {
                ready = Some(started.elapsed());
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                usage(&format!("the command exited before it was ready: {status}"));
            }
        }
        let Some(ready) = ready else {
            let _ = child.kill();
            let _ = child.wait();
            usage("not ready within 10 s");
        };
        let at_ready = rss_kb(child.id()).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(300));
        let idle_kb = rss_kb(child.id()).unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "run {run}: ready after {:.2} ms; RSS {at_ready} kB when ready, {idle_kb} kB after 300 ms idle",
            ready.as_secs_f64() * 1000.0
        );
        times.push(ready);
        idle.push(idle_kb);
        // Let the port go before the next run.
        while healthy(&addr) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    times.sort();
    idle.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "READY runs={runs} median_ms={:.2} min_ms={:.2} max_ms={:.2} idle_rss_kb={}",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        idle[idle.len() / 2]
    );
}
