//! Every error the gateway makes, and how each looks in the vendor's
//! dialect (the entrust and admin faces). The OpenIM face renders its own
//! (`openim::errcode::response`); [`Error::to_response`] picks by face, in
//! [`crate::server`], so this map knows no face's codes but the vendor's.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;

use crate::entrust::code;

pub type Body = Full<Bytes>;

/// Which API the caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// `/entrust/...`: the vendor's own API, passed through.
    Entrust,
    /// `/group/...`, `/auth/...`: OpenIM's REST API, translated.
    OpenIm,
    /// `/healthz`, `/readyz`, `/metrics`.
    Admin,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Face::Entrust => "entrust",
            Face::OpenIm => "openim",
            Face::Admin => "admin",
        }
    }

    /// The methods this face serves (the `Allow` header of a 405).
    pub fn allow(self) -> &'static str {
        match self {
            Face::Entrust | Face::OpenIm => "POST",
            Face::Admin => "GET, HEAD",
        }
    }
}

/// `Retry-After` in whole seconds: rounded up, so a caller that waits this
/// long is never early, and at least 1.
pub fn retry_after_secs(after: Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
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
        detail: String,
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
            Error::Internal(_) => "internal",
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
    pub fn detail(&self) -> String {
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
            | Error::Internal(d) => d.clone(),
            Error::Token { detail, .. }
            | Error::OpenIm { detail, .. }
            | Error::RateLimited { detail, .. } => detail.clone(),
            Error::MethodNotAllowed => "method not allowed".into(),
            Error::PayloadTooLarge { limit } => format!("request body larger than {limit} bytes"),
            Error::Upstream {
                path,
                code,
                message,
            } => {
                format!("entrust {path} answered code {code}: {message}")
            }
            Error::Partial {
                done,
                pending,
                cause,
            } => format!(
                "{}; done: [{}]; not done: [{}]",
                cause.detail(),
                done.join(","),
                pending.join(",")
            ),
        }
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
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_ERROR),
        }
    }

    /// The response in the vendor's dialect, `{"code":N,"errorMessage":...}`
    /// (the entrust and admin faces).
    pub fn vendor_response(&self, face: Face) -> Response<Body> {
        let (status, code) = self.entrust_status();
        let detail = match self {
            Error::MethodNotAllowed => format!("method not allowed; use {}", face.allow()),
            _ => self.detail(),
        };
        self.response(face, status, &json!({"code": code, "errorMessage": detail}))
    }

    /// A response with `body`, and the headers this error carries on any
    /// face: `Retry-After`, and `Allow` on a 405.
    pub fn response(
        &self,
        face: Face,
        status: StatusCode,
        body: &serde_json::Value,
    ) -> Response<Body> {
        let mut resp = json_response(status, body);
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
        resp
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.detail())
    }
}

impl std::error::Error for Error {}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
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
