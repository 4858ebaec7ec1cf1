//! Strict reading of OpenIM request bodies, with errors that name the field.
//!
//! OpenIM decodes with Go's `encoding/json` into protobuf types: absent and
//! `null` are the zero value (for wrapped fields: "unchanged"), a value of
//! the wrong JSON type is an error (so `"1"` and `{"value":1}` are refused
//! where an integer is expected), and unknown fields are ignored. Keys match
//! as Go matches them: the exact key first, else one equal but for case
//! (`groupIds`, `nickName` work on real OpenIM); every field is read
//! through that one lookup.

use serde_json::{Map, Value};

use crate::error::Error;

/// Most items a list in a request may hold. OpenIM sets no bound, but each
/// item costs the vendor's quota (a list is sent in batches of 50 or 100,
/// one entrust call each): without one, a single request of 100,000 group
/// IDs made 2,000 calls and held a path's whole quota for 20 seconds, and a
/// longer one ran past `server.request_timeout_ms` after thousands of calls.
/// With 1000, no list costs more than 20 calls on one path.
pub const MAX_ITEMS: usize = 1000;

/// The body as a JSON object.
pub fn parse(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Args("the request body must be a JSON object".into())),
        Err(e) => Err(Error::Args(format!("invalid JSON body: {e}"))),
    }
}

/// One JSON object, and where it sits in the request (for messages).
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, prefix: &'a str) -> Obj<'a> {
        Obj { map, prefix }
    }

    /// The field's full name, e.g. `groupInfoForSet.groupID`.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The field's value (null counts as absent). Every field of every
    /// request is read through here, so OpenIM's case-insensitive matching
    /// (Go `encoding/json`, tools `a2r/api2rpc.go`) holds on every route: the
    /// exact key wins, else the first key equal to it ignoring case.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map
            .get(key)
            .or_else(|| {
                self.map
                    .iter()
                    .find(|(k, _)| same_ignoring_case(k, key))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> Error {
        Error::Args(format!(
            "{} must be {want}, not {}",
            self.name(key),
            type_name(got)
        ))
    }

    /// A string field; `None` when absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A plain string field: absent or null is "".
    pub fn str(&self, key: &str) -> Result<&'a str, Error> {
        Ok(self.opt_str(key)?.unwrap_or(""))
    }

    /// A required, non-empty string field.
    pub fn required(&self, key: &str) -> Result<&'a str, Error> {
        match self.opt_str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(Error::Args(format!("{} is required", self.name(key)))),
        }
    }

    /// An integer field within `min..=max`; `None` when absent or null.
    pub fn opt_int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_i64(),
            _ => return Err(self.wrong(key, "an integer", v)),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Error::Args(format!(
                "{} must be an integer from {min} to {max}, not {v}",
                self.name(key)
            ))),
        }
    }

    /// An unsigned 64-bit integer field (Go `uint64`); `None` when absent
    /// or null.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                Error::Args(format!(
                    "{} must be an integer from 0 to {}, not {n}",
                    self.name(key),
                    u64::MAX
                ))
            }),
            Some(v) => Err(self.wrong(key, "an integer", v)),
        }
    }

    /// A boolean field; `None` when absent or null.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    /// `Err(ArgsError)` naming the list when it holds more than [`MAX_ITEMS`].
    fn bounded(&self, key: &str, items: &[Value]) -> Result<(), Error> {
        if items.len() > MAX_ITEMS {
            return Err(Error::Args(format!(
                "{} has {} items; at most {MAX_ITEMS} are allowed",
                self.name(key),
                items.len()
            )));
        }
        Ok(())
    }

    /// A list of strings, at most [`MAX_ITEMS`]; absent or null is empty.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(key, "a list of strings", v));
        };
        self.bounded(key, items)?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::Args(format!(
                    "{}[{i}] must be a string, not {}",
                    self.name(key),
                    type_name(other)
                ))),
            })
            .collect()
    }

    /// An object field; `None` when absent or null.
    pub fn opt_obj(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.wrong(key, "an object", v)),
        }
    }

    /// A list of objects, at most [`MAX_ITEMS`]; absent or null is empty.
    pub fn objects(&self, key: &str) -> Result<Vec<&'a Map<String, Value>>, Error> {
        let Some(v) = self.get(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(key, "a list of objects", v));
        };
        self.bounded(key, items)?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(m) => Ok(m),
                other => Err(Error::Args(format!(
                    "{}[{i}] must be an object, not {}",
                    self.name(key),
                    type_name(other)
                ))),
            })
            .collect()
    }
}

/// Whether two keys are equal ignoring case (Unicode lowercase, as Go folds
/// them for field names).
fn same_ignoring_case(a: &str, b: &str) -> bool {
    // Most keys compared are ASCII (all of OpenIM's): equal lengths and an
    // ASCII case-insensitive match decide at once. A character outside
    // ASCII lowercases to ASCII only as the Kelvin sign does (3 bytes to
    // `k`), never to more bytes: otherwise the two can match only if the
    // longer one (in bytes) has such a character.
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    let longer = if a.len() >= b.len() { a } else { b };
    if longer.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Length in characters (not bytes), as OpenIM and the vendor count.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `Err(ArgsError)` naming `field` when `value` is longer than `max` characters.
pub fn max_len(field: &str, value: &str, max: usize) -> Result<(), Error> {
    let n = chars(value);
    if n > max {
        return Err(Error::Args(format!(
            "{field} is {n} characters long; at most {max} are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(r: Result<impl std::fmt::Debug, Error>) -> String {
        match r {
            Err(Error::Args(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strict_types() {
        let v = json!({"a":"1","b":{"value":1},"c":1,"d":null,"e":1.5,"f":["x",2],"g":true});
        let m = v.as_object().unwrap();
        let o = Obj::new(m, "p.");
        assert!(err(o.opt_int("a", 0, 2)).contains("p.a must be an integer"));
        assert!(err(o.opt_int("b", 0, 2)).contains("p.b"));
        assert_eq!(o.opt_int("c", 0, 2).unwrap(), Some(1));
        assert!(err(o.opt_int("c", 2, 3)).contains("from 2 to 3"));
        assert_eq!(o.opt_int("d", 0, 2).unwrap(), None);
        assert_eq!(o.opt_int("zz", 0, 2).unwrap(), None);
        assert!(err(o.opt_int("e", 0, 2)).contains("p.e"));
        assert!(err(o.strings("f")).contains("p.f[1]"));
        assert!(err(o.opt_str("c")).contains("p.c must be a string"));
        assert_eq!(o.str("d").unwrap(), "");
        assert!(err(o.required("d")).contains("p.d is required"));
        assert_eq!(o.opt_bool("g").unwrap(), Some(true));
        assert!(err(parse(b"{")).contains("invalid JSON"));
        assert!(err(parse(b"[]")).contains("object"));
        assert!(max_len("x", &"é".repeat(4), 4).is_ok());
        assert!(err(max_len("x", &"é".repeat(5), 4)).contains("x is 5 characters"));
        let v = json!({"s": vec!["x"; MAX_ITEMS + 1], "o": vec![json!({}); MAX_ITEMS + 1],
            "t": vec!["x"; MAX_ITEMS]});
        let o = Obj::new(v.as_object().unwrap(), "");
        assert!(err(o.strings("s")).contains("s has 1001 items; at most 1000"));
        assert!(err(o.objects("o")).contains("o has 1001 items"));
        assert_eq!(o.strings("t").unwrap().len(), MAX_ITEMS);
    }

    #[test]
    fn keys_ignore_case_exact_first() {
        let v = json!({"groupIds": ["a"], "nickName": "n", "GROUPID": "x", "groupID": "exact"});
        let o = Obj::new(v.as_object().unwrap(), "");
        assert_eq!(o.strings("groupIDs").unwrap(), ["a"]);
        assert_eq!(o.opt_str("nickname").unwrap(), Some("n"));
        assert_eq!(o.str("groupID").unwrap(), "exact");
        assert_eq!(o.opt_str("group_id").unwrap(), None);
        // A key whose lowercase has another length: the Kelvin sign (3
        // bytes) folds to `k`, as in Go's bytes.EqualFold.
        let v = json!({"\u{212A}ey": "kelvin", "Key2": "k2"});
        let o = Obj::new(v.as_object().unwrap(), "");
        assert_eq!(o.opt_str("key").unwrap(), Some("kelvin"));
        assert_eq!(o.opt_str("KEY2").unwrap(), Some("k2"));
        assert_eq!(o.opt_str("ke").unwrap(), None);
    }
}
