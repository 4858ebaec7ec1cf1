//! The binary as an operator runs it: config errors, --check-config on every
//! example config in the repo, secrets kept out of logs, SIGHUP reload and
//! SIGTERM drain.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_entrust-gateway");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("entrust-gw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("ENTRUST_APP_SECRET")
        .envs(envs.iter().copied())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configs_exit_nonzero_with_one_message_naming_the_key() {
    let dir = temp_dir("badcfg");
    let cases = [
        (
            "[upstream]\napp_key = 'k'\napp_secret_env = 'S'\n",
            "upstream.urls",
        ),
        (
            "[upstream]\nurls = ['gopher://x']\napp_key = 'k'\napp_secret_env = 'S'\n",
            "upstream.urls[0]",
        ),
        (
            "[upstream]\nurls = ['https://x']\napp_secret_env = 'S'\n",
            "upstream.app_key",
        ),
        (
            "[upstream]\nurls = ['https://x']\napp_key = 'k'\napp_secret_env = 'NOT_SET_ANYWHERE'\n",
            "NOT_SET_ANYWHERE",
        ),
        (
            "[upstream]\nurls = ['https://x']\napp_key = 'k'\napp_secret_env = 'S'\nca_file = '/nonexistent/ca.pem'\n",
            "upstream.ca_file",
        ),
        ("[server]\nlisten = 'not-an-address'\n", "listen"),
        (
            "[upstream]\nurls = ['https://x']\napp_key = 'k'\napp_secret_env = 'S'\ntimeout_ms = -1\n",
            "timeout_ms",
        ),
        (
            "[upstream]\nurls = ['https://x']\napp_key = 'k'\napp_secret_env = 'S'\n[rate_limit]\nper_sec = 5\n",
            "per_sec",
        ),
        (
            "[upstream]\nurls = ['https://x']\napp_key = 'k'\napp_secret_file = '/nonexistent/secret'\n",
            "upstream.app_secret_file",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let cfg = write(&dir, &format!("c{i}.toml"), text);
        // Both a real start and --check-config fail, at startup.
        for extra in [&[][..], &["--check-config"][..]] {
            let mut args = vec!["--config", cfg.to_str().unwrap()];
            args.extend_from_slice(extra);
            let (code, _, err) = run(&args, &[("S", "x")]);
            assert_ne!(code, 0, "{text}");
            assert!(err.contains(key), "{text}: {err:?} should name {key}");
            assert_eq!(err.trim().lines().count(), 1, "one message: {err:?}");
        }
    }
    let (code, _, err) = run(&["--config", "/nonexistent/gateway.toml"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/gateway.toml"));
}

/// Every example config in the repo must stay valid.
#[test]
fn every_example_config_passes_check_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut configs = vec![root.join("gateway.toml")];
    if let Ok(dir) = std::fs::read_dir(root.join("deploy")) {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                configs.push(e.path());
            }
        }
    }
    let dir = temp_dir("examples");
    let secret_file = write(&dir, "secret", "example-secret\n");
    for cfg in configs {
        // Point any secret file at a real one; everything else stays as written.
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("app_secret_file") {
                    format!("app_secret_file = {:?}", secret_file.display().to_string())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let copy = write(&dir, "copy.toml", &text);
        let (code, out, err) = run(
            &["--config", copy.to_str().unwrap(), "--check-config"],
            &[
                ("ENTRUST_APP_SECRET", "example-secret"),
                ("OPENIM_SECRET", "example-openim-secret"),
            ],
        );
        assert_eq!(code, 0, "{}: {err}", cfg.display());
        assert!(out.contains("[upstream]"), "prints the effective config");
        assert!(
            !out.contains("example-secret"),
            "secret printed by --check-config"
        );
    }
}

/// A gateway process with stderr read line by line in a thread.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(config: &Path, envs: &[(&str, &str)]) -> (Proc, String) {
        let mut child = Command::new(BIN)
            .args([
                "--config",
                config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .envs(envs.iter().copied())
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Proc {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        let ready = p.wait_for(|l| l.contains("entrust_gateway: ready"));
        let addr = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .expect("ready line names the address")
            .to_string();
        (p, format!("http://{addr}"))
    }

    /// Waits (up to 20 s) for a log line matching `pred`.
    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "log line not seen ({e}); log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for exit and returns the exit code and the whole log.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_and_sighup_reloads_the_secret_file() {
    let (sim, sim_server) = start_sim().await;
    let dir = temp_dir("logs");
    let secret_file = write(&dir, "secret", &format!("{APP_SECRET}\n"));
    let cfg = write(
        &dir,
        "gw.toml",
        &format!(
            "[upstream]\nurls = [{:?}, {:?}]\napp_key = {APP_KEY:?}\napp_secret_file = {:?}\ntimeout_ms = 500\nsecret_poll_ms = 3600000\n[log]\nlevel = \"trace\"\n",
            sim_server.url(),
            closed_port_url().await,
            secret_file.display().to_string()
        ),
    );
    let (mut p, gw) = Proc::start(&cfg, &[]);
    // Successes, vendor errors, caller errors, an upstream failure.
    post_form(
        &format!("{gw}/entrust/group/create.json"),
        "groupId=l1&name=n&owner=o",
    )
    .await;
    post_form(
        &format!("{gw}/entrust/group/create.json"),
        "groupId=l1&name=n&owner=o",
    )
    .await;
    post_form(&format!("{gw}/entrust/../x.json"), "").await;
    sim.inject(entrust_gateway::sim::FaultRule {
        path: None,
        fault: entrust_gateway::sim::Fault::Status(503),
        times: Some(1),
    });
    post_form(
        &format!("{gw}/entrust/group/profile/query.json"),
        "groupIds=l1",
    )
    .await;

    // Rotate: a new secret in the file, then SIGHUP.
    std::fs::write(&secret_file, "rotated-secret-Kx93\n").unwrap();
    p.signal("HUP");
    p.wait_for(|l| l.contains("app secret reloaded"));
    // An empty file keeps the old secret and logs an error.
    std::fs::write(&secret_file, "").unwrap();
    p.signal("HUP");
    p.wait_for(|l| l.contains("cannot reload the app secret"));
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");

    let sigs: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .get("signature")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert!(!sigs.is_empty());
    for needle in [APP_SECRET, "rotated-secret-Kx93"]
        .iter()
        .copied()
        .chain(sigs.iter().map(String::as_str))
    {
        assert!(!log.contains(needle), "log reveals {needle:?}:\n{log}");
    }
    // The vendor saw the rotated secret in use? The simulator knows only the
    // old one, so after rotation it would answer 1004: proven in tests/ops.rs.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let (sim, sim_server) = start_sim().await;
    let dir = temp_dir("drain");
    let cfg = write(
        &dir,
        "gw.toml",
        &format!(
            "[upstream]\nurls = [{:?}]\napp_key = {APP_KEY:?}\napp_secret_env = \"GW_TEST_SECRET\"\n",
            sim_server.url()
        ),
    );
    let (p, gw) = Proc::start(&cfg, &[("GW_TEST_SECRET", APP_SECRET)]);
    sim.inject(entrust_gateway::sim::FaultRule {
        path: None,
        fault: entrust_gateway::sim::Fault::Delay(Duration::from_millis(800)),
        times: None,
    });
    let mut tasks = Vec::new();
    for i in 0..5 {
        let url = format!("{gw}/entrust/group/create.json");
        tasks.push(tokio::spawn(async move {
            post_form(&url, &format!("groupId=d{i}&name=n&owner=o")).await
        }));
    }
    // Signal once every request has reached the vendor (so all are in flight).
    within("all five at the vendor", async {
        while sim.requests().len() < 5 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    p.signal("TERM");
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(
            a.json()["code"],
            200,
            "an in-flight request lost its answer"
        );
    }
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("drained"), "{log}");
}

/// README "Running": `--log-format json` writes JSON lines, and SIGINT
/// drains and exits 0 like SIGTERM (main.rs `shutdown_signal`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_sigint_drains_then_exits_zero() {
    let (_sim, sim_server) = start_sim().await;
    let dir = temp_dir("jsonlog");
    let cfg = write(
        &dir,
        "gw.toml",
        &format!(
            "[upstream]\nurls = [{:?}]\napp_key = {APP_KEY:?}\napp_secret_env = \"GW_TEST_SECRET\"\n",
            sim_server.url()
        ),
    );
    /// Kills the gateway if the test fails before it exits.
    struct Reap(Option<Child>);
    impl Drop for Reap {
        fn drop(&mut self) {
            if let Some(c) = self.0.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut child = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("GW_TEST_SECRET", APP_SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let stderr = child.stderr.take().unwrap();
    let pid = child.id().to_string();
    let mut reap = Reap(Some(child));
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |what: &str| -> serde_json::Value {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("no {what:?} line ({e}):\n{}", seen.join("\n")));
            seen.push(line.clone());
            // Every line is one JSON object.
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if v["fields"]["message"] == what {
                return v;
            }
        }
    };
    let ready = wait_for("ready");
    let addr = ready["fields"]["listen"].as_str().expect("listen field");
    let a = post_form(
        &format!("http://{addr}/entrust/group/create.json"),
        "groupId=j1&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    let ok = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_for("SIGINT");
    wait_for("drained");
    let mut child = reap.0.take().unwrap();
    let status = within("the gateway to exit", async {
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap()
    })
    .await;
    assert_eq!(status.code(), Some(0));
}
