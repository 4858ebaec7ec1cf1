//! The simulator over real HTTP on 127.0.0.1, with a tiny raw HTTP/1.1
//! client and a signing helper of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use entrust_gateway::entrust::{code, path, role};
use entrust_gateway::sim::{Fault, FaultRule, ProfileVariant, SimConfig, SimServer, Simulator};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KEY: &str = "testkey";
const SECRET: &str = "testsecret";

// ---------------------------------------------------------------- signing

fn sign(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut h = Sha1::new();
    h.update(format!("{secret}{nonce}{timestamp}").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("n{}", N.fetch_add(1, Ordering::Relaxed))
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

// ---------------------------------------------------------------- requests

#[derive(Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// A signed form POST.
    fn signed(path: &str, body: impl Into<Vec<u8>>) -> Req {
        let n = nonce();
        let ts = now_ms().to_string();
        let sig = sign(SECRET, &n, &ts);
        Req {
            method: "POST".into(),
            path: path.into(),
            headers: vec![
                ("App-Key".into(), KEY.into()),
                ("Nonce".into(), n),
                ("Timestamp".into(), ts),
                ("Signature".into(), sig),
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: body.into(),
        }
    }

    fn form(path: &str, pairs: &[(&str, &str)]) -> Req {
        Req::signed(path, serde_urlencoded::to_string(pairs).unwrap())
    }

    fn set(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: sim\r\nContent-Length: {}\r\n",
            self.method,
            self.path,
            self.body.len()
        );
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut b = out.into_bytes();
        b.extend_from_slice(&self.body);
        b
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn code(&self) -> i64 {
        self.json()["code"].as_i64().unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection (plain or TLS); answers are read by Content-Length.
struct Conn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(s: S) -> Self {
        Conn {
            io: BufReader::new(s),
        }
    }

    async fn write(&mut self, req: &Req) -> std::io::Result<()> {
        self.io.get_mut().write_all(&req.bytes()).await?;
        self.io.get_mut().flush().await
    }

    async fn read(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.io.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.io.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').ok_or(std::io::ErrorKind::InvalidData)?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let mut body = vec![0; len];
        self.io.read_exact(&mut body).await?;
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    async fn send(&mut self, req: &Req) -> std::io::Result<Resp> {
        self.write(req).await?;
        self.read().await
    }

    /// The code of the answer to `req`, which must come.
    async fn code(&mut self, req: &Req) -> i64 {
        self.send(req).await.unwrap().code()
    }
}

// ---------------------------------------------------------------- fixture

struct T {
    sim: Simulator,
    server: SimServer,
}

impl T {
    async fn new() -> T {
        Self::with(SimConfig::new(KEY, SECRET)).await
    }

    async fn with(cfg: SimConfig) -> T {
        let (sim, server) = Simulator::start(cfg).await.unwrap();
        T { sim, server }
    }

    async fn conn(&self) -> Conn<TcpStream> {
        Conn::new(TcpStream::connect(self.server.addr).await.unwrap())
    }

    /// `n` copies of `req` written at once, each on its own connection,
    /// then read: how many got `ok_code` (HTTP 200) and how many the
    /// documented 1008 (HTTP 429). Any other answer fails the test.
    async fn flood(&self, req: &Req, n: usize, ok_code: i64) -> (usize, usize) {
        let mut conns = Vec::new();
        for _ in 0..n {
            conns.push(self.conn().await);
        }
        for c in &mut conns {
            c.write(req).await.unwrap();
        }
        let (mut ok, mut limited) = (0, 0);
        for c in &mut conns {
            let r = c.read().await.unwrap();
            match (r.status, r.code()) {
                (200, code) if code == ok_code => ok += 1,
                (429, 1008) => limited += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        (ok, limited)
    }

    async fn send(&self, req: &Req) -> Resp {
        self.conn().await.send(req).await.unwrap()
    }

    async fn call(&self, p: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(&Req::form(p, pairs)).await
    }

    /// A call that must succeed; its JSON.
    async fn ok(&self, p: &str, pairs: &[(&str, &str)]) -> Value {
        let r = self.call(p, pairs).await;
        let v = r.json();
        assert_eq!((r.status, v["code"].as_i64()), (200, Some(200)), "{p}: {v}");
        v
    }

    /// A call that must answer `want` with HTTP `status`.
    async fn fails(&self, p: &str, pairs: &[(&str, &str)], want: i64, status: u16) {
        let r = self.call(p, pairs).await;
        let v = r.json();
        assert_eq!(
            (r.status, v["code"].as_i64()),
            (status, Some(want)),
            "{p} {pairs:?}: {v}"
        );
        assert!(v["errorMessage"].is_string(), "{v}");
    }

    async fn create(&self, id: &str, owner: &str, users: &str) {
        self.ok(
            path::GROUP_CREATE,
            &[
                ("groupId", id),
                ("name", "Name"),
                ("owner", owner),
                ("userIds", users),
            ],
        )
        .await;
    }

    fn members(&self, id: &str) -> Vec<(String, i64)> {
        self.sim.group(id).unwrap().members
    }
}

fn m(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(u, r)| ((*u).to_owned(), *r)).collect()
}

// ---------------------------------------------------------------- signing

#[test]
fn published_test_vector() {
    assert_eq!(
        sign("Y1W2MeFwwwRxa0", "14314", "1408710653000"),
        "30be0bbca9c9b2e27578701e9fda2358a814c88f"
    );
}

#[tokio::test]
async fn signature_errors_are_401_1004() {
    let t = T::new().await;
    let base = || Req::form(path::GROUP_QUERY, &[("size", "1")]);
    assert_eq!(t.send(&base()).await.code(), 200);

    let mut cases: Vec<(&str, Req)> = vec![
        ("wrong signature", base().set("Signature", &"0".repeat(40))),
        ("signature with another secret", {
            let r = base();
            let sig = sign("other", &r.header("Nonce"), &r.header("Timestamp"));
            r.set("Signature", &sig)
        }),
        ("uppercase signature", {
            let r = base();
            let up = r.header("Signature").to_uppercase();
            r.set("Signature", &up)
        }),
        ("nonce over 64 chars", {
            let r = base();
            let n = "1".repeat(65);
            let sig = sign(SECRET, &n, &r.header("Timestamp"));
            r.set("Nonce", &n).set("Signature", &sig)
        }),
        (
            "timestamp of 11 digits",
            resigned(base(), "n-ts11", &(now_ms() / 100).to_string()),
        ),
        (
            "timestamp not a number",
            resigned(base(), "n-tsx", "17000000x0"),
        ),
    ];
    for h in ["App-Key", "Nonce", "Timestamp", "Signature"] {
        cases.push(("missing header", base().without(h)));
    }
    for (what, req) in cases {
        let r = t.send(&req).await;
        assert_eq!((r.status, r.code()), (401, 1004), "{what}");
    }
    let r = t.send(&base().set("App-Key", "someoneelse")).await;
    assert_eq!((r.status, r.code()), (401, 1001), "unknown App-Key");
    assert_eq!(t.sim.accepted(path::GROUP_QUERY), 1);
}

#[tokio::test]
async fn rc_aliases_are_accepted() {
    let t = T::new().await;
    let r = Req::form(path::GROUP_QUERY, &[]);
    let mut all = r.clone();
    for h in ["App-Key", "Nonce", "Timestamp", "Signature"] {
        let v = r.header(h);
        all = all.without(h).set(&format!("RC-{h}"), &v);
    }
    assert_eq!(t.send(&all).await.code(), 200, "all four aliased");

    let r = Req::form(path::GROUP_QUERY, &[]);
    let sig = r.header("Signature");
    let mixed = r.without("Signature").set("rc-signature", &sig);
    assert_eq!(t.send(&mixed).await.code(), 200, "one aliased, lowercase");

    let r = Req::form(path::GROUP_QUERY, &[]);
    let conflicting = r.set("RC-Nonce", "different");
    assert_eq!(
        t.send(&conflicting).await.code(),
        1004,
        "conflicting copies"
    );
}

/// `r` signed again with another nonce and timestamp.
fn resigned(r: Req, nonce: &str, ts: &str) -> Req {
    let sig = sign(SECRET, nonce, ts);
    r.set("Nonce", nonce)
        .set("Timestamp", ts)
        .set("Signature", &sig)
}

fn now_s() -> String {
    (now_ms() / 1000).to_string()
}

/// What the official SDKs send (reference `entrust-api.md`, "Signing"): Go
/// `strconv.Itoa(rand.Int())` (19 digits) with `time.Now().Unix()` seconds
/// (server-sdk-go `sdk/rongcloud.go`); Java `Math.random()*1000000` (a
/// dotted nonce) with `currentTimeMillis()/1000` (`util/HttpUtil.java`);
/// Node reuses one nonce and timestamp for every request (rongcloud-sdk
/// `lib/request.js`).
#[tokio::test]
async fn sdk_style_signatures_are_accepted() {
    let t = T::new().await;
    let base = || Req::form(path::GROUP_QUERY, &[("size", "1")]);
    let go = resigned(base(), "8674665223082153551", &now_s());
    let java = resigned(base(), "356281.90734112536", &now_s());
    let long = resigned(base(), &"x".repeat(64), &now_ms().to_string());
    for (what, r) in [("go", &go), ("java", &java), ("64 chars", &long)] {
        let a = t.send(r).await;
        assert_eq!((a.status, a.code()), (200, 200), "{what}");
    }
    // Node: the same nonce and timestamp again, and again.
    for _ in 0..3 {
        assert_eq!(t.send(&go).await.code(), 200, "reused nonce");
    }
    // A timestamp far from the clock is no concern by default either.
    let old = resigned(base(), "old", "1408710653");
    assert_eq!(t.send(&old).await.code(), 200);
}

/// `strict` adds the simulator's own checks: replays and the clock window.
#[tokio::test]
async fn strict_mode_refuses_replays_and_stale_timestamps() {
    let mut cfg = SimConfig::new(KEY, SECRET);
    cfg.strict = true;
    let t = T::with(cfg).await;
    let r = resigned(
        Req::form(path::GROUP_QUERY, &[]),
        "8674665223082153551",
        &now_s(),
    );
    assert_eq!(t.send(&r).await.code(), 200, "seconds within the window");
    let again = t.send(&r).await;
    assert_eq!((again.status, again.code()), (401, 1004));
    // Same nonce, new timestamp: still a replay.
    let r2 = resigned(
        r.clone(),
        "8674665223082153551",
        &(now_ms() + 1).to_string(),
    );
    assert_eq!(t.send(&r2).await.code(), 1004);
    let stale = (now_ms() - 6 * 60 * 1000).to_string();
    let r3 = resigned(r.clone(), "fresh-stale", &stale);
    assert_eq!(t.send(&r3).await.code(), 1004, "stale timestamp");
    let stale_s = (now_ms() / 1000 - 6 * 60).to_string();
    let r4 = resigned(r, "fresh-stale-s", &stale_s);
    assert_eq!(t.send(&r4).await.code(), 1004, "stale timestamp in seconds");

    // The same replay is accepted without strict.
    let t = T::new().await;
    let r = Req::form(path::GROUP_QUERY, &[]);
    assert_eq!(t.send(&r).await.code(), 200);
    assert_eq!(t.send(&r).await.code(), 200);
}

// ---------------------------------------------------------------- form

#[tokio::test]
async fn wrong_content_type_is_1003() {
    let t = T::new().await;
    for ct in [Some("application/json"), Some("text/plain"), None] {
        let r = Req::signed(path::GROUP_CREATE, "groupId=g&name=n&owner=o");
        let r = match ct {
            Some(ct) => r.set("Content-Type", ct),
            None => r.without("Content-Type"),
        };
        let resp = t.send(&r).await;
        assert_eq!((resp.status, resp.code()), (400, 1003), "{ct:?}");
    }
    let r = Req::signed(path::GROUP_CREATE, "groupId=g&name=n&owner=o").set(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=UTF-8",
    );
    assert_eq!(t.send(&r).await.code(), 200, "charset parameter allowed");
    // Empty body: no POST data.
    assert_eq!(
        t.send(&Req::signed(path::GROUP_JOIN, "")).await.code(),
        1003
    );
    // Not UTF-8.
    let r = t
        .send(&Req::signed(path::GROUP_JOIN, "groupId=g&userIds=%ff"))
        .await;
    assert_eq!((r.status, r.code()), (400, 1002));
}

#[tokio::test]
async fn array_forms() {
    let t = T::new().await;
    let bodies = [
        "groupId=gc&name=n&owner=o&userIds=a,b,,c",
        "groupId=gr&name=n&owner=o&userIds=a&userIds=b&userIds=c",
        "groupId=ge&name=n&owner=o&userIds=a%2Cb&userIds=&userIds=c",
    ];
    for body in bodies {
        assert_eq!(
            t.send(&Req::signed(path::GROUP_CREATE, body)).await.code(),
            200
        );
    }
    let want = m(&[
        ("o", role::OWNER),
        ("a", role::MEMBER),
        ("b", role::MEMBER),
        ("c", role::MEMBER),
    ]);
    for g in ["gc", "gr", "ge"] {
        assert_eq!(t.members(g), want, "{g}");
    }
    for body in [
        "groupIds=gc,gr,ge",
        "groupIds=gc&groupIds=gr&groupIds=ge",
        "groupId=gc&groupId=gr&groupId=ge",
    ] {
        let v = t.send(&Req::signed(path::PROFILE_QUERY, body)).await.json();
        let ids = crate::common::each(&v["profiles"], |p| crate::common::text(p, "groupId"));
        assert_eq!(ids, ["gc", "gr", "ge"], "{body}");
    }
}

// ---------------------------------------------------------------- groups

#[tokio::test]
async fn create_then_profile_query_json_text() {
    let t = T::new().await;
    let before = now_ms() as i64;
    t.ok(
        path::GROUP_CREATE,
        &[
            ("groupId", "g1"),
            ("name", "Group One"),
            ("owner", "alice"),
            ("userIds", "bob,carol"),
            (
                "groupProfile",
                r#"{"introduction":"intro","portraitUrl":"http://p/x.png"}"#,
            ),
            ("permissions", r#"{"joinPerm":1,"removePerm":2}"#),
            ("groupExtProfile", r#"{"ext_color":"blue"}"#),
        ],
    )
    .await;
    let v = t
        .ok(path::PROFILE_QUERY, &[("groupIds", "g1,missing")])
        .await;
    let profiles = v["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 1, "unknown ids are left out: {v}");
    let p = &profiles[0];
    assert_eq!(p["groupId"], "g1");
    assert_eq!(p["groupName"], "Group One");
    assert_eq!(p["owner"], "alice");
    assert_eq!(p["memberCount"], 3);
    let ct = p["createTime"].as_i64().unwrap();
    assert!(
        ct >= before && ct <= now_ms() as i64,
        "createTime in ms: {ct}"
    );
    let text = |k: &str| -> Value { serde_json::from_str(p[k].as_str().unwrap()).unwrap() };
    assert_eq!(
        text("groupProfile"),
        json!({"introduction":"intro","portraitUrl":"http://p/x.png"})
    );
    assert_eq!(text("groupExtProfile"), json!({"ext_color":"blue"}));
    let perms = text("permissions");
    assert_eq!(
        (perms["joinPerm"].as_i64(), perms["removePerm"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(perms["invitePerm"], 0);

    // Empty profile and ext are left out.
    t.create("g2", "o", "").await;
    let v = t.ok(path::PROFILE_QUERY, &[("groupIds", "g2,g1")]).await;
    let p = &v["profiles"][0];
    assert_eq!(p["groupId"], "g2", "order asked: {v}");
    assert!(
        p.get("groupProfile").is_none() && p.get("groupExtProfile").is_none(),
        "{p}"
    );

    let s = t.sim.group("g1").unwrap();
    assert_eq!(s.name, "Group One");
    assert_eq!(s.group_profile["introduction"], "intro");
    assert_eq!(s.ext_profile["ext_color"], "blue");
}

#[tokio::test]
async fn profile_variants() {
    let t = T::new().await;
    t.ok(
        path::GROUP_CREATE,
        &[
            ("groupId", "g"),
            ("name", "G"),
            ("owner", "o"),
            (
                "groupProfile",
                r#"{"announcement":"ann","introduction":"int"}"#,
            ),
            ("groupExtProfile", r#"{"ext_k":"v"}"#),
        ],
    )
    .await;
    let query =
        || async { t.ok(path::PROFILE_QUERY, &[("groupIds", "g")]).await["profiles"][0].clone() };

    let p = query().await;
    assert!(
        p["groupProfile"].is_string() && p["permissions"].is_string(),
        "default is JsonText: {p}"
    );

    t.sim.set_profile_variant(ProfileVariant::Objects);
    let p = query().await;
    assert_eq!(
        p["groupProfile"],
        json!({"announcement":"ann","introduction":"int"})
    );
    assert_eq!(p["groupExtProfile"], json!({"ext_k":"v"}));
    assert!(p["permissions"].is_object());

    t.sim.set_profile_variant(ProfileVariant::TopLevel);
    let p = query().await;
    assert_eq!(
        (p["announcement"].as_str(), p["introduction"].as_str()),
        (Some("ann"), Some("int"))
    );
    assert!(p.get("groupProfile").is_none(), "{p}");
    assert_eq!(p["groupName"], "G");

    t.sim.set_profile_variant(ProfileVariant::NameField);
    let p = query().await;
    assert_eq!(p["name"], "G");
    assert!(p.get("groupName").is_none(), "{p}");

    t.sim.set_profile_variant(ProfileVariant::Sparse);
    assert_eq!(query().await, json!({"groupId":"g","groupName":"G"}));

    t.sim.set_profile_variant(ProfileVariant::JsonText);
    assert!(query().await["groupProfile"].is_string());
}

#[tokio::test]
async fn exists_and_not_found() {
    let t = T::new().await;
    t.create("g", "o", "").await;
    let again = [("groupId", "g"), ("name", "n"), ("owner", "o")];
    t.fails(path::GROUP_CREATE, &again, code::GROUP_EXISTS, 200)
        .await;
    t.fails(path::GROUP_IMPORT, &again, code::GROUP_EXISTS, 200)
        .await;
    let missing = [("groupId", "nope"), ("userIds", "a")];
    t.fails(path::GROUP_JOIN, &missing, code::GROUP_NOT_FOUND, 200)
        .await;
    t.fails(
        path::PROFILE_UPDATE,
        &[("groupId", "nope"), ("name", "x")],
        code::GROUP_NOT_FOUND,
        200,
    )
    .await;
    t.fails(
        path::GROUP_DISMISS,
        &[("groupId", "nope")],
        code::GROUP_NOT_FOUND,
        200,
    )
    .await;
    t.ok(path::GROUP_DISMISS, &[("groupId", "g")]).await;
    assert!(t.sim.group("g").is_none());
    t.fails(
        path::MEMBER_QUERY,
        &[("groupId", "g")],
        code::GROUP_NOT_FOUND,
        200,
    )
    .await;
}

#[tokio::test]
async fn parameter_errors() {
    let t = T::new().await;
    t.fails(
        path::GROUP_CREATE,
        &[("groupId", "g"), ("owner", "o")],
        code::PARAM_ERROR,
        400,
    )
    .await;
    let long = "a".repeat(65);
    t.fails(
        path::GROUP_CREATE,
        &[("groupId", &long), ("name", "n"), ("owner", "o")],
        code::PARAM_TOO_LONG,
        400,
    )
    .await;
    let base = [("groupId", "g"), ("name", "n"), ("owner", "o")];
    let with = |k: &'static str, v: &'static str| {
        let mut p = base.to_vec();
        p.push((k, v));
        p
    };
    for (k, v, want) in [
        ("groupProfile", "{oops", code::ENTRUST_PARAM_ERROR),
        (
            "permissions",
            r#"{"joinPerm":9}"#,
            code::ENTRUST_PARAM_ERROR,
        ),
        ("permissions", r#"{"joinPerm":"1"}"#, code::NOT_A_NUMBER),
        (
            "groupExtProfile",
            r#"{"color":"blue"}"#,
            code::ENTRUST_PARAM_ERROR,
        ),
    ] {
        t.fails(path::GROUP_CREATE, &with(k, v), want, 200).await;
    }
    let intro = format!(r#"{{"introduction":"{}"}}"#, "i".repeat(513));
    let mut p = base.to_vec();
    p.push(("groupProfile", &intro));
    t.fails(path::GROUP_CREATE, &p, code::LENGTH_EXCEEDED, 200)
        .await;
    let users: Vec<String> = (0..31).map(|i| format!("u{i}")).collect();
    let users = users.join(",");
    let mut p = base.to_vec();
    p.push(("userIds", &users));
    t.fails(path::GROUP_CREATE, &p, code::PARAM_TOO_LONG, 400)
        .await;
    assert!(t.sim.group("g").is_none(), "nothing was created");
    let ids: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
    t.fails(
        path::PROFILE_QUERY,
        &[("groupIds", &ids.join(","))],
        code::QUERY_COUNT_EXCEEDED,
        200,
    )
    .await;
}

#[tokio::test]
async fn profile_update_merges() {
    let t = T::new().await;
    t.ok(
        path::GROUP_CREATE,
        &[
            ("groupId", "g"),
            ("name", "Old"),
            ("owner", "o"),
            ("groupProfile", r#"{"introduction":"i","announcement":"a"}"#),
            ("permissions", r#"{"joinPerm":1}"#),
            ("groupExtProfile", r#"{"ext_a":"1","ext_b":"2"}"#),
        ],
    )
    .await;
    t.ok(
        path::PROFILE_UPDATE,
        &[
            ("groupId", "g"),
            ("groupProfile", r#"{"name":"New","announcement":"b"}"#),
            ("permissions", r#"{"removePerm":1}"#),
            ("groupExtProfile", r#"{"ext_a":"","ext_c":"3"}"#),
        ],
    )
    .await;
    let s = t.sim.group("g").unwrap();
    assert_eq!(s.name, "New");
    assert_eq!(
        s.group_profile,
        json!({"introduction":"i","announcement":"b"})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(
        s.permissions,
        json!({"joinPerm":1,"removePerm":1})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(
        s.ext_profile,
        json!({"ext_b":"2","ext_c":"3"})
            .as_object()
            .unwrap()
            .clone()
    );
    // A top-level name works too.
    t.ok(path::PROFILE_UPDATE, &[("groupId", "g"), ("name", "Top")])
        .await;
    assert_eq!(t.sim.group("g").unwrap().name, "Top");
    t.fails(
        path::PROFILE_UPDATE,
        &[("groupId", "g"), ("groupProfile", r#"{"name":""}"#)],
        code::EMPTY_NAME,
        200,
    )
    .await;
}

// ---------------------------------------------------------------- members

#[tokio::test]
async fn membership_flow() {
    let t = T::new().await;
    t.create("g", "o", "a").await;
    t.ok(path::GROUP_JOIN, &[("groupId", "g"), ("userIds", "b,c,d")])
        .await;
    t.fails(
        path::GROUP_JOIN,
        &[("groupId", "g"), ("userIds", "e,b")],
        code::ALREADY_IN_GROUP,
        200,
    )
    .await;
    assert_eq!(t.members("g").len(), 5, "refused join changed nothing");

    t.ok(path::MEMBER_KICK, &[("groupId", "g"), ("userIds", "b")])
        .await;
    t.ok(
        path::GROUP_QUIT,
        &[("groupId", "g"), ("userIds", "c"), ("isDelBan", "1")],
    )
    .await;
    t.fails(
        path::GROUP_QUIT,
        &[("groupId", "g"), ("userIds", "c")],
        code::NOT_IN_GROUP,
        200,
    )
    .await;
    t.fails(
        path::MEMBER_KICK,
        &[("groupId", "g"), ("userIds", "o")],
        code::OWNER_OPERATION,
        200,
    )
    .await;
    assert_eq!(t.members("g"), m(&[("o", 3), ("a", 1), ("d", 1)]));

    let v = t
        .ok(path::MANAGER_ADD, &[("groupId", "g"), ("userIds", "a,zed")])
        .await;
    assert_eq!(
        (v["userIds"].clone(), v["managerCount"].as_i64()),
        (json!(["zed"]), Some(1))
    );
    t.fails(
        path::MANAGER_ADD,
        &[("groupId", "g"), ("userIds", "o")],
        code::OWNER_OPERATION,
        200,
    )
    .await;
    assert_eq!(t.members("g"), m(&[("o", 3), ("a", 2), ("d", 1)]));
    t.fails(
        path::MANAGER_REMOVE,
        &[("groupId", "g"), ("userIds", "d")],
        code::NOT_A_MANAGER,
        200,
    )
    .await;

    t.fails(
        path::TRANSFER_OWNER,
        &[("groupId", "g"), ("newOwner", "zed")],
        code::NOT_IN_GROUP,
        200,
    )
    .await;
    t.ok(path::TRANSFER_OWNER, &[("groupId", "g"), ("newOwner", "d")])
        .await;
    assert_eq!(t.members("g"), m(&[("o", 1), ("a", 2), ("d", 3)]));
    t.ok(
        path::TRANSFER_OWNER,
        &[("groupId", "g"), ("newOwner", "a"), ("isQuit", "1")],
    )
    .await;
    assert_eq!(t.members("g"), m(&[("o", 1), ("a", 3)]));
    assert_eq!(t.sim.group("g").unwrap().owner, "a");

    t.ok(
        path::MEMBER_SET,
        &[
            ("groupId", "g"),
            ("userId", "o"),
            ("nickname", "Oz"),
            ("extra", "x"),
        ],
    )
    .await;
    let v = t
        .ok(
            path::MEMBER_SPECIFIC_QUERY,
            &[("groupId", "g"), ("userIds", "o,nobody,a")],
        )
        .await;
    let got: Vec<(&str, &str, i64)> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["userId"].as_str().unwrap(),
                m["nickname"].as_str().unwrap(),
                m["role"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("o", "Oz", 1), ("a", "", 3)]);

    let v = t.ok(path::JOINED_GROUP_QUERY, &[("userId", "a")]).await;
    assert_eq!(v["totalCount"], 1);
    assert_eq!(v["groups"][0]["groupId"], "g");
    assert_eq!(v["groups"][0]["role"], role::OWNER);
    assert_eq!(v["pageToken"], "");
}

/// group/member/set.json: `nickname` is required and `extra` is at most 128
/// characters (the vendor's doc page; Java and PHP SDKs' `verify.json`,
/// reference `entrust-api.md` table).
#[tokio::test]
async fn member_set_rules() {
    let t = T::new().await;
    t.create("g", "o", "a").await;
    t.fails(
        path::MEMBER_SET,
        &[("groupId", "g"), ("userId", "a"), ("extra", "x")],
        code::PARAM_ERROR,
        400,
    )
    .await;
    let set_a = |extra| {
        [
            ("groupId", "g"),
            ("userId", "a"),
            ("nickname", "A"),
            ("extra", extra),
        ]
    };
    let extra = "e".repeat(129);
    t.fails(path::MEMBER_SET, &set_a(&extra), code::PARAM_TOO_LONG, 400)
        .await;
    let extra = "é".repeat(128);
    t.ok(path::MEMBER_SET, &set_a(&extra)).await;
    // Only the nickname: the extra stays.
    t.ok(
        path::MEMBER_SET,
        &[("groupId", "g"), ("userId", "a"), ("nickname", "B")],
    )
    .await;
    let v = t
        .ok(
            path::MEMBER_SPECIFIC_QUERY,
            &[("groupId", "g"), ("userIds", "a")],
        )
        .await;
    assert_eq!(v["members"][0]["nickname"], "B");
    assert_eq!(v["members"][0]["extra"], extra.as_str());
    t.fails(
        path::MEMBER_SET,
        &[("groupId", "g"), ("userId", "z"), ("nickname", "Z")],
        code::NOT_IN_GROUP,
        200,
    )
    .await;
}

/// At most 10 managers (doc: group/manager/add.json; reference table).
#[tokio::test]
async fn manager_limit_of_ten() {
    let t = T::new().await;
    let users: Vec<String> = (0..11).map(|i| format!("m{i}")).collect();
    t.create("g", "o", &users.join(",")).await;
    let v = t
        .ok(
            path::MANAGER_ADD,
            &[("groupId", "g"), ("userIds", &users[..10].join(","))],
        )
        .await;
    assert_eq!(v["managerCount"], 10);
    t.fails(
        path::MANAGER_ADD,
        &[("groupId", "g"), ("userIds", &users[10])],
        code::MANAGER_LIMIT,
        200,
    )
    .await;
}

/// groupId: letters, digits, `_` and `-` (reference `entrust-api.md`: the
/// vendor's PHP example uses `RC_GROUP_1`).
#[tokio::test]
async fn group_id_characters() {
    let t = T::new().await;
    for id in [
        "RC_GROUP_1",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        &"a".repeat(64),
    ] {
        t.create(id, "o", "").await;
        assert!(t.sim.group(id).is_some(), "{id}");
    }
    for id in ["a.b", "a b", "grüppe"] {
        t.fails(
            path::GROUP_CREATE,
            &[("groupId", id), ("name", "n"), ("owner", "o")],
            code::INVALID_GROUP_ID,
            200,
        )
        .await;
    }
}

/// The answer shapes of join.json, group/query.json and
/// joined/group/query.json: reference `entrust-api.md` table; Go
/// `sdk/entrustgroup.go` `JoinGroupResult`, `EntrustGroupInfo`,
/// `EntrustGroupDetailInfo`.
#[tokio::test]
async fn group_answers_have_documented_shapes() {
    let t = T::new().await;
    t.ok(
        path::GROUP_CREATE,
        &[
            ("groupId", "g1"),
            ("name", "One"),
            ("owner", "o"),
            (
                "groupProfile",
                r#"{"introduction":"hi","portraitUrl":"p.png"}"#,
            ),
            ("groupExtProfile", r#"{"ext_a":"1"}"#),
        ],
    )
    .await;
    t.create("g2", "o", "").await;

    let v = t
        .ok(path::GROUP_JOIN, &[("groupId", "g1"), ("userIds", "a,b")])
        .await;
    assert_eq!(v["groupId"], "g1");
    assert_eq!(v["name"], "One");
    assert_eq!(v["owner"], "o");
    assert_eq!(v["memberCount"], 3);
    assert!(v["createTime"].is_i64(), "{v}");
    let gp: Value = serde_json::from_str(v["groupProfile"].as_str().unwrap()).unwrap();
    assert_eq!(gp["introduction"], "hi");
    let ext: Value = serde_json::from_str(v["groupExtProfile"].as_str().unwrap()).unwrap();
    assert_eq!(ext, json!({"ext_a":"1"}));
    let perms: Value = serde_json::from_str(v["permissions"].as_str().unwrap()).unwrap();
    assert_eq!(perms["joinPerm"], 0);

    let v = t.ok(path::GROUP_QUERY, &[("order", "0")]).await;
    assert!(v.get("totalCount").is_none(), "{v}");
    assert_eq!(v["pageToken"], "");
    let g = &v["groups"][0];
    assert_eq!(
        (
            &g["groupId"],
            &g["name"],
            &g["creator"],
            &g["owner"],
            &g["portraitUrl"]
        ),
        (
            &json!("g1"),
            &json!("One"),
            &json!("o"),
            &json!("o"),
            &json!("p.png")
        )
    );
    assert!(g["time"].is_i64() && g["groupProfile"].is_string(), "{g}");
    assert_eq!(v["groups"][1]["groupId"], "g2");
    let v = t.ok(path::GROUP_QUERY, &[("size", "1")]).await;
    assert_eq!(v["groups"][0]["groupId"], "g2", "newest first by default");
    let token = v["pageToken"].as_str().unwrap().to_owned();
    let v = t
        .ok(path::GROUP_QUERY, &[("size", "1"), ("pageToken", &token)])
        .await;
    assert_eq!(v["groups"][0]["groupId"], "g1");

    t.ok(
        path::REMARK_NAME_SET,
        &[("userId", "a"), ("groupId", "g1"), ("remarkName", "mine")],
    )
    .await;
    let v = t.ok(path::JOINED_GROUP_QUERY, &[("userId", "a")]).await;
    assert_eq!(v["totalCount"], 1);
    let g = &v["groups"][0];
    for k in [
        "groupId",
        "name",
        "remarkName",
        "groupProfile",
        "groupExtProfile",
        "permissions",
        "createTime",
        "joinTime",
        "role",
        "count",
        "owner",
    ] {
        assert!(g.get(k).is_some(), "{k} missing: {g}");
    }
    assert_eq!(
        (&g["remarkName"], &g["count"], &g["role"]),
        (&json!("mine"), &json!(3), &json!(1))
    );
}

/// follow/unfollow/followed and the remark names (reference table; Go
/// `FollowedMemberResult`, `RemarkNameResult`).
#[tokio::test]
async fn follows_and_remark_names() {
    let t = T::new().await;
    t.create("g", "o", "a,b,c").await;
    t.ok(
        path::MEMBER_FOLLOW,
        &[("groupId", "g"), ("userId", "a"), ("followUserIds", "b,c")],
    )
    .await;
    t.fails(
        path::MEMBER_FOLLOW,
        &[("groupId", "g"), ("userId", "a"), ("followUserIds", "zed")],
        code::NOT_IN_GROUP,
        200,
    )
    .await;
    t.fails(
        path::MEMBER_FOLLOW,
        &[("groupId", "g"), ("userId", "a")],
        code::PARAM_ERROR,
        400,
    )
    .await;
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    t.fails(
        path::MEMBER_FOLLOW,
        &[
            ("groupId", "g"),
            ("userId", "a"),
            ("followUserIds", &many.join(",")),
        ],
        code::PARAM_TOO_LONG,
        400,
    )
    .await;
    t.ok(
        path::MEMBER_UNFOLLOW,
        &[("groupId", "g"), ("userId", "a"), ("followUserIds", "c")],
    )
    .await;
    let followed_by_a = [("groupId", "g"), ("userId", "a")];
    let v = t.ok(path::MEMBER_FOLLOWED_GET, &followed_by_a).await;
    assert_eq!((&v["userId"], &v["groupId"]), (&json!("a"), &json!("g")));
    let list = v["members"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["userId"], "b");
    assert!(list[0]["timestamp"].is_i64());
    // isDelFollowed on quit forgets them.
    t.ok(
        path::GROUP_QUIT,
        &[("groupId", "g"), ("userIds", "b"), ("isDelFollowed", "1")],
    )
    .await;
    let v = t.ok(path::MEMBER_FOLLOWED_GET, &followed_by_a).await;
    assert_eq!(v["members"], json!([]));

    let q = [("userId", "a"), ("groupId", "g")];
    assert_eq!(t.ok(path::REMARK_NAME_QUERY, &q).await["remarkName"], "");
    t.ok(
        path::REMARK_NAME_SET,
        &[("userId", "a"), ("groupId", "g"), ("remarkName", "Ours")],
    )
    .await;
    assert_eq!(
        t.ok(path::REMARK_NAME_QUERY, &q).await["remarkName"],
        "Ours"
    );
    let long = "r".repeat(65);
    t.fails(
        path::REMARK_NAME_SET,
        &[("userId", "a"), ("groupId", "g"), ("remarkName", &long)],
        code::PARAM_TOO_LONG,
        400,
    )
    .await;
    t.fails(path::REMARK_NAME_SET, &q, code::PARAM_ERROR, 400)
        .await;
    t.ok(path::REMARK_NAME_DELETE, &q).await;
    assert_eq!(t.ok(path::REMARK_NAME_QUERY, &q).await["remarkName"], "");
    t.fails(
        path::REMARK_NAME_QUERY,
        &[("userId", "a"), ("groupId", "nope")],
        code::GROUP_NOT_FOUND,
        200,
    )
    .await;
}

/// The request log keeps the newest `request_log_max`.
#[tokio::test]
async fn request_log_is_bounded() {
    let mut cfg = SimConfig::new(KEY, SECRET);
    cfg.request_log_max = 3;
    let t = T::with(cfg).await;
    for i in 0..5 {
        t.ok(path::GROUP_QUERY, &[("size", &(i + 1).to_string())])
            .await;
    }
    let bodies: Vec<String> = t
        .sim
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, ["size=3", "size=4", "size=5"]);
    assert_eq!(t.sim.accepted(path::GROUP_QUERY), 3);
}

#[tokio::test]
async fn member_query_pages() {
    let t = T::new().await;
    t.create("g", "owner", "").await;
    let users: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
    for u in &users {
        t.ok(path::GROUP_JOIN, &[("groupId", "g"), ("userIds", u)])
            .await;
    }
    t.ok(path::MANAGER_ADD, &[("groupId", "g"), ("userIds", "u3")])
        .await;

    let collect = |order: &'static str, kind: &'static str| {
        let t = &t;
        async move {
            let mut seen = Vec::new();
            let mut token = String::new();
            loop {
                let v = t
                    .ok(
                        path::MEMBER_QUERY,
                        &[
                            ("groupId", "g"),
                            ("size", "3"),
                            ("order", order),
                            ("type", kind),
                            ("pageToken", &token),
                        ],
                    )
                    .await;
                let page = v["members"].as_array().unwrap();
                assert!(page.len() <= 3);
                for m in page {
                    for k in ["userId", "nickname", "role", "time", "extra"] {
                        assert!(m.get(k).is_some(), "{k} missing: {m}");
                    }
                    seen.push(m["userId"].as_str().unwrap().to_owned());
                }
                let total = v["totalCount"].as_u64().unwrap() as usize;
                token = v["pageToken"].as_str().unwrap().to_owned();
                if token.is_empty() {
                    assert_eq!(seen.len(), total);
                    return seen;
                }
            }
        }
    };
    let mut asc = vec!["owner".to_owned()];
    asc.extend(users.iter().cloned());
    assert_eq!(collect("0", "0").await, asc);
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    assert_eq!(collect("1", "0").await, desc);
    assert_eq!(collect("0", "2").await, ["u3"]);
    assert_eq!(collect("0", "3").await, ["owner"]);
    assert_eq!(collect("0", "1").await.len(), 6);

    // Default: 50 per page, newest first.
    let v = t.ok(path::MEMBER_QUERY, &[("groupId", "g")]).await;
    assert_eq!(v["members"][0]["userId"], "u6");
    assert_eq!(v["pageToken"], "");
    assert_eq!(v["members"][0]["role"], role::MEMBER);

    t.fails(
        path::MEMBER_QUERY,
        &[("groupId", "g"), ("pageToken", "bogus")],
        code::BAD_PAGE_TOKEN,
        200,
    )
    .await;
    t.fails(
        path::MEMBER_QUERY,
        &[("groupId", "g"), ("size", "101")],
        code::ENTRUST_PARAM_ERROR,
        200,
    )
    .await;
}

#[tokio::test]
async fn member_limit() {
    let t = T::new().await;
    t.create("g", "o", "").await;
    let mut joined = 1;
    while joined < entrust_gateway::sim::MEMBER_MAX {
        let n = 100.min(entrust_gateway::sim::MEMBER_MAX - joined);
        let ids: Vec<String> = (joined..joined + n).map(|i| format!("u{i}")).collect();
        t.ok(
            path::GROUP_JOIN,
            &[("groupId", "g"), ("userIds", &ids.join(","))],
        )
        .await;
        joined += n;
    }
    t.fails(
        path::GROUP_JOIN,
        &[("groupId", "g"), ("userIds", "onemore")],
        code::MEMBER_LIMIT,
        200,
    )
    .await;
}

// ---------------------------------------------------------------- rate limit

#[tokio::test]
async fn rate_limit_per_path() {
    let t = T::new().await;
    let req = Req::form(path::PROFILE_QUERY, &[("groupIds", "none")]);
    assert_eq!(t.flood(&req, 150, 200).await, (100, 50));
    assert_eq!(t.sim.accepted(path::PROFILE_QUERY), 100);
    // Another path is not affected.
    t.ok(path::GROUP_QUERY, &[]).await;
}

#[tokio::test]
async fn rate_limit_can_be_disabled() {
    let mut cfg = SimConfig::new(KEY, SECRET);
    cfg.rate_per_second = 0;
    let t = T::with(cfg).await;
    let mut c = t.conn().await;
    for _ in 0..120 {
        let r = c
            .send(&Req::form(path::GROUP_QUERY, &[("size", "1")]))
            .await
            .unwrap();
        assert_eq!(r.code(), 200);
    }
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn unknown_path_wrong_method_and_recording() {
    let t = T::new().await;
    let r = t.send(&Req::form("/entrust/nothing.json", &[])).await;
    assert_eq!((r.status, r.code()), (404, 404));
    let mut get = Req::form(path::GROUP_QUERY, &[]);
    get.method = "GET".into();
    let r = t.send(&get).await;
    assert_eq!((r.status, r.code()), (405, code::METHOD_RESTRICTED));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let req = Req::signed(path::GROUP_CREATE, "groupId=g&name=a+b%21&owner=o")
        .set("X-Request-ID", "trace-1");
    let r = t.send(&req).await;
    assert_eq!(r.header("x-request-id"), Some("trace-1"));
    let log = t.sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].path, "/entrust/nothing.json");
    let last = &log[2];
    assert_eq!(
        (last.method.as_str(), last.status, last.code),
        ("POST", 200, 200)
    );
    assert_eq!(&last.body[..], b"groupId=g&name=a+b%21&owner=o");
    assert_eq!(last.headers["nonce"], req.header("Nonce").as_str());
    assert_eq!(last.headers["x-request-id"], "trace-1");
    assert_eq!(t.sim.group("g").unwrap().name, "a b!");
    t.sim.clear_requests();
    assert!(t.sim.requests().is_empty());
}

#[tokio::test]
async fn keep_alive_and_garbage() {
    let t = T::new().await;
    let mut c = t.conn().await;
    for _ in 0..5 {
        assert_eq!(c.code(&Req::form(path::GROUP_QUERY, &[])).await, 200);
    }
    // Garbage on another connection does not hurt the server.
    let mut bad = TcpStream::connect(t.server.addr).await.unwrap();
    bad.write_all(b"\x00\x01NOT HTTP AT ALL\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = bad.read_to_end(&mut sink).await;
    assert_eq!(c.code(&Req::form(path::GROUP_QUERY, &[])).await, 200);
    assert_eq!(t.send(&Req::form(path::GROUP_QUERY, &[])).await.code(), 200);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let t = T::new().await;
    let mut c = t.conn().await;
    assert_eq!(c.code(&Req::form(path::GROUP_QUERY, &[])).await, 200);
    let addr = t.server.addr;
    t.server.shutdown();
    // The open connection is closed...
    assert!(c.send(&Req::form(path::GROUP_QUERY, &[])).await.is_err());
    // ...and so is the listener.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serves_tls() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let sim = Simulator::new(SimConfig::new(KEY, SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sim.serve_tls(listener, Arc::new(server_cfg));
    assert!(server.url().starts_with("https://127.0.0.1:"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let mut c = Conn::new(tls);
    let r = c
        .send(&Req::form(
            path::GROUP_CREATE,
            &[("groupId", "g"), ("name", "n"), ("owner", "o")],
        ))
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    assert!(sim.group("g").is_some());
}

// ---------------------------------------------------------------- faults

fn create_req(id: &str) -> Req {
    Req::form(
        path::GROUP_CREATE,
        &[("groupId", id), ("name", "n"), ("owner", "o")],
    )
}

#[tokio::test]
async fn fault_status_and_code() {
    let t = T::new().await;
    t.sim
        .inject(FaultRule::on(path::GROUP_CREATE, Fault::Status(503)).limit(1));
    let r = t.send(&create_req("g")).await;
    assert_eq!((r.status, r.code()), (503, 1000));
    assert_eq!(r.json()["errorMessage"], "injected");
    assert!(t.sim.group("g").is_none(), "state untouched");
    // Used once, then gone.
    assert_eq!(t.send(&create_req("g")).await.code(), 200);

    t.sim
        .inject(FaultRule::any(Fault::Code(1008, 429)).limit(2));
    for _ in 0..2 {
        let r = t.send(&Req::form(path::GROUP_QUERY, &[])).await;
        assert_eq!((r.status, r.code()), (429, 1008));
    }
    t.sim.inject(FaultRule::on(
        path::GROUP_DISMISS,
        Fault::Code(code::GROUP_NOT_FOUND, 200),
    ));
    let r = t
        .send(&Req::form(path::GROUP_DISMISS, &[("groupId", "g")]))
        .await;
    assert_eq!((r.status, r.code()), (200, 25410));
    assert!(t.sim.group("g").is_some(), "Code does not touch state");
    // Other paths are not affected by a path rule; clear_faults removes it.
    assert_eq!(t.send(&Req::form(path::GROUP_QUERY, &[])).await.code(), 200);
    t.sim.clear_faults();
    assert_eq!(
        t.send(&Req::form(path::GROUP_DISMISS, &[("groupId", "g")]))
            .await
            .code(),
        200
    );
    let codes: Vec<(u16, i64)> = t
        .sim
        .requests()
        .iter()
        .map(|r| (r.status, r.code))
        .collect();
    assert_eq!(
        codes,
        [
            (503, 1000),
            (200, 200),
            (429, 1008),
            (429, 1008),
            (200, 25410),
            (200, 200),
            (200, 200)
        ]
    );
}

#[tokio::test]
async fn fault_reset() {
    let t = T::new().await;
    t.sim
        .inject(FaultRule::on(path::GROUP_CREATE, Fault::Reset).limit(1));
    let mut c = t.conn().await;
    let err = c.send(&create_req("g")).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
        ),
        "{err:?}"
    );
    assert!(t.sim.group("g").is_none());
    let log = t.sim.requests();
    assert_eq!((log.len(), log[0].status), (1, 0), "recorded, unanswered");
    assert_eq!(t.send(&create_req("g")).await.code(), 200);
}

#[tokio::test]
async fn fault_hang() {
    let t = T::new().await;
    t.sim.inject(FaultRule::on(path::GROUP_QUERY, Fault::Hang));
    let mut c = t.conn().await;
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        c.send(&Req::form(path::GROUP_QUERY, &[])),
    )
    .await;
    assert!(r.is_err(), "answered: {r:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(c);
    assert_eq!(t.sim.requests()[0].status, 0);
    // Other paths still work.
    assert_eq!(t.send(&create_req("g")).await.code(), 200);
}

#[tokio::test]
async fn fault_non_json() {
    let t = T::new().await;
    t.sim.inject(FaultRule::any(Fault::NonJson).limit(1));
    let r = t.send(&create_req("g")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert!(t.sim.group("g").is_none());
    assert_eq!(t.sim.accepted(path::GROUP_CREATE), 0);
}

#[tokio::test]
async fn fault_truncated() {
    let t = T::new().await;
    t.sim
        .inject(FaultRule::on(path::PROFILE_QUERY, Fault::Truncated).limit(1));
    t.create("g", "o", "").await;
    let mut raw = TcpStream::connect(t.server.addr).await.unwrap();
    raw.write_all(&Req::form(path::PROFILE_QUERY, &[("groupIds", "g")]).bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    raw.read_to_end(&mut got).await.unwrap();
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let promised: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !body.is_empty() && body.len() < promised,
        "{} of {promised}",
        body.len()
    );
    assert!(body.starts_with("{\""), "{body}");
    // Through the client: an error, not an answer.
    t.sim
        .inject(FaultRule::on(path::GROUP_CREATE, Fault::Truncated).limit(1));
    let err = t.conn().await.send(&create_req("g2")).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(t.sim.group("g2").is_some(), "Truncated handles the request");
}

#[tokio::test]
async fn fault_delay_huge_and_trickle() {
    let t = T::new().await;
    t.sim
        .inject(FaultRule::any(Fault::Delay(Duration::from_millis(150))).limit(1));
    let started = Instant::now();
    assert_eq!(t.send(&create_req("g")).await.code(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    t.sim
        .inject(FaultRule::any(Fault::HugeBody(300_000)).limit(1));
    let r = t
        .send(&Req::form(path::PROFILE_QUERY, &[("groupIds", "g")]))
        .await;
    assert!(
        (299_000..=301_000).contains(&r.body.len()),
        "{}",
        r.body.len()
    );
    assert_eq!(r.json()["profiles"][0]["groupId"], "g");

    let every = Duration::from_millis(2);
    t.sim.inject(FaultRule::any(Fault::Trickle(every)).limit(1));
    let mut raw = TcpStream::connect(t.server.addr).await.unwrap();
    raw.write_all(&Req::form(path::GROUP_QUERY, &[]).bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let (mut got, mut reads) = (Vec::new(), 0);
    let mut buf = [0u8; 4096];
    loop {
        let n = raw.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= every * got.len() as u32,
        "{elapsed:?} for {} bytes",
        got.len()
    );
    assert!(
        reads > got.len() / 4,
        "{reads} reads for {} bytes",
        got.len()
    );
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with('}'),
        "{text}"
    );
}

// ---------------------------------------------------------------- standalone

/// `entrust-gateway sim` as a process, logging at INFO.
fn standalone(args: &[&str], envs: &[(&str, &str)]) -> crate::cli::Proc {
    let mut cmd = std::process::Command::new(crate::common::BIN);
    cmd.arg("sim")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("ENTRUST_APP_SECRET")
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied());
    crate::cli::Proc::command(cmd)
}

const LISTENING: &str = "entrust simulator listening";

/// The address a standalone simulator says it listens on, once it does.
fn listening_addr(p: &mut crate::cli::Proc) -> String {
    let line = p.wait_for(|l| l.contains(LISTENING));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("url=http://"))
        .expect("the listening line names its URL")
        .to_string()
}

/// At start the simulator names the app key and where its secret comes
/// from, never the secret; the built-in demo secret gets a warning, and
/// `sim --help` names it.
#[test]
fn standalone_names_its_app_key_and_secret_source_never_the_secret() {
    let mut p = standalone(&[], &[]);
    let line = p.wait_for(|l| l.contains(LISTENING));
    assert!(line.contains(r#"app_key="demo-app-key""#), "{line}");
    assert!(
        line.contains(r#"app_secret_from="built-in demo secret (ENTRUST_APP_SECRET is not set)""#),
        "{line}"
    );
    let warned = p.seen.iter().any(|l| {
        l.contains(" WARN ")
            && l.contains("ENTRUST_APP_SECRET is not set")
            && l.contains("demo secret")
    });
    assert!(warned, "{}", p.seen.join("\n"));
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("demo-app-secret"), "{log}");

    let mut p = standalone(
        &["--app-key", "key-7", "--app-secret-env", "MY_SIM_SECRET"],
        &[("MY_SIM_SECRET", "sim-secret-Qx7")],
    );
    let line = p.wait_for(|l| l.contains(LISTENING));
    assert!(line.contains(r#"app_key="key-7""#), "{line}");
    assert!(
        line.contains(r#"app_secret_from="environment variable MY_SIM_SECRET""#),
        "{line}"
    );
    p.signal("INT");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(
        !log.contains("sim-secret-Qx7") && !log.contains(" WARN "),
        "{log}"
    );

    // An empty secret is refused rather than used.
    let (code, log) = standalone(&[], &[("ENTRUST_APP_SECRET", "")]).finish();
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("ENTRUST_APP_SECRET is set but empty"), "{log}");

    let help = std::process::Command::new(crate::common::BIN)
        .args(["sim", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for words in [
        "built-in demo secret",
        "\"demo-app-secret\"",
        "[default: ENTRUST_APP_SECRET]",
    ] {
        assert!(help.contains(words), "{words} not in {help}");
    }
}

/// `sim --app KEY:SECRET_ENV` serves one more app, its secret read from
/// that variable (`sim --help`); a malformed `--app` is refused, naming it.
#[test]
fn standalone_serves_each_app_named_on_the_command_line() {
    use std::io::{Read, Write};
    let mut p = standalone(
        &["--app-key", KEY, "--app", "key-9:SECOND_SECRET"],
        &[
            ("ENTRUST_APP_SECRET", SECRET),
            ("SECOND_SECRET", "second-Zt4"),
        ],
    );
    let addr = listening_addr(&mut p);
    let (n, ts) = (nonce(), now_ms().to_string());
    let req = Req::form(
        path::GROUP_CREATE,
        &[("groupId", "app9"), ("name", "n"), ("owner", "o")],
    )
    .set("App-Key", "key-9")
    .set("Nonce", &n)
    .set("Timestamp", &ts)
    .set("Signature", &sign("second-Zt4", &n, &ts))
    .set("Connection", "close");
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(&req.bytes()).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(r#""code":200"#), "{answer}");
    p.signal("TERM");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("second-Zt4"), "{log}");

    let (code, log) = standalone(&["--app", "key-9"], &[("ENTRUST_APP_SECRET", SECRET)]).finish();
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains(r#"--app "key-9": expected KEY:SECRET_ENV"#),
        "{log}"
    );
}

/// SIGTERM drains as the gateway's does: the listener closes, a request in
/// flight is answered (with `Connection: close`), and the process exits 0.
#[test]
fn standalone_drains_on_sigterm_then_exits_zero() {
    use std::io::{Read, Write};
    let mut p = standalone(&["--app-key", KEY], &[("ENTRUST_APP_SECRET", SECRET)]);
    let addr = listening_addr(&mut p);
    let req = Req::form(
        path::GROUP_CREATE,
        &[("groupId", "drain1"), ("name", "n"), ("owner", "o")],
    )
    .set("Expect", "100-continue")
    .bytes();
    let head = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(&req[..head]).unwrap();
    // The simulator asks for the body once it reads it: the request is in flight.
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 1, "closed: {got:?}");
        got.push(b[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 100 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    p.signal("TERM");
    p.wait_for(|l| l.contains("SIGTERM"));
    p.wait_for(|l| l.contains("simulator: shutting down"));
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "a new connection after the drain began"
    );
    c.write_all(&req[head..]).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains(r#""code":200"#), "{answer}");
    let (code, log) = p.finish();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("simulator: drained"), "{log}");
}

/// The v4 (Nexconn) group-channel paths.
mod v4;
