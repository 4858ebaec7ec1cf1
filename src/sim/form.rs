//! The form body: content type, strict `application/x-www-form-urlencoded`
//! decoding, and typed access to scalar, array and number parameters.

use http::HeaderMap;

use super::reply::ApiError;
use crate::entrust::code;

/// Checks `Content-Type`: the media type must be
/// `application/x-www-form-urlencoded` (any case); parameters are allowed, but
/// a `charset` other than UTF-8 is refused, since the body must be UTF-8.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let bad = || {
        ApiError::new(
            code::NO_POST_DATA,
            "Content-Type must be application/x-www-form-urlencoded",
        )
    };
    let mut all = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(ct), None) = (all.next(), all.next()) else {
        return Err(bad());
    };
    let ct = ct.to_str().map_err(|_| bad())?;
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(bad());
    }
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("charset") {
            let v = v.trim().trim_matches('"');
            if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") {
                return Err(ApiError::new(
                    code::NO_POST_DATA,
                    "the form body must be UTF-8",
                ));
            }
        }
    }
    Ok(())
}

/// Decoded form parameters, in the order sent.
#[derive(Debug, Default)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Decodes a form body. `+` is a space; a `%` not followed by two hex
    /// digits, or bytes that are not UTF-8 after decoding, are refused with
    /// 1002 (a lenient decoder would hide a client's encoding bugs).
    pub fn parse(body: &[u8]) -> Result<Form, ApiError> {
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &part[part.len()..]),
            };
            let k = decode(k)?;
            if k.is_empty() {
                return Err(ApiError::param("form field without a name"));
            }
            pairs.push((k, decode(v)?));
        }
        Ok(Form { pairs })
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// A scalar parameter, as sent (possibly empty). Sent twice: 1002.
    pub fn opt<'a>(&'a self, key: &str) -> Result<Option<&'a str>, ApiError> {
        let mut it = self
            .pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = it.next();
        if it.next().is_some() {
            return Err(ApiError::param(format!("{key} sent more than once")));
        }
        Ok(first)
    }

    /// A required scalar; missing or empty: 1002.
    pub fn required<'a>(&'a self, key: &str) -> Result<&'a str, ApiError> {
        match self.opt(key)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::param(format!("{key} is required"))),
        }
    }

    /// An array parameter under any of `keys`: comma-joined values and
    /// repeated keys both work and may be mixed; empty items are dropped, and
    /// so are repeats (first occurrence kept).
    pub fn array(&self, keys: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in &self.pairs {
            if !keys.contains(&k.as_str()) {
                continue;
            }
            for item in v.split(',') {
                if !item.is_empty() && !out.iter().any(|o| o == item) {
                    out.push(item.to_owned());
                }
            }
        }
        out
    }

    /// A required array with at most `max` items; none: 1002.
    pub fn required_array(
        &self,
        keys: &[&str],
        max: usize,
        too_many: i64,
    ) -> Result<Vec<String>, ApiError> {
        let v = self.array(keys);
        if v.is_empty() {
            return Err(ApiError::param(format!("{} is required", keys[0])));
        }
        if v.len() > max {
            return Err(ApiError::new(
                too_many,
                format!("{} has more than {max} items", keys[0]),
            ));
        }
        Ok(v)
    }

    /// An optional integer in `range`, `default` when missing or empty.
    /// Not a number: 25408; out of range: 25403.
    pub fn int(
        &self,
        key: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        let v = match self.opt(key)? {
            None | Some("") => return Ok(default),
            Some(v) => v,
        };
        let n: i64 = v
            .parse()
            .map_err(|_| ApiError::new(code::NOT_A_NUMBER, format!("{key} must be a number")))?;
        if !range.contains(&n) {
            return Err(ApiError::entrust_param(format!(
                "{key} must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
        Ok(n)
    }

    /// A 0/1 flag, false when missing.
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        Ok(self.int(key, 0, 0..=1)? == 1)
    }
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                let lo = raw.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(ApiError::param("malformed percent-escape in form body")),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::param("form body is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn decodes() {
        let f = Form::parse(b"a=x+y%2Cz&b=%E4%BD%A0&c").unwrap();
        assert_eq!(f.opt("a").unwrap(), Some("x y,z"));
        assert_eq!(f.opt("b").unwrap(), Some("你"));
        assert_eq!(f.opt("c").unwrap(), Some(""));
        assert!(f.required("c").is_err());
        assert!(Form::parse(b"a=%zz").is_err());
        assert!(Form::parse(b"a=%ff").is_err());
        assert!(Form::parse(b"a=%4").is_err());
    }

    #[test]
    fn arrays_all_forms() {
        for body in [
            &b"userIds=a,b,,c"[..],
            b"userIds=a&userIds=b&userIds=c",
            b"userIds=a,b&userIds=c&userIds=",
            b"userIds=a%2Cb%2Cc",
        ] {
            let f = Form::parse(body).unwrap();
            assert_eq!(f.array(&["userIds"]), ["a", "b", "c"], "{body:?}");
        }
        let f = Form::parse(b"groupId=g1&groupId=g2").unwrap();
        assert_eq!(f.array(&["groupIds", "groupId"]), ["g1", "g2"]);
        assert!(f.opt("groupId").is_err());
    }

    #[test]
    fn numbers() {
        let f = Form::parse(b"size=10&type=7&order=x").unwrap();
        assert_eq!(f.int("size", 50, 1..=100), Ok(10));
        assert_eq!(f.int("missing", 50, 1..=100), Ok(50));
        assert_eq!(f.int("type", 0, 0..=3).map_err(|e| e.code), Err(25403));
        assert_eq!(f.int("order", 1, 0..=1).map_err(|e| e.code), Err(25408));
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(check_content_type(&h).is_err());
        for ok in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        ] {
            h.insert("content-type", HeaderValue::from_static(ok));
            assert!(check_content_type(&h).is_ok(), "{ok}");
        }
        for bad in [
            "application/json",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
        ] {
            h.insert("content-type", HeaderValue::from_static(bad));
            assert_eq!(check_content_type(&h).map_err(|e| e.code), Err(1003));
        }
    }
}
