//! Answers: the JSON envelope, error codes and their HTTP statuses.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::entrust::code;
use crate::v4;

pub(crate) const JSON: &str = "application/json; charset=utf-8";
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// An error answer: `{"code":N,"errorMessage":"..."}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: i64,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    /// An error with the HTTP status [`http_status_for`] gives its code.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status: http_status_for(code),
            message: message.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn param(message: impl Into<String>) -> Self {
        Self::new(code::PARAM_ERROR, message)
    }

    pub fn too_long(message: impl Into<String>) -> Self {
        Self::new(code::PARAM_TOO_LONG, message)
    }

    pub fn entrust_param(message: impl Into<String>) -> Self {
        Self::new(code::ENTRUST_PARAM_ERROR, message)
    }

    pub fn length(message: impl Into<String>) -> Self {
        Self::new(code::LENGTH_EXCEEDED, message)
    }

    pub fn signature(message: impl Into<String>) -> Self {
        Self::new(code::SIGNATURE_ERROR, message)
    }
}

/// HTTP status for a body code. The general codes use the statuses the
/// reference lists; every entrust (25xxx) code is a business answer and goes
/// out with HTTP 200, as the vendor's other business errors do.
pub(crate) fn http_status_for(c: i64) -> u16 {
    match c {
        code::OK => 200,
        code::INTERNAL_ERROR => 500,
        code::APP_SECRET_MISMATCH | code::SIGNATURE_ERROR | code::APP_LOCKED => 401,
        code::METHOD_RESTRICTED => 401,
        code::PARAM_ERROR | code::NO_POST_DATA | code::PARAM_TOO_LONG => 400,
        code::RATE_LIMITED => 429,
        code::SERVICE_NOT_ENABLED => 430,
        code::INTERNAL_TIMEOUT => 504,
        404 => 404,
        _ => 200,
    }
}

/// A complete answer, before it is turned into an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    /// The body's `code` (0 when the body is not JSON).
    pub code: i64,
    /// A success answer of either dialect (entrust `code` 200, v4 `code` 0).
    pub ok: bool,
    pub content_type: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Reply {
    /// `{"code":200, ...fields}` with HTTP 200.
    pub fn ok(fields: Map<String, Value>) -> Self {
        let mut obj = Map::new();
        obj.insert("code".into(), Value::from(code::OK));
        obj.extend(fields);
        Self::json(200, code::OK, &obj).success()
    }

    /// The v4 success envelope: `{"code":0}`, or `{"code":0,"result":{…}}`
    /// when there is a result (reference `nexconn-v4-group-api.md` §3).
    pub fn v4_ok(result: Option<Map<String, Value>>) -> Self {
        let mut obj = Map::new();
        obj.insert(v4::field::CODE.into(), Value::from(v4::code::OK));
        if let Some(r) = result {
            obj.insert(v4::field::RESULT.into(), Value::Object(r));
        }
        Self::json(v4::http::OK, v4::code::OK, &obj).success()
    }

    fn success(mut self) -> Self {
        self.ok = true;
        self
    }

    pub fn error(e: &ApiError) -> Self {
        let mut obj = Map::new();
        obj.insert("code".into(), Value::from(e.code));
        obj.insert("errorMessage".into(), Value::from(e.message.as_str()));
        Self::json(e.status, e.code, &obj)
    }

    /// A body of the given code; `errorMessage` is added unless it is 200.
    pub fn code(c: i64, status: u16, message: &str) -> Self {
        if c == code::OK {
            let mut r = Self::ok(Map::new());
            r.status = status;
            r
        } else {
            Self::error(&ApiError::new(c, message).with_status(status))
        }
    }

    pub fn html(status: u16, text: &str) -> Self {
        Reply {
            status,
            code: 0,
            ok: false,
            content_type: HTML,
            headers: Vec::new(),
            body: Bytes::from(text.to_owned()),
        }
    }

    fn json(status: u16, c: i64, obj: &Map<String, Value>) -> Self {
        // Serialising a map of plain values cannot fail.
        let body = serde_json::to_vec(obj).unwrap_or_default();
        Reply {
            status,
            code: c,
            ok: false,
            content_type: JSON,
            headers: Vec::new(),
            body: Bytes::from(body),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The same answer with a `"padding"` string added so that the body is
    /// about `size` bytes (never smaller than the answer itself).
    pub fn padded(mut self, size: usize) -> Self {
        let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&self.body) else {
            return self;
        };
        let overhead = self.body.len() + r#","padding":"""#.len();
        let pad = size.saturating_sub(overhead);
        obj.insert("padding".into(), Value::from("x".repeat(pad)));
        self.body = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(http_status_for(code::SIGNATURE_ERROR), 401);
        assert_eq!(http_status_for(code::RATE_LIMITED), 429);
        assert_eq!(http_status_for(code::GROUP_NOT_FOUND), 200);
        assert_eq!(http_status_for(code::PARAM_ERROR), 400);
    }

    #[test]
    fn error_shape() {
        let r = Reply::error(&ApiError::new(1004, "bad"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v, serde_json::json!({"code":1004,"errorMessage":"bad"}));
        assert_eq!(r.status, 401);
    }

    /// nexconn-v4-group-api.md §3: `{"code":0}` for writes, the payload
    /// under `result` for reads.
    #[test]
    fn v4_envelope() {
        let r = Reply::v4_ok(None);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, r.ok, v),
            (200, true, serde_json::json!({"code":0}))
        );
        let mut m = Map::new();
        m.insert("alias".into(), Value::from("a"));
        let v: Value = serde_json::from_slice(&Reply::v4_ok(Some(m)).body).unwrap();
        assert_eq!(v, serde_json::json!({"code":0,"result":{"alias":"a"}}));
        assert!(!Reply::error(&ApiError::new(1002, "x")).ok);
    }

    #[test]
    fn padding_reaches_size() {
        let r = Reply::ok(Map::new()).padded(10_000);
        assert!((9_990..=10_010).contains(&r.body.len()), "{}", r.body.len());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], 200);
    }
}
