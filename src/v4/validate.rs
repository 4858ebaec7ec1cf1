//! The v4 request body, checked by the gateway before any quota is spent
//! or any call made: pure functions of the path and the caller's bytes.
//! The bytes go on unchanged when they pass.
//!
//! What is checked, from `../shared/reference/nexconn-v4-group-api.md`:
//! - the body is JSON (§1: `application/json`, a body required even for
//!   one id), an object, nested at most [`MAX_DEPTH`](crate::v4::validate::MAX_DEPTH) deep (found by a
//!   byte scan before parsing, so a deep body costs no recursion), and no
//!   object repeats a key (the vendor and the gateway could read
//!   different values of it);
//! - per documented path (§7): required fields present, each known field
//!   of its type (strings are JSON strings, numbers and 0/1 flags JSON
//!   integers, id lists arrays of non-empty strings, the SDK models'
//!   types), and within the documented limits (§6, §7 and the constants
//!   of [`crate::v4::limit`]).
//!
//! Unknown fields pass: the vendor adds fields and newer clients send
//! them. A field sent as `null` counts as left out (the SDK leaves unset
//! fields out). An extra v4 path (`server.extra_v4_paths`) is only held
//! to the first list. Every refusal is a sentence naming the field; the
//! caller is answered `{"code":1002,"errorMessage":…}`, HTTP 400 (§3).
//!
//! The simulator checks v4 bodies with its own code: it shares only the
//! constants of [`super`] with this module.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{field, limit, path};

/// The deepest nesting a body may have. The documented bodies nest three
/// deep at most (`groupProfile` values inside the body); the margin is for
/// unknown fields.
pub const MAX_DEPTH: usize = 32;

/// Checks the body of a request on `path`; `Err` says what is wrong.
pub fn check(path: &str, body: &[u8]) -> Result<(), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("the request body is empty: v4 takes a JSON object (§1)".into());
    }
    if too_deep(body, MAX_DEPTH) {
        return Err(format!(
            "the JSON body is nested deeper than {MAX_DEPTH} levels"
        ));
    }
    let Strict(value) = serde_json::from_slice::<Strict>(body)
        .map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("the body must be a JSON object".into());
    };
    let Some(rules) = rules(path) else {
        return Ok(());
    };
    for rule in rules {
        match object.get(rule.field) {
            None | Some(Value::Null) if rule.required => {
                return Err(format!("{} is required", rule.field));
            }
            None | Some(Value::Null) => {}
            Some(v) => rule.kind.check(rule.field, v)?,
        }
    }
    Ok(())
}

/// Whether `body` nests arrays and objects more than `max` deep: brackets
/// counted outside strings, in one pass, with no parsing (and so no
/// recursion) at all.
pub fn too_deep(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A JSON value whose objects were each checked for a repeated key
/// (`serde_json::Value` would keep the last silently).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let shown: String = key.chars().take(80).collect();
                return Err(de::Error::custom(format_args!(
                    "the key {shown:?} appears twice in one object"
                )));
            }
            let Strict(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Strict(Value::Object(object)))
    }
}

/// What a field must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A `channelId`: 1 to 64 letters and digits (§6 "ID rules").
    Channel,
    /// A `channelId` that may be empty (§7.M: empty means every group).
    ChannelOrEmpty,
    /// A list of channel ids, 1 to the given number of them.
    Channels(usize),
    /// A user id: a non-empty string (§7 gives no length).
    Id,
    /// A list of user ids, 1 to the given number of them.
    Ids(usize),
    /// A string of at most this many characters.
    Text(usize),
    /// An integer within the range.
    Int(i64, i64),
    /// `groupProfile` (§6).
    GroupProfile,
    /// `permissions` (§6).
    Permissions,
    /// `groupExtProfile` (§6).
    ExtProfile,
}

/// No documented limit on a list's length (the body size bounds it).
const ANY: usize = usize::MAX;
const FLAG: Kind = Kind::Int(0, 1);
const ORDER: Kind = Kind::Int(0, 1);
const ROLE: Kind = Kind::Int(super::role::ALL, super::role::OWNER);

impl Kind {
    fn check(self, name: &str, v: &Value) -> Result<(), String> {
        match self {
            Kind::Channel => channel_id(name, text(name, v)?, false),
            Kind::ChannelOrEmpty => channel_id(name, text(name, v)?, true),
            Kind::Channels(max) => {
                for item in list(name, v, max)? {
                    channel_id(name, text(name, item)?, false)?;
                }
                Ok(())
            }
            Kind::Id => id(name, v),
            Kind::Ids(max) => list(name, v, max)?.iter().try_for_each(|i| id(name, i)),
            Kind::Text(max) => at_most(name, text(name, v)?, max),
            Kind::Int(min, max) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                Some(_) => Err(format!("{name} must be between {min} and {max}")),
                None => Err(format!("{name} must be an integer")),
            },
            Kind::GroupProfile => {
                for (key, value) in object(name, v)? {
                    let max = match key.as_str() {
                        field::NAME => limit::NAME_MAX,
                        field::INTRODUCTION => limit::INTRODUCTION_MAX,
                        field::ANNOUNCEMENT => limit::ANNOUNCEMENT_MAX,
                        field::PORTRAIT_URL => limit::PORTRAIT_URL_MAX,
                        _ => continue,
                    };
                    at_most(&format!("{name}.{key}"), text(key, value)?, max)?;
                }
                Ok(())
            }
            Kind::Permissions => {
                for (key, value) in object(name, v)? {
                    if let Some((_, max)) = field::PERMISSION_KEYS.iter().find(|(k, _)| k == key) {
                        Kind::Int(0, *max).check(&format!("{name}.{key}"), value)?;
                    }
                }
                Ok(())
            }
            Kind::ExtProfile => {
                let pairs = object(name, v)?;
                if pairs.len() > limit::EXT_PAIRS_MAX {
                    return Err(format!(
                        "{name} has more than {} keys",
                        limit::EXT_PAIRS_MAX
                    ));
                }
                for (key, value) in pairs {
                    if !key.starts_with(limit::EXT_KEY_PREFIX) {
                        return Err(format!(
                            "{name} keys must start with {:?}",
                            limit::EXT_KEY_PREFIX
                        ));
                    }
                    at_most(&format!("{name} key"), key, limit::EXT_KEY_MAX)?;
                    // [PY] types the values as strings on update and as
                    // anything on create: only a string's length is checked.
                    if let Value::String(s) = value {
                        at_most(&format!("{name}.{key}"), s, limit::EXT_VALUE_MAX)?;
                    }
                }
                Ok(())
            }
        }
    }
}

fn text<'v>(name: &str, v: &'v Value) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| format!("{name} must be a string"))
}

fn object<'v>(name: &str, v: &'v Value) -> Result<&'v Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{name} must be a JSON object"))
}

fn list<'v>(name: &str, v: &'v Value, max: usize) -> Result<&'v [Value], String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("{name} must be an array of strings"))?;
    if items.is_empty() {
        return Err(format!("{name} must hold at least one id"));
    }
    if items.len() > max {
        return Err(format!("{name} holds more than {max} ids"));
    }
    Ok(items)
}

fn id(name: &str, v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some("") => Err(format!("{name} must not be empty")),
        Some(_) => Ok(()),
        None => Err(format!("{name} must be a string")),
    }
}

fn at_most(name: &str, s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("{name} is longer than {max} characters"));
    }
    Ok(())
}

fn channel_id(name: &str, v: &str, may_be_empty: bool) -> Result<(), String> {
    if v.is_empty() && !may_be_empty {
        return Err(format!("{name} must not be empty"));
    }
    if v.len() > limit::CHANNEL_ID_MAX {
        return Err(format!(
            "{name} is longer than {} characters",
            limit::CHANNEL_ID_MAX
        ));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{name} may only hold letters and digits"));
    }
    Ok(())
}

/// One field's rule.
#[derive(Debug, Clone, Copy)]
struct Rule {
    field: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(field: &'static str, kind: Kind) -> Rule {
    Rule {
        field,
        kind,
        required: true,
    }
}

const fn opt(field: &'static str, kind: Kind) -> Rule {
    Rule {
        field,
        kind,
        required: false,
    }
}

const CHANNEL: Rule = req(field::CHANNEL_ID, Kind::Channel);
const USER: Rule = req(field::USER_ID, Kind::Id);
const PROFILE: [Rule; 3] = [
    opt(field::GROUP_PROFILE, Kind::GroupProfile),
    opt(field::PERMISSIONS, Kind::Permissions),
    opt(field::GROUP_EXT_PROFILE, Kind::ExtProfile),
];
const PAGE_TOKEN: Rule = opt(field::PAGE_TOKEN, Kind::Text(ANY));

// The rules of each documented path (§7, section named on each).
const CREATE: [Rule; 7] = [
    // §7.1
    CHANNEL,
    req(field::NAME, Kind::Text(limit::NAME_MAX)),
    req(field::OWNER, Kind::Id),
    opt(field::USER_IDS, Kind::Ids(limit::CREATE_USERS_MAX)),
    PROFILE[0],
    PROFILE[1],
    PROFILE[2],
];
const PROFILE_UPDATE: [Rule; 4] = [CHANNEL, PROFILE[0], PROFILE[1], PROFILE[2]]; // §7.2
const PROFILE_LIST: [Rule; 1] = [req(
    field::CHANNEL_IDS,
    Kind::Channels(limit::PROFILE_LIST_MAX),
)]; // §7.3
const TRANSFER_OWNER: [Rule; 7] = [
    // §7.4, and the [DOC] `shouldQuit` (§9.2)
    CHANNEL,
    req(field::NEW_OWNER, Kind::Id),
    opt(field::SHOULD_LEAVE, FLAG),
    opt(field::SHOULD_QUIT, FLAG),
    opt(field::SHOULD_DELETE_MUTE, FLAG),
    opt(field::SHOULD_DELETE_ALLOWED_SENDERS_LIST, FLAG),
    opt(field::SHOULD_DELETE_FAVORITES, FLAG),
];
const LEAVE: [Rule; 8] = [
    // §7.5, both field sets (§9.1)
    CHANNEL,
    req(field::USER_IDS, Kind::Ids(limit::USERS_PER_CALL_MAX)),
    opt(field::SHOULD_DELETE_MUTE, FLAG),
    opt(field::SHOULD_DELETE_ALLOWED_SENDERS_LIST, FLAG),
    opt(field::SHOULD_DELETE_FAVORITES, FLAG),
    opt(field::IS_DEL_BAN, FLAG),
    opt(field::IS_DEL_WHITE, FLAG),
    opt(field::IS_DEL_FOLLOWED, FLAG),
];
const KICKOUT_ALL: [Rule; 1] = [USER]; // §7.6
const DISMISS: [Rule; 1] = [CHANNEL]; // §7.7
const USERS_100: [Rule; 2] = [
    // §7.8 join, §7.12 member/batch/get
    CHANNEL,
    req(field::USER_IDS, Kind::Ids(limit::USERS_PER_CALL_MAX)),
];
// §7.9-7.10 admins, §7.M allowed senders: no limit retrieved.
const USERS_ANY: [Rule; 2] = [CHANNEL, req(field::USER_IDS, Kind::Ids(ANY))];
const MEMBER_LIST: [Rule; 5] = [
    // §7.11, §4
    CHANNEL,
    opt(field::MEMBER_ROLE, ROLE),
    PAGE_TOKEN,
    opt(field::PAGE_SIZE, Kind::Int(1, limit::MEMBER_PAGE_MAX)),
    opt(field::ORDER, ORDER),
];
const MEMBER_SET: [Rule; 4] = [
    // §7.13
    CHANNEL,
    USER,
    opt(field::NICKNAME, Kind::Text(limit::NICKNAME_MAX)),
    opt(field::EXTRA, Kind::Text(limit::MEMBER_EXTRA_MAX)),
];
const ALIAS_SET: [Rule; 3] = [
    CHANNEL,
    USER,
    req(field::ALIAS, Kind::Text(limit::ALIAS_MAX)),
]; // §7.14
const CHANNEL_USER: [Rule; 2] = [CHANNEL, USER]; // §7.15, §7.16, §7.19
const FAVORITES: [Rule; 3] = [
    // §7.17, §7.18
    CHANNEL,
    USER,
    req(
        field::FAVORITE_IDS,
        Kind::Ids(limit::FAVORITES_PER_CALL_MAX),
    ),
];
const LIST: [Rule; 3] = [
    // §7.20, §4
    PAGE_TOKEN,
    opt(field::PAGE_SIZE, Kind::Int(1, limit::GROUP_PAGE_MAX)),
    opt(field::ORDER, ORDER),
];
const JOINED_LIST: [Rule; 5] = [
    // §7.21, §4
    USER,
    opt(field::ROLE, ROLE),
    PAGE_TOKEN,
    opt(field::PAGE_SIZE, Kind::Int(1, limit::MEMBER_PAGE_MAX)),
    opt(field::ORDER, ORDER),
];
const MUTE_ADD: [Rule; 3] = [
    // §7.M
    req(field::USER_IDS, Kind::Ids(limit::MUTE_USERS_PER_CALL_MAX)),
    opt(field::CHANNEL_ID, Kind::ChannelOrEmpty),
    req(
        field::DURATION_MINUTES,
        Kind::Int(0, limit::MUTE_MINUTES_MAX),
    ),
];
const MUTE_REMOVE: [Rule; 2] = [
    req(field::USER_IDS, Kind::Ids(ANY)),
    opt(field::CHANNEL_ID, Kind::ChannelOrEmpty),
];
const MUTE_GET: [Rule; 1] = [opt(field::CHANNEL_ID, Kind::ChannelOrEmpty)];
const FREEZE: [Rule; 1] = [req(field::CHANNEL_IDS, Kind::Channels(ANY))];
const FREEZE_GET: [Rule; 3] = [
    opt(field::CHANNEL_IDS, Kind::Channels(ANY)),
    opt(field::PAGE, Kind::Int(1, i64::MAX)),
    opt(field::PAGE_SIZE, Kind::Int(1, i64::MAX)),
];
const ALLOWED_GET: [Rule; 1] = [CHANNEL];

/// The rules of a documented path; `None` for any other.
fn rules(p: &str) -> Option<&'static [Rule]> {
    Some(match p {
        path::CREATE => &CREATE,
        path::PROFILE_UPDATE => &PROFILE_UPDATE,
        path::PROFILE_LIST => &PROFILE_LIST,
        path::TRANSFER_OWNER => &TRANSFER_OWNER,
        path::LEAVE | path::QUIT => &LEAVE,
        path::MEMBER_KICKOUT_ALL => &KICKOUT_ALL,
        path::DISMISS => &DISMISS,
        path::JOIN | path::MEMBER_BATCH_GET => &USERS_100,
        path::ADMIN_ADD
        | path::ADMIN_REMOVE
        | path::ALLOWED_SENDER_LIST_ADD
        | path::ALLOWED_SENDER_LIST_REMOVE => &USERS_ANY,
        path::MEMBER_LIST => &MEMBER_LIST,
        path::MEMBER_SET => &MEMBER_SET,
        path::ALIAS_SET => &ALIAS_SET,
        path::ALIAS_DELETE | path::ALIAS_GET | path::FAVORITES_LIST => &CHANNEL_USER,
        path::FAVORITES_ADD | path::FAVORITES_REMOVE => &FAVORITES,
        path::LIST => &LIST,
        path::JOINED_LIST => &JOINED_LIST,
        path::MUTE_LIST_ADD => &MUTE_ADD,
        path::MUTE_LIST_REMOVE => &MUTE_REMOVE,
        path::MUTE_LIST_GET | path::MUTE_LIST_GET_DASHED => &MUTE_GET,
        path::FREEZE_LIST_ADD | path::FREEZE_LIST_REMOVE => &FREEZE,
        path::FREEZE_LIST_GET => &FREEZE_GET,
        path::ALLOWED_SENDER_LIST_GET => &ALLOWED_GET,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, check, rules, too_deep};
    use crate::v4::path::*;

    #[test]
    fn every_documented_path_has_rules_and_all_optional_ones_take_an_empty_object() {
        for p in DOCUMENTED {
            assert!(rules(p).is_some(), "{p}");
            let empty = check(p, b"{}");
            assert_eq!(empty.is_ok(), ALL_OPTIONAL.contains(p), "{p}: {empty:?}");
        }
        // An extra path: only a JSON object is asked for.
        assert!(check("/v4/group-channel/newer", b"{\"x\":[1]}").is_ok());
        assert!(check("/v4/group-channel/newer", b"[1]").is_err());
    }

    /// (path, body, refusal naming this, or "" for accepted); §6 and §7
    /// cited per row.
    #[test]
    fn the_table() {
        let long = |n: usize| "a".repeat(n);
        let ids = |n: usize| {
            let v: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
            serde_json::to_string(&v).unwrap()
        };
        let rows: Vec<(&str, String, &str)> = vec![
            // §1: a JSON object, required.
            (CREATE, "".into(), "empty"),
            (CREATE, "  \n".into(), "empty"),
            (CREATE, "channelId=g1&name=n".into(), "not valid JSON"),
            (CREATE, "{\"channelId\":\"g1\"".into(), "not valid JSON"),
            (CREATE, "[]".into(), "JSON object"),
            (CREATE, "\"g1\"".into(), "JSON object"),
            (CREATE, "null".into(), "JSON object"),
            // Duplicated keys, at the top and inside.
            (
                DISMISS,
                r#"{"channelId":"g1","channelId":"g2"}"#.into(),
                "twice",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g1","groupProfile":{"name":"a","name":"b"}}"#.into(),
                "twice",
            ),
            // §7.1 create.
            (
                CREATE,
                r#"{"channelId":"g1","name":"n","owner":"o"}"#.into(),
                "",
            ),
            (
                CREATE,
                r#"{"channelId":"g1","name":"n","owner":"o","unknown":{"x":[1,2]}}"#.into(),
                "",
            ),
            (
                CREATE,
                r#"{"name":"n","owner":"o"}"#.into(),
                "channelId is required",
            ),
            (
                CREATE,
                r#"{"channelId":null,"name":"n","owner":"o"}"#.into(),
                "channelId is required",
            ),
            (
                CREATE,
                r#"{"channelId":"g1","owner":"o"}"#.into(),
                "name is required",
            ),
            (
                CREATE,
                r#"{"channelId":7,"name":"n","owner":"o"}"#.into(),
                "channelId must be a string",
            ),
            (
                CREATE,
                r#"{"channelId":"","name":"n","owner":"o"}"#.into(),
                "must not be empty",
            ),
            (
                CREATE,
                r#"{"channelId":"g_1","name":"n","owner":"o"}"#.into(),
                "letters and digits",
            ),
            (
                CREATE,
                r#"{"channelId":"g-1","name":"n","owner":"o"}"#.into(),
                "letters and digits",
            ),
            (
                CREATE,
                r#"{"channelId":"gé","name":"n","owner":"o"}"#.into(),
                "letters and digits",
            ),
            (
                CREATE,
                format!(r#"{{"channelId":"{}","name":"n","owner":"o"}}"#, long(64)),
                "",
            ),
            (
                CREATE,
                format!(r#"{{"channelId":"{}","name":"n","owner":"o"}}"#, long(65)),
                "longer than 64",
            ),
            (
                CREATE,
                format!(r#"{{"channelId":"g","name":"{}","owner":"o"}}"#, long(64)),
                "",
            ),
            (
                CREATE,
                format!(
                    r#"{{"channelId":"g","name":"{}","owner":"o"}}"#,
                    "é".repeat(64)
                ),
                "",
            ),
            (
                CREATE,
                format!(r#"{{"channelId":"g","name":"{}","owner":"o"}}"#, long(65)),
                "name is longer than 64",
            ),
            (
                CREATE,
                r#"{"channelId":"g","name":"n","owner":""}"#.into(),
                "owner must not be empty",
            ),
            (
                CREATE,
                format!(
                    r#"{{"channelId":"g","name":"n","owner":"o","userIds":{}}}"#,
                    ids(30)
                ),
                "",
            ),
            (
                CREATE,
                format!(
                    r#"{{"channelId":"g","name":"n","owner":"o","userIds":{}}}"#,
                    ids(31)
                ),
                "more than 30",
            ),
            (
                CREATE,
                r#"{"channelId":"g","name":"n","owner":"o","userIds":"u1"}"#.into(),
                "array",
            ),
            (
                CREATE,
                r#"{"channelId":"g","name":"n","owner":"o","userIds":["u1",2]}"#.into(),
                "userIds must be a string",
            ),
            (
                CREATE,
                r#"{"channelId":"g","name":"n","owner":"o","userIds":["u1",""]}"#.into(),
                "must not be empty",
            ),
            // §6 profile, permissions, ext profile.
            (
                CREATE,
                format!(
                    r#"{{"channelId":"g","name":"n","owner":"o","groupProfile":{{"introduction":"{}"}}}}"#,
                    long(512)
                ),
                "",
            ),
            (
                CREATE,
                format!(
                    r#"{{"channelId":"g","name":"n","owner":"o","groupProfile":{{"introduction":"{}"}}}}"#,
                    long(513)
                ),
                "introduction is longer than 512",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupProfile":{{"announcement":"{}"}}}}"#,
                    long(1025)
                ),
                "announcement",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupProfile":{{"portraitUrl":"{}"}}}}"#,
                    long(129)
                ),
                "portraitUrl",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupProfile":{{"name":"{}"}}}}"#,
                    long(65)
                ),
                "groupProfile.name",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","groupProfile":"x"}"#.into(),
                "JSON object",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","groupProfile":{"introduction":3}}"#.into(),
                "must be a string",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","permissions":{"joinPerm":3,"other":9}}"#.into(),
                "",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","permissions":{"joinPerm":4}}"#.into(),
                "permissions.joinPerm",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","permissions":{"invitePerm":"1"}}"#.into(),
                "integer",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","groupExtProfile":{"ext_a":"v"}}"#.into(),
                "",
            ),
            (
                PROFILE_UPDATE,
                r#"{"channelId":"g","groupExtProfile":{"a":"v"}}"#.into(),
                "ext_",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupExtProfile":{{"ext_{}":"v"}}}}"#,
                    long(29)
                ),
                "longer than 32",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupExtProfile":{{"ext_a":"{}"}}}}"#,
                    long(257)
                ),
                "longer than 256",
            ),
            (
                PROFILE_UPDATE,
                format!(
                    r#"{{"channelId":"g","groupExtProfile":{{{}}}}}"#,
                    (0..11)
                        .map(|i| format!("\"ext_{i}\":\"v\""))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                "more than 10",
            ),
            // §7.3
            (PROFILE_LIST, r#"{"channelIds":["g1","g2"]}"#.into(), ""),
            (PROFILE_LIST, r#"{"channelIds":[]}"#.into(), "at least one"),
            (
                PROFILE_LIST,
                r#"{"channelIds":["g_1"]}"#.into(),
                "letters and digits",
            ),
            (
                PROFILE_LIST,
                format!(r#"{{"channelIds":{}}}"#, ids(51)),
                "more than 50",
            ),
            // §7.4, §9.2
            (
                TRANSFER_OWNER,
                r#"{"channelId":"g","newOwner":"a","shouldLeave":1,"shouldQuit":0}"#.into(),
                "",
            ),
            (
                TRANSFER_OWNER,
                r#"{"channelId":"g","newOwner":"a","shouldLeave":2}"#.into(),
                "between 0 and 1",
            ),
            (
                TRANSFER_OWNER,
                r#"{"channelId":"g","newOwner":"a","shouldLeave":true}"#.into(),
                "integer",
            ),
            // §7.5, §9.1
            (
                LEAVE,
                r#"{"channelId":"g","userIds":["a"],"shouldDeleteMute":0}"#.into(),
                "",
            ),
            (
                QUIT,
                r#"{"channelId":"g","userIds":["a"],"isDelBan":0}"#.into(),
                "",
            ),
            (
                QUIT,
                r#"{"channelId":"g","userIds":["a"],"isDelBan":1.5}"#.into(),
                "integer",
            ),
            (
                LEAVE,
                format!(r#"{{"channelId":"g","userIds":{}}}"#, ids(101)),
                "more than 100",
            ),
            (LEAVE, r#"{"channelId":"g"}"#.into(), "userIds is required"),
            // §7.6-7.8
            (MEMBER_KICKOUT_ALL, r#"{"userId":"u"}"#.into(), ""),
            (
                MEMBER_KICKOUT_ALL,
                r#"{"userId":["u"]}"#.into(),
                "must be a string",
            ),
            (
                JOIN,
                format!(r#"{{"channelId":"g","userIds":{}}}"#, ids(100)),
                "",
            ),
            (
                JOIN,
                format!(r#"{{"channelId":"g","userIds":{}}}"#, ids(101)),
                "more than 100",
            ),
            // §7.11 paging
            (
                MEMBER_LIST,
                r#"{"channelId":"g","memberRole":3,"pageSize":100,"order":0,"pageToken":"x"}"#
                    .into(),
                "",
            ),
            (
                MEMBER_LIST,
                r#"{"channelId":"g","pageSize":101}"#.into(),
                "pageSize must be between 1 and 100",
            ),
            (
                MEMBER_LIST,
                r#"{"channelId":"g","pageSize":0}"#.into(),
                "pageSize",
            ),
            (
                MEMBER_LIST,
                r#"{"channelId":"g","memberRole":4}"#.into(),
                "memberRole",
            ),
            (
                MEMBER_LIST,
                r#"{"channelId":"g","order":2}"#.into(),
                "order",
            ),
            (
                MEMBER_LIST,
                r#"{"channelId":"g","pageToken":5}"#.into(),
                "pageToken must be a string",
            ),
            // §7.13-7.19
            (
                MEMBER_SET,
                format!(
                    r#"{{"channelId":"g","userId":"u","nickname":"{}"}}"#,
                    long(65)
                ),
                "nickname",
            ),
            (
                MEMBER_SET,
                format!(
                    r#"{{"channelId":"g","userId":"u","extra":"{}"}}"#,
                    long(129)
                ),
                "extra",
            ),
            (
                ALIAS_SET,
                r#"{"channelId":"g","userId":"u"}"#.into(),
                "alias is required",
            ),
            (
                ALIAS_SET,
                format!(r#"{{"channelId":"g","userId":"u","alias":"{}"}}"#, long(65)),
                "alias is longer",
            ),
            (
                FAVORITES_ADD,
                format!(
                    r#"{{"channelId":"g","userId":"u","favoriteIds":{}}}"#,
                    ids(101)
                ),
                "more than 100",
            ),
            // §7.20, §7.21
            (LIST, r#"{"pageSize":1000}"#.into(), ""),
            (LIST, r#"{"pageSize":1001}"#.into(), "between 1 and 1000"),
            (
                JOINED_LIST,
                r#"{"userId":"u","pageSize":101}"#.into(),
                "between 1 and 100",
            ),
            (JOINED_LIST, r#"{"userId":"u","role":1}"#.into(), ""),
            // §7.M
            (
                MUTE_LIST_ADD,
                r#"{"userIds":["a"],"durationMinutes":43200,"channelId":""}"#.into(),
                "",
            ),
            (
                MUTE_LIST_ADD,
                r#"{"userIds":["a"],"durationMinutes":43201}"#.into(),
                "durationMinutes",
            ),
            (
                MUTE_LIST_ADD,
                r#"{"userIds":["a"]}"#.into(),
                "durationMinutes is required",
            ),
            (
                MUTE_LIST_ADD,
                format!(r#"{{"userIds":{},"durationMinutes":1}}"#, ids(21)),
                "more than 20",
            ),
            (
                MUTE_LIST_GET_DASHED,
                r#"{"channelId":"g_1"}"#.into(),
                "letters and digits",
            ),
            (
                FREEZE_LIST_GET,
                r#"{"channelIds":["g"],"page":0}"#.into(),
                "page must be",
            ),
            (ALLOWED_SENDER_LIST_GET, r#"{"channelId":"g"}"#.into(), ""),
        ];
        for (p, body, want) in rows {
            let got = check(p, body.as_bytes());
            match (want, &got) {
                ("", Ok(())) => {}
                (want, Err(e)) if !want.is_empty() && e.contains(want) => {}
                _ => panic!("{p} {body}: want {want:?}, got {got:?}"),
            }
        }
    }

    /// A 1 MiB body nested 10,000 deep (and deeper) is refused by the
    /// scan, with no recursion; brackets inside strings do not count.
    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut deep = String::from("{\"channelId\":\"g\",\"x\":");
        deep.push_str(&"[".repeat(10_000));
        deep.push_str(&"]".repeat(10_000));
        deep.push('}');
        while deep.len() < 1 << 20 {
            deep.push(' ');
        }
        let e = check(DISMISS, deep.as_bytes()).unwrap_err();
        assert!(e.contains("deeper than 32"), "{e}");
        let ok = format!(
            "{{\"channelId\":\"g\",\"x\":{}{}, \"s\":\"{}\"}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1),
            "[{".repeat(100)
        );
        assert_eq!(check(DISMISS, ok.as_bytes()), Ok(()));
        let over = format!(
            "{{\"channelId\":\"g\",\"x\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(check(DISMISS, over.as_bytes()).is_err());
        // An escaped quote does not end a string.
        assert!(!too_deep(br#"{"a":"\"[[[["}"#, 1));
    }
}
