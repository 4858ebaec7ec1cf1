//! Contract tests with the vendor's own SDK packages: PyPI
//! `rc-server-sdk` and npm `rongcloud-sdk` drive `tests/clients/scenario.json`
//! (every documented entrust endpoint) straight at `entrust-gateway sim`, and
//! through `entrust-gateway --config` in front of it; every step must answer
//! code 200. PyPI `ncsdk` (the v4 SDK) drives every documented v4
//! group-channel path with its own API methods (`tests/clients/ncsdk_v4.py`)
//! straight at `entrust-gateway sim`, plain and `--strict`; every step must
//! answer code 0.
//!
//! The SDK environment is prepared by `.ci/run` (or by hand, see docs/simulator.md):
//! `tests/clients/.venv` with `requirements.txt`, and `npm ci` in
//! `tests/clients`. Without it these tests print a skip line and pass, unless
//! `ENTRUST_SDK_CLIENTS=required` (set by CI), when they fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_entrust-gateway");
const REQUIRED_ENV: &str = "ENTRUST_SDK_CLIENTS";
const APP_KEY: &str = "sdk-key";
const APP_SECRET: &str = "sdk-secret";
/// Bounds every wait: a process start, one SDK scenario run.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[derive(Clone, Copy, Debug)]
enum Sdk {
    /// PyPI rc-server-sdk 3.2.0.
    Python,
    /// npm rongcloud-sdk 3.1.1.
    Node,
    /// PyPI ncsdk 0.1.2, the v4 SDK.
    NcsdkV4,
}

impl Sdk {
    /// The command that runs this SDK's driver, or why it cannot run here.
    fn command(self) -> Result<Command, String> {
        let dir = clients_dir();
        let (mut cmd, mut probe) = match self {
            Sdk::Python => {
                let py = dir.join(".venv/bin/python");
                let mut c = Command::new(&py);
                c.arg(dir.join("rc_server_sdk.py"));
                let mut probe = Command::new(&py);
                probe.args(["-c", "import rongcloud.module, rongcloud.rongcloud"]);
                (c, probe)
            }
            Sdk::NcsdkV4 => {
                let py = dir.join(".venv/bin/python");
                let mut c = Command::new(&py);
                c.arg(dir.join("ncsdk_v4.py"));
                let mut probe = Command::new(&py);
                probe.args([
                    "-c",
                    "import ncsdk; ncsdk.GroupChannelManagementApi; ncsdk.GroupChannelModerationApi",
                ]);
                (c, probe)
            }
            Sdk::Node => {
                let mut c = Command::new("node");
                c.arg(dir.join("rongcloud_sdk.js"));
                let mut probe = Command::new("node");
                probe
                    .current_dir(&dir)
                    .args(["-e", "require('rongcloud-sdk/lib/request')"]);
                (c, probe)
            }
        };
        let ok = probe
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "{self:?} SDK environment not prepared in {} (run .ci/run, or see docs/simulator.md: SDK contract tests)",
                dir.display()
            ));
        }
        cmd.current_dir(&dir);
        Ok(cmd)
    }

    /// The driver's last line when every step succeeded.
    fn success_line(self) -> &'static str {
        match self {
            Sdk::Python | Sdk::Node => "steps answered code 200",
            Sdk::NcsdkV4 => "steps answered code 0",
        }
    }
}

/// The SDK's command, or None after a skip line (or a panic when required).
fn sdk_or_skip(sdk: Sdk, test: &str) -> Option<Command> {
    match sdk.command() {
        Ok(c) => Some(c),
        Err(why) if std::env::var(REQUIRED_ENV).as_deref() == Ok("required") => {
            panic!("{REQUIRED_ENV}=required but {why}")
        }
        Err(why) => {
            // Straight to stderr so the line shows even when output is captured.
            let _ = writeln!(std::io::stderr(), "skip {test}: {why}");
            None
        }
    }
}

/// A child process killed when dropped, with stderr read line by line.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn entrust-gateway");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// The value of `key=` on the first log line containing `marker`.
    fn wait_for(&self, marker: &str, key: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(START_TIMEOUT) {
                Ok(line) if line.contains(marker) => {
                    return line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                        .to_string();
                }
                Ok(line) => seen.push(line),
                Err(e) => panic!("{marker:?} not logged ({e}); log:\n{}", seen.join("\n")),
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

/// `entrust-gateway sim` on a free port; its URL.
fn start_sim(strict: bool) -> (Proc, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["sim", "--listen", "127.0.0.1:0", "--app-key", APP_KEY])
        .env("ENTRUST_APP_SECRET", APP_SECRET);
    if strict {
        cmd.arg("--strict");
    }
    let p = Proc::spawn(cmd);
    let url = p.wait_for("entrust simulator listening", "url=");
    (p, url)
}

/// `entrust-gateway --config` in front of `upstream`; its URL.
fn start_gateway(upstream: &str, name: &str) -> (Proc, String) {
    let dir = std::env::temp_dir().join(format!("entrust-sdk-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurls = [{upstream:?}]\napp_key = {APP_KEY:?}\napp_secret_env = \"SDK_TEST_SECRET\"\n"
        ),
    )
    .expect("write config");
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", config.to_str().expect("utf-8 path")])
        .args(["--listen", "127.0.0.1:0"])
        .env("SDK_TEST_SECRET", APP_SECRET);
    let p = Proc::spawn(cmd);
    let addr = p.wait_for("entrust_gateway: ready", "listen=");
    // Read at start-up; nothing else needs it.
    let _ = std::fs::remove_dir_all(&dir);
    (p, format!("http://{addr}"))
}

/// Runs the SDK's driver against `base`; (exit success, its output).
fn run_driver(mut cmd: Command, base: &str, prefix: &str) -> (bool, String) {
    // The SDK signs with its own key and secret; through the gateway these
    // are stripped and the request signed again.
    let mut child = cmd
        .args([base, APP_KEY, APP_SECRET, prefix])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn SDK driver");
    let (tx, rx) = mpsc::channel();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(pipe).read_to_string(&mut text);
            let _ = tx.send(text);
        });
    }
    drop(tx);
    let mut out = String::new();
    for _ in 0..2 {
        match rx.recv_timeout(RUN_TIMEOUT) {
            Ok(text) => out.push_str(&text),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("SDK driver did not finish ({e}); output so far:\n{out}");
            }
        }
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    (ok, out)
}

/// The whole scenario must succeed at every step.
fn scenario(sdk: Sdk, via_gateway: bool, test: &str) {
    scenario_with(sdk, via_gateway, false, test);
}

fn scenario_with(sdk: Sdk, via_gateway: bool, strict: bool, test: &str) {
    let Some(cmd) = sdk_or_skip(sdk, test) else {
        return;
    };
    let (_sim, sim_url) = start_sim(strict);
    let (_gw, base) = if via_gateway {
        let (p, url) = start_gateway(&sim_url, test);
        (Some(p), url)
    } else {
        (None, sim_url)
    };
    let (ok, out) = run_driver(cmd, &base, test);
    assert!(ok, "{test}: a step failed:\n{out}");
    assert!(out.contains(sdk.success_line()), "{test}:\n{out}");
}

#[test]
fn python_sdk_straight_at_the_simulator() {
    scenario(Sdk::Python, false, "py_sim");
}

#[test]
fn python_sdk_through_the_gateway() {
    scenario(Sdk::Python, true, "py_gw");
}

/// ncsdk's whole scenario through the gateway (which strips the SDK's
/// signature and signs again): every step code 0, read by the SDK's models.
#[test]
fn ncsdk_v4_through_the_gateway() {
    scenario(Sdk::NcsdkV4, true, "nc_gw");
}

/// The same with `sim --strict` behind the gateway: the gateway's own
/// signature (millisecond timestamp, nonce of at most 18 characters, §2 of
/// the v4 reference) passes the strict checks.
#[test]
fn ncsdk_v4_through_the_gateway_at_the_strict_simulator() {
    scenario_with(Sdk::NcsdkV4, true, true, "nc_gw_strict");
}

/// Through a gateway in this process, whose simulator's request log shows
/// that every documented v4 path (both spellings of the two the sources
/// disagree on, §9.1, §9.5) was forwarded and answered code 0.
#[test]
fn ncsdk_v4_reaches_every_documented_path_through_the_gateway() {
    every_documented_v4_path(true, "nc_gw_all");
}

/// Every documented v4 path (`v4::path::DOCUMENTED`), through ncsdk's own
/// `GroupChannelManagementApi` and `GroupChannelModerationApi`: every
/// answer code 0 and read by the SDK's models.
#[test]
fn ncsdk_v4_straight_at_the_simulator() {
    scenario(Sdk::NcsdkV4, false, "nc_sim");
}

/// ncsdk signs as the v4 auth page says (millisecond timestamp, nonce of
/// at most 18 digits, a new one each call): `sim --strict` takes it too.
#[test]
fn ncsdk_v4_straight_at_the_strict_simulator() {
    scenario_with(Sdk::NcsdkV4, false, true, "nc_strict");
}

/// The same against the simulator in this process, whose request log
/// shows that ncsdk reached every documented v4 path with success, both
/// spellings of the two the sources disagree on included.
#[test]
fn ncsdk_v4_drives_every_documented_path() {
    every_documented_v4_path(false, "nc_all");
}

/// ncsdk's scenario against a simulator in this process, straight or
/// through a gateway in this process; every documented v4 path must show
/// in the simulator's log with success.
fn every_documented_v4_path(via_gateway: bool, test: &str) {
    use entrust_gateway::sim::{SimConfig, Simulator};
    use entrust_gateway::v4::path::DOCUMENTED;
    let Some(cmd) = sdk_or_skip(Sdk::NcsdkV4, test) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Through the gateway, the gateway's own key and secret reach the
    // simulator: the SDK's are replaced.
    let (key, secret) = if via_gateway {
        (crate::common::APP_KEY, crate::common::APP_SECRET)
    } else {
        (APP_KEY, APP_SECRET)
    };
    let (sim, server) = rt
        .block_on(Simulator::start(SimConfig::new(key, secret)))
        .expect("simulator starts");
    let gw = via_gateway.then(|| {
        let config = crate::common::config_text(&[server.url()], "", "");
        rt.block_on(crate::common::start_gateway(&config))
    });
    let base = gw.as_ref().map_or_else(|| server.url(), |gw| gw.url());
    let (ok, out) = run_driver(cmd, &base, test);
    assert!(ok && out.contains(Sdk::NcsdkV4.success_line()), "{out}");
    let missed: Vec<&str> = DOCUMENTED
        .iter()
        .copied()
        .filter(|p| sim.accepted(p) == 0)
        .collect();
    assert!(missed.is_empty(), "ncsdk never reached {missed:?}:\n{out}");
    drop((gw, server));
}

#[test]
fn node_sdk_straight_at_the_simulator() {
    scenario(Sdk::Node, false, "js_sim");
}

#[test]
fn node_sdk_through_the_gateway() {
    scenario(Sdk::Node, true, "js_gw");
}

/// The Node SDK signs once and reuses that nonce (rongcloud-sdk
/// `lib/request.js` `init`), so `sim --strict` refuses its second call with
/// 1004: strict is the simulator's own choice, and the default is not strict.
#[test]
fn node_sdk_nonce_reuse_is_refused_only_by_strict() {
    let Some(cmd) = sdk_or_skip(Sdk::Node, "js_strict") else {
        return;
    };
    let (_sim, url) = start_sim(true);
    let (ok, out) = run_driver(cmd, &url, "js_strict");
    assert!(!ok, "strict mode accepted a reused nonce:\n{out}");
    assert!(
        out.contains("step 1 group/create: ok") && out.contains("step 2 group/import: FAILED"),
        "{out}"
    );
    assert!(out.contains("1004"), "{out}");
}

/// `entrust-gateway sim --strict` switches the replay check on; without it
/// the same signed request is accepted twice (needs no SDK).
#[tokio::test]
async fn the_sim_command_takes_strict() {
    use sha1::{Digest, Sha1};
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .to_string();
    let nonce = "8674665223082153551";
    let sig = hex::encode(Sha1::digest(format!("{APP_SECRET}{nonce}{ts}")));
    let headers = [
        ("App-Key", APP_KEY),
        ("Nonce", nonce),
        ("Timestamp", ts.as_str()),
        ("Signature", sig.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    for (strict, second) in [(false, 200), (true, 1004)] {
        let (_sim, url) = start_sim(strict);
        let url = format!("{url}/entrust/group/query.json");
        let mut codes = Vec::new();
        for _ in 0..2 {
            let a = crate::common::send(http::Method::POST, &url, &headers, "size=1").await;
            codes.push(a.json()["code"].as_i64());
        }
        assert_eq!(codes, [Some(200), Some(second)], "strict={strict}");
    }
}
