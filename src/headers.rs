//! Header handling for both directions of the proxy, in one place:
//! hop-by-hop headers (RFC 9110 §7.6.1), the caller's signing headers, and
//! the request id.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::entrust::limit;

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

/// The caller's headers as they go upstream: hop-by-hop headers, `Host`,
/// framing, `Expect`, the caller's `Authorization` (it was for the gateway)
/// and the request id (set again by the signer's caller) removed. The
/// signing headers are removed by the signer itself.
pub fn request_headers_for_upstream(caller: &HeaderMap) -> HeaderMap {
    let mut h = caller.clone();
    strip_hop_by_hop(&mut h);
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::EXPECT,
        header::AUTHORIZATION,
        header::COOKIE,
    ] {
        h.remove(name);
    }
    h.remove(crate::entrust::header::REQUEST_ID);
    h
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

/// 32 random hex characters.
pub fn new_request_id() -> HeaderValue {
    let mut id = [0u8; 32];
    // 16 bytes into 32 hex digits: the sizes match, so this cannot fail.
    let _ = hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut id);
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        h.insert("host", HeaderValue::from_static("gw"));
        let out = request_headers_for_upstream(&h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out.contains_key("x-keep"));
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
