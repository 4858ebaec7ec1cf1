//! Parameter rules from the docs: ids, names, and the three JSON-valued
//! parameters (`groupProfile`, `permissions`, `groupExtProfile`).
//!
//! Lengths count Unicode characters. Top-level form values that are too long
//! answer 1005 (HTTP 400); lengths inside the JSON parameters answer 25406,
//! and their other mistakes 25403 (HTTP 200, like every entrust code).

use serde_json::{Map, Value};

use super::form::Form;
use super::reply::ApiError;
use crate::entrust::{code, limit};

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `groupId`: required, at most 64 characters of letters, digits, `_` and
/// `-`; other characters answer 25430. The docs say "alphanumeric
/// combinations", yet the vendor's own PHP example uses `RC_GROUP_1`, and
/// OpenIM deployments use `_`, `-` and UUIDs (reference `entrust-api.md`).
pub(crate) fn group_id(v: &str) -> Result<(), ApiError> {
    if chars(v) > limit::GROUP_ID_MAX {
        return Err(ApiError::too_long(format!(
            "groupId longer than {} characters",
            limit::GROUP_ID_MAX
        )));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::new(
            code::INVALID_GROUP_ID,
            "groupId may only hold letters, digits, _ and -",
        ));
    }
    Ok(())
}

pub(crate) fn required_group_id(f: &Form) -> Result<&str, ApiError> {
    let g = f.required("groupId")?;
    group_id(g)?;
    Ok(g)
}

/// A top-level form value of at most `max` characters (else 1005).
pub(crate) fn max_chars(name: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if chars(v) > max {
        return Err(ApiError::too_long(format!(
            "{name} longer than {max} characters"
        )));
    }
    Ok(())
}

/// A user id: at most 64 characters (no character set is enforced).
pub(crate) fn user_id(name: &str, v: &str) -> Result<(), ApiError> {
    max_chars(name, v, limit::USER_ID_MAX)
}

pub(crate) fn required_user<'a>(f: &'a Form, key: &str) -> Result<&'a str, ApiError> {
    let u = f.required(key)?;
    user_id(key, u)?;
    Ok(u)
}

pub(crate) fn user_ids(name: &str, ids: &[String]) -> Result<(), ApiError> {
    ids.iter().try_for_each(|u| user_id(name, u))
}

/// A group name (top-level `name`): 1-64 characters.
pub(crate) fn name(v: &str) -> Result<(), ApiError> {
    if v.is_empty() {
        return Err(ApiError::new(code::EMPTY_NAME, "name is empty"));
    }
    if chars(v) > limit::NAME_MAX {
        return Err(ApiError::too_long(format!(
            "name longer than {} characters",
            limit::NAME_MAX
        )));
    }
    Ok(())
}

fn json_object(param: &str, text: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::entrust_param(format!(
            "{param} must be a JSON object"
        ))),
        Err(e) => Err(ApiError::entrust_param(format!(
            "{param} is not valid JSON: {e}"
        ))),
    }
}

/// `groupProfile`. Keys: introduction (<=512), announcement (<=1024),
/// portraitUrl (<=128), and on update also name (1-64). Values must be
/// strings; an unknown key is refused (25403) rather than silently dropped.
pub(crate) fn group_profile(text: &str, allow_name: bool) -> Result<Map<String, Value>, ApiError> {
    let m = json_object("groupProfile", text)?;
    check_group_profile(&m, allow_name)?;
    Ok(m)
}

/// The rules of [`group_profile`] on a parsed object (the v4 body's).
pub(crate) fn check_group_profile(
    m: &Map<String, Value>,
    allow_name: bool,
) -> Result<(), ApiError> {
    for (k, v) in m {
        let max = match k.as_str() {
            "introduction" => limit::INTRODUCTION_MAX,
            "announcement" => limit::ANNOUNCEMENT_MAX,
            "portraitUrl" => limit::PORTRAIT_URL_MAX,
            "name" if allow_name => limit::NAME_MAX,
            _ => {
                return Err(ApiError::entrust_param(format!(
                    "groupProfile: unknown key {k}"
                )));
            }
        };
        let Some(s) = v.as_str() else {
            return Err(ApiError::entrust_param(format!(
                "groupProfile.{k} must be a string"
            )));
        };
        if k == "name" && s.is_empty() {
            return Err(ApiError::new(
                code::EMPTY_NAME,
                "groupProfile.name is empty",
            ));
        }
        if chars(s) > max {
            return Err(ApiError::length(format!(
                "groupProfile.{k} longer than {max} characters"
            )));
        }
    }
    Ok(())
}

/// The permission keys, their largest value, in the docs' order.
pub(crate) const PERMISSIONS: [(&str, i64); 6] = [
    ("joinPerm", 3),
    ("removePerm", 2),
    ("memInvitePerm", 2),
    ("invitePerm", 1),
    ("profilePerm", 2),
    ("memProfilePerm", 2),
];

/// `permissions`: known keys only, integer values (else 25408) within the
/// documented range (else 25403).
pub(crate) fn permissions(text: &str) -> Result<Map<String, Value>, ApiError> {
    let m = json_object("permissions", text)?;
    check_permissions(&m)?;
    Ok(m)
}

/// The rules of [`permissions`] on a parsed object.
pub(crate) fn check_permissions(m: &Map<String, Value>) -> Result<(), ApiError> {
    for (k, v) in m {
        let Some((_, max)) = PERMISSIONS.iter().find(|(name, _)| name == k) else {
            return Err(ApiError::entrust_param(format!(
                "permissions: unknown key {k}"
            )));
        };
        let Some(n) = v.as_i64() else {
            return Err(ApiError::new(
                code::NOT_A_NUMBER,
                format!("permissions.{k} must be an integer"),
            ));
        };
        if !(0..=*max).contains(&n) {
            return Err(ApiError::entrust_param(format!(
                "permissions.{k} must be between 0 and {max}"
            )));
        }
    }
    Ok(())
}

/// `groupExtProfile`: keys start with `ext_` (25403) and have at most 32
/// characters (25406); values are strings (25403) of at most 256 characters
/// (25406). The pair count is checked by the caller, after merging.
pub(crate) fn ext_profile(text: &str) -> Result<Map<String, Value>, ApiError> {
    let m = json_object("groupExtProfile", text)?;
    check_ext_profile(&m)?;
    Ok(m)
}

/// The rules of [`ext_profile`] on a parsed object.
pub(crate) fn check_ext_profile(m: &Map<String, Value>) -> Result<(), ApiError> {
    for (k, v) in m {
        if !k.starts_with(limit::EXT_KEY_PREFIX) {
            return Err(ApiError::entrust_param(format!(
                "groupExtProfile: key {k} must start with {}",
                limit::EXT_KEY_PREFIX
            )));
        }
        if chars(k) > limit::EXT_KEY_MAX {
            return Err(ApiError::length(format!(
                "groupExtProfile: key {k} longer than {} characters",
                limit::EXT_KEY_MAX
            )));
        }
        let Some(s) = v.as_str() else {
            return Err(ApiError::entrust_param(format!(
                "groupExtProfile.{k} must be a string"
            )));
        };
        if chars(s) > limit::EXT_VALUE_MAX {
            return Err(ApiError::length(format!(
                "groupExtProfile.{k} longer than {} characters",
                limit::EXT_VALUE_MAX
            )));
        }
    }
    Ok(())
}

/// Applies ext changes: a non-empty value sets the key, an empty one removes
/// it. More than 10 pairs afterwards: 25406, and nothing is changed.
pub(crate) fn merge_ext(
    current: &Map<String, Value>,
    changes: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = current.clone();
    for (k, v) in changes {
        if v.as_str().is_some_and(str::is_empty) {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.len() > limit::EXT_PAIRS_MAX {
        return Err(ApiError::length(format!(
            "groupExtProfile would hold more than {} pairs",
            limit::EXT_PAIRS_MAX
        )));
    }
    Ok(out)
}

/// The three optional JSON parameters of create, import and update.
#[derive(Debug, Default)]
pub(crate) struct ProfileParams {
    pub profile: Map<String, Value>,
    pub permissions: Map<String, Value>,
    pub ext: Map<String, Value>,
}

pub(crate) fn profile_params(f: &Form, allow_name: bool) -> Result<ProfileParams, ApiError> {
    let mut p = ProfileParams::default();
    if let Some(t) = f.opt("groupProfile")?.filter(|t| !t.is_empty()) {
        p.profile = group_profile(t, allow_name)?;
    }
    if let Some(t) = f.opt("permissions")?.filter(|t| !t.is_empty()) {
        p.permissions = permissions(t)?;
    }
    if let Some(t) = f.opt("groupExtProfile")?.filter(|t| !t.is_empty()) {
        p.ext = ext_profile(t)?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c<T>(r: Result<T, ApiError>) -> i64 {
        r.err().map_or(200, |e| e.code)
    }

    #[test]
    fn ids() {
        assert_eq!(c(group_id("abc123XYZ")), 200);
        assert_eq!(c(group_id("RC_GROUP_1")), 200);
        assert_eq!(c(group_id("0f8fad5b-d9cb-469f-a165-70867728950e")), 200);
        for bad in ["a.b", "a b", "a/b", "grüppe", "a+b"] {
            assert_eq!(c(group_id(bad)), 25430, "{bad}");
        }
        assert_eq!(c(group_id(&"a".repeat(65))), 1005);
        assert_eq!(c(user_id("u", &"u".repeat(64))), 200);
        assert_eq!(c(user_id("u", &"u".repeat(65))), 1005);
        assert_eq!(c(name("")), 25423);
        assert_eq!(c(name(&"é".repeat(64))), 200);
    }

    #[test]
    fn profile_rules() {
        assert_eq!(c(group_profile(r#"{"introduction":"hi"}"#, false)), 200);
        assert_eq!(c(group_profile(r#"{"name":"n"}"#, false)), 25403);
        assert_eq!(c(group_profile(r#"{"name":"n"}"#, true)), 200);
        assert_eq!(c(group_profile(r#"{"name":""}"#, true)), 25423);
        assert_eq!(c(group_profile("{not json", false)), 25403);
        assert_eq!(c(group_profile("[1]", false)), 25403);
        assert_eq!(c(group_profile(r#"{"introduction":1}"#, false)), 25403);
        let long = format!(r#"{{"portraitUrl":"{}"}}"#, "u".repeat(129));
        assert_eq!(c(group_profile(&long, false)), 25406);
    }

    #[test]
    fn permission_rules() {
        assert_eq!(c(permissions(r#"{"joinPerm":3,"invitePerm":1}"#)), 200);
        assert_eq!(c(permissions(r#"{"joinPerm":4}"#)), 25403);
        assert_eq!(c(permissions(r#"{"invitePerm":-1}"#)), 25403);
        assert_eq!(c(permissions(r#"{"joinPerm":"1"}"#)), 25408);
        assert_eq!(c(permissions(r#"{"nope":1}"#)), 25403);
    }

    #[test]
    fn ext_rules() {
        assert_eq!(c(ext_profile(r#"{"ext_a":"1"}"#)), 200);
        assert_eq!(c(ext_profile(r#"{"a":"1"}"#)), 25403);
        let long_key = format!(r#"{{"ext_{}":"1"}}"#, "k".repeat(29));
        assert_eq!(c(ext_profile(&long_key)), 25406);
        let long_val = format!(r#"{{"ext_a":"{}"}}"#, "v".repeat(257));
        assert_eq!(c(ext_profile(&long_val)), 25406);
        assert_eq!(c(ext_profile(r#"{"ext_a":1}"#)), 25403);

        let mut cur = Map::new();
        for i in 0..10 {
            cur.insert(format!("ext_{i}"), Value::from("v"));
        }
        let add = ext_profile(r#"{"ext_new":"v"}"#).unwrap();
        assert_eq!(c(merge_ext(&cur, &add)), 25406);
        let swap = ext_profile(r#"{"ext_new":"v","ext_0":""}"#).unwrap();
        let merged = merge_ext(&cur, &swap).unwrap();
        assert_eq!(merged.len(), 10);
        assert!(!merged.contains_key("ext_0"));
    }
}
