//! Inbound TLS on `server.listen` (`[server.tls]`): HTTPS callers reach the
//! vendor, plain HTTP does not; mutual TLS refuses callers without a
//! certificate from the client CA and names those with one; a new
//! certificate is used by new connections while open ones keep theirs.
//! (What TLS does is rustls'; the expected outcomes are RFC 8446's: 4.4.2
//! and 6.2 for a missing or untrusted client certificate.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::cli::Proc;
use crate::common::*;

/// `[server.tls]`'s files in `dir`: the server's certificate and key, and
/// the client CA.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
}

impl Files {
    fn new(dir: &Path, server: &Leaf, client_ca: &TestCa) -> Files {
        let files = Files {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            client_ca: dir.join("client-ca.pem"),
        };
        files.put(server);
        std::fs::write(&files.client_ca, &client_ca.pem).unwrap();
        files
    }

    /// Replaces the server's certificate and key.
    fn put(&self, server: &Leaf) {
        std::fs::write(&self.cert, &server.cert_pem).unwrap();
        std::fs::write(&self.key, &server.key_pem).unwrap();
    }

    /// The `[server.tls]` section; with the client CA when `mutual`.
    fn section(&self, mutual: bool, poll_ms: u64) -> String {
        let ca = if mutual {
            format!(
                "client_ca_file = {:?}\n",
                self.client_ca.display().to_string()
            )
        } else {
            String::new()
        };
        format!(
            "[server.tls]\ncert_file = {:?}\nkey_file = {:?}\npoll_ms = {poll_ms}\n{ca}",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

/// A client trusting `ca`, presenting `cert` when given.
fn client_tls(ca: &TestCa, cert: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
            )
            .unwrap(),
    };
    Arc::new(config)
}

/// One HTTPS connection to the gateway, kept open across requests.
struct Conn {
    send: SendRequest<Full<Bytes>>,
    /// The certificate the gateway presented on it.
    server_cert: CertificateDer<'static>,
}

/// Connects to `addr` over TLS as `localhost`.
async fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let server_cert = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(Conn { send, server_cert })
}

impl Conn {
    /// Creates `group` through the entrust face on this connection; the
    /// status and the vendor's JSON.
    async fn create(&mut self, group: &str) -> Result<(StatusCode, serde_json::Value), String> {
        self.create_as(group, None).await
    }

    /// As [`Conn::create`], with `Authorization: Bearer <token>` when given.
    async fn create_as(
        &mut self,
        group: &str,
        token: Option<&str>,
    ) -> Result<(StatusCode, serde_json::Value), String> {
        self.send.ready().await.map_err(|e| format!("{e:?}"))?;
        let mut req = Request::post(CREATE)
            .header("host", "localhost")
            .header(FORM.0, FORM.1);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(format!(
                "groupId={group}&name=n&owner=o"
            ))))
            .unwrap();
        let resp = self
            .send
            .send_request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_slice(&body.to_bytes()).unwrap()))
    }
}

/// Connects and creates `group`: the error when the connection or the
/// request failed.
async fn create_over(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    group: &str,
) -> Result<(), String> {
    let mut conn = connect(addr, tls).await?;
    let (status, json) = conn.create(group).await?;
    // The vendor's success code (the simulator's group/create.json answer).
    assert_eq!(
        (status, &json["code"]),
        (StatusCode::OK, &200.into()),
        "{json}"
    );
    Ok(())
}

/// A simulator and a gateway with `[server.tls]` in front of it.
async fn tls_env(files: &Files, mutual: bool, poll_ms: u64, extra: &str) -> Env {
    let (sim, sim_server) = start_sim().await;
    let text = config_text(
        &[sim_server.url()],
        "",
        &format!("{}\n{extra}", files.section(mutual, poll_ms)),
    );
    let gw = start_gateway(&text).await;
    Env {
        sim,
        sim_server,
        gw,
    }
}

#[tokio::test]
async fn https_reaches_the_vendor_and_plain_http_does_not() {
    let dir = temp_dir("tls-in-basic");
    let ca = TestCa::new();
    let files = Files::new(&dir, &ca.server("localhost"), &ca);
    let env = tls_env(
        &files,
        false,
        3_600_000,
        "[admin]\nlisten = \"127.0.0.1:0\"",
    )
    .await;
    assert!(env.gw.url().starts_with("https://"));

    create_over(env.gw.addr, client_tls(&ca, None), "tls-in")
        .await
        .unwrap();
    assert!(env.sim.group("tls-in").is_some());

    // Plain HTTP on the TLS port: no HTTP answer (rustls answers a record
    // that is not TLS with an alert, RFC 8446 6.2), nothing sent upstream.
    let got = raw_exchange(
        env.gw.addr,
        b"POST /entrust/group/create.json HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 27\r\n\r\ngroupId=plain&name=n&owner=o",
    )
    .await;
    assert!(!got.starts_with("HTTP/"), "{got:?}");
    assert!(env.sim.group("plain").is_none());

    // A client that does not trust the gateway's CA refuses it.
    let other = TestCa::new();
    let e = create_over(env.gw.addr, client_tls(&other, None), "untrusted")
        .await
        .unwrap_err();
    assert!(e.starts_with("handshake"), "{e}");

    // The admin listener stays plain HTTP for probes.
    let admin = env.gw.admin_addr.unwrap();
    assert_eq!(get(&format!("http://{admin}/healthz")).await.status, 200);
}

#[tokio::test]
async fn mutual_tls_refuses_callers_without_a_certificate_from_the_ca_and_names_the_others() {
    let dir = temp_dir("tls-in-mutual");
    let server_ca = TestCa::new();
    let client_ca = TestCa::new();
    let files = Files::new(&dir, &server_ca.server("localhost"), &client_ca);
    let env = tls_env(&files, true, 3_600_000, "").await;
    let addr = env.gw.addr;

    // No certificate: the server requires one (RFC 8446 4.4.2: it may
    // abort with "certificate_required"). In TLS 1.3 the client learns it
    // on its first read.
    let e = create_over(addr, client_tls(&server_ca, None), "no-cert")
        .await
        .unwrap_err();
    assert!(e.contains("CertificateRequired"), "{e}");
    // A certificate from another CA: a fatal alert (RFC 8446 6.2:
    // "unknown_ca", or "decrypt_error" here, since every test CA has the
    // same name and the signature is checked against the client CA's key).
    let stranger = TestCa::new().client("billing", "Example Billing", "spiffe://x/billing");
    let e = create_over(addr, client_tls(&server_ca, Some(&stranger)), "stranger")
        .await
        .unwrap_err();
    assert!(e.contains("AlertReceived"), "{e}");
    assert!(env.sim.group("no-cert").is_none() && env.sim.group("stranger").is_none());

    // One from the client CA is served, and its subject is in the request
    // line (RFC 4514: the last RDN first).
    let logs = capture_logs();
    let billing = client_ca.client("billing", "Example Billing", "spiffe://example.org/billing");
    create_over(addr, client_tls(&server_ca, Some(&billing)), "with-cert")
        .await
        .unwrap();
    assert!(env.sim.group("with-cert").is_some());
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("route=/entrust/group/create.json") && l.contains(" done "))
        .unwrap_or_else(|| panic!("no request line in {text}"));
    assert!(
        line.contains("client_subject=\"CN=billing,O=Example Billing\""),
        "{line}"
    );
}

#[tokio::test]
async fn a_new_certificate_serves_new_connections_while_open_ones_keep_theirs() {
    let dir = temp_dir("tls-in-rotate");
    let ca = TestCa::new();
    let (first, second) = (ca.server("localhost"), ca.server("localhost"));
    let files = Files::new(&dir, &first, &ca);
    let env = tls_env(&files, false, 3_600_000, "").await;
    let tls = client_tls(&ca, None);

    let mut old = connect(env.gw.addr, tls.clone()).await.unwrap();
    assert_eq!(old.server_cert, first.cert_der);
    old.create("before").await.unwrap();

    // What SIGHUP does (the binary's own test below sends the signal).
    files.put(&second);
    assert!(env.gw.app.reload_tls());
    let new = connect(env.gw.addr, tls.clone()).await.unwrap();
    assert_eq!(new.server_cert, second.cert_der);
    // The kept-alive connection still works, with the certificate it had.
    let (status, _) = old.create("after").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(env.sim.group("after").is_some());

    // A key that does not match: refused, an ERROR naming the key, and the
    // certificate in use stays.
    let logs = capture_logs();
    std::fs::write(&files.key, ca.server("localhost").key_pem).unwrap();
    assert!(!env.gw.app.reload_tls());
    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("server.tls.key_file")),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let again = connect(env.gw.addr, tls).await.unwrap();
    assert_eq!(again.server_cert, second.cert_der);
}

/// The files changed on disk, with no signal: the poll picks them up, even
/// when the certificate and the key are written one after the other (the
/// mismatched pair in between is refused, then the pair is taken).
#[tokio::test]
async fn changed_files_are_picked_up_by_the_poll() {
    let dir = temp_dir("tls-in-poll");
    let ca = TestCa::new();
    let (first, second) = (ca.server("localhost"), ca.server("localhost"));
    let files = Files::new(&dir, &first, &ca);
    let env = tls_env(&files, false, 5, "").await;
    let tls = client_tls(&ca, None);
    assert_eq!(
        connect(env.gw.addr, tls.clone()).await.unwrap().server_cert,
        first.cert_der
    );
    files.put(&second);
    within("the poll picks up the new certificate", async {
        while connect(env.gw.addr, tls.clone()).await.unwrap().server_cert != second.cert_der {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// The binary: `--check-config` reads the files and names a bad one by its
/// key without printing it; SIGHUP reloads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_checks_the_files_and_reloads_them_on_sighup() {
    let (_sim, sim_server) = start_sim().await;
    let dir = temp_dir("tls-in-bin");
    let ca = TestCa::new();
    let (first, second) = (ca.server("localhost"), ca.server("localhost"));
    let files = Files::new(&dir, &first, &ca);
    let cfg = write_file(
        &dir,
        "gw.toml",
        &config_text(&[sim_server.url()], "", &files.section(true, 3_600_000)),
    );
    let check = |cfg: &Path| {
        let out = Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "--check-config"])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), all)
    };
    let (ok, out) = check(&cfg);
    assert!(ok, "{out}");
    for key in ["cert_file", "key_file", "client_ca_file"] {
        assert!(out.contains(&format!("server.tls.{key}: ")), "{out}");
    }

    // The certificate where the key should be: named by its key, and
    // neither file's content printed.
    std::fs::write(&files.key, &first.cert_pem).unwrap();
    let (ok, out) = check(&cfg);
    assert!(!ok);
    assert!(out.contains("server.tls.key_file: "), "{out}");
    assert!(!out.contains("BEGIN"), "{out}");
    files.put(&first);

    let mut cmd = Command::new(BIN);
    cmd.args(["--config", cfg.to_str().unwrap()]);
    let mut p = Proc::command(cmd);
    let ready = p.wait_for(|l| l.contains("entrust_gateway: ready"));
    let addr: SocketAddr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("listen="))
        .expect("ready line names the address")
        .parse()
        .unwrap();
    let client = ca.client("billing", "Example Billing", "spiffe://example.org/billing");
    let tls = client_tls(&ca, Some(&client));
    let mut old = connect(addr, tls.clone()).await.unwrap();
    assert_eq!(old.server_cert, first.cert_der);

    files.put(&second);
    p.signal("HUP");
    p.wait_for(|l| l.contains("server.tls certificate reloaded"));
    let mut new = connect(addr, tls).await.unwrap();
    assert_eq!(new.server_cert, second.cert_der);
    assert_eq!(old.create("bin-old").await.unwrap().0, StatusCode::OK);
    assert_eq!(new.create("bin-new").await.unwrap().0, StatusCode::OK);
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

/// Off loopback, TLS alone lets anyone connect: the warning about missing
/// inbound auth stays; mutual TLS is inbound auth, and it goes.
#[tokio::test]
async fn mutual_tls_counts_as_inbound_auth_off_loopback() {
    let (_sim, sim_server) = start_sim().await;
    let ca = TestCa::new();
    let files = Files::new(&temp_dir("tls-in-warn"), &ca.server("localhost"), &ca);
    let open = |mutual| {
        config_text(&[sim_server.url()], "", &files.section(mutual, 3_600_000))
            .replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"")
    };
    let log = crate::auth::start_up_log(&open(false)).await;
    assert!(log.contains("NO INBOUND AUTH"), "{log}");
    let log = crate::auth::start_up_log(&open(true)).await;
    assert!(!log.contains("LISTENING OFF LOOPBACK"), "{log}");
}

/// `[[callers]] cert_subject`: under mutual TLS a caller may be known by its
/// client certificate instead of, or besides, a bearer token; a certificate
/// no caller names is no credential, and a token and a certificate that
/// name different callers are refused (docs/security.md, "Inbound TLS").
#[tokio::test]
async fn a_client_certificate_names_its_caller() {
    let dir = temp_dir("tls-in-callers");
    let server_ca = TestCa::new();
    let client_ca = TestCa::new();
    let files = Files::new(&dir, &server_ca.server("localhost"), &client_ca);
    let callers = "[admin]\nlisten = \"127.0.0.1:0\"\n[[callers]]\nname = \"billing\"\napp = \"default\"\ncert_subject = \"spiffe://example.org/billing\"\n\
        [[callers]]\nname = \"search\"\napp = \"default\"\ntoken = \"tok-search\"\ncert_subject = \"CN=search,O=Example Search\"\n";
    let env = tls_env(&files, true, 3_600_000, callers).await;
    let addr = env.gw.addr;
    let billing = client_tls(
        &server_ca,
        Some(&client_ca.client("billing", "Example Billing", "spiffe://example.org/billing")),
    );
    let search = client_tls(
        &server_ca,
        Some(&client_ca.client("search", "Example Search", "spiffe://example.org/search")),
    );
    let stranger = client_tls(
        &server_ca,
        Some(&client_ca.client("ops", "Example Ops", "spiffe://example.org/ops")),
    );

    // The certificate alone (its URI SAN) names billing.
    let mut c = connect(addr, billing.clone()).await.unwrap();
    let (status, json) = c.create_as("by-cert", None).await.unwrap();
    assert_eq!(
        (status, &json["code"]),
        (StatusCode::OK, &200.into()),
        "{json}"
    );
    // Besides a token: both must name the same caller (the subject DN here).
    let mut c = connect(addr, search.clone()).await.unwrap();
    let (status, json) = c.create_as("by-both", Some("tok-search")).await.unwrap();
    assert_eq!(
        (status, &json["code"]),
        (StatusCode::OK, &200.into()),
        "{json}"
    );
    // billing's certificate with search's token: ambiguous, refused in the
    // vendor's shape (the entrust face's 401, code 1004 as in auth.rs).
    let mut c = connect(addr, billing).await.unwrap();
    let (status, json) = c.create_as("mixed", Some("tok-search")).await.unwrap();
    assert_eq!(
        (status, &json["code"]),
        (StatusCode::UNAUTHORIZED, &1004.into()),
        "{json}"
    );
    // A certificate from the CA that no caller names, and no token.
    let mut c = connect(addr, stranger).await.unwrap();
    let (status, json) = c.create_as("stranger", None).await.unwrap();
    assert_eq!(
        (status, &json["code"]),
        (StatusCode::UNAUTHORIZED, &1004.into()),
        "{json}"
    );
    assert!(env.sim.group("mixed").is_none() && env.sim.group("stranger").is_none());
    assert!(env.sim.group("by-cert").is_some() && env.sim.group("by-both").is_some());

    // Each success is counted under its caller (scraped from the admin
    // listener, which stays plain HTTP).
    let m = get(&format!("http://{}/metrics", env.gw.admin_addr.unwrap()))
        .await
        .text();
    for caller in ["billing", "search"] {
        let line = m
            .lines()
            .find(|l| {
                l.starts_with("entrust_gateway_requests_total{")
                    && l.contains(&format!("caller=\"{caller}\""))
                    && l.contains("status=\"200\"")
            })
            .unwrap_or_else(|| panic!("no 200 counted for {caller}:\n{m}"));
        assert!(line.ends_with(" 1"), "{line}");
    }
}
