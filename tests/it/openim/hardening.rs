//! Bad input on the OpenIM face (`/group/*`, `/auth/*`): every case gets a
//! clear error in OpenIM's envelope (`errCode`, `errMsg`, `errDlt`, the
//! detail naming the field where there is one), never reaches the vendor,
//! and leaves the gateway healthy with nothing stuck in flight. The entrust
//! face's half of this is in `errors` and `limits`.
//!
//! What the OpenIM face decides, pinned here:
//!
//! - The body is parsed as JSON whatever the `Content-Type` says, or without
//!   one, as OpenIM does (its API layer reads the whole body and unmarshals
//!   it as JSON without looking at the header). A form or text body is
//!   malformed JSON (1001); a JSON body under any content type is served.
//! - JSON is read by serde_json: invalid UTF-8 (and escaped lone
//!   surrogates) are 1001, where Go would substitute U+FFFD; nesting deeper
//!   than 128 levels is 1001 (serde_json's recursion limit, so 100,000 `[`
//!   cannot overflow the stack); a duplicate key keeps its last value, as
//!   Go's `encoding/json` does.
//! - A list in a request holds at most 1000 items (`openim::json::MAX_ITEMS`),
//!   checked before any call: OpenIM has no bound, but every item costs the
//!   vendor's quota.
//! - A path the OpenIM face does not serve is 404 with `errCode` 404. Paths
//!   are not normalized: `/group/../entrust/...` is an unknown OpenIM route,
//!   never an entrust call. A path that does not start with `/group/` or
//!   `/auth/` (`//group/...`, `/group%2F...`) is not the OpenIM face's at
//!   all: it gets the entrust face's 404 (`{"code":404}`).
//! - An `operationID` longer than 36 characters, or with characters other
//!   than letters, digits and `-_.:`, is accepted but not sent upstream as
//!   `X-Request-ID`: the gateway makes a new one (and answers with it).

use std::time::Duration;

use crate::common;
use crate::common::openim::{ADMIN, Im, SECRET, both_apis, dialect_paths, operation_id};
use crate::common::{Answer, healthy, in_flight, metrics, rss_kib};
use bytes::Bytes;
use entrust_gateway::entrust::path;
use entrust_gateway::openim::{self, token};
use entrust_gateway::secret::Secret;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Stands for a fresh operationID, filled in at each send (as OpenIM's SDK
/// sends one per call).
const FRESH: &[u8] = b"<fresh>";

/// Which envelope an answer must be in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// `{"errCode","errMsg","errDlt"}`.
    OpenIm,
    /// `{"code","errorMessage"}`: a path outside the OpenIM face.
    Entrust,
}

/// A bad request and the answer it must get.
#[derive(Clone)]
struct Bad {
    what: String,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Bytes,
    status: u16,
    code: i64,
    /// A piece of `errDlt` (`errorMessage` for [`Shape::Entrust`]).
    detail: String,
    shape: Shape,
}

impl Bad {
    /// A POST with a JSON content type, a fresh operationID and `token`,
    /// expected to be ArgsError (HTTP 200, 1001) naming `detail`.
    fn new(
        what: impl Into<String>,
        route: &str,
        token: &str,
        body: impl Into<Bytes>,
        detail: &str,
    ) -> Bad {
        Bad {
            what: what.into(),
            method: Method::POST,
            path: route.to_string(),
            headers: vec![
                ("content-type", b"application/json".to_vec()),
                ("operationID", FRESH.to_vec()),
                ("token", token.as_bytes().to_vec()),
            ],
            body: body.into(),
            status: 200,
            code: 1001,
            detail: detail.to_string(),
            shape: Shape::OpenIm,
        }
    }

    fn json(what: &str, route: &str, token: &str, body: Value, detail: &str) -> Bad {
        Bad::new(what, route, token, body.to_string(), detail)
    }

    fn expect(mut self, status: u16, code: i64) -> Bad {
        self.status = status;
        self.code = code;
        self
    }

    fn method(mut self, m: Method) -> Bad {
        self.method = m;
        self
    }

    fn shape(mut self, s: Shape) -> Bad {
        self.shape = s;
        self
    }

    /// Sets (or, with `None`, removes) a header.
    fn header(mut self, name: &'static str, value: Option<&[u8]>) -> Bad {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            self.headers.push((name, v.to_vec()));
        }
        self
    }

    /// Sends it and checks the answer; `Err` describes what was wrong.
    async fn check(&self, client: &HttpClient, base: &str) -> Result<(), String> {
        let what = &self.what;
        let a = send_raw(
            client,
            &self.method,
            &format!("{base}{}", self.path),
            &self.headers,
            self.body.clone(),
        )
        .await
        .map_err(|e| format!("{what}: no answer (connection dropped?): {e}"))?;
        let text = a.text();
        let short = &text[..text.len().min(300)];
        if a.status.as_u16() != self.status {
            return Err(format!(
                "{what}: HTTP {} (want {}): {short}",
                a.status, self.status
            ));
        }
        if !a.headers.contains_key("x-request-id") {
            return Err(format!("{what}: no X-Request-ID"));
        }
        let v: Value = serde_json::from_slice(&a.body)
            .map_err(|e| format!("{what}: not JSON ({e}): {short}"))?;
        let (code, name, detail) = match self.shape {
            Shape::OpenIm => (&v["errCode"], v["errMsg"].as_str(), v["errDlt"].as_str()),
            Shape::Entrust => (&v["code"], Some("-"), v["errorMessage"].as_str()),
        };
        if code.as_i64() != Some(self.code) {
            return Err(format!("{what}: code {code} (want {}): {short}", self.code));
        }
        let (Some(name), Some(detail)) = (name, detail) else {
            return Err(format!("{what}: not a {:?} envelope: {short}", self.shape));
        };
        if name.is_empty() || detail.is_empty() {
            return Err(format!("{what}: empty errMsg or errDlt: {short}"));
        }
        if self.shape == Shape::OpenIm && self.code == 1001 && name != "ArgsError" {
            return Err(format!("{what}: errMsg {name:?} for 1001: {short}"));
        }
        if !detail.contains(&self.detail) {
            return Err(format!(
                "{what}: the detail {detail:?} should hold {:?}",
                self.detail
            ));
        }
        // The detail is logged and echoed: it never carries a large input back.
        if detail.len() > 1024 {
            return Err(format!("{what}: a {} byte detail", detail.len()));
        }
        if self.status == 405 && a.headers.get("allow").is_none_or(|h| h != "POST") {
            return Err(format!("{what}: 405 without Allow: POST"));
        }
        Ok(())
    }
}

/// Sends a request with raw header bytes; an `Err` when no answer came.
async fn send_raw(
    client: &HttpClient,
    method: &Method,
    url: &str,
    headers: &[(&str, Vec<u8>)],
    body: Bytes,
) -> Result<Answer, String> {
    let mut req = Request::builder().method(method.clone()).uri(url);
    for (k, v) in headers {
        let v = if v == FRESH {
            operation_id().into_bytes()
        } else {
            v.clone()
        };
        let v = HeaderValue::from_bytes(&v).map_err(|e| format!("header {k}: {e}"))?;
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Tokens that must be refused, with the code each gets.
fn bad_tokens() -> Vec<(&'static str, Vec<u8>, i64, &'static str)> {
    let forged = format!("v1.{}.99999999999.{}", hex::encode(ADMIN), "ab".repeat(20));
    let other = token::issue(&Secret::new("another-secret".into()), ADMIN, 99_999_999_999).unwrap();
    let expired = token::issue(&Secret::new(SECRET.into()), ADMIN, 1).unwrap();
    let not_admin = token::issue(&Secret::new(SECRET.into()), "someone", 99_999_999_999).unwrap();
    vec![
        (
            "forged tag",
            forged.into_bytes(),
            1502,
            "signature mismatch",
        ),
        (
            "another secret",
            other.into_bytes(),
            1502,
            "signature mismatch",
        ),
        ("expired", expired.into_bytes(), 1501, "expired"),
        (
            "not an admin",
            not_admin.into_bytes(),
            1502,
            "no longer an admin",
        ),
        ("garbage", b"garbage".to_vec(), 1503, "malformed"),
        (
            "60 KB",
            "v1.".repeat(20_000).into_bytes(),
            1503,
            "malformed",
        ),
        // Header bytes outside visible ASCII are refused before the token
        // is read: ArgsError.
        (
            "non-ASCII",
            "v1.tök.1.00".as_bytes().to_vec(),
            1001,
            "outside visible ASCII",
        ),
        (
            "not UTF-8",
            b"v1.\xff.1.00".to_vec(),
            1001,
            "outside visible ASCII",
        ),
    ]
}

/// Every bad-input case (with `token`, a valid admin token).
fn cases(token: &str) -> Vec<Bad> {
    let t = token;
    let get = openim::GET_GROUPS_INFO;
    let ex = openim::SET_GROUP_INFO_EX;
    let valid_get = json!({"groupIDs": ["g1"]}).to_string();
    let mut c: Vec<Bad> = Vec::new();

    // Methods: only POST.
    for (m, route) in [
        (Method::GET, get),
        (Method::PUT, ex),
        (Method::DELETE, openim::GET_ADMIN_TOKEN),
        (Method::PATCH, openim::CREATE_GROUP),
        (Method::OPTIONS, openim::KICK_GROUP),
    ] {
        c.push(
            Bad::new(
                format!("{m} {route}"),
                route,
                t,
                valid_get.clone(),
                "use POST",
            )
            .method(m)
            .expect(405, 1001),
        );
    }

    // Content types don't matter; a body that is not JSON is malformed JSON.
    let invalid = "invalid JSON body";
    for (ct, body) in [
        (None, "groupIDs=g1"),
        (Some("application/x-www-form-urlencoded"), "groupIDs=g1"),
        (Some("text/plain"), "hello"),
        (
            Some("multipart/form-data; boundary=x"),
            "--x\r\n\r\ng1\r\n--x--",
        ),
        (Some("application/xml"), "<groupIDs>g1</groupIDs>"),
    ] {
        c.push(
            Bad::new(format!("content type {ct:?}"), get, t, body, invalid)
                .header("content-type", ct.map(str::as_bytes)),
        );
    }

    // Bytes that are not UTF-8 JSON.
    for (what, body) in [
        (
            "invalid UTF-8 in a string",
            &b"{\"groupIDs\":[\"\xff\xfe\"]}"[..],
        ),
        ("invalid UTF-8 outside strings", b"\xff{}"),
        ("a UTF-8 BOM", b"\xef\xbb\xbf{\"groupIDs\":[\"g1\"]}"),
        ("UTF-16", b"\xff\xfe{\x00}\x00"),
        ("an escaped lone surrogate", br#"{"groupIDs":["\ud800"]}"#),
        ("a NUL byte", b"{\"groupIDs\":[\"g1\"]}\x00"),
    ] {
        c.push(Bad::new(what, get, t, body.to_vec(), invalid));
    }

    // Malformed JSON, and JSON that is not an object.
    for body in [
        "{",
        r#"{"groupIDs":["g1",]}"#,
        "{'groupIDs':['g1']}",
        r#"{"groupIDs":["g1"]}x"#,
        r#"{"groupIDs":["g1"]}{}"#,
        r#"{"groupIDs":["g1"]"#,
        "nul",
        "// comment\n{}",
        r#"{"groupID":"g1","needVerification":NaN}"#,
        r#"{"groupID":"g1","needVerification":1e400}"#,
        r#"{"groupID":"g1","needVerification":01}"#,
        r#"{"groupID":"g1","needVerification":+1}"#,
    ] {
        c.push(Bad::new(
            format!("malformed {body:?}"),
            ex,
            t,
            body,
            invalid,
        ));
    }
    for body in ["[]", "[{}]", "\"x\"", "1", "null", "true"] {
        c.push(Bad::new(
            format!("not an object: {body}"),
            ex,
            t,
            body,
            "must be a JSON object",
        ));
    }

    // Deep nesting: serde_json stops at 128 levels instead of the stack.
    let deep = 100_000;
    for (what, body) in [
        ("100k [", "[".repeat(deep)),
        ("50k [", "[".repeat(deep / 2)),
        ("100k {\"a\":", "{\"a\":".repeat(deep)),
        (
            "100k [ in groupIDs",
            format!("{{\"groupIDs\":{}", "[".repeat(deep)),
        ),
        (
            "200 closed levels in an unknown field",
            format!(
                "{{\"groupIDs\":[\"g1\"],\"x\":{}{}}}",
                "[".repeat(200),
                "]".repeat(200)
            ),
        ),
    ] {
        c.push(Bad::new(what, get, t, body, "recursion limit exceeded"));
    }

    // Huge lists: refused before any call.
    let many = |n: usize| ids("u", n);
    let info = json!({"groupID": "g1", "groupName": "n", "groupType": 2});
    for (what, route, body, detail) in [
        (
            "100k groupIDs",
            get,
            json!({"groupIDs": ids("g", 100_000)}),
            "groupIDs has 100000 items; at most 1000",
        ),
        (
            "1001 groupIDs",
            get,
            json!({"groupIDs": ids("g", 1001)}),
            "groupIDs has 1001 items",
        ),
        (
            "10k invitedUserIDs",
            openim::INVITE_USER_TO_GROUP,
            json!({"groupID": "g1", "invitedUserIDs": many(10_000)}),
            "invitedUserIDs has 10000 items",
        ),
        (
            "10k kickedUserIDs",
            openim::KICK_GROUP,
            json!({"groupID": "g1", "kickedUserIDs": many(10_000)}),
            "kickedUserIDs has 10000 items",
        ),
        (
            "10k userIDs",
            openim::GET_GROUP_MEMBERS_INFO,
            json!({"groupID": "g1", "userIDs": many(10_000)}),
            "userIDs has 10000 items",
        ),
        (
            "10k memberUserIDs",
            openim::CREATE_GROUP,
            json!({"ownerUserID": "o", "memberUserIDs": many(10_000), "groupInfo": info}),
            "memberUserIDs has 10000 items",
        ),
        (
            "10k adminUserIDs",
            openim::CREATE_GROUP,
            json!({"ownerUserID": "o", "adminUserIDs": many(10_000), "groupInfo": info}),
            "adminUserIDs has 10000 items",
        ),
        (
            "10k members",
            openim::SET_GROUP_MEMBER_INFO,
            json!({"members": vec![json!({"groupID": "g1", "userID": "u"}); 10_000]}),
            "members has 10000 items",
        ),
    ] {
        c.push(Bad::json(what, route, t, body, detail));
    }

    // Huge strings are measured, not echoed.
    let mega = "x".repeat(1_000_000);
    c.push(Bad::json(
        "a 1M character groupID",
        ex,
        t,
        json!({"groupID": mega, "introduction": "i"}),
        "groupID is 1000000 characters long",
    ));
    c.push(Bad::json(
        "a 1M character userID asking for a token",
        openim::GET_ADMIN_TOKEN,
        t,
        json!({"secret": SECRET, "userID": mega}),
        "is not an admin user ID",
    ));
    c.push(
        Bad::new(
            "a 5 MiB body",
            get,
            t,
            vec![b' '; 5 * 1024 * 1024],
            "larger than 131072 bytes",
        )
        .expect(413, 1001),
    );

    // Numbers out of range or of the wrong type.
    for v in [
        json!(3),
        json!(-1),
        json!(1.5),
        json!(1.0),
        json!("1"),
        json!(1e10),
        json!({"value": 1}),
        json!(true),
        json!([1]),
        json!(u64::MAX),
        json!(i64::MIN),
    ] {
        c.push(Bad::json(
            &format!("needVerification {v}"),
            ex,
            t,
            json!({"groupID": "g1", "needVerification": v}),
            "needVerification must be",
        ));
    }
    for (what, route, body, detail) in [
        (
            "lookMemberInfo 2",
            ex,
            json!({"groupID": "g1", "lookMemberInfo": 2}),
            "lookMemberInfo",
        ),
        (
            "lookMemberInfo \"0\"",
            ex,
            json!({"groupID": "g1", "lookMemberInfo": "0"}),
            "lookMemberInfo",
        ),
        (
            "applyMemberFriend false",
            ex,
            json!({"groupID": "g1", "applyMemberFriend": false}),
            "applyMemberFriend",
        ),
        (
            "groupID 5",
            ex,
            json!({"groupID": 5}),
            "groupID must be a string, not a number",
        ),
        (
            "ex an object",
            ex,
            json!({"groupID": "g1", "ex": {"value": "x"}}),
            "ex must be a string",
        ),
        (
            "set_group_info needVerification 3",
            openim::SET_GROUP_INFO,
            json!({"groupInfoForSet": {"groupID": "g1", "needVerification": 3}}),
            "groupInfoForSet.needVerification",
        ),
        (
            "create_group needVerification 1e10",
            openim::CREATE_GROUP,
            json!({"ownerUserID": "o", "groupInfo": {"groupID": "g1", "groupName": "n", "groupType": 2, "needVerification": 1e10}}),
            "groupInfo.needVerification",
        ),
        (
            "create_group groupType 2.0",
            openim::CREATE_GROUP,
            json!({"ownerUserID": "o", "groupInfo": {"groupID": "g1", "groupName": "n", "groupType": 2.0}}),
            "groupInfo.groupType",
        ),
        (
            "groupIDs [\"g1\", 1]",
            get,
            json!({"groupIDs": ["g1", 1]}),
            "groupIDs[1] must be a string",
        ),
        (
            "groupIDs [null]",
            get,
            json!({"groupIDs": [null]}),
            "groupIDs[0] must be a string",
        ),
        (
            // protocol group/group.go ~line 127: "pageNumber is invalid".
            "pageNumber 0",
            openim::GET_GROUP_MEMBER_LIST,
            json!({"groupID": "g1", "pagination": {"pageNumber": 0, "showNumber": 1}}),
            "pageNumber is invalid",
        ),
        (
            "pageNumber 2^31",
            openim::GET_JOINED_GROUP_LIST,
            json!({"fromUserID": "u", "pagination": {"pageNumber": 2_147_483_648_i64, "showNumber": 1}}),
            "pagination.pageNumber",
        ),
        (
            "roleLevel \"60\"",
            openim::SET_GROUP_MEMBER_INFO,
            json!({"members": [{"groupID": "g1", "userID": "u", "roleLevel": "60"}]}),
            "members[0].roleLevel",
        ),
        (
            "joinSource 2^31",
            openim::JOIN_GROUP,
            json!({"groupID": "g1", "userID": "u", "joinSource": 2_147_483_648_i64}),
            "joinSource",
        ),
    ] {
        c.push(Bad::json(what, route, t, body, detail));
    }

    // Duplicate keys: the last one counts, as in Go.
    for (what, body, detail) in [
        (
            "groupIDs twice, the last not a list",
            r#"{"groupIDs":["g1"],"groupIDs":5}"#,
            "groupIDs must be a list of strings",
        ),
        (
            "needVerification twice, the last out of range",
            r#"{"groupID":"g1","needVerification":1,"needVerification":7}"#,
            "needVerification must be an integer from 0 to 2, not 7",
        ),
    ] {
        let route = if body.contains("groupIDs") { get } else { ex };
        c.push(Bad::new(what, route, t, body, detail));
    }

    // Empty bodies, and empty objects, on every route.
    for route in openim::ROUTES {
        for body in ["", " \r\n\t"] {
            c.push(Bad::new(
                format!("{body:?} on {route}"),
                route,
                t,
                body,
                "EOF while parsing",
            ));
        }
        let unsupported = openim::Route::from_path(route).and_then(openim::Route::unsupported);
        let (code, detail) = match *route {
            _ if unsupported.is_some() => (1002, "is not supported"),
            openim::GET_ADMIN_TOKEN | "/auth/user_token" => (1002, "secret invalid"),
            "/auth/parse_token" => (1001, "token is required"),
            // protocol auth/auth.go ForceLogoutReq.Check; GetUserTokenReq's
            // Check drops its errors, the gateway answers the same.
            "/auth/get_user_token" | "/auth/force_logout" => (1001, "userID is empty"),
            "/group/get_full_join_group_ids" => (1001, "userID is empty"),
            "/group/get_group_abstract_info" => (1001, "groupIDs empty"),
            // Pagination is checked first (protocol group/group.go ~line 162, 204).
            "/group/get_groups" | openim::GET_JOINED_GROUP_LIST => (1001, "pagination is empty"),
            openim::CREATE_GROUP => (1001, "groupInfo is required"),
            openim::SET_GROUP_INFO => (1001, "groupInfoForSet is required"),
            openim::GET_GROUPS_INFO => (1001, "groupIDs is empty"),
            openim::SET_GROUP_MEMBER_INFO => (1001, "members is empty"),
            _ => (1001, "groupID is required"),
        };
        c.push(Bad::new(format!("{{}} on {route}"), route, t, "{}", detail).expect(200, code));
    }

    // Routes the face does not serve, under its prefixes.
    let unserved = |p: &str| {
        let what = format!("path {p}");
        Bad::new(what, p, t, valid_get.clone(), "is not served").expect(404, 404)
    };
    for p in [
        "/group/",
        "/group/nope",
        "/group/get_groups_info/",
        "/group/GET_GROUPS_INFO",
        "/group/get_groups_info.json",
        "/group/get_groups_info%00",
        "/group/set_group_info%5Fex",
        "/group/set_group_info_ex%2F",
        "/auth/",
        "/auth/nope",
        "/auth/get_admin_token/x",
        // Path tricks: never normalized into another route or face.
        "/group/../entrust/group/create.json",
        "/group/%2e%2e/entrust/group/create.json",
        "/group/..%2Fentrust%2Fgroup%2Fcreate.json",
        "/group/./set_group_info",
        "/group//set_group_info",
        "/auth/../group/set_group_info",
        "/auth/..%2Fgroup%2Fset_group_info",
    ] {
        c.push(unserved(p));
    }
    // Outside the face's prefixes: still OpenIM's envelope, since the
    // caller sends operationID...
    for p in [
        "//group/set_group_info",
        "/group%2Fset_group_info",
        "/%67roup/set_group_info",
        "/GROUP/set_group_info",
        "/auth",
    ] {
        c.push(unserved(p));
    }
    // ...except under /entrust/, which is the entrust face's.
    c.push(unserved("/entrust/../group/set_group_info").shape(Shape::Entrust));

    // Headers: operationID on every route, then the token.
    for route in [get, openim::GET_ADMIN_TOKEN] {
        for op in [None, Some(&b""[..]), Some(&b"   "[..])] {
            c.push(
                Bad::new(
                    format!("operationID {op:?} on {route}"),
                    route,
                    t,
                    valid_get.clone(),
                    "header must have operationID",
                )
                .header("operationID", op),
            );
        }
    }
    for tok in [None, Some(&b""[..])] {
        c.push(
            Bad::new(
                format!("token {tok:?}"),
                get,
                t,
                valid_get.clone(),
                "header must have token",
            )
            .header("token", tok),
        );
    }
    for (what, tok, code, detail) in bad_tokens() {
        c.push(
            Bad::new(format!("token: {what}"), get, t, valid_get.clone(), detail)
                .header("token", Some(tok.as_slice()))
                .expect(200, code),
        );
    }
    // Bodies over the default server.max_body_bytes (128 KiB) are refused
    // by their Content-Length before they are read.
    c.into_iter()
        .map(|b| {
            if b.body.len() > 128 * 1024 {
                Bad {
                    detail: "larger than 131072 bytes".into(),
                    ..b.expect(413, 1001)
                }
            } else {
                b
            }
        })
        .collect()
}

/// A gateway with `[openim]` and a group `id`; its admin token, a client.
async fn with_group(id: &str) -> (Im, String, HttpClient) {
    let im = Im::start().await;
    im.create(id, "o", &[]).await;
    let t = im.token.clone().unwrap();
    (im, t, common::client())
}

/// Runs every case; all failures are reported together.
async fn run_cases(im: &Im, cases: &[Bad]) {
    let client = common::client();
    let base = im.env.gw.url();
    let mut failed = Vec::new();
    for case in cases {
        if let Err(e) = case.check(&client, &base).await {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

both_apis! {
#[tokio::test]
async fn bad_input_gets_openim_errors_and_never_reaches_the_vendor() {
    let _serial = crate::common::heavy().await;
    let im = Im::start().await;
    let t = im.token.clone().expect("token");
    let all = cases(&t);
    assert!(all.len() > 150, "{}", all.len());
    run_cases(&im, &all).await;
    assert!(
        im.env.sim.requests().is_empty(),
        "bad input reached the vendor: {:?}",
        im.paths()
    );
    assert_eq!(in_flight(&im.env).await, 0);
    healthy(&im.env).await;
}
}

// Without [openim] there is no vendor_api to set: the entrust face only.
/// Without `[openim]` no token is asked for, and a token sent is ignored:
/// the rest of the checks are the same.
#[tokio::test]
async fn bad_input_without_tokens() {
    let _serial = crate::common::heavy().await;
    let im = Im::start_open().await;
    let all: Vec<Bad> = cases("ignored")
        .into_iter()
        .filter(|c| !c.what.starts_with("token") && !c.what.contains("asking for a token"))
        .map(|c| match c.path.as_str() {
            // No [openim]: the admin token route refuses every secret.
            openim::GET_ADMIN_TOKEN | "/auth/user_token" if c.what.starts_with("{}") => Bad {
                detail: "no [openim] section".into(),
                ..c
            },
            // Nor are user tokens issued or kicked.
            "/auth/get_user_token" | "/auth/force_logout" if c.what.starts_with("{}") => Bad {
                detail: "no [openim] section".into(),
                code: 1002,
                ..c
            },
            _ => c,
        })
        .collect();
    run_cases(&im, &all).await;
    assert!(im.env.sim.requests().is_empty(), "{:?}", im.paths());
    healthy(&im.env).await;
}

both_apis! {
/// The choices that are acceptances, not errors: each is served as the
/// well-formed call it amounts to.
#[tokio::test]
async fn what_the_face_accepts() {
    let (im, t, client) = with_group("acc1").await;
    let url = |p: &str| im.env.url(p);
    let body = Bytes::from(json!({"groupIDs": ["acc1"]}).to_string());
    let send = |route: &str, headers: Vec<(&'static str, Vec<u8>)>, body: Bytes| {
        let client = client.clone();
        let url = url(route);
        async move {
            let a = send_raw(&client, &Method::POST, &url, &headers, body)
                .await
                .unwrap();
            assert_eq!(a.status, 200, "{}", a.text());
            a
        }
    };
    let std_headers = |ct: Option<&str>| {
        let mut h = vec![
            ("operationID", FRESH.to_vec()),
            ("token", t.as_bytes().to_vec()),
        ];
        if let Some(ct) = ct {
            h.push(("content-type", ct.as_bytes().to_vec()));
        }
        h
    };

    // Any content type, or none, with a JSON body.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=utf-8"),
    ] {
        im.env.sim.clear_requests();
        let a = send(openim::GET_GROUPS_INFO, std_headers(ct), body.clone()).await;
        assert_eq!(
            a.json()["data"]["groupInfos"][0]["groupID"],
            "acc1",
            "{ct:?}: {}",
            a.text()
        );
        // The profile, then whether the group is muted (src/openim/mute.rs).
        assert_eq!(
            im.paths(),
            dialect_paths(&[path::PROFILE_QUERY, path::BAN_QUERY]),
            "{ct:?}"
        );
    }

    // A duplicate key: the last value is the one applied.
    let dup = r#"{"groupID":"acc1","introduction":"first","introduction":"second"}"#;
    let a = send(
        openim::SET_GROUP_INFO_EX,
        std_headers(Some("application/json")),
        Bytes::from(dup),
    )
    .await;
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());
    assert_eq!(im.info("acc1").await["introduction"], "second");

    // A query string on a route is ignored.
    let a = send(
        &format!("{}?x=1&groupIDs=zz", openim::GET_GROUPS_INFO),
        std_headers(None),
        body.clone(),
    )
    .await;
    assert_eq!(a.json()["data"]["groupInfos"][0]["groupID"], "acc1");

    // Nesting up to serde_json's limit is fine in an ignored field.
    let nested = format!(
        "{{\"groupIDs\":[\"acc1\"],\"x\":{}{}}}",
        "[".repeat(120),
        "]".repeat(120)
    );
    let a = send(
        openim::GET_GROUPS_INFO,
        std_headers(None),
        Bytes::from(nested),
    )
    .await;
    assert_eq!(a.json()["errCode"], 0, "{}", a.text());

    // Exactly 1000 ids: served, in 20 calls of 50.
    im.env.sim.clear_requests();
    let mut list = ids("none", 999);
    list.push("acc1".into());
    let a = send(
        openim::GET_GROUPS_INFO,
        std_headers(None),
        Bytes::from(json!({"groupIDs": list}).to_string()),
    )
    .await;
    let v = a.json();
    assert_eq!(v["errCode"], 0, "{v}");
    assert_eq!(v["data"]["groupInfos"].as_array().map(Vec::len), Some(1));
    assert_eq!(im.requests_to(path::PROFILE_QUERY).len(), 20);
    healthy(&im.env).await;
}
}

both_apis! {
/// The operationID becomes the upstream X-Request-ID only when it is a safe
/// token of at most 36 characters; otherwise the gateway makes one, sends
/// it upstream and answers with it.
#[tokio::test]
async fn long_or_odd_operation_ids_are_not_forwarded() {
    let (im, t, client) = with_group("opid1").await;
    let url = im.env.url(openim::GET_GROUPS_INFO);
    let body = Bytes::from(json!({"groupIDs": ["opid1"]}).to_string());
    let exactly_36 = "a".repeat(36);
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (exactly_36.clone().into_bytes(), true),
        (b"op-1_x.y:z".to_vec(), true),
        ("a".repeat(37).into_bytes(), false),
        ("b".repeat(1000).into_bytes(), false),
        ("c".repeat(60_000).into_bytes(), false),
        (b"has space".to_vec(), false),
        (b"a/b".to_vec(), false),
        (b"op\"1".to_vec(), false),
    ];
    // Raw bytes outside visible ASCII are refused, with
    // OpenIM's ArgsError, and nothing is sent.
    for op in ["opé-non-ASCII".as_bytes().to_vec(), b"op\xff".to_vec()] {
        im.env.sim.clear_requests();
        let headers = vec![("operationID", op), ("token", t.as_bytes().to_vec())];
        let a = send_raw(&client, &Method::POST, &url, &headers, body.clone())
            .await
            .unwrap();
        assert_eq!(a.json()["errCode"], 1001, "{}", a.text());
        assert!(im.env.sim.requests().is_empty());
    }
    for (op, forwarded) in cases {
        im.env.sim.clear_requests();
        let shown = String::from_utf8_lossy(&op[..op.len().min(40)]).into_owned();
        let headers = vec![
            ("operationID", op.clone()),
            ("token", t.as_bytes().to_vec()),
        ];
        let a = send_raw(&client, &Method::POST, &url, &headers, body.clone())
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{shown}");
        assert_eq!(a.json()["errCode"], 0, "{shown}: {}", a.text());
        let reqs = im.requests_to(path::PROFILE_QUERY);
        assert_eq!(reqs.len(), 1, "{shown}");
        let upstream = reqs[0].headers["x-request-id"].as_bytes().to_vec();
        let answered = a.headers["x-request-id"].as_bytes().to_vec();
        assert_eq!(upstream, answered, "{shown}: the caller learns the id used");
        if forwarded {
            assert_eq!(upstream, op, "{shown}");
        } else {
            assert_ne!(upstream, op, "{shown}");
            assert!(upstream.len() <= 36, "{shown}");
            assert!(
                upstream.iter().all(u8::is_ascii_hexdigit) && upstream.len() == 32,
                "{shown}: a fresh id, not {:?}",
                String::from_utf8_lossy(&upstream)
            );
        }
    }
    healthy(&im.env).await;
}
}

both_apis! {
/// Thousands of mixed bad requests, several at a time: the gateway stays
/// healthy, nothing reaches the vendor, the in-flight gauge returns to 0,
/// metric labels stay bounded and memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_bad_openim_requests_leave_the_gateway_healthy_and_flat() {
    let _serial = crate::common::heavy().await;
    let im = Im::start().await;
    let t = im.token.clone().unwrap();
    // The light cases (the megabyte ones are covered above, once each).
    // Not the token routes: their failures are throttled (`openim::token`).
    let mut light: Vec<Bad> = cases(&t)
        .into_iter()
        .filter(|c| {
            c.body.len() <= 64 * 1024
                && !matches!(
                    c.path.as_str(),
                    "/auth/get_admin_token" | "/auth/user_token"
                )
        })
        .collect();
    // Unknown routes with a different name each time: metric labels must
    // not grow with them.
    for i in 0..50 {
        light.push(
            Bad::new(
                format!("unknown {i}"),
                &format!("/group/nope{i}"),
                &t,
                "{}",
                "is not served",
            )
            .expect(404, 404),
        );
        light.push(
            Bad::new(
                format!("unknown auth {i}"),
                &format!("/auth/nope{i}"),
                &t,
                "{}",
                "is not served",
            )
            .expect(404, 404),
        );
    }
    let light = std::sync::Arc::new(light);
    const WORKERS: usize = 6;
    const PER_WORKER: usize = 600;
    let base = im.env.gw.url();
    let run = |rounds: std::ops::Range<usize>| {
        let mut tasks = Vec::new();
        for w in 0..WORKERS {
            let light = light.clone();
            let base = base.clone();
            let rounds = rounds.clone();
            tasks.push(tokio::spawn(async move {
                let client = common::client();
                for r in rounds {
                    let case = &light[(r * WORKERS + w * 7) % light.len()];
                    case.check(&client, &base).await?;
                }
                Ok::<(), String>(())
            }));
        }
        async move {
            for t in tasks {
                t.await.expect("worker")?;
            }
            Ok::<(), String>(())
        }
    };
    run(0..100).await.unwrap();
    let after_warmup = rss_kib();
    tokio::time::timeout(Duration::from_secs(120), run(100..PER_WORKER))
        .await
        .expect("the bad requests were all answered in time")
        .unwrap();
    let grown_kib = rss_kib().saturating_sub(after_warmup);
    assert!(
        im.env.sim.requests().is_empty(),
        "a bad request reached the vendor: {:?}",
        im.paths()
    );
    assert_eq!(in_flight(&im.env).await, 0);
    healthy(&im.env).await;
    let m = metrics(&im.env.gw).await;
    assert!(
        !m.contains("nope"),
        "an unknown route became a metric label"
    );
    let openim_lines = m
        .lines()
        .filter(|l| {
            l.starts_with("entrust_gateway_requests_total{") && l.contains("face=\"openim\"")
        })
        .count();
    assert!(openim_lines <= 16 * 8, "{openim_lines} OpenIM series");
    assert!(
        grown_kib < 32 * 1024,
        "RSS grew {grown_kib} KiB over {} bad requests",
        WORKERS * (PER_WORKER - 100)
    );
}
}

both_apis! {
/// An unknown route is 404 and a GET is 405, neither reaching the vendor.
#[tokio::test]
async fn unknown_route_and_method() {
    let im = Im::start().await;
    let v = im.answer("/group/nonexistent", &json!({})).await;
    assert_eq!(v.status, 404);
    let a = common::send(
        http::Method::GET,
        &im.env.url("/group/get_groups_info"),
        &[("operationID", "x")],
        "",
    )
    .await;
    assert_eq!(a.status, 405);
    assert!(im.env.sim.requests().is_empty());
}
}
