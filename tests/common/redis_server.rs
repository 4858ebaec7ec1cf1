//! A real `redis-server` for a test, on a free loopback port, without
//! persistence, killed on drop. No mock: the gateway's Redis client talks
//! to the real thing. Also a Sentinel set ([`SentinelSet`]: a master, its
//! replicas and three `redis-sentinel`s) and a Cluster ([`Cluster`]: masters
//! with a replica each, made with `redis-cli --cluster create`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long redis-server may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// Extra arguments (TLS).
    args: Vec<String>,
}

impl RedisServer {
    /// Starts redis-server on a free port (another one if the port was
    /// taken in the meantime). Panics, naming the script that installs it,
    /// when redis-server is missing: tests that need Redis fail, never skip.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// TLS only (`rediss://`), with this PEM certificate and key.
    pub fn start_tls(cert_file: &str, key_file: &str) -> RedisServer {
        RedisServer::start_with(&[
            "--tls-cert-file",
            cert_file,
            "--tls-key-file",
            key_file,
            "--tls-auth-clients",
            "no",
        ])
    }

    /// With extra `redis-server` arguments (`--maxmemory-policy`, ...).
    pub fn start_with(args: &[&str]) -> RedisServer {
        RedisServer::start_on(free_port, args)
    }

    /// On a port from `port` (tried five times).
    fn start_on(port: fn() -> u16, args: &[&str]) -> RedisServer {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = port();
            if let Some(child) = spawn(port, &args) {
                return RedisServer {
                    child: Some(child),
                    port,
                    args,
                };
            }
        }
        panic!("redis-server did not start on five free ports in a row");
    }

    /// `redis://127.0.0.1:PORT/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it (SIGKILL: no goodbye to the clients) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty (as after a crash without
    /// persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.port, &self.args).expect("redis-server restarts on its port"));
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGSTOP: it stops answering without closing a connection (a stall:
    /// a long fork, a swapped-out page, a paused VM).
    pub fn pause(&self) {
        signal(self.pid().expect("redis-server runs"), "STOP");
    }

    /// SIGCONT after [`RedisServer::pause`]: it answers what queued meanwhile.
    pub fn resume(&self) {
        signal(self.pid().expect("redis-server runs"), "CONT");
    }

    /// Runs one command (`CONFIG SET ...`, `REPLICAOF ...`) and returns its reply.
    pub async fn cmd(&self, args: &[&str]) -> redis::Value {
        let mut conn = self.connection().await;
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// `field` of `INFO section` (`used_memory` of `memory`, ...).
    pub async fn info(&self, section: &str, field: &str) -> String {
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query_async(&mut self.connection().await)
            .await
            .expect("INFO");
        let prefix = format!("{field}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
            .trim()
            .to_string()
    }

    /// A client connection for checking what the gateway wrote.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }

    /// Waits (up to 5 s) until the quota key `key` holds a `hold` field:
    /// the fleet's hold after the vendor's 1008, written in the background.
    pub async fn hold_written(&self, key: &str) {
        let mut conn = self.connection().await;
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let hold: Option<u64> = redis::cmd("HGET")
                    .arg(key)
                    .arg("hold")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if hold.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the hold reaches Redis");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `kill -SIG pid`.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

/// A port nobody listens on now (it could be taken before redis-server
/// binds it: `start` then tries another).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Spawns redis-server on `port` and waits for its "Ready to accept
/// connections" line; `None` if it exited first (the port was taken).
fn spawn(port: u16, args: &[String]) -> Option<Child> {
    // With TLS arguments the port is the TLS port and plain TCP is off.
    let tls = args.iter().any(|a| a.starts_with("--tls"));
    let (port_flag, plain) = if tls {
        ("--tls-port", Some(["--port", "0"]))
    } else {
        ("--port", None)
    };
    // A replica writes the RDB it receives to its directory: the temporary
    // one, a file per port.
    let dir = std::env::temp_dir().display().to_string();
    let rdb = format!("entrust-gw-redis-{port}.rdb");
    let mut cmd = Command::new("redis-server");
    cmd.args([port_flag, &port.to_string(), "--bind", "127.0.0.1"])
        .args(plain.iter().flatten())
        .args(["--save", "", "--appendonly", "no", "--loglevel", "notice"])
        .args(["--dir", &dir, "--dbfilename", &rdb])
        .args(args);
    spawn_ready(cmd, "Ready to accept connections", port)
}

/// Runs `cmd` (redis-server or redis-sentinel) and waits for `ready` in its
/// log; `None` if it exited first (the port was taken).
fn spawn_ready(mut cmd: Command, ready_line: &'static str, port: u16) -> Option<Child> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{program} is not installed: run the tests with scripts/test.sh, \
             which installs it (or `apt-get install -y redis-server redis-sentinel`)"
        ),
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    // Reads its log until it is ready or gone; the rest of the log is drained
    // so that the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !ready && line.contains(ready_line) {
                ready = true;
                let _ = tx.send(true);
            }
        }
        if !ready {
            let _ = tx.send(false);
        }
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(true) => Some(child),
        Ok(false) => {
            let _ = child.wait();
            None
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} on port {port} was not ready within {READY_TIMEOUT:?}");
        }
    }
}

/// A blocking connection to 127.0.0.1:`port` (for set-up, outside a runtime).
fn blocking(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
}

/// Polls `done` every 50 ms until it holds; panics naming `what` after `within`.
fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `INFO section` of the server on `port` as text ("" if it won't answer).
fn info(port: u16, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query::<String>(&mut blocking(port))
        .unwrap_or_default()
}

/// A fresh directory for a set's files.
fn set_dir(kind: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("entrust-gw-{kind}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a directory for the set");
    d
}

/// A Sentinel set: a master, replicas and three sentinels (quorum 2) that
/// find a master down after 1 s (`down-after-milliseconds`; the default is
/// 30 s). Redis docs, "High availability with Redis Sentinel".
pub struct SentinelSet {
    /// The data nodes; the first was the master at the start.
    pub nodes: Vec<RedisServer>,
    sentinels: Vec<(Child, u16)>,
    dir: std::path::PathBuf,
}

/// The master's name in the tests' Sentinel sets.
pub const MASTER_NAME: &str = "entrust-test";

impl SentinelSet {
    /// A master with `replicas` replicas in sync, and three sentinels that
    /// all know the master, its replicas and each other.
    pub fn start(replicas: usize) -> SentinelSet {
        let dir = set_dir("sentinel");
        // Replicas sync at once (the default waits 5 s for more of them).
        let master = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]);
        let mut nodes = vec![master];
        for _ in 0..replicas {
            let port = nodes[0].port.to_string();
            nodes.push(RedisServer::start_with(&[
                "--replicaof",
                "127.0.0.1",
                &port,
                "--repl-diskless-sync-delay",
                "0",
            ]));
        }
        for n in &nodes[1..] {
            wait_for("a replica in sync", Duration::from_secs(10), || {
                info(n.port, "replication").contains("master_link_status:up")
            });
        }
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let child = (0..5).find_map(|_| {
                let port = free_port();
                let conf = dir.join(format!("sentinel-{i}.conf"));
                let text = format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir = dir.display(),
                    master = nodes[0].port,
                );
                std::fs::write(&conf, text).expect("sentinel config");
                let mut cmd = Command::new("redis-sentinel");
                cmd.arg(&conf);
                spawn_ready(cmd, "+monitor master", port).map(|c| (c, port))
            });
            sentinels.push(child.expect("redis-sentinel starts on a free port"));
        }
        let set = SentinelSet {
            nodes,
            sentinels,
            dir,
        };
        // Sentinels find each other and the replicas through the master
        // (hello messages every 2 s): a failover needs them to.
        for (_, port) in &set.sentinels {
            wait_for(
                "the sentinels know each other",
                Duration::from_secs(20),
                || {
                    let master: Vec<String> = redis::cmd("SENTINEL")
                        .arg("MASTER")
                        .arg(MASTER_NAME)
                        .query(&mut blocking(*port))
                        .unwrap_or_default();
                    let field = |name: &str| {
                        master
                            .iter()
                            .position(|f| f == name)
                            .and_then(|i| master.get(i + 1)?.parse::<usize>().ok())
                    };
                    field("num-other-sentinels") == Some(2) && field("num-slaves") == Some(replicas)
                },
            );
        }
        set
    }

    /// `[redis]` for a gateway using this set.
    pub fn config(&self) -> String {
        let urls: Vec<String> = self
            .sentinels
            .iter()
            .map(|(_, p)| format!("\"redis://127.0.0.1:{p}\""))
            .collect();
        format!(
            "[redis]\nsentinels = [{}]\nmaster_name = \"{MASTER_NAME}\"\n",
            urls.join(", ")
        )
    }

    /// The master's port as the sentinels say it now.
    pub fn master_port(&self) -> u16 {
        let (_, port) = self.sentinels[0];
        let (_, master): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query(&mut blocking(port))
            .expect("the sentinels name a master");
        master
    }

    /// The data node that is master now.
    pub fn master(&mut self) -> &mut RedisServer {
        let port = self.master_port();
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("the master is one of the set's nodes")
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for (c, _) in &mut self.sentinels {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port for a Cluster node: its bus port (+10000) must be free too, and
/// under 65536; from 20000-29999, so that no node's port is another's bus
/// port (30000-39999).
fn free_cluster_port() -> u16 {
    loop {
        let p = free_port() % 10_000 + 20_000;
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
        {
            return p;
        }
    }
}

/// A Redis Cluster on loopback: `masters` masters with a replica each,
/// made with `redis-cli --cluster create` (Redis docs, "Scale with Redis
/// Cluster"). Nodes find one another failed after 1.5 s
/// (`cluster-node-timeout`; the default is 15 s), after which a replica
/// takes over.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl Cluster {
    pub fn start(masters: usize) -> Cluster {
        let dir = set_dir("cluster");
        let nodes: Vec<RedisServer> = (0..masters * 2)
            .map(|i| {
                let conf = dir.join(format!("nodes-{i}.conf"));
                RedisServer::start_on(
                    free_cluster_port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &conf.display().to_string(),
                        "--cluster-node-timeout",
                        "1500",
                        // A replica syncs at once (the default waits 5 s
                        // for more replicas); one never synced would not
                        // take over ("cluster-replica-validity-factor").
                        "--repl-diskless-sync-delay",
                        "0",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (scripts/test.sh installs it with redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster { nodes, dir };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every live node says the cluster is ok and knows every
    /// node, and every replica is in sync with its master.
    pub fn wait_ok(&self) {
        let n = self.nodes.len();
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            wait_for("the cluster is ok", Duration::from_secs(20), || {
                let text: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut blocking(node.port))
                    .unwrap_or_default();
                let replication = info(node.port, "replication");
                text.contains("cluster_state:ok")
                    && text.contains(&format!("cluster_known_nodes:{n}"))
                    && (replication.contains("role:master")
                        || replication.contains("master_link_status:up"))
            });
        }
    }

    /// `[redis]` for a gateway using this cluster (two of its nodes: the
    /// rest are found from them).
    pub fn config(&self) -> String {
        format!(
            "[redis]\ncluster_urls = [\"redis://127.0.0.1:{}\", \"redis://127.0.0.1:{}\"]\n",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The index of the node that is the master of `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.pid().is_none() {
                continue;
            }
            let mut conn = blocking(node.port);
            let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
            let is_master =
                matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master");
            // A master answers a read of its own slot; others say MOVED.
            if is_master
                && redis::cmd("EXISTS")
                    .arg(key)
                    .query::<i64>(&mut conn)
                    .is_ok()
            {
                return i;
            }
        }
        panic!("no live master holds {key}'s slot")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
