//! The binary as an operator runs it: config errors, --check-config on every
//! example config in the repo, secrets kept out of logs, log formats, SIGHUP
//! reload and SIGTERM/SIGINT drain.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;

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
        let cfg = write_file(&dir, &format!("c{i}.toml"), text);
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
    let secret_file = write_file(&dir, "secret", "example-secret\n");
    for cfg in configs {
        // Point any secret file at a real one; everything else stays as written.
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                if t.starts_with("app_secret_file") || t.starts_with("app_secret = { file") {
                    format!("app_secret_file = {:?}", secret_file.display().to_string())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let copy = write_file(&dir, "copy.toml", &text);
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

/// A config file for the binary in front of `sim_url`, in `temp_dir(name)`:
/// `before` its `[upstream]` section, the secret in GW_TEST_SECRET, `after` it.
fn config_file(name: &str, sim_url: &str, before: &str, after: &str) -> PathBuf {
    let text = format!(
        "{before}[upstream]\nurls = [{sim_url:?}]\napp_key = {APP_KEY:?}\napp_secret_env = \"GW_TEST_SECRET\"\n{after}"
    );
    write_file(&temp_dir(name), "gw.toml", &text)
}

/// A gateway (or simulator) process with stderr read line by line in a thread.
pub(crate) struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl Proc {
    pub(crate) fn start(config: &Path, envs: &[(&str, &str)]) -> (Proc, String) {
        let mut p = Proc::spawn(config, envs, &[]);
        let addr = p.ready();
        (p, format!("http://{addr}"))
    }

    /// Waits for the ready line; the address it names.
    fn ready(&mut self) -> String {
        let ready = self.wait_for(|l| l.contains("entrust_gateway: ready"));
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .expect("ready line names the address")
            .to_string()
    }

    /// The gateway at `addr` answers /healthz, then exits 0 on SIGTERM.
    async fn answers_then_stops(self, addr: &str) {
        let health = send(
            http::Method::GET,
            &format!("http://{addr}/healthz"),
            &[],
            "",
        )
        .await;
        assert_eq!(health.status, 200);
        self.signal("TERM");
        let (code, log) = self.finish();
        assert_eq!(code, 0, "{log}");
    }

    /// Starts the binary on 127.0.0.1:0 with `RUST_LOG=trace` unless `envs`
    /// sets it; doesn't wait for anything.
    fn spawn(config: &Path, envs: &[(&str, &str)], args: &[&str]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("RUST_LOG", "trace")
        .envs(envs.iter().copied());
        Proc::command(cmd)
    }

    /// Starts `cmd` with stderr read line by line; doesn't wait for anything.
    pub(crate) fn command(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 20 s) for a log line matching `pred`.
    pub(crate) fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
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

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for exit and returns the exit code and the whole log.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

impl Drop for Proc {
    /// A gateway still running when its test fails is killed, not left behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_and_sighup_reloads_the_secret_file() {
    let (sim, sim_server) = start_sim().await;
    let dir = temp_dir("logs");
    let secret_file = write_file(&dir, "secret", &format!("{APP_SECRET}\n"));
    let cfg = write_file(
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
    // old one, so after rotation it would answer 1004: proven in `admin`.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    drains_then_exits_zero(&[]).await;
}

/// The same on the runtime a one-CPU process gets (main.rs `runtime`: one
/// thread, current-thread runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_thread_runtime_serves_and_drains_then_exits_zero() {
    drains_then_exits_zero(&[("TOKIO_WORKER_THREADS", "1")]).await;
}

async fn drains_then_exits_zero(envs: &[(&str, &str)]) {
    let (sim, sim_server) = start_sim().await;
    let cfg = config_file("drain", &sim_server.url(), "", "");
    let mut envs = envs.to_vec();
    envs.push(("GW_TEST_SECRET", APP_SECRET));
    let (p, gw) = Proc::start(&cfg, &envs);
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

/// Each bad config fails, at start and under --check-config, with one line
/// that names the file and the dotted key, and never echoes a secret.
#[test]
fn each_bad_config_names_its_dotted_key_and_no_secret() {
    let dir = temp_dir("badcfg2");
    let up = "[upstream]\nurls = ['https://x']\napp_key = 'k'\n";
    let env = format!("{up}app_secret_env = 'S'\n");
    // (config text, environment, key the message must name, text it must not hold)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        // `EnvFilter` reads "loud" as a target name: every line would be silenced.
        (format!("{env}[log]\nlevel = 'loud'\n"), vec![("S", "x")], "log.level", "\u{7}"),
        (format!("{env}[log]\nlevel = 'info,hyper=loud'\n"), vec![("S", "x")], "log.level", "\u{7}"),
        // An empty secret is the variable's fault, not upstream.app_secret's.
        (format!("{up}app_secret_env = 'S'\n"), vec![("S", "")], "upstream.app_secret_env", "\u{7}"),
        (format!("{up}app_secret_file = '/nonexistent/secret'\n"), vec![], "upstream.app_secret_file", "\u{7}"),
        (format!("[server]\nlisten = 'localhost:8080'\n{env}"), vec![("S", "x")], "server.listen", "\u{7}"),
        (format!("[admin]\nlisten = 'localhost:9901'\n{env}"), vec![("S", "x")], "admin.listen", "\u{7}"),
        (format!("{env}timeout_ms = -1\n"), vec![("S", "x")], "upstream.timeout_ms", "\u{7}"),
        (format!("{env}[rate_limit]\nper_second = -5\n"), vec![("S", "x")], "rate_limit.per_second", "\u{7}"),
        // Semaphore::new panics above 2^61.
        (format!("[server]\nmax_connections = 2305843009213693952\n{env}"), vec![("S", "x")], "server.max_connections", "\u{7}"),
        (format!("{env}timeout_ms = 18446744073709551615\n"), vec![("S", "x")], "upstream.timeout_ms", "\u{7}"),
        (format!("[server]\ndrain_timeout_ms = 99999999999999\n{env}"), vec![("S", "x")], "server.drain_timeout_ms", "\u{7}"),
        (format!("{env}[dedup]\nwindow_ms = 99999999999999\n"), vec![("S", "x")], "dedup.window_ms", "\u{7}"),
        (format!("{env}[rate_limit.paths.\"/entrust/group/create.json\"]\nmax_wait_ms = 99999999999999\n"), vec![("S", "x")], "rate_limit.paths.\"/entrust/group/create.json\".max_wait_ms", "\u{7}"),
        // A syntax error on the inline secret's line must not print the line.
        (format!("{up}app_secret = \"hunter2-Kq7\n"), vec![], "line 4", "hunter2-Kq7"),
        (format!("{up}app_secret = hunter2-Kq7\n"), vec![], "line 4", "hunter2-Kq7"),
        (format!("{up}app_secret = 7301442\n"), vec![], "upstream.app_secret", "7301442"),
        (format!("{up}app_secret_typo = 'x'\n"), vec![], "unknown field `app_secret_typo`", "\u{7}"),
        // Userinfo is never used (the vendor checks a signature) and would
        // show in /readyz, metric labels and logs.
        ("[upstream]\nurls = ['https://u:pw-Kq7@x.example']\napp_key = 'k'\napp_secret_env = 'S'\n".into(), vec![("S", "x")], "upstream.urls[0]", "pw-Kq7"),
    ];
    for (i, (text, envs, key, secret)) in cases.iter().enumerate() {
        let cfg = write_file(&dir, &format!("c{i}.toml"), text);
        for extra in [&[][..], &["--check-config"][..]] {
            let mut args = vec!["--config", cfg.to_str().unwrap()];
            args.extend_from_slice(extra);
            let (code, _, err) = run(&args, envs);
            assert_ne!(code, 0, "{text}");
            assert!(err.contains(key), "{text}: {err:?} should name {key}");
            let prefix = format!("entrust-gateway: {}: ", cfg.display());
            assert!(err.starts_with(&prefix), "{err:?} should start {prefix:?}");
            assert!(!err.contains(secret), "{err:?} echoes the secret");
            assert_eq!(err.trim().lines().count(), 1, "one message: {err:?}");
        }
    }
    // An IP and port is asked for, with an example.
    let cfg = dir.join("c4.toml");
    let (_, _, err) = run(&["--config", cfg.to_str().unwrap()], &[("S", "x")]);
    assert!(err.contains("127.0.0.1:8080"), "{err}");
}

/// deploy/gateway.toml as shipped: its secret file exists only in the pod,
/// so --check-config fails on a workstation and --skip-secret checks the rest.
#[test]
fn check_config_skip_secret_checks_a_deployment_config_without_its_secret() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gateway.toml");
    let cfg = cfg.to_str().unwrap();
    let (code, _, err) = run(&["--config", cfg, "--check-config"], &[]);
    assert_ne!(code, 0, "the pod's secret file exists here? {err}");
    assert!(err.contains("upstream.app_secret"), "{err}");
    let (code, out, err) = run(&["--config", cfg, "--check-config", "--skip-secret"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("[upstream]") && err.contains("ok"),
        "{out}{err}"
    );
    // --skip-secret only makes sense with --check-config.
    let (code, _, _) = run(&["--config", cfg, "--skip-secret"], &[]);
    assert_ne!(code, 0);
}

/// A panic in a background task after "ready" must not be swallowed with
/// the process exiting 0: any panic exits non-zero.
#[test]
fn a_panic_after_ready_exits_non_zero() {
    let dir = temp_dir("panic");
    let cfg = write_file(
        &dir,
        "gw.toml",
        "[upstream]\nurls = ['http://127.0.0.1:1']\napp_key = 'k'\napp_secret_env = 'S'\n",
    );
    let mut p = Proc::spawn(&cfg, &[("S", "x")], &["--panic-after-ready"]);
    let (tx, rx) = mpsc::channel();
    let mut child = std::mem::replace(&mut p.child, Command::new("true").spawn().unwrap());
    std::thread::spawn(move || tx.send(child.wait().unwrap().code()));
    let code = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the process ended");
    assert_eq!(code, Some(101), "{}", p.seen.join("\n"));
}

/// Probes and scrapes log at DEBUG, API requests at INFO with latency in
/// whole microseconds; the ready line names every listener. Caller strings
/// that an error message quotes (here a repeated member id: OpenIM's
/// create_group refuses duplicates) can't start a log line or carry a
/// terminal escape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_quiet_escaped_and_name_every_listener() {
    let (_sim, sim_server) = start_sim().await;
    let admin_section = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = config_file("textlogs", &sim_server.url(), admin_section, "");
    let (mut p, gw) = Proc::start(
        &cfg,
        &[("GW_TEST_SECRET", APP_SECRET), ("RUST_LOG", "info")],
    );
    let ready = p.seen.last().unwrap().clone();
    let admin = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("admin_listen="))
        .unwrap_or_else(|| panic!("ready line names the admin listener: {ready}"));
    assert!(
        admin.starts_with("127.0.0.1:") && !admin.ends_with(":0"),
        "{ready}"
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            send(http::Method::GET, &format!("{gw}{path}"), &[], "")
                .await
                .status,
            200
        );
    }
    // An operationID the gateway won't echo (it has a space) keeps this
    // write out of duplicate protection, whose path answers without this line.
    let forged = "m1\nentrust_gateway: ready listen=6.6.6.6:1 FORGED\r\u{1b}[2J\u{2028}";
    let a = post_openim(
        &format!("{gw}/group/create_group"),
        "op forge",
        None,
        &serde_json::json!({"ownerUserID": "o", "memberUserIDs": [forged, forged],
               "groupInfo": {"groupID": "g-forge", "groupName": "n", "groupType": 2}}),
    )
    .await;
    // OpenIM answers errors with HTTP 200 and an errCode; bad arguments are
    // 1001, ArgsError (shared/reference/openim-api.md, "errCode 1001").
    assert_eq!(a.json()["errCode"], 1001, "refused: {}", a.text());
    // One line a request: a refused one says so, with its status, latency
    // and error (OpenIM answers errors with HTTP 200).
    let done = p.wait_for(|l| l.contains("FORGED"));
    assert!(done.contains("request refused"), "{done}");
    assert!(done.contains("/group/create_group"), "{done}");
    assert!(done.contains("status=200"), "{done}");
    let latency: f64 = done
        .split_whitespace()
        .find_map(|w| w.strip_prefix("latency_ms="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (latency * 1000.0).round() / 1000.0,
        latency,
        "whole microseconds: {done}"
    );
    // Raw requests with control bytes in X-Request-ID, operationID and the
    // path: hyper refuses some (400), the gateway replaces an id it can't
    // echo; whatever reaches a log line must arrive escaped.
    let host = gw.trim_start_matches("http://");
    for raw in [
        &b"POST /entrust/group/create.json HTTP/1.1\r\nHost: x\r\nX-Request-ID: FORGED\x1b[2J\x85\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
        &b"POST /group/get_groups_info HTTP/1.1\r\nHost: x\r\noperationID: FORGED\x1b[31m\xe2\x80\xa8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"[..],
        &b"GET /entrust/FORGED%0A\x1b[2J.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        &b"GET /entrust/FORGED%0Aentrust_gateway%3A%20ready.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
    ] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut c = tokio::net::TcpStream::connect(host).await.unwrap();
        c.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer))
            .await
            .expect("answered within 10 s")
            .ok();
        assert!(answer.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&answer));
    }
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    for line in log.lines() {
        assert!(
            !line.contains('\u{1b}') && !line.contains('\r') && !line.contains('\u{2028}'),
            "raw control character: {line:?}"
        );
        if line.contains("FORGED") {
            assert!(
                line.contains("request refused"),
                "a forged line: {line:?}\n{log}"
            );
        }
        assert!(
            !line.contains("route=/healthz")
                && !line.contains("route=/metrics")
                && !line.contains("route=/readyz"),
            "a probe at INFO: {line}"
        );
    }
    assert!(log.contains("FORGED"), "the refusal is logged: {log}");
}

/// JSON lines carry flat keys (no "span" or "fields" objects), the
/// pipeline's upstream_path and data_center included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_flat_keys() {
    let (_sim, sim_server) = start_sim().await;
    let json = "[log]\nformat = \"json\"\n";
    let cfg = config_file("jsonlogs", &sim_server.url(), "", json);
    let mut p = Proc::spawn(
        &cfg,
        &[("GW_TEST_SECRET", APP_SECRET), ("RUST_LOG", "info")],
        &[],
    );
    let ready: serde_json::Value =
        serde_json::from_str(&p.wait_for(|l| l.contains(r#""message":"ready""#))).unwrap();
    assert_eq!(ready["admin_listen"], "off", "{ready}");
    let gw = format!("http://{}", ready["listen"].as_str().unwrap());
    let a = send(
        http::Method::POST,
        &format!("{gw}/entrust/group/create.json"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-request-id", "json-log-1"),
        ],
        "groupId=j1&name=n&owner=o",
    )
    .await;
    assert_eq!(a.status, 200);
    let line = p.wait_for(|l| l.contains("json-log-1") && l.contains(r#""message":"done""#));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request_id"], "json-log-1", "{v}");
    assert_eq!(v["face"], "entrust");
    assert_eq!(v["route"], "/entrust/group/create.json");
    assert_eq!(v["upstream_path"], "/entrust/group/create.json");
    assert_eq!(v["data_center"], sim_server.url().as_str());
    assert_eq!(v["status"], 200);
    assert_eq!(v["level"], "INFO");
    assert!(v["latency_ms"].is_f64(), "{v}");
    assert!(v.get("span").is_none() && v.get("fields").is_none(), "{v}");
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
}

/// README "Running": `--log-format json` writes JSON lines, and SIGINT
/// drains and exits 0 like SIGTERM (main.rs `shutdown_signal`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_sigint_drains_then_exits_zero() {
    let (_sim, sim_server) = start_sim().await;
    let cfg = config_file("jsonlog", &sim_server.url(), "", "");
    let envs = [("GW_TEST_SECRET", APP_SECRET), ("RUST_LOG", "info")];
    let mut p = Proc::spawn(&cfg, &envs, &["--log-format", "json"]);
    fn wait_for(p: &mut Proc, what: &str) -> serde_json::Value {
        let line = p.wait_for(|line| {
            // Every line is one JSON object.
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            // Flat keys (src/logging/mod.rs FlatJson): the message and the fields at the top.
            v["message"] == what
        });
        serde_json::from_str(&line).unwrap()
    }
    let ready = wait_for(&mut p, "ready");
    let addr = ready["listen"].as_str().expect("listen field");
    let a = post_form(
        &format!("http://{addr}/entrust/group/create.json"),
        "groupId=j1&name=n&owner=o",
    )
    .await;
    assert_eq!(a.json()["code"], 200, "{}", a.text());
    p.signal("INT");
    wait_for(&mut p, "SIGINT");
    wait_for(&mut p, "drained");
    let (code, log) = within("the gateway to exit", async {
        tokio::task::spawn_blocking(move || p.finish())
            .await
            .unwrap()
    })
    .await;
    assert_eq!(code, 0, "{log}");
}

/// `--listen localhost:8080` (the gateway's and the simulator's) gets the
/// hint the config file gives for `listen = "localhost:8080"`: exit 2, as
/// clap refuses a bad value.
#[test]
fn listen_flags_get_the_config_files_host_name_hint() {
    let hint = entrust_gateway::config::with_listen_hint("");
    let hint = hint.trim_start_matches(": ");
    for args in [
        &["--listen", "localhost:8080"][..],
        &["sim", "--listen", "localhost:9000"][..],
    ] {
        let (code, _, err) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(hint), "{args:?}: {err:?} should hold {hint:?}");
    }
    let dir = temp_dir("listenhint");
    let cfg = write_file(
        &dir,
        "gw.toml",
        "[server]\nlisten = 'localhost:8080'\n[upstream]\nurls = ['http://x']\napp_key = 'k'\napp_secret_env = 'S'\n",
    );
    let (code, _, err) = run(&["--config", cfg.to_str().unwrap()], &[("S", "x")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(hint), "{err:?} should hold {hint:?}");
}

/// A port on 127.0.0.1 held busy while the listener lives.
fn busy_port() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

/// A listener that can't be opened is named as it was set (`admin.listen`,
/// `server.listen`, `--listen`) with its address, exit 1.
#[test]
fn a_busy_listener_is_named_with_its_address() {
    let (_held, busy) = busy_port();
    let dir = temp_dir("busy");
    let up = "[upstream]\nurls = ['http://127.0.0.1:1']\napp_key = 'k'\napp_secret_env = 'S'\n";
    let admin = write_file(
        &dir,
        "admin.toml",
        &format!("[admin]\nlisten = {busy:?}\n{up}"),
    );
    let server = write_file(
        &dir,
        "server.toml",
        &format!("[server]\nlisten = {busy:?}\n{up}"),
    );
    let admin_s = admin.to_str().unwrap();
    let server_s = server.to_str().unwrap();
    let cases = [
        (
            vec!["--config", admin_s, "--listen", "127.0.0.1:0"],
            format!("entrust-gateway: {admin_s}: admin.listen: cannot listen on {busy}: "),
        ),
        (
            vec!["--config", server_s],
            format!("entrust-gateway: {server_s}: server.listen: cannot listen on {busy}: "),
        ),
        (
            vec!["--config", admin_s, "--listen", &busy],
            format!("entrust-gateway: --listen: cannot listen on {busy}: "),
        ),
    ];
    for (args, start) in cases {
        let (code, _, err) = run(&args, &[("S", "x")]);
        assert_eq!(code, 1, "{args:?}: {err}");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&start),
            "{args:?}: {last:?} should start {start:?}"
        );
        assert!(last.contains("in use"), "{last}");
    }
}

/// The demo's hint names a port that is free, never the busy one.
#[test]
fn the_demos_port_hint_names_a_free_port() {
    let (_held, busy) = busy_port();
    let (code, _, err) = run(&["--demo", "--listen", &busy], &[]);
    assert_eq!(code, 1, "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    let start = format!("entrust-gateway: --listen: cannot listen on {busy}: ");
    assert!(last.starts_with(&start), "{last:?} should start {start:?}");
    let free = last
        .split_once("try --demo --listen ")
        .map(|(_, a)| a.trim())
        .unwrap_or_else(|| panic!("no hint: {last}"));
    assert_ne!(free, busy, "{last}");
    assert!(last.contains(&format!("; {free} is free: ")), "{last}");
    std::net::TcpListener::bind(free).unwrap_or_else(|e| panic!("{free} is not free: {e}"));
}

/// With no --config and no gateway.toml where it runs, the message points
/// at --config and --demo; a missing file named with --config is only named.
#[test]
fn a_missing_default_config_points_at_config_and_demo() {
    let empty = temp_dir("noconfig");
    let out = Command::new(BIN).current_dir(&empty).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        "entrust-gateway: gateway.toml: cannot read: No such file or directory (os error 2); \
         with no --config the gateway reads gateway.toml in the current directory: \
         name your config file with --config FILE, or try --demo to run against the built-in simulator"
    );
    let (code, _, err) = run(&["--config", "/nonexistent/gw.toml"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/nonexistent/gw.toml") && !err.contains("--demo"),
        "{err}"
    );
}

/// A flag that another would silently ignore is refused, exit 2, with a
/// message naming both.
#[test]
fn flags_that_would_be_ignored_are_refused_naming_both() {
    let cases: [(&[&str], [&str; 2]); 11] = [
        (&["--demo", "--check-config"], ["--demo", "--check-config"]),
        (&["--demo", "-c", "x.toml"], ["--demo", "--config"]),
        (
            &["--demo", "--config", "gateway.toml"],
            ["--demo", "--config"],
        ),
        (
            &["--demo", "--panic-after-ready"],
            ["--demo", "--panic-after-ready"],
        ),
        (
            &["--check-config", "--log-format", "json"],
            ["--check-config", "--log-format"],
        ),
        (
            &["--check-config", "--panic-after-ready"],
            ["--check-config", "--panic-after-ready"],
        ),
        (&["-c", "x.toml", "sim"], ["--config", "sim"]),
        (&["--demo", "sim"], ["--demo", "sim"]),
        (&["--check-config", "sim"], ["--check-config", "sim"]),
        (
            &["--listen", "127.0.0.1:0", "sim"],
            ["--listen", "sim --listen"],
        ),
        (
            &["--panic-after-ready", "sim"],
            ["--panic-after-ready", "sim"],
        ),
    ];
    for (args, names) in cases {
        let (code, _, err) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        for name in names {
            assert!(
                err.contains(&format!("'{name}")),
                "{args:?}: {err:?} should name {name}"
            );
        }
    }
}

/// `sh -c 'ulimit -n N; exec BIN ARGS'`: soft and hard open-file limits N.
fn under_ulimit(n: u32, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN])
        .args(args);
    cmd
}

/// The soft limit is raised to the hard one at start; below
/// server.max_connections plus the margin (upstream.max_in_flight + 64)
/// it is still, a warning gives the numbers, and the gateway serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_file_limit_is_raised_or_warned_with_its_numbers() {
    let dir = temp_dir("nofile");
    let cfg = write_file(
        &dir,
        "gw.toml",
        "[server]\nmax_connections = 1000\n[upstream]\nurls = ['http://127.0.0.1:1']\napp_key = 'k'\napp_secret_env = 'S'\nmax_in_flight = 100\n",
    );
    let args = ["--config", cfg.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    let mut cmd = under_ulimit(256, &args);
    cmd.env("S", "x").env("RUST_LOG", "debug");
    let mut p = Proc::command(cmd);
    let warning = p.wait_for(|l| l.contains("open-file limit (RLIMIT_NOFILE) below"));
    assert!(warning.contains(" WARN "), "{warning}");
    for field in [
        "soft=256",
        "hard=256",
        "max_connections=1000",
        "margin=164",
        "needed=1164",
        "max_connections_that_fit=92",
    ] {
        assert!(warning.contains(field), "{field} missing: {warning}");
    }
    let addr = p.ready();
    p.answers_then_stops(&addr).await;

    // A soft limit under the hard one is raised to it.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -S -n 256 && exec \"$0\" \"$@\"", BIN])
        .args(args)
        .env("S", "x")
        .env("RUST_LOG", "debug");
    let mut p = Proc::command(cmd);
    let limits = p.wait_for(|l| l.contains("nofile: open-file limit"));
    let field = |name: &str| -> u64 {
        limits
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {limits}"))
    };
    assert_eq!(field("soft="), field("hard="), "{limits}");
    p.wait_for(|l| l.contains("entrust_gateway: ready"));
}

/// Out of descriptors, accept fails every 50 ms: logged at once, then one
/// line a second at most, each with the failures since the line before;
/// once descriptors are free again the gateway answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_failures_are_logged_once_a_second_with_their_count() {
    let dir = temp_dir("emfile");
    let cfg = write_file(
        &dir,
        "gw.toml",
        "[upstream]\nurls = ['http://127.0.0.1:1']\napp_key = 'k'\napp_secret_env = 'S'\n",
    );
    let mut cmd = under_ulimit(
        64,
        &["--config", cfg.to_str().unwrap(), "--listen", "127.0.0.1:0"],
    );
    cmd.env("S", "x").env("RUST_LOG", "info");
    let mut p = Proc::command(cmd);
    let addr = p.ready();
    // More connections than the process has descriptors: the rest wait in
    // the kernel's accept queue.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let accept_failed = |l: &str| l.contains("accept failed");
    let first = p.wait_for(accept_failed);
    let second = p.wait_for(accept_failed);
    let count = |line: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix("failures_since_last_line="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no count: {line}"))
    };
    assert!(first.contains("Too many open files"), "{first}");
    assert_eq!(count(&first), 1, "{first}");
    assert!(
        count(&second) >= 2,
        "failures in between are counted: {second}"
    );
    // The lines' timestamps (text format: `2026-01-01T00:00:00.123456Z`).
    let seconds = |line: &str| -> f64 {
        let time = line.split_whitespace().next().unwrap();
        let hms = time.split('T').nth(1).unwrap().trim_end_matches('Z');
        hms.split(':')
            .map(|x| x.parse::<f64>().unwrap())
            .fold(0.0, |acc, x| acc * 60.0 + x)
    };
    let apart = (seconds(&second) - seconds(&first)).rem_euclid(86_400.0);
    assert!(apart >= 1.0, "{apart} s apart:\n{first}\n{second}");
    drop(held);
    p.answers_then_stops(&addr).await;
}
