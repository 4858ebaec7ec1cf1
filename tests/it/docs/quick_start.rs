//! The README's commands, run as printed: the demo, and the gateway in
//! front of `entrust-gateway sim` with `examples/local.toml`; each curl line
//! of the quick start is sent and its answer compared with the `#>` lines
//! under it. `cargo run --release --` is this test's binary; addresses
//! become free ports (`--listen 127.0.0.1:0`), everything else is the
//! README's.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use entrust_gateway::config::Config;
use http::Method;

use super::{fenced_blocks, read};
use crate::common::*;

/// The address the quick start's curl lines call.
const README_GATEWAY: &str = "http://127.0.0.1:8080";

/// A README section's text, from its `## title` to the next `## `.
fn section(text: &str, title: &str) -> String {
    text.split("\n## ")
        .find(|s| s.starts_with(title))
        .unwrap_or_else(|| panic!("the README has no section \"## {title}\""))
        .to_string()
}

/// A shell line's words: single and double quotes group, ` #` starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => break,
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

/// A README command line running the binary: its environment assignments
/// and the binary's arguments.
struct Run {
    env: Vec<(String, String)>,
    args: Vec<String>,
}

fn run_line(line: &str) -> Run {
    let mut w = words(line).into_iter().peekable();
    let mut env = Vec::new();
    while let Some((k, v)) = w.peek().and_then(|t| t.split_once('=')) {
        if !k.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            break;
        }
        env.push((k.to_string(), v.to_string()));
        w.next();
    }
    let rest: Vec<String> = w.collect();
    let args = match rest.first().map(String::as_str) {
        Some("cargo") => {
            let sep = rest.iter().position(|t| t == "--");
            assert!(
                rest.starts_with(&["cargo".into(), "run".into()]) && sep.is_some(),
                "{line:?}: expected `cargo run ... -- ARGS`"
            );
            rest[sep.unwrap() + 1..].to_vec()
        }
        Some(bin) if bin.ends_with("entrust-gateway") => rest[1..].to_vec(),
        _ => panic!("{line:?} does not run entrust-gateway"),
    };
    Run { env, args }
}

/// A process of the binary with its output lines (both streams) read by
/// threads; killed when dropped.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(run: &Run) -> Proc {
        let mut child = Command::new(BIN)
            .args(&run.args)
            .envs(run.env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(l);
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first output line for which `find` gives something, within 30 s.
    fn wait_for(&mut self, what: &str, find: impl Fn(&str) -> Option<String>) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(found) = find(&l) {
                        return found;
                    }
                    self.seen.push(l);
                }
                Err(_) => panic!(
                    "no {what} in the output of {:?}:\n{}",
                    self.child,
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text after `marker` in `line`, up to a space or comma.
fn after(line: &str, marker: &str) -> Option<String> {
    let i = line.find(marker)? + marker.len();
    Some(
        line[i..]
            .split([' ', ','])
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

/// One curl line of the quick start and the answer printed under it.
#[derive(Debug)]
struct Step {
    curl: String,
    expected: String,
}

/// The quick start's curl lines, in order, each with its `#>` lines.
fn steps() -> Vec<Step> {
    let quick_start = section(&read("README.md"), "Quick start");
    let mut steps: Vec<Step> = Vec::new();
    for (_, body) in fenced_blocks(&quick_start) {
        for line in body.lines() {
            if line.starts_with("curl ") {
                steps.push(Step {
                    curl: line.to_string(),
                    expected: String::new(),
                });
            } else if let Some(answer) = line.strip_prefix("#>") {
                let step = steps.last_mut().expect("an answer under a curl line");
                step.expected
                    .push_str(answer.strip_prefix(' ').unwrap_or(answer));
                step.expected.push('\n');
            }
        }
    }
    assert!(steps.len() >= 5, "{steps:?}");
    for s in &steps {
        assert!(!s.expected.is_empty(), "no #> answer under {}", s.curl);
    }
    steps
}

/// Sends a curl line (`-s`, `-X`, `-H`, `-d`, a URL; then `| grep [-v] X`
/// and `| head`) to `base` instead of the README's address; the output.
async fn curl(line: &str, base: &str) -> String {
    let w = words(line);
    let mut parts = w.split(|t| t == "|");
    let command = parts.next().unwrap();
    assert_eq!(command[0], "curl");
    let (mut method, mut url, mut body) = (None, None, None);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut it = command[1..].iter();
    while let Some(t) = it.next() {
        match t.as_str() {
            "-s" | "-sS" | "--silent" => {}
            "-X" => method = it.next().cloned(),
            "-H" => {
                let (k, v) = it
                    .next()
                    .unwrap()
                    .split_once(':')
                    .expect("-H 'name: value'");
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            "-d" | "--data" => body = it.next().cloned(),
            u if u.starts_with(README_GATEWAY) => url = Some(u.replacen(README_GATEWAY, base, 1)),
            other => panic!("{line:?}: this test cannot run curl's {other}"),
        }
    }
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        // What curl -d sends.
        headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    let method = match (method, &body) {
        (Some(m), _) => Method::from_bytes(m.as_bytes()).unwrap(),
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = url.unwrap_or_else(|| panic!("{line:?}: no {README_GATEWAY} URL"));
    let answer = send(method, &url, &h, body.unwrap_or_default()).await;
    let mut out = answer.text();
    for filter in parts {
        let lines = out.lines();
        out = match filter.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["grep", "-v", p] => lines.filter(|l| !matches(l, p)).collect::<Vec<_>>(),
            ["grep", p] => lines.filter(|l| matches(l, p)).collect(),
            ["head"] => lines.take(10).collect(),
            ["head", "-n", n] => lines.take(n.parse().unwrap()).collect(),
            _ => panic!("{line:?}: this test cannot run {filter:?}"),
        }
        .join("\n");
    }
    out
}

/// Whether grep's basic pattern `p` matches `line`, for the patterns a
/// README writes: a literal, anchored by `^` and `$` or not.
fn matches(line: &str, p: &str) -> bool {
    match (p.strip_prefix('^'), p.strip_suffix('$')) {
        (Some(_), Some(_)) => line == &p[1..p.len() - 1],
        (Some(rest), None) => line.starts_with(rest),
        (None, Some(rest)) => line.ends_with(rest),
        (None, None) => line.contains(p),
    }
}

/// Times the README marks as differing from run to run, zeroed.
fn steady(mut v: serde_json::Value) -> serde_json::Value {
    match &mut v {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                *v = if k == "createTime" {
                    serde_json::Value::from(0)
                } else {
                    steady(v.take())
                };
            }
        }
        serde_json::Value::Array(a) => {
            for v in a.iter_mut() {
                *v = steady(v.take());
            }
        }
        _ => {}
    }
    v
}

/// Every quick-start step against the gateway at `base`: the answer is the
/// README's (JSON: equal but for the times; lines: the same, in any order).
async fn check_steps(base: &str, whose: &str) {
    for step in steps() {
        let got = curl(&step.curl, base).await;
        let expected = step.expected.trim_end();
        match serde_json::from_str::<serde_json::Value>(expected) {
            Ok(want) => {
                let have: serde_json::Value = serde_json::from_str(&got)
                    .unwrap_or_else(|e| panic!("{whose}: {}: not JSON ({e}): {got}", step.curl));
                assert_eq!(
                    steady(have),
                    steady(want),
                    "{whose}: {}\nanswered {got}",
                    step.curl
                );
            }
            Err(_) => {
                let mut want: Vec<&str> = expected.lines().collect();
                let mut have: Vec<&str> = got.lines().collect();
                want.sort_unstable();
                have.sort_unstable();
                assert_eq!(have, want, "{whose}: {}", step.curl);
            }
        }
    }
}

/// The README's demo command starts the demo, and each curl line answers
/// as the README prints.
#[tokio::test]
async fn the_quick_start_answers_as_the_readme_says() {
    let quick_start = section(&read("README.md"), "Quick start");
    let line = fenced_blocks(&quick_start)
        .into_iter()
        .flat_map(|(_, body)| body.lines().map(str::to_string).collect::<Vec<_>>())
        .find(|l| l.contains("--demo"))
        .expect("the quick start's demo command");
    let mut run = run_line(&line);
    run.args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut demo = Proc::start(&run);
    let base = demo.wait_for("\"gateway on http://...\"", |l| after(l, "gateway on "));
    check_steps(&base, "the demo").await;
}

/// The README's two commands for a gateway in front of the simulator, with
/// `examples/local.toml`: the simulator where the file points (its
/// default address), the gateway where the quick start calls, and the
/// quick start's calls answer the same there.
#[tokio::test]
async fn examples_local_toml_runs_in_front_of_sim_as_the_readme_says() {
    let running = section(&read("README.md"), "Running it for real");
    let lines: Vec<String> = fenced_blocks(&running)
        .into_iter()
        .flat_map(|(_, body)| body.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let sim_line = lines
        .iter()
        .find(|l| l.contains(" sim"))
        .expect("the README's command starting the simulator");
    let gw_line = lines
        .iter()
        .find(|l| l.contains("examples/local.toml"))
        .expect("the README's command starting the gateway with examples/local.toml");

    // The file points at the simulator's default address, and listens where
    // the quick start calls.
    let text = read("examples/local.toml");
    let config = Config::parse(&text).expect("examples/local.toml is valid");
    let upstream = config.upstream.urls[0].clone();
    let sim_addr = upstream.trim_start_matches("http://");
    let sim_help = Command::new(BIN).args(["sim", "--help"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&sim_help.stdout).contains(&format!("[default: {sim_addr}]")),
        "examples/local.toml's upstream {upstream} is not where `sim` listens by default"
    );
    assert_eq!(
        format!("http://{}", config.server.listen),
        README_GATEWAY,
        "examples/local.toml listens where the quick start calls"
    );

    let mut sim_run = run_line(sim_line);
    assert!(
        !sim_run.args.iter().any(|a| a == "--listen"),
        "the README's sim line: the file relies on the default address"
    );
    sim_run
        .args
        .extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut sim = Proc::start(&sim_run);
    let sim_url = sim.wait_for("the simulator's url=", |l| after(l, "url="));

    let dir = temp_dir("docs-local-toml");
    let copy = write_file(&dir, "local.toml", &text.replace(&upstream, &sim_url));
    let mut gw_run = run_line(gw_line);
    for a in gw_run.args.iter_mut() {
        if a == "examples/local.toml" {
            *a = copy.display().to_string();
        }
    }
    gw_run
        .args
        .extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut gw = Proc::start(&gw_run);
    let listen = gw.wait_for("the gateway's ready line", |l| {
        l.contains(" ready ")
            .then(|| after(l, " listen="))
            .flatten()
    });
    let addr: SocketAddr = listen.parse().expect("an address");
    check_steps(&format!("http://{addr}"), "the gateway in front of sim").await;
}
