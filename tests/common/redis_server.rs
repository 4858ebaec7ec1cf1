//! A real `redis-server` for a test, on a free loopback port, without
//! persistence, killed on drop. No mock: the gateway's Redis client talks
//! to the real thing.

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

    fn start_with(args: &[&str]) -> RedisServer {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
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

    /// A client connection for checking what the gateway wrote.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
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
    let (port_flag, plain) = if args.is_empty() {
        ("--port", None)
    } else {
        ("--tls-port", Some(["--port", "0"]))
    };
    let mut child = match Command::new("redis-server")
        .args([port_flag, &port.to_string(), "--bind", "127.0.0.1"])
        .args(plain.iter().flatten())
        .args(args)
        .args(["--save", "", "--appendonly", "no", "--loglevel", "notice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not installed: run the tests with scripts/test.sh, \
             which installs it (or `apt-get install -y redis-server`)"
        ),
        Err(e) => panic!("cannot run redis-server: {e}"),
    };
    let stdout = child.stdout.take().expect("redis-server stdout");
    let (tx, rx) = mpsc::channel();
    // Reads its log until it is ready or gone; the rest of the log is drained
    // so that redis-server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !ready && line.contains("Ready to accept connections") {
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
            panic!("redis-server on port {port} was not ready within {READY_TIMEOUT:?}");
        }
    }
}
