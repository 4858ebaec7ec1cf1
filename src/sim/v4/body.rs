//! The v4 request body: its content type, JSON parsed without trusting
//! it (duplicate keys refused, nesting bounded), and typed access to its
//! fields. Every mistake is 1002 ("invalid parameter"), except too many
//! items or too long a value, 1005 ("parameter too long"); both HTTP 400
//! (`nexconn-v4-group-api.md` §3). Unknown fields are ignored: the vendor
//! adds fields, and its newer clients send them.

use std::fmt;

use http::HeaderMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::sim::reply::ApiError;
use crate::v4::{code, media};

pub(crate) fn param(message: impl Into<String>) -> ApiError {
    ApiError::new(code::PARAM_ERROR, message)
}

pub(crate) fn too_long(message: impl Into<String>) -> ApiError {
    ApiError::new(code::PARAM_TOO_LONG, message)
}

/// `Content-Type` must be `application/json` (any case; §1), once; a
/// `charset` parameter other than UTF-8 is refused, since JSON is UTF-8.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let bad = || param("Content-Type must be application/json");
    let mut all = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(ct), None) = (all.next(), all.next()) else {
        return Err(bad());
    };
    let ct = ct.to_str().map_err(|_| bad())?;
    let mut parts = ct.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(media::REQUEST) {
        return Err(bad());
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let v = v.trim().trim_matches('"');
            if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") {
                return Err(param("the JSON body must be UTF-8"));
            }
        }
    }
    Ok(())
}

/// A JSON value read with every object's keys checked for repeats.
struct Checked(Value);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Checked, E> {
        Ok(Checked(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Checked, E> {
        Ok(Checked(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Checked, E> {
        Ok(Checked(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Checked, E> {
        Ok(Checked(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Checked, E> {
        Ok(Checked(Value::from(v)))
    }

    fn visit_string<E>(self, v: String) -> Result<Checked, E> {
        Ok(Checked(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Checked, E> {
        Ok(Checked(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        let mut out = Vec::new();
        while let Some(Checked(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Checked(Value::Array(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate key {k:?}")));
            }
            let Checked(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Checked(Value::Object(out)))
    }
}

/// A parsed v4 request: a JSON object.
#[derive(Debug, Default)]
pub(crate) struct Body {
    obj: Map<String, Value>,
}

impl Body {
    /// Parses `bytes`: a JSON object, no key repeated in any object (the
    /// vendor and a client could read different values), nested no deeper
    /// than serde_json's bound of 128 (refused without deep recursion).
    pub fn parse(bytes: &[u8]) -> Result<Body, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(param("a JSON object body is required"));
        }
        match serde_json::from_slice::<Checked>(bytes) {
            Ok(Checked(Value::Object(obj))) => Ok(Body { obj }),
            Ok(_) => Err(param("the body must be a JSON object")),
            Err(e) => Err(param(format!("the body is not valid JSON: {e}"))),
        }
    }

    #[cfg(test)]
    pub fn from_value(v: Value) -> Body {
        match v {
            Value::Object(obj) => Body { obj },
            _ => Body::default(),
        }
    }

    /// A field that is present and not `null` (the SDK leaves unset fields
    /// out; `null` is taken as left out).
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// An optional string (it may be empty).
    pub fn str_opt(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(param(format!("{key} must be a string"))),
        }
    }

    /// A required, non-empty string.
    pub fn str_req(&self, key: &str) -> Result<&str, ApiError> {
        match self.str_opt(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(param(format!("{key} is required"))),
        }
    }

    /// An optional array of non-empty strings, at most `max` items as sent
    /// (else 1005); repeats are dropped, the first kept.
    pub fn ids_opt(&self, key: &str, max: Option<usize>) -> Result<Option<Vec<String>>, ApiError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(param(format!("{key} must be an array of strings")));
        };
        if let Some(max) = max
            && items.len() > max
        {
            return Err(too_long(format!("{key} has more than {max} items")));
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(s) if !s.is_empty() => {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
                _ => return Err(param(format!("{key} must hold non-empty strings"))),
            }
        }
        Ok(Some(out))
    }

    /// A required, non-empty array of non-empty strings (see [`Body::ids_opt`]).
    pub fn ids_req(&self, key: &str, max: Option<usize>) -> Result<Vec<String>, ApiError> {
        match self.ids_opt(key, max)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(param(format!("{key} is required (a non-empty array)"))),
        }
    }

    /// An optional integer (a JSON number without fraction; not a string,
    /// not a boolean) in `range`, `default` when left out.
    pub fn int_opt(
        &self,
        key: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => int_in(key, v, range),
        }
    }

    /// A required integer in `range`.
    pub fn int_req(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Err(param(format!("{key} is required"))),
            Some(v) => int_in(key, v, range),
        }
    }

    /// A 0/1 flag that may come under any of `names` (the SDK's and a doc
    /// page's spelling); `default` when none is sent. Spellings that
    /// disagree: 1002.
    pub fn flag(&self, names: &[&str], default: bool) -> Result<bool, ApiError> {
        let mut found: Option<(&str, bool)> = None;
        for name in names {
            let Some(v) = self.get(name) else {
                continue;
            };
            let on = int_in(name, v, 0..=1)? == 1;
            match found {
                Some((other, prev)) if prev != on => {
                    return Err(param(format!("{other} and {name} disagree")));
                }
                _ => found = Some((name, on)),
            }
        }
        Ok(found.map_or(default, |(_, on)| on))
    }

    /// An optional JSON object.
    pub fn obj_opt(&self, key: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(param(format!("{key} must be a JSON object"))),
        }
    }
}

fn int_in(key: &str, v: &Value, range: std::ops::RangeInclusive<i64>) -> Result<i64, ApiError> {
    let Some(n) = v.as_i64() else {
        return Err(param(format!("{key} must be an integer")));
    };
    if !range.contains(&n) {
        return Err(param(format!(
            "{key} must be between {} and {}",
            range.start(),
            range.end()
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of<T: fmt::Debug>(r: Result<T, ApiError>) -> i64 {
        r.err().map_or(0, |e| e.code)
    }

    /// nexconn-v4-group-api.md §1: a JSON object body, always required.
    #[test]
    fn only_json_objects() {
        assert_eq!(code_of(Body::parse(br#"{"a":1}"#)), 0);
        for bad in [
            &b""[..],
            b"  ",
            b"[1]",
            b"\"s\"",
            b"1",
            b"{",
            b"a=b",
            b"{\"a\":1}x",
        ] {
            assert_eq!(code_of(Body::parse(bad)), 1002, "{bad:?}");
        }
        // A repeated key, at any depth.
        assert_eq!(code_of(Body::parse(br#"{"a":1,"a":2}"#)), 1002);
        assert_eq!(code_of(Body::parse(br#"{"o":{"k":1,"k":1}}"#)), 1002);
        assert_eq!(code_of(Body::parse(br#"{"l":[{"k":1,"k":2}]}"#)), 1002);
        // Deep nesting is refused, not recursed through.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(code_of(Body::parse(deep.as_bytes())), 1002);
    }

    #[test]
    fn content_types() {
        let ct = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, v.parse().unwrap());
            code_of(check_content_type(&h))
        };
        assert_eq!(ct("application/json"), 0);
        assert_eq!(ct("Application/JSON; charset=UTF-8"), 0);
        assert_eq!(ct("application/json; charset=latin1"), 1002);
        assert_eq!(ct("application/x-www-form-urlencoded"), 1002);
        assert_eq!(code_of(check_content_type(&HeaderMap::new())), 1002);
    }

    #[test]
    fn typed_fields() {
        let b = Body::from_value(json!({
            "s": "x", "e": "", "n": 5, "f": 1.5, "t": true, "ns": "5",
            "ids": ["a", "b", "a"], "bad": ["a", 1], "empty": [], "o": {"k": 1}, "z": null,
            "shouldLeave": 1, "shouldQuit": 0
        }));
        assert_eq!(b.str_req("s").unwrap(), "x");
        assert_eq!(code_of(b.str_req("e")), 1002);
        assert_eq!(code_of(b.str_req("n")), 1002);
        assert_eq!(b.str_opt("z").unwrap(), None, "null is left out");
        assert_eq!(b.int_opt("n", 0, 0..=10).unwrap(), 5);
        assert_eq!(b.int_opt("missing", 7, 0..=10).unwrap(), 7);
        for k in ["f", "t", "ns"] {
            assert_eq!(code_of(b.int_opt(k, 0, 0..=10)), 1002, "{k}");
        }
        assert_eq!(code_of(b.int_opt("n", 0, 0..=4)), 1002);
        assert_eq!(b.ids_req("ids", Some(3)).unwrap(), ["a", "b"]);
        assert_eq!(code_of(b.ids_req("ids", Some(2))), 1005);
        assert_eq!(code_of(b.ids_req("bad", None)), 1002);
        assert_eq!(code_of(b.ids_req("empty", None)), 1002);
        assert_eq!(b.ids_opt("empty", None).unwrap(), Some(vec![]));
        assert!(b.obj_opt("o").unwrap().is_some());
        assert_eq!(code_of(b.obj_opt("s")), 1002);
        assert_eq!(code_of(b.flag(&["shouldLeave", "shouldQuit"], false)), 1002);
        assert!(b.flag(&["shouldLeave"], false).unwrap());
        assert!(b.flag(&["nothing"], true).unwrap());
    }
}
