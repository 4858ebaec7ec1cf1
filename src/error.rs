//! Every error the gateway makes, and how each looks in the vendor's
//! dialect (the entrust and admin faces; the v4 face with v4's codes). The
//! OpenIM face renders its own;
//! the server picks the renderer by face, so this map knows no face's codes
//! but the vendor's.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::entrust::code;

pub type Body = Full<Bytes>;

/// Which API the caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// `/entrust/...`: the vendor's own API, passed through.
    Entrust,
    /// `/group/...`, `/auth/...`: OpenIM's REST API, translated.
    OpenIm,
    /// `/v4/...`: the vendor's v4 (Nexconn) JSON API, passed through.
    V4,
    /// `/healthz`, `/readyz`, `/metrics`.
    Admin,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Entrust => "entrust",
            Face::OpenIm => "openim",
            Face::Admin => "admin",
            Face::V4 => "v4",
        }
    }

    /// The methods this face serves (the `Allow` header of a 405).
    pub fn allow(self) -> &'static str {
        match self {
            Face::Entrust | Face::OpenIm | Face::V4 => "POST",
            Face::Admin => "GET, HEAD",
        }
    }
}

/// The `code` (vendor dialect) of [`Error::OutcomeUnknown`], and the value
/// of the `x-gateway-outcome` header every face's rendering of it carries.
pub const OUTCOME_UNKNOWN: i64 = 502;
pub const OUTCOME_HEADER: &str = "x-gateway-outcome";

/// `Retry-After` in whole seconds: rounded up, so a caller that waits this
/// long is never early, and at least 1.
pub fn retry_after_secs(after: Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
}

/// The vendor-shaped error body, `{"code":N,"errorMessage":...}`. Written
/// straight: the same bytes as the map printed (a unit test compares them).
fn vendor_body(code: i64, detail: &str) -> Bytes {
    let mut body = String::with_capacity(32 + detail.len());
    body.push_str("{\"code\":");
    crate::text::push_i64(&mut body, code);
    body.push_str(",\"errorMessage\":");
    crate::text::json_str(&mut body, detail);
    body.push('}');
    Bytes::from(body)
}

// A rate-limit refusal's body is made once, with the entrust code; it
// serves the v4 face as is because both APIs spell the limit 1008.
const _: () = assert!(code::RATE_LIMITED == crate::v4::code::RATE_LIMITED);

/// A rate-limit refusal's detail, with the vendor-shaped body that carries
/// it made at the same time: the quota makes its refusals once per path at
/// start-up and clones them, so a flood of 429s formats nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RateNote {
    detail: Arc<str>,
    vendor_body: Bytes,
}

impl From<&str> for RateNote {
    fn from(detail: &str) -> RateNote {
        RateNote {
            detail: detail.into(),
            vendor_body: vendor_body(code::RATE_LIMITED, detail),
        }
    }
}

impl From<String> for RateNote {
    fn from(detail: String) -> RateNote {
        RateNote::from(detail.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The caller's input is wrong (the detail names the field).
    Args(String),
    /// The entrust face's body is missing or not a form (vendor code 1003).
    NoPostData(String),
    /// No such route.
    NotFound(String),
    MethodNotAllowed,
    PayloadTooLarge {
        limit: usize,
    },
    /// The caller's inbound credential is missing or wrong.
    Unauthorized(String),
    /// An OpenIM token problem: 1001 (missing) or 1501..1507.
    Token {
        code: i64,
        detail: String,
    },
    /// OpenIM 1002: the caller may not do this.
    NoPermission(String),
    /// An OpenIM code the OpenIM face chose where open-im-server answers one
    /// the vendor's code doesn't translate to (e.g. 1101 for kicking a
    /// non-member).
    OpenIm {
        code: i64,
        detail: String,
    },
    /// Over quota; the caller may retry after this long.
    RateLimited {
        retry_after: Duration,
        /// Shared: the quota's refusals are made once per path, at start-up.
        detail: RateNote,
    },
    /// The vendor answered a code other than 200 (`path` is the entrust path).
    Upstream {
        path: String,
        code: i64,
        message: String,
    },
    /// No data center could be reached.
    Unreachable(String),
    /// The data center did not answer in time.
    Timeout(String),
    /// The data center's answer could not be used.
    BadUpstream(String),
    /// The data center closed the connection while this request's body was
    /// being sent: the request's own failure, not the data center's.
    BodyRefused(String),
    /// A request split over several entrust calls failed part-way.
    Partial {
        done: Vec<String>,
        pending: Vec<String>,
        cause: Box<Error>,
    },
    /// A request with the same Idempotency-Key is still in flight (409).
    Conflict(String),
    /// The Idempotency-Key was used for a different request (422).
    KeyReused(String),
    /// The gateway is shutting down.
    Unavailable(String),
    /// A retry of a write whose first attempt may have reached the vendor
    /// with no answer back: whether it was done is unknown, so it is not
    /// sent again under this key.
    OutcomeUnknown(String),
    Internal(String),
}

impl Error {
    /// A short kind, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Args(_) => "args",
            Error::NoPostData(_) => "no_post_data",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method",
            Error::PayloadTooLarge { .. } => "too_large",
            Error::Unauthorized(_) => "unauthorized",
            Error::Token { .. } => "token",
            Error::NoPermission(_) => "no_permission",
            Error::OpenIm { .. } => "openim_code",
            Error::RateLimited { .. } => "rate_limited",
            Error::Upstream { .. } => "upstream_code",
            Error::Unreachable(_) => "unreachable",
            Error::Timeout(_) => "timeout",
            Error::BadUpstream(_) => "bad_upstream",
            Error::BodyRefused(_) => "body_refused",
            Error::Partial { cause, .. } => cause.kind(),
            Error::Conflict(_) => "conflict",
            Error::KeyReused(_) => "key_reused",
            Error::Unavailable(_) => "unavailable",
            Error::OutcomeUnknown(_) => "outcome_unknown",
            Error::Internal(_) => "internal",
        }
    }

    /// Whether this error stands for the vendor's definitive answer, which a
    /// retry of the same write may be given instead of doing it again: the
    /// vendor's own non-transient codes (also in OpenIM's words). Errors the
    /// gateway made (bad input, quota, transport) are not.
    pub fn is_final(&self) -> bool {
        match self {
            Error::Upstream { code, .. } => !code::is_transient(*code),
            Error::OpenIm { .. } => true,
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            // The first attempt is still running: its answer may be ready soon.
            Error::Conflict(_) => Some(Duration::from_secs(1)),
            Error::Partial { cause, .. } => cause.retry_after(),
            _ => None,
        }
    }

    /// The human-readable detail (never holds a secret: callers build it
    /// from request fields and upstream answers only).
    pub fn detail(&self) -> Cow<'_, str> {
        match self {
            Error::Args(d)
            | Error::NoPostData(d)
            | Error::NotFound(d)
            | Error::Unauthorized(d)
            | Error::NoPermission(d)
            | Error::Unreachable(d)
            | Error::Timeout(d)
            | Error::BadUpstream(d)
            | Error::BodyRefused(d)
            | Error::Conflict(d)
            | Error::KeyReused(d)
            | Error::Unavailable(d)
            | Error::OutcomeUnknown(d)
            | Error::Internal(d) => Cow::Borrowed(d),
            Error::Token { detail, .. } | Error::OpenIm { detail, .. } => Cow::Borrowed(detail),
            Error::RateLimited { detail, .. } => Cow::Borrowed(&detail.detail),
            Error::MethodNotAllowed => Cow::Borrowed("method not allowed"),
            Error::PayloadTooLarge { limit } => {
                Cow::Owned(format!("request body larger than {limit} bytes"))
            }
            Error::Upstream {
                path,
                code,
                message,
            } => Cow::Owned(format!("entrust {path} answered code {code}: {message}")),
            Error::Partial {
                done,
                pending,
                cause,
            } => Cow::Owned(format!(
                "{}; done: [{}]; not done: [{}]",
                cause.detail(),
                done.join(","),
                pending.join(",")
            )),
        }
    }

    /// `kind: detail`, as it is displayed (made without `fmt`: a refused
    /// request's log line carries it).
    pub fn message(&self) -> String {
        let (kind, detail) = (self.kind(), self.detail());
        let mut s = String::with_capacity(kind.len() + 2 + detail.len());
        s.push_str(kind);
        s.push_str(": ");
        s.push_str(&detail);
        s
    }

    /// HTTP status and `code` on the entrust face.
    fn entrust_status(&self) -> (StatusCode, i64) {
        match self {
            Error::Args(_) | Error::OpenIm { .. } => (StatusCode::BAD_REQUEST, code::PARAM_ERROR),
            // Idempotency-Key (draft-ietf-httpapi-idempotency-key-header):
            // in flight → 409, reused for another request → 422.
            Error::Conflict(_) => (StatusCode::CONFLICT, 409),
            Error::KeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, code::PARAM_ERROR),
            Error::NoPostData(_) => (StatusCode::BAD_REQUEST, code::NO_POST_DATA),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, 404),
            Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, code::PARAM_ERROR),
            Error::PayloadTooLarge { .. } | Error::BodyRefused(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, code::PARAM_TOO_LONG)
            }
            Error::Unauthorized(_) | Error::Token { .. } | Error::NoPermission(_) => {
                (StatusCode::UNAUTHORIZED, code::SIGNATURE_ERROR)
            }
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, code::RATE_LIMITED),
            Error::Upstream { code, .. } => (StatusCode::BAD_GATEWAY, *code),
            Error::Unreachable(_) | Error::BadUpstream(_) => {
                (StatusCode::BAD_GATEWAY, code::INTERNAL_ERROR)
            }
            Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, code::INTERNAL_TIMEOUT),
            Error::Partial { cause, .. } => cause.entrust_status(),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, code::INTERNAL_ERROR),
            // The gateway's own condition, coded by its status as 404 and
            // 409 are: no vendor code says "unknown".
            Error::OutcomeUnknown(_) => (StatusCode::BAD_GATEWAY, OUTCOME_UNKNOWN),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_ERROR),
        }
    }

    /// HTTP status and `code` on the v4 face: the statuses of the v4 code
    /// page (`nexconn-v4-group-api.md` §3: 400 bad request, 401
    /// authentication, 404, 405, 429 rate limit, 500, 504) and v4's codes.
    /// Unlike the entrust face there is no "no POST data" code (v4's 1003
    /// means something else): a missing or non-JSON body is 1002.
    fn v4_status(&self) -> (StatusCode, i64) {
        use crate::v4::code as v4;
        match self {
            Error::Args(_) | Error::NoPostData(_) | Error::OpenIm { .. } => {
                (StatusCode::BAD_REQUEST, v4::PARAM_ERROR)
            }
            Error::Conflict(_) => (StatusCode::CONFLICT, 409),
            Error::KeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, v4::PARAM_ERROR),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, v4::NOT_FOUND),
            Error::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, v4::PARAM_ERROR),
            Error::PayloadTooLarge { .. } | Error::BodyRefused(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, v4::PARAM_TOO_LONG)
            }
            Error::Unauthorized(_) | Error::Token { .. } | Error::NoPermission(_) => {
                (StatusCode::UNAUTHORIZED, v4::SIGNATURE_ERROR)
            }
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, v4::RATE_LIMITED),
            Error::Upstream { code, .. } => (StatusCode::BAD_GATEWAY, *code),
            Error::Unreachable(_) | Error::BadUpstream(_) => {
                (StatusCode::BAD_GATEWAY, v4::INTERNAL_ERROR)
            }
            Error::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, v4::INTERNAL_TIMEOUT),
            Error::Partial { cause, .. } => cause.v4_status(),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, v4::INTERNAL_ERROR),
            Error::OutcomeUnknown(_) => (StatusCode::BAD_GATEWAY, OUTCOME_UNKNOWN),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, v4::INTERNAL_ERROR),
        }
    }

    /// The response in the vendor's dialect, `{"code":N,"errorMessage":...}`
    /// (the entrust and admin faces; the v4 face with v4's codes).
    pub fn vendor_response(&self, face: Face) -> Response<Body> {
        let (status, code) = match face {
            Face::V4 => self.v4_status(),
            _ => self.entrust_status(),
        };
        let body = match self {
            Error::MethodNotAllowed => {
                vendor_body(code, &format!("method not allowed; use {}", face.allow()))
            }
            Error::RateLimited { detail, .. } => detail.vendor_body.clone(),
            _ => vendor_body(code, &self.detail()),
        };
        self.with_headers(face, json_bytes_response(status, body))
    }

    /// A response with `body`, and the headers this error carries on any
    /// face: `Retry-After`, and `Allow` on a 405.
    pub fn response(
        &self,
        face: Face,
        status: StatusCode,
        body: &serde_json::Value,
    ) -> Response<Body> {
        self.with_headers(face, json_response(status, body))
    }

    fn with_headers(&self, face: Face, mut resp: Response<Body>) -> Response<Body> {
        if let Some(after) = self.retry_after() {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        if matches!(self, Error::MethodNotAllowed) {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(face.allow()));
        }
        if matches!(self, Error::OutcomeUnknown(_)) {
            resp.headers_mut()
                .insert(OUTCOME_HEADER, HeaderValue::from_static("unknown"));
        }
        resp
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    json_bytes_response(status, Bytes::from(body.to_string()))
}

/// A JSON response of `body`, already serialized.
pub fn json_bytes_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_body_is_the_map_printed() {
        use http_body_util::BodyExt;
        for e in [
            Error::Args("a \"quoted\"\n é".into()),
            Error::MethodNotAllowed,
            Error::RateLimited {
                retry_after: Duration::from_millis(1500),
                detail: "over".into(),
            },
        ] {
            let resp = e.vendor_response(Face::Entrust);
            assert_eq!(
                resp.headers().get(header::RETRY_AFTER).is_some(),
                e.retry_after().is_some()
            );
            let body = futures_lite_body(resp.into_body().collect());
            let (_, code) = e.entrust_status();
            let detail = match &e {
                Error::MethodNotAllowed => {
                    format!("method not allowed; use {}", Face::Entrust.allow())
                }
                _ => e.detail().into_owned(),
            };
            assert_eq!(
                body,
                serde_json::json!({"code": code, "errorMessage": detail}).to_string()
            );
        }
    }

    /// The v4 face's codes (`nexconn-v4-group-api.md` §3): 1002 for bad
    /// input (no 1003 "no POST data" there), 1008 with HTTP 429 for the
    /// quota, 1004/401, 1005/413, 1050/504, in the same
    /// `{"code","errorMessage"}` shape.
    #[test]
    fn the_v4_face_speaks_v4_codes() {
        use http_body_util::BodyExt;
        let rows = [
            (Error::Args("x".into()), 400, 1002),
            (Error::NoPostData("x".into()), 400, 1002),
            (Error::NotFound("x".into()), 404, 404),
            (Error::MethodNotAllowed, 405, 1002),
            (Error::PayloadTooLarge { limit: 1 }, 413, 1005),
            (Error::Unauthorized("x".into()), 401, 1004),
            (
                Error::RateLimited {
                    retry_after: Duration::from_secs(1),
                    detail: "over".into(),
                },
                429,
                1008,
            ),
            (Error::Timeout("x".into()), 504, 1050),
            (Error::Unreachable("x".into()), 502, 1000),
            (Error::OutcomeUnknown("x".into()), 502, OUTCOME_UNKNOWN),
            (Error::Unavailable("x".into()), 503, 1000),
        ];
        for (e, status, code) in rows {
            let resp = e.vendor_response(Face::V4);
            assert_eq!(resp.status().as_u16(), status, "{e:?}");
            let body = futures_lite_body(resp.into_body().collect());
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["code"], code, "{e:?}");
            assert!(v["errorMessage"].is_string(), "{e:?}");
        }
    }

    /// A `Full` body is ready at once.
    fn futures_lite_body(
        fut: impl std::future::Future<
            Output = Result<http_body_util::Collected<Bytes>, std::convert::Infallible>,
        >,
    ) -> String {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = std::pin::pin!(fut);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(c)) => String::from_utf8(c.to_bytes().to_vec()).unwrap(),
            _ => panic!("a Full body is ready"),
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn allow_names_the_face_s_methods() {
        let e = Error::MethodNotAllowed;
        let allow = |f| e.vendor_response(f).headers()[header::ALLOW].clone();
        assert_eq!(allow(Face::Admin), "GET, HEAD");
        assert_eq!(allow(Face::Entrust), "POST");
    }
}
