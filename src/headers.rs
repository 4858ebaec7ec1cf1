//! Header handling for both directions of the proxy, in one place:
//! the header names the gateway reads, what goes to the vendor (an
//! allowlist), hop-by-hop headers on the way back (RFC 9110 §7.6.1), what a
//! caller's header may hold, and the request id.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Version};

use crate::entrust::limit;
use crate::error::Error;

/// OpenIM's request id header (`operationID`; names are matched lowercase).
pub const OPERATION_ID: &str = "operationid";
/// OpenIM's admin token header.
pub const TOKEN: &str = "token";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1,
/// plus the non-standard `Keep-Alive` and `Proxy-Connection`).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// The only caller headers that reach the vendor. The vendor documents
/// `Content-Type` (a form), `Content-Length` (set by the client from the body),
/// `X-Request-ID` and the signing headers; the last two are set by the
/// gateway, so of the caller's only `Content-Type` remains. Nothing else is
/// needed: `Accept-Encoding` would only make the vendor compress an answer
/// the gateway reads whole, and every `X-Forwarded-*`/`X-Original-URL`/
/// method-override header is a way to make the vendor see another request
/// than the one the gateway checked and signed.
const TO_VENDOR: [HeaderName; 1] = [header::CONTENT_TYPE];

/// Removes hop-by-hop headers, including any that `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// The caller's headers as they go upstream: only `Content-Type`, the first
/// one, as its media type and `charset` parameter (any other parameter, a
/// `boundary` or a malformed one, is the caller's business, not the
/// vendor's: a form has none). `Connection` is not consulted: an
/// allowlisted header is end-to-end by definition, and the gateway checked
/// it (`Connection: Content-Type` must not remove the Content-Type the form
/// check passed).
pub fn request_headers_for_upstream(caller: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in &TO_VENDOR {
        if let Some(v) = caller.get(name).and_then(media_type_and_charset) {
            h.insert(name.clone(), v);
        }
    }
    h
}

/// A `Content-Type` value reduced to its media type and its first `charset`
/// parameter (RFC 9110 §8.3.1: `type/subtype *( OWS ";" OWS parameter )`),
/// the charset's quotes removed; a charset that is not a plain token is
/// left out. `None` when the value has no media type.
fn media_type_and_charset(value: &HeaderValue) -> Option<HeaderValue> {
    let bytes = value.as_bytes();
    // The usual value, a bare media type: as it is.
    if !bytes.contains(&b';') && bytes.trim_ascii().len() == bytes.len() && !bytes.is_empty() {
        return Some(value.clone());
    }
    let mut parts = bytes.split(|b| *b == b';');
    let media = parts.next()?.trim_ascii();
    if media.is_empty() {
        return None;
    }
    let charset = parts.find_map(|p| {
        let eq = p.iter().position(|b| *b == b'=')?;
        let (name, value) = (p[..eq].trim_ascii(), p[eq + 1..].trim_ascii());
        if !name.eq_ignore_ascii_case(b"charset") {
            return None;
        }
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        (!value.is_empty() && value.iter().all(token)).then_some(value)
    });
    let mut out = Vec::with_capacity(media.len() + charset.map_or(0, |c| c.len() + 10));
    out.extend_from_slice(media);
    if let Some(c) = charset {
        out.extend_from_slice(b"; charset=");
        out.extend_from_slice(c);
    }
    if out == bytes {
        // The usual case: already in this form, kept as it is.
        return Some(value.clone());
    }
    HeaderValue::from_bytes(&out).ok()
}

/// The vendor's response headers as they go back to the caller.
pub fn response_headers_for_caller(upstream: &HeaderMap) -> HeaderMap {
    if upstream.contains_key(header::CONNECTION) {
        let mut h = upstream.clone();
        strip_hop_by_hop(&mut h);
        h.remove(header::CONTENT_LENGTH);
        h.remove(crate::entrust::header::REQUEST_ID);
        return h;
    }
    // Without `Connection` (the usual answer), one pass copies what stays.
    let mut h = HeaderMap::with_capacity(upstream.keys_len());
    for (name, value) in upstream {
        let dropped = HOP_BY_HOP.contains(name)
            || *name == header::UPGRADE
            || *name == header::CONTENT_LENGTH
            || *name == crate::entrust::header::REQUEST_ID;
        if !dropped {
            h.append(name.clone(), value.clone());
        }
    }
    h
}

/// What every request on the API faces must meet before anything else:
/// header values of visible ASCII, space and tab only (RFC 9110 §5.5; raw
/// 0x80-0xFF bytes are obsolete text a signer or log could read two ways),
/// and, on HTTP/1.1, exactly one `Host` (RFC 9112 §3.2).
pub fn check_request<B>(req: &Request<B>) -> Result<(), Error> {
    for (name, value) in req.headers() {
        if crate::text::visible(value.as_bytes(), true) {
            continue;
        }
        if let Some(at) = value
            .as_bytes()
            .iter()
            .position(|&b| !(b == b'\t' || (b' '..=b'~').contains(&b)))
        {
            return Err(Error::Args(format!(
                "header {} has a byte outside visible ASCII at position {at}",
                crate::allowlist::printable(name.as_str())
            )));
        }
    }
    if req.version() == Version::HTTP_11 && req.headers().get_all(header::HOST).iter().count() != 1
    {
        return Err(Error::Args(
            "an HTTP/1.1 request needs exactly one Host header".into(),
        ));
    }
    Ok(())
}

/// A caller-supplied id is kept when it is a safe token of at most 36
/// characters (letters, digits, `-`, `_`, `.`, `:`); otherwise a fresh one.
pub fn request_id(candidate: Option<&HeaderValue>) -> HeaderValue {
    if let Some(v) = candidate {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= limit::REQUEST_ID_MAX
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        {
            return v.clone();
        }
    }
    new_request_id()
}

/// 32 hex characters: a random per-process prefix and a counter, so ids
/// never repeat within a process and differ between processes (made on
/// every request that brings none: a counter costs far less than drawing
/// 16 random bytes each time).
pub fn new_request_id() -> HeaderValue {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&prefix.to_be_bytes());
    raw[8..].copy_from_slice(&n.to_be_bytes());
    let mut id = [0u8; 32];
    // 16 bytes into 32 hex digits: the sizes match, so this cannot fail.
    let _ = hex::encode_to_slice(raw, &mut id);
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_goes_upstream_as_media_type_and_charset_only() {
        let ct = |v: &'static str| {
            media_type_and_charset(&HeaderValue::from_static(v))
                .map(|v| v.to_str().unwrap().to_string())
        };
        let form = "application/x-www-form-urlencoded";
        assert_eq!(ct(form).as_deref(), Some(form));
        assert_eq!(
            ct("application/x-www-form-urlencoded; charset=utf-8").as_deref(),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        assert_eq!(
            ct("application/x-www-form-urlencoded;charset=gbk; boundary=\"x").as_deref(),
            Some("application/x-www-form-urlencoded; charset=gbk")
        );
        assert_eq!(
            ct("application/x-www-form-urlencoded; boundary=x; CHARSET=\"UTF-8\"").as_deref(),
            Some("application/x-www-form-urlencoded; charset=UTF-8")
        );
        assert_eq!(
            ct("application/x-www-form-urlencoded; charset=\"a b\"").as_deref(),
            Some(form)
        );
        assert_eq!(ct(" ; charset=utf-8"), None);
    }

    /// README "Limits at the edge": header bytes outside visible ASCII, space and tab
    /// get 400, the message naming the header and where.
    #[test]
    fn a_byte_outside_visible_ascii_is_named_by_its_position() {
        let req = Request::builder()
            .header(header::HOST, "h")
            .header("x-a", HeaderValue::from_bytes(b"a\tb\xffc").unwrap())
            .body(())
            .unwrap();
        let err = check_request(&req).unwrap_err().to_string();
        assert!(
            err.contains("header x-a") && err.ends_with("at position 3"),
            "{err}"
        );
    }

    #[test]
    fn fresh_request_ids_are_32_hex_and_never_repeat() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit), "{id:?}");
        }
    }

    #[test]
    fn only_the_allowlist_goes_upstream_whatever_connection_names() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, content-type"),
        );
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        for name in [
            "x-private",
            "keep-alive",
            "te",
            "authorization",
            "host",
            "x-original-url",
            "x-http-method-override",
            "x-forwarded-for",
            "app_key",
            "rc_signature",
            "token",
            "accept-encoding",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        let out = request_headers_for_upstream(&h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out.contains_key("content-type"));
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go_on_the_way_back() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        let out = response_headers_for_caller(&h);
        assert_eq!(out.len(), 1, "{out:?}");
    }

    #[test]
    fn header_bytes_and_host() {
        let ok = Request::builder()
            .header("host", "gw")
            .header("x", "a b\tc~")
            .body(())
            .unwrap();
        assert!(check_request(&ok).is_ok());
        for bad in [&b"caf\xc3\xa9"[..], b"\xff", b"a\x80b"] {
            let req = Request::builder()
                .header("host", "gw")
                .header("x", HeaderValue::from_bytes(bad).unwrap())
                .body(())
                .unwrap();
            assert!(check_request(&req).is_err(), "{bad:?}");
        }
        let none = Request::builder().body(()).unwrap();
        assert!(check_request(&none).is_err());
        let two = Request::builder()
            .header("host", "a")
            .header("host", "b")
            .body(())
            .unwrap();
        assert!(check_request(&two).is_err());
        let old = Request::builder()
            .version(Version::HTTP_10)
            .body(())
            .unwrap();
        assert!(check_request(&old).is_ok());
    }

    #[test]
    fn answer_headers_without_connection_lose_the_same_ones() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("content-length", "3"),
            ("x-request-id", "r"),
            ("content-type", "application/json"),
            ("x-vendor", "1"),
        ] {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        h.append("x-vendor", HeaderValue::from_static("2"));
        let out = response_headers_for_caller(&h);
        let mut slow = h.clone();
        strip_hop_by_hop(&mut slow);
        slow.remove(header::CONTENT_LENGTH);
        slow.remove("x-request-id");
        assert_eq!(out, slow);
        assert_eq!(out.len(), 3, "{out:?}");
    }

    #[test]
    fn request_ids() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(request_id(Some(&ok)), ok);
        for bad in ["", "has space", "a/b", &"x".repeat(37)] {
            let v = HeaderValue::from_str(bad).unwrap();
            let got = request_id(Some(&v));
            assert_ne!(got, v);
            assert_eq!(got.len(), 32);
        }
    }
}
